"""The local driver runs orchestrator generators the way the Durable runtime answers them."""

from __future__ import annotations

import pytest

from shared.driver import LocalDriver


class Retry:
    max_number_of_attempts = 3
    first_retry_interval_in_milliseconds = 1


def parent(ctx):
    n = ctx.get_input()["n"]
    results = yield ctx.task_all([ctx.call_sub_orchestrator("child", {"i": i}) for i in range(n)])
    try:
        yield ctx.call_activity("boom", {})
    except RuntimeError as e:
        caught = str(e)
    return {"sum": sum(results), "caught": caught}


def child(ctx):
    x = yield ctx.call_activity_with_retry("flaky", Retry(), ctx.get_input())
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
    driver = LocalDriver({"parent": parent, "child": child}, {"flaky": flaky, "boom": boom},
                         listener=lambda e, d: events.append(e))
    out = await driver.run("parent", {"n": 4}, "p1")
    assert out == {"sum": 60, "caught": "activity failed"}
    assert attempts == {0: 2, 1: 2, 2: 2, 3: 2}
    assert events.count("activity_failed") == 4 + 1


async def test_outputs_that_history_could_not_store_fail_locally_too():
    def orch(ctx):
        return (yield ctx.call_activity("bad", {}))

    async def bad(payload):
        return {"when": object()}

    with pytest.raises(TypeError):
        await LocalDriver({"o": orch}, {"bad": bad}).run("o", {}, "i")
