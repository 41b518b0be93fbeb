"""An Azure run of a CSV export: the export uploaded to ``imports/<name>`` in the staging account (Azurite),
staging in the same account, extraction in slices; the whole migration reconciles as from a folder, and
documents' binaries come from the upload too."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.staging import open_staging
from tests.integration.conftest import make_env, migrate, run_config, unregister

from .conftest import upload_batch


@pytest.fixture(scope="module")
def sample_export(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("worketc")
    subprocess.run([sys.executable, "-m", "emulators.sample_worketc", "--out", str(root / "export"),
                    "--companies", "40", "--seed", "11", "--users-out", str(root / "provisioned_users.json")],
                   check=True)
    return root / "export"


@pytest.fixture
async def dataverse(monkeypatch, sample_export):
    env = await make_env(monkeypatch, sample_export)
    yield env
    unregister()


def _rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.mark.azurite
async def test_a_whole_migration_reads_the_export_from_blob_storage(dataverse, sample_export, tmp_path, monkeypatch,
                                                                     azurite_connection_string):
    container = f"it-{tmp_path.name.lower().replace('_', '-')[:40]}".rstrip("-")
    monkeypatch.setenv("IT_STAGING", f"{azurite_connection_string};Container={container}")
    name = f"run-{tmp_path.name.lower().replace('_', '-')[:40]}".rstrip("-")  # the session's Azurite is shared
    uploaded = upload_batch(azurite_connection_string, sample_export, name)
    assert uploaded > 15  # the CSV files and the documents' binaries under files/
    monkeypatch.setenv("EXTRACT_SLICE_ROWS", "25")  # several slices per object, as a big tenant has

    run = run_config(Path("unused"), "IT_STAGING", run_id="from-imports")
    run = run.model_copy(update={"input": f"imports/{name}"})
    result = await migrate(run)
    assert result["status"] == "completed"

    st = open_staging("IT_STAGING", prefix=run.prefix)
    report = json.loads(st.read_bytes("report/report.json"))
    objs = {o["object"]: o for o in report["objects"]}
    for o in report["objects"]:
        assert o["source"] == o["loaded"] + o["rejected"] + o.get("queued", 0), o
    companies = _rows((sample_export / "companies.csv").read_bytes())
    assert objs["company"]["source"] == len(companies)
    assert objs["contact"]["source"] == len(_rows((sample_export / "contacts.csv").read_bytes()))
    assert objs["company"]["loaded"] == len(await dataverse.rows("accounts", "accountid")) - 1  # + placeholder
    # extraction ran in slices, and the summary names the file as read from the upload
    company = st.read_json("objects/company/extract.json")
    assert company["slices"] >= len(companies) // 25
    assert company["files"][0]["sha256"] == hashlib.sha256((sample_export / "companies.csv").read_bytes()).hexdigest()
    # documents: binaries streamed from imports/<name>/files/
    documents = _rows((sample_export / "documents.csv").read_bytes())
    assert objs["document"]["source"] == len(documents)
    assert objs["document"]["loaded"] > 0
    rows = await dataverse.rows("sharepointdocumentlocations", "relativeurl")
    assert rows  # folders linked to records: their files came from the upload
