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
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Iterator

from ..errors import InputError
from ..objects import ObjectSpec
from ..problems import Problem
from ..run import RunConfig
from ..sources import Source, open_source
from ..sources.ids import id_fold, source_id
from ..sources.worketc.values import FieldError, parse_datetime
from ..staging import Staging, write_chunks
from .common import obj_path, run_config, spec_of, staging_for


async def extract_object(payload: dict) -> dict:
    """Source -> staged chunks and ``extract.json`` (counts, rejects, warnings, the files read)."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    summary_name = obj_path(spec, "extract.json")
    if st.exists(summary_name):
        summary = st.read_json(summary_name)
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
        manifest = write_chunks(st, obj_path(spec, "extract"), staged, object_name=spec.name, chunk_size=run.chunk_size)
    return {
        "object": spec.name,
        "source": counts["source"],
        "staged": manifest.records,
        "rejected": len(rejects),
        "warned": len(warnings),
        "trimmed_ids": {f: n for f, n in sorted(rows.trimmed.items()) if n},
        "files": _files(first, second if spool is None else None),
        "rejects": [p.to_dict() for p in rejects],
        "warnings": [p.to_dict() for p in warnings],
        "chunks": [{"name": c.name, "records": c.records, "sha256": c.sha256} for c in manifest.chunks],
    }


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
