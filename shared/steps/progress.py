"""Per-object progress of a run in progress, for ``GET /api/migrations/{id}``.

Two sources, both cheap to read while activities work: the ``migrate_object`` sub-orchestrations' custom
status (instance ``<run id>:<object>``: its phase, extraction's rows read and slices, loading rounds), and
staging, where every step leaves its output per chunk (``objects/<name>/...``): the extract manifest
(chunks and records staged), the transform and load summaries present (chunks done; records loaded are
the staged records of the chunks loaded), and documents' ``.retry.json`` (chunks waiting because
SharePoint throttled them). Only names are listed and the manifest read: never records, rejects or
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
    return out


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
