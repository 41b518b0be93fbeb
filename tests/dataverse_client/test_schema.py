import json
import re

import httpx
import pytest

from shared import http as sh
from shared.dataverse import (
    ColumnSpec, SchemaConflict, SchemaError, ensure_alternate_key, ensure_columns, ensure_table, picklist_options, table_exists,
)

from .conftest import ORG, client_for, err, make_settings


def lbl(text):
    return {"LocalizedLabels": [{"Label": text, "LanguageCode": 1033}], "UserLocalizedLabel": {"Label": text, "LanguageCode": 1033}}


class FakeMetadata:
    def __init__(self, key_states=("Pending", "InProgress", "Active")):
        self.tables = {"account": {"name": {"AttributeType": "String"}, "wtc_kind": {
            "AttributeType": "Picklist", "Options": [{"Value": 100000000, "Label": lbl("Customer")}]}}}
        self.keys: dict[str, list[dict]] = {"account": []}
        self.key_states = list(key_states)
        self.posts: list[tuple[str, dict, dict]] = []

    def handle(self, req: httpx.Request) -> httpx.Response:
        path = req.url.path.removeprefix("/api/data/v9.2/")
        body = json.loads(req.content) if req.content else None
        if req.method == "POST":
            self.posts.append((path, body, dict(req.headers)))
        if path == "EntityDefinitions" and req.method == "POST":
            self.tables[body["SchemaName"].lower()] = {a["SchemaName"].lower(): {"AttributeType": "String"} for a in body["Attributes"]}
            return httpx.Response(204, headers={"OData-EntityId": f"{ORG}/api/data/v9.2/EntityDefinitions(11111111-1111-1111-1111-111111111111)"})
        if path == "InsertOptionValue":
            self.tables[body["EntityLogicalName"]][body["AttributeLogicalName"]]["Options"].append({"Value": body["Value"], "Label": body["Label"]})
            return httpx.Response(200, json={"NewOptionValue": body["Value"]})
        m = re.fullmatch(r"EntityDefinitions\(LogicalName='(\w+)'\)(/.*)?", path)
        if not m or m.group(1) not in self.tables:
            return err(404, "0x80060888", "Could not find an entity with the specified logical name")
        t, rest = m.group(1), m.group(2) or ""
        if rest == "":
            return httpx.Response(200, json={"LogicalName": t})
        if rest == "/Attributes" and req.method == "GET":
            return httpx.Response(200, json={"value": [{"LogicalName": k, "AttributeType": v["AttributeType"]} for k, v in self.tables[t].items()]})
        if rest == "/Attributes" and req.method == "POST":
            assert body["@odata.type"].startswith("Microsoft.Dynamics.CRM.") and body["DisplayName"]["LocalizedLabels"]
            entry = {"AttributeType": body["AttributeType"],
                     **{k: body[k] for k in ("MaxLength", "Precision", "Format") if k in body}}
            if body["AttributeType"] == "Picklist":
                entry["Options"] = body["OptionSet"]["Options"]
            self.tables[t][body["SchemaName"].lower()] = entry
            return httpx.Response(204)
        cm = re.fullmatch(r"/Attributes\(LogicalName='(\w+)'\)/Microsoft\.Dynamics\.CRM\.(String|Memo|Decimal|Money|DateTime)AttributeMetadata", rest)
        if cm:
            return httpx.Response(200, json={"LogicalName": cm.group(1), **self.tables[t][cm.group(1)]})
        pm = re.fullmatch(r"/Attributes\(LogicalName='(\w+)'\)/Microsoft\.Dynamics\.CRM\.PicklistAttributeMetadata", rest)
        if pm:
            return httpx.Response(200, json={"LogicalName": pm.group(1), "OptionSet": {"Options": self.tables[t][pm.group(1)]["Options"]}, "GlobalOptionSet": None})
        if rest == "/Keys" and req.method == "POST":
            self.keys[t].append({"SchemaName": body["SchemaName"], "KeyAttributes": body["KeyAttributes"], "EntityKeyIndexStatus": "Pending"})
            return httpx.Response(204)
        if rest == "/Keys":
            for k in self.keys[t]:
                if k["EntityKeyIndexStatus"] not in ("Active", "Failed") and self.key_states:
                    k["EntityKeyIndexStatus"] = self.key_states.pop(0)
            return httpx.Response(200, json={"value": self.keys[t]})
        return err(400, "0x0", f"unhandled {req.method} {path}")


@pytest.fixture
def meta():
    m = FakeMetadata()
    sh.register_transport(ORG, lambda: httpx.MockTransport(m.handle))
    yield m
    sh.unregister_transport(ORG)


