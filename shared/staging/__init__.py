"""Staging: where extracted and transformed records wait between activities.

A local folder (embedded default) or an Azure Blob Storage container behind one interface,
:class:`Staging`; records are staged as gzip JSON Lines chunks plus a manifest written last.

    staging = open_staging(settings.staging, prefix=f"runs/{run_id}")
    manifest = write_chunks(staging, "account/extract", rows, object_name="account")
    ...
    for ref in read_manifest(staging, "account/extract").chunks:
        rows = read_chunk(staging, ref.name, ref.sha256)

This package is a plain library: it never imports the Azure Functions packages.
"""

from .base import (
    InvalidStagingName,
    LeaseHolder,
    Staging,
    StagingError,
    StagingExistsError,
    StagingIntegrityError,
    StagingLeaseError,
    StagingNotFoundError,
    validate_name,
)
from .chunks import (
    ChunkRef,
    Manifest,
    encode_chunk,
    iter_chunk,
    iter_records,
    read_chunk,
    read_manifest,
    write_chunks,
)
from .local import LocalStaging
from .location import DEFAULT_CONTAINER, open_staging

__all__ = [
    "DEFAULT_CONTAINER",
    "ChunkRef",
    "InvalidStagingName",
    "LeaseHolder",
    "LocalStaging",
    "Manifest",
    "Staging",
    "StagingError",
    "StagingExistsError",
    "StagingIntegrityError",
    "StagingLeaseError",
    "StagingNotFoundError",
    "encode_chunk",
    "iter_chunk",
    "iter_records",
    "open_staging",
    "read_chunk",
    "read_manifest",
    "validate_name",
    "write_chunks",
]


def __getattr__(name: str):
    # BlobStaging imports azure.storage.blob: loaded only when asked for.
    if name == "BlobStaging":
        from .blob import BlobStaging

        return BlobStaging
    raise AttributeError(name)
