"""The migration, as a business process: discover, then load object by object in dependency order.

Orchestrators replay, so they do no I/O and read no clock: they only decide which activity runs
next, and pass small dicts (the run's settings, object names, blob names, counts). The waves come
from the objects' declared dependencies (``shared.objects``), never from a list written here.

``migration`` and ``migrate_object`` are plain generator functions: the Function App registers them
on a Durable Functions blueprint (``bp``), and the local CLI drives the very same generators
in-process through the Durable SDK's own replay (``cli.durable``).

Failures: a transient one (an exception in an activity) is retried (``RETRY``), and a failed
``migrate_object`` is retried once more as a whole (``CHILD_RETRY``). A permanent one (a step
*returns* ``{"failure": {"kind", "message", ...}}``: bad settings, a refused credential, an unreadable
input) is never retried: :func:`activity` raises :class:`PermanentFailure` with its message at once,
:func:`fan_out` as soon as its tasks are all done; ``migrate_object`` turns it into its output, so its
parent does not retry it either and fails the run with that one line.
"""

from __future__ import annotations

from datetime import timedelta

import azure.durable_functions as df

from shared import objects

bp = df.Blueprint()

#: transient failures of an activity (a Dataverse outage longer than the client's own retries,
#: a worker recycled mid-activity) are retried by the orchestrator; activities are idempotent.
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5_000, max_number_of_attempts=3)
#: an object whose activity failed three times gets one more go as a whole, after a longer pause
CHILD_RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=30_000, max_number_of_attempts=2)

#: records per object on the spot-check sheet (the seeds: the customer checks 25-50 against the source)
SPOT_CHECK = 25

#: what an object's pipeline runs between extraction and reconciliation, besides records loading
PIPELINE_ACTIVITY = {"owners": "resolve_owners", "custom_fields": "deploy_custom_fields",
                     "config": "build_config", "inventory": "write_inventory"}


class PermanentFailure(Exception):
    """A step reported a failure that retrying will not fix; the message is the step's one line."""

    def __init__(self, failure: dict):
        super().__init__(failure.get("message") or f"{failure.get('kind', 'permanent')} failure")
        self.failure = failure


def checked(result):
    """``result``, unless it carries ``{"failure": ...}``: then :class:`PermanentFailure` at once."""
    if isinstance(result, dict) and result.get("failure"):
        raise PermanentFailure(result["failure"])
    return result


def activity(context: df.DurableOrchestrationContext, name: str, payload: dict):
    """One activity, retried on transient errors; use as ``result = yield from activity(...)``."""
    return checked((yield context.call_activity_with_retry(name, RETRY, payload)))


def fan_out(context: df.DurableOrchestrationContext, tasks: list):
    """All ``tasks`` in parallel, their results in order: ``results = yield from fan_out(...)``.

    Never yields ``task_all([])`` (in Azure that returns None, not []). A result carrying a failure
    raises :class:`PermanentFailure` once every task is done. (Not sooner: a ``task_any`` loop would let
    the run stop at the first failure, but the extension's WhenAny ends at the first result, so on replay
    it numbers the next call before a sibling's later retry timer: non-determinism in Azure.)
    """
    if not tasks:
        return []
    return [checked(r) for r in (yield context.task_all(tasks))]


def migration(context: df.DurableOrchestrationContext):
    """One run: hold the run's lease, migrate wave by wave, and always end with a report.

    The lease token comes from ``new_uuid`` (the same on every replay), so a retried activity of this
    run takes the lease again while a second run of the same id is refused before anything moves. A
    failed run still writes its report (``status: failed``, what completed, the failure) before the
    orchestration fails with the failure's one line.
    """
    run = context.get_input()
    planned: list[str] = []
    return (yield from leased(context, run, _migration(context, run, planned), lambda failure: (
        context.call_activity_with_retry("final_report", RETRY, {"run": run, "objects": planned, "failure": failure}))))


