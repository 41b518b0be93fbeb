"""Where an HTTP client's bytes go.

Every remote client in this library (Dataverse, Microsoft Graph, work4all GraphQL) builds its
``httpx.AsyncClient`` through :func:`async_client`. In production that is a plain pooled client, its
requests traced by :class:`shared.telemetry.TracedTransport`.
Tests and the local demo register a transport for a base URL (for instance an emulator's ASGI app
through ``httpx.ASGITransport``) and the client code stays the same: it never knows what is on the
other side of its transport.
"""

from __future__ import annotations

import ssl
import threading
from typing import Callable

import httpx

from .telemetry import TracedTransport

TransportFactory = Callable[[], httpx.AsyncBaseTransport]

_lock = threading.Lock()
_overrides: dict[str, TransportFactory] = {}


def _origin(url: str) -> str:
    u = httpx.URL(url)
    port = f":{u.port}" if u.port else ""
    return f"{u.scheme}://{u.host}{port}".lower()


def register_transport(base_url: str, factory: TransportFactory) -> None:
    """Route every client whose URL has ``base_url``'s origin through ``factory()``."""
    with _lock:
        _overrides[_origin(base_url)] = factory


def unregister_transport(base_url: str) -> None:
    with _lock:
        _overrides.pop(_origin(base_url), None)


def transport_key(url: str) -> int | None:
    """Identifies the registered transport for ``url`` (for caches of clients)."""
    with _lock:
        factory = _overrides.get(_origin(url))
    return id(factory) if factory else None


def transport_for(url: str) -> httpx.AsyncBaseTransport | None:
    with _lock:
        factory = _overrides.get(_origin(url))
    return factory() if factory else None


def async_client(
    base_url: str,
    *,
    timeout: float = 120.0,
    max_connections: int = 64,
    verify: str | bool = True,  # True, False, or a CA bundle file (test CA)
    headers: dict[str, str] | None = None,
) -> httpx.AsyncClient:
    """A keep-alive pooled HTTP/1.1 client for ``base_url`` (or its registered transport)."""
    transport = transport_for(base_url)
    if transport is None:
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        # httpx 0.28 wants an SSLContext rather than a CA file path.
        transport = httpx.AsyncHTTPTransport(
            limits=limits, verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify)
    # one span per request, with the path's template only (shared.telemetry)
    return httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(timeout), headers=headers or {},
                             transport=TracedTransport(transport))
