"""What verification lists for report/mismatches.csv: values as text, and never an unbounded list."""

from __future__ import annotations

import csv
import io

from shared.objects import catalogue
from shared.problems import csv_text
from shared.staging import LocalStaging
from shared.steps import verify
from shared.steps.verify import MISMATCH_COLUMNS, _Tally, mismatch_rows

COMPANY = catalogue("worketc-csv")["company"]


def test_differences_past_the_listing_limit_are_counted_and_said(tmp_path, monkeypatch):
    monkeypatch.setattr(verify, "LISTED", 2)
    tally = _Tally("company")
    for i in range(5):
        tally.note(f"{i}", "different", "wtc_revenue", 10.5, {"odd": True})
    st = LocalStaging(tmp_path)
    st.write_json("objects/company/mismatches.json", {"rows": tally.listed, "unlisted": tally.unlisted})
    rows = mismatch_rows(st, COMPANY)
    assert [(r["key"], r["kind"], r["sent"], r["found"]) for r in rows] == [
        ("0", "different", "10.5", '{"odd": true}'), ("1", "different", "10.5", '{"odd": true}'),
        ("", "unlisted", "", "3 more not listed: the first 2 are")]
    assert list(csv.DictReader(io.StringIO(csv_text(MISMATCH_COLUMNS, rows))))[2]["kind"] == "unlisted"


def test_an_object_not_verified_lists_nothing(tmp_path):
    assert mismatch_rows(LocalStaging(tmp_path), COMPANY) == []
