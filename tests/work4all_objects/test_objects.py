"""Every work4all object in Dataverse's own terms, field by field, after one migration of W1's dirty
German sample export (module-scoped): through the same orchestrators, loader, gates and reports as WORKetc."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from shared.dataverse.keys import encode_key
from shared.objects.work4all import PHASES, price_level_key
from shared.sources.work4all import values
from shared.sources.work4all.export import read_table
from shared.transform import note_id
from tests.integration.conftest import make_env, migrate, unregister

from .conftest import w4a_config

OBJECTS = {"mitarbeiter", "kunde", "lieferant", "ansprechpartner", "verkaufschance", "artikel", "preisliste",
           "belegposition_index", "beleg", "belegart_index", "belegposition", "zahlung", "offener_posten",
           "telefonnotiz", "besuchsbericht", "aufgabe", "beleg_pdf"}


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def money(raw: str | None) -> float | None:
    n = values.parse_number(raw)
    return None if n is None else float(n)


def utc(raw: str) -> str:
    return values.parse_datetime(raw).strftime("%Y-%m-%dT%H:%M:%SZ")


class Migrated:
    def __init__(self, env, export: Path, report_dir: Path):
        self.env, self.export, self.report_dir = env, export, report_dir

    def rows(self, entity_set: str, select: str, filter: str | None = None) -> list[dict]:
        return asyncio.run(self.env.rows(entity_set, select, filter))

    def by_key(self, entity_set: str, select: str) -> dict[str, dict]:
        return {r["w4a_sourceid"]: r for r in self.rows(entity_set, f"{select},w4a_sourceid")}

    def source(self, table: str) -> list[dict]:
        return list(read_table(self.export, table))

    def report(self) -> dict:
        return json.loads((self.report_dir / "report.json").read_text())

    def objects(self) -> dict[str, dict]:
        return {o["object"]: o for o in self.report()["objects"]}

    def problems(self, kind: str) -> list[dict]:
        return read_csv(self.report_dir / f"{kind}.csv")


@pytest.fixture(scope="module")
def migrated(w4a_export, tmp_path_factory):
    staging = tmp_path_factory.mktemp("w4a-staging")
    with pytest.MonkeyPatch.context() as mp:
        env = asyncio.run(make_env(mp, w4a_export))
        run = w4a_config(w4a_export, str(staging), run_id="w4a-objects")
        result = asyncio.run(migrate(run))
        assert result["status"] == "completed", result
        yield Migrated(env, w4a_export, staging / run.prefix / "report")
    unregister()


def test_every_object_reconciles_in_berlin_time(migrated, dirt):
    report = migrated.report()
    assert report["settings"]["timezone"] == "Europe/Berlin"
    objects = migrated.objects()
    assert set(objects) == OBJECTS
    for o in objects.values():
        assert o["source"] == o["loaded"] + o["rejected"] + o.get("queued", 0), o
        assert o["loaded"] == o["created"] + o["updated"] + o["unchanged"], o
        assert o.get("mismatched", 0) == 0 and o.get("missing", 0) == 0, o
    for name, table in [("kunde", "Kunden"), ("lieferant", "Lieferanten"), ("ansprechpartner", "Ansprechpartner"),
                        ("verkaufschance", "Verkaufschancen"), ("artikel", "Artikel"), ("preisliste", "Preislisten"),
                        ("beleg", "Belege"), ("belegposition", "Belegpositionen"), ("offener_posten", "OffenePosten"),
                        ("telefonnotiz", "Telefonnotizen"), ("besuchsbericht", "Besuchsberichte"),
                        ("aufgabe", "Aufgaben")]:
        assert objects[name]["source"] == dirt["counts"][table], name
    # each record of the export counted once in the run's totals (indexes and PDFs of Belege are not again)
    assert report["totals"]["source"] == sum(dirt["counts"].values())
    assert report["totals"]["source"] == (report["totals"]["loaded"] + report["totals"]["rejected"]
                                          + report["totals"]["queued"])
    assert "report.html" in report["files"]  # the page renders these rows too
    assert {o["object"]: o.get("counted_in") for o in report["objects"] if o.get("counted_in")} == {
        "belegposition_index": "belegposition", "belegart_index": "beleg", "beleg_pdf": "beleg"}


def test_umlauts_and_sharp_s_survive_the_windows_1252_export(migrated):
    raw = (migrated.export / "Kunden.csv").read_bytes()
    assert "ß".encode("cp1252") in raw and b"\xc3\x9f" not in raw  # a real cp1252 file, not UTF-8
    accounts = migrated.by_key("accounts", "name,address1_line1,address1_city")
    source = migrated.source("Kunden")
    german = [s for s in source if any(ch in (s["Name"] or "") + (s["Strasse"] or "") for ch in "äöüÄÖÜß")]
    assert german
    for s in source:
        a = accounts[f"kunde-{s['Code']}"]
        assert (a["name"], a["address1_line1"], a["address1_city"]) == (s["Name"], s["Strasse"], s["Ort"])
    assert any("ß" in accounts[f"kunde-{s['Code']}"]["name"] + accounts[f"kunde-{s['Code']}"]["address1_line1"]
               for s in german)


def test_kunden_and_lieferanten_are_accounts_with_their_own_keys(migrated, dirt):
    accounts = migrated.by_key("accounts", "name,customertypecode,w4a_sourcetype,w4a_customernumber,"
                                           "w4a_suppliernumber,emailaddress1,telephone1,w4a_privatecustomer,"
                                           "w4a_paymentdays,description")
    same = dirt["same_nummer"]
    customer, supplier = accounts[f"kunde-{same['Kunden']}"], accounts[f"lieferant-{same['Lieferanten']}"]
    assert customer["w4a_customernumber"] == supplier["w4a_suppliernumber"] == same["Nummer"]
    assert (customer["customertypecode"], customer["w4a_sourcetype"]) == (3, "Kunde")
    assert (supplier["customertypecode"], supplier["w4a_sourcetype"]) == (11, "Lieferant")
    for s in migrated.source("Lieferanten"):
        a = accounts[f"lieferant-{s['Code']}"]
        assert (a["name"], a["w4a_suppliernumber"], a["customertypecode"]) == (s["Name"], s["Nummer"], 11)
    for s in migrated.source("Kunden"):
        a = accounts[f"kunde-{s['Code']}"]
        assert a["w4a_privatecustomer"] is values.parse_bool(s["Privatkunde"])  # Ja/Nein, WAHR/FALSCH, 1/0
        assert a["w4a_paymentdays"] == values.parse_int(s["Zahlungsfrist"])
        assert a["description"] == s["Notiz"]


def test_ansprechpartner_are_contacts_of_their_customer_or_supplier(migrated, dirt):
    contacts = migrated.by_key("contacts", "firstname,lastname,salutation,jobtitle,department,w4a_maincontact,"
                                           "_parentcustomerid_value")
    accounts = {a["accountid"]: a["w4a_sourceid"] for a in migrated.rows("accounts", "accountid,w4a_sourceid")}
    suppliers = 0
    for s in migrated.source("Ansprechpartner"):
        c = contacts[s["Code"]]
        assert (c["firstname"], c["lastname"], c["salutation"]) == (s["Vorname"], s["Name"], s["Anrede"])
        assert (c["jobtitle"], c["department"]) == (s["Funktion"], s["Abteilung"])
        assert c["w4a_maincontact"] is values.parse_bool(s["Hauptansprechpartner"])
        parent = accounts.get(c["_parentcustomerid_value"])
        if s["Code"] in dirt["ansprechpartner_orphan"]:
            assert parent is None
        elif s["KundenCode"]:
            assert parent == f"kunde-{s['KundenCode']}"
        else:
            assert parent == f"lieferant-{s['LieferantenCode']}"
            suppliers += 1
    assert suppliers == len(dirt["ansprechpartner_of_lieferanten"])


def test_verkaufschancen_are_opportunities_won_and_lost_the_dataverse_way(migrated, dirt):
    opps = migrated.by_key("opportunities", "name,estimatedvalue,closeprobability,salesstage,stepname,"
                                            "estimatedclosedate,statecode,statuscode,actualvalue,w4a_phase,"
                                            "_transactioncurrencyid_value")
    rejects = {(r["object"], r["source_id"]): r for r in migrated.problems("rejects")}
    unknown = {v["Code"] for v in dirt["verkaufschancen_unknown_currency"]}
    bad = {v["Code"] for v in dirt["verkaufschancen_bad_value"]}
    for s in migrated.source("Verkaufschancen"):
        if s["Code"] in unknown:  # an unknown currency is a reject, never EUR
            assert s["Code"] not in opps
            assert rejects[("verkaufschance", s["Code"])]["code"] == "unknown_currency"
            continue
        o = opps[s["Code"]]
        assert o["name"] == s["Bezeichnung"]
        if s["Code"] in bad:
            assert o["estimatedvalue"] is None
        else:
            assert o["estimatedvalue"] == money(s["Wert"])  # 1.234,56 -> 1234.56
        assert o["closeprobability"] == values.parse_int(s["Wahrscheinlichkeit"])
        assert o["salesstage"] == PHASES[s["Phase"]] and o["w4a_phase"] == s["Phase"]
        assert o["estimatedclosedate"] == values.parse_date(s["Abschlussdatum"]).isoformat()
        assert (o["statecode"], o["statuscode"]) == {"Gewonnen": (1, 3), "Verloren": (2, 4), "Offen": (0, 1)}[s["Status"]]
    warned = {(w["object"], w["source_id"], w["field"]) for w in migrated.problems("warnings")}
    assert all(("verkaufschance", code, "Wert") in warned for code in bad)


def test_artikel_are_published_products_with_price_lists(migrated):
    products = migrated.by_key("products", "name,productnumber,price,standardcost,statecode,statuscode,w4a_unit,"
                                           "_defaultuomid_value,_defaultuomscheduleid_value")
    for s in migrated.source("Artikel"):
        p = products[s["Code"]]
        assert (p["name"], p["productnumber"], p["w4a_unit"]) == (s["Bezeichnung"], s["Nummer"], s["Einheit"])
        assert p["price"] == money(s["VKPreis"]) and p["standardcost"] == money(s["EKPreis"])
        assert (p["statecode"], p["statuscode"]) == (0, 1), "published, so it can be used"
        assert p["_defaultuomid_value"] and p["_defaultuomscheduleid_value"]
    items = migrated.by_key("productpricelevels", "amount,_productid_value,_pricelevelid_value")
    levels = {lv["pricelevelid"]: lv["w4a_sourceid"] for lv in migrated.rows("pricelevels", "pricelevelid,w4a_sourceid")}
    ids = {p["productid"]: p["w4a_sourceid"] for p in migrated.rows("products", "productid,w4a_sourceid")}
    rejects = {r["source_id"]: r for r in migrated.problems("rejects") if r["object"] == "preisliste"}
    for s in migrated.source("Preislisten"):
        key = f"{s['Preisliste']}:{s['ArtikelCode']}"
        if s["Waehrung"] != "EUR":  # CHF and DM are not currencies of the environment
            assert encode_key(key) not in items and rejects[key]["code"] == "unknown_currency"
            continue
        item = items[encode_key(key)]  # keys with ':' are escaped (~3A) in the alternate key
        assert item["amount"] == money(s["Preis"])
        assert ids[item["_productid_value"]] == s["ArtikelCode"]
        assert levels[item["_pricelevelid_value"]] == encode_key(price_level_key(s["Preisliste"], "EUR"))


def test_belege_become_quotes_invoices_and_supplier_notes_with_their_lines(migrated, dirt):
    quotes = migrated.by_key("quotes", "quoteid,name,quotenumber,w4a_net,w4a_gross,_customerid_value,"
                                       "_opportunityid_value")
    invoices = migrated.by_key("invoices", "invoiceid,name,invoicenumber,w4a_gross,_customerid_value")
    won = migrated.by_key("opportunities", "name,w4a_gross,statecode")  # Rechnungen, by default
    accounts = {a["accountid"]: a["w4a_sourceid"] for a in migrated.rows("accounts", "accountid,w4a_sourceid")}
    notes = migrated.rows("annotations", "subject,notetext,_objectid_value")
    no_lines = set(dirt["belege_without_positionen"])
    rejects = {(r["object"], r["source_id"]): r for r in migrated.problems("rejects")}
    for s in migrated.source("Belege"):
        kind, key = s["Belegart"], f"beleg-{s['Code']}"  # Belege keys: beleg-<Code>
        if s["Code"] in no_lines:  # reported, not loaded half
            assert key not in quotes and key not in invoices and key not in won
            assert rejects[("beleg", s["Code"])]["code"] == "no_lines"
        elif kind in ("Angebot", "Auftrag"):
            q = quotes[key]
            assert (q["quotenumber"], q["w4a_gross"]) == (s["Nummer"], money(s["Brutto"]))
            assert accounts[q["_customerid_value"]] == f"kunde-{s['KundenCode']}"
        elif kind == "Rechnung":  # a won opportunity (tests/work4all_objects/test_invoices_as_opportunities.py)
            o = won[key]
            assert (o["name"], o["w4a_gross"], o["statecode"]) == (f"Rechnung {s['Nummer']}", money(s["Brutto"]), 1)
        elif kind == "Gutschrift":
            i = invoices[key]
            assert (i["invoicenumber"], i["w4a_gross"]) == (s["Nummer"], money(s["Brutto"]))
        else:
            note = [n for n in notes if n["subject"] == f"Kostenbeleg {s['Nummer']}"]
            assert len(note) == 1 and accounts[note[0]["_objectid_value"]] == f"lieferant-{s['LieferantenCode']}"
            gross = f"{values.parse_number(s['Brutto']):,.2f}".replace(",", " ").replace(".", ",").replace(" ", ".")
            assert f"Brutto: {gross}" in note[0]["notetext"]  # 1.234,56 however the export spelled it
    lines = migrated.by_key("quotedetails", "quantity,priceperunit,ispriceoverridden,_quoteid_value,_productid_value")
    products = {p["productid"]: p["w4a_sourceid"] for p in migrated.rows("products", "productid,w4a_sourceid")}
    quote_ids = {q["quoteid"]: k for k, q in quotes.items()}
    with_product = 0
    for s in migrated.source("Belegpositionen"):
        if s["Code"] not in lines:
            continue
        line = lines[s["Code"]]
        assert quote_ids[line["_quoteid_value"]] == f"beleg-{s['BelegCode']}"
        assert line["quantity"] == money(s["Menge"]) and line["priceperunit"] == money(s["Einzelpreis"])
        if line["_productid_value"]:  # a published product on a quote line
            assert products[line["_productid_value"]] == s["ArtikelCode"]
            with_product += 1
    assert with_product
    assert migrated.rows("invoicedetails", "invoicedetailid") and migrated.rows("opportunityproducts",
                                                                                 "opportunityproductid")
    costs = {s["Code"] for s in migrated.source("Belege") if s["Belegart"] == "Kostenbeleg"}
    cost_lines = [s for s in migrated.source("Belegpositionen") if s["BelegCode"] in costs]
    line_notes = {n["subject"]: n for n in notes if ", Position " in (n["subject"] or "")}
    assert cost_lines and all(f"Kostenbeleg {s['BelegCode']}, Position {s['Position']}" in line_notes
                              for s in cost_lines)  # a cost receipt's lines are notes on the supplier too
    assert migrated.objects()["belegposition"]["rejected"] == 0


def test_open_items_reconciled_before_load(migrated, dirt):
    items = migrated.by_key("w4a_openitems", "w4a_name,w4a_amount,w4a_paid,w4a_openamount,w4a_reconciliation,"
                                              "_w4a_accountid_value")
    items = {k.removeprefix("posten-"): v for k, v in items.items()}  # keyed posten-<Code>
    for code, expected in dirt["open_amounts"].items():
        assert Decimal(str(items[code]["w4a_openamount"])) == Decimal(expected), code
    for s in migrated.source("OffenePosten"):
        amount = values.parse_number(s["Rechnungsbetrag"].lstrip("'"))
        sign = -1 if s["Art"] == "Gutschrift" else 1
        assert Decimal(str(items[s["Code"]]["w4a_amount"])) == sign * abs(amount)  # credit memos negative
    listed = read_csv(migrated.report_dir / "openitems_reconciliation.csv")
    status = {r["Code"]: r["status"] for r in listed}
    for code in dirt["offene_posten"]["ueberzahlt"]:
        assert status[code] == "overpaid" and items[code]["w4a_reconciliation"] == "overpaid"
    for code in dirt["offene_posten"]["teilbezahlt"]:
        assert status[code] == "partial"
    orphans = {z for r in listed if r["status"] == "orphan_payment" for z in r["Zahlungen"].split()}
    assert set(dirt["offene_posten"]["zahlung_ohne_posten"]) <= orphans  # payments whose item is not in the export
    assert "openitems_reconciliation.csv" in migrated.report()["files"]


def test_telefonnotizen_are_completed_phone_calls_at_their_berlin_time(migrated):
    calls = migrated.by_key("phonecalls", "subject,description,phonenumber,directioncode,actualstart,actualend,"
                                          "actualdurationminutes,statecode,statuscode,overriddencreatedon,"
                                          "_regardingobjectid_value")
    contacts = {c["contactid"]: c["w4a_sourceid"] for c in migrated.rows("contacts", "contactid,w4a_sourceid")}
    for s in migrated.source("Telefonnotizen"):
        c = calls[s["Code"]]
        start = utc(s["Datum"])
        assert c["actualstart"] == start and c["overriddencreatedon"] == start
        end = datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ") + timedelta(minutes=int(s["Dauer"]))
        assert c["actualend"] == end.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert c["actualdurationminutes"] == int(s["Dauer"])
        outgoing = s["Richtung"] == "ausgehend"
        assert (c["directioncode"], c["statecode"], c["statuscode"]) == (outgoing, 1, 2 if outgoing else 4)
        assert (c["description"], c["phonenumber"]) == (s["Notiz"], s["Rufnummer"])
        if s["AnsprechpartnerCode"]:
            assert contacts[c["_regardingobjectid_value"]] == s["AnsprechpartnerCode"]


def test_besuchsberichte_become_notes_or_tasks_with_the_extension_fields(migrated, dirt):
    notes = {n["annotationid"]: n for n in migrated.rows("annotations", "annotationid,subject,notetext")}
    tasks = migrated.by_key("tasks", "subject,description")
    for s in migrated.source("Besuchsberichte"):
        if s["Art"] == "Bericht":  # notes are keyed by a GUID derived from the source key
            note = notes[note_id("work4all", "besuchsbericht", f"besuchsbericht-{s['Code']}")]
            assert note["subject"] == s["Titel"] and note["notetext"].startswith(s["Bericht"])
            for column in dirt["besuchsberichte_extension_columns"]:
                if s.get(column):
                    assert f"{column}: {s[column]}" in note["notetext"]
        else:
            t = tasks[f"besuchsbericht-{s['Code']}"]
            assert (t["subject"], t["description"]) == (s["Titel"], s["Bericht"])


def test_aufgaben_are_tasks_with_status_and_priority(migrated):
    tasks = migrated.by_key("tasks", "subject,description,prioritycode,statecode,statuscode,scheduledend")
    for s in migrated.source("Aufgaben"):
        t = tasks[f"aufgabe-{s['Code']}"]
        assert (t["subject"], t["description"]) == (s["Betreff"], s["Notiz"])
        assert t["prioritycode"] == {"niedrig": 0, "normal": 1, "hoch": 2}[s["Prioritaet"]]
        assert (t["statecode"], t["statuscode"]) == ((1, 5) if s["Status"] == "erledigt" else (0, 2))
        if s["Faellig"]:
            assert t["scheduledend"] == utc(s["Faellig"])


def test_unknown_mitarbeiter_go_to_the_owner_queue(migrated, dirt):
    queue = {r["email"] for r in read_csv(migrated.report_dir / "owner_queue.csv")}
    assert {o.lower() for o in dirt["unknown_owners"]} <= queue  # an unknown Kuerzel and an unknown e-mail
    assert dirt["unprovisioned_employee"] in queue
    users = {u["systemuserid"]: (u["internalemailaddress"] or "").lower()
             for u in migrated.rows("systemusers", "systemuserid,internalemailaddress")}
    kunden = migrated.by_key("accounts", "_ownerid_value")
    by_kuerzel = {m["Kuerzel"].lower(): m["EMail"].lower() for m in migrated.source("Mitarbeiter")}
    for s in migrated.source("Kunden"):
        owner = (s["Vertreter"] or "").lower()
        email = by_kuerzel.get(owner, owner)
        if email in users.values():  # a Kuerzel resolves to its Mitarbeiter's user
            assert users[kunden[f"kunde-{s['Code']}"]["_ownerid_value"]] == email


def test_beleg_pdfs_go_to_sharepoint_beside_their_record(migrated, dirt):
    folders = migrated.rows("sharepointdocumentlocations", "name,relativeurl,_regardingobjectid_value,w4a_sourceid")
    regarding = {f["_regardingobjectid_value"] for f in folders if f["_regardingobjectid_value"]}
    quotes = {k.removeprefix("beleg-"): v for k, v in migrated.by_key("quotes", "quoteid").items()}
    invoices = {k.removeprefix("beleg-"): v for k, v in migrated.by_key("invoices", "invoiceid").items()}
    won = {k.removeprefix("beleg-"): v for k, v in migrated.by_key("opportunities", "opportunityid").items()}
    rejects = {r["source_id"].removeprefix("pdf-"): r for r in migrated.problems("rejects") if r["object"] == "beleg_pdf"}
    missing = set(dirt["missing_pdf"])
    copied = 0
    for s in migrated.source("Belege"):
        if not s["PdfDatei"]:
            assert rejects[s["Code"]]["code"] == "no_document"
        elif s["PdfDatei"] in missing:
            assert rejects[s["Code"]]["code"] == "missing_file"
        elif s["Code"] in quotes:
            assert quotes[s["Code"]]["quoteid"] in regarding
            copied += 1
        elif s["Code"] in invoices:
            assert invoices[s["Code"]]["invoiceid"] in regarding
            copied += 1
        elif s["Code"] in won:  # a Rechnung's PDF beside its won opportunity
            assert won[s["Code"]]["opportunityid"] in regarding
            copied += 1
    assert copied and migrated.objects()["beleg_pdf"]["loaded"] >= copied
