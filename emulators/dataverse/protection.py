"""Dataverse service protection limits, per caller, with a cost model for execution time.

Faithful to ../shared/REFERENCE.md (learn.microsoft.com/power-apps/developer/data-platform/api-limits):

* per user (here: per token ``oid``, put in ``scope["state"]["dv_caller"]`` by ``auth``), over a
  300 s SLIDING window: 6000 requests (``0x80072322``) and 1,200,000 ms combined execution time
  (``0x80072321``); 52 concurrent requests (``0x80072326``);
* the request and execution-time limits are checked when a request starts, against what is
  already recorded in the window; a request is recorded when it finishes, so a burst of
  concurrent requests overshoots them before they bite. The concurrency limit fails at once;
* answer: 429, ``Retry-After``, ``{"error": {"code": "0x8007232x", "message": ...}}``;
* a caller that sends again before its Retry-After has passed is refused with the same error and
  its wait grows by ``push_penalty_s`` per early request, capped at one window (*inferred*: the
  docs only say that a client that keeps pushing gets longer waits);
* 429 answers themselves are not counted toward the request or execution-time limits (*inferred*).

Retry-After: integer seconds (rounded up, at least 1) when ``time_scale == 1``, like Dataverse.
When time-scaled it is a decimal number of seconds with millisecond precision (e.g. ``"0.035"``),
because a whole second would be a whole window at ``time_scale=0.01``; clients should parse it as a
float. The concurrency error carries ``Retry-After`` of 1 s (scaled) (*inferred*).

``x-ms-dop-hint`` is on every answer. Value: the execution-time limit expressed as a parallelism,
1,200,000 ms / 300,000 ms = 4 requests busy on average: with requests held for their cost, more
parallelism than that only trades throughput for 429s (configurable, *inferred*: real environments
send a value that depends on the servers allocated to them).
``x-ms-ratelimit-burst-remaining-xrm-requests`` (requests left in the window) and
``x-ms-ratelimit-time-remaining-xrm-requests`` (execution ms left, unscaled) are sent too, for
debugging only, as Dataverse does (their exact number format is *inferred*).

Cost model (simulated execution time, held after the inner app answered, while the request still
counts as concurrent). Numbers are *inferred*; the ratios come from Microsoft's bulk-operations
documentation (learn.microsoft.com/power-apps/developer/data-platform/bulk-operations and
"Optimize performance for bulk operations"), which says CreateMultiple/UpdateMultiple/UpsertMultiple
give several times (we take ~5x) the throughput of the same writes sent as single requests or in
``$batch``/ExecuteMultiple, where every operation still runs as its own request on the server:

    kind       base ms   per record ms   e.g.
    read          20          0          any GET: 20 ms
    metadata     250          0          a column/key definition write
    single        10         30          one create/update/upsert: 40 ms
    multiple      10          8          UpsertMultiple of 100: 810 ms (8.1 ms/record, ~5x cheaper)
    batch         10         30  + 10 ms per part (each part is a request): 100 creates: 4010 ms

The execution time recorded is max(simulated cost, time the inner app really took).
``time_scale`` multiplies the window, every cost, every Retry-After and the penalty, so
``time_scale=0.01`` gives a 3 s window with the same shape. ``profile="off"``: no limits, no holds,
``x-ms-dop-hint`` still sent.

``ceiling(batch_size, kind=..., time_scale=...)`` computes the theoretical records/s per user:

    calls/s  = min( requests_limit / window / requests_per_call,
                    (execution_ms_limit / window_ms) / cost_s(call),
                    concurrency_limit / cost_s(call) )
    records/s = calls/s * records_per_call

(all durations scaled by ``time_scale``; assumes the inner app is faster than the cost model).
UpsertMultiple of 100: min(2000, 493.8, 6419.8) = 493.8 records/s per user (execution time binds);
single requests: min(20, 100, 1300) = 20 records/s (request count binds).
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

__all__ = [
    "COSTS",
    "LIMITS",
    "Ceiling",
    "CostModel",
    "ProtectionMiddleware",
    "Rejection",
    "ServiceLimits",
    "ServiceProtection",
    "ceiling",
    "format_retry_after",
]


@dataclass(frozen=True)
class ServiceLimits:
    requests: int = 6000
    execution_ms: int = 1_200_000
    window_s: float = 300.0
    concurrency: int = 52

    @property
    def dop_hint(self) -> int:
        return max(1, int(self.execution_ms // (self.window_s * 1000)))


LIMITS = ServiceLimits()


@dataclass(frozen=True)
class CostModel:
    base_ms: dict = field(default_factory=lambda: {
        "read": 20.0, "metadata": 250.0, "single": 10.0, "multiple": 10.0, "batch": 10.0})
    per_record_ms: dict = field(default_factory=lambda: {
        "read": 0.0, "metadata": 0.0, "single": 30.0, "multiple": 8.0, "batch": 30.0})
    per_batch_part_ms: float = 10.0

    def cost_ms(self, kind: str, records: int = 0, requests: int = 1) -> float:
        """Unscaled simulated execution time of one HTTP request."""
        kind = kind if kind in self.base_ms else "single"
        cost = self.base_ms[kind] + self.per_record_ms[kind] * max(0, records)
        if kind == "batch":
            cost += self.per_batch_part_ms * max(0, requests)
        return cost


COSTS = CostModel()

MESSAGES = {
    "requests": ("0x80072322", "Number of requests exceeded the limit of {requests} over time window of "
                               "{window} seconds."),
    "execution": ("0x80072321", "Combined execution time of incoming requests exceeded limit of {execution} "
                                "milliseconds over time window of {window} seconds. Decrease number of "
                                "concurrent requests or reduce the duration of requests and try again later."),
    "concurrency": ("0x80072326", "Number of concurrent requests exceeded the limit of {concurrency}."),
}


@dataclass(frozen=True)
class Rejection:
    limit: str  # "requests" | "execution" | "concurrency"
    code: str
    message: str
    retry_after_s: float  # real (scaled) seconds


@dataclass
class Ceiling:
    records_per_s: float
    calls_per_s: float
    binding: str  # which limit binds: "requests" | "execution" | "concurrency"
    by_limit: dict  # records/s allowed by each limit
    cost_s: float  # scaled cost of one call
    parallelism: float  # requests in flight needed to reach the ceiling (Little's law)


def ceiling(batch_size: int = 1, *, kind: str = "multiple", time_scale: float = 1.0,
            limits: ServiceLimits = LIMITS, costs: CostModel = COSTS) -> Ceiling:
    """Theoretical records/s for ONE user sending ``kind`` calls of ``batch_size`` records."""
    if kind == "single":
        records, requests = 1, 1
    elif kind == "batch":
        records, requests = batch_size, batch_size
    else:
        records, requests = batch_size, 1
    cost_s = costs.cost_ms(kind, records, requests) / 1000.0 * time_scale
    window_s = limits.window_s * time_scale
    calls = {
        "requests": limits.requests / window_s / requests,
        "execution": (limits.execution_ms / (limits.window_s * 1000.0)) / cost_s,
        "concurrency": limits.concurrency / cost_s,
    }
    binding = min(calls, key=calls.get)
    calls_per_s = calls[binding]
    return Ceiling(records_per_s=calls_per_s * records, calls_per_s=calls_per_s, binding=binding,
                   by_limit={k: v * records for k, v in calls.items()}, cost_s=cost_s,
                   parallelism=calls_per_s * cost_s)


def format_retry_after(seconds: float, time_scale: float) -> str:
    # Dataverse sends whole seconds (learn.microsoft.com/power-apps/developer/data-platform/api-limits,
    # "Retry operations"); decimals only when time-scaled (bench/load.py says which).
    if time_scale == 1.0:
        return str(max(1, math.ceil(seconds - 1e-9)))
    return f"{max(0.001, math.ceil(seconds * 1000 - 1e-6) / 1000):.3f}"


@dataclass
class _Caller:
    requests: deque = field(default_factory=deque)  # (t, n)
    request_sum: int = 0
    execution: deque = field(default_factory=deque)  # (t, seconds)
    execution_sum: float = 0.0
    concurrent: int = 0
    blocked_until: float = 0.0
    blocked_limit: str | None = None
    throttled: int = 0


class ServiceProtection:
    """Per-caller limit state (thread-safe: one ``threading.Lock``, short critical sections)."""

    def __init__(self, *, profile: str = "realistic", time_scale: float = 1.0,
                 limits: ServiceLimits = LIMITS, costs: CostModel = COSTS, dop_hint: int | None = None,
                 push_penalty_s: float = 1.0, concurrency_retry_s: float = 1.0, clock=time.monotonic) -> None:
        if profile not in ("off", "realistic"):
            raise ValueError(f"profile must be 'off' or 'realistic', not {profile!r}")
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.profile = profile
        self.time_scale = float(time_scale)
        self.limits = limits
        self.costs = costs
        self.dop_hint = dop_hint if dop_hint is not None else limits.dop_hint
        self.window = limits.window_s * self.time_scale
        self.execution_limit_s = limits.execution_ms / 1000.0 * self.time_scale
        self.push_penalty = push_penalty_s * self.time_scale
        self.concurrency_retry = concurrency_retry_s * self.time_scale
        self.clock = clock
        self._lock = threading.Lock()
        self._callers: dict[str, _Caller] = {}

    @property
    def enabled(self) -> bool:
        return self.profile == "realistic"

    def cost_seconds(self, kind: str, records: int = 0, requests: int = 1) -> float:
        return self.costs.cost_ms(kind, records, requests) / 1000.0 * self.time_scale

    def _prune(self, st: _Caller, now: float) -> None:
        horizon = now - self.window
        while st.requests and st.requests[0][0] <= horizon:
            st.request_sum -= st.requests.popleft()[1]
        while st.execution and st.execution[0][0] <= horizon:
            st.execution_sum -= st.execution.popleft()[1]

    def _reject(self, limit: str, retry: float) -> Rejection:
        code, template = MESSAGES[limit]
        message = template.format(requests=self.limits.requests, window=f"{self.limits.window_s:g}",
                                  execution=f"{self.limits.execution_ms:,}", concurrency=self.limits.concurrency)
        return Rejection(limit, code, message, retry)

    @staticmethod
    def _time_until_below(entries: deque, total: float, limit: float, now: float, window: float) -> float:
        excess = total - limit
        freed = 0.0
        for t, amount in entries:
            freed += amount
            if freed > excess:
                return max(0.0, t + window - now)
        return window

    def admit(self, caller: str) -> Rejection | None:
        """Check the limits at request start; on success the request counts as concurrent."""
        if not self.enabled:
            return None
        with self._lock:
            now = self.clock()
            st = self._callers.setdefault(caller, _Caller())
            self._prune(st, now)
            if now < st.blocked_until and st.blocked_limit:
                st.blocked_until = min(st.blocked_until + self.push_penalty, now + self.window)
                st.throttled += 1
                return self._reject(st.blocked_limit, st.blocked_until - now)
            for limit, total, cap, entries in (
                ("requests", st.request_sum, self.limits.requests, st.requests),
                ("execution", st.execution_sum, self.execution_limit_s, st.execution),
            ):
                if total >= cap:
                    retry = max(self._time_until_below(entries, total, cap, now, self.window), 0.001 * self.time_scale)
                    st.blocked_until, st.blocked_limit = now + retry, limit
                    st.throttled += 1
                    return self._reject(limit, retry)
            if st.concurrent >= self.limits.concurrency:
                st.throttled += 1
                return self._reject("concurrency", self.concurrency_retry)
            st.concurrent += 1
            return None

    def finish(self, caller: str, *, requests: int, execution_s: float) -> None:
        """Record a finished request (admitted by ``admit``)."""
        if not self.enabled:
            return
        with self._lock:
            now = self.clock()
            st = self._callers.setdefault(caller, _Caller())
            st.concurrent = max(0, st.concurrent - 1)
            st.requests.append((now, requests))
            st.request_sum += requests
            st.execution.append((now, execution_s))
            st.execution_sum += execution_s
            self._prune(st, now)

    def remaining(self, caller: str) -> tuple[int, float]:
        """(requests left in the window, execution ms left, unscaled) for the debug headers."""
        with self._lock:
            st = self._callers.get(caller)
            if st is None:
                return self.limits.requests, float(self.limits.execution_ms)
            self._prune(st, self.clock())
            left_ms = (self.execution_limit_s - st.execution_sum) * 1000.0 / self.time_scale
            return self.limits.requests - st.request_sum, left_ms

    def snapshot(self, caller: str) -> dict:
        with self._lock:
            st = self._callers.get(caller) or _Caller()
            self._prune(st, self.clock())
            return {"requests": st.request_sum, "execution_s": st.execution_sum, "concurrent": st.concurrent,
                    "throttled": st.throttled, "blocked_for_s": max(0.0, st.blocked_until - self.clock())}


def _request_facts(scope) -> tuple[str, int, int]:
    state = scope.get("state") or {}
    method = scope.get("method", "GET")
    kind = state.get("dv_kind") or ("read" if method in ("GET", "HEAD") else "single")
    records = state.get("dv_records")
    if records is None:
        records = 0 if kind in ("read", "metadata") else 1
    requests = state.get("dv_requests") or 1
    return kind, int(records), int(requests)


class ProtectionMiddleware:
    """Pure ASGI middleware in front of the core app; applies to ``/api/data/`` paths."""

    def __init__(self, app, protection: ServiceProtection | None = None, *, prefix: str = "/api/data/",
                 **options) -> None:
        self.app = app
        self.protection = protection or ServiceProtection(**options)
        self.prefix = prefix

    def _headers(self, caller: str, headers: list) -> list:
        out = [(k, v) for k, v in headers if k.lower() != b"x-ms-dop-hint"]
        out.append((b"x-ms-dop-hint", str(self.protection.dop_hint).encode()))
        if self.protection.enabled:
            requests_left, ms_left = self.protection.remaining(caller)
            out.append((b"x-ms-ratelimit-burst-remaining-xrm-requests", str(max(0, requests_left)).encode()))
            out.append((b"x-ms-ratelimit-time-remaining-xrm-requests", f"{max(0.0, ms_left):.2f}".encode()))
        return out

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        caller = str(state.get("dv_caller") or "anonymous")
        protection = self.protection

        if not protection.enabled:
            async def send_with_hint(message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": self._headers(caller, list(message.get("headers", [])))}
                await send(message)

            await self.app(scope, receive, send_with_hint)
            return

        rejection = protection.admit(caller)
        if rejection is not None:
            await self._send_429(send, caller, rejection)
            return
        messages: list = []

        async def capture(message) -> None:
            messages.append(message)

        started = time.monotonic()
        execution_s = 0.0
        requests = 1
        try:
            try:
                await self.app(scope, receive, capture)
            finally:
                kind, records, requests = _request_facts(scope)
                cost = protection.cost_seconds(kind, records, requests)
                hold = cost - (time.monotonic() - started)
                if hold > 0:
                    await asyncio.sleep(hold)
                execution_s = time.monotonic() - started
            for message in messages:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": self._headers(caller, list(message.get("headers", [])))}
                await send(message)
        finally:
            protection.finish(caller, requests=requests, execution_s=execution_s)

    async def _send_429(self, send, caller: str, rejection: Rejection) -> None:
        body = json.dumps({"error": {"code": rejection.code, "message": rejection.message}}).encode()
        headers = [
            (b"content-type", b"application/json; odata.metadata=minimal"),
            (b"odata-version", b"4.0"),
            (b"retry-after", format_retry_after(rejection.retry_after_s, self.protection.time_scale).encode()),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": self._headers(caller, headers)})
        await send({"type": "http.response.body", "body": body})
