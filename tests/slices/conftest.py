"""Fixtures for sliced extraction: an export, and the extract step called slice after slice as the
orchestrator calls it (``slice`` 0, 1, ... until ``done``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.run import RunConfig
from shared.staging import open_staging, read_chunk, read_manifest
from shared.steps.extract import extract_object


@pytest.fixture
def run_slices(tmp_path: Path):
    """``await run_slices(folder, "company", staging_name) -> (calls, summary, rows)``: every call's result,
    the staged extract summary and the staged rows in chunk order."""

    async def go(folder: Path, name: str, staging_name: str = "staging", **options):
        options.setdefault("chunk_size", 10)
        run = RunConfig(run_id="slice-test", input=str(folder), target="https://contoso.crm.dynamics.com",
                        staging=str(tmp_path / staging_name), **options)
        calls = []
        result = await extract_object({"run": run.model_dump(), "object": name})
        calls.append(result)
        while not result.get("done", True):
            assert len(calls) < 500, "extraction never finishes"
            result = await extract_object({"run": run.model_dump(), "object": name, "slice": len(calls)})
            calls.append(result)
        return calls, *staged(tmp_path / staging_name, run, name)

    return go


def staged(staging: Path, run: RunConfig, name: str) -> tuple[dict, list[dict]]:
    st = open_staging(str(staging), prefix=run.prefix)
    summary = st.read_json(f"objects/{name}/extract.json")
    manifest = read_manifest(st, f"objects/{name}/extract")
    rows = [r for c in manifest.chunks for r in read_chunk(st, c.name, c.sha256)]
    assert [c["name"] for c in summary["chunks"]] == [c.name for c in manifest.chunks]
    return summary, rows


HEADER = "EntityID,Name,Phone,DateModified\r\n"


@pytest.fixture
def export(tmp_path: Path):
    """``export(companies_text) -> folder`` with the other required files (header only)."""

    def write(companies: str | bytes, encoding: str = "utf-8") -> Path:
        folder = tmp_path / "export"
        folder.mkdir(exist_ok=True)
        (folder / "contacts.csv").write_text("EntityID,FirstName,LastName,CompanyID\r\n", newline="")
        (folder / "users.csv").write_text("EntityID,Name,Email,Role,Active\r\n", newline="")
        data = companies.encode(encoding) if isinstance(companies, str) else companies
        (folder / "companies.csv").write_bytes(data)
        return folder

    return write


def dirty_companies(n: int = 60) -> str:
    """Companies with what extraction decides over the whole file: duplicates far apart (the later one
    older, or newer), a case collision, malformed rows, a missing key, quoted cells over several lines."""
    lines = [HEADER]
    for i in range(1, n + 1):
        name = f'"Company {i}\r\nsecond line"' if i % 7 == 0 else f"Company {i}"
        lines.append(f"{i},{name},+61 {i},2024-01-{1 + i % 28:02d}\r\n")
        if i == 20:
            lines.append(",No key,,2024-01-01\r\n")
            lines.append("x21,one,too,many,fields,2024-01-01\r\n")  # malformed: more fields than the header
    lines.append("3,Company 3 again (newer),,2025-06-01\r\n")  # duplicate of row 3: this one kept
    lines.append("5,Company 5 again (older),,2020-06-01\r\n")  # duplicate of row 5: the first kept
    lines.append("a-17,Company a,,2024-01-01\r\n")
    lines.append("A-17,Company A,,2024-01-01\r\n")  # case collision with a-17
    lines.append(f"{n + 1},Last,,2024-01-01\r\n")
    return "".join(lines)
