"""Issue 8 §3 on the SOAP source: a delta pass asks WORKetc only for the records modified since the pass before
began (``modifiedSince``, in the tenant's clock, less a margin), carries the previous pass's unchanged keys and
hashes forward, and infers no deletion from the filtered read; a full pass still reads everything."""

from __future__ import annotations

import csv
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from emulators.common.serve import serve_in_thread
from emulators.worketc import create_app as worketc_app
from emulators.worketc.app import Table
from emulators.worketc.schema import RECORD_TYPES
from shared.staging import open_staging
from tests.rerun.conftest import driver, next_pass, obj, run_config
from tests.rerun.conftest import env, export, sample_export  # noqa: F401 - fixtures, used by name

TENANT_TZ = "Australia/Sydney"


class CountingTenant:
    """The WORKetc emulator, counting the Company records its GetCompanies answers carry and the
    ``modifiedSince`` each call asked for."""

    def __init__(self, app):
        self.app, self.companies, self.since = app, 0, []

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        companies = b"GetCompanies" in body
        if companies:
            self.since.append((m.group(1).decode() if (m := re.search(rb"modifiedSince>([^<]*)<", body)) else None))
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def counting_send(message):
            if companies and message["type"] == "http.response.body":
                self.companies += message.get("body", b"").count(b"<Company>")
            await send(message)

        return await self.app(scope, replay, counting_send)


def edit_company(app, entity_id: str, **fields) -> None:
    """Someone edits a company in WORKetc: its fields change and WORKetc stamps DateModified (tenant-local)."""
    tenant = app.state.worketc
    rt = next(r for r in RECORD_TYPES if r.name == "Company")
    extra = Table(tenant.export_dir, rt.file).extra
    now = datetime.now(ZoneInfo(TENANT_TZ)).strftime("%d/%m/%Y %H:%M:%S")
    for i, (_, row) in enumerate(tenant.records["Company"]):
        if row["EntityID"] == entity_id:
            row = {**row, **fields, "DateModified": now}
            tenant.records["Company"][i] = (tenant._record_xml(rt, row, extra), row)
            return
    raise AssertionError(entity_id)


@pytest.fixture
def tenant(export, monkeypatch):  # noqa: F811
    app = worketc_app(str(export))
    counting = CountingTenant(app)
    with open(export / "users.csv", encoding="utf-8-sig") as f:
        admin = next(u for u in csv.DictReader(f) if u["Active"] == "Yes")
    with serve_in_thread(counting) as server:
        for name, value in {"WORKETC_EMAIL": admin["Email"], "WORKETC_PASSWORD": "worketc",
                            "WORKETC_RATE_PER_SECOND": "1000", "WORKETC_EXPORT_DIR": str(export),
                            "WORKETC_TENANT_TIMEZONE": TENANT_TZ}.items():
            monkeypatch.setenv(name, value)
        yield f"{server.base_url}/xml?wsdl", app, counting




async def test_a_soap_delta_pass_reads_only_what_was_modified(env, export, tenant, tmp_path):  # noqa: F811
    url, app, counting = tenant
    run = run_config(export, str(tmp_path / "staging"), run_id="soap-delta", only=["company"])
    run = run.model_copy(update={"source": "worketc-soap", "input": url})
    first = await driver().run("migration", run.model_dump(), instance_id=run.instance_id)
    assert first["status"] == "completed"
    before = obj(open_staging(run.staging, prefix=run.prefix).read_json("report/report.json"), "company")
    # the whole tenant (the first pass also profiles the source for the proposed map: read twice)
    assert counting.companies >= before["source"] > 10 and set(counting.since) == {None}

    edit_company(app, "10001", Name="Sandstone Surveying (renamed)")
    counting.companies, counting.since = 0, []
    env.writes.clear()
    nxt, second = await next_pass(run, delta=True)
    assert second["status"] == "completed"
    # WORKetc was asked for the records modified since the first pass began (less the margin), in Sydney time
    started = datetime.fromisoformat(open_staging(run.staging, prefix=run.prefix)
                                     .read_json("report/report.json")["started"])
    [since] = set(counting.since)
    asked = datetime.fromisoformat(since)
    expected = started.astimezone(ZoneInfo(TENANT_TZ)).replace(tzinfo=None)
    assert 0 < (expected - asked).total_seconds() <= 3600 + 1
    assert counting.companies == 1  # the one record modified since: not the whole tenant again
    st = open_staging(nxt.staging, prefix=nxt.prefix)
    company = obj(st.read_json("report/report.json"), "company")
    assert (company["created"], company["updated"]) == (0, 1)
    assert company["unchanged"] == before["loaded"] - 1 and company["loaded"] == before["loaded"]
    assert company["source"] == before["source"] - before["rejected"] + company["rejected"]
    detail = st.read_json("objects/company/report.json")  # the object's reconciliation says what was read
    assert detail["read"] == 1 and detail["carried"] == before["loaded"] - 1 and detail["modified_since"]
    assert detail["balanced"] and detail["source"] == company["source"]
    assert company["deleted_in_source"] == 0
    assert not st.read_json("objects/company/deleted.json")["checked"]  # a filtered read sees no deletion
    assert sorted(set(env.writes.keys("accounts")) - {"worketc-placeholder"}) == ["10001"]
    # the next pass compares with every key: the carried ones too
    hashes = st.read_json("objects/company/hashes.json")
    assert len(hashes) == before["loaded"]
    assert hashes == {**open_staging(run.staging, prefix=run.prefix).read_json("objects/company/hashes.json"),
                      "10001": hashes["10001"]}

    # a full pass reads the whole tenant again, and can see deletions
    counting.companies, counting.since = 0, []
    third, result = await next_pass(run, delta=False)
    assert result["status"] == "completed" and set(counting.since) == {None}
    assert counting.companies == before["source"]  # a later pass reads it once (its map is carried over)
    c3 = obj(open_staging(third.staging, prefix=third.prefix).read_json("report/report.json"), "company")
    assert (c3["created"], c3["updated"], c3["unchanged"]) == (0, 0, before["loaded"])
    assert "read" not in open_staging(third.staging, prefix=third.prefix).read_json("objects/company/report.json")
