"""The work4all emulator in-process behind the real hosts' names (httpx.ASGITransport through
shared.http.register_transport), and a client configured as an operator would (environment)."""

from __future__ import annotations

import httpx
import pytest

from emulators.sample_work4all import records
from emulators.work4all import create_app
from shared import http as shared_http
from shared.sources.work4all.graphql import (DEFAULT_API_URL, DEFAULT_TOKEN_URL, Work4allGraphqlClient,
                                             Work4allGraphqlSettings)

SEED, SCALE = 3, 1


@pytest.fixture(scope="session")
def sample_records() -> dict[str, list[dict]]:
    return records(SEED, SCALE)


@pytest.fixture
def make_app(sample_records):
    """``make_app(**options)``: an emulator serving the sample, reachable at the real API and token URLs."""
    registered: list[str] = []

    def make(**options):
        app = create_app(options.pop("records", sample_records), **options)
        for url in (DEFAULT_API_URL, DEFAULT_TOKEN_URL):
            shared_http.register_transport(url, lambda app=app: httpx.ASGITransport(app=app))
            registered.append(url)
        return app

    yield make
    for url in registered:
        shared_http.unregister_transport(url)


@pytest.fixture
def env(monkeypatch):
    """The operator's environment: the client id and secret the emulator accepts by default."""
    for name, value in {"WORK4ALL_CLIENT_ID": "migration", "WORK4ALL_CLIENT_SECRET": "work4all"}.items():
        monkeypatch.setenv(name, value)
    for name in ("WORK4ALL_API_URL", "WORK4ALL_TOKEN_URL", "WORK4ALL_PAGE_SIZE", "WORK4ALL_CLIENT_SECRET_URI"):
        monkeypatch.delenv(name, raising=False)


class NoSleep:
    """Records the waits instead of sleeping them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def client_for(env):
    def make(**overrides) -> Work4allGraphqlClient:
        sleep = overrides.pop("sleep", None) or NoSleep()
        settings = Work4allGraphqlSettings.from_env(**{"mandant": "1", **overrides})
        return Work4allGraphqlClient(settings, sleep=sleep)

    return make
