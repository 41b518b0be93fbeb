import asyncio
import time

import httpx
import pytest

from shared.auth import StaticToken
from shared.dataverse import BatchOperation, DataverseClient, DataverseError, DataverseTransientError

from .conftest import ORG, client_for, dropped, make_settings, scripted


async def test_headers_auth_and_no_affinity_cookie(fake):
    s = make_settings(bypass_custom_logic=True)
    async with client_for(s) as dv:
        await dv.request("GET", "accounts")
        await dv.request("GET", "accounts")
    first, second = fake.log
    assert first.headers["authorization"] == "Bearer tok-1"
    assert first.headers["odata-version"] == "4.0" and first.headers["odata-maxversion"] == "4.0"
    assert first.headers["mscrm.bypassbusinesslogicexecution"] == "CustomSync,CustomAsync"
    assert str(first.url).startswith(f"{ORG}/api/data/v9.2/accounts")
    assert "cookie" not in second.headers  # ARRAffinity was set on the first answer, never sent back


async def test_error_answer_is_parsed(fake, settings):
    async with client_for(settings) as dv:
        with pytest.raises(DataverseError) as ei:
            await dv.request("GET", "nosuchthings")
    assert ei.value.status == 404 and ei.value.code == "0x8006088a"
    assert "Resource not found for the segment 'nosuchthings'" in ei.value.message
    assert len(fake.log) == 1  # a 4xx is not retried


async def test_5xx_and_dropped_connections_are_retried(fake, settings):
    fake.faults = [scripted(503), dropped, scripted(500)]
    async with client_for(settings) as dv:
        resp = await dv.request("GET", "accounts")
        assert resp.status_code == 200
        assert dv.metrics.retries == 3 and dv.metrics.network_errors == 1 and dv.metrics.server_errors == 2


async def test_a_request_that_is_not_idempotent_is_not_resent_after_a_lost_answer(fake, settings):
    """A close message must not be sent twice blindly: after a drop or a 5xx the caller reads the state
    first. A 429 was not executed, so it is resent."""
    for fault in (dropped, scripted(503)):
        fake.log.clear()
        fake.faults = [fault]
        async with client_for(settings) as dv:
            with pytest.raises(DataverseTransientError):
                await dv.request("GET", "accounts", idempotent=False)
        assert len(fake.log) == 1
    fake.faults = [scripted(429, code="0x80072322", message="limit", headers={"Retry-After": "0.01"})]
    async with client_for(settings) as dv:
        assert (await dv.request("GET", "accounts", idempotent=False)).status_code == 200


async def test_retries_are_bounded(fake, settings):
    fake.faults = [scripted(502)] * 10
    async with client_for(settings) as dv:
        with pytest.raises(DataverseTransientError) as ei:
            await dv.request("GET", "accounts")
    assert ei.value.code == "transient" and "4 attempts" in ei.value.message
    assert len(fake.log) == settings.max_attempts


async def test_401_refreshes_token_once(fake, settings):
    class Rotating:
        def __init__(self):
            self.calls = 0

        async def token(self):
            self.calls += 1
            return "expired" if self.calls == 1 else "tok-1"

        def invalidate(self):
            pass

    async with DataverseClient(settings, token_providers=[Rotating()]) as dv:
        assert (await dv.request("GET", "accounts")).status_code == 200


async def test_429_pauses_the_identity_for_retry_after(fake):
    fake.faults = [scripted(429, code="0x80072322", message="Number of requests exceeded the limit", headers={"Retry-After": "1"})]
    async with client_for(make_settings()) as dv:
        t0 = time.monotonic()
        await dv.request("GET", "accounts")  # 429, waits 1 s, retried
        took = time.monotonic() - t0
        assert 0.95 <= took < 3
        assert dv.metrics.throttled == 1
    assert len(fake.log) == 2


async def test_429_pauses_the_whole_lane_but_other_identities_go_on(fake):
    fake.faults = [scripted(429, headers={"Retry-After": "1"})]
    s = make_settings(initial_concurrency=1)
    async with client_for(s, tokens=("tok-1", "tok-2")) as dv:
        first = asyncio.create_task(dv.request("GET", "accounts"))  # takes the 429 on one lane
        await asyncio.sleep(0.05)
        t0 = time.monotonic()
        await asyncio.gather(*(dv.request("GET", "accounts") for _ in range(4)))
        quick = time.monotonic() - t0
        await first
    assert quick < 0.5  # served by the other identity while the first one is paused
    throttled_token = fake.log[0].headers["authorization"][7:]
    during = [r.headers["authorization"][7:] for r in fake.log[1:5]]
    assert throttled_token not in during


