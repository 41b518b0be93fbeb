"""The sample export generator: deterministic, complete per the contract, referentially sound, dirty on purpose."""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from pathlib import Path

import pytest

from emulators.sample_worketc import CUSTOM_FIELDS, generate, main
from shared.sources.worketc.csv_export import COLUMNS, check_export, count_rows, read_table
from shared.sources.worketc.values import (
    FieldError,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_email,
    parse_int,
    parse_options,
)

OBJECT_FILE = {"Company": "companies.csv", "Contact": "contacts.csv", "Lead": "leads.csv", "Deal": "deals.csv",
               "Project": "projects.csv", "Ticket": "tickets.csv", "Invoice": "invoices.csv"}


def load(folder: Path) -> dict[str, list[dict]]:
    return {name: list(read_table(folder, name)) for name in COLUMNS}


@pytest.fixture(scope="module")
def data(sample):
    folder, dirt, users = sample
    return folder, dirt, users, load(folder)


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {r["EntityID"]: r for r in rows}


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------ determinism

def test_same_seed_gives_identical_bytes(tmp_path):
    generate(tmp_path / "a" / "export", companies=40, seed=5, large_file_mb=1)
    generate(tmp_path / "b" / "export", companies=40, seed=5, large_file_mb=1)
    a, b = tree_bytes(tmp_path / "a"), tree_bytes(tmp_path / "b")
    assert a.keys() == b.keys() and a == b
    assert "provisioned_users.json" in a and "expected_dirt.json" in a
    generate(tmp_path / "c" / "export", companies=40, seed=6)
    c = tree_bytes(tmp_path / "c")
    assert c["export/companies.csv"] != a["export/companies.csv"]


def test_cli(tmp_path):
    users = tmp_path / "seed" / "users.json"
    assert main(["--out", str(tmp_path / "x" / "export"), "--companies", "30", "--seed", "2",
                 "--users-out", str(users)]) == 0
    assert json.loads(users.read_text(encoding="utf-8"))
    assert (tmp_path / "x" / "expected_dirt.json").is_file()
    assert not (tmp_path / "x" / "provisioned_users.json").exists()
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "y"), "--companies", "3"])


@pytest.mark.slow
def test_ten_thousand_companies_in_a_few_seconds(tmp_path):
    t = time.perf_counter()
    dirt = generate(tmp_path / "export", companies=10_000, seed=1)
    assert time.perf_counter() - t < 15
    assert dirt["counts"]["contacts.csv"] > 25_000 and dirt["counts"]["deals.csv"] == 10_000
    assert count_rows(tmp_path / "export", "contacts.csv") == dirt["counts"]["contacts.csv"]


# --------------------------------------------------------------------------- per the contract

def test_every_file_parses_cleanly_with_the_contract_header(data):
    folder, dirt, _, tables = data
    check_export(folder)
    for name, rows in tables.items():
        assert not [r for r in rows if "_error" in r], name
        assert len(rows) == dirt["counts"][name] == count_rows(folder, name), name
        reader = read_table(folder, name)
        labels = [c[1] for c in CUSTOM_FIELDS if OBJECT_FILE.get(c[0]) == name]
        assert reader.columns == list(COLUMNS[name]) + labels, name
        assert reader.missing_columns == []
        reader.close()
    assert read_table(folder, "companies.csv").encoding == "utf-8-sig"


def test_sizes_scale_with_companies(data):
    _, dirt, _, _ = data
    n = dirt["companies"]
    c = dirt["counts"]
    assert c["companies.csv"] == n + 1  # one duplicate
    assert 2 * n < c["contacts.csv"] < 4 * n
    assert c["leads.csv"] == c["deals.csv"] == c["tickets.csv"] == c["invoices.csv"] == n
    assert c["ticket_messages.csv"] > n and c["invoice_lines.csv"] > n and c["activities.csv"] == 4 * n


def test_custom_fields_cover_every_type_and_values_parse(data):
    _, dirt, _, tables = data
    defs = tables["custom_fields.csv"]
    assert {d["Type"] for d in defs} == {"Text", "TextArea", "Dropdown", "Date", "Number", "Checkbox"}
    assert {d["Object"] for d in defs} >= {"Company", "Contact", "Deal"}
    bad_dropdown = {(d["file"], d["id"], d["column"]) for d in dirt["dropdown_not_in_options"]}
    for d in defs:
        rows = tables[OBJECT_FILE[d["Object"]]]
        values = [r for r in rows if r[d["Label"]] is not None]
        assert values, d["Label"]
        for r in values:
            v = r[d["Label"]]
            if d["Type"] == "Dropdown":
                inside = v in parse_options(d["Options"])
                assert inside != ((OBJECT_FILE[d["Object"]], r["EntityID"], d["Label"]) in bad_dropdown)
            elif d["Type"] == "Date":
                parse_date(v, "DMY")
            elif d["Type"] == "Number":
                parse_decimal(v)
            elif d["Type"] == "Checkbox":
                assert parse_bool(v) is not None


