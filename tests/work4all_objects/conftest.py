"""work4all runs in-process: W1's dirty German sample export (emulators.sample_work4all) through the same
orchestrators, loader, gates and reports as WORKetc, into the Dataverse emulator (tests/integration helpers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulators import sample_work4all
from shared.run import RunConfig
from tests.integration.conftest import TARGET

SEED = 3


@pytest.fixture(scope="session")
def w4a_export(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("work4all")
    sample_work4all.generate(root / "export", seed=SEED)
    return root / "export"


@pytest.fixture(scope="session")
def dirt(w4a_export) -> dict:
    """What the sample holds on purpose (which codes carry which dirt, counts per table)."""
    return json.loads((w4a_export.parent / "expected_dirt.json").read_text(encoding="utf-8"))


def w4a_config(export: Path, staging: str, **kw) -> RunConfig:
    """A run straight through its gates (map approved as proposed, unknown owners get the default owner)
    unless a test says otherwise."""
    kw = {"auto_approve": True, "owners": "use-default", **kw}
    return RunConfig(run_id=kw.pop("run_id", "w4a-run"), source=kw.pop("source", "work4all-export"),
                     input=str(export), target=TARGET, staging=staging, **kw)


def steps_with_settings(settings: dict[str, dict[str, str]]) -> dict:
    """The steps, except that propose_map hands back the proposal as a person edited it before approving it:
    with these per-object ``options:`` (shared/mapping: mapping.yaml's settings), submitted like an edited map."""
    from shared.mapping import dump, load
    from shared.staging import open_staging
    from shared.steps import STEPS
    from shared.steps.mapping import PROPOSED, submit_map

    real = STEPS["propose_map"]

    async def propose_map(payload: dict) -> dict:
        summary = await real(payload)
        run = RunConfig.model_validate(payload["run"])
        st = open_staging(run.staging, prefix=run.prefix)
        mapping = load(st.read_bytes(PROPOSED).decode("utf-8"))
        for name, options in settings.items():
            mapping.object(name).options.update(options)
        content_hash, errors = submit_map(st, dump(mapping))
        assert not errors, errors
        return {**summary, "hash": content_hash}

    return {**STEPS, "propose_map": propose_map}


def migrated_snapshot(export: Path, staging: Path, reads: dict[str, str], *, settings=None, run_id="w4a-settings"):
    """One whole run (with these map settings) into a fresh Dataverse emulator; returns what the tests read
    afterwards: ``rows[entity_set]`` (``reads``: entity set -> $select), the report, its CSVs, the metadata
    of ``EntityDefinitions`` asked for as ``"meta:<table>"``; the emulator is gone when it returns."""
    import asyncio
    import csv

    from tests.integration.conftest import make_env, migrate, unregister

    async def go(mp) -> dict:
        env = await make_env(mp, export)
        run = w4a_config(export, str(staging), run_id=run_id)
        result = await migrate(run, steps=steps_with_settings(settings) if settings else None)
        assert result["status"] == "completed", result
        out: dict = {"rows": {}, "meta": {}}
        for name, select in reads.items():
            if name.startswith("meta:"):
                table = name.removeprefix("meta:")
                attrs = await env.get(f"EntityDefinitions(LogicalName='{table}')/Attributes")
                keys = await env.get(f"EntityDefinitions(LogicalName='{table}')/Keys")
                out["meta"][table] = {"columns": {a["LogicalName"] for a in attrs["value"]},
                                      "keys": {k["LogicalName"]: k["KeyAttributes"] for k in keys["value"]}}
            else:
                out["rows"][name] = await env.rows(name, select)
        report_dir = staging / run.prefix / "report"
        out["report"] = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))
        for kind in ("rejects", "warnings"):
            with (report_dir / f"{kind}.csv").open(encoding="utf-8-sig", newline="") as f:
                out[kind] = list(csv.DictReader(f))
        return out

    with pytest.MonkeyPatch.context() as mp:
        try:
            return asyncio.run(go(mp))
        finally:
            unregister()
