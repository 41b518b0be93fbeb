"""Schema deployment: columns, picklist options, alternate keys, custom tables (Web API metadata).

Everything here is idempotent: what exists with the definition the migration needs is success, and a
create refused because the column, key, relationship or table already exists (another worker prepared
the same table at the same moment, or a retried POST whose first answer was lost) is checked against
the definition and treated as success too. Picklists get their missing options. An existing definition
that differs (another column type, a shorter MaxLength, a lower precision, another date format, an
option value with another label, a key on other columns) is never changed: :class:`SchemaConflict`
(a :class:`shared.errors.PermanentError`) names the table, the column and the difference.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

from ..errors import PermanentError
from .client import DataverseClient, DataverseError

log = logging.getLogger(__name__)

ColumnType = Literal["String", "Memo", "Picklist", "Decimal", "Money", "Integer", "Boolean", "DateTime"]
RequiredLevel = Literal["None", "Recommended", "ApplicationRequired"]
LANGUAGE = 1033


class SchemaError(RuntimeError):
    pass


class SchemaConflict(SchemaError, PermanentError):
    """What exists in Dataverse differs from what the migration needs; retrying will not change it."""


#: Dataverse error codes that mean "a component with this name already exists"
#: (learn.microsoft.com/power-apps/developer/data-platform/reference/web-service-error-codes):
#: 0x80044363 SchemaNameisNotUnique ("The schema name {0} for type {1} is not unique"),
#: 0x80047013 DuplicateAttributeSchemaName, 0x80060304 DuplicateAttributePhysicalName,
#: 0x80047010 DuplicateName, 0x80060893 EntityKeyNameExists, 0x80060894
#: EntityKeyWithSelectedAttributesExists, 0x8004432b EntityRelationshipSchemaNameNotUnique.
ALREADY_EXISTS = frozenset({"0x80044363", "0x80047013", "0x80060304", "0x80047010", "0x80060893", "0x80060894",
                            "0x8004432b"})


def already_exists(e: DataverseError) -> bool:
    return (e.code or "").lower() in ALREADY_EXISTS


def label(text: str, language: int = LANGUAGE) -> dict:
    return {
        "@odata.type": "Microsoft.Dynamics.CRM.Label",
        "LocalizedLabels": [{"@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel", "Label": text, "LanguageCode": language}],
    }


def _label_text(lbl: Any) -> str | None:
    if not isinstance(lbl, dict):
        return None
    user = lbl.get("UserLocalizedLabel")
    if isinstance(user, dict) and user.get("Label") is not None:
        return user["Label"]
    for loc in lbl.get("LocalizedLabels") or []:
        if loc.get("Label") is not None:
            return loc["Label"]
    return None


@dataclass
class ColumnSpec:
    schema_name: str  # wtc_SourceId (logical name = lower case)
    type: ColumnType
    label: str
    max_length: int | None = None  # String (default 100) / Memo (default 2000)
    options: list[tuple[int, str]] = field(default_factory=list)  # Picklist (value, label)
    date_only: bool = False  # DateTime: DateOnly behaviour vs UserLocal date and time
    precision: int | None = None  # Decimal / Money
    min_value: float | None = None
    max_value: float | None = None
    required: RequiredLevel = "None"
    description: str | None = None
    true_label: str = "Yes"  # Boolean
    false_label: str = "No"

    @property
    def logical_name(self) -> str:
        return self.schema_name.lower()

    def metadata(self) -> dict:
        """The ``AttributeMetadata`` body for ``POST EntityDefinitions(...)/Attributes``."""
        body: dict[str, Any] = {
            "SchemaName": self.schema_name,
            "DisplayName": label(self.label),
            "RequiredLevel": {"Value": self.required, "CanBeChanged": True, "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"},
        }
        if self.description:
            body["Description"] = label(self.description)
        t = self.type
        if t == "String":
            body.update({"@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "AttributeType": "String",
                         "AttributeTypeName": {"Value": "StringType"}, "MaxLength": self.max_length or 100,
                         "FormatName": {"Value": "Text"}})
        elif t == "Memo":
            body.update({"@odata.type": "Microsoft.Dynamics.CRM.MemoAttributeMetadata", "AttributeType": "Memo",
                         "AttributeTypeName": {"Value": "MemoType"}, "Format": "TextArea", "ImeMode": "Auto",
                         "MaxLength": self.max_length or 2000})
        elif t == "Picklist":
            body.update({"@odata.type": "Microsoft.Dynamics.CRM.PicklistAttributeMetadata", "AttributeType": "Picklist",
                         "AttributeTypeName": {"Value": "PicklistType"},
                         "OptionSet": {"@odata.type": "Microsoft.Dynamics.CRM.OptionSetMetadata", "IsGlobal": False,
                                       "OptionSetType": "Picklist",
                                       "Options": [{"Value": v, "Label": label(l)} for v, l in self.options]}})
        elif t == "Decimal":
            body.update({"@odata.type": "Microsoft.Dynamics.CRM.DecimalAttributeMetadata", "AttributeType": "Decimal",
                         "AttributeTypeName": {"Value": "DecimalType"}, "Precision": 2 if self.precision is None else self.precision,
                         "MinValue": -100_000_000_000.0 if self.min_value is None else self.min_value,
                         "MaxValue": 100_000_000_000.0 if self.max_value is None else self.max_value})
        elif t == "Money":
            body.update({"@odata.type": "Microsoft.Dynamics.CRM.MoneyAttributeMetadata", "AttributeType": "Money",
                         "AttributeTypeName": {"Value": "MoneyType"}, "Precision": 2 if self.precision is None else self.precision,
                         "PrecisionSource": 2,
                         "MinValue": -922_337_203_685_477.0 if self.min_value is None else self.min_value,
                         "MaxValue": 922_337_203_685_477.0 if self.max_value is None else self.max_value})
        elif t == "Integer":
            body.update({"@odata.type": "Microsoft.Dynamics.CRM.IntegerAttributeMetadata", "AttributeType": "Integer",
                         "AttributeTypeName": {"Value": "IntegerType"}, "Format": "None",
                         "MinValue": -2_147_483_648 if self.min_value is None else int(self.min_value),
                         "MaxValue": 2_147_483_647 if self.max_value is None else int(self.max_value)})
        elif t == "Boolean":
            body.update({"@odata.type": "Microsoft.Dynamics.CRM.BooleanAttributeMetadata", "AttributeType": "Boolean",
                         "AttributeTypeName": {"Value": "BooleanType"}, "DefaultValue": False,
                         "OptionSet": {"@odata.type": "Microsoft.Dynamics.CRM.BooleanOptionSetMetadata",
                                       "TrueOption": {"Value": 1, "Label": label(self.true_label)},
                                       "FalseOption": {"Value": 0, "Label": label(self.false_label)},
                                       "OptionSetType": "Boolean"}})
        elif t == "DateTime":
            body.update({"@odata.type": "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata", "AttributeType": "DateTime",
                         "AttributeTypeName": {"Value": "DateTimeType"},
                         "Format": "DateOnly" if self.date_only else "DateAndTime",
                         "DateTimeBehavior": {"Value": "DateOnly" if self.date_only else "UserLocal"}})
        else:
            raise ValueError(f"unsupported column type {t!r}")
        return body


@dataclass
class SchemaReport:
    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    options_added: dict[str, list[int]] = field(default_factory=dict)


def _entity(table: str) -> str:
    return f"EntityDefinitions(LogicalName='{table}')"


def _solution_headers(client: DataverseClient, solution: str | None) -> dict[str, str]:
    sol = solution or client.settings.solution_unique_name
    return {"MSCRM.SolutionUniqueName": sol} if sol else {}


async def table_exists(client: DataverseClient, logical_name: str) -> bool:
    try:
        await client.get_json(_entity(logical_name), params={"$select": "LogicalName"})
        return True
    except DataverseError as e:
        if e.status == 404:
            return False
        raise


async def existing_attributes(client: DataverseClient, table: str) -> dict[str, str]:
    """``{logical name: AttributeType}`` of a table's columns."""
    data = await client.get_json(f"{_entity(table)}/Attributes", params={"$select": "LogicalName,AttributeType"})
    return {a["LogicalName"]: a.get("AttributeType") for a in data.get("value", [])}


