"""POST /api/migrations with ``"input": "imports/<name>"``: an upload in the staging account is a run's
input when staging is in Blob Storage; anything else is a 400 naming the field and the setting."""

from __future__ import annotations

from tests.http.conftest import body_of, call, request


async def _start(body):
    response = await call("start_migration", request("POST", "migrations", body))
    return response.status_code, body_of(response)


async def test_an_upload_is_a_runs_input(host, settings):
    status, _ = await _start({"source": "worketc-csv", "input": "imports/contoso-2026-11"})
    assert status == 202
    [started] = host.started
    assert (started["input"]["input"], started["input"]["staging"]) == ("imports/contoso-2026-11", "STAGING_CONNECTION")


async def test_without_a_folder_setting_the_upload_is_asked_for(host, settings, monkeypatch):
    monkeypatch.delenv("WORKETC_EXPORT_FOLDER")
    status, body = await _start({"source": "worketc-csv"})
    assert status == 400 and body["field"] == "input" and "imports/<name>" in body["error"]


async def test_a_bad_name_or_a_folder_staging_is_refused(host, settings, monkeypatch):
    status, body = await _start({"source": "worketc-csv", "input": "imports/../../runs"})
    assert status == 400 and body["field"] == "input"
    monkeypatch.setenv("STAGING_CONNECTION", "/data/staging")
    status, body = await _start({"source": "worketc-csv", "input": "imports/contoso"})
    assert status == 400 and body["setting"] == "STAGING_CONNECTION" and "is a folder" in body["error"]
    assert not host.started
