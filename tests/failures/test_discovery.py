"""Discovery finds what a person must fix before anything moves, and names what it leaves out."""

from __future__ import annotations

import asyncio

import pytest

from shared.errors import InputError, SettingsError
from shared.run import RunConfig
from shared.staging import open_staging
from shared.steps.discover import discover

from .helpers import TARGET, copy_export


def run_for(tmp_path, export, **options) -> RunConfig:
    return RunConfig(run_id="disc", input=str(export), target=TARGET, staging=str(tmp_path / "staging"), **options)


def discovered(run: RunConfig) -> tuple[dict, dict]:
    plan = asyncio.run(discover({"run": run.model_dump()}))
    return plan, open_staging(run.staging, prefix=run.prefix).read_json("discovery.json")


def test_empty_and_missing_optional_files_are_named_and_the_run_goes_on(environment, export, tmp_path):
    damaged = copy_export(export, tmp_path)
    (damaged / "leads.csv").write_bytes(b"")
    (damaged / "deals.csv").unlink()
    plan, found = discovered(run_for(tmp_path, damaged))
    assert "lead" not in plan["objects"] and "deal" not in plan["objects"]
    assert {"company", "contact", "document"} <= set(plan["objects"])
    presence = {f["file"]: f["presence"] for f in found["found"]}
    assert (presence["leads.csv"], presence["deals.csv"], presence["companies.csv"]) == ("empty", "absent", "present")


def test_an_empty_required_file_stops_the_run_naming_it(environment, export, tmp_path):
    damaged = copy_export(export, tmp_path)
    (damaged / "contacts.csv").write_bytes(b"")
    with pytest.raises(InputError, match=r"contacts\.csv is empty"):
        discovered(run_for(tmp_path, damaged))


def test_documents_without_a_sharepoint_site_stop_the_run_before_anything_moves(environment, export, tmp_path,
                                                                                 monkeypatch):
    monkeypatch.delenv("SHAREPOINT_SITE_URL")
    run = run_for(tmp_path, export)
    with pytest.raises(SettingsError) as e:
        discovered(run)
    assert "SHAREPOINT_SITE_URL" in str(e.value) and "--skip document" in str(e.value)
    found = open_staging(run.staging, prefix=run.prefix).read_json("discovery.json")
    assert "objects" not in found and found["started"]  # the report of this failed run says when and what was found


def test_skipped_objects_and_their_dependents_are_left_out_with_the_reason(environment, export, tmp_path,
                                                                           monkeypatch):
    monkeypatch.delenv("SHAREPOINT_SITE_URL")
    plan, found = discovered(run_for(tmp_path, export, skip=["document", "invoice"]))
    assert not {"document", "invoice", "invoice_line"} & set(plan["objects"])
    assert found["skipped"] == {"document": "skipped by --skip", "invoice": "skipped by --skip",
                                "invoice_line": "skipped by --skip: depends on invoice"}


def test_every_settings_problem_is_listed_at_once(environment, export, tmp_path, monkeypatch):
    monkeypatch.delenv("SHAREPOINT_SITE_URL")
    with pytest.raises(SettingsError) as e:
        discovered(run_for(tmp_path, export, default_owner_email="nobody@customer.example"))
    message = str(e.value)
    assert "SHAREPOINT_SITE_URL" in message and "--default-owner" in message
    assert "nobody@customer.example" not in message  # it travels in the run's status


def test_attempts_are_counted_from_the_first_start(environment, export, tmp_path):
    run = run_for(tmp_path, export)
    _, first = discovered(run)
    _, second = discovered(run)
    assert second["started"] == first["started"] and len(second["attempts"]) == 2
