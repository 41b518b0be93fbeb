"""The field map as the contract: profile the source, read the target, propose ``mapping.yaml``, and
accept an approval only for the map a person saw.

Nothing here writes to Dataverse: discovery and the proposal only read (records, metadata), so a run
that is never approved has moved nothing. Staging, under the run's prefix::

    mapping/profiles.json      what each source column holds (kinds, fill rate, top values, samples)
    mapping/metadata.json      the target tables' columns as Dataverse describes them (+ the engine's own)
    mapping/existing_schema.json  which of the engine's own columns and keys the environment already has
    mapping/proposed.yaml      the proposal (also report/mapping.yaml and report/review.html)
    mapping/submitted/<h>.yaml an edited map a person submitted (validated before it is stored)
    mapping/approved.yaml      the map the transform applies, once approved
    mapping/approval.json      {"hash", "by", "at"}: who approved which map
    mapping/owner_records.json owner e-mail -> object -> records (the owner gate's queue)
    mapping/scope.json         the scope document's data (also report/scope.md)

The map quotes source values (samples, top values): it is customer data and stays in staging and the
report folder. Orchestrations carry its hash and blob names only.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from .. import objects as catalogue_mod
from ..mapping import (MappingFile, TableProfile, TargetColumn, TargetTable, check_text, defaults_from_spec, dump,
                       mappable, profile_rows, propose)
from ..dataverse.client import DataverseError
from ..mapping.review import render_review
from ..objects import ObjectSpec
from ..sources import open_source
from ..staging import Staging
from .scope import scope, scope_markdown
from .common import APPROVAL, APPROVED_MAP, KEY_COLUMN_LENGTH, dataverse, run_config, staging_for

PROFILES = "mapping/profiles.json"
METADATA = "mapping/metadata.json"
PROPOSED = "mapping/proposed.yaml"
SUMMARY = "mapping/proposal.json"
OWNER_RECORDS = "mapping/owner_records.json"
SCOPE = "mapping/scope.json"
EXISTING = "mapping/existing_schema.json"


def submitted_name(content_hash: str) -> str:
    return f"mapping/submitted/{content_hash.removeprefix('sha256:')}.yaml"


# ------------------------------------------------------------------------------------------ propose


async def propose_map(payload: dict) -> dict:
    """Profile every mappable object of the plan, read its table's metadata, write the proposal.

    ``payload``: ``{"run", "objects": [names discovery found]}``. Returns the proposal's hash and counts.
    """
    run = run_config(payload)
    st = staging_for(run)
    if st.exists(SUMMARY):
        return st.read_json(SUMMARY)
    specs = catalogue_mod.catalogue(run.source)
    present = [specs[n] for n in payload["objects"]]
    chosen = [s for s in present if mappable(s)]

    owners: dict[str, dict[str, int]] = {}  # owner e-mail -> object -> records: the owner gate's queue

    def counted(spec: ObjectSpec, rows):
        for row in rows:
            if spec.owner_field:
                email = (row.get(spec.owner_field) or "").strip().lower()
                if email:
                    per = owners.setdefault(email, {})
                    per[spec.name] = per.get(spec.name, 0) + 1
            yield row

    def profile_all() -> dict[str, tuple[TableProfile, tuple[str, ...]]]:  # blocking: reads the source
        source = open_source(run)
        return {s.name: (profile_rows(counted(s, source.rows(s))), tuple(source.contract(s))) for s in present}

    profiled = await asyncio.to_thread(profile_all)
    st.write_json(OWNER_RECORDS, owners)
    tables: dict[str, TargetTable] = {}
    keys: dict[str, list[str]] = {}
    async with dataverse(run) as dv:
        for spec in chosen:
            for table in spec.tables:
                if table not in tables:
                    tables[table] = await read_table(dv, table)
                    keys[table] = await read_keys(dv, table) if tables[table].columns else []
    # what of the engine's own schema this environment already has (a rerun, or a sandbox run before)
    existing = {t: {"columns": sorted(c.logical_name for c in tables[t].columns
                                      if c.logical_name.startswith(_prefixes(chosen))),
                    "keys": keys[t]} for t in tables}
    for spec in chosen:  # what the engine creates before loading counts as there
        for table in spec.tables:
            tables[table] = with_engine_columns(tables[table], spec, table)
    items = [(defaults_from_spec(s, contract=profiled[s.name][1]), profiled[s.name][0]) for s in chosen]
    mapping = propose(run.source, items, tables)
    profiles = {name: p for name, (p, _) in profiled.items()}
    text = dump(mapping, profiles)
    st.write_json(PROFILES, {name: p.to_dict() for name, p in profiles.items()})
    st.write_json(METADATA, {name: t.to_dict() for name, t in tables.items()})
    st.write_json(EXISTING, existing)
    st.write_bytes(PROPOSED, text.encode("utf-8"))
    st.write_bytes("report/mapping.yaml", text.encode("utf-8"))
    queue = [{"email": e, "records": per} for e, per in sorted(owners.items())]
    doc = scope(run.source, specs, {n: "present" for n in payload["objects"]}, profiles, mapping)
    st.write_json(SCOPE, doc)
    st.write_bytes("report/scope.md", scope_markdown(doc, run.run_id).encode("utf-8"))
    page = render_review(mapping, profiles, run_id=run.run_id, map_hash=mapping.content_hash(), owner_queue=None,
                         scope={"source": f"{run.source} ({doc['access']})",
                                "edition": f"{doc['edition']['recommended']}: {doc['edition']['why']}",
                                "custom tables": doc["custom_tables"] or "none",
                                "owners named by records": len(queue), "scope document": "scope.md"})
    st.write_bytes("report/review.html", page.encode("utf-8"))
    summary = {"hash": mapping.content_hash(), "map": "report/mapping.yaml", "review": "report/review.html",
               **counts(mapping)}
    st.write_json(SUMMARY, summary)
    return summary


def counts(mapping: MappingFile) -> dict[str, int]:
    entries = [e for o in mapping.objects for e in o.entries]
    return {"objects": len(mapping.objects), "columns": len(entries),
            "unsure": sum(e.label == "unsure" and not e.read_only and e.kind != "skip" for e in entries),
            "custom": sum(e.custom is not None for e in entries),
            "lossy": sum(v.lossy for e in entries for v in e.values)}


async def read_table(dv, table: str) -> TargetTable:
    """A table's columns as Dataverse's metadata describes them; an absent table (one the engine creates)
    has none. Option labels come from the typed casts, as the Web API documents:
    https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api#retrieving-attributes
    """
    base = f"EntityDefinitions(LogicalName='{table}')/Attributes"
    try:
        attributes = (await dv.get_json(base))["value"]
    except DataverseError as e:
        if e.status == 404:  # a table the run creates (a custom table): it has only what the engine adds
            return TargetTable(table, ())
        raise
    for cast in ("PicklistAttributeMetadata", "BooleanAttributeMetadata", "MultiSelectPicklistAttributeMetadata",
                 "StatusAttributeMetadata"):
        answer = await dv.get_json(f"{base}/Microsoft.Dynamics.CRM.{cast}",
                                   params={"$select": "LogicalName", "$expand": "OptionSet"})
        attributes += answer["value"]
    return TargetTable.from_attributes(table, attributes)


async def read_keys(dv, table: str) -> list[str]:
    """The alternate keys a table already has (schema names), e.g. from an earlier run."""
    answer = await dv.get_json(f"EntityDefinitions(LogicalName='{table}')/Keys", params={"$select": "SchemaName"})
    return sorted(k["SchemaName"] for k in answer["value"])


def _prefixes(specs: list[ObjectSpec]) -> tuple[str, ...]:
    """The publisher prefixes of the engine's own columns (``wtc_``): the key columns name them."""
    return tuple(sorted({s.key_column.split("_")[0] + "_" for s in specs}))


