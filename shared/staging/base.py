"""The ``Staging`` interface, its errors and the rules for names.

A staging area is a flat namespace of ``/``-separated relative names (``runs/r1/account/part-00000.jsonl.gz``)
holding bytes. Two implementations share this interface and one behaviour suite
(``tests/staging/``): :class:`~shared.staging.local.LocalStaging` (a folder) and
:class:`~shared.staging.blob.BlobStaging` (an Azure Blob Storage container).

A staging area may be *scoped* under a prefix (:meth:`Staging.scoped`, or ``open_staging(...,
prefix="runs/r1")``): names are then relative to that prefix, ``list`` returns names relative to it,
and nothing outside it can be reached.

A name may also be *leased* (:meth:`Staging.acquire_lease`): held by one owner until released, so two
runs of the same migration never work in the same staging prefix at once. The owner is a token (the
orchestrator's ``context.new_uuid()``): the same token acquires again (a retried activity), another is
refused with :class:`StagingLeaseError`, which says who holds it and since when.
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
import io
import os
import shutil
import socket
from dataclasses import asdict, dataclass
from typing import Any, BinaryIO

from . import codec

# Bytes copied per read when streaming (upload_stream / open_read consumers).
COPY_BUFFER = 1024 * 1024


class StagingError(Exception):
    """Base class of the staging errors. ``name`` is the staged name, ``where`` a URL for messages."""

    def __init__(self, message: str, *, name: str | None = None, where: str | None = None) -> None:
        super().__init__(message)
        self.name = name
        self.where = where


class StagingNotFoundError(StagingError, FileNotFoundError):
    """The named blob / file does not exist."""

    def __init__(self, name: str, where: str) -> None:
        super().__init__(f"staged object not found: {name!r} ({where})", name=name, where=where)


class StagingExistsError(StagingError, FileExistsError):
    """``overwrite=False`` and the named blob / file already exists."""

    def __init__(self, name: str, where: str) -> None:
        super().__init__(f"staged object already exists: {name!r} ({where})", name=name, where=where)


class StagingIntegrityError(StagingError):
    """Staged bytes are not what the manifest says (checksum mismatch, corrupt gzip or JSON)."""


class InvalidStagingName(StagingError, ValueError):
    """A name that is empty, absolute, contains ``..``/``.``/empty segments, backslashes or NUL."""

    def __init__(self, name: object, reason: str) -> None:
        super().__init__(f"invalid staging name {name!r}: {reason}", name=str(name))


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a lease, recorded with it: enough for a person to tell a live run from a dead one."""

    owner: str  # a digest of the owner token: the token itself is never written down
    host: str
    pid: int
    since: str  # ISO 8601, UTC

    @classmethod
    def me(cls, owner: str) -> "LeaseHolder":
        if not isinstance(owner, str) or not owner:
            raise ValueError("a lease needs a non-empty owner token")
        return cls(owner_digest(owner), socket.gethostname(), os.getpid(),
                   dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))

    @classmethod
    def from_dict(cls, d: dict) -> "LeaseHolder | None":
        try:
            return cls(str(d["owner"]), str(d["host"]), int(d["pid"]), str(d["since"]))
        except (KeyError, TypeError, ValueError):
            return None

    def to_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}

    def __str__(self) -> str:
        return f"since {self.since}, host {self.host}, pid {self.pid}"


def owner_digest(owner: str) -> str:
    return hashlib.sha256(owner.encode()).hexdigest()[:32]


class StagingLeaseError(StagingError):
    """Another owner holds the lease. ``holder`` says who (None when the record cannot be read)."""

    def __init__(self, name: str, where: str, holder: LeaseHolder | None) -> None:
        held = f"({holder})" if holder else "(holder unknown)"
        super().__init__(f"{name!r} is leased by another owner {held} ({where})", name=name, where=where)
        self.holder = holder


