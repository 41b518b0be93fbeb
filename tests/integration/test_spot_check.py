"""The spot check after a small migration, against the in-process Dataverse emulator: sampled records
read back field by field (lookups by the source id they point at), a value changed behind the engine's
back shown as different in the sheet, filled, under a frozen header."""

from __future__ import annotations

import csv
import io
import json

import pytest
from openpyxl import load_workbook

from shared.errors import SettingsError
from shared.spotcheck import DIFFERENT
from shared.steps import STEPS
from shared.steps.spot_check import spot_check

from .conftest import migrate, run_config

OBJECTS = ["company", "contact"]


def sheet(staging) -> tuple[list[dict], object]:
    rows = list(csv.DictReader(io.StringIO((staging / "report" / "spotcheck.csv").read_text(encoding="utf-8"))))
    return rows, load_workbook(staging / "report" / "spotcheck.xlsx")


async def test_a_value_changed_behind_the_engines_back_shows_as_different(dataverse, sample_export, tmp_path):
    run = run_config(sample_export, str(tmp_path / "staging"), run_id="spot", only=OBJECTS)
    assert (await migrate(run))["status"] == "completed"
    staging = tmp_path / "staging" / run.prefix
    payload = {"run": run.model_dump(), "objects": ["user", *OBJECTS], "per_object": 25}

    first = await STEPS["spot_check"](payload)
    rows, _ = sheet(staging)
    loaded = {o: len(json.loads((staging / "objects" / o / "loaded_keys.json").read_text())) for o in OBJECTS}
    sampled = {o: {r["source_key"] for r in rows if r["object"] == o} for o in OBJECTS}
    assert {o: len(k) for o, k in sampled.items()} == {o: min(25, n) for o, n in loaded.items()}
    assert first == {"records": sum(len(k) for k in sampled.values()), "fields": len(rows), "different": 0,
                     "not_compared": 0, "missing": 0}, [r for r in rows if r["equal"] != "yes"]
    # lookups are compared by the source id of the record they point at, owners by the user's id
    parent = next(r for r in rows if r["object"] == "contact" and r["target_column"] == "parentcustomerid")
    assert parent["field"] == "CompanyID" and parent["value_sent"] == parent["value_found"] != ""
    assert any(r["target_column"] == "ownerid" and r["field"] == "OwnerEmail" for r in rows)
    # the same run draws the same records
    await spot_check(payload)
    assert sheet(staging)[0] == rows

    # someone edits a sampled account in Dataverse, and re-points a sampled contact to another account
    key = sorted(sampled["company"])[0]
    account = (await dataverse.get("accounts", **{"$filter": f"wtc_sourceid eq '{key}'",
                                                   "$select": "accountid,name"}))["value"][0]
    await dataverse.send("PATCH", f"/api/data/v9.2/accounts({account['accountid']})",
                         json={"name": "=HYPERLINK(\"http://evil.example\",\"edited\")"})
    contact = next(r for r in rows if r["object"] == "contact" and r["target_column"] == "parentcustomerid"
                   and r["value_sent"] != key)
    cid = (await dataverse.get("contacts", **{"$filter": f"wtc_sourceid eq '{contact['source_key']}'",
                                              "$select": "contactid"}))["value"][0]["contactid"]
    await dataverse.send("PATCH", f"/api/data/v9.2/contacts({cid})",
                         json={"parentcustomerid_account@odata.bind": f"/accounts({account['accountid']})"})

    assert (await spot_check(payload))["different"] == 2
    rows, wb = sheet(staging)
    diff = [r for r in rows if r["equal"] == "no"]
    assert [(r["object"], r["source_key"], r["field"], r["target_column"]) for r in diff] == [
        ("company", key, "Name", "name"), ("contact", contact["source_key"], "CompanyID", "parentcustomerid")]
    assert diff[0]["value_found"] == "'=HYPERLINK(\"http://evil.example\",\"edited\")"  # neutralised in the CSV
    assert (diff[1]["value_sent"], diff[1]["value_found"]) == (contact["value_sent"], key)

    ws = wb["company"]
    assert ws.freeze_panes == "B2" and ws.auto_filter.ref
    edited = next(r for r in ws.iter_rows(min_row=2) if r[0].value == key and r[2].value == "name")
    assert edited[5].value == "=HYPERLINK(\"http://evil.example\",\"edited\")" and edited[5].data_type == "s"
    assert edited[6].value == "no" and all(c.fill.fgColor.rgb == DIFFERENT.fgColor.rgb for c in edited)
    same = next(r for r in ws.iter_rows(min_row=2) if r[6].value == "yes")
    assert same[0].fill.fgColor.rgb != DIFFERENT.fgColor.rgb


async def test_per_object_outside_25_to_50_is_refused_naming_the_setting(tmp_path):
    run = {"run_id": "spot", "source": "worketc-csv", "input": str(tmp_path), "target": "https://x.crm.dynamics.com",
           "staging": str(tmp_path / "s")}
    with pytest.raises(SettingsError, match="per_object 100 is not a whole number from 25 to 50"):
        await spot_check({"run": run, "objects": [], "per_object": 100})
    assert (await STEPS["spot_check"]({"run": run, "objects": [], "per_object": 5}))["failure"]["kind"] == "settings"
