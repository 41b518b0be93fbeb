"""The final report: report.json, rejects.csv, warnings.csv, owner_queue.csv and the listings.

It is written for every run that ends, the failed ones too (``failure`` in the payload): objects that
reconciled are listed as they are, the others as ``not done``, skipped objects with their reason, and
the failure with the activity and object it happened in. It says how the run was made: when it
started (its first discovery) and ended, how many attempts it took, the tool version, the settings,
the input files (size, encoding, sha256 from the extract summaries) and what discovery found.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone

from .. import __version__
from .. import objects as catalogue_mod
from ..dataverse.settings import DataverseSettings
from ..objects import ObjectSpec
from ..problems import csv_text, to_csv
from ..reporting import HTML, MARKDOWN, write_report_pages
from ..run import RunConfig
from ..staging import Staging
from . import delta
from .common import APPROVAL, approved_spec, obj_path, run_config, staged_rows, staging_for
from .discover import DISCOVERY
from .verify import MISMATCH_COLUMNS, mismatch_rows

COUNTS = ("source", "loaded", "created", "updated", "unchanged", "rejected", "queued", "sampled_out", "warnings",
          "deleted_in_source", "deactivated")  # the last two: a later pass's records gone from the source (.delta)
#: field-level verification after each object's load (shared/steps/verify.py)
VERIFY_COUNTS = ("verified", "mismatched", "missing", "modified_after_load")
#: what the run wrote beside the report for people, listed when present: the map it applied and its
#: review page, the scope document, the spot-check sheet
BESIDE = ("mapping.yaml", "review.html", "scope.md", "spotcheck.xlsx", "spotcheck.csv", "certificate.json",
          "certificate.md",  # the certificate: a freeze pass's (.delta)
          "openitems_reconciliation.csv")  # work4all's open items, reconciled before they load
OWNER_QUEUE_COLUMNS = ["email", "name", "records", "objects", "reason"]
#: the report for people (report.html) and its summary for e-mail (summary.md), written last
PAGES = (HTML, MARKDOWN)


async def final_report(payload: dict) -> dict:
    """Gather the objects' reconciliations (and the failure, if the run failed) into the report files.

    ``payload``: ``{"run", "objects": [names the run planned], "failure": {"message", "activity",
    "object"} (only for a failed run)}``.
    """
    run = run_config(payload)
    st = staging_for(run)
    specs = catalogue_mod.catalogue(run.source)
    discovery = st.read_json(DISCOVERY) if st.exists(DISCOVERY) else {}
    failure = payload.get("failure")
    done = [n for n in payload.get("objects", []) if st.exists(obj_path(specs[n], "report.json"))]
    reports = [{**st.read_json(obj_path(specs[n], "report.json")), **delta.deleted_counts(st, specs[n])} for n in done]
    rejects, warnings, unknown_owners = [], [], {}
    files = ["report.json", "rejects.csv", "warnings.csv", "owner_queue.csv"]
    for name in done:
        spec = specs[name]
        probs = st.read_json(obj_path(spec, "problems.json"))
        rejects += probs["rejects"]
        warnings += probs["warnings"]
        unknown_owners[name] = probs.get("unknown_owners") or {}
        if spec.listing:
            fname, columns = spec.listing
            st.write_bytes(f"report/{fname}", csv_text(columns, staged_rows(st, spec)).encode("utf-8"))
            files.append(fname)
        if spec.pipeline == "inventory":
            files += st.read_json(obj_path(spec, "result.json"))["files"]
    queue = _owner_queue(st, unknown_owners)
    notes = {r["object"]: approved_spec(st, specs[r["object"]]).notes for r in reports}  # as the map applied them
    verified = {n: st.read_json(obj_path(specs[n], "verify.json")) for n in done
                if st.exists(obj_path(specs[n], "verify.json"))}
    mismatches = [row for n in done for row in mismatch_rows(st, specs[n])]
    st.write_bytes("report/mismatches.csv", csv_text(MISMATCH_COLUMNS, mismatches).encode("utf-8"))
    files.append("mismatches.csv")
    rows = [{"object": r["object"], "table": r["table"], "status": "reconciled" if r["balanced"] else "unbalanced",
             **{k: r.get(k, 0) for k in COUNTS},
             **{k: verified[r["object"]].get(k, 0) for k in VERIFY_COUNTS if r["object"] in verified},
             **({"counted_in": specs[r["object"]].counted_in} if specs[r["object"]].counted_in else {}),
             **({"notes": list(notes[r["object"]])} if notes[r["object"]] else {})}
            for r in reports]
    # each source record once: an index or the documents of another object's rows are not counted again
    counted = [r for r in reports if not specs[r["object"]].counted_in]
    rows += [{"object": n, "table": ", ".join(specs[n].tables) or None, "status": "not done"}
             for n in payload.get("objects", []) if n not in done]
    rows += [{"object": n, "table": ", ".join(specs[n].tables) or None, "status": "skipped", "reason": why}
             for n, why in discovery.get("skipped", {}).items()]
    ended = datetime.now(timezone.utc).replace(microsecond=0)
    started = discovery.get("started")
    files += [f for f in BESIDE if st.exists(f"report/{f}")]
    approval = st.read_json(APPROVAL) if st.exists(APPROVAL) else None
    owners = st.read_json("owners.json") if st.exists("owners.json") else {}
    expired = bool(failure) and failure.get("kind") == "approval_expired"
    report = {
        "run_id": run.run_id,
        "pass": delta.pass_info(run, st),  # which pass of the migration, compared with which (.delta)
        "status": "approval_expired" if expired else "failed" if failure
        else "completed" if all(r["balanced"] for r in reports) else "unbalanced",
        **({"sample": run.sample} if run.sample else {}),
        "map": approval and {**approval, "auto_approved": approval.get("by") == "--auto-approve"},
        "owners": {"policy": run.owners, "decision": owners.get("default_owner_decision")},
        **({"failure": {k: failure.get(k) for k in ("message", "activity", "object")}} if failure else {}),
        "tool": {"name": "crm-migration-engine", "version": __version__},
        "started": started,
        "ended": ended.isoformat(timespec="seconds"),
        "duration_s": round((ended - datetime.fromisoformat(started)).total_seconds()) if started else None,
        "attempts": len(discovery.get("attempts", [])),
        "settings": _settings(run),
        "inputs": _inputs(st, [specs[n] for n in payload.get("objects", [])]),
        "discovery": discovery.get("found", []),
        "objects": rows,
        "totals": {**{k: sum(r.get(k, 0) for r in counted) for k in COUNTS},
                   **{k: sum(v.get(k, 0) for v in verified.values()) for k in VERIFY_COUNTS}},
        "owner_queue": len(queue),
        "files": files + list(PAGES),
    }
    st.write_json("report/report.json", report)
    st.write_bytes("report/rejects.csv", to_csv(rejects).encode("utf-8"))
    st.write_bytes("report/warnings.csv", to_csv(warnings).encode("utf-8"))
    st.write_bytes("report/owner_queue.csv", csv_text(OWNER_QUEUE_COLUMNS, queue).encode("utf-8"))
    _pages(st, report)
    return {"status": report["status"], "report": "report/report.json", "totals": report["totals"]}


def _pages(st: Staging, report: dict) -> None:
    """report.html and summary.md (shared/reporting) from what was just staged; a page that cannot be drawn
    is logged and left out of ``files``, and never costs the run its report.json and CSVs."""
    try:
        write_report_pages(st, report)
    except Exception:  # noqa: BLE001 - the page is a view of report.json, which stands without it
        logging.getLogger("migration").exception("report.html could not be written for run %s", report["run_id"])
        report["files"] = [f for f in report["files"] if f not in PAGES]
        st.write_json("report/report.json", report)


def _settings(run: RunConfig) -> dict:
    """The options the run was made with (no credential: those stay in the environment)."""
    dv = DataverseSettings.from_env(env={**os.environ, "DATAVERSE_URL": run.target})
    return {"source": run.source, "input": run.input, "target": run.target, "timezone": run.timezone,
            "date_order": run.date_order, "default_owner": run.default_owner_email, "batch_size": dv.batch_size,
            "chunk_size": run.chunk_size, "only": run.only, "skip": run.skip, "sample": run.sample,
            "auto_approve": run.auto_approve, "owners": run.owners}


def _inputs(st: Staging, specs: list[ObjectSpec]) -> list[dict]:
    """Every input file once, as extraction described it (file, bytes, encoding and why, sha256, rows), for
    the objects that got as far as extraction."""
    files: dict[str, dict] = {}
    for spec in specs:
        summary = obj_path(spec, "extract.json")
        for f in st.read_json(summary).get("files", []) if st.exists(summary) else []:
            files.setdefault(f["file"], f)
    return [files[k] for k in sorted(files)]


def _owner_queue(st: Staging, unknown_owners: dict[str, dict[str, int]]) -> list[dict]:
    """Every owner e-mail without an active Dynamics 365 user, with how many records it owns."""
    queue: dict[str, dict] = {}
    if st.exists("owners.json"):
        for q in st.read_json("owners.json")["queue"]:
            queue[q["email"]] = {"email": q["email"], "name": q.get("name"), "reason": q["reason"], "records": 0,
                                 "objects": ""}
    for name, owners in unknown_owners.items():
        for email, n in owners.items():
            q = queue.setdefault(email, {"email": email, "name": None, "records": 0, "objects": "",
                                         "reason": "not in the source's user list and no Dynamics 365 user"})
            q["records"] += n
            q["objects"] = ",".join(filter(None, [q["objects"], name]))
    return sorted(queue.values(), key=lambda q: (-q["records"], q["email"]))
