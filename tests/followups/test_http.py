"""What the Function App refuses once a run was rolled back or completed, and the rollback's status route
(tests/http's fake Durable host)."""

from __future__ import annotations

import json

from shared.run import RunConfig
from shared.staging import open_staging
from tests.http.conftest import STARTER, TARGET, body_of, call, request
from tests.http.conftest import host, settings  # noqa: F401 - fixtures, used by name

RUN_ID = "contoso-1"
REPORT = {"status": "completed", "totals": {"deleted": 12, "already_gone": 1, "restored": 3, "already_restored": 0,
                                            "detached": 2, "failed": 0, "residue": 0, "not_restored": 0},
          "report": "rollback/report.json"}


def completed_run(tmp_path) -> RunConfig:
    """A run whose first pass completed, with the approved map a next pass carries over."""
    run = RunConfig(run_id=RUN_ID, input="/mnt/exports/contoso", target=TARGET, staging=str(tmp_path / "staging"))
    st = open_staging(run.staging, prefix=run.prefix)
    st.write_json("report/report.json", {"status": "completed", "started": "2026-01-01T00:00:00+00:00"})
    st.write_bytes("mapping/approved.yaml", b"objects: {}\n")
    st.write_json("mapping/approval.json", {"hash": "sha256:abc", "by": "someone"})
    return run


async def start(body: dict):
    response = await call("start_migration", request("POST", "migrations", body))
    return response.status_code, body_of(response)


async def delta(run_id: str, body: dict | None = None):
    response = await call("delta_sync", request("POST", f"migrations/{run_id}/delta", body or {}, instance_id=run_id))
    return response.status_code, body_of(response)


async def test_a_rolled_back_run_is_not_started_again(host, settings):  # noqa: F811
    host.set_status(RUN_ID, "Completed")
    host.set_status(f"{RUN_ID}:rollback", "Completed", output=REPORT)
    status, answer = await start({"run_id": RUN_ID})
    assert status == 409
    assert f"run {RUN_ID} was rolled back" in answer["error"] and "new run_id" in answer["error"]
    assert "\n" not in answer["error"] and host.started == []
    # a rollback still running refuses it as well
    host.set_status(f"{RUN_ID}:rollback", "Running")
    assert (await start({"run_id": RUN_ID}))[0] == 409 and host.started == []


async def test_a_rolled_back_run_gets_no_delta_pass(host, settings, tmp_path):  # noqa: F811
    run = completed_run(tmp_path)
    host.set_status(RUN_ID, "Completed", input=json.dumps(run.model_dump()))
    host.set_status(f"{RUN_ID}:rollback", "Completed", output=REPORT)
    status, answer = await delta(RUN_ID)
    assert status == 409 and "was rolled back" in answer["error"] and "new run_id" in answer["error"]
    assert host.started == []
    # a rollback by the CLI leaves no Durable instance in the app's hub: its report in staging says it
    del host.instances[f"{RUN_ID}:rollback"]
    open_staging(run.staging, prefix=run.prefix).write_json("rollback/report.json", {"status": "completed"})
    status, answer = await delta(RUN_ID)
    assert status == 409 and "rollback/report.json" in answer["error"] and host.started == []
    assert not open_staging(run.staging, prefix=run.prefix).exists("passes/2/pass.json")


async def test_the_timer_refuses_a_rolled_back_run(host, settings, tmp_path):  # noqa: F811
    """The timer starts its pass through ``start_delta``, as the route does."""
    import azure.durable_functions as df

    import function_app

    run = completed_run(tmp_path)
    host.set_status(RUN_ID, "Completed", input=json.dumps(run.model_dump()))
    host.set_status(f"{RUN_ID}:rollback", "Completed", output=REPORT)
    code, answer, instance_id = await function_app.start_delta(df.DurableOrchestrationClient(STARTER), RUN_ID, {},
                                                               "delta timer")
    assert (code, instance_id) == (409, None) and "was rolled back" in answer["error"] and host.started == []


async def test_the_rollback_status_shows_its_report_totals(host, settings, tmp_path):  # noqa: F811
    job = {"run": {"run_id": RUN_ID, "source": "worketc-csv", "target": TARGET, "staging": "STAGING_CONNECTION",
                   "input": "/mnt/exports/contoso"}, "schema": False}
    host.set_status(f"{RUN_ID}:rollback", "Completed", input=json.dumps(job), output=REPORT,
                    customStatus={"phase": "completed", "status": "completed", "totals": REPORT["totals"]})
    for name, req in [("rollback_status", request("GET", f"migrations/{RUN_ID}/rollback", instance_id=RUN_ID)),
                      ("migration_status", request("GET", f"migrations/{RUN_ID}:rollback",
                                                   instance_id=f"{RUN_ID}:rollback"))]:
        response = await call(name, req)
        assert response.status_code == 200, name
        answer = body_of(response)
        assert answer["instance_id"] == f"{RUN_ID}:rollback" and answer["runtime_status"] == "Completed"
        assert answer["output"]["status"] == "completed" and answer["output"]["totals"]["deleted"] == 12
        assert answer["run"] == {"run_id": RUN_ID, "source": "worketc-csv", "target": TARGET, "only": None}
        assert "/mnt/exports" not in response.get_body().decode()  # never the input or the staging
    response = await call("rollback_status", request("GET", "migrations/other-run/rollback", instance_id="other-run"))
    assert response.status_code == 404 and "has no rollback" in body_of(response)["error"]


async def test_a_completed_run_is_not_started_again_its_next_pass_is_delta(host, settings):  # noqa: F811
    host.set_status(RUN_ID, "Completed")
    status, answer = await start({"run_id": RUN_ID})
    assert status == 409 and host.started == []
    assert f"run {RUN_ID} completed at 2025-01-01T00:05:00" in answer["error"]
    assert f"POST /api/migrations/{RUN_ID}/delta" in answer["error"] and "new run_id" in answer["error"]
    # one that failed or was terminated resumes
    for ended in ("Failed", "Terminated"):
        host.set_status(RUN_ID, ended)
        assert (await start({"run_id": RUN_ID}))[0] == 202


async def test_a_full_delta_pass_reads_the_whole_source(host, settings, tmp_path):  # noqa: F811
    run = completed_run(tmp_path)
    host.set_status(RUN_ID, "Completed", input=json.dumps(run.model_dump()))
    status, _ = await delta(RUN_ID, {"full": True})
    assert status == 202
    later = RunConfig.model_validate(host.started[0]["input"])
    assert later.pass_no == 2 and not later.delta  # no modified-date filter (shared/steps/delta.py modified_since)
    assert (await delta(RUN_ID, {"full": "yes"}))[0] == 400
