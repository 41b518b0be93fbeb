"""Metadata: EntityDefinitions, column creation, alternate keys and custom tables."""

from __future__ import annotations

import asyncio

import httpx

from emulators.dataverse.core import create_core_app

from .conftest import BASE, add_key, add_string_column, err


async def test_entity_definition_with_select_and_expand(client):
    r = await client.get("EntityDefinitions(LogicalName='contact')",
                         params={"$select": "LogicalName,EntitySetName,PrimaryIdAttribute", "$expand": "Attributes,Keys"})
    assert r.status_code == 200
    body = r.json()
    assert body["EntitySetName"] == "contacts" and body["PrimaryIdAttribute"] == "contactid"
    attrs = {a["LogicalName"]: a for a in body["Attributes"]}
    assert attrs["lastname"]["MaxLength"] == 50
    assert attrs["parentcustomerid"]["AttributeType"] == "Customer"
    assert attrs["parentcustomerid"]["Targets"] == ["account", "contact"]
    assert body["Keys"] == []
    r = await client.get("EntityDefinitions(LogicalName='nosuch')")
    assert r.status_code == 404


async def test_read_picklist_options(client):
    r = await client.get("EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='leadsourcecode')/"
                         "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
                         params={"$select": "LogicalName", "$expand": "OptionSet"})
    assert r.status_code == 200
    options = {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in r.json()["OptionSet"]["Options"]}
    assert options[8] == "Web" and options[1] == "Advertisement"


async def test_create_columns_of_each_type(client):
    await add_string_column(client, "account", "wtc_SourceId", 100)
    specs = [
        {"@odata.type": "Microsoft.Dynamics.CRM.MemoAttributeMetadata", "SchemaName": "wtc_Notes", "MaxLength": 10000},
        {"@odata.type": "Microsoft.Dynamics.CRM.PicklistAttributeMetadata", "SchemaName": "wtc_Tier",
         "OptionSet": {"@odata.type": "Microsoft.Dynamics.CRM.OptionSetMetadata", "IsGlobal": False,
                       "OptionSetType": "Picklist", "Options": [
                           {"Value": 100000000, "Label": {"LocalizedLabels": [{"Label": "Gold", "LanguageCode": 1033}]}},
                           {"Value": 100000001, "Label": {"LocalizedLabels": [{"Label": "Silver", "LanguageCode": 1033}]}}]}},
        {"@odata.type": "Microsoft.Dynamics.CRM.DecimalAttributeMetadata", "SchemaName": "wtc_Score", "Precision": 2,
         "MinValue": 0, "MaxValue": 100},
        {"@odata.type": "Microsoft.Dynamics.CRM.MoneyAttributeMetadata", "SchemaName": "wtc_Budget"},
        {"@odata.type": "Microsoft.Dynamics.CRM.IntegerAttributeMetadata", "SchemaName": "wtc_Seats"},
        {"@odata.type": "Microsoft.Dynamics.CRM.BooleanAttributeMetadata", "SchemaName": "wtc_Vip"},
        {"@odata.type": "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata", "SchemaName": "wtc_Since",
         "Format": "DateOnly"},
        {"@odata.type": "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata", "SchemaName": "wtc_LastSeen",
         "Format": "DateAndTime"},
    ]
    for spec in specs:
        spec = {**spec, "DisplayName": {"LocalizedLabels": [{"Label": spec["SchemaName"], "LanguageCode": 1033}]},
                "RequiredLevel": {"Value": "None"}}
        r = await client.post("EntityDefinitions(LogicalName='account')/Attributes", json=spec,
                              headers={"MSCRM.SolutionUniqueName": "wtcmigration"})
        assert r.status_code == 204, r.text
        assert "/Attributes(" in r.headers["OData-EntityId"]
    r = await client.post("accounts", json={"name": "A", "wtc_sourceid": "1", "wtc_notes": "n" * 5000,
                                            "wtc_tier": 100000001, "wtc_score": 99.5, "wtc_budget": 12.5,
                                            "wtc_seats": 3, "wtc_vip": True, "wtc_since": "2001-02-03",
                                            "wtc_lastseen": "2024-01-01T10:00:00Z"})
    assert r.status_code == 204, r.text
    assert (await client.post("accounts", json={"name": "A", "wtc_tier": 5})).status_code == 400
    assert (await client.post("accounts", json={"name": "A", "wtc_score": 101})).status_code == 400
    assert (await client.post("accounts", json={"name": "A", "wtc_sourceid": "x" * 101})).status_code == 400
    assert (await client.post("accounts", json={"name": "A", "wtc_since": "03.02.2001"})).status_code == 400
    r = await client.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='wtc_tier')/"
                         "Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$expand=OptionSet")
    assert [o["Value"] for o in r.json()["OptionSet"]["Options"]] == [100000000, 100000001]
    r = await client.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='wtc_sourceid')")
    assert r.json()["MaxLength"] == 100 and r.json()["IsCustomAttribute"] is True
    assert r.json()["@odata.type"] == "#Microsoft.Dynamics.CRM.StringAttributeMetadata"


