"""Verify: every row the run wrote for an object, read back from Dataverse and compared, field by field,
with what was sent - after the object's loads, before the next wave.

Reconciliation proves every record is accounted for; this proves that what each record holds is what
the engine sent, standard and custom columns alike, and catches what changed it since (a plug-in, a
workflow, a person). The spot check (:mod:`.spot_check`) shows a sample to a person; this counts all of
them, by the same rules (:mod:`.readback`).

Which rows: those of the object's load outcomes (``objects/<name>/load/part-NNNNN.json``) that are
``created``, ``updated`` or ``unchanged``, with the rows of their transformed chunk (same order). How:

- **Read back** by alternate key (by id for tables keyed by id: notes), ``In`` queries of at most
  :data:`IN_KEYS` keys whose URL stays within Dataverse's limit of 32 KB, 32,768 characters
  (learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors
  #maximum-url-length), ``$select`` of the columns the rows' bodies set, paged, through the run's one
  throttled client. A chunk at a time, :data:`IN_FLIGHT` queries at once: memory holds one chunk's
  outcomes and the batches in flight, never an object's rows.
- **Lookups** compare as GUIDs: ``_<column>_value`` against the GUID bound (owners, currencies), or the
  GUID of the record the bound key names, read from the target table by key (batched, cached for the run).
- **Closed records**: a row with a close (won/lost deal, resolved case, paid invoice) is compared with
  the state its close asked for (its status reason, and for SetState its state), not its body's.
- **The original creation date** sent as ``overriddencreatedon`` is compared with ``createdon``: Dataverse
  keeps it there, and ``overriddencreatedon`` then holds "Date and time that the record was migrated"
  (learn.microsoft.com/power-apps/developer/data-platform/reference/entities/account#BKMK_OverriddenCreatedOn).
- **Not compared**: collections (an e-mail's activity parties are rows of their own table) and instance
  annotations. A field that cannot be read back (a name that is no column of the table, a bind whose
  lookup column the metadata does not show) counts as different, with the reason as the value found. Documents are checked by hash as they transfer; objects that load no rows (users, custom
  fields, configuration, inventories) have none to read back.

Counted, for rows written: ``verified`` (every field equal), ``mismatched`` (at least one differs) and
``missing`` (no record with the key), which add up to the rows written; ``modified_after_load`` among
them: ``modifiedon`` later than the load wrote its outcome file (the load records no write time of its
own), :data:`CLOCK_TOLERANCE` allowing for the two clocks. ``objects/<name>/verify.json`` holds the
counts, ``objects/<name>/mismatches.json`` the rows (customer data: staging only, as
``report/mismatches.csv`` through :func:`mismatch_rows`). A second call returns the stored counts.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, AsyncIterator, Iterator

from .. import objects as catalogue_mod
from ..dataverse.client import DataverseClient
from ..dataverse.keys import decode_key, encode_key, in_filter, key_literal
from ..dataverse.loader import TableRef
from ..errors import PermanentError
from ..objects import ObjectSpec
from ..sources.ids import id_fold
from ..spotcheck import text
from ..staging import LocalStaging, Staging, iter_chunk
from .common import dataverse, effective_spec, obj_path, run_config, spec_of, staging_for
from .readback import ColumnInfo, binds, bound, columns_of, lookup_column, same, table_of_set

log = logging.getLogger("migration")

IN_KEYS = 200  # keys per In(...) query, as the loader reads them
URL_LIMIT = 32_768  # characters in a Web API URL (see the module docstring)
IN_FLIGHT = 8  # read queries at once; the client's adaptive concurrency decides how many are sent
CLOCK_TOLERANCE = timedelta(seconds=2)  # Dataverse's clock against staging's, and modifiedon's whole seconds
LISTED = 20_000  # differences listed per object; the count of the others is kept
WRITTEN = frozenset({"created", "updated", "unchanged"})
COUNTS = ("verified", "mismatched", "missing", "modified_after_load")
MISMATCH_COLUMNS = ["object", "key", "kind", "field", "sent", "found"]
#: a column whose value Dataverse keeps under another name (see the module docstring)
READ_AS = {"overriddencreatedon": "createdon"}
VERIFY, MISMATCHES = "verify.json", "mismatches.json"


async def verify_object(payload: dict) -> dict:
    """``payload``: ``{"run", "object"}`` -> ``{"object", "verified", "mismatched", "missing",
    "modified_after_load"}`` (counts only: the values stay in staging)."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    done = obj_path(spec, VERIFY)
    if st.exists(done):
        return _counts(st.read_json(done))
    tally = _Tally(spec.name)
    if spec.pipeline == "records" and spec.load_activity == "load_chunk":
        spec = effective_spec(st, spec)
        async with dataverse(run) as dv:
            verifier = _Verifier(dv, spec, table_of_set(catalogue_mod.catalogue(run.source)),
                                 _targets(dv, run.run_id), tally)
            try:
                for rows, outcomes, written_at in _parts(st, spec):
                    await verifier.part(rows, outcomes, written_at)
                await verifier.drain()
            finally:
                verifier.cancel()
    tally.listed.sort(key=lambda r: (r["key"], r["kind"]))  # batches finish in any order; a row's fields keep theirs
    st.write_json(obj_path(spec, MISMATCHES), {"rows": tally.listed, "unlisted": tally.unlisted})
    doc = {"object": spec.name, **{k: tally.counts[k] for k in COUNTS}, "fields_different": tally.fields}
    st.write_json(done, doc)
    log.info("verified %s", spec.name, extra={"verify": doc})
    return _counts(doc)


