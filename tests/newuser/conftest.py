"""The failure tests' export and emulated environment, for whole CLI runs."""

from tests.failures.conftest import environment, export  # noqa: F401 - fixtures, used by name
