"""Extraction: source -> staged chunks; malformed rows, rows without a key and duplicate keys are
rejected here, naming file and row."""

from __future__ import annotations

import asyncio
from collections import Counter

from ..problems import Problem
from ..sources import open_source
from ..staging import write_chunks
from .common import (obj_path, run_config, spec_of, staging_for)



async def extract_object(payload: dict) -> dict:
    """Source -> staged chunks. Rows without a key, duplicate keys and malformed rows are rejected here."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    summary_name = obj_path(spec, "extract.json")
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
    manifest = await asyncio.to_thread(write_chunks, st, obj_path(spec, "extract"), good_rows(),
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
