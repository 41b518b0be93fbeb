"""External events raced against durable timers, idle runs, and instances resumed from a folder."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from cli.durable import FakeClock, SystemClock

from . import approval as gate
from .approval import make_driver

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _recorded():
    gate.RECORDED.clear()


@pytest.mark.parametrize("days", [1, 7])  # 7 days: the SDK splits it into 3-day timers, as in Azure
async def test_no_event_the_timer_wins(tmp_path, days):
    clock = FakeClock()
    start = clock.now()
    out = await make_driver(None, clock).run("approval", {"days": days}, "g")
    assert out == {"decision": "timed out"}
    assert clock.now() - start == timedelta(days=days)


@pytest.mark.parametrize("days", [1, 7])
async def test_event_first_the_event_wins(days):
    d = make_driver(None, SystemClock())  # a fake clock would jump to the deadline as soon as all is quiet
    run = asyncio.ensure_future(d.run("approval", {"days": days}, "g"))
    while not (d.status("g") and d.status("g").waiting_for):
        await asyncio.sleep(0.001)
    await d.raise_event("g", "approval", {"by": "anna@contoso.com"})
    assert await run == {"decision": "approved", "by": "anna@contoso.com"}
    assert gate.RECORDED == [{"approved_by": "anna@contoso.com"}]


async def test_an_event_raised_before_the_orchestrator_waits_is_kept():
    def early(ctx):
        yield ctx.call_activity("record", {"phase": "busy"})
        return (yield ctx.wait_for_external_event("go"))

    async def slow(payload):
        await asyncio.sleep(0.02)
        return payload

    d = make_driver(None, SystemClock())
    d.orchestrators["early"], d.steps["record"] = early, slow
    run = asyncio.ensure_future(d.run("early", None, "e"))
    await asyncio.sleep(0.005)
    await d.raise_event("e", "go", {"n": 1})
    assert await run == {"n": 1}


async def test_until_idle_stops_at_the_gate_and_a_new_driver_resumes_with_the_event(tmp_path):
    status = await make_driver(tmp_path).run("approval", {"days": 2}, "g", until_idle=True)
    assert (status.runtime_status, status.waiting_for) == ("Running", ["approval"])
    assert len(status.timers) == 1
    assert {p.name for p in tmp_path.iterdir()} == {"i-g.json", "i-g.history.jsonl"}

    later = make_driver(tmp_path)  # another command, another driver: same folder
    await later.raise_event("g", "approval", {"by": "ben@contoso.com"})
    assert await later.resume("g") == {"decision": "approved", "by": "ben@contoso.com"}
    assert later.status("g").runtime_status == "Completed"
    assert make_driver(tmp_path).status("g").output == {"decision": "approved", "by": "ben@contoso.com"}


async def test_a_resumed_gate_times_out_when_its_deadline_passed(tmp_path):
    clock = FakeClock()
    await make_driver(tmp_path, clock).run("approval", {"days": 7}, "g", until_idle=True)
    clock.advance(timedelta(days=8))
    later = make_driver(tmp_path, clock)
    status = await later.resume("g", until_idle=True)
    assert (status.runtime_status, status.output) == ("Completed", {"decision": "timed out"})
    with pytest.raises(LookupError, match="instance 'g' is completed"):
        await later.raise_event("g", "approval", {"by": "too late"})


async def test_a_gate_in_a_sub_orchestration_idles_the_run_and_resumes(tmp_path):
    status = await make_driver(tmp_path).run("gated_run", {"days": 3}, "run", until_idle=True)
    assert status.runtime_status == "Running"
    later = make_driver(tmp_path)
    assert later.status("run:gate").waiting_for == ["approval"]
    await later.raise_event("run:gate", "approval", {"by": "cleo@contoso.com"})
    out = await later.run("gated_run", {"days": 3}, "run")  # the same command again continues it
    assert out == {"first": {"phase": "before"}, "gate": {"decision": "approved", "by": "cleo@contoso.com"}}
    assert gate.RECORDED.count({"phase": "before"}) == 1


async def test_a_gate_started_in_another_process_is_approved_here(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tests.durable.approval", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["Running", "approval"]
    here = make_driver(tmp_path)
    await here.raise_event("gate-1", "approval", {"by": "dana@contoso.com"})
    assert await here.resume("gate-1") == {"decision": "approved", "by": "dana@contoso.com"}
    history = [json.loads(line) for line in (tmp_path / "i-gate-1.history.jsonl").read_text().splitlines()]
    assert [e["EventType"] for e in history].count(15) == 1  # one EventRaised, as the extension records it


async def test_a_run_killed_mid_activity_resumes_from_its_history(tmp_path):
    ran: list[str] = []
    hang = asyncio.Event()

    def two_steps(ctx):
        a = yield ctx.call_activity("one", {})
        b = yield ctx.call_activity("two", {})
        return [a, b]

    async def one(payload):
        ran.append("one")
        return 1

    async def stuck(payload):
        ran.append("two (killed)")
        await hang.wait()

    async def two(payload):
        ran.append("two")
        return 2

    first = make_driver(tmp_path)
    first.orchestrators["two_steps"] = two_steps
    first.steps.update(one=one, two=stuck)
    run = asyncio.ensure_future(first.run("two_steps", None, "k"))
    while "two (killed)" not in ran:
        await asyncio.sleep(0.001)
    run.cancel()  # the machine goes away
    with pytest.raises(asyncio.CancelledError):
        await run

    second = make_driver(tmp_path)
    second.orchestrators["two_steps"] = two_steps
    second.steps.update(one=one, two=two)
    assert await second.run("two_steps", None, "k") == [1, 2]
    assert ran == ["one", "two (killed)", "two"]  # "one" is in history: not run again
