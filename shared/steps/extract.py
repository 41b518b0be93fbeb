"""Extraction: source -> staged chunks. Every source record is staged or rejected here, naming its file,
line and record number: malformed rows, rows without a key, the older copy of a duplicate key, and
keys that differ only in case or accents from an earlier one (Dataverse compares alternate keys that
way, so they would merge into one row). Ids are normalised here, once: keys and the fields that
reference other objects' keys are trimmed (``sources.ids.source_id``), so later steps read them as staged.

Two passes keep memory bounded by the number of keys, not rows. The first indexes every key: which of
its rows is the most recently modified, and the first spelling of each case-folded key. The second
stages the winners and rejects the rest, naming both lines. A replayable source (export files) is read
twice, its sha256 checked; any other (the SOAP API) is spooled to a local temporary file by the first
pass. The output depends on the input alone, so a rerun of extraction writes the same bytes.

A records object is read in bounded slices instead, one activity call each (see "Slices" at the end): the
same decisions over the whole object, from the keys each slice stages; the two passes below remain for a
sample run and for the objects that configure the run (read whole, they are small).

A sample run (``RunConfig.sample`` = N) stages a *connected* sample of each records object: up to N of
the rows it would stage, in source order, taking only rows whose references (its lookups, and the
source's reference fields other objects declare as lookups, such as a ticket's CompanyID) point at
rows in the parents' staged samples, so every link resolves as in a full run; first one row per set of
parents, so that the sample spreads over its parents. Parents are extracted in earlier waves and their
staged keys are read from staging. Rows left out are counted ``sampled_out``
(``source == staged + rejected + sampled_out``), not rejected: they are not at fault. What configures
the run (users, custom field definitions, configuration, inventories) is read whole.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import tempfile
import time
import zlib
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import IO, Callable, Iterator

import orjson

from .. import objects as catalogue_mod
from ..errors import InputError
from ..objects import Lookup, ObjectSpec
from ..problems import Problem
from ..run import RunConfig
from ..sources import Source, open_source
from ..sources.ids import id_fold
from ..sources.rows import Resumable
from ..sources.worketc.values import FieldError, parse_datetime
from ..staging import Staging, codec, write_chunks
from ..staging.chunks import PART_TEMPLATE, ChunkRef, Manifest, encode_chunk, manifest_bytes, manifest_name
from .common import obj_path, run_config, spec_of, staged_rows, staging_for


async def extract_object(payload: dict) -> dict:
    """Source -> staged chunks and ``extract.json`` (counts, rejects, warnings, the files read)."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    summary_name = obj_path(spec, "extract.json")
    if st.exists(summary_name):
        summary = st.read_json(summary_name)
        if summary.get("sample") != run.sample:
            raise InputError(f"{spec.name} was extracted {_sampled(summary.get('sample'))} in this run's staging and "
                             f"this run asks for {_sampled(run.sample)}: rerun with --fresh, or give it another "
                             "--run-id")
    elif run.sample is None and spec.pipeline == "records":
        # in slices: each call reads a bounded slice and returns {"done": False}; the orchestrator calls
        # again with the next "slice" until the object is done (see "Slices" below)
        result = await asyncio.to_thread(_extract_slice, run, spec, st, int(payload.get("slice", 0)))
        if not result.get("done"):
            return result
        summary = st.read_json(summary_name)
    else:
        # Reading the source blocks (files, zeep): keep it off the event loop that other activities share.
        summary = await asyncio.to_thread(_extract, run, spec, st)
        st.write_json(summary_name, summary)
    # counts and chunk names only: rejects and warnings quote source values (personal data), which
    # must not reach orchestration history; they stay in staging for the report
    return {**{k: v for k, v in summary.items() if k not in ("rejects", "warnings")}, "done": True}


@dataclass(slots=True)
class _Kept:
    """The row a key keeps so far: its spelling (the first seen of its fold), where it is, when it changed."""

    key: str
    file: str
    line: int | None
    record: int
    modified: datetime | None
    modified_raw: str | None

    def rank(self) -> tuple:
        # a readable modification date beats none; then the most recent; then the later record
        return (self.modified is not None, self.modified.timestamp() if self.modified else 0.0, self.record)

    def where(self) -> str:
        return f"{self.file} line {self.line}" if self.line is not None else f"{self.file} record {self.record}"


