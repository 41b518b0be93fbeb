"""Offene Posten land where the map setting ``open_items_as`` says: the custom table w4a_openitem bound to the
customer's account (the default), or an open opportunity-style receivable of that account (``receivable``). Each
way a whole run of W1's sample export, its Dataverse rows read field by field; the counts balance."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shared.mapping import MappingFile, ObjectMapping, dump, load, validate
from shared.mapping.apply import MapApplyError, spec_for
from shared.objects import catalogue
from shared.sources.work4all import values
from shared.sources.work4all.export import read_table

from .conftest import migrated_snapshot

COLUMNS = "w4a_amount,w4a_paid,w4a_openamount,w4a_reconciliation,w4a_type,w4a_invoicedate,w4a_duedate,w4a_sourceid"
READS = {
    "w4a_openitems": f"w4a_openitemid,w4a_name,_w4a_accountid_value,{COLUMNS}",
    "opportunities": f"opportunityid,name,estimatedvalue,estimatedclosedate,statecode,statuscode,closeprobability,"
                     f"salesstage,_customerid_value,_parentaccountid_value,{COLUMNS}",
    "accounts": "accountid,w4a_sourceid",
}


@pytest.fixture(scope="module")
def openitem_run(w4a_export, tmp_path_factory) -> dict:
    return migrated_snapshot(w4a_export, tmp_path_factory.mktemp("w4a-openitem"), READS, run_id="w4a-op-default")


@pytest.fixture(scope="module")
def receivable_run(w4a_export, tmp_path_factory) -> dict:
    reads = {k: v for k, v in READS.items() if k != "w4a_openitems"}  # not created (test_open_items_table.py)
    return migrated_snapshot(w4a_export, tmp_path_factory.mktemp("w4a-receivable"), reads,
                             settings={"offener_posten": {"open_items_as": "receivable"}}, run_id="w4a-op-receivable")


def by_key(rows: list[dict]) -> dict[str, dict]:
    return {r["w4a_sourceid"]: r for r in rows if r.get("w4a_sourceid")}


def expected(export, dirt) -> dict[str, dict]:
    """Per open item Code: the amounts the reconciliation gives (signed; open amounts from the sample's dirt)."""
    out = {}
    for s in read_table(export, "OffenePosten"):
        amount = values.parse_number(s["Rechnungsbetrag"].lstrip("'"))
        out[s["Code"]] = {"src": s, "amount": (-1 if s["Art"] == "Gutschrift" else 1) * abs(amount)}
    for code, open_amount in dirt["open_amounts"].items():
        out[code]["open"] = Decimal(open_amount)
    return out


def balanced(snapshot: dict) -> dict:
    o = next(o for o in snapshot["report"]["objects"] if o["object"] == "offener_posten")
    assert o["source"] == o["loaded"] + o["rejected"] + o.get("queued", 0), o
    assert o.get("mismatched", 0) == 0 and o.get("missing", 0) == 0, o
    return o


def test_by_default_open_items_are_w4a_openitem_rows_of_their_account(openitem_run, w4a_export, dirt):
    rows = openitem_run["rows"]
    items = by_key(rows["w4a_openitems"])
    accounts = {a["accountid"]: a["w4a_sourceid"] for a in rows["accounts"]}
    assert not [k for k in by_key(rows["opportunities"]) if k.startswith("posten-")]
    rejected = {r["source_id"] for r in openitem_run["rejects"] if r["object"] == "offener_posten"}
    for code, x in expected(w4a_export, dirt).items():
        if code in rejected:
            continue
        s, i = x["src"], items[f"posten-{code}"]
        assert i["w4a_name"] == s["Rechnungsnummer"]
        assert Decimal(str(i["w4a_amount"])) == x["amount"]
        if "open" in x:
            assert Decimal(str(i["w4a_openamount"])) == x["open"]
        assert accounts[i["_w4a_accountid_value"]] == f"kunde-{s['KundenCode']}"
        assert (i["w4a_type"], i["w4a_duedate"]) == (s["Art"], values.parse_date(s["Faellig"]).isoformat())
    assert balanced(openitem_run)["loaded"] == len(items)
    notes = next(o for o in openitem_run["report"]["objects"] if o["object"] == "offener_posten")["notes"]
    assert "Map setting open_items_as: openitem (the default)." in notes


def test_as_receivables_open_items_are_open_opportunities_of_their_account(receivable_run, w4a_export, dirt):
    rows = receivable_run["rows"]
    opps = by_key(rows["opportunities"])
    accounts = {a["accountid"]: a["w4a_sourceid"] for a in rows["accounts"]}
    rejected = {r["source_id"] for r in receivable_run["rejects"] if r["object"] == "offener_posten"}
    loaded = 0
    for code, x in expected(w4a_export, dirt).items():
        if code in rejected:
            continue
        s, o = x["src"], opps[f"posten-{code}"]
        loaded += 1
        assert o["name"] == f"Offener Posten {s['Rechnungsnummer']}"
        assert (o["statecode"], o["statuscode"]) == (0, 1), "left open"
        assert o["closeprobability"] is None and o["salesstage"] is None
        assert accounts[o["_customerid_value"]] == accounts[o["_parentaccountid_value"]] == f"kunde-{s['KundenCode']}"
        assert o["estimatedclosedate"] == values.parse_date(s["Faellig"]).isoformat()
        assert Decimal(str(o["w4a_amount"])) == x["amount"]
        if "open" in x:
            assert Decimal(str(o["estimatedvalue"])) == Decimal(str(o["w4a_openamount"])) == x["open"]
        assert o["w4a_reconciliation"] and o["w4a_type"] == s["Art"]
    assert balanced(receivable_run)["loaded"] == loaded
    # Verkaufschancen are untouched beside them (their own keys)
    chances = {v["Code"] for v in read_table(w4a_export, "Verkaufschancen")}
    assert chances & set(opps)
    notes = next(o for o in receivable_run["report"]["objects"] if o["object"] == "offener_posten")["notes"]
    assert "Map setting open_items_as: receivable." in notes
    assert any("lossy" in n for n in notes)


def test_a_setting_the_object_does_not_have_or_a_value_it_does_not_know_is_refused():
    spec = catalogue("work4all-export")["offener_posten"]
    mapping = MappingFile("work4all", [ObjectMapping("offener_posten", spec.file, spec.table,
                                                     options={"open_items_as": "ledger", "invoices_as": "invoice"})])
    text = dump(mapping)
    assert "options: {open_items_as: ledger, invoices_as: invoice}" in text
    again = load(text)
    assert again.object("offener_posten").options == {"open_items_as": "ledger", "invoices_as": "invoice"}
    codes = {e.code for e in validate(again, {})}
    assert {"unknown_option", "bad_option_value"} <= codes
    with pytest.raises(MapApplyError, match="open_items_as: 'ledger' is not one of openitem, receivable"):
        spec_for(spec, ObjectMapping("offener_posten", spec.file, spec.table, options={"open_items_as": "ledger"}))
    # a setting changes the map's hash (the approval covers it); a map without settings keeps its old hash
    plain = MappingFile("work4all", [ObjectMapping("offener_posten", spec.file, spec.table)])
    chosen = MappingFile("work4all", [ObjectMapping("offener_posten", spec.file, spec.table,
                                                    options={"open_items_as": "receivable"})])
    assert plain.content_hash() != chosen.content_hash()
    assert "options" not in plain.canonical()["objects"]["offener_posten"]
