"""Transform: one staged chunk of source rows -> one chunk of load rows, plus rejects and warnings.

The object is shaped as the approved column map says (``approved_spec``: mapping/approved.yaml) when one
is approved, else as the catalogue declares it. A column the approved map does not list stops the run
rather than being left behind unseen: the export changed since the map was proposed."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import os
import threading
import time
from collections import Counter, OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from .. import changes
from .. import objects as catalogue_mod
from ..errors import InputError, SettingsError
from ..mapping import ObjectMapping
from ..memory import keep_freed_memory
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
    if st.exists("units.json"):  # the unit group products are sold in (prepared with them)
        config["units"] = st.read_json("units.json")
    return TransformContext(owners=owners_doc["owners"], default_owner=owners_doc["default_owner"],
                            lookup_targets=lookups, custom_columns=custom, date_order=run.date_order,
                            timezone=run.timezone, currencies=currencies, config=config,
                            owner_aliases=owners_doc.get("aliases", {}))


#: contexts built in this process, by (staging, run, object, fingerprint of their inputs): a context does
#: not change while an object is transformed (its inputs come from earlier waves), so it is built once per
#: object and process, not once per chunk (reading every lookup target's loaded keys, folding them for the
#: case-insensitive match). The fingerprint covers each input's small companion blobs (a target's
#: report.json and extract manifest, owners.json, ...), so a rerun that changed them builds it again.
_CONTEXTS: "OrderedDict[tuple, TransformContext]" = OrderedDict()
_CONTEXTS_KEPT = 2
_CONTEXT_LOCK = threading.Lock()
CONTEXT_BUILDS = Counter()  # object name -> contexts built in this process (tests count them)


def _context_inputs(run: RunConfig, spec: ObjectSpec) -> list[str]:
    specs = catalogue_mod.catalogue(run.source)
    referenced = {t for lk in spec.lookups for t in lk.targets}
    referenced |= {d for d in spec.depends_on if specs[d].pipeline == "records"}
    names = ["owners.json", "schema/custom_fields.json", "currencies.json", "units.json"]
    for name in sorted(referenced):
        names += [obj_path(specs[name], "report.json"), obj_path(specs[name], "extract", "manifest.json")]
    names += [obj_path(specs[name], "result.json") for name in sorted(spec.uses_config)]
    return names


def _context_for(run: RunConfig, spec: ObjectSpec, st: Staging) -> TransformContext:
    digest = hashlib.sha256(repr((sorted((lk.source, repr(lk.target)) for lk in spec.lookups),
                                  sorted(spec.depends_on), [f.kind for f in spec.fields])).encode())
    for name in _context_inputs(run, spec):
        digest.update(name.encode() + b"\0" + (st.read_bytes(name) if st.exists(name) else b"-") + b"\0")
    key = (st.url("owners.json"), run.run_id, spec.name, digest.hexdigest())
    with _CONTEXT_LOCK:
        if key in _CONTEXTS:
            _CONTEXTS.move_to_end(key)
            return _CONTEXTS[key]
    ctx = _transform_context(run, spec, st)
    CONTEXT_BUILDS[spec.name] += 1
    with _CONTEXT_LOCK:
        _CONTEXTS[key] = ctx
        while len(_CONTEXTS) > _CONTEXTS_KEPT:
            _CONTEXTS.popitem(last=False)
    return ctx


def _check_listed(spec: ObjectSpec, mapping: ObjectMapping, rows: list[dict]) -> None:
    """Every column that holds a value has an entry in the approved map (even if only ``skip``)."""
    listed = {e.source.casefold() for e in mapping.entries}
    unlisted = sorted({k for r in rows for k, v in r.items()
                       if not k.startswith("_") and v not in (None, "") and k.casefold() not in listed
                       and k != spec.key_field})  # a composite key (A+B) is the extraction's column, not the source's
    if unlisted:
        raise InputError(f"{spec.file}: the column(s) {', '.join(map(repr, unlisted))} hold values, but the approved "
                         "map lists no entry for them (the source changed since the map was proposed): propose the "
                         "map again, or add them (kind skip leaves a column behind), and approve it")


#: CPU work of the transform runs in worker processes (pure Python holds the GIL: threads would not use a
#: second core, and on the event loop it would stall every other activity of the worker). TRANSFORM_PROCESSES
#: worker processes (default: the CPUs this process may use; 0: a thread of this process). Chosen over more
#: FUNCTIONS_WORKER_PROCESS_COUNT, which would also multiply the Dataverse clients and their throttle state.
_POOL: ProcessPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def transform_processes() -> int:
    raw = os.environ.get("TRANSFORM_PROCESSES", "").strip()
    if not raw:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        return max(0, int(raw))
    except ValueError:
        raise SettingsError(f"TRANSFORM_PROCESSES={raw!r} is not a whole number: set it to the number of "
                         "transform worker processes (0: none), or leave it unset") from None


def _pool(workers: int) -> ProcessPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            # spawn: a fresh interpreter (forking a process with an event loop and threads is unsafe); it
            # imports the main module again, so a script that starts a run keeps `if __name__ == "__main__"`
            _POOL = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start_worker, initargs=(os.getpid(),))
        return _POOL


def _start_worker(parent: int) -> None:
    """In a worker: keep freed memory for the next chunk (shared/memory.py), and exit when the process that
    started it is gone (killed without shutting its pool down)."""
    keep_freed_memory()
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(2)
        os._exit(0)
    threading.Thread(target=watch, name="transform-parent-watch", daemon=True).start()


def _in_worker(payload: dict, environment: dict[str, str]) -> dict:
    if os.environ != environment:  # settings the activity sees (a worker outlives changes to them)
        os.environ.clear()
        os.environ.update(environment)
    return transform_chunk_sync(payload)


async def transform_chunk(payload: dict) -> dict:
    """One staged chunk of source rows -> one chunk of load rows, plus rejects and warnings (in a worker
    process; the event loop only waits)."""
    global _POOL
    workers = transform_processes()
    if workers == 0:
        return await asyncio.to_thread(transform_chunk_sync, payload)
    try:
        return await asyncio.get_running_loop().run_in_executor(_pool(workers), _in_worker, payload,
                                                                dict(os.environ))
    except BrokenProcessPool:
        with _POOL_LOCK:  # a worker died (out of memory?): the next attempt of the activity gets a new pool
            _POOL = None
        raise


def transform_chunk_sync(payload: dict) -> dict:
    """The transform of one chunk (see :func:`transform_chunk`)."""
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
    t = Transformer(spec, _context_for(run, spec, st))
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
            rows.append(changes.with_hash(o.row))  # what a later pass compares (shared/changes.py)
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