class _Rows:
    """What both passes do to a row: normalise its ids in place, say where it is and when it changed."""

    def __init__(self, run: RunConfig, spec: ObjectSpec, source: Source):
        self.spec, self.run = spec, run
        self.key_fields = spec.key_field.split("+")
        self.id_fields = tuple(dict.fromkeys([*self.key_fields, *source.reference_fields]))
        self.modified_field = source.modified_field
        self.trimmed: Counter[str] = Counter()

    def key(self, row: dict) -> str | None:
        """The row's key (parts joined by ``:``) after trimming its id fields; None when a part is empty."""
        trimmed = self.trimmed
        for f in self.id_fields:
            raw = row.get(f)
            if raw is not None:
                clean = raw.strip() or None  # source_id, inline: this runs for every id of every row
                if clean != raw:
                    row[f] = clean
                    trimmed[f] += 1
                elif f not in trimmed:
                    trimmed[f] = 0  # (as before: a field seen is counted, trimmed or not)
        if len(self.key_fields) == 1:
            return row.get(self.key_fields[0])
        parts = [row.get(f) for f in self.key_fields]
        return ":".join(parts) if all(parts) else None

    def where(self, row: dict, n: int) -> dict:
        return {"file": row.get("_file") or self.spec.file, "line": row.get("_row"), "record": row.get("_record") or n}

    def modified(self, row: dict) -> tuple[str | None, datetime | None]:
        """The row's modification date as written, and parsed in the run's date order (None if unreadable)."""
        raw = row.get(self.modified_field) if self.modified_field else None
        try:
            return raw, parse_datetime(raw, order=self.run.date_order, tz=self.run.timezone)
        except FieldError:
            return raw, None


def _extract(run: RunConfig, spec: ObjectSpec, st: Staging) -> dict:
    source = open_source(run)
    first = source.rows(spec)
    with ExitStack() as stack:
        spool = None if source.replayable else stack.enter_context(tempfile.TemporaryFile("w+b"))
        index = _index(_Rows(run, spec, source), first, spool)
        if spool is None:
            second: Iterator[dict] = source.rows(spec)
        else:
            spool.seek(0)
            second = (orjson.loads(line) for line in spool)
        rows = _Rows(run, spec, source)
        rejects: list[Problem] = []
        warnings: list[Problem] = []
        counts: Counter[str] = Counter()
        staged = _stage(rows, second, index, rejects, warnings, counts)
        if run.sample is not None and spec.pipeline == "records":
            staged = _sample(staged, run.sample, _connected(run, spec, st, source), counts)
        manifest = write_chunks(st, obj_path(spec, "extract"), staged, object_name=spec.name, chunk_size=run.chunk_size)
    return {
        "object": spec.name,
        "source": counts["source"],
        "staged": manifest.records,
        "rejected": len(rejects),
        "sample": run.sample,
        "sampled_out": counts["sampled_out"],
        "warned": len(warnings),
        "trimmed_ids": {f: n for f, n in sorted(rows.trimmed.items()) if n},
        "files": _files(first, second if spool is None else None),
        "rejects": [p.to_dict() for p in rejects],
        "warnings": [p.to_dict() for p in warnings],
        "chunks": [{"name": c.name, "records": c.records, "sha256": c.sha256} for c in manifest.chunks],
    }


def _sampled(sample: int | None) -> str:
    return "whole" if sample is None else f"as a sample of {sample} rows (--sample {sample})"


