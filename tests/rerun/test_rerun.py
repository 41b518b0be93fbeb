"""Issue 8 §3: a rerun of a completed migration re-reads the source and moves what changed, and only that."""

from __future__ import annotations

from shared.staging import open_staging
from shared.steps.delta import latest_pass

from .conftest import edit_csv, first_pass, next_pass, obj


def report_of(run) -> dict:
    return open_staging(run.staging, prefix=run.prefix).read_json("report/report.json")


def refused(run, name: str) -> set[str]:
    """Keys Dataverse refused in ``run``'s pass: a later pass sends them again (they loaded nothing to compare)."""
    problems = open_staging(run.staging, prefix=run.prefix).read_json(f"objects/{name}/problems.json")["rejects"]
    return {p["source_id"] for p in problems if p["stage"] == "load"}


async def test_a_renamed_and_a_new_company_are_all_a_rerun_writes(env, export, tmp_path):
    """The issue's new user: company 10001 renamed and 19999 added in the export, the same migration run
    again -> 1 updated, 1 created, the rest unchanged, and no write request for the unchanged rows."""
    run, first = await first_pass(export, tmp_path / "staging")
    assert first["status"] == "completed"
    before = obj(report_of(run), "company")

    def change(rows):
        old = next(r for r in rows if r["EntityID"] == "10001")
        old["Name"] = "Sandstone Surveying (renamed)"
        return rows + [{**old, "EntityID": "19999", "Name": "Brand New Pty Ltd", "Email": "info@brandnew.com.au"}]

    edit_csv(export / "companies.csv", change)
    env.writes.clear()
    nxt, second = await next_pass(run)
    assert (nxt.pass_no, nxt.instance_id) == (2, f"{run.run_id}:pass-2")
    assert second["status"] == "completed"
    report = report_of(nxt)
    company = obj(report, "company")
    assert (company["created"], company["updated"]) == (1, 1)
    assert company["unchanged"] == before["loaded"] - 1 == company["loaded"] - 2
    assert company["deleted_in_source"] == 0
    assert report["pass"]["number"] == 2 and report["pass"]["kind"] == "rerun"
    # no request wrote an unchanged company (the placeholder account is upserted by prepare on every pass; rows
    # Dataverse refused last time are sent again, and refused again)
    assert sorted(set(env.writes.keys("accounts")) - {"worketc-placeholder"} - refused(run, "company")) \
        == ["10001", "19999"]
    # nor an unchanged contact: no contact changed
    contact = obj(report, "contact")
    assert (contact["created"], contact["updated"]) == (0, 0)
    assert set(env.writes.keys("contacts")) <= refused(run, "contact")
    names = {r["wtc_sourceid"]: r["name"] for r in await env.rows("accounts", "wtc_sourceid,name",
                                                                   "wtc_sourceid eq '10001' or wtc_sourceid eq '19999'")}
    assert names == {"10001": "Sandstone Surveying (renamed)", "19999": "Brand New Pty Ltd"}
    # the first pass's report stays as it was; the second has its own
    assert obj(report_of(run), "company") == before
    assert latest_pass(open_staging(run.staging, prefix=run.base_prefix)) == 2


async def test_a_row_gone_from_the_source_is_reported_and_deactivated_when_asked(env, export, tmp_path):
    run, _ = await first_pass(export, tmp_path / "staging", deactivate_deleted=True)
    edit_csv(export / "companies.csv", lambda rows: [r for r in rows if r["EntityID"] != "10002"])
    nxt, second = await next_pass(run)
    company = obj(report_of(nxt), "company")
    assert (company["deleted_in_source"], company["deactivated"]) == (1, 1)
    assert company["created"] == company["updated"] == 0
    [row] = await env.rows("accounts", "statecode,statuscode", "wtc_sourceid eq '10002'")
    assert (row["statecode"], row["statuscode"]) == (1, 2)
    assert report_of(nxt)["totals"]["deleted_in_source"] >= 1


async def test_a_row_gone_from_the_source_is_only_reported_by_default(env, export, tmp_path):
    run, _ = await first_pass(export, tmp_path / "staging")
    edit_csv(export / "companies.csv", lambda rows: [r for r in rows if r["EntityID"] != "10002"])
    nxt, _ = await next_pass(run)
    company = obj(report_of(nxt), "company")
    assert (company["deleted_in_source"], company["deactivated"]) == (1, 0)
    [row] = await env.rows("accounts", "statecode", "wtc_sourceid eq '10002'")
    assert row["statecode"] == 0


async def test_a_won_deal_whose_source_changed_is_reopened_updated_and_won_again(env, export, tmp_path):
    run, _ = await first_pass(export, tmp_path / "staging")
    won = {}

    def change(rows):
        deal = next(r for r in rows if (r["Status"] or "").strip().casefold() == "won")
        deal["Name"] = deal["Name"][:60] + " (amended)"
        deal["Amount"] = "123456.00"
        won.update(deal)
        return rows

    edit_csv(export / "deals.csv", change)
    env.writes.clear()
    nxt, _ = await next_pass(run)
    deal = obj(report_of(nxt), "deal")
    assert (deal["updated"], deal["created"]) == (1, 0)
    [row] = await env.rows("opportunities", "name,estimatedvalue,statecode,statuscode",
                           f"wtc_sourceid eq '{won['EntityID']}'")
    assert row["name"] == won["Name"] and float(row["estimatedvalue"]) == 123456.0
    assert (row["statecode"], row["statuscode"]) == (1, 3)  # won again
    assert set(env.writes.keys("opportunities")) == {won["EntityID"]}
    paths = [p for m, p, _ in env.writes.requests]
    assert any(p.endswith("WinOpportunity") for p in paths)
