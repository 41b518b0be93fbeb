"""The final report: written for a failed run too, and saying how the run was made."""

from __future__ import annotations

import csv
import io
import tomllib
from datetime import datetime
from pathlib import Path

import shared
from shared.steps.reconcile import reconcile_object
from shared.steps.report import final_report

from .staged import TARGET, new_run, reject, stage_companies, stage_discovery

FAILURE = {"kind": "access", "activity": "load_chunk", "object": "contact",
           "message": f"Dataverse refused POST /api/data/v9.2/contacts on {TARGET} (403): ..."}


def rows(st, name: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(st.read_bytes(f"report/{name}").decode("utf-8"))))


async def reconciled_company(tmp_path, **run_options):
    run, st = new_run(tmp_path, **run_options)
    stage_discovery(st)
    stage_companies(st, [{"key": "1", "status": "created"}, {"key": "2", "status": "updated"}],
                    owners={"pat@customer.example": 2},
                    files=[{"file": "companies.csv", "encoding": "utf-8", "encoding_reason": "valid UTF-8",
                            "bytes": 1234, "sha256": "ab" * 32, "rows": 2}])
    extract = st.read_json("objects/company/extract.json")
    st.write_json("objects/company/extract.json", {**extract, "source": 3, "rejected": 1, "rejects": [reject("2")]})
    await reconcile_object({"run": run.model_dump(), "object": "company"})
    return run, st


async def test_a_failed_run_writes_its_report(tmp_path):
    run, st = await reconciled_company(tmp_path)
    result = await final_report({"run": run.model_dump(), "objects": ["company", "contact"], "failure": FAILURE})
    assert result["status"] == "failed"
    report = st.read_json("report/report.json")
    assert report["status"] == "failed"
    assert report["failure"] == {k: FAILURE[k] for k in ("message", "activity", "object")}
    company, contact = report["objects"]
    assert (company["object"], company["status"], company["source"], company["loaded"], company["rejected"]) == \
        ("company", "reconciled", 3, 2, 1)
    assert contact == {"object": "contact", "table": "contact", "status": "not done"}
    assert [r["source_id"] for r in rows(st, "rejects.csv")] == ["2"]
    assert [(q["email"], q["records"], q["objects"]) for q in rows(st, "owner_queue.csv")] == \
        [("pat@customer.example", "2", "company")]


async def test_a_run_that_failed_at_discovery_still_gets_a_report(tmp_path):
    run, st = new_run(tmp_path)
    await final_report({"run": run.model_dump(), "objects": [], "failure": {**FAILURE, "activity": "discover",
                                                                             "object": None}})
    report = st.read_json("report/report.json")
    assert (report["status"], report["objects"], report["started"]) == ("failed", [], None)
    assert report["settings"]["target"] == TARGET


async def test_the_report_says_how_the_run_was_made(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAVERSE_BATCH_SIZE", "250")
    run, st = await reconciled_company(tmp_path, timezone="Europe/Berlin", date_order="MDY", chunk_size=1000,
                                       default_owner_email="admin@contoso.example", skip=["document"])
    stage_discovery(st, attempts=2, skipped={"document": "skipped by --skip"})
    await final_report({"run": run.model_dump(), "objects": ["company"]})
    report = st.read_json("report/report.json")
    assert report["status"] == "completed"
    assert report["tool"]["version"] == shared.__version__ == \
        tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["version"]
    assert report["started"] == "2025-03-01T09:00:00+00:00" and report["attempts"] == 2
    assert datetime.fromisoformat(report["ended"]) > datetime.fromisoformat(report["started"])
    assert report["duration_s"] == round((datetime.fromisoformat(report["ended"])
                                          - datetime.fromisoformat(report["started"])).total_seconds())
    assert report["settings"] == {
        "source": "worketc-csv", "input": run.input, "target": TARGET, "timezone": "Europe/Berlin",
        "date_order": "MDY", "default_owner": "admin@contoso.example", "batch_size": 250, "chunk_size": 1000,
        "only": None, "skip": ["document"], "sample": None, "auto_approve": False, "owners": "wait"}
    assert report["inputs"] == [{"file": "companies.csv", "encoding": "utf-8", "encoding_reason": "valid UTF-8",
                                 "bytes": 1234, "sha256": "ab" * 32, "rows": 2}]
    assert {(f["file"], f["presence"]) for f in report["discovery"]} >= {("leads.csv", "empty"),
                                                                        ("deals.csv", "absent")}
    skipped = [o for o in report["objects"] if o["status"] == "skipped"]
    assert skipped == [{"object": "document", "table": "sharepointdocumentlocation", "status": "skipped",
                        "reason": "skipped by --skip"}]
    company = report["objects"][0]
    assert company["loaded"] == company["created"] + company["updated"] + company["unchanged"]
