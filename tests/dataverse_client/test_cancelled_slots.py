"""A request cancelled midway (an activity stopped, Ctrl-C) gives its slot back: the client is shared by a
worker's activities, and a slot kept by a dead request would make every later request wait forever."""

from __future__ import annotations

import asyncio

from .conftest import client_for, make_settings


async def test_a_release_cancelled_while_it_waits_for_the_lock_still_frees_the_slot():
    async with client_for(make_settings()) as dv:
        slot = await dv._acquire()
        lane = slot.lane
        assert lane.in_flight == 1
        async with dv._cond:  # another request holds the lock: the release has to wait for it
            release = asyncio.ensure_future(dv._release(slot))
            await asyncio.sleep(0)
            release.cancel()
            await asyncio.sleep(0)
        await asyncio.gather(release, return_exceptions=True)
        assert lane.in_flight == 0
        # and the next request gets a slot at once
        nxt = await asyncio.wait_for(dv._acquire(), 1)
        await dv._release(nxt)
