"""Reconciliation: counts that add up (or a loud failure), rejects that name the refused field and
value, and owners' e-mail addresses kept out of what goes back to the orchestrator."""

from __future__ import annotations

import json

import pytest

from shared.errors import PermanentError
from shared.steps.reconcile import reconcile_object

from .staged import TOO_LONG, new_run, stage_companies


async def test_counts_add_up_and_the_owners_emails_stay_in_staging(tmp_path):
    run, st = new_run(tmp_path)
    stage_companies(st, [{"key": "1", "status": "created"}, {"key": "2", "status": "updated"},
                         {"key": "3", "status": "unchanged"}], owners={"pat@customer.example": 2})
    report = await reconcile_object({"run": run.model_dump(), "object": "company"})
    assert (report["source"], report["loaded"], report["created"], report["updated"], report["unchanged"],
            report["rejected"], report["queued"]) == (3, 3, 1, 1, 1, 0, 0)
    assert report["balanced"] and report["unknown_owner_records"] == 2
    assert "@" not in json.dumps(report)  # it goes into orchestration output and custom status
    assert "@" not in json.dumps(st.read_json("objects/company/report.json"))
    assert st.read_json("objects/company/problems.json")["unknown_owners"] == {"pat@customer.example": 2}


async def test_a_load_reject_names_the_column_and_the_value_dataverse_refused(tmp_path):
    run, st = new_run(tmp_path)
    long_name = "N" * 200
    stage_companies(st, [{"key": "1", "status": "created"},
                         {"key": "2", "status": "rejected", "code": "0x80044331", "message": TOO_LONG,
                          "name": long_name}])
    report = await reconcile_object({"run": run.model_dump(), "object": "company"})
    assert (report["loaded"], report["rejected"]) == (1, 1)
    [problem] = st.read_json("objects/company/problems.json")["rejects"]
    assert (problem["source_id"], problem["stage"], problem["code"], problem["field"], problem["value"]) == \
        ("2", "load", "0x80044331", "name", long_name)
    assert (problem["file"], problem["line"]) == ("companies.csv", 3)


async def test_counts_that_do_not_add_up_fail_loudly(tmp_path):
    run, st = new_run(tmp_path)
    stage_companies(st, [{"key": "1", "status": "created"}, {"key": "2", "status": "deleted"}])
    with pytest.raises(PermanentError, match=r"company: loaded 2 is not created 1 \+ updated 0 \+ unchanged 0"):
        await reconcile_object({"run": run.model_dump(), "object": "company"})
