"""The extract summary: every reject and warning names file, line and record; the files read, with
their encoding, size and sha256."""

from __future__ import annotations

import hashlib


async def test_every_extract_problem_names_file_line_and_record(export, extract):
    data = ("EntityID,Name,City\r\n"
            "1,Acme,Sydney\r\n"
            "\r\n"                                   # a blank line: not a record
            ",No key,Perth\r\n"                      # line 4, record 2
            "3,\"two\r\nlines\",Hobart\r\n"          # line 5, record 3
            "4,bad,\"quote\r\n"                      # line 7, record 4: unterminated
            ).encode("utf-8")
    folder = export("companies.csv", data.replace(b"Perth", b"P\x00erth"))
    got = await extract(folder, "company")
    assert [(r["code"], r["file"], r["line"], r["record"]) for r in got.rejects] == [
        ("missing_key", "companies.csv", 4, 2), ("malformed_row", "companies.csv", 7, 4)]
    (w,) = got.warnings
    assert (w["code"], w["file"], w["line"], w["record"], w["field"], w["value"]) == \
        ("nul_removed", "companies.csv", 4, 2, "City", "Perth")
    assert [(r["EntityID"], r["_row"], r["_record"]) for r in got.rows] == [("1", 2, 1), ("3", 5, 3)]
    assert got.summary["source"] == 4 == got.summary["staged"] + got.summary["rejected"]
    assert got.summary["warned"] == 1


async def test_the_summary_lists_the_file_with_its_encoding(export, extract):
    rows = "".join(f"{i},Café Müller {i},Zürich\r\n" for i in range(1, 30))
    data = ("EntityID,Name,City\r\n" + rows).encode("cp1252") + "30,Jürgen Müller,Köln\r\n".encode()
    folder = export("companies.csv", data)
    got = await extract(folder, "company")
    (f,) = got.summary["files"]
    assert (f["file"], f["encoding"], f["bytes"], f["sha256"], f["rows"]) == \
        ("companies.csv", "cp1252", len(data), hashlib.sha256(data).hexdigest(), 30)
    assert got.staged("30")["Name"] == "Jürgen Müller"
    assert [(w["code"], w["line"], w["record"], w["field"], w["source_id"]) for w in got.warnings] == [
        ("encoding_repaired", 31, 30, "Name", "30"), ("encoding_repaired", 31, 30, "City", "30")]


async def test_an_empty_optional_file_extracts_no_rows(export, extract):
    folder = export("tickets.csv", b"")
    got = await extract(folder, "ticket")
    assert (got.summary["source"], got.summary["staged"], got.rows) == (0, 0, [])
    assert got.summary["files"][0]["bytes"] == 0


async def test_the_step_returns_counts_not_the_problems_even_when_resumed(export, tmp_path):
    from shared.run import RunConfig
    from shared.steps.extract import extract_object

    folder = export("companies.csv", "EntityID,Name\r\n1,Jane Citizen\r\n1,Jane Citizen\r\n")
    run = RunConfig(run_id="resume-test", input=str(folder), target="https://contoso.crm.dynamics.com",
                    staging=str(tmp_path / "staging"))
    payload = {"run": run.model_dump(), "object": "company"}
    first = await extract_object(payload)
    again = await extract_object(payload)  # the summary is staged: read, not redone
    assert first == again and first["rejected"] == 1
    assert "rejects" not in first and "Jane Citizen" not in str(first)
