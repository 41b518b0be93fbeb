"""A staging area per backend (a folder; a fresh container on Azurite), and the payload of the lease steps."""

from __future__ import annotations

import uuid

import pytest

from shared.staging import Staging, open_staging


@pytest.fixture(params=["local", pytest.param("blob", marks=pytest.mark.azurite)])
def staging(request: pytest.FixtureRequest, tmp_path) -> Staging:
    if request.param == "local":
        st = open_staging(str(tmp_path / "staging"), prefix="runs/r1")
    else:
        conn = request.getfixturevalue("azurite_connection_string")
        st = open_staging(conn, container=f"l-{uuid.uuid4().hex[:20]}", prefix="runs/r1")
    with st:
        yield st
