"""The one Microsoft Graph client for SharePoint document libraries.

Retries live in :meth:`SharePointClient.request` (and, for upload-session fragments, in the
upload loop, because a fragment must not be blindly resent: Graph answers 416 for bytes it already
has): ``Retry-After`` on 429/503, exponential backoff with jitter on other 5xx and on dropped
connections / timeouts. One request waits at most ``max_retry_after`` seconds in all for Retry-After:
a longer wait (or throttling past the last retry) raises :class:`GraphThrottled`, so the caller (an
activity) ends and its orchestrator retries it later instead of holding a worker.

Uploads never replace a file: :meth:`SharePointClient.upload_file` answers ``unchanged`` for the same
content already at the path and raises :class:`ItemExists` for other content.

Upload URLs and download URLs are pre-authenticated: they are called without the bearer token,
through a separate client per origin (they live on ``{tenant}.sharepoint.com``, not on Graph).
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import io
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, BinaryIO, Callable, Protocol
from urllib.parse import quote

import httpx

from shared import telemetry
from shared.http import async_client

from .quickxorhash import QuickXorHash

FRAGMENT_QUANTUM = 320 * 1024  # fragments must be multiples of 327,680 bytes
CONFLICT = "@microsoft.graph.conflictBehavior"


class TokenProvider(Protocol):
    async def token(self) -> str: ...


class GraphError(RuntimeError):
    def __init__(self, status: int, code: str, message: str, *, method: str = "", url: str = "",
                 request_id: str | None = None) -> None:
        super().__init__(f"Graph {method} {url} -> {status} {code}: {message}")
        self.status, self.code, self.message, self.request_id = status, code, message, request_id

    @classmethod
    def from_response(cls, resp: httpx.Response) -> "GraphError":
        code, message, rid = "", resp.text[:500], resp.headers.get("request-id")
        try:
            err = resp.json().get("error", {})
            code, message = err.get("code", ""), err.get("message", message)
            rid = (err.get("innerError") or {}).get("request-id", rid)
        except Exception:
            pass
        return cls(resp.status_code, code, message, method=resp.request.method, url=str(resp.request.url),
                   request_id=rid)


class GraphThrottled(GraphError):
    """Graph asked to wait longer than the client is willing to sleep in-process."""

    def __init__(self, retry_after: float, resp: httpx.Response) -> None:
        base = GraphError.from_response(resp)
        super().__init__(base.status, base.code or "throttled", f"retry after {retry_after:g} s",
                         method=resp.request.method, url=str(resp.request.url), request_id=base.request_id)
        self.retry_after = retry_after


class ContentMismatch(ValueError):
    """The source's bytes are not what the caller said they are (sha256 or size)."""

    def __init__(self, filename: str, message: str) -> None:
        super().__init__(f"{filename}: {message}")
        self.filename = filename


class UploadVerificationError(RuntimeError):
    """SharePoint's quickXorHash of the uploaded file differs from the one computed locally."""


class ItemExists(RuntimeError):
    """A file with other content (or one that could not be compared) already has the name; it was left
    as it is."""

    def __init__(self, item: "DriveItem", path: str) -> None:
        super().__init__(f"{path} already exists in SharePoint with other content ({item.size} bytes, last "
                         f"modified {item.raw.get('lastModifiedDateTime') or 'at an unknown time'})")
        self.item, self.path = item, path


@dataclass
class DriveItem:
    id: str
    name: str
    size: int
    web_url: str | None
    is_folder: bool
    quick_xor_hash: str | None
    parent_id: str | None
    drive_id: str | None
    raw: dict = field(repr=False, default_factory=dict)
    outcome: str | None = None  # upload_file: "created" | "unchanged"

    @classmethod
    def from_json(cls, d: dict, outcome: str | None = None) -> "DriveItem":
        parent = d.get("parentReference") or {}
        return cls(id=d["id"], name=d.get("name", ""), size=int(d.get("size") or 0), web_url=d.get("webUrl"),
                   is_folder="folder" in d or "root" in d,
                   quick_xor_hash=((d.get("file") or {}).get("hashes") or {}).get("quickXorHash"),
                   parent_id=parent.get("id"), drive_id=parent.get("driveId"), raw=d, outcome=outcome)


