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
    "string", "memo", "email", "url", "phone", "date", "datetime", "decimal", "money", "int", "bool", "option",
    "currency",  # ISO code -> transactioncurrencyid@odata.bind (and the migration price list, see PRICE_LIST)
]
Pipeline = Literal["records", "owners", "custom_fields", "config", "inventory"]
OnMissing = Literal["reject", "omit", "placeholder"]


@dataclass(frozen=True)
class Field:
    """One source column -> one Dataverse column."""

    source: str
    target: str
    kind: FieldKind = "string"
    #: for kind "option": source label (case-insensitive) -> Dataverse option value
    options: Mapping[str, int] | None = None
    #: when the option label is not in ``options``: this value (None = warn and leave empty); a lossy
    #: conversion, so the object's ``notes`` say so (and where the original value is kept)
    option_default: int | None = None
    #: decimal/money: the column's precision; a value with more decimal places is rounded, with a warning
    precision: int = 2


@dataclass(frozen=True)
class Lookup:
    """A source column holding another object's source id -> an ``@odata.bind`` by alternate key.

    ``target`` is an object name, or for a polymorphic reference (WORKetc's RegardingType +
    RegardingID) a mapping from the value of ``type_field`` to an object name. ``nav`` is the
    single-valued navigation property; it may say ``{target_table}`` and ``{table}`` (the row's own
    table), e.g. ``regardingobjectid_{target_table}_{table}``; a mapping gives one per row table.
    """

    source: str
    target: str | Mapping[str, str]
    nav: str | Mapping[str, str]
    missing: OnMissing = "reject"
    type_field: str | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.target.values()) if isinstance(self.target, Mapping) else (self.target,)

    def nav_for(self, table: str, target_table: str) -> str:
        template = self.nav if isinstance(self.nav, str) else self.nav.get(table, self.nav.get("*", ""))
        return template.format(table=table, target_table=target_table)


@dataclass(frozen=True)
class Route:
    """One source file, several tables: the value of ``field`` picks the row's table."""

    field: str
    tables: Mapping[str, str]  # source value -> Dataverse logical name


@dataclass(frozen=True)
class Close:
    """Closing a record the Dataverse way after it is loaded (a state no upsert may set).

    ``when(row, body) -> (action, params) | None``. With an ``activity`` the action is a close message
    (WinOpportunity, LoseOpportunity, CloseIncident) and ``params`` name the close activity (e.g.
    ``{"Status": 3, "OpportunityClose": {...}}``) without its bind to the record, which the loader adds
    as ``<activity>.<bind>@odata.bind`` once the record's id is known. Without one the action is
    ``SetState``: ``params`` are the ``statecode``/``statuscode`` a PATCH sets (invoices: Paid, Canceled).
    ``params["Status"]`` (or ``statuscode``) is the status reason the closed record ends with.

    A closed record is read-only; to change it (its owner, or a child row inside it) it is reopened
    with ``reopen_status`` (a status reason of the open state), changed and closed again.
    """

    activity: str | None  # OpportunityClose | IncidentResolution | None (SetState)
    bind: str | None  # opportunityid | incidentid
    when: Callable[[dict, dict], tuple[str, dict] | None]
    reopen_status: int = 1

    def status(self, params: Mapping[str, Any]) -> int | None:
        """The status reason a close with ``params`` leaves the record in."""
        return params.get("Status", params.get("statuscode"))


