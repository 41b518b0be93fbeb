"""Transform: one staged chunk of source rows -> one chunk of load rows, plus rejects and warnings.

The object is shaped as the approved column map says (``approved_spec``: mapping/approved.yaml) when one
is approved, else as the catalogue declares it. A column the approved map does not list stops the run
rather than being left behind unseen: the export changed since the map was proposed."""

from __future__ import annotations

from collections import Counter

from .. import objects as catalogue_mod
from ..errors import InputError
from ..mapping import ObjectMapping
from ..objects import ObjectSpec
from ..run import RunConfig
from ..staging import Staging, read_chunk, write_chunks
from ..transform import CustomColumn, LookupTarget, TransformContext, Transformer
from .common import (approved_mapping, approved_spec, effective_spec, obj_path, run_config, spec_of,
                     staging_for)



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
        keys_name = obj_path(target, "loaded_keys.json")
        loaded = set(st.read_json(keys_name)) if st.exists(keys_name) else set()
        lookups[name] = LookupTarget(target.table, target.entity_set, target.key_column, target.key_prefix, loaded)
    currencies = st.read_json("currencies.json") if any(f.kind == "currency" for f in spec.fields) else {}
    config = {name: st.read_json(obj_path(specs[name], "result.json"))["config"] for name in spec.uses_config
              if st.exists(obj_path(specs[name], "result.json"))}
    return TransformContext(owners=owners_doc["owners"], default_owner=owners_doc["default_owner"],
                            lookup_targets=lookups, custom_columns=custom, date_order=run.date_order,
                            timezone=run.timezone, currencies=currencies, config=config)


def _check_listed(spec: ObjectSpec, mapping: ObjectMapping, rows: list[dict]) -> None:
    """Every column that holds a value has an entry in the approved map (even if only ``skip``)."""
    listed = {e.source.casefold() for e in mapping.entries}
    unlisted = sorted({k for r in rows for k, v in r.items()
                       if not k.startswith("_") and v not in (None, "") and k.casefold() not in listed})
    if unlisted:
        raise InputError(f"{spec.file}: the column(s) {', '.join(map(repr, unlisted))} hold values, but the approved "
                         "map lists no entry for them (the source changed since the map was proposed): propose the "
                         "map again, or add them (kind skip leaves a column behind), and approve it")


async def transform_chunk(payload: dict) -> dict:
    """One staged chunk of source rows -> one chunk of load rows, plus rejects and warnings."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    chunk = payload["chunk"]
    part = chunk["name"].rsplit("/", 1)[-1].split(".")[0]
    summary_name = obj_path(spec, "transform", f"{part}.json")
    if st.exists(summary_name):
        s = st.read_json(summary_name)
        return {k: s[k] for k in ("chunk", "rows", "rejected", "warnings")}
    mapping = approved_mapping(st, spec)
    spec = effective_spec(st, approved_spec(st, spec))
    t = Transformer(spec, _transform_context(run, spec, st))
    rows, rejects, warnings, owners = [], [], [], Counter()
    source_rows = read_chunk(st, chunk["name"], chunk.get("sha256"))
    if mapping is not None:
        _check_listed(spec, mapping, source_rows)
    for src in source_rows:
        o = t.row(src)
        warnings += o.warnings
        if o.unmatched_owner:
            owners[o.unmatched_owner] += 1
        if o.reject:
            rejects.append(o.reject)
        else:
            rows.append(o.row)
    manifest = write_chunks(st, obj_path(spec, "transform", part), rows, object_name=spec.name,
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
