"""The client's window bounds execution time in flight, not requests: a short request beside long bulk
requests takes only its share of a slot (shared/dataverse/client.py, ``_Lane.weight``).

Found with bench/closes.py: with the window full of 1-second UpsertMultiples, each slot a bulk request gave
back let one 40 ms close through, so a wave's closing actions ran far under the request limit."""

from __future__ import annotations

import asyncio

import httpx

from shared import http as shared_http
from shared.dataverse.client import MIN_WEIGHT, request_kind

from .conftest import ORG, client_for, make_settings

LONG, SHORT = 0.2, 0.01


def test_request_kinds():
    assert request_kind("POST", "accounts/Microsoft.Dynamics.CRM.UpsertMultiple") == "bulk"
    assert request_kind("POST", "$batch") == "bulk"
    assert request_kind("POST", "WinOpportunity") == "write"
    assert request_kind("PATCH", "accounts(wtc_sourceid='1')") == "write"
    assert request_kind("GET", "accounts?$filter=name eq 'UpsertMultiple'") == "read"


async def test_short_requests_take_their_share_of_a_slot_beside_long_ones(fake):
    fake.dop_hint = 2  # the window: at most 4 (twice the hint)
    fake.latency = lambda request: LONG if request_kind(request.method, request.url.path) == "bulk" else SHORT
    running = {"bulk": 0, "write": 0}
    seen: list[tuple[int, int]] = []  # (bulk, writes) in flight whenever a write starts

    async def tracked(request: httpx.Request) -> httpx.Response:
        kind = "bulk" if request_kind(request.method, request.url.path) == "bulk" else "write"
        running[kind] += 1
        if kind == "write":
            seen.append((running["bulk"], running["write"]))
        try:
            return await fake.handle(request)
        finally:
            running[kind] -= 1

    def targets(prefix: str, n: int) -> dict:
        return {"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.account", "name": f"{prefix}{i}",
                             "@odata.id": f"accounts(wtc_sourceid='{prefix}{i}')"} for i in range(n)]}

    shared_http.register_transport(ORG, lambda: httpx.MockTransport(tracked))
    async with client_for(make_settings()) as dv:
        # one of each first: the lane times both kinds, and the first answer's hint sets the window
        await dv.execute_action("UpsertMultiple", targets("W", 2), entity_set="accounts")
        lane = dv._lanes[0]
        while lane.window < 4:
            await dv.request("PATCH", "accounts(wtc_sourceid='P0')", json={"name": "p"})
        assert lane.weight("write") == MIN_WEIGHT and lane.weight("bulk") == 1
        stop = asyncio.Event()

        async def bulk(n: int) -> None:
            while not stop.is_set():
                await dv.execute_action("UpsertMultiple", targets(f"B{n}-", 2), entity_set="accounts")

        loops = [asyncio.create_task(bulk(n)) for n in range(3)]
        while running["bulk"] < 3:
            await asyncio.sleep(0.005)
        seen.clear()
        await asyncio.gather(*(dv.request("PATCH", f"accounts(wtc_sourceid='C{i}')", json={"name": "c"})
                               for i in range(64)))
        stop.set()
        await asyncio.gather(*loops)
    # beside three long requests, the one slot left holds up to 1 / MIN_WEIGHT short ones, not one
    assert max(w for b, w in seen if b == 3) >= 4
    assert all(b + w * MIN_WEIGHT <= 4 + 1e-9 for b, w in seen)
