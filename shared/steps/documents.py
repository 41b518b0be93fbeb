"""Documents and files: WORKetc binaries -> SharePoint, linked to their records in Dataverse.

``transfer_documents(payload)`` is the load activity of the ``document`` object (its
``ObjectSpec.load_activity``). It is called once per *transformed* chunk, exactly like
:func:`shared.steps.load.load_chunk`: same payload (``{"run", "object", "chunk": {"name", "records",
"sha256"}}``), same idempotency (the result file exists -> its summary is returned, nothing is redone)
and the same result document at the same place, ``objects/<object>/load/<part>.json`` =
``{"outcomes": [{"key", "status", "code", "message", "id", "row", "table"}], "warnings": []}``,
so :func:`shared.steps.reconcile.reconcile_object` reconciles documents unchanged. It returns
``{"created", "updated", "unchanged", "rejected"}``.

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
   dashes, upper case>`` (see :func:`record_folder_name`). If the site has a document library whose
   URL name is the table's logical name, it is used; otherwise a top folder named after the table in
   the site's default library stands in for it (and Dataverse gets one more location level for the
   default library, so the location chain always describes the real URL). Folders are created through
   Graph (``ensure_folder``): Dataverse does not create them.
3. Dataverse, upserted by alternate key ``wtc_sourceid`` (the column and key are ensured first), so a
   rerun never duplicates: one ``sharepointsite`` (key ``site:<host><path>``, ``absoluteurl`` = the
   site's webUrl), one ``sharepointdocumentlocation`` per library (key ``library:<table>``; for the
   default-library fallback also ``library:<its URL name>``), one per record folder (key
   ``folder:<table>:<record key>``, ``regardingobjectid_<table>`` bound to the record). A record folder
   that already has its location keeps its folder name (a renamed record does not move its files).
4. Each binary is streamed from the source (:func:`open_document`) to
   ``SharePointClient.upload_file(..., sha256=body["Sha256"])`` (simple upload or upload session,
   constant memory, sha256 and quickXorHash verified). Binaries never pass through orchestrator
   history. Outcome: ``created`` (new file), ``updated`` (already there and identical, or replaced),
   ``rejected`` with a code naming the problem (``missing_parent``, ``missing_file``,
   ``sha256_mismatch``, ``size_mismatch``, ``folder_failed``, ``location_failed``, ``upload_failed``,
   ``graph_throttled``, ``upload_verification_failed``, ``read_failed``, ``invalid_document``,
   ``no_binary_source``).
   The outcome's ``id`` is the driveItem id.

Two documents of one record with the same file name (case-insensitive, after sanitising) in one
chunk: the one with the smallest key keeps the name, the others get `` (<key>)`` before the extension.

Settings (environment / app settings)::

    SHAREPOINT_SITE_URL        https://contoso.sharepoint.com/sites/crm (required)
    GRAPH_URL                  Graph base URL (default https://graph.microsoft.com/v1.0)
    GRAPH_TOKEN                a static bearer token for Graph; otherwise the first Dataverse identity
                               (DATAVERSE_TOKEN is NOT reused: it is a Dataverse token; managed identity,
                               MSAL client credentials... see shared/dataverse/settings.py) gets a token
                               for GRAPH_SCOPE (default https://graph.microsoft.com/.default)
    GRAPH_CA_BUNDLE            CA file to trust for Graph/SharePoint (local emulator over TLS)
    SHAREPOINT_UPLOAD_CONCURRENCY   uploads in flight per chunk (default 4)
    SHAREPOINT_SIMPLE_UPLOAD_LIMIT  bytes; larger files use upload sessions (default 4 MiB)

The Graph identity needs ``Sites.Selected`` + a write grant on the site (or Sites.ReadWrite.All).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable
from urllib.parse import unquote, urlsplit

import httpx

from ..auth import StaticToken, token_provider_from_settings
from ..dataverse import loader
from ..dataverse.client import DataverseClient
from ..dataverse.keys import encode_key, in_filter
from ..dataverse.settings import DataverseSettings
from ..run import RunConfig
from ..staging import read_chunk
from .common import dataverse, ensure_columns_and_key, load_summary, obj_path, run_config, spec_of, staging_for
from ..sharepoint import (ContentMismatch, DriveItem, GraphError, GraphThrottled, SharePointClient,
                         UploadVerificationError)

log = logging.getLogger("migration.documents")

KEY_COLUMN = "wtc_sourceid"
SITE_TABLE = loader.TableRef("sharepointsite", "sharepointsites", KEY_COLUMN)
LOCATION_TABLE = loader.TableRef("sharepointdocumentlocation", "sharepointdocumentlocations", KEY_COLUMN)
MAX_NAME = 128
IN_CHUNK = 200
DEFAULT_GRAPH_URL = "https://graph.microsoft.com/v1.0"
DEFAULT_GRAPH_SCOPE = "https://graph.microsoft.com/.default"

_FORBIDDEN = re.compile(r'["*:<>?/\\|\x00-\x1f]')


# --------------------------------------------------------------------------- names


def sanitize_name(name: str, *, max_len: int = MAX_NAME, fallback: str = "_") -> str:
    """A SharePoint-safe file/folder name: ``" * : < > ? / \\ |`` and control characters become ``-``,
    leading/trailing spaces and dots go, ``~$`` at the start and ``_vti_`` are defused, at most
    ``max_len`` characters (the extension of a file name is kept when shortening)."""
    s = _FORBIDDEN.sub("-", name or "")
    s = s.replace("_vti_", "-vti-")
    s = s.strip(" .")
    if s.startswith("~$"):
        s = "-" + s[2:]
    if len(s) > max_len:
        stem, dot, ext = s.rpartition(".")
        if dot and stem and len(ext) <= 16:
            s = stem[: max_len - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            s = s[:max_len]
        s = s.strip(" .")
    return s or fallback


def record_folder_name(name: str | None, record_id: str) -> str:
    """Dynamics 365's folder name for a record: ``<name>_<GUID without dashes, upper case>``,
    sanitised and at most 128 characters (the name is shortened, never the GUID)."""
    guid = record_id.replace("-", "").replace("{", "").replace("}", "").upper()
    room = MAX_NAME - len(guid) - 1
    clean = sanitize_name(name or "", max_len=room, fallback="")
    return f"{clean}_{guid}"


def _with_suffix(file_name: str, suffix: str) -> str:
    stem, dot, ext = file_name.rpartition(".")
    if dot and stem:
        return sanitize_name(f"{stem[: MAX_NAME - len(ext) - len(suffix) - 4]} ({suffix}).{ext}")
    return sanitize_name(f"{file_name[: MAX_NAME - len(suffix) - 3]} ({suffix})")


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
    root = (Path(run.input) / "files").resolve()
    path = (root / rel).resolve()
    if root != path and root not in path.parents:
        raise DocumentUnavailable("invalid_document", f"files/{rel}: the path leaves the export's files/ folder")
    try:
        return open(path, "rb")
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


#: run.source -> opener: a readable, ideally seekable, binary stream the caller closes.
OPENERS: dict[str, Callable[[RunConfig, dict], BinaryIO]] = {"worketc-csv": _open_csv, "worketc-soap": _open_soap}


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


@dataclass
class GraphSettings:
    site_url: str
    graph_url: str = DEFAULT_GRAPH_URL
    scope: str = DEFAULT_GRAPH_SCOPE
    ca_bundle: str | None = None
    upload_concurrency: int = 4
    simple_upload_limit: int = 4 * 1024 * 1024
    static_token: str | None = None

    @classmethod
    def from_env(cls, env: dict | None = None) -> "GraphSettings":
        e = dict(os.environ if env is None else env)
        site = (e.get("SHAREPOINT_SITE_URL") or "").strip()
        if not site:
            raise ValueError("SHAREPOINT_SITE_URL is not set (e.g. https://contoso.sharepoint.com/sites/crm)")
        return cls(site_url=site.rstrip("/"), graph_url=(e.get("GRAPH_URL") or DEFAULT_GRAPH_URL).rstrip("/"),
                   scope=e.get("GRAPH_SCOPE") or DEFAULT_GRAPH_SCOPE, ca_bundle=e.get("GRAPH_CA_BUNDLE") or None,
                   upload_concurrency=max(1, int(e.get("SHAREPOINT_UPLOAD_CONCURRENCY") or 4)),
                   simple_upload_limit=int(e.get("SHAREPOINT_SIMPLE_UPLOAD_LIMIT") or 4 * 1024 * 1024),
                   static_token=e.get("GRAPH_TOKEN") or None)


def graph_client(run: RunConfig, settings: GraphSettings | None = None) -> SharePointClient:
    s = settings or GraphSettings.from_env()
    if s.static_token:
        tokens = StaticToken(s.static_token)
    else:
        env = {**os.environ, "DATAVERSE_URL": run.target}
        env.pop("DATAVERSE_TOKEN", None)  # a Dataverse token is no Graph token
        dv = DataverseSettings.from_env(env=env)
        if not dv.identities:
            raise ValueError("no Graph credentials: set GRAPH_TOKEN, or a Dataverse identity (managed identity / "
                             "client credentials) that also has Graph access to the site")
        tokens = token_provider_from_settings(dv.identities[0], scope=s.scope, ca_bundle=dv.ca_bundle)
    return SharePointClient(tokens, s.graph_url, simple_upload_limit=s.simple_upload_limit,
                            verify=s.ca_bundle or True)


# --------------------------------------------------------------------------- the step


@dataclass
class _Doc:
    index: int
    row: dict
    key: str
    body: dict
    regarding: dict | None = None
    record: "_Record | None" = None
    file_name: str = ""
    outcome: dict | None = None


@dataclass
class _Record:
    table: str
    entity_set: str
    key_column: str
    key: str  # source key (unencoded)
    id: str
    name: str | None
    folder: str = ""
    error: tuple[str, str] | None = None
    docs: list[_Doc] = field(default_factory=list)


@dataclass
class _Library:
    table: str
    drive_id: str
    prefix: str  # folder path inside the drive ("" when the drive is the table's own library)
    location_id: str
    error: tuple[str, str] | None = None


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
    rows = read_chunk(st, chunk["name"], chunk.get("sha256"))
    docs = [_Doc(i, r, str(r.get("source_key", r.get("key"))), r.get("body") or {}) for i, r in enumerate(rows)]
    settings = GraphSettings.from_env()
    async with dataverse(run) as dv, graph_client(run, settings) as sp:
        await _transfer(run, dv, sp, settings, docs)
    if any(d.outcome is None for d in docs):
        raise RuntimeError(f"{spec.name} {part}: a document got no outcome")
    doc = {"outcomes": [{**d.outcome, "row": d.row.get("row"), "table": d.row.get("table")} for d in docs],
           "warnings": []}
    st.write_json(result_name, doc)
    return load_summary(doc)


def _reject(d: _Doc, code: str, message: str) -> None:
    d.outcome = {"key": d.key, "status": "rejected", "code": code, "message": message, "id": None}


def _name_of(d: _Doc) -> str:
    return str(d.body.get("FileName") or d.body.get("Path") or d.key)


async def _transfer(run: RunConfig, dv: DataverseClient, sp: SharePointClient, settings: GraphSettings,
                    docs: list[_Doc]) -> None:
    # -- validate
    for d in docs:
        reg = d.body.get("regarding") or {}
        missing = [k for k in ("table", "entity_set", "key") if not reg.get(k)]
        if missing:
            _reject(d, "invalid_document", f"{_name_of(d)}: the row names no regarding record ({', '.join(missing)})")
        elif not (d.body.get("FileName") or "").strip():
            _reject(d, "invalid_document", f"document {d.key}: FileName is empty")
        else:
            d.regarding = {"key_column": KEY_COLUMN, **reg, "key": str(reg["key"])}
    live = [d for d in docs if d.outcome is None]
    if not live:
        return

    # -- regarding records, one In query per table
    by_table: dict[str, list[_Doc]] = {}
    for d in live:
        by_table.setdefault(d.regarding["table"], []).append(d)  # type: ignore[index]
    records: dict[tuple[str, str], _Record] = {}
    for table, group in by_table.items():
        reg = group[0].regarding
        found = await _find_records(dv, table, reg["entity_set"], reg["key_column"],
                                    sorted({d.regarding["key"] for d in group}))  # type: ignore[index]
        for d in group:
            rk = d.regarding["key"]  # type: ignore[index]
            rec = found.get(rk)
            if rec is None:
                _reject(d, "missing_parent", f"{_name_of(d)}: the {table} with {reg['key_column']} {rk!r} does not "
                        "exist in Dataverse (rejected or not migrated); the file has no record to attach to")
                continue
            d.record = records.setdefault((table, rk), rec)
            rec.docs.append(d)
    if not records:
        return

    # -- SharePoint: site, libraries; Dataverse: keys, site row, library locations
    site = await _resolve_site(sp, settings.site_url)
    drives = await sp.list_drives(site["id"])
    default_drive = await sp.default_drive(site["id"])
    await _ensure_keys(dv)
    site_key = _site_key(site.get("webUrl") or settings.site_url)
    site_outcome, = await loader.upsert_rows(dv, SITE_TABLE, [{"key": site_key, "body": {
        "name": (site.get("displayName") or site.get("name") or "SharePoint")[:160],
        "absoluteurl": site.get("webUrl") or settings.site_url,
        "description": "Document site of the migrated records (created by the migration)."}}])
    if site_outcome.status == "rejected":
        raise RuntimeError(f"could not write the sharepointsite row: {site_outcome.code} {site_outcome.message}")
    site_bind = f"/{SITE_TABLE.entity_set}({site_outcome.id})"
    tables = sorted({r.table for r in records.values()})
    libraries = await _libraries(dv, sp, tables, drives, default_drive, site_bind, site.get("displayName") or "")

    # -- record folders (existing locations keep their folder name) + their locations
    folder_keys = {(r.table, r.key): f"folder:{r.table}:{r.key}" for r in records.values()}
    existing = await _existing_locations(dv, list(folder_keys.values()))
    sem = asyncio.Semaphore(settings.upload_concurrency)

    async def folder(r: _Record) -> None:
        lib = libraries[r.table]
        if lib.error:
            r.error = lib.error
            return
        r.folder = existing.get(folder_keys[(r.table, r.key)]) or record_folder_name(r.name, r.id)
        async with sem:
            try:
                await sp.ensure_folder(lib.drive_id, "/".join(p for p in (lib.prefix, r.folder) if p))
            except (GraphError, httpx.HTTPError) as e:
                r.error = ("folder_failed", f"folder {lib.prefix + '/' if lib.prefix else ''}{r.folder}: "
                                            f"{_graph_text(e)}")

    await asyncio.gather(*(folder(r) for r in records.values()))
    ok = [r for r in records.values() if not r.error]
    if ok:
        rows = [{"key": folder_keys[(r.table, r.key)], "body": {
            "name": f"Documents on {r.name or r.id}"[:160],
            "relativeurl": r.folder,
            "parentsiteorlocation_sharepointdocumentlocation@odata.bind":
                f"/{LOCATION_TABLE.entity_set}({libraries[r.table].location_id})",
            f"regardingobjectid_{r.table}@odata.bind": f"/{r.entity_set}({r.id})"}} for r in ok]
        for r, o in zip(ok, await loader.upsert_rows(dv, LOCATION_TABLE, rows)):
            if o.status == "rejected":
                r.error = ("location_failed", f"sharepointdocumentlocation for folder {r.folder}: {o.code} {o.message}")
    for r in records.values():
        if r.error:
            for d in r.docs:
                _reject(d, r.error[0], f"{_name_of(d)}: {r.error[1]}")

    # -- file names (unique per folder within the chunk), then uploads
    for r in records.values():
        if r.error:
            continue
        taken: dict[str, str] = {}
        for d in sorted(r.docs, key=lambda d: (_natural(d.key))):
            name = sanitize_name(d.body["FileName"])
            if name.casefold() in taken:
                name = _with_suffix(name, d.key)
            taken[name.casefold()] = d.key
            d.file_name = name
    pending = [d for d in live if d.outcome is None]

    async def one(d: _Doc) -> None:
        async with sem:
            await _upload(run, sp, libraries[d.record.table], d)  # type: ignore[union-attr]

    await asyncio.gather(*(one(d) for d in pending))


def _natural(key: str) -> tuple:
    return (0, int(key), "") if key.isdigit() else (1, 0, key)


def _graph_text(e: BaseException) -> str:
    if isinstance(e, GraphError):
        return f"Graph {e.status} {e.code}: {e.message}"
    return f"{type(e).__name__}: {e}"


async def _upload(run: RunConfig, sp: SharePointClient, lib: _Library, d: _Doc) -> None:
    rec = d.record
    assert rec is not None
    folder = "/".join(p for p in (lib.prefix, rec.folder) if p)
    where = f"{d.file_name} (files/{d.body.get('Path')})"
    try:
        f = await asyncio.to_thread(open_document, run, d.body)
    except DocumentUnavailable as e:
        return _reject(d, e.code, e.message)
    try:
        size = d.body.get("SizeBytes")
        size = int(size) if size not in (None, "") else _stream_size(f)
        if size is None:
            return _reject(d, "invalid_document", f"{where}: the size is unknown")
        item: DriveItem = await sp.upload_file(lib.drive_id, folder, d.file_name, f, size=size,
                                               sha256=d.body.get("Sha256") or None)
    except ContentMismatch as e:
        code = "sha256_mismatch" if "sha256" in str(e) else "size_mismatch"
        return _reject(d, code, f"{where}: {e}; not uploaded")
    except GraphThrottled as e:
        return _reject(d, "graph_throttled", f"{where}: SharePoint asked to wait {e.retry_after:g} s; not uploaded")
    except UploadVerificationError as e:
        return _reject(d, "upload_verification_failed", f"{where}: {e}")
    except (GraphError, httpx.HTTPError) as e:
        return _reject(d, "upload_failed", f"{where}: {_graph_text(e)}")
    except OSError as e:  # the source stream failed while being read
        return _reject(d, "read_failed", f"{where}: could not read the file: {e}")
    finally:
        f.close()
    status = "created" if item.outcome == "created" else "updated"
    message = {"skipped": "already in SharePoint, identical", "replaced": "replaced the file in SharePoint"}.get(
        item.outcome or "")
    d.outcome = {"key": d.key, "status": status, "code": None, "message": message, "id": item.id}


# --------------------------------------------------------------------------- Dataverse helpers


async def _ensure_keys(dv: DataverseClient) -> None:
    """``wtc_sourceid`` + its alternate key on sharepointsite and sharepointdocumentlocation (a few
    metadata reads per chunk once they exist)."""
    for table in (SITE_TABLE.logical_name, LOCATION_TABLE.logical_name):
        await ensure_columns_and_key(dv, table, KEY_COLUMN, [])


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


async def _existing_locations(dv: DataverseClient, keys: list[str]) -> dict[str, str]:
    """Location key -> relativeurl of the record folder locations that already exist."""
    encoded = {encode_key(k): k for k in keys}
    enc = list(encoded)
    out: dict[str, str] = {}
    for i in range(0, len(enc), IN_CHUNK):
        async for rec in dv.get_all(LOCATION_TABLE.entity_set, select=[KEY_COLUMN, "relativeurl"],
                                    filter=in_filter(KEY_COLUMN, enc[i:i + IN_CHUNK])):
            if rec.get(KEY_COLUMN) in encoded and rec.get("relativeurl"):
                out[encoded[rec[KEY_COLUMN]]] = rec["relativeurl"]
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


async def _libraries(dv: DataverseClient, sp: SharePointClient, tables: list[str], drives: list[dict],
                     default_drive: dict, site_bind: str, site_name: str) -> dict[str, _Library]:
    """One library (a drive named after the table, or a folder in the default library) per table, and
    its sharepointdocumentlocation rows."""
    by_segment = {_drive_segment(d).casefold(): d for d in drives}
    libs: dict[str, _Library] = {}
    rows: list[tuple[str, dict]] = []  # (table or "", row) in dependency order
    default_seg = _drive_segment(default_drive)
    default_key = f"library:{default_seg}"
    need_default = False
    for t in tables:
        own = by_segment.get(t.casefold())
        if own is not None:
            libs[t] = _Library(t, own["id"], "", "")
            rows.append((t, {"key": f"library:{t}", "body": {
                "name": f"{t} library on {site_name}"[:160], "relativeurl": _drive_segment(own),
                "parentsiteorlocation_sharepointsite@odata.bind": site_bind}}))
        else:
            need_default = True
            libs[t] = _Library(t, default_drive["id"], t, "")
            rows.append((t, {"key": f"library:{t}", "body": {
                "name": f"{t} documents on {site_name}"[:160], "relativeurl": t,
                "parentsiteorlocation_sharepointdocumentlocation@odata.bind": "@default"}}))
    default_id = None
    if need_default:
        o, = await loader.upsert_rows(dv, LOCATION_TABLE, [{"key": default_key, "body": {
            "name": f"{default_drive.get('name') or default_seg} on {site_name}"[:160], "relativeurl": default_seg,
            "parentsiteorlocation_sharepointsite@odata.bind": site_bind}}])
        if o.status == "rejected":
            raise RuntimeError(f"could not write the location of library {default_seg}: {o.code} {o.message}")
        default_id = o.id
    for t, row in rows:
        b = row["body"]
        if b.get("parentsiteorlocation_sharepointdocumentlocation@odata.bind") == "@default":
            b["parentsiteorlocation_sharepointdocumentlocation@odata.bind"] = \
                f"/{LOCATION_TABLE.entity_set}({default_id})"
            try:
                await sp.ensure_folder(libs[t].drive_id, t)
            except (GraphError, httpx.HTTPError) as e:
                libs[t].error = ("folder_failed", f"library folder {t}: {_graph_text(e)}")
    outcomes = await loader.upsert_rows(dv, LOCATION_TABLE, [r for _, r in rows])
    for (t, _), o in zip(rows, outcomes):
        if o.status == "rejected":
            libs[t].error = libs[t].error or ("location_failed", f"library location {t}: {o.code} {o.message}")
        else:
            libs[t].location_id = o.id  # type: ignore[assignment]
    return libs


async def _resolve_site(sp: SharePointClient, site_url: str) -> dict:
    u = urlsplit(site_url)
    if not u.netloc:
        raise ValueError(f"SHAREPOINT_SITE_URL {site_url!r} is not an absolute URL")
    return await sp.resolve_site(u.netloc, unquote(u.path) or "/")


__all__ = ["transfer_documents", "open_document", "OPENERS", "DocumentUnavailable", "GraphSettings",
           "graph_client", "record_folder_name", "sanitize_name"]