SPECS = [
    ColumnSpec("wtc_SourceId", "String", "Source ID", max_length=100),
    ColumnSpec("wtc_Notes", "Memo", "Notes", max_length=10000),
    ColumnSpec("wtc_Kind", "Picklist", "Kind", options=[(100000000, "Customer"), (100000001, "Supplier")]),
    ColumnSpec("wtc_Rate", "Decimal", "Rate", precision=4),
    ColumnSpec("wtc_Budget", "Money", "Budget"),
    ColumnSpec("wtc_Seats", "Integer", "Seats"),
    ColumnSpec("wtc_Active", "Boolean", "Active"),
    ColumnSpec("wtc_Since", "DateTime", "Since", date_only=True),
]


async def test_ensure_columns_creates_missing_and_extends_picklists(meta):
    async with client_for(make_settings(solution_unique_name="wtcmigration")) as dv:
        report = await ensure_columns(dv, "account", SPECS)
        assert report.created == ["wtc_sourceid", "wtc_notes", "wtc_rate", "wtc_budget", "wtc_seats", "wtc_active", "wtc_since"]
        assert report.options_added == {"wtc_kind": [100000001]}
        assert await picklist_options(dv, "account", "wtc_kind") == {"Customer": 100000000, "Supplier": 100000001}
        again = await ensure_columns(dv, "account", SPECS)
        assert again.created == [] and again.options_added == {}
    bodies = {b["SchemaName"]: (b, h) for p, b, h in meta.posts if p.endswith("/Attributes")}
    since, headers = bodies["wtc_Since"]
    assert since["@odata.type"] == "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata" and since["Format"] == "DateOnly"
    assert since["DateTimeBehavior"] == {"Value": "DateOnly"}
    assert headers["mscrm.solutionuniquename"] == "wtcmigration"
    assert bodies["wtc_Rate"][0]["Precision"] == 4
    assert bodies["wtc_Active"][0]["OptionSet"]["TrueOption"]["Value"] == 1
    assert bodies["wtc_SourceId"][0]["MaxLength"] == 100


async def test_a_different_existing_definition_is_a_permanent_conflict_naming_table_column_and_difference(meta):
    from shared.errors import PermanentError

    meta.tables["account"]["wtc_code"] = {"AttributeType": "String", "MaxLength": 20}
    async with client_for(make_settings()) as dv:
        with pytest.raises(SchemaConflict) as e:
            await ensure_columns(dv, "account", [ColumnSpec("Name", "Memo", "Name"),
                                                 ColumnSpec("wtc_Code", "String", "Code", max_length=100)])
    assert isinstance(e.value, PermanentError)
    msg = str(e.value)
    assert msg.startswith("account: ") and "column name: it is a String column, the migration needs Memo" in msg
    assert "column wtc_code: MaxLength is 20, the migration needs 100" in msg
    assert not [p for p, _, _ in meta.posts if p.endswith("/Attributes")], "nothing existing is changed"


async def test_alternate_key_waits_until_active(meta):
    async with client_for(make_settings()) as dv:
        key = await ensure_alternate_key(dv, "account", "wtc_SourceIdKey", ["wtc_sourceid"], poll_interval=0.01)
        assert key["EntityKeyIndexStatus"] == "Active"
        again = await ensure_alternate_key(dv, "account", "wtc_SourceIdKey", ["wtc_sourceid"], poll_interval=0.01)
        assert again["SchemaName"] == "wtc_SourceIdKey"
    assert sum(p.endswith("/Keys") for p, _, _ in meta.posts) == 1


async def test_alternate_key_failed_is_a_clear_error(meta):
    meta.key_states = ["InProgress", "Failed"]
    async with client_for(make_settings()) as dv:
        with pytest.raises(SchemaError, match="failed to build its index"):
            await ensure_alternate_key(dv, "account", "wtc_K", ["wtc_sourceid"], poll_interval=0.01)


async def test_alternate_key_timeout(meta):
    meta.key_states = []  # stays Pending
    async with client_for(make_settings()) as dv:
        with pytest.raises(SchemaError, match="still Pending"):
            await ensure_alternate_key(dv, "account", "wtc_K", ["wtc_sourceid"], poll_interval=0.01, timeout=0.05)


async def test_ensure_table(meta):
    async with client_for(make_settings()) as dv:
        assert not await table_exists(dv, "wtc_project")
        assert await ensure_table(dv, "wtc_Project", "Project") is True
        assert await table_exists(dv, "wtc_project")
        assert await ensure_table(dv, "wtc_Project", "Project") is False
    body = next(b for p, b, _ in meta.posts if p == "EntityDefinitions")
    assert body["PrimaryNameAttribute"] == "wtc_name" and body["Attributes"][0]["IsPrimaryName"] is True
    assert body["DisplayCollectionName"]["LocalizedLabels"][0]["Label"] == "Projects"
