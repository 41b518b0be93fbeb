"""Fixtures for extraction: a one-off export folder, and the extract step run over it."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from shared.run import RunConfig
from shared.staging import open_staging, read_chunk, read_manifest
from shared.steps.extract import extract_object

REQUIRED = {
    "companies.csv": "EntityID,Name\r\n",
    "contacts.csv": "EntityID,FirstName,LastName,CompanyID\r\n",
    "users.csv": "EntityID,Name,Email,Role,Active\r\n",
}


@pytest.fixture
def export(tmp_path: Path):
    """``export("companies.csv", text_or_bytes) -> folder``: the required files exist (header only)."""
    folder = tmp_path / "export"
    folder.mkdir()
    for name, text in REQUIRED.items():
        (folder / name).write_text(text, encoding="utf-8", newline="")

    def write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        data = content.encode(encoding) if isinstance(content, str) else content
        (folder / name).write_bytes(data)
        return folder

    return write


class Extracted:
    """The extract step's summary (as staged in extract.json) and the rows it staged."""

    def __init__(self, staging: Path, run: RunConfig, name: str, peak: int | None):
        self.staging_path = staging
        self.peak = peak  # the step's peak of traced memory, when asked for
        st = open_staging(str(staging), prefix=run.prefix)
        self.summary = st.read_json(f"objects/{name}/extract.json")
        manifest = read_manifest(st, f"objects/{name}/extract")
        self.rows = [r for c in manifest.chunks for r in read_chunk(st, c.name, c.sha256)] if manifest else []
        self.rejects = self.summary["rejects"]
        self.warnings = self.summary["warnings"]

    def staged(self, key: str, field: str = "EntityID") -> dict:
        (row,) = [r for r in self.rows if r.get(field) == key]
        return row


@pytest.fixture
def extract(tmp_path: Path):
    """``await extract(folder, "company", date_order="MDY", staging_name="s") -> Extracted``."""

    async def run(folder: Path, name: str, *, staging_name: str = "staging", source: str = "worketc-csv",
                  trace_memory: bool = False, **options) -> Extracted:
        staging = tmp_path / staging_name
        options.setdefault("chunk_size", 10)
        cfg = RunConfig(run_id="extract-test", source=source, input=str(folder),
                        target="https://contoso.crm.dynamics.com", staging=str(staging), **options)
        peak = None
        if trace_memory:
            tracemalloc.start()
        try:
            await extract_object({"run": cfg.model_dump(), "object": name})
            if trace_memory:
                peak = tracemalloc.get_traced_memory()[1]
        finally:
            if trace_memory:
                tracemalloc.stop()
        return Extracted(staging, cfg, name, peak)

    return run