# A local write goes to a temporary sibling whose name starts with this; such names are reserved.
TEMP_MARKER = ".~staging-tmp-"


def validate_name(name: str) -> str:
    """Return ``name`` if it is a valid relative staging name, else raise :class:`InvalidStagingName`."""
    if not isinstance(name, str):
        raise InvalidStagingName(name, "must be a str")
    if not name:
        raise InvalidStagingName(name, "empty")
    if "\\" in name:
        raise InvalidStagingName(name, "backslash (use '/')")
    if "\x00" in name:
        raise InvalidStagingName(name, "NUL character")
    if name.startswith("/"):
        raise InvalidStagingName(name, "absolute (must be relative)")
    if len(name) >= 2 and name[1] == ":" and name[0].isalpha():
        raise InvalidStagingName(name, "drive letter (must be relative)")
    if len(name) > 1024:
        raise InvalidStagingName(name, "longer than 1024 characters")
    for segment in name.split("/"):
        if segment == "":
            raise InvalidStagingName(name, "empty segment (leading, trailing or doubled '/')")
        if segment in (".", ".."):
            raise InvalidStagingName(name, f"'{segment}' segment")
        if segment.startswith(TEMP_MARKER):
            raise InvalidStagingName(name, f"segments starting with {TEMP_MARKER!r} are reserved")
    return name


