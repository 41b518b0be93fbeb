"""A later pass of a migration: a rerun that sees the source, or the cutover's delta sync.

The pass re-reads the source and loads only what changed since the pass before it (``shared/steps/
delta.py`` says how passes are numbered, staged and compared). It is the migration without its gates:
the field map approved for the migration carries over (``approve_map`` finds the carried approval), and
owners without a user get the default owner and are listed, as the first pass's decision stands. Each
object goes through the migration's own ``migrate_object`` sub-orchestration (extract, transform, load
only what changed, verify, reconcile); then records gone from the source are counted (and deactivated
when the run asks), a freeze pass certifies the counts, and the pass writes its own report.

Started as the Durable instance ``<run_id>:pass-<n>`` by the CLI (a rerun of a completed run, or
``python -m cli delta``), the delta timer (``DELTA_SYNC_SCHEDULE``) or ``POST /api/migrations/{id}/delta``.
"""

from __future__ import annotations

import azure.durable_functions as df

from shared import objects

from .migration import ORCHESTRATORS as MIGRATION, RETRY, SPOT_CHECK, PermanentFailure, _object, activity, fan_out, \
    leased

bp = df.Blueprint()


def delta(context: df.DurableOrchestrationContext):
    """One pass: hold the run's lease, sync wave by wave, and always end with the pass's report."""
    run = context.get_input()
    planned: list[str] = []
    # as in the migration: the failed pass still writes its report
    return (yield from leased(context, run, _delta(context, run, planned), lambda failure: (
        context.call_activity_with_retry("final_report", RETRY, {"run": run, "objects": planned, "failure": failure})),
        status={"pass": run["pass_no"]}))


def _delta(context: df.DurableOrchestrationContext, run: dict, planned: list[str]):
    plan = yield from activity(context, "discover", {"run": run})
    planned += plan["objects"]
    approval = yield from activity(context, "approve_map", {"run": run, "hash": None, "by": "carried"})
    if not approval["approved"]:
        raise PermanentFailure({"kind": "map", "message": f"pass {run['pass_no']} of run {run['run_id']} has no "
                                                          "approved field map: run the migration first"})
    specs = objects.catalogue(run["source"])
    owner_objects = [n for n in plan["objects"] if specs[n].pipeline == "owners"]
    waves = [owner_objects] + [[n for n in wave if n not in owner_objects] for wave in plan["waves"]]
    waves = [w for w in waves if w]
    reports: list[dict] = []
    for number, wave in enumerate(waves, start=1):
        context.set_custom_status({"phase": "syncing", "pass": run["pass_no"], "wave": number, "waves": len(waves),
                                   "objects": wave, "done": [r["object"] for r in reports]})
        reports += yield from fan_out(context, [_object(context, run, name) for name in wave])
    # what the source no longer holds: counted, and deactivated when the run asks
    yield from fan_out(context, [context.call_activity_with_retry("sync_deleted", RETRY, {"run": run, "object": n})
                                 for n in plan["objects"] if specs[n].pipeline == "records"])
    context.set_custom_status({"phase": "reporting", "pass": run["pass_no"], "done": [r["object"] for r in reports]})
    yield from activity(context, "spot_check", {"run": run, "objects": plan["objects"], "per_object": SPOT_CHECK})
    if run.get("freeze"):
        yield from activity(context, "certify", {"run": run, "objects": plan["objects"]})
    final = yield from activity(context, "final_report", {"run": run, "objects": plan["objects"]})
    context.set_custom_status({"phase": "completed", "pass": run["pass_no"], "status": final["status"],
                               "totals": final["totals"]})
    return {**final, "objects": reports}


bp.orchestration_trigger(context_name="context")(delta)

#: every orchestrator the CLI's driver replays (the migration's, and this one)
ORCHESTRATORS = {**MIGRATION, "delta": delta}
