"""Load: one transformed chunk -> Dataverse, every row with exactly one outcome; closes by action."""

from __future__ import annotations

import json
from typing import Any

from .. import objects as catalogue_mod
from ..dataverse import loader
from ..dataverse.client import DataverseClient, DataverseError
from ..dataverse.keys import encode_key, in_filter
from ..objects import ObjectSpec
from ..problems import Problem
from ..staging import read_chunk
from .common import (dataverse, effective_spec, load_summary, obj_path, run_config,
                     spec_of, staging_for)



async def load_chunk(payload: dict) -> dict:
    """Upsert one transformed chunk into Dataverse; every row gets exactly one outcome.

    Rows go to their table (one, or one per row for routed objects), by alternate key or, for tables
    that cannot have one, by a GUID derived from the source id. Rows that carry a close instruction
    (won/lost deals, resolved tickets) are then closed the Dataverse way, unless already closed.
    """
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    chunk = payload["chunk"]
    part = chunk["name"].split("/transform/")[-1].split("/")[0]  # objects/x/transform/part-NNNNN/...
    result_name = obj_path(spec, "load", f"{part}.json")
    if st.exists(result_name):
        return load_summary(st.read_json(result_name))
    spec = effective_spec(st, spec)
    rows = read_chunk(st, chunk["name"], chunk.get("sha256"))
    outcomes: list = [None] * len(rows)
    warnings: list[dict] = []
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r.get("table") or spec.table, []).append(i)
    async with dataverse(run) as dv:
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
    return load_summary(doc)


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
