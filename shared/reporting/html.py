"""The run's report as one HTML page people read, and the figures it shows.

``write_report_pages(st, report)`` is called at the end of ``final_report`` (also for a failed run):
it reads what that step staged under ``report/`` (report.json as ``report``, rejects.csv,
warnings.csv, mismatches.csv, owner_queue.csv, workflows.csv) and beside it (the approved map
``mapping/approved.yaml``, the load chunks' timings ``objects/<o>/timing.json``) and writes
``report/report.html`` and ``report/summary.md`` (the e-mail summary, :mod:`.markdown`).

The page is self-contained: inline CSS and inline SVG charts (:mod:`.charts`), no script, nothing
fetched (its Content-Security-Policy forbids both), links only to the CSVs beside it; it reads
offline, from an e-mail attachment, and prints. What it shows of people is what report.json and the
owner queue show: the owners' e-mails and names (the administrator must provision them), counts,
reason codes and column names; never a rejected value or an error message quoting one (those stay
in the CSVs).
"""

from __future__ import annotations

import csv
import functools
import io
from collections import Counter
from pathlib import Path
from typing import Any

import jinja2

from ..mapping.mapfile import MapFileError, load as load_map
from ..staging import Staging

TEMPLATES = Path(__file__).parent / "templates"
HTML, MARKDOWN = "report.html", "summary.md"
APPROVED_MAP, APPROVAL = "mapping/approved.yaml", "mapping/approval.json"
#: the object table's columns, in the order a reader checks them
COUNT_COLUMNS = ("source", "loaded", "created", "updated", "unchanged", "rejected", "queued", "sampled_out",
                 "warnings", "verified", "mismatched", "missing")
#: what the engine's own reason codes mean, in a few words (Dataverse's codes are shown as they come)
REASONS = {
    "duplicate_key": "two source rows with one id: the older one was not migrated",
    "missing_key": "a row without its id",
    "malformed": "a row the CSV reader could not read",
    "invalid_value": "a value that cannot be carried (loaded without it)",
    "placeholder_parent": "parent missing or rejected: attached to the placeholder",
    "missing_parent": "a lookup whose record is not migrated",
    "customer_substituted": "customer taken from the contact (company not migrated)",
    "0x80044331": "Dataverse refused a value (e.g. over MaxLength)",
    "0x80040237": "Dataverse: a duplicate key",
    "transient": "Dataverse kept failing (retries ran out): rerun to retry",
    "no_user": "a user without an e-mail",
    "closed_in_dataverse": "closed in Dataverse, left as it is",
    "close_failed": "loaded, but the close action failed",
}


def read_csv(st: Staging, name: str) -> list[dict[str, str]]:
    """A CSV the report step staged, as rows (missing -> no rows)."""
    if not st.exists(name):
        return []
    return list(csv.DictReader(io.StringIO(st.read_bytes(name).decode("utf-8-sig"))))


def _reasons(rejects: list[dict], warnings: list[dict]) -> tuple[list[dict], list[dict]]:
    """Rejects and warnings counted by reason code (the chart) and by object, stage, code and field (the table)."""
    by_code: dict[str, Counter] = {}
    detail: dict[tuple, Counter] = {}
    for kind, rows in (("rejects", rejects), ("warnings", warnings)):
        for r in rows:
            code = r.get("code") or "unknown"
            by_code.setdefault(code, Counter())[kind] += 1
            detail.setdefault((r.get("object") or "", r.get("stage") or "", code, r.get("field") or ""),
                              Counter())[kind] += 1
    chart = [{"reason": c, "rejects": n["rejects"], "warnings": n["warnings"]} for c, n in by_code.items()]
    table = [{"object": o, "stage": s, "code": c, "field": f, "meaning": REASONS.get(c, ""),
              "rejects": n["rejects"], "warnings": n["warnings"]} for (o, s, c, f), n in detail.items()]
    table.sort(key=lambda r: (-(r["rejects"] + r["warnings"]), r["object"], r["code"], r["field"]))
    return sorted(chart, key=lambda r: (-(r["rejects"] + r["warnings"]), r["reason"])), table


def _mismatches(rows: list[dict]) -> list[dict]:
    """Field-level differences found by the read-back, counted per object, kind and field (no values)."""
    c = Counter((r.get("object") or "", r.get("kind") or "", r.get("field") or "") for r in rows)
    return [{"object": o, "kind": k, "field": f, "count": n} for (o, k, f), n in sorted(c.items(), key=lambda x: -x[1])]


