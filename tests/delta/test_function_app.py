"""The delta sync in the Function App: ``POST /api/migrations/{id}/delta`` and the timer on
``DELTA_SYNC_SCHEDULE`` (tests/http's fake Durable host; the timer's registration in a fresh interpreter,
as the worker indexes the app at start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from shared.run import RunConfig
from shared.staging import open_staging
from tests.http.conftest import body_of, call, host, request, settings  # noqa: F401 - fixtures, used by name

INDEX = ("import json, function_app; print(json.dumps({f.get_function_name(): f.get_function_json() "
         "for f in function_app.app.get_functions()}))")


def indexed(**env) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DELTA_SYNC_")} | env
    out = subprocess.run([sys.executable, "-c", INDEX], env=environ, capture_output=True, text=True, check=True)
    return {name: json.loads(doc) for name, doc in json.loads(out.stdout.strip().splitlines()[-1]).items()}


def test_the_timer_runs_on_the_schedule_of_its_app_setting():
    functions = indexed(DELTA_SYNC_SCHEDULE="0 30 2 * * *", DELTA_SYNC_RUN_ID="run-abc")
    [trigger] = [b for b in functions["delta_sync_timer"]["bindings"] if b["type"] == "timerTrigger"]
    assert trigger["schedule"] == "%DELTA_SYNC_SCHEDULE%" and trigger["runOnStartup"] is False


def test_without_a_schedule_there_is_no_timer():
    assert "delta_sync_timer" not in indexed()
    assert "delta_sync" in indexed()  # the route is always there


def completed_run(tmp_path, run_id: str = "run-delta-1") -> RunConfig:
    run = RunConfig(run_id=run_id, input="/mnt/exports/contoso", target="https://contoso.crm.dynamics.com",
                    staging=str(tmp_path / "staging"))
    st = open_staging(run.staging, prefix=run.prefix)
    st.write_json("report/report.json", {"status": "completed", "started": "2026-01-01T00:00:00+00:00"})
    st.write_bytes("mapping/approved.yaml", b"objects: {}\n")
    st.write_json("mapping/approval.json", {"hash": "sha256:abc", "by": "someone"})
    return run


async def test_post_delta_starts_the_next_pass_frozen(host, settings, tmp_path):  # noqa: F811
    run = completed_run(tmp_path)
    host.set_status(run.run_id, "Completed", input=json.dumps(run.model_dump()))
    response = await call("delta_sync", request("POST", f"migrations/{run.run_id}/delta", {"freeze": True},
                                                instance_id=run.run_id))
    assert response.status_code == 202
    [started] = host.started
    assert (started["name"], started["instance_id"]) == ("delta", f"{run.run_id}:pass-2")
    later = RunConfig.model_validate(started["input"])
    assert later.pass_no == 2 and later.delta and later.freeze["by"] == "function key"
    # the approved map carried over to the pass; the pass is recorded for the next one
    st = open_staging(run.staging, prefix=later.prefix)
    assert st.read_json("mapping/approval.json")["carried_from_pass"] == 1
    assert open_staging(run.staging, prefix=run.prefix).read_json("passes/2/pass.json")["kind"] == "delta"


async def test_post_delta_refuses_what_it_cannot_do(host, settings, tmp_path):  # noqa: F811
    run = completed_run(tmp_path)
    response = await call("delta_sync", request("POST", f"migrations/{run.run_id}/delta", {}, instance_id=run.run_id))
    assert response.status_code == 404
    host.set_status(run.run_id, "Running", input=json.dumps(run.model_dump()))
    response = await call("delta_sync", request("POST", f"migrations/{run.run_id}/delta", {}, instance_id=run.run_id))
    assert response.status_code == 409 and "still in progress" in body_of(response)["error"]
    response = await call("delta_sync", request("POST", f"migrations/{run.run_id}/delta", {"freeze": "yes"},
                                                instance_id=run.run_id))
    assert response.status_code == 400
    assert host.started == []


async def test_a_pass_in_progress_is_not_started_twice(host, settings, tmp_path):  # noqa: F811
    run = completed_run(tmp_path)
    host.set_status(run.run_id, "Completed", input=json.dumps(run.model_dump()))
    first = await call("delta_sync", request("POST", f"migrations/{run.run_id}/delta", {}, instance_id=run.run_id))
    assert first.status_code == 202
    host.set_status(f"{run.run_id}:pass-2", "Running")
    again = await call("delta_sync", request("POST", f"migrations/{run.run_id}/delta", {}, instance_id=run.run_id))
    assert again.status_code == 409 and len(host.started) == 1
    status = await call("migration_status", request("GET", f"migrations/{run.run_id}:pass-2",
                                                    instance_id=f"{run.run_id}:pass-2"))
    assert status.status_code == 200  # a pass is followed like its run
