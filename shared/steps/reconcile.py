"""Reconciliation of one object: ``source == loaded + rejected + queued + sampled_out``, and
``loaded == created + updated + unchanged``.

``queued`` is only the user object's: users without a Dynamics 365 user wait for the administrator
(``owner_queue.csv``). Objects that write no records (users, custom fields, configuration,
inventories) count what they carried as ``unchanged`` unless their step says it created or updated
something (``created`` / ``updated`` in its ``result.json``).

The report returned to the orchestrator (and shown in its custom status) holds counts only: the
e-mails of owners without a Dynamics 365 user are personal data and stay in staging
(``problems.json``, then ``owner_queue.csv``).
"""

from __future__ import annotations

import logging
import re
from collections import Counter

from ..errors import PermanentError
from ..problems import Problem
from ..staging import Staging, read_chunk
from .common import effective_spec, obj_path, problems_from, run_config, spec_of, staging_for

log = logging.getLogger("migration")
#: one structured event per reconciled object, counts only (no e-mail, name or value), for Application Insights.
#: host.json's telemetryMode OpenTelemetry: the worker's Azure Monitor OpenTelemetry distro makes each `extra`
#: key of a log record an attribute, and its exporter writes attributes as customDimensions, one per key (a
#: dict would arrive as one string, so keys are flat, not OpenCensus' `custom_dimensions={...}`):
#: https://learn.microsoft.com/azure/azure-monitor/app/opentelemetry-python-opencensus-migrate
#: shared.telemetry.configure exports the "migration" logger and its children to Application Insights. KQL:
#: traces | where message == "reconciliation" | extend o = tostring(customDimensions["migration.object"])
events = logging.getLogger("migration.reconciliation")
events.setLevel(logging.INFO)  # an INFO record, whatever the host's default level
#: the counts the event carries (customDimensions "migration.<name>"), beside run_id, object, table, phase
EVENT_COUNTS = ("source", "staged", "loaded", "created", "updated", "unchanged", "rejected", "queued", "warnings",
                "sampled_out", "unknown_owner_records")
VERIFY_COUNTS = ("verified", "mismatched", "missing")

#: the column a Dataverse error message names (MaxLength, option and number ranges, required columns,
#: unknown properties): "the 'name' attribute", "of 'statuscode' on record", "Attribute 'x' of",
#: "The property 'x' does not exist"
_ERROR_COLUMN = re.compile(r"the '(\w+)' attribute|of '(\w+)' on record|[Aa]ttribute '(\w+)'|property '(\w+)'")


