"""The one Dataverse Web API client: auth, retries, throttling and adaptive concurrency in one place.

Behaviour (see ../../../shared/REFERENCE.md, "Service protection limits"):

- **Identities.** A pool of application users (limits are per user). Each identity is a *lane* with
  its own token provider, concurrency window and pause. A request goes to the unpaused lane with the
  most free slots.
- **429.** ``Retry-After`` (seconds) pauses the whole lane that long (not only the one request); the
  request is then retried on whichever lane is free. Without ``Retry-After``: ``default_retry_after *
  2**n``. At most ``max_throttle_retries`` 429s per request, then :class:`DataverseTransientError`.
- **5xx, timeouts, dropped connections.** Exponential back-off with full jitter
  (``backoff_base * 2**n``, capped at ``backoff_max``), ``max_attempts`` attempts, then
  :class:`DataverseTransientError`. A 503 carrying ``Retry-After`` waits at least that long.
  Note: a POST create is not idempotent; a retry after a dropped connection may create twice. Bulk
  loading therefore uses upserts by alternate key (idempotent).
- **Adaptive concurrency (AIMD) per lane.** The window starts at ``initial_concurrency``; the first
  answer's ``x-ms-dop-hint`` sets it; each healthy answer grows it by ``1/window`` (about +1 per
  round trip); a 429 halves it (once per congestion event: only requests started after the last
  decrease can halve it again). Capped by ``max_concurrency`` (52 = the per-user service limit).
  The window bounds execution time in flight, not requests: a bulk request (*Multiple, ``$batch``) takes
  1 of it, a shorter kind (a read, a single write or close) its measured answer time over the bulk
  requests' (at least ``MIN_WEIGHT``); the number in flight stays within ``max_concurrency``.
- **No affinity.** Cookies are never stored nor sent (ARRAffinity would pin every request to one web
  server); HTTP/1.1 keep-alive pooling through ``shared.http.async_client``.
- **Errors.** Non-retryable answers raise :class:`DataverseError(status, code, message)` parsed from
  ``{"error": {"code", "message"}}``. What no retry and no row isolation can fix fails the run at once
  with one line naming the host and what to check (``shared.errors``): a host that has never answered
  this client and cannot be connected to (wrong URL, DNS, TLS trust) is a :class:`SettingsError`
  (a host that answered before is retried as an outage); a credential the token endpoint refuses,
  a 401 after one fresh token, and a 403 are an :class:`AccessError`.
"""

from __future__ import annotations

import asyncio
import collections
import http.cookiejar
import itertools
import json as jsonlib
import logging
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterable, Mapping
from urllib.parse import quote

import httpx

from shared import http as shared_http
from shared import telemetry
from shared.auth import AuthError, TokenProvider, token_provider_from_settings
from shared.errors import AccessError, SettingsError

from .settings import DataverseSettings

log = logging.getLogger(__name__)

MAX_BATCH_PARTS = 1000
TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
NETWORK_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
#: seconds to open a connection: a Dataverse front end accepts within one; a wrong or filtered host
#: should fail the run in seconds, not after the request timeout
CONNECT_TIMEOUT = 10.0


def unreachable(url: str, exc: BaseException) -> SettingsError:
    while exc.__cause__ or exc.__context__:  # the OS's reason (refused, DNS, TLS), not httpx's summary
        exc = exc.__cause__ or exc.__context__
    reason = _with_ca_hint(str(exc) or type(exc).__name__)
    return SettingsError(f"cannot reach {url}: {reason}; check --target / DATAVERSE_URL and the network")


def _with_ca_hint(reason: str) -> str:
    if "CERTIFICATE_VERIFY_FAILED" in reason:
        reason += " (a private CA, e.g. a local emulator's: set DATAVERSE_CA_BUNDLE to its PEM file)"
    return reason


def access_error(url: str, resp: httpx.Response) -> AccessError:
    """A 401 or 403 as the one line a person acts on."""
    code, message = parse_error_body(resp.content, resp.headers.get("content-type", ""))
    said = f" ({code}: {message})" if message else ""
    if resp.status_code == 401:
        return AccessError(f"Dataverse refused the credential for {url} (401){said}: check DATAVERSE_CLIENT_ID / "
                           "secret / tenant, or that the token's audience is the environment URL")
    return AccessError(f"Dataverse refused {resp.request.method} {resp.request.url.path} on {url} (403){said}: the "
                       "engine's application user must exist in the environment (Power Platform admin center > "
                       "Application users) with a security role that grants this (see README)")


