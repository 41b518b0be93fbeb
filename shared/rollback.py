"""What a rollback needs, recorded before a chunk is written; and how a recorded row is put back.

**Before-images.** :func:`capture` runs in the load step before a chunk's first write: one read per table
of the chunk (``In`` queries on the alternate key, every column, lookups annotated with their table and
navigation property) finds which of the chunk's keys already exist. Those rows' *before-images* (the
columns the chunk writes, the owner, the state) and the list of keys the chunk holds are staged beside
the chunk, ``objects/<name>/load/<part>.before.json``, once: a retried load must not take its own
writes for the before state. Every key of the chunk that did not exist is one the run creates.

**Restoring.** :func:`restore_body` turns a before-image back into a PATCH (plain columns as they were,
lookups re-bound or cleared with ``<nav>@odata.bind: null``, the owner). A record that is closed now is
reopened first, updated, and closed again in the state it had (the Dataverse way for read-only closed
records: learn.microsoft.com/troubleshoot/dynamics-365/sales/troubleshoot-opportunities-issues, "reopen
it, make your changes, and then close it again").

**Parental relationships** (:data:`PARENTAL`): Dataverse deletes the children of a parental relationship
with their parent ("Customizable parental entity relationships",
https://learn.microsoft.com/previous-versions/dynamicscrm-2016/administering-dynamics-365/dn531061(v=crm.8):
``contact_customer_accounts``, ``incident_customer_accounts``, ``<Table>_Tasks``, ``<Table>_Annotation``...).
Before a created record is deleted, the rows the run did not create that still point at it through one
of these are detached, so a deletion never takes a pre-existing record with it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, AsyncIterator, Iterable

from . import objects as catalogue_mod
from .dataverse import loader
from .dataverse.client import DataverseClient
from .dataverse.keys import encode_key, in_filter

IN_CHUNK = 200  # values per In(...) query
LOGICAL = "@Microsoft.Dynamics.CRM.lookuplogicalname"
NAV = "@Microsoft.Dynamics.CRM.associatednavigationproperty"

#: (child table, its lookup column, the navigation property template used to clear it, parent tables):
#: the parental relationships of the tables the product writes; deleting a parent deletes such children
ACTIVITY_TABLES = ("task", "phonecall", "appointment", "email")
PARENTAL: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("contact", "parentcustomerid", "parentcustomerid_{parent}", ("account",)),
    *((t, "customerid", "customerid_{parent}", ("account", "contact")) for t in ("incident", "opportunity", "lead")),
    *((a, "regardingobjectid", "regardingobjectid_{parent}_{child}",
       ("account", "contact", "lead", "opportunity", "incident", "invoice", "wtc_project")) for a in ACTIVITY_TABLES),
    ("annotation", "objectid", "objectid_{parent}", ("account", "contact", "lead", "opportunity", "incident",
                                                     "invoice", "wtc_project")),
)

BEFORE_SUFFIX = ".before.json"
#: columns a close message sets besides the state (WinOpportunity/LoseOpportunity: the actual close date
#: and revenue), kept in a before-image so a record the run closed is put back exactly
SET_BY_CLOSE = {"opportunity": ("actualclosedate", "actualvalue")}


def before_name(spec_name: str, part: str) -> str:
    return f"objects/{spec_name}/load/{part}{BEFORE_SUFFIX}"


def table_ref(spec, table: str) -> loader.TableRef:
    return loader.TableRef(table, catalogue_mod.entity_set(table), catalogue_mod.key_column(spec, table))


async def read_records(dv: DataverseClient, entity_set: str, flt: str, select: Iterable[str] | None = None
                       ) -> AsyncIterator[dict]:
    """Every record of a query with its lookups annotated (table, navigation property)."""
    async for rec in dv.get_all(entity_set, select, flt, annotations="*"):
        yield rec


def _written(rows: list[dict], key_column: str) -> tuple[list[str], list[str]]:
    """The plain columns and the navigation properties (``@odata.bind``) the rows write."""
    plain: dict[str, None] = {}
    navs: dict[str, None] = {}
    for r in rows:
        for name, value in (r.get("body") or {}).items():
            if name.endswith("@odata.bind"):
                navs[name[: -len("@odata.bind")]] = None
            elif "@" not in name and not isinstance(value, (list, dict)) and name != key_column:
                plain[name] = None
    return list(plain), list(navs)


def _attribute(record: dict, nav: str) -> str | None:
    """The lookup column behind navigation property ``nav`` (``parentcustomerid`` for
    ``parentcustomerid_account``, ``regardingobjectid`` for ``regardingobjectid_account_task``)."""
    best = None
    for name in record:
        if name.startswith("_") and name.endswith("_value") and "@" not in name:
            attr = name[1:-6]
            if (nav == attr or nav.startswith(attr + "_")) and (best is None or len(attr) > len(best)):
                best = attr
    return best


def image(record: dict, primary_id: str, plain: list[str], navs: list[str]) -> dict:
    """A record's before-image: the columns the run writes, its owner and its state."""
    lookups: dict[str, dict | None] = {}
    for nav in [*navs, "ownerid"]:
        attr = _attribute(record, nav)
        if attr is None:
            continue
        value = record.get(f"_{attr}_value")
        lookups[nav] = None if value is None else {
            "attr": attr, "id": value, "table": record.get(f"_{attr}_value{LOGICAL}"),
            "nav": record.get(f"_{attr}_value{NAV}")}
    return {"id": record[primary_id], "values": {c: record[c] for c in plain if c in record},
            "lookups": lookups, "state": [record.get("statecode"), record.get("statuscode")]}


