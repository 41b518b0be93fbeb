"""A migration with a second pass (a rerun that moved what changed in the source) rolled back as one: the
second pass's updates are undone first, so the rows end as they were before the first pass."""

from __future__ import annotations

import shutil

from shared.staging import open_staging
from tests.rerun.conftest import edit_csv, first_pass, next_pass

from .conftest import add_key_column, create, diff, make_env, rollback, snapshot, unregister


async def test_both_passes_are_rolled_back_to_the_state_before_the_first(monkeypatch, sample_export, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(sample_export, export)
    shutil.copy(sample_export.parent / "provisioned_users.json", tmp_path / "provisioned_users.json")
    env = await make_env(monkeypatch, export)
    try:
        first_company = None

        def rename(rows):
            nonlocal first_company
            first_company = rows[0]["EntityID"].strip()
            rows[0]["Name"] = "Renamed in the source"
            return rows

        # a row that exists before the run: pass 1 updates it, pass 2 updates it again
        edit_csv(export / "companies.csv", lambda rows: rows)
        with (export / "companies.csv").open(encoding="utf-8-sig") as f:
            kept = f.read().splitlines()[1].split(",")[0]
        await add_key_column(env, "account")
        account = await create(env, "accounts", {"name": "Before the run", "wtc_sourceid": kept})
        before = await snapshot(env)
        run, out = await first_pass(export, tmp_path / "staging", run_id="rb-passes")
        assert out["status"] in ("completed", "unbalanced")
        edit_csv(export / "companies.csv", rename)
        assert first_company == kept
        second, out2 = await next_pass(run)
        assert second.pass_no == 2
        assert (await env.get(f"accounts({account})", **{"$select": "name"}))["name"] == "Renamed in the source"
        result = await rollback(run)
        assert result["status"] == "completed", result
        assert (await env.get(f"accounts({account})", **{"$select": "name"}))["name"] == "Before the run"
        assert diff(before, await snapshot(env)) == []
        plan = open_staging(run.staging, prefix=run.prefix).read_json("rollback/plan.json")
        assert plan["passes"] == [2, 1] and any(p.startswith("2:") for p in plan["parts"]["company"])
    finally:
        unregister()