class DataverseError(Exception):
    """A non-retryable error answer (or retries exhausted, see :class:`DataverseTransientError`)."""

    def __init__(self, status: int | None, code: str | None, message: str, *, method: str = "", url: str = "") -> None:
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.url = url
        where = f" ({method} {url})" if method else ""
        super().__init__(f"Dataverse {status} {code}: {message}{where}")

    @classmethod
    def from_response(cls, resp: httpx.Response) -> "DataverseError":
        code, message = parse_error_body(resp.content, resp.headers.get("content-type", ""))
        if message is None:
            message = resp.reason_phrase or f"HTTP {resp.status_code}"
        return cls(resp.status_code, code, message, method=resp.request.method, url=_short_url(resp.request.url))


class DataverseTransientError(DataverseError):
    """Throttling, 5xx or network failures that outlasted the retry budget."""

    def __init__(self, status: int | None, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(status, "transient", message, method=method, url=url)


def _short_url(url: httpx.URL | str) -> str:
    s = str(url)
    return s if len(s) <= 300 else s[:297] + "..."


def parse_error_body(content: bytes | str, content_type: str = "") -> tuple[str | None, str | None]:
    """``(code, message)`` from ``{"error": {"code", "message"}}``; ``(None, None)`` if absent."""
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    text = content.strip()
    if not text:
        return None, None
    try:
        data = jsonlib.loads(text)
    except ValueError:
        return None, text[:500]
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        code = err.get("code")
        return (str(code) if code is not None else None), err.get("message")
    return None, text[:500]


def entity_id_from_header(value: str | None) -> str | None:
    """The GUID in ``OData-EntityId: https://org/api/data/v9.2/accounts(00000000-...)``."""
    if not value:
        return None
    m = re.search(r"\(([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\)\s*$", value)
    return m.group(1).lower() if m else None


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _dumps(body: Any) -> bytes:
    return jsonlib.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode("utf-8")


def _qs(params: Mapping[str, Any]) -> str:
    # Built by hand: spaces as %20 (not '+'), OData punctuation kept readable.
    return "&".join(f"{k}={quote(str(v), safe=chr(39) + '(),:@$*/')}" for k, v in params.items() if v is not None)


# --------------------------------------------------------------------------------------------- metrics


@dataclass
class LaneStats:
    requests: int = 0
    throttled: int = 0
    window: float = 0.0
    paused_seconds: float = 0.0


@dataclass
class ClientMetrics:
    """Counters a benchmark can print. ``requests`` counts HTTP sends (retries included)."""

    requests: int = 0
    throttled: int = 0  # 429 answers
    retries: int = 0  # re-sends for any reason
    server_errors: int = 0  # 5xx answers
    network_errors: int = 0  # timeouts, dropped connections
    error_answers: int = 0  # non-retryable 4xx (raised as DataverseError)
    exhausted: int = 0  # DataverseTransientError raised
    started: float = field(default_factory=time.monotonic)
    lanes: dict[str, LaneStats] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "throttled": self.throttled,
            "retries": self.retries,
            "server_errors": self.server_errors,
            "network_errors": self.network_errors,
            "error_answers": self.error_answers,
            "exhausted": self.exhausted,
            "elapsed_s": round(time.monotonic() - self.started, 3),
            "lanes": {k: vars(v).copy() for k, v in self.lanes.items()},
        }


# ------------------------------------------------------------------------------------ lanes (AIMD)


#: what a request takes of its lane's window (``_Lane.weight``): the window bounds execution time in flight,
#: so a bulk request (*Multiple, $batch: about a second of server time) takes 1 and any other kind its measured
#: answer time over the bulk requests', at least this much. A 40 ms close beside seven 1-second
#: UpsertMultiples then takes an eighth of the slot they leave, not all of it.
MIN_WEIGHT = 1 / 8
_EWMA = 0.2  # the answer-time average's weight of the newest answer
_BULK = re.compile(r"(Multiple|\$batch)$")


def request_kind(method: str, path: str) -> str:
    """``bulk`` (*Multiple, $batch), ``read`` (any other GET) or ``write``: the classes a lane times apart."""
    if _BULK.search(path.split("?", 1)[0]):
        return "bulk"
    return "read" if method.upper() == "GET" else "write"


