"""Documents and files: WORKetc binaries -> SharePoint, linked to their records in Dataverse.

``transfer_documents(payload)`` is the load activity of the ``document`` object (its
``ObjectSpec.load_activity``). It is called once per *transformed* chunk, exactly like
:func:`shared.steps.load.load_chunk`: same payload (``{"run", "object", "chunk": {"name", "records",
"sha256"}}``), same idempotency (the result file exists -> its summary is returned, nothing is redone)
and the same result document at the same place, ``objects/<object>/load/<part>.json`` =
``{"outcomes": [{"key", "status", "code", "message", "id", "row", "record", "table"}], "warnings": [Problem]}``,
so :func:`shared.steps.reconcile.reconcile_object` reconciles documents unchanged. It returns
``{"created", "updated", "unchanged", "rejected"}``; every file ends ``created`` (uploaded),
``unchanged`` (already in SharePoint with the same content) or ``rejected`` with a reason.

A transformed row::

    {"key": "1000001", "row": 5, "body": {
        "FileName": "Angebot Müller.pdf", "MimeType": "application/pdf", "SizeBytes": 12345,
        "Sha256": "<hex>", "Path": "company/1000001-Angebot Müller.pdf",   # relative to files/
        "regarding": {"object": "company", "table": "account", "entity_set": "accounts",
                      "key_column": "wtc_sourceid", "key": "10001"},
        "overriddencreatedon": "...", "ownerid@odata.bind": "/systemusers(...)"}}

Per chunk:

1. The regarding records are read from Dataverse by alternate key, one
   ``Microsoft.Dynamics.CRM.In`` query per table (and per 200 keys), with their primary id and
   primary name (the table's ``PrimaryNameAttribute``). A document whose record does not exist is
   rejected ``missing_parent``.
2. SharePoint layout, Dynamics 365's convention: a library per table (``account``, ``contact``,
   ``opportunity``, ``incident``...) and in it a folder per record, ``<record name>_<GUID without
   dashes, upper case>`` (``record_folder_name``). If the site has a document library whose
   URL name is the table's logical name, it is used; otherwise a top folder named after the table in
   the site's default library stands in for it (and Dataverse gets one more location level for the
   default library, so the location chain always describes the real URL). A record folder that
   already has its location keeps its folder name (a renamed record does not move its files).
3. File names (:mod:`shared.sharepoint.names`, :func:`file_names`): SharePoint refuses some characters and
   names (Microsoft support, "Restrictions and limitations in OneDrive and SharePoint"),
   so such names are changed, each with a ``file_renamed`` warning naming the file, the record, the
   original and the new name. Names are unique per record folder across the whole run, whatever the
   chunking and the parallelism: two documents of one record with the same name (case-insensitive,
   after cleaning) anywhere in the source -> the smallest source id keeps it, the others get
   `` (<source id>)`` before the extension. That is decided once from every transformed chunk (all
   exist before the first load runs) and kept in staging (``objects/<object>/file_names.json``). A
   name too long for SharePoint's 400-character path is shortened, always with its source id.
4. Each binary is streamed from the source (:func:`open_document`) to
   ``SharePointClient.upload_file`` (simple upload or upload session, constant memory, sha256 and
   quickXorHash verified), which never replaces a file: the same content already there ->
   ``unchanged`` (a rerun), other content -> ``rejected`` ``name_conflict``. The record's folder is
   created just before its first file is written, so a record whose files are all refused gets no
   folder. Binaries never pass through orchestrator history. Rejection codes: ``missing_parent``,
   ``missing_file``, ``sha256_mismatch``, ``size_mismatch``, ``name_conflict``, ``path_too_long``,
   ``folder_failed``, ``location_failed``, ``upload_failed``, ``graph_throttled``,
   ``upload_verification_failed``, ``read_failed``, ``invalid_document``, ``no_binary_source``.
   The outcome's ``id`` is the driveItem id.
5. Dataverse, upserted by alternate key: the document object's own key column (``wtc_sourceid`` for
   WORKetc, ``w4a_sourceid`` for work4all: a run writes only its source's publisher's columns; the column
   and key are ensured first), for
   the records that have a file in SharePoint: one ``sharepointsite`` (key ``site:<host><path>``,
   ``absoluteurl`` = the site's webUrl), one ``sharepointdocumentlocation`` per library (key
   ``library:<table>``; for the default-library fallback also ``library:<its URL name>``), one per
   record folder (key ``folder:<table>:<record key>``, ``regardingobjectid_<table>`` bound to the
   record). A regarding record may name other tables to look in (``"or": [{"table", "entity_set"}]``) when
   the transform cannot know which one its record went to (a work4all Rechnung: opportunity or invoice, as
   the map's setting said); the first table that has the key is the record's.

Throttling: the client waits out Graph's ``Retry-After`` up to ``SHAREPOINT_MAX_WAIT_SECONDS`` per
request. When Graph asks for longer, the chunk stops starting uploads, keeps what is final in
``objects/<object>/load/<part>.retry.json`` and the activity fails *transiently*, so the orchestrator
retries it (the retry first waits out the rest of the Retry-After, bounded the same way, and does
not send a finished file again). When the wait budget is spent (``SHAREPOINT_THROTTLE_BUDGET_SECONDS``
since the chunk was first throttled, or the orchestrator's last attempt), the files still waiting
are rejected ``graph_throttled`` so the run ends with every file accounted for.

Settings (environment / app settings; :func:`check_settings` reports every problem in one go)::

    SHAREPOINT_SITE_URL        https://contoso.sharepoint.com/sites/crm (required)
    GRAPH_URL                  Graph base URL (default https://graph.microsoft.com/v1.0)
    GRAPH_TOKEN                a static bearer token for Graph; otherwise the first Dataverse identity
                               (DATAVERSE_TOKEN is NOT reused: it is a Dataverse token; managed identity,
                               MSAL client credentials... see shared/dataverse/settings.py) gets a token
                               for GRAPH_SCOPE (default https://graph.microsoft.com/.default)
    GRAPH_CA_BUNDLE            CA file to trust for Graph/SharePoint (local emulator over TLS)
    SHAREPOINT_UPLOAD_CONCURRENCY       uploads in flight per chunk (default 4)
    SHAREPOINT_SIMPLE_UPLOAD_LIMIT      bytes; larger files use upload sessions (default 4 MiB)
    SHAREPOINT_MAX_WAIT_SECONDS         longest Retry-After waited inside an activity (default 600)
    SHAREPOINT_THROTTLE_BUDGET_SECONDS  how long a throttled chunk keeps being retried (default 3600)

The Graph identity needs ``Sites.Selected`` + a write grant on the site (or Sites.ReadWrite.All).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterator
from urllib.parse import unquote, urlsplit

import httpx

from ..auth import StaticToken, token_provider_from_settings
from ..dataverse import loader
from ..dataverse.client import DataverseClient
from ..dataverse.keys import encode_key, in_filter
from ..dataverse.settings import DataverseSettings
from ..errors import AccessError, SettingsError
from ..objects import ObjectSpec
from ..problems import Problem
from ..run import RunConfig
from ..sharepoint import (ContentMismatch, GraphError, GraphThrottled, ItemExists, SharePointClient,
                          UploadVerificationError)
from ..sharepoint.names import (MAX_PATH, RESTRICTIONS, record_folder_name, safe_name, unique_names,
                                with_source_id)
from ..staging import Staging, read_chunk
from ..staging.imports import open_import
from .common import dataverse, ensure_columns_and_key, load_summary, obj_path, run_config, spec_of, staging_for

log = logging.getLogger("migration.documents")

KEY_COLUMN = "wtc_sourceid"  # WORKetc's; each document object keys its sites and locations by its own key_column


def location_tables(key_column: str = KEY_COLUMN) -> tuple[loader.TableRef, loader.TableRef]:
    """The sharepointsite and sharepointdocumentlocation tables, keyed by a source's key column."""
    return (loader.TableRef("sharepointsite", "sharepointsites", key_column),
            loader.TableRef("sharepointdocumentlocation", "sharepointdocumentlocations", key_column))


