"""POST /api/migrations: a caller picks among what the app settings allow, and one run runs at a time."""

from __future__ import annotations

import json

import pytest

from .conftest import EXPORT, SECRET_KEY, STAGING_CONNECTION, TARGET, WSDL, body_of, call, request


async def start(body) -> tuple[int, dict]:
    response = await call("start_migration", request("POST", "migrations", body))
    return response.status_code, body_of(response)


async def test_a_run_starts_with_the_settings_of_the_app(host, settings):
    status, body = await start({"source": "worketc-csv"})
    assert status == 202
    [started] = host.started
    run = started["input"]
    assert (run["target"], run["input"], run["staging"]) == (TARGET, EXPORT, "STAGING_CONNECTION")
    assert started["name"] == "migration"
    assert started["instance_id"] == run["run_id"] == body["id"]  # the run id is the Durable instance id
    assert body["statusQueryGetUri"].startswith("https://engine.azurewebsites.net/")


@pytest.mark.parametrize("field, value, setting", [
    ("target", "https://attacker.example.com", "DATAVERSE_URLS"),
    ("input", "/home/site/wwwroot", "WORKETC_EXPORT_FOLDERS"),
    ("staging", "DefaultEndpointsProtocol=https;AccountName=evil;AccountKey=eHh4;EndpointSuffix=core.windows.net",
     "STAGING_SETTINGS"),
    ("staging", "https://evil.blob.core.windows.net/loot", "STAGING_SETTINGS"),
    ("staging", "AzureWebJobsStorage", "STAGING_SETTINGS"),  # a setting, but not one allowed for staging
])
async def test_caller_chosen_endpoints_are_refused_naming_the_setting(host, settings, field, value, setting):
    status, body = await start({"source": "worketc-csv", field: value})
    assert status == 400
    assert body["field"] == field and body["setting"] == setting
    assert setting in body["error"]
    assert value not in json.dumps(body)
    assert host.started == []


async def test_a_caller_chosen_wsdl_is_refused(host, settings):
    status, body = await start({"source": "worketc-soap", "input": "https://attacker.example.com/xml?wsdl"})
    assert (status, body["field"], body["setting"]) == (400, "input", "WORKETC_WSDL_URLS")
    status, _ = await start({"source": "worketc-soap", "input": WSDL})
    assert status == 202
    assert host.started[0]["input"]["input"] == WSDL


@pytest.mark.parametrize("target", ["http://contoso.crm.dynamics.com", "http://attacker.example.com"])
async def test_plain_http_is_refused(host, settings, target):
    status, body = await start({"target": target})
    assert status == 400 and body["field"] == "target"
    assert "https" in body["error"]
    assert host.started == []


async def test_a_request_picks_among_the_allowed_ones_by_value_or_by_name(host, settings, monkeypatch):
    monkeypatch.setenv("DATAVERSE_URLS",
                       "https://contoso-test.crm4.dynamics.com, https://contoso-uat.crm4.dynamics.com")
    monkeypatch.setenv("STAGING_SETTINGS", "STAGING_TEST")
    monkeypatch.setenv("STAGING_TEST", "https://contosotest.blob.core.windows.net/staging")
    for target, staging, expected in [("https://contoso-uat.crm4.dynamics.com/", "STAGING_TEST",
                                       "https://contoso-uat.crm4.dynamics.com"),
                                      ("DATAVERSE_URL", "STAGING_CONNECTION", TARGET)]:
        status, _ = await start({"target": target, "staging": staging})
        assert status == 202
        run = host.started[-1]["input"]
        assert (run["target"], run["staging"]) == (expected, staging)
        host.instances.clear()
    # several allowed and none named: the caller must choose
    monkeypatch.delenv("DATAVERSE_URL")
    status, body = await start({})
    assert (status, body["field"]) == (400, "target")


async def test_an_unconfigured_app_says_which_setting_to_set(host, settings, monkeypatch):
    monkeypatch.delenv("DATAVERSE_URL")
    status, body = await start({})
    assert status == 500
    assert "DATAVERSE_URL" in body["error"]
    monkeypatch.setenv("DATAVERSE_URLS", "http://contoso.crm.dynamics.com")
    status, body = await start({})
    assert status == 500 and "DATAVERSE_URLS" in body["error"] and "https" in body["error"]


@pytest.mark.parametrize("raw", ["[1, 2]", "\"worketc-csv\"", "42", "null", "not json", ""])
async def test_a_body_that_is_not_a_json_object_is_a_400(host, settings, raw):
    status, body = await start(raw)
    assert status == 400
    assert "JSON object" in body["error"]


@pytest.mark.parametrize("field, value", [
    ("run_id", "../../etc"),
    ("run_id", "Run_1"),
    ("timezone", "Mars/Olympus_Mons"),
    ("chunk_size", 0),
    ("chunk_size", 10_000_000),
    ("chunk_size", "many"),
    ("source", "salesforce"),
    ("date_order", "YMD"),
    ("only", ["company", "spaceship"]),
    ("default_owner_email", "not-an-address"),
    ("unknown_option", 1),
])
async def test_bad_run_settings_are_a_400_naming_the_field(host, settings, field, value):
    status, body = await start({field: value})
    assert status == 400
    assert [d["field"] for d in body["details"]] == [field]
    assert host.started == []


async def test_the_staging_secret_never_leaves_the_app_settings(host, settings):
    responses = [await call("start_migration", request("POST", "migrations", b)) for b in (
        {}, {"staging": STAGING_CONNECTION}, {"run_id": "../x", "staging": "nope"}, {"timezone": "x/y"})]
    assert [r.status_code for r in responses] == [202, 400, 400, 400]
    for r in responses:
        assert SECRET_KEY not in r.get_body().decode()
    [started] = host.started
    assert SECRET_KEY not in json.dumps(started["input"])
    assert "AccountKey" not in json.dumps(started["input"])


async def test_a_second_start_of_a_running_run_is_a_409_with_its_status_urls(host, settings):
    status, first = await start({"run_id": "contoso-1"})
    assert status == 202
    host.set_status("contoso-1", "Running")
    status, second = await start({"run_id": "contoso-1"})
    assert status == 409
    assert second["id"] == "contoso-1"
    assert second["statusQueryGetUri"].split("?")[0].endswith("/instances/contoso-1")
    assert "already" in second["error"]
    assert len(host.started) == 1


async def test_the_same_body_twice_is_one_run(host, settings):
    assert (await start({"source": "worketc-csv"}))[0] == 202
    assert (await start({"source": "worketc-csv"}))[0] == 409  # still Pending
    assert len(host.started) == 1


@pytest.mark.parametrize("finished", ["Failed", "Terminated"])  # a completed one: tests/followups/test_http.py
async def test_a_finished_run_may_be_started_again(host, settings, finished):
    await start({"run_id": "contoso-1"})
    host.set_status("contoso-1", finished)
    status, _ = await start({"run_id": "contoso-1"})
    assert status == 202
    assert [s["instance_id"] for s in host.started] == ["contoso-1", "contoso-1"]
