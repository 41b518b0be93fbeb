"""Fixtures of the CLI tests: the failure tests' export and emulated environment, shared with them."""

from tests.failures.conftest import environment, export  # noqa: F401 - fixtures, used by name