SITE_TABLE, LOCATION_TABLE = location_tables()
IN_CHUNK = 200
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_GRAPH_SCOPE = "https://graph.microsoft.com/.default"
#: the orchestrator's attempts per activity (``orchestrators.migration.RETRY``): a chunk throttled on
#: its last attempt rejects what still waits rather than failing the run
ACTIVITY_ATTEMPTS = 3

# --------------------------------------------------------------------------- names (rules: shared/sharepoint/names.py)


def _source_key(row: dict) -> str:
    return str(row.get("source_key", row.get("key")))


def _transformed_rows(st: Staging, spec: ObjectSpec) -> Iterator[dict]:
    """Every transformed row of the object, chunk by chunk (all are staged before the first load)."""
    for chunk in st.read_json(obj_path(spec, "extract.json"))["chunks"]:
        part = chunk["name"].rsplit("/", 1)[-1].split(".")[0]
        summary = obj_path(spec, "transform", f"{part}.json")
        if not st.exists(summary):
            raise RuntimeError(f"{spec.name}: {summary} is not in staging yet; documents load after every "
                               "chunk is transformed")
        done = st.read_json(summary)["chunk"]
        if done:
            yield from read_chunk(st, done["name"], done.get("sha256"))


def file_names(st: Staging, spec: ObjectSpec) -> dict[str, str]:
    """Source id -> file name, for the documents whose cleaned name another document of the same
    record also has anywhere in the source (see :func:`unique_names`). Decided from every transformed chunk,
    so each chunk, whenever and wherever it runs, decides the same; the first to need it keeps it in
    staging (writers racing write the same bytes)."""
    name = obj_path(spec, "file_names.json")
    if st.exists(name):
        return st.read_json(name)
    by_record: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for row in _transformed_rows(st, spec):
        body = row.get("body") or {}
        reg = body.get("regarding") or {}
        if reg.get("table") and reg.get("key") not in (None, "") and str(body.get("FileName") or "").strip():
            by_record[(reg["table"], str(reg["key"]))].append((_source_key(row), safe_name(body["FileName"])[0]))
    plan = {key: new for names in by_record.values() for key, new in unique_names(names).items()}
    st.write_json(name, plan)
    return plan


# --------------------------------------------------------------------------- binaries


class DocumentUnavailable(Exception):
    """The source has no binary for this document (missing file, path outside the export...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _open_csv(run: RunConfig, body: dict) -> BinaryIO:
    rel = (body.get("Path") or "").replace("\\", "/").lstrip("/")
    if not rel:
        raise DocumentUnavailable("missing_file", f"{body.get('FileName')!r}: the document has no Path")
    if ".." in rel.split("/"):
        raise DocumentUnavailable("invalid_document", f"files/{rel}: the path leaves the export's files/ folder")
    try:
        # the export folder, or the upload imports/<name> in the staging account (shared/staging/imports.py)
        return open_import(run.input, getattr(run, "staging", None)).open_file(f"files/{rel}")
    except ValueError:
        raise DocumentUnavailable("invalid_document", f"files/{rel}: the path leaves the export's files/ folder")
    except FileNotFoundError:
        raise DocumentUnavailable("missing_file", f"files/{rel} ({body.get('FileName')}) is not in the export")
    except (IsADirectoryError, PermissionError) as e:
        raise DocumentUnavailable("missing_file", f"files/{rel} cannot be read: {e}")


_soap_clients = threading.local()  # zeep clients are not thread-safe: one per thread and tenant


def _open_soap(run: RunConfig, body: dict) -> BinaryIO:
    """Download the binary through WORKetc's API to a temporary file (constant memory), sha256 checked."""
    from ..sources import WorketcSoapSource
    from ..sources.worketc.soap import WorketcError

    cache = _soap_clients.__dict__.setdefault("by_input", {})
    source = cache.get(run.input) or cache.setdefault(run.input, WorketcSoapSource(run.input))
    fd, name = tempfile.mkstemp(prefix="worketc-doc-")
    os.close(fd)
    try:
        source.client.download_document({"EntityID": body.get("EntityID"), "Sha256": body.get("Sha256")}, name)
        return open(name, "rb")  # unlinked below: the open file stays readable until closed
    except WorketcError as e:
        raise DocumentUnavailable("missing_file", f"{body.get('FileName')!r} (EntityID {body.get('EntityID')}): "
                                                  f"the WORKetc API did not give the file: {e}")
    finally:
        os.unlink(name)