def _sample(rows: Iterator[dict], n: int, parents: Callable[[dict], tuple | None], counts: Counter) -> Iterator[dict]:
    """``n`` rows whose ``parents`` are sampled (not None), in source order: first one per set of parents,
    so that a sample of contacts spans its companies and the invoices of those companies find their
    contacts, then the next ones. Memory: at most 2n rows. Every other row is counted ``sampled_out``."""
    chosen: list[tuple[int, dict]] = []  # rows whose parents no chosen row has
    spare: list[tuple[int, dict]] = []  # the next rows, should too few sets of parents turn up
    seen: set[tuple] = set()
    total = 0
    for i, row in enumerate(rows):
        total += 1
        key = parents(row)
        if key is None:
            continue
        if key not in seen and len(chosen) < n:
            seen.add(key)
            chosen.append((i, row))
        elif len(spare) < n:
            spare.append((i, row))
    taken = sorted(chosen + spare[:n - len(chosen)], key=lambda t: t[0])
    counts["sampled_out"] += total - len(taken)
    yield from (row for _, row in taken)


def _references(spec: ObjectSpec, specs: dict[str, ObjectSpec], reference_fields: tuple[str, ...]) -> list[Lookup]:
    """How a row of ``spec`` points at rows of the objects it depends on: its lookups, and the lookups other
    objects declare on the source's reference fields (the hooks of tickets and invoices read CompanyID)."""
    found = {lk.source: lk for lk in spec.lookups}
    for other in specs.values():
        for lk in other.lookups:
            if lk.source in reference_fields:
                found.setdefault(lk.source, lk)
    return [lk for lk in found.values() if set(lk.targets) <= set(spec.depends_on)]


def _connected(run: RunConfig, spec: ObjectSpec, st: Staging, source: Source) -> Callable[[dict], tuple | None]:
    """A row's parents, when all its references point at rows of the parents' staged samples, else None
    (an empty reference, or one to an object this run does not extract, is not the sample's doing and
    does not count)."""
    specs = catalogue_mod.catalogue(run.source)
    refs = _references(spec, specs, source.reference_fields)
    parents: dict[str, set[str]] = {}
    for name in {t for lk in refs for t in lk.targets}:
        if st.exists(obj_path(specs[name], "extract.json")):
            parents[name] = {id_fold(r[specs[name].key_field]) for r in staged_rows(st, specs[name])}

    def of(row: dict) -> tuple | None:
        found = []
        for lk in refs:
            ref = (row.get(lk.source) or "").strip()
            target = lk.target if isinstance(lk.target, str) else lk.target.get((row.get(lk.type_field) or "").strip())
            if ref and target in parents:
                if id_fold(ref) not in parents[target]:
                    return None
                found.append((target, id_fold(ref)))
        return tuple(found)

    return of


def _spooled(row: dict) -> bytes:
    """One row of the spool: orjson keeps the row's key order as ``json.dumps`` did (no sorting); what orjson
    refuses (an integer beyond 64 bits) goes through the standard library."""
    try:
        return orjson.dumps(row) + b"\n"
    except orjson.JSONEncodeError:
        return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")


def _fold(key: str) -> str:
    """``id_fold``, with ASCII ids (nearly all) case-folded directly: NFKD changes no ASCII character and
    none is combining, and an ASCII casefold is its lower()."""
    return key.lower() if key.isascii() else id_fold(key)


def _bucket_hash(fold: str) -> int:
    return zlib.crc32(fold.encode("utf-8", "surrogatepass"))


def _index(rows: _Rows, source_rows: Iterator[dict], spool: IO[bytes] | None) -> dict[str, _Kept]:
    """Pass 1: case-folded key -> the row that key keeps (spooling the rows when they cannot be read again)."""
    index: dict[str, _Kept] = {}
    for n, row in enumerate(source_rows, 1):
        if spool is not None:
            spool.write(_spooled(row))
        key = None if row.get("_error") else rows.key(row)
        if key is None:
            continue
        where = rows.where(row, n)
        raw, at = rows.modified(row)
        here = _Kept(key, where["file"], where["line"], where["record"], at, raw)
        kept = index.setdefault(_fold(key), here)
        if kept.key == key and here.rank() > kept.rank():
            index[_fold(key)] = here
    return index


