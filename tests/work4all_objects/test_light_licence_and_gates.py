"""A light licence's export lacks tables: reported in discovery as absent, never a crash; Belege whose
Belegpositionen are missing are rejected, not loaded half; open items without Zahlungen keep no guessed open
amount. And owners the export names that have no Dynamics 365 user stop the run at the owner gate."""

from __future__ import annotations

import csv
import json

import pytest

from cli.durable import DurableDriver
from emulators import sample_work4all
from orchestrators.migration import ORCHESTRATORS, OWNERS_RESOLVED
from shared.steps import STEPS
from tests.integration.conftest import make_env, migrate, unregister

from .conftest import w4a_config


@pytest.fixture
async def light_export(tmp_path):
    sample_work4all.generate(tmp_path / "export", seed=3, omit=("Belegpositionen", "Zahlungen"))
    return tmp_path / "export"


async def test_a_light_licence_export_reports_absent_tables_and_loads_nothing_half(monkeypatch, light_export, tmp_path):
    env = await make_env(monkeypatch, light_export)
    try:
        run = w4a_config(light_export, str(tmp_path / "s"), run_id="light")
        result = await migrate(run)
        assert result["status"] == "completed"
        report = json.loads((tmp_path / "s" / "runs" / "light" / "report" / "report.json").read_text())
        presence = {d["file"]: d["presence"] for d in report["discovery"]}
        assert presence["Belegpositionen"] == presence["Zahlungen"] == "absent"
        objects = {o["object"]: o for o in report["objects"]}
        assert "belegposition" not in objects or objects["belegposition"]["status"] == "skipped"
        with (tmp_path / "s" / "runs" / "light" / "report" / "rejects.csv").open(encoding="utf-8-sig") as f:
            rejects = [r for r in csv.DictReader(f) if r["object"] == "beleg"]
        belege = json.loads((light_export.parent / "expected_dirt.json").read_text())["counts"]["Belege"]
        assert rejects and {r["code"] for r in rejects} == {"lines_absent"}
        assert objects["beleg"]["loaded"] + objects["beleg"]["rejected"] == belege
        assert not await env.rows("quotes", "quoteid") and not await env.rows("invoices", "invoiceid")
        assert await env.rows("annotations", "annotationid", "startswith(subject,'Kostenbeleg')")
        items = await env.rows("w4a_openitems", "w4a_openamount,w4a_paid,w4a_reconciliation")
        assert items and all(i["w4a_openamount"] is None and i["w4a_reconciliation"] == "payments unknown"
                             for i in items)
    finally:
        unregister()


async def test_unknown_mitarbeiter_stop_the_run_at_the_owner_gate(monkeypatch, w4a_export, tmp_path):
    env = await make_env(monkeypatch, w4a_export)
    try:
        run = w4a_config(w4a_export, str(tmp_path / "s"), run_id="w4a-owners", owners="wait")
        d = DurableDriver(ORCHESTRATORS, STEPS, max_parallel_activities=3, retry_interval_scale=0.001)
        status = await d.run("migration", run.model_dump(), run.run_id, until_idle=True)
        assert status.custom_status["phase"] == "awaiting_owners" and status.waiting_for == [OWNERS_RESOLVED]
        queue_file = tmp_path / "s" / "runs" / "w4a-owners" / "report" / "owner_queue.csv"
        with queue_file.open(encoding="utf-8-sig") as f:
            queue = {r["email"] for r in csv.DictReader(f)}
        assert {"hw", "k.mueller@alt-firma.de"} <= queue
        assert not await env.rows("accounts", "accountid"), "nothing loads before the gate"
    finally:
        unregister()


async def test_running_the_same_export_again_changes_nothing(monkeypatch, w4a_export, tmp_path):
    """The prepare hooks (unit group, price lists, reconciliation) and the product publishing find what the
    first run made: the second run of the same command writes nothing and reconciles the same way."""
    env = await make_env(monkeypatch, w4a_export)
    try:
        run = w4a_config(w4a_export, str(tmp_path / "s"), run_id="w4a-again")
        first = await migrate(run)
        second = await migrate(run.model_copy(update={"pass_no": 2}))  # the next pass, as the CLI starts it
        assert first["status"] == second["status"] == "completed"
        assert second["totals"]["created"] == second["totals"]["updated"] == 0
        assert second["totals"]["loaded"] == first["totals"]["loaded"]
        assert second["totals"]["rejected"] == first["totals"]["rejected"]
        assert len(await env.rows("uomschedules", "uomscheduleid", "name eq 'work4all'")) == 1
        products = await env.rows("products", "statecode")
        assert products and {p["statecode"] for p in products} == {0}
    finally:
        unregister()
