"""Fixtures for the WORKetc SOAP tests: the emulator on a loopback port (uvicorn in a thread)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from emulators.worketc import create_app
from shared.sources.worketc.soap import WorketcSoapClient, WorketcSoapSettings

EXPORT = Path(__file__).parent / "fixtures" / "export"
EMAIL = "ava@tenant.example"
PASSWORD = "s3cret-Pa55"


@contextlib.contextmanager
def serve(app):
    """Run an ASGI app on 127.0.0.1:<free port>; yields the base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical",
                                           lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)


@pytest.fixture
def export_dir() -> Path:
    return EXPORT


@pytest.fixture
def emulator():
    """A factory: ``emulator(**create_app options) -> (base_url, app)``; servers stop after the test."""
    stack = contextlib.ExitStack()

    def start(export=EXPORT, **options):
        options.setdefault("password_for", PASSWORD)
        app = create_app(export, **options)
        url = stack.enter_context(serve(app))
        return url, app

    with stack:
        yield start


@pytest.fixture
def client_for():
    """A factory: ``client_for(base_url, **settings) -> WorketcSoapClient`` (closed after the test)."""
    clients = []

    def make(base_url: str, **settings) -> WorketcSoapClient:
        s = dict(wsdl_url=f"{base_url}/xml?wsdl", email=EMAIL, password=PASSWORD, rate_per_second=0,
                 backoff_base=0.01, backoff_max=0.05)
        s.update(settings)
        c = WorketcSoapClient(WorketcSoapSettings(**s))
        clients.append(c)
        return c

    yield make
    for c in clients:
        c.close()
