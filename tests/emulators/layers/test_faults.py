import time

import httpx
import pytest

from emulators.common.faults import ConnectionDropped, FaultMiddleware, parse_faults
from emulators.common.serve import serve_in_thread
from tests.emulators.layers.conftest import API, client_for


def test_parse_spec():
    rules = parse_faults("503:0.05,500:0.02,drop:0.01,slow:0.05@2.0")
    assert [(r.kind, r.rate, r.arg) for r in rules] == [
        ("503", 0.05, None), ("500", 0.02, None), ("drop", 0.01, None), ("slow", 0.05, 2.0)]
    assert parse_faults("slow:0.1")[0].arg == 1.0
    for bad in ("503", "teapot:0.1", "503:1.5", "503:0.6,500:0.6", "200:0.1"):
        with pytest.raises(ValueError):
            parse_faults(bad)


def test_seeded_decisions_repeat():
    def sequence(seed):
        mw = FaultMiddleware(None, "503:0.3,drop:0.2", seed=seed)
        return [getattr(mw.choose(), "kind", None) for _ in range(200)]

    assert sequence(7) == sequence(7)
    assert sequence(7) != sequence(8)
    counts = {k: sequence(7).count(k) for k in ("503", "drop", None)}
    assert 40 < counts["503"] < 80 and 20 < counts["drop"] < 60


@pytest.mark.parametrize("status", [500, 503])
async def test_status_fault(make_app, status):
    app = make_app(faults=f"{status}:1")
    async with client_for(app) as client:
        r = await client.get(f"{API}/WhoAmI")
    assert r.status_code == status
    assert "code" in r.json()["error"]
    assert app.state.calls == []  # the core never saw it


async def test_status_fault_with_retry_after(make_app):
    async with client_for(make_app(faults="503:1@7")) as client:
        r = await client.get(f"{API}/WhoAmI")
    assert r.status_code == 503 and r.headers["retry-after"] == "7"


async def test_slow_fault_delays_then_answers(make_app):
    async with client_for(make_app(faults="slow:1@0.3")) as client:
        t0 = time.monotonic()
        r = await client.get(f"{API}/WhoAmI")
    assert r.status_code == 200 and time.monotonic() - t0 >= 0.3


async def test_drop_in_process_is_a_transport_error(make_app):
    app = make_app(faults="drop:1")
    async with client_for(app) as client:
        with pytest.raises(httpx.RemoteProtocolError) as info:
            await client.get(f"{API}/WhoAmI")
    assert isinstance(info.value, httpx.TransportError)
    assert app.state.calls == []


async def test_lost_answer_runs_the_request(make_app):
    app = make_app(faults="lost:1")
    async with client_for(app) as client:
        with pytest.raises(httpx.TransportError):
            await client.post(f"{API}/accounts", json={"name": "x"})
    assert app.state.calls == ["create"]  # the write happened, the answer was lost


async def test_faults_do_not_touch_the_token_endpoint(make_app):
    app = make_app(faults="503:1", clients={"c1": "s1"})
    async with client_for(app, subject=None) as client:
        r = await client.post("/tenant/oauth2/v2.0/token", data={
            "grant_type": "client_credentials", "client_id": "c1", "client_secret": "s1",
            "scope": "https://org.crm.dynamics.com/.default"})
    assert r.status_code == 200


async def test_drop_over_a_socket(make_app):
    app = make_app(faults="drop:1")
    from emulators.dataverse import mint_token

    with serve_in_thread(app, "127.0.0.1") as server:
        async with httpx.AsyncClient(base_url=server.base_url,
                                     headers={"Authorization": f"Bearer {mint_token(app)}"}) as client:
            with pytest.raises(httpx.TransportError) as info:
                await client.get(f"{API}/WhoAmI")
    assert isinstance(info.value, (httpx.RemoteProtocolError, httpx.ReadError))
    assert not isinstance(info.value, ConnectionDropped)  # a real socket error, not our exception


async def test_seeded_app_is_deterministic(make_app):
    async def statuses(seed):
        app = make_app(faults="503:0.5", fault_seed=seed)
        async with client_for(app) as client:
            return [(await client.get(f"{API}/WhoAmI")).status_code for _ in range(30)]

    first = await statuses(3)
    assert first == await statuses(3)
    assert set(first) == {200, 503}
