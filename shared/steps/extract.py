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
import json
import tempfile
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Callable, Iterator

from .. import objects as catalogue_mod
from ..errors import InputError
from ..objects import Lookup, ObjectSpec
from ..problems import Problem
from ..run import RunConfig
from ..sources import Source, open_source
from ..sources.ids import id_fold, source_id
from ..sources.worketc.values import FieldError, parse_datetime
from ..staging import Staging, write_chunks
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
    else:
        # Reading the source blocks (files, zeep): keep it off the event loop that other activities share.
        summary = await asyncio.to_thread(_extract, run, spec, st)
        st.write_json(summary_name, summary)
    # counts and chunk names only: rejects and warnings quote source values (personal data), which
    # must not reach orchestration history; they stay in staging for the report
    return {k: v for k, v in summary.items() if k not in ("rejects", "warnings")}


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
        for f in self.id_fields:
            raw = row.get(f)
            if raw is not None:
                row[f] = clean = source_id(raw)
                self.trimmed[f] += clean != raw
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
        spool = None if source.replayable else stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))
        index = _index(_Rows(run, spec, source), first, spool)
        if spool is None:
            second: Iterator[dict] = source.rows(spec)
        else:
            spool.seek(0)
            second = (json.loads(line) for line in spool)
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


def _index(rows: _Rows, source_rows: Iterator[dict], spool: IO[str] | None) -> dict[str, _Kept]:
    """Pass 1: case-folded key -> the row that key keeps (spooling the rows when they cannot be read again)."""
    index: dict[str, _Kept] = {}
    for n, row in enumerate(source_rows, 1):
        if spool is not None:
            spool.write(json.dumps(row, ensure_ascii=False) + "\n")
        key = None if row.get("_error") else rows.key(row)
        if key is None:
            continue
        where = rows.where(row, n)
        raw, at = rows.modified(row)
        here = _Kept(key, where["file"], where["line"], where["record"], at, raw)
        kept = index.setdefault(id_fold(key), here)
        if kept.key == key and here.rank() > kept.rank():
            index[id_fold(key)] = here
    return index


def _stage(rows: _Rows, source_rows: Iterator[dict], index: dict[str, _Kept], rejects: list[Problem],
           warnings: list[Problem], counts: Counter) -> Iterator[dict]:
    """Pass 2: yield the rows to stage; every other row becomes a reject naming why (and the kept row)."""
    spec = rows.spec
    for n, row in enumerate(source_rows, 1):
        counts["source"] += 1
        where = rows.where(row, n)
        row["_record"] = where["record"]
        malformed = row.get("_error")
        key = rows.key(row)
        for w in row.pop("_warnings", None) or ():
            warnings.append(Problem(spec.name, key, "extract", w["code"], w["message"], field=w["field"],
                                    value=w["value"], **where))
        kept = index.get(id_fold(key)) if key is not None and not malformed else None
        if malformed:
            problem = ("malformed_row", None, malformed)
        elif key is None:
            problem = ("missing_key", spec.key_field, f"{spec.key_field} is empty: the row cannot be migrated; "
                                                      "give it its id in the source and export again")
        elif kept is None:  # pass 1 saw no such key: the source changed in between
            raise InputError(f"{where['file']} changed while it was being extracted: leave the export alone while a "
                             "run reads it, then rerun")
        elif kept.key != key:
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
