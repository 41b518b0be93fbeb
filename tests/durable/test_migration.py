"""The real orchestrators (``orchestrators.migration``) driven through the SDK's replay with fake steps."""

from __future__ import annotations

import asyncio

import pytest

from cli.durable import OrchestrationFailed

from .conftest import RUN, FakeMigration, driver, shape


async def test_an_object_with_zero_records_completes():
    fake = FakeMigration({"company": 0})
    report = await driver(fake.steps).run("migrate_object", {"run": RUN, "object": "company"}, "r1:company")
    assert report == {"object": "company", "source": 0, "loaded": 0, "rejected": 0, "balanced": True}
    assert fake.calls["transform_chunk"] == fake.calls["load_chunk"] == 0


async def test_a_run_with_empty_and_full_objects_completes():
    fake = FakeMigration({"user": 3, "custom_field": 0, "company": 5, "contact": 0, "lead": 1})
    events = []
    out = await driver(fake.steps, listener=lambda e, d: events.append((e, d))).run("migration", RUN, "r1")
    assert out["status"] == "completed" and out["totals"] == {"source": 9}
    assert sorted(o["object"] for o in out["objects"]) == ["company", "contact", "custom_field", "lead", "user"]
    assert fake.calls["transform_chunk"] == 3 + 1  # company: 3 chunks of 2, lead: 1
    # what the CLI's progress table reads: per-object phases with chunk counts, and chunk loads
    phases = [d["status"] for e, d in events if e == "status" and "object" in d["status"]]
    assert {"object": "company", "phase": "loading", "chunks": 3} in phases
    loads = [d for e, d in events if e == "activity_completed" and d["name"] == "load_chunk"]
    assert len(loads) == 4 and all(d["input"]["object"] in ("company", "lead") and d["attempt"] == 1 for d in loads)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
async def test_completions_in_any_order_give_the_same_result_and_history(seed):
    records = {"user": 1, "custom_field": 2, "company": 7, "contact": 5, "deal": 3}
    results, shapes = [], []
    for s in (seed, seed + 100):
        d = driver(FakeMigration(records, chunk_size=2).steps, seed=s, max_parallel_activities=3)
        results.append(await d.run("migration", RUN, "r1"))
        shapes.append({i: shape(d.history(i)) for i in ["r1", *(f"r1:{o}" for o in records)]})
    assert results[0] == results[1]
    assert shapes[0] == shapes[1]


async def test_a_permanent_failure_is_not_retried_and_fails_the_run_with_its_message():
    fake = FakeMigration({"user": 1, "company": 4, "contact": 2})

    async def refused(payload):
        return {"failure": {"kind": "access", "message": "Dataverse refused the credential (401): check "
                            "DATAVERSE_CLIENT_SECRET", "activity": "extract_object", "object": payload["object"]}}

    steps = {**fake.steps, "extract_object": refused}
    d = driver(steps)
    with pytest.raises(OrchestrationFailed) as failed:
        await d.run("migration", RUN, "r1")
    assert str(failed.value) == "Dataverse refused the credential (401): check DATAVERSE_CLIENT_SECRET"
    assert failed.value.reason.startswith("Orchestrator function 'migration' failed: Dataverse refused")
    # neither the activity nor the object was retried, and nothing after the failing wave started
    first_wave = d.history("r1:user")
    assert sum(1 for e in first_wave if e["EventType"] == 4 and e["Name"] == "extract_object") == 1
    assert sum(1 for e in d.history("r1") if e["EventType"] == 7) == 1  # one migrate_object, never retried
    assert d.status("r1:user").output["failure"]["kind"] == "access"
    assert d.status("r1:company") is None


async def test_a_permanent_failure_in_a_chunk_fails_the_object_without_retries():
    fake = FakeMigration({"company": 6})
    calls = []

    async def load(payload):
        calls.append(payload["chunk"]["name"])
        if payload["chunk"]["name"].endswith("part-00001.jsonl.gz"):
            return {"failure": {"kind": "settings", "message": "DATAVERSE_BATCH_SIZE must be 1..1000"}}
        return await fake.load(payload)

    d = driver({**fake.steps, "load_chunk": load})
    out = await d.run("migrate_object", {"run": RUN, "object": "company"}, "r1:company")
    failure = {"kind": "settings", "message": "DATAVERSE_BATCH_SIZE must be 1..1000"}
    assert out == {"object": "company", "failure": failure}
    assert len(calls) == 3  # three chunks, each once
    assert d.status("r1:company").custom_status["phase"] == "failed"


async def test_transient_failures_of_activities_and_objects_are_retried():
    fake = FakeMigration({"user": 1, "company": 4})
    failures = {"transform_chunk": 2, "reconcile_object": 3}  # reconcile: 3 attempts fail -> object retried

    def flaky(name):
        async def step(payload):
            if failures.get(name):
                failures[name] -= 1
                raise ConnectionError(f"{name}: connection reset")
            return await fake.steps[name](payload)
        return step

    events = []
    d = driver({**fake.steps, **{n: flaky(n) for n in failures}}, retry_interval_scale=0.001,
               listener=lambda e, data: events.append((e, data)))
    out = await d.run("migration", RUN, "r1")
    assert out["status"] == "completed"
    assert [o["balanced"] for o in out["objects"]] == [True, True]
    failed = [(d["name"], d["attempt"]) for e, d in events if e == "activity_failed"]
    assert [a for n, a in failed if n == "reconcile_object"] == [1, 2, 3]
    assert len([a for n, a in failed if n == "transform_chunk"]) == 2
    # users (the first wave) reconciled three times in vain: that object ran again, under the same id
    created = [e["InstanceId"] for e in d.history("r1") if e["EventType"] == 7]
    assert created == ["r1:user", "r1:user", "r1:company"]


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_an_object_retried_after_its_wave_sibling_finished_replays_cleanly(seed):
    fake = FakeMigration({"workflow": 1, "custom_field": 1, "company": 2})
    failures = {"left": 3}

    async def reconcile(payload):  # custom fields fail all three attempts, after workflows are done
        if payload["object"] == "custom_field" and failures["left"]:
            failures["left"] -= 1
            await asyncio.sleep(0.01)
            raise ConnectionError("connection reset")
        return await fake.reconcile(payload)

    d = driver({**fake.steps, "reconcile_object": reconcile}, retry_interval_scale=0.001, seed=seed)
    out = await d.run("migration", RUN, "r1")
    assert [o["object"] for o in out["objects"]] == ["custom_field", "workflow", "company"]
    assert [e["InstanceId"] for e in d.history("r1") if e["EventType"] == 7] == [
        "r1:custom_field", "r1:workflow", "r1:custom_field", "r1:company"]
