"""The CLI reads an export uploaded to ``imports/<name>`` in Blob staging (Azurite), refuses that input with a
folder staging in one line, and gives a rolled-back run no delta pass."""

from __future__ import annotations

import json

import pytest

from cli.app import main
from shared.run import RunConfig
from shared.staging import open_staging
from tests.failures.helpers import TARGET
from tests.imports.conftest import upload_batch
from tests.failures.conftest import environment, export  # noqa: F401 - fixtures, used by name


def test_an_import_name_needs_a_blob_staging(tmp_path, capsys):
    code = main(["migrate", "--input", "imports/acme-2026", "--target", TARGET, "--out", str(tmp_path / "out")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "--input imports/acme-2026 reads an export uploaded to the imports container" in err
    assert "give --staging a Blob Storage connection string" in err
    assert not (tmp_path / "out" / "staging" / "runs").exists()


@pytest.mark.azurite
def test_a_cli_run_reads_an_upload_in_blob_staging(tmp_path, export, environment, capsys,  # noqa: F811
                                                   azurite_connection_string, monkeypatch):
    name = f"cli-{tmp_path.name.lower().replace('_', '-')[:40]}".rstrip("-")
    assert upload_batch(azurite_connection_string, export, name) > 3
    monkeypatch.setenv("CLI_TEST_STAGING", f"{azurite_connection_string};Container={name}")
    monkeypatch.chdir(tmp_path)  # no local folder imports/<name> here either way
    code = main(["migrate", "--input", f"imports/{name}", "--target", TARGET, "--out", str(tmp_path / "out"),
                 "--staging", "CLI_TEST_STAGING", "--only", "company", "--auto-approve", "--owners", "use-default"])
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["status"] == "completed" and report["settings"]["input"] == f"imports/{name}"
    company = next(o for o in report["objects"] if o["object"] == "company")
    assert company["source"] > 0 and company["status"] == "reconciled", company


def test_the_cli_gives_a_rolled_back_run_no_delta_pass(tmp_path, capsys):
    out = tmp_path / "out"
    run = RunConfig(run_id="rolled-back", input=str(tmp_path), target=TARGET, staging=str(out / "staging"))
    base = open_staging(run.staging, prefix=run.prefix)
    base.write_json("run.json", run.model_dump())
    base.write_json("report/report.json", {"status": "completed"})
    base.write_json("rollback/report.json", {"status": "completed"})
    assert main(["delta", "--run", "rolled-back", "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "run rolled-back was rolled back" in err and "--fresh" in err
    assert not base.exists("passes/2/pass.json")