def _stage(rows: _Rows, source_rows: Iterator[dict], index: dict[str, _Kept], rejects: list[Problem],
           warnings: list[Problem], counts: Counter) -> Iterator[dict]:
    """Pass 2: yield the rows to stage; every other row becomes a reject naming why (and the kept row)."""
    spec = rows.spec
    for n, row in enumerate(source_rows, 1):
        counts["source"] += 1
        admitted = _admit(rows, row, n, rejects, warnings)
        if admitted is None:
            continue
        key, where = admitted
        kept = index.get(_fold(key))
        if kept is None:  # pass 1 saw no such key: the source changed in between
            raise InputError(f"{where['file']} changed while it was being extracted: leave the export alone while a "
                             "run reads it, then rerun")
        if kept.key != key:
            problem = ("case_collision", spec.key_field,
                       f"{spec.key_field} {key!r} differs only in case or accents from {kept.key!r} ({kept.where()}), "
                       "and Dataverse keys do not tell them apart: this row was not migrated; give one of them "
                       "another id in the source")
        elif kept.record != where["record"]:
            problem = ("duplicate_key", spec.key_field, _duplicate_message(rows, key, kept, *rows.modified(row)))
        else:
            if len(rows.key_fields) > 1:
                row[spec.key_field] = key
            yield row
            continue
        code, fld, message = problem
        rejects.append(Problem(spec.name, key, "extract", code, message, field=fld,
                               value=row.get(fld) if fld else None, **where))


def _admit(rows: _Rows, row: dict, n: int, rejects: list[Problem], warnings: list[Problem]
           ) -> tuple[str, dict] | None:
    """What every read row goes through first (both passes of a whole read, and each slice): where it is,
    its key (ids trimmed), its reader's warnings noted; None when it is rejected here (malformed, no key)."""
    spec = rows.spec
    where = rows.where(row, n)
    row["_record"] = where["record"]
    malformed = row.get("_error")
    key = rows.key(row)
    for w in row.pop("_warnings", None) or ():
        warnings.append(Problem(spec.name, key, "extract", w["code"], w["message"], field=w["field"],
                                value=w["value"], **where))
    if malformed:
        rejects.append(Problem(spec.name, key, "extract", "malformed_row", malformed, **where))
        return None
    if key is None:
        rejects.append(Problem(spec.name, key, "extract", "missing_key",
                               f"{spec.key_field} is empty: the row cannot be migrated; give it its id in the "
                               "source and export again", field=spec.key_field, value=row.get(spec.key_field),
                               **where))
        return None
    return key, where


def _duplicate_message(rows: _Rows, key: str, kept: _Kept, mine: str | None, mine_at: datetime | None) -> str:
    field = rows.modified_field
    if kept.modified is None:  # then this row has none either, or it would rank above
        why = f"neither row has a readable {field}, so the later line was kept"
    elif mine_at is None:
        why = f"that row's {field} ({kept.modified_raw}) is readable and this row's ({mine}) is not"
    elif mine_at == kept.modified:
        why = f"both rows have {field} {mine}, so the later line was kept"
    else:
        why = f"it was modified more recently ({kept.modified_raw}) than this row ({mine})"
    return (f"{rows.spec.key_field} {key!r} appears again on {kept.where()}, which was kept: {why}; this row was "
            "not migrated (merge the two in the source if both hold data)")


def _files(first: Iterator[dict], second: Iterator[dict] | None) -> list[dict]:
    """The files read, as their readers describe them; a file that changed between the passes is an error."""
    describe = getattr(first, "describe", None)
    if describe is None:
        return []
    seen = describe()
    again = getattr(second, "describe", None)
    if again is not None and again()["sha256"] != seen["sha256"]:
        raise InputError(f"{seen['file']} changed while it was being extracted: leave the export folder alone "
                         "while a run reads it, then rerun")
    return [seen]


