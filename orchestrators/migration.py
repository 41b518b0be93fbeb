"""The migration, as a business process: discover, then load object by object in dependency order.

Orchestrators replay, so they do no I/O and read no clock: they only decide which activity runs
next, and pass small dicts (the run's settings, object names, blob names, counts). The waves come
from the objects' declared dependencies (``shared.objects``), never from a list written here.

``migration`` and ``migrate_object`` are plain generator functions: the Function App registers them
on a Durable Functions blueprint (``bp``), and the local CLI drives the very same generators
in-process (``shared.driver``).
"""

from __future__ import annotations

import azure.durable_functions as df

from shared import objects

bp = df.Blueprint()

#: transient failures of an activity (a Dataverse outage longer than the client's own retries,
#: a worker recycled mid-activity) are retried by the orchestrator; activities are idempotent.
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)

#: what an object's pipeline runs between extraction and reconciliation, besides records loading
PIPELINE_ACTIVITY = {"owners": "resolve_owners", "custom_fields": "deploy_custom_fields",
                     "config": "build_config", "inventory": "write_inventory"}


def migration(context: df.DurableOrchestrationContext):
    run = context.get_input()
    plan = yield context.call_activity_with_retry("discover", RETRY, {"run": run})
    waves = plan["waves"]
    reports: list[dict] = []
    for number, wave in enumerate(waves, start=1):
        context.set_custom_status({"phase": "loading", "wave": number, "waves": len(waves), "objects": wave,
                                   "done": [r["object"] for r in reports]})
        # One sub-orchestration per object of the wave; each ends with its reconciliation report,
        # and the next wave starts only when all of this wave's reports are in.
        reports += yield context.task_all([
            context.call_sub_orchestrator("migrate_object", {"run": run, "object": name},
                                          f"{context.instance_id}:{name}")
            for name in wave
        ])
    context.set_custom_status({"phase": "reporting", "done": [r["object"] for r in reports]})
    final = yield context.call_activity_with_retry("final_report", RETRY, {"run": run, "objects": plan["objects"]})
    context.set_custom_status({"phase": "completed", "status": final["status"], "totals": final["totals"]})
    return {**final, "objects": reports}


def migrate_object(context: df.DurableOrchestrationContext):
    job = context.get_input()
    spec = objects.catalogue(job["run"]["source"])[job["object"]]

    def status(phase: str, **extra):
        context.set_custom_status({"object": spec.name, "phase": phase, **extra})

    status("preparing")
    yield context.call_activity_with_retry("prepare_object", RETRY, job)
    status("extracting")
    extracted = yield context.call_activity_with_retry("extract_object", RETRY, job)
    if spec.pipeline == "records":
        status("transforming", chunks=len(extracted["chunks"]), staged=extracted["staged"])
        transformed = yield context.task_all([
            context.call_activity_with_retry("transform_chunk", RETRY, {**job, "chunk": chunk})
            for chunk in extracted["chunks"]
        ])
        status("loading", chunks=len(transformed))
        yield context.task_all([
            context.call_activity_with_retry(spec.load_activity, RETRY, {**job, "chunk": t["chunk"]})
            for t in transformed if t["chunk"]
        ])
    else:
        status(PIPELINE_ACTIVITY[spec.pipeline])
        yield context.call_activity_with_retry(PIPELINE_ACTIVITY[spec.pipeline], RETRY, job)
    status("reconciling")
    report = yield context.call_activity_with_retry("reconcile_object", RETRY, job)
    status("done", report=report)
    return report


# Registration with the Durable Functions runtime; the functions above stay plain generators.
bp.orchestration_trigger(context_name="context")(migration)
bp.orchestration_trigger(context_name="context")(migrate_object)

ORCHESTRATORS = {"migration": migration, "migrate_object": migrate_object}
