"""Microsoft Graph v1.0 (SharePoint document libraries) as an ASGI app.

Routes (all under ``/v1.0`` need ``Authorization: Bearer``):

- ``GET /sites/{hostname}:/sites/{path}[:]``, ``GET /sites/{site-id}``, ``GET /sites/{site-id}/drives``,
  ``GET /sites/{site-id}/drive`` (and ``/sites/{site-id}/drive/...`` as an alias of ``/drives/{id}/...``)
- ``GET /drives/{drive-id}``, ``.../root``, ``.../items/{id}``, ``.../root:/{path}[:]``, ``.../children``
  (``$top`` + ``@odata.nextLink``), ``DELETE .../items/{id}``
- ``POST .../items/{parent-id}/children`` (create folder, ``@microsoft.graph.conflictBehavior``)
- ``PUT .../items/{parent-id}:/{path/filename}:/content`` (simple upload; missing folders in the path are
  created) and ``PUT .../items/{id}/content`` (replace content)
- ``POST .../items/{parent-id}:/{path/filename}:/createUploadSession``
- ``GET .../items/{id}/content`` -> ``302`` to a pre-authenticated ``download.aspx`` URL, like Graph.

Names and paths are refused as SharePoint refuses them (``Store.check_name`` / ``Store.check_path``: invalid
characters, reserved names, leading/trailing spaces, trailing dots, the 400-character decoded path) with
400 ``invalidRequest``; a name holding an encoded ``:`` or ``/`` is parsed from the raw request path.

Upload sessions live at ``{origin}/sites/..../_api/v2.0/drives/{d}/items/{parent}/uploadSession?guid=..&tempauth=..``
(``origin`` = ``file_host`` or the request's origin): ``PUT`` fragments (no Authorization header),
``GET`` status, ``DELETE`` cancel.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Callable
from urllib.parse import quote, unquote

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from emulators.common.tokens import TokenIssuer
from shared.sharepoint.quickxorhash import QuickXorHash

from . import tokens
from .errors import GraphError, error_response
from .middleware import AuthMiddleware, Faults, FaultRule, FaultsMiddleware, Throttle, ThrottleMiddleware
from .store import (FRAGMENT_QUANTUM, MAX_FRAGMENT, SESSION_TEMP_NAME, SIMPLE_UPLOAD_LIMIT, Item, Session, Store,
                    iso)

CONFLICT = "@microsoft.graph.conflictBehavior"
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def _split_path(path: str) -> list[str]:
    return [unquote(p) for p in path.strip("/").split("/") if p]


def _raw_rest(request: Request, after: str) -> str:
    """The request path after ``after``, still percent-encoded: a name may hold an encoded ``:`` or
    ``/``, which must not be taken for the ``root:/path:/action`` separators once decoded."""
    raw = (request.scope.get("raw_path") or request.url.path.encode()).split(b"?")[0].decode("latin-1")
    return raw[raw.index(after) + len(after):]


def _parse_drive_rest(rest: str) -> tuple[str, str | None, list[str], str]:
    """``{drive}/root:/a/b:/children`` (percent-encoded) -> (drive, base item id or None for root, [a, b],
    "children"), every segment decoded."""
    drive_id, _, tail = rest.partition("/")
    drive_id = unquote(drive_id)
    base: str | None
    if tail == "":
        return drive_id, "", [], ""
    if tail.startswith("root"):
        base, tail = None, tail[4:]
    elif tail.startswith("items/"):
        m = re.match(r"items/([^/:]+)", tail)
        if not m:
            raise GraphError(400, "invalidRequest", "Invalid request")
        base, tail = unquote(m.group(1)), tail[m.end():]
    else:
        raise GraphError(400, "invalidRequest", f"Resource not found for the segment '{tail.split('/')[0]}'.")
    parts: list[str] = []
    if tail.startswith(":"):
        body = tail[1:]
        end = body.find(":")
        if end == -1:
            path, tail = body, ""
        else:
            path, tail = body[:end], body[end + 1:]
        parts = _split_path(path)
    action = tail.strip("/")
    return drive_id, base, parts, action


class GraphEmulator:
    def __init__(self, store: Store, *, file_host: str | None, simple_upload_limit: int,
                 session_default_conflict: str, page_size: int) -> None:
        self.store = store
        self.file_host = file_host.rstrip("/") if file_host else None
        self.simple_upload_limit = simple_upload_limit
        self.session_default_conflict = session_default_conflict
        self.page_size = page_size

    # ------------------------------------------------------------------ JSON shapes
    def _origin(self, request: Request) -> str:
        return f"{request.url.scheme}://{request.url.netloc}"

    def site_json(self, request: Request, site) -> dict:
        return {
            "@odata.context": f"{self._origin(request)}/v1.0/$metadata#sites/$entity",
            "id": site.id, "name": site.path.rsplit("/", 1)[-1], "displayName": site.display_name,
            "webUrl": site.web_url, "createdDateTime": iso(site.created), "lastModifiedDateTime": iso(site.created),
            "siteCollection": {"hostname": site.hostname},
        }

    def drive_json(self, drive) -> dict:
        site = self.store.site(drive.site_id)
        return {
            "id": drive.id, "name": drive.name, "driveType": "documentLibrary", "description": "",
            "createdDateTime": iso(drive.created), "lastModifiedDateTime": iso(drive.created),
            "webUrl": f"{site.web_url}/{quote(drive.url_segment)}",
            "createdBy": {"user": {"displayName": "System Account"}},
            "owner": {"group": {"displayName": f"{site.display_name} Owners"}},
            "quota": {"deleted": 0, "remaining": 27487790694400, "state": "normal", "total": 27487790694400},
        }

    def item_json(self, request: Request, item: Item, *, download_url: bool = True) -> dict:
        store = self.store
        drive = store.drive(item.drive_id)
        out: dict = {
            "createdDateTime": iso(item.created), "eTag": f'"{{{item.etag_guid}}},{item.version}"',
            "id": item.id, "lastModifiedDateTime": iso(item.modified), "name": item.name,
            "webUrl": store.web_url(item), "cTag": f'"c:{{{item.etag_guid}}},{item.version}"',
            "size": item.size if not item.is_folder else self._folder_size(item),
            "createdBy": {"application": {"id": item.created_by, "displayName": item.created_by},
                          "user": {"displayName": "SharePoint App"}},
            "lastModifiedBy": {"application": {"id": item.created_by, "displayName": item.created_by},
                               "user": {"displayName": "SharePoint App"}},
            "fileSystemInfo": {"createdDateTime": item.fs_created or iso(item.created),
                               "lastModifiedDateTime": item.fs_modified or iso(item.modified)},
        }
        parent_ref = {"driveType": "documentLibrary", "driveId": item.drive_id, "siteId": drive.site_id}
        if item.parent_id is None:
            out["parentReference"] = parent_ref
            out["root"] = {}
        else:
            parent = store.items.get(item.parent_id)
            parent_path = store.path_of(parent) if parent else []
            out["parentReference"] = {
                **parent_ref, "id": item.parent_id,
                "name": drive.name if parent and parent.parent_id is None else (parent.name if parent else ""),
                "path": f"/drives/{item.drive_id}/root:" + "".join("/" + p for p in parent_path),
            }
        if item.is_folder:
            out["folder"] = {"childCount": store.child_count(item)}
        else:
            out["file"] = {"mimeType": item.mime_type, "hashes": {"quickXorHash": item.quick_xor}}
            out["shared"] = {"scope": "users"}
            if download_url:
                out["@microsoft.graph.downloadUrl"] = self.download_url(request, item)
        return out

    def _folder_size(self, item: Item) -> int:
        return sum(c.size if not c.is_folder else self._folder_size(c) for c in self.store.list_children(item))

    def _site_prefix(self, drive_id: str) -> str:
        drive = self.store.drive(drive_id)
        return self.store.site(drive.site_id).path

    def download_url(self, request: Request, item: Item) -> str:
        origin = self.file_host or self._origin(request)
        tok = self.store.download_token(item.id)
        return f"{origin}{self._site_prefix(item.drive_id)}/_layouts/15/download.aspx?UniqueId={item.id}&tempauth={tok}"

    def upload_url(self, request: Request, s: Session) -> str:
        origin = self.file_host or self._origin(request)
        return (f"{origin}{self._site_prefix(s.drive_id)}/_api/v2.0/drives/{s.drive_id}/items/{s.parent_id}"
                f"/uploadSession?guid='{s.id}'&overwrite={s.conflict == 'replace'}&rename={s.conflict == 'rename'}"
                f"&dc=0&tempauth={s.token}")

    # ------------------------------------------------------------------ /sites
    async def sites(self, request: Request) -> Response:
        rest = request.path_params["rest"]
        if ":" in rest:  # {hostname}:/sites/crm[:][/drives]
            hostname, _, tail = rest.partition(":")
            path, _, after = tail.partition(":")
            site = self.store.find_site_by_path(hostname, path)
            rest_after = after.strip("/")
        else:
            site_id, _, rest_after = rest.partition("/")
            site = self.store.site(site_id)
        if request.method != "GET" and not rest_after.startswith("drive/"):
            raise GraphError(405, "invalidRequest", "The HTTP method is not allowed on the resource.")
        if rest_after == "":
            return JSONResponse(self.site_json(request, site))
        if rest_after == "drives":
            drives = [self.drive_json(self.store.drive(d)) for d in site.drive_ids]
            return JSONResponse({"@odata.context": f"{self._origin(request)}/v1.0/$metadata#drives", "value": drives})
        if rest_after == "drive":
            return JSONResponse(self.drive_json(self.store.drive(site.drive_ids[0])))
        if rest_after.startswith("drive/"):
            return await self.drives(request, f"{site.drive_ids[0]}/{_raw_rest(request, '/drive/')}")
        raise GraphError(400, "invalidRequest", f"Resource not found for the segment '{rest_after.split('/')[0]}'.")

    # ------------------------------------------------------------------ /drives
    async def drives(self, request: Request, rest: str | None = None) -> Response:
        rest = rest if rest is not None else _raw_rest(request, "/v1.0/drives/")
        drive_id, base, parts, action = _parse_drive_rest(rest)
        drive = self.store.drive(drive_id)
        method = request.method
        if base == "":
            if method != "GET":
                raise GraphError(405, "invalidRequest", "The HTTP method is not allowed on the resource.")
            return JSONResponse(self.drive_json(drive))
        base_id = drive.root_id if base in (None, "root") else base
        caller = request.scope.get("state", {}).get("graph_caller", "app")
        if method == "PUT" and action == "content":
            return await self.put_content(request, drive_id, base_id, parts, caller)
        if method == "POST" and action == "createUploadSession":
            return await self.create_upload_session(request, drive_id, base_id, parts, caller)
        item = self.store.resolve_path(drive_id, base_id, parts)
        if method == "GET" and action == "":
            return JSONResponse(self.item_json(request, item))
        if method == "GET" and action == "children":
            return self.list_children(request, item)
        if method == "POST" and action == "children":
            return await self.create_folder(request, item, caller)
        if method == "GET" and action == "content":
            if item.is_folder:
                raise GraphError(404, "itemNotFound", "The resource could not be found.")
            return RedirectResponse(self.download_url(request, item), status_code=302)
        if method == "DELETE" and action == "":
            self.store.delete_item(drive_id, item.id)
            return Response(status_code=204)
        raise GraphError(400, "invalidRequest", "Invalid request")

    def list_children(self, request: Request, item: Item) -> Response:
        kids = self.store.list_children(item)
        try:
            top = min(int(request.query_params.get("$top", self.page_size)), 1000)
            skip = int(request.query_params.get("$skiptoken", "0"))
        except ValueError:
            raise GraphError(400, "invalidRequest", "Invalid paging parameters.")
        page = kids[skip:skip + top]
        body: dict = {"@odata.context": f"{self._origin(request)}/v1.0/$metadata#drives('{item.drive_id}')"
                                         f"/items('{item.id}')/children",
                      "value": [self.item_json(request, k) for k in page]}
        if skip + top < len(kids):
            body["@odata.nextLink"] = (f"{self._origin(request)}/v1.0/drives/{item.drive_id}/items/{item.id}/children"
                                       f"?$top={top}&$skiptoken={skip + top}")
        return JSONResponse(body)

    async def create_folder(self, request: Request, parent: Item, caller: str) -> Response:
        try:
            body = await request.json()
        except Exception:
            raise GraphError(400, "invalidRequest", "The request body is not valid JSON.")
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise GraphError(400, "invalidRequest", "Property 'name' is required.")
        if "folder" not in body and "file" not in body:
            raise GraphError(400, "invalidRequest", "Either 'folder' or 'file' must be provided.")
        if "folder" not in body:
            raise GraphError(400, "invalidRequest", "Creating a file this way is not supported; upload content.")
        conflict = body.get(CONFLICT) or request.query_params.get(CONFLICT) or "fail"
        if conflict not in ("fail", "replace", "rename"):
            raise GraphError(400, "invalidRequest", f"Invalid conflictBehavior '{conflict}'.")
        item, _ = self.store.create_folder(parent.drive_id, parent.id, body["name"], conflict, caller)
        return JSONResponse(self.item_json(request, item), status_code=201)

    # ------------------------------------------------------------------ simple upload
    async def put_content(self, request: Request, drive_id: str, base_id: str, parts: list[str],
                          caller: str) -> Response:
        conflict = request.query_params.get(CONFLICT, "replace")
        if conflict not in ("fail", "replace", "rename"):
            raise GraphError(400, "invalidRequest", f"Invalid conflictBehavior '{conflict}'.")
        declared = request.headers.get("content-length")
        if declared is not None and int(declared) > self.simple_upload_limit:
            raise GraphError(413, "invalidRequest", "The request size exceeds the maximum limit for a simple "
                             "upload; use an upload session.", inner_code="fileSizeLimitExceeded")
        target_id = None
        if parts:
            self.store.check_path(drive_id, base_id, parts)
        else:  # PUT /items/{id}/content: replace an existing file's content
            target = self.store.item(drive_id, base_id)
            if target.is_folder:
                raise GraphError(400, "invalidRequest", "Cannot upload content to a folder.")
            target_id = target.id
        blob = self.store.new_blob_path()
        hasher, size = QuickXorHash(), 0
        try:
            with open(blob, "wb") as f:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > self.simple_upload_limit:
                        raise GraphError(413, "invalidRequest", "The request size exceeds the maximum limit for a "
                                         "simple upload; use an upload session.", inner_code="fileSizeLimitExceeded")
                    f.write(chunk)
                    hasher.update(chunk)
        except BaseException:
            _unlink(blob)
            raise
        if target_id is None:
            folder_id = self.store.ensure_folders(drive_id, base_id, parts[:-1], caller)
            item, created = self.store.commit_file(drive_id=drive_id, folder_id=folder_id, name=parts[-1],
                                                   conflict=conflict, blob=blob, size=size,
                                                   quick_xor=hasher.b64digest(), caller=caller)
        else:
            target = self.store.item(drive_id, target_id)
            item, created = self.store.commit_file(drive_id=drive_id, folder_id=target.parent_id, name=target.name,
                                                   conflict="replace", blob=blob, size=size,
                                                   quick_xor=hasher.b64digest(), caller=caller,
                                                   target_item_id=target_id)
        return JSONResponse(self.item_json(request, item), status_code=201 if created else 200)

    # ------------------------------------------------------------------ upload sessions
    async def create_upload_session(self, request: Request, drive_id: str, base_id: str, parts: list[str],
                                    caller: str) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise GraphError(400, "invalidRequest", "The request body is not valid JSON.")
        item_props = body.get("item") or {}
        if body.get("deferCommit"):
            raise GraphError(501, "notSupported", "deferCommit is not supported by this emulator.")
        conflict = item_props.get(CONFLICT) or request.query_params.get(CONFLICT) or self.session_default_conflict
        if conflict not in ("fail", "replace", "rename"):
            raise GraphError(400, "invalidRequest", f"Invalid conflictBehavior '{conflict}'.")
        target_id = None
        if parts:
            self.store.check_path(drive_id, base_id, parts, reserve=SESSION_TEMP_NAME)
            base = self.store.item(drive_id, base_id)
            if not base.is_folder:
                raise GraphError(400, "invalidRequest", "The parent item is not a folder.")
            if conflict == "fail":
                try:
                    existing = self.store.resolve_path(drive_id, base_id, parts)
                except GraphError:
                    existing = None
                if existing is not None:
                    raise GraphError(409, "nameAlreadyExists", "The specified item name already exists.")
        else:  # session to update an existing file by id
            target = self.store.item(drive_id, base_id)
            if target.is_folder:
                raise GraphError(400, "invalidRequest", "Specify a file name to upload into a folder.")
            target_id, conflict = target.id, "replace"
        s = self.store.create_session(drive_id=drive_id, parent_id=base_id, rel_path=parts, conflict=conflict,
                                      target_item_id=target_id, caller=caller,
                                      fs_info=item_props.get("fileSystemInfo"))
        if isinstance(item_props.get("fileSize"), int):
            s.total = item_props["fileSize"]
        return JSONResponse({
            "@odata.context": f"{self._origin(request)}/v1.0/$metadata#microsoft.graph.uploadSession",
            "uploadUrl": self.upload_url(request, s),
            "expirationDateTime": iso(s.expires),
            "nextExpectedRanges": ["0-"],
        })

    def _status(self, s: Session) -> dict:
        ranges = [f"{s.received}-{s.total - 1}"] if s.total else [f"{s.received}-"]
        return {"expirationDateTime": iso(s.expires), "nextExpectedRanges": ranges}

    async def upload_session(self, request: Request) -> Response:
        sid = request.query_params.get("guid", "").strip("'")
        s = self.store.session(sid, request.query_params.get("tempauth", ""))
        if "authorization" in request.headers:
            raise GraphError(401, "unauthenticated", "Upload URLs are pre-authenticated; do not send an "
                             "Authorization header with requests to the uploadUrl.")
        if request.method == "GET":
            return JSONResponse(self._status(s))
        if request.method == "DELETE":
            self.store.drop_session(s)
            return Response(status_code=204)
        if request.method != "PUT":
            raise GraphError(405, "invalidRequest", "The HTTP method is not allowed on the resource.")
        return await self.put_fragment(request, s)

    async def put_fragment(self, request: Request, s: Session) -> Response:
        m = _RANGE.match(request.headers.get("content-range", "").strip())
        if not m:
            raise GraphError(400, "invalidRequest", "Content-Range header is missing or malformed "
                             "(expected 'bytes start-end/total').")
        start, end, total = (int(g) for g in m.groups())
        if request.headers.get("content-length") is None:
            raise GraphError(411, "invalidRequest", "A Content-Length header is required.")
        length = int(request.headers["content-length"])
        if end < start or end >= total or length != end - start + 1:
            raise GraphError(400, "invalidRequest", "Content-Range does not match Content-Length.")
        if s.total is not None and total != s.total:
            raise GraphError(400, "invalidRequest", f"The declared file size {total} does not match the upload "
                             f"session ({s.total}).")
        if length >= MAX_FRAGMENT:
            raise GraphError(413, "invalidRequest", "A fragment must be smaller than 60 MiB.")
        last = end == total - 1
        if not last and length % FRAGMENT_QUANTUM:
            # Graph: "must be a multiple of 320 KiB (327,680 bytes)"; the real service fails the
            # commit of some files otherwise. This emulator rejects the fragment outright (inferred).
            raise GraphError(400, "invalidRequest", f"Fragment size {length} is not a multiple of 320 KiB "
                             f"(327,680 bytes).")
        with self.store.lock:
            if s.busy or start != s.received:
                raise GraphError(416, "invalidRange", "The uploaded fragment overlaps with data that has already "
                                 "been received or is not the next expected range." if start < s.received else
                                 "The uploaded fragment is not the next expected range.")
            s.busy = True
            s.total = total
        hasher, written = s.hasher.copy(), 0
        try:
            with open(s.file, "r+b") as f:
                f.seek(start)
                async for chunk in request.stream():
                    written += len(chunk)
                    if written > length:
                        break
                    f.write(chunk)
                    hasher.update(chunk)
                f.truncate(start + min(written, length))
            if written != length:
                raise GraphError(400, "invalidRequest", "The request body does not match Content-Length.")
            with self.store.lock:
                s.received, s.hasher = end + 1, hasher
                s.expires = self.store.clock() + self.store.session_ttl
        except ClientDisconnect:
            raise GraphError(400, "invalidRequest", "The client disconnected during the fragment.")
        finally:
            s.busy = False
        if not last:
            return JSONResponse(self._status(s), status_code=202)
        return self.commit_session(request, s)

    def commit_session(self, request: Request, s: Session) -> Response:
        self.store.drop_session(s, keep_file=True)
        blob = self.store.new_blob_path()
        os.replace(s.file, blob)
        if s.target_item_id is not None:
            target = self.store.item(s.drive_id, s.target_item_id)
            item, created = self.store.commit_file(drive_id=s.drive_id, folder_id=target.parent_id, name=target.name,
                                                   conflict="replace", blob=blob, size=s.received,
                                                   quick_xor=s.hasher.b64digest(), caller=s.caller,
                                                   target_item_id=s.target_item_id, fs_info=s.fs_info)
        else:
            try:
                folder_id = self.store.ensure_folders(s.drive_id, s.parent_id, s.rel_path[:-1], s.caller)
            except GraphError:
                _unlink(blob)
                raise
            item, created = self.store.commit_file(drive_id=s.drive_id, folder_id=folder_id, name=s.rel_path[-1],
                                                   conflict=s.conflict, blob=blob, size=s.received,
                                                   quick_xor=s.hasher.b64digest(), caller=s.caller,
                                                   fs_info=s.fs_info)
        return JSONResponse(self.item_json(request, item), status_code=201 if created else 200)

    # ------------------------------------------------------------------ downloads
    async def download(self, request: Request) -> Response:
        item = self.store.item_for_download(request.query_params.get("tempauth", ""))
        if item.id != request.query_params.get("UniqueId", item.id):
            raise GraphError(404, "itemNotFound", "The resource could not be found.")
        return FileResponse(item.blob, media_type=item.mime_type or "application/octet-stream",
                            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(item.name)}"})

    async def sharepoint(self, request: Request) -> Response:
        path = request.url.path
        if re.search(r"/_api/v2\.0/drives/[^/]+/items/[^/]+/uploadSession$", path):
            return await self.upload_session(request)
        if path.endswith("/_layouts/15/download.aspx") and request.method == "GET":
            return await self.download(request)
        raise GraphError(404, "itemNotFound", "The resource could not be found.")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


_ALL = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def create_app(*, sites: list[dict] | None = None, throttle: Throttle | None = None,
               faults: list[FaultRule] | str | None = None, session_ttl: float = 900.0,
               token_verifier: Callable[[str], str | None] | None = None, storage_dir: str | None = None,
               file_host: str | None = None, simple_upload_limit: int = SIMPLE_UPLOAD_LIMIT,
               session_default_conflict: str = "fail", page_size: int = 200,
               clock: Callable[[], float] = time.time) -> Starlette:
    """The Graph emulator.

    ``sites``: ``[{"hostname", "path", "display_name"?, "drives"?: ["Documents", ...]}]`` (default:
    contoso.sharepoint.com ``/sites/crm`` with a "Documents" library). ``throttle``: a per-caller
    :class:`Throttle`. ``faults``: :class:`FaultRule` list or spec string (see ``FaultRule.parse``);
    more can be added at run time with ``app.state.faults.add(...)``. ``session_ttl``: seconds an upload
    session lives without a fragment (each fragment extends it; *inferred* default). ``token_verifier``:
    ``(bearer) -> caller id | None`` (default: tokens from :func:`mint_token`). ``file_host``: origin of
    upload/download URLs (e.g. ``https://contoso.sharepoint.com`` as in Graph; default: the request's
    origin so the emulator works on a loopback port). ``clock``: time source (tests move it forward).
    """
    issuer = TokenIssuer(clock=clock)
    store = Store(sites=sites, storage_dir=storage_dir, clock=clock, session_ttl=session_ttl)
    emu = GraphEmulator(store, file_host=file_host, simple_upload_limit=simple_upload_limit,
                        session_default_conflict=session_default_conflict, page_size=page_size)
    verifier = token_verifier or tokens.verifier(issuer)
    fault_table = faults if isinstance(faults, Faults) else Faults(faults)
    fault_table.on_expire = store.expire_sessions

    async def on_graph_error(request: Request, exc: GraphError) -> Response:
        return error_response(exc, request.headers.get("client-request-id"))

    app = Starlette(
        routes=[
            Route("/v1.0/sites/{rest:path}", emu.sites, methods=_ALL),
            Route("/v1.0/drives/{rest:path}", emu.drives, methods=_ALL),
            Route("/{rest:path}", emu.sharepoint, methods=_ALL),
        ],
        middleware=[
            Middleware(FaultsMiddleware, faults=fault_table),
            Middleware(AuthMiddleware, verifier=verifier),
            Middleware(ThrottleMiddleware, throttle=throttle),
        ],
        exception_handlers={GraphError: on_graph_error},
    )
    app.state.store = store
    app.state.faults = fault_table
    app.state.token_issuer = issuer
    app.state.emulator = emu
    return app


def mint_token(app: Starlette, subject: str = "migration-app", *, ttl: float = 3600) -> str:
    """A bearer token ``app`` accepts (for tests that do not exercise a token endpoint)."""
    return tokens.mint(app.state.token_issuer, subject, ttl=ttl)