# ------------------------------------------------------------------------------------------------ slices
#
# A records object is extracted in slices, so that no activity outlives the platform's timeout however big
# the object (https://learn.microsoft.com/azure/azure-functions/functions-scale#timeout) and a retry
# redoes one slice, not the object. Call ``slice`` k of ``extract_object``:
#
# - reads on from where slice k-1 stopped (its ``next``: byte offset, line and record of a CSV file; the
#   record ordinal of another source), at most EXTRACT_SLICE_ROWS rows or EXTRACT_SLICE_SECONDS seconds;
#   stages the rows that have a key as chunks ``extract/part-NNNNN.jsonl.gz`` (numbered on from slice
#   k-1's), rejects malformed rows and rows without a key, and writes the keys it staged
#   (``extract/slices/NNNNN.keys.jsonl.gz``: key, record, modification date, chunk) and, last, its summary
#   ``extract/slices/NNNNN.json`` (counts, rejects, warnings, chunks, ``next``, ``last``). A slice whose
#   summary is there is done: a retried call returns it; one that died midway is redone from its start.
# - once a slice found the end (``last``), the next calls finish: the keys of every slice decide, as the
#   two passes of ``_extract`` do, which row each key keeps (the most recently modified; the first
#   spelling of a case-folded key) and which are rejected naming the kept row, in buckets of at most
#   DEDUP_KEYS keys (``extract/dedup/``; a call decides buckets until its time is up); the chunks holding a
#   rejected row are written again without it (``part-NNNNN.dedup.jsonl.gz``, a bounded number per
#   call); then the file's sha256 (a change between slices is an error), the manifest and ``extract.json``.
#
# The output depends on the input alone, whatever the slice bounds: the chunks hold the same rows.

#: a slice's bounds: rows read and seconds spent (whichever comes first)
DEFAULT_SLICE_ROWS, DEFAULT_SLICE_SECONDS = 50_000, 240.0


def slice_bounds(env=os.environ) -> tuple[int, float]:
    """(rows, seconds) a slice of extraction reads at most: EXTRACT_SLICE_ROWS, EXTRACT_SLICE_SECONDS."""
    out = []
    for name, default, kind in (("EXTRACT_SLICE_ROWS", DEFAULT_SLICE_ROWS, int),
                                ("EXTRACT_SLICE_SECONDS", DEFAULT_SLICE_SECONDS, float)):
        raw = env.get(name, "").strip()
        try:
            value = kind(raw) if raw else default
        except ValueError:
            value = 0
        if value <= 0:
            from ..errors import SettingsError

            raise SettingsError(f"{name}={raw!r} is not a positive number: set it to the "
                                f"{'rows' if kind is int else 'seconds'} one slice of extraction reads at most "
                                f"(default {default:g}), or leave it unset")
        out.append(value)
    return out[0], out[1]


def _slice_name(spec: ObjectSpec, k: int, ext: str = "json") -> str:
    return obj_path(spec, "extract", "slices", f"{k:05d}.{ext}")


def _public_slice(doc: dict) -> dict:
    return {"done": False, "slice": doc["slice"], "phase": "reading", "source": doc["total_source"],
            "staged": doc["total_staged"], "chunks": doc["next_part"]}


def _rows_from(source: Source, spec: ObjectSpec, start: dict | None, since: datetime | None = None):
    rows_from = getattr(source, "rows_from", None)
    if since is not None:  # only where _modified_since found the source's filter
        return rows_from(spec, start, modified_since=since)
    return rows_from(spec, start) if rows_from is not None else Resumable.skipping(source.rows(spec), start)


def _modified_since(run: RunConfig, spec: ObjectSpec, st: Staging, source: Source) -> datetime | None:
    """A delta pass reads only the records modified since the previous pass began (less a margin), where the
    source's operation for the object filters by it (``supports_modified_since``); reconciliation carries the
    previous pass's unchanged keys forward, and no deletion is inferred from a filtered read
    (``shared/steps/delta.py``). None: the whole object is read."""
    from .delta import modified_since

    supports = getattr(source, "supports_modified_since", None)
    since = modified_since(run, st, spec) if supports is not None else None
    return since if since is not None and supports(spec) else None


def _extract_slice(run: RunConfig, spec: ObjectSpec, st: Staging, k: int) -> dict:
    if st.exists(_slice_name(spec, k)):  # this call ran before (a retried activity)
        return _public_slice(st.read_json(_slice_name(spec, k)))
    prev = st.read_json(_slice_name(spec, k - 1)) if k > 0 and st.exists(_slice_name(spec, k - 1)) else None
    if k == 0 or (prev is not None and not prev["last"]):
        doc = _read_slice(run, spec, st, k, prev)
        if not doc["last"]:
            return _public_slice(doc)
        # the source ended within this slice's bounds (every small object): finish in the same call
    return _finish(run, spec, st)


