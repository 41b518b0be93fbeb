"""Fixtures of the delta sync tests: the failure tests' export and emulated environment (as tests/cli)."""

from tests.failures.conftest import environment, export  # noqa: F401 - fixtures, used by name
