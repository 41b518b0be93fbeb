"""The run's summary in Markdown, for an e-mail or a ticket: status, the balance, a table per object,
the verification figures, the most frequent reasons, and which files to open.

It carries counts, object and table names and reason codes only: no e-mail address or name (the
owner queue is counted; its people are in owner_queue.csv and the HTML report), no record value.
"""

from __future__ import annotations

from typing import Any

TOP_REASONS = 8


def _n(v: Any) -> str:
    return "" if v is None or v == "" else f"{int(v):,}"


def _cell(v: Any) -> str:
    """A table cell: pipes and line breaks would break the table."""
    return str(v if v is not None else "").replace("|", "\\|").replace("\n", " ")


def render_summary(ctx: dict[str, Any]) -> str:
    """The summary from :func:`shared.reporting.html.report_context`'s figures."""
    r, t, b = ctx["report"], ctx["totals"], ctx["balance"]
    status = str(r.get("status", "")).replace("_", " ")
    lines = [f"# Migration run {r['run_id']}: {status}", ""]
    settings = r.get("settings") or {}
    when = f"{r.get('started') or '?'} to {r.get('ended')}"
    if r.get("duration_s") is not None:
        when += f" ({r['duration_s']:,} s)"
    lines += [f"{settings.get('source', '')} -> {settings.get('target', '')}, {when}.", ""]
    if r.get("failure"):
        f = r["failure"]
        where = " in " + " / ".join(filter(None, [f.get("activity"), f.get("object")])) if f.get("activity") else ""
        lines += [f"**The run failed{where}:** {f.get('message')}", ""]
    sum_ = f"{b['loaded']:,} loaded + {b['rejected']:,} rejected + {b['queued']:,} queued"
    if b["sampled_out"]:
        sum_ += f" + {b['sampled_out']:,} sampled out"
    lines += [f"- **{b['source']:,}** source records = {sum_}"
              + (": every record accounted for." if ctx["balanced"] else ": **the counts do not add up.**"),
              f"- loaded: {_n(t.get('created'))} created, {_n(t.get('updated'))} updated, "
              f"{_n(t.get('unchanged'))} unchanged; values flagged: {_n(t.get('warnings'))} (warnings.csv)",
              (f"- verification (every written row read back, field by field): {_n(t.get('verified')) or 0} identical, "
               f"{_n(t.get('mismatched')) or 0} different, {_n(t.get('missing')) or 0} missing"
               if ctx["verified_objects"] else "- verification: no object was read back in this run"),
              f"- owners without a Dynamics 365 user: {len(ctx['owner_queue'])} (owner_queue.csv)"]
    if r.get("map"):
        m = r["map"]
        how = "approved automatically (--auto-approve)" if m.get("auto_approved") else f"approved by {m.get('by')}"
        lines.append(f"- field map {m.get('hash')}: {how}")
    if ctx.get("throughput"):
        s = ctx["throughput"]
        # as the page says it: the time spent loading (the chunks' intervals joined), not the waves' other steps
        lines.append(f"- load: {s['rows']:,} rows in {s['busy']:,.1f} s of loading ({s['rows'] / s['busy']:,.0f} "
                     f"records/s), {s['total_429']:,} answers 429")
    lines += ["", "| object | table | source | loaded | rejected | queued | warnings | verified | mismatched | status |",
              "|---|---|--:|--:|--:|--:|--:|--:|--:|---|"]
    for o in ctx["objects"]:
        lines.append("| " + " | ".join(_cell(x) for x in (
            o["object"] + (f" (records of {o['counted_in']}: not in the total)" if o.get("counted_in") else ""),
            o.get("table") or "", _n(o.get("source")), _n(o.get("loaded")), _n(o.get("rejected")),
            _n(o.get("queued")), _n(o.get("warnings")), _n(o.get("verified")), _n(o.get("mismatched")),
            o.get("status"))) + " |")
    lines.append("| **total** | | " + " | ".join(f"**{_n(t.get(k))}**" for k in (
        "source", "loaded", "rejected", "queued", "warnings", "verified", "mismatched")) + " | |")
    if ctx["reason_codes"]:
        lines += ["", "Most frequent reasons (rejected / warnings):", ""]
        lines += [f"- `{x['reason']}`: {x['rejects']:,} / {x['warnings']:,}" for x in ctx["reason_codes"][:TOP_REASONS]]
    lossy = (ctx.get("map") or {}).get("lossy") or []
    if lossy:
        lines += ["", f"{len(lossy)} source values load as a coarser option (see the report's lossy conversions)."]
    lines += ["", "Open `report.html` (the full report, readable offline) beside: "
              + ", ".join(f"`{f}`" for f in ctx["files"] if f not in ("report.html", "summary.md")) + "."]
    return "\n".join(lines) + "\n"