class _Lane:
    def __init__(self, name: str, provider: TokenProvider, cap: int, initial: int, stats: LaneStats) -> None:
        self.name = name
        self.provider = provider
        self.cap = cap
        self.window = float(min(initial, cap))
        self.in_flight = 0.0  # the weights of the requests in flight
        self.count = 0  # the requests in flight (never more than ``cap``: the service's concurrency limit)
        self.seconds: dict[str, float] = {}  # answer time per request kind (moving average)
        self.paused_until = 0.0
        self.hinted = False
        self.hint = 0
        self.generation = 0  # bumped at every multiplicative decrease
        self.stats = stats
        stats.window = self.window

    def weight(self, kind: str) -> float:
        """1 for a bulk request, or before both kinds have been timed; else the kind's answer time over the
        bulk requests' (between MIN_WEIGHT and 1)."""
        bulk, mine = self.seconds.get("bulk"), self.seconds.get(kind)
        if kind == "bulk" or not bulk or mine is None:
            return 1.0
        return min(1.0, max(MIN_WEIGHT, mine / bulk))

    def free(self) -> float:
        return max(1, int(self.window)) - self.in_flight

    def fits(self, weight: float) -> bool:
        return self.count < self.cap and (self.count == 0 or self.in_flight + weight <= max(1, int(self.window)) + 1e-9)

    def timed(self, kind: str, seconds: float) -> None:
        before = self.seconds.get(kind)
        self.seconds[kind] = seconds if before is None else before + _EWMA * (seconds - before)

    def on_success(self, dop_hint: str | None) -> None:
        if not self.hinted and dop_hint:
            try:
                hint = int(dop_hint)
            except ValueError:
                hint = 0
            if hint > 0:
                self.window = float(min(hint, self.cap))
                self.hinted = True
                self.hint = hint
                self.stats.window = self.window
                return
        # Grow while healthy, but not far past what the service recommends: requests sent beyond the
        # execution-time budget are all refused at once, and every early retry lengthens the wait
        # (bench/load.py measured 0.75 of the ceiling uncapped, 0.89 capped at twice the hint).
        limit = min(self.cap, 2 * self.hint) if self.hinted else self.cap
        self.window = min(float(limit), self.window + 1.0 / max(self.window, 1.0))
        self.stats.window = self.window

    def on_throttle(self, started_generation: int, pause: float) -> None:
        now = time.monotonic()
        if started_generation == self.generation:  # first 429 of this congestion event
            self.window = max(1.0, self.window / 2.0)
            self.generation += 1
            self.stats.window = self.window
        until = now + pause
        if until > self.paused_until:
            self.stats.paused_seconds += until - max(now, self.paused_until)
            self.paused_until = until


#: the kinds of request a lane times apart and queues apart (``request_kind``)
KINDS = ("bulk", "read", "write")


@dataclass(slots=True)
class _Waiter:
    kind: str
    future: asyncio.Future
    arrival: int


class _Slot:
    __slots__ = ("lane", "generation", "weight", "released")

    def __init__(self, lane: _Lane, weight: float) -> None:
        self.lane = lane
        self.generation = lane.generation
        self.weight = weight
        self.released = False
        lane.in_flight += weight
        lane.count += 1

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.lane.in_flight = max(0.0, self.lane.in_flight - self.weight)
            self.lane.count -= 1


# ------------------------------------------------------------------------------------------ $batch


@dataclass
class BatchOperation:
    """One request inside a ``$batch``. ``path`` is relative to the API base (``accounts(...)``) or a
    ``$1`` reference. Operations with the same ``changeset`` id (consecutive) form one changeset."""

    method: str
    path: str
    body: Any = None
    headers: dict[str, str] | None = None
    content_id: str | None = None
    changeset: str | None = None


@dataclass
class BatchResult:
    status: int  # 0 = not executed (the batch stopped at an earlier failure)
    headers: dict[str, str]
    body: Any
    content_id: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def error(self) -> tuple[str | None, str | None]:
        if self.status == 0:
            return "not_executed", "the batch stopped at an earlier failure before this request"
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            e = self.body["error"]
            return (str(e.get("code")) if e.get("code") is not None else None), e.get("message")
        if self.ok:
            return None, None
        return None, (self.body if isinstance(self.body, str) and self.body else f"HTTP {self.status}")

    @property
    def entity_id(self) -> str | None:
        return entity_id_from_header(self.headers.get("odata-entityid"))


