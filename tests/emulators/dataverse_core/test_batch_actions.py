"""$batch (change sets, Content-ID references, continue-on-error, limits), actions, persistence, request.state."""

from __future__ import annotations

import json
import re

import httpx

from emulators.dataverse.core import create_core_app

from .conftest import BASE, err

API = "/api/data/v9.2/"


def batch_body(items, boundary="batch_AAA"):
    """items: ("req", method, url, body|None, headers) or ("cs", [(content_id, method, url, body), ...])."""
    out = []
    for item in items:
        out.append(f"--{boundary}")
        if item[0] == "cs":
            cs = "changeset_BBB"
            out += [f"Content-Type: multipart/mixed; boundary={cs}", ""]
            for cid, method, url, body in item[1]:
                out += [f"--{cs}", "Content-Type: application/http", "Content-Transfer-Encoding: binary",
                        f"Content-ID: {cid}", "", f"{method} {url} HTTP/1.1",
                        "Content-Type: application/json; type=entry", "", json.dumps(body) if body else ""]
            out.append(f"--{cs}--")
        else:
            _, method, url, body, headers = item
            out += ["Content-Type: application/http", "Content-Transfer-Encoding: binary", "",
                    f"{method} {url} HTTP/1.1", *[f"{k}: {v}" for k, v in headers.items()]]
            if body is not None:
                out += ["Content-Type: application/json", "", json.dumps(body)]
            else:
                out += [""]
    out.append(f"--{boundary}--")
    return "\r\n".join(out).encode()


async def post_batch(client, items, prefer=None):
    headers = {"Content-Type": "multipart/mixed; boundary=batch_AAA"}
    if prefer:
        headers["Prefer"] = prefer
    return await client.post("$batch", content=batch_body(items), headers=headers)


def statuses(r):
    return [int(s) for s in re.findall(rb"HTTP/1\.1 (\d{3})", r.content)]


async def test_batch_with_changeset_and_content_id_reference(client):
    r = await post_batch(client, [
        ("cs", [("1", "POST", f"{API}accounts", {"name": "Parent"}),
                ("2", "POST", f"{API}contacts", {"lastname": "Kid", "parentcustomerid_account@odata.bind": "$1"})]),
        ("req", "GET", f"{API}contacts?$select=lastname,_parentcustomerid_value", None, {}),
    ])
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert statuses(r) == [204, 204, 200]
    assert b"Content-ID: 1" in r.content and b"OData-EntityId: " in r.content
    contacts = (await client.get("contacts?$select=_parentcustomerid_value")).json()["value"]
    parent = (await client.get("accounts?$select=name")).json()["value"][0]["accountid"]
    assert contacts[0]["_parentcustomerid_value"] == parent


async def test_failed_changeset_rolls_back_and_batch_stops(client):
    r = await post_batch(client, [
        ("req", "POST", f"{API}accounts", {"name": "first"}, {}),
        ("cs", [("1", "POST", f"{API}accounts", {"name": "in changeset"}),
                ("2", "POST", f"{API}accounts", {"name": "x" * 500})]),
        ("req", "POST", f"{API}accounts", {"name": "never"}, {}),
    ])
    assert r.status_code == 400
    assert statuses(r) == [204, 400]
    assert b"0x80044331" in r.content
    names = [v["name"] for v in (await client.get("accounts?$select=name")).json()["value"]]
    assert names == ["first"]


async def test_continue_on_error(client):
    r = await post_batch(client, [
        ("req", "POST", f"{API}accounts", {"name": "x" * 500}, {}),
        ("req", "POST", f"{API}accounts", {"name": "ok"}, {}),
        ("req", "GET", f"{API}accounts(00000000-0000-0000-0000-000000000009)", None, {}),
    ], prefer="odata.continue-on-error")
    assert r.status_code == 200
    assert r.headers["Preference-Applied"] == "odata.continue-on-error"
    assert statuses(r) == [400, 204, 404]