async def _picklist_metadata(client: DataverseClient, table: str, column: str) -> list[dict]:
    data = await client.get_json(
        f"{_entity(table)}/Attributes(LogicalName='{column}')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
        params={"$select": "LogicalName", "$expand": "OptionSet($select=Options),GlobalOptionSet($select=Options)"},
    )
    opts = (data.get("OptionSet") or {}).get("Options") or (data.get("GlobalOptionSet") or {}).get("Options") or []
    return opts


async def picklist_options(client: DataverseClient, table: str, column: str) -> dict[str, int]:
    """``{label: value}`` of a picklist column."""
    return {(_label_text(o.get("Label")) or str(o["Value"])): int(o["Value"]) for o in await _picklist_metadata(client, table, column)}


#: the AttributeMetadata type to cast to and the properties a definition is compared on, per column type
_COMPARED: dict[str, tuple[str, tuple[str, ...]]] = {
    "String": ("StringAttributeMetadata", ("MaxLength",)), "Memo": ("MemoAttributeMetadata", ("MaxLength",)),
    "Decimal": ("DecimalAttributeMetadata", ("Precision",)), "Money": ("MoneyAttributeMetadata", ("Precision",)),
    "DateTime": ("DateTimeAttributeMetadata", ("Format",)),
}


async def _definition(client: DataverseClient, table: str, column: str, attribute_type: str) -> dict:
    """The properties of an existing column that :func:`_differences` compares (one GET, cast to its type)."""
    cast, props = _COMPARED[attribute_type]
    return await client.get_json(f"{_entity(table)}/Attributes(LogicalName='{column}')/Microsoft.Dynamics.CRM.{cast}",
                                 params={"$select": ",".join(("LogicalName", *props))}) or {}


