"""Every WORKetc object, field by field, after one migration of the sample export (module-scoped)."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from shared.objects.worketc import INVOICE_STATES, weighted_progress

from .conftest import make_env, migrate, run_config, unregister

SYDNEY = ZoneInfo("Australia/Sydney")


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def utc(local_iso: str) -> str:
    """A WORKetc local timestamp (Sydney) as Dataverse stores it (UTC, Z)."""
    dt = datetime.fromisoformat(local_iso)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=SYDNEY)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Migrated:
    def __init__(self, env, export: Path, report_dir: Path):
        self.env, self.export, self.report_dir = env, export, report_dir

    def rows(self, entity_set: str, select: str, filter: str | None = None) -> list[dict]:
        return asyncio.run(self.env.rows(entity_set, select, filter))

    def by_key(self, entity_set: str, select: str, key: str = "wtc_sourceid") -> dict[str, dict]:
        return {r[key]: r for r in self.rows(entity_set, f"{select},{key}")}

    def source(self, name: str) -> list[dict]:
        return read_csv(self.export / name)

    def report(self) -> dict:
        return json.loads((self.report_dir / "report.json").read_text())

    def problems(self, kind: str) -> list[dict]:
        return read_csv(self.report_dir / f"{kind}.csv")


@pytest.fixture(scope="module")
def migrated(sample_export, tmp_path_factory):
    staging = tmp_path_factory.mktemp("objects-staging")
    with pytest.MonkeyPatch.context() as mp:
        env = asyncio.run(make_env(mp, sample_export))
        run = run_config(sample_export, str(staging), run_id="objects")
        result = asyncio.run(migrate(run))
        assert result["status"] == "completed"
        yield Migrated(env, sample_export, staging / run.prefix / "report")
    unregister()


def test_every_object_reconciles(migrated):
    report = migrated.report()
    objects = {o["object"]: o for o in report["objects"]}
    assert set(objects) == {"user", "custom_field", "company", "contact", "contractor", "lead", "deal",
                            "project_stage", "project", "ticket", "ticket_message", "invoice", "invoice_line",
                            "activity", "document", "kb_article", "workflow"}
    for o in objects.values():
        assert o["source"] == o["loaded"] + o["rejected"] + o.get("queued", 0), o
        assert o["loaded"] == o["created"] + o["updated"] + o["unchanged"], o
    for name, file in [("lead", "leads.csv"), ("deal", "deals.csv"), ("ticket", "tickets.csv"),
                       ("invoice_line", "invoice_lines.csv"), ("activity", "activities.csv"),
                       ("document", "documents.csv"), ("workflow", "workflows.csv")]:
        assert objects[name]["source"] == len(migrated.source(file)), name
    assert any("Payments are not migrated" in n for n in objects["invoice"]["notes"])


def test_leads_keep_status_source_score_and_conversion_flag(migrated):
    leads = migrated.by_key("leads", "firstname,lastname,companyname,subject,leadsourcecode,wtc_leadsource,"
                                     "wtc_leadstatus,wtc_leadscore,wtc_convertedinsource,statecode,statuscode")
    for src in migrated.source("leads.csv"):
        row = leads[src["EntityID"]]
        assert row["lastname"] == src["LastName"]
        assert row["wtc_leadsource"] == src["Source"]
        assert row["wtc_leadstatus"] == src["Status"]
        assert Decimal(str(row["wtc_leadscore"])) == Decimal(src["Score"])
        assert row["wtc_convertedinsource"] is (src["Converted"] == "Yes")
        assert row["leadsourcecode"] == {"Website": 8, "Referral": 3, "Trade Show": 7, "Partner": 4,
                                         "Advertisement": 1}.get(src["Source"], 10)
        if src["Status"] == "Unqualified":
            assert (row["statecode"], row["statuscode"]) == (2, 4)
        else:
            assert row["statecode"] == 0
            assert row["statuscode"] == (1 if src["Status"] == "New" else 2)


def test_deals_become_opportunities_closed_the_dataverse_way(migrated):
    opps = migrated.by_key("opportunities", "opportunityid,name,estimatedvalue,closeprobability,salesstage,"
                                            "stepname,estimatedclosedate,statecode,statuscode,actualvalue,"
                                            "actualclosedate,wtc_winreason,wtc_lossreason,_parentaccountid_value,"
                                            "_transactioncurrencyid_value")
    accounts = {a["accountid"]: a["wtc_sourceid"] for a in migrated.rows("accounts", "accountid,wtc_sourceid")}
    closes = {c["_opportunityid_value"]: c for c in migrated.rows(
        "opportunitycloses", "_opportunityid_value,actualrevenue,actualend,subject")}
    currencies = {c["transactioncurrencyid"]: c["isocurrencycode"]
                  for c in migrated.rows("transactioncurrencies", "transactioncurrencyid,isocurrencycode")}
    won = lost = 0
    for src in migrated.source("deals.csv"):
        row = opps[src["EntityID"]]
        assert row["name"] == src["Name"]
        assert Decimal(str(row["estimatedvalue"])) == Decimal(src["Amount"])
        assert row["closeprobability"] == int(src["Probability"])
        assert currencies[row["_transactioncurrencyid_value"]] == src["Currency"]
        if src["CompanyID"] and src["CompanyID"] in accounts.values():
            assert accounts[row["_parentaccountid_value"]] == src["CompanyID"]
        day, month, year = src["CloseDate"].split("/") if "/" in src["CloseDate"] else (None, None, None)
        expected_close = f"{year}-{month}-{day}" if day else src["CloseDate"]
        assert row["estimatedclosedate"] == expected_close
        if src["Status"] == "Won":
            won += 1
            assert (row["statecode"], row["statuscode"]) == (1, 3)
            close = closes[row["opportunityid"]]
            assert Decimal(str(close["actualrevenue"])) == Decimal(src["Amount"])
            assert close["actualend"].startswith(expected_close)
            assert row["wtc_winreason"] == (src["WinReason"] or None)
        elif src["Status"] == "Lost":
            lost += 1
            assert (row["statecode"], row["statuscode"]) == (2, 4)
            assert closes[row["opportunityid"]]["actualend"].startswith(expected_close)
            assert row["wtc_lossreason"] == (src["LossReason"] or None)
        else:
            assert row["statecode"] == 0 and row["opportunityid"] not in closes
    assert won and lost


def test_projects_carry_stage_configuration_and_weighted_progress(migrated):
    stages: dict[str, list] = {}
    for s in migrated.source("project_stages.csv"):
        stages.setdefault(s["ProjectType"], []).append({"stage": s["Stage"], "order": int(s["Order"]),
                                                        "weight": float(s["WeightPercent"])})
    projects = migrated.by_key("wtc_projects", "wtc_name,wtc_projecttype,wtc_stage,wtc_stageconfig,"
                                               "wtc_weightedprogress,_wtc_accountid_value,_wtc_opportunityid_value")
    accounts = {a["accountid"]: a["wtc_sourceid"] for a in migrated.rows("accounts", "accountid,wtc_sourceid")}
    opps = {o["opportunityid"]: o["wtc_sourceid"] for o in migrated.rows("opportunities", "opportunityid,wtc_sourceid")}
    for src in migrated.source("projects.csv"):
        row = projects[src["EntityID"]]
        assert row["wtc_name"] == src["Name"]
        config = json.loads(row["wtc_stageconfig"])
        assert config["project_type"] == src["ProjectType"]
        expected = sorted(stages[src["ProjectType"]], key=lambda x: x["order"])
        assert config["stages"] == expected
        assert row["wtc_weightedprogress"] == weighted_progress(expected, src["Stage"], src["Status"] == "Completed")
        if src["CompanyID"] in accounts.values():
            assert accounts[row["_wtc_accountid_value"]] == src["CompanyID"]
        if src["DealID"]:
            assert opps[row["_wtc_opportunityid_value"]] == src["DealID"]


def test_tickets_become_cases_resolved_with_their_conversation(migrated):
    cases = migrated.by_key("incidents", "incidentid,title,description,prioritycode,wtc_priority,statecode,"
                                         "statuscode,_customerid_value,overriddencreatedon")
    resolutions = {r["_incidentid_value"]: r for r in migrated.rows("incidentresolutions",
                                                                    "_incidentid_value,actualend,subject")}
    for src in migrated.source("tickets.csv"):
        row = cases[src["EntityID"]]
        assert row["title"] == src["Subject"]
        assert row["description"] == src["Description"]
        assert row["prioritycode"] == {"Urgent": 1, "High": 1, "Normal": 2, "Low": 3}[src["Priority"]]
        assert row["wtc_priority"] == src["Priority"], "Urgent becomes High: the WORKetc priority is kept"
        assert row["_customerid_value"]
        assert row["overriddencreatedon"] == utc(src["DateCreated"])
        if src["Status"] in ("Closed", "Resolved"):
            assert (row["statecode"], row["statuscode"]) == (1, 5)
            res = resolutions[row["incidentid"]]
            if src["DateClosed"]:
                assert res["actualend"] == utc(src["DateClosed"])
        else:
            assert row["statecode"] == 0 and row["incidentid"] not in resolutions

    emails = migrated.by_key("emails", "subject,description,sender,torecipients,directioncode,actualend,statecode,"
                                       "statuscode,_regardingobjectid_value")
    for m in migrated.source("ticket_messages.csv"):
        row = emails[f"msg-{m['EntityID']}"]
        assert row["_regardingobjectid_value"] == cases[m["TicketID"]]["incidentid"]
        assert row["subject"] == m["Subject"] and row["description"] == m["Body"]
        assert row["sender"] == m["FromAddress"] and row["torecipients"] == m["ToAddress"]
        assert row["actualend"] == utc(m["Sent"])
        assert row["directioncode"] is (m["Direction"] == "Outgoing")
        assert (row["statecode"], row["statuscode"]) == (1, 3 if m["Direction"] == "Outgoing" else 4)


def test_invoices_and_lines_add_up(migrated):
    invoices = migrated.by_key("invoices", "invoiceid,name,invoicenumber,duedate,wtc_amountpaid,wtc_subtotal,"
                                           "wtc_tax,wtc_total,_pricelevelid_value,_customerid_value,statecode,"
                                           "statuscode,wtc_invoicestatus")
    lines = migrated.rows("invoicedetails", "_invoiceid_value,quantity,priceperunit,manualdiscountamount,tax,"
                                            "isproductoverridden,productdescription,wtc_sourceid")
    by_invoice: dict[str, list] = {}
    for ln in lines:
        assert ln["isproductoverridden"] is True
        by_invoice.setdefault(ln["_invoiceid_value"], []).append(ln)
    src_lines = {ln["EntityID"]: ln for ln in migrated.source("invoice_lines.csv")}
    for src in migrated.source("invoices.csv"):
        row = invoices[src["EntityID"]]
        assert row["invoicenumber"] == src["Number"] and row["duedate"] == src["DueDate"]
        assert (row["statecode"], row["statuscode"]) == INVOICE_STATES[src["Status"].casefold()]
        assert row["wtc_invoicestatus"] == src["Status"]
        assert Decimal(str(row["wtc_amountpaid"])) == Decimal(src["AmountPaid"])
        assert row["_pricelevelid_value"] and row["_customerid_value"]
        mine = by_invoice.get(row["invoiceid"], [])
        assert len(mine) == sum(1 for ln in src_lines.values() if ln["InvoiceID"] == src["EntityID"])
        net = sum(Decimal(str(ln["quantity"])) * Decimal(str(ln["priceperunit"]))
                  - Decimal(str(ln["manualdiscountamount"] or 0)) for ln in mine)
        tax = sum(Decimal(str(ln["tax"] or 0)) for ln in mine)
        assert net.quantize(Decimal("0.01")) == Decimal(src["Subtotal"])
        assert tax.quantize(Decimal("0.01")) == Decimal(src["Tax"])
        assert (net + tax).quantize(Decimal("0.01")) == Decimal(src["Total"])
        for ln in mine:
            assert ln["productdescription"] == src_lines[ln["wtc_sourceid"]]["Description"]


def test_contractors_are_flagged_contacts_and_their_roles_are_listed(migrated):
    contacts = migrated.by_key("contacts", "firstname,lastname,emailaddress1,wtc_iscontractor,wtc_contractorrole")
    for src in migrated.source("contractors.csv"):
        row = contacts[f"contractor-{src['EntityID']}"]
        assert row["wtc_iscontractor"] is True
        assert row["wtc_contractorrole"] == src["Role"]
        assert f"{row['firstname']} {row['lastname']}" == src["Name"]
        assert row["emailaddress1"] == ((src["Email"] or "").lower() or None)
    roles = read_csv(migrated.report_dir / "contractor_roles.csv")
    assert {r["EntityID"]: r["Role"] for r in roles} == {s["EntityID"]: s["Role"]
                                                         for s in migrated.source("contractors.csv")}


def test_activities_keep_their_dates_states_and_regarding_records(migrated):
    tables = {"Call": "phonecalls", "Email": "emails", "Meeting": "appointments", "Task": "tasks"}
    rows = {t: migrated.by_key(s, "activityid,subject,description,scheduledstart,scheduledend,actualend,"
                                  "statecode,_regardingobjectid_value,_ownerid_value,overriddencreatedon")
            for t, s in tables.items()}
    notes = {n["annotationid"]: n for n in migrated.rows("annotations", "annotationid,subject,notetext,"
                                                                         "_objectid_value,overriddencreatedon")}
    from shared.transform import note_id

    seen = set()
    for src in migrated.source("activities.csv"):
        if src["Type"] == "Note":
            note = notes[note_id("worketc", "activity", src["EntityID"])]
            assert note["subject"] == src["Subject"] and note["notetext"] == (src["Body"] or None)
            assert note["overriddencreatedon"] == utc(src["DateCreated"])
            continue
        row = rows[src["Type"]][src["EntityID"]]
        seen.add(src["Type"])
        assert row["subject"] == src["Subject"]
        assert row["overriddencreatedon"] == utc(src["DateCreated"])
        if src["Start"]:
            assert row["scheduledstart"] == utc(src["Start"])
        assert row["statecode"] == (1 if src["Status"] == "Completed" else 0)
        assert row["_ownerid_value"], "an unknown or inactive owner never makes an activity vanish"
    assert seen == set(tables)


def test_knowledge_articles_keep_html_and_category(migrated):
    articles = migrated.by_key("knowledgearticles", "title,content,wtc_category,wtc_publishedinsource")
    for src in migrated.source("kb_articles.csv"):
        row = articles[src["EntityID"]]
        assert row["title"] == src["Title"] and row["content"] == src["Body"]
        assert row["wtc_category"] == src["Category"]
        assert row["wtc_publishedinsource"] is (src["Published"] == "Yes")


def test_workflows_are_inventoried_not_migrated(migrated):
    md = (migrated.report_dir / "workflows.md").read_text()
    listed = read_csv(migrated.report_dir / "workflows.csv")
    for src in migrated.source("workflows.csv"):
        assert f"## {src['Name']}" in md
    assert [r["Name"] for r in listed] == [s["Name"] for s in migrated.source("workflows.csv")]
    assert all(r["Power Automate trigger"] for r in listed)
    assert next(o for o in migrated.report()["objects"] if o["object"] == "workflow")["table"] is None


def test_documents_land_in_sharepoint_byte_for_byte_and_are_linked(migrated):
    import httpx

    from shared.auth import StaticToken
    from shared.sharepoint import SharePointClient

    from .conftest import GRAPH

    locations = {r["sharepointdocumentlocationid"]: r for r in migrated.rows(
        "sharepointdocumentlocations", "sharepointdocumentlocationid,relativeurl,wtc_sourceid,"
                                       "_parentsiteorlocation_value,_regardingobjectid_value")}
    from shared.dataverse.keys import decode_key

    by_key = {decode_key(r["wtc_sourceid"]): r for r in locations.values()}
    ids = {}
    for entity_set, table, prefix in [("accounts", "account", ""), ("contacts", "contact", ""),
                                      ("opportunities", "opportunity", ""), ("incidents", "incident", "")]:
        pk = f"{table}id"
        ids[table] = {r["wtc_sourceid"]: r[pk] for r in migrated.rows(entity_set, f"{pk},wtc_sourceid")}
    table_of = {"Company": "account", "Contact": "contact", "Deal": "opportunity", "Ticket": "incident"}
    rejected = {p["source_id"] for p in migrated.problems("rejects") if p["object"] == "document"}

    async def fetch_all() -> int:
        from emulators.graph import mint_token

        token = StaticToken(mint_token(migrated.env.graph))
        checked = 0
        async with SharePointClient(token, base_url=f"{GRAPH}/v1.0") as sp:
            site = await sp.resolve_site("contoso.sharepoint.com", "/sites/crm")
            drive = (await sp.default_drive(site["id"]))["id"]
            for doc in migrated.source("documents.csv"):
                if doc["EntityID"] in rejected:
                    continue
                table = table_of[doc["RegardingType"]]
                folder = by_key[f"folder:{table}:{doc['RegardingID']}"]
                assert folder["_regardingobjectid_value"] == ids[table][doc["RegardingID"]]
                library = locations[folder["_parentsiteorlocation_value"]]
                assert library["relativeurl"] == table
                item = await sp.get_item_by_path(drive, f"{table}/{folder['relativeurl']}/{doc['FileName']}")
                assert item is not None, doc
                data = await sp.download(drive, item.id)
                assert data == (migrated.export / "files" / doc["Path"]).read_bytes()
                checked += 1
        return checked

    assert asyncio.run(fetch_all()) >= len(migrated.source("documents.csv")) - len(rejected) > 0