@dataclass(frozen=True)
class Column:
    """A column the engine itself adds to a table (beyond the source's custom fields)."""

    logical_name: str
    type: Literal["String", "Memo", "Picklist", "Decimal", "Money", "Integer", "Boolean", "DateTime", "Lookup"]
    label: str
    max_length: int | None = None
    options: tuple[tuple[int, str], ...] = ()
    date_only: bool = False
    target: str | None = None  # Lookup: the referenced table
    table: str | None = None  # for objects that write several tables: which one (default: all)


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
    #: the column naming a person's role or permission level (users, portal users): discovery proposes
    #: Dynamics 365 security roles and teams from its values
    role_field: str | None = None
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
    #: prepended to source ids where two objects share a table (contractors and contacts)
    key_prefix: str = ""
    #: one file, several tables (activities), or None: every row goes to ``table``
    route: Route | None = None
    #: after loading, close records the Dataverse way (won/lost deals, resolved tickets, paid invoices)
    close: Close | None = None
    #: the object whose (closable) records hold this object's rows (invoice lines in an invoice): a row
    #: whose parent is closed is written by reopening the parent and closing it again as it was
    inside: str | None = None
    #: the activity that writes a transformed chunk (documents go to SharePoint instead)
    load_activity: str = "load_chunk"
    #: where rows go when ``table`` does not exist in the environment (knowledgearticle without
    #: Knowledge Management -> annotation); decided when the object is prepared
    fallback_table: str | None = None
    #: create one migration price list per currency before loading (invoices require one)
    price_lists: bool = False
    #: lines for the report: what the object does not carry and why
    notes: tuple[str, ...] = ()
    #: the object whose source records these rows are too (an index read from its file, the documents of its
    #: rows): reported per object, but not counted again in the run's totals
    counted_in: str | None = None
    #: a custom table the engine creates (schema name, display name, plural) before loading
    custom_table: tuple[str, str, str] | None = None
    #: extra per-row mapping for what a field map cannot say: (source row, body, warn(code, field,
    #: message), shaping) -> body; ``shaping`` (shared.transform.Shaping) converts values and knows the
    #: run's context (configuration documents, currencies) and the row's table
    shape: Callable[[dict, dict, Callable[[str, str, str], None], Any], dict] | None = None
    #: objects whose configuration documents the shape hook reads (``shaping.ctx.config[name]``)
    uses_config: tuple[str, ...] = ()
    #: pipeline "config": staged rows -> (configuration document, rejects as (row, field, code, message))
    configure: Callable[[list[dict]], tuple[dict, list[tuple[dict, str, str, str]]]] | None = None
    #: pipeline "inventory": staged rows -> ({report file name: text}, rejects as above)
    inventory: Callable[[list[dict]], tuple[dict[str, str], list[tuple[dict, str, str, str]]]] | None = None
    #: (file name, columns): a listing of the staged rows for the report (e.g. contractor roles)
    listing: tuple[str, tuple[str, ...]] | None = None

    def __post_init__(self) -> None:
        if self.table and not self.entity_set:  # derived from the table unless declared
            object.__setattr__(self, "entity_set", entity_set(self.table))

    @property
    def placeholder_key(self) -> str:
        return f"{self.source}-placeholder"

    @property
    def tables(self) -> tuple[str, ...]:
        """Every table this object writes rows into."""
        if self.route:
            return tuple(dict.fromkeys(self.route.tables.values()))
        return (self.table,) if self.table else ()


#: Dataverse entity set names of the tables the catalogues write (custom tables: logical name + "s")
ENTITY_SETS = {
    "account": "accounts", "contact": "contacts", "lead": "leads", "opportunity": "opportunities",
    "incident": "incidents", "invoice": "invoices", "invoicedetail": "invoicedetails", "task": "tasks",
    "phonecall": "phonecalls", "appointment": "appointments", "email": "emails", "annotation": "annotations",
    "knowledgearticle": "knowledgearticles", "systemuser": "systemusers", "pricelevel": "pricelevels",
    "product": "products", "sharepointdocumentlocation": "sharepointdocumentlocations",
    "sharepointsite": "sharepointsites", "transactioncurrency": "transactioncurrencies",
}

#: tables that cannot carry an alternate key column (annotation: CanCreateAttributes is False); their
#: rows get a GUID derived from the source id and are upserted by primary key instead
ID_KEYED = {"annotation": "annotationid"}


def entity_set(table: str) -> str:
    return ENTITY_SETS.get(table, f"{table}s")


def price_list_key(source: str, iso: str) -> str:
    """Source id of the migration price list of a currency (invoices require a price list)."""
    return f"{source}-pricelist-{iso.upper()}"


def key_column(spec: "ObjectSpec", table: str) -> str:
    return ID_KEYED.get(table, spec.key_column)


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