async def _differences(client: DataverseClient, table: str, spec: ColumnSpec, have_type: str | None) -> list[str]:
    """How an existing column differs from ``spec`` in ways that would change or refuse values."""
    if have_type != spec.type:
        return [f"it is a {have_type} column, the migration needs {spec.type}"]
    if spec.type not in _COMPARED:
        return []
    d = await _definition(client, table, spec.logical_name, spec.type)
    wanted = spec.metadata()
    out = []
    if spec.type in ("String", "Memo") and (d.get("MaxLength") or 0) < wanted["MaxLength"]:
        out.append(f"MaxLength is {d.get('MaxLength')}, the migration needs {wanted['MaxLength']} "
                   "(longer values would be refused)")
    if spec.type in ("Decimal", "Money") and d.get("Precision") is not None and d["Precision"] < wanted["Precision"]:
        out.append(f"Precision is {d['Precision']}, the migration needs {wanted['Precision']} "
                   "(values would be rounded)")
    if spec.type == "DateTime" and d.get("Format") and d["Format"] != wanted["Format"]:
        out.append(f"Format is {d['Format']}, the migration needs {wanted['Format']}")
    return out


def _conflict(table: str, problems: list[str]) -> SchemaConflict:
    return SchemaConflict(f"{table}: {'; '.join(problems)}. The existing definition is left as it is: change or "
                          "delete the column in Dataverse (or rename the source field), then run again")


async def ensure_columns(
    client: DataverseClient, table: str, specs: Sequence[ColumnSpec], *, solution: str | None = None
) -> SchemaReport:
    """Create missing columns and missing picklist options; raise :class:`SchemaConflict` on differences.

    A create answered "already exists" (``0x80044363``: a concurrent prepare of the same table, or a
    retried POST whose first answer was lost) is success when the column now there has the definition
    the migration needs.
    """
    report = SchemaReport()
    have = await existing_attributes(client, table)
    headers = _solution_headers(client, solution)
    problems: list[str] = []
    for spec in specs:
        name = spec.logical_name
        if name not in have:
            try:
                await client.request("POST", f"{_entity(table)}/Attributes", json=spec.metadata(), headers=headers)
                report.created.append(name)
                continue
            except DataverseError as e:
                if not already_exists(e):
                    raise
                have = await existing_attributes(client, table)
                if name not in have:
                    raise
        report.existing.append(name)
        problems += [f"column {name}: {d}" for d in await _differences(client, table, spec, have[name])]
        if spec.type == "Picklist" and spec.options and have[name] == "Picklist":
            current = {int(o["Value"]): _label_text(o.get("Label")) for o in await _picklist_metadata(client, table, name)}
            for value, text in spec.options:
                if value not in current:
                    await _insert_option(client, table, name, value, text, headers)
                    report.options_added.setdefault(name, []).append(value)
                elif current[value] != text:
                    problems.append(f"column {name}: option {value} is labelled {current[value]!r}, the migration "
                                    f"needs {text!r}")
    if problems:
        raise _conflict(table, problems)
    if report.created or report.options_added:
        log.info("schema %s: created %s, options added %s", table, report.created, report.options_added)
    return report


