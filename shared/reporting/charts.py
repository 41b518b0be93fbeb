"""The report's charts: matplotlib drawing SVG that goes inline into the page.

Offline and deterministic: the SVG backend needs no display and no network, text stays text
(``svg.fonttype: none``, so the page's own fonts render it, it can be searched and copied, and a
browser test can read it), ids are stable (``svg.hashsalt``), no date is written, and labels are
never parsed as mathtext (a field name with ``$`` in it stays as written). Each function returns one
``<svg>`` element as a string, without the XML prologue, ready for the Jinja template (``|safe``:
matplotlib escapes the text it writes).

Only counts, object names, reason codes and field names are drawn: no record value.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Iterable, Sequence

import matplotlib
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

#: one palette for the page and its charts (the template's CSS uses the same colours)
COLOURS = {"source": "#8c959f", "loaded": "#1f6feb", "rejected": "#cf222e", "queued": "#8250df",
           "sampled_out": "#afb8c1", "verified": "#1a7f37", "mismatched": "#bf8700", "missing": "#82071e",
           "warnings": "#bc4c00", "throttled": "#cf222e", "throughput": "#1f6feb"}
RC = {
    "svg.fonttype": "none",  # text as <text>, not paths
    "svg.hashsalt": "crm-migration-report",  # stable clip-path ids: the same run renders the same page
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],  # bundled with matplotlib: the layout is measured with it
    "font.size": 9.5,
    "axes.edgecolor": "#d1d9e0",
    "axes.labelcolor": "#1f2328",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": "#59636e",
    "ytick.color": "#1f2328",
    "grid.color": "#e7ebef",
    "legend.frameon": False,
}
WIDTH = 13.0  # inches at 72 dpi: 936 pt = 1248 px, the page's content width; narrower containers scale it down
_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)


def _svg(fig: Figure, title: str, prefix: str) -> str:
    """The figure as an inline ``<svg>`` element with an accessible title, scaling to its container; its ids
    (``figure_1``, clip paths) prefixed, so that several charts share one page without clashing."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
                bbox_inches="tight", pad_inches=0.08)
    svg = _METADATA.sub("", _PROLOGUE.sub("", buf.getvalue(), count=1), count=1)
    svg = re.sub(r'(\bid="|url\(#|href="#)([^")]+)', lambda m: f"{m[1]}{prefix}-{m[2]}", svg)
    head, _, rest = svg.partition(">")
    safe_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'{head} role="img" aria-label="{safe_title}" class="chart"><title>{safe_title}</title>{rest}'


def _figure(height: float) -> Figure:
    return Figure(figsize=(WIDTH, height), dpi=72, layout="constrained")


def objects_chart(objects: Sequence[dict]) -> str:
    """Per object two bars: its source records split into loaded, rejected and queued (the reconciliation),
    and below it, thinner, what the read-back found of the loaded ones: verified, mismatched, missing."""
    names = [o["object"] for o in objects]
    top = max([int(o.get("source") or 0) for o in objects] + [int(o.get("loaded") or 0) for o in objects] + [1])
    with matplotlib.rc_context(RC):
        fig = _figure(0.75 + 0.36 * max(len(names), 1))
        ax = fig.add_subplot()
        ys = range(len(names))
        for parts, offset, height in ((("loaded", "rejected", "queued", "sampled_out"), -0.14, 0.36),
                                      (("verified", "mismatched", "missing"), 0.2, 0.2)):
            left = [0] * len(objects)
            for key in parts:
                values = [int(o.get(key) or 0) for o in objects]
                if not any(values):
                    continue
                ax.barh([y + offset for y in ys], values, left=left, height=height, color=COLOURS[key],
                        label=key.replace("_", " "))
                left = [a + b for a, b in zip(left, values)]
        for y, o in zip(ys, objects):
            said = [f"{int(o.get('source') or 0):,} source"]
            said += [f"{int(o[k]):,} {k.replace('_', ' ')}" for k in ("rejected", "queued", "sampled_out") if o.get(k)]
            ax.text(max(int(o.get("source") or 0), int(o.get("loaded") or 0)) + top * 0.008, y - 0.14,
                    ", ".join(said), va="center", fontsize=8, color="#1f2328")
            checked = sum(int(o.get(k) or 0) for k in ("verified", "mismatched", "missing"))
            if "verified" in o:
                bad = [f"{int(o[k]):,} {k}" for k in ("mismatched", "missing") if o.get(k)]
                said = (f"{int(o.get('verified') or 0):,} verified" + (", " + ", ".join(bad) if bad else "")
                        if checked or not o.get("loaded") else "not read back")
                ax.text(checked + top * 0.008, y + 0.2, said, va="center", fontsize=7.5, color="#59636e")
        ax.set_yticks(list(ys), names)
        ax.set_ylim(len(names) - 0.5, -0.6)
        ax.set_xlim(0, top * 1.22)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="x")
        ax.set_axisbelow(True)
        ax.set_xlabel("records")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=8, fontsize=8.5)
        return _svg(fig, "Records per object: source, loaded, rejected, verified, mismatched", "objects")


