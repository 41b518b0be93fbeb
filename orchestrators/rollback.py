"""Rolling a run back, as a business process: put back what the run updated, then delete what it
created, children before parents, and prove that nothing is left.

Started by ``POST /api/migrations/{id}/rollback`` (instance ``<id>:rollback``) or ``python -m cli
rollback --run RUN``; its input is ``{"run": <the run's settings>, "schema": bool}``. Like the migration
it holds the run's lease (a run in progress cannot be rolled back, and a run cannot start while its
rollback runs), does no I/O and passes object and part names only; every step is idempotent, so a
rollback stopped midway and started again ends where a straight one ends.

Order (shared/steps/rollback.py says what each step does):
restore updated rows (detaches what the run attached) -> per wave in reverse dependency order, the
wave's objects in parallel, each object's load parts fanned out (documents: SharePoint first) ->
placeholders and price lists -> the verify pass -> with ``schema``, the run's custom columns, keys and
tables when empty -> the rollback report.
"""

from __future__ import annotations

import azure.durable_functions as df

from orchestrators.migration import RETRY, activity, fan_out, leased

bp = df.Blueprint()

#: the suffix of a rollback's instance id: ``<run id>:rollback``
SUFFIX = ":rollback"


def rollback(context: df.DurableOrchestrationContext):
    job = context.get_input()
    # the report still says what was done, and why it stopped
    return (yield from leased(context, job["run"], _rollback(context, job), lambda failure: (
        context.call_activity_with_retry("rollback_report", RETRY, {**job, "failure": failure}))))


def _rollback(context: df.DurableOrchestrationContext, job: dict):
    plan = yield from activity(context, "rollback_plan", job)
    parts = plan["parts"]
    context.set_custom_status({"phase": "restoring", "objects": len(parts)})
    # updated rows first: a pre-existing row the run attached to a created one is detached before it goes;
    # the latest pass first, so the first pass's before-images (the state before the migration) win
    for n in plan["passes"]:
        yield from fan_out(context, [
            context.call_activity_with_retry("rollback_restore", RETRY, {**job, "object": name, "part": part})
            for name in parts if plan["loaders"][name] == "load_chunk" for part in parts[name]
            if part.startswith(f"{n}:")])
    for number, wave in enumerate(plan["waves"], start=1):
        context.set_custom_status({"phase": "deleting", "wave": number, "waves": len(plan["waves"]), "objects": wave})
        tasks = []
        for name in wave:
            if plan["loaders"][name] == "load_chunk":
                tasks += [context.call_activity_with_retry("rollback_delete", RETRY,
                                                           {**job, "object": name, "part": part})
                          for part in parts[name]]
            else:  # documents: SharePoint files and folders, then their location rows
                tasks.append(context.call_activity_with_retry("rollback_documents", RETRY, {**job, "object": name}))
        yield from fan_out(context, tasks)
    context.set_custom_status({"phase": "placeholders"})
    yield from activity(context, "rollback_placeholders", job)
    context.set_custom_status({"phase": "verifying"})
    yield from activity(context, "rollback_verify", job)
    if job.get("schema"):
        context.set_custom_status({"phase": "schema"})
        yield from activity(context, "rollback_schema", job)
    report = yield from activity(context, "rollback_report", job)
    context.set_custom_status({"phase": "completed", "status": report["status"], "totals": report["totals"]})
    return report


bp.orchestration_trigger(context_name="context")(rollback)

ORCHESTRATORS = {"rollback": rollback}
