"""Custom fields: the source's custom field definitions -> Dataverse columns."""

from __future__ import annotations

import re
from typing import Any

from .. import objects as catalogue_mod
from ..dataverse import schema
from ..problems import Problem
from ..staging import read_chunk, read_manifest
from .common import (dataverse, require_approval, ensure_custom_table, obj_path, run_config, spec_of,
                     staging_for)



_TYPES = {
    "Text": dict(type="String", max_length=4000),
    "TextArea": dict(type="Memo", max_length=1048576),
    "Dropdown": dict(type="Picklist"),
    "Date": dict(type="DateTime", date_only=True),
    "Number": dict(type="Decimal"),
    "Checkbox": dict(type="Boolean"),
}
OPTION_BASE = 100_000_000  # publisher option value prefix 10000 -> values 100,000,000 and up


def column_name(prefix: str, label: str) -> str:
    slug = re.sub(r"[^a-z0-9]", "", label.casefold().replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
                  .replace("ß", "ss"))
    return f"{prefix}_{slug or 'field'}"[:50]


async def deploy_custom_fields(payload: dict) -> dict:
    """custom_fields.csv -> Dataverse columns on the tables of the objects they belong to."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    require_approval(st, run)
    out_name = "schema/custom_fields.json"
    if st.exists(out_name):
        doc = st.read_json(out_name)
        return {"deployed": len(doc["columns"]), "rejected": len(doc["problems"])}
    specs = catalogue_mod.catalogue(run.source)
    by_label = {s.custom_fields_object.casefold(): s for s in specs.values() if s.custom_fields_object}
    prefix = spec.key_column.split("_")[0]
    planned: dict[str, list[tuple[dict, Any]]] = {}
    problems: list[Problem] = []
    used: set[tuple[str, str]] = set()
    for chunk in read_manifest(st, obj_path(spec, "extract")).chunks:
        for row in read_chunk(st, chunk.name, chunk.sha256):
            obj, label, ftype = (row.get("Object") or "").strip(), (row.get("Label") or "").strip(), row.get("Type")
            target = by_label.get(obj.casefold())

            def reject(code: str, message: str, fld: str, value=None):
                problems.append(Problem(spec.name, row.get(spec.key_field), "schema", code, message,
                                        file=row.get("_file"), line=row.get("_row"), record=row.get("_record"),
                                        field=fld, value=value))
            if target is None:
                reject("unsupported_object", f"custom fields on {obj!r} are not migrated by this run", "Object", obj)
                continue
            if ftype not in _TYPES:
                reject("unsupported_type", f"custom field type {ftype!r} is not one of {sorted(_TYPES)}", "Type", ftype)
                continue
            column = column_name(prefix, label)
            if (target.table, column) in used:
                reject("duplicate_column", f"another custom field of {obj} maps to column {column}", "Label", label)
                continue
            used.add((target.table, column))
            options = []
            if ftype == "Dropdown":
                labels = [o.strip() for o in (row.get("Options") or "").split("|") if o.strip()]
                options = [(OPTION_BASE + i, o) for i, o in enumerate(labels)]
            col = schema.ColumnSpec(schema_name=column, label=label, options=options, **_TYPES[ftype])
            planned.setdefault(target.table, []).append(
                ({"object": obj, "label": label, "column": column, "type": ftype}, col))
    columns: list[dict] = []
    tables = {s.table: s for s in specs.values() if s.custom_fields_object}
    async with dataverse(run) as dv:
        for table, items in planned.items():
            await ensure_custom_table(dv, tables[table])  # projects' custom fields go on wtc_project
            await schema.ensure_columns(dv, table, [c for _, c in items])
            for meta, col in items:
                if meta["type"] == "Dropdown":
                    meta["options"] = await schema.picklist_options(dv, table, col.logical_name)
                columns.append(meta)
    doc = {"columns": columns, "problems": [p.to_dict() for p in problems]}
    st.write_json(out_name, doc)
    st.write_json(obj_path(spec, "result.json"), {"loaded": len(columns), "problems": doc["problems"]})
    return {"deployed": len(columns), "rejected": len(problems)}
