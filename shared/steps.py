"""The work of a migration run, one function per activity.

Each step takes a small dict (the run's settings, an object name, a blob name), reads and writes
staging, talks to the source or Dataverse, and returns a small dict of blob names and counts. Steps
are idempotent: a step that already finished (its output is in staging) returns what it returned
before, so an activity that runs twice, or a local run that is restarted, does no work twice and
never duplicates a Dataverse row (rows are upserted by alternate key anyway).

Staging layout under ``runs/<run_id>/``::

    objects/<name>/extract/part-NNNNN.jsonl.gz + manifest.json   source rows that passed extraction
    objects/<name>/extract.json                                  extract summary
    objects/<name>/transform/part-NNNNN.jsonl.gz                 rows ready to load {"key","body"}
    objects/<name>/transform/part-NNNNN.json                     transform summary, rejects, warnings
    objects/<name>/load/part-NNNNN.json                          per-row outcomes from Dataverse
    objects/<name>/report.json, loaded_keys.json                 reconciliation
    owners.json, schema/custom_fields.json                       what later objects need
    report/report.json, rejects.csv, warnings.csv, owner_queue.csv
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import weakref
from contextlib import asynccontextmanager
import logging
import os
import re
from collections import Counter
from dataclasses import replace
from typing import Any, Awaitable, Callable

from . import http as shared_http
from . import objects as catalogue_mod
from .dataverse import loader, schema
from .dataverse.client import DataverseClient, DataverseError
from .dataverse.keys import encode_key, in_filter
from .dataverse.settings import DataverseSettings
from .objects import ObjectSpec
from .problems import Problem, to_csv
from .run import RunConfig
from .sources import open_source
from .staging import Staging, open_staging, read_chunk, read_manifest, write_chunks
from .transform import CustomColumn, LookupTarget, TransformContext, Transformer

log = logging.getLogger("migration")

KEY_COLUMN_LENGTH = 100


# --------------------------------------------------------------------------- plumbing


def _run(payload: dict) -> RunConfig:
    return RunConfig.model_validate(payload["run"])


def _spec(run: RunConfig, name: str) -> ObjectSpec:
    return catalogue_mod.catalogue(run.source)[name]


def _staging(run: RunConfig) -> Staging:
    return open_staging(run.staging, prefix=run.prefix)


#: one open client per event loop and settings: activities that run at once in one worker share its
#: connection pool and, above all, its throttling state (adaptive concurrency, Retry-After pauses per
#: identity), instead of each pushing its own window against the same per-user limits
_CLIENTS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = weakref.WeakKeyDictionary()


@asynccontextmanager
async def _dataverse(run: RunConfig):
    # Identities, limits and the CA bundle come from the environment (app settings); the target
    # environment URL is the run's.
    settings = DataverseSettings.from_env(env={**os.environ, "DATAVERSE_URL": run.target})
    clients = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
    key = (settings.model_dump_json(), shared_http.transport_key(settings.url))
    client = clients.get(key)
    if client is None:
        client = clients[key] = DataverseClient(settings)
        await client.__aenter__()
    yield client


def _obj(spec: ObjectSpec, *parts: str) -> str:
    return "/".join(("objects", spec.name, *parts))


def _problems(items: list[dict] | None) -> list[Problem]:
    return [Problem.from_dict(p) for p in items or []]


# --------------------------------------------------------------------------- discovery


async def discover(payload: dict) -> dict:
    """Which of the catalogue's objects this source has, and the waves to load them in."""
    run = _run(payload)
    specs = catalogue_mod.catalogue(run.source)
    def look() -> dict[str, bool]:  # blocking: files or the tenant's WSDL
        source = open_source(run)
        return {name: source.has(spec) for name, spec in specs.items()}

    has = await asyncio.to_thread(look)
    present = [n for n in specs if has[n]]
    missing = [s.file for n, s in specs.items() if not has[n] and s.required]
    if missing:
        raise ValueError(f"the source lacks required files: {', '.join(missing)} (in {run.input})")
    if run.only:
        wanted: set[str] = set()
        stack = list(run.only)
        while stack:
            n = stack.pop()
            if n in wanted or n not in specs:
                continue
            wanted.add(n)
            stack.extend(specs[n].depends_on)
        present = [n for n in present if n in wanted]
    return {"objects": present, "waves": catalogue_mod.waves(specs, present)}


