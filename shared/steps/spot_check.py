"""Spot check: read a random sample of loaded records back from Dataverse and compare them, field by
field, with what the engine sent.

Reconciliation proves every record is accounted for; this shows a person that what arrived is what was
meant (and catches what changed behind the engine's back: a plug-in, a workflow, a person). Per object
that loaded records, ``per_object`` of them (25 to 50) are drawn at random, seeded by the run id and the
object so a rerun draws the same ones; their transformed rows (``objects/<name>/transform/``) say what
was sent, their staged source rows what the source said, and one ``In`` query by alternate key per
table reads what Dataverse holds now. The result is ``report/spotcheck.xlsx`` and
``report/spotcheck.csv`` (:mod:`shared.spotcheck`); the step returns counts only.

How values compare:
- plain columns: equal as values (:func:`.readback.same`: numbers numerically, date-times as instants,
  text exactly);
- lookups are compared, not skipped: the value sent binds a source id (``/accounts(wtc_sourceid='7')``)
  or a GUID (owners, currencies); the value found is the lookup's GUID (``_<column>_value``, the column
  found as :func:`.readback.lookup_column` says), which is resolved to the source id of the record it
  points at by reading that record's key column. A navigation property whose column cannot be found
  that way is listed as "lookup: not compared" with the reason;
- collections (an e-mail's activity parties) are rows of their own table, listed as not compared.
"""

from __future__ import annotations

import io
import random
from typing import Any

from .. import objects as catalogue_mod
from ..dataverse import loader, schema
from ..dataverse.client import DataverseClient
from ..dataverse.keys import decode_key, encode_key, in_filter
from ..errors import SettingsError
from ..objects import ObjectSpec
from ..sources.ids import id_fold
from ..spotcheck import SpotRow, write_sheet
from ..staging import Staging, read_chunk, read_manifest
from ..transform import CustomColumn
from .common import dataverse, effective_spec, obj_path, run_config, staging_for
from .readback import binds as _binds, bound as _bound, lookup_column, same as _same, table_of_set

PER_OBJECT = range(25, 51)
IN_CHUNK = 50  # values per In(...) query (URLs stay short whatever the keys)
XLSX, CSV = "report/spotcheck.xlsx", "report/spotcheck.csv"


async def spot_check(payload: dict) -> dict:
    """``payload``: ``{"run", "objects": [names], "per_object": 25..50}`` -> ``{"records", "fields",
    "different", "not_compared", "missing"}`` (counts only: the values stay in staging)."""
    run = run_config(payload)
    n = payload.get("per_object", PER_OBJECT.start)
    if not isinstance(n, int) or n not in PER_OBJECT:
        raise SettingsError(f"spot check: per_object {n!r} is not a whole number from {PER_OBJECT.start} to "
                            f"{PER_OBJECT.stop - 1}; give how many loaded records to check per object")
    st = staging_for(run)
    specs = catalogue_mod.catalogue(run.source)
    sets = table_of_set(specs)
    rows: list[SpotRow] = []
    missing = 0
    async with dataverse(run) as dv:
        for name in payload["objects"]:
            spec = specs[name]
            keys_name = obj_path(spec, "loaded_keys.json")
            if spec.pipeline != "records" or spec.load_activity != "load_chunk" or not st.exists(keys_name):
                continue  # documents are checked by hash as they transfer; other pipelines load no rows
            loaded = sorted(st.read_json(keys_name))
            if not loaded:
                continue
            chosen = set(random.Random(f"{run.run_id}/{spec.name}").sample(loaded, min(n, len(loaded))))
            spec = effective_spec(st, spec)
            sent, source = _sampled(st, spec, chosen)
            got, n_missing = await _Checker(dv, spec, specs, sets, _custom_columns(st, spec)).rows(sent, source)
            rows += got
            rows += [SpotRow(spec.name, key, "", "", None, None, "not compared: its transformed row is not in staging",
                             None) for key in sorted(chosen - set(sent))]  # listed, never silently left out
            missing += n_missing
    xlsx, csv_out = io.BytesIO(), io.BytesIO()
    counts = write_sheet(rows, xlsx, csv_out)
    st.write_bytes(XLSX, xlsx.getvalue())
    st.write_bytes(CSV, csv_out.getvalue())
    return {**counts, "missing": missing}