def validate_prefix(prefix: str) -> str:
    """A prefix for ``list``/``delete_prefix``: ``""`` or a name, optionally ending with ``/``."""
    if prefix == "":
        return prefix
    validate_name(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


def join(*parts: str) -> str:
    """Join name parts with ``/`` (ignoring empty parts and surrounding slashes)."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


class Staging(abc.ABC):
    """Bytes under relative names. Subclasses implement the ``_``-prefixed primitives on full names.

    ``self.root`` is the prefix this instance is scoped to (``""`` or ends with ``/``).
    """

    root: str = ""

    # ----- primitives (full names, already validated) -----
    @abc.abstractmethod
    def _write_bytes(self, full: str, data: bytes, overwrite: bool) -> None: ...

    @abc.abstractmethod
    def _read_bytes(self, full: str) -> bytes: ...

    @abc.abstractmethod
    def _exists(self, full: str) -> bool: ...

    @abc.abstractmethod
    def _list(self, full_prefix: str) -> list[str]: ...

    @abc.abstractmethod
    def _delete(self, fulls: list[str]) -> None: ...

    @abc.abstractmethod
    def _open_read(self, full: str) -> BinaryIO: ...

    @abc.abstractmethod
    def _upload_stream(self, full: str, stream: BinaryIO, overwrite: bool, length: int | None) -> None: ...

    @abc.abstractmethod
    def _url(self, full: str) -> str: ...

    @abc.abstractmethod
    def _acquire_lease(self, full: str, holder: LeaseHolder, take_over: bool) -> LeaseHolder: ...

    @abc.abstractmethod
    def _release_lease(self, full: str, owner: str) -> bool: ...

    @abc.abstractmethod
    def scoped(self, prefix: str) -> "Staging":
        """A staging area whose names are relative to ``prefix`` inside this one."""

    # ----- public API (relative names) -----
    def _full(self, name: str) -> str:
        return self.root + validate_name(name)

    def write_bytes(self, name: str, data: bytes, *, overwrite: bool = True) -> None:
        """Store ``data`` under ``name`` (atomically: readers see the old or the new bytes, never half)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"write_bytes({name!r}) needs bytes, got {type(data).__name__}")
        self._write_bytes(self._full(name), bytes(data), overwrite)

    def read_bytes(self, name: str) -> bytes:
        """The bytes under ``name``; :class:`StagingNotFoundError` (naming it) if missing."""
        return self._read_bytes(self._full(name))

    def exists(self, name: str) -> bool:
        return self._exists(self._full(name))

    def list(self, prefix: str = "") -> list[str]:
        """Sorted names (relative to this staging area) starting with ``prefix`` (a plain string prefix:
        ``"runs/r1/"`` lists that folder, ``"runs/r1/part-"`` the parts)."""
        full_prefix = self.root + validate_prefix(prefix)
        return sorted(n[len(self.root):] for n in self._list(full_prefix))

    def delete_prefix(self, prefix: str) -> int:
        """Delete every name starting with ``prefix``; returns how many. ``prefix`` must not be empty
        (to empty a whole area, scope it and delete its folders explicitly)."""
        if not prefix:
            raise InvalidStagingName(prefix, "delete_prefix needs a non-empty prefix")
        full_prefix = self.root + validate_prefix(prefix)
        names = self._list(full_prefix)
        if names:
            self._delete(names)
        return len(names)

    def delete(self, name: str) -> bool:
        """Delete one name; returns whether it existed."""
        full = self._full(name)
        if not self._exists(full):
            return False
        self._delete([full])
        return True

    def write_json(self, name: str, obj: Any, *, overwrite: bool = True) -> None:
        """Stable JSON (sorted keys, Decimal/date/datetime as strings; see :mod:`shared.staging.codec`)."""
        self.write_bytes(name, codec.dumps_bytes(obj), overwrite=overwrite)

    def read_json(self, name: str) -> Any:
        data = self.read_bytes(name)
        try:
            return codec.loads(data)
        except ValueError as exc:
            raise StagingIntegrityError(
                f"{name!r} is not valid JSON ({self.url(name)}): {exc}", name=name, where=self.url(name)
            ) from exc

    def open_read(self, name: str) -> BinaryIO:
        """A binary stream over ``name`` that reads incrementally (constant memory for large blobs).
        Raises :class:`StagingNotFoundError` at once if missing. Close it (use ``with``)."""
        return self._open_read(self._full(name))

    def upload_stream(self, name: str, stream: BinaryIO, *, overwrite: bool = True, length: int | None = None) -> None:
        """Store everything read from ``stream`` under ``name`` in bounded-size pieces (blocks for Blob
        Storage). ``length`` is optional; when given it must be exact."""
        self._upload_stream(self._full(name), stream, overwrite, length)

    def upload_file(self, name: str, path: str, *, overwrite: bool = True) -> None:
        """Store the local file ``path`` under ``name`` (chunked for large files)."""
        with open(path, "rb") as fh:
            size = fh.seek(0, io.SEEK_END)
            fh.seek(0)
            self._upload_stream(self._full(name), fh, overwrite, size)

    def download_file(self, name: str, path: str) -> None:
        """Copy ``name`` to the local file ``path`` (streaming)."""
        with self.open_read(name) as src, open(path, "wb") as dst:
            shutil.copyfileobj(src, dst, COPY_BUFFER)

    def acquire_lease(self, name: str, owner: str, *, take_over: bool = False) -> LeaseHolder:
        """Hold ``name`` for ``owner`` until :meth:`release_lease`; returns the holder record. The same owner
        acquires again (idempotent); another owner's lease raises :class:`StagingLeaseError`, unless
        ``take_over`` (the operator says that holder is dead) - or, for a folder, the holder was a process of
        this host that has died. A lease never expires by itself: a run holds it however long it takes."""
        return self._acquire_lease(self._full(name), LeaseHolder.me(owner), take_over)

    def release_lease(self, name: str, owner: str) -> bool:
        """Release ``owner``'s lease on ``name``; False (and nothing done) if ``owner`` does not hold it:
        already released (a retried release), or taken over by another owner."""
        return self._release_lease(self._full(name), owner_digest(owner))

    def url(self, name: str) -> str:
        """Where ``name`` lives, for log lines and messages (no credentials in it)."""
        return self._url(self._full(name))

    # ----- lifecycle -----
    def close(self) -> None:
        """Release network resources (no-op for a folder)."""

    def __enter__(self) -> "Staging":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
