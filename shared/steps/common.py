"""What every step shares: reading a payload, the staging and Dataverse handles, staging paths,
problem lists, once-only work for non-record objects, and the schema helpers several phases use."""

from __future__ import annotations

import asyncio
import os
import weakref
from contextlib import asynccontextmanager
from dataclasses import replace
from collections import Counter
from typing import Callable

from .. import http as shared_http
from .. import objects as catalogue_mod
from ..dataverse import schema
from ..dataverse.client import DataverseClient
from ..dataverse.settings import DataverseSettings
from ..errors import PermanentError
from ..mapping import MapFileError, MappingFile, ObjectMapping, load as load_map, mappable
from ..mapping.apply import spec_for
from ..objects import ObjectSpec
from ..problems import Problem, csv_text  # noqa: F401 - csv_text: the one report CSV writer
from ..run import RunConfig
from ..staging import Staging, open_staging, read_chunk, read_manifest

KEY_COLUMN_LENGTH = 100


def run_config(payload: dict) -> RunConfig:
    return RunConfig.model_validate(payload["run"])


def spec_of(run: RunConfig, name: str) -> ObjectSpec:
    return catalogue_mod.catalogue(run.source)[name]


def staging_for(run: RunConfig) -> Staging:
    return open_staging(run.staging, prefix=run.prefix)


#: one open client per event loop and settings: activities that run at once in one worker share its
#: connection pool and, above all, its throttling state (adaptive concurrency, Retry-After pauses per
#: identity), instead of each pushing its own window against the same per-user limits
_CLIENTS: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict]" = weakref.WeakKeyDictionary()


@asynccontextmanager
async def dataverse(run: RunConfig):
    # Identities, limits and the CA bundle come from the environment (app settings); the target
    # environment URL is the run's.
    settings = DataverseSettings.from_env(env={**os.environ, "DATAVERSE_URL": run.target})
    clients = _CLIENTS.setdefault(asyncio.get_running_loop(), {})
    key = (settings.model_dump_json(), shared_http.transport_key(settings.url))
    client = clients.get(key)
    if client is None:
        client = clients[key] = DataverseClient(settings)
        await client.__aenter__()
    yield client


def obj_path(spec: ObjectSpec, *parts: str) -> str:
    return "/".join(("objects", spec.name, *parts))


def problems_from(items: list[dict] | None) -> list[Problem]:
    return [Problem.from_dict(p) for p in items or []]



async def ensure_custom_table(dv: DataverseClient, spec: ObjectSpec) -> None:
    if spec.custom_table:
        schema_name, display, plural = spec.custom_table
        await schema.ensure_table(dv, schema_name, display, display_collection_name=plural,
                                  has_notes=True, has_activities=True)


def effective_spec(st: Staging, spec: ObjectSpec) -> ObjectSpec:
    """The object as prepared for this environment (its fallback table, if the table is missing)."""
    if spec.fallback_table and st.exists(obj_path(spec, "target.json")):
        table = st.read_json(obj_path(spec, "target.json"))["table"]
        return replace(spec, table=table, entity_set=catalogue_mod.entity_set(table), columns=())
    return spec


#: the approved column map and its approval (``{"hash": "sha256:...", ...}``), written by the approval step
APPROVED_MAP, APPROVAL = "mapping/approved.yaml", "mapping/approval.json"
#: approved maps by content hash: each is read and parsed once per process (the hash names its content)
_APPROVED: dict[str, MappingFile] = {}


