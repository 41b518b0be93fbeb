"""Records: create, retrieve, update, upsert, delete, lookups and validation, as Dataverse answers them."""

from __future__ import annotations

import base64
import re

from .conftest import BASE, err

GUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def id_of(r) -> str:
    m = re.search(rf"\(({GUID})\)$", r.headers["OData-EntityId"])
    assert m, r.headers
    return m.group(1)


async def test_create_answers_204_with_entity_id_and_odata_version(client):
    r = await client.post("accounts", json={"name": "Contoso"})
    assert r.status_code == 204
    assert r.headers["OData-Version"] == "4.0"
    assert re.fullmatch(rf"{re.escape(BASE)}accounts\({GUID}\)", r.headers["OData-EntityId"])
    got = await client.get(f"accounts({id_of(r)})")
    assert got.status_code == 200
    body = got.json()
    assert body["name"] == "Contoso"
    assert body["@odata.context"] == f"{BASE}$metadata#accounts/$entity"
    assert body["statecode"] == 0 and body["statuscode"] == 1
    assert body["_ownerid_value"]  # owned by the calling application user
    assert got.headers["OData-Version"] == "4.0"


async def test_create_with_return_representation_answers_201_with_body(client):
    r = await client.post("accounts?$select=name,accountid", json={"name": "Fabrikam"},
                          headers={"Prefer": "return=representation"})
    assert r.status_code == 201
    assert r.json()["name"] == "Fabrikam"
    assert set(r.json()) == {"@odata.context", "@odata.etag", "name", "accountid"}
    assert r.headers["Preference-Applied"] == "return=representation"


async def test_select_on_retrieve_and_unknown_select(client):
    rid = id_of(await client.post("accounts", json={"name": "A", "telephone1": "123"}))
    r = await client.get(f"accounts({rid})?$select=name")
    assert r.json()["name"] == "A" and "telephone1" not in r.json() and r.json()["accountid"] == rid
    bad = await client.get(f"accounts({rid})?$select=nosuch")
    assert bad.status_code == 400
    assert err(bad) == ("0x0", "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.account'.")


async def test_unknown_column_is_refused(client):
    r = await client.post("accounts", json={"name": "A", "wtc_notthere": "x"})
    assert r.status_code == 400
    code, msg = err(r)
    assert code == "0x0"
    assert msg.startswith("The property 'wtc_notthere' does not exist on type 'Microsoft.Dynamics.CRM.account'")


async def test_unknown_entity_set_and_missing_record(client):
    r = await client.get("widgets")
    assert r.status_code == 404 and err(r) == ("0x8006088a", "Resource not found for the segment 'widgets'.")
    missing = "00000000-0000-0000-0000-000000000001"
    r = await client.get(f"accounts({missing})")
    assert r.status_code == 404
    assert err(r) == ("0x80040217", f"Entity 'account' With Id = {missing} Does Not Exist")
    r = await client.delete(f"accounts({missing})")
    assert r.status_code == 404