def reasons_chart(reasons: Sequence[dict], limit: int = 15) -> str:
    """Rejects and warnings by reason (``{"reason", "rejects", "warnings"}``), the most frequent first."""
    top = sorted(reasons, key=lambda r: -(r["rejects"] + r["warnings"]))[:limit]
    labels = [r["reason"] for r in top]
    with matplotlib.rc_context(RC):
        fig = _figure(0.9 + 0.34 * max(len(top), 1))
        ax = fig.add_subplot()
        rej = [r["rejects"] for r in top]
        warn = [r["warnings"] for r in top]
        ax.barh(range(len(top)), rej, height=0.62, color=COLOURS["rejected"], label="rejected")
        ax.barh(range(len(top)), warn, left=rej, height=0.62, color=COLOURS["warnings"], label="warnings")
        peak = max([a + b for a, b in zip(rej, warn)] + [1])
        for y, (a, b) in enumerate(zip(rej, warn)):
            ax.text(a + b + peak * 0.008, y, f"{a + b:,}", va="center", fontsize=7.5, color="#59636e")
        ax.set_yticks(range(len(top)), labels)
        ax.invert_yaxis()
        ax.set_xlim(0, peak * 1.12)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="x")
        ax.set_axisbelow(True)
        ax.set_xlabel("records")
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, fontsize=9)
        return _svg(fig, "Rejects and warnings by reason", "reasons")


def throughput_series(timings: Iterable[dict], buckets: int = 40) -> dict:
    """Records per second and 429 answers over the run's load time, from the load chunks' timings
    (``{"started", "ended", "rows", "client", "throttled": [before, after]}``, shared/steps/load.py).

    A chunk's rows are spread evenly over its interval. A client's 429 counter is cumulative and concurrent
    chunks share the client, so its 429s are taken from the differences between its successive readings
    (every chunk start and end), each counted once, in the interval where it grew."""
    spans = [(datetime.fromisoformat(t["started"]), datetime.fromisoformat(t["ended"]), int(t.get("rows") or 0), t)
             for t in timings if t.get("started") and t.get("ended")]
    if not spans:
        return {"start": None, "seconds": 0.0, "busy": 0.0, "edges": [], "rate": [], "throttled": [], "rows": 0,
                "total_429": 0}
    start = min(s for s, _, _, _ in spans)
    end = max(e for _, e, _, _ in spans)
    seconds = max((end - start).total_seconds(), 0.001)
    width = seconds / buckets
    rows = [0.0] * buckets
    for s, e, n, _ in spans:
        a, b = (s - start).total_seconds(), max((e - start).total_seconds(), (s - start).total_seconds() + 1e-6)
        for i in range(int(a // width), min(int(b // width) + 1, buckets)):
            lo, hi = max(a, i * width), min(b, (i + 1) * width)
            if hi > lo:
                rows[i] += n * (hi - lo) / (b - a)
    throttled = [0] * buckets
    readings: dict[str, list[tuple[float, int]]] = {}
    for s, e, _, t in spans:
        before, after = (list(t.get("throttled") or [0, 0]) + [0, 0])[:2]
        key = str(t.get("client") or id(t))
        readings.setdefault(key, []).extend([((s - start).total_seconds(), int(before)),
                                             ((e - start).total_seconds(), int(after))])
    for points in readings.values():
        points.sort()
        for (t0, c0), (t1, c1) in zip(points, points[1:]):
            if c1 > c0:
                throttled[min(int(t1 // width) if t1 < seconds else buckets - 1, buckets - 1)] += c1 - c0
    busy, reach = 0.0, None  # the union of the chunks' intervals: time spent loading
    for s, e, _, _ in sorted(spans, key=lambda x: x[0]):
        if reach is None or s > reach:
            busy += (e - s).total_seconds()
            reach = e
        elif e > reach:
            busy += (e - reach).total_seconds()
            reach = e
    return {"start": start, "seconds": seconds, "busy": max(busy, 0.001), "edges": [i * width for i in range(buckets + 1)],
            "rate": [r / width for r in rows], "throttled": throttled, "rows": sum(n for _, _, n, _ in spans),
            "total_429": sum(throttled)}


def throughput_chart(series: dict) -> str:
    """Records per second (a line over time) and 429 answers (bars on their own axis)."""
    with matplotlib.rc_context(RC):
        fig = _figure(3.0)
        ax = fig.add_subplot()
        edges, rate = series["edges"], series["rate"]
        mids = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
        ax.fill_between(edges, [rate[0], *rate] if rate else [], step="pre", color=COLOURS["throughput"],
                        alpha=0.16, linewidth=0)
        ax.step(edges, [rate[0], *rate] if rate else [], where="pre", color=COLOURS["throughput"], linewidth=1.6,
                label="records/s loaded")
        ax.set_xlim(0, series["seconds"])
        ax.set_ylim(0, max(rate + [1]) * 1.15)
        ax.set_xlabel(f"seconds since the first load ({series['start']:%Y-%m-%d %H:%M:%S} UTC)"
                      if series["start"] else "seconds")
        ax.set_ylabel("records/s")
        ax.grid(axis="y")
        ax.set_axisbelow(True)
        handles = ax.get_legend_handles_labels()[0]
        if series["total_429"]:
            ax2 = ax.twinx()
            ax2.spines["right"].set_visible(True)
            width = (edges[1] - edges[0]) * 0.7 if len(edges) > 1 else 1
            ax2.bar(mids, series["throttled"], width=width, color=COLOURS["throttled"], alpha=0.75,
                    label="429 answers (throttled)")
            ax2.set_ylim(0, max(series["throttled"] + [1]) * 3)  # the bars stay in the lower third, under the line
            ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax2.set_ylabel("429 answers", color=COLOURS["throttled"])
            handles += ax2.get_legend_handles_labels()[0]
        else:
            handles.append(Patch(color="none", label="no 429 answer"))
        ax.legend(handles, [h.get_label() for h in handles], loc="lower center", bbox_to_anchor=(0.5, 1.0),
                  ncols=2, fontsize=9)
        return _svg(fig, "Records loaded per second and 429 answers over time", "throughput")

