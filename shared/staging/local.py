"""Staging in a local folder (the embedded default: CLI, local mode, tests).

Every write goes to a temporary sibling (``.~staging-tmp-*``) that is flushed, fsynced and then renamed
over the target (``os.replace``), so a reader sees the old bytes or the new bytes, never a torn file,
and a crash leaves at most a temporary file that ``list`` ignores. ``overwrite=False`` publishes with
``os.link``, which fails atomically if the target exists.

A lease is a lock file holding its :class:`~shared.staging.base.LeaseHolder` (owner digest, host, pid,
time), published with ``overwrite=False``: the create is atomic, like ``O_CREAT | O_EXCL``, and the file
is never seen half-written. A local run lives in one process, so a lock left by a process of this host
that no longer exists is stale and taken over, with a warning.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
import uuid
from pathlib import Path
from typing import BinaryIO

from .base import (COPY_BUFFER, TEMP_MARKER, LeaseHolder, Staging, StagingExistsError, StagingLeaseError,
                   StagingNotFoundError, join, validate_name)

log = logging.getLogger("migration")
#: attempts at creating a lock file while stale locks are being removed by others at the same time
LOCK_ATTEMPTS = 3


def _process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (on Windows, unknown: assumed alive, since
    ``os.kill`` there would end the process rather than probe it)."""
    if os.name == "nt":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


class LocalStaging(Staging):
    def __init__(self, folder: str | os.PathLike[str], *, prefix: str = "", fsync: bool = True) -> None:
        self.folder = Path(folder).resolve()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.root = (validate_name(join(prefix)) + "/") if join(prefix) else ""
        self.fsync = fsync

    def __repr__(self) -> str:
        return f"LocalStaging({str(self.folder)!r}, prefix={self.root!r})"

    def scoped(self, prefix: str) -> "LocalStaging":
        return LocalStaging(self.folder, prefix=join(self.root, prefix), fsync=self.fsync)

    def _path(self, full: str) -> Path:
        return self.folder.joinpath(*full.split("/"))

    # ----- writes -----
    def _publish(self, full: str, fill, overwrite: bool) -> None:
        """Write via ``fill(file)`` into a temp sibling, then atomically move it to ``full``."""
        target = self._path(full)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=TEMP_MARKER, dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fill(fh)
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            if overwrite:
                os.replace(tmp, target)
            else:
                try:
                    os.link(tmp, target)  # fails if target exists: no clobber, no race
                except FileExistsError:
                    raise StagingExistsError(full, self._url(full)) from None
                os.unlink(tmp)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def _write_bytes(self, full: str, data: bytes, overwrite: bool) -> None:
        self._publish(full, lambda fh: fh.write(data), overwrite)

    def _upload_stream(self, full: str, stream: BinaryIO, overwrite: bool, length: int | None) -> None:
        def fill(fh: BinaryIO) -> None:
            copied = 0
            while chunk := stream.read(COPY_BUFFER):
                fh.write(chunk)
                copied += len(chunk)
            if length is not None and copied != length:
                raise ValueError(f"upload of {full!r}: expected {length} bytes, stream gave {copied}")

        self._publish(full, fill, overwrite)

    # ----- reads -----
    def _read_bytes(self, full: str) -> bytes:
        try:
            return self._path(full).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise StagingNotFoundError(full, self._url(full)) from None

    def _open_read(self, full: str) -> BinaryIO:
        path = self._path(full)
        if not path.is_file():
            raise StagingNotFoundError(full, self._url(full))
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise StagingNotFoundError(full, self._url(full)) from None

    def _exists(self, full: str) -> bool:
        return self._path(full).is_file()

    def _list(self, full_prefix: str) -> list[str]:
        # Walk only the deepest folder the prefix names, then filter by the plain string prefix.
        folder_part = full_prefix.rsplit("/", 1)[0] if "/" in full_prefix else ""
        start = self._path(folder_part) if folder_part else self.folder
        if not start.is_dir():
            return []
        out: list[str] = []
        for dirpath, dirnames, filenames in os.walk(start):
            rel_dir = Path(dirpath).relative_to(self.folder).as_posix()
            rel_dir = "" if rel_dir == "." else rel_dir + "/"
            dirnames[:] = [d for d in dirnames if not d.startswith(TEMP_MARKER)]
            for f in filenames:
                if f.startswith(TEMP_MARKER):
                    continue
                name = rel_dir + f
                if name.startswith(full_prefix):
                    out.append(name)
        return out

    def _delete(self, fulls: list[str]) -> None:
        parents: set[Path] = set()
        for full in fulls:
            path = self._path(full)
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            parents.add(path.parent)
        # Prune folders left empty (deepest first), never the staging folder itself.
        for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            p = parent
            while p != self.folder and self.folder in p.parents:
                try:
                    p.rmdir()
                except OSError:
                    break
                p = p.parent

    def _url(self, full: str) -> str:
        return self._path(full).as_uri()

    # ----- leases -----
    def _holder(self, path: Path) -> LeaseHolder | None:
        try:
            return LeaseHolder.from_dict(json.loads(path.read_bytes()))
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def _acquire_lease(self, full: str, holder: LeaseHolder, take_over: bool) -> LeaseHolder:
        path = self._path(full)
        record = json.dumps(holder.to_dict(), sort_keys=True).encode()
        for _ in range(LOCK_ATTEMPTS):
            try:
                self._write_bytes(full, record, overwrite=False)
                return holder
            except StagingExistsError:
                pass
            held = self._holder(path)
            if held is not None and held.owner == holder.owner:
                return held
            stale = held is not None and held.host == socket.gethostname() and not _process_alive(held.pid)
            if not (take_over or stale):
                raise StagingLeaseError(full, self._url(full), held)
            log.warning("taking over the lock %s of %s (%s)", self._url(full),
                        held or "an unreadable record", "its process is gone" if stale else "take over asked for")
            self._break_lock(path, held)
        raise StagingLeaseError(full, self._url(full), self._holder(path))

    def _break_lock(self, path: Path, held: LeaseHolder | None) -> None:
        """Remove the lock ``held`` describes - and only it: moved aside atomically, then checked, so a
        lock another process created in between is put back rather than deleted."""
        aside = path.with_name(f"{TEMP_MARKER}{uuid.uuid4().hex}")
        try:
            os.rename(path, aside)
        except FileNotFoundError:  # another process broke it first
            return
        try:
            if self._holder(aside) != held:
                try:
                    os.link(aside, path)
                except FileExistsError:
                    pass
        finally:
            aside.unlink()

    def _release_lease(self, full: str, owner: str) -> bool:
        held = self._holder(self._path(full))
        if held is None or held.owner != owner:
            return False
        self._delete([full])
        return True