def leased(context: df.DurableOrchestrationContext, run: dict, work, report, status: dict | None = None):
    """``yield from work`` holding the run's lease (``acquire_run_lease`` / ``release_run_lease``).

    On a failure: the custom status says so (with ``status``), ``report(failure)`` (a task writing the
    report of what was done) runs, the lease is released and the failure is raised again. Shared by the
    migration, its delta passes and its rollback."""
    lease = {"run": run, "lease": context.new_uuid()}
    yield from activity(context, "acquire_run_lease", lease)
    try:
        result = yield from work
    except Exception as exc:  # a failed activity reaches the orchestrator as a plain Exception
        failure = exc.failure if isinstance(exc, PermanentFailure) else {"message": _first_line(exc)}
        context.set_custom_status({"phase": "failed", **(status or {}), "failure": failure})
        yield report(failure)
        yield context.call_activity_with_retry("release_run_lease", RETRY, lease)
        raise
    yield context.call_activity_with_retry("release_run_lease", RETRY, lease)
    return result


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _migration(context: df.DurableOrchestrationContext, run: dict, planned: list[str]):
    plan = yield from activity(context, "discover", {"run": run})
    planned += plan["objects"]
    # The map is the contract: profile and propose (reads only), then wait for a person's approval.
    proposal = yield from activity(context, "propose_map", {"run": run, "objects": plan["objects"]})
    if not (yield from map_approved(context, run, proposal)):
        failure = {"kind": "approval_expired", "message": f"the map {proposal['hash']} was not approved within "
                   f"{run['approval_hours']} hours; nothing was moved: start the run again to propose anew"}
        context.set_custom_status({"phase": "approval_expired", "hash": proposal["hash"]})
        final = yield from activity(context, "final_report", {"run": run, "objects": [], "failure": failure})
        return {**final, "objects": []}
    # Owners first: records wait until every owner has a Dynamics 365 user (or a person says otherwise).
    specs = objects.catalogue(run["source"])
    owner_objects = [n for n in plan["objects"] if specs[n].pipeline == "owners"]
    reports: list[dict] = []
    if owner_objects:
        reports += yield from fan_out(context, [_object(context, run, name) for name in owner_objects])
        yield from owners_resolved(context, run)
    waves = [w for w in ([n for n in wave if n not in owner_objects] for wave in plan["waves"]) if w]
    for number, wave in enumerate(waves, start=1):
        context.set_custom_status({"phase": "loading", "wave": number, "waves": len(waves), "objects": wave,
                                   "done": [r["object"] for r in reports], "plan": waves})
        # One sub-orchestration per object of the wave; each ends with its reconciliation report,
        # and the next wave starts only when all of this wave's reports are in.
        reports += yield from fan_out(context, [_object(context, run, name) for name in wave])
    context.set_custom_status({"phase": "reporting", "done": [r["object"] for r in reports]})
    # the customer's spot-check: records read back from Dataverse beside their source values
    yield from activity(context, "spot_check", {"run": run, "objects": plan["objects"], "per_object": SPOT_CHECK})
    final = yield from activity(context, "final_report", {"run": run, "objects": plan["objects"]})
    context.set_custom_status({"phase": "completed", "status": final["status"], "totals": final["totals"]})
    return {**final, "objects": reports}


def _object(context: df.DurableOrchestrationContext, run: dict, name: str):
    return context.call_sub_orchestrator_with_retry("migrate_object", CHILD_RETRY, {"run": run, "object": name},
                                                    f"{context.instance_id}:{name}")


#: the external events a run waits for, raised by ``POST /api/migrations/{id}/approve`` and ``.../owners``
#: (or the CLI's ``--approve`` / ``--owners``)
MAP_APPROVED = "MapApproved"
OWNERS_RESOLVED = "OwnersResolved"


def map_approved(context: df.DurableOrchestrationContext, run: dict, proposal: dict):
    """Wait for ``MapApproved`` with the hash of a map the run holds, raced against the deadline.

    Returns True once ``approve_map`` accepted an approval, False at the deadline. An approval with
    another hash is refused (the status says why) and the run keeps waiting. ``auto_approve`` (the demo)
    approves the proposal at once, as its status and report say.
    """
    if run.get("auto_approve"):
        answer = yield from activity(context, "approve_map", {"run": run, "hash": proposal["hash"],
                                                              "by": "--auto-approve"})
        if not answer["approved"]:  # the proposal itself does not validate: a person must edit it
            raise PermanentFailure({"kind": "map", "message": f"the proposed map cannot be approved as it is: "
                                                              f"{answer['reason']}"})
        return True
    deadline = context.current_utc_datetime + timedelta(hours=run["approval_hours"])
    refused = None
    while True:
        context.set_custom_status({"phase": "awaiting_map_approval", "hash": proposal["hash"], "map": proposal["map"],
                                   "review": "report/review.html", "deadline": deadline.isoformat(),
                                   **{k: proposal[k] for k in ("objects", "columns", "unsure", "custom", "lossy")
                                      if k in proposal},
                                   **({"refused": refused} if refused else {})})
        event = context.wait_for_external_event(MAP_APPROVED)
        timer = context.create_timer(deadline)
        winner = yield context.task_any([event, timer])
        if winner == timer:
            return False
        timer.cancel()
        data = event.result if isinstance(event.result, dict) else {}
        answer = yield from activity(context, "approve_map", {"run": run, "hash": data.get("hash"),
                                                              "by": data.get("by")})
        if answer["approved"]:
            return True
        refused = answer["reason"]