# --------------------------------------------------------------------------- schema


async def prepare_object(payload: dict) -> dict:
    """Make the object's tables ready: custom table, key column + alternate key, engine columns and
    lookups, placeholder rows, migration price lists, the currency map."""
    run = _run(payload)
    spec = _spec(run, payload["object"])
    if spec.pipeline != "records":
        return {"object": spec.name, "prepared": False}
    specs = catalogue_mod.catalogue(run.source)
    st = _staging(run)
    done: dict = {"object": spec.name, "prepared": True, "placeholders": []}
    async with _dataverse(run) as dv:
        await _ensure_custom_table(dv, spec)
        if spec.fallback_table and not await schema.table_exists(dv, spec.table):
            st.write_json(_obj(spec, "target.json"), {"table": spec.fallback_table})
            done["table"] = spec.fallback_table
            spec = replace(spec, table=spec.fallback_table, entity_set=catalogue_mod.entity_set(spec.fallback_table),
                           columns=())
        await _ensure_table_keys(dv, spec)
        for lk in spec.lookups:
            if lk.missing != "placeholder":
                continue
            for target in [specs[t] for t in dict.fromkeys(lk.targets)]:
                await _ensure_table_keys(dv, target)
                body = dict(target.placeholder or {"name": f"{target.source} placeholder"})
                table = loader.TableRef(target.table, target.entity_set, target.key_column)
                [outcome] = await loader.upsert_rows(dv, table, [{"key": target.placeholder_key, "body": body}])
                if outcome.status == "rejected":
                    raise RuntimeError(f"could not create the placeholder {target.table}: {outcome.code} "
                                       f"{outcome.message}")
                done["placeholders"].append({"table": target.table, "key": target.placeholder_key})
        if any(f.kind == "currency" for f in spec.fields):
            currencies = {c["isocurrencycode"].upper(): c["transactioncurrencyid"]
                          async for c in dv.get_all("transactioncurrencies",
                                                    select=["transactioncurrencyid", "isocurrencycode"])}
            st.write_json("currencies.json", currencies)
            if spec.price_lists:
                done["price_lists"] = await _ensure_price_lists(dv, spec, currencies)
    return done


async def _ensure_custom_table(dv: DataverseClient, spec: ObjectSpec) -> None:
    if spec.custom_table:
        schema_name, display, plural = spec.custom_table
        await schema.ensure_table(dv, schema_name, display, display_collection_name=plural,
                                  has_notes=True, has_activities=True)


def _effective(st: Staging, spec: ObjectSpec) -> ObjectSpec:
    """The object as prepared for this environment (its fallback table, if the table is missing)."""
    if spec.fallback_table and st.exists(_obj(spec, "target.json")):
        table = st.read_json(_obj(spec, "target.json"))["table"]
        return replace(spec, table=table, entity_set=catalogue_mod.entity_set(table), columns=())
    return spec


async def _ensure_price_lists(dv: DataverseClient, spec: ObjectSpec, currencies: dict[str, str]) -> int:
    """One migration price list per currency: invoices require a price list, WORKetc has none."""
    table = loader.TableRef("pricelevel", "pricelevels", spec.key_column)
    await _ensure_columns_and_key(dv, "pricelevel", spec.key_column, [])
    rows = [{"key": catalogue_mod.price_list_key(spec.source, iso), "body": {
        "name": f"{spec.source.upper() if len(spec.source) < 4 else spec.source.title()} migration ({iso})",
        "description": "Price list for migrated invoices (write-in lines); created by the migration.",
        "transactioncurrencyid@odata.bind": f"/transactioncurrencies({cid})"}} for iso, cid in currencies.items()]
    outcomes = await loader.upsert_rows(dv, table, rows)
    bad = [o for o in outcomes if o.status == "rejected"]
    if bad:
        raise RuntimeError(f"could not create the migration price lists: {bad[0].code} {bad[0].message}")
    return len(rows)