async def test_malformed_json(client):
    r = await client.post("accounts", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and err(r)[0] == "0x0"


async def test_string_over_max_length(client):
    r = await client.post("accounts", json={"name": "x" * 161})
    assert r.status_code == 400
    assert err(r) == ("0x80044331", "A validation error occurred. The length of the 'name' attribute of the "
                                    "'account' entity exceeded the maximum allowed length of '160'.")
    ok = await client.post("accounts", json={"name": "x" * 160})
    assert ok.status_code == 204


async def test_invalid_option_value(client):
    r = await client.post("accounts", json={"name": "A", "industrycode": 999})
    assert r.status_code == 400
    code, msg = err(r)
    assert code == "0x8004431a"
    assert msg.startswith("A validation error occurred. The value 999 of 'industrycode' on record of type 'account' "
                          "is outside the valid range. Accepted Values: 1,2,3,")


async def test_wrong_types(client):
    r = await client.post("opportunities", json={"name": "O", "estimatedvalue": "lots"})
    assert r.status_code == 400 and err(r) == ("0x0", "Cannot convert the literal 'lots' to the expected type "
                                                      "'Edm.Decimal'.")
    r = await client.post("opportunities", json={"name": "O", "closeprobability": "ten"})
    assert r.status_code == 400 and err(r)[0] == "0x0"
    r = await client.post("opportunities", json={"name": "O", "closeprobability": 101})
    assert r.status_code == 400 and err(r)[0] == "0x80044331"
    r = await client.post("opportunities", json={"name": "O", "estimatedclosedate": "2024-02-30"})
    assert r.status_code == 400 and "Edm.Date" in err(r)[1]
    r = await client.post("opportunities", json={"name": "O", "estimatedclosedate": "2024-02-01T10:00:00Z"})
    assert r.status_code == 400 and "Edm.Date" in err(r)[1]
    r = await client.post("accounts", json={"name": "A", "overriddencreatedon": "yesterday"})
    assert r.status_code == 400 and err(r) == ("0x0", "Cannot convert the literal 'yesterday' to the expected type "
                                                      "'Edm.DateTimeOffset'.")
    r = await client.post("opportunities", json={"name": "O", "estimatedvalue": 1500.5, "closeprobability": 40,
                                                 "estimatedclosedate": "2024-02-29", "salesstage": 2})
    assert r.status_code == 204
    got = (await client.get(f"opportunities({id_of(r)})")).json()
    assert got["estimatedvalue"] == 1500.5 and got["estimatedclosedate"] == "2024-02-29"


async def test_overriddencreatedon_sets_createdon(client):
    r = await client.post("accounts", json={"name": "Old", "overriddencreatedon": "2015-03-04T05:06:07+01:00"})
    body = (await client.get(f"accounts({id_of(r)})")).json()
    assert body["createdon"] == "2015-03-04T04:06:07Z"
    assert body["overriddencreatedon"] == "2015-03-04T04:06:07Z"
    assert body["modifiedon"] > body["createdon"]


async def test_contact_fullname_is_computed_and_read_only(client):
    r = await client.post("contacts", json={"firstname": "Ada", "lastname": "Lovelace", "fullname": "ignored"})
    assert (await client.get(f"contacts({id_of(r)})")).json()["fullname"] == "Ada Lovelace"


async def test_incident_requires_customer(client):
    r = await client.post("incidents", json={"title": "Broken"})
    assert r.status_code == 400
    assert err(r) == ("0x80044410", "You should specify a parent contact or account.")
    acc = id_of(await client.post("accounts", json={"name": "A"}))
    r = await client.post("incidents", json={"title": "Broken", "customerid_account@odata.bind": f"/accounts({acc})",
                                             "prioritycode": 1, "caseorigincode": 2})
    assert r.status_code == 204
    body = (await client.get(f"incidents({id_of(r)})")).json()
    assert body["_customerid_value"] == acc


async def test_setting_closed_state_directly_is_refused(client):
    r = await client.post("opportunities", json={"name": "O", "statecode": 1, "statuscode": 3})
    assert r.status_code == 400
    assert err(r) == ("0x80100005", "This message can not be used to set the state of opportunity to won. In order "
                                    "to set state of opportunity to won, use the won message instead.")
    opp = id_of(await client.post("opportunities", json={"name": "O"}))
    r = await client.patch(f"opportunities({opp})", json={"statuscode": 4})
    assert r.status_code == 400 and err(r)[0] == "0x80100005"
    acc = id_of(await client.post("accounts", json={"name": "A"}))
    inc = id_of(await client.post("incidents", json={"title": "T",
                                                     "customerid_account@odata.bind": f"/accounts({acc})"}))
    r = await client.patch(f"incidents({inc})", json={"statecode": 1, "statuscode": 5})
    assert r.status_code == 400 and "CloseIncidentRequest" in err(r)[1]
    # open-state status reasons are fine
    assert (await client.patch(f"opportunities({opp})", json={"statuscode": 2})).status_code == 204


async def test_activities_may_be_created_completed(client):
    r = await client.post("tasks", json={"subject": "Call back", "statecode": 1, "statuscode": 5,
                                         "actualdurationminutes": 30, "prioritycode": 2})
    assert r.status_code == 204
    body = (await client.get(f"tasks({id_of(r)})")).json()
    assert body["activityid"] == id_of(r) and body["statecode"] == 1 and body["activitytypecode"] == "task"
    r = await client.post("phonecalls", json={"subject": "x", "statecode": 1})  # default status of Completed
    assert (await client.get(f"phonecalls({id_of(r)})")).json()["statuscode"] == 2
    r = await client.post("tasks", json={"subject": "x", "statecode": 1, "statuscode": 2})
    assert r.status_code == 400


async def test_lookup_binds_by_id_and_missing_target(client):
    acc = id_of(await client.post("accounts", json={"name": "Parent"}))
    r = await client.post("contacts", json={"lastname": "L", "parentcustomerid_account@odata.bind": f"/accounts({acc})"})
    assert r.status_code == 204
    con = id_of(r)
    r = await client.get(f"contacts({con})?$select=_parentcustomerid_value",
                         headers={"Prefer": 'odata.include-annotations="*"'})
    body = r.json()
    assert body["_parentcustomerid_value"] == acc
    assert body["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    missing = "11111111-2222-3333-4444-555555555555"
    r = await client.post("contacts", json={"lastname": "L",
                                            "parentcustomerid_account@odata.bind": f"/accounts({missing})"})
    assert r.status_code == 404
    assert err(r) == ("0x80040217", f"Entity 'account' With Id = {missing} Does Not Exist")
    r = await client.post("contacts", json={"lastname": "L", "parentcustomerid_widget@odata.bind": f"/accounts({acc})"})
    assert r.status_code == 400 and "undeclared property 'parentcustomerid_widget'" in err(r)[1]
    r = await client.post("contacts", json={"lastname": "L", "parentcustomerid_contact@odata.bind": f"/accounts({acc})"})
    assert r.status_code == 400


async def test_lookup_bind_by_alternate_key_and_owner(keyed):
    client = keyed
    assert (await client.post("accounts", json={"name": "P", "wtc_sourceid": "o'brien"})).status_code == 204
    users = (await client.get("systemusers", params={"$filter": "fullname eq '# migration-app'"})).json()["value"]
    assert len(users) == 1
    r = await client.post("contacts", json={
        "lastname": "C", "parentcustomerid_account@odata.bind": "/accounts(wtc_sourceid='o''brien')",
        "ownerid@odata.bind": f"/systemusers({users[0]['systemuserid']})"})
    assert r.status_code == 204
    r = await client.post("contacts", json={"lastname": "C",
                                            "parentcustomerid_account@odata.bind": "/accounts(wtc_sourceid='nope')"})
    assert r.status_code == 404
    assert err(r) == ("0x80060891", "A record with the specified key values does not exist in account entity")


async def test_update_and_delete(client):
    rid = id_of(await client.post("accounts", json={"name": "A", "telephone1": "1"}))
    r = await client.patch(f"accounts({rid})", json={"telephone1": "2"}, headers={"If-Match": "*"})
    assert r.status_code == 204
    body = (await client.get(f"accounts({rid})")).json()
    assert body["telephone1"] == "2" and body["name"] == "A"
    stale = await client.patch(f"accounts({rid})", json={"name": "B"}, headers={"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    assert (await client.delete(f"accounts({rid})")).status_code == 204
    assert (await client.get(f"accounts({rid})")).status_code == 404


async def test_patch_by_id_is_an_upsert_unless_if_match(client):
    new_id = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
    r = await client.patch(f"accounts({new_id})", json={"name": "Upserted"}, headers={"If-Match": "*"})
    assert r.status_code == 404 and err(r)[0] == "0x80040217"
    r = await client.patch(f"accounts({new_id})", json={"name": "Upserted"})
    assert r.status_code == 204 and id_of(r) == new_id


async def test_upsert_by_alternate_key(keyed):
    client = keyed
    r = await client.patch("accounts(wtc_sourceid='42')", json={"name": "A42"}, headers={"If-Match": "*"})
    assert r.status_code == 404
    assert err(r) == ("0x80060891", "A record with the specified key values does not exist in account entity")
    r = await client.patch("accounts(wtc_sourceid='42')", json={"name": "A42"},
                           headers={"Prefer": "return=representation"})
    assert r.status_code == 201 and r.json()["wtc_sourceid"] == "42"
    r = await client.patch("accounts(wtc_sourceid='42')", json={"name": "A42 bis"},
                           headers={"Prefer": "return=representation"})
    assert r.status_code == 200 and r.json()["name"] == "A42 bis"
    r = await client.patch("accounts(wtc_sourceid='42')", json={"name": "again"}, headers={"If-None-Match": "*"})
    assert r.status_code == 412
    assert err(r) == ("0x80040237", "A record with matching key values already exists.")
    r = await client.patch("accounts(wtc_sourceid='43')", json={"name": "new"}, headers={"If-None-Match": "*"})
    assert r.status_code == 204
    got = await client.get("accounts(wtc_sourceid='42')?$select=name")
    assert got.json()["name"] == "A42 bis"
    # key values compare case-insensitively, like SQL Server's default collation
    assert (await client.get("accounts(wtc_sourceid='42')")).status_code == 200


async def test_duplicate_alternate_key_on_create(keyed):
    client = keyed
    assert (await client.post("accounts", json={"name": "A", "wtc_sourceid": "K1"})).status_code == 204
    r = await client.post("accounts", json={"name": "B", "wtc_sourceid": "k1"})
    assert r.status_code == 412
    code, msg = err(r)
    assert code == "0x80060892" and "wtc_sourceid_key" in msg


async def test_systemuser_cannot_be_addressed_by_alternate_key(client):
    r = await client.get("systemusers(internalemailaddress='a@b.c')")
    assert r.status_code == 400


async def test_systemusers_can_be_provisioned_and_seeded():
    import httpx

    from emulators.dataverse.core import create_core_app
    app = create_core_app(seed={"systemusers": [{"internalemailaddress": "ann@contoso.com", "fullname": "Ann A"}]})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        r = await c.post("systemusers", json={"internalemailaddress": "bob@contoso.com", "firstname": "Bob",
                                              "lastname": "B"})
        assert r.status_code == 204
        users = (await c.get("systemusers?$select=internalemailaddress,fullname&$orderby=internalemailaddress")).json()
        emails = [u["internalemailaddress"] for u in users["value"]]
        assert emails == ["ann@contoso.com", "bob@contoso.com", "migration-app@emulator.invalid"]
        assert users["value"][1]["fullname"] == "Bob B"
        cur = (await c.get("transactioncurrencies?$select=isocurrencycode")).json()["value"]
        assert {x["isocurrencycode"] for x in cur} == {"EUR", "AUD"}
        uom = (await c.get("uoms?$select=name,_uomscheduleid_value")).json()["value"]
        assert uom[0]["name"] == "Primary Unit"
        r = await c.post("systemusers", json={"fullname": "no email"})
        assert r.status_code == 400


async def test_annotation_document_body(client):
    acc = id_of(await client.post("accounts", json={"name": "A"}))
    data = base64.b64encode(b"hello").decode()
    r = await client.post("annotations", json={"subject": "s", "filename": "a.txt", "mimetype": "text/plain",
                                               "documentbody": data, "objectid_account@odata.bind": f"/accounts({acc})"})
    assert r.status_code == 204
    body = (await client.get(f"annotations({id_of(r)})")).json()
    assert body["filesize"] == 5 and body["isdocument"] is True and body["_objectid_value"] == acc
    big = base64.b64encode(b"x" * (5 * 1024 * 1024 + 1)).decode()
    r = await client.post("annotations", json={"subject": "s", "filename": "b.bin", "documentbody": big})
    assert r.status_code == 400 and "too large" in err(r)[1]


async def test_regarding_binds_on_activities_and_document_locations(client):
    acc = id_of(await client.post("accounts", json={"name": "A"}))
    for body in ({"subject": "t", "regardingobjectid_account_task@odata.bind": f"/accounts({acc})"},
                 {"subject": "t", "regardingobjectid_account@odata.bind": f"/accounts({acc})"}):
        r = await client.post("tasks", json=body)
        assert r.status_code == 204
        assert (await client.get(f"tasks({id_of(r)})")).json()["_regardingobjectid_value"] == acc
    site = id_of(await client.post("sharepointsites", json={"name": "Docs", "absoluteurl": "https://x/sites/d"}))
    r = await client.post("sharepointdocumentlocations", json={
        "name": "A", "relativeurl": "account/A_1", "parentsiteorlocation_sharepointsite@odata.bind":
            f"/sharepointsites({site})", "regardingobjectid_account@odata.bind": f"/accounts({acc})"})
    assert r.status_code == 204
