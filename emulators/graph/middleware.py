"""ASGI layers of the Graph emulator: faults -> auth -> throttling -> core app.

Faults here are *scripted* (the n-th matching request), which tests of resume logic need;
``emulators.common.faults`` offers rate-based ones and is compatible (same ``ConnectionDropped``;
serve with ``emulators.common.serve`` so a drop aborts the socket).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from emulators.common.faults import ConnectionDropped, drop_connection  # one dropped-connection type

from .errors import error_body

# Paths served without a bearer token: pre-authenticated upload and download URLs.
PREAUTH = re.compile(r"/_api/v2\.0/drives/[^/]+/items/[^/]+/uploadSession$|/_layouts/15/download\.aspx$")


async def send_json(send, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    raw = json.dumps(body).encode()
    hdrs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    hdrs += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": raw})


def _fmt_retry_after(seconds: float) -> str:
    # Graph sends whole seconds; fractions are an emulator-only convenience for fast tests.
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _throttle_body(status: int) -> dict:
    if status == 429:
        return error_body("activityLimitReached", "The request has been throttled", inner_code="TooManyRequests")
    return error_body("serviceNotAvailable", "The service is temporarily unavailable. Retry after the delay.")


# ------------------------------------------------------------------------------------------ faults
@dataclass
class FaultRule:
    """One scripted fault.

    ``action``: ``"expire"`` (all upload sessions expire just before this request), ``"drop"`` (connection dropped before the request is processed), ``"drop_after"``
    (the request is processed - e.g. a fragment is stored - then the connection drops before the
    response arrives), or an HTTP status (``"500"``, ``"503"``, ``"429"``...; 429/503 carry
    ``Retry-After: retry_after``). ``method``/``path`` select requests (``path`` is a regex searched
    in the URL path; ``"uploadSession"`` selects fragment PUTs). The first ``skip`` matching
    requests pass, the next ``times`` are faulted.
    """

    action: str
    method: str = "*"
    path: str = ""
    times: int = 1
    skip: int = 0
    retry_after: float = 1
    hits: int = field(default=0, compare=False)

    @classmethod
    def parse(cls, spec: str) -> list["FaultRule"]:
        """``"PUT uploadSession drop_after x1 +2; * /children 503 x2 ra=0.1"``."""
        rules = []
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            words = part.split()
            method, path, action, rest = words[0], words[1], words[2], words[3:]
            rule = cls(action=action, method=method, path="" if path == "*" else path)
            for w in rest:
                if w.startswith("x"):
                    rule.times = int(w[1:])
                elif w.startswith("+"):
                    rule.skip = int(w[1:])
                elif w.startswith("ra="):
                    rule.retry_after = float(w[3:])
            rules.append(rule)
        return rules


class Faults:
    def __init__(self, rules: list[FaultRule] | str | None = None) -> None:
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []
        self.on_expire: Callable[[], None] | None = None
        if rules:
            self.add(rules)

    def add(self, rules: list[FaultRule] | FaultRule | str) -> None:
        if isinstance(rules, str):
            rules = FaultRule.parse(rules)
        elif isinstance(rules, FaultRule):
            rules = [rules]
        with self._lock:
            self.rules.extend(rules)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def match(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for r in self.rules:
                if r.method not in ("*", method) or (r.path and not re.search(r.path, path)):
                    continue
                r.hits += 1
                if r.skip < r.hits <= r.skip + r.times:
                    return r
            return None


class FaultsMiddleware:
    def __init__(self, app, faults: Faults) -> None:
        self.app, self.faults = app, faults

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rule = self.faults.match(scope["method"], scope["path"])
        if rule is None:
            return await self.app(scope, receive, send)
        if rule.action == "expire":  # every open upload session expires, then the request proceeds
            if self.faults.on_expire is not None:
                self.faults.on_expire()
            return await self.app(scope, receive, send)
        if rule.action == "drop":  # socket aborted (emulators.common.serve) or ConnectionDropped in-process
            await drop_connection(scope)
        if rule.action == "drop_after":
            captured = []

            async def capture(message):
                captured.append(message)

            await self.app(scope, receive, capture)  # its effects happen; the answer is lost
            await drop_connection(scope)
        status = int(rule.action)
        headers = {"Retry-After": _fmt_retry_after(rule.retry_after)} if status in (429, 503) else {}
        body = _throttle_body(status) if status in (429, 503) else error_body(
            "generalException", "An unspecified error has occurred.")
        await send_json(send, status, body, headers)


# ------------------------------------------------------------------------------------------ throttling
@dataclass
class Throttle:
    """Per-caller request budget: more than ``limit`` requests in ``window`` seconds -> ``status``
    (429, or 503 as SharePoint also answers) with ``Retry-After`` (``retry_after`` if set, otherwise
    the seconds until the window frees a slot). Real Retry-After values can exceed 300 s; tests
    use small ones. Requests to pre-authenticated upload/download URLs share one budget."""

    limit: int
    window: float = 1.0
    status: int = 429
    retry_after: float | None = None


class ThrottleMiddleware:
    def __init__(self, app, throttle: Throttle | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.app, self.throttle, self.clock = app, throttle, clock
        self._lock = threading.Lock()
        self._hits: dict[str, deque] = {}

    async def __call__(self, scope, receive, send):
        t = self.throttle
        if scope["type"] != "http" or t is None:
            return await self.app(scope, receive, send)
        caller = "preauthenticated-url" if PREAUTH.search(scope["path"]) else \
            scope.get("state", {}).get("graph_caller", "anonymous")
        now = self.clock()
        with self._lock:
            q = self._hits.setdefault(caller, deque())
            while q and q[0] <= now - t.window:
                q.popleft()
            if len(q) >= t.limit:
                wait = t.retry_after if t.retry_after is not None else max(1, math.ceil(q[0] + t.window - now))
                over = True
            else:
                q.append(now)
                over = False
        if over:
            return await send_json(send, t.status, _throttle_body(t.status), {"Retry-After": _fmt_retry_after(wait)})
        await self.app(scope, receive, send)


# ------------------------------------------------------------------------------------------ auth
class AuthMiddleware:
    """401 without a valid bearer on Graph paths. Upload/download URLs carry their own
    ``tempauth`` and are checked by the core app (which also rejects an Authorization header on
    fragment PUTs, as Graph warns it may)."""

    def __init__(self, app, verifier: Callable[[str], str | None]) -> None:
        self.app, self.verifier = app, verifier

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or PREAUTH.search(scope["path"]):
            return await self.app(scope, receive, send)
        auth = ""
        for k, v in scope.get("headers", []):
            if k == b"authorization":
                auth = v.decode("latin-1")
        scheme, _, token = auth.partition(" ")
        if not token or scheme.lower() != "bearer":
            return await send_json(send, 401, error_body("InvalidAuthenticationToken", "Access token is empty."),
                                   {"WWW-Authenticate": 'Bearer realm="", authorization_uri='
                                    '"https://login.microsoftonline.com/common/oauth2/authorize"'})
        caller = self.verifier(token.strip())
        if caller is None:
            return await send_json(send, 401, error_body("InvalidAuthenticationToken",
                                                         "Access token validation failure. Invalid audience."),
                                   {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        scope.setdefault("state", {})["graph_caller"] = caller
        await self.app(scope, receive, send)
