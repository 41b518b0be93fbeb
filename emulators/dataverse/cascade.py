"""What deleting a record does to the records that point at it: Dataverse's cascade rules on delete.

Every one-to-many relationship has a ``CascadeConfiguration``; its ``Delete`` is one of ``Cascade``
(the referencing rows are deleted too), ``RemoveLink`` (their lookup is cleared) or ``Restrict``
(the delete is refused while they exist)
(https://learn.microsoft.com/power-apps/developer/data-platform/configure-entity-relationship-cascading-behavior).

Parental relationships (``Cascade`` on delete) among the tables the migration writes, from
"Customizable parental entity relationships"
(https://learn.microsoft.com/previous-versions/dynamicscrm-2016/administering-dynamics-365/dn531061(v=crm.8)):

- ``contact_customer_accounts`` (contact.parentcustomerid -> account): deleting an account deletes its
  contacts; likewise ``incident_customer_accounts`` / ``_contacts``, ``opportunity_customer_accounts`` /
  ``_contacts``, ``lead_customer_accounts`` / ``_contacts`` (the ``customerid`` columns);
- ``<Table>_Tasks``, ``_Phonecalls``, ``_Appointments``, ``_Emails`` ... (activity.regardingobjectid) and
  ``<Table>_Annotation`` (annotation.objectid): a record's activities and notes go with it;
- system parental relationships: ``opportunity`` -> ``opportunityclose``, ``incident`` ->
  ``incidentresolution``, ``invoice`` -> ``invoicedetail`` (``invoice_details``), ``opportunity`` ->
  ``opportunityproduct``, ``quote`` -> ``quotedetail``; an activity's parties are written with it (core).

Every other lookup is referential: ``RemoveLink`` (the default delete behaviour of a referential
relationship, same page). *Inferred*: ``sharepointdocumentlocation.regardingobjectid`` is treated as
referential (its cascade is not documented on the pages above). Restrict is not emulated.
"""

from __future__ import annotations

from typing import Callable

from .schema import LOOKUP_TYPES

#: activity tables: their regardingobjectid is parental for every regarding target
ACTIVITIES = frozenset({"task", "phonecall", "appointment", "email", "letter", "fax"})
#: (child table, lookup column, parent table) whose delete behaviour is Cascade; "*" = any parent
CASCADE: frozenset[tuple[str, str, str]] = frozenset({
    ("contact", "parentcustomerid", "account"),
    *((t, "customerid", p) for t in ("incident", "opportunity", "lead") for p in ("account", "contact")),
    *((a, "regardingobjectid", "*") for a in ACTIVITIES),
    ("annotation", "objectid", "*"),
    ("opportunityclose", "opportunityid", "opportunity"),
    ("incidentresolution", "incidentid", "incident"),
    ("invoicedetail", "invoiceid", "invoice"),
    ("opportunityproduct", "opportunityid", "opportunity"),
    ("quotedetail", "quoteid", "quote"),
})
#: a guard against a cycle of parental relationships (none exists among these; self-references are referential)
MAX_DEPTH = 16


def behaviour(child: str, column: str, parent: str) -> str:
    """``Cascade`` or ``RemoveLink`` for a delete of a ``parent`` row referenced by ``child.column``."""
    if (child, column, parent) in CASCADE or (child, column, "*") in CASCADE:
        return "Cascade"
    return "RemoveLink"


def apply(store, table, rid: str, delete: Callable, depth: int = 0) -> None:
    """Before ``table``'s row ``rid`` is deleted (inside the caller's store transaction): delete the rows
    of parental relationships (recursively, through ``delete(child_table, child_id, depth)``) and clear
    the lookups of referential ones."""
    if depth > MAX_DEPTH:
        return
    parent = table.logical_name
    for child in list(store.tables.values()):
        columns = [c for c in child.columns.values()
                   if c.type in LOOKUP_TYPES and not c.read_only and parent in (c.targets or ())]
        if not columns:
            continue
        for cid, row in list(store.rows.get(child.logical_name, {}).items()):
            if child.logical_name == parent and cid == rid:
                continue
            for col in columns:
                value = row.get(col.name)
                if not value or value[0] != parent or value[1] != rid:
                    continue
                if cid not in store.rows[child.logical_name]:
                    break  # already deleted by an earlier cascade
                if behaviour(child.logical_name, col.name, parent) == "Cascade":
                    delete(child, cid, depth + 1)
                    break
                store.update(child, cid, {col.name: None})
                row = store.rows[child.logical_name][cid]
