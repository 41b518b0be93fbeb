"""CreateMultiple / UpdateMultiple / UpsertMultiple: all-or-nothing on standard tables."""

from __future__ import annotations

from .conftest import err


def acc(i, **extra):
    return {"@odata.type": "Microsoft.Dynamics.CRM.account", "@odata.id": f"accounts(wtc_sourceid='{i}')",
            "name": f"Acc {i}", **extra}


async def count(client, set_name="accounts"):
    return len((await client.get(set_name)).json()["value"])


async def test_create_multiple_returns_ids(client):
    r = await client.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.account", "name": f"A{i}"} for i in range(3)]})
    assert r.status_code == 200
    ids = r.json()["Ids"]
    assert len(ids) == 3
    assert (await client.get(f"accounts({ids[1]})")).json()["name"] == "A1"


async def test_upsert_multiple_creates_then_updates(keyed):
    client = keyed
    r = await client.post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple",
                          json={"Targets": [acc(i) for i in range(5)]})
    assert r.status_code == 204 and r.content == b""
    r = await client.post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple",
                          json={"Targets": [acc(i, telephone1="9") for i in range(3, 8)]})
    assert r.status_code == 204
    assert await count(client) == 8
    got = (await client.get("accounts(wtc_sourceid='3')")).json()
    assert got["telephone1"] == "9" and got["name"] == "Acc 3"


async def test_upsert_multiple_is_all_or_nothing(keyed):
    client = keyed
    targets = [acc(i) for i in range(10)]
    targets[7]["name"] = "x" * 200
    r = await client.post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple", json={"Targets": targets})
    assert r.status_code == 400 and err(r)[0] == "0x80044331"
    assert await count(client) == 0
    # an update that fails half way leaves earlier updates undone too
    await client.post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple", json={"Targets": [acc(1), acc(2)]})
    bad = [acc(1, name="changed"), acc(2, industrycode=12345)]
    r = await client.post("accounts/Microsoft.Dynamics.CRM.UpsertMultiple", json={"Targets": bad})
    assert r.status_code == 400 and err(r)[0] == "0x8004431a"
    assert (await client.get("accounts(wtc_sourceid='1')")).json()["name"] == "Acc 1"


async def test_bulk_bind_missing_target_fails_whole_request(keyed):
    client = keyed
    targets = [{"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": f"C{i}",
                "parentcustomerid_account@odata.bind": "/accounts(wtc_sourceid='missing')" if i == 2 else None}
               for i in range(4)]
    for t in targets:
        if t["parentcustomerid_account@odata.bind"] is None:
            del t["parentcustomerid_account@odata.bind"]
    r = await client.post("contacts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets})
    assert r.status_code == 404 and err(r)[0] == "0x80060891"
    assert await count(client, "contacts") == 0


async def test_update_multiple(client):
    ids = (await client.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.account", "name": f"A{i}"} for i in range(2)]})).json()["Ids"]
    r = await client.post("accounts/Microsoft.Dynamics.CRM.UpdateMultiple", json={"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": i, "telephone1": "5"} for i in ids]})
    assert r.status_code == 204
    assert (await client.get(f"accounts({ids[0]})")).json()["telephone1"] == "5"
    r = await client.post("accounts/Microsoft.Dynamics.CRM.UpdateMultiple", json={"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": "00000000-0000-0000-0000-00000000abcd",
         "telephone1": "5"}]})
    assert r.status_code == 404 and err(r)[0] == "0x80040217"


async def test_multiple_refused_on_tables_without_it_and_bad_targets(client):
    # phonecall: Microsoft's table page lists Create, Update, Upsert but no *Multiple (emulators/dataverse/messages.py)
    r = await client.post("phonecalls/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.phonecall", "subject": "s"}]})
    assert r.status_code == 400
    assert err(r)[1].startswith("The 'CreateMultiple' method does not support entities of type 'phonecall'.")
    r = await client.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [{"name": "no type"}]})
    assert r.status_code == 400
    r = await client.post("accounts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": "x"}]})
    assert r.status_code == 400
    r = await client.post("accounts/Microsoft.Dynamics.CRM.DeleteEverything", json={})
    assert r.status_code == 404 and err(r)[0] == "0x8006088a"
