"""read_table: streaming, encodings, quoting, header aliases, malformed rows and file-level errors."""

from __future__ import annotations

import csv
import io
import re
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.sources.worketc.csv_export import (
    COLUMNS,
    REQUIRED_FILES,
    SourceFileError,
    check_export,
    count_rows,
    detect_encoding,
    list_tables,
    read_table,
)


def rows_of(folder: Path, name: str, **kw) -> list[dict]:
    return list(read_table(folder, name, **kw))


def sub(row: dict, *keys: str) -> tuple:
    return tuple(row.get(k) for k in keys)


def strip_meta(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith("_")}


# ------------------------------------------------------------------------------- round trip

# any text Python's csv module can write and UTF-8 can encode (no lone surrogates)
cell = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30) | st.sampled_from(
    ["", " ", ",", '"', '""', "a,b", 'He said "hi"', "line1\nline2", "cr\ronly", "crlf\r\nx", "O'Brien",
     "Müller Größe", "🚀 emoji 👍🏽", "\ufeffbom-in-cell", "trailing space "])


@st.composite
def tables(draw):
    ncols = draw(st.integers(1, 6))
    rows = draw(st.lists(st.lists(cell, min_size=ncols, max_size=ncols), max_size=12))
    return [f"col{i}" for i in range(ncols)], rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=tables(), bom=st.booleans())
def test_any_table_written_by_csv_module_reads_back(tmp_path_factory, table, bom):
    folder = tmp_path_factory.mktemp("rt")
    header, rows = table
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(header)
    starts = []
    for r in rows:
        before = buf.getvalue()
        starts.append(len(re.findall(r"\r\n|\r|\n", before)) + 1)
        w.writerow(r)
    (folder / "table.csv").write_bytes(buf.getvalue().encode("utf-8-sig" if bom else "utf-8"))

    got = rows_of(folder, "table.csv")
    # a one-column row of an empty string is written as "" (not a blank line), so nothing is lost;
    # NUL characters are removed (Dataverse cannot store them), with a warning on the row
    assert [strip_meta(g) for g in got] == [{h: v.replace("\x00", "") or None for h, v in zip(header, r)}
                                            for r in rows]
    assert [bool(g.get("_warnings")) for g in got] == ["\x00" in "".join(r) for r in rows]
    assert [g["_row"] for g in got] == starts
    assert [g["_record"] for g in got] == list(range(1, len(rows) + 1))
    assert all(g["_file"] == "table.csv" and "_error" not in g for g in got)
    assert count_rows(folder, "table.csv") == len(rows)


def test_row_numbers_are_physical_lines_where_the_record_starts(export):
    folder = export("companies.csv", 'EntityID,Name\r\n1,"two\nlines"\r\n\r\n2,x\r\n3,"a\r\nb\r\nc"\r\n4,y')
    got = rows_of(folder, "companies.csv")
    assert [(r["_row"], r["EntityID"]) for r in got] == [(2, "1"), (5, "2"), (6, "3"), (9, "4")]
    assert got[2]["Name"] == "a\r\nb\r\nc"


def test_empty_cells_are_none_and_values_are_not_trimmed(export):
    folder = export("companies.csv", "EntityID,Name,Website\r\n1,, \r\n")
    (row,) = rows_of(folder, "companies.csv")
    assert row["Name"] is None and row["Website"] == " "


# ---------------------------------------------------------------------------------- encodings

def test_utf8_with_bom(export):
    folder = export("companies.csv", "EntityID,Name\r\n1,Müller 🚀\r\n", encoding="utf-8-sig")
    r = read_table(folder, "companies.csv")
    assert r.encoding == "utf-8-sig"
    assert [x["Name"] for x in r] == ["Müller 🚀"]
    assert r.columns[0] == "EntityID"


def test_cp1252_export_is_detected_and_named(export, caplog):
    text = "EntityID,Name,City\r\n" + "".join(f"{i},Café Müller – “Größe” {i},Zürich\r\n" for i in range(50))
    folder = export("companies.csv", text, encoding="cp1252")
    r = read_table(folder, "companies.csv")
    assert r.encoding == "cp1252"
    assert "charset-normalizer" in r.encoding_reason
    got = list(r)
    assert got[0]["Name"] == "Café Müller – “Größe” 0" and got[0]["City"] == "Zürich"
    assert "cp1252" in caplog.text


