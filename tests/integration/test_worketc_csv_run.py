"""The walking skeleton end to end: a WORKetc CSV export lands in Dataverse, field by field."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import pytest

from cli.durable import OrchestrationFailed
from shared.steps import STEPS

from .conftest import make_env, migrate, run_config


class MachineDied(Exception):
    pass


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def by_object(report: dict) -> dict[str, dict]:
    return {o["object"]: o for o in report["objects"]}


async def snapshot(dv) -> dict:
    """The Dataverse state a migration is responsible for, independent of GUIDs and clocks:
    lookups are replaced by the source id (or e-mail) of what they point at."""
    users = {u["systemuserid"]: u["internalemailaddress"]
             for u in await dv.rows("systemusers", "systemuserid,internalemailaddress")}
    accounts = await dv.rows("accounts", "accountid,name,emailaddress1,websiteurl,wtc_sourceid,_ownerid_value,"
                                         "overriddencreatedon,address1_city,wtc_industry")
    ids = {a["accountid"]: a["wtc_sourceid"] for a in accounts}
    contacts = await dv.rows("contacts", "wtc_sourceid,firstname,lastname,emailaddress1,jobtitle,"
                                         "_parentcustomerid_value,_ownerid_value,overriddencreatedon")

    def plain(r: dict) -> dict:
        r = {k: v for k, v in r.items()  # primary ids differ between environments
             if "@" not in k and (not k.endswith("id") or k == "wtc_sourceid")}
        r["_ownerid_value"] = users.get(r["_ownerid_value"], "?")
        if "_parentcustomerid_value" in r:
            r["_parentcustomerid_value"] = ids.get(r["_parentcustomerid_value"])
        return r

    opportunities = await dv.rows("opportunities", "wtc_sourceid,name,estimatedvalue,statecode,statuscode,"
                                                   "actualvalue,_ownerid_value")
    incidents = await dv.rows("incidents", "wtc_sourceid,title,statecode,statuscode,_ownerid_value")
    emails = await dv.rows("emails", "wtc_sourceid,subject,actualend,statecode,_ownerid_value")
    return {
        "accounts": sorted((plain(a) for a in accounts), key=lambda r: r["wtc_sourceid"]),
        "contacts": sorted((plain(c) for c in contacts), key=lambda r: r["wtc_sourceid"]),
        "opportunities": sorted((plain(o) for o in opportunities), key=lambda r: r["wtc_sourceid"]),
        "incidents": sorted((plain(o) for o in incidents), key=lambda r: r["wtc_sourceid"]),
        "emails": sorted((plain(o) for o in emails), key=lambda r: r["wtc_sourceid"]),
        "closes": len(await dv.rows("opportunitycloses", "activityid")),
        "resolutions": len(await dv.rows("incidentresolutions", "activityid")),
    }


async def test_csv_export_lands_in_dataverse_and_reconciles(dataverse, sample_export, tmp_path):
    run = run_config(sample_export, str(tmp_path / "staging"))
    result = await migrate(run)
    assert result["status"] == "completed"
    report = json.loads((tmp_path / "staging" / run.prefix / "report" / "report.json").read_text())
    objs = by_object(report)
    assert set(objs) >= {"user", "custom_field", "company", "contact"}
    for o in report["objects"]:
        assert o["source"] == o["loaded"] + o["rejected"] + o.get("queued", 0), o

    companies = read_csv(sample_export / "companies.csv")
    contacts = read_csv(sample_export / "contacts.csv")
    assert objs["company"]["source"] == len(companies)
    assert objs["contact"]["source"] == len(contacts)

    accounts = {a["wtc_sourceid"]: a for a in await dataverse.rows(
        "accounts", "accountid,name,emailaddress1,websiteurl,telephone1,address1_city,wtc_sourceid,createdon")}
    # every company loaded or rejected, and the placeholder for orphan contacts
    assert "worketc-placeholder" in accounts
    assert len(accounts) - 1 == objs["company"]["loaded"]
    rejects = read_csv(tmp_path / "staging" / run.prefix / "report" / "rejects.csv")
    rejected_companies = {r["source_id"] for r in rejects if r["object"] == "company"}
    for c in companies:
        cid = c["EntityID"]
        assert cid in accounts or cid in rejected_companies, f"company {cid} neither loaded nor rejected"
    # field by field for a clean company
    clean = next(c for c in companies if c["EntityID"] in accounts and "'" not in c["Name"] and c["City"])
    row = accounts[clean["EntityID"]]
    assert row["name"] == clean["Name"]
    assert row["address1_city"] == clean["City"]
    assert row["websiteurl"] == (clean["Website"] or None)

    # a duplicate EntityID is rejected at extract naming file, line and record
    dups = [r for r in rejects if r["code"] == "duplicate_key"]
    assert dups and all(r["file"] and r["line"] and r["record"] for r in dups)
    # over-long values are rejected by Dataverse with its own error code
    assert any(r["stage"] == "load" and r["code"].startswith("0x") for r in rejects)


async def test_rerun_changes_nothing_and_duplicates_nothing(dataverse, sample_export, tmp_path):
    await migrate(run_config(sample_export, str(tmp_path / "s1"), run_id="first"))
    before = await snapshot(dataverse)
    # a second, separate run of the same export (new staging, new run id): everything is an update
    result = await migrate(run_config(sample_export, str(tmp_path / "s2"), run_id="second"))
    after = await snapshot(dataverse)
    assert after == before
    rep = json.loads((tmp_path / "s2" / "runs" / "second" / "report" / "report.json").read_text())
    company = by_object(rep)["company"]
    assert company["created"] == 0 and company["updated"] == company["loaded"] > 0


async def test_a_run_killed_mid_load_resumes_to_the_same_state(monkeypatch, sample_export, tmp_path):
    clean_env = await make_env(monkeypatch, sample_export)
    await migrate(run_config(sample_export, str(tmp_path / "clean"), run_id="clean", chunk_size=10))
    clean = await snapshot(clean_env)

    env = await make_env(monkeypatch, sample_export)  # a fresh Dataverse
    loads = {"company": 0, "dead": False}

    async def crashing_load(payload):
        # objects of a wave load in parallel: die at the third chunk of accounts, and from then on
        # every load fails (retries too), as when the machine is gone
        if payload["object"] == "company":
            loads["company"] += 1
            loads["dead"] |= loads["company"] >= 3
        if loads["dead"]:
            raise MachineDied("the machine died")
        return await STEPS["load_chunk"](payload)

    steps = {**STEPS, "load_chunk": crashing_load}
    run = run_config(sample_export, str(tmp_path / "crashy"), run_id="crashy", chunk_size=10)
    with pytest.raises(OrchestrationFailed, match="MachineDied: the machine died"):
        await migrate(run, steps=steps)
    partial = await env.rows("accounts", "wtc_sourceid")  # contacts never started: no columns yet
    assert 0 < len(partial) < len(clean["accounts"])
    result = await migrate(run)  # the same command again
    assert result["status"] == "completed"
    assert await snapshot(env) == clean


async def test_faults_and_throttling_end_in_the_same_state(monkeypatch, sample_export, tmp_path):
    clean_env = await make_env(monkeypatch, sample_export)
    await migrate(run_config(sample_export, str(tmp_path / "clean"), run_id="clean", chunk_size=20))
    clean = await snapshot(clean_env)

    monkeypatch.setenv("DATAVERSE_BATCH_SIZE", "10")
    faulty = await make_env(monkeypatch, sample_export, profile="realistic", time_scale=0.0005,
                      faults="503:0.05,500:0.03,drop:0.03,slow:0.02@0.05")
    monkeypatch.setenv("DATAVERSE_MAX_ATTEMPTS", "12")
    result = await migrate(run_config(sample_export, str(tmp_path / "faulty"), run_id="faulty", chunk_size=20))
    assert result["status"] == "completed"
    assert await snapshot(faulty) == clean


async def test_owners_resolve_by_email_and_unknown_owners_are_queued(dataverse, sample_export, tmp_path):
    run = run_config(sample_export, str(tmp_path / "staging"))
    await migrate(run)
    report_dir = tmp_path / "staging" / run.prefix / "report"
    queue = read_csv(report_dir / "owner_queue.csv")
    provisioned = {u["internalemailaddress"].lower()
                   for u in json.loads((sample_export.parent / "provisioned_users.json").read_text())}
    assert queue, "the sample has unknown owners"
    assert all(q["email"] not in provisioned for q in queue)
    users = {u["internalemailaddress"].lower(): u["systemuserid"]
             for u in await dataverse.rows("systemusers", "systemuserid,internalemailaddress")
             if u.get("internalemailaddress")}
    accounts = {a["wtc_sourceid"]: a for a in await dataverse.rows("accounts", "wtc_sourceid,_ownerid_value")}
    for c in read_csv(sample_export / "companies.csv"):
        owner = (c["OwnerEmail"] or "").lower()
        if c["EntityID"] in accounts and owner in users:
            assert accounts[c["EntityID"]]["_ownerid_value"] == users[owner]


async def test_contacts_bind_to_their_account_or_the_placeholder(dataverse, sample_export, tmp_path):
    run = run_config(sample_export, str(tmp_path / "staging"))
    await migrate(run)
    accounts = {a["accountid"]: a["wtc_sourceid"] for a in await dataverse.rows("accounts", "accountid,wtc_sourceid")}
    loaded_companies = set(accounts.values())
    contacts = {c["wtc_sourceid"]: c for c in await dataverse.rows("contacts", "wtc_sourceid,_parentcustomerid_value")}
    warnings = read_csv(tmp_path / "staging" / run.prefix / "report" / "warnings.csv")
    placeholders = {w["source_id"] for w in warnings if w["code"] == "placeholder_parent"}
    assert placeholders, "the sample has orphan contacts"
    for c in read_csv(sample_export / "contacts.csv"):
        if c["EntityID"] not in contacts:
            continue
        parent = accounts[contacts[c["EntityID"]]["_parentcustomerid_value"]]
        if c["CompanyID"] and c["CompanyID"] in loaded_companies:
            assert parent == c["CompanyID"]
        else:
            assert parent == "worketc-placeholder"
            assert c["EntityID"] in placeholders


async def test_custom_fields_become_columns_with_values(dataverse, sample_export, tmp_path):
    run = run_config(sample_export, str(tmp_path / "staging"))
    await migrate(run)
    defs = read_csv(sample_export / "custom_fields.csv")
    company_fields = [d for d in defs if d["Object"] == "Company"]
    assert company_fields
    meta = await dataverse.get("EntityDefinitions(LogicalName='account')/Attributes",
                               **{"$select": "LogicalName,AttributeType"})
    names = {a["LogicalName"]: a["AttributeType"] for a in meta["value"]}
    from shared.steps import column_name

    expected_type = {"Text": "String", "TextArea": "Memo", "Dropdown": "Picklist", "Date": "DateTime",
                     "Number": "Decimal", "Checkbox": "Boolean"}
    for d in company_fields:
        col = column_name("wtc", d["Label"])
        assert names.get(col) == expected_type[d["Type"]], col
    text = next(d for d in company_fields if d["Type"] == "Text")
    col = column_name("wtc", text["Label"])
    accounts = {a["wtc_sourceid"]: a for a in await dataverse.rows("accounts", f"wtc_sourceid,{col}")}
    for c in read_csv(sample_export / "companies.csv"):
        if c["EntityID"] in accounts and c.get(text["Label"]):
            assert accounts[c["EntityID"]][col] == c[text["Label"]]


@pytest.mark.azurite
async def test_a_run_staged_in_blob_storage_lands_the_same(dataverse, sample_export, tmp_path, monkeypatch,
                                                           azurite_connection_string):
    """The Function App stages in Blob Storage: the same run through Azurite, a real Storage server."""
    from shared.staging import open_staging

    conn = f"{azurite_connection_string};Container=it-{tmp_path.name.lower().replace('_', '-')[:40]}"
    monkeypatch.setenv("IT_STAGING", conn)  # run settings name the setting; the key stays in the environment
    run = run_config(sample_export, "IT_STAGING", run_id="blob", only=["contact"])
    result = await migrate(run)
    assert result["status"] == "completed"
    report = json.loads(open_staging("IT_STAGING", prefix=run.prefix).read_bytes("report/report.json"))
    objs = by_object(report)
    assert set(objs) == {"user", "custom_field", "company", "contact"}
    assert objs["contact"]["source"] == len(read_csv(sample_export / "contacts.csv"))
    assert objs["contact"]["loaded"] == len(await dataverse.rows("contacts", "contactid"))
    for o in report["objects"]:
        assert o["source"] == o["loaded"] + o["rejected"] + o.get("queued", 0)


async def test_knowledge_base_falls_back_to_notes_without_knowledge_management(monkeypatch, sample_export,
                                                                                tmp_path):
    env = await make_env(monkeypatch, sample_export)
    store = env.app.state.store
    with store.lock:  # an environment without the Service module's knowledge management
        table = store.tables.pop("knowledgearticle")
        store.by_set.pop(table.entity_set)
    run = run_config(sample_export, str(tmp_path / "s"), run_id="kb", only=["kb_article"])
    assert (await migrate(run))["status"] == "completed"
    notes = {n["subject"]: n for n in await env.rows("annotations", "subject,notetext")}
    for src in read_csv(sample_export / "kb_articles.csv"):
        note = notes[f"[{src['Category']}] {src['Title']}"]
        assert note["notetext"] == src["Body"]
    report = json.loads((tmp_path / "s" / run.prefix / "report" / "report.json").read_text())
    assert by_object(report)["kb_article"]["table"] == "annotation"


async def test_two_runs_of_one_migration_at_once_one_is_refused_before_it_moves_anything(dataverse, sample_export,
                                                                                        tmp_path):
    """Two operators start the same migration at once: the second is refused by the run's lease, and
    the first ends complete (the defect: both 'completed' while ticket e-mails were missing)."""
    run = run_config(sample_export, str(tmp_path / "s"), run_id="twice", only=["ticket"])
    first, second = await asyncio.gather(migrate(run), migrate(run), return_exceptions=True)
    outcomes = sorted([first, second], key=lambda r: isinstance(r, BaseException))
    assert outcomes[0]["status"] == "completed"
    assert isinstance(outcomes[1], OrchestrationFailed)
    assert "already in progress" in str(outcomes[1])
    report = json.loads((tmp_path / "s" / "runs" / "twice" / "report" / "report.json").read_text())
    assert report["status"] == "completed"
    tickets = by_object(report)["ticket"]
    assert tickets["loaded"] + tickets["rejected"] == tickets["source"]
