"""Run settings name a staging area; the connection string stays in the environment."""

from __future__ import annotations

import pytest

from shared.errors import SettingsError
from shared.staging import LocalStaging, open_staging
from shared.staging.blob import BlobStaging
from shared.staging.location import staging_reference

CONN = ("DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=c2VjcmV0;"
        "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;")


def test_a_setting_name_opens_what_the_setting_holds(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("STAGING_CONNECTION", CONN + "Container=runs")
    st = open_staging("STAGING_CONNECTION", prefix="runs/r1", create=False)
    assert isinstance(st, BlobStaging) and st.container.container_name == "runs"
    monkeypatch.setenv("STAGING_LOCAL", str(tmp_path))
    st = open_staging("STAGING_LOCAL", prefix="runs/r1")
    assert isinstance(st, LocalStaging) and st.folder == tmp_path.resolve()


def test_an_unset_setting_is_a_settings_error_naming_it(monkeypatch) -> None:
    monkeypatch.delenv("STAGING_MISSING", raising=False)
    with pytest.raises(SettingsError, match="STAGING_MISSING"):
        open_staging("STAGING_MISSING")


def test_the_cli_moves_a_connection_string_into_its_environment(tmp_path) -> None:
    env: dict[str, str] = {}
    assert staging_reference(CONN, env=env) == "STAGING_CONNECTION"
    assert env == {"STAGING_CONNECTION": CONN}
    assert staging_reference("STAGING_OTHER", env=env) == "STAGING_OTHER"
    url = "https://acct.blob.core.windows.net/staging"
    assert staging_reference(url, env=env) == url
    assert staging_reference("relative/folder", env=env) == str((tmp_path.cwd() / "relative/folder").resolve())
    assert env == {"STAGING_CONNECTION": CONN}


@pytest.mark.azurite
def test_the_cli_never_prints_the_connection_string(azurite_connection_string, monkeypatch, tmp_path, capsys) -> None:
    """A run that stops at discovery (an empty export folder) has printed its banner and its error."""
    from cli.app import main
    from tests.azurite import ACCOUNT_KEY

    monkeypatch.delenv("STAGING_CONNECTION", raising=False)  # restored after the test
    (tmp_path / "export").mkdir()
    code = main(["migrate", "--input", str(tmp_path / "export"), "--target", "https://contoso.crm.dynamics.com",
                 "--out", str(tmp_path / "out"), "--staging", f"{azurite_connection_string}Container=cli"])
    printed = capsys.readouterr()
    assert code == 2
    assert "STAGING_CONNECTION" in printed.err  # the banner names the setting
    assert ACCOUNT_KEY not in printed.out + printed.err
