"""The Dataverse emulator deletes as Dataverse does: parental relationships cascade, referential ones
lose their link (emulators/dataverse/cascade.py)."""

from __future__ import annotations

import httpx
import pytest

from emulators.dataverse.core import create_core_app

BASE = "https://org.crm.dynamics.com/api/data/v9.2/"


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_core_app()), base_url=BASE) as c:
        yield c


async def create(client, entity_set: str, body: dict) -> str:
    r = await client.post(entity_set, json=body)
    assert r.status_code == 204, r.text
    return r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


async def test_deleting_an_account_deletes_its_contacts_activities_and_cases(client):
    account = await create(client, "accounts", {"name": "Parent"})
    contact = await create(client, "contacts", {"lastname": "Child",
                                                "parentcustomerid_account@odata.bind": f"/accounts({account})"})
    task = await create(client, "tasks", {"subject": "t", "regardingobjectid_contact_task@odata.bind":
                                          f"/contacts({contact})"})
    case = await create(client, "incidents", {"title": "c", "customerid_account@odata.bind": f"/accounts({account})"})
    other = await create(client, "accounts", {"name": "Sub", "parentaccountid@odata.bind": f"/accounts({account})"})
    r = await client.delete(f"accounts({account})")
    assert r.status_code == 204
    for path in (f"contacts({contact})", f"tasks({task})", f"incidents({case})"):
        assert (await client.get(path)).status_code == 404, path
    # account.parentaccountid is referential: the sub-account stays, without its parent
    sub = (await client.get(f"accounts({other})")).json()
    assert sub["_parentaccountid_value"] is None


async def test_a_detached_contact_survives_and_batch_deletes_cascade_too(client):
    account = await create(client, "accounts", {"name": "Created by a run"})
    kept = await create(client, "contacts", {"lastname": "Pre-existing",
                                             "parentcustomerid_account@odata.bind": f"/accounts({account})"})
    r = await client.patch(f"contacts({kept})", json={"parentcustomerid_account@odata.bind": None})
    assert r.status_code == 204
    gone = await create(client, "contacts", {"lastname": "Attached",
                                             "parentcustomerid_account@odata.bind": f"/accounts({account})"})
    body = (f"--b\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
            f"DELETE {BASE}accounts({account}) HTTP/1.1\r\n\r\n\r\n--b--\r\n")
    r = await client.post("$batch", content=body, headers={"Content-Type": "multipart/mixed; boundary=b",
                                                            "Prefer": "odata.continue-on-error"})
    assert r.status_code == 200 and "204" in r.text
    assert (await client.get(f"contacts({kept})")).status_code == 200
    assert (await client.get(f"contacts({gone})")).status_code == 404