# ----------------------------------------------------------------------------- relationships

def test_references_resolve(data):
    folder, dirt, _, t = data
    companies = by_id(t["companies.csv"])
    contacts = by_id(t["contacts.csv"])
    deals, tickets, invoices = by_id(t["deals.csv"]), by_id(t["tickets.csv"]), by_id(t["invoices.csv"])
    dirty = set(dirt["orphan_contacts"]) | set(dirt["contacts_without_company"])
    for r in t["contacts.csv"]:
        if r["EntityID"] in dirt["orphan_contacts"]:
            assert r["CompanyID"] and r["CompanyID"] not in companies
        elif r["EntityID"] in dirt["contacts_without_company"]:
            assert r["CompanyID"] is None
        else:
            assert r["CompanyID"] in companies
    for r in t["deals.csv"]:
        assert r["CompanyID"] in companies
        if r["ContactID"]:
            assert r["ContactID"] not in dirty and contacts[r["ContactID"]]["CompanyID"] == r["CompanyID"]
        assert r["Status"] in ("Open", "Won", "Lost")
    for r in t["projects.csv"]:
        assert r["CompanyID"] in companies
        if r["DealID"]:
            assert deals[r["DealID"]]["Status"] == "Won" and deals[r["DealID"]]["CompanyID"] == r["CompanyID"]
    stage_types = {(s["ProjectType"], s["Stage"]) for s in t["project_stages.csv"]}
    assert {(p["ProjectType"], p["Stage"]) for p in t["projects.csv"]} <= stage_types
    for ptype in {s["ProjectType"] for s in t["project_stages.csv"]}:
        assert sum(int(s["WeightPercent"]) for s in t["project_stages.csv"] if s["ProjectType"] == ptype) == 100
    for r in t["tickets.csv"]:
        assert r["CompanyID"] in companies and (r["ContactID"] is None or r["ContactID"] in contacts)
    assert all(m["TicketID"] in tickets for m in t["ticket_messages.csv"])
    assert {m["Direction"] for m in t["ticket_messages.csv"]} == {"Incoming", "Outgoing"}
    lines_of: dict[str, list[dict]] = {}
    for line in t["invoice_lines.csv"]:
        assert line["InvoiceID"] in invoices
        lines_of.setdefault(line["InvoiceID"], []).append(line)
    for inv in t["invoices.csv"]:
        lines = lines_of[inv["EntityID"]]
        assert sum(parse_decimal(x["LineTotal"]) for x in lines) == parse_decimal(inv["Subtotal"])
        assert parse_decimal(inv["Subtotal"]) + parse_decimal(inv["Tax"]) == parse_decimal(inv["Total"])
    regard = {"Company": companies, "Contact": contacts, "Lead": by_id(t["leads.csv"]), "Deal": deals,
              "Project": by_id(t["projects.csv"]), "Ticket": tickets}
    assert {a["Type"] for a in t["activities.csv"]} == {"Call", "Email", "Meeting", "Task", "Note"}
    for a in t["activities.csv"] + t["documents.csv"]:
        assert a["RegardingID"] in regard[a["RegardingType"]]
    for c in t["contractors.csv"]:
        assert c["CompanyID"] is None or c["CompanyID"] in companies
    assert {c["EntityID"] for c in t["contractors.csv"] if c["Email"] is None} == set(dirt["contractors_without_email"])


def test_documents_match_their_files(data):
    folder, dirt, _, t = data
    files = sorted(p.relative_to(folder / "files").as_posix() for p in (folder / "files").rglob("*") if p.is_file())
    assert files == sorted(d["Path"] for d in t["documents.csv"])
    mimes = set()
    for d in t["documents.csv"]:
        data_ = (folder / "files" / d["Path"]).read_bytes()
        assert len(data_) == int(d["SizeBytes"]) and hashlib.sha256(data_).hexdigest() == d["Sha256"]
        assert d["Path"].endswith(d["FileName"])
        mimes.add(d["MimeType"])
    assert {"application/pdf", "image/png", "text/plain", "text/csv", "application/zip"} <= mimes
    assert (folder / "files" / t["documents.csv"][1]["Path"]).read_bytes().startswith(b"\x89PNG")
    large = dirt["large_files"]
    assert [x["size"] for x in large] == [1024 * 1024, 512 * 1024 + 12345]
    assert {x["path"] for x in large} <= set(files)


