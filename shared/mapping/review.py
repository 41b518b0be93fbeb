"""The review page: the proposed field map as one HTML page a person reads before approving it.

``render_review(mapping, profiles, run_id=..., map_hash=..., owner_queue=..., scope=...)`` returns one
self-contained page (inline CSS, no script, no external resource: it works offline, from a file or an
e-mail attachment, and prints): a summary, how to approve, and per object each source column with
what the profile saw (samples, fill rate, distinct values) beside the proposed target, kind,
confidence and reason; the value maps with lossy merges marked; the proposed custom columns; the
engine-managed entries greyed out; the owners without a Dynamics 365 user.

Source values are hostile: a sample may be ``<script>``, a formula, a bidi override or a 1 MB memo.
Every value goes through Jinja2's autoescaping, control and bidi characters are shown as visible
marks (:func:`visible`), long texts are cut (:func:`~shared.problems.clip`), and the page's
Content-Security-Policy forbids scripts and every fetch, so even a value that escaped would do nothing.

The page quotes source values: it is personal data like ``mapping.yaml`` and stays beside it in
staging (or the operator's ``out/`` folder), never in orchestration inputs, outputs or logs.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import jinja2

from ..problems import clip
from .model import LABELS, MappingFile, ObjectMapping, Entry, label_for
from .profile import ColumnProfile, TableProfile

TEMPLATES = Path(__file__).parent / "templates"
SAMPLES_SHOWN = 3
SAMPLE_CHARS = 80  # what the profile keeps of a sample (profile.SAMPLE_CHARS); the page cuts to this too
REASON_CHARS = 600
#: what the label says to a person, beside its colour (the colour is never the only sign)
LABEL_MARKS = {"sure": "✓", "likely": "~", "unsure": "!"}
#: characters a text editor shows and a browser hides or obeys: line breaks, tabs, other controls and
#: the bidirectional overrides that make a value read backwards (Trojan Source, CVE-2021-42574)
_MARKS = {"\n": "⏎", "\r": "␍", "\t": "⇥"}
_HIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def visible(value: Any, limit: int = SAMPLE_CHARS) -> str:
    """A source value as text that shows what it holds: hidden characters as marks, cut to ``limit``."""
    text = clip("" if value is None else str(value), limit)
    return _HIDDEN.sub(lambda m: _MARKS.get(m[0]) or f"<U+{ord(m[0]):04X}>", text)


@dataclass
class Row:
    """One source column and the entries proposed for it (a column may feed two targets)."""

    source: str
    profile: ColumnProfile | None
    entries: list[Entry]


@dataclass
class ObjectView:
    mapping: ObjectMapping
    profile: TableProfile | None
    rows: list[Row]
    counts: dict[str, int]  # sure / likely / unsure of the editable entries
    custom: list[Entry]
    value_maps: list[Entry]
    lossy: int  # value maps with at least one lossy value
    read_only: int
    anchor: str = ""
    notes: list[str] = field(default_factory=list)


def _anchor(*parts: str) -> str:
    """An id for an in-page link: letters, digits and dashes of the names (ids never carry source values)."""
    return "-".join(re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKD", p).lower()).strip("-") or "x"
                    for p in parts)


def _object_view(o: ObjectMapping, profile: TableProfile | None) -> ObjectView:
    rows: list[Row] = []
    for e in o.entries:
        if rows and rows[-1].source == e.source:
            rows[-1].entries.append(e)
        else:
            rows.append(Row(e.source, profile.column(e.source) if profile else None, [e]))
    editable = [e for e in o.entries if not e.read_only]
    counts = {label: sum(label_for(e.confidence) == label for e in editable) for label in LABELS}
    value_maps = [e for e in o.entries if e.values]
    view = ObjectView(o, profile, rows, counts, [e for e in o.entries if e.custom is not None], value_maps,
                      sum(any(v.lossy for v in e.values) for e in value_maps), len(o.entries) - len(editable),
                      anchor=_anchor("object", o.name))
    if profile is not None and profile.malformed:
        view.notes.append(f"{profile.malformed:,} malformed rows were not profiled (extraction rejects them).")
    return view


def _owner_rows(owner_queue: list[dict]) -> list[dict]:
    """The owner queue as the page shows it: ``records`` per object (a dict) or a total (an int, with the
    report's comma-separated ``objects``)."""
    out = []
    for q in owner_queue:
        records = q.get("records") or 0
        per_object = dict(records) if isinstance(records, Mapping) else {}
        total = sum(per_object.values()) if per_object else int(records)
        if not per_object and q.get("objects"):
            per_object = {name: None for name in str(q["objects"]).split(",") if name}
        out.append({"email": q.get("email"), "name": q.get("name"), "reason": q.get("reason"),
                    "per_object": per_object, "total": total})
    return out


def _scope_items(scope: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``scope`` as label/text pairs: lists joined, mappings as ``key: value``."""
    def text(v: Any) -> str:
        if isinstance(v, Mapping):
            return "; ".join(f"{k}: {text(x)}" for k, x in v.items()) or "none"
        if isinstance(v, (list, tuple, set)):
            return ", ".join(text(x) for x in v) or "none"
        return "none" if v is None else str(v)

    return [(str(k).replace("_", " "), text(v)) for k, v in scope.items()]


@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["visible"] = visible
    env.filters["label"] = label_for
    env.globals["anchor"] = _anchor
    return env


def render_review(mapping: MappingFile, profiles: Mapping[str, TableProfile], *, run_id: str, map_hash: str,
                  owner_queue: list[dict] | None = None, scope: Mapping[str, Any] | None = None) -> str:
    """The review page of one run's proposed map (``profiles``: object name -> its table profile).

    ``map_hash`` is what an approval must quote; it must be the hash of the map shown, or a person
    would approve something other than what they read (ValueError)."""
    if map_hash != mapping.content_hash():
        raise ValueError(f"map_hash {map_hash} is not the hash of the map shown ({mapping.content_hash()}): "
                         "render the page from the map that is to be approved")
    objects = [_object_view(o, profiles.get(o.name)) for o in mapping.objects]
    summary = {
        "objects": len(objects),
        "columns": sum(len(v.rows) for v in objects),
        "entries": sum(len(v.mapping.entries) - v.read_only for v in objects),
        "read_only": sum(v.read_only for v in objects),
        **{label: sum(v.counts[label] for v in objects) for label in LABELS},
        "custom": sum(len(v.custom) for v in objects),
        "lossy": sum(v.lossy for v in objects),
        "lossy_values": sum(val.lossy for v in objects for e in v.value_maps for val in e.values),
    }
    return _environment().get_template("review.html.j2").render(
        run_id=run_id, map_hash=map_hash, source=mapping.source, objects=objects, summary=summary,
        owners=_owner_rows(owner_queue) if owner_queue is not None else None,
        scope=_scope_items(scope) if scope else [], labels=LABELS, marks=LABEL_MARKS,
        samples_shown=SAMPLES_SHOWN, reason_chars=REASON_CHARS)
