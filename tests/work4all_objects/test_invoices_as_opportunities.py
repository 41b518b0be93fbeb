"""Rechnungen (invoices of won business) as won opportunities with opportunityproduct lines (the default, as the
seed says), or as Dynamics invoices with invoicedetail lines (map setting ``invoices_as: invoice``); Gutschriften
stay invoices either way. Each way a whole run of W1's sample export, its Dataverse rows read field by field."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from emulators.dataverse.core import create_core_app
from shared.sources.work4all import values
from shared.sources.work4all.export import read_table

from .conftest import migrated_snapshot

OPPORTUNITY = ("opportunityid,name,estimatedvalue,actualvalue,estimatedclosedate,actualclosedate,statecode,statuscode,"
               "w4a_net,w4a_gross,w4a_documenttype,w4a_salesopportunity,w4a_sourceid,_customerid_value,"
               "_parentaccountid_value,_pricelevelid_value,_transactioncurrencyid_value")
READS = {
    "opportunities": OPPORTUNITY,
    "opportunityproducts": "opportunityproductid,w4a_sourceid,_opportunityid_value,_productid_value,quantity,"
                           "priceperunit,manualdiscountamount,isproductoverridden,productdescription,w4a_linetotal",
    "opportunitycloses": "activityid,_opportunityid_value,subject,actualrevenue,actualend,statecode",
    "invoices": "invoiceid,name,invoicenumber,w4a_gross,w4a_sourceid,_customerid_value",
    "invoicedetails": "invoicedetailid,w4a_sourceid,_invoiceid_value,quantity,priceperunit",
    "accounts": "accountid,w4a_sourceid",
    "products": "productid,w4a_sourceid",
}


def money(raw: str | None) -> float | None:
    n = values.parse_number(raw)
    return None if n is None else float(n)


@pytest.fixture(scope="module")
def default_run(w4a_export, tmp_path_factory) -> dict:
    return migrated_snapshot(w4a_export, tmp_path_factory.mktemp("w4a-default"), READS, run_id="w4a-invoices-default")


@pytest.fixture(scope="module")
def invoice_run(w4a_export, tmp_path_factory) -> dict:
    return migrated_snapshot(w4a_export, tmp_path_factory.mktemp("w4a-invoice"), READS,
                             settings={"beleg": {"invoices_as": "invoice"}}, run_id="w4a-invoices-invoice")


def by_key(rows: list[dict]) -> dict[str, dict]:
    return {r["w4a_sourceid"]: r for r in rows if r.get("w4a_sourceid")}


def belege(export, dirt, kind: str) -> list[dict]:
    """The Belege of a Belegart that have lines (those without are rejected no_lines either way)."""
    return [b for b in read_table(export, "Belege") if b["Belegart"] == kind
            and b["Code"] not in set(dirt["belege_without_positionen"])]


def lines_of(export, codes: set[str]) -> list[dict]:
    return [p for p in read_table(export, "Belegpositionen") if p["BelegCode"] in codes]


def balanced(snapshot: dict, *names: str) -> None:
    objects = {o["object"]: o for o in snapshot["report"]["objects"]}
    for name in names:
        o = objects[name]
        assert o["source"] == o["loaded"] + o["rejected"] + o.get("queued", 0), o
        assert o.get("mismatched", 0) == 0 and o.get("missing", 0) == 0, o


def test_by_default_a_rechnung_is_a_won_opportunity_closed_on_its_date(default_run, w4a_export, dirt):
    rows = default_run["rows"]
    opps, invoices = by_key(rows["opportunities"]), by_key(rows["invoices"])
    accounts = {a["accountid"]: a["w4a_sourceid"] for a in rows["accounts"]}
    rechnungen = belege(w4a_export, dirt, "Rechnung")
    assert rechnungen
    for b in rechnungen:
        key = f"beleg-{b['Code']}"
        assert key not in invoices
        o = opps[key]
        net, day = money(b["Netto"]), values.parse_date(b["Datum"]).isoformat()
        assert o["name"] == f"Rechnung {b['Nummer']}"
        assert (o["estimatedvalue"], o["actualvalue"], o["w4a_net"], o["w4a_gross"]) == \
            (net, net, net, money(b["Brutto"]))
        assert (o["estimatedclosedate"], o["actualclosedate"]) == (day, day)
        assert (o["statecode"], o["statuscode"]) == (1, 3), "won"
        assert accounts[o["_customerid_value"]] == accounts[o["_parentaccountid_value"]] == f"kunde-{b['KundenCode']}"
        assert o["w4a_documenttype"] == "Rechnung"
        assert o["w4a_salesopportunity"] == (b["VerkaufschanceCode"] or None)  # its own record, not the chance
        assert o["_pricelevelid_value"] and o["_transactioncurrencyid_value"]
    # Verkaufschancen keep their own keys and status: a Rechnung never wins one of them
    chances = {v["Code"]: v["Status"] for v in read_table(w4a_export, "Verkaufschancen")}
    for code, status in chances.items():
        if code in opps:
            assert opps[code]["statecode"] == {"Gewonnen": 1, "Verloren": 2, "Offen": 0}[status]
    for b in belege(w4a_export, dirt, "Gutschrift"):  # credit memos stay invoices
        assert f"beleg-{b['Code']}" in invoices and f"beleg-{b['Code']}" not in opps
    balanced(default_run, "beleg", "belegposition")


def test_its_lines_are_opportunity_products_written_before_it_was_won_again(default_run, w4a_export, dirt):
    rows = default_run["rows"]
    opps = by_key(rows["opportunities"])
    ids = {o["opportunityid"]: k for k, o in opps.items()}
    products = {p["productid"]: p["w4a_sourceid"] for p in rows["products"]}
    lines = by_key(rows["opportunityproducts"])
    codes = {b["Code"] for b in belege(w4a_export, dirt, "Rechnung")}
    source = lines_of(w4a_export, codes)
    assert source
    rejected = {r["source_id"] for r in default_run["rejects"] if r["object"] == "belegposition"}
    with_product = 0
    for p in source:
        if p["Code"] in rejected:
            continue
        line = lines[p["Code"]]
        assert ids[line["_opportunityid_value"]] == f"beleg-{p['BelegCode']}"
        assert (line["quantity"], line["priceperunit"]) == (money(p["Menge"]), money(p["Einzelpreis"]))
        assert line["w4a_linetotal"] == money(p["Gesamtpreis"])
        if line["_productid_value"]:
            assert products[line["_productid_value"]] == p["ArtikelCode"]
            with_product += 1
        else:
            assert line["isproductoverridden"] is True and line["productdescription"]
    assert with_product
    per_opportunity = Counter(ids[x["_opportunityid_value"]] for x in rows["opportunityproducts"])
    assert per_opportunity == Counter(f"beleg-{p['BelegCode']}" for p in source if p["Code"] not in rejected)
    # won when loaded, reopened to take its lines, won again with the same close data: one completed close
    # activity (and the first one canceled), the revenue the Rechnung's net amount
    closes = [c for c in rows["opportunitycloses"] if ids.get(c["_opportunityid_value"], "").startswith("beleg-")]
    completed = {ids[c["_opportunityid_value"]]: c for c in closes if c["statecode"] == 1}
    assert set(completed) == {f"beleg-{c}" for c in codes}
    for key, c in completed.items():
        assert c["actualrevenue"] == opps[key]["w4a_net"]
        assert c["subject"] == f"Gewonnen: {opps[key]['name']}"
        assert c["actualend"].startswith(opps[key]["actualclosedate"])
    assert Counter(ids[c["_opportunityid_value"]] for c in closes if c["statecode"] == 2) == \
        Counter({k: 1 for k in completed})


def test_the_default_is_named_in_the_report(default_run):
    notes = {o["object"]: o.get("notes", []) for o in default_run["report"]["objects"]}
    assert "Map setting invoices_as: opportunity (the default)." in notes["beleg"]
    assert any("Gutschriften stay invoices" in n for n in notes["beleg"])


def test_with_invoices_as_invoice_a_rechnung_is_a_dynamics_invoice_with_its_lines(invoice_run, w4a_export, dirt):
    rows = invoice_run["rows"]
    opps, invoices = by_key(rows["opportunities"]), by_key(rows["invoices"])
    accounts = {a["accountid"]: a["w4a_sourceid"] for a in rows["accounts"]}
    assert not [k for k in opps if k.startswith("beleg-")]
    assert not rows["opportunityproducts"]
    for kind in ("Rechnung", "Gutschrift"):
        for b in belege(w4a_export, dirt, kind):
            i = invoices[f"beleg-{b['Code']}"]
            assert (i["name"], i["invoicenumber"], i["w4a_gross"]) == (f"{kind} {b['Nummer']}", b["Nummer"],
                                                                        money(b["Brutto"]))
            assert accounts[i["_customerid_value"]] == f"kunde-{b['KundenCode']}"
    ids = {i["invoiceid"]: k for k, i in invoices.items()}
    codes = {b["Code"] for b in belege(w4a_export, dirt, "Rechnung")}
    details = by_key(rows["invoicedetails"])
    for p in lines_of(w4a_export, codes):
        d = details[p["Code"]]
        assert ids[d["_invoiceid_value"]] == f"beleg-{p['BelegCode']}"
        assert (d["quantity"], d["priceperunit"]) == (money(p["Menge"]), money(p["Einzelpreis"]))
    notes = {o["object"]: o.get("notes", []) for o in invoice_run["report"]["objects"]}
    assert "Map setting invoices_as: invoice." in notes["beleg"]
    balanced(invoice_run, "beleg", "belegposition")


async def test_the_emulator_refuses_a_line_on_a_won_opportunity_until_it_is_reopened():
    """A closed opportunity is read-only, its lines too (emulators/dataverse/sales.py cites the pages): a line
    is refused while the opportunity is won, accepted once it is reopened, and WinOpportunity closes it again."""
    base = "https://org.crm.dynamics.com/api/data/v9.2/"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_core_app()), base_url=base) as c:
        r = await c.post("opportunities", json={"name": "Rechnung R-1", "estimatedvalue": 100})
        opp = r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
        win = {"Status": 3, "OpportunityClose": {"subject": "Gewonnen", "actualrevenue": 100,
                                                 "opportunityid@odata.bind": f"/opportunities({opp})"}}
        assert (await c.post("WinOpportunity", json=win)).status_code == 204
        line = {"opportunityid@odata.bind": f"/opportunities({opp})", "isproductoverridden": True,
                "productdescription": "Montage", "quantity": 1, "priceperunit": 100}
        r = await c.post("opportunityproducts", json=line)
        assert r.status_code == 400 and "closed" in r.json()["error"]["message"]
        assert (await c.patch(f"opportunities({opp})", json={"statecode": 0, "statuscode": 1})).status_code == 204
        assert (await c.post("opportunityproducts", json=line)).status_code == 204
        assert (await c.post("WinOpportunity", json=win)).status_code == 204
        o = (await c.get(f"opportunities({opp})", params={"$select": "statecode,statuscode,actualvalue"})).json()
        assert (o["statecode"], o["statuscode"], o["actualvalue"]) == (1, 3, 100)
