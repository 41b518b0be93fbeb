"""Closed records, the Dataverse way: close messages never resent blindly, invoices Paid / Canceled by
SetState with all their lines, and owners of closed records corrected on a rerun."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from shared.objects.worketc import INVOICE_STATES

from .conftest import lose_answers, make_env, migrate, run_config

CLOSE_MESSAGES = ("/WinOpportunity", "/LoseOpportunity", "/CloseIncident")


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def report_dir(tmp_path: Path, staging: str, run) -> Path:
    return tmp_path / staging / run.prefix / "report"


async def test_a_close_whose_answer_was_lost_is_not_reported_open(monkeypatch, sample_export, tmp_path):
    env = await make_env(monkeypatch, sample_export)
    lost = lose_answers(env, lambda method, path: method == "POST" and path.endswith(CLOSE_MESSAGES), times=4)
    run = run_config(sample_export, str(tmp_path / "s"), run_id="lost-close", only=["deal", "ticket"])
    assert (await migrate(run))["status"] == "completed"
    assert len(lost.lost) == 4
    warnings = read_csv(report_dir(tmp_path, "s", run) / "warnings.csv")
    assert not [w for w in warnings if w["stage"] == "load"], warnings
    deals = {d["EntityID"]: d["Status"] for d in read_csv(sample_export / "deals.csv")}
    opps = await env.rows("opportunities", "opportunityid,wtc_sourceid,statecode,statuscode")
    closes = Counter(c["_opportunityid_value"] for c in await env.rows("opportunitycloses", "_opportunityid_value"))
    for o in opps:
        expected = {"Won": (1, 3), "Lost": (2, 4)}.get(deals[o["wtc_sourceid"]], (0, 1))
        assert (o["statecode"], o["statuscode"]) == expected, o
        assert closes[o["opportunityid"]] == (expected[0] != 0), "closed exactly once"
    tickets = {t["EntityID"]: t["Status"] for t in read_csv(sample_export / "tickets.csv")}
    cases = await env.rows("incidents", "incidentid,wtc_sourceid,statecode")
    resolutions = Counter(r["_incidentid_value"] for r in await env.rows("incidentresolutions", "_incidentid_value"))
    for c in cases:
        resolved = tickets[c["wtc_sourceid"]] in ("Closed", "Resolved")
        assert c["statecode"] == (1 if resolved else 0) and resolutions[c["incidentid"]] == resolved


async def test_paid_and_void_invoices_are_paid_and_canceled_with_all_their_lines(monkeypatch, sample_export,
                                                                                 tmp_path):
    env = await make_env(monkeypatch, sample_export)
    for n, staging in enumerate(("s1", "s2")):  # the second run finds them closed
        run = run_config(sample_export, str(tmp_path / staging), run_id=f"invoices-{n}",
                         only=["invoice", "invoice_line"])
        assert (await migrate(run))["status"] == "completed"
        assert not [w for w in read_csv(report_dir(tmp_path, staging, run) / "warnings.csv")
                    if w["stage"] == "load"]
    invoices = {i["wtc_sourceid"]: i for i in await env.rows("invoices", "invoiceid,wtc_sourceid,statecode,statuscode")}
    lines = Counter(ln["_invoiceid_value"] for ln in await env.rows("invoicedetails", "_invoiceid_value"))
    source_lines = Counter(ln["InvoiceID"] for ln in read_csv(sample_export / "invoice_lines.csv"))
    states = Counter()
    for src in read_csv(sample_export / "invoices.csv"):
        row = invoices[src["EntityID"]]
        assert (row["statecode"], row["statuscode"]) == INVOICE_STATES[src["Status"].casefold()], src["Status"]
        assert lines[row["invoiceid"]] == source_lines[src["EntityID"]]
        states[row["statecode"]] += 1
    assert states[2] and states[3], "the sample has paid and void invoices"
    rep = json.loads((report_dir(tmp_path, "s2", run) / "report.json").read_text())
    by = {o["object"]: o for o in rep["objects"]}
    assert by["invoice"]["unchanged"] == states[2] + states[3], "a rerun leaves closed invoices as they are"


@pytest.mark.parametrize("resolved_case_updates", [True, False], ids=["cases-assignable", "cases-locked"])
async def test_owners_of_closed_records_are_corrected_once_the_user_exists(monkeypatch, sample_export, tmp_path,
                                                                          resolved_case_updates):
    """Run with an owner not yet provisioned, provision them, rerun: the closed deals and cases they own
    belong to them, still closed, with their original close data (invoices name no owner in WORKetc)."""
    export = tmp_path / "export"
    shutil.copytree(sample_export, export)
    users = json.loads((sample_export.parent / "provisioned_users.json").read_text())
    deals = read_csv(export / "deals.csv")
    owner = Counter(d["OwnerEmail"].lower() for d in deals if d["Status"] in ("Won", "Lost")).most_common(1)[0][0]
    late = next(u for u in users if u["internalemailaddress"].lower() == owner)
    (tmp_path / "provisioned_users.json").write_text(json.dumps([u for u in users if u is not late]))
    env = await make_env(monkeypatch, export, resolved_case_updates=resolved_case_updates)
    first = run_config(export, str(tmp_path / "s1"), run_id="owners-1", only=["deal", "ticket"])
    assert (await migrate(first))["status"] == "completed"

    async def snapshot() -> dict:
        opps = {o["wtc_sourceid"]: o for o in await env.rows(
            "opportunities", "opportunityid,wtc_sourceid,statecode,statuscode,actualvalue,actualclosedate,"
                             "_ownerid_value")}
        closes = {c["_opportunityid_value"]: c for c in await env.rows(
            "opportunitycloses", "_opportunityid_value,subject,actualrevenue,actualend,statecode",
            "statecode eq 1")}
        cases = {c["wtc_sourceid"]: c for c in await env.rows(
            "incidents", "incidentid,wtc_sourceid,statecode,statuscode,_ownerid_value")}
        resolutions = {r["_incidentid_value"]: r for r in await env.rows(
            "incidentresolutions", "_incidentid_value,subject,actualend,statecode", "statecode eq 1")}
        return {"opps": opps, "closes": closes, "cases": cases, "resolutions": resolutions}

    before = await snapshot()
    await env.send("POST", "/api/data/v9.2/systemusers", json=late)  # the administrator provisions them
    user_id = (await env.rows("systemusers", "systemuserid", f"internalemailaddress eq '{owner}'"))[0]["systemuserid"]
    second = run_config(export, str(tmp_path / "s2"), run_id="owners-2", only=["deal", "ticket"])
    assert (await migrate(second))["status"] == "completed"
    assert not [w for w in read_csv(report_dir(tmp_path, "s2", second) / "warnings.csv") if w["stage"] == "load"]
    after = await snapshot()

    def owned(file: str) -> list[dict]:
        return [r for r in read_csv(export / file) if (r["OwnerEmail"] or "").lower() == owner]

    closed_deals = [d for d in owned("deals.csv") if d["Status"] in ("Won", "Lost")]
    assert closed_deals
    for d in closed_deals:
        was, now = before["opps"][d["EntityID"]], after["opps"][d["EntityID"]]
        assert was["_ownerid_value"] != user_id and now["_ownerid_value"] == user_id
        assert {k: now[k] for k in ("statecode", "statuscode", "actualvalue", "actualclosedate")} == \
               {k: was[k] for k in ("statecode", "statuscode", "actualvalue", "actualclosedate")}
        close_was, close_now = before["closes"][was["opportunityid"]], after["closes"][now["opportunityid"]]
        assert {k: close_now[k] for k in ("subject", "actualrevenue", "actualend")} == \
               {k: close_was[k] for k in ("subject", "actualrevenue", "actualend")}
    closed_cases = [t for t in owned("tickets.csv") if t["Status"] in ("Closed", "Resolved")]
    for t in closed_cases:
        was, now = before["cases"][t["EntityID"]], after["cases"][t["EntityID"]]
        assert now["_ownerid_value"] == user_id and (now["statecode"], now["statuscode"]) == (1, 5)
        res_was, res_now = before["resolutions"][was["incidentid"]], after["resolutions"][now["incidentid"]]
        assert (res_now["subject"], res_now["actualend"]) == (res_was["subject"], res_was["actualend"])
    assert closed_cases
    rep = json.loads((report_dir(tmp_path, "s2", second) / "report.json").read_text())
    deal = next(o for o in rep["objects"] if o["object"] == "deal")
    assert deal["loaded"] == deal["created"] + deal["updated"] + deal["unchanged"]


async def test_a_closed_record_the_source_now_calls_open_is_left_closed_with_a_warning(monkeypatch, sample_export,
                                                                                       tmp_path):
    export = tmp_path / "export"
    shutil.copytree(sample_export, export)
    shutil.copy(sample_export.parent / "provisioned_users.json", tmp_path / "provisioned_users.json")
    env = await make_env(monkeypatch, export)
    assert (await migrate(run_config(export, str(tmp_path / "s1"), run_id="reopened-1", only=["deal"])))[
        "status"] == "completed"
    deals = read_csv(export / "deals.csv")
    won = next(d for d in deals if d["Status"] == "Won")
    won["Status"] = "Open"  # reopened in WORKetc after the first run
    with (export / "deals.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(deals[0]))
        w.writeheader()
        w.writerows(deals)
    second = run_config(export, str(tmp_path / "s2"), run_id="reopened-2", only=["deal"])
    assert (await migrate(second))["status"] == "completed"
    [warning] = [w for w in read_csv(report_dir(tmp_path, "s2", second) / "warnings.csv") if w["stage"] == "load"]
    assert (warning["source_id"], warning["code"]) == (won["EntityID"], "closed_in_dataverse")
    assert "the source now says open" in warning["message"]
    [opp] = await env.rows("opportunities", "statecode", f"wtc_sourceid eq '{won['EntityID']}'")
    assert opp["statecode"] == 1
