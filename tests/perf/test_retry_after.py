"""Retry-After as Dataverse sends it, and the bench's honest baselines (issue 10).

Dataverse answers a service protection 429 with ``Retry-After`` in whole seconds
(learn.microsoft.com/power-apps/developer/data-platform/api-limits, "Retry operations"); the emulator
does the same at time scale 1 and sends scaled decimal seconds only when time-scaled, which the bench
says. Baseline (a) runs for whole windows like the loader (it used to be a 2,000-record burst), over TLS,
honouring Retry-After.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

import httpx
import pytest

from emulators.dataverse.protection import ProtectionMiddleware, ServiceLimits, ServiceProtection

ROOT = Path(__file__).resolve().parents[2]


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module
    spec.loader.exec_module(module)
    return module


async def _ok(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _second_answer(time_scale: float) -> httpx.Response:
    protection = ServiceProtection(time_scale=time_scale, limits=ServiceLimits(requests=1))
    app = ProtectionMiddleware(_ok, protection)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://org.example") as http:
        first = await http.get("/api/data/v9.2/accounts")
        assert first.status_code == 204
        return await http.get("/api/data/v9.2/accounts")


def test_retry_after_is_whole_seconds_at_time_scale_1():
    r = asyncio.run(_second_answer(1.0))
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "0x80072322"
    value = r.headers["retry-after"]
    assert value.isdigit() and int(value) >= 1, value  # e.g. "300": an integer, as Dataverse sends it


def test_retry_after_is_scaled_decimal_seconds_when_time_scaled():
    r = asyncio.run(_second_answer(0.25))
    assert r.status_code == 429
    seconds = float(r.headers["retry-after"])
    assert "." in r.headers["retry-after"] and 0 < seconds <= 300 * 0.25


def test_bench_says_whether_retry_after_is_time_scaled():
    load = _load_bench()
    assert "whole seconds" in load.retry_after_format(1.0) and "TIME-SCALED" not in load.retry_after_format(1.0)
    assert "TIME-SCALED" in load.retry_after_format(0.25)


def test_bench_reads_whole_and_decimal_retry_after():
    load = _load_bench()
    assert load.parse_retry_after("2", 9.0) == 2.0
    assert load.parse_retry_after("0.250", 9.0) == 0.25
    assert load.parse_retry_after(None, 9.0) == 9.0
    assert load.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 9.0) == 9.0


def test_one_request_per_record_baseline_runs_for_whole_windows_over_tls():
    load = _load_bench()
    time_scale = 0.01  # 3 s windows
    window_s = 300 * time_scale
    em = load.start("realistic", time_scale, load.user_creds("single", 1), tls=True)
    try:
        res = asyncio.run(load.run_single(em, concurrency=4, window_s=window_s, windows=1, distinct=50))
    finally:
        em.stop()
    assert em.base_url.startswith("https://") and res.extra["tls"]
    assert res.seconds >= window_s  # not a burst: as long as a measured window of the loader
    assert res.regime.startswith("sustained") and len(res.windows) == 1
    assert res.records > 0 and res.rejected == 0
    assert res.ceiling == pytest.approx(6000 / window_s)  # the request-count limit, scaled