async def capture(st, dv: DataverseClient, spec, part: str, rows: list[dict]) -> None:
    """Stage the chunk's keys per table and the before-images of the rows that exist (once per chunk)."""
    name = before_name(spec.name, part)
    if st.exists(name):
        return  # the first attempt's image: a retry would read this run's own writes
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r.get("table") or spec.table, []).append(r)
    tables: dict[str, dict] = {}
    captured = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for table, members in groups.items():
        ref = table_ref(spec, table)
        keys = list(dict.fromkeys(str(r["key"]) for r in members if r.get("key") not in (None, "")))
        raw = {encode_key(k).lower(): k for k in keys}  # Dataverse compares keys case-insensitively
        encoded = [encode_key(k) for k in keys]
        plain, navs = _written(members, ref.key_column)
        plain += [c for c in SET_BY_CLOSE.get(table, ()) if c not in plain]
        existing: dict[str, dict] = {}
        for i in range(0, len(encoded), IN_CHUNK):
            async for rec in read_records(dv, ref.entity_set, in_filter(ref.key_column, encoded[i:i + IN_CHUNK])):
                key = raw.get(str(rec[ref.key_column]).lower())
                if key is not None:
                    existing[key] = image(rec, ref.primary_id, plain, navs)
        tables[table] = {"entity_set": ref.entity_set, "key_column": ref.key_column, "primary_id": ref.primary_id,
                         "keys": keys, "existing": existing,
                         # the source id where the row key is derived from it (notes: a GUID), as outcomes name rows
                         "sources": {str(r["key"]): str(r["source_key"]) for r in members if r.get("source_key")}}
    st.write_json(name, {"captured": captured, "tables": tables})


def restore_body(before: dict) -> dict:
    """The PATCH that puts a row's columns, lookups and owner back as the before-image has them."""
    body = dict(before["values"])
    for nav, old in before["lookups"].items():
        if old is None:
            body[f"{nav}@odata.bind"] = None
        elif nav == "ownerid":
            body["ownerid@odata.bind"] = f"/{catalogue_mod.entity_set(old['table'] or 'systemuser')}({old['id']})"
        else:
            body[f"{old.get('nav') or nav}@odata.bind"] = f"/{catalogue_mod.entity_set(old['table'])}({old['id']})"
    return body


def differences(before: dict, now: dict) -> list[str]:
    """The columns, lookups and state in which ``now`` (a record read with annotations) differs from
    the before-image: empty when the row is as it was."""
    diff = [c for c, v in before["values"].items() if c in now and not _same(v, now[c])]
    for nav, old in before["lookups"].items():
        attr = (old or {}).get("attr") or _attribute(now, nav)
        current = now.get(f"_{attr}_value") if attr else None
        if (old or {}).get("id") != current and not (old is None and current is None):
            diff.append(nav)
    if list(before["state"]) != [now.get("statecode"), now.get("statuscode")]:
        diff.append("statecode")
    return diff


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(float(a) - float(b)) < 1e-9
    return a == b