def mismatch_rows(st: Staging, spec: ObjectSpec) -> list[dict]:
    """The object's differences as lines of ``report/mismatches.csv`` (columns :data:`MISMATCH_COLUMNS`,
    values as text, for :func:`shared.problems.csv_text`); none when the object was not verified."""
    name = obj_path(spec, MISMATCHES)
    if not st.exists(name):
        return []
    doc = st.read_json(name)
    rows = [{**r, "sent": text(r["sent"]), "found": text(r["found"])} for r in doc["rows"]]
    if doc["unlisted"]:
        rows.append({"object": spec.name, "key": "", "kind": "unlisted", "field": "", "sent": "",
                     "found": f"{doc['unlisted']} more not listed: the first {len(doc['rows'])} are"})
    return rows


def _counts(doc: dict) -> dict:
    return {"object": doc["object"], **{k: doc[k] for k in COUNTS}}


@dataclass
class _Tally:
    """What verification found, counts and the rows that list it."""

    object: str
    counts: Counter = field(default_factory=Counter)
    fields: int = 0
    listed: list[dict] = field(default_factory=list)
    unlisted: int = 0

    def note(self, key: str, kind: str, column: str, sent: Any, found: Any) -> None:
        if len(self.listed) < LISTED:
            self.listed.append({"object": self.object, "key": key, "kind": kind, "field": column, "sent": sent,
                                "found": found})
        else:
            self.unlisted += 1


def _parts(st: Staging, spec: ObjectSpec) -> Iterator[tuple[Iterator[dict], list[dict], datetime]]:
    """Per loaded chunk: its rows (streamed), their load outcomes (same order), when the load wrote them."""
    for chunk in st.read_json(obj_path(spec, "extract.json"))["chunks"]:
        part = chunk["name"].rsplit("/", 1)[-1].split(".")[0]
        out = st.read_json(obj_path(spec, "transform", f"{part}.json"))["chunk"]
        if not out:
            continue
        load = obj_path(spec, "load", f"{part}.json")
        if not st.exists(load):
            raise PermanentError(f"{spec.name}: {load} is missing from staging: the object is verified after all "
                                 "its chunks are loaded; rerun the run to load it")
        yield iter_chunk(st, out["name"], out.get("sha256")), st.read_json(load)["outcomes"], _written_at(st, load)


def _escaped(text: str) -> int:
    """The most characters ``text`` can take in a URL: every UTF-8 byte percent-escaped."""
    return 3 * len(text.encode("utf-8"))


def _written_at(st: Staging, name: str) -> datetime:
    """When staging stored ``name``: its file's modification time, or its Blob's Last-Modified (staging has
    no call for it, so its two kinds are asked directly)."""
    if isinstance(st, LocalStaging):
        return datetime.fromtimestamp((st.folder / (st.root + name)).stat().st_mtime, timezone.utc)
    return st.container.get_blob_client(st.root + name).get_blob_properties().last_modified


def _targets(dv: DataverseClient, run_id: str) -> dict:
    """``{(entity set, key column): {folded key: GUID}}`` of bound records, for the run: kept on the run's
    client (another environment or worker starts empty), one run's at a time."""
    held = dv.cache.get("verify_targets")
    if held is None or held[0] != run_id:
        held = dv.cache["verify_targets"] = (run_id, {})
    return held[1]


