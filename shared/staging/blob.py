"""Staging in an Azure Blob Storage container (the deployed Function App; Azurite in tests).

One :class:`azure.storage.blob.ContainerClient` per instance. Reliability comes from the SDK: its
default retry policy (exponential back-off on timeouts, dropped connections, 408/429/500/502/503/504),
plus the socket timeouts and transfer sizes in :data:`CLIENT_OPTIONS`. Transfers are bounded in memory:
uploads above 8 MiB go as 4 MiB blocks, downloads are fetched 1 MiB at a time, and
:meth:`BlobStaging.open_read` yields a stream that never holds more than one such piece.

Every Blob write is atomic by the service's own rules: a single Put Blob, or a block list committed at
the end; readers never see a partial blob.

A lease is a Blob lease (https://learn.microsoft.com/rest/api/storageservices/lease-blob) on an empty
blob, infinite, with a lease id derived from the owner token: acquiring with the active lease id
succeeds again (a retried activity of the same run), any other id gets 409 ``LeaseAlreadyPresent``.
The holder record is the blob's metadata. Nothing on Blob Storage says whether a holder is alive (a
run in the Function App outlives any one worker process), so only ``take_over`` breaks another's lease.
"""

from __future__ import annotations

import io
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO, Iterator
from urllib.parse import quote

from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import BlobLeaseClient, BlobServiceClient, ContainerClient, ContentSettings

from .base import (LeaseHolder, Staging, StagingError, StagingExistsError, StagingLeaseError, StagingNotFoundError,
                   join, validate_name)

log = logging.getLogger("migration")

MiB = 1024 * 1024

# Passed to every BlobServiceClient: timeouts in seconds, transfer sizes in bytes.
CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 20,
    "read_timeout": 120,
    "max_single_put_size": 8 * MiB,  # larger uploads are split into blocks
    "max_block_size": 4 * MiB,
    # Downloads go as 1 MiB ranged GETs: the SDK + transport transiently allocate ~10x a range while
    # reading one (measured with tracemalloc, azure-storage-blob 12.31 / urllib3 2.8), so 1 MiB ranges
    # keep a streaming read near 10 MiB whatever the blob size; 4 MiB ranges would cost ~40 MiB.
    "max_single_get_size": 1 * MiB,  # the first GET of a download
    "max_chunk_get_size": 1 * MiB,  # every further ranged GET
}
UPLOAD_CONCURRENCY = 2
DELETE_CONCURRENCY = 8

_CONTENT_TYPES = {
    ".json": "application/json",
    ".gz": "application/gzip",
    ".jsonl": "application/x-ndjson",
    ".csv": "text/csv",
}

_ensured_lock = threading.Lock()
_ensured_containers: set[str] = set()


def _content_settings(name: str) -> ContentSettings:
    base = name.rsplit("/", 1)[-1]
    ext = "." + base.rsplit(".", 1)[-1] if "." in base else ""
    return ContentSettings(content_type=_CONTENT_TYPES.get(ext, "application/octet-stream"))