async def _ensure_table_keys(dv: DataverseClient, spec: ObjectSpec) -> None:
    for table in spec.tables:
        if table in catalogue_mod.ID_KEYED:
            continue
        engine = [c for c in spec.columns if c.table in (None, table)]
        await _ensure_columns_and_key(dv, table, spec.key_column, engine)


async def _ensure_columns_and_key(dv: DataverseClient, table: str, key_col: str, engine: list) -> None:
    cols = [schema.ColumnSpec(schema_name=key_col, type="String", label="Source id", max_length=KEY_COLUMN_LENGTH)]
    cols += [schema.ColumnSpec(schema_name=c.logical_name, type=c.type, label=c.label, max_length=c.max_length,
                               options=list(c.options), date_only=c.date_only)
             for c in engine if c.type != "Lookup"]
    await schema.ensure_columns(dv, table, cols)
    for c in engine:
        if c.type == "Lookup":
            await schema.ensure_lookup(dv, table, c.logical_name, c.target, c.label)
    await schema.ensure_alternate_key(dv, table, f"{key_col}_key", [key_col])


# --------------------------------------------------------------------------- extract


async def extract_object(payload: dict) -> dict:
    """Source -> staged chunks. Rows without a key, duplicate keys and malformed rows are rejected here."""
    run = _run(payload)
    spec = _spec(run, payload["object"])
    st = _staging(run)
    summary_name = _obj(spec, "extract.json")
    if st.exists(summary_name):
        return st.read_json(summary_name)

    rejects: list[Problem] = []
    seen: dict[str, int | None] = {}
    counts = Counter()
    key_fields = spec.key_field.split("+")

    def good_rows():
        for row in open_source(run).rows(spec):
            counts["source"] += 1
            key = ":".join((row.get(f) or "").strip() for f in key_fields)
            problem = None
            if row.get("_error"):
                problem = ("malformed_row", row["_error"], None)
            elif any(not (row.get(f) or "").strip() for f in key_fields):
                problem = ("missing_key", f"{spec.key_field} is empty", spec.key_field)
            elif key in seen:
                problem = ("duplicate_key", f"{spec.key_field} {key!r} already appeared in row {seen[key]}; "
                                            "this row was not migrated", spec.key_field)
            if problem:
                code, message, fld = problem
                rejects.append(Problem(spec.name, key or None, "extract", code, message,
                                       file=row.get("_file", spec.file), row=row.get("_row"), field=fld))
                continue
            seen[key] = row.get("_row")
            if len(key_fields) > 1:
                row[spec.key_field] = key
            yield row

    # Reading the source blocks (files, zeep): keep it off the event loop that other activities share.
    manifest = await asyncio.to_thread(write_chunks, st, _obj(spec, "extract"), good_rows(),
                                       object_name=spec.name, chunk_size=run.chunk_size)
    summary = {
        "object": spec.name,
        "source": counts["source"],
        "staged": manifest.records,
        "rejected": len(rejects),
        "rejects": [p.to_dict() for p in rejects],
        "chunks": [{"name": c.name, "records": c.records, "sha256": c.sha256} for c in manifest.chunks],
    }
    st.write_json(summary_name, summary)
    return {k: v for k, v in summary.items() if k != "rejects"}


# --------------------------------------------------------------------------- owners


