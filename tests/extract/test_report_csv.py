"""Report CSVs: no cell a spreadsheet evaluates, no source value that blows a listing up, one writer."""

from __future__ import annotations

import csv
import io

import pytest

from shared.objects.worketc import WORKFLOW
from shared.problems import COLUMNS, Problem, csv_text, to_csv
from shared.steps import common

FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)",
            "\t=1+1", "\r=1+1", "=", "-", "+"]
NUMBERS = ["-12.5", "+3", "-0.25", "12", "-1e5"]


def cells(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_problem_columns_name_line_and_record():
    assert COLUMNS == ["object", "source_id", "stage", "code", "message", "file", "line", "record", "field", "value"]


@pytest.mark.parametrize("value", FORMULAS)
def test_a_formula_in_any_cell_of_rejects_and_warnings_is_neutralised(value):
    p = Problem("company", value, "transform", "invalid_value", value, file=value, line=3, record=2,
                field=value, value=value)
    (row,) = cells(to_csv([p, ]))
    for column in ("source_id", "message", "file", "field", "value"):
        assert row[column] == "'" + value, column
    (row,) = cells(to_csv([p.to_dict()]))  # problems read back from staging too
    assert row["value"] == "'" + value


@pytest.mark.parametrize("value", NUMBERS)
def test_a_plain_number_stays_a_number(value):
    (row,) = cells(to_csv([Problem("deal", "1", "transform", "invalid_value", "m", value=value)]))
    assert row["value"] == value


def test_listings_and_the_owner_queue_share_the_writer():
    assert common.csv_text is csv_text
    text = csv_text(["email", "name"], [{"email": "=cmd|' /C calc'!A0", "name": "@me"}, {"email": None}])
    assert cells(text) == [{"email": "'=cmd|' /C calc'!A0", "name": "'@me"}, {"email": "", "name": ""}]


def test_the_workflow_inventory_csv_is_neutralised_too():
    files, rejects = WORKFLOW.inventory([{"Name": "=HYPERLINK(\"x\")", "Trigger": "-when created", "Actions": "send"}])
    (row,) = cells(files["workflows.csv"])
    assert row["Name"] == "'=HYPERLINK(\"x\")" and row["Trigger"] == "'-when created" and not rejects


def test_a_huge_value_is_cut_and_says_how_long_it_was():
    huge = "x" * 1_000_000 + "END"
    p = Problem("company", "1", "transform", "invalid_value", f"{huge!r} is not a date; the value was not migrated",
                value=huge)
    assert len(p.value) <= 500 and "1000003 characters" in p.value and p.value.endswith("END")
    assert len(p.message) <= 1000 and p.message.endswith("the value was not migrated")
    text = to_csv([p, p.to_dict()])
    assert len(text) < 4000


def test_cells_are_cut_to_what_excel_holds():
    (row,) = cells(csv_text(["Actions"], [{"Actions": "a" * 100_000}]))
    assert len(row["Actions"]) <= 32_767 and "100000 characters" in row["Actions"]


def test_old_problem_dicts_with_row_are_read():
    p = Problem.from_dict({"object": "company", "source_id": "1", "stage": "extract", "code": "duplicate_key",
                           "message": "m", "file": "companies.csv", "row": 7})
    assert (p.line, p.record) == (7, None)
    assert cells(to_csv([{"object": "company", "code": "c", "row": 9}]))[0]["line"] == "9"