async def test_batch_limits(client):
    r = await post_batch(client, [("req", "POST", f"{API}accounts", {"name": f"a{i}"}, {}) for i in range(1001)])
    assert r.status_code == 400 and "1000" in err(r)[1]
    assert (await client.get("accounts")).json()["value"] == []
    r = await post_batch(client, [("cs", [("1", "GET", f"{API}accounts", None)])])
    assert r.status_code == 400 and "GET" in err(r)[1]
    r = await client.post("$batch", content=b"x", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


async def test_upsert_and_prefer_inside_batch(keyed):
    client = keyed
    r = await post_batch(client, [
        ("req", "PATCH", f"{API}accounts(wtc_sourceid='b1')", {"name": "B1"}, {"Prefer": "return=representation"}),
        ("req", "PATCH", f"{API}accounts(wtc_sourceid='b1')", {"name": "B1"}, {"If-None-Match": "*"}),
    ], prefer="odata.continue-on-error")
    assert statuses(r) == [201, 412]


async def _opportunity(client):
    acc = (await client.post("accounts", json={"name": "A"})).headers["OData-EntityId"].rsplit("(", 1)[1][:-1]
    r = await client.post("opportunities", json={"name": "Deal", "estimatedvalue": 1000,
                                                 "customerid_account@odata.bind": f"/accounts({acc})"})
    return r.headers["OData-EntityId"].rsplit("(", 1)[1][:-1]


async def test_win_and_lose_opportunity(client):
    opp = await _opportunity(client)
    r = await client.post("WinOpportunity", json={"Status": 3, "OpportunityClose": {
        "subject": "Won!", "opportunityid@odata.bind": f"/opportunities({opp})", "actualrevenue": 1200,
        "actualend": "2024-05-06T00:00:00Z"}})
    assert r.status_code == 204, r.text
    o = (await client.get(f"opportunities({opp})")).json()
    assert (o["statecode"], o["statuscode"], o["actualvalue"], o["actualclosedate"]) == (1, 3, 1200, "2024-05-06")
    closes = (await client.get("opportunitycloses")).json()["value"]
    assert closes[0]["_opportunityid_value"] == opp and closes[0]["subject"] == "Won!"
    r = await client.post("WinOpportunity", json={"Status": 3, "OpportunityClose": {
        "opportunityid@odata.bind": f"/opportunities({opp})"}})
    assert r.status_code == 400
    opp2 = await _opportunity(client)
    r = await client.post("LoseOpportunity", json={"Status": 3, "OpportunityClose": {
        "opportunityid@odata.bind": f"/opportunities({opp2})"}})
    assert r.status_code == 400  # 3 is a Won status
    r = await client.post("LoseOpportunity", json={"Status": 4, "OpportunityClose": {
        "subject": "Lost", "opportunityid@odata.bind": f"/opportunities({opp2})"}})
    assert r.status_code == 204
    assert (await client.get(f"opportunities({opp2})")).json()["statecode"] == 2


async def test_close_incident(client):
    acc = (await client.post("accounts", json={"name": "A"})).headers["OData-EntityId"].rsplit("(", 1)[1][:-1]
    inc = (await client.post("incidents", json={"title": "T", "customerid_account@odata.bind": f"/accounts({acc})"})
           ).headers["OData-EntityId"].rsplit("(", 1)[1][:-1]
    r = await client.post("CloseIncident", json={"Status": 5, "IncidentResolution": {
        "subject": "Fixed", "incidentid@odata.bind": f"/incidents({inc})"}})
    assert r.status_code == 204
    i = (await client.get(f"incidents({inc})")).json()
    assert (i["statecode"], i["statuscode"]) == (1, 5)
    r = await client.post("CloseIncident", json={"Status": 5, "IncidentResolution": {
        "subject": "Again", "incidentid@odata.bind": f"/incidents({inc})"}})
    assert r.status_code == 400
    missing = "00000000-0000-0000-0000-0000000000aa"
    r = await client.post("CloseIncident", json={"Status": 5, "IncidentResolution": {
        "incidentid@odata.bind": f"/incidents({missing})"}})
    assert r.status_code == 404


async def test_sqlite_persistence_survives_a_new_app(tmp_path):
    db = str(tmp_path / "dv.sqlite")
    app = create_core_app(db=db, key_activation_delay=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        await c.post("EntityDefinitions(LogicalName='account')/Attributes", json={
            "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "SchemaName": "wtc_SourceId",
            "MaxLength": 50})
        await c.post("EntityDefinitions(LogicalName='account')/Keys", json={
            "SchemaName": "wtc_key", "KeyAttributes": ["wtc_sourceid"]})
        r = await c.post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple", json={"Targets": [
            {"@odata.type": "Microsoft.Dynamics.CRM.account", "@odata.id": f"accounts(wtc_sourceid='{i}')",
             "name": f"N{i}"} for i in range(3)]})
        assert r.status_code == 204
        await c.delete("accounts(wtc_sourceid='2')")
    app2 = create_core_app(db=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app2), base_url=BASE) as c:
        assert (await c.get("accounts(wtc_sourceid='1')")).json()["name"] == "N1"
        assert (await c.get("accounts(wtc_sourceid='2')")).status_code == 404
        cur = (await c.get("transactioncurrencies")).json()["value"]
        assert len(cur) == 2  # defaults are not seeded twice


async def test_request_state_for_protection_layer():
    app = create_core_app(key_activation_delay=0)
    seen = {}

    async def probe(scope, receive, send):
        scope["state"] = {}
        await app(scope, receive, send)
        seen.update(scope["state"])

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=probe), base_url=BASE) as c:
        await c.get("accounts")
        assert (seen["dv_kind"], seen["dv_requests"], seen["dv_records"]) == ("read", 1, 0)
        await c.post("accounts", json={"name": "a"})
        assert (seen["dv_kind"], seen["dv_records"]) == ("single", 1)
        await c.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [
            {"@odata.type": "Microsoft.Dynamics.CRM.account", "name": "b"}] * 4})
        assert (seen["dv_kind"], seen["dv_requests"], seen["dv_records"]) == ("multiple", 1, 4)
        await post_batch(c, [("req", "POST", f"{API}accounts", {"name": f"a{i}"}, {}) for i in range(3)])
        assert (seen["dv_kind"], seen["dv_requests"], seen["dv_records"]) == ("batch", 3, 3)
        await c.get("EntityDefinitions(LogicalName='account')")
        assert seen["dv_kind"] == "metadata"
