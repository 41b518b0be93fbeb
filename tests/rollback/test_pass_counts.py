"""The rollback of a migration with two passes counts each row once: a key the first pass created and the
second pass saw again is one row (deleted once, never "restored", never "already gone"); "already gone" is
only a row that really was missing when the rollback came; the documents line names files, folders and
Dataverse rows separately, and the rows add up to the table's "deleted"."""

from __future__ import annotations

import re
import shutil

from shared.staging import open_staging
from tests.rerun.conftest import edit_csv, first_pass, next_pass

from .conftest import API, diff, make_env, rollback, snapshot, unregister


async def _articles(env) -> dict[str, str]:
    """Source key -> knowledgearticleid."""
    return {r["wtc_sourceid"]: r["knowledgearticleid"] for r in (await env.get("knowledgearticles", **{
        "$select": "knowledgearticleid,wtc_sourceid"}))["value"]}


async def test_two_passes_count_each_row_once(monkeypatch, sample_export, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(sample_export, export)
    shutil.copy(sample_export.parent / "provisioned_users.json", tmp_path / "provisioned_users.json")
    env = await make_env(monkeypatch, export)
    try:
        before = await snapshot(env)
        run, out = await first_pass(export, tmp_path / "staging", run_id="rb-counts")
        assert out["status"] in ("completed", "unbalanced")
        articles = await _articles(env)
        assert len(articles) >= 2
        edited = None

        def retitle(rows):
            nonlocal edited
            edited = rows[0]["EntityID"].strip()
            rows[0]["Title"] = "Retitled in the source"
            return rows

        # someone deletes a row the first pass created; its source changed, so the second pass creates it
        # again: one row, created by two passes
        edit_csv(export / "kb_articles.csv", retitle)
        await env.send("DELETE", f"{API}knowledgearticles({articles[edited]})")

        def rename(rows):
            rows[0]["Name"] = "Renamed in the source"  # a row pass 1 created, pass 2 updates
            return rows

        edit_csv(export / "companies.csv", rename)
        second, _ = await next_pass(run)
        assert second.pass_no == 2
        again = await _articles(env)
        assert set(again) == set(articles) and again[edited] != articles[edited]
        # and a row the run created is really gone when the rollback comes
        await env.send("DELETE", f"{API}knowledgearticles({next(v for k, v in again.items() if k != edited)})")
        total = len(again)  # every article the run created, the recreated one once

        result = await rollback(run)
        assert result["status"] == "completed", result
        assert diff(before, await snapshot(env)) == []
        st = open_staging(run.staging, prefix=run.prefix)
        report = st.read_json("rollback/report.json")
        rows = {o["object"]: o for o in report["objects"]}

        kb = rows["kb_article"]
        assert (kb["deleted"], kb["already_gone"]) == (total - 1, 1), kb
        company = rows["company"]  # created by pass 1 and updated by pass 2: deleted, not restored
        assert (company["restored"], company["already_restored"], company["already_gone"]) == (0, 0, 0), company
        assert all(o["already_gone"] == 0 for name, o in rows.items() if name != "kb_article"), rows

        docs = rows["document"]  # pass 2 staged the same files again: each is deleted once, none "gone"
        files = {o["id"] for n in (1, 2) for pst in [open_staging(
            run.staging, prefix=run.prefix if n == 1 else f"{run.prefix}passes/{n}/")]
            for name in pst.list("objects/document/load/") if re.search(r"/part-\d+\.json$", name)
            for o in pst.read_json(name)["outcomes"] if o["status"] in ("created", "unchanged") and o.get("id")}
        assert files and docs["files_deleted"] == len(files), docs
        assert docs["deleted"] == docs["locations_deleted"] + docs["sites_deleted"] > 0, docs
        text = st.read_bytes("rollback/report.txt").decode()
        line = next(ln for ln in text.splitlines() if ln.startswith("document: "))
        assert (f"{docs['files_deleted']} SharePoint files, {docs['folders_deleted']} SharePoint folders and "
                f"{docs['deleted']} Dataverse rows ({docs['locations_deleted']} document locations, "
                f"{docs['sites_deleted']} SharePoint site") in line, line
    finally:
        unregister()
