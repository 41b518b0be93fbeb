"""Reading loaded records back: what a body sent, and whether Dataverse holds it.

Shared by :mod:`.spot_check` (a sample, shown to a person) and :mod:`.verify` (every row, counted), so
both read a body and compare values by the same rules.

A body's lookups are ``@odata.bind`` entries naming one record by alternate key
(``/accounts(wtc_sourceid='7')``) or by GUID (owners, currencies): :func:`binds`, :func:`bound`. What
Dataverse answers for a lookup is its GUID, as ``_<column>_value``; the column is the navigation
property's name less its ``_<target table>`` (and ``_<own table>``) suffix, as Dataverse names the
navigation properties of multi-table lookups (``parentcustomerid_account``,
``regardingobjectid_incident_email``; learn.microsoft.com/power-apps/developer/data-platform/webapi/
associate-disassociate-entities-using-web-api), and the GUID it sets is read as ``_<column>_value``
(the navigation property's ReferentialConstraint, learn.microsoft.com/power-apps/developer/data-platform/
webapi/web-api-navigation-properties); the candidate must be a lookup column of the table's metadata
(:func:`lookup_column`).

How values compare (:func:`same`): empty is empty (a string sent empty is stored as null); without
the column's metadata, numbers numerically, date-times as instants, everything else exactly. With it
(:func:`columns_of`), as Dataverse stores the column:

- Decimal and Money at the column's precision: equal when they differ by at most half a unit of its
  last decimal place. A Money column takes its precision from its own ``Precision``, or, by its
  ``PrecisionSource``, from the organization's pricing precision (1) or the record's currency (2)
  (learn.microsoft.com/dotnet/api/microsoft.xrm.sdk.metadata.moneyattributemetadata.precisionsource);
  for the currency the smallest precision of the environment's currencies is taken, so a value is
  never called different for a rounding Dataverse may have applied;
- DateTime: date-only columns (format or behaviour ``DateOnly``) by calendar date; others as instants
  in UTC to the second (Dataverse answers ``2024-05-01T10:00:00Z``), a date sent alone being midnight UTC;
- Picklist, State, Status and whole numbers as integers; Boolean as booleans; lookups and unique
  identifiers as GUIDs (case-insensitive); String exactly;
- Memo (multi-line text) with line endings normalised (``\\r\\n`` and ``\\r`` as ``\\n``) on both sides:
  whether Dataverse keeps ``\\r\\n`` as sent is not documented that we could find, so a difference of
  line endings alone is not called a difference.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Mapping

from .. import objects as catalogue_mod
from ..dataverse.client import DataverseClient
from ..dataverse.keys import decode_key
from ..objects import ObjectSpec

LOOKUP_TYPES = {"Lookup", "Customer", "Owner"}
INTEGER_TYPES = {"Picklist", "State", "Status", "Integer", "BigInt"}
_BIND = re.compile(r"^/?(\w+)\((?:(\w+)='((?:[^']|'')*)'|([0-9a-fA-F-]{36}))\)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: metadata types whose values carry a precision, and the properties read for it
_PRECISION_CASTS = {"Decimal": ("DecimalAttributeMetadata", "LogicalName,Precision"),
                    "Money": ("MoneyAttributeMetadata", "LogicalName,Precision,PrecisionSource")}


@dataclass(frozen=True)
class ColumnInfo:
    """What a comparison needs to know of a column: its AttributeType and how it stores values."""

    type: str | None
    precision: int | None = None  # Decimal / Money: decimal places kept
    date_only: bool = False  # DateTime: a calendar date, no time


def table_of_set(specs: Mapping[str, ObjectSpec]) -> dict[str, str]:
    """Entity set -> table, for every table the catalogue writes or binds to."""
    sets = {catalogue_mod.entity_set(t): t for s in specs.values() for t in s.tables}
    sets.update({v: k for k, v in catalogue_mod.ENTITY_SETS.items()})
    return sets


def binds(body: dict) -> dict[str, re.Match]:
    """The body's ``@odata.bind`` entries that bind one record, parsed (entity set, key column, key | GUID)."""
    return {name: m for name, value in body.items()
            if name.endswith("@odata.bind") and isinstance(value, str) and (m := _BIND.match(value))}


def bound(m: re.Match) -> str:
    """What a bind names: the source id it binds by, or the GUID."""
    return decode_key(m[3].replace("''", "'")) if m[3] is not None else m[4].lower()