def _path_url(parts: list[str]) -> str:
    return "/".join(quote(p, safe="") for p in parts)


def _split(path: str) -> list[str]:
    return [p for p in path.replace("\\", "/").split("/") if p]


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _next_offset(body: dict) -> int | None:
    ranges = body.get("nextExpectedRanges") or []
    if not ranges:
        return None
    return min(int(r.split("-", 1)[0]) for r in ranges)


class _SessionGone(Exception):
    pass


class _Source:
    """Reads a binary source by offset, hashing (sha256 + quickXorHash) every byte exactly once,
    in order. Rewinds by seeking, or from the last fragment held in memory when not seekable."""

    def __init__(self, source: BinaryIO | str | os.PathLike, filename: str) -> None:
        self.filename = filename
        self._own = isinstance(source, (str, os.PathLike))
        self.f: BinaryIO = open(source, "rb") if self._own else source  # type: ignore[arg-type]
        try:
            self.seekable = self.f.seekable()
            self.start = self.f.tell() if self.seekable else 0
        except (AttributeError, OSError, io.UnsupportedOperation):
            self.seekable, self.start = False, 0
        self.pos = 0
        self.last: tuple[int, bytes] = (0, b"")
        self.reset_hashes()

    def reset_hashes(self) -> None:
        self.sha256, self.qxh, self.hashed = hashlib.sha256(), QuickXorHash(), 0

    def read_at(self, offset: int, n: int) -> bytes:
        if offset != self.pos:
            lo, buf = self.last
            if lo <= offset <= lo + len(buf) and offset + n <= lo + len(buf):
                data = buf[offset - lo: offset - lo + n]
                self._hash(offset, data)
                return data
            if not self.seekable:
                raise ContentMismatch(self.filename, "the source is not seekable and must be re-read from "
                                      f"offset {offset}")
            self.f.seek(self.start + offset)
            self.pos = offset
        data = self.f.read(n)
        while len(data) < n:  # short reads from pipes/sockets
            more = self.f.read(n - len(data))
            if not more:
                break
            data += more
        self.pos += len(data)
        self.last = (offset, data)
        self._hash(offset, data)
        return data

    def _hash(self, offset: int, data: bytes) -> None:
        if offset <= self.hashed < offset + len(data):
            new = memoryview(data)[self.hashed - offset:]
            self.sha256.update(new)
            self.qxh.update(new)
            self.hashed += len(new)

    def at_eof(self) -> bool:
        if self.seekable:
            self.f.seek(self.start + self.pos)
        extra = self.f.read(1)
        if extra and self.seekable:
            self.f.seek(self.start + self.pos)
        return not extra

    def close(self) -> None:
        if self._own:
            self.f.close()


