import asyncio
import time

import pytest

from emulators.dataverse.protection import ceiling, format_retry_after
from tests.emulators.layers.conftest import API, FakeClock, client_for

UPSERT = f"{API}/accounts/Microsoft.Dynamics.CRM.UpsertMultiple"


def test_ceiling_numbers_and_time_scale_shape():
    bulk = ceiling(100)
    assert bulk.binding == "execution" and bulk.records_per_s == pytest.approx(4000 * 100 / 810)
    assert round(bulk.parallelism) == 4
    single = ceiling(1, kind="single")
    assert single.binding == "requests" and single.records_per_s == pytest.approx(20)
    assert ceiling(100, kind="batch").records_per_s == pytest.approx(20)
    scaled = ceiling(100, time_scale=0.01)
    assert scaled.records_per_s == pytest.approx(bulk.records_per_s * 100) and scaled.binding == bulk.binding


def test_retry_after_format():
    assert format_retry_after(12.2, 1.0) == "13" and format_retry_after(0.2, 1.0) == "1"
    assert format_retry_after(0.0341, 0.01) == "0.035"


async def test_dop_hint_on_every_answer(make_app):
    for profile in ("off", "realistic"):
        async with client_for(make_app(profile=profile, time_scale=0.001)) as client:
            r = await client.get(f"{API}/WhoAmI")
        assert r.status_code == 200 and r.headers["x-ms-dop-hint"] == "4"


async def test_request_limit_429_and_sliding_recovery(make_app):
    app = make_app(profile="realistic", time_scale=0.001)  # 0.3 s window
    async with client_for(app) as client:
        for _ in range(6):  # 6 x 1000 batch parts = 6000 requests
            assert (await client.post(f"{API}/$batch", headers={"x-parts": "1000"})).status_code == 200
        r = await client.get(f"{API}/WhoAmI")
        assert r.status_code == 429 and r.headers["x-ms-dop-hint"] == "4"
        assert r.json()["error"] == {"code": "0x80072322", "message":
                                     "Number of requests exceeded the limit of 6000 over time window of 300 seconds."}
        wait = float(r.headers["retry-after"])
        assert 0 < wait <= 0.3
        await asyncio.sleep(wait + 0.02)
        assert (await client.get(f"{API}/WhoAmI")).status_code == 200


async def test_execution_time_limit_overshoots_then_bites(make_app):
    app = make_app(profile="realistic", time_scale=0.01)  # 3 s window, 12 s execution
    async with client_for(app) as client:
        # 20 concurrent upserts of 6000 records: 0.48 s each = 9.6 s ... 40 of them = 19.2 s > 12 s
        answers = await asyncio.gather(*[client.post(UPSERT, json={"count": 6000}) for _ in range(40)])
        assert all(a.status_code == 204 for a in answers)  # checked at start: all admitted
        r = await client.get(f"{API}/WhoAmI")
    assert r.status_code == 429 and r.json()["error"]["code"] == "0x80072321"
    assert r.json()["error"]["message"].startswith(
        "Combined execution time of incoming requests exceeded limit of 1,200,000 milliseconds over time window "
        "of 300 seconds.")
    assert 0 < float(r.headers["retry-after"]) <= 3


async def test_concurrency_limit_fails_at_once(make_app):
    app = make_app(profile="realistic", time_scale=0.01)
    async with client_for(app) as client:
        t0 = time.monotonic()
        answers = await asyncio.gather(*[client.post(UPSERT, json={"count": 4000}) for _ in range(60)])
    statuses = [a.status_code for a in answers]
    assert statuses.count(204) == 52 and statuses.count(429) == 8
    refused = [a for a in answers if a.status_code == 429]
    assert {a.json()["error"]["code"] for a in refused} == {"0x80072326"}
    assert refused[0].json()["error"]["message"] == "Number of concurrent requests exceeded the limit of 52."
    assert refused[0].headers["retry-after"] == "0.010"
    assert time.monotonic() - t0 < 1.0


async def test_pushing_while_throttled_lengthens_the_wait_and_integer_retry_after(make_app):
    clock = FakeClock()
    app = make_app(profile="realistic", time_scale=1.0)
    protection = app.state.dv_protection
    protection.clock = clock
    caller = "app-user-1"
    protection.finish(caller, requests=6000, execution_s=1.0)
    clock.advance(100)
    async with client_for(app, caller) as client:
        first = await client.get(f"{API}/WhoAmI")
        clock.advance(10)
        second = await client.get(f"{API}/WhoAmI")
    assert first.status_code == second.status_code == 429
    assert first.headers["retry-after"] == "200"  # integer seconds at time_scale 1
    assert int(second.headers["retry-after"]) == 191  # 190 left + 1 s penalty for pushing
    clock.advance(191)
    assert protection.admit(caller) is None


async def test_limits_are_per_caller(make_app):
    app = make_app(profile="realistic", time_scale=0.01)
    app.state.dv_protection.finish("greedy", requests=6000, execution_s=0.0)
    async with client_for(app, "greedy") as greedy, client_for(app, "polite") as polite:
        assert (await greedy.get(f"{API}/WhoAmI")).status_code == 429
        assert (await polite.get(f"{API}/WhoAmI")).status_code == 200


async def test_cost_model_holds_requests(make_app):
    app = make_app(profile="realistic", time_scale=0.01)
    async with client_for(app) as client:
        t0 = time.monotonic()
        await client.post(UPSERT, json={"count": 1000})  # 8010 ms * 0.01 = 80 ms
        held = time.monotonic() - t0
    assert 0.08 <= held < 0.5
    snap = app.state.dv_protection.snapshot("app-user-1")
    assert snap["requests"] == 1 and snap["execution_s"] >= 0.08 and snap["concurrent"] == 0
    off = make_app(profile="off")
    async with client_for(off) as client:
        t0 = time.monotonic()
        await client.post(UPSERT, json={"count": 1000})
    assert time.monotonic() - t0 < 0.05
