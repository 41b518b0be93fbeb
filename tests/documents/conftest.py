"""Documents -> SharePoint + Dataverse, in-process: a Dataverse emulator for TARGET, a Graph emulator for
graph.microsoft.com (upload/download URLs on contoso.sharepoint.com), an export folder with files/ and
a local staging holding one transformed chunk (what steps.transform_chunk writes)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

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
    site_url: str = SITE_URL
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

    def stage(self, rows: list[dict]) -> dict:
        """Stage one transformed chunk the way the pipeline does; returns the load activity's payload."""
        return self.stage_parts(rows)[0]

    def stage_parts(self, *parts: list[dict]) -> list[dict]:
        """Stage what extract_object and transform_chunk leave for the load activities: the extract summary
        naming every chunk, and per chunk its transformed rows and transform summary. Returns one load
        payload per chunk."""
        st = self.staging()
        payloads, extract_chunks = [], []
        for i, rows in enumerate(parts):
            part = f"part-{i:05d}"
            m = write_chunks(st, f"objects/document/transform/{part}", rows, object_name="document",
                             chunk_size=max(len(rows), 1))
            c = m.chunks[0]
            ref = {"name": c.name, "records": c.records, "sha256": c.sha256}
            st.write_json(f"objects/document/transform/{part}.json", {
                "chunk": ref, "rows": len(rows), "rejected": 0, "warnings": 0, "rejects": [], "warning_rows": [],
                "unmatched_owners": {}})
            extract_chunks.append({"name": f"objects/document/extract/{part}.jsonl.gz", "records": len(rows),
                                   "sha256": "-"})
            payloads.append({"run": self.run.model_dump(), "object": "document", "chunk": ref})
        n = sum(len(r) for r in parts)
        st.write_json("objects/document/extract.json", {"object": "document", "source": n, "staged": n,
                                                        "rejected": 0, "rejects": [], "chunks": extract_chunks})
        return payloads

    def staging(self):
        return open_staging(self.run.staging, prefix=self.run.prefix)

    def dataverse(self) -> DataverseClient:
        return DataverseClient(DataverseSettings.from_env(env={**os.environ, "DATAVERSE_URL": TARGET}))

    def sharepoint(self) -> SharePointClient:
        return SharePointClient(StaticToken(self.graph_token), f"{GRAPH}/v1.0", backoff_base=0.01)

    async def files_in_sharepoint(self) -> dict[str, bytes]:
        """Path in the default library -> content, of every file (folders listed with None)."""
        out: dict = {}
        async with self.sharepoint() as sp:
            site = await sp.resolve_site("contoso.sharepoint.com", urlsplit(self.site_url).path)
            drive = (await sp.default_drive(site["id"]))["id"]

            async def walk(item_id: str, prefix: str) -> None:
                for c in await sp.list_children(drive, item_id):
                    out[prefix + c.name] = None if c.is_folder else await sp.download(drive, c.id)
                    if c.is_folder:
                        await walk(c.id, prefix + c.name + "/")

            await walk("root", "")
        return out

    def result(self, part: str = "part-00000") -> dict:
        return self.staging().read_json(f"objects/document/load/{part}.json")


def regarding(table: str, key: str) -> dict:
    sets = {"account": "accounts", "contact": "contacts"}
    obj = {"account": "company", "contact": "contact"}[table]
    return {"object": obj, "table": table, "entity_set": sets[table], "key_column": "wtc_sourceid", "key": key}


def doc_row(key: str, row: int, file_name: str, meta: dict, reg: dict, **extra) -> dict:
    body = {"FileName": file_name, "MimeType": "application/octet-stream", **meta, "regarding": reg,
            "overriddencreatedon": "2024-01-02T03:04:05Z", **extra}
    return {"key": key, "row": row, "body": body}


async def make_env(tmp_path: Path, monkeypatch, *, graph_options: dict | None = None,
                   site_url: str = SITE_URL) -> DocEnv:
    dv_app = dv_emu.create_app(key_activation_delay=0)
    graph_app = graph_emu.create_app(file_host=FILES, **(graph_options or {}))
    shared_http.register_transport(TARGET, lambda: httpx.ASGITransport(app=dv_app))
    shared_http.register_transport(GRAPH, lambda: httpx.ASGITransport(app=graph_app))
    shared_http.register_transport(FILES, lambda: httpx.ASGITransport(app=graph_app))
    gtoken = graph_emu.mint_token(graph_app)
    monkeypatch.setenv("DATAVERSE_TOKEN", dv_emu.mint_token(dv_app, "migration-app-user"))
    for k in ("DATAVERSE_CLIENT_ID", "DATAVERSE_IDENTITIES", "DATAVERSE_USE_MANAGED_IDENTITY", "GRAPH_URL",
              "SHAREPOINT_SIMPLE_UPLOAD_LIMIT", "SHAREPOINT_UPLOAD_CONCURRENCY", "SHAREPOINT_MAX_WAIT_SECONDS",
              "SHAREPOINT_THROTTLE_BUDGET_SECONDS"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("GRAPH_TOKEN", gtoken)
    monkeypatch.setenv("SHAREPOINT_SITE_URL", site_url)
    (tmp_path / "export" / "files").mkdir(parents=True)
    run = RunConfig(run_id="docs-run", source="worketc-csv", input=str(tmp_path / "export"), target=TARGET,
                    staging=str(tmp_path / "staging"))
    env = DocEnv(tmp_path, run, dv_app, graph_app, gtoken, site_url)
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


def drop_env() -> None:
    for url in (TARGET, GRAPH, FILES):
        shared_http.unregister_transport(url)


@pytest.fixture
async def env(tmp_path, monkeypatch):
    e = await make_env(tmp_path, monkeypatch)
    yield e
    drop_env()


@pytest.fixture
async def make(tmp_path, monkeypatch):
    """``await make(**make_env options)``: an environment with its own Graph emulator options."""

    async def build(**options) -> DocEnv:
        return await make_env(tmp_path, monkeypatch, **options)

    yield build
    drop_env()
