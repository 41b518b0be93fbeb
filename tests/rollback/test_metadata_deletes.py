"""The Dataverse emulator removes custom columns and custom tables as the Web API does (what
``rollback --schema`` sends), and refuses system ones and a column an alternate key uses."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from emulators.dataverse.core import create_core_app

BASE = "https://org.crm.dynamics.com/api/data/v9.2/"
LABEL = {"LocalizedLabels": [{"Label": "x", "LanguageCode": 1033}]}


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_core_app(key_activation_delay=0.01)),
                                 base_url=BASE) as c:
        yield c


async def column(client, table: str, name: str) -> None:
    r = await client.post(f"EntityDefinitions(LogicalName='{table}')/Attributes", json={
        "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "SchemaName": name, "MaxLength": 100,
        "RequiredLevel": {"Value": "None"}, "DisplayName": LABEL})
    assert r.status_code == 204, r.text


async def test_a_custom_column_goes_unless_a_key_uses_it(client):
    await column(client, "lead", "wtc_sourceid")
    await column(client, "lead", "wtc_tier")
    r = await client.post("EntityDefinitions(LogicalName='lead')/Keys", json={
        "SchemaName": "wtc_sourceid_key", "KeyAttributes": ["wtc_sourceid"], "DisplayName": LABEL})
    assert r.status_code == 204
    await asyncio.sleep(0.05)
    attr = "EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='{}')"
    assert (await client.delete(attr.format("wtc_sourceid"))).status_code == 400
    assert (await client.delete(attr.format("lastname"))).status_code == 400
    assert (await client.delete(attr.format("wtc_tier"))).status_code == 204
    assert (await client.get(attr.format("wtc_tier"))).status_code == 404
    assert (await client.delete("EntityDefinitions(LogicalName='lead')/Keys(LogicalName='wtc_sourceid_key')")
            ).status_code == 204
    assert (await client.delete(attr.format("wtc_sourceid"))).status_code == 204


async def test_a_custom_table_goes_and_a_system_table_stays(client):
    r = await client.post("EntityDefinitions", json={
        "@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata", "SchemaName": "wtc_project", "DisplayName": LABEL,
        "DisplayCollectionName": LABEL, "OwnershipType": "UserOwned", "HasNotes": True, "HasActivities": True,
        "Attributes": [{"@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "SchemaName": "wtc_name",
                        "IsPrimaryName": True, "MaxLength": 100, "RequiredLevel": {"Value": "None"},
                        "DisplayName": LABEL}]})
    assert r.status_code == 204, r.text
    assert (await client.delete("EntityDefinitions(LogicalName='wtc_project')")).status_code == 204
    assert (await client.get("EntityDefinitions(LogicalName='wtc_project')")).status_code == 404
    assert (await client.delete("EntityDefinitions(LogicalName='account')")).status_code == 400
