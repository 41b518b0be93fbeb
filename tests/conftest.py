"""Session-wide fixtures shared by every area. Keep this file minimal: area fixtures go in
``tests/<area>/conftest.py``."""

import pytest

from tests.azurite import run_azurite


@pytest.fixture(scope="session")
def azurite_connection_string(tmp_path_factory: pytest.TempPathFactory):
    """A connection string for a real Azurite blob server started for this test session."""
    with run_azurite(tmp_path_factory.mktemp("azurite")) as conn_str:
        yield conn_str
