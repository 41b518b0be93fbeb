"""Reruns of a completed migration against the in-process Dataverse emulator, with every write request
recorded (which table, which source keys) so a test can say that unchanged rows were not written."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from cli.durable import DurableDriver
from orchestrators.delta import ORCHESTRATORS
from shared import http as shared_http
from shared.run import RunConfig
from shared.steps import STEPS
from shared.steps.delta import plan_pass
from tests.integration.conftest import TARGET, make_env, run_config, sample_export, unregister  # noqa: F401

_KEY = re.compile(r"(\w+)\((\w+)='((?:[^']|'')*)'\)")
_ODATA_ID = re.compile(r'"@odata\.id"\s*:\s*"([^"]+)"')
_BATCH_PART = re.compile(r"(?m)^(?:PATCH|POST|PUT|DELETE) (\S+)")


class Writes:
    """An ASGI wrapper recording each write request (not GET): method, path, body text."""

    def __init__(self, app):
        self.app = app
        self.requests: list[tuple[str, str, str]] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] == "GET":
            return await self.app(scope, receive, send)
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        self.requests.append((scope["method"], unquote(scope["path"]), body.decode("utf-8", "replace")))
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    def keys(self, entity_set: str) -> list[str]:
        """Source keys of ``entity_set`` records that write requests wrote (by key in the URL, as the targets
        of an UpsertMultiple, or as the parts of a ``$batch``), in order; binds to such records do not count."""
        found = []
        for _, path, body in self.requests:
            seg = path.split("/api/data/v9.2/", 1)[-1]
            if seg.startswith(f"{entity_set}("):
                texts = [seg]
            elif seg.startswith(f"{entity_set}/"):
                texts = _ODATA_ID.findall(body)
            elif seg == "$batch":
                texts = [m.split("/api/data/v9.2/", 1)[-1] for m in _BATCH_PART.findall(body)]
            else:
                texts = []
            for text in texts:
                m = _KEY.match(text)
                if m and m.group(1) == entity_set:
                    found.append(m.group(3).replace("''", "'"))
        return found

    def clear(self) -> None:
        self.requests.clear()


@pytest.fixture
def export(sample_export, tmp_path) -> Path:  # noqa: F811 - the session's sample, copied: tests edit it
    dst = tmp_path / "export"
    shutil.copytree(sample_export, dst)
    shutil.copy(sample_export.parent / "provisioned_users.json", tmp_path / "provisioned_users.json")
    return dst


@pytest.fixture
async def env(monkeypatch, export):
    e = await make_env(monkeypatch, export)
    e.writes = Writes(e.app)
    shared_http.register_transport(TARGET, lambda: httpx.ASGITransport(app=e.writes))
    yield e
    unregister()


def driver() -> DurableDriver:
    return DurableDriver(ORCHESTRATORS, STEPS, max_parallel_activities=3, retry_interval_scale=0.001)


async def first_pass(export: Path, staging: Path, **kw) -> tuple[RunConfig, dict]:
    run = run_config(export, str(staging), **kw)
    return run, await driver().run("migration", run.model_dump(), instance_id=run.instance_id)


async def next_pass(run: RunConfig, **kw) -> tuple[RunConfig, dict]:
    nxt, started = plan_pass(run, **{"delta": False, **kw})
    assert started and nxt.pass_no >= 2
    return nxt, await driver().run("delta", nxt.model_dump(), instance_id=nxt.instance_id)


def edit_csv(path: Path, change) -> None:
    """Rewrite an export file as WORKetc writes it (UTF-8 with BOM), ``change(rows) -> rows``."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    rows = change(rows)
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)


def obj(report: dict, name: str) -> dict:
    return next(o for o in report["objects"] if o["object"] == name)