async def _insert_option(client: DataverseClient, table: str, column: str, value: int, text: str,
                         headers: dict[str, str]) -> None:
    """``InsertOptionValue``, which is not idempotent: after a lost answer or a refusal the option set
    is read, and the option already there with this label is success."""
    body: dict[str, Any] = {"EntityLogicalName": table, "AttributeLogicalName": column, "Value": value,
                            "Label": label(text)}
    if headers:
        body["SolutionUniqueName"] = headers["MSCRM.SolutionUniqueName"]
    try:
        await client.execute_action("InsertOptionValue", body, idempotent=False)
    except DataverseError:
        options = {int(o["Value"]): _label_text(o.get("Label"))
                   for o in await _picklist_metadata(client, table, column)}
        if options.get(value) != text:
            raise


async def ensure_alternate_key(
    client: DataverseClient,
    table: str,
    schema_name: str,
    columns: Sequence[str],
    *,
    display_name: str | None = None,
    timeout: float = 600.0,
    poll_interval: float = 0.25,
    max_poll_interval: float = 10.0,
    solution: str | None = None,
) -> dict:
    """Create the alternate key if missing and wait until its index is ``Active``.

    An existing key on the same columns is reused, whatever its name; a key with this schema name on
    other columns is a :class:`SchemaConflict`. A create answered "already exists" (0x80060893 /
    0x80060894: a concurrent prepare, or a retried POST whose answer was lost) is checked the same way.
    ``Failed`` raises :class:`SchemaError`; so does a timeout.
    """
    path = f"{_entity(table)}/Keys"
    select = {"$select": "SchemaName,LogicalName,KeyAttributes,EntityKeyIndexStatus"}
    wanted = sorted(c.lower() for c in columns)

    def match(keys: list[dict]) -> dict | None:
        same_columns = [k for k in keys if sorted(a.lower() for a in k.get("KeyAttributes") or []) == wanted]
        if same_columns:
            return same_columns[0]
        named = next((k for k in keys if (k.get("SchemaName") or "").lower() == schema_name.lower()), None)
        if named is not None:
            on = ", ".join(named.get("KeyAttributes") or [])
            raise SchemaConflict(f"{table}: alternate key {schema_name} exists on ({on}), the migration needs it on "
                                 f"({', '.join(wanted)}); delete that key in Dataverse, then run again")
        return None

    keys = (await client.get_json(path, params=select)).get("value", [])
    key = match(keys)
    if key is None:
        body = {"SchemaName": schema_name, "DisplayName": label(display_name or schema_name), "KeyAttributes": [c.lower() for c in columns]}
        try:
            await client.request("POST", path, json=body, headers=_solution_headers(client, solution))
            log.info("alternate key %s on %s(%s) created; waiting for its index", schema_name, table, ",".join(columns))
        except DataverseError as e:
            if not already_exists(e) or match((await client.get_json(path, params=select)).get("value", [])) is None:
                raise
    deadline = time.monotonic() + timeout
    interval = poll_interval  # grows: a fresh index is often quick, a big table's takes minutes
    while True:
        keys = (await client.get_json(path, params=select)).get("value", [])
        key = match(keys)
        status = (key or {}).get("EntityKeyIndexStatus")
        if status == "Active":
            return key  # type: ignore[return-value]
        if status == "Failed":
            raise SchemaError(
                f"alternate key {schema_name} on {table} failed to build its index (duplicate or oversized values "
                f"in {', '.join(columns)}?); fix the data, delete the key and run again"
            )
        if time.monotonic() >= deadline:
            raise SchemaError(f"alternate key {schema_name} on {table} still {status or 'missing'} after {timeout:.0f}s")
        await asyncio.sleep(interval)
        interval = min(interval * 1.5, max_poll_interval)