async def test_429_without_retry_after_backs_off_exponentially(fake):
    fake.faults = [scripted(429), scripted(429)]
    async with client_for(make_settings(default_retry_after=0.2)) as dv:
        t0 = time.monotonic()
        await dv.request("GET", "accounts")
        assert time.monotonic() - t0 >= 0.2 + 0.4 - 0.05


async def test_aimd_window_starts_at_dop_hint_halves_on_429_and_is_capped(fake):
    fake.dop_hint = 10
    async with client_for(make_settings(max_concurrency=8)) as dv:
        await dv.request("GET", "accounts")
        assert dv.concurrency()["identity-1"] == 8  # hint 10 capped by max_concurrency
        fake.faults = [scripted(429, headers={"Retry-After": "0"})]
        await dv.request("GET", "accounts")
        assert dv.concurrency()["identity-1"] == pytest.approx(4, abs=0.5)
        for _ in range(20):
            await dv.request("GET", "accounts")
        assert 5 < dv.concurrency()["identity-1"] <= 8  # grows back while healthy


async def test_concurrency_never_exceeds_cap(fake):
    fake.latency = 0.02
    fake.dop_hint = 50
    async with client_for(make_settings(max_concurrency=5)) as dv:
        await asyncio.gather(*(dv.request("GET", "accounts") for _ in range(60)))
    assert fake.max_in_flight["tok-1"] <= 5
    assert fake.max_in_flight["tok-1"] >= 4


async def test_over_limit_concurrency_is_throttled_then_adapts(fake):
    fake.latency = 0.02
    fake.dop_hint = 30  # the hint says 30, the server only takes 6 at once
    fake.concurrency_limit = 6
    fake.retry_after = "0.1"
    async with client_for(make_settings()) as dv:
        await dv.request("GET", "accounts")
        results = await asyncio.gather(*(dv.request("GET", "accounts") for _ in range(150)))
        assert all(r.status_code == 200 for r in results)
        assert dv.metrics.throttled >= 1
        assert dv.concurrency()["identity-1"] < 30


async def test_requests_spread_over_identities(fake):
    fake.latency = 0.01
    async with client_for(make_settings(initial_concurrency=2), tokens=("tok-1", "tok-2")) as dv:
        await asyncio.gather(*(dv.request("GET", "accounts") for _ in range(40)))
    assert fake.by_token["tok-1"] >= 10 and fake.by_token["tok-2"] >= 10


async def test_crud_helpers_and_paging(fake, settings):
    async with client_for(settings) as dv:
        ids = [await dv.create("accounts", {"name": f"A{i}"}) for i in range(7)]
        assert all(len(i) == 36 for i in ids)
        names = [r["name"] async for r in dv.get_all("accounts", select=["name"], page_size=3)]
        assert sorted(names) == [f"A{i}" for i in range(7)]
        assert sum(1 for r in fake.log if r.method == "GET") == 3  # 3 + 3 + 1
        assert (await dv.retrieve("accounts", ids[0]))["name"] == "A0"
        await dv.update("accounts", ids[0], {"name": "Z"})
        assert (await dv.retrieve("accounts", ids[0], select=["name"]))["name"] == "Z"
        assert await dv.delete("accounts", ids[0]) is True
        assert await dv.retrieve("accounts", ids[0], missing_ok=True) is None
        assert await dv.delete("accounts", ids[0], missing_ok=True) is False
        with pytest.raises(DataverseError) as ei:
            await dv.update("accounts", "wtc_sourceid='nope'", {"name": "x"})  # If-Match: * -> 404
        assert ei.value.code == "0x80040217"
        rid = await dv.upsert("accounts", "wtc_sourceid='k1'", {"name": "K"})
        assert rid and (await dv.retrieve("accounts", "wtc_sourceid='k1'"))["name"] == "K"


