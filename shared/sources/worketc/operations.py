"""Which WORKetc SOAP operation lists which export object: configuration, with defaults in code.

WORKetc publishes no reference we can reach; public client code shows only a handful of operation
names (``GetActvities`` sic, ``GetSupportCasesByOwner``, ``GetProjectsByMember``,
``GetProjectStageGroups``, ``FindProjects``, ``GetAllCurrenciesWebSafe``). The rest of the table is
*inferred*. A tenant whose WSDL differs is fixed by configuration, not code: pass an override (a
dict, or the JSON of the ``WORKETC_OPERATIONS`` setting) that is merged per object and per key::

    {"users": {"operation": "GetAllEmployees"},
     "companies": {"field_map": {"Name": "CompanyName"}, "modified_arg": null},
     "tickets": {"operation": "GetSupportCasesByOwner", "fan_out": "users", "owner_arg": "EntityID",
                 "args": {"status": "All", "top": 0}, "skip_arg": null, "top_arg": null}}

``WorketcSoapClient.discover()`` reports, per object, whether its operation is in the tenant's WSDL
(and which WSDL operations look like candidates when it is not).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

from .csv_export import COLUMNS


@dataclass(frozen=True)
class ObjectOperation:
    """How one export object (a CSV file of the contract) is read through SOAP."""

    object: str  # "companies": the CSV file's stem
    operation: str | None  # the listing operation; None: the API does not expose the object
    record: str | None = None  # the record element's name (documentation, and discovery hints)
    args: Mapping[str, Any] = field(default_factory=dict)  # fixed arguments, e.g. {"keywords": ""}
    skip_arg: str | None = "skip"  # paging (inferred); both must be in the WSDL for paging to be used
    top_arg: str | None = "top"
    modified_arg: str | None = None  # the modified-since filter argument, when the object has one
    shape: str = "record"  # "record": one row per record; "stage_groups": groups of stages, flattened
    field_map: Mapping[str, str] = field(default_factory=dict)  # contract column -> record element
    custom_fields: str | None = "CustomFields"  # element with CustomField{Label, Value} entries
    fan_out: str | None = None  # "users": call once per user, passing the user's EntityID
    owner_arg: str | None = None  # the argument that receives that EntityID
    hints: tuple[str, ...] = ()  # substrings of operation names that could list this object
    note: str = ""

    @property
    def file(self) -> str:
        return f"{self.object}.csv"

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS.get(self.file, ())


def _op(obj: str, operation: str | None, record: str | None = None, *, modified: bool = False,
        **kw: Any) -> ObjectOperation:
    return ObjectOperation(obj, operation, record, modified_arg="modifiedSince" if modified else None, **kw)


#: object -> operation; "public" = seen in public client code, everything else inferred
DEFAULT_OPERATIONS: dict[str, ObjectOperation] = {o.object: o for o in (
    _op("users", "GetEmployees", "Employee", hints=("Employee", "User", "Staff")),
    _op("companies", "GetCompanies", "Company", modified=True, hints=("Compan", "Customer", "Organisation")),
    _op("contacts", "GetContacts", "Contact", modified=True, hints=("Contact", "Person", "People")),
    _op("leads", "GetLeads", "Lead", modified=True, hints=("Lead",)),
    _op("deals", "GetDeals", "Deal", modified=True, hints=("Deal", "Opportunit", "Sale")),
    _op("projects", "FindProjects", "Project", modified=True, args={"keywords": ""},
        hints=("Project",), note="public: FindProjects(keywords); empty keywords lists every project"),
    _op("project_stages", "GetProjectStageGroups", "ProjectStageGroup", shape="stage_groups",
        skip_arg=None, top_arg=None, custom_fields=None, hints=("Stage",), note="public"),
    _op("tickets", "GetSupportCases", "SupportCase", modified=True, hints=("SupportCase", "Ticket"),
        note="GetSupportCasesByOwner(EntityID, status, top) is public; see the fan_out override"),
    _op("ticket_messages", "GetSupportCaseMessages", "SupportCaseMessage", hints=("Message",)),
    _op("invoices", "GetInvoices", "Invoice", modified=True, hints=("Invoice",)),
    _op("invoice_lines", "GetInvoiceLines", "InvoiceLine", hints=("InvoiceLine", "InvoiceItem", "LineItem")),
    _op("contractors", "GetContractors", "Contractor", hints=("Contractor", "Portal")),
    _op("activities", "GetActvities", "Activity", hints=("Actv", "Activit"), note="public (sic)"),
    _op("documents", "GetDocuments", "Document", hints=("Document", "File", "Attachment"),
        note="metadata; binaries through download_document()"),
    _op("kb_articles", "GetKnowledgeBaseArticles", "KnowledgeBaseArticle", modified=True,
        hints=("Knowledge", "Article", "KB")),
    _op("custom_fields", "GetCustomFieldDefinitions", "CustomFieldDefinition", custom_fields=None,
        hints=("CustomField",)),
    _op("workflows", None, note="not exposed by the API: an inventory listed by hand (workflows.csv)"),
)}


def load_operations(override: Mapping[str, Any] | str | None = None) -> dict[str, ObjectOperation]:
    """The default table with ``override`` (a dict or its JSON) merged in, object by object."""
    table = dict(DEFAULT_OPERATIONS)
    if override is None or override == "":
        return table
    if isinstance(override, str):
        try:
            override = json.loads(override)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the WORKetc operations setting is not valid JSON: {exc}") from None
    if not isinstance(override, Mapping):
        raise ValueError("the WORKetc operations setting must be an object: {object: {key: value}}")
    known = {f.name for f in fields(ObjectOperation)}
    for obj, changes in override.items():
        obj = obj.removesuffix(".csv")
        if changes is None:  # "object": null removes it from SOAP extraction
            table[obj] = ObjectOperation(obj, None, note="disabled by configuration")
            continue
        if not isinstance(changes, Mapping):
            raise ValueError(f"operations[{obj!r}] must be an object")
        bad = set(changes) - known
        if bad:
            raise ValueError(f"operations[{obj!r}] has unknown keys {sorted(bad)}; known: {sorted(known)}")
        changes = {k: (tuple(v) if k == "hints" else v) for k, v in changes.items() if k != "object"}
        base = table.get(obj, ObjectOperation(obj, None))
        table[obj] = replace(base, **changes)
    return table
