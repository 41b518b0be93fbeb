"""Encodings per file, decided over the whole file; rows in the other encoding repaired with a warning;
NUL characters removed with a warning."""

from __future__ import annotations

import codecs
import hashlib

from shared.sources.worketc.csv_export import detect_encoding, read_table

CP1252_ROWS = "".join(f"{i},Café Müller – “Größe” {i},Zürich\r\n" for i in range(2, 40))
UTF8_ROWS = "90,Jürgen Müller,Köln\r\n91,Siân Ó Súilleabháin,Dún Laoghaire\r\n"


def notes(row: dict) -> list[tuple[str, str]]:
    return [(w["field"], w["code"]) for w in row.get("_warnings", [])]


def test_a_cp1252_file_with_a_few_utf8_rows_is_cp1252_and_the_utf8_rows_are_repaired(export):
    data = ("EntityID,Name,City\r\n" + CP1252_ROWS).encode("cp1252") + UTF8_ROWS.encode("utf-8")
    r = read_table(export("companies.csv", data), "companies.csv")
    assert r.encoding == "cp1252"
    got = {row["EntityID"]: row for row in r}
    assert got["2"]["Name"] == "Café Müller – “Größe” 2" and not notes(got["2"])
    assert (got["90"]["Name"], got["90"]["City"]) == ("Jürgen Müller", "Köln")  # not MĂĽller, not MÃ¼ller
    assert notes(got["90"]) == [("Name", "encoding_repaired"), ("City", "encoding_repaired")]
    assert got["91"]["Name"] == "Siân Ó Súilleabháin" and got["91"]["City"] == "Dún Laoghaire"
    w = got["90"]["_warnings"][0]
    assert "UTF-8 text in a file read as cp1252" in w["message"] and w["value"] == "Jürgen Müller"
    assert all("_error" not in row for row in got.values())


def test_a_utf8_file_with_a_cp1252_row_repairs_that_row(export):
    good = "".join(f"{i},Grüße {i},Zürich\r\n" for i in range(2, 40))
    data = ("EntityID,Name,City\r\n" + good).encode() + "99,Bäckerei,Zürich\r\n".encode("cp1252")
    r = read_table(export("companies.csv", data), "companies.csv")
    assert r.encoding == "utf-8" and "cp1252" in r.encoding_reason
    last = list(r)[-1]
    assert (last["_row"], last["Name"], last["City"]) == (40, "Bäckerei", "Zürich")
    assert notes(last) == [("Name", "encoding_repaired"), ("City", "encoding_repaired")]
    assert "not UTF-8" in last["_warnings"][0]["message"]


def test_the_encoding_is_decided_over_the_whole_file(export):
    ascii_rows = "".join(f"{i},Company {i},Sydney\r\n" for i in range(2, 60_000))  # > 1 MiB
    data = ("EntityID,Name,City\r\n" + ascii_rows).encode() + "60000,Müller,Zürich\r\n".encode("cp1252")
    folder = export("companies.csv", data)
    assert detect_encoding(folder / "companies.csv")[0] == "cp1252"
    last = list(read_table(folder, "companies.csv"))[-1]
    assert last["Name"] == "Müller" and not notes(last)


def test_a_file_the_detector_is_sure_of_keeps_its_encoding(export):
    polish = "EntityID,Name,City\r\n1,Zażółć gęślą jaźń,Łódź\r\n"
    folder = export("companies.csv", polish, encoding="cp1250")
    r = read_table(folder, "companies.csv")
    assert r.encoding == "cp1250" and "confident" in r.encoding_reason
    assert [x["City"] for x in r] == ["Łódź"]


def test_nul_characters_are_removed_with_a_warning_naming_the_field(export):
    folder = export("companies.csv", "EntityID,Name,City\r\n1,Ac\x00me,\x00\r\n2,ok,ok\r\n")
    first, second = read_table(folder, "companies.csv")
    assert (first["Name"], first["City"]) == ("Acme", None)
    assert notes(first) == [("Name", "nul_removed"), ("City", "nul_removed")]
    assert "1 NUL character(s)" in first["_warnings"][0]["message"] and "_warnings" not in second


def test_describe_tells_encoding_size_and_sha256(export):
    data = codecs.BOM_UTF8 + "EntityID,Name\r\n1,a\r\n2,b\r\n".encode()
    r = read_table(export("companies.csv", data), "companies.csv")
    list(r)
    assert r.describe() == {"file": "companies.csv", "encoding": "utf-8-sig",
                            "encoding_reason": "UTF-8 byte order mark", "bytes": len(data),
                            "sha256": hashlib.sha256(data).hexdigest(), "rows": 2}


def test_a_custom_field_label_in_the_other_encoding_is_repaired_in_the_header(export):
    rows = "".join(f"{i},Müller {i},Gold\r\n" for i in range(1, 30)).encode("cp1252")
    folder = export("companies.csv", "EntityID,Name,Kundengröße\r\n".encode() + rows)
    r = read_table(folder, "companies.csv")
    assert r.encoding == "cp1252" and r.extra_columns == ["Kundengröße"]
    assert next(iter(r))["Kundengröße"] == "Gold"


def test_a_later_slice_reads_on_in_the_encoding_decided_at_the_start(tmp_path, monkeypatch):
    """Extraction reopens the file for every slice: the encoding decided from the file's first megabytes
    travels in the position, so a slice does not scan them again (20 scans of 8 MiB for 1M rows)."""
    from shared.sources.worketc import csv_export

    body = "EntityID,Name\r\n" + "".join(f"{i},Bäckerei München {i}\r\n" for i in range(1, 6))
    (tmp_path / "companies.csv").write_bytes(body.encode("cp1252"))
    first = csv_export.read_table(tmp_path, "companies.csv")
    assert [next(first)["Name"] for _ in range(2)] == ["Bäckerei München 1", "Bäckerei München 2"]
    position = first.position()
    first.close()

    def no_scan(*_a, **_k):
        raise AssertionError("the file's start was scanned again")

    monkeypatch.setattr(csv_export, "_scan", no_scan)
    rest = csv_export.read_table(tmp_path, "companies.csv", start=position)
    assert [r["Name"] for r in rest] == [f"Bäckerei München {i}" for i in range(3, 6)]
    assert rest.encoding == first.encoding and rest.encoding != "utf-8"