def _approved_map(st: Staging) -> dict | None:
    """The map the run applied: per object its entries (source column -> target column, kind, confidence
    label), and the lossy value conversions with their reasons."""
    if not st.exists(APPROVED_MAP):
        return None
    try:
        mapping = load_map(st.read_bytes(APPROVED_MAP).decode("utf-8"))
    except MapFileError as e:
        return {"error": f"{APPROVED_MAP} cannot be read: {e.errors[0]}", "objects": [], "lossy": []}
    objects, lossy = [], []
    for o in mapping.objects:
        entries = [{"source": e.source, "target": e.target, "kind": e.kind, "label": e.label,
                    "read_only": e.read_only, "custom": e.custom is not None,
                    "values": len(e.values), "lossy": sum(v.lossy for v in e.values)} for e in o.entries]
        # a column with no target is either read by the object's code (kind "engine": migrated, by code the
        # map cannot show) or really not migrated
        objects.append({"name": o.name, "table": o.table, "file": o.file, "entries": entries,
                        "mapped": sum(1 for e in o.entries if e.target),
                        "by_code": sum(1 for e in o.entries if not e.target and e.kind == "engine"),
                        "skipped": sum(1 for e in o.entries if not e.target and e.kind != "engine")})
        for e in o.entries:
            for v in e.values:
                if v.lossy:
                    why = ("no option for this value: it is not carried" if v.option is None else
                           f"coarser option: '{v.source}' and other values become '{v.label or v.option}'"
                           if sum(1 for w in e.values if w.option == v.option) > 1 else
                           f"the nearest option ('{v.label or v.option}') is coarser than the value")
                    lossy.append({"object": o.name, "column": e.source, "target": e.target, "value": v.source,
                                  "option": v.label if v.label is not None else v.option, "rows": v.count,
                                  "reason": why})
    approval = st.read_json(APPROVAL) if st.exists(APPROVAL) else {}
    return {"error": None, "objects": objects, "lossy": lossy, "approval": approval,
            "hash": approval.get("hash") or mapping.content_hash()}


def _timings(st: Staging, objects: list[dict]) -> tuple[list[dict], list[dict]]:
    """The load chunks' timings (all of them, for the chart) and per object: chunks, rows, seconds, records/s."""
    from . import charts

    every, per_object = [], []
    for o in objects:
        name = f"objects/{o['object']}/timing.json"
        if o.get("status") not in ("reconciled", "unbalanced") or not st.exists(name):
            continue
        ts = [t for t in st.read_json(name) if t.get("started") and t.get("ended")]
        if not ts:
            continue
        every += ts
        series = charts.throughput_series(ts, buckets=1)
        per_object.append({"object": o["object"], "chunks": len(ts), "rows": series["rows"],
                           "seconds": series["busy"], "rate": round(series["rows"] / series["busy"]),
                           "throttled": series["total_429"]})
    return every, per_object


def report_context(st: Staging, report: dict) -> dict[str, Any]:
    """Everything the page and the summary show, read from staging (``report``: the report.json payload)."""
    from . import charts  # matplotlib is imported when a report is drawn, not when the Function App starts

    objects = report.get("objects", [])
    counted = [o for o in objects if o.get("status") in ("reconciled", "unbalanced")]
    rejects, warnings = read_csv(st, "report/rejects.csv"), read_csv(st, "report/warnings.csv")
    reason_chart, reason_table = _reasons(rejects, warnings)
    timings, load_rows = _timings(st, objects)
    series = charts.throughput_series(timings) if timings else None
    totals = report.get("totals", {})
    balance = {k: int(totals.get(k) or 0) for k in ("source", "loaded", "rejected", "queued", "sampled_out")}
    files = list(report.get("files", []))
    return {
        "report": report,
        "objects": objects,
        "counted": counted,
        "totals": totals,
        "balance": balance,
        "balanced": balance["source"] == balance["loaded"] + balance["rejected"] + balance["queued"]
        + balance["sampled_out"],
        "verified_objects": sum(1 for o in counted if "verified" in o),
        "reasons": reason_table,
        "reason_codes": reason_chart,
        "mismatches": _mismatches(read_csv(st, "report/mismatches.csv")),
        "owner_queue": read_csv(st, "report/owner_queue.csv"),
        "workflows": read_csv(st, "report/workflows.csv"),
        "map": _approved_map(st),
        "load_rows": load_rows,
        "throughput": series,
        "notes": [(o["object"], n) for o in objects for n in o.get("notes", [])],
        "files": files + [f for f in (HTML, MARKDOWN) if f not in files],
        "count_columns": [c for c in COUNT_COLUMNS if c not in ("sampled_out", "missing") or totals.get(c)],
        "charts": {
            "objects": charts.objects_chart(counted) if counted else None,
            "reasons": charts.reasons_chart(reason_chart) if reason_chart else None,
            "throughput": charts.throughput_chart(series) if series else None,
        },
    }


def duration(seconds: float) -> str:
    """``75.5`` -> ``1 min 16 s``; ``2.4`` -> ``2.4 s``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return " ".join(p for p in (f"{hours} h" if hours else "", f"{minutes} min" if minutes else "",
                                f"{secs} s" if secs or not (hours or minutes) else "") if p)


def _num(v: Any) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, float):
        return f"{v:,.1f}"
    try:
        return f"{int(v):,}"
    except (TypeError, ValueError):
        return str(v)


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _num
    env.filters["duration"] = duration
    return env


def render_report(context: dict[str, Any]) -> str:
    """The page from :func:`report_context`'s figures."""
    return _environment().get_template("report.html.j2").render(**context)


def write_report_pages(st: Staging, report: dict) -> list[str]:
    """Write ``report/report.html`` and ``report/summary.md`` for the run; the names written."""
    from .markdown import render_summary

    context = report_context(st, report)
    st.write_bytes(f"report/{HTML}", render_report(context).encode("utf-8"))
    st.write_bytes(f"report/{MARKDOWN}", render_summary(context).encode("utf-8"))
    return [HTML, MARKDOWN]
