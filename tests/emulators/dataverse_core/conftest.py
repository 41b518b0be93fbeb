"""Fixtures for the Dataverse emulator core tests: an in-process app and an httpx client on it."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from emulators.dataverse.core import create_core_app

BASE = "https://org.crm.dynamics.com/api/data/v9.2/"


@pytest.fixture
def app():
    return create_core_app(key_activation_delay=0.05)


@pytest.fixture
async def client(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as c:
        yield c


async def add_string_column(client, table="account", schema="wtc_SourceId", max_length=100):
    r = await client.post(f"EntityDefinitions(LogicalName='{table}')/Attributes", json={
        "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "SchemaName": schema,
        "MaxLength": max_length, "RequiredLevel": {"Value": "None"},
        "DisplayName": {"LocalizedLabels": [{"Label": schema, "LanguageCode": 1033}]}})
    assert r.status_code == 204, r.text
    return r


async def add_key(client, table="account", schema="wtc_sourceid_key", attrs=("wtc_sourceid",), wait=True):
    r = await client.post(f"EntityDefinitions(LogicalName='{table}')/Keys", json={
        "SchemaName": schema, "KeyAttributes": list(attrs),
        "DisplayName": {"LocalizedLabels": [{"Label": schema, "LanguageCode": 1033}]}})
    assert r.status_code == 204, r.text
    if wait:
        for _ in range(100):
            k = await client.get(f"EntityDefinitions(LogicalName='{table}')/Keys(LogicalName='{schema.lower()}')")
            if k.json()["EntityKeyIndexStatus"] in ("Active", "Failed"):
                return k.json()
            await asyncio.sleep(0.02)
    return r


@pytest.fixture
async def keyed(client):
    """account with wtc_sourceid + an Active alternate key on it."""
    await add_string_column(client)
    await add_key(client)
    return client


def err(r):
    body = r.json()
    return body["error"]["code"], body["error"]["message"]