def test_owners_users_and_provisioning(data):
    _, dirt, provisioned, t = data
    emails = {u["Email"] for u in t["users.csv"]}
    prov = {u["internalemailaddress"] for u in provisioned}
    assert all(set(u) == {"internalemailaddress", "fullname"} for u in provisioned)
    assert all(e == e.lower() for e in prov) and prov < {e.lower() for e in emails}
    assert {e.lower() for e in emails} - prov == {e.lower() for e in dirt["unprovisioned_users"]}
    inactive = {u["Email"] for u in t["users.csv"] if parse_bool(u["Active"]) is False}
    assert inactive == set(dirt["inactive_users"]) and inactive <= set(dirt["unprovisioned_users"])
    (mixed,) = dirt["owner_email_case_mismatch"]
    assert mixed in emails and mixed != mixed.lower() and mixed.lower() in prov
    flagged = {(x["file"], x["id"]) for x in dirt["records_with_unprovisioned_owner"] +
               dirt["records_with_inactive_owner"]}
    assert {f for f, _ in flagged} >= {"companies.csv", "contacts.csv", "deals.csv"}
    for name in ("companies.csv", "contacts.csv", "leads.csv", "deals.csv", "projects.csv", "tickets.csv",
                 "activities.csv", "documents.csv"):
        for r in t[name]:
            assert r["OwnerEmail"] in emails
            unknown = r["OwnerEmail"].lower() not in prov
            assert unknown == ((name, r["EntityID"]) in flagged), (name, r["EntityID"])


# ------------------------------------------------------------------------------------ dirt

def test_dirt_is_where_expected_dirt_says(data):
    _, dirt, _, t = data
    rows = {name: by_id(t[name]) for name in ("companies.csv", "contacts.csv", "deals.csv")}
    for kind in ("apostrophes", "umlauts", "emoji", "bad_emails", "ddmmyyyy_dates", "dropdown_not_in_options"):
        assert len(dirt[kind]) >= 2, kind
        for d in dirt[kind]:
            assert rows[d["file"]][d["id"]][d["column"]] == d["value"], (kind, d)
    assert any("'" in d["value"] for d in dirt["apostrophes"])
    assert any(ch in d["value"] for d in dirt["umlauts"] for ch in "äöüÄÖÜß")
    assert all(any(ord(ch) > 0xFFFF or 0x2600 <= ord(ch) < 0x2800 for ch in d["value"]) for d in dirt["emoji"])
    for d in dirt["bad_emails"]:
        with pytest.raises(FieldError):
            parse_email(d["value"])
    for d in dirt["ddmmyyyy_dates"]:
        parse_datetime(d["value"], "DMY")
        with pytest.raises(FieldError):
            parse_datetime(d["value"], "MDY")
    for d in dirt["overlong"]:
        v = rows[d["file"]][d["id"]][d["column"]]
        assert len(v) == d["length"] > {"Name": 160, "JobTitle": 100}[d["column"]]
    cn = dirt["commas_and_newlines"]
    assert any("\n" in rows[d["file"]][d["id"]][d["column"]] for d in cn)
    assert any("," in rows[d["file"]][d["id"]][d["column"]] for d in cn)
    assert len(dirt["orphan_contacts"]) >= 2 and len(dirt["contacts_without_company"]) >= 2


def test_duplicate_entity_ids(data):
    _, dirt, _, t = data
    for name in ("companies.csv", "contacts.csv"):
        counts = Counter(r["EntityID"] for r in t[name])
        assert [i for i, n in counts.items() if n > 1] == dirt["duplicate_ids"][name]
    for name in ("leads.csv", "deals.csv", "invoices.csv", "documents.csv", "activities.csv"):
        assert len({r["EntityID"] for r in t[name]}) == len(t[name])


def test_regular_values_parse(data):
    _, _, _, t = data
    for r in t["deals.csv"]:
        parse_decimal(r["Amount"]), parse_int(r["Probability"]), parse_date(r["CloseDate"], "DMY")
        parse_datetime(r["DateCreated"])
    for r in t["companies.csv"] + t["contacts.csv"]:
        parse_datetime(r["DateCreated"], "DMY")
    assert all(parse_bool(r["Converted"]) is not None for r in t["leads.csv"])
    kb = t["kb_articles.csv"]
    assert kb and all(r["Body"].startswith("<h2>") and "</p>" in r["Body"] for r in kb)
    assert t["workflows.csv"] and all(parse_bool(w["Active"]) is not None for w in t["workflows.csv"])
