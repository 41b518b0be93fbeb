"""GET /api/migrations/{id}: progress and report, never the run's settings or personal data."""

from __future__ import annotations

import json

import pytest

from .conftest import SECRET_KEY, STAGING_CONNECTION, body_of, call, request


async def status_of(instance_id: str):
    response = await call("migration_status", request("GET", f"migrations/{instance_id}", instance_id=instance_id))
    return response.status_code, body_of(response)


@pytest.mark.parametrize("instance_id", ["run-000000000000", "../../etc", "x" * 300])
async def test_an_unknown_run_is_a_404_in_json(host, instance_id):
    assert await status_of(instance_id) == (404, {"error": "no such migration"})


async def test_the_status_shows_progress_and_safe_settings_only(host):
    run = {"run_id": "contoso-1", "source": "worketc-csv", "input": "/mnt/exports/contoso",
           "target": "https://contoso.crm.dynamics.com", "staging": STAGING_CONNECTION,
           "default_owner_email": "anna.admin@contoso.com", "chunk_size": 5000, "only": None}
    report = {"object": "company", "table": "account", "source": 3, "loaded": 2, "rejected": 1, "balanced": True,
              "unmatched_owners": {"jane.doe@customer.com": 2}}
    host.set_status("contoso-1", "Completed", input=json.dumps(run), customStatus={"phase": "completed"},
                    output={"status": "completed", "totals": {"source": 3}, "objects": [report]})
    code, body = await status_of("contoso-1")
    assert code == 200
    assert body["runtime_status"] == "Completed"
    assert body["run"] == {"run_id": "contoso-1", "source": "worketc-csv", "target": "https://contoso.crm.dynamics.com",
                           "only": None}
    assert body["output"]["objects"] == [{k: v for k, v in report.items() if k != "unmatched_owners"}]
    text = json.dumps(body)
    for private in (SECRET_KEY, "AccountKey", "anna.admin", "jane.doe", "/mnt/exports"):
        assert private not in text


async def test_a_failed_run_shows_its_message_with_secrets_masked(host):
    host.set_status("contoso-2", "Failed", output=f"staging {STAGING_CONNECTION} refused the request")
    code, body = await status_of("contoso-2")
    assert code == 200 and body["runtime_status"] == "Failed"
    assert SECRET_KEY not in body["output"] and "AccountKey=***" in body["output"]
