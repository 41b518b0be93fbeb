"""A request cancelled midway (an activity stopped, Ctrl-C) gives its slot back: the client is shared by a
worker's activities, and a slot kept by a dead request would make every later request wait forever."""

from __future__ import annotations

import asyncio
import time

from .conftest import client_for, make_settings


async def test_a_request_cancelled_while_it_waits_for_a_slot_leaves_none_behind():
    async with client_for(make_settings(initial_concurrency=1)) as dv:
        lane = dv._lanes[0]
        held = await dv._acquire()
        assert lane.in_flight == 1 and lane.count == 1
        waiting = asyncio.ensure_future(dv._acquire())
        await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
        await dv._release(held)
        assert lane.in_flight == 0 and lane.count == 0
        # and the next request gets a slot at once
        nxt = await asyncio.wait_for(dv._acquire(), 1)
        await dv._release(nxt)


async def test_a_slot_handed_to_a_request_as_it_is_cancelled_is_given_back():
    async with client_for(make_settings(initial_concurrency=1)) as dv:
        lane = dv._lanes[0]
        held = await dv._acquire()
        waiting = asyncio.ensure_future(dv._acquire())
        await asyncio.sleep(0)
        await dv._release(held)  # hands the slot to the waiter...
        waiting.cancel()  # ...which is cancelled before it runs again
        await asyncio.gather(waiting, return_exceptions=True)
        assert waiting.cancelled()
        assert lane.in_flight == 0 and lane.count == 0
        nxt = await asyncio.wait_for(dv._acquire(), 1)
        await dv._release(nxt)


async def test_waiters_get_a_slot_when_a_pause_ends_without_any_answer():
    """Every lane paused by a 429 and nothing in flight: nothing releases a slot, the pause's end must."""
    async with client_for(make_settings(initial_concurrency=1)) as dv:
        lane = dv._lanes[0]
        lane.paused_until = time.monotonic() + 0.05
        dv._paused(lane)
        started = time.monotonic()
        slot = await asyncio.wait_for(dv._acquire(), 1)
        assert time.monotonic() - started >= 0.04
        await dv._release(slot)


async def test_thousands_of_waiting_requests_are_not_all_woken_by_each_answer():
    """A freed slot goes to one waiter: a chunk's 5,000 closes gathered at once used to wake every waiter on
    every answer, each checking whether it fits (quadratic: a 5,000-row chunk of won deals took 150 s, a
    1,500-row one 8 s). Counted: how often a lane is asked whether a request fits."""
    async with client_for(make_settings(initial_concurrency=4)) as dv:
        lane = dv._lanes[0]
        checks = 0
        fits = lane.fits

        def counted(weight: float) -> bool:
            nonlocal checks
            checks += 1
            return fits(weight)

        lane.fits = counted  # type: ignore[method-assign]
        n = 2000
        slots = [await dv._acquire() for _ in range(4)]
        waiting = [asyncio.ensure_future(dv._acquire()) for _ in range(n)]
        await asyncio.sleep(0)
        checks = 0
        pending = list(slots)
        while pending:
            for slot in pending:
                await dv._release(slot)
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            pending = [w.result() for w in waiting if w.done() and not getattr(w, "seen", False)]
            for w in waiting:
                if w.done():
                    w.seen = True  # type: ignore[attr-defined]
        assert all(w.done() for w in waiting) and lane.count == 0
        assert checks < 10 * n  # about two a request, not one per waiter per answer
