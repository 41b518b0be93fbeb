"""The SOAP source: every object comes from the API; only the workflow inventory (which the API never
exposes) comes from the administrator's folder, WORKETC_EXPORT_DIR. Extraction spools the API's rows."""

from __future__ import annotations

import shutil

import pytest

from shared.errors import SettingsError
from shared.objects.worketc import OBJECTS
from shared.run import RunConfig
from shared.sources import WorketcSoapSource
from shared.staging import open_staging, read_chunk, read_manifest
from shared.steps.extract import extract_object

from .conftest import EMAIL, EXPORT, PASSWORD


@pytest.fixture
def folder(tmp_path):
    """An administrator's folder that also holds a stale companies.csv (as a full export does)."""
    out = tmp_path / "admin"
    out.mkdir()
    shutil.copy(EXPORT / "workflows.csv", out / "workflows.csv")
    (out / "companies.csv").write_text("EntityID,Name\r\n999999,Stale company from the folder\r\n")
    return out


@pytest.fixture
def tenant(emulator, monkeypatch):
    url, _ = emulator()
    for name, value in {"WORKETC_EMAIL": EMAIL, "WORKETC_PASSWORD": PASSWORD, "WORKETC_RATE_PER_SECOND": "0"}.items():
        monkeypatch.setenv(name, value)
    return f"{url}/xml?wsdl"


def test_records_come_from_the_api_even_when_the_folder_has_their_file(tenant, folder, monkeypatch):
    monkeypatch.setenv("WORKETC_EXPORT_DIR", str(folder))
    source = WorketcSoapSource(tenant)
    companies = list(source.rows(OBJECTS["company"]))  # rows before any presence() call, as extraction does
    assert "999999" not in {r["EntityID"] for r in companies}
    assert {r["EntityID"] for r in companies} == {r["EntityID"] for r in _csv(EXPORT, "companies.csv")}
    assert source.presence(OBJECTS["company"]) == "present"
    assert [r["Name"] for r in source.rows(OBJECTS["workflow"])] == [r["Name"] for r in _csv(folder, "workflows.csv")]
    assert source.presence(OBJECTS["workflow"]) == "present"


def test_without_the_folder_the_workflow_inventory_is_absent(tenant, monkeypatch):
    monkeypatch.delenv("WORKETC_EXPORT_DIR", raising=False)
    source = WorketcSoapSource(tenant)
    assert source.presence(OBJECTS["workflow"]) == "absent" and list(source.rows(OBJECTS["workflow"])) == []


def test_a_workflow_folder_that_is_not_there_is_a_setting_to_fix(tenant, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKETC_EXPORT_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(SettingsError, match="WORKETC_EXPORT_DIR=.* is not a folder: set it to the folder that holds "
                                            "workflows.csv"):
        WorketcSoapSource(tenant)


def test_an_object_disabled_by_configuration_is_not_read_from_the_folder(tenant, folder, monkeypatch):
    monkeypatch.setenv("WORKETC_EXPORT_DIR", str(folder))
    monkeypatch.setenv("WORKETC_OPERATIONS", '{"companies": null}')
    source = WorketcSoapSource(tenant)
    assert source.presence(OBJECTS["company"]) == "absent"


async def test_extraction_through_the_api_spools_and_names_records(tenant, tmp_path, monkeypatch):
    monkeypatch.delenv("WORKETC_EXPORT_DIR", raising=False)
    run = RunConfig(run_id="soap-extract", source="worketc-soap", input=tenant,
                    target="https://contoso.crm.dynamics.com", staging=str(tmp_path / "staging"), chunk_size=10)
    summary = await extract_object({"run": run.model_dump(), "object": "company"})
    st = open_staging(str(tmp_path / "staging"), prefix=run.prefix)
    manifest = read_manifest(st, "objects/company/extract")
    rows = [r for c in manifest.chunks for r in read_chunk(st, c.name, c.sha256)]
    expected = [r for r in _csv(EXPORT, "companies.csv") if "_error" not in r]
    assert summary["source"] == len(expected) == summary["staged"] + summary["rejected"]
    assert [r["_record"] for r in rows] == list(range(1, len(rows) + 1))
    assert summary["files"] == []


def _csv(folder, name):
    from shared.sources.worketc.csv_export import read_table

    return list(read_table(folder, name))