class SharePointClient:
    """Async Graph client (use as ``async with SharePointClient(token_provider) as sp:``)."""

    def __init__(self, token_provider: TokenProvider, base_url: str = "https://graph.microsoft.com/v1.0", *,
                 simple_upload_limit: int = 4 * 1024 * 1024, fragment_size: int = 10 * FRAGMENT_QUANTUM,
                 max_retries: int = 8, backoff_base: float = 0.5, backoff_max: float = 30.0,
                 max_retry_after: float = 600.0, max_session_restarts: int = 3, timeout: float = 120.0,
                 verify: str | bool = True) -> None:
        if fragment_size <= 0 or fragment_size % FRAGMENT_QUANTUM:
            raise ValueError("fragment_size must be a positive multiple of 320 KiB (327,680 bytes)")
        if fragment_size >= 60 * 1024 * 1024:
            raise ValueError("fragment_size must be smaller than 60 MiB")
        self.tokens = token_provider
        self.base_url = base_url.rstrip("/")
        self.simple_upload_limit = simple_upload_limit
        self.fragment_size = fragment_size
        self.max_retries, self.backoff_base, self.backoff_max = max_retries, backoff_base, backoff_max
        self.max_retry_after = max_retry_after
        self.max_session_restarts = max_session_restarts
        self._timeout, self._verify = timeout, verify
        self._http = async_client(self.base_url, timeout=timeout, verify=verify)
        self._preauth: dict[str, httpx.AsyncClient] = {}

    async def __aenter__(self) -> "SharePointClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()
        for c in self._preauth.values():
            await c.aclose()
        self._preauth.clear()

    # ------------------------------------------------------------------ transport + retries
    def _preauth_client(self, url: str) -> httpx.AsyncClient:
        u = httpx.URL(url)
        origin = f"{u.scheme}://{u.host}" + (f":{u.port}" if u.port else "")
        if origin not in self._preauth:
            self._preauth[origin] = async_client(origin, timeout=self._timeout, verify=self._verify)
        return self._preauth[origin]

    def _backoff(self, attempt: int) -> float:
        return min(self.backoff_max, self.backoff_base * 2 ** attempt) * (0.5 + random.random() / 2)

    async def _wait_throttled(self, resp: httpx.Response, attempt: int, waited: float) -> float:
        """Sleep as Graph asks on 429/503; returns the seconds slept. Raises :class:`GraphThrottled` when
        the retries are spent or the wait would take this request past ``max_retry_after`` in all."""
        ra = _retry_after(resp)
        delay = ra if ra is not None else self._backoff(attempt)
        if attempt >= self.max_retries or (ra is not None and waited + ra > self.max_retry_after):
            raise GraphThrottled(delay, resp)
        await asyncio.sleep(delay)
        return delay

    async def request(self, method: str, url: str, *, authenticated: bool = True, ok: tuple[int, ...] = (),
                      **kwargs: Any) -> httpx.Response:
        """Send with retries. Raises :class:`GraphError` for a final status >= 400 not in ``ok``."""
        client = self._http if authenticated else self._preauth_client(url)
        base_headers = dict(kwargs.pop("headers", None) or {})
        refreshed, waited = False, 0.0
        for attempt in range(self.max_retries + 1):
            if attempt:
                telemetry.retried("graph", "retry")
            headers = dict(base_headers)
            if authenticated:
                headers["Authorization"] = f"Bearer {await self.tokens.token()}"
            try:
                resp = await client.request(method, url, headers=headers, **kwargs)
            except (httpx.TransportError, httpx.TimeoutException):
                if attempt >= self.max_retries:
                    raise
                await asyncio.sleep(self._backoff(attempt))
                continue
            status = resp.status_code
            if status in ok or status < 400:
                return resp
            if status in (429, 503):
                waited += await self._wait_throttled(resp, attempt, waited)
                continue
            if status in (500, 502, 504) and attempt < self.max_retries:
                await asyncio.sleep(self._backoff(attempt))
                continue
            if status == 401 and authenticated and not refreshed and hasattr(self.tokens, "invalidate"):
                self.tokens.invalidate()  # type: ignore[attr-defined]
                refreshed = True
                continue
            raise GraphError.from_response(resp)
        raise AssertionError("unreachable")

    async def _json(self, method: str, url: str, **kwargs: Any) -> dict:
        return (await self.request(method, url, **kwargs)).json()

    # ------------------------------------------------------------------ sites, drives, items
    async def resolve_site(self, hostname: str, path: str) -> dict:
        """``GET /sites/{hostname}:/sites/crm`` -> the site resource (``id`` = "host,guid,guid")."""
        return await self._json("GET", f"/sites/{hostname}:/{_path_url(_split(path))}")

    async def default_drive(self, site_id: str) -> dict:
        return await self._json("GET", f"/sites/{site_id}/drive")

    async def list_drives(self, site_id: str) -> list[dict]:
        return (await self._json("GET", f"/sites/{site_id}/drives"))["value"]

    async def get_item(self, drive_id: str, item_id: str) -> DriveItem:
        return DriveItem.from_json(await self._json("GET", f"/drives/{drive_id}/items/{item_id}"))

    async def get_item_by_path(self, drive_id: str, path: str) -> DriveItem | None:
        parts = _split(path)
        url = f"/drives/{drive_id}/root" + (f":/{_path_url(parts)}:" if parts else "")
        resp = await self.request("GET", url, ok=(404,))
        return None if resp.status_code == 404 else DriveItem.from_json(resp.json())

    async def list_children(self, drive_id: str, item_id: str = "root") -> list[DriveItem]:
        url: str | None = f"/drives/{drive_id}/items/{item_id}/children"
        out: list[DriveItem] = []
        while url:
            body = await self._json("GET", url)
            out += [DriveItem.from_json(v) for v in body.get("value", [])]
            url = body.get("@odata.nextLink")
        return out

    async def ensure_folder(self, drive_id: str, path: str) -> DriveItem:
        """The folder at ``path`` (created with its missing parents). Idempotent and safe under races."""
        parts = _split(path)
        found = await self.get_item_by_path(drive_id, path)
        if found is not None:
            if not found.is_folder:
                raise GraphError(409, "nameAlreadyExists", f"'{path}' exists and is a file")
            return found
        parent_id = "root"
        for i, name in enumerate(parts):
            sub = "/".join(parts[: i + 1])
            item = await self.get_item_by_path(drive_id, sub)
            if item is None:
                resp = await self.request("POST", f"/drives/{drive_id}/items/{parent_id}/children", ok=(409,),
                                          json={"name": name, "folder": {}, CONFLICT: "fail"})
                item = DriveItem.from_json(resp.json()) if resp.status_code != 409 else \
                    await self.get_item_by_path(drive_id, sub)
                if item is None:
                    raise GraphError(409, "nameAlreadyExists", f"could not create folder '{sub}'")
            if not item.is_folder:
                raise GraphError(409, "nameAlreadyExists", f"'{sub}' exists and is a file")
            parent_id = item.id
        return item  # type: ignore[possibly-undefined]

    async def download(self, drive_id: str, item_id: str, dest: BinaryIO | None = None) -> bytes | int:
        """Content of a file: bytes, or the number of bytes written to ``dest`` (streamed)."""
        resp = await self.request("GET", f"/drives/{drive_id}/items/{item_id}/content", follow_redirects=False)
        if resp.status_code in (301, 302, 303, 307, 308):  # pre-authenticated download URL: no bearer
            location = resp.headers["location"]
            if dest is None:
                return (await self.request("GET", location, authenticated=False)).content
            client = self._preauth_client(location)
            async with client.stream("GET", location) as r:
                if r.status_code >= 400:
                    await r.aread()
                    raise GraphError.from_response(r)
                n = 0
                async for chunk in r.aiter_bytes():
                    dest.write(chunk)
                    n += len(chunk)
                return n
        if dest is None:
            return resp.content
        dest.write(resp.content)
        return len(resp.content)

    # ------------------------------------------------------------------ uploads
    async def upload_file(self, drive_id: str, folder_path: str, filename: str,
                          source: BinaryIO | str | os.PathLike, size: int | None = None,
                          sha256: str | None = None, *,
                          before_write: Callable[[], Awaitable[None]] | None = None) -> DriveItem:
        """Upload ``source`` to ``folder_path/filename``; never over another file.

        The source is read and hashed first wherever it can be read twice (in memory up to the
        simple-upload limit, or seekable): a wrong ``sha256`` (hex) or size raises :class:`ContentMismatch`
        naming the file before anything is written, and a file already at the path is compared by size
        and quickXorHash: the same content is left alone (``outcome="unchanged"``), other content raises
        :class:`ItemExists`. Only then does ``before_write`` run (the caller creates the folder there, so
        no folder is created for a file that is refused), and the upload goes with
        ``conflictBehavior=fail``: a file that appeared meanwhile is compared the same way. After the
        upload, SharePoint's quickXorHash must equal the local one (:class:`UploadVerificationError`).
        """
        if size is None:
            if not isinstance(source, (str, os.PathLike)):
                raise ValueError("size is required for a stream source")
            size = os.path.getsize(source)
        parts = _split(folder_path) + [filename]
        path = "/".join(parts)
        src = _Source(source, filename)
        try:
            existing = await self.get_item_by_path(drive_id, path)
            data: bytes | None = None
            if size <= self.simple_upload_limit:
                data = src.read_at(0, size)
                self._check(src, size, sha256, len(data))
            elif src.seekable or existing is not None:  # a stream that cannot seek is only read to compare
                self._read_all(src, size, sha256)
            local = src.qxh.b64digest() if src.hashed == size else None
            if existing is not None:
                return self._unchanged_or_conflict(existing, path, size, local)
            if data is None:  # read again while uploading, hashing again
                src.reset_hashes()
            if before_write is not None:
                await before_write()
            try:
                if data is not None:
                    resp = await self.request("PUT", f"/drives/{drive_id}/root:/{_path_url(parts)}:/content",
                                              params={CONFLICT: "fail"}, content=data,
                                              headers={"Content-Type": "application/octet-stream"})
                    item = resp.json()
                else:
                    item = await self._upload_session(drive_id, parts, src, size, sha256)
            except GraphError as e:
                theirs = await self.get_item_by_path(drive_id, path) if e.status == 409 else None
                if theirs is None:
                    raise
                return self._unchanged_or_conflict(theirs, path, size, src.qxh.b64digest()
                                                   if src.hashed == size else local)
            local = src.qxh.b64digest()
            result = DriveItem.from_json(item, outcome="created")
            if result.quick_xor_hash is None:  # hashes may lag behind the upload response
                result = DriveItem.from_json((await self.get_item(drive_id, result.id)).raw, result.outcome)
            if result.quick_xor_hash is not None and result.quick_xor_hash != local:
                raise UploadVerificationError(f"{path}: SharePoint quickXorHash {result.quick_xor_hash} "
                                              f"!= local {local}")
            if result.size != size:
                raise UploadVerificationError(f"{path}: SharePoint size {result.size} != {size}")
            return result
        finally:
            src.close()

    @staticmethod
    def _unchanged_or_conflict(item: DriveItem, path: str, size: int, local_qxh: str | None) -> DriveItem:
        if item.is_folder:
            raise GraphError(409, "nameAlreadyExists", f"'{path}' is a folder")
        if local_qxh is not None and item.size == size and item.quick_xor_hash == local_qxh:
            item.outcome = "unchanged"
            return item
        raise ItemExists(item, path)

    def _read_all(self, src: _Source, size: int, sha256: str | None) -> None:
        off = 0
        while off < size:
            chunk = src.read_at(off, min(self.fragment_size, size - off))
            if not chunk:
                break
            off += len(chunk)
        self._check(src, size, sha256, off)

    @staticmethod
    def _check(src: _Source, size: int, sha256: str | None, got: int) -> None:
        if got != size or not src.at_eof():
            raise ContentMismatch(src.filename, f"expected {size} bytes, the source has "
                                  f"{'more' if got == size else got}")
        if sha256 is not None and src.sha256.hexdigest() != sha256.lower():
            raise ContentMismatch(src.filename, f"sha256 {src.sha256.hexdigest()} does not match the expected "
                                  f"{sha256.lower()}")

    async def _upload_session(self, drive_id: str, parts: list[str], src: _Source, size: int,
                              sha256: str | None) -> dict:
        restarts = 0
        while True:
            sess = await self._json("POST", f"/drives/{drive_id}/root:/{_path_url(parts)}:/createUploadSession",
                                    json={"item": {CONFLICT: "fail", "name": parts[-1]}})
            url = sess["uploadUrl"]
            try:
                return await self._send_fragments(url, drive_id, parts, src, size, sha256)
            except _SessionGone:
                restarts += 1
                if restarts > self.max_session_restarts:
                    raise GraphError(404, "itemNotFound", f"upload session for '{'/'.join(parts)}' kept expiring")
                if not src.seekable and src.last[0] != 0:
                    raise ContentMismatch(src.filename, "upload session expired and the source cannot be rewound")

    async def _send_fragments(self, url: str, drive_id: str, parts: list[str], src: _Source, size: int,
                              sha256: str | None) -> dict:
        offset, attempt, sent_last, waited = 0, 0, False, 0.0
        while True:
            n = min(self.fragment_size, size - offset)
            frag = src.read_at(offset, n)
            last = offset + n == size
            if last:
                try:
                    self._check(src, size, sha256, offset + len(frag))
                except ContentMismatch:
                    await self.request("DELETE", url, authenticated=False, ok=(404,))
                    raise
            elif len(frag) != n:
                self._check(src, size, sha256, offset + len(frag))
            headers = {"Content-Range": f"bytes {offset}-{offset + n - 1}/{size}",
                       "Content-Type": "application/octet-stream"}
            try:
                resp = await self._preauth_client(url).put(url, content=frag, headers=headers)
            except (httpx.TransportError, httpx.TimeoutException):
                resp = None
            sent_last = sent_last or last
            if resp is not None and resp.status_code in (200, 201):
                return resp.json()
            if resp is not None and resp.status_code == 202:
                nxt = _next_offset(resp.json())
                offset, attempt = (nxt if nxt is not None else offset + n), 0
                continue
            if resp is not None and resp.status_code == 404:
                return await self._after_gone(drive_id, parts, src, sent_last, size)
            if resp is not None and resp.status_code == 409:  # the name was taken meanwhile: nothing committed
                await self.request("DELETE", url, authenticated=False, ok=(404,))
            if resp is not None and resp.status_code not in (416, 429, 500, 502, 503, 504):
                raise GraphError.from_response(resp)
            # dropped connection, 5xx, throttled or 416: ask the session what it still needs
            if resp is not None and resp.status_code in (429, 503):
                waited += await self._wait_throttled(resp, attempt, waited)
            elif attempt >= self.max_retries:
                if resp is not None:
                    raise GraphError.from_response(resp)
                raise httpx.RemoteProtocolError(f"fragment at {offset} of '{'/'.join(parts)}' kept failing")
            elif resp is None or resp.status_code >= 500:
                await asyncio.sleep(self._backoff(attempt))
            attempt += 1
            status = await self.request("GET", url, authenticated=False, ok=(404,))
            if status.status_code == 404:
                return await self._after_gone(drive_id, parts, src, sent_last, size)
            nxt = _next_offset(status.json())
            if nxt is None:  # nothing missing: the commit happened but its answer was lost
                item = await self.get_item_by_path(drive_id, "/".join(parts))
                if item is not None:
                    return item.raw
                raise _SessionGone()
            offset = nxt

    async def _after_gone(self, drive_id: str, parts: list[str], src: _Source, sent_last: bool, size: int) -> dict:
        """404 on the upload URL: expired, or it completed and the answer was lost."""
        if sent_last and src.hashed == size:
            item = await self.get_item_by_path(drive_id, "/".join(parts))
            if item is not None and item.quick_xor_hash == src.qxh.b64digest():
                return item.raw
        raise _SessionGone()
