"""What a rollback refuses: rolling back a rollback, and a run still in progress (HTTP and CLI); and
what ``POST /api/migrations/{id}/rollback`` starts."""

from __future__ import annotations

import json

import pytest

from cli.app import main
from tests.http.conftest import TARGET, body_of, call, host, request, settings  # noqa: F401

RUN_ID = "finished-run"


def run_settings(tmp_path) -> dict:
    return {"run_id": RUN_ID, "source": "worketc-csv", "input": "/mnt/exports/contoso", "target": TARGET,
            "staging": str(tmp_path / "staging")}


def rollback_request(instance_id: str, body=None):
    return request("POST", f"migrations/{instance_id}/rollback", body, instance_id=instance_id)


async def test_http_starts_the_rollback_of_a_finished_run(tmp_path, host, settings):  # noqa: F811
    host.set_status(RUN_ID, "Completed", input=json.dumps(run_settings(tmp_path)))
    r = await call("rollback_migration", rollback_request(RUN_ID, {"schema": True}))
    assert r.status_code == 202, body_of(r)
    [started] = host.started
    assert started["name"] == "rollback" and started["instance_id"] == f"{RUN_ID}:rollback"
    assert started["input"]["schema"] is True and started["input"]["run"]["run_id"] == RUN_ID


async def test_http_refuses_a_rollback_of_a_rollback(tmp_path, host, settings):  # noqa: F811
    host.set_status(f"{RUN_ID}:rollback", "Completed", input=json.dumps({"run": run_settings(tmp_path)}))
    r = await call("rollback_migration", rollback_request(f"{RUN_ID}:rollback"))
    assert r.status_code == 409 and "cannot be rolled back" in body_of(r)["error"]
    assert host.started == []


@pytest.mark.parametrize("status", ["Running", "Pending"])
async def test_http_refuses_a_run_in_progress(tmp_path, host, settings, status):  # noqa: F811
    host.set_status(RUN_ID, status, input=json.dumps(run_settings(tmp_path)),
                    customStatus={"phase": "loading"})
    r = await call("rollback_migration", rollback_request(RUN_ID))
    assert r.status_code == 409 and "in progress" in body_of(r)["error"]
    assert host.started == []


async def test_http_refuses_a_second_rollback_while_one_runs(tmp_path, host, settings):  # noqa: F811
    host.set_status(RUN_ID, "Failed", input=json.dumps(run_settings(tmp_path)))
    host.set_status(f"{RUN_ID}:rollback", "Running")
    r = await call("rollback_migration", rollback_request(RUN_ID))
    assert r.status_code == 409 and host.started == []


async def test_http_rejects_an_unknown_body(tmp_path, host, settings):  # noqa: F811
    host.set_status(RUN_ID, "Completed", input=json.dumps(run_settings(tmp_path)))
    r = await call("rollback_migration", rollback_request(RUN_ID, {"schema": "yes"}))
    assert r.status_code == 400


def test_cli_refuses_a_rollback_of_a_rollback(tmp_path, capsys):
    assert main(["rollback", "--run", f"{RUN_ID}:rollback", "--out", str(tmp_path)]) == 2
    assert "a rollback cannot be rolled back" in capsys.readouterr().err


def test_cli_names_the_run_it_does_not_know(tmp_path, capsys):
    assert main(["rollback", "--run", "no-such-run", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--run no-such-run" in err and "--out" in err


def test_cli_migrate_refuses_to_resume_a_rolled_back_run(tmp_path, capsys):
    from shared.run import RunConfig
    from shared.staging import open_staging

    export = tmp_path / "export"
    export.mkdir()
    target = "https://contoso.crm.dynamics.com"
    run_id = RunConfig.derive_run_id("worketc-csv", str(export), target)
    open_staging(str(tmp_path / "out" / "staging"), prefix=f"runs/{run_id}/").write_json(
        "rollback/report.json", {"status": "completed"})
    code = main(["migrate", "--input", str(export), "--target", target, "--out", str(tmp_path / "out")])
    assert code == 2 and "was rolled back" in capsys.readouterr().err