class BlobStaging(Staging):
    def __init__(self, container: ContainerClient, *, prefix: str = "", create: bool = True, _owns_client: bool = True) -> None:
        self.container = container
        self.root = (validate_name(join(prefix)) + "/") if join(prefix) else ""
        self._owns_client = _owns_client
        if create:
            self.ensure_container()

    # ----- construction -----
    @classmethod
    def from_connection_string(cls, conn_str: str, container: str, *, prefix: str = "", create: bool = True, **options: Any) -> "BlobStaging":
        service = BlobServiceClient.from_connection_string(conn_str, **{**CLIENT_OPTIONS, **options})
        return cls(service.get_container_client(container), prefix=prefix, create=create)

    @classmethod
    def from_account_url(cls, account_url: str, container: str, credential: Any, *, prefix: str = "", create: bool = True, **options: Any) -> "BlobStaging":
        service = BlobServiceClient(account_url, credential=credential, **{**CLIENT_OPTIONS, **options})
        return cls(service.get_container_client(container), prefix=prefix, create=create)

    def __repr__(self) -> str:
        return f"BlobStaging({self._container_url()!r}, prefix={self.root!r})"

    def scoped(self, prefix: str) -> "BlobStaging":
        return BlobStaging(self.container, prefix=join(self.root, prefix), create=False, _owns_client=False)

    def close(self) -> None:
        if self._owns_client:
            self.container.close()

    def _container_url(self) -> str:
        return self.container.url.split("?", 1)[0]

    def ensure_container(self) -> None:
        """Create the container if it does not exist (once per process and container)."""
        key = self._container_url()
        with _ensured_lock:
            if key in _ensured_containers:
                return
        try:
            self.container.create_container()
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:
            # An identity allowed to read/write blobs but not to create containers: fine if it exists.
            try:
                usable = exc.status_code == 403 and self.container.exists()
            except HttpResponseError:
                usable = False
            if not usable:
                raise StagingError(f"cannot create or reach container {key}: {exc.message}", where=key) from exc
        with _ensured_lock:
            _ensured_containers.add(key)

    def _blob(self, full: str):
        return self.container.get_blob_client(full)

    # ----- primitives -----
    def _write_bytes(self, full: str, data: bytes, overwrite: bool) -> None:
        self._upload(full, data, overwrite, len(data))

    def _upload_stream(self, full: str, stream: BinaryIO, overwrite: bool, length: int | None) -> None:
        if length is not None:
            stream = _ExactLength(stream, length, full)  # type: ignore[assignment]
        self._upload(full, stream, overwrite, length)

    def _upload(self, full: str, data: Any, overwrite: bool, length: int | None) -> None:
        try:
            self._blob(full).upload_blob(
                data,
                length=length,
                overwrite=overwrite,
                content_settings=_content_settings(full),
                max_concurrency=UPLOAD_CONCURRENCY,
            )
        except (ResourceExistsError, ResourceModifiedError) as exc:
            if overwrite:
                raise
            raise StagingExistsError(full, self._url(full)) from exc

    def _read_bytes(self, full: str) -> bytes:
        try:
            return self._blob(full).download_blob(max_concurrency=2).readall()
        except ResourceNotFoundError:
            raise StagingNotFoundError(full, self._url(full)) from None

    def _open_read(self, full: str) -> BinaryIO:
        try:
            downloader = self._blob(full).download_blob(max_concurrency=1)
        except ResourceNotFoundError:
            raise StagingNotFoundError(full, self._url(full)) from None
        return io.BufferedReader(_ChunkReader(downloader.chunks()), buffer_size=256 * 1024)  # type: ignore[return-value]

    def _exists(self, full: str) -> bool:
        return self._blob(full).exists()

    def _list(self, full_prefix: str) -> list[str]:
        return list(self.container.list_blob_names(name_starts_with=full_prefix or None))

    def _delete(self, fulls: list[str]) -> None:
        def delete(full: str) -> None:
            try:
                self.container.delete_blob(full)
            except ResourceNotFoundError:
                pass

        with ThreadPoolExecutor(min(DELETE_CONCURRENCY, len(fulls))) as pool:
            list(pool.map(delete, fulls))

    def _url(self, full: str) -> str:
        return f"{self._container_url()}/{quote(full)}"

    # ----- leases -----
    def _lease(self, full: str) -> tuple[bool, LeaseHolder | None]:
        """Whether ``full`` is leased, and the holder record its metadata keeps."""
        try:
            props = self._blob(full).get_blob_properties()
        except ResourceNotFoundError:
            return False, None
        return props.lease.state == "leased", LeaseHolder.from_dict(props.metadata or {})

    def _acquire_lease(self, full: str, holder: LeaseHolder, take_over: bool) -> LeaseHolder:
        blob = self._blob(full)
        try:
            blob.upload_blob(b"", overwrite=False)
        except (ResourceExistsError, ResourceModifiedError):  # there already, maybe leased
            pass
        if take_over:
            leased, held = self._lease(full)
            if leased and (held is None or held.owner != holder.owner):
                log.warning("taking over the lease on %s of %s (take over asked for)", self._url(full),
                            held or "an unknown holder")
                try:
                    BlobLeaseClient(blob).break_lease(lease_break_period=0)
                except HttpResponseError as exc:
                    if exc.status_code != 409:  # LeaseNotPresentWithLeaseOperation: released meanwhile
                        raise
        lease_id = str(uuid.UUID(holder.owner))
        try:
            blob.acquire_lease(lease_duration=-1, lease_id=lease_id)
        except HttpResponseError as exc:
            if exc.status_code != 409:  # LeaseAlreadyPresent: another owner's lease
                raise
            raise StagingLeaseError(full, self._url(full), self._lease(full)[1]) from None
        held = self._lease(full)[1]
        if held is not None and held.owner == holder.owner:
            return held
        blob.set_blob_metadata(holder.to_dict(), lease=lease_id)
        return holder

    def _release_lease(self, full: str, owner: str) -> bool:
        blob = self._blob(full)
        lease = BlobLeaseClient(blob, lease_id=str(uuid.UUID(owner)))
        try:
            blob.set_blob_metadata({}, lease=lease)  # the holder record goes with the lease
            lease.release()
        except ResourceNotFoundError:
            return False
        except HttpResponseError as exc:
            if exc.status_code in (409, 412):  # not leased, or leased by another owner
                return False
            raise
        return True


class _ChunkReader(io.RawIOBase):
    """A raw stream over an iterator of byte pieces (the SDK's ``StorageStreamDownloader.chunks()``),
    holding one piece at a time."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            piece = next(self._chunks, None)
            if piece is None:
                return 0
            self._buf = memoryview(piece)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        self._buf = memoryview(b"")
        self._chunks = iter(())
        super().close()


class _ExactLength(io.RawIOBase):
    """Passes ``inner`` through, raising ValueError if it holds fewer or more than ``length`` bytes
    (the SDK would otherwise send a wrong Content-Length and get an opaque 403/400)."""

    def __init__(self, inner: BinaryIO, length: int, name: str) -> None:
        self.inner, self.left, self.name, self.length = inner, length, name, length

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = self.left if size is None or size < 0 else min(size, self.left)
        data = self.inner.read(want) if want else b""
        if len(data) < want:
            got = self.length - self.left + len(data)
            raise ValueError(f"upload of {self.name!r}: expected {self.length} bytes, stream ended after {got}")
        self.left -= len(data)
        if self.left == 0 and self.inner.read(1):
            raise ValueError(f"upload of {self.name!r}: stream holds more than the declared {self.length} bytes")
        return data

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)
