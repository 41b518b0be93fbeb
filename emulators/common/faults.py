"""ASGI middleware that injects transport and server faults, per request, at given rates.

Spec string: comma-separated ``kind:rate[@arg]``, rates are probabilities per request and must
add up to at most 1 (one fault at most per request)::

    "503:0.05,500:0.02,drop:0.01,slow:0.05@2.0"

kinds
    ``<status>``  answer that HTTP status without calling the inner app (nothing is written).
                  ``@N`` adds ``Retry-After: N``. 500 and 503 carry Dataverse-shaped bodies.
    ``drop``      close the connection without an answer, before the inner app runs.
    ``lost``      let the inner app run (its writes happen), then close the connection without
                  the answer: the client cannot know whether its request took effect.
    ``slow@S``    wait S seconds (default 1.0), then serve the request normally.

How a dropped connection looks to the client
    * On a socket (``emulators.common.serve``): the server aborts the TCP connection; httpx
      raises ``httpx.RemoteProtocolError("Server disconnected without sending a response.")``
      (or ``ReadError`` on a reset). The serve wrapper puts ``scope["emulator.abort"]`` in
      every scope so this middleware can reach the socket.
    * In-process (``httpx.ASGITransport``, default ``raise_app_exceptions=True``): the
      middleware raises ``ConnectionDropped``, a subclass of ``httpx.RemoteProtocolError``,
      which httpx hands to the client unchanged - the same exception type as on a socket.

Deterministic: with ``seed`` the n-th request to reach the middleware always gets the same
decision (one ``random.Random`` draw per request, under a ``threading.Lock``).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
from dataclasses import dataclass

import httpx

__all__ = ["ConnectionDropped", "FaultMiddleware", "FaultRule", "parse_faults"]


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised by the fault middleware to drop a connection without an answer."""

    def __init__(self, message: str = "Server disconnected without sending a response.") -> None:
        super().__init__(message)


@dataclass(frozen=True)
class FaultRule:
    kind: str  # "drop" | "lost" | "slow" | "<status>"
    rate: float
    arg: float | None = None

    @property
    def status(self) -> int | None:
        return int(self.kind) if self.kind.isdigit() else None


def parse_faults(spec: str | None) -> list[FaultRule]:
    """Parse a fault spec; raises ValueError with the offending item."""
    rules: list[FaultRule] = []
    if not spec or not spec.strip():
        return rules
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        try:
            kind, rest = item.split(":", 1)
            rate_text, _, arg_text = rest.partition("@")
            rate = float(rate_text)
            arg = float(arg_text) if arg_text else None
        except ValueError as exc:
            raise ValueError(f"bad fault item {item!r}: expected kind:rate[@arg]") from exc
        kind = kind.strip().lower()
        if not (kind in {"drop", "lost", "slow"} or (kind.isdigit() and 400 <= int(kind) <= 599)):
            raise ValueError(f"bad fault kind {kind!r}: a 4xx/5xx status, drop, lost or slow")
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"bad fault rate in {item!r}: must be within 0..1")
        if kind == "slow" and arg is None:
            arg = 1.0
        if arg is not None and arg < 0:
            raise ValueError(f"bad fault argument in {item!r}")
        rules.append(FaultRule(kind, rate, arg))
    if sum(r.rate for r in rules) > 1.0 + 1e-9:
        raise ValueError(f"fault rates add up to more than 1: {spec!r}")
    return rules


# Bodies a client would see. 0x80040216 is Dataverse's "An unexpected error occurred." code;
# a 503 in front of Dataverse comes from the gateway, without a Dataverse error code (inferred).
_BODIES = {
    500: {"error": {"code": "0x80040216", "message": "An unexpected error occurred."}},
    502: {"error": {"code": "BadGateway", "message": "The server encountered a temporary error."}},
    503: {"error": {"code": "ServiceUnavailable", "message": "The service is temporarily unavailable."}},
    504: {"error": {"code": "GatewayTimeout", "message": "The operation has timed out."}},
}


class FaultMiddleware:
    """Pure ASGI middleware. ``faults``: a spec string or a list of ``FaultRule``.

    ``paths``: only requests whose path starts with one of these prefixes are eligible
    (default: all). ``counts`` tells how many faults of each kind were injected.
    """

    def __init__(self, app, faults: str | list[FaultRule] | None = None, *, seed: int | None = None,
                 paths: tuple[str, ...] = ("/",)) -> None:
        self.app = app
        self.rules = parse_faults(faults) if isinstance(faults, str) or faults is None else list(faults)
        self.paths = paths
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}

    def choose(self) -> FaultRule | None:
        with self._lock:
            draw = self._rng.random()
            acc = 0.0
            for rule in self.rules:
                acc += rule.rate
                if draw < acc:
                    self.counts[rule.kind] = self.counts.get(rule.kind, 0) + 1
                    return rule
        return None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not self.rules or not scope["path"].startswith(self.paths):
            await self.app(scope, receive, send)
            return
        rule = self.choose()
        if rule is None:
            await self.app(scope, receive, send)
        elif rule.kind == "slow":
            await asyncio.sleep(rule.arg or 0.0)
            await self.app(scope, receive, send)
        elif rule.kind == "drop":
            await drop_connection(scope)
        elif rule.kind == "lost":
            async def swallow(message) -> None:  # the answer never reaches the client
                return None

            await self.app(scope, receive, swallow)
            await drop_connection(scope)
        else:
            await _answer_status(send, rule)


async def drop_connection(scope) -> None:
    """Close the client's connection without an answer (see module docstring). Always raises."""
    abort = scope.get("emulator.abort")
    if abort is not None:
        abort()
        await asyncio.sleep(0)  # let the server notice the closed connection before it unwinds
    raise ConnectionDropped()


async def _answer_status(send, rule: FaultRule) -> None:
    status = rule.status or 500
    body = json.dumps(_BODIES.get(status, {"error": {"code": str(status), "message": "Injected fault."}})).encode()
    headers = [(b"content-type", b"application/json; odata.metadata=minimal"),
               (b"content-length", str(len(body)).encode())]
    if rule.arg is not None:
        headers.append((b"retry-after", _format_seconds(rule.arg).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
