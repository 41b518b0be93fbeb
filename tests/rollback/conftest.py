"""Fixtures for rollback tests: the integration tests' emulators and run helpers, a Dataverse that
already holds rows before the run, and a table-by-table snapshot of everything in it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cli.durable import DurableDriver
from orchestrators.migration import ORCHESTRATORS as MIGRATION
from orchestrators.rollback import ORCHESTRATORS as ROLLBACK
from shared.run import RunConfig
from shared.steps import STEPS
from tests.integration.conftest import Env, make_env, migrate, run_config, sample_export, unregister  # noqa: F401

API = "/api/data/v9.2/"
#: columns every write moves: a restored row equals its before state in everything else
VOLATILE = {"modifiedon", "_modifiedby_value", "versionnumber", "@odata.etag"}


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


async def snapshot(env: Env) -> dict[str, dict[str, dict]]:
    """Every row of every table the emulator serves: {entity set: {id: row without volatile columns}}."""
    meta = (await env.get("EntityDefinitions", **{"$select": "EntitySetName,PrimaryIdAttribute"}))["value"]
    primary = {m["EntitySetName"]: m["PrimaryIdAttribute"] for m in meta}
    out: dict[str, dict[str, dict]] = {}
    for es in [s["url"] for s in (await env.get(""))["value"]]:
        doc = await env.get(es)
        rows = list(doc["value"])
        while "@odata.nextLink" in doc:
            doc = await env._get(doc["@odata.nextLink"])
            rows += doc["value"]
        if not rows:
            continue
        pk = primary[es]
        out[es] = {str(r[pk]): {k: v for k, v in r.items() if k not in VOLATILE} for r in rows}
    return out


def diff(before: dict, after: dict) -> list[str]:
    """Table by table: rows added, rows gone, rows changed (column names), as readable lines."""
    lines = []
    for es in sorted(set(before) | set(after)):
        b, a = before.get(es, {}), after.get(es, {})
        lines += [f"{es}: added {k}" for k in sorted(set(a) - set(b))]
        lines += [f"{es}: gone {k}" for k in sorted(set(b) - set(a))]
        for k in sorted(set(a) & set(b)):
            # a column the run added is there, empty (without --schema): absent before, null after
            changed = sorted(c for c in set(a[k]) | set(b[k]) if a[k].get(c) != b[k].get(c))
            if changed:
                lines.append(f"{es}: changed {k}: {changed}")
    return lines


async def add_key_column(env: Env, table: str) -> None:
    """What the run's prepare step does, done before the run: wtc_sourceid and its alternate key."""
    await env.send("POST", f"{API}EntityDefinitions(LogicalName='{table}')/Attributes", json={
        "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata", "SchemaName": "wtc_sourceid",
        "MaxLength": 100, "RequiredLevel": {"Value": "None"},
        "DisplayName": {"LocalizedLabels": [{"Label": "Source id", "LanguageCode": 1033}]}})
    await env.send("POST", f"{API}EntityDefinitions(LogicalName='{table}')/Keys", json={
        "SchemaName": "wtc_sourceid_key", "KeyAttributes": ["wtc_sourceid"],
        "DisplayName": {"LocalizedLabels": [{"Label": "wtc_sourceid_key", "LanguageCode": 1033}]}})


async def create(env: Env, entity_set: str, body: dict) -> str:
    r = await env.send("POST", f"{API}{entity_set}", json=body)
    return r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


async def rollback(run: RunConfig, *, steps=None, schema: bool = False, listener=None):
    driver = DurableDriver({**MIGRATION, **ROLLBACK}, steps or STEPS, max_parallel_activities=3,
                           listener=listener, retry_interval_scale=0.001)
    return await driver.run("rollback", {"run": run.model_dump(), "schema": schema},
                            instance_id=f"{run.run_id}:rollback")


@pytest.fixture
async def dataverse(monkeypatch, sample_export):  # noqa: F811
    env = await make_env(monkeypatch, sample_export)
    yield env
    unregister()