@dataclass
class _Field:
    """One field of one row: what was sent, and what to read and compare it with."""

    name: str  # the column (a lookup's column) as the differences list it
    read: str | None  # what $select reads; None when nothing can be read (``problem`` says why)
    sent: Any  # as sent (a bind: its text)
    column: ColumnInfo | None = None
    target: tuple[str, str, str] | None = None  # bound by key: (entity set, key column, encoded key)
    guid: str | None = None  # bound by GUID
    problem: str | None = None


class _Verifier:
    """Reads one object's written rows back in batches per table and tallies what it finds."""

    def __init__(self, dv: DataverseClient, spec: ObjectSpec, sets: dict[str, str], targets: dict, tally: _Tally):
        self.dv, self.spec, self.sets, self.targets, self.tally = dv, spec, sets, targets, tally
        self.batches: dict[str, list[tuple[dict, datetime]]] = {}
        self.tasks: set[asyncio.Task] = set()
        self.metadata: dict[str, asyncio.Task] = {}
        self.precisions: dict = {}

    async def part(self, rows: Iterator[dict], outcomes: list[dict], written_at: datetime) -> None:
        for row, outcome in zip(rows, outcomes, strict=True):
            if outcome["status"] in WRITTEN:
                table = row.get("table") or self.spec.table
                batch = self.batches.setdefault(table, [])
                batch.append((row, written_at))
                if len(batch) >= IN_KEYS:
                    await self._submit(table, self.batches.pop(table))

    async def drain(self) -> None:
        for table, batch in list(self.batches.items()):
            await self._submit(table, batch)
        self.batches.clear()
        while self.tasks:
            done, self.tasks = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()

    def cancel(self) -> None:
        for task in (*self.tasks, *self.metadata.values()):
            task.cancel()

    async def _submit(self, table: str, batch: list[tuple[dict, datetime]]) -> None:
        while len(self.tasks) >= IN_FLIGHT:
            done, self.tasks = await asyncio.wait(self.tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        self.tasks.add(asyncio.create_task(self._check(table, batch)))

    async def _columns(self, table: str) -> tuple[dict[str, ColumnInfo], dict[str, str | None]]:
        """The table's columns, and their types alone (what :func:`lookup_column` reads)."""
        if table not in self.metadata:  # one read per table, however many batches ask at once
            self.metadata[table] = asyncio.create_task(self._read_columns(table))
        return await self.metadata[table]

    async def _read_columns(self, table: str) -> tuple[dict[str, ColumnInfo], dict[str, str | None]]:
        columns = await columns_of(self.dv, table, self.precisions)
        return columns, {name: c.type for name, c in columns.items()}

    async def _check(self, table: str, batch: list[tuple[dict, datetime]]) -> None:
        ref = TableRef(table, catalogue_mod.entity_set(table), catalogue_mod.key_column(self.spec, table))
        columns, types = await self._columns(table)
        expected = [self._fields(ref, row, columns, types) for row, _ in batch]
        await self._resolve({f.target for fields in expected for f in fields if f.target})
        select = sorted({ref.primary_id, ref.key_column, *(["modifiedon"] if "modifiedon" in columns else []),
                         *(f.read for fields in expected for f in fields if f.read)})
        found: dict[str, dict] = {}
        async for rec in self._query(ref, ref.key_column, [encode_key(row["key"]) for row, _ in batch], select):
            found[self._fold(ref, rec[ref.key_column])] = rec
        for (row, written_at), fields in zip(batch, expected):
            self._tally(row, written_at, fields, found.get(self._fold(ref, encode_key(row["key"]))))

    def _tally(self, row: dict, written_at: datetime, fields: list[_Field], rec: dict | None) -> None:
        key = row.get("source_key", row["key"])
        if rec is None:
            self.tally.counts["missing"] += 1
            self.tally.note(key, "missing", "", None, "no record with this key in Dataverse")
            return
        different = 0
        for f in fields:
            got = rec.get(f.read) if f.read else None
            if not self._equal(f, got):
                different += 1
                self.tally.note(key, "different", f.name, f.sent, got if f.problem is None else f.problem)
        self.tally.fields += different
        self.tally.counts["mismatched" if different else "verified"] += 1
        modified = rec.get("modifiedon")
        if modified and datetime.fromisoformat(modified.replace("Z", "+00:00")) > written_at + CLOCK_TOLERANCE:
            self.tally.counts["modified_after_load"] += 1
            self.tally.note(key, "modified_after_load", "modifiedon", written_at.isoformat(), modified)

    def _equal(self, f: _Field, got: Any) -> bool:
        if f.problem is not None:
            return False
        if f.target is not None:
            entity_set, key_column, encoded = f.target
            want = self.targets.get((entity_set, key_column), {}).get(id_fold(decode_key(encoded)))
            return want is not None and isinstance(got, str) and got.lower() == want
        if f.guid is not None:
            return isinstance(got, str) and got.lower() == f.guid
        return same(f.sent, got, f.column)

    def _fields(self, ref: TableRef, row: dict, columns: dict[str, ColumnInfo],
                types: dict[str, str | None]) -> list[_Field]:
        """What one row sent, field by field, and where Dataverse keeps each."""
        table, body = ref.logical_name, row["body"]
        closing = self._close_state(row)
        bound_ = binds(body)
        out = []
        for name, value in body.items():
            if isinstance(value, list) or ("@" in name and not name.endswith("@odata.bind")):
                continue  # collections are rows of their own table; instance annotations are no values
            if closing and name in ("statecode", "statuscode"):
                continue  # the close decides the state
            if name.endswith("@odata.bind"):
                out.append(self._lookup(table, name, value, bound_.get(name), types, columns))
                continue
            read = READ_AS.get(name, name)
            if read not in columns:
                out.append(_Field(name, None, value, problem=f"not compared: {read} is not a column of {table}"))
            else:
                out.append(_Field(name, read, value, columns[read]))
        out += [_Field(name, name, value, columns.get(name)) for name, value in closing.items()]
        return out

    def _lookup(self, table: str, name: str, value: Any, m: re.Match | None, types: dict[str, str | None],
                columns: dict[str, ColumnInfo]) -> _Field:
        if m is None:
            return _Field(name, None, value, problem="not compared: not a bind to one record")
        column = lookup_column(name, table, self.sets.get(m[1], ""), types)
        if column is None:
            return _Field(name, None, value, problem=f"not compared: {name.removesuffix('@odata.bind')} names no "
                                                     f"lookup column of {table}")
        f = _Field(column, f"_{column}_value", value, columns[column])
        if m[4] is not None:
            f.guid = bound(m)
        elif m[1] not in self.sets:
            f.problem = f"not compared: it binds to {m[1]}, a table the migration does not know"
        else:
            f.target = (m[1], m[2], m[3].replace("''", "'"))
        return f

    def _close_state(self, row: dict) -> dict[str, int]:
        """The state a row's close leaves its record in: its status reason, and for SetState its state."""
        close = row.get("close")
        if not close or not self.spec.close:
            return {}
        params = close["params"]
        state = {"statuscode": self.spec.close.status(params)}
        if close["action"] == "SetState" and "statecode" in params:
            state["statecode"] = params["statecode"]
        return state

    async def _resolve(self, wanted: set[tuple[str, str, str]]) -> None:
        """Read the GUIDs of bound records not yet known, by key, per target table."""
        missing: dict[tuple[str, str], list[str]] = {}
        for entity_set, key_column, encoded in wanted:
            if id_fold(decode_key(encoded)) not in self.targets.get((entity_set, key_column), {}):
                missing.setdefault((entity_set, key_column), []).append(encoded)
        for (entity_set, key_column), keys in missing.items():
            ref = TableRef(self.sets[entity_set], entity_set, key_column)
            known = self.targets.setdefault((entity_set, key_column), {})
            async for rec in self._query(ref, key_column, sorted(set(keys)), [ref.primary_id, key_column]):
                known[id_fold(decode_key(rec[key_column]))] = rec[ref.primary_id].lower()

    async def _query(self, ref: TableRef, column: str, values: list[str], select: list[str]) -> AsyncIterator[dict]:
        """The records whose ``column`` is one of ``values``, in ``In`` queries within the URL limit."""
        fixed = (len(self.dv.settings.api_base) + len(ref.entity_set) + len("?$select=&$filter=")
                 + len(",".join(select)) + _escaped(in_filter(column, [])))
        batch: list[str] = []
        size = fixed
        for value in values:
            cost = _escaped(key_literal(value) + ",")
            if batch and (len(batch) >= IN_KEYS or size + cost > URL_LIMIT):
                async for rec in self.dv.get_all(ref.entity_set, select=select, filter=in_filter(column, batch)):
                    yield rec
                batch, size = [], fixed
            batch.append(value)
            size += cost
        if batch:
            async for rec in self.dv.get_all(ref.entity_set, select=select, filter=in_filter(column, batch)):
                yield rec

    @staticmethod
    def _fold(ref: TableRef, value: str) -> str:
        """The form under which Dataverse matches a key: a GUID's case, or a source id's fold."""
        return value.lower() if ref.keyed_by_id else id_fold(decode_key(value))