def with_engine_columns(table: TargetTable, spec: ObjectSpec, logical_name: str) -> TargetTable:
    """The table as it will be when the load starts: plus the key column and the engine's own columns,
    which prepare creates after approval."""
    have = {c.logical_name for c in table.columns}
    extra = [TargetColumn(spec.key_column, "String", max_length=KEY_COLUMN_LENGTH, custom=True)]
    if spec.custom_table and spec.custom_table[0].lower() == logical_name:  # the table prepare creates
        # with its primary name column, as schema.ensure_table makes it (<prefix>_name, 200 characters)
        extra.append(TargetColumn(f"{logical_name.split('_', 1)[0]}_name", "String", max_length=200,
                                  required="ApplicationRequired", custom=True, primary_name=True))
    for c in spec.columns:
        if c.table in (None, logical_name):
            extra.append(TargetColumn(c.logical_name, c.type, max_length=c.max_length, options=tuple(c.options),
                                      format="DateOnly" if c.date_only else None,
                                      targets=(c.target,) if c.target else (), custom=True))
    return TargetTable(logical_name, table.columns + tuple(c for c in extra if c.logical_name not in have))


# ------------------------------------------------------------------------------------------ approve


def tables_of(st: Staging) -> dict[str, TargetTable]:
    return {name: TargetTable.from_dict(d) for name, d in st.read_json(METADATA).items()}


