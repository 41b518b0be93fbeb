"""Fixtures for the WORKetc CSV reader and the sample export generator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulators.sample_worketc import generate

MIN_HEADERS = {
    "companies.csv": "EntityID,Name\r\n",
    "contacts.csv": "EntityID,FirstName,LastName,CompanyID\r\n",
    "users.csv": "EntityID,Name,Email,Role,Active\r\n",
}


@pytest.fixture
def export(tmp_path: Path):
    """A writer for one-off export files: ``export("contacts.csv", text_or_bytes) -> folder``."""
    folder = tmp_path / "export"
    folder.mkdir()

    def write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        data = content.encode(encoding) if isinstance(content, str) else content
        (folder / name).write_bytes(data)
        return folder

    return write


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory):
    """One generated sample export shared by the generator tests: (folder, expected dirt, users)."""
    root = tmp_path_factory.mktemp("sample")
    dirt = generate(root / "export", companies=250, seed=11, large_file_mb=1)
    users = json.loads((root / "provisioned_users.json").read_text(encoding="utf-8"))
    assert json.loads((root / "expected_dirt.json").read_text(encoding="utf-8")) == dirt
    return root / "export", dirt, users
