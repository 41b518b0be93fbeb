"""Per-object progress of a run in progress, for ``GET /api/migrations/{id}``.

Two sources, both cheap to read while activities work: the ``migrate_object`` sub-orchestrations' custom
status (instance ``<run id>:<object>``: its phase, extraction's rows read and slices, loading rounds), and
staging, where every step leaves its output per chunk (``objects/<name>/...``): the extract manifest
(chunks and records staged), the transform and load summaries present (chunks done; records loaded are
the staged records of the chunks loaded), documents' ``.retry.json`` (chunks waiting because
SharePoint throttled them) and load's ``.throttled.json`` (Dataverse's 429 answers, a few bytes per chunk that
was throttled: ``dataverse_429``). Only names are listed and the manifest read: never records, rejects or
warnings, which quote source values.

No Azure Functions import here: the Function App passes its Durable client's ``get_status``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable

from ..run import pass_prefix
from ..staging import Staging, open_staging, read_manifest

log = logging.getLogger("migration")

_TRANSFORMED = re.compile(r"/transform/(part-\d+)\.json$")
_LOADED = re.compile(r"/load/(part-\d+)\.json$")
_THROTTLED = re.compile(r"/load/(part-\d+)\.retry\.json$")
#: load_chunk's 429 counter of a chunk that Dataverse throttled (shared/steps/load.py THROTTLED_SUFFIX)
_DATAVERSE_429 = re.compile(r"/load/part-\d+\.throttled\.json$")
_SLICE = re.compile(r"/extract/slices/\d+\.json$")
#: what a sub-orchestration's custom status may show (counts and phases; never a report's e-mails)
_STATUS_FIELDS = ("phase", "slices", "source", "staged", "chunks", "pending", "round")


def _stem(name: str) -> str:
    return name.rsplit("/", 1)[-1].split(".")[0]


def object_progress(st: Staging, name: str) -> dict:
    """Chunks and records of one object as staging shows them now."""
    base = f"objects/{name}"
    names = st.list(base + "/")
    manifest = read_manifest(st, f"{base}/extract")
    out: dict[str, Any] = {"extract_slices": sum(1 for n in names if _SLICE.search(n))}
    transformed = {m[1] for n in names if (m := _TRANSFORMED.search(n))}
    loaded = {m[1] for n in names if (m := _LOADED.search(n))}
    throttled = {m[1] for n in names if (m := _THROTTLED.search(n))}
    if manifest is not None:
        records = {_stem(c.name): c.records for c in manifest.chunks}
        out["chunks"] = {"total": len(records), "transformed": len(transformed & set(records)),
                         "loaded": len(loaded & set(records))}
        out["records"] = {"staged": manifest.records, "loaded": sum(records.get(p, 0) for p in loaded)}
    if throttled:
        out["throttled_chunks"] = len(throttled)  # waiting for SharePoint's Retry-After
    counters = [st.read_json(n) for n in names if _DATAVERSE_429.search(n)]  # only chunks that were throttled
    if counters:
        out["dataverse_429"] = answers_429(counters)
    return out


def answers_429(counters: list[dict]) -> int:
    """The 429 answers Dataverse gave while the object's chunks loaded. Each counter is a worker client's 429
    count before and after one chunk; chunks loading at once share the client, so per client the intervals
    are merged (a 429 is counted once, whichever of the chunks in flight it slowed)."""
    total = 0
    by_client: dict[str, list[tuple[int, int]]] = {}
    for c in counters:
        before, after = c["throttled"]
        by_client.setdefault(c["client"], []).append((int(before), int(after)))
    for spans in by_client.values():
        end = None
        for before, after in sorted(spans):
            start = before if end is None else max(before, end)
            total += max(0, after - start)
            end = after if end is None else max(end, after)
    return total


async def run_progress(instance_id: str, run: dict, custom_status: Any,
                       get_status: Callable[[str], Awaitable[Any]]) -> list[dict] | None:
    """One entry per planned object (``plan`` in the parent's custom status: its waves), in wave order:
    ``{"object", "wave", "phase", ...counts}``; None before the run has planned its waves."""
    if not isinstance(custom_status, dict) or not isinstance(custom_status.get("plan"), list) \
            or not run.get("staging") or not run.get("run_id"):
        return None
    run_id = run.get("run_id")
    st: Staging | None = None
    try:
        st = open_staging(run["staging"], prefix=pass_prefix(run_id, int(run.get("pass_no") or 1)), create=False)
    except Exception as e:  # progress is best effort: the Durable statuses still answer
        log.warning("progress: staging cannot be opened: %s", type(e).__name__)
    out = []
    done = set(custom_status.get("done") or ())
    for wave, names in enumerate(custom_status["plan"], start=1):
        for name in names:
            entry: dict[str, Any] = {"object": name, "wave": wave}
            status = await get_status(f"{instance_id}:{name}")
            sub = getattr(status, "custom_status", None)
            if isinstance(sub, dict):
                entry.update({k: sub[k] for k in _STATUS_FIELDS if k in sub})
            entry.setdefault("phase", "done" if name in done else "waiting")
            if st is not None and entry["phase"] != "waiting":
                try:
                    entry.update(object_progress(st, name))
                except Exception as e:
                    log.warning("progress of %s: %s", name, type(e).__name__)
            out.append(entry)
    return out