async def reconcile_object(payload: dict) -> dict:
    """Count what happened to every source row of one object."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    extract = st.read_json(obj_path(spec, "extract.json"))
    rejects = problems_from(extract.get("rejects"))
    warnings: list[Problem] = problems_from(extract.get("warnings"))  # repaired encodings, NULs removed, ...
    counts = Counter()
    loaded_keys: list[str] = []
    unknown_owners = Counter()
    hashes: dict[str, str] = {}  # what the next pass compares with (shared/steps/delta.py)
    timings: list[dict] = []

    if spec.pipeline == "records":
        for chunk in extract["chunks"]:
            part = chunk["name"].rsplit("/", 1)[-1].split(".")[0]
            t = st.read_json(obj_path(spec, "transform", f"{part}.json"))
            rejects += problems_from(t["rejects"])
            warnings += problems_from(t["warning_rows"])
            unknown_owners.update(t.get("unmatched_owners") or {})
            if not t["chunk"]:
                continue
            loaded_doc = st.read_json(obj_path(spec, "load", f"{part}.json"))
            warnings += problems_from(loaded_doc.get("warnings"))
            timings += [loaded_doc["timing"]] if loaded_doc.get("timing") else []  # the report's throughput chart
            refused = [o for o in loaded_doc["outcomes"] if o["status"] == "rejected"]
            bodies = _bodies(st, t["chunk"]) if refused else {}
            for o in refused:
                column = _error_column(o["message"])
                value = (bodies.get(o["key"]) or {}).get(column) if column else None
                rejects.append(Problem(spec.name, o["key"], "load", o["code"] or "rejected", o["message"] or "",
                                       file=spec.file, line=o.get("row"), record=o.get("record"), field=column,
                                       value=None if value is None else str(value)))
            for o in loaded_doc["outcomes"]:
                if o["status"] != "rejected":
                    counts[o["status"]] += 1
                    loaded_keys.append(o["key"])
                    if o.get("hash"):
                        hashes[o["key"]] = o["hash"]
        carried = _carried(run, spec, extract, loaded_keys, rejects)
        if carried is not None:  # a filtered read: what it did not return is as the previous pass left it
            counts["unchanged"] += len(carried)
            loaded_keys += sorted(carried)
            hashes.update(carried)
        loaded, queued = len(loaded_keys), 0
    else:  # owners, custom fields, configuration, inventories: their step wrote result.json
        doc = st.read_json(obj_path(spec, "result.json"))
        rejects += problems_from(doc["problems"])
        loaded, queued = doc["loaded"], doc.get("queued", 0)
        counts.update(created=doc.get("created", 0), updated=doc.get("updated", 0))
        counts["unchanged"] = loaded - counts["created"] - counts["updated"]

    tables = ", ".join(effective_spec(st, spec).tables)
    carried_n = len(carried) if spec.pipeline == "records" and carried is not None else None
    report = {
        "object": spec.name, "table": tables or None,
        "source": extract["source"] + (carried_n or 0), "staged": extract["staged"],
        "loaded": loaded, "created": counts["created"], "updated": counts["updated"],
        "unchanged": counts["unchanged"], "rejected": len(rejects), "queued": queued, "warnings": len(warnings),
        "sampled_out": extract.get("sampled_out", 0),  # a sample run's rows left out on purpose
        "unknown_owner_records": sum(unknown_owners.values()),
        # a delta pass's filtered read: the records it read, and those it did not (unchanged, carried forward)
        **({"modified_since": extract["modified_since"], "read": extract["source"], "carried": carried_n}
           if carried_n is not None else {}),
    }
    if loaded != counts["created"] + counts["updated"] + counts["unchanged"] or counts["unchanged"] < 0:
        raise PermanentError(f"{spec.name}: loaded {loaded} is not created {counts['created']} + updated "
                             f"{counts['updated']} + unchanged {counts['unchanged']}: the engine miscounted; "
                             f"report this with the staging folder objects/{spec.name}/")
    report["balanced"] = report["source"] == loaded + report["rejected"] + queued + report["sampled_out"]
    st.write_json(obj_path(spec, "loaded_keys.json"), loaded_keys)
    if spec.pipeline == "records":
        st.write_json(obj_path(spec, "hashes.json"), hashes)
    st.write_json(obj_path(spec, "problems.json"), {"rejects": [p.to_dict() for p in rejects],
                                                    "warnings": [p.to_dict() for p in warnings],
                                                    "unknown_owners": dict(unknown_owners)})
    if timings:
        st.write_json(obj_path(spec, "timing.json"), timings)
    st.write_json(obj_path(spec, "report.json"), report)
    if not report["balanced"]:
        log.error("reconciliation does not balance", extra={"report": report})
    verified = st.read_json(obj_path(spec, "verify.json")) if st.exists(obj_path(spec, "verify.json")) else {}
    events.info("reconciliation", extra=event_dimensions(run.run_id, report, rejects, verified))
    return report


def _carried(run, spec, extract: dict, loaded_keys: list[str], rejects: list[Problem]) -> dict[str, str] | None:
    """After a filtered read (``extract.json`` has ``modified_since``): source key -> hash of the rows the
    previous pass loaded that this read did not return (not modified since: unchanged, carried forward so
    the next pass compares with them); None after a whole read. A record the previous pass rejected and
    nobody changed since is not read again: it stays in that pass's rejects.csv."""
    if not extract.get("modified_since"):
        return None
    from .delta import previous_hashes

    returned = set(loaded_keys) | {f"{spec.key_prefix}{p.source_id}" for p in rejects if p.source_id}
    return {k: h for k, h in (previous_hashes(run, spec) or {}).items() if k not in returned}


def event_dimensions(run_id: str, report: dict, rejects: list[Problem], verified: dict | None = None) -> dict:
    """The reconciliation event's custom dimensions: ids, table names and counts only (rejects per stage, and
    the read-back's counts when the object was verified)."""
    stages = Counter(p.stage for p in rejects)
    verified = {f"migration.{k}": int(verified.get(k) or 0) for k in VERIFY_COUNTS} if verified else {}
    return {"migration.run_id": run_id, "migration.object": report["object"], "migration.table": report["table"] or "",
            "migration.phase": "reconcile", "migration.balanced": bool(report["balanced"]),
            **{f"migration.{k}": int(report.get(k) or 0) for k in EVENT_COUNTS},
            **{f"migration.rejected_{s}": stages[s] for s in sorted({"extract", "transform", "load", *stages})},
            **verified}


def _error_column(message: str | None) -> str | None:
    m = _ERROR_COLUMN.search(message or "")
    return next(g for g in m.groups() if g) if m else None


def _bodies(st: Staging, chunk: dict) -> dict[str, dict]:
    """Source key -> the body that was sent, for naming the refused value."""
    return {r.get("source_key", r["key"]): r["body"] for r in read_chunk(st, chunk["name"], chunk.get("sha256"))}
