"""Who may start, approve and roll back: with AUTH_REQUIRE_APP_ROLES on (Easy Auth in front), each
steering route needs its Entra app role, read from Easy Auth's X-MS-CLIENT-PRINCIPAL header."""

from __future__ import annotations

import base64
import json

import azure.functions as func
import pytest

from .conftest import EXPORT, TARGET, body_of, call
from .test_gates import RUN_ID, proposed  # noqa: F401 - a run waiting at the map gate

ROLE_TYP = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"


def principal(*roles: str) -> str:
    claims = [{"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": "0f0e-approver"}]
    claims += [{"typ": ROLE_TYP, "val": r} for r in roles]
    payload = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": ROLE_TYP}
    return base64.b64encode(json.dumps(payload).encode()).decode()


def req(method: str, path: str, body: dict, roles: tuple[str, ...] | None, **route) -> func.HttpRequest:
    headers = {"content-type": "application/json"}
    if roles is not None:
        headers["x-ms-client-principal"] = principal(*roles)
        headers["x-ms-client-principal-id"] = "0f0e-approver"
    return func.HttpRequest(method=method, url=f"https://engine.azurewebsites.net/api/{path}",
                            body=json.dumps(body).encode(), headers=headers, route_params=route)


@pytest.fixture
def roles_on(monkeypatch):
    monkeypatch.setenv("AUTH_REQUIRE_APP_ROLES", "true")


START = {"source": "worketc-csv", "input": EXPORT, "target": TARGET, "run_id": "roles-run"}


@pytest.mark.parametrize("roles", [None, (), ("Migration.Approve", "Migration.Rollback")])
async def test_starting_needs_the_start_role(host, settings, roles_on, roles):
    r = await call("start_migration", req("POST", "migrations", START, roles))
    assert r.status_code == 403 and body_of(r)["role"] == "Migration.Start"
    assert host.started == []


async def test_the_start_role_starts(host, settings, roles_on):
    r = await call("start_migration", req("POST", "migrations", START, ("Migration.Start",)))
    assert r.status_code == 202 and [s["instance_id"] for s in host.started] == ["roles-run"]


async def test_approving_needs_the_approve_role(proposed, roles_on):  # noqa: F811
    denied = await call("approve_migration_map", req("POST", f"migrations/{RUN_ID}/approve",
                                                     {"hash": proposed["hash"]}, ("Migration.Start",),
                                                     instance_id=RUN_ID))
    assert denied.status_code == 403 and proposed["host"].events == []
    allowed = await call("approve_migration_map", req("POST", f"migrations/{RUN_ID}/approve",
                                                      {"hash": proposed["hash"]}, ("Migration.Approve",),
                                                      instance_id=RUN_ID))
    assert allowed.status_code == 202
    assert json.loads(proposed["host"].events[0]["data"])["by"] == "0f0e-approver"


async def test_rolling_back_needs_the_rollback_role(host, settings, roles_on):
    r = await call("rollback_migration", req("POST", "migrations/some-run/rollback", {},
                                             ("Migration.Start", "Migration.Approve"), instance_id="some-run"))
    assert r.status_code == 403 and body_of(r)["role"] == "Migration.Rollback"
    assert host.started == []


async def test_a_forged_or_garbled_principal_carries_no_role(host, settings, roles_on):
    forged = func.HttpRequest(method="POST", url="https://engine.azurewebsites.net/api/migrations",
                              body=json.dumps(START).encode(),
                              headers={"x-ms-client-principal": "not base64 json {", "content-type": "application/json"})
    assert (await call("start_migration", forged)).status_code == 403


async def test_without_the_setting_a_function_key_is_enough(host, settings, monkeypatch):
    monkeypatch.delenv("AUTH_REQUIRE_APP_ROLES", raising=False)
    r = await call("start_migration", req("POST", "migrations", START, None))
    assert r.status_code == 202
