"""Fixtures for reading exports through the import location: a folder, or the same files uploaded to
``imports/<name>`` in an Azurite account (as ``az storage blob upload-batch`` puts them)."""

from __future__ import annotations

from pathlib import Path

import pytest


def upload_batch(conn: str, folder: Path, destination: str, container: str = "imports") -> int:
    """What ``az storage blob upload-batch -d imports -s <folder> --destination-path <destination>`` does:
    every file below the folder becomes ``<destination>/<relative path>``. Returns the files uploaded."""
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(conn).get_container_client(container)
    if not client.exists():
        client.create_container()
    n = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        with path.open("rb") as f:
            client.upload_blob(f"{destination}/{path.relative_to(folder).as_posix()}", f, overwrite=True)
        n += 1
    return n


@pytest.fixture
def blob_staging(azurite_connection_string, monkeypatch, tmp_path):
    """The name of a setting holding an Azurite connection string (staging container of its own)."""
    container = f"st-{tmp_path.name.lower().replace('_', '-')[:40]}".rstrip("-")
    monkeypatch.setenv("IMPORT_TEST_STAGING", f"{azurite_connection_string};Container={container}")
    return "IMPORT_TEST_STAGING"


from tests.http.conftest import host, settings  # noqa: E402,F401 - the Function App's fixtures
