"""The Azurite test fixture fails with an actionable message when Azurite is not installed."""

from pathlib import Path

import pytest

from tests import azurite


def test_missing_azurite_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(azurite, "AZURITE_BLOB", tmp_path / "no" / "azurite-blob")
    with pytest.raises(azurite.AzuriteError, match=r"make test.*npm install --prefix \.tools azurite@3\.37\.0"):
        with azurite.run_azurite(tmp_path):
            pass


def test_connection_string_shape() -> None:
    conn = azurite.connection_string(12345)
    assert "AccountName=devstoreaccount1" in conn
    assert "BlobEndpoint=http://127.0.0.1:12345/devstoreaccount1" in conn
