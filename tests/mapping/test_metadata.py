"""TargetTable from Dataverse's AttributeMetadata, as the Dataverse emulator serves it and as the Web API
answers with localized labels and Boolean option sets."""

from __future__ import annotations

import httpx

from emulators.dataverse import create_app, mint_token
from shared.mapping import TargetTable


async def test_from_the_attributes_dataverse_answers():
    app = create_app()
    headers = {"Authorization": f"Bearer {mint_token(app)}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://org.crm.dynamics.com",
                                 headers=headers) as client:
        r = await client.get("/api/data/v9.2/EntityDefinitions(LogicalName='account')/Attributes",
                             params={"$expand": "OptionSet"})
    assert r.status_code == 200, r.text
    t = TargetTable.from_attributes("account", r.json()["value"])
    name, industry, created = t.column("name"), t.column("industrycode"), t.column("createdon")
    assert (name.type, name.max_length, name.required, name.is_required) == ("String", 160, "ApplicationRequired", True)
    assert industry.type == "Picklist" and industry.option_label(16) == "Financial"
    assert not created.valid_for_create and t.column("accountid").primary_id and name.primary_name
    assert TargetTable.from_dict(t.to_dict()) == t


def test_labels_boolean_option_sets_and_chained_answers():
    german = {"UserLocalizedLabel": None, "LocalizedLabels": [{"Label": "E-Mail nicht zulassen"}]}
    plain = [{"LogicalName": "donotemail", "AttributeType": "Boolean", "IsValidForCreate": True,
              "RequiredLevel": {"Value": "None"}, "DisplayName": german},
             {"LogicalName": "industrycode", "AttributeType": "Picklist", "IsValidForCreate": True,
              "RequiredLevel": {"Value": "None"}, "DisplayName": {"UserLocalizedLabel": {"Label": "Branche"}}},
             {"LogicalName": "emailaddress1", "AttributeType": "String", "MaxLength": 100,
              "FormatName": {"Value": "Email"}, "RequiredLevel": {"Value": "None"}},
             {"LogicalName": "birthdate", "AttributeType": "DateTime", "Format": "DateOnly",
              "DateTimeBehavior": {"Value": "DateOnly"}}]
    booleans = [{"LogicalName": "donotemail", "AttributeType": "Boolean", "OptionSet": {
        "TrueOption": {"Value": 1, "Label": {"UserLocalizedLabel": {"Label": "Nicht zulassen"}}},
        "FalseOption": {"Value": 0, "Label": {"UserLocalizedLabel": {"Label": "Zulassen"}}}}}]
    picklists = [{"LogicalName": "industrycode", "AttributeType": "Picklist", "OptionSet": {
        "Options": [{"Value": 7, "Label": {"UserLocalizedLabel": {"Label": "Beratung"}}}]}}]
    t = TargetTable.from_attributes("account", plain + booleans + picklists)
    assert t.column("donotemail").options == ((0, "Zulassen"), (1, "Nicht zulassen"))
    assert t.column("industrycode").options == ((7, "Beratung"),)
    assert t.column("emailaddress1").format == "Email" and t.column("birthdate").date_only
    later_without_options = TargetTable.from_attributes("account", picklists + plain)
    assert later_without_options.column("industrycode").options == ((7, "Beratung"),)


def test_a_cast_answer_with_select_adds_options_and_keeps_the_base_answer():
    """``Attributes/...PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet`` answers the name and
    the options only: merged onto the base answer, the type and the custom flag stay (a rerun's proposal
    otherwise took an existing custom column for a new one and proposed a second copy)."""
    base = [{"LogicalName": "wtc_dealtype", "AttributeType": "Picklist", "IsCustomAttribute": True}]
    cast = [{"LogicalName": "wtc_dealtype", "OptionSet": {"Options": [
        {"Value": 100000000, "Label": {"UserLocalizedLabel": {"Label": "New"}}}]}}]
    col = TargetTable.from_attributes("opportunity", base + cast).column("wtc_dealtype")
    assert (col.type, col.custom, col.options) == ("Picklist", True, ((100000000, "New"),))