def _sampled(st: Staging, spec: ObjectSpec, chosen: set[str]) -> tuple[dict[str, dict], dict[str, dict]]:
    """The transformed rows (what was sent) and the staged source rows of the chosen keys, a chunk at a time."""
    sent: dict[str, dict] = {}
    extract = st.read_json(obj_path(spec, "extract.json"))
    for chunk in extract["chunks"]:
        part = chunk["name"].rsplit("/", 1)[-1].split(".")[0]
        out = st.read_json(obj_path(spec, "transform", f"{part}.json"))["chunk"]
        for r in read_chunk(st, out["name"], out.get("sha256")) if out else ():
            if r.get("source_key", r["key"]) in chosen:
                sent[r.get("source_key", r["key"])] = r
    source: dict[str, dict] = {}
    manifest = read_manifest(st, obj_path(spec, "extract"))
    for c in manifest.chunks if manifest else ():
        for r in read_chunk(st, c.name, c.sha256):
            key = f"{spec.key_prefix}{r.get(spec.key_field)}"
            if key in sent:
                source[key] = r
    return sent, source


def _custom_columns(st: Staging, spec: ObjectSpec) -> list[CustomColumn]:
    if not st.exists("schema/custom_fields.json"):
        return []
    return [c for c in map(CustomColumn.from_dict, st.read_json("schema/custom_fields.json")["columns"])
            if c.object == spec.custom_fields_object]