def approved_mapping(st: Staging, spec: ObjectSpec) -> ObjectMapping | None:
    """The approved map's entries for ``spec``; None when no map is approved, or it does not list ``spec``
    (documents and non-record objects are not mapped: they keep the catalogue's declaration)."""
    if not mappable(spec) or not st.exists(APPROVAL):
        return None
    approved = st.read_json(APPROVAL)["hash"]
    mapping = _APPROVED.get(approved)
    if mapping is None:
        if not st.exists(APPROVED_MAP):
            raise PermanentError(f"{APPROVAL} approves a map, but {APPROVED_MAP} is missing from staging: approve "
                                 "the map again")
        try:
            mapping = load_map(st.read_bytes(APPROVED_MAP).decode("utf-8"))
        except MapFileError as e:
            raise PermanentError(f"{APPROVED_MAP} cannot be read: {e.errors[0]}") from None
        if mapping.content_hash() != approved:
            raise PermanentError(f"{APPROVED_MAP} has changed since it was approved (its content is "
                                 f"{mapping.content_hash()}, the approval is for {approved}): approve it again")
        _APPROVED[approved] = mapping
    return mapping.object(spec.name)


def require_approval(st: Staging, run: RunConfig) -> None:
    """Nothing changes Dynamics 365 (schema or records) before a person approved the run's field map."""
    if not st.exists(APPROVAL):
        raise PermanentError(f"run {run.run_id}: the field map is not approved, and nothing is written to Dynamics 365 "
                             "before it is: approve mapping.yaml (python -m cli migrate ... --approve FILE, or "
                             "POST /api/migrations/{id}/approve)")


def approved_spec(st: Staging, spec: ObjectSpec) -> ObjectSpec:
    """``spec`` as the approved map says (shared.mapping.apply.spec_for), with the option values its new
    Picklist columns have in Dataverse (``picklists.json``, staged by prepare); ``spec`` when no map applies."""
    mapping = approved_mapping(st, spec)
    if mapping is None:
        return spec
    name = obj_path(spec, "picklists.json")
    return spec_for(spec, mapping, st.read_json(name) if st.exists(name) else None)


async def ensure_columns_and_key(dv: DataverseClient, table: str, key_col: str, engine: list) -> None:
    cols = [schema.ColumnSpec(schema_name=key_col, type="String", label="Source id", max_length=KEY_COLUMN_LENGTH)]
    cols += [schema.ColumnSpec(schema_name=c.logical_name, type=c.type, label=c.label, max_length=c.max_length,
                               options=list(c.options), date_only=c.date_only)
             for c in engine if c.type != "Lookup"]
    await schema.ensure_columns(dv, table, cols)
    for c in engine:
        if c.type == "Lookup":
            await schema.ensure_lookup(dv, table, c.logical_name, c.target, c.label)
    await schema.ensure_alternate_key(dv, table, f"{key_col}_key", [key_col])


def staged_rows(st: Staging, spec: ObjectSpec) -> list[dict]:
    manifest = read_manifest(st, obj_path(spec, "extract"))
    return [r for c in manifest.chunks for r in read_chunk(st, c.name, c.sha256)] if manifest else []


def row_problems(spec: ObjectSpec, stage: str, rejects: list[tuple[dict, str, str, str]]) -> list[dict]:
    return [Problem(spec.name, row.get(spec.key_field), stage, code, message, file=row.get("_file"),
                    line=row.get("_row"), record=row.get("_record"), field=fld, value=row.get(fld)).to_dict()
            for row, fld, code, message in rejects]


def once(st: Staging, spec: ObjectSpec, stage: str, make: Callable[[list[dict]], tuple[dict, list]]) -> dict:
    """Run a non-record object's work over its staged rows once; later calls read what it wrote."""
    name = obj_path(spec, "result.json")
    if not st.exists(name):
        rows = staged_rows(st, spec)
        extra, rejects = make(rows)
        st.write_json(name, {"loaded": len(rows) - len(rejects), **extra,
                             "problems": row_problems(spec, stage, rejects)})
    return st.read_json(name)


def load_summary(doc: dict) -> dict:
    c = Counter(o["status"] for o in doc["outcomes"])
    return {"created": c["created"], "updated": c["updated"], "unchanged": c["unchanged"], "rejected": c["rejected"]}