async def resolve_owners(payload: dict) -> dict:
    """WORKetc users -> Dynamics 365 users by e-mail (``internalemailaddress``).

    The product never creates users: an administrator provisions them. A user with no active match
    goes to the reconciliation queue and the records they own get the run's default owner.
    """
    run = _run(payload)
    spec = _spec(run, payload["object"])
    st = _staging(run)
    if st.exists("owners.json"):
        return _owner_summary(st.read_json("owners.json"))
    async with _dataverse(run) as dv:
        active: dict[str, dict] = {}
        disabled: set[str] = set()
        async for u in dv.get_all("systemusers", select=["systemuserid", "internalemailaddress", "fullname",
                                                         "isdisabled"]):
            email = (u.get("internalemailaddress") or "").strip().lower()
            if not email:
                continue
            if u.get("isdisabled"):
                disabled.add(email)
            else:
                active[email] = {"id": u["systemuserid"], "fullname": u.get("fullname")}
    owners: dict[str, str] = {}
    queue: list[dict] = []
    problems: list[dict] = []
    matched = 0
    for chunk in read_manifest(st, _obj(spec, "extract")).chunks:
        for row in read_chunk(st, chunk.name, chunk.sha256):
            email = (row.get("Email") or "").strip().lower()
            hit = active.get(email)
            if hit:
                owners[email] = hit["id"]
                matched += 1
                continue
            why = ("the Dynamics 365 user with this e-mail is disabled" if email in disabled
                   else "no Dynamics 365 user has this e-mail as internalemailaddress")
            queue.append({"email": email or None, "name": row.get("Name"), "source_id": row.get("EntityID"),
                          "reason": why})
            problems.append(Problem(spec.name, row.get("EntityID"), "owners", "owner_not_provisioned",
                                    f"{why}; queued for the administrator, their records get the default owner",
                                    file=row.get("_file"), row=row.get("_row"), field="Email",
                                    value=email or None).to_dict())
    default_owner = None
    if run.default_owner_email:
        default_owner = active.get(run.default_owner_email.strip().lower(), {}).get("id")
        if default_owner is None:
            raise ValueError(f"the default owner {run.default_owner_email} is not an active Dynamics 365 user")
    doc = {"owners": owners, "default_owner": default_owner, "queue": queue, "problems": problems,
           "matched": matched}
    st.write_json("owners.json", doc)
    st.write_json(_obj(spec, "result.json"), {"loaded": matched, "problems": problems})
    return _owner_summary(doc)


def _owner_summary(doc: dict) -> dict:
    return {"matched": doc["matched"], "unmatched": len(doc["queue"])}


# --------------------------------------------------------------------------- custom fields

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
    run = _run(payload)
    spec = _spec(run, payload["object"])
    st = _staging(run)
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
    for chunk in read_manifest(st, _obj(spec, "extract")).chunks:
        for row in read_chunk(st, chunk.name, chunk.sha256):
            obj, label, ftype = (row.get("Object") or "").strip(), (row.get("Label") or "").strip(), row.get("Type")
            target = by_label.get(obj.casefold())

            def reject(code: str, message: str, fld: str, value=None):
                problems.append(Problem(spec.name, row.get(spec.key_field), "schema", code, message,
                                        file=row.get("_file"), row=row.get("_row"), field=fld, value=value))
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
    async with _dataverse(run) as dv:
        for table, items in planned.items():
            await _ensure_custom_table(dv, tables[table])  # projects' custom fields go on wtc_project
            await schema.ensure_columns(dv, table, [c for _, c in items])
            for meta, col in items:
                if meta["type"] == "Dropdown":
                    meta["options"] = await schema.picklist_options(dv, table, col.logical_name)
                columns.append(meta)
    doc = {"columns": columns, "problems": [p.to_dict() for p in problems]}
    st.write_json(out_name, doc)
    st.write_json(_obj(spec, "result.json"), {"loaded": len(columns), "problems": doc["problems"]})
    return {"deployed": len(columns), "rejected": len(problems)}


# --------------------------------------------------------------------------- configuration, inventories


def _staged_rows(st: Staging, spec: ObjectSpec) -> list[dict]:
    manifest = read_manifest(st, _obj(spec, "extract"))
    return [r for c in manifest.chunks for r in read_chunk(st, c.name, c.sha256)] if manifest else []


def _row_problems(spec: ObjectSpec, stage: str, rejects: list[tuple[dict, str, str, str]]) -> list[dict]:
    return [Problem(spec.name, row.get(spec.key_field), stage, code, message, file=row.get("_file"),
                    row=row.get("_row"), field=fld, value=row.get(fld)).to_dict()
            for row, fld, code, message in rejects]