async def test_batch_continue_on_error(fake, settings):
    async with client_for(settings) as dv:
        ops = [
            BatchOperation("PATCH", "accounts(wtc_sourceid='1')", {"name": "one"}),
            BatchOperation("PATCH", "accounts(wtc_sourceid='2')", {"nosuchcolumn": 1}),
            BatchOperation("POST", "accounts", {"name": "three"}),
            BatchOperation("GET", "accounts(wtc_sourceid='1')"),
        ]
        res = await dv.batch(ops)
    assert [r.status for r in res] == [204, 400, 204, 200]
    assert res[1].error[0] == "0x0" and "undeclared property" in res[1].error[1]
    assert res[0].entity_id and res[2].entity_id
    assert res[3].body["name"] == "one"
    assert fake.log[-1].headers["prefer"] == "odata.continue-on-error"


async def test_batch_stops_without_continue_on_error(fake, settings):
    async with client_for(settings) as dv:
        ops = [
            BatchOperation("PATCH", "accounts(wtc_sourceid='1')", {"name": "one"}),
            BatchOperation("PATCH", "accounts(wtc_sourceid='2')", {"nosuchcolumn": 1}),
            BatchOperation("PATCH", "accounts(wtc_sourceid='3')", {"name": "three"}),
        ]
        res = await dv.batch(ops, continue_on_error=False)
    assert [r.status for r in res] == [204, 400, 0]
    assert res[2].error[0] == "not_executed"


async def test_batch_limit(settings, fake):
    async with client_for(settings) as dv:
        with pytest.raises(ValueError):
            await dv.batch([BatchOperation("GET", "accounts")] * 1001)


def test_build_and_parse_changeset():
    from shared.dataverse.client import _align, build_batch, parse_multipart

    ops = [
        BatchOperation("POST", "accounts", {"name": "a"}, content_id="1", changeset="cs"),
        BatchOperation("POST", "$1/contact_customer_accounts", {"lastname": "b"}, content_id="2", changeset="cs"),
        BatchOperation("GET", "accounts"),
    ]
    ctype, body = build_batch(ops, "/api/data/v9.2/", boundary="batch_x")
    text = body.decode()
    assert ctype == "multipart/mixed; boundary=batch_x"
    assert "POST /api/data/v9.2/accounts HTTP/1.1" in text and "POST $1/contact_customer_accounts HTTP/1.1" in text
    assert "Content-ID: 1" in text and text.count("--changeset_") == 3
    # a failed changeset answers with a single error for all its requests
    resp = (
        "--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n{"error":{"code":"0x1","message":"boom"}}\r\n'
        "--batchresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"value":[]}\r\n'
        "--batchresponse_1--\r\n"
    )
    res = _align(ops, parse_multipart(resp, "batchresponse_1"))
    assert [r.status for r in res] == [400, 400, 200]
    assert res[1].error == ("0x1", "boom")
    # a successful changeset answers with a nested multipart, mapped by Content-ID
    resp2 = (
        "--batchresponse_2\r\nContent-Type: multipart/mixed; boundary=changesetresponse_9\r\n\r\n"
        "--changesetresponse_9\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 2\r\n\r\n"
        "HTTP/1.1 204 No Content\r\nOData-EntityId: https://o/api/data/v9.2/contacts(22222222-2222-2222-2222-222222222222)\r\n\r\n\r\n"
        "--changesetresponse_9\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n"
        "HTTP/1.1 204 No Content\r\nOData-EntityId: https://o/api/data/v9.2/accounts(11111111-1111-1111-1111-111111111111)\r\n\r\n\r\n"
        "--changesetresponse_9--\r\n"
        "--batchresponse_2--\r\n"
    )
    res = _align(ops, parse_multipart(resp2, "batchresponse_2"))
    assert res[0].entity_id.startswith("1111") and res[1].entity_id.startswith("2222")
    assert res[2].status == 0


async def test_execute_action(settings):
    seen = {}

    def handler(req: httpx.Request):
        seen["path"] = req.url.path
        return httpx.Response(200, json={"UserId": "u"})

    from shared import http as sh

    sh.register_transport(ORG, lambda: httpx.MockTransport(handler))
    try:
        async with client_for(settings) as dv:
            assert (await dv.execute_action("WhoAmI"))["UserId"] == "u"
            assert seen["path"] == "/api/data/v9.2/WhoAmI"
            await dv.execute_action("UpsertMultiple", {"Targets": []}, entity_set="accounts")
            assert seen["path"] == "/api/data/v9.2/accounts/Microsoft.Dynamics.CRM.UpsertMultiple"
    finally:
        sh.unregister_transport(ORG)
