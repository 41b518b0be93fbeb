"""Fixtures for the work4all export reader, the sample generator, the specification and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulators.sample_work4all import generate


@pytest.fixture
def export(tmp_path: Path):
    """A writer for one-off export files: ``export("Kunden.csv", text_or_bytes, encoding) -> folder``."""
    folder = tmp_path / "export"
    folder.mkdir(exist_ok=True)

    def write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        data = content.encode(encoding) if isinstance(content, str) else content
        (folder / name).write_bytes(data)
        return folder

    return write


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory):
    """One generated sample export shared by the tests: (folder, expected dirt)."""
    root = tmp_path_factory.mktemp("w4a")
    dirt = generate(root / "export", seed=3, scale=1)
    return root / "export", dirt