def _http_part(method: str, url: str, body: Any, headers: Mapping[str, str] | None, content_id: str | None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{method.upper()} {url} HTTP/1.1"]
    hdrs = dict(headers or {})
    payload = ""
    if body is not None:
        hdrs.setdefault("Content-Type", "application/json; type=entry")
        payload = body if isinstance(body, str) else _dumps(body).decode("utf-8")
    lines += [f"{k}: {v}" for k, v in hdrs.items()]
    lines += ["", payload]
    return "\r\n".join(lines)


def build_batch(operations: list[BatchOperation], api_path: str, boundary: str | None = None) -> tuple[str, bytes]:
    """``(content_type, body)`` of a ``$batch`` request."""
    boundary = boundary or f"batch_{uuid.uuid4()}"
    out: list[str] = []
    i = 0
    n = 0
    while i < len(operations):
        op = operations[i]
        if op.changeset is None:
            url = op.path if op.path.startswith("$") else api_path + op.path.lstrip("/")
            out.append(f"--{boundary}\r\n" + _http_part(op.method, url, op.body, op.headers, op.content_id))
            i += 1
            n += 1
            continue
        group = []
        while i < len(operations) and operations[i].changeset == op.changeset:
            group.append(operations[i])
            i += 1
        cs = f"changeset_{uuid.uuid4()}"
        inner = []
        for j, g in enumerate(group):
            url = g.path if g.path.startswith("$") else api_path + g.path.lstrip("/")
            cid = g.content_id or str(n + j + 1)
            inner.append(f"--{cs}\r\n" + _http_part(g.method, url, g.body, g.headers, cid))
        n += len(group)
        out.append(
            f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={cs}\r\n\r\n" + "\r\n".join(inner) + f"\r\n--{cs}--"
        )
    text = "\r\n".join(out) + f"\r\n--{boundary}--\r\n"
    return f"multipart/mixed; boundary={boundary}", text.encode("utf-8")


def _boundary_of(content_type: str) -> str | None:
    m = re.search(r'boundary="?([^";]+)"?', content_type, re.I)
    return m.group(1) if m else None


def _split_headers(block: str) -> tuple[dict[str, str], str]:
    m = re.search(r"\r?\n\r?\n", block)
    head, rest = (block[: m.start()], block[m.end() :]) if m else (block, "")
    headers: dict[str, str] = {}
    for line in re.split(r"\r?\n", head):
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    return headers, rest


def parse_multipart(text: str, boundary: str) -> list[Any]:
    """Parse a batch response into a list of :class:`BatchResult` or nested lists (changesets)."""
    parts: list[Any] = []
    delimiter = f"--{boundary}"
    chunks = text.split(delimiter)
    for chunk in chunks[1:]:
        if chunk.startswith("--"):
            break
        chunk = chunk.lstrip("\r\n")
        mime_headers, rest = _split_headers(chunk)
        ctype = mime_headers.get("content-type", "")
        if ctype.lower().startswith("multipart/"):
            inner = _boundary_of(ctype)
            parts.append(parse_multipart(rest, inner) if inner else [])
            continue
        rest = rest.lstrip("\r\n")
        status_line, _, after = rest.partition("\n")
        m = re.match(r"HTTP/\d\.\d\s+(\d{3})", status_line.strip())
        if not m:
            continue
        headers, body_text = _split_headers(after)
        body_text = body_text.strip()
        body: Any = None
        if body_text:
            try:
                body = jsonlib.loads(body_text)
            except ValueError:
                body = body_text
        parts.append(BatchResult(int(m.group(1)), headers, body, mime_headers.get("content-id")))
    return parts


def _align(operations: list[BatchOperation], parts: list[Any]) -> list[BatchResult]:
    """One result per operation, in request order."""
    units: list[list[int]] = []
    i = 0
    while i < len(operations):
        cs = operations[i].changeset
        if cs is None:
            units.append([i])
            i += 1
        else:
            group = []
            while i < len(operations) and operations[i].changeset == cs:
                group.append(i)
                i += 1
            units.append(group)
    results: list[BatchResult | None] = [None] * len(operations)
    for u, idxs in enumerate(units):
        part = parts[u] if u < len(parts) else None
        if part is None:
            for k in idxs:
                results[k] = BatchResult(0, {}, None, operations[k].content_id)
        elif isinstance(part, BatchResult):
            for k in idxs:  # a single op, or a failed changeset answered by one error
                results[k] = part
        else:
            if len(part) == len(idxs):
                by_id = {p.content_id: p for p in part if p.content_id}
                for pos, k in enumerate(idxs):
                    cid = operations[k].content_id
                    results[k] = by_id.get(cid) if cid and cid in by_id else part[pos]
            else:
                err = next((p for p in part if not p.ok), part[0] if part else BatchResult(0, {}, None))
                for k in idxs:
                    results[k] = err
    return [r if r is not None else BatchResult(0, {}, None) for r in results]


# ------------------------------------------------------------------------------------------ client


class DataverseClient:
    """Async context manager. ``async with DataverseClient(settings) as dv: await dv.request(...)``."""

    def __init__(self, settings: DataverseSettings, *, token_providers: list[TokenProvider] | None = None) -> None:
        self.settings = settings
        self.metrics = ClientMetrics()
        self.cache: dict[str, Any] = {}  # per-client memo (e.g. UpsertMultiple support per table)
        if token_providers is None:
            if not settings.identities:
                raise ValueError("DataverseSettings has no identities and no token_providers were given")
            token_providers = [
                token_provider_from_settings(i, scope=settings.scope, ca_bundle=settings.ca_bundle)
                for i in settings.identities
            ]
        names = [i.name for i in settings.identities] if len(settings.identities) == len(token_providers) else []
        self._lanes: list[_Lane] = []
        for n, provider in enumerate(token_providers):
            name = names[n] if names and names[n] not in [l.name for l in self._lanes] else f"identity-{n + 1}"
            cap = settings.max_concurrency
            if names and settings.identities[n].max_concurrency:
                cap = settings.identities[n].max_concurrency  # type: ignore[assignment]
            stats = self.metrics.lanes.setdefault(name, LaneStats())
            self._lanes.append(_Lane(name, provider, cap, settings.initial_concurrency, stats))
        self._http: httpx.AsyncClient | None = None
        # requests waiting for a slot, a first-come queue per kind (shared/dataverse/client.py, scheduling)
        self._waiting: dict[str, collections.deque[_Waiter]] = {k: collections.deque() for k in KINDS}
        self._arrivals = itertools.count()
        self._answered = False  # has the host ever answered this client (see unreachable())
        self._api_path = httpx.URL(settings.api_base).path  # /api/data/v9.2/

    # -- lifecycle
    async def __aenter__(self) -> "DataverseClient":
        await self.open()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    async def open(self) -> None:
        if self._http is not None:
            return
        s = self.settings
        self._http = shared_http.async_client(
            s.api_base,
            timeout=s.timeout,
            max_connections=sum(l.cap for l in self._lanes) + 4,
            verify=s.ca_bundle or True,
            headers={"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"},
        )
        self._http.timeout = httpx.Timeout(s.timeout, connect=min(s.timeout, CONNECT_TIMEOUT))
        # No affinity: a jar that accepts no cookie (ARRAffinity would pin us to one web server).
        self._http.cookies = httpx.Cookies(http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[])))

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @property
    def identities(self) -> list[str]:
        return [l.name for l in self._lanes]

    def concurrency(self) -> dict[str, float]:
        """Current window per identity (for benchmarks and tests)."""
        return {l.name: l.window for l in self._lanes}

    # -- scheduling
    # A request takes a slot of the unpaused lane with the most room for it, at once if nobody waits;
    # otherwise it queues (first come, first served within its kind) and is handed a slot when one frees
    # (``_grant``: on every release, and when a lane's pause ends). One waiter woken per free slot: a
    # chunk's 5,000 closes gathered at once must not all wake on every answer (that was quadratic: 3,000
    # requests cost 4.7 CPU s of wake-ups, and a 5,000-row chunk of won deals took 150 s, a 1,500-row one 8 s).
    def _lane_for(self, kind: str, now: float) -> _Lane | None:
        best: _Lane | None = None
        for lane in self._lanes:
            if lane.paused_until > now or not lane.fits(lane.weight(kind)):
                continue
            if best is None or (lane.free(), -lane.count) > (best.free(), -best.count):
                best = lane
        return best

    def _grant(self) -> None:
        """Hand free slots to the waiters that fit, the earliest arrival first among the kinds' queues."""
        now = time.monotonic()
        while True:
            pick: tuple[_Waiter, _Lane] | None = None
            for queue in self._waiting.values():
                while queue and queue[0].future.done():  # cancelled while waiting
                    queue.popleft()
                if queue and (pick is None or queue[0].arrival < pick[0].arrival):
                    lane = self._lane_for(queue[0].kind, now)
                    if lane is not None:
                        pick = (queue[0], lane)
            if pick is None:
                return
            waiter, lane = pick
            self._waiting[waiter.kind].popleft()
            waiter.future.set_result(_Slot(lane, lane.weight(waiter.kind)))

    async def _acquire(self, kind: str = "bulk") -> _Slot:
        assert self._http is not None, "use DataverseClient as an async context manager"
        if not any(self._waiting.values()):
            lane = self._lane_for(kind, time.monotonic())
            if lane is not None:
                return _Slot(lane, lane.weight(kind))
        waiter = _Waiter(kind, asyncio.get_running_loop().create_future(), next(self._arrivals))
        self._waiting[kind].append(waiter)
        self._grant()
        try:
            return await asyncio.shield(waiter.future)
        except asyncio.CancelledError:  # the request was stopped while it waited (an activity ended, Ctrl-C)
            if waiter.future.done() and not waiter.future.cancelled():
                waiter.future.result().release()  # handed a slot at the same moment: give it back
                self._grant()
            else:
                waiter.future.cancel()
            raise

    async def _release(self, slot: _Slot) -> None:
        # synchronous: a request cancelled midway (an activity stopped) gives its slot back all the same; a
        # slot kept by a dead request would make every later request of this shared client wait forever
        slot.release()
        self._grant()

    def _paused(self, lane: _Lane) -> None:
        """A lane was paused (a 429): hand out slots when its pause ends, as nothing else may free one."""
        asyncio.get_running_loop().call_later(max(0.0, lane.paused_until - time.monotonic()), self._grant)

    def _backoff(self, attempt: int, floor: float = 0.0) -> float:
        s = self.settings
        ceiling = min(s.backoff_max, s.backoff_base * (2 ** max(0, attempt - 1)))
        return max(floor, random.uniform(ceiling / 2, ceiling))

    # -- the one place where requests are sent
    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        raise_for_status: bool = True,
        idempotent: bool = True,
    ) -> httpx.Response:
        """Send with auth, retries and throttling. Raises :class:`DataverseError` on error answers
        (unless ``raise_for_status=False``) and :class:`DataverseTransientError` when retries run out.

        ``idempotent=False`` (a close message: sending it twice fails or closes twice) resends only a
        throttled request (a 429 was not executed); a 5xx, a timeout or a dropped connection may have
        taken effect, so :class:`DataverseTransientError` is raised at once for the caller to read the
        record's state before it decides to send again."""
        if self._http is None:
            raise RuntimeError("DataverseClient is not open: use 'async with DataverseClient(...)'")
        url = path
        if params:
            url += ("&" if "?" in url else "?") + _qs(params)
        hdrs: dict[str, str] = {}
        if self.settings.bypass_custom_logic:
            hdrs["MSCRM.BypassBusinessLogicExecution"] = "CustomSync,CustomAsync"
        if json is not None:
            content = _dumps(json)
            hdrs["Content-Type"] = "application/json; charset=utf-8"
        if headers:
            hdrs.update(headers)
        attempts = 0  # transient failures (5xx / network)
        throttles = 0
        reauth = False
        kind = request_kind(method, path)
        while True:
            slot = await self._acquire(kind)
            lane = slot.lane
            sent = time.monotonic()
            resp: httpx.Response | None = None
            failure: str | None = None
            retry_after: float | None = None
            try:
                try:
                    token = await lane.provider.token()
                except AuthError as exc:  # the token endpoint refused the credential: one line, no retry
                    raise AccessError(f"no token for {self.settings.url}: {_with_ca_hint(str(exc).splitlines()[0])}; "
                                      "check DATAVERSE_CLIENT_ID / DATAVERSE_CLIENT_SECRET (or _CERT) / "
                                      "DATAVERSE_TENANT_ID (or DATAVERSE_AUTHORITY)") from None
                req_headers = dict(hdrs)
                req_headers["Authorization"] = f"Bearer {token}"
                self.metrics.requests += 1
                lane.stats.requests += 1
                resp = await self._http.request(method, url, content=content, headers=req_headers)
                self._http.cookies.clear()
                self._answered = True
            except NETWORK_ERRORS as exc:
                self.metrics.network_errors += 1
                if not self._answered and isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
                    raise unreachable(self.settings.url, exc) from None
                failure = f"{type(exc).__name__}: {exc}"
            finally:
                if resp is None or resp.status_code != 429:
                    await self._release(slot)
            if resp is not None:
                status = resp.status_code
                if status == 429:
                    throttles += 1
                    self.metrics.throttled += 1
                    lane.stats.throttled += 1
                    ra = _retry_after_seconds(resp.headers.get("retry-after"))
                    pause = ra if ra is not None else self.settings.default_retry_after * (2 ** min(throttles - 1, 6))
                    lane.on_throttle(slot.generation, pause)  # at once, as in _release
                    slot.release()
                    self._paused(lane)
                    self._grant()
                    code, message = parse_error_body(resp.content)
                    log.info(
                        "dataverse 429 on %s (%s): pausing %.1fs, window %.1f",
                        lane.name, code, pause, lane.window,
                    )
                    if throttles > self.settings.max_throttle_retries:
                        self.metrics.exhausted += 1
                        raise DataverseTransientError(
                            429, f"throttled {throttles} times; last: {code} {message}", method=method, url=_short_url(url)
                        )
                    self.metrics.retries += 1
                    telemetry.retried("dataverse", "throttled")
                    continue  # _acquire waits for a lane that is not paused
                if status == 401 and not reauth and hasattr(lane.provider, "invalidate"):
                    reauth = True
                    lane.provider.invalidate()  # type: ignore[attr-defined]
                    self.metrics.retries += 1
                    telemetry.retried("dataverse", "reauth")
                    continue
                if status in (401, 403):
                    self.metrics.error_answers += 1
                    raise access_error(self.settings.url, resp)
                if status in TRANSIENT_STATUSES:
                    self.metrics.server_errors += 1
                    code, message = parse_error_body(resp.content)
                    failure = f"HTTP {status} {code}: {message}"
                    retry_after = _retry_after_seconds(resp.headers.get("retry-after"))
                else:
                    lane.timed(kind, time.monotonic() - sent)
                    lane.on_success(resp.headers.get("x-ms-dop-hint"))
                    self._grant()  # the window may have grown
                    if status >= 400:
                        self.metrics.error_answers += 1
                        if raise_for_status:
                            raise DataverseError.from_response(resp)
                    return resp
            attempts += 1
            if attempts >= self.settings.max_attempts or not idempotent:
                self.metrics.exhausted += 1
                raise DataverseTransientError(
                    resp.status_code if resp is not None else None,
                    f"gave up after {attempts} attempts; last: {failure}",
                    method=method,
                    url=_short_url(url),
                )
            self.metrics.retries += 1
            telemetry.retried("dataverse", "server_error" if resp is not None else "network")
            delay = self._backoff(attempts, retry_after or 0.0)
            log.info("dataverse %s %s failed (%s); retry %d in %.2fs", method, _short_url(url)[:120], failure, attempts, delay)
            await asyncio.sleep(delay)

    # -- helpers
    async def get_json(self, path: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None) -> Any:
        resp = await self.request("GET", path, params=params, headers=headers)
        return resp.json() if resp.content else None

    async def get_all(
        self,
        entity_set: str,
        select: Iterable[str] | str | None = None,
        filter: str | None = None,
        page_size: int = 5000,
        *,
        params: Mapping[str, Any] | None = None,
        annotations: str | None = None,
    ) -> AsyncIterator[dict]:
        """Every record of a query, following ``@odata.nextLink`` (``Prefer: odata.maxpagesize``); with
        ``annotations`` (e.g. ``"*"``), also ``odata.include-annotations`` (lookups' tables and navigation
        properties)."""
        q: dict[str, Any] = {}
        if select:
            q["$select"] = select if isinstance(select, str) else ",".join(select)
        if filter:
            q["$filter"] = filter
        if params:
            q.update(params)
        prefer = f"odata.maxpagesize={page_size}"
        if annotations:
            prefer += f',odata.include-annotations="{annotations}"'
        headers = {"Prefer": prefer}
        next_url: str | None = entity_set
        first = True
        while next_url:
            resp = await self.request("GET", next_url, params=q if first else None, headers=headers)
            first = False
            data = resp.json()
            for row in data.get("value", []):
                yield row
            next_url = data.get("@odata.nextLink")

    async def create(self, entity_set: str, body: dict, *, headers: Mapping[str, str] | None = None) -> str | None:
        """POST a record; returns its id (from ``OData-EntityId``)."""
        resp = await self.request("POST", entity_set, json=body, headers=headers)
        rid = entity_id_from_header(resp.headers.get("odata-entityid"))
        if rid is None and resp.content:
            data = resp.json()
            rid = next((v for k, v in data.items() if k.endswith("id") and isinstance(v, str) and len(v) == 36), None)
        return rid

    @staticmethod
    def _record_path(entity_set: str, key: str) -> str:
        """``key`` is a GUID or a key expression already formatted (``wtc_sourceid='1'``)."""
        return f"{entity_set}({key})"

    async def retrieve(self, entity_set: str, key: str, *, select: Iterable[str] | str | None = None, missing_ok: bool = False) -> dict | None:
        params = {"$select": select if isinstance(select, str) else ",".join(select)} if select else None
        try:
            return await self.get_json(self._record_path(entity_set, key), params=params)
        except DataverseError as e:
            if missing_ok and e.status == 404:
                return None
            raise

    async def update(self, entity_set: str, key: str, body: dict, *, upsert: bool = False) -> str | None:
        """PATCH. ``upsert=False`` sends ``If-Match: *`` (404 if missing); ``True`` creates when missing."""
        headers = {} if upsert else {"If-Match": "*"}
        resp = await self.request("PATCH", self._record_path(entity_set, key), json=body, headers=headers)
        return entity_id_from_header(resp.headers.get("odata-entityid"))

    async def upsert(self, entity_set: str, key: str, body: dict) -> str | None:
        return await self.update(entity_set, key, body, upsert=True)

    async def delete(self, entity_set: str, key: str, *, missing_ok: bool = False) -> bool:
        try:
            await self.request("DELETE", self._record_path(entity_set, key))
            return True
        except DataverseError as e:
            if missing_ok and e.status == 404:
                return False
            raise

    async def execute_action(self, name: str, body: dict | None = None, *, entity_set: str | None = None,
                             idempotent: bool = True) -> Any:
        """Unbound action ``POST /<name>`` or bound to a collection ``POST /<set>/Microsoft.Dynamics.CRM.<name>``.

        ``idempotent=False`` for actions that must not be resent blindly (see :meth:`request`)."""
        path = f"{entity_set}/Microsoft.Dynamics.CRM.{name}" if entity_set else name
        resp = await self.request("POST", path, json=body if body is not None else {}, idempotent=idempotent)
        if resp.content:
            try:
                return resp.json()
            except ValueError:
                return resp.text
        return None

    async def batch(self, operations: list[BatchOperation], *, continue_on_error: bool = True) -> list[BatchResult]:
        """Send a ``$batch``; one :class:`BatchResult` per operation, in order.

        Without ``continue_on_error`` the service stops at the first failure; later operations come
        back with ``status == 0`` (not executed). A whole-batch error answer that is not multipart
        raises :class:`DataverseError`.
        """
        if not operations:
            return []
        if len(operations) > MAX_BATCH_PARTS:
            raise ValueError(f"a $batch holds at most {MAX_BATCH_PARTS} requests, got {len(operations)}")
        ctype, body = build_batch(operations, self._api_path)
        headers = {"Content-Type": ctype, "Accept": "application/json"}
        if continue_on_error:
            headers["Prefer"] = "odata.continue-on-error"
        resp = await self.request("POST", "$batch", content=body, headers=headers, raise_for_status=False)
        rtype = resp.headers.get("content-type", "")
        boundary = _boundary_of(rtype) if rtype.lower().startswith("multipart/") else None
        if boundary is None:
            if resp.status_code >= 400:
                raise DataverseError.from_response(resp)
            raise DataverseError(resp.status_code, None, f"unexpected $batch answer ({rtype or 'no content type'})")
        parts = parse_multipart(resp.content.decode("utf-8", "replace"), boundary)
        return _align(operations, parts)
