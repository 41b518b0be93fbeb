"""A whole WORKetc CSV -> Dataverse run, in-process: the Dataverse emulator behind
httpx.ASGITransport, staging in a folder (or Azurite), the orchestrators replayed by the local Durable driver (cli.durable)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from emulators import graph as graph_emulator
from emulators.dataverse import create_app, mint_token
from orchestrators.migration import ORCHESTRATORS
from shared import http as shared_http
from cli.durable import DurableDriver
from shared.run import RunConfig
from shared.steps import STEPS

TARGET = "https://contoso.crm.dynamics.com"
GRAPH = "https://graph.microsoft.com"
SHAREPOINT = "https://contoso.sharepoint.com"


@pytest.fixture(scope="session")
def sample_export(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("worketc")
    subprocess.run([sys.executable, "-m", "emulators.sample_worketc", "--out", str(root / "export"),
                    "--companies", "40", "--seed", "11", "--users-out", str(root / "provisioned_users.json")],
                   check=True)
    return root / "export"


class Env:
    """One Dataverse emulator registered for TARGET, with users provisioned by 'the administrator'."""

    def __init__(self, app, token: str):
        self.app = app
        self.token = token

    async def send(self, method: str, url: str, **kw) -> httpx.Response:
        """A request with retries: the emulator may be injecting faults and throttling into this test."""
        headers = {"Authorization": f"Bearer {self.token}", "Prefer": "odata.maxpagesize=5000"}
        for _ in range(60):
            try:
                async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=TARGET) as c:
                    r = await c.request(method, url, headers=headers, **kw)
            except httpx.TransportError:
                continue
            if r.status_code in (429, 500, 502, 503, 504):
                await asyncio.sleep(min(float(r.headers.get("Retry-After", "0.01")), 0.5))
                continue
            r.raise_for_status()
            return r
        raise AssertionError(f"{method} {url} kept failing")

    async def _get(self, url: str, params: dict | None = None) -> dict:
        return (await self.send("GET", url, params=params)).json()

    async def get(self, path: str, **params) -> dict:
        return await self._get(f"/api/data/v9.2/{path}", params)

    async def rows(self, entity_set: str, select: str, filter: str | None = None) -> list[dict]:
        params = {"$select": select}
        if filter:
            params["$filter"] = filter
        doc = await self.get(entity_set, **params)
        out = list(doc["value"])
        while "@odata.nextLink" in doc:
            doc = await self._get(doc["@odata.nextLink"])
            out += doc["value"]
        return out


async def make_env(monkeypatch, sample_export: Path, **app_options) -> Env:
    app = create_app(**app_options)
    token = mint_token(app, "migration-app-user")
    shared_http.register_transport(TARGET, lambda: httpx.ASGITransport(app=app))
    monkeypatch.setenv("DATAVERSE_TOKEN", token)
    for k in ("DATAVERSE_CLIENT_ID", "DATAVERSE_IDENTITIES", "DATAVERSE_USE_MANAGED_IDENTITY"):
        monkeypatch.delenv(k, raising=False)
    graph = graph_emulator.create_app(file_host=SHAREPOINT)
    for origin in (GRAPH, SHAREPOINT):
        shared_http.register_transport(origin, lambda: httpx.ASGITransport(app=graph))
    monkeypatch.setenv("GRAPH_TOKEN", graph_emulator.mint_token(graph))
    monkeypatch.setenv("SHAREPOINT_SITE_URL", f"{SHAREPOINT}/sites/crm")
    env = Env(app, token)
    env.graph = graph
    users = json.loads((sample_export.parent / "provisioned_users.json").read_text())
    for u in users:  # what the administrator does before a migration
        # (a POST retried after a dropped answer could create a user twice; keys make that visible)
        if not (await env.get("systemusers", **{"$filter": f"internalemailaddress eq '{u['internalemailaddress']}'",
                                                "$select": "systemuserid"}))["value"]:
            await env.send("POST", "/api/data/v9.2/systemusers", json=u)
    return env


@pytest.fixture
async def dataverse(monkeypatch, sample_export):
    env = await make_env(monkeypatch, sample_export)
    yield env
    unregister()


def unregister() -> None:
    for origin in (TARGET, GRAPH, SHAREPOINT):
        shared_http.unregister_transport(origin)


def run_config(sample_export: Path, staging: str, **kw) -> RunConfig:
    """A run that goes straight through its gates (map approved as proposed, unknown owners get the
    default owner), unless a test says otherwise; tests/gates drive the gates themselves."""
    kw = {"auto_approve": True, "owners": "use-default", **kw}
    return RunConfig(run_id=kw.pop("run_id", "it-run"), source="worketc-csv", input=str(sample_export),
                     target=TARGET, staging=staging, **kw)


async def migrate(run: RunConfig, steps=None, listener=None) -> dict:
    driver = DurableDriver(ORCHESTRATORS, steps or STEPS, max_parallel_activities=3, listener=listener,
                         retry_interval_scale=0.001)
    return await driver.run("migration", run.model_dump(), instance_id=run.run_id)
