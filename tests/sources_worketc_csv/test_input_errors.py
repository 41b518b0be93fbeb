"""Input a migration engineer must fix gets one line naming the file, what was found and what to do
(an InputError: the run stops at once); an empty or missing optional file is not an error."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from shared.errors import InputError
from shared.objects.worketc import OBJECTS
from shared.sources import WorketcCsvSource
from shared.sources.worketc.csv_export import SourceFileError, list_tables, read_table

from .conftest import MIN_HEADERS


def full_export(export) -> Path:
    for name, text in MIN_HEADERS.items():
        folder = export(name, text)
    return folder


def one_line(e: pytest.ExceptionInfo) -> str:
    message = str(e.value)
    assert "\n" not in message
    return message


def test_a_missing_input_folder_says_so(tmp_path):
    missing = tmp_path / "nowhere"
    for attempt in (lambda: WorketcCsvSource(str(missing)), lambda: read_table(missing, "companies.csv"),
                    lambda: list_tables(missing)):
        with pytest.raises(InputError) as e:
            attempt()
        assert f"the WORKetc export folder {str(missing)!r} does not exist" in one_line(e)
    (tmp_path / "file.csv").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        WorketcCsvSource(str(tmp_path / "file.csv"))


def test_a_semicolon_separated_file_is_named_with_what_to_do(export):
    folder = export("companies.csv", "EntityID;Name;City\r\n1;Acme;Köln\r\n")
    with pytest.raises(InputError) as e:
        read_table(folder, "companies.csv")
    msg = one_line(e)
    assert msg.startswith("companies.csv: looks semicolon-separated")
    assert "WORKetc exports are comma-separated: export it again" in msg and "Comma delimited" in msg
    folder = export("contacts.csv", "EntityID\tFirstName\tLastName\r\n")
    with pytest.raises(SourceFileError, match="looks tab-separated"):
        read_table(folder, "contacts.csv")


def test_a_single_column_file_with_commas_in_no_header_is_not_taken_for_semicolons(export):
    folder = export("workflows.csv", "Name\r\nNightly; weekly\r\n")
    assert [r["Name"] for r in read_table(folder, "workflows.csv")] == ["Nightly; weekly"]


def workbook() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
    return buf.getvalue()


def test_a_workbook_where_a_csv_was_expected(export):
    folder = export("companies.csv", workbook())
    with pytest.raises(InputError) as e:
        read_table(folder, "companies.csv")
    assert one_line(e).startswith("companies.csv: is an Excel workbook (.xlsx")
    assert "save it as 'CSV UTF-8 (Comma delimited) (*.csv)'" in str(e.value)
    folder = export("tickets.xlsx", workbook())
    source = WorketcCsvSource(str(folder))
    with pytest.raises(InputError) as e:
        source.presence(OBJECTS["ticket"])
    assert one_line(e).startswith("tickets.csv: is missing, but the export folder has the workbook tickets.xlsx")
    with pytest.raises(InputError, match="tickets.xlsx"):
        read_table(folder, "tickets.csv")


def test_presence_tells_present_absent_and_empty(export):
    folder = full_export(export)
    export("tickets.csv", b"")
    export("deals.csv", "\ufeff\r\n".encode())
    export("leads.csv", "EntityID,FirstName\r\n")
    source = WorketcCsvSource(str(folder))
    got = {name: source.presence(OBJECTS[name]) for name in ("company", "ticket", "deal", "lead", "invoice")}
    assert got == {"company": "present", "ticket": "empty", "deal": "empty", "lead": "present", "invoice": "absent"}
    assert source.has(OBJECTS["ticket"]) and not source.has(OBJECTS["invoice"])
    assert list(source.rows(OBJECTS["ticket"])) == [] and list(source.rows(OBJECTS["deal"])) == []


def test_an_empty_required_file_is_an_error_saying_what_to_do(export):
    folder = export("companies.csv", b"")
    with pytest.raises(InputError) as e:
        read_table(folder, "companies.csv")
    assert "companies.csv: the file is empty" in one_line(e) and "export it again" in str(e.value)
