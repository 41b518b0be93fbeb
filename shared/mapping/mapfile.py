"""``mapping.yaml``: the column map as a file a person reads, edits and approves.

``dump(mapping, profiles)`` writes it in a stable order (objects and columns as proposed, keys in a
fixed order), with the profile of each source column as a comment above its entries (fill rate,
distinct values, longest value, top values, samples) and the confidence label as a comment after
the confidence. ``load(text)`` reads it back (PyYAML's composer, so every object, entry, key and
value keeps its line for error messages) and raises :class:`MapFileError` listing every structural
problem (unknown key, wrong type, missing key, YAML syntax) with its line and the fix.

The comments quote the source's values (top values, samples): the file holds personal data. It belongs
in staging beside the export and travels by name, never inside orchestration inputs or outputs, custom
status, logs or telemetry.

``content_hash`` (model.MappingFile.content_hash) is written into the file; it covers what the engine
applies, so comments, layout, explanations and the order of entries do not change it and any change
of a mapping does. ``load`` keeps the written one as ``stored_hash``: a map whose stored and computed
hashes differ was edited after it was written.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import yaml

from .catalogue import settings_of
from .model import (KINDS, CustomColumn, Entry, MapError, MappingFile, ObjectMapping, ValueMapping,
                    label_for)
from .profile import ColumnProfile, TableProfile

HEADER = """\
# mapping.yaml: how each source column lands in Dataverse, per object. Proposed by the engine from the
# catalogue, the column headers and a profile of the data; review it, edit it, then approve it.
# Per entry: source (the file's column) -> target (a Dataverse column), kind = how values convert:
#   string memo email url phone date datetime decimal money int bool option currency, or skip.
# format: day/month order of dates (DMY, MDY, YMD) or the number style ("1.234,56" German, "1,234.56").
# values: an option column's value map (from: source value, to: option value; null = no option).
# custom: a column the engine creates (type, max_length, date_only, options).
# read_only entries (key, lookup, owner, created, engine) are managed by the engine.
# options: an object's settings (e.g. invoices_as), each one of the values its comment lists.
# Comments, confidence and reason explain the proposal; content_hash covers everything else.
"""

ENTRY_KEYS = ("source", "target", "kind", "format", "lookup", "read_only", "confidence", "reason", "custom", "values")
VALUE_KEYS = ("from", "to", "label", "match", "lossy", "count")
CUSTOM_KEYS = ("type", "max_length", "date_only", "options")
OBJECT_KEYS = ("file", "table", "engine_columns", "options", "columns")
TOP_KEYS = ("version", "source", "content_hash", "objects")


class MapFileError(ValueError):
    """The file cannot be read as a map; ``errors`` says where and how to fix each problem."""

    def __init__(self, errors: list[MapError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


# ------------------------------------------------------------------------------------------ dump

def _scalar(v: Any) -> str:
    """One YAML scalar for a block context, on one line."""
    text = yaml.safe_dump(v, allow_unicode=True, width=1 << 30, default_flow_style=True)
    text = text.removesuffix("\n...\n").rstrip("\n")
    if "\n" in text:
        text = yaml.safe_dump(v, allow_unicode=True, width=1 << 30, default_style='"').rstrip("\n")
    return text


def _flow(v: Mapping[str, Any] | list) -> str:
    """A mapping or list in flow style on one line (quoted as the flow context needs)."""
    return yaml.safe_dump(v, allow_unicode=True, width=1 << 30, default_flow_style=True, sort_keys=False).rstrip("\n")


def _comment_text(v: str, limit: int = 40) -> str:
    v = v.replace("\r", " ").replace("\n", "⏎").replace("\t", " ")
    return repr(v if len(v) <= limit else v[:limit] + "…")


def profile_comment(p: ColumnProfile) -> str:
    """The figures of one column, as one comment line."""
    if not p.filled:
        return f"# {p.name}: empty in all {p.rows:,} rows"
    parts = [f"{p.kind}" + (f" ({p.kind_rate:.0%})" if p.kind_rate < 1 else ""),
             f"{p.fill_rate:.1%} filled of {p.rows:,}",
             f"{'' if p.distinct_exact else '~'}{p.distinct:,} distinct", f"longest {p.longest}"]
    if p.date_order:
        parts.append(f"order {p.date_order}")
    if p.decimal_style:
        parts.append(f"style {p.decimal_style}")
    if p.distinct < p.filled:
        parts.append("top " + ", ".join(f"{_comment_text(str(v), 24)} x{c:,}" for v, c in p.top[:3]))
    parts.append("e.g. " + ", ".join(_comment_text(s) for s in p.samples[:3]))
    return f"# {p.name}: " + "; ".join(parts)


def _entry_lines(e: Entry) -> list[str]:
    out = [f"- source: {_scalar(e.source)}", f"  target: {_scalar(e.target)}", f"  kind: {_scalar(e.kind)}"]
    if e.format is not None:
        out.append(f"  format: {_scalar(e.format)}")
    if e.lookup is not None:
        out.append(f"  lookup: {_scalar(e.lookup)}")
    if e.read_only:
        out.append("  read_only: true")
    out.append(f"  confidence: {e.confidence:.2f}  # {label_for(e.confidence)}")
    if e.reason:
        out.append(f"  reason: {_scalar(e.reason)}")
    if e.custom is not None:
        c: dict[str, Any] = {"type": e.custom.type}
        if e.custom.max_length is not None:
            c["max_length"] = e.custom.max_length
        if e.custom.date_only:
            c["date_only"] = True
        if e.custom.options:
            c["options"] = list(e.custom.options)
        out.append(f"  custom: {_flow(c)}")
    if e.values:
        out.append("  values:")
        for v in e.values:
            d: dict[str, Any] = {"from": v.source, "to": v.option}
            if v.label is not None and v.label != v.option:
                d["label"] = v.label
            d["match"] = v.match
            if v.lossy:
                d["lossy"] = True
            if v.count is not None:
                d["count"] = v.count
            out.append(f"    - {_flow(d)}")
    return out


def dump(mapping: MappingFile, profiles: Mapping[str, TableProfile] | None = None) -> str:
    """The map file's text (``profiles``: object name -> its table profile, for the comments)."""
    lines = [HEADER.rstrip("\n"), f"version: {mapping.version}", f"source: {_scalar(mapping.source)}",
             f"content_hash: {mapping.content_hash()}", "objects:"]
    for o in mapping.objects:
        prof = (profiles or {}).get(o.name)
        lines += [f"  {_scalar(o.name)}:", f"    file: {_scalar(o.file)}", f"    table: {_scalar(o.table)}"]
        if prof is not None:
            lines[-2] += f"  # {prof.rows:,} rows" + (f", {prof.malformed:,} malformed" if prof.malformed else "")
        if o.engine_columns:
            lines.append(f"    engine_columns: {_flow(list(o.engine_columns))}")
        if o.options:
            choices = "; ".join(f"{k}: {' | '.join(v)}" for k, v in settings_of(mapping.source, o.name).items())
            lines.append(f"    options: {_flow(dict(o.options))}" + (f"  # {choices}" if choices else ""))
        lines.append("    columns:" if o.entries else "    columns: []")
        shown: set[str] = set()
        for e in o.entries:
            p = prof.column(e.source) if prof is not None else None
            if p is not None and e.source not in shown:
                shown.add(e.source)
                lines.append("      " + profile_comment(p))
            lines += ["      " + x for x in _entry_lines(e)]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------ load

