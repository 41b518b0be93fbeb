"""The run waits for people: the map's approval (raced against a deadline) and the owner gate.

Driven through the local Durable driver (the SDK's own replay) against the in-process Dataverse
emulator, as a person would drive a run: start it, read its status, approve (or not), provision the
queued owners, resume.
"""

from __future__ import annotations

import json
from datetime import timedelta

import httpx

from cli.durable import DurableDriver, FakeClock
from orchestrators.migration import MAP_APPROVED, ORCHESTRATORS, OWNERS_RESOLVED
from shared import http as shared_http
from shared.steps import STEPS

from .conftest import TARGET, make_env, run_config


def record_methods(env) -> list[str]:
    """Every HTTP method Dataverse receives from now on (the engine's requests, not the test's)."""
    seen: list[str] = []
    app = env.app

    async def recording(scope, receive, send):
        if scope["type"] == "http" and "/api/data/" in scope.get("path", ""):
            seen.append(f"{scope['method']} {scope['path'].split('/api/data/v9.2/')[-1].split('(')[0]}")
        await app(scope, receive, send)

    shared_http.register_transport(TARGET, lambda: httpx.ASGITransport(app=recording))
    return seen


def driver(**kw) -> DurableDriver:
    return DurableDriver(ORCHESTRATORS, STEPS, max_parallel_activities=3, retry_interval_scale=0.001, **kw)


async def test_nothing_is_written_before_approval_a_wrong_hash_is_refused_and_the_right_one_goes_on(
        monkeypatch, sample_export, tmp_path):
    env = await make_env(monkeypatch, sample_export)
    seen = record_methods(env)
    run = run_config(sample_export, str(tmp_path / "s"), run_id="gate", auto_approve=False, only=["contact"])
    d = driver()
    status = await d.run("migration", run.model_dump(), run.run_id, until_idle=True)
    assert status.runtime_status == "Running" and status.waiting_for == [MAP_APPROVED]
    gate = status.custom_status
    assert gate["phase"] == "awaiting_map_approval" and gate["hash"].startswith("sha256:")
    assert gate["map"] == "report/mapping.yaml"
    assert {m.split()[0] for m in seen} == {"GET"}, "discovery and the proposal only read"
    report = tmp_path / "s" / "runs" / "gate" / "report"
    assert (report / "mapping.yaml").exists() and (report / "review.html").exists()
    scope = (report / "scope.md").read_text()
    assert "Edition: **Sales Professional**" in scope and "| contact | contacts.csv | contact | present |" in scope

    await d.raise_event(run.run_id, MAP_APPROVED, {"hash": "sha256:" + "0" * 64})
    status = await d.resume(run.run_id, until_idle=True)
    assert status.custom_status["phase"] == "awaiting_map_approval"
    assert "no map with hash sha256:000" in status.custom_status["refused"]
    assert {m.split()[0] for m in seen} == {"GET"}

    await d.raise_event(run.run_id, MAP_APPROVED, {"hash": gate["hash"], "by": "alex"})
    status = await d.resume(run.run_id, until_idle=True)
    assert status.runtime_status == "Completed", status
    assert status.output["status"] == "completed"
    assert "POST" in {m.split()[0] for m in seen} or "PATCH" in {m.split()[0] for m in seen}
    approval = json.loads((tmp_path / "s" / "runs" / "gate" / "mapping" / "approval.json").read_text())
    # a second proposal in the same environment sees the engine's schema the first run created
    again = run_config(sample_export, str(tmp_path / "s2"), run_id="gate2", auto_approve=False, only=["contact"])
    await driver().run("migration", again.model_dump(), again.run_id, until_idle=True)
    existing = json.loads((tmp_path / "s2" / "runs" / "gate2" / "mapping" / "existing_schema.json").read_text())
    assert "wtc_sourceid" in existing["contact"]["columns"] and "wtc_sourceid_key" in existing["contact"]["keys"]
    assert approval["hash"] == gate["hash"] and approval["by"] == "alex"


