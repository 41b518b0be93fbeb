"""In-memory metadata + on-disk content for the Graph emulator.

Every method takes the lock for a short critical section; file bodies are streamed to disk
outside it. Content lives in one file per item version (``blobs/``) and one file per upload
session (``sessions/``); committing a session renames its file into ``blobs/`` so a large file
is never held twice, neither in memory nor on disk.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import quote

from shared.sharepoint.quickxorhash import QuickXorHash

from .errors import GraphError

FRAGMENT_QUANTUM = 320 * 1024  # 327,680 bytes
MAX_FRAGMENT = 60 * 1024 * 1024  # a fragment must be < 60 MiB
SIMPLE_UPLOAD_LIMIT = 250 * 1024 * 1024  # "250 MB" (docs); MiB here, inferred

# SharePoint Online's name rules: Microsoft support, "Restrictions and limitations in OneDrive and
# SharePoint" (invalid characters, invalid file or folder names, file name and path lengths),
# https://support.microsoft.com/en-us/office/restrictions-and-limitations-in-onedrive-and-sharepoint-64883a5d-228e-48f5-b3d2-eb39e07630fa
# Characters: " * : < > ? / \ | and control characters (for SharePoint Online, @pnp/sp's utils/file-names.js,
# InvalidFileFolderNameCharsOnlineRegex, also refuses 0x00-0x1f and 0x7f-0x9f).
INVALID_CHARACTERS = re.compile(r'["*:<>?/\\|\x00-\x1f\x7f-\x9f]')
# Names: .lock, CON, PRN, AUX, NUL, COM0-COM9, LPT0-LPT9 (the page lists the device names; like Windows,
# SharePoint refuses them with any extension too), desktop.ini, names starting with ~$, _vti_ anywhere.
RESERVED_NAME = re.compile(r"(?i)^(?:(?:con|prn|aux|nul|com[0-9]|lpt[0-9])(?:\..*)?"
                           r"|\.lock|desktop\.ini|~\$.*|.*_vti_.*)$")
# "The entire decoded file path, including the file name, can't contain more than 400 characters",
# counted from the site's server-relative path ("sites/crm/Shared Documents/...").
MAX_PATH = 400
# An upload session first writes "~tmpXX_<name>" beside the target, so its path must fit 7 characters
# more (observed: microsoftgraph/msgraph-sdk-dotnet#2018, sessions fail above 393 characters).
SESSION_TEMP_NAME = len("~tmpXX_")


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + \
        f"{int(ts * 1000) % 1000:03d}Z"


def _new_item_id() -> str:
    # SharePoint/OneDrive for Business ids: "01" + 32 base32 characters.
    return "01" + base64.b32encode(secrets.token_bytes(20)).decode("ascii")[:32]


@dataclass
class Site:
    id: str
    hostname: str
    path: str  # "/sites/crm"
    display_name: str
    created: float
    drive_ids: list[str] = field(default_factory=list)

    @property
    def web_url(self) -> str:
        return f"https://{self.hostname}{self.path}"


@dataclass
class Drive:
    id: str
    name: str
    site_id: str
    url_segment: str  # "Shared Documents" for the default library
    root_id: str
    created: float


@dataclass
class Item:
    id: str
    drive_id: str
    name: str
    parent_id: str | None  # None for the root
    is_folder: bool
    created: float
    modified: float
    created_by: str
    size: int = 0
    blob: str | None = None  # file path of the content
    quick_xor: str | None = None
    mime_type: str | None = None
    version: int = 1
    etag_guid: str = field(default_factory=lambda: str(uuid.uuid4()).upper())
    fs_created: str | None = None
    fs_modified: str | None = None


@dataclass
class Session:
    id: str
    token: str
    drive_id: str
    parent_id: str
    rel_path: list[str]  # intermediate folders (created on commit) + file name last
    conflict: str
    target_item_id: str | None  # upload session to update an existing item by id
    file: str
    expires: float
    caller: str
    total: int | None = None
    received: int = 0
    hasher: QuickXorHash = field(default_factory=QuickXorHash)
    busy: bool = False
    fs_info: dict | None = None


class Store:
    def __init__(self, *, sites: list[dict] | None, storage_dir: str | None, clock: Callable[[], float],
                 session_ttl: float) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.session_ttl = session_ttl
        if storage_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="graph-emulator-")
            storage_dir = self._tmp.name
        self.dir = storage_dir
        os.makedirs(os.path.join(self.dir, "blobs"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "sessions"), exist_ok=True)
        self.sites: dict[str, Site] = {}
        self.drives: dict[str, Drive] = {}
        self.items: dict[str, Item] = {}
        self.children: dict[str, dict[str, str]] = {}  # folder id -> lower(name) -> item id
        self.sessions: dict[str, Session] = {}
        self.download_tokens: dict[str, tuple[str, float]] = {}
        for spec in sites or [{"hostname": "contoso.sharepoint.com", "path": "/sites/crm"}]:
            self.add_site(**spec)

    # ---------------------------------------------------------------- sites, drives
    def add_site(self, hostname: str, path: str, display_name: str | None = None,
                 drives: list[str] | None = None) -> Site:
        path = "/" + path.strip("/")
        now = self.clock()
        site_id = f"{hostname},{uuid.uuid4()},{uuid.uuid4()}"
        site = Site(site_id, hostname, path, display_name or path.rsplit("/", 1)[-1], now)
        with self.lock:
            self.sites[site_id] = site
        for i, name in enumerate(drives or ["Documents"]):
            self.add_drive(site, name, url_segment="Shared Documents" if i == 0 and name == "Documents" else name)
        return site

    def add_drive(self, site: Site, name: str, url_segment: str) -> Drive:
        now = self.clock()
        drive_id = "b!" + base64.urlsafe_b64encode(secrets.token_bytes(48)).decode("ascii")
        root = Item(_new_item_id(), drive_id, "root", None, True, now, now, "SharePoint App")
        drive = Drive(drive_id, name, site.id, url_segment, root.id, now)
        with self.lock:
            self.drives[drive_id] = drive
            self.items[root.id] = root
            self.children[root.id] = {}
            site.drive_ids.append(drive_id)
        return drive

    def find_site_by_path(self, hostname: str, path: str) -> Site:
        path = "/" + path.strip("/")
        with self.lock:
            for s in self.sites.values():
                if s.hostname.lower() == hostname.lower() and s.path.lower() == path.lower():
                    return s
        raise GraphError(404, "itemNotFound", "Requested site could not be found")

    def site(self, site_id: str) -> Site:
        with self.lock:
            s = self.sites.get(site_id)
            if s is None:  # "{hostname},{site guid},{web guid}" - accept case differences
                s = next((v for k, v in self.sites.items() if k.lower() == site_id.lower()), None)
        if s is None:
            raise GraphError(404, "itemNotFound", "Requested site could not be found")
        return s

    def drive(self, drive_id: str) -> Drive:
        with self.lock:
            d = self.drives.get(drive_id)
        if d is None:
            raise GraphError(404, "itemNotFound", "The resource could not be found.")
        return d

    # ---------------------------------------------------------------- items
    def item(self, drive_id: str, item_id: str) -> Item:
        with self.lock:
            it = self.items.get(item_id)
        if it is None or it.drive_id != drive_id:
            raise GraphError(404, "itemNotFound", "The resource could not be found.")
        return it

    def _child(self, folder_id: str, name: str) -> Item | None:
        cid = self.children.get(folder_id, {}).get(name.lower())
        return self.items.get(cid) if cid else None

    def resolve_path(self, drive_id: str, base_id: str, parts: list[str]) -> Item:
        with self.lock:
            cur = self.items.get(base_id)
            if cur is None or cur.drive_id != drive_id:
                raise GraphError(404, "itemNotFound", "The resource could not be found.")
            for p in parts:
                nxt = self._child(cur.id, p) if cur.is_folder else None
                if nxt is None:
                    raise GraphError(404, "itemNotFound", "The resource could not be found.")
                cur = nxt
            return cur

    def list_children(self, item: Item) -> list[Item]:
        if not item.is_folder:
            return []
        with self.lock:
            ids = list(self.children.get(item.id, {}).values())
            return sorted((self.items[i] for i in ids), key=lambda i: i.name.lower())

    def child_count(self, item: Item) -> int:
        with self.lock:
            return len(self.children.get(item.id, {}))

    def path_of(self, item: Item) -> list[str]:
        with self.lock:
            parts = []
            cur = item
            while cur.parent_id is not None:
                parts.append(cur.name)
                cur = self.items[cur.parent_id]
            return parts[::-1]

    @staticmethod
    def check_name(name: str, *, folder: bool = False, library_root: bool = False) -> None:
        """Graph's answer to a name SharePoint refuses: 400 ``invalidRequest``. The inner code
        ``nameContainsInvalidCharacters`` for characters is observed (OneDrive/onedrive-api-docs#1446);
        a reserved name gets the bare "Invalid request" (observed for ``_vti_``, OneDrive/onedrive-api-docs#1653);
        the messages for spaces and periods are inferred."""
        if not name or name in (".", ".."):
            raise GraphError(400, "invalidRequest", f"The provided name '{name}' is not valid.")
        bad = INVALID_CHARACTERS.search(name)
        if bad:
            raise GraphError(400, "invalidRequest", f"The provided name contains invalid character {bad.group()!r}",
                             inner_code="nameContainsInvalidCharacters")
        if name != name.strip(" "):
            raise GraphError(400, "invalidRequest", "The provided name cannot contain leading, or trailing, spaces.")
        if name.endswith("."):
            raise GraphError(400, "invalidRequest", "The provided name cannot end with a period.")
        # folders: no leading tilde, and "forms" is not supported at the root of a library
        if RESERVED_NAME.match(name) or (folder and (name.startswith("~") or
                                                     (library_root and name.lower() == "forms"))):
            raise GraphError(400, "invalidRequest", "Invalid request")

    def check_path(self, drive_id: str, base_id: str, parts: list[str], *, folder: bool = False,
                   reserve: int = 0) -> None:
        """``parts`` (folders, then the new item's name; a folder's too when ``folder``) under ``base_id``:
        every name valid and the whole decoded path within 400 characters (``reserve`` more for an upload
        session's temporary name)."""
        with self.lock:
            base = self.items.get(base_id)
            if base is None or base.drive_id != drive_id:
                raise GraphError(404, "itemNotFound", "The resource could not be found.")
        above = self.path_of(base)
        for i, name in enumerate(parts):
            self.check_name(name, folder=folder or i < len(parts) - 1, library_root=not above and i == 0)
        drive = self.drives[drive_id]
        path = "/".join([self.sites[drive.site_id].path.strip("/"), drive.url_segment, *above, *parts])
        if len(path) + reserve > MAX_PATH:
            raise GraphError(400, "invalidRequest", f"The path is {len(path)} characters long; the limit is "
                             f"{MAX_PATH - reserve}.", inner_code="pathIsTooLong")

    def _unique_name(self, folder_id: str, name: str) -> str:
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem:
            stem, ext = name, ""
        n = 1
        while True:
            cand = f"{stem} {n}.{ext}" if ext else f"{stem} {n}"
            if self._child(folder_id, cand) is None:
                return cand
            n += 1

    def _add(self, item: Item) -> None:
        self.items[item.id] = item
        self.children.setdefault(item.parent_id, {})[item.name.lower()] = item.id
        if item.is_folder:
            self.children.setdefault(item.id, {})
        self._touch(item.parent_id)

    def _touch(self, folder_id: str | None) -> None:
        if folder_id and folder_id in self.items:
            self.items[folder_id].modified = self.clock()

    def create_folder(self, drive_id: str, parent_id: str, name: str, conflict: str, caller: str) -> tuple[Item, bool]:
        if self.item(drive_id, parent_id).is_folder:
            self.check_path(drive_id, parent_id, [name], folder=True)
        with self.lock:
            parent = self.items.get(parent_id)
            if parent is None or parent.drive_id != drive_id:
                raise GraphError(404, "itemNotFound", "The resource could not be found.")
            if not parent.is_folder:
                raise GraphError(400, "invalidRequest", "The parent item is not a folder.")
            existing = self._child(parent_id, name)
            if existing is not None:
                if conflict == "rename":
                    name = self._unique_name(parent_id, name)
                elif conflict == "replace":
                    self._remove(existing)
                else:
                    raise GraphError(409, "nameAlreadyExists", "The specified item name already exists.")
            now = self.clock()
            item = Item(_new_item_id(), drive_id, name, parent_id, True, now, now, caller)
            self._add(item)
            return item, True

    def ensure_folders(self, drive_id: str, parent_id: str, parts: list[str], caller: str) -> str:
        """Create missing intermediate folders (as the content PUT does); return the last folder id."""
        self.check_path(drive_id, parent_id, parts, folder=True)
        with self.lock:
            cur = self.items.get(parent_id)
            if cur is None or cur.drive_id != drive_id:
                raise GraphError(404, "itemNotFound", "The resource could not be found.")
            for p in parts:
                if not cur.is_folder:
                    raise GraphError(409, "nameAlreadyExists", f"'{cur.name}' is a file, not a folder.")
                nxt = self._child(cur.id, p)
                if nxt is None:
                    now = self.clock()
                    nxt = Item(_new_item_id(), drive_id, p, cur.id, True, now, now, caller)
                    self._add(nxt)
                cur = nxt
            if not cur.is_folder:
                raise GraphError(409, "nameAlreadyExists", f"'{cur.name}' is a file, not a folder.")
            return cur.id

    def _remove(self, item: Item) -> None:
        for cid in list(self.children.get(item.id, {}).values()):
            self._remove(self.items[cid])
        self.children.pop(item.id, None)
        if item.parent_id is not None:
            self.children.get(item.parent_id, {}).pop(item.name.lower(), None)
        self.items.pop(item.id, None)
        if item.blob:
            _unlink(item.blob)

    def delete_item(self, drive_id: str, item_id: str) -> None:
        with self.lock:
            item = self.items.get(item_id)
            if item is None or item.drive_id != drive_id:
                raise GraphError(404, "itemNotFound", "The resource could not be found.")
            if item.parent_id is None:
                raise GraphError(403, "accessDenied", "The root of a drive cannot be deleted.")
            self._touch(item.parent_id)
            self._remove(item)

    def new_blob_path(self) -> str:
        return os.path.join(self.dir, "blobs", secrets.token_hex(16))

    def commit_file(self, *, drive_id: str, folder_id: str, name: str, conflict: str, blob: str, size: int,
                    quick_xor: str, caller: str, target_item_id: str | None = None,
                    fs_info: dict | None = None) -> tuple[Item, bool]:
        """Put a fully written content file in place. Returns (item, created)."""
        self.check_name(name)
        mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        with self.lock:
            now = self.clock()
            if target_item_id is not None:
                existing = self.items.get(target_item_id)
                if existing is None or existing.is_folder:
                    _unlink(blob)
                    raise GraphError(404, "itemNotFound", "The resource could not be found.")
            else:
                folder = self.items.get(folder_id)
                if folder is None or folder.drive_id != drive_id:
                    _unlink(blob)
                    raise GraphError(404, "itemNotFound", "The resource could not be found.")
                existing = self._child(folder_id, name)
                if existing is not None and conflict == "rename":
                    name, existing = self._unique_name(folder_id, name), None
                elif existing is not None and (conflict == "fail" or existing.is_folder):
                    _unlink(blob)
                    raise GraphError(409, "nameAlreadyExists", "The specified item name already exists.")
            if existing is not None:
                old = existing.blob
                existing.blob, existing.size, existing.quick_xor = blob, size, quick_xor
                existing.modified = now
                existing.version += 1
                existing.created_by = existing.created_by or caller
                if fs_info:
                    existing.fs_modified = fs_info.get("lastModifiedDateTime") or existing.fs_modified
                self._touch(existing.parent_id)
                if old:
                    _unlink(old)
                return existing, False
            item = Item(_new_item_id(), drive_id, name, folder_id, False, now, now, caller, size=size, blob=blob,
                        quick_xor=quick_xor, mime_type=mime)
            if fs_info:
                item.fs_created = fs_info.get("createdDateTime")
                item.fs_modified = fs_info.get("lastModifiedDateTime")
            self._add(item)
            return item, True

    # ---------------------------------------------------------------- upload sessions
    def create_session(self, **kw) -> Session:
        sid = secrets.token_hex(16)
        path = os.path.join(self.dir, "sessions", sid)
        open(path, "wb").close()
        s = Session(id=sid, token=secrets.token_urlsafe(24), file=path,
                    expires=self.clock() + self.session_ttl, **kw)
        with self.lock:
            self.sessions[sid] = s
        return s

    def session(self, sid: str, token: str | None) -> Session:
        with self.lock:
            s = self.sessions.get(sid)
            if s is not None and s.expires <= self.clock():
                self.sessions.pop(sid, None)
                _unlink(s.file)
                s = None
        if s is None or (token is not None and not secrets.compare_digest(s.token, token)):
            raise GraphError(404, "itemNotFound", "The upload session was not found or has expired.",
                             inner_code="uploadSessionNotFound")
        return s

    def drop_session(self, s: Session, *, keep_file: bool = False) -> None:
        with self.lock:
            self.sessions.pop(s.id, None)
        if not keep_file:
            _unlink(s.file)

    def expire_sessions(self) -> None:
        """Test helper: every open upload session expires now."""
        with self.lock:
            for s in self.sessions.values():
                s.expires = self.clock()

    def download_token(self, item_id: str) -> str:
        tok = secrets.token_urlsafe(24)
        with self.lock:
            self.download_tokens[tok] = (item_id, self.clock() + 3600)
        return tok

    def item_for_download(self, tok: str) -> Item:
        with self.lock:
            entry = self.download_tokens.get(tok)
            if entry is None or entry[1] <= self.clock() or entry[0] not in self.items:
                raise GraphError(401, "unauthenticated", "The download URL is invalid or has expired.")
            return self.items[entry[0]]

    def web_url(self, item: Item) -> str:
        drive = self.drives[item.drive_id]
        site = self.sites[drive.site_id]
        parts = [drive.url_segment] + self.path_of(item)
        return site.web_url + "/" + "/".join(quote(p) for p in parts)

    def close(self) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp is not None:
            tmp.cleanup()
        else:
            shutil.rmtree(os.path.join(self.dir, "sessions"), ignore_errors=True)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def now_ts() -> float:
    return time.time()