def _open_work4all_export(run: RunConfig, body: dict) -> BinaryIO:
    """A work4all Beleg's PDF: ``Path`` is relative to the export folder (``Dateien/...``, the format)."""
    rel = (body.get("Path") or "").replace("\\", "/").lstrip("/")
    if not rel or ".." in rel.split("/"):
        raise DocumentUnavailable("invalid_document", f"{rel!r}: not a file of the export's Dateien/ folder")
    try:
        return open_import(run.input, getattr(run, "staging", None)).open_file(rel)
    except ValueError:
        raise DocumentUnavailable("invalid_document", f"{rel}: the path leaves the export folder")
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise DocumentUnavailable("missing_file", f"{rel} ({body.get('FileName')}) is not in the export")


#: run.source -> opener: a readable, ideally seekable, binary stream the caller closes.
OPENERS: dict[str, Callable[[RunConfig, dict], BinaryIO]] = {"worketc-csv": _open_csv, "worketc-soap": _open_soap,
                                                             "work4all-export": _open_work4all_export}


def open_document(run: RunConfig, body: dict) -> BinaryIO:
    """The binary of one document as a stream (the caller closes it). Raises
    :class:`DocumentUnavailable` when the source cannot give it."""
    opener = OPENERS.get(run.source)
    if opener is None:
        raise DocumentUnavailable("no_binary_source", f"the source {run.source!r} cannot provide document "
                                  "binaries yet")
    return opener(run, body)