def _once(st: Staging, spec: ObjectSpec, stage: str, make: Callable[[list[dict]], tuple[dict, list]]) -> dict:
    """Run a non-record object's work over its staged rows once; later calls read what it wrote."""
    name = _obj(spec, "result.json")
    if not st.exists(name):
        rows = _staged_rows(st, spec)
        extra, rejects = make(rows)
        st.write_json(name, {"loaded": len(rows) - len(rejects), **extra,
                             "problems": _row_problems(spec, stage, rejects)})
    return st.read_json(name)


async def build_config(payload: dict) -> dict:
    """A configuration object (e.g. project types and stage weights) -> a document later objects read."""
    run = _run(payload)
    spec = _spec(run, payload["object"])

    def make(rows: list[dict]) -> tuple[dict, list]:
        config, rejects = spec.configure(rows)
        return {"config": config}, rejects

    doc = _once(_staging(run), spec, "transform", make)
    return {"loaded": doc["loaded"], "rejected": len(doc["problems"])}


async def write_inventory(payload: dict) -> dict:
    """An object that is not migrated but inventoried (workflows): report files for the administrator."""
    run = _run(payload)
    spec = _spec(run, payload["object"])
    st = _staging(run)

    def make(rows: list[dict]) -> tuple[dict, list]:
        files, rejects = spec.inventory(rows)
        for fname, text in files.items():
            st.write_bytes(f"report/{fname}", text.encode("utf-8"))
        return {"files": sorted(files)}, rejects

    doc = _once(st, spec, "inventory", make)
    return {"loaded": doc["loaded"], "rejected": len(doc["problems"]), "files": doc["files"]}


# --------------------------------------------------------------------------- transform


def _transform_context(run: RunConfig, spec: ObjectSpec, st: Staging) -> TransformContext:
    specs = catalogue_mod.catalogue(run.source)
    owners_doc = st.read_json("owners.json") if st.exists("owners.json") else {"owners": {}, "default_owner": None}
    custom = []
    if st.exists("schema/custom_fields.json"):
        custom = [CustomColumn.from_dict(c) for c in st.read_json("schema/custom_fields.json")["columns"]]
    lookups = {}
    referenced = {t for lk in spec.lookups for t in lk.targets}
    referenced |= {d for d in spec.depends_on if specs[d].pipeline == "records"}  # what shape hooks may bind
    for name in referenced:
        target = specs[name]
        keys_name = _obj(target, "loaded_keys.json")
        loaded = set(st.read_json(keys_name)) if st.exists(keys_name) else set()
        lookups[name] = LookupTarget(target.table, target.entity_set, target.key_column, target.key_prefix, loaded)
    currencies = st.read_json("currencies.json") if any(f.kind == "currency" for f in spec.fields) else {}
    config = {name: st.read_json(_obj(specs[name], "result.json"))["config"] for name in spec.uses_config
              if st.exists(_obj(specs[name], "result.json"))}
    return TransformContext(owners=owners_doc["owners"], default_owner=owners_doc["default_owner"],
                            lookup_targets=lookups, custom_columns=custom, date_order=run.date_order,
                            timezone=run.timezone, currencies=currencies, config=config)


async def transform_chunk(payload: dict) -> dict:
    """One staged chunk of source rows -> one chunk of load rows, plus rejects and warnings."""
    run = _run(payload)
    spec = _spec(run, payload["object"])
    st = _staging(run)
    chunk = payload["chunk"]
    part = chunk["name"].rsplit("/", 1)[-1].split(".")[0]
    summary_name = _obj(spec, "transform", f"{part}.json")
    if st.exists(summary_name):
        s = st.read_json(summary_name)
        return {k: s[k] for k in ("chunk", "rows", "rejected", "warnings")}
    spec = _effective(st, spec)
    t = Transformer(spec, _transform_context(run, spec, st))
    rows, rejects, warnings, owners = [], [], [], Counter()
    for src in read_chunk(st, chunk["name"], chunk.get("sha256")):
        o = t.row(src)
        warnings += o.warnings
        if o.unmatched_owner:
            owners[o.unmatched_owner] += 1
        if o.reject:
            rejects.append(o.reject)
        else:
            rows.append(o.row)
    manifest = write_chunks(st, _obj(spec, "transform", part), rows, object_name=spec.name,
                            chunk_size=max(len(rows), 1))
    out = manifest.chunks[0] if manifest.chunks else None
    summary = {
        "chunk": {"name": out.name, "records": out.records, "sha256": out.sha256} if out else None,
        "rows": len(rows), "rejected": len(rejects), "warnings": len(warnings),
        "rejects": [p.to_dict() for p in rejects], "warning_rows": [p.to_dict() for p in warnings],
        "unmatched_owners": dict(owners),
    }
    st.write_json(summary_name, summary)
    return {k: summary[k] for k in ("chunk", "rows", "rejected", "warnings")}


