"""The column map as data: what ``mapping.yaml`` holds and the engine will apply.

A :class:`MappingFile` has one :class:`ObjectMapping` per migrated object; each has :class:`Entry`
rows, one per (source column, target column). An entry's ``kind`` says how a raw value is converted
(the transform's field kinds: string, memo, email, url, phone, date, datetime, decimal, money, int,
bool, option, currency) or that it is an engine-managed, read-only entry (key, lookup, owner, created,
engine) or skipped. ``format`` says how to read values (date order, decimal style, boolean words),
``values`` is an option column's value map, ``custom`` declares a column the engine creates.

Only what changes the applied mapping goes into the content hash (``canonical()``): confidence,
label, reason, option labels, match methods, counts and every comment are the proposal's explanation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

#: kinds that convert a value (the transform's field kinds)
VALUE_KINDS = ("string", "memo", "email", "url", "phone", "date", "datetime", "decimal", "money", "int", "bool",
               "option", "currency")
#: engine-managed kinds: shown for completeness, not editable
READ_ONLY_KINDS = ("key", "lookup", "owner", "created", "engine")
KINDS = (*VALUE_KINDS, *READ_ONLY_KINDS, "skip")
LABELS = ("sure", "likely", "unsure")
DATE_ORDERS = ("DMY", "MDY", "YMD")
DECIMAL_STYLES = ("1,234.56", "1.234,56")
#: Dataverse column types the engine can create (custom columns)
CUSTOM_TYPES = ("String", "Memo", "Integer", "Decimal", "Money", "Boolean", "DateTime", "Picklist")


@dataclass(frozen=True)
class MapError:
    """One problem of a map file: where (object, line), what, and how to fix it."""

    object: str | None
    line: int | None
    code: str
    message: str
    fix: str
    file: str = "mapping.yaml"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.object or 'mapping'}: {self.message}; fix: {self.fix}"


def label_for(confidence: float) -> str:
    """sure >= 0.9 > likely >= 0.7 > unsure."""
    return "sure" if confidence >= 0.9 else "likely" if confidence >= 0.7 else "unsure"


@dataclass
class ValueMapping:
    """One source value of an option column -> an option (a value of the target option set, or for a
    custom Picklist the label of a new option); ``option`` None: no option, the value loads empty."""

    source: str
    option: int | str | None
    label: str | None = None  # the option's label (explanation)
    match: str = "exact"  # exact | catalogue | synonym | translated | similar | default | new | ambiguous | none
    lossy: bool = False  # the option is coarser than the value (Urgent -> High) or there is none
    count: int | None = None  # rows with this value, from the profile
    line: int | None = field(default=None, compare=False)


@dataclass
class CustomColumn:
    """A column the engine creates before loading (type and size proposed from the profile)."""

    type: str  # one of CUSTOM_TYPES
    max_length: int | None = None  # String / Memo
    date_only: bool = False  # DateTime
    options: tuple[str, ...] = ()  # Picklist: the labels of the new options

    def canonical(self) -> dict[str, Any]:
        return {"type": self.type, "max_length": self.max_length, "date_only": self.date_only,
                "options": list(self.options)}


@dataclass
class Entry:
    source: str
    target: str | None
    kind: str
    confidence: float = 1.0
    label: str = "sure"
    reason: str = ""
    read_only: bool = False
    format: str | None = None  # dates: DMY | MDY | YMD; decimals: "1,234.56" | "1.234,56"; bool: "Ja/Nein"
    lookup: str | None = None  # kind lookup: the object it points at
    custom: CustomColumn | None = None
    values: list[ValueMapping] = field(default_factory=list)
    line: int | None = field(default=None, compare=False)
    lines: dict[str, int] = field(default_factory=dict, compare=False)  # key -> line in the YAML file

    def line_of(self, key: str) -> int | None:
        return self.lines.get(key, self.line)

    def canonical(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "kind": self.kind, "format": self.format,
                "lookup": self.lookup, "custom": self.custom.canonical() if self.custom else None,
                "values": sorted(([v.source, v.option] for v in self.values), key=lambda p: p[0])}


@dataclass
class ObjectMapping:
    name: str
    file: str
    table: str
    entries: list[Entry] = field(default_factory=list)
    #: columns the object's code sets itself (shape/close hooks, constants): they need no source column
    engine_columns: tuple[str, ...] = ()
    #: the object's settings (``options:``, e.g. ``invoices_as: opportunity``): what its code lets a map choose
    #: (``catalogue.SETTINGS``); an omitted setting is its first, default value
    options: dict[str, str] = field(default_factory=dict)
    line: int | None = field(default=None, compare=False)
    #: every object's settings in the map this object came from (``MappingFile.object``): an object's code may
    #: follow another's (Belegpositionen go where their Beleg went)
    map_options: dict[str, dict[str, str]] = field(default_factory=dict, compare=False)

    def canonical(self) -> dict[str, Any]:
        out = {"file": self.file, "table": self.table, "engine_columns": sorted(self.engine_columns),
               "entries": sorted((e.canonical() for e in self.entries),
                                 key=lambda d: (d["source"], d["target"] or "", d["kind"]))}
        if self.options:  # only when set, so maps without settings keep their hashes
            out["options"] = dict(sorted(self.options.items()))
        return out


@dataclass
class MappingFile:
    source: str
    objects: list[ObjectMapping] = field(default_factory=list)
    version: int = 1
    #: the hash written in the file (None for a map not loaded from a file)
    stored_hash: str | None = field(default=None, compare=False)

    def object(self, name: str) -> ObjectMapping | None:
        o = next((o for o in self.objects if o.name == name), None)
        if o is not None:
            o.map_options = {x.name: dict(x.options) for x in self.objects if x.options}
        return o

    def canonical(self) -> dict[str, Any]:
        return {"version": self.version, "source": self.source,
                "objects": {o.name: o.canonical() for o in self.objects}}

    def content_hash(self) -> str:
        """sha256 over the canonical JSON: what the engine applies, in a fixed order (comments, layout,
        the order of entries and the proposal's explanations do not count)."""
        text = json.dumps(self.canonical(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
