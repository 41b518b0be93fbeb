"""Records staged as gzip JSON Lines chunks plus a manifest.

Layout of one extract under ``prefix``::

    prefix/part-00000.jsonl.gz     up to chunk_size records, one stable-JSON object per line
    prefix/part-00001.jsonl.gz
    prefix/manifest.json           {"object", "records", "chunks": [{"name", "records", "sha256", "size"}], "version"}

The manifest is written LAST: its presence means the extract is complete. Rewriting the same records
produces byte-identical chunks (gzip header mtime 0, no file name, stable JSON), so the same sha256
values and the same manifest: a retried activity is idempotent. A rewrite first removes the old
manifest (the extract is incomplete while its chunks are replaced) and afterwards any part left over
from a previous, longer write.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
import re
import zlib
from typing import Any, BinaryIO, Iterable, Iterator

from pydantic import BaseModel, Field, ValidationError

from . import codec
from .base import Staging, StagingIntegrityError, join, validate_name

MANIFEST_NAME = "manifest.json"
PART_TEMPLATE = "part-{:05d}.jsonl.gz"
_PART_RE = re.compile(r"part-(\d{5,})\.jsonl\.gz$")
#: gzip level 1: chunks are short-lived staging (deleted with the run), read and written once or twice;
#: level 1 compresses JSON Lines about 3x faster than 6 for about 15 % more bytes (bench/extract_transform.py)
GZIP_LEVEL = 1
# What a damaged gzip stream raises (bad header or CRC, truncation, bad deflate data).
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


class ChunkRef(BaseModel):
    name: str = Field(description="Full staging name of the chunk (pass it to read_chunk as is).")
    records: int
    sha256: str = Field(description="Hex SHA-256 of the chunk's stored (gzip) bytes.")
    size: int = Field(default=0, description="Stored size in bytes.")


class Manifest(BaseModel):
    object: str
    records: int
    chunks: list[ChunkRef]
    version: int = 1
    created_at: dt.datetime | None = Field(
        default=None, description="Optional; write_chunks leaves it out so rewrites are byte-identical."
    )


def manifest_name(prefix: str) -> str:
    return join(prefix, MANIFEST_NAME)


def encode_chunk(records: Iterable[dict[str, Any]]) -> bytes:
    """Gzip JSON Lines bytes for ``records``; identical input gives identical bytes (one gzip member,
    no file name, mtime 0)."""
    dumps = codec.dumps_bytes
    lines = [dumps(record) for record in records]
    if lines:
        lines.append(b"")  # every line ends with a newline
    return gzip.compress(b"\n".join(lines), compresslevel=GZIP_LEVEL, mtime=0)


def write_chunks(
    staging: Staging,
    prefix: str,
    records: Iterable[dict[str, Any]],
    *,
    object_name: str,
    chunk_size: int = 5000,
) -> Manifest:
    """Stream ``records`` into chunks of ``chunk_size`` under ``prefix``, then write the manifest.

    Holds one chunk in memory at a time. Returns the manifest that was written.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    prefix = validate_name(prefix.strip("/"))
    mname = manifest_name(prefix)
    staging.delete(mname)  # the extract is incomplete from here until the new manifest lands

    refs: list[ChunkRef] = []
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        data = encode_chunk(batch)
        name = join(prefix, PART_TEMPLATE.format(len(refs)))
        staging.write_bytes(name, data)
        refs.append(ChunkRef(name=name, records=len(batch), sha256=hashlib.sha256(data).hexdigest(), size=len(data)))
        batch.clear()

    for record in records:
        batch.append(record)
        if len(batch) >= chunk_size:
            flush()
    if batch:
        flush()

    # Parts beyond this write's count are left over from an earlier, longer one: remove them.
    current = {ref.name for ref in refs}
    for name in staging.list(prefix + "/part-"):
        if _PART_RE.search(name) and name not in current and name.rsplit("/", 1)[0] == prefix:
            staging.delete(name)

    manifest = Manifest(object=object_name, records=sum(r.records for r in refs), chunks=refs)
    staging.write_bytes(mname, manifest_bytes(manifest))
    return manifest


def manifest_bytes(manifest: Manifest) -> bytes:
    return codec.dumps_bytes(manifest.model_dump(mode="json", exclude_none=True))


def read_manifest(staging: Staging, prefix: str) -> Manifest | None:
    """The manifest under ``prefix``, or None if the extract is not complete (no manifest yet)."""
    name = manifest_name(validate_name(prefix.strip("/")))
    if not staging.exists(name):
        return None
    data = staging.read_json(name)
    try:
        return Manifest.model_validate(data)
    except ValidationError as exc:
        raise StagingIntegrityError(
            f"invalid manifest {name!r} ({staging.url(name)}): {exc}", name=name, where=staging.url(name)
        ) from exc


def _integrity(staging: Staging, name: str, message: str) -> StagingIntegrityError:
    where = staging.url(name)
    return StagingIntegrityError(f"chunk {name!r} ({where}): {message}", name=name, where=where)


def _parse_lines(staging: Staging, name: str, lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    loads = codec.loads
    for lineno, line in enumerate(lines, start=1):
        try:
            yield loads(line)
        except ValueError as exc:
            if not line.strip():
                continue
            raise _integrity(staging, name, f"line {lineno} is not valid JSON: {exc}") from exc


def read_chunk(staging: Staging, name: str, sha256: str | None = None) -> list[dict[str, Any]]:
    """All records of a chunk. With ``sha256``, the stored bytes are verified first and a mismatch
    raises :class:`StagingIntegrityError` naming the blob."""
    data = staging.read_bytes(name)
    if sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256.lower():
            raise _integrity(staging, name, f"sha256 mismatch: expected {sha256}, stored bytes have {actual}")
    try:
        text = gzip.decompress(data)
    except _GZIP_ERRORS as exc:
        raise _integrity(staging, name, f"not a valid gzip stream: {exc}") from exc
    return list(_parse_lines(staging, name, text.splitlines()))


class _HashingReader(io.RawIOBase):
    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.inner.read(len(b))
        n = len(data)
        b[:n] = data
        self.hash.update(data)
        return n


def iter_chunk(staging: Staging, name: str, sha256: str | None = None) -> Iterator[dict[str, Any]]:
    """Stream the records of a chunk (constant memory). With ``sha256`` the bytes are hashed as they
    stream and verified at the end: records are yielded before the check, and the mismatch is raised
    after the last one, so a consumer must not commit work before the iterator is exhausted."""
    with staging.open_read(name) as raw:
        hashing = _HashingReader(raw)
        try:
            with gzip.GzipFile(fileobj=io.BufferedReader(hashing), mode="rb") as gz:
                yield from _parse_lines(staging, name, gz)
            while hashing.read(1024 * 1024):  # trailing bytes after the gzip member, if any
                pass
        except _GZIP_ERRORS as exc:
            raise _integrity(staging, name, f"not a valid gzip stream: {exc}") from exc
    if sha256 is not None:
        actual = hashing.hash.hexdigest()
        if actual != sha256.lower():
            raise _integrity(staging, name, f"sha256 mismatch: expected {sha256}, stored bytes have {actual}")


def iter_records(staging: Staging, manifest: Manifest, *, verify: bool = True) -> Iterator[dict[str, Any]]:
    """Every record of an extract, chunk by chunk (each chunk verified when ``verify``)."""
    for ref in manifest.chunks:
        yield from iter_chunk(staging, ref.name, ref.sha256 if verify else None)