async def ensure_table(
    client: DataverseClient,
    schema_name: str,
    display_name: str,
    *,
    display_collection_name: str | None = None,
    primary_name_column: str | None = None,
    primary_name_label: str = "Name",
    primary_name_max_length: int = 200,
    ownership: Literal["UserOwned", "OrganizationOwned"] = "UserOwned",
    has_notes: bool = True,
    has_activities: bool = False,
    description: str | None = None,
    solution: str | None = None,
) -> bool:
    """Create a custom table if missing (``wtc_Project`` -> logical ``wtc_project``). True if created."""
    logical = schema_name.lower()
    if await table_exists(client, logical):
        return False
    prefix = schema_name.split("_", 1)[0]
    primary = primary_name_column or f"{prefix}_Name"
    body = {
        "@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata",
        "SchemaName": schema_name,
        "DisplayName": label(display_name),
        "DisplayCollectionName": label(display_collection_name or display_name + "s"),
        "Description": label(description or display_name),
        "OwnershipType": ownership,
        "IsActivity": False,
        "HasNotes": has_notes,
        "HasActivities": has_activities,
        "PrimaryNameAttribute": primary.lower(),
        "Attributes": [
            {
                "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
                "SchemaName": primary,
                "AttributeType": "String",
                "AttributeTypeName": {"Value": "StringType"},
                "FormatName": {"Value": "Text"},
                "MaxLength": primary_name_max_length,
                "IsPrimaryName": True,
                "RequiredLevel": {"Value": "None", "CanBeChanged": True, "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"},
                "DisplayName": label(primary_name_label),
            }
        ],
    }
    try:
        await client.request("POST", "EntityDefinitions", json=body, headers=_solution_headers(client, solution))
    except DataverseError as e:  # created meanwhile (a concurrent prepare, a retried POST): fine
        if already_exists(e) and await table_exists(client, logical):
            return False
        raise
    log.info("table %s created", logical)
    return True


async def ensure_lookup(
    client: DataverseClient,
    referencing_table: str,
    lookup_schema_name: str,
    referenced_table: str,
    display_name: str,
    *,
    relationship_schema_name: str | None = None,
    solution: str | None = None,
) -> bool:
    """Add a lookup column ``referencing_table.lookup_schema_name -> referenced_table`` if missing.

    Dataverse creates lookups through a one-to-many relationship (``POST RelationshipDefinitions``
    with a ``LookupAttributeMetadata``); the lookup's single-valued navigation property, used in
    ``<nav>@odata.bind``, is its SchemaName. True if created.
    """
    if await _lookup_exists(client, referencing_table, lookup_schema_name.lower(), referenced_table):
        return False
    rel = relationship_schema_name or f"{lookup_schema_name.split('_', 1)[0]}_{referenced_table}_{referencing_table}"
    body = {
        "@odata.type": "Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata",
        "SchemaName": rel,
        "ReferencedEntity": referenced_table,
        "ReferencingEntity": referencing_table,
        "ReferencedAttribute": f"{referenced_table}id",
        "CascadeConfiguration": {"Assign": "NoCascade", "Delete": "RemoveLink", "Merge": "NoCascade",
                                 "Reparent": "NoCascade", "Share": "NoCascade", "Unshare": "NoCascade"},
        "Lookup": {
            "@odata.type": "Microsoft.Dynamics.CRM.LookupAttributeMetadata",
            "AttributeType": "Lookup",
            "AttributeTypeName": {"Value": "LookupType"},
            "SchemaName": lookup_schema_name,
            "DisplayName": label(display_name),
            "RequiredLevel": {"Value": "None", "CanBeChanged": True,
                              "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"},
        },
    }
    try:
        await client.request("POST", "RelationshipDefinitions", json=body, headers=_solution_headers(client, solution))
    except DataverseError as e:  # created meanwhile (a concurrent prepare, a retried POST)
        if already_exists(e) and await _lookup_exists(client, referencing_table, lookup_schema_name.lower(),
                                                      referenced_table):
            return False
        raise
    return True


async def _lookup_exists(client: DataverseClient, table: str, column: str, target: str) -> bool:
    """Whether ``table.column`` is a lookup to ``target``; a column of that name that is not is a conflict."""
    have = await existing_attributes(client, table)
    if column not in have:
        return False
    attr = await client.get_json(f"{_entity(table)}/Attributes(LogicalName='{column}')/"
                                 "Microsoft.Dynamics.CRM.LookupAttributeMetadata",
                                 params={"$select": "LogicalName,Targets"}) if have[column] == "Lookup" else {}
    if target not in (attr or {}).get("Targets") or []:
        raise _conflict(table, [f"column {column} is a {have[column]} column"
                                + (f" to {', '.join(attr.get('Targets') or [])}" if attr else "")
                                + f", the migration needs a lookup to {target}"])
    return True