# --------------------------------------------------------------------------- load


async def load_chunk(payload: dict) -> dict:
    """Upsert one transformed chunk into Dataverse; every row gets exactly one outcome.

    Rows go to their table (one, or one per row for routed objects), by alternate key or, for tables
    that cannot have one, by a GUID derived from the source id. Rows that carry a close instruction
    (won/lost deals, resolved tickets) are then closed the Dataverse way, unless already closed.
    """
    run = _run(payload)
    spec = _spec(run, payload["object"])
    st = _staging(run)
    chunk = payload["chunk"]
    part = chunk["name"].split("/transform/")[-1].split("/")[0]  # objects/x/transform/part-NNNNN/...
    result_name = _obj(spec, "load", f"{part}.json")
    if st.exists(result_name):
        return _load_summary(st.read_json(result_name))
    spec = _effective(st, spec)
    rows = read_chunk(st, chunk["name"], chunk.get("sha256"))
    outcomes: list = [None] * len(rows)
    warnings: list[dict] = []
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r.get("table") or spec.table, []).append(i)
    async with _dataverse(run) as dv:
        for table, idx in groups.items():
            ref = loader.TableRef(table, catalogue_mod.entity_set(table), catalogue_mod.key_column(spec, table))
            if spec.close:
                # Closed records (won/lost deals, resolved cases) are read-only in Dataverse: a rerun
                # leaves them as they are and says so.
                closed = await _closed_records(dv, ref, [rows[i]["key"] for i in idx])
                for i in idx:
                    if rows[i]["key"] in closed:
                        outcomes[i] = loader.RowOutcome(rows[i]["key"], "unchanged", None,
                                                        "already closed in Dataverse; not updated",
                                                        closed[rows[i]["key"]])
                idx = [i for i in idx if outcomes[i] is None]
            for i, o in zip(idx, await loader.upsert_rows(dv, ref, [rows[i] for i in idx])):
                outcomes[i] = o
            closing = [(rows[i], outcomes[i]) for i in idx if rows[i].get("close") and outcomes[i].status != "rejected"]
            if closing:
                warnings += await _close_records(dv, spec, ref, closing)
    if any(o is None for o in outcomes):
        raise RuntimeError(f"{spec.name} {part}: a row got no outcome")
    doc = {"outcomes": [{"key": r.get("source_key", r["key"]), "status": o.status, "code": o.code,
                         "message": o.message, "id": o.id, "row": r.get("row"), "table": r.get("table")}
                        for r, o in zip(rows, outcomes)],
           "warnings": warnings}
    st.write_json(result_name, doc)
    return _load_summary(doc)


async def _closed_records(dv: DataverseClient, ref: loader.TableRef, keys: list[str]) -> dict[str, str]:
    """Source key -> id of the records among ``keys`` that exist and are no longer open."""
    closed: dict[str, str] = {}
    encoded = {encode_key(k): k for k in keys}
    enc = list(encoded)
    for i in range(0, len(enc), 200):
        flt = f"{in_filter(ref.key_column, enc[i:i + 200])} and statecode ne 0"
        async for rec in dv.get_all(ref.entity_set, select=[ref.primary_id, ref.key_column], filter=flt):
            closed[encoded[rec[ref.key_column]]] = rec[ref.primary_id]
    return closed