def _read_slice(run: RunConfig, spec: ObjectSpec, st: Staging, k: int, prev: dict | None) -> dict:
    max_rows, max_seconds = slice_bounds()
    source = open_source(run)
    since = _modified_since(run, spec, st, source)
    if prev is not None and prev.get("modified_since") != (since.isoformat() if since else None):
        raise InputError(f"{spec.name}: slice {k - 1} was read with another modified-date filter than slice {k}: "
                         "the pass's pass.json changed; rerun the pass with --fresh")
    reader = _rows_from(source, spec, prev["next"] if prev else None, *((since,) if since else ()))
    version = getattr(reader, "version", None)
    if prev is not None and prev.get("version") != version:
        raise InputError(f"{spec.file} changed while it was being extracted (between slices {k - 1} and {k}): leave "
                         "the export alone while a run reads it, then rerun with --fresh")
    rows = _Rows(run, spec, source)
    part = prev["next_part"] if prev else 0
    chunks: list[dict] = []
    batch: list[dict] = []
    keys_buf = io.BytesIO()  # the staged keys, one JSON line per chunk, compressed as they come
    keys = gzip.GzipFile(filename="", mode="wb", fileobj=keys_buf, mtime=0, compresslevel=KEYS_GZIP_LEVEL)
    chunk_keys: list[list] = []
    staged = 0
    rejects: list[Problem] = []
    warnings: list[Problem] = []
    n = 0
    started = time.monotonic()

    def flush() -> None:
        keys.write(codec.dumps_bytes(chunk_keys) + b"\n")
        chunk_keys.clear()
        data = encode_chunk(batch)
        name = obj_path(spec, "extract", PART_TEMPLATE.format(part + len(chunks)))
        st.write_bytes(name, data)
        chunks.append({"name": name, "records": len(batch), "sha256": hashlib.sha256(data).hexdigest(),
                       "size": len(data)})
        batch.clear()

    base = int((prev or {}).get("next", {}).get("record", 0))
    for row in reader:
        n += 1
        admitted = _admit(rows, row, base + n, rejects, warnings)
        if admitted is not None:
            key, where = admitted
            if len(rows.key_fields) > 1:
                row[spec.key_field] = key
            raw, at = rows.modified(row)
            chunk_keys.append([key, where["record"], at.timestamp() if at else None, raw, where["file"],
                               where["line"], part + len(chunks), _bucket_hash(_fold(key))])
            staged += 1
            batch.append(row)
            if len(batch) >= run.chunk_size:
                flush()
        if (n >= max_rows or time.monotonic() - started >= max_seconds) and getattr(reader, "resumable", True):
            break  # (a UTF-16 file cannot be cut at a byte offset: it is read in one go)
    if batch:
        flush()
    keys.close()
    st.write_bytes(_slice_name(spec, k, "keys.jsonl.gz"), keys_buf.getvalue())
    del keys_buf
    doc = {"slice": k, "source": n, "staged": staged, "chunks": chunks, "next": reader.position(),
           "last": bool(reader.exhausted), "next_part": part + len(chunks), "version": version,
           "total_source": (prev or {}).get("total_source", 0) + n,
           "total_staged": (prev or {}).get("total_staged", 0) + staged,
           "trimmed": dict(rows.trimmed), "modified_since": since.isoformat() if since else None,
           "rejects": [p.to_dict() for p in rejects], "warnings": [p.to_dict() for p in warnings]}
    st.write_json(_slice_name(spec, k), doc)  # last: the slice is done
    return doc


#: chunks rewritten without their rejected duplicates per finishing call, at most (each is one chunk)
FINISH_REWRITES = 200
#: keys decided at once (one bucket): memory of the finishing call, about 200 bytes a key (the fold, the
#: spelling and a small tuple per key; the details of a kept row only where its key has duplicates)
DEDUP_KEYS = 500_000
#: gzip level of a slice's key spool (written once, read once per bucket): level 1 as the chunks
#: (``shared.staging.chunks.GZIP_LEVEL``); level 9 cost more CPU than the rest of the spool
KEYS_GZIP_LEVEL = 1


