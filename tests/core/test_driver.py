"""The local driver (cli.durable) answers orchestrators the way the Durable extension does in Azure."""

from __future__ import annotations

import azure.durable_functions as df
import pytest

from cli.durable import DurableDriver, FakeClock, OrchestrationFailed

RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)


def parent(ctx):
    n = ctx.get_input()["n"]
    results = yield ctx.task_all([ctx.call_sub_orchestrator("child", {"i": i}) for i in range(n)])
    try:
        yield ctx.call_activity("boom", {})
    except Exception as e:  # Azure throws a plain Exception: "Activity function 'boom' failed: ..."
        caught = str(e).split(" \n ")[0]
    return {"sum": sum(results), "caught": caught}


def child(ctx):
    x = yield ctx.call_activity_with_retry("flaky", RETRY, ctx.get_input())
    return x


async def test_fan_out_results_retries_and_thrown_errors():
    attempts = {}

    async def flaky(payload):
        attempts[payload["i"]] = attempts.get(payload["i"], 0) + 1
        if attempts[payload["i"]] < 2:
            raise ConnectionError("transient")
        return payload["i"] * 10

    async def boom(payload):
        raise RuntimeError("activity failed")

    events = []
    driver = DurableDriver({"parent": parent, "child": child}, {"flaky": flaky, "boom": boom},
                           listener=lambda e, d: events.append((e, d)), retry_interval_scale=0.001)
    out = await driver.run("parent", {"n": 4}, "p1")
    assert out == {"sum": 60, "caught": "Activity function 'boom' failed:  RuntimeError: activity failed"}
    assert attempts == {0: 2, 1: 2, 2: 2, 3: 2}
    names = [e for e, _ in events]
    assert names.count("activity_failed") == 4 + 1
    assert names.count("orchestrator_started") == names.count("orchestrator_completed") == 5
    retried = [d for e, d in events if e == "activity_completed" and d["name"] == "flaky"]
    assert sorted(d["result"] for d in retried) == [0, 10, 20, 30] and {d["attempt"] for d in retried} == {2}
    # each child's history records the retry as the extension does: failure, timer, rescheduled task
    kinds = [(e["EventType"], e["EventId"]) for e in driver.history("p1")
             if e["EventType"] in (4, 5, 6, 7, 8, 10, 11)]
    assert kinds[:4] == [(7, 0), (7, 1), (7, 2), (7, 3)]
    child_ids = [e["InstanceId"] for e in driver.history("p1") if e["EventType"] == 7]
    for instance_id in child_ids:
        events_ = [(e["EventType"], e["EventId"] if e["EventType"] in (4, 10) else
                    e.get("TaskScheduledId", e.get("TimerId"))) for e in driver.history(instance_id)
                   if e["EventType"] in (4, 5, 6, 10, 11)]
        assert events_ == [(4, 0), (6, 0), (10, 1), (11, 1), (4, 2), (5, 2)]


async def test_retries_run_out_and_the_failure_is_the_orchestrators():
    async def down(payload):
        raise ConnectionError("Dataverse is down")

    def orch(ctx):
        return (yield ctx.call_activity_with_retry("down", RETRY, {}))

    driver = DurableDriver({"o": orch}, {"down": down}, clock=FakeClock())
    with pytest.raises(OrchestrationFailed) as failed:
        await driver.run("o", {}, "i")
    assert str(failed.value).startswith("Activity function 'down' failed:  ConnectionError: Dataverse is down")
    assert failed.value.reason.startswith("Orchestrator function 'o' failed: Activity function 'down' failed")
    assert failed.value.summary == "Activity function 'down' failed:  ConnectionError: Dataverse is down"
    assert driver.status("i").runtime_status == "Failed"
    scheduled = [e for e in driver.history("i") if e["EventType"] == 4]
    timers = [e for e in driver.history("i") if e["EventType"] == 10]
    assert len(scheduled) == 3 and len(timers) == 3  # a timer after the last attempt too, as DTFx does


async def test_outputs_that_history_could_not_store_fail_locally_too():
    def orch(ctx):
        return (yield ctx.call_activity("bad", {}))

    async def bad(payload):
        return {"when": object()}

    with pytest.raises(OrchestrationFailed, match="TypeError"):
        await DurableDriver({"o": orch}, {"bad": bad}).run("o", {}, "i")


async def test_inputs_cross_a_json_round_trip():
    seen = []

    async def step(payload):
        seen.append(payload)
        return {"t": (1, 2)}

    def orch(ctx):
        out = yield ctx.call_activity("step", ctx.get_input())
        return out

    assert await DurableDriver({"o": orch}, {"step": step}).run("o", {"k": (3, 4)}, "i") == {"t": [1, 2]}
    assert seen == [{"k": [3, 4]}]
