"""The work of a migration run, one module per phase, one function per activity.

Each step takes a small dict (the run's settings, an object name, a blob name), reads and writes
staging, talks to the source or Dataverse, and returns a small dict of blob names and counts. Steps
are idempotent: a step that already finished (its output is in staging) returns what it returned
before, so an activity that runs twice, or a local run that is restarted, does no work twice and
never duplicates a Dataverse row (rows are upserted by alternate key anyway).

Phases, in the order a record meets them: :mod:`.discover`, :mod:`.prepare` (schema),
:mod:`.extract`, :mod:`.owners`, :mod:`.custom_fields`, :mod:`.config` (non-record objects),
:mod:`.transform`, :mod:`.load`, :mod:`.documents`, :mod:`.verify`, :mod:`.reconcile`, :mod:`.report`,
:mod:`.spot_check`; a run holds
its staging prefix from start to end with :mod:`.lease`. What they share is public in :mod:`.common`.

Staging layout under ``runs/<run_id>/``::

    objects/<name>/extract/part-NNNNN.jsonl.gz + manifest.json   source rows that passed extraction
    objects/<name>/extract/slices/NNNNN.json, .keys.jsonl.gz     one extraction slice: counts, continuation, keys
    objects/<name>/extract.json                                  extract summary
    objects/<name>/transform/part-NNNNN.jsonl.gz                 rows ready to load {"key","body"}
    objects/<name>/transform/part-NNNNN.json                     transform summary, rejects, warnings
    objects/<name>/load/part-NNNNN.json                          per-row outcomes from Dataverse
    objects/<name>/load/part-NNNNN.before.json                   keys + before-images for a rollback (.rollback)
    objects/<name>/verify.json, mismatches.json                  written rows read back and compared (.verify)
    objects/<name>/report.json, loaded_keys.json                 reconciliation
    objects/<name>/hashes.json, deleted.json                     what the next pass compares with (.delta)
    passes/<n>/...                                               a later pass: the same layout, + pass.json
    owners.json, schema/custom_fields.json                       what later objects need
    report/report.json, rejects.csv, warnings.csv, owner_queue.csv
    report/spotcheck.xlsx, spotcheck.csv                         sampled records as sent and as found (.spot_check)
    run.lease                                                    held by the run in progress (.lease)
    rollback/plan.json, restore/, delete/, report.json, ...      a rollback of the run (.rollback)

Failures: a :class:`shared.errors.PermanentError` (bad settings, a refused credential, an unreadable
input) is *returned* by the registered step as ``{"failure": {"kind", "message"}}`` instead of raised,
so the orchestrator fails the run at once with that message rather than retrying it; every other
exception is raised and retried as transient.
"""

from __future__ import annotations

import functools
import logging
from typing import Awaitable, Callable

from .. import telemetry
from ..errors import PermanentError
from .config import build_config, write_inventory
from .custom_fields import column_name, deploy_custom_fields
from .delta import certify, sync_deleted
from .discover import discover
from .documents import transfer_documents
from .extract import extract_object
from .gates import owner_gate
from .lease import acquire_run_lease, release_run_lease
from .load import load_chunk
from .mapping import approve_map, propose_map
from .owners import resolve_owners
from .prepare import prepare_object
from .reconcile import reconcile_object
from .rollback import (rollback_delete, rollback_documents, rollback_placeholders, rollback_plan, rollback_report,
                       rollback_restore, rollback_schema, rollback_verify)
from .report import final_report
from .spot_check import spot_check
from .transform import transform_chunk
from .verify import verify_object

log = logging.getLogger("migration")

Step = Callable[[dict], Awaitable[dict]]


def permanent_failures_returned(name: str, step: Step) -> Step:
    """The step, with a PermanentError turned into a result the orchestrator fails on without retrying."""

    @functools.wraps(step)
    async def run(payload: dict) -> dict:
        try:
            return await step(payload)
        except PermanentError as e:
            log.error("%s failed: %s", name, e, extra={"activity": name, "failure_kind": e.kind})
            return {"failure": {"kind": e.kind, "message": str(e), "activity": name,
                                "object": payload.get("object")}}

    return run


#: activity name -> step, each traced (a span and a custom event with its counts: ``shared.telemetry``).
#: ``activities/`` registers one thin Azure Functions wrapper per entry;
#: the local driver calls these directly.
STEPS: dict[str, Step] = {name: telemetry.traced(name, permanent_failures_returned(name, step)) for name, step in {
    "acquire_run_lease": acquire_run_lease,
    "release_run_lease": release_run_lease,
    "discover": discover,
    "propose_map": propose_map,
    "approve_map": approve_map,
    "owner_gate": owner_gate,
    "prepare_object": prepare_object,
    "extract_object": extract_object,
    "resolve_owners": resolve_owners,
    "deploy_custom_fields": deploy_custom_fields,
    "build_config": build_config,
    "write_inventory": write_inventory,
    "transform_chunk": transform_chunk,
    "load_chunk": load_chunk,
    "verify_object": verify_object,
    "reconcile_object": reconcile_object,
    "final_report": final_report,
    "spot_check": spot_check,
    "transfer_documents": transfer_documents,
    # rolling a run back (orchestrators/rollback.py)
    "rollback_plan": rollback_plan,
    "rollback_restore": rollback_restore,
    "rollback_delete": rollback_delete,
    "rollback_documents": rollback_documents,
    "rollback_placeholders": rollback_placeholders,
    "rollback_schema": rollback_schema,
    "rollback_verify": rollback_verify,
    "rollback_report": rollback_report,
    "sync_deleted": sync_deleted,
    "certify": certify,
}.items()}

__all__ = ["STEPS", "Step", "column_name", *STEPS]