async def _close_records(dv: DataverseClient, spec: ObjectSpec, ref: loader.TableRef,
                         closing: list[tuple[dict, Any]]) -> list[dict]:
    """Win/lose opportunities, resolve cases: actions, because Dataverse refuses statecode in an update.

    Idempotent: records that are already closed are left alone. A record that cannot be closed stays
    loaded (open) and gets a warning naming the Dataverse error."""
    warnings = []
    ids = [o.id for _, o in closing if o.id]
    state: dict[str, int] = {}
    for i in range(0, len(ids), 200):
        flt = in_filter(ref.primary_id, ids[i:i + 200])
        async for rec in dv.get_all(ref.entity_set, select=[ref.primary_id, "statecode"], filter=flt):
            state[rec[ref.primary_id]] = rec.get("statecode")
    for row, o in closing:
        if not o.id or state.get(o.id, 0) != 0:
            continue
        action, params = row["close"]["action"], json.loads(json.dumps(row["close"]["params"]))
        params[spec.close.activity][f"{spec.close.bind}@odata.bind"] = f"/{ref.entity_set}({o.id})"
        try:
            await dv.execute_action(action, params)
        except DataverseError as e:
            warnings.append(Problem(spec.name, row.get("source_key", row["key"]), "load", e.code or "close_failed",
                                    f"loaded, but {action} failed: {e.message}; the record is still open",
                                    file=spec.file, row=row.get("row")).to_dict())
    return warnings


def _load_summary(doc: dict) -> dict:
    c = Counter(o["status"] for o in doc["outcomes"])
    return {"created": c["created"], "updated": c["updated"], "unchanged": c["unchanged"], "rejected": c["rejected"]}


# --------------------------------------------------------------------------- reconcile


async def reconcile_object(payload: dict) -> dict:
    """Count what happened to every source row of one object: source == loaded + rejected."""
    run = _run(payload)
    spec = _spec(run, payload["object"])
    st = _staging(run)
    extract = st.read_json(_obj(spec, "extract.json"))
    rejects = _problems(extract.get("rejects"))
    warnings: list[Problem] = []
    created = updated = unchanged = 0
    loaded_keys: list[str] = []
    unmatched = Counter()
    staged = extract["staged"]

    if spec.pipeline == "records":
        for chunk in extract["chunks"]:
            part = chunk["name"].rsplit("/", 1)[-1].split(".")[0]
            t = st.read_json(_obj(spec, "transform", f"{part}.json"))
            rejects += _problems(t["rejects"])
            warnings += _problems(t["warning_rows"])
            unmatched.update(t.get("unmatched_owners") or {})
            if not t["chunk"]:
                continue
            loaded_doc = st.read_json(_obj(spec, "load", f"{part}.json"))
            warnings += _problems(loaded_doc.get("warnings"))
            for o in loaded_doc["outcomes"]:
                if o["status"] == "rejected":
                    rejects.append(Problem(spec.name, o["key"], "load", o["code"] or "rejected",
                                           o["message"] or "", file=spec.file, row=o.get("row")))
                else:
                    created += o["status"] == "created"
                    updated += o["status"] == "updated"
                    unchanged += o["status"] == "unchanged"
                    loaded_keys.append(o["key"])
        loaded = created + updated + unchanged
    else:  # owners, custom fields, configuration, inventories: their step wrote result.json
        doc = st.read_json(_obj(spec, "result.json"))
        rejects += _problems(doc["problems"])
        loaded = doc["loaded"]

    tables = ", ".join(_effective(st, spec).tables)
    report = {
        "object": spec.name, "table": tables or None, "source": extract["source"], "staged": staged,
        "loaded": loaded, "created": created, "updated": updated, "unchanged": unchanged, "rejected": len(rejects),
        "warnings": len(warnings), "unmatched_owners": dict(unmatched),
    }
    report["balanced"] = report["source"] == report["loaded"] + report["rejected"]
    st.write_json(_obj(spec, "loaded_keys.json"), loaded_keys)
    st.write_json(_obj(spec, "problems.json"), {"rejects": [p.to_dict() for p in rejects],
                                                "warnings": [p.to_dict() for p in warnings]})
    st.write_json(_obj(spec, "report.json"), report)
    if not report["balanced"]:
        log.error("reconciliation does not balance", extra={"report": report})
    return report


# --------------------------------------------------------------------------- final report