def _dedup_bucket(spec: ObjectSpec, st: Staging, slices: list[dict], modified_field: str | None, bucket: int,
                  buckets: int) -> dict:
    """The rows of one bucket of keys that are not kept, as the two passes of ``_extract`` decide: first
    the row each key keeps, then the others rejected naming it. ``{"losers": [[chunk, [records]]],
    "problems": [...]}``."""
    rows = SimpleNamespace(spec=spec, modified_field=modified_field)  # what the messages name

    def staged_keys() -> Iterator[tuple]:  # one slice's keys in memory at a time, this bucket's only
        for k in range(len(slices)):
            with gzip.GzipFile(fileobj=io.BytesIO(st.read_bytes(_slice_name(spec, k, "keys.jsonl.gz")))) as lines:
                for part in lines:
                    for e in codec.loads(part):
                        # [key, record, ts, raw, file, line, chunk, bucket hash]; slices written before the
                        # hash was spooled have 7 fields
                        h = e[7] if len(e) > 7 else _bucket_hash(_fold(e[0]))
                        if buckets == 1 or h % buckets == bucket:
                            yield e

    def at(ts: float | None) -> datetime | None:
        return datetime.fromtimestamp(ts, timezone.utc) if ts is not None else None

    def rank(ts: float | None, record: int) -> tuple:  # the row a key keeps: the latest modified, then the last
        return (ts is not None, ts if ts is not None else 0.0, record)

    # pass 1, compact: fold -> (modified, record, spelling) of the row the key keeps so far; folds seen twice
    index: dict[str, tuple] = {}
    repeated: set[str] = set()
    for e in staged_keys():
        key = e[0]
        fold = _fold(key)
        kept = index.get(fold)
        if kept is None:
            index[fold] = (e[2], e[1], key)
            continue
        repeated.add(fold)
        if kept[2] == key and rank(e[2], e[1]) > rank(kept[0], kept[1]):
            index[fold] = (e[2], e[1], key)
    if not repeated:  # every key once (the usual export): no second read of the spool
        return {"losers": [], "problems": []}
    # pass 2: the rows of repeated folds only; the kept row's details as it comes by, the others after
    kept_rows: dict[str, _Kept] = {}
    others: list[tuple] = []
    for e in staged_keys():
        key, record, ts, raw, file, line, chunk = e[:7]
        fold = _fold(key)
        if fold not in repeated:
            continue
        _, kept_record, spelling = index[fold]
        if spelling == key and kept_record == record:
            kept_rows[fold] = _Kept(key, file, line, record, at(ts), raw)
        else:
            others.append((fold, key, record, ts, raw, file, line, chunk))
    del index, repeated
    losers: dict[int, list[int]] = {}
    problems: list[dict] = []
    single = "+" not in spec.key_field
    for fold, key, record, ts, raw, file, line, chunk in others:
        kept = kept_rows[fold]
        if kept.key != key:
            code, message = "case_collision", (
                f"{spec.key_field} {key!r} differs only in case or accents from {kept.key!r} ({kept.where()}), and "
                "Dataverse keys do not tell them apart: this row was not migrated; give one of them another id in "
                "the source")
        else:
            code, message = "duplicate_key", _duplicate_message(rows, key, kept, raw, at(ts))
        losers.setdefault(chunk, []).append(record)
        problems.append(Problem(spec.name, key, "extract", code, message, field=spec.key_field,
                                value=key if single else None, file=file, line=line, record=record).to_dict())
    return {"losers": sorted(losers.items()), "problems": problems}


