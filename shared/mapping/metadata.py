"""What the proposer and the validator know of a Dataverse table: its columns, as metadata says.

``TargetTable.from_attributes(table, attributes)`` reads the ``value`` list that Dataverse answers to
``GET EntityDefinitions(LogicalName='account')/Attributes`` (``AttributeMetadata``; option sets come
with ``$expand=OptionSet`` on the Picklist cast, or as ``OptionSet`` / ``GlobalOptionSet`` inline).
See https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api
(querying attributes, casts for option sets). ``to_dict`` / ``from_dict`` give a compact form that a
test or a cache can keep as data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

#: RequiredLevel values that make a column mandatory on create
REQUIRED_LEVELS = frozenset({"ApplicationRequired", "SystemRequired"})
#: attribute types a source column can be mapped onto by name (lookups need the object graph: they come
#: from the catalogue; state and status belong to the record's state model, not a column map)
DATA_TYPES = frozenset({"String", "Memo", "Integer", "BigInt", "Decimal", "Double", "Money", "Boolean",
                        "DateTime", "Picklist", "MultiSelectPicklist"})
LOOKUP_TYPES = frozenset({"Lookup", "Customer", "Owner"})
OPTION_TYPES = frozenset({"Picklist", "MultiSelectPicklist", "State", "Status"})


@dataclass(frozen=True)
class TargetColumn:
    """One column of a Dataverse table (the part of ``AttributeMetadata`` a column map needs)."""

    logical_name: str
    type: str  # AttributeMetadata.AttributeType: String, Memo, Picklist, Lookup, ...
    max_length: int | None = None  # String / Memo
    required: str = "None"  # RequiredLevel.Value
    valid_for_create: bool = True
    options: tuple[tuple[int, str], ...] = ()  # option value -> label (Picklist, State, Status, Boolean)
    format: str | None = None  # String: Email | Url | Phone | Text ...; DateTime: DateOnly | DateAndTime
    display_name: str | None = None
    targets: tuple[str, ...] = ()  # lookups: referenced tables
    custom: bool = False
    primary_id: bool = False
    primary_name: bool = False

    @property
    def is_required(self) -> bool:
        return self.required in REQUIRED_LEVELS

    @property
    def date_only(self) -> bool:
        return self.format == "DateOnly"

    def option_label(self, value: int) -> str | None:
        return next((lbl for v, lbl in self.options if v == value), None)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"logical_name": self.logical_name, "type": self.type}
        for k in ("max_length", "format", "display_name"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.required != "None":
            d["required"] = self.required
        if not self.valid_for_create:
            d["valid_for_create"] = False
        if self.options:
            d["options"] = {v: lbl for v, lbl in self.options}
        if self.targets:
            d["targets"] = list(self.targets)
        if self.custom:
            d["custom"] = True
        if self.primary_id:
            d["primary_id"] = True
        if self.primary_name:
            d["primary_name"] = True
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TargetColumn":
        return cls(
            logical_name=d["logical_name"], type=d["type"], max_length=d.get("max_length"),
            required=d.get("required", "None"), valid_for_create=d.get("valid_for_create", True),
            options=tuple((int(v), str(lbl)) for v, lbl in (d.get("options") or {}).items()),
            format=d.get("format"), display_name=d.get("display_name"), targets=tuple(d.get("targets") or ()),
            custom=bool(d.get("custom")), primary_id=bool(d.get("primary_id")),
            primary_name=bool(d.get("primary_name")),
        )

    @classmethod
    def from_attribute(cls, a: Mapping[str, Any]) -> "TargetColumn":
        """One ``AttributeMetadata`` object as the Web API returns it."""
        option_set = a.get("OptionSet") or a.get("GlobalOptionSet") or {}
        options: list[tuple[int, str]] = []
        for o in option_set.get("Options") or ():
            options.append((int(o["Value"]), _label(o.get("Label")) or str(o["Value"])))
        for side in ("FalseOption", "TrueOption"):  # Boolean option sets
            if option_set.get(side):
                options.append((int(option_set[side]["Value"]), _label(option_set[side].get("Label")) or side))
        fmt = a.get("FormatName", {}).get("Value") if isinstance(a.get("FormatName"), dict) else a.get("Format")
        if a.get("AttributeType") == "DateTime":
            behavior = (a.get("DateTimeBehavior") or {}).get("Value")
            fmt = "DateOnly" if a.get("Format") == "DateOnly" or behavior == "DateOnly" else "DateAndTime"
        return cls(
            logical_name=a["LogicalName"], type=a.get("AttributeType") or "", max_length=a.get("MaxLength"),
            required=(a.get("RequiredLevel") or {}).get("Value", "None"),
            valid_for_create=bool(a.get("IsValidForCreate", True)), options=tuple(options), format=fmt,
            display_name=_label(a.get("DisplayName")), targets=tuple(a.get("Targets") or ()),
            custom=bool(a.get("IsCustomAttribute")), primary_id=bool(a.get("IsPrimaryId")),
            primary_name=bool(a.get("IsPrimaryName")),
        )


def _label(lbl: Any) -> str | None:
    """The text of a ``Label`` (``UserLocalizedLabel``, else the first localized label)."""
    if not isinstance(lbl, Mapping):
        return lbl if isinstance(lbl, str) else None
    user = lbl.get("UserLocalizedLabel")
    if isinstance(user, Mapping) and user.get("Label"):
        return user["Label"]
    for loc in lbl.get("LocalizedLabels") or ():
        if loc.get("Label"):
            return loc["Label"]
    return None


@dataclass(frozen=True)
class TargetTable:
    """A Dataverse table's columns, by logical name."""

    logical_name: str
    columns: tuple[TargetColumn, ...]

    def column(self, name: str | None) -> TargetColumn | None:
        if not name:
            return None
        return self._index().get(name.lower())

    def _index(self) -> dict[str, TargetColumn]:
        idx = self.__dict__.get("_idx")
        if idx is None:
            idx = {c.logical_name.lower(): c for c in self.columns}
            object.__setattr__(self, "_idx", idx)
        return idx

    def to_dict(self) -> dict[str, Any]:
        return {"logical_name": self.logical_name, "columns": [c.to_dict() for c in self.columns]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TargetTable":
        return cls(d["logical_name"], tuple(TargetColumn.from_dict(c) for c in d["columns"]))

    @classmethod
    def from_attributes(cls, logical_name: str, attributes: Iterable[Mapping[str, Any]]) -> "TargetTable":
        """From the ``value`` of ``EntityDefinitions(LogicalName='<table>')/Attributes``; calling this again
        with the Picklist cast's answer (``$expand=OptionSet``) is what fills in the option labels, so
        several answers may be chained: later attributes of the same name replace earlier ones."""
        raw: dict[str, dict] = {}
        for a in attributes:  # a cast's answer ($select=LogicalName&$expand=OptionSet) adds to the base one
            name = a.get("LogicalName")
            raw[name] = {**raw.get(name, {}), **{k: v for k, v in a.items() if v is not None}}
        by_name = {name: TargetColumn.from_attribute(a) for name, a in raw.items()}
        return cls(logical_name, tuple(by_name.values()))
