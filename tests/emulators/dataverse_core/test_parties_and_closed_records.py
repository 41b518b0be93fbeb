"""E-mail activity parties (deep insert, $expand, what Dataverse refuses) and closed records: read-only
until reopened (opportunities, invoices and their lines), resolved cases updatable by default."""

from __future__ import annotations

import httpx

from emulators.dataverse.core import create_core_app

from .conftest import BASE, err
from .test_records import id_of

USER = "7e6d8f4c-0c0a-4b5e-9a57-6f0d1b2c3a01"  # the seeded application user


async def test_email_parties_are_deep_inserted_expanded_and_replaced(client):
    contact = id_of(await client.post("contacts", json={"lastname": "Lee", "emailaddress1": "lee@x.com"}))
    r = await client.post("emails", json={"subject": "Hello", "email_activity_parties": [
        {"participationtypemask": 1, "partyid_systemuser@odata.bind": f"/systemusers({USER})"},
        {"participationtypemask": 2, "partyid_contact@odata.bind": f"/contacts({contact})"},
        {"participationtypemask": 3, "addressused": "someone@else.com"}]})
    assert r.status_code == 204, r.text
    email = id_of(r)
    got = (await client.get(f"emails({email})?$select=subject&$expand=email_activity_parties("
                            "$select=participationtypemask,addressused,_partyid_value)")).json()
    parties = sorted(got["email_activity_parties"], key=lambda p: p["participationtypemask"])
    assert [(p["participationtypemask"], p["_partyid_value"], p["addressused"]) for p in parties] == [
        (1, USER, None), (2, contact, None), (3, None, "someone@else.com")]
    listed = (await client.get("emails?$select=subject&$expand=email_activity_parties")).json()["value"]
    assert len(listed[0]["email_activity_parties"]) == 3
    r = await client.patch(f"emails({email})", json={"email_activity_parties": [
        {"participationtypemask": 2, "addressused": "only@one.com"}]})
    assert r.status_code == 204
    rows = (await client.get(f"activityparties?$filter=_activityid_value eq {email}"
                             "&$select=participationtypemask,addressused")).json()["value"]
    assert [(p["participationtypemask"], p["addressused"]) for p in rows] == [(2, "only@one.com")]


async def test_what_dataverse_refuses_in_parties(client):
    missing = "00000000-0000-0000-0000-0000000000aa"
    r = await client.post("emails", json={"subject": "x", "email_activity_parties": [
        {"participationtypemask": 5, "addressused": "a@b.com"}]})  # a required attendee is not an e-mail party
    assert r.status_code == 400 and "participationtypemask 5" in err(r)[1]
    r = await client.post("emails", json={"subject": "x", "email_activity_parties": [{"participationtypemask": 1}]})
    assert r.status_code == 400
    r = await client.post("emails", json={"subject": "x", "email_activity_parties": [
        {"participationtypemask": 1, "partyid_contact@odata.bind": f"/contacts({missing})"}]})
    assert r.status_code == 404 and err(r)[0] == "0x80040217"
    assert (await client.get("emails")).json()["value"] == [], "a refused create writes nothing"
    r = await client.post("tasks", json={"subject": "x", "task_activity_parties": [
        {"participationtypemask": 1, "addressused": "a@b.com"}]})
    assert r.status_code == 400 and err(r)[0] == "0x0"
    r = await client.post("activityparties", json={"participationtypemask": 1, "addressused": "a@b.com"})
    assert r.status_code == 405


async def _account(client) -> str:
    return id_of(await client.post("accounts", json={"name": "A"}))


async def test_a_closed_opportunity_is_read_only_until_reopened(client):
    acc = await _account(client)
    opp = id_of(await client.post("opportunities", json={"name": "O", "customerid_account@odata.bind":
                                                         f"/accounts({acc})"}))
    await client.post("WinOpportunity", json={"Status": 3, "OpportunityClose": {
        "subject": "Won", "opportunityid@odata.bind": f"/opportunities({opp})", "actualend": "2024-01-02T00:00:00Z"}})
    r = await client.patch(f"opportunities({opp})", json={"ownerid@odata.bind": f"/systemusers({USER})"})
    assert r.status_code == 400 and "closed" in err(r)[1]
    assert (await client.patch(f"opportunities({opp})", json={"statecode": 0, "statuscode": 1})).status_code == 204
    assert (await client.patch(f"opportunities({opp})", json={"name": "O2"})).status_code == 204
    closes = (await client.get("opportunitycloses?$select=statecode")).json()["value"]
    assert [c["statecode"] for c in closes] == [2], "reopening cancels the earlier close activity"


async def test_resolved_cases_take_api_updates_unless_the_setting_forbids_it():
    for allowed in (True, False):
        app = create_core_app(key_activation_delay=0.05, resolved_case_updates=allowed)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
            acc = await _account(client)
            inc = id_of(await client.post("incidents", json={"title": "T", "customerid_account@odata.bind":
                                                             f"/accounts({acc})"}))
            await client.post("CloseIncident", json={"Status": 5, "IncidentResolution": {
                "subject": "Fixed", "incidentid@odata.bind": f"/incidents({inc})"}})
            r = await client.patch(f"incidents({inc})", json={"ownerid@odata.bind": f"/systemusers({USER})"})
            assert r.status_code == (204 if allowed else 400)
            if not allowed:
                assert err(r)[0] == "0x800404cf"
                reopen = await client.patch(f"incidents({inc})", json={"statecode": 0, "statuscode": 1})
                assert reopen.status_code == 204


async def test_paid_and_canceled_invoices_and_their_lines_are_read_only(client):
    acc = await _account(client)
    eur = "b0b1a0e2-0000-4000-8000-000000000978"
    pl = id_of(await client.post("pricelevels", json={"name": "P", "transactioncurrencyid@odata.bind":
                                                      f"/transactioncurrencies({eur})"}))
    inv = id_of(await client.post("invoices", json={
        "name": "I", "customerid_account@odata.bind": f"/accounts({acc})", "pricelevelid@odata.bind":
        f"/pricelevels({pl})", "transactioncurrencyid@odata.bind": f"/transactioncurrencies({eur})"}))
    line = {"invoiceid@odata.bind": f"/invoices({inv})", "isproductoverridden": True, "productdescription": "x",
            "quantity": 1}
    assert (await client.post("invoicedetails", json=line)).status_code == 204
    assert (await client.patch(f"invoices({inv})", json={"statecode": 2, "statuscode": 100001})).status_code == 204
    assert (await client.patch(f"invoices({inv})", json={"name": "changed"})).status_code == 400
    r = await client.post("invoicedetails", json=line)
    assert r.status_code == 400 and "invoice is closed" in err(r)[1]
    assert (await client.patch(f"invoices({inv})", json={"statecode": 0, "statuscode": 1})).status_code == 204
    assert (await client.post("invoicedetails", json=line)).status_code == 204
    r = await client.patch(f"invoices({inv})", json={"statecode": 3, "statuscode": 100001})
    assert r.status_code == 400, "100001 (Complete) is a Paid status reason, not a Canceled one"
