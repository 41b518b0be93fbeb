"""The Dataverse emulator's sales behaviour the work4all objects rely on: products start as Draft, are
published with PublishProductHierarchy and only then usable on price lists and quote lines; a unit group
comes with its base unit; accounts have a relationship type (customertypecode)."""

from __future__ import annotations

import httpx
import pytest

from emulators.dataverse.core import create_core_app

BASE = "https://org.crm.dynamics.com/api/data/v9.2/"


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_core_app()), base_url=BASE) as c:
        yield c


def _id(r: httpx.Response) -> str:
    assert r.status_code == 204, r.text
    return r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


async def _catalogue(client) -> dict:
    schedule = _id(await client.post("uomschedules", json={"name": "work4all", "baseuomname": "Einheit"}))
    units = (await client.get("uoms", params={"$filter": f"_uomscheduleid_value eq {schedule}",
                                               "$select": "uomid,name,isschedulebaseuom,quantity"})).json()["value"]
    eur = (await client.get("transactioncurrencies", params={"$filter": "isocurrencycode eq 'EUR'"})).json()["value"][0]
    product = _id(await client.post("products", json={
        "name": "Schraube", "productnumber": "A-1", "defaultuomscheduleid@odata.bind": f"/uomschedules({schedule})",
        "defaultuomid@odata.bind": f"/uoms({units[0]['uomid']})"}))
    pricelevel = _id(await client.post("pricelevels", json={
        "name": "Standard", "transactioncurrencyid@odata.bind": f"/transactioncurrencies({eur['transactioncurrencyid']})"}))
    return {"schedule": schedule, "units": units, "product": product, "pricelevel": pricelevel,
            "currency": eur["transactioncurrencyid"]}


async def test_a_unit_group_comes_with_its_base_unit(client):
    c = await _catalogue(client)
    assert [(u["name"], u["isschedulebaseuom"], u["quantity"]) for u in c["units"]] == [("Einheit", True, 1.0)]


async def test_a_product_starts_as_draft_and_cannot_be_used_until_published(client):
    c = await _catalogue(client)
    p = (await client.get(f"products({c['product']})", params={"$select": "statecode,statuscode"})).json()
    assert (p["statecode"], p["statuscode"]) == (2, 0)  # Draft
    item = {"pricelevelid@odata.bind": f"/pricelevels({c['pricelevel']})",
            "productid@odata.bind": f"/products({c['product']})", "uomid@odata.bind": f"/uoms({c['units'][0]['uomid']})",
            "amount": 1.5}
    r = await client.post("productpricelevels", json=item)
    assert r.status_code == 400 and "Draft" in r.json()["error"]["message"]
    # SetState cannot activate a Draft: it is published
    r = await client.patch(f"products({c['product']})", json={"statecode": 0, "statuscode": 1})
    assert r.status_code == 400 and "PublishProductHierarchy" in r.json()["error"]["message"]
    r = await client.post(f"products({c['product']})/Microsoft.Dynamics.CRM.PublishProductHierarchy", json={})
    assert r.status_code == 204, r.text
    p = (await client.get(f"products({c['product']})", params={"$select": "statecode,statuscode"})).json()
    assert (p["statecode"], p["statuscode"]) == (0, 1)
    assert (await client.post("productpricelevels", json=item)).status_code == 204
    # publishing twice is refused (only Draft or Under Revision products are published)
    r = await client.post(f"products({c['product']})/Microsoft.Dynamics.CRM.PublishProductHierarchy", json={})
    assert r.status_code == 400


async def test_quote_lines_take_published_products_only(client):
    c = await _catalogue(client)
    account = _id(await client.post("accounts", json={"name": "Müller GmbH", "customertypecode": 3}))
    quote = _id(await client.post("quotes", json={
        "name": "Angebot 1", "customerid_account@odata.bind": f"/accounts({account})",
        "pricelevelid@odata.bind": f"/pricelevels({c['pricelevel']})",
        "transactioncurrencyid@odata.bind": f"/transactioncurrencies({c['currency']})"}))
    line = {"quoteid@odata.bind": f"/quotes({quote})", "productid@odata.bind": f"/products({c['product']})",
            "uomid@odata.bind": f"/uoms({c['units'][0]['uomid']})", "quantity": 2, "priceperunit": 1234.56,
            "ispriceoverridden": True}
    assert (await client.post("quotedetails", json=line)).status_code == 400
    await client.post(f"products({c['product']})/Microsoft.Dynamics.CRM.PublishProductHierarchy", json={})
    assert (await client.post("quotedetails", json=line)).status_code == 204


async def test_account_relationship_type_is_an_option_set(client):
    assert (await client.post("accounts", json={"name": "x", "customertypecode": 11})).status_code == 204
    r = await client.post("accounts", json={"name": "y", "customertypecode": 99})
    assert r.status_code == 400
