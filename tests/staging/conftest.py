"""One behaviour suite, every backend: the ``staging`` fixture is a LocalStaging on a temp folder and a
BlobStaging on a real Azurite container (a fresh container per test)."""

from __future__ import annotations

import uuid

import pytest

from shared.staging import Staging, open_staging


@pytest.fixture(params=["local", pytest.param("blob", marks=pytest.mark.azurite)])
def staging(request: pytest.FixtureRequest, tmp_path) -> Staging:
    if request.param == "local":
        st = open_staging(str(tmp_path / "staging"))
    else:
        conn = request.getfixturevalue("azurite_connection_string")
        st = open_staging(conn, container=f"t-{uuid.uuid4().hex[:20]}")
    with st:
        yield st