def test_utf16_with_bom(export):
    folder = export("companies.csv", "EntityID,Name\r\n1,Ærø\r\n", encoding="utf-16")
    r = read_table(folder, "companies.csv")
    assert r.encoding == "utf-16"
    assert [x["Name"] for x in r] == ["Ærø"]


def test_bytes_no_encoding_explains_make_that_row_an_error_naming_the_column(export):
    good = "".join(f"{i},Grüße {i},x\r\n" for i in range(2, 40))
    # 0x81 and 0x8d are neither UTF-8 nor cp1252 (the repair's fallback)
    data = ("EntityID,Name,City\r\n" + good).encode() + b"99,ok,Z\x81\x8drich\r\n100,fine,y\r\n"
    folder = export("companies.csv", data)
    r = read_table(folder, "companies.csv")
    assert r.encoding == "utf-8"
    got = list(r)
    bad = [g for g in got if "_error" in g]
    assert len(bad) == 1
    assert bad[0]["_row"] == 40 and bad[0]["_file"] == "companies.csv" and bad[0]["EntityID"] == "99"
    assert "'City'" in bad[0]["_error"] and "not valid utf-8" in bad[0]["_error"]
    assert sub(got[-1], "_file", "_row", "EntityID", "Name", "City") == ("companies.csv", 41, "100", "fine", "y")


def test_detect_encoding_plain_utf8(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes("a,b\r\n1,ü\r\n".encode())
    assert detect_encoding(p) == ("utf-8", "valid UTF-8")


# ----------------------------------------------------------------------------- malformed rows

def test_too_few_and_too_many_fields(export):
    folder = export("contacts.csv", "EntityID,FirstName,LastName\r\n1,a,b\r\n2,a\r\n3,a,b,c\r\n4,a,b,,\r\n5,x,y\r\n")
    got = rows_of(folder, "contacts.csv")
    assert [g.get("_error") is None for g in got] == [True, False, False, True, True]
    assert got[1]["_row"] == 3 and got[1]["EntityID"] == "2" and "expected 3 fields" in got[1]["_error"]
    assert "found 2" in got[1]["_error"]
    assert got[2]["_row"] == 4 and "found 4" in got[2]["_error"]
    assert got[3]["EntityID"] == "4" and got[3]["LastName"] == "b"  # trailing empty cells are harmless


def test_stray_quote_is_an_error_and_reading_goes_on(export):
    folder = export("companies.csv", 'EntityID,Name\r\n1,"He said "hi" there"\r\n2,ok\r\n')
    got = rows_of(folder, "companies.csv")
    assert got[0]["_row"] == 2 and "quot" in got[0]["_error"]
    assert sub(got[1], "_file", "_row", "EntityID", "Name", "_error") == ("companies.csv", 3, "2", "ok", None)


def test_unterminated_quote_at_eof(export):
    folder = export("companies.csv", 'EntityID,Name\r\n1,ok\r\n2,"never closed\r\n3,swallowed\r\n')
    got = rows_of(folder, "companies.csv")
    assert got[0]["EntityID"] == "1"
    assert len(got) == 2
    assert got[1]["_row"] == 3 and got[1]["_file"] == "companies.csv"
    assert "unterminated quoted field" in got[1]["_error"] and "line 3" in got[1]["_error"]
    assert count_rows(folder, "companies.csv") == 2


def test_runaway_quote_is_bounded_and_reported(tmp_path):
    from shared.sources.worketc.csv_export import TableReader

    body = "EntityID,Name\r\n1,\"open\r\n" + "".join(f"{i},row {i}\r\n" for i in range(2, 200))
    (tmp_path / "companies.csv").write_text(body)
    got = list(TableReader(tmp_path, "companies.csv", max_field_chars=100))
    assert "_error" in got[0] and got[0]["_row"] == 2 and "never closed" in got[0]["_error"]
    assert all("_error" not in g for g in got[1:]) and got[-1]["EntityID"] == "199"


# --------------------------------------------------------------------------------- the header

def test_header_aliases_are_trimmed_and_case_insensitive(export):
    folder = export("contacts.csv", " Entity ID ,first name,LAST_NAME,Email Address,Company ID,Favourite Colour\r\n"
                                    "7,Ann,Lee,ann@x.com,12,Teal\r\n")
    r = read_table(folder, "contacts.csv")
    (row,) = list(r)
    assert row["EntityID"] == "7" and row["FirstName"] == "Ann" and row["LastName"] == "Lee"
    assert row["Email"] == "ann@x.com" and row["CompanyID"] == "12"
    assert row["Favourite Colour"] == "Teal"  # a custom field keeps its label
    assert r.extra_columns == ["Favourite Colour"]
    assert r.renamed["Email Address"] == "Email"
    # contract columns the file lacks are present as None
    assert row["JobTitle"] is None and "JobTitle" in r.missing_columns


def test_custom_aliases_win_and_can_be_per_file(export):
    folder = export("companies.csv", "Kundennummer,Firma,Stadt\r\n1,ACME,Berlin\r\n")
    (row,) = rows_of(folder, "companies.csv",
                     aliases={"kundennummer": "EntityID", "Firma": "Name", "contacts.csv:Stadt": "City"})
    assert row["EntityID"] == "1" and row["Name"] == "ACME" and row["Stadt"] == "Berlin" and row["City"] is None
    (row,) = rows_of(folder, "companies.csv", aliases={"Kundennummer": "EntityID", "companies.csv:Stadt": "City"})
    assert row["City"] == "Berlin"


def test_trailing_empty_header_columns_are_ignored(export):
    folder = export("companies.csv", "EntityID,Name,,\r\n1,a,,\r\n")
    (row,) = rows_of(folder, "companies.csv")
    assert strip_meta(row)["Name"] == "a" and "" not in row


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("\r\n\r\n", "empty"),
    (",,\r\n1,2,3\r\n", "header line is empty"),
    ("EntityID,,Name\r\n", "column 2 has no name"),
    ("Name,Website\r\nACME,x\r\n", "required column 'EntityID'"),
    ("EntityID,Email,Email Address\r\n", "both the column 'Email'"),
    ('EntityID,"Name\r\n', "header line cannot be read"),
])
def test_file_level_problems_raise(export, content, message):
    folder = export("companies.csv", content)
    with pytest.raises(SourceFileError) as e:
        read_table(folder, "companies.csv")
    assert e.value.file == "companies.csv" and message in str(e.value)


