"""How a migrated object is declared: data, not code.

An :class:`ObjectSpec` says where an object comes from (source file / operation), where it lands
(Dataverse table and entity set), how its rows are keyed (source id -> alternate key column), which
other objects it needs first (``depends_on``) and how each source column maps to a Dataverse column.
The orchestrators derive the load order from these declarations (:func:`waves`); nothing lists
object names by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping

FieldKind = Literal[
    "string", "memo", "email", "url", "phone", "date", "datetime", "decimal", "money", "int", "bool", "option"
]
Pipeline = Literal["records", "owners", "custom_fields"]
OnMissing = Literal["reject", "omit", "placeholder"]


@dataclass(frozen=True)
class Field:
    """One source column -> one Dataverse column."""

    source: str
    target: str
    kind: FieldKind = "string"
    #: for kind "option": source label (case-insensitive) -> Dataverse option value
    options: Mapping[str, int] | None = None
    #: when the option label is not in ``options``: this value (None = warn and leave empty)
    option_default: int | None = None


@dataclass(frozen=True)
class Lookup:
    """A source column holding another object's source id -> an ``@odata.bind`` by alternate key."""

    source: str
    target: str  # object name, e.g. "company"
    nav: str  # single-valued navigation property, e.g. "parentcustomerid_account"
    missing: OnMissing = "reject"


@dataclass(frozen=True)
class Column:
    """A column the engine itself adds to a table (beyond the source's custom fields)."""

    logical_name: str
    type: Literal["String", "Memo", "Picklist", "Decimal", "Money", "Integer", "Boolean", "DateTime"]
    label: str
    max_length: int | None = None
    options: tuple[tuple[int, str], ...] = ()
    date_only: bool = False


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    source: str  # "worketc" | "work4all"
    file: str  # the export file (or the SOAP/GraphQL object of the same name)
    table: str = ""  # Dataverse logical name ("" for objects that load no table rows)
    entity_set: str = ""
    key_field: str = "EntityID"
    key_column: str = "wtc_sourceid"
    depends_on: tuple[str, ...] = ()
    pipeline: Pipeline = "records"
    fields: tuple[Field, ...] = ()
    lookups: tuple[Lookup, ...] = ()
    owner_field: str | None = "OwnerEmail"
    created_field: str | None = "DateCreated"
    #: the object's name in the source's custom field definitions ("Company" in custom_fields.csv)
    custom_fields_object: str | None = None
    #: columns the engine adds to the table (the key column is always added)
    columns: tuple[Column, ...] = ()
    #: constant column values for every row (e.g. a flag)
    constants: Mapping[str, Any] = field(default_factory=dict)
    #: the body of this table's placeholder row, for lookups declared with missing="placeholder"
    placeholder: Mapping[str, Any] | None = None
    required: bool = False  # the source file must exist
    #: extra per-row mapping: (row, body, warn) -> body; for what a field map cannot say
    shape: Callable[[dict, dict, Callable[[str, str, str], None]], dict] | None = None

    @property
    def placeholder_key(self) -> str:
        return f"{self.source}-placeholder"


class DependencyError(ValueError):
    pass


def waves(specs: Mapping[str, ObjectSpec], names: list[str] | None = None) -> list[list[str]]:
    """Group objects into waves: every object comes after all it depends on (Kahn's algorithm).

    ``names`` restricts the run to a subset (objects present in the source); dependencies outside the
    subset are ignored, dependencies on unknown objects and cycles are errors.
    """
    chosen = list(specs) if names is None else list(names)
    for n in chosen:
        if n not in specs:
            raise DependencyError(f"unknown object {n!r}")
        for d in specs[n].depends_on:
            if d not in specs:
                raise DependencyError(f"object {n!r} depends on unknown object {d!r}")
    remaining = {n: {d for d in specs[n].depends_on if d in chosen} for n in chosen}
    order: list[list[str]] = []
    while remaining:
        ready = sorted(n for n, deps in remaining.items() if not deps)
        if not ready:
            raise DependencyError(f"dependency cycle among {sorted(remaining)}")
        order.append(ready)
        for n in ready:
            del remaining[n]
        for deps in remaining.values():
            deps.difference_update(ready)
    return order