async def test_duplicate_column_and_bad_prefix(client):
    await add_string_column(client)
    r = await client.post("EntityDefinitions(LogicalName='account')/Attributes", json={
        "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "SchemaName": "wtc_SourceId", "MaxLength": 10})
    assert r.status_code == 400
    r = await client.post("EntityDefinitions(LogicalName='account')/Attributes", json={
        "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "SchemaName": "SourceId", "MaxLength": 10})
    assert r.status_code == 400 and "prefix" in err(r)[1]
    r = await client.post("EntityDefinitions(LogicalName='account')/Attributes", json={
        "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "SchemaName": "zzz_SourceId", "MaxLength": 10})
    assert r.status_code == 400


async def test_already_existing_components_answer_microsofts_codes(client):
    """learn.microsoft.com/power-apps/developer/data-platform/reference/web-service-error-codes"""
    await add_string_column(client)
    r = await client.post("EntityDefinitions(LogicalName='account')/Attributes", json={
        "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "SchemaName": "wtc_SourceId", "MaxLength": 10})
    assert r.status_code == 400 and err(r) == (
        "0x80044363", "The schema name wtc_SourceId for type Attribute is not unique. An wtc_SourceId with same name "
                      "already exists.")
    await add_key(client)
    r = await client.post("EntityDefinitions(LogicalName='account')/Keys", json={
        "SchemaName": "wtc_sourceid_key", "KeyAttributes": ["name"]})
    assert err(r) == ("0x80060893", "An entity key with the name wtc_sourceid_key already exists on entity account.")
    r = await client.post("EntityDefinitions(LogicalName='account')/Keys", json={
        "SchemaName": "wtc_other_key", "KeyAttributes": ["wtc_sourceid"]})
    assert err(r) == ("0x80060894", "An entity key with the selected attributes already exists on entity.")
    rel = {"@odata.type": "Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata", "SchemaName": "wtc_account_contact",
           "ReferencedEntity": "account", "ReferencingEntity": "contact",
           "Lookup": {"SchemaName": "wtc_AccountId", "DisplayName": {"LocalizedLabels": [{"Label": "A"}]}}}
    assert (await client.post("RelationshipDefinitions", json=rel)).status_code == 204
    r = await client.post("RelationshipDefinitions", json=rel)
    assert err(r)[0] == "0x8004432b"
    r = await client.post("RelationshipDefinitions", json={**rel, "SchemaName": "wtc_other_rel"})
    assert err(r)[0] == "0x80044363"


async def test_key_goes_pending_then_active_and_is_unusable_before(client):
    await add_string_column(client)
    await client.post("accounts", json={"name": "A", "wtc_sourceid": "1"})
    await add_key(client, wait=False)
    k = (await client.get("EntityDefinitions(LogicalName='account')/Keys(LogicalName='wtc_sourceid_key')")).json()
    assert k["EntityKeyIndexStatus"] in ("Pending", "InProgress") and k["KeyAttributes"] == ["wtc_sourceid"]
    r = await client.get("accounts(wtc_sourceid='1')")
    assert r.status_code == 400
    await asyncio.sleep(0.08)
    keys = (await client.get("EntityDefinitions(LogicalName='account')/Keys")).json()["value"]
    assert keys[0]["EntityKeyIndexStatus"] == "Active"
    assert (await client.get("accounts(wtc_sourceid='1')")).json()["name"] == "A"
    body = (await client.get("EntityDefinitions(LogicalName='account')?$expand=Keys")).json()
    assert body["Keys"][0]["SchemaName"] == "wtc_sourceid_key"


async def test_key_over_duplicate_values_fails(client):
    await add_string_column(client)
    await client.post("accounts", json={"name": "A", "wtc_sourceid": "dup"})
    await client.post("accounts", json={"name": "B", "wtc_sourceid": "DUP"})
    k = await add_key(client)
    assert k["EntityKeyIndexStatus"] == "Failed"


async def test_composite_key(client):
    await add_string_column(client, "contact", "wtc_System")
    await add_string_column(client, "contact", "wtc_SourceId")
    await add_key(client, "contact", "wtc_sys_src", ("wtc_system", "wtc_sourceid"))
    r = await client.patch("contacts(wtc_system='worketc',wtc_sourceid='7')", json={"lastname": "L"})
    assert r.status_code == 204
    got = await client.get("contacts(wtc_sourceid='7',wtc_system='worketc')")
    assert got.status_code == 200 and got.json()["lastname"] == "L"


async def test_at_most_ten_keys_per_table(client):
    for i in range(11):
        await add_string_column(client, "account", f"wtc_K{i}")
    for i in range(10):
        await add_key(client, "account", f"wtc_key{i}", (f"wtc_k{i}",), wait=False)
    r = await client.post("EntityDefinitions(LogicalName='account')/Keys", json={
        "SchemaName": "wtc_key10", "KeyAttributes": ["wtc_k10"]})
    assert r.status_code == 400
    r = await client.post("EntityDefinitions(LogicalName='systemuser')/Keys", json={
        "SchemaName": "wtc_k", "KeyAttributes": ["internalemailaddress"]})
    assert r.status_code == 400


def _table_body(schema):
    return {"@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata", "SchemaName": schema,
            "DisplayName": {"LocalizedLabels": [{"Label": schema, "LanguageCode": 1033}]},
            "DisplayCollectionName": {"LocalizedLabels": [{"Label": schema + "s", "LanguageCode": 1033}]},
            "OwnershipType": "UserOwned", "HasNotes": True, "HasActivities": False,
            "Attributes": [{"@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "SchemaName": "wtc_Name",
                            "IsPrimaryName": True, "MaxLength": 100, "RequiredLevel": {"Value": "None"},
                            "DisplayName": {"LocalizedLabels": [{"Label": "Name", "LanguageCode": 1033}]}}]}


async def test_custom_table_and_limit():
    app = create_core_app(custom_table_limit=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        r = await c.post("EntityDefinitions", json=_table_body("wtc_Project"))
        assert r.status_code == 204, r.text
        d = (await c.get("EntityDefinitions(LogicalName='wtc_project')")).json()
        assert d["EntitySetName"] == "wtc_projects" and d["PrimaryIdAttribute"] == "wtc_projectid"
        assert d["PrimaryNameAttribute"] == "wtc_name"
        r = await c.post("wtc_projects", json={"wtc_name": "P1"})
        assert r.status_code == 204 and "/wtc_projects(" in r.headers["OData-EntityId"]
        assert (await c.post("EntityDefinitions", json=_table_body("wtc_Project"))).status_code == 400
        assert (await c.post("EntityDefinitions", json=_table_body("wtc_Phase"))).status_code == 204
        r = await c.post("EntityDefinitions", json=_table_body("wtc_Third"))
        assert r.status_code == 400 and "at most 2 custom tables" in err(r)[1]
        r = await c.get("sdkmessagefilters", params={"$filter": "sdkmessageid/name eq 'UpsertMultiple' and "
                                                                "primaryobjecttypecode eq 'wtc_project'"})
        assert len(r.json()["value"]) == 1