def owners_resolved(context: df.DurableOrchestrationContext, run: dict):
    """The owner gate: with owners unmatched and ``owners: wait``, wait for ``OwnersResolved``; on it the
    engine reads the users again, and goes on when all match, or when the event says
    ``use_default_owner: true`` (a person's decision, recorded in the report)."""
    gate = yield from activity(context, "owner_gate", {"run": run})
    while gate["unmatched"] and run.get("owners", "wait") == "wait":
        context.set_custom_status({"phase": "awaiting_owners", "unmatched": gate["unmatched"],
                                   "queue": "report/owner_queue.csv"})
        data = yield context.wait_for_external_event(OWNERS_RESOLVED)
        data = data if isinstance(data, dict) else {}
        gate = yield from activity(context, "owner_gate", {"run": run, "recheck": True,
                                                           "use_default_owner": bool(data.get("use_default_owner")),
                                                           "by": data.get("by")})
        if data.get("use_default_owner"):
            return


def migrate_object(context: df.DurableOrchestrationContext):
    job = context.get_input()
    try:
        return (yield from _migrate_object(context, job))
    except PermanentFailure as failure:
        # returned, not raised: the parent must not retry this object, it fails the run with the message
        context.set_custom_status({"object": job["object"], "phase": "failed", "failure": failure.failure})
        return {"object": job["object"], "failure": failure.failure}


def _migrate_object(context: df.DurableOrchestrationContext, job: dict):
    spec = objects.catalogue(job["run"]["source"])[job["object"]]

    def status(phase: str, **extra):
        context.set_custom_status({"object": spec.name, "phase": phase, **extra})

    status("preparing")
    yield from activity(context, "prepare_object", job)
    status("extracting")
    extracted = yield from activity(context, "extract_object", job)
    # Extraction runs in bounded slices (shared/steps/extract.py): a call that stopped at its bound says
    # done: False, and the next call (numbered) reads on from the continuation it left in staging.
    calls = 1
    while not extracted.get("done", True):
        status("extracting", slices=calls, source=extracted.get("source"), staged=extracted.get("staged"),
               chunks=extracted.get("chunks"))
        extracted = yield from activity(context, "extract_object", {**job, "slice": calls})
        calls += 1
    if spec.pipeline == "records":
        status("transforming", chunks=len(extracted["chunks"]), staged=extracted["staged"])
        transformed = yield from fan_out(context, [
            context.call_activity_with_retry("transform_chunk", RETRY, {**job, "chunk": chunk})
            for chunk in extracted["chunks"]
        ])
        # A load activity may stop at its bound (documents: files or bytes per call) with done: False;
        # such chunks go again, in rounds, until every chunk is done.
        # Rows inside a closed record (spec.inside: lines of a won opportunity, of a paid invoice) reopen
        # their parent, are written, and close it again. Two chunks doing that to one parent at once race
        # (one closes it while the other writes; the second reads the close data after the first cancelled
        # it), and chunks may run on different workers, so such an object's chunks load one at a time;
        # each chunk still loads its parents side by side.
        status("loading", chunks=len(transformed))
        pending = [t["chunk"] for t in transformed if t["chunk"]]
        width = 1 if spec.inside else max(len(pending), 1)
        rounds = 0
        while pending:
            if rounds:
                status("loading", chunks=len(transformed), pending=len(pending), round=rounds)
            results = []
            for start in range(0, len(pending), width):
                results += yield from fan_out(context, [
                    context.call_activity_with_retry(spec.load_activity, RETRY, {**job, "chunk": chunk})
                    for chunk in pending[start:start + width]
                ])
            pending = [c for c, r in zip(pending, results) if isinstance(r, dict) and r.get("done") is False]
            rounds += 1
        # every written row read back and compared field by field, before the next wave starts
        status("verifying")
        yield from activity(context, "verify_object", job)
    else:
        status(PIPELINE_ACTIVITY[spec.pipeline])
        yield from activity(context, PIPELINE_ACTIVITY[spec.pipeline], job)
    status("reconciling")
    report = yield from activity(context, "reconcile_object", job)
    status("done", report=report)
    return report


# Registration with the Durable Functions runtime; the functions above stay plain generators.
bp.orchestration_trigger(context_name="context")(migration)
bp.orchestration_trigger(context_name="context")(migrate_object)

ORCHESTRATORS = {"migration": migration, "migrate_object": migrate_object}