async def final_report(payload: dict) -> dict:
    """Gather the objects' reconciliations into report.json, rejects.csv, warnings.csv, owner_queue.csv."""
    run = _run(payload)
    st = _staging(run)
    specs = catalogue_mod.catalogue(run.source)
    reports, rejects, warnings = [], [], []
    for name in payload["objects"]:
        spec = specs[name]
        reports.append(st.read_json(_obj(spec, "report.json")))
        probs = st.read_json(_obj(spec, "problems.json"))
        rejects += probs["rejects"]
        warnings += probs["warnings"]
    queue = _owner_queue(st, reports)
    balanced = all(r["balanced"] for r in reports)
    counts = ("source", "loaded", "created", "updated", "unchanged", "rejected", "warnings")
    files = ["report.json", "rejects.csv", "warnings.csv", "owner_queue.csv"]
    for name in payload["objects"]:
        spec = specs[name]
        if spec.listing:
            fname, columns = spec.listing
            st.write_bytes(f"report/{fname}", _csv(columns, _staged_rows(st, spec)).encode("utf-8"))
            files.append(fname)
        if spec.pipeline == "inventory":
            files += st.read_json(_obj(spec, "result.json"))["files"]
    report = {
        "run_id": run.run_id,
        "status": "completed" if balanced else "unbalanced",
        "source": run.source,
        "target": run.target,
        "objects": [{"object": r["object"], "table": r["table"], **{k: r.get(k, 0) for k in counts},
                     **({"notes": list(specs[r["object"]].notes)} if specs[r["object"]].notes else {})}
                    for r in reports],
        "totals": {k: sum(r.get(k, 0) for r in reports) for k in counts},
        "owner_queue": len(queue),
        "files": files,
    }
    st.write_json("report/report.json", report)
    st.write_bytes("report/rejects.csv", to_csv(rejects).encode("utf-8"))
    st.write_bytes("report/warnings.csv", to_csv(warnings).encode("utf-8"))
    st.write_bytes("report/owner_queue.csv", _csv(["email", "name", "records", "objects", "reason"], queue).encode("utf-8"))
    return {"status": report["status"], "report": "report/report.json", "totals": report["totals"]}


def _owner_queue(st: Staging, reports: list[dict]) -> list[dict]:
    """Every owner e-mail without an active Dynamics 365 user, with how many records it owns."""
    queue: dict[str, dict] = {}
    if st.exists("owners.json"):
        for q in st.read_json("owners.json")["queue"]:
            if q["email"]:
                queue[q["email"]] = {"email": q["email"], "name": q.get("name"), "reason": q["reason"], "records": 0,
                                     "objects": ""}
    for r in reports:
        for email, n in (r.get("unmatched_owners") or {}).items():
            q = queue.setdefault(email, {"email": email, "name": None, "records": 0, "objects": "",
                                         "reason": "not in the source's user list and no Dynamics 365 user"})
            q["records"] += n
            q["objects"] = ",".join(filter(None, [q["objects"], r["object"]]))
    return sorted(queue.values(), key=lambda q: (-q["records"], q["email"]))


def _csv(columns: tuple[str, ...] | list[str], rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows({c: "" if r.get(c) is None else r.get(c) for c in columns} for r in rows)
    return buf.getvalue()


async def transfer_documents(payload: dict) -> dict:
    """Documents and files: one transformed chunk -> SharePoint + sharepointdocumentlocation rows."""
    from .documents import transfer_documents as transfer

    return await transfer(payload)


# --------------------------------------------------------------------------- registry

Step = Callable[[dict], Awaitable[dict]]

#: activity name -> step. ``activities/`` registers one thin Azure Functions wrapper per entry;
#: the local driver calls these directly.
STEPS: dict[str, Step] = {
    "discover": discover,
    "prepare_object": prepare_object,
    "extract_object": extract_object,
    "resolve_owners": resolve_owners,
    "deploy_custom_fields": deploy_custom_fields,
    "build_config": build_config,
    "write_inventory": write_inventory,
    "transform_chunk": transform_chunk,
    "load_chunk": load_chunk,
    "reconcile_object": reconcile_object,
    "final_report": final_report,
    "transfer_documents": transfer_documents,
}
