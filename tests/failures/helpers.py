"""A small WORKetc export and a Dataverse + Graph emulator pair behind httpx.ASGITransport, for the
failure and CLI tests (the same set-up an administrator's environment has: users provisioned)."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from emulators import graph as graph_emulator
from emulators.dataverse import create_app, mint_token
from shared import http as shared_http

TARGET = "https://contoso.crm.dynamics.com"
GRAPH = "https://graph.microsoft.com"
SHAREPOINT = "https://contoso.sharepoint.com"
CLEARED = ("DATAVERSE_CLIENT_ID", "DATAVERSE_IDENTITIES", "DATAVERSE_USE_MANAGED_IDENTITY", "DATAVERSE_URL",
           "DATAVERSE_BATCH_SIZE", "DATAVERSE_CA_BUNDLE", "GRAPH_URL", "GRAPH_CA_BUNDLE")


def make_export(root: Path) -> Path:
    """The smallest sample export the generator makes (30 companies), with its provisioned users."""
    subprocess.run([sys.executable, "-m", "emulators.sample_worketc", "--out", str(root / "export"),
                    "--companies", "30", "--seed", "5", "--users-out", str(root / "provisioned_users.json")],
                   check=True, capture_output=True)
    return root / "export"


def copy_export(export: Path, to: Path) -> Path:
    """A copy a test may damage; the provisioned users go along."""
    shutil.copytree(export, to / "export")
    shutil.copy(export.parent / "provisioned_users.json", to / "provisioned_users.json")
    return to / "export"


class Environment:
    """A Dataverse emulator registered for TARGET (users provisioned) and a Graph emulator for SharePoint."""

    def __init__(self, monkeypatch, export: Path, **app_options):
        self.app = create_app(**app_options)
        self.token = mint_token(self.app, "migration-app-user")
        shared_http.register_transport(TARGET, lambda: httpx.ASGITransport(app=self.app))
        for name in CLEARED:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("DATAVERSE_TOKEN", self.token)
        graph = graph_emulator.create_app(file_host=SHAREPOINT)
        for origin in (GRAPH, SHAREPOINT):
            shared_http.register_transport(origin, lambda: httpx.ASGITransport(app=graph))
        monkeypatch.setenv("GRAPH_TOKEN", graph_emulator.mint_token(graph))
        monkeypatch.setenv("SHAREPOINT_SITE_URL", f"{SHAREPOINT}/sites/crm")
        asyncio.run(self._provision(json.loads((export.parent / "provisioned_users.json").read_text())))

    async def _provision(self, users: list[dict]) -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=TARGET,
                                     headers={"Authorization": f"Bearer {self.token}"}) as c:
            for u in users:
                (await c.post("/api/data/v9.2/systemusers", json=u)).raise_for_status()

    @staticmethod
    def close() -> None:
        for origin in (TARGET, GRAPH, SHAREPOINT):
            shared_http.unregister_transport(origin)
