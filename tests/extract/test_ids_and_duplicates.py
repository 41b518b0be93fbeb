"""Extraction: ids normalised once; duplicates keep the most recent row; keys Dataverse cannot tell
apart are rejected naming both rows; a rerun writes the same bytes; memory follows keys, not rows."""

from __future__ import annotations

from pathlib import Path

from emulators.sample_worketc import generate

HEADER = "EntityID,Name,Phone,DateModified\r\n"


async def test_spaced_keys_and_references_are_trimmed_once_at_extraction(export, extract):
    export("companies.csv", "EntityID,Name\r\n 10268 ,Acme\r\n10269,Beta\r\n")
    folder = export("contacts.csv", "EntityID,FirstName,LastName,CompanyID\r\n 5,Ann,Lee,10268 \r\n6,Bo,Li, \r\n")
    companies = await extract(folder, "company")
    assert [r["EntityID"] for r in companies.rows] == ["10268", "10269"]
    assert companies.summary["trimmed_ids"] == {"EntityID": 1}
    contacts = await extract(folder, "contact")
    ann, bo = contacts.staged("5"), contacts.staged("6")
    assert ann["CompanyID"] == "10268" and bo["CompanyID"] is None
    assert contacts.summary["trimmed_ids"] == {"CompanyID": 2, "EntityID": 1}
    assert contacts.rejects == []


async def test_ids_differing_only_in_case_or_accents_are_rejected_naming_both_rows(export, extract):
    folder = export("custom_fields.csv", "Object,Label,Type,Options\r\nCompany,Account Tier,Dropdown,A|B\r\n"
                                         "Company,Region,Text,\r\nCompany,ACCOUNT TIER,Text,\r\n"
                                         "Company,Région,Text,\r\n")
    got = await extract(folder, "custom_field")
    assert [r["Label"] for r in got.rows] == ["Account Tier", "Region"]
    first, second = got.rejects
    assert (first["code"], first["file"], first["line"], first["record"], first["field"], first["value"]) == \
        ("case_collision", "custom_fields.csv", 4, 3, "Label", "ACCOUNT TIER")
    assert "'Account Tier' (custom_fields.csv line 2)" in first["message"]
    assert second["line"] == 5 and "'Region' (custom_fields.csv line 3)" in second["message"]
    assert got.summary["source"] == got.summary["staged"] + got.summary["rejected"] == 4


async def test_a_duplicate_keeps_the_most_recently_modified_row(export, extract):
    folder = export("companies.csv", HEADER + "10268,Acme,02 9000 0000,2025-03-01T10:00:00\r\n"
                                              "1,Other,,2021-01-01\r\n"
                                              "10268,Acme,02 8000 0000,2020-06-30T09:00:00\r\n")
    got = await extract(folder, "company")
    assert got.staged("10268")["Phone"] == "02 9000 0000"
    (reject,) = got.rejects
    assert (reject["code"], reject["line"], reject["record"], reject["source_id"]) == ("duplicate_key", 4, 3, "10268")
    assert "companies.csv line 2, which was kept" in reject["message"]
    assert "2025-03-01T10:00:00" in reject["message"] and "2020-06-30T09:00:00" in reject["message"]

    # the later line, when it is the more recent one
    folder = export("companies.csv", HEADER + "10268,Acme,02 8000 0000,2020-06-30\r\n"
                                              "10268,Acme,02 9000 0000,2025-03-01\r\n")
    got = await extract(folder, "company", staging_name="again")
    assert got.staged("10268")["Phone"] == "02 9000 0000"
    assert [(r["line"], r["code"]) for r in got.rejects] == [(2, "duplicate_key")]


async def test_the_run_date_order_decides_which_is_more_recent(export, extract):
    # 01/02/2025 is 1 February (DMY) or 2 January (MDY); 15/01/2025 is only DMY, 01/15/2025 only MDY
    folder = export("companies.csv", HEADER + "7,Acme,111,01/02/2025\r\n7,Acme,222,20/01/2025\r\n")
    assert (await extract(folder, "company")).staged("7")["Phone"] == "111"
    folder = export("companies.csv", HEADER + "7,Acme,111,01/02/2025\r\n7,Acme,222,01/20/2025\r\n")
    assert (await extract(folder, "company", staging_name="mdy", date_order="MDY")).staged("7")["Phone"] == "222"


async def test_without_dates_the_later_line_is_kept_and_the_reject_says_so(export, extract):
    folder = export("companies.csv", HEADER + "7,Acme,111,\r\n7,Acme,222,\r\n7,Acme,333,not a date\r\n")
    got = await extract(folder, "company")
    assert got.staged("7")["Phone"] == "333"
    assert [r["line"] for r in got.rejects] == [2, 3]
    assert all("neither row has a readable DateModified, so the later line was kept" in r["message"]
               for r in got.rejects)
    # a readable date beats an unreadable one
    folder = export("companies.csv", HEADER + "7,Acme,111,2024-01-01\r\n7,Acme,222,yesterday\r\n")
    got = await extract(folder, "company", staging_name="dated")
    assert got.staged("7")["Phone"] == "111"
    assert "(2024-01-01) is readable and this row's (yesterday) is not" in got.rejects[0]["message"]


async def test_the_sample_exports_duplicate_company_keeps_its_later_copy(tmp_path, extract):
    dirt = generate(tmp_path / "sample", companies=40, seed=11)
    (dup,) = dirt["duplicate_ids"]["companies.csv"]
    got = await extract(tmp_path / "sample", "company")
    kept = got.staged(dup)
    (reject,) = [r for r in got.rejects if r["code"] == "duplicate_key"]
    assert reject["source_id"] == dup and reject["line"] < int(kept["_row"])
    assert got.summary["source"] == got.summary["staged"] + got.summary["rejected"]


async def test_a_rerun_of_extraction_is_byte_identical(tmp_path, extract):
    generate(tmp_path / "sample", companies=40, seed=11)
    first = await extract(tmp_path / "sample", "contact", staging_name="one")
    second = await extract(tmp_path / "sample", "contact", staging_name="two")

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert files(first.staging_path) == files(second.staging_path)
    assert first.summary["chunks"] and first.rejects


async def test_memory_follows_the_keys_not_the_rows(export, extract):
    body = "x" * 4000
    rows = "".join(f"{i},Company {i},{body},2024-01-{1 + i % 28:02d}\r\n" for i in range(5000))
    dups = "".join(f"{i},Company {i},{body},2025-01-01\r\n" for i in range(0, 5000, 500))
    folder = export("companies.csv", HEADER + rows + dups)  # 20 MB
    del rows, dups
    got = await extract(folder, "company", chunk_size=100, trace_memory=True)
    assert got.summary["staged"] == 5000 and got.summary["rejected"] == 10
    assert got.peak < 6_000_000, got.peak  # the key index and one chunk, not the file
