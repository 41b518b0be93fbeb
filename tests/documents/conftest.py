"""Documents -> SharePoint + Dataverse, in-process: a Dataverse emulator for TARGET, a Graph emulator for
graph.microsoft.com (upload/download URLs on contoso.sharepoint.com), an export folder with files/ and
a local staging holding one transformed chunk (what steps.transform_chunk writes)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from emulators import dataverse as dv_emu
from emulators import graph as graph_emu
from shared import http as shared_http
from shared.steps import common
from shared.auth import StaticToken
from shared.dataverse.client import DataverseClient
from shared.dataverse.settings import DataverseSettings
from shared.run import RunConfig
from shared.sharepoint import SharePointClient
from shared.staging import open_staging, write_chunks

TARGET = "https://contoso.crm.dynamics.com"
GRAPH = "https://graph.microsoft.com"
FILES = "https://contoso.sharepoint.com"
SITE_URL = "https://contoso.sharepoint.com/sites/crm"


@dataclass
class DocEnv:
    root: Path
    run: RunConfig
    dv_app: object
    graph_app: object
    graph_token: str
    accounts: dict[str, str] = field(default_factory=dict)  # source key -> accountid
    contacts: dict[str, str] = field(default_factory=dict)

    @property
    def files(self) -> Path:
        return Path(self.run.input) / "files"

    def add_file(self, rel: str, data: bytes) -> dict:
        p = self.files / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        return {"Path": rel, "SizeBytes": len(data), "Sha256": hashlib.sha256(data).hexdigest()}

    def stage(self, rows: list[dict], part: str = "part-00000") -> dict:
        """Write a transformed chunk the way transform_chunk does; returns the activity payload."""
        st = open_staging(self.run.staging, prefix=self.run.prefix)
        m = write_chunks(st, f"objects/document/transform/{part}", rows, object_name="document",
                         chunk_size=max(len(rows), 1))
        c = m.chunks[0]
        return {"run": self.run.model_dump(), "object": "document",
                "chunk": {"name": c.name, "records": c.records, "sha256": c.sha256}}

    def staging(self):
        return open_staging(self.run.staging, prefix=self.run.prefix)

    def dataverse(self) -> DataverseClient:
        return DataverseClient(DataverseSettings.from_env(env={**os.environ, "DATAVERSE_URL": TARGET}))

    def sharepoint(self) -> SharePointClient:
        return SharePointClient(StaticToken(self.graph_token), f"{GRAPH}/v1.0", backoff_base=0.01)


def regarding(table: str, key: str) -> dict:
    sets = {"account": "accounts", "contact": "contacts"}
    obj = {"account": "company", "contact": "contact"}[table]
    return {"object": obj, "table": table, "entity_set": sets[table], "key_column": "wtc_sourceid", "key": key}


def doc_row(key: str, row: int, file_name: str, meta: dict, reg: dict, **extra) -> dict:
    body = {"FileName": file_name, "MimeType": "application/octet-stream", **meta, "regarding": reg,
            "overriddencreatedon": "2024-01-02T03:04:05Z", **extra}
    return {"key": key, "row": row, "body": body}


async def make_env(tmp_path: Path, monkeypatch, *, graph_options: dict | None = None) -> DocEnv:
    dv_app = dv_emu.create_app(key_activation_delay=0)
    graph_app = graph_emu.create_app(file_host=FILES, **(graph_options or {}))
    shared_http.register_transport(TARGET, lambda: httpx.ASGITransport(app=dv_app))
    shared_http.register_transport(GRAPH, lambda: httpx.ASGITransport(app=graph_app))
    shared_http.register_transport(FILES, lambda: httpx.ASGITransport(app=graph_app))
    gtoken = graph_emu.mint_token(graph_app)
    monkeypatch.setenv("DATAVERSE_TOKEN", dv_emu.mint_token(dv_app, "migration-app-user"))
    for k in ("DATAVERSE_CLIENT_ID", "DATAVERSE_IDENTITIES", "DATAVERSE_USE_MANAGED_IDENTITY", "GRAPH_URL",
              "SHAREPOINT_SIMPLE_UPLOAD_LIMIT", "SHAREPOINT_UPLOAD_CONCURRENCY"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("GRAPH_TOKEN", gtoken)
    monkeypatch.setenv("SHAREPOINT_SITE_URL", SITE_URL)
    (tmp_path / "export" / "files").mkdir(parents=True)
    run = RunConfig(run_id="docs-run", source="worketc-csv", input=str(tmp_path / "export"), target=TARGET,
                    staging=str(tmp_path / "staging"))
    env = DocEnv(tmp_path, run, dv_app, graph_app, gtoken)
    # the records documents attach to, as earlier waves would have loaded them
    async with env.dataverse() as dv:
        await common.ensure_columns_and_key(dv, "account", "wtc_sourceid", [])
        await common.ensure_columns_and_key(dv, "contact", "wtc_sourceid", [])
        env.accounts["10001"] = await dv.create("accounts", {"name": "Müller GmbH: Süd/Nord ",
                                                             "wtc_sourceid": "10001"})
        env.accounts["10002"] = await dv.create("accounts", {"name": "Acme", "wtc_sourceid": "10002"})
        env.contacts["c-1"] = await dv.create("contacts", {"firstname": "Eva", "lastname": "Kurz",
                                                           "wtc_sourceid": "c-1"})
    return env


@pytest.fixture
async def env(tmp_path, monkeypatch):
    e = await make_env(tmp_path, monkeypatch)
    yield e
    for url in (TARGET, GRAPH, FILES):
        shared_http.unregister_transport(url)