class _Checker:
    """Compares the sampled rows of one object with what Dataverse holds: per table one ``In`` query by
    alternate key for the records, and per target table one by primary id for the records their
    lookups point at."""

    def __init__(self, dv: DataverseClient, spec: ObjectSpec, specs: dict[str, ObjectSpec], sets: dict[str, str],
                 custom: list[CustomColumn]):
        self.dv, self.spec, self.specs, self.sets = dv, spec, specs, sets
        # target column (or navigation property + "@odata.bind") -> the source column it comes from
        self.fields = {f"{f.target}@odata.bind" if f.kind == "currency" else f.target: f.source
                       for f in reversed(spec.fields)}
        self.fields.update({c.column: c.label for c in custom})
        if spec.owner_field:
            self.fields["ownerid@odata.bind"] = spec.owner_field
        if spec.created_field:
            self.fields["overriddencreatedon"] = spec.created_field

    def source_column(self, table: str, name: str) -> str:
        """The source column a body entry comes from ("" for one the engine sets itself)."""
        if name.endswith("@odata.bind"):
            for lk in self.spec.lookups:
                for target in lk.targets:
                    if lk.nav_for(table, self.specs[target].table) + "@odata.bind" == name:
                        return lk.source
        return self.fields.get(name, "")

    async def rows(self, sent: dict[str, dict], source: dict[str, dict]) -> tuple[list[SpotRow], int]:
        """The sheet rows of the sampled records, and how many of them Dataverse does not have."""
        by_table: dict[str, list[dict]] = {}
        for key in sorted(sent):
            by_table.setdefault(sent[key].get("table") or self.spec.table, []).append(sent[key])
        out: list[SpotRow] = []
        missing = 0
        for table, group in by_table.items():
            ref = loader.TableRef(table, catalogue_mod.entity_set(table), catalogue_mod.key_column(self.spec, table))
            columns = await schema.existing_attributes(self.dv, table)
            binds = {name: lookup_column(name, table, self.sets.get(m[1], ""), columns) for r in group
                     for name, m in _binds(r["body"]).items()}
            select = {ref.primary_id, ref.key_column, *(f"_{c}_value" for c in binds.values() if c)}
            select |= {n for r in group for n, v in r["body"].items() if n in columns and not isinstance(v, list)}
            found = await self._read(ref, [r["key"] for r in group], sorted(select))
            keys = await self._keys_of({(m[1], m[2], found[id_fold(r["key"])].get(f"_{binds[name]}_value"))
                                        for r in group if id_fold(r["key"]) in found
                                        for name, m in _binds(r["body"]).items()
                                        if binds[name] and m[3] is not None})
            for r in group:
                rec = found.get(id_fold(r["key"]))
                missing += rec is None
                out += self._compare(table, r, rec, columns, binds, keys,
                                     source.get(r.get("source_key", r["key"])) or {})
        return out, missing

    def _compare(self, table: str, row: dict, rec: dict | None, columns: dict[str, str],
                 binds: dict[str, str | None], keys: dict[tuple[str, str], str | None], src: dict) -> list[SpotRow]:
        def spot(name: str, sent: Any, got: Any, equal: bool | None, target: str | None = None) -> SpotRow:
            field = self.source_column(table, name)
            return SpotRow(self.spec.name, row.get("source_key", row["key"]), field, target or name,
                           src.get(field) if field else None, sent, got, equal)

        body, bound = row["body"], _binds(row["body"])
        if rec is None:
            return [spot(name, value, "no record with this key in Dataverse", False) for name, value in body.items()]
        out = []
        for name, value in body.items():
            m, column = bound.get(name), binds.get(name)
            if m is None and name in columns and not isinstance(value, list):
                out.append(spot(name, value, rec.get(name), _same(value, rec.get(name))))
            elif m is None:
                why = "rows of their own table" if isinstance(value, list) else f"not a column of {table}"
                out.append(spot(name, value, f"not compared: {why}", None))
            elif column is None:
                out.append(spot(name, _bound(m), f"lookup: not compared ({name.removesuffix('@odata.bind')} names "
                                                 f"no lookup column of {table})", None))
            elif m[4] is not None:  # bound by GUID (owner, currency): the GUIDs compare
                guid = rec.get(f"_{column}_value")
                out.append(spot(name, _bound(m), guid, (guid or "").lower() == _bound(m), column))
            else:  # bound by source id: the record the lookup points at, by its source id
                guid = rec.get(f"_{column}_value")
                got = keys.get((m[1], guid)) if guid else None
                shown = got if got is not None or not guid else f"{m[1]}({guid}): a record without a source id"
                out.append(spot(name, _bound(m), shown, got is not None and id_fold(got) == id_fold(_bound(m)),
                                column))
        return out

    async def _read(self, ref: loader.TableRef, keys: list[str], select: list[str]) -> dict[str, dict]:
        """The records of ``keys`` by the fold of their key (Dataverse compares keys case-insensitively)."""
        out: dict[str, dict] = {}
        encoded = [encode_key(k) for k in keys]
        for i in range(0, len(encoded), IN_CHUNK):
            flt = in_filter(ref.key_column, encoded[i:i + IN_CHUNK])
            async for rec in self.dv.get_all(ref.entity_set, select=select, filter=flt):
                out[id_fold(decode_key(rec[ref.key_column]))] = rec
        return out

    async def _keys_of(self, wanted: set[tuple[str, str, str | None]]) -> dict[tuple[str, str], str | None]:
        """(entity set, GUID) -> the source id of that record (its key column, decoded), per target table."""
        groups: dict[tuple[str, str], set[str]] = {}
        for entity_set, key_column, guid in wanted:
            if guid and entity_set in self.sets:
                groups.setdefault((entity_set, key_column), set()).add(guid)
        out: dict[tuple[str, str], str | None] = {}
        for (entity_set, key_column), guids in groups.items():
            ref = loader.TableRef(self.sets[entity_set], entity_set, key_column)
            ids = sorted(guids)
            for i in range(0, len(ids), IN_CHUNK):
                flt = in_filter(ref.primary_id, ids[i:i + IN_CHUNK])
                async for rec in self.dv.get_all(entity_set, select=[ref.primary_id, key_column], filter=flt):
                    value = rec.get(key_column)
                    out[(entity_set, rec[ref.primary_id])] = decode_key(value) if value else None
        return out
