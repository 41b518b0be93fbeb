"""No secret reaches what a run leaves behind: Durable history, custom status, outputs, files, logs.

A whole run through WORKetc's API (password), with documents to SharePoint (Graph token), into
Dataverse (bearer token), staged in Blob Storage through a connection string with an account key.
Everything the run records is then scanned for each secret: every instance's history as the local
Durable driver persists it (orchestration inputs, activity inputs and results, outputs), every
listener event (custom status included), every staged blob and report file, and the captured logs.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging

import pytest

from cli.durable import DurableDriver
from emulators.common.serve import serve_in_thread
from emulators.worketc import create_app as worketc_app
from orchestrators.migration import ORCHESTRATORS
from shared.staging import open_staging
from shared.steps import STEPS

from .conftest import make_env, run_config

WORKETC_PASSWORD = "Tr0ub4dor-&3-worketc-pw"
CLIENT_SECRET = "cl1ent~secret~Q8w.Zk3"


@pytest.mark.azurite
async def test_no_secret_in_history_status_outputs_files_or_logs(monkeypatch, sample_export, tmp_path, caplog,
                                                                 azurite_connection_string):
    env = await make_env(monkeypatch, sample_export)
    conn = f"{azurite_connection_string};Container=leak-{tmp_path.name.lower().replace('_', '-')[:40]}"
    monkeypatch.setenv("IT_STAGING", conn)
    monkeypatch.setenv("DATAVERSE_CLIENT_SECRET", CLIENT_SECRET)  # present in the app settings, as in Azure
    secrets = {
        "account key": conn.split("AccountKey=")[1].split(";")[0],
        "WORKetc password": WORKETC_PASSWORD,
        "Dataverse token": env.token,
        "Graph token": __import__("os").environ["GRAPH_TOKEN"],
        "client secret": CLIENT_SECRET,
    }
    with open(sample_export / "users.csv", encoding="utf-8-sig") as f:
        admin = next(u for u in csv.DictReader(f) if u["Active"] == "Yes")
    events: list[str] = []
    caplog.set_level(logging.DEBUG)
    store = tmp_path / "durable"
    with serve_in_thread(worketc_app(str(sample_export), password_for=WORKETC_PASSWORD)) as tenant:
        monkeypatch.setenv("WORKETC_EMAIL", admin["Email"])
        monkeypatch.setenv("WORKETC_PASSWORD", WORKETC_PASSWORD)
        monkeypatch.setenv("WORKETC_RATE_PER_SECOND", "1000")
        run = run_config(f"{tenant.base_url}/xml?wsdl", "IT_STAGING", run_id="leak",
                         only=["contact", "document"]).model_copy(update={"source": "worketc-soap"})
        driver = DurableDriver(ORCHESTRATORS, STEPS, max_parallel_activities=3, retry_interval_scale=0.001,
                               store=store, listener=lambda e, d: events.append(json.dumps([e, d], default=str)))
        result = await driver.run("migration", run.model_dump(), instance_id=run.run_id)
    assert result["status"] == "completed"

    recorded: dict[str, str] = {f"durable/{p.name}": p.read_text() for p in store.iterdir()}
    assert any(name.endswith(".history.jsonl") for name in recorded), "the driver persisted no history"
    recorded["listener events"] = "\n".join(events)
    recorded["output"] = json.dumps(result)
    recorded["logs"] = "\n".join(r.getMessage() + " " + json.dumps(r.__dict__, default=str) for r in caplog.records)
    st = open_staging("IT_STAGING", prefix="")
    names = st.list("")
    assert any(n.endswith("report/report.json") for n in names)
    for name in names:
        data = st.read_bytes(name)
        recorded[f"staging/{name}"] = (gzip.decompress(data) if name.endswith(".gz") else data).decode(
            "utf-8", "replace")
    for what, secret in secrets.items():
        leaks = [name for name, text in recorded.items() if secret in text]
        assert not leaks, f"the {what} leaked into {leaks[:5]}"
