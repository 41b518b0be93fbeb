"""The approved map is what loads: a whole run against the Dataverse emulator after a proposal for the
sample export was edited and approved. A remapped column lands in its new target, a skipped one
nowhere, an edited value map decides the option, an accepted custom column is created and filled. A
sample run stages a connected sample: at most N rows per object, every link resolved."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path


from shared.mapping import (Entry, MappingFile, TargetTable, defaults_from_spec, dump, mappable, profile_rows, propose,
                            validate)
from shared.objects import catalogue
from shared.sources.worketc import csv_export
from shared.staging import open_staging
from shared.steps.common import APPROVAL, APPROVED_MAP, approved_spec

from .conftest import migrate, run_config

PICKLIST = "Microsoft.Dynamics.CRM.PicklistAttributeMetadata"


async def target_table(dv, table: str) -> TargetTable | None:
    """A table's columns as the environment's metadata says, option sets included (None: no such table)."""
    path = f"EntityDefinitions(LogicalName='{table}')/Attributes"
    if not (await dv.get("EntityDefinitions", **{"$filter": f"LogicalName eq '{table}'"}))["value"]:
        return None
    columns = (await dv.get(path))["value"]
    options = (await dv.get(f"{path}/{PICKLIST}", **{"$expand": "OptionSet"}))["value"]
    return TargetTable.from_attributes(table, [*columns, *options])


async def proposed(dv, export: Path) -> MappingFile:
    """The proposal for every mapped object of the export whose table the environment has (a custom table
    the engine creates, such as wtc_project, is not there yet: that object keeps the catalogue's map)."""
    items, tables = [], {}
    for spec in catalogue("worketc-csv").values():
        if not mappable(spec) or not (export / spec.file).exists():
            continue
        if spec.table not in tables:
            tables[spec.table] = await target_table(dv, spec.table)
        if tables[spec.table] is not None:
            items.append((defaults_from_spec(spec, contract=csv_export.COLUMNS[spec.file]),
                          profile_rows(csv_export.read_table(export, spec.file))))
    mapping = propose("worketc", items, {t: v for t, v in tables.items() if v is not None})
    assert validate(mapping, tables) == []
    return mapping


def approve(run, mapping: MappingFile) -> None:
    """What the approval step leaves in the run's staging."""
    st = open_staging(run.staging, prefix=run.prefix)
    st.write_bytes(APPROVED_MAP, dump(mapping).encode("utf-8"))
    st.write_json(APPROVAL, {"hash": mapping.content_hash(), "approved_by": "test"})


def entry(mapping: MappingFile, obj: str, source: str, target: str | None = None) -> Entry:
    return next(e for e in mapping.object(obj).entries if e.source == source and (target is None or e.target == target))


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def unique(rows: list[dict]) -> list[dict]:
    """The rows whose EntityID appears once (of a duplicate, extraction keeps the later-modified copy)."""
    ids = [r["EntityID"] for r in rows]
    return [r for r in rows if ids.count(r["EntityID"]) == 1]


def report_of(staging: Path, run) -> dict[str, dict]:
    report = json.loads((staging / run.prefix / "report" / "report.json").read_text())
    return {o["object"]: o for o in report["objects"]}


async def run_with(dv, export: Path, staging: Path, mapping: MappingFile, **kw):
    run = run_config(export, str(staging), **kw)
    approve(run, mapping)
    result = await migrate(run)
    assert result["status"] == "completed", result
    return run, report_of(staging, run)


async def test_a_remapped_column_lands_in_its_new_target(dataverse, sample_export, tmp_path):
    mapping = await proposed(dataverse, sample_export)
    entry(mapping, "company", "Phone").target = "telephone2"
    await run_with(dataverse, sample_export, tmp_path / "staging", mapping)
    accounts = {a["wtc_sourceid"]: a for a in await dataverse.rows("accounts", "wtc_sourceid,telephone1,telephone2")}
    phoned = [c for c in unique(read_csv(sample_export / "companies.csv")) if c["Phone"].strip()
              and c["EntityID"] in accounts]
    assert phoned
    for c in phoned:
        a = accounts[c["EntityID"]]
        assert (a["telephone1"], a["telephone2"]) == (None, c["Phone"].strip())


async def test_a_skipped_column_stays_empty_and_is_declared(dataverse, sample_export, tmp_path):
    mapping = await proposed(dataverse, sample_export)
    email = entry(mapping, "company", "Email")
    email.kind, email.target = "skip", None
    run, _ = await run_with(dataverse, sample_export, tmp_path / "staging", mapping)
    accounts = await dataverse.rows("accounts", "wtc_sourceid,emailaddress1,name")
    assert len(accounts) > 10 and all(a["emailaddress1"] is None for a in accounts)
    st = open_staging(run.staging, prefix=run.prefix)
    assert any(n.startswith("Not migrated (skipped in the approved map): ") and "Email" in n
               for n in approved_spec(st, catalogue("worketc-csv")["company"]).notes)


async def test_an_edited_value_map_decides_the_option(dataverse, sample_export, tmp_path):
    mapping = await proposed(dataverse, sample_export)
    source = entry(mapping, "lead", "Source", "leadsourcecode")
    edited = {v.source: v for v in source.values}
    assert edited["Referral"].option == 3  # External Referral, as the catalogue says
    edited["Referral"].option = 2  # Employee Referral
    priority = entry(mapping, "ticket", "Priority", "prioritycode")
    urgent = next(v for v in priority.values if v.source == "Urgent")
    urgent.option = None  # Urgent: no priority (loads empty, warned per ticket)
    run, _ = await run_with(dataverse, sample_export, tmp_path / "staging", mapping)

    leads = {r["wtc_sourceid"]: r for r in await dataverse.rows("leads", "wtc_sourceid,leadsourcecode")}
    referred = [r["EntityID"] for r in unique(read_csv(sample_export / "leads.csv")) if r["Source"] == "Referral"]
    assert referred and all(leads[k]["leadsourcecode"] == 2 for k in referred if k in leads)
    tickets = {r["wtc_sourceid"]: r for r in await dataverse.rows("incidents", "wtc_sourceid,prioritycode,wtc_priority")}
    urgent_ids = [t["EntityID"] for t in unique(read_csv(sample_export / "tickets.csv")) if t["Priority"] == "Urgent"
                  and t["EntityID"] in tickets]
    assert urgent_ids
    for k in urgent_ids:  # the emulator gives prioritycode its default (Normal) when none is sent
        assert tickets[k]["wtc_priority"] == "Urgent" and tickets[k]["prioritycode"] != 1
    warnings = read_csv(tmp_path / "staging" / run.prefix / "report" / "warnings.csv")
    warned = {w["source_id"] for w in warnings if w["object"] == "ticket" and w["field"] == "Priority"}
    assert set(urgent_ids) <= warned


async def test_an_accepted_custom_column_is_created_and_filled(dataverse, sample_export, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(sample_export, export)
    companies = read_csv(export / "companies.csv")
    regions = {"NSW": "East", "VIC": "South", "QLD": "North"}
    for c in companies:
        c["Sales Region"] = regions.get(c["State"], "")
    with (export / "companies.csv").open("w", encoding="utf-8-sig", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(companies[0]))
        w.writeheader()
        w.writerows(companies)
    mapping = await proposed(dataverse, export)
    region = entry(mapping, "company", "Sales Region")
    assert (region.target, region.kind, region.custom.type) == ("wtc_salesregion", "option", "Picklist")
    assert set(region.custom.options) == {"East", "South", "North"}
    await run_with(dataverse, export, tmp_path / "staging", mapping)

    attribute = await dataverse.get(f"EntityDefinitions(LogicalName='account')/Attributes(LogicalName='wtc_salesregion')/"
                                    f"{PICKLIST}", **{"$expand": "OptionSet"})
    labels = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in attribute["OptionSet"]["Options"]}
    accounts = {a["wtc_sourceid"]: a for a in await dataverse.rows("accounts", "wtc_sourceid,wtc_salesregion")}
    filled = [c for c in unique(companies) if c["Sales Region"] and c["EntityID"] in accounts]
    assert filled
    for c in filled:
        assert labels[accounts[c["EntityID"]]["wtc_salesregion"]] == c["Sales Region"]


async def test_a_sample_run_loads_a_connected_sample(dataverse, sample_export, tmp_path):
    mapping = await proposed(dataverse, sample_export)
    staging = tmp_path / "staging"
    run = run_config(sample_export, str(staging), sample=5, run_id="sample-run")
    approve(run, mapping)
    result = await migrate(run)
    objs = report_of(staging, run)
    st = open_staging(str(staging), prefix=run.prefix)
    specs = catalogue("worketc-csv")
    for name, o in objs.items():
        extract = st.read_json(f"objects/{name}/extract.json")
        assert o["source"] == o["loaded"] + o["rejected"] + o.get("queued", 0) + extract["sampled_out"], o
        if specs[name].pipeline == "records" and o["source"]:
            assert extract["staged"] <= 5 and o["loaded"] <= 5, o
            assert extract["sampled_out"] > 0 or o["source"] <= 5, name
    assert {n for n, o in objs.items() if specs[n].pipeline == "records" and o["loaded"]} >= \
        {"company", "contact", "lead", "deal", "ticket", "ticket_message", "invoice", "invoice_line", "activity"}
    warnings = read_csv(staging / run.prefix / "report" / "warnings.csv")
    # every link of the sample resolves: nothing was hung on a placeholder or dropped for want of its parent
    # that the full export has (a reference the full export cannot resolve either is the data's doing)
    loaded = {n: set(json.loads((staging / run.prefix / "objects" / n / "loaded_keys.json").read_text()))
              for n in objs if (staging / run.prefix / "objects" / n / "loaded_keys.json").exists()}
    in_export = {n: {r["EntityID"] for r in read_csv(sample_export / specs[n].file)}
                 for n in ("company", "contact", "deal", "ticket", "invoice", "lead", "project")}
    for w in warnings:
        if w["code"] in ("placeholder_parent", "missing_parent", "customer_substituted"):
            ref = w["value"]
            assert not any(ref in keys for keys in in_export.values()), w
    assert loaded["company"] and loaded["contact"]
    assert result["status"] == "completed"  # sampled_out rows balance the reconciliation
    report = json.loads((staging / run.prefix / "report" / "report.json").read_text())
    assert report["sample"] == 5 and report["totals"]["sampled_out"] > 0
