"""Owners' e-mail addresses are personal data: they stay in staging and the report files, never in
custom status or the orchestration's output (both are kept in Durable history and shown by the
status endpoint)."""

from __future__ import annotations

import asyncio
import csv
import json

from cli.durable import DurableDriver
from orchestrators.migration import ORCHESTRATORS
from shared.run import RunConfig
from shared.steps import STEPS

from .helpers import TARGET


def test_owner_emails_stay_out_of_status_and_output(environment, export, tmp_path):
    run = RunConfig(run_id="pii", input=str(export), target=TARGET, staging=str(tmp_path / "staging"),
                    only=["company"], auto_approve=True, owners="use-default")  # straight through the gates
    seen: list = []
    driver = DurableDriver(ORCHESTRATORS, STEPS, retry_interval_scale=0.001,
                           listener=lambda event, data: seen.append(data.get("status") or data.get("output")))
    output = asyncio.run(driver.run("migration", run.model_dump(), run.run_id))
    assert output["status"] == "completed"

    report_dir = tmp_path / "staging" / run.prefix / "report"
    with (report_dir / "owner_queue.csv").open(encoding="utf-8") as f:
        queued = {q["email"] for q in csv.DictReader(f)}
    assert queued, "the sample has owners without a Dynamics 365 user"
    published = json.dumps([output, *seen]).lower()
    assert not [email for email in queued if email in published]
    user = next(o for o in output["objects"] if o["object"] == "user")
    assert user["queued"] > 0 and user["rejected"] == 0
