"""Fixtures for the fidelity tests: the integration environment (in-process Dataverse and Graph
emulators, sample export) plus a wrapper that executes chosen requests and then loses their answer."""

from __future__ import annotations

import pytest

import asyncio
from typing import Callable

import httpx

from cli.durable import DurableDriver
from emulators.common.faults import drop_connection
from orchestrators.migration import ORCHESTRATORS
from shared import http as shared_http
from shared.run import RunConfig
from shared.steps import STEPS
from tests.integration.conftest import (TARGET, Env, make_env, run_config, sample_export,  # noqa: F401
                                        unregister)


async def migrate(run: RunConfig) -> dict:
    """A whole run through the Durable driver, as the CLI runs it."""
    driver = DurableDriver(ORCHESTRATORS, STEPS, max_parallel_activities=3, retry_interval_scale=0.001)
    return await driver.run("migration", run.model_dump(), instance_id=run.run_id)


class LoseAnswers:
    """ASGI wrapper: requests matching ``when(method, path)`` run (their writes happen), then the
    connection drops without an answer, ``times`` times in all - an answer lost on the way back."""

    def __init__(self, app, when: Callable[[str, str], bool], times: int = 1):
        self.app, self.when, self.left = app, when, times
        self.lost: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or self.left <= 0 or not self.when(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return
        self.left -= 1
        self.lost.append(f"{scope['method']} {scope['path']}")

        async def swallow(message) -> None:
            return None

        await self.app(scope, receive, swallow)
        await drop_connection(scope)


class SlowAnswers:
    """ASGI wrapper: requests matching ``when(method, path)`` are answered ``seconds`` late, so that
    concurrent workers all read before any of them writes (a race made deterministic)."""

    def __init__(self, app, when: Callable[[str, str], bool], seconds: float):
        self.app, self.when, self.seconds = app, when, seconds

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and self.when(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            await asyncio.sleep(self.seconds)
            return
        await self.app(scope, receive, send)


def slow_answers(env: Env, when: Callable[[str, str], bool], seconds: float = 0.2) -> SlowAnswers:
    wrapper = SlowAnswers(env.app, when, seconds)
    shared_http.register_transport(TARGET, lambda: httpx.ASGITransport(app=wrapper))
    return wrapper


def lose_answers(env: Env, when: Callable[[str, str], bool], times: int = 1) -> LoseAnswers:
    """Route the run's Dataverse traffic through a :class:`LoseAnswers` around ``env``'s emulator."""
    wrapper = LoseAnswers(env.app, when, times)
    shared_http.register_transport(TARGET, lambda: httpx.ASGITransport(app=wrapper))
    return wrapper


@pytest.fixture(autouse=True)
def schema_steps_without_the_gate(monkeypatch):
    """These tests call the schema steps directly (the map gate is tests/integration/test_gates.py's):
    the approval the orchestrator requires before prepare is taken as given."""
    from shared.steps import custom_fields, prepare

    monkeypatch.setattr(prepare, "require_approval", lambda st, run: None)
    monkeypatch.setattr(custom_fields, "require_approval", lambda st, run: None)
