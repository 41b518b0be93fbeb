"""Check an edited map against the target tables' metadata before it is approved or applied.

``validate(mapping, tables)`` returns every problem as a :class:`MapError` naming the object, the
line of the YAML file and the fix; ``check_text(text, tables)`` also reports what keeps the file from
loading at all. The checks: an unknown target column (neither in the metadata nor declared
``custom``), a column Dataverse does not let a client write, a kind the target column cannot take,
two entries onto one target, a required target left unmapped, a value map pointing at an option the
target does not have (or a value map on a column that takes none), a format the kind does not know,
a custom column that is malformed or already exists as a standard column.
"""

from __future__ import annotations

import re
from typing import Mapping

from rapidfuzz import process

from .catalogue import settings_of
from .mapfile import MapFileError, load
from .metadata import LOOKUP_TYPES, TargetColumn, TargetTable
from .model import (CUSTOM_TYPES, DATE_ORDERS, DECIMAL_STYLES, READ_ONLY_KINDS, CustomColumn, Entry, MapError,
                    MappingFile, ObjectMapping)

#: Dataverse column type -> the kinds it takes
ALLOWED: dict[str, tuple[str, ...]] = {
    "String": ("string", "email", "url", "phone"), "Memo": ("memo", "string"), "Integer": ("int",),
    "BigInt": ("int",), "Decimal": ("decimal", "int"), "Double": ("decimal", "int"),
    "Money": ("money", "decimal", "int"), "Boolean": ("bool",), "DateTime": ("date", "datetime"),
    "Picklist": ("option",), "MultiSelectPicklist": ("option",), "State": ("option",), "Status": ("option",),
    "Owner": ("owner",), "Lookup": ("currency",),
}
FORMATS: dict[str, tuple[str, ...]] = {"date": DATE_ORDERS, "datetime": DATE_ORDERS, "created": DATE_ORDERS,
                                       "decimal": DECIMAL_STYLES, "money": DECIMAL_STYLES, "int": DECIMAL_STYLES}
_CUSTOM_NAME = re.compile(r"[a-z][a-z0-9]*_[a-z0-9_]+\Z")


def check_text(text: str, tables: Mapping[str, TargetTable], *,
               file: str = "mapping.yaml") -> tuple[MappingFile | None, list[MapError]]:
    """Load and validate a map file's text: (the map or None, every problem)."""
    try:
        mapping = load(text)
    except MapFileError as e:
        return None, [MapError(x.object, x.line, x.code, x.message, x.fix, file) for x in e.errors]
    return mapping, validate(mapping, tables, file=file)


def validate(mapping: MappingFile, tables: Mapping[str, TargetTable], *, file: str = "mapping.yaml") -> list[MapError]:
    errors: list[MapError] = []
    for o in mapping.objects:
        errors += _object(o, tables.get(o.table), file)
        errors += options_errors(mapping.source, o, file)
    return errors


def options_errors(source: str, o: ObjectMapping, file: str = "mapping.yaml") -> list[MapError]:
    """An object's ``options:`` must name settings its code declares (``catalogue.SETTINGS``), each with one
    of its values."""
    declared = settings_of(source, o.name)
    errors = []
    for setting, choice in o.options.items():
        if setting not in declared:
            known = ", ".join(declared) or "none"
            errors.append(MapError(o.name, o.line, "unknown_option", f"{o.name} has no setting {setting!r} "
                                   f"(its settings: {known})", "remove it from options, or correct its name", file))
        elif choice not in declared[setting]:
            errors.append(MapError(o.name, o.line, "bad_option_value", f"{setting}: {choice!r} is not one of "
                                   f"{', '.join(declared[setting])}", f"write {setting}: {declared[setting][0]} "
                                   f"(the default) or another of those values", file))
    return errors


def _object(o: ObjectMapping, table: TargetTable | None, file: str) -> list[MapError]:
    errors: list[MapError] = []

    def err(line: int | None, code: str, message: str, fix: str) -> None:
        errors.append(MapError(o.name, line, code, message, fix, file))

    if table is None:
        err(o.line, "unknown_table", f"table {o.table!r} is not in the target environment's metadata",
            "write the logical name of an existing table (e.g. account), or create the table first")
        return errors
    seen: dict[str, Entry] = {}
    for e in o.entries:
        _entry(e, table, err)
        if e.target and e.kind != "skip":
            first = seen.get(e.target.lower())
            if first is not None:
                err(e.line_of("target"), "duplicate_target",
                    f"{e.source!r} and {first.source!r} (line {first.line}) both map onto {e.target}",
                    "map one of them to another column, a new custom column, or kind skip")
            else:
                seen[e.target.lower()] = e
    filled = set(seen) | {c.lower() for c in o.engine_columns}
    for col in table.columns:
        if (col.is_required and col.valid_for_create and not col.primary_id and col.type not in LOOKUP_TYPES
                and col.type not in ("State", "Status") and col.logical_name.lower() not in filled):
            err(o.line, "required_unmapped", f"{table.logical_name}.{col.logical_name} is required "
                f"({col.required}) and no source column maps onto it",
                f"map a source column to {col.logical_name} (a {col.type} column), or list it in "
                "engine_columns if the object's code fills it")
    return errors