class _Reader:
    """Turns composed YAML nodes into the model, collecting every problem with its line."""

    def __init__(self) -> None:
        self.errors: list[MapError] = []

    def error(self, obj: str | None, node: yaml.Node | None, code: str, message: str, fix: str) -> None:
        self.errors.append(MapError(obj, _line(node), code, message, fix))

    def mapping(self, node: yaml.Node, obj: str | None, what: str, known: tuple[str, ...],
                required: tuple[str, ...] = ()) -> dict[str, tuple[yaml.Node, yaml.Node]] | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(obj, node, "structure", f"{what} is not a mapping of keys to values",
                       f"write {what} as 'key: value' lines")
            return None
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if key not in known:
                self.error(obj, k, "unknown_key", f"unknown key {key!r} in {what}", f"use one of {', '.join(known)}")
            elif key in out:
                self.error(obj, k, "duplicate_key", f"{key!r} appears twice in {what}", "keep one of them")
            else:
                out[key] = (k, v)
        for key in required:
            if key not in out:
                self.error(obj, node, "missing_key", f"{what} has no {key!r}", f"add '{key}: ...'")
        return out

    def scalar(self, node: yaml.Node, obj: str | None, what: str, types: tuple[type, ...],
               convert: Callable[[yaml.Node], Any]) -> Any:
        value = convert(node) if isinstance(node, yaml.ScalarNode) else node
        if not isinstance(value, types) or isinstance(value, bool) and bool not in types:
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            self.error(obj, node, "type", f"{what} must be {names}", f"write {what} as {names}")
            return None
        return value


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def load(text: str) -> MappingFile:
    """Read a map file; raises MapFileError naming every structural problem and its line."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise MapFileError([MapError(None, None, "empty", "the file is empty",
                                         "write the proposed map back and edit that")])
        r = _Reader()
        mf = _file(r, root, lambda node: loader.construct_object(node, deep=True))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise MapFileError([MapError(None, mark.line + 1 if mark else None, "yaml",
                                     f"not valid YAML: {getattr(e, 'problem', None) or e}",
                                     "correct the syntax at that line (indentation, quotes, a missing colon)")])
    finally:
        loader.dispose()
    if r.errors:
        raise MapFileError(r.errors)
    return mf


def _file(r: _Reader, root: yaml.Node, value: Callable[[yaml.Node], Any]) -> MappingFile:
    top = r.mapping(root, None, "the file", TOP_KEYS, ("source", "objects")) or {}
    mf = MappingFile(source="")
    if "version" in top:
        mf.version = r.scalar(top["version"][1], None, "version", (int,), value) or 1
    if "source" in top:
        mf.source = r.scalar(top["source"][1], None, "source", (str,), value) or ""
    if "content_hash" in top:
        mf.stored_hash = r.scalar(top["content_hash"][1], None, "content_hash", (str,), value)
    if "objects" in top:
        node = top["objects"][1]
        if isinstance(node, yaml.MappingNode):
            mf.objects = [_object(r, str(k.value), k, v, value) for k, v in node.value]
        else:
            r.error(None, node, "structure", "objects is not a mapping of object names to objects",
                    "write each object as 'name:' with file, table and columns indented below it")
    return mf


def _object(r: _Reader, name: str, key: yaml.Node, node: yaml.Node, value) -> ObjectMapping:
    o = ObjectMapping(name, "", "", line=_line(key))
    m = r.mapping(node, name, f"object {name!r}", OBJECT_KEYS, ("table", "columns")) or {}
    if "file" in m:
        o.file = r.scalar(m["file"][1], name, "file", (str,), value) or ""
    if "table" in m:
        o.table = r.scalar(m["table"][1], name, "table", (str,), value) or ""
    if "engine_columns" in m:
        cols = m["engine_columns"][1]
        if isinstance(cols, yaml.SequenceNode):
            o.engine_columns = tuple(str(c) for c in value(cols))
        else:
            r.error(name, cols, "type", "engine_columns must be a list", "write [column, column]")
    if "options" in m:
        node = m["options"][1]
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                setting = r.scalar(k, name, "a setting's name", (str,), value)
                choice = r.scalar(v, name, f"the setting {setting}", (str,), value)
                if setting is not None and choice is not None:
                    o.options[setting] = choice
        else:
            r.error(name, node, "type", "options must be a mapping of settings to values",
                    "write options: {setting: value}")
    if "columns" in m:
        seq = m["columns"][1]
        if not isinstance(seq, yaml.SequenceNode):
            r.error(name, seq, "structure", "columns is not a list", "write each entry as a '- source: ...' item")
        else:
            o.entries = [e for e in (_entry(r, name, item, value) for item in seq.value) if e is not None]
    return o


def _entry(r: _Reader, obj: str, node: yaml.Node, value) -> Entry | None:
    m = r.mapping(node, obj, "a column entry", ENTRY_KEYS, ("source", "kind"))
    if m is None or "source" not in m or "kind" not in m:
        return None
    lines = {k: _line(kn) or 0 for k, (kn, _) in m.items()}
    e = Entry(source=str(r.scalar(m["source"][1], obj, "source", (str, int), value)),
              target=None, kind="", line=_line(node), lines=lines)
    kind = r.scalar(m["kind"][1], obj, "kind", (str,), value)
    if kind is not None and kind not in KINDS:
        r.error(obj, m["kind"][1], "bad_kind", f"{e.source}: unknown kind {kind!r}", f"use one of {', '.join(KINDS)}")
    e.kind = kind or ""
    if "target" in m:
        e.target = r.scalar(m["target"][1], obj, "target", (str, type(None)), value)
    if "format" in m:
        e.format = r.scalar(m["format"][1], obj, "format", (str, type(None)), value)
    if "lookup" in m:
        e.lookup = r.scalar(m["lookup"][1], obj, "lookup", (str, type(None)), value)
    if "read_only" in m:
        e.read_only = bool(r.scalar(m["read_only"][1], obj, "read_only", (bool,), value))
    if "confidence" in m:
        c = r.scalar(m["confidence"][1], obj, "confidence", (float, int), value)
        e.confidence = float(c) if c is not None else 0.0
    e.label = label_for(e.confidence)
    if "reason" in m:
        e.reason = r.scalar(m["reason"][1], obj, "reason", (str, type(None)), value) or ""
    if "custom" in m:
        e.custom = _custom(r, obj, m["custom"][1], value)
    if "values" in m:
        seq = m["values"][1]
        if not isinstance(seq, yaml.SequenceNode):
            r.error(obj, seq, "structure", f"{e.source}: values is not a list",
                    "write each value as '- {from: ..., to: ...}'")
        else:
            e.values = [v for v in (_value(r, obj, item, value) for item in seq.value) if v is not None]
    return e


def _custom(r: _Reader, obj: str, node: yaml.Node, value) -> CustomColumn | None:
    m = r.mapping(node, obj, "custom", CUSTOM_KEYS, ("type",))
    if m is None or "type" not in m:
        return None
    c = CustomColumn(str(r.scalar(m["type"][1], obj, "custom type", (str,), value)))
    if "max_length" in m:
        c.max_length = r.scalar(m["max_length"][1], obj, "max_length", (int, type(None)), value)
    if "date_only" in m:
        c.date_only = bool(r.scalar(m["date_only"][1], obj, "date_only", (bool,), value))
    if "options" in m:
        opts = value(m["options"][1])
        if not isinstance(opts, list):
            r.error(obj, m["options"][1], "type", "custom options must be a list of labels", "write [Label 1, Label 2]")
        else:
            c.options = tuple(str(o) for o in opts)
    return c


def _value(r: _Reader, obj: str, node: yaml.Node, value) -> ValueMapping | None:
    m = r.mapping(node, obj, "a value mapping", VALUE_KEYS, ("from", "to"))
    if m is None or "from" not in m or "to" not in m:
        return None
    src = value(m["from"][1])
    v = ValueMapping(source="" if src is None else str(src),
                     option=r.scalar(m["to"][1], obj, "to", (int, str, type(None)), value), line=_line(node))
    if "label" in m:
        v.label = r.scalar(m["label"][1], obj, "label", (str, type(None)), value)
    if "match" in m:
        v.match = r.scalar(m["match"][1], obj, "match", (str,), value) or ""
    if "lossy" in m:
        v.lossy = bool(r.scalar(m["lossy"][1], obj, "lossy", (bool,), value))
    if "count" in m:
        v.count = r.scalar(m["count"][1], obj, "count", (int, type(None)), value)
    if v.label is None and isinstance(v.option, str):
        v.label = v.option
    return v
