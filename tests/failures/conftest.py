"""Fixtures of the failure tests: a sample export (session) and an emulated environment (per test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import Environment, make_export


@pytest.fixture(scope="session")
def export(tmp_path_factory) -> Path:
    return make_export(tmp_path_factory.mktemp("worketc"))


@pytest.fixture
def environment(monkeypatch, export):
    env = Environment(monkeypatch, export)
    yield env
    env.close()
