"""The gates over HTTP: read the proposed map, approve it (or an edited one), tell the owner gate."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

from shared.mapping import defaults_from_spec, dump, propose
from shared.objects import catalogue
from shared.staging import open_staging
from shared.steps.mapping import METADATA, PROPOSED, SUMMARY, submitted_name
from tests.mapping.conftest import load_tables

from .conftest import TARGET, body_of, call, request

RUN_ID = "gated-run"


@pytest.fixture
def proposed(tmp_path, host, settings):
    """A run waiting at the map gate, its proposal staged as propose_map leaves it."""
    tables = load_tables()
    spec = catalogue("worketc-csv")["company"]
    mapping = propose("worketc-csv", [(defaults_from_spec(spec), None)], {"account": tables["account"]})
    run = {"run_id": RUN_ID, "source": "worketc-csv", "input": "/mnt/exports/contoso", "target": TARGET,
           "staging": str(tmp_path / "staging")}
    st = open_staging(run["staging"], prefix=f"runs/{RUN_ID}/")
    text = dump(mapping)
    st.write_json(METADATA, {"account": tables["account"].to_dict()})
    st.write_bytes(PROPOSED, text.encode())
    st.write_bytes("report/mapping.yaml", text.encode())
    st.write_json(SUMMARY, {"hash": mapping.content_hash(), "map": "report/mapping.yaml"})
    host.set_status(RUN_ID, "Running", input=json.dumps(run),
                    customStatus={"phase": "awaiting_map_approval", "hash": mapping.content_hash()})
    return {"host": host, "st": st, "text": text, "hash": mapping.content_hash()}


def approve(body) -> func.HttpRequest:
    return request("POST", f"migrations/{RUN_ID}/approve", body, instance_id=RUN_ID)


async def test_the_map_is_served_as_yaml(proposed):
    r = await call("migration_map", request("GET", f"migrations/{RUN_ID}/map", instance_id=RUN_ID))
    assert r.status_code == 200 and r.mimetype == "application/yaml"
    assert r.get_body().decode() == proposed["text"]


async def test_approving_the_proposed_hash_raises_the_event(proposed):
    r = await call("approve_migration_map", approve({"hash": proposed["hash"]}))
    assert r.status_code == 202, body_of(r)
    [event] = proposed["host"].events
    assert event["instance_id"] == RUN_ID and event["name"] == "MapApproved"
    assert json.loads(event["data"]) == {"hash": proposed["hash"], "by": "function key"}


async def test_an_invalid_edited_map_is_refused_with_object_line_and_fix(proposed):
    edited = proposed["text"].replace("target: telephone1", "target: telephone9", 1)
    assert edited != proposed["text"]
    r = await call("approve_migration_map", approve({"map": edited}))
    assert r.status_code == 400
    details = body_of(r)["details"]
    assert any("telephone9" in d and "mapping.yaml:" in d and "fix:" in d for d in details), details
    assert not proposed["host"].events


async def test_a_valid_edited_map_is_stored_and_approved_under_its_own_hash(proposed):
    edited = proposed["text"].replace("target: telephone1", "target: telephone2", 1)
    r = await call("approve_migration_map", approve({"map": edited}))
    assert r.status_code == 202, body_of(r)
    new_hash = json.loads(proposed["host"].events[0]["data"])["hash"]
    assert new_hash != proposed["hash"]
    assert proposed["st"].read_bytes(submitted_name(new_hash)).decode() == edited


async def test_approving_a_run_that_is_not_waiting_is_a_409(proposed):
    proposed["host"].instances[RUN_ID]["customStatus"] = {"phase": "loading"}
    r = await call("approve_migration_map", approve({"hash": proposed["hash"]}))
    assert r.status_code == 409 and "not waiting" in body_of(r)["error"]


@pytest.mark.parametrize("body", [None, [], {"hash": 5}, {"other": "x"}])
async def test_a_bad_approval_body_is_a_400(proposed, body):
    r = await call("approve_migration_map", approve(body))
    assert r.status_code == 400


async def test_the_owner_gate_takes_use_default_owner(proposed):
    owners = request("POST", f"migrations/{RUN_ID}/owners", {"use_default_owner": True}, instance_id=RUN_ID)
    r = await call("resolve_migration_owners", owners)
    assert r.status_code == 409  # the run waits for the map, not at the owner gate
    proposed["host"].instances[RUN_ID]["customStatus"] = {"phase": "awaiting_owners", "unmatched": 3}
    r = await call("resolve_migration_owners", owners)
    assert r.status_code == 202
    [event] = proposed["host"].events
    assert event["name"] == "OwnersResolved" and json.loads(event["data"])["use_default_owner"] is True


async def test_an_unknown_run_is_a_404(host, settings):
    r = await call("migration_map", request("GET", "migrations/nope-run/map", instance_id="nope-run"))
    assert r.status_code == 404


async def test_a_run_started_over_http_cannot_skip_the_approval(host, settings):
    r = await call("start_migration", request("POST", "migrations", {"source": "worketc-csv", "auto_approve": True}))
    assert r.status_code == 400 and body_of(r)["field"] == "auto_approve"
    assert not host.started


async def test_the_approval_deadline_comes_from_the_app_setting(host, settings, monkeypatch):
    monkeypatch.setenv("MAP_APPROVAL_DEADLINE_HOURS", "48")
    r = await call("start_migration", request("POST", "migrations", {"source": "worketc-csv"}))
    assert r.status_code == 202, body_of(r)
    assert host.started[0]["input"]["approval_hours"] == 48
    monkeypatch.setenv("MAP_APPROVAL_DEADLINE_HOURS", "a week")
    r = await call("start_migration", request("POST", "migrations", {"source": "worketc-csv", "run_id": "other-run"}))
    assert r.status_code == 500 and "MAP_APPROVAL_DEADLINE_HOURS" in body_of(r)["error"]