def test_child_files_need_their_parent_reference(export):
    folder = export("invoice_lines.csv", "EntityID,Description\r\n1,x\r\n")
    with pytest.raises(SourceFileError, match="InvoiceID"):
        read_table(folder, "invoice_lines.csv")


# ------------------------------------------------------------------------------------ files

def test_missing_required_file_raises_and_missing_optional_yields_nothing(export):
    folder = export("companies.csv", "EntityID,Name\r\n")
    for name in REQUIRED_FILES[1:]:
        with pytest.raises(SourceFileError, match="required file is missing") as e:
            read_table(folder, name)
        assert e.value.file == name
    assert rows_of(folder, "tickets.csv") == []
    assert count_rows(folder, "tickets.csv") == 0
    with pytest.raises(SourceFileError):
        read_table(folder, "not_in_contract.csv")


def test_file_names_match_case_insensitively(export):
    folder = export("Companies.CSV", "EntityID,Name\r\n1,a\r\n")
    assert [r["Name"] for r in read_table(folder, "companies.csv")] == ["a"]


def test_list_tables_and_check_export(export):
    export("companies.csv", "EntityID,Name\r\n")
    export("contacts.csv", "EntityID,FirstName\r\n")
    folder = export("extra_stuff.csv", "a\r\n")
    tables = {t.file: t for t in list_tables(folder)}
    assert set(COLUMNS) <= set(tables)
    assert tables["companies.csv"].present and tables["companies.csv"].required
    assert not tables["users.csv"].present and tables["users.csv"].required
    assert not tables["tickets.csv"].present and not tables["tickets.csv"].required
    assert tables["extra_stuff.csv"].present and not tables["extra_stuff.csv"].known
    with pytest.raises(SourceFileError) as e:
        check_export(folder)
    assert e.value.file == "users.csv"
    export("users.csv", "EntityID,Name,Email,Role,Active\r\n")
    assert check_export(folder)


def test_streaming_uses_constant_memory(tmp_path):
    line = "{i},Company number {i} with a fairly long name,https://example{i}.com.au,\"Level 3, 1 George St\"\r\n"
    with open(tmp_path / "companies.csv", "w", newline="") as f:
        f.write("EntityID,Name,Website,Address1\r\n")
        for i in range(120_000):
            f.write(line.format(i=i))
    size = (tmp_path / "companies.csv").stat().st_size
    assert size > 10_000_000
    tracemalloc.start()
    try:
        n = 0
        for row in read_table(tmp_path, "companies.csv"):
            n += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert n == 120_000
    assert peak < 3_000_000, peak  # the 1 MiB encoding sample plus one record, not the file
