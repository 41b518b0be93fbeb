"""The Dataverse emulator answers what Microsoft's Python SDK 1.1.0 sends for schema work: a table created
with the CreateEntities action (the payload as PowerPlatform/Dataverse/data/_odata_base.py builds it)."""

from __future__ import annotations

import httpx
import pytest

from emulators.dataverse.core import create_core_app

BASE = "https://org.crm.dynamics.com/api/data/v9.2/"


def label(text: str) -> dict:
    return {"@odata.type": "Microsoft.Dynamics.CRM.Label", "LocalizedLabels": [
        {"@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel", "Label": text, "LanguageCode": 1033}]}


def sdk_payload(table: str = "new_Widget", complex_types: bool = True) -> dict:
    prefix = "Microsoft.Dynamics.CRM.Complex" if complex_types else "Microsoft.Dynamics.CRM."
    return {"Entities": [{
        "@odata.type": "Microsoft.Dynamics.CRM.ComplexEntityMetadata", "SchemaName": table,
        "DisplayName": label(table), "DisplayCollectionName": label(table + "s"),
        "Description": label(f"Custom entity for {table}"), "OwnershipType": "UserOwned", "HasActivities": False,
        "HasNotes": True, "IsActivity": False,
        "Attributes": [
            {"@odata.type": f"{prefix}StringAttributeMetadata", "SchemaName": "new_Name", "DisplayName": label("Name"),
             "RequiredLevel": {"Value": "None"}, "MaxLength": 200, "FormatName": {"Value": "Text"},
             "IsPrimaryName": True},
            {"@odata.type": f"{prefix}IntegerAttributeMetadata", "SchemaName": "new_Count",
             "DisplayName": label("Count"), "RequiredLevel": {"Value": "None"}, "Format": "None",
             "MinValue": -2147483648, "MaxValue": 2147483647},
            {"@odata.type": f"{prefix}MemoAttributeMetadata", "SchemaName": "new_Notes", "DisplayName": label("Notes"),
             "RequiredLevel": {"Value": "None"}, "MaxLength": 4000, "FormatName": {"Value": "Text"},
             "ImeMode": "Auto"}]}]}


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_core_app()), base_url=BASE) as c:
        yield c


async def test_create_entities_creates_the_table_with_its_columns(client):
    r = await client.post("CreateEntities", json=sdk_payload())
    assert r.status_code == 200, r.text
    [created] = r.json()["EntityIds"]
    # what the SDK reads next: the table by logical name, with its entity set and MetadataId
    r = await client.get("EntityDefinitions", params={
        "$select": "MetadataId,LogicalName,SchemaName,EntitySetName,PrimaryNameAttribute,PrimaryIdAttribute",
        "$filter": "LogicalName eq 'new_widget'"})
    [meta] = r.json()["value"]
    assert (meta["EntitySetName"], meta["PrimaryNameAttribute"]) == ("new_widgets", "new_name")
    assert meta["MetadataId"] == created
    r = await client.post("new_widgets", json={"new_name": "Zahnrad", "new_count": 3, "new_notes": "Größe ß"})
    assert r.status_code == 204, r.text
    [row] = (await client.get("new_widgets", params={"$select": "new_name,new_count,new_notes"})).json()["value"]
    assert (row["new_name"], row["new_count"], row["new_notes"]) == ("Zahnrad", 3, "Größe ß")


async def test_create_entities_refuses_what_dataverse_refuses(client):
    assert (await client.post("CreateEntities", json=sdk_payload())).status_code == 200
    again = await client.post("CreateEntities", json=sdk_payload())
    assert again.status_code == 400  # the schema name exists
    plain = await client.post("CreateEntities", json=sdk_payload("new_Plain", complex_types=False))
    assert plain.status_code == 400 and "Complex" in plain.json()["error"]["message"]
    unprefixed = await client.post("CreateEntities", json=sdk_payload("xyz_Thing"))
    assert unprefixed.status_code == 400 and "prefix" in unprefixed.json()["error"]["message"]
    assert (await client.get("CreateEntities")).status_code == 405


async def test_columns_added_the_sdk_way_after_create_entities(client):
    """``tables.add_columns``: plain *AttributeMetadata on EntityDefinitions(<MetadataId>)/Attributes, then the
    SDK reads the column back by logical name (PowerPlatform/Dataverse/data/_odata.py::_get_attribute_metadata)."""
    [created] = (await client.post("CreateEntities", json=sdk_payload())).json()["EntityIds"]
    column = {"@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "SchemaName": "new_Code",
              "DisplayName": label("Code"), "RequiredLevel": {"Value": "None"}, "MaxLength": 200,
              "FormatName": {"Value": "Text"}, "IsPrimaryName": False}
    r = await client.post(f"EntityDefinitions({created})/Attributes", json=column)
    assert r.status_code == 204, r.text
    r = await client.get(f"EntityDefinitions({created})/Attributes",
                         params={"$select": "MetadataId,LogicalName,SchemaName", "$filter": "LogicalName eq 'new_code'"})
    assert [a["SchemaName"] for a in r.json()["value"]] == ["new_Code"]
