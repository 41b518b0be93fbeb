"""The spot-check sheet: one sheet per object and a summary, frozen header, auto-filter, differences
filled, and no source value ever a formula, in the .xlsx as in the CSV."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook

from shared.problems import CELL_LIMIT
from shared.spotcheck import DIFFERENT, NOT_COMPARED, SpotRow, write_sheet

FORMULA = '=HYPERLINK("http://evil.example/x","click")'


def rows() -> list:
    return [
        SpotRow("company", "10001", "Name", "name", "Acme", "Acme", "Acme", True),
        ("company", "10001", "Phone", "telephone1", FORMULA, FORMULA, "+61 3 9893 1569", False),
        ("company", "10002", "CompanyID", "parentaccountid", "7", "7", "lookup: not compared (why)", None),
        ("company", "10002", "Revenue", "revenue", "1.234,50", 1234.5, 1234.5, True),
        ("contact/x", "20001", "", "wtc_flag", None, True, False, False),
        ("contact_x", "20002", "Notes", "description", "a\x01b" + "x" * 40_000, "a\x01b", None, False),
    ]


def written(tmp_path):
    path, out = tmp_path / "spotcheck.xlsx", io.BytesIO()
    counts = write_sheet(rows(), path, out)
    return counts, load_workbook(path), out.getvalue().decode("utf-8")


def test_counts_and_one_sheet_per_object_after_the_summary(tmp_path):
    counts, wb, _ = written(tmp_path)
    assert counts == {"records": 4, "fields": 5, "different": 3, "not_compared": 1}
    assert wb.sheetnames == ["Summary", "company", "contact_x", "contact_x~2"]  # Excel refuses "/" in a name
    summary = [[c.value for c in r] for r in wb["Summary"].iter_rows(min_row=1, max_row=5)]
    assert summary[:5] == [["Object", "Records", "Fields compared", "Different", "Not compared"],
                           ["company", 2, 3, 1, 1], ["contact/x", 1, 1, 1, 0], ["contact_x", 1, 1, 1, 0],
                           ["total", 4, 5, 3, 1]]


def test_frozen_header_filter_widths_and_fills(tmp_path):
    _, wb, _ = written(tmp_path)
    ws = wb["company"]
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref == "A1:G5"
    assert wb["Summary"].freeze_panes == "A2" and wb["Summary"].auto_filter.ref == "A1:E4"  # totals stay shown
    assert [c.value for c in ws[1]] == ["Source key", "Field", "Target column", "Source value", "Value sent",
                                        "Value found", "Equal"]
    fills = [ws.cell(r, 1).fill.fgColor.rgb for r in range(2, 6)]
    assert fills == ["00000000", DIFFERENT.fgColor.rgb, NOT_COMPARED.fgColor.rgb, "00000000"]
    assert all(c.fill.fgColor.rgb == DIFFERENT.fgColor.rgb for c in ws[3])  # the whole row
    assert [ws.cell(r, 7).value for r in range(2, 6)] == ["yes", "no", "not compared", "yes"]
    assert 8 <= ws.column_dimensions["D"].width <= 60 and ws.column_dimensions["D"].width > len(FORMULA)


def test_a_value_is_never_a_formula(tmp_path):
    _, wb, text = written(tmp_path)
    cell = wb["company"]["D3"]
    assert (cell.value, cell.data_type, cell.quotePrefix) == (FORMULA, "s", True)
    assert not any(c.data_type == "f" for ws in wb for r in ws.iter_rows() for c in r)
    got = list(csv.DictReader(io.StringIO(text)))
    assert (got[1]["value_sent"], got[1]["value_found"]) == ("'" + FORMULA, "'+61 3 9893 1569")  # csv_text's rule
    assert [r["equal"] for r in got] == ["yes", "no", "not compared", "yes", "no", "no"]
    assert got[4]["value_sent"] == "true" and got[4]["value_found"] == "false"


def test_values_an_xlsx_cannot_hold_are_shown_and_clipped(tmp_path):
    _, wb, _ = written(tmp_path)
    ws = wb["contact_x~2"]
    assert ws["E2"].value == "a<U+0001>b"
    assert len(ws["D2"].value) < CELL_LIMIT and "characters in all" in ws["D2"].value


def test_text_stream_and_no_rows(tmp_path):
    out = io.StringIO()
    assert write_sheet([], tmp_path / "empty.xlsx", out) == {"records": 0, "fields": 0, "different": 0,
                                                            "not_compared": 0}
    assert out.getvalue().startswith("object,source_key,field")
    assert load_workbook(tmp_path / "empty.xlsx").sheetnames == ["Summary"]
