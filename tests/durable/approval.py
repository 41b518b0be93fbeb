"""A human approval gate, as a later CLI feature will have it: wait for an "approval" event, raced
against a deadline timer. Importable, so a second process can run it too."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from cli.durable import DurableDriver, FakeClock


def approval(ctx):
    deadline = ctx.current_utc_datetime + timedelta(days=ctx.get_input()["days"])
    timeout = ctx.create_timer(deadline)
    decision = ctx.wait_for_external_event("approval")
    winner = yield ctx.task_any([decision, timeout])
    if winner == decision:
        timeout.cancel()
        yield ctx.call_activity("record", {"approved_by": decision.result["by"]})
        return {"decision": "approved", "by": decision.result["by"]}
    yield ctx.call_activity("record", {"approved_by": None})
    return {"decision": "timed out"}


def gated_run(ctx):
    """A parent whose child waits at the gate (idle detection covers sub-orchestrations)."""
    first = yield ctx.call_activity("record", {"phase": "before"})
    gate = yield ctx.call_sub_orchestrator("approval", ctx.get_input(), f"{ctx.instance_id}:gate")
    return {"first": first, "gate": gate}


RECORDED: list[dict] = []


async def record(payload):
    RECORDED.append(payload)
    return payload


ORCHESTRATORS = {"approval": approval, "gated_run": gated_run}
STEPS = {"record": record}


def make_driver(store, clock=None, **options) -> DurableDriver:
    return DurableDriver(ORCHESTRATORS, STEPS, store=store, clock=clock or FakeClock(), **options)


if __name__ == "__main__":  # python -m tests.durable.approval STORE: start a gate and stop at it
    status = asyncio.run(make_driver(sys.argv[1]).run("approval", {"days": 2}, "gate-1", until_idle=True))
    print(status.runtime_status, ",".join(status.waiting_for))