def _finish(run: RunConfig, spec: ObjectSpec, st: Staging) -> dict:
    slices: list[dict] = []
    while st.exists(_slice_name(spec, len(slices))):
        slices.append(st.read_json(_slice_name(spec, len(slices))))
        if slices[-1]["last"]:
            break
    if not slices or not slices[-1]["last"]:
        raise RuntimeError(f"{spec.name}: extraction is not finished reading (slice {len(slices)} is missing)")
    source = open_source(run)
    # The keys are decided in buckets (by a hash of the case-folded key, so the rows one key has are in one
    # bucket): each holds at most about DEDUP_KEYS keys in memory, and a call decides buckets until its
    # time is up; an object of 10 million rows is ten buckets, in as many calls if need be.
    buckets = max(1, -(-slices[-1]["total_staged"] // DEDUP_KEYS))
    started = time.monotonic()
    losers: dict[int, set[int]] = {}
    dedup: list[dict] = []
    for bucket in range(buckets):
        name = obj_path(spec, "extract", "dedup", f"{bucket:05d}-of-{buckets:05d}.json")
        if not st.exists(name):
            if bucket and time.monotonic() - started >= slice_bounds()[1]:
                return {"done": False, "phase": "deduplicating", "slice": len(slices),
                        "source": slices[-1]["total_source"], "staged": slices[-1]["total_staged"]}
            st.write_json(name, _dedup_bucket(spec, st, slices, source.modified_field, bucket, buckets))
        decided = st.read_json(name)
        for chunk, records in decided["losers"]:
            losers.setdefault(chunk, set()).update(records)
        dedup += decided["problems"]
    refs: list[ChunkRef] = []
    rewritten = 0
    for doc in slices:
        for c in doc["chunks"]:
            number = int(c["name"].rsplit("part-", 1)[1].split(".")[0])
            if number not in losers:
                refs.append(ChunkRef(**c))
                continue
            name = c["name"].replace(".jsonl.gz", ".dedup.jsonl.gz")
            if not st.exists(name):
                if rewritten >= FINISH_REWRITES:  # bounded: the next call goes on from here
                    return {"done": False, "phase": "deduplicating", "slice": len(slices),
                            "source": slices[-1]["total_source"], "staged": slices[-1]["total_staged"]}
                from ..staging import read_chunk

                kept_rows = [r for r in read_chunk(st, c["name"], c["sha256"]) if r["_record"] not in losers[number]]
                st.write_bytes(name, encode_chunk(kept_rows))
                rewritten += 1
            data = st.read_bytes(name)
            count = sum(1 for line in gzip.decompress(data).splitlines() if line.strip())
            if count:
                refs.append(ChunkRef(name=name, records=count, sha256=hashlib.sha256(data).hexdigest(), size=len(data)))
    files = []
    reader = source.rows(spec)
    if hasattr(reader, "describe"):  # a file: as its reader describes it, hashed once more (streamed)
        if getattr(reader, "version", None) != slices[0].get("version"):
            reader.close()
            raise InputError(f"{spec.file} changed while it was being extracted: leave the export alone while a run "
                             "reads it, then rerun with --fresh")
        seen = reader.describe()
        reader.close()
        files = [{**seen, "rows": slices[-1]["next"].get("record", 0)}]
    rejects = [r for doc in slices for r in doc["rejects"]] + dedup
    rejects.sort(key=lambda p: p.get("record") or 0)
    warnings = [w for doc in slices for w in doc["warnings"]]
    trimmed: Counter[str] = Counter()
    for doc in slices:
        trimmed.update(doc["trimmed"])
    manifest = Manifest(object=spec.name, records=sum(r.records for r in refs), chunks=refs)
    st.write_bytes(manifest_name(obj_path(spec, "extract")), manifest_bytes(manifest))
    summary = {
        "object": spec.name, "source": slices[-1]["total_source"], "staged": manifest.records,
        "rejected": len(rejects), "sample": None, "sampled_out": 0, "warned": len(warnings),
        "trimmed_ids": {f: n for f, n in sorted(trimmed.items()) if n}, "files": files, "slices": len(slices),
        # a delta pass's filtered read: only records modified since then were read (reconcile carries the rest)
        **({"modified_since": slices[0]["modified_since"]} if slices[0].get("modified_since") else {}),
        "rejects": rejects, "warnings": warnings,
        "chunks": [{"name": c.name, "records": c.records, "sha256": c.sha256} for c in refs],
    }
    st.write_json(obj_path(spec, "extract.json"), summary)
    return {"done": True}