def _stream_size(f: BinaryIO) -> int | None:
    try:
        return os.fstat(f.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        try:
            pos = f.tell()
            end = f.seek(0, os.SEEK_END)
            f.seek(pos)
            return end - pos
        except (AttributeError, OSError, ValueError):
            return None


# --------------------------------------------------------------------------- settings


#: numeric settings: name -> (GraphSettings field, type, default, minimum)
_NUMBERS: dict[str, tuple[str, type, float, float]] = {
    "SHAREPOINT_UPLOAD_CONCURRENCY": ("upload_concurrency", int, 4, 1),
    "SHAREPOINT_SIMPLE_UPLOAD_LIMIT": ("simple_upload_limit", int, 4 * 1024 * 1024, 1),
    "SHAREPOINT_MAX_WAIT_SECONDS": ("max_wait", float, 600.0, 0),
    "SHAREPOINT_THROTTLE_BUDGET_SECONDS": ("throttle_budget", float, 3600.0, 0),
    # one call of transfer_documents moves at most this many files / bytes (whole records), then says
    # done: False and the orchestrator calls it again for the rest: every activity stays bounded
    "SHAREPOINT_SLICE_FILES": ("slice_files", int, 500, 1),
    "SHAREPOINT_SLICE_BYTES": ("slice_bytes", int, 2 * 1024 ** 3, 1),
}


def _https(value: str) -> bool:
    u = urlsplit(value.strip())
    return u.scheme == "https" and bool(u.hostname)


def _number(env: dict, name: str) -> float | None:
    """The setting's value, None when unset; ValueError when it is not a number of its kind in range."""
    _, kind, _, minimum = _NUMBERS[name]
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    value = kind(raw)
    if value < minimum:
        raise ValueError(raw)
    return value


def _problems(env: dict, target: str | None) -> list[str]:
    """One line per problem with the settings documents need."""
    problems = []
    site = (env.get("SHAREPOINT_SITE_URL") or "").strip()
    if not site:
        problems.append("SHAREPOINT_SITE_URL is not set: set it to the SharePoint site the environment's document "
                        "management uses (e.g. https://contoso.sharepoint.com/sites/crm), or leave documents "
                        "out with --skip document")
    elif not _https(site):
        problems.append(f"SHAREPOINT_SITE_URL {site!r} is not an https:// site URL: set it to the SharePoint site "
                        "the environment's document management uses (e.g. https://contoso.sharepoint.com/sites/crm)")
    graph = (env.get("GRAPH_URL") or "").strip()
    if graph and not _https(graph):
        problems.append(f"GRAPH_URL {graph!r} is not an https:// URL: remove it to use {DEFAULT_GRAPH_URL}")
    for name, (_, kind, default, minimum) in _NUMBERS.items():
        try:
            _number(env, name)
        except ValueError:
            problems.append(f"{name}={env[name]!r} is not {'a whole number' if kind is int else 'a number'} >= "
                            f"{minimum:g}: correct it, or remove it to use the default {default:g}")
    if not env.get("GRAPH_TOKEN"):
        try:
            identities = DataverseSettings.from_env(env=_graph_identity_env(env, target)).identities
        except ValueError:  # the Dataverse settings are reported on their own
            identities = None
        if identities is not None and (not identities or identities[0].static_token is not None):
            problems.append("no Graph credentials: set GRAPH_TOKEN, or a Dataverse application identity "
                            "(DATAVERSE_CLIENT_ID with a secret or certificate, or DATAVERSE_USE_MANAGED_IDENTITY) "
                            "that may also use the site through Graph; DATAVERSE_TOKEN is a Dataverse token only")
    return problems


def _graph_identity_env(env: dict, target: str | None) -> dict:
    """The settings Graph's identity is read from: the Dataverse identities (their URL only matters to
    parsing them), without DATAVERSE_TOKEN."""
    out = {**env, "DATAVERSE_URL": target or env.get("DATAVERSE_URL") or "https://unset.crm.dynamics.com"}
    out.pop("DATAVERSE_TOKEN", None)  # a Dataverse token is no Graph token
    return out


def check_settings(run: RunConfig) -> list[str]:
    """One line per problem with the settings documents need (discovery calls it for a run that moves
    documents), so the run fails before anything moves rather than after other objects loaded."""
    return _problems(dict(os.environ), run.target)


@dataclass
class GraphSettings:
    site_url: str
    graph_url: str = DEFAULT_GRAPH_URL
    scope: str = DEFAULT_GRAPH_SCOPE
    ca_bundle: str | None = None
    upload_concurrency: int = 4
    simple_upload_limit: int = 4 * 1024 * 1024
    static_token: str | None = None
    max_wait: float = 600.0
    throttle_budget: float = 3600.0
    slice_files: int = 500
    slice_bytes: int = 2 * 1024 ** 3

    @classmethod
    def from_env(cls, env: dict | None = None, *, target: str | None = None) -> "GraphSettings":
        """The settings, or :class:`SettingsError` naming every problem (the run fails at once)."""
        e = dict(os.environ if env is None else env)
        problems = _problems(e, target)
        if problems:
            raise SettingsError("; ".join(problems))
        numbers = {f: v for name, (f, *_) in _NUMBERS.items() if (v := _number(e, name)) is not None}
        return cls(site_url=e["SHAREPOINT_SITE_URL"].strip().rstrip("/"),
                   graph_url=(e.get("GRAPH_URL") or DEFAULT_GRAPH_URL).strip().rstrip("/"),
                   scope=e.get("GRAPH_SCOPE") or DEFAULT_GRAPH_SCOPE, ca_bundle=e.get("GRAPH_CA_BUNDLE") or None,
                   static_token=e.get("GRAPH_TOKEN") or None, **numbers)


def graph_client(run: RunConfig, settings: GraphSettings) -> SharePointClient:
    if settings.static_token:
        tokens = StaticToken(settings.static_token)
    else:
        dv = DataverseSettings.from_env(env=_graph_identity_env(dict(os.environ), run.target))
        tokens = token_provider_from_settings(dv.identities[0], scope=settings.scope, ca_bundle=dv.ca_bundle)
    return SharePointClient(tokens, settings.graph_url, simple_upload_limit=settings.simple_upload_limit,
                            max_retry_after=settings.max_wait, verify=settings.ca_bundle or True)


# --------------------------------------------------------------------------- the step


class DocumentsThrottled(RuntimeError):
    """SharePoint asked a chunk to wait longer than an activity waits: a transient failure, so the
    orchestrator retries the activity later."""


class _FolderFailed(Exception):
    pass


@dataclass
class _Record:
    table: str
    entity_set: str
    key_column: str
    key: str  # source key (unencoded)
    id: str
    name: str | None
    folder: str = ""
    docs: list["_Doc"] = field(default_factory=list)
    ready: "asyncio.Future | None" = None  # its folder, ensured once, just before its first file

    @property
    def label(self) -> str:
        return f"{self.table} {self.key}"


@dataclass
class _Doc:
    row: dict
    key: str
    body: dict
    regarding: dict = field(default_factory=dict)
    record: _Record | None = None
    name: str = ""  # the file's name in SharePoint
    changes: list[str] = field(default_factory=list)
    outcome: dict | None = None
    tried: list[str] = field(default_factory=list)  # the tables its record was looked for in (regarding "or")

    @property
    def original(self) -> str:
        return str(self.body.get("FileName") or self.body.get("Path") or self.key)

    @property
    def where(self) -> str:
        return f"{self.original!r} (files/{self.body.get('Path')})"

    @property
    def loaded(self) -> bool:
        return self.outcome is not None and self.outcome["status"] != "rejected"


@dataclass
class _Library:
    table: str
    drive: dict
    prefix: str  # folder path inside the drive ("" when the drive is the table's own library)

    @property
    def path(self) -> str:
        """The decoded path from the host, as SharePoint counts its 400 characters."""
        site_path = unquote(urlsplit(self.drive.get("webUrl") or "").path).strip("/")
        return "/".join(p for p in (site_path, self.prefix) if p)

    def folder_of(self, r: _Record) -> str:
        return "/".join(p for p in (self.prefix, r.folder) if p)


@dataclass
class _Retry:
    """What the throttled attempts of one chunk left for the next: the outcomes already final (those
    files are not sent again) and their warnings, how many attempts were throttled, since when, and
    until when Graph asked to wait."""

    name: str
    attempts: int = 0
    first: float | None = None
    retry_at: float = 0.0
    outcomes: dict[str, dict] = field(default_factory=dict)
    warnings: list[dict] = field(default_factory=list)

    @classmethod
    def load(cls, st: Staging, name: str) -> "_Retry":
        return cls(name, **st.read_json(name)) if st.exists(name) else cls(name)

    def save(self, st: Staging) -> None:
        st.write_json(self.name, {k: v for k, v in asdict(self).items() if k != "name"})


async def transfer_documents(payload: dict) -> dict:
    """One transformed chunk of documents -> SharePoint files + sharepointdocumentlocation rows."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    chunk = payload["chunk"]
    part = chunk["name"].split("/transform/")[-1].split("/")[0]
    result_name = obj_path(spec, "load", f"{part}.json")
    if st.exists(result_name):
        return load_summary(st.read_json(result_name))
    settings = GraphSettings.from_env(target=run.target)
    rows = read_chunk(st, chunk["name"], chunk.get("sha256"))
    docs = [_Doc(r, _source_key(r), r.get("body") or {}) for r in rows]
    retry = _Retry.load(st, obj_path(spec, "load", f"{part}.retry.json"))
    for d in docs:
        d.outcome = retry.outcomes.get(d.key)
    names = file_names(st, spec)
    wait = retry.retry_at - time.time()
    if wait > 0:  # the rest of what Graph asked the last attempt to wait, bounded like every wait here
        await asyncio.sleep(min(wait, settings.max_wait))
    pending = [d for d in docs if d.outcome is None]
    batch = _slice(pending, settings)
    async with dataverse(run) as dv, graph_client(run, settings) as sp:
        transfer = _Transfer(run, spec, dv, sp, settings, names)
        await transfer.move(batch)
    warnings = retry.warnings + transfer.warnings
    if transfer.throttled is not None:
        _after_throttling(st, spec, part, settings, retry, docs, warnings, transfer.throttled)
    if len(batch) < len(pending) and any(d.outcome is None for d in docs):
        # the slice's bound: keep what is final, and let the orchestrator call again for the rest
        progress = _Retry(retry.name, outcomes={d.key: d.outcome for d in docs if d.outcome is not None},
                          warnings=warnings)
        progress.save(st)
        left = sum(1 for d in docs if d.outcome is None)
        return {"done": False, "files": len(docs), "files_done": len(docs) - left}
    if any(d.outcome is None for d in docs):
        raise RuntimeError(f"{spec.name} {part}: a document got no outcome")
    doc = {"outcomes": [{**d.outcome, "row": d.row.get("row"), "record": d.row.get("record"),
                         "table": d.row.get("table")} for d in docs],
           "warnings": warnings}
    st.write_json(result_name, doc)
    st.delete(retry.name)
    return load_summary(doc)


def _slice(pending: list[_Doc], settings: GraphSettings) -> list[_Doc]:
    """The documents this call moves: whole records (a record's files in one call, so its folder's
    report is complete), in row order, until ``slice_files`` files or ``slice_bytes`` bytes (at least one
    record)."""
    by_record: dict[tuple, list[_Doc]] = {}
    for d in pending:
        reg = d.body.get("regarding") or {}
        by_record.setdefault((reg.get("table"), str(reg.get("key"))), []).append(d)
    batch: list[_Doc] = []
    size = 0
    for docs in by_record.values():
        more = sum(int(d.body.get("SizeBytes") or 0) if str(d.body.get("SizeBytes") or "").isdigit() else 0
                   for d in docs)
        if batch and (len(batch) + len(docs) > settings.slice_files or size + more > settings.slice_bytes):
            break
        batch += docs
        size += more
    return batch


def _after_throttling(st: Staging, spec: ObjectSpec, part: str, settings: GraphSettings, retry: _Retry,
                      docs: list[_Doc], warnings: list[dict], retry_after: float) -> None:
    """Graph asked for a longer wait than an activity waits: keep what is final and fail transiently
    (the orchestrator retries), or, with the wait budget spent, reject the files still waiting."""
    now = time.time()
    retry.attempts += 1
    retry.first = retry.first or now
    waiting = [d for d in docs if d.outcome is None]
    if retry.attempts < ACTIVITY_ATTEMPTS and now - retry.first + retry_after <= settings.throttle_budget:
        retry.retry_at = now + retry_after
        retry.outcomes = {d.key: d.outcome for d in docs if d.outcome is not None}
        retry.warnings = warnings
        retry.save(st)
        log.warning("documents throttled", extra={"object": spec.name, "part": part, "retry_after": retry_after,
                                                  "waiting": len(waiting), "attempt": retry.attempts})
        raise DocumentsThrottled(
            f"{spec.name} {part}: SharePoint asked to wait {retry_after:g} s, longer than an activity waits "
            f"(SHAREPOINT_MAX_WAIT_SECONDS={settings.max_wait:g}); {len(waiting)} file(s) wait for the next attempt")
    for d in waiting:
        _reject(d, "graph_throttled",
                f"{d.where}: SharePoint kept throttling (it last asked to wait {retry_after:g} s; {retry.attempts} "
                f"attempt(s) over {now - retry.first:.0f} s, SHAREPOINT_THROTTLE_BUDGET_SECONDS="
                f"{settings.throttle_budget:g}); not uploaded: a later run with --fresh uploads it (files already "
                "in SharePoint stay unchanged)")


def _reject(d: _Doc, code: str, message: str) -> None:
    d.outcome = {"key": d.key, "status": "rejected", "code": code, "message": message, "id": None}


def _graph_text(e: BaseException) -> str:
    if isinstance(e, GraphError):
        return f"Graph {e.status} {e.code}: {e.message}"
    return f"{type(e).__name__}: {e}"


def _folder_key(r: _Record) -> str:
    return f"folder:{r.table}:{r.key}"


class _Transfer:
    """One chunk's documents: their records, names, uploads, then the Dataverse rows that link them."""

    def __init__(self, run: RunConfig, spec: ObjectSpec, dv: DataverseClient, sp: SharePointClient,
                 settings: GraphSettings, names: dict[str, str]) -> None:
        self.run, self.spec, self.dv, self.sp, self.settings, self.names = run, spec, dv, sp, settings, names
        self.site_table, self.location_table = location_tables(spec.key_column)
        self.warnings: list[dict] = []
        self.throttled: float | None = None  # the longest Retry-After Graph asked for beyond max_wait
        self.denied: GraphError | None = None  # 401/403 on a write: the identity may not write to the site

    async def move(self, docs: list[_Doc]) -> None:
        records = await self._records(self._validate(docs))
        if not records:
            return
        try:
            site = await _resolve_site(self.sp, self.settings.site_url)
            drives = await self.sp.list_drives(site["id"])
            default = await self.sp.default_drive(site["id"])
        except GraphThrottled as e:
            self.throttled = e.retry_after
            return
        libraries = _layout(sorted({r.table for r in records.values()}), drives, default)
        await _ensure_keys(self.dv, self.spec.key_column)
        existing = await _existing_locations(self.dv, [_folder_key(r) for r in records.values()],
                                             self.spec.key_column)
        for r in records.values():
            r.folder = existing.get(_folder_key(r)) or record_folder_name(r.name, r.id)
        ready = [d for r in records.values() for d in r.docs]
        for d in ready:
            self._name(d, libraries[d.record.table])  # type: ignore[union-attr]
        sem = asyncio.Semaphore(self.settings.upload_concurrency)

        async def one(d: _Doc) -> None:
            async with sem:
                if d.outcome is None and self.throttled is None and self.denied is None:
                    await self._upload(d, libraries[d.record.table])  # type: ignore[union-attr]

        await asyncio.gather(*(one(d) for d in sorted(ready, key=lambda d: d.row.get("row") or 0)))
        if self.denied is not None:
            raise AccessError(f"SharePoint refused a write to {self.settings.site_url} ({_graph_text(self.denied)}): "
                              "the identity needs the Graph application permission Sites.Selected and a write grant "
                              "on this site (or Sites.ReadWrite.All)")
        await self._link(site, default, libraries, records)
        await self._report(records, libraries)

    def _validate(self, docs: list[_Doc]) -> list[_Doc]:
        for d in docs:
            reg = d.body.get("regarding") or {}
            missing = [k for k in ("table", "entity_set", "key") if not reg.get(k)]
            if missing:
                _reject(d, "invalid_document", f"{d.where}: the row names no regarding record ({', '.join(missing)})")
            elif not str(d.body.get("FileName") or "").strip():
                _reject(d, "invalid_document", f"document {d.key}: FileName is empty")
            else:
                d.regarding = {"key_column": self.spec.key_column, **reg, "key": str(reg["key"])}
        return [d for d in docs if d.outcome is None]

    async def _records(self, live: list[_Doc]) -> dict[tuple[str, str], _Record]:
        """The regarding records, one In query per table; documents without theirs are rejected."""
        by_table: dict[tuple[str, str], list[_Doc]] = defaultdict(list)
        for d in live:
            by_table[(d.regarding["table"], d.regarding["entity_set"])].append(d)
        records: dict[tuple[str, str], _Record] = {}
        while by_table:
            (table, entity_set), group = by_table.popitem()
            reg = group[0].regarding
            found = await _find_records(self.dv, table, entity_set, reg["key_column"],
                                        sorted({d.regarding["key"] for d in group}))
            for d in group:
                rk = d.regarding["key"]
                rec = found.get(rk)
                d.tried.append(table)
                other = next((o for o in d.regarding.get("or") or () if o.get("table") not in d.tried), None)
                if rec is None and other is not None:  # another table the record may be in
                    by_table[(other["table"], other.get("entity_set") or f"{other['table']}s")].append(d)
                    continue
                if rec is None:
                    _reject(d, "missing_parent", f"{d.where}: the {table} with {reg['key_column']} {rk!r} does not "
                            "exist in Dataverse (rejected or not migrated); the file has no record to attach to")
                    continue
                d.record = records.setdefault((table, rk), rec)
                d.record.docs.append(d)
        return records

    def _name(self, d: _Doc, lib: _Library) -> None:
        """The file's name in SharePoint (see the module docstring), and what changed on the way."""
        rec = d.record
        assert rec is not None
        base, changes = safe_name(d.body["FileName"])
        name = self.names.get(d.key) or base
        if d.key in self.names:
            changes.append(f"another document of {rec.label} has the same name: its source id was added")
        room = MAX_PATH - len(f"{lib.path}/{rec.folder}/")
        if len(name) > room:
            shorter = with_source_id(base, d.key, room)
            if shorter is None:
                return _reject(d, "path_too_long", f"{d.where}: the folder {lib.path}/{rec.folder} leaves no room "
                               f"for the file name within SharePoint's 400-character path ({RESTRICTIONS})")
            name = shorter
            changes.append(f"shortened to fit SharePoint's 400-character path ({room} characters are left for "
                           "the name in its folder)")
        d.name, d.changes = name, changes

    async def _ensure_folder(self, r: _Record, lib: _Library) -> None:
        """The record's folder, created once per chunk, when its first file is about to be written."""
        if r.ready is None:
            r.ready = asyncio.ensure_future(self.sp.ensure_folder(lib.drive["id"], lib.folder_of(r)))
        try:
            await r.ready
        except GraphThrottled:
            raise
        except GraphError as e:
            if e.status in (401, 403):
                raise
            raise _FolderFailed(f"folder {lib.folder_of(r)}: {_graph_text(e)}") from None
        except httpx.HTTPError as e:
            raise _FolderFailed(f"folder {lib.folder_of(r)}: {_graph_text(e)}") from None

    async def _upload(self, d: _Doc, lib: _Library) -> None:
        rec = d.record
        assert rec is not None
        where = f"{d.where}{'' if d.name == d.original else f' as {d.name!r}'} on {rec.label}"
        try:
            f = await asyncio.to_thread(open_document, self.run, d.body)
        except DocumentUnavailable as e:
            return _reject(d, e.code, e.message)
        try:
            size = d.body.get("SizeBytes")
            size = int(size) if size not in (None, "") else _stream_size(f)
            if size is None:
                return _reject(d, "invalid_document", f"{where}: the size is unknown")
            item = await self.sp.upload_file(lib.drive["id"], lib.folder_of(rec), d.name, f, size=size,
                                             sha256=d.body.get("Sha256") or None,
                                             before_write=lambda: self._ensure_folder(rec, lib))
        except GraphThrottled as e:  # stays without outcome: the next attempt sends it
            self.throttled = max(self.throttled or 0.0, e.retry_after)
            return None
        except ContentMismatch as e:
            code = "sha256_mismatch" if "sha256" in str(e) else "size_mismatch"
            return _reject(d, code, f"{where}: {e}; not uploaded")
        except ItemExists as e:
            return _reject(d, "name_conflict", f"{where}: {e}; not overwritten: move or rename that file in "
                                               "SharePoint (or remove it if it is an older copy of this one), "
                                               "then run again")
        except _FolderFailed as e:
            return _reject(d, "folder_failed", f"{where}: {e}")
        except UploadVerificationError as e:
            return _reject(d, "upload_verification_failed", f"{where}: {e}")
        except GraphError as e:
            if e.status in (401, 403):
                self.denied = self.denied or e
                return None
            return _reject(d, "upload_failed", f"{where}: {_graph_text(e)}")
        except httpx.HTTPError as e:
            return _reject(d, "upload_failed", f"{where}: {_graph_text(e)}")
        except OSError as e:  # the source stream failed while being read
            return _reject(d, "read_failed", f"{where}: could not read the file: {e}")
        finally:
            f.close()
        d.outcome = {"key": d.key, "status": item.outcome, "code": None, "id": item.id,
                     "message": "already in SharePoint with the same content" if item.outcome == "unchanged" else None}
        return None

    async def _link(self, site: dict, default: dict, libraries: dict[str, _Library],
                    records: dict[tuple[str, str], _Record]) -> None:
        """Dataverse rows for the records that have a file in SharePoint: the site, their libraries and
        their folders. A file whose folder cannot be linked is rejected ``location_failed``."""
        linked = [r for r in records.values() if any(d.loaded for d in r.docs)]
        if not linked:
            return
        web_url = site.get("webUrl") or self.settings.site_url
        site_outcome, = await loader.upsert_rows(self.dv, self.site_table, [{"key": _site_key(web_url), "body": {
            "name": (site.get("displayName") or site.get("name") or "SharePoint")[:160], "absoluteurl": web_url,
            "description": "Document site of the migrated records (created by the migration)."}}])
        if site_outcome.status == "rejected":
            raise RuntimeError(f"could not write the sharepointsite row: {site_outcome.code} {site_outcome.message}")
        binds, failed = await _library_locations(self.dv, [libraries[t] for t in sorted({r.table for r in linked})],
                                                 default, f"/{self.site_table.entity_set}({site_outcome.id})",
                                                 site.get("displayName") or "", self.location_table)
        rows = [(r, {"key": _folder_key(r), "body": {
            "name": f"Documents on {r.name or r.id}"[:160], "relativeurl": r.folder,
            "parentsiteorlocation_sharepointdocumentlocation@odata.bind": binds[r.table],
            f"regardingobjectid_{r.table}@odata.bind": f"/{r.entity_set}({r.id})"}})
            for r in linked if r.table in binds]
        problems = {(r.table, r.key): failed[r.table] for r in linked if r.table in failed}
        for (r, _), o in zip(rows, await loader.upsert_rows(self.dv, self.location_table, [row for _, row in rows])):
            if o.status == "rejected":
                problems[(r.table, r.key)] = f"sharepointdocumentlocation of folder {r.folder}: {o.code} {o.message}"
        for r in linked:
            problem = problems.get((r.table, r.key))
            for d in (d for d in r.docs if problem and d.loaded):
                _reject(d, "location_failed", f"{d.where} is in SharePoint ({libraries[r.table].folder_of(r)}/"
                                              f"{d.name}) but not linked to {r.label}: {problem}; a run with "
                                              "--fresh links it (the file is then unchanged)")

    async def _report(self, records: dict[tuple[str, str], _Record], libraries: dict[str, _Library]) -> None:
        """Warnings: each file stored under another name; each folder created for files that all failed
        afterwards (an upload error after the folder was made) and still empty."""
        for r in records.values():
            for d in r.docs:
                if d.loaded and d.changes:
                    self._warn(d, "file_renamed", f"{d.where} on {r.label} is stored in SharePoint as {d.name!r}: "
                                                  f"{'; '.join(d.changes)} ({RESTRICTIONS})", field="FileName",
                               value=d.original)
            made = r.ready is not None and r.ready.done() and not r.ready.cancelled() and r.ready.exception() is None
            if made and not any(d.loaded for d in r.docs):
                lib = libraries[r.table]
                try:  # another chunk, or an earlier attempt, may have put files in it
                    folder = await self.sp.get_item_by_path(lib.drive["id"], lib.folder_of(r))
                except (GraphError, httpx.HTTPError):
                    continue
                if folder is not None and not (folder.raw.get("folder") or {}).get("childCount"):
                    first = min(r.docs, key=lambda d: d.row.get("row") or 0)
                    self._warn(first, "empty_folder", f"the SharePoint folder {lib.folder_of(r)} of {r.label} was "
                                                      "created, but none of its files reached it (see their "
                                                      "rejections)")

    def _warn(self, d: _Doc, code: str, message: str, *, field: str | None = None, value: str | None = None) -> None:
        self.warnings.append(Problem(object=self.spec.name, source_id=d.key, stage="documents", code=code,
                                     message=message, file=self.spec.file, line=d.row.get("row"),
                                     record=d.row.get("record"), field=field, value=value).to_dict())


# --------------------------------------------------------------------------- Dataverse and site helpers


async def _ensure_keys(dv: DataverseClient, key_column: str) -> None:
    """The source's key column + its alternate key on sharepointsite and sharepointdocumentlocation (a few
    metadata reads per chunk once they exist)."""
    for table in (SITE_TABLE.logical_name, LOCATION_TABLE.logical_name):
        await ensure_columns_and_key(dv, table, key_column, [])


_PRIMARY: dict[tuple[str, str], tuple[str, str | None]] = {}


async def _primary(dv: DataverseClient, table: str) -> tuple[str, str | None]:
    """(primary id, primary name) columns of a table, from metadata (cached)."""
    k = (dv.settings.url, table)
    if k not in _PRIMARY:
        meta = await dv.get_json(f"EntityDefinitions(LogicalName='{table}')",
                                 params={"$select": "PrimaryIdAttribute,PrimaryNameAttribute"})
        _PRIMARY[k] = (meta.get("PrimaryIdAttribute") or f"{table}id", meta.get("PrimaryNameAttribute") or None)
    return _PRIMARY[k]


async def _find_records(dv: DataverseClient, table: str, entity_set: str, key_column: str,
                        keys: list[str]) -> dict[str, _Record]:
    pid, pname = await _primary(dv, table)
    encoded = {encode_key(k): k for k in keys}
    enc = list(encoded)
    out: dict[str, _Record] = {}
    select = [c for c in (pid, pname, key_column) if c]
    for i in range(0, len(enc), IN_CHUNK):
        async for rec in dv.get_all(entity_set, select=select, filter=in_filter(key_column, enc[i:i + IN_CHUNK])):
            src = encoded.get(rec.get(key_column))
            if src is not None:
                out[src] = _Record(table, entity_set, key_column, src, rec[pid], rec.get(pname) if pname else None)
    return out


async def _existing_locations(dv: DataverseClient, keys: list[str], key_column: str = KEY_COLUMN) -> dict[str, str]:
    """Location key -> relativeurl of the record folder locations that already exist."""
    encoded = {encode_key(k): k for k in keys}
    enc = list(encoded)
    out: dict[str, str] = {}
    for i in range(0, len(enc), IN_CHUNK):
        async for rec in dv.get_all(LOCATION_TABLE.entity_set, select=[key_column, "relativeurl"],
                                    filter=in_filter(key_column, enc[i:i + IN_CHUNK])):
            if rec.get(key_column) in encoded and rec.get("relativeurl"):
                out[encoded[rec[key_column]]] = rec["relativeurl"]
    return out


def _site_key(web_url: str) -> str:
    u = urlsplit(web_url)
    key = f"site:{u.netloc}{u.path}".lower().rstrip("/")
    if len(encode_key(key)) > 100:
        import hashlib

        key = "site:" + hashlib.sha256(key.encode()).hexdigest()[:40]
    return key


def _drive_segment(drive: dict) -> str:
    """The URL name of a library ("Shared Documents" for "Documents"), from its webUrl."""
    web = drive.get("webUrl") or ""
    return unquote(web.rstrip("/").rsplit("/", 1)[-1]) if web else (drive.get("name") or "")


def _layout(tables: list[str], drives: list[dict], default_drive: dict) -> dict[str, _Library]:
    """Per table: the site's library named after it, or a folder named after it in the default library."""
    by_segment = {_drive_segment(d).casefold(): d for d in drives}
    return {t: _Library(t, by_segment[t.casefold()], "") if t.casefold() in by_segment
            else _Library(t, default_drive, t) for t in tables}


async def _library_locations(dv: DataverseClient, libraries: list[_Library], default_drive: dict, site_bind: str,
                             site_name: str, locations: loader.TableRef = LOCATION_TABLE
                             ) -> tuple[dict[str, str], dict[str, str]]:
    """The sharepointdocumentlocation rows of the libraries (and of the default library holding the
    table folders): ``({table: "/sharepointdocumentlocations(<id>)"}, {table: why it failed})``."""
    default_seg = _drive_segment(default_drive)
    parent = site_bind
    if any(lib.prefix for lib in libraries):
        o, = await loader.upsert_rows(dv, locations, [{"key": f"library:{default_seg}", "body": {
            "name": f"{default_drive.get('name') or default_seg} on {site_name}"[:160], "relativeurl": default_seg,
            "parentsiteorlocation_sharepointsite@odata.bind": site_bind}}])
        if o.status == "rejected":
            raise RuntimeError(f"could not write the location of library {default_seg}: {o.code} {o.message}")
        parent = f"/{locations.entity_set}({o.id})"
    rows = [{"key": f"library:{lib.table}", "body": {
        "name": f"{lib.table} {'documents' if lib.prefix else 'library'} on {site_name}"[:160],
        "relativeurl": lib.prefix or _drive_segment(lib.drive),
        **({"parentsiteorlocation_sharepointdocumentlocation@odata.bind": parent} if lib.prefix else
           {"parentsiteorlocation_sharepointsite@odata.bind": site_bind})}} for lib in libraries]
    binds, errors = {}, {}
    for lib, o in zip(libraries, await loader.upsert_rows(dv, locations, rows)):
        if o.status == "rejected":
            errors[lib.table] = f"library location {lib.table}: {o.code} {o.message}"
        else:
            binds[lib.table] = f"/{locations.entity_set}({o.id})"
    return binds, errors


async def _resolve_site(sp: SharePointClient, site_url: str) -> dict:
    """The site of ``SHAREPOINT_SITE_URL``; a refused identity or an unknown site fails the run at once."""
    u = urlsplit(site_url)
    try:
        return await sp.resolve_site(u.netloc, unquote(u.path) or "/")
    except GraphThrottled:
        raise
    except GraphError as e:
        if e.status in (401, 403):
            raise AccessError(f"SharePoint site {site_url}: {_graph_text(e)}; the identity needs the Graph "
                              "application permission Sites.Selected and a write grant on this site (or "
                              "Sites.ReadWrite.All)") from None
        if e.status == 404:
            raise SettingsError(f"SHAREPOINT_SITE_URL {site_url}: Graph finds no such site; set it to the site the "
                                "environment's document management uses, or leave documents out with "
                                "--skip document") from None
        raise


__all__ = ["transfer_documents", "check_settings", "open_document", "OPENERS", "DocumentUnavailable",
           "DocumentsThrottled", "GraphSettings", "graph_client", "file_names"]
