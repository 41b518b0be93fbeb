"""An export in Blob Storage is streamed: reading a file many times the size of the SDK's ranges holds about
one range at a time, never the file."""

from __future__ import annotations

import tracemalloc

import pytest

from shared.sources.worketc.csv_export import read_table
from shared.staging.imports import open_import

from .conftest import upload_batch


@pytest.mark.azurite
def test_a_big_upload_is_read_in_constant_memory(tmp_path, azurite_connection_string, blob_staging):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "contacts.csv").write_bytes(b"EntityID,FirstName,LastName,CompanyID\r\n")
    (folder / "users.csv").write_bytes(b"EntityID,Name,Email,Role,Active\r\n")
    with (folder / "companies.csv").open("w", encoding="utf-8", newline="") as f:
        f.write("EntityID,Name,City\r\n")
        for i in range(400_000):
            f.write(f"{i},Company {i} with a longer name to fill the line,Zürich\r\n")
    size = (folder / "companies.csv").stat().st_size
    assert size > 24_000_000
    name = f"big-{tmp_path.name.lower().replace('_', '-')[:40]}".rstrip("-")
    upload_batch(azurite_connection_string, folder, name)
    location = open_import(f"imports/{name}", blob_staging)

    tracemalloc.start()
    try:
        reader = read_table(location, "companies.csv")
        n = sum(1 for _ in reader)
        described = reader.describe()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == 400_000 and described["bytes"] == size
    # measured: about 12 MB for a 26 MB file, most of it the SDK's transient buffers for one 1 MiB range
    # (shared/staging/blob.py); the whole file would be more than twice that
    assert peak < 16_000_000 < size, peak
