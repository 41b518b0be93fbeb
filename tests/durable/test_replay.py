"""The driver lets the SDK replay orchestrators as Azure does, and catches what breaks under replay."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import azure.durable_functions as df
import pytest

from cli.durable import NonDeterminismError, OrchestrationFailed

from .conftest import driver


async def echo(payload):
    return payload


async def test_task_all_of_nothing_is_none_as_in_azure():
    def orch(ctx):
        nothing = yield ctx.task_all([])
        return {"nothing": nothing, "count": len(nothing or [])}

    assert await driver({}, orchestrators={"o": orch}).run("o", {}, "i") == {"nothing": None, "count": 0}

    def unguarded(ctx):  # what migrate_object did with an object of zero records
        transformed = yield ctx.task_all([ctx.call_activity("echo", c) for c in ctx.get_input()["chunks"]])
        return len(transformed)

    with pytest.raises(OrchestrationFailed, match="object of type 'NoneType' has no len"):
        await driver({"echo": echo}, orchestrators={"o": unguarded}).run("o", {"chunks": []}, "i")


async def test_an_orchestrator_reading_the_clock_fails_on_replay():
    def stamped(ctx):
        yield ctx.call_activity("echo", {"at": datetime.now().isoformat()})
        yield ctx.call_activity("echo", {"step": 2})
        return "done"

    with pytest.raises(NonDeterminismError) as failed:
        await driver({"echo": echo}, orchestrators={"stamped": stamped}).run("stamped", None, "clocky")
    message = str(failed.value)
    assert "Non-deterministic orchestrator 'stamped' (instance 'clocky')" in message
    assert "at sequence number 0 the history records activity 'echo' with input={\"at\": " in message
    assert "but the replay scheduled call_activity('echo', input={\"at\": " in message


async def test_an_orchestrator_reading_a_file_that_changes_fails_on_replay(tmp_path):
    settings = tmp_path / "settings.txt"
    settings.write_text("transform")

    def configured(ctx):  # the file decides which activity runs: a different one on replay
        yield ctx.call_activity(settings.read_text(), {"object": "company"})
        return "done"

    async def transform(payload):
        settings.write_text("load")  # someone edits the file while the run is going
        return {}

    with pytest.raises(NonDeterminismError) as failed:
        await driver({"transform": transform, "load": echo}, orchestrators={"configured": configured}).run(
            "configured", None, "filey")
    assert ("the history records activity 'transform' with input={\"object\": \"company\"}, but the replay "
            "scheduled call_activity('load', input={\"object\": \"company\"})") in str(failed.value)


async def test_non_determinism_in_a_sub_orchestration_fails_the_run():
    def child(ctx):
        yield ctx.call_activity("echo", {"at": datetime.now().isoformat()})
        yield ctx.call_activity("echo", {})

    def parent(ctx):
        return (yield ctx.call_sub_orchestrator("child", None, "kid"))

    with pytest.raises(NonDeterminismError, match="Non-deterministic orchestrator 'child' \\(instance 'kid'\\)"):
        await driver({"echo": echo}, orchestrators={"parent": parent, "child": child}).run("parent", None, "p")


async def test_replay_safe_time_and_ids_pass():
    def orch(ctx):
        first = yield ctx.call_activity("echo", {"at": ctx.current_utc_datetime.isoformat(), "id": ctx.new_uuid()})
        second = yield ctx.call_activity("echo", {"at": ctx.current_utc_datetime.isoformat(), "id": ctx.new_uuid()})
        return [first, second]

    first, second = await driver({"echo": echo}, orchestrators={"o": orch}).run("o", None, "i")
    assert first["id"] != second["id"]


async def test_a_failed_fan_out_releases_the_orchestrator_only_when_every_task_is_done():
    """The extension awaits Task.WhenAll: after a failure, the next activity waits for the slow sibling
    (and a failing orchestrator is not marked failed before that either)."""
    started = []

    async def fail(payload):
        raise ValueError("bad chunk")

    async def slow(payload):
        await asyncio.sleep(0.05)
        started.append("slow done")
        return {}

    async def after(payload):
        started.append("after")
        return {}

    def orch(ctx):
        try:
            yield ctx.task_all([ctx.call_activity("fail", {}), ctx.call_activity("slow", {})])
        except Exception as e:
            yield ctx.call_activity("after", {"error": str(e)[:40]})
        return "handled"

    out = await driver({"fail": fail, "slow": slow, "after": after}, orchestrators={"o": orch}).run("o", None, "i")
    assert out == "handled" and started == ["slow done", "after"]


async def test_activity_errors_reach_the_orchestrator_as_azure_words_them_and_can_be_caught():
    async def boom(payload):
        raise RuntimeError("activity failed")

    def orch(ctx):
        try:
            yield ctx.call_activity("boom", {})
        except RuntimeError:  # never: the SDK throws a plain Exception built from the failure message
            return "typed"
        except Exception as e:
            return str(e).split(" \n ")[0]

    out = await driver({"boom": boom}, orchestrators={"o": orch}).run("o", None, "i")
    assert out == "Activity function 'boom' failed:  RuntimeError: activity failed"


async def test_an_output_history_could_not_store_fails_the_activity():
    async def bad(payload):
        return {"when": object()}

    def orch(ctx):
        return (yield ctx.call_activity("bad", {}))

    with pytest.raises(OrchestrationFailed, match="TypeError: Object of type object is not JSON serializable"):
        await driver({"bad": bad}, orchestrators={"o": orch}).run("o", {}, "i")


async def test_an_unknown_activity_fails_the_instance_as_the_extension_does():
    def orch(ctx):
        yield ctx.call_activity("nope", {})

    with pytest.raises(OrchestrationFailed, match="The function 'nope' doesn't exist"):
        await driver({}, orchestrators={"o": orch}).run("o", None, "i")


async def test_continue_as_new_starts_a_fresh_history():
    def counter(ctx):
        n = ctx.get_input()
        yield ctx.call_activity("echo", n)
        if n < 3:
            ctx.continue_as_new(n + 1)
            return None
        return n

    d = driver({"echo": echo}, orchestrators={"counter": counter})
    assert await d.run("counter", 0, "c") == 3
    started = [e for e in d.history("c") if e["EventType"] == 0]
    assert [json.loads(json.loads(e["Input"])) for e in started] == [3]  # JSON text, as a JSON string


async def test_history_is_json_as_the_extension_sends_it():
    def orch(ctx):
        a = yield ctx.call_activity("echo", {"x": 1})
        timer = yield ctx.create_timer(ctx.current_utc_datetime + timedelta(minutes=5))
        b = yield ctx.call_sub_orchestrator("child", {"y": 2}, "kid")
        return [a, timer, b]

    def child(ctx):
        return ctx.get_input()
        yield  # a generator

    d = driver({"echo": echo}, orchestrators={"o": orch, "child": child})
    assert await d.run("o", {"z": 3}, "i") == [{"x": 1}, None, {"y": 2}]
    history = json.loads(json.dumps(d.history("i")))
    kinds = [e["EventType"] for e in history]
    assert kinds == [12, 0, 4, 13, 12, 5, 10, 13, 12, 11, 7, 13, 12, 8, 1, 13]
    assert history[1]["Name"] == "o" and json.loads(json.loads(history[1]["Input"])) == {"z": 3}
    assert history[2] == {**history[2], "EventId": 0, "Name": "echo"}
    assert history[5]["TaskScheduledId"] == 0 and json.loads(history[5]["Result"]) == {"x": 1}
    assert history[9]["TimerId"] == 1 and history[10]["InstanceId"] == "kid"
    assert all(isinstance(e["Timestamp"], str) and e["Timestamp"].endswith("Z") for e in history)


async def test_racing_retried_tasks_with_task_any_then_moving_on_is_caught_as_in_azure():
    """WhenAny ends at the first result on the extension's side: on replay it numbers the next call
    before the retry timer a slower sibling needed, which the history recorded first."""
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=2)
    tries = []

    async def fast(payload):
        return "fast"

    async def flaky(payload):
        tries.append(1)
        await asyncio.sleep(0.02)
        if len(tries) == 1:
            raise ConnectionError("reset")
        return "flaky"

    def racing(ctx):
        pending = [ctx.call_activity_with_retry("fast", retry, {}), ctx.call_activity_with_retry("flaky", retry, {})]
        while pending:
            done = yield ctx.task_any(pending)
            pending.remove(done)
        return (yield ctx.call_activity("fast", {"then": True}))

    with pytest.raises(NonDeterminismError, match="at sequence number 2 the history records a timer due"):
        await driver({"fast": fast, "flaky": flaky}, orchestrators={"racing": racing}).run("racing", None, "r")