def _entry(e: Entry, table: TargetTable, err) -> None:
    if e.kind == "skip":
        if e.target:
            err(e.line_of("target"), "skip_with_target", f"{e.source!r} has kind skip but a target ({e.target})",
                "set target: null to skip the column, or give it a kind that converts values")
        return
    if e.kind in READ_ONLY_KINDS:
        return  # the engine's own entries: their targets are navigation properties and engine columns
    if not e.target:
        err(e.line_of("target"), "missing_target", f"{e.source!r} has kind {e.kind} but no target",
            "name the Dataverse column it goes to, or set kind: skip")
        return
    col = table.column(e.target)
    if col is None and e.custom is None:
        near = process.extractOne(e.target, [c.logical_name for c in table.columns if c.valid_for_create])
        hint = f"did you mean {near[0]}? " if near and near[1] >= 75 else ""
        err(e.line_of("target"), "unknown_target", f"{e.source!r} -> {e.target}: {table.logical_name} has no column "
            f"{e.target!r} and the entry declares no custom column",
            f"{hint}use a column of {table.logical_name}, or declare a new one: "
            "custom: {type: String, max_length: 100}")
        return
    if col is not None and not col.valid_for_create:
        err(e.line_of("target"), "not_writable", f"{e.source!r} -> {e.target}: Dataverse sets {e.target} itself "
            "(not valid for create)", "map the column elsewhere (a new custom column keeps the value) or skip it")
        return
    if col is not None and e.custom is not None and not col.custom:
        err(e.line_of("custom"), "custom_exists", f"{e.source!r} -> {e.target}: declares a new column, but "
            f"{e.target} is a standard column of {table.logical_name}",
            "remove the custom: line to use the existing column, or give the new column another name")
    ctype = col.type if col is not None else e.custom.type if e.custom else ""
    if col is None and e.custom is not None:
        _custom(e, e.custom, err)
    allowed = ALLOWED.get(ctype, ())
    if allowed and e.kind not in allowed:
        err(e.line_of("kind"), "bad_kind", f"{e.source!r} -> {e.target}: a {ctype} column cannot take kind {e.kind}",
            f"use kind {' or '.join(allowed)}, or map the column to a column of another type")
    if e.format is not None and e.format not in FORMATS.get(e.kind, ()):
        known = FORMATS.get(e.kind)
        err(e.line_of("format"), "bad_format", f"{e.source!r}: format {e.format!r} means nothing for kind {e.kind}",
            f"use format {' or '.join(known)}" if known else "remove the format line")
    _values(e, col, err)


def _custom(e: Entry, c: CustomColumn, err) -> None:
    line = e.line_of("custom")
    if c.type not in CUSTOM_TYPES:
        err(line, "bad_custom", f"{e.source!r} -> {e.target}: the engine cannot create a {c.type!r} column",
            f"use type {', '.join(CUSTOM_TYPES)}")
    if not _CUSTOM_NAME.match(e.target or ""):
        err(e.line_of("target"), "bad_custom", f"{e.source!r} -> {e.target}: a new column's name needs the "
            "publisher prefix and only lower-case letters, digits and underscores",
            "name it like wtc_" + re.sub(r"[^a-z0-9]+", "", (e.target or "").lower().split("_", 1)[-1]))
    if c.type in ("String", "Memo") and not c.max_length:
        err(line, "bad_custom", f"{e.source!r} -> {e.target}: a {c.type} column needs max_length",
            "add max_length (the profile comment shows the longest value)")
    if c.type == "Picklist" and not c.options:
        err(line, "bad_custom", f"{e.source!r} -> {e.target}: a new Picklist needs its options",
            "list the option labels: options: [A, B]")


def _values(e: Entry, col: TargetColumn | None, err) -> None:
    if not e.values:
        return
    if e.kind != "option":
        err(e.line_of("values"), "values_not_option", f"{e.source!r}: a value map, but kind {e.kind}",
            "remove values, or set kind: option on an option column")
        return
    if col is not None:
        valid: dict[object, str] = {v: lbl for v, lbl in col.options}
        shown = ", ".join(f"{v} ({lbl})" for v, lbl in list(valid.items())[:12]) + (" ..." if len(valid) > 12 else "")
    else:
        options = e.custom.options if e.custom else ()
        valid = {lbl: lbl for lbl in options}
        shown = ", ".join(options)
    sources: set[str] = set()
    for v in e.values:
        if v.source in sources:
            err(v.line, "duplicate_value", f"{e.source!r}: the value {v.source!r} is mapped twice", "keep one mapping")
        sources.add(v.source)
        if v.option is not None and v.option not in valid:
            err(v.line, "bad_option", f"{e.source!r} -> {e.target}: value {v.source!r} -> {v.option!r}, which is not "
                f"an option of {e.target}", f"use one of {shown}, or null (the value then loads empty)")