async def test_at_the_deadline_the_run_ends_approval_expired_having_moved_nothing(monkeypatch, sample_export,
                                                                                   tmp_path):
    env = await make_env(monkeypatch, sample_export)
    seen = record_methods(env)
    clock = FakeClock()
    run = run_config(sample_export, str(tmp_path / "s"), run_id="late", auto_approve=False, only=["company"],
                     approval_hours=48)
    d = driver(clock=clock)
    status = await d.run("migration", run.model_dump(), run.run_id, until_idle=True)
    assert status.custom_status["phase"] == "awaiting_map_approval"
    clock.advance(timedelta(hours=47))
    status = await d.resume(run.run_id, until_idle=True)
    assert status.runtime_status == "Running"
    clock.advance(timedelta(hours=2))
    status = await d.resume(run.run_id, until_idle=True)
    assert status.runtime_status == "Completed"
    assert status.custom_status["phase"] == "approval_expired"
    report = json.loads((tmp_path / "s" / "runs" / "late" / "report" / "report.json").read_text())
    assert report["status"] == "approval_expired"
    assert {m.split()[0] for m in seen} == {"GET"}, "an expired run moved nothing"
    assert not (await env.rows("accounts", "accountid"))


async def test_the_owner_gate_waits_for_the_administrator_and_resumes(monkeypatch, sample_export, tmp_path):
    env = await make_env(monkeypatch, sample_export)
    provisioned = {u["internalemailaddress"].lower()
                   for u in json.loads((sample_export.parent / "provisioned_users.json").read_text())}
    run = run_config(sample_export, str(tmp_path / "s"), run_id="owners", owners="wait", only=["deal"])
    d = driver()
    status = await d.run("migration", run.model_dump(), run.run_id, until_idle=True)
    assert status.custom_status["phase"] == "awaiting_owners" and status.waiting_for == [OWNERS_RESOLVED]
    unmatched = status.custom_status["unmatched"]
    assert unmatched > 0
    assert "@" not in json.dumps(status.custom_status), "owner e-mails stay out of the run's status"
    queue_file = tmp_path / "s" / "runs" / "owners" / "report" / "owner_queue.csv"
    queue = [line.split(",")[0] for line in queue_file.read_text().splitlines()[1:]]
    assert len(queue) == unmatched and not set(queue) & provisioned
    assert not await env.rows("opportunities", "opportunityid"), "no record before the gate"

    first = queue[0]  # the administrator provisions one of them, and says so
    await env.send("POST", "/api/data/v9.2/systemusers", json={"internalemailaddress": first, "firstname": "New",
                                                              "lastname": "User"})
    await d.raise_event(run.run_id, OWNERS_RESOLVED, {})
    status = await d.resume(run.run_id, until_idle=True)
    assert status.custom_status["phase"] == "awaiting_owners"
    assert status.custom_status["unmatched"] == unmatched - 1

    await d.raise_event(run.run_id, OWNERS_RESOLVED, {"use_default_owner": True, "by": "admin"})
    status = await d.resume(run.run_id, until_idle=True)
    assert status.runtime_status == "Completed" and status.output["status"] == "completed"
    user = (await env.rows("systemusers", "systemuserid", f"internalemailaddress eq '{first}'"))[0]["systemuserid"]
    owned = await env.rows("opportunities", "opportunityid", f"_ownerid_value eq {user}")
    assert owned, "the newly provisioned owner owns their deals"
    owners = json.loads((tmp_path / "s" / "runs" / "owners" / "owners.json").read_text())
    assert owners["default_owner_decision"]["by"] == "admin"


async def test_schema_steps_refuse_to_write_before_the_map_is_approved(monkeypatch, sample_export, tmp_path):
    """The gate's second line: a prepare or custom-field step reached without an approval writes nothing."""
    env = await make_env(monkeypatch, sample_export)
    seen = record_methods(env)
    run = run_config(sample_export, str(tmp_path / "s"), run_id="ungated").model_dump()
    for step, obj in (("prepare_object", "company"), ("deploy_custom_fields", "custom_field")):
        result = await STEPS[step]({"run": run, "object": obj})
        assert "the field map is not approved" in result["failure"]["message"]
    assert not seen
