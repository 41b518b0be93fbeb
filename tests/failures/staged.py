"""A run's staging written by hand, as the steps before reconciliation leave it: what the report and
reconciliation tests start from without running a migration."""

from __future__ import annotations

from pathlib import Path

from shared.problems import Problem
from shared.run import RunConfig
from shared.staging import Staging, open_staging, write_chunks

TARGET = "https://contoso.crm.dynamics.com"
TOO_LONG = ("A validation error occurred. The length of the 'name' attribute of the 'account' entity exceeded "
            "the maximum allowed length of '160'.")


def new_run(tmp_path: Path, **options) -> tuple[RunConfig, Staging]:
    run = RunConfig(run_id="staged-run", input=str(tmp_path / "export"), target=TARGET,
                    staging=str(tmp_path / "staging"), **options)
    return run, open_staging(run.staging, prefix=run.prefix)


def stage_companies(st: Staging, outcomes: list[dict], *, owners: dict[str, int] | None = None,
                    files: list[dict] | None = None) -> None:
    """Company rows extracted, transformed (one chunk) and loaded with ``outcomes`` (key, status...)."""
    source = [{"_file": "companies.csv", "_row": n + 2, "EntityID": o["key"], "Name": f"Company {o['key']}"}
              for n, o in enumerate(outcomes)]
    extract = write_chunks(st, "objects/company/extract", source, object_name="company")
    chunk = extract.chunks[0]
    rows = [{"key": o["key"], "row": n + 2, "body": {"name": o.get("name", f"Company {o['key']}")}}
            for n, o in enumerate(outcomes)]
    transformed = write_chunks(st, "objects/company/transform/part-00000", rows, object_name="company")
    out = transformed.chunks[0]
    st.write_json("objects/company/extract.json", {
        "object": "company", "source": len(source), "staged": len(source), "rejected": 0, "rejects": [],
        "chunks": [{"name": chunk.name, "records": chunk.records, "sha256": chunk.sha256}],
        **({"files": files} if files is not None else {})})
    st.write_json("objects/company/transform/part-00000.json", {
        "chunk": {"name": out.name, "records": out.records, "sha256": out.sha256}, "rows": len(rows),
        "rejected": 0, "warnings": 0, "rejects": [], "warning_rows": [], "unmatched_owners": owners or {}})
    st.write_json("objects/company/load/part-00000.json", {"warnings": [], "outcomes": [
        {"code": None, "message": None, "id": None, "table": None, "row": n + 2, **o} for n, o in enumerate(outcomes)]})


def stage_discovery(st: Staging, *, started: str = "2025-03-01T09:00:00+00:00", attempts: int = 1,
                    skipped: dict[str, str] | None = None) -> None:
    st.write_json("discovery.json", {
        "started": started, "attempts": [started] * attempts, "objects": ["company", "contact"],
        "found": [{"object": "company", "file": "companies.csv", "presence": "present", "required": True},
                  {"object": "lead", "file": "leads.csv", "presence": "empty", "required": False},
                  {"object": "deal", "file": "deals.csv", "presence": "absent", "required": False}],
        "skipped": skipped or {}})


def reject(key: str) -> dict:
    return Problem("company", key, "extract", "duplicate_key", "EntityID already appeared", file="companies.csv",
                   line=3).to_dict()