def submit_map(st: Staging, text: str, *, file: str = "mapping.yaml") -> tuple[str | None, list[str]]:
    """An edited map from a person (CLI ``--approve FILE``, ``POST .../approve``): validated against the
    target's metadata, stored under its hash. Returns ``(hash, [])`` or ``(None, errors)``, one line each
    naming the object, the line of the file and the fix."""
    if not st.exists(METADATA):
        return None, ["the run has not proposed a map yet: wait until its status is awaiting_map_approval"]
    mapping, errors = check_text(text, tables_of(st), file=file)
    if errors or mapping is None:
        return None, [str(e) for e in errors]
    proposed = _load(st, PROPOSED)
    if proposed is not None and mapping.source != proposed.source:
        return None, [f"{file}: the map is for source {mapping.source!r}, this run migrates {proposed.source!r}"]
    h = mapping.content_hash()
    st.write_bytes(submitted_name(h), text.encode("utf-8"))
    return h, []


def _load(st: Staging, name: str) -> MappingFile | None:
    if not st.exists(name):
        return None
    mapping, _ = check_text(st.read_bytes(name).decode("utf-8"), {})
    return mapping


async def approve_map(payload: dict) -> dict:
    """Record an approval of the map with ``payload["hash"]``, if the run holds a valid map with that hash
    (the proposal, or a map submitted for this run); else refuse and say why. Idempotent."""
    run = run_config(payload)
    st = staging_for(run)
    wanted, by = payload.get("hash"), payload.get("by") or "approver"
    if st.exists(APPROVAL):  # the run passed its gate before (a replay, a resumed run): one approval per run
        return {"approved": True, "hash": st.read_json(APPROVAL)["hash"]}
    proposed_hash = st.read_json(SUMMARY)["hash"]
    candidates = [PROPOSED] + ([submitted_name(wanted)] if isinstance(wanted, str) and wanted else [])
    for name in candidates:
        if not st.exists(name):
            continue
        text = st.read_bytes(name).decode("utf-8")
        mapping, errors = check_text(text, tables_of(st))
        if mapping is None or mapping.content_hash() != wanted:
            continue
        if errors:
            return {"approved": False, "reason": "; ".join(str(e) for e in errors[:3])}
        st.write_bytes(APPROVED_MAP, text.encode("utf-8"))
        st.write_bytes("report/mapping.yaml", text.encode("utf-8"))
        st.write_json(APPROVAL, {"hash": wanted, "by": by, "at": datetime.now(timezone.utc).isoformat(),
                                 "edited": wanted != proposed_hash})
        return {"approved": True, "hash": wanted}
    return {"approved": False,
            "reason": f"no map with hash {wanted} was proposed or submitted for this run (the proposal's hash is "
                      f"{proposed_hash}): approve that hash, or submit the edited map with the approval"}