def lookup_column(bind: str, table: str, target_table: str, types: Mapping[str, str | None]) -> str | None:
    """The lookup column a navigation property (``<nav>@odata.bind``) sets (see the module docstring), or None."""
    nav = bind.removesuffix("@odata.bind").lower()
    for candidate in (nav, nav.removesuffix(f"_{target_table}_{table}"), nav.removesuffix(f"_{target_table}")):
        if types.get(candidate) in LOOKUP_TYPES:
            return candidate
    return None


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _instant(value: str) -> datetime:
    """An ISO date or date-time as an aware UTC instant (no offset: UTC, as Dataverse reads it)."""
    if _DATE.match(value):
        return datetime.combine(date.fromisoformat(value), datetime.min.time(), timezone.utc)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _same_datetime(sent: str, found: str, date_only: bool) -> bool:
    try:
        if date_only:
            return _instant(sent).date() == date.fromisoformat(found[:10])
        return _instant(sent).replace(microsecond=0) == _instant(found).replace(microsecond=0)
    except ValueError:
        return False


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def same(sent: Any, found: Any, column: ColumnInfo | None = None) -> bool:
    """Equal as Dataverse values (see the module docstring); ``column`` from :func:`columns_of`."""
    if _empty(sent) or _empty(found):
        return _empty(sent) and _empty(found)
    kind = column.type if column else None
    if isinstance(sent, bool) or isinstance(found, bool):
        return sent is found
    if _number(sent) and _number(found):
        if kind in INTEGER_TYPES:
            return float(sent).is_integer() and float(found).is_integer() and int(sent) == int(found)
        if kind in ("Decimal", "Money") and column.precision is not None:
            return abs(sent - found) <= 0.5 * 10 ** -column.precision + 1e-9 * max(1.0, abs(sent))
        return math.isclose(sent, found, rel_tol=1e-12, abs_tol=1e-9)
    if not (isinstance(sent, str) and isinstance(found, str)):
        return sent == found
    if kind == "DateTime":
        return _same_datetime(sent, found, column.date_only)
    if kind == "Memo":
        return _lines(sent) == _lines(found)
    if kind in LOOKUP_TYPES or kind == "Uniqueidentifier":
        return sent.lower() == found.lower()
    if kind is None and sent != found and "T" in sent and "T" in found:
        try:
            return datetime.fromisoformat(sent) == datetime.fromisoformat(found)
        except ValueError:
            return False
    return sent == found


# ---------------------------------------------------------------------------------------- metadata


async def columns_of(dv: DataverseClient, table: str, memo: dict) -> dict[str, ColumnInfo]:
    """``{logical name: ColumnInfo}`` of a table: types, precisions and date-only formats, in four metadata
    reads. ``memo`` keeps the environment-wide precisions (pricing, currencies) across tables."""
    entity = f"EntityDefinitions(LogicalName='{table}')/Attributes"
    data = await dv.get_json(entity, params={"$select": "LogicalName,AttributeType"})
    types = {a["LogicalName"]: a.get("AttributeType") for a in data.get("value", [])}
    precision: dict[str, int | None] = {}
    for cast, select in _PRECISION_CASTS.values():
        data = await dv.get_json(f"{entity}/Microsoft.Dynamics.CRM.{cast}", params={"$select": select})
        for a in data.get("value", []):
            precision[a["LogicalName"]] = await _precision(dv, a, memo)
    data = await dv.get_json(f"{entity}/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata",
                             params={"$select": "LogicalName,Format,DateTimeBehavior"})
    date_only = {a["LogicalName"] for a in data.get("value", [])
                 if a.get("Format") == "DateOnly" or (a.get("DateTimeBehavior") or {}).get("Value") == "DateOnly"}
    return {name: ColumnInfo(kind, precision.get(name), name in date_only) for name, kind in types.items()}


async def _precision(dv: DataverseClient, attribute: dict, memo: dict) -> int | None:
    """The decimal places a Decimal or Money column keeps (see the module docstring)."""
    source = attribute.get("PrecisionSource") or 0
    if source == 0:
        return attribute.get("Precision")
    if source not in memo:
        if source == 1:
            orgs = await dv.get_json("organizations", params={"$select": "pricingdecimalprecision"})
            memo[source] = min((o["pricingdecimalprecision"] for o in orgs.get("value", [])), default=None)
        else:
            memo[source] = min([c["currencyprecision"] async for c in dv.get_all(
                "transactioncurrencies", select=["currencyprecision"])], default=None)
    found = memo[source]
    return attribute.get("Precision") if found is None else found
