"""What the engineer sees when something is wrong: one line naming the file, setting or host and what to
do, no traceback (``--debug`` shows it), and fast."""

from __future__ import annotations

import socket
import time

import pytest

from cli.app import main
from shared.objects import SOURCE_KINDS
from tests.failures.helpers import TARGET


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


def migrate(tmp_path, export, *options: str) -> int:
    return main(["migrate", "--input", str(export), "--out", str(tmp_path / "out"), *options])


def test_the_help_lists_every_source_kind(capsys):
    with pytest.raises(SystemExit) as e:
        main(["migrate", "--help"])
    assert e.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(kind in help_text for kind in SOURCE_KINDS)


def test_an_unknown_source_kind_names_the_known_ones(tmp_path, export, capsys):
    with pytest.raises(SystemExit) as e:
        migrate(tmp_path, export, "--source", "worketc", "--target", TARGET)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'worketc'" in err and all(kind in err for kind in SOURCE_KINDS)
    assert "Traceback" not in err


def test_an_unreachable_target_fails_in_seconds_naming_the_host(tmp_path, export, capsys, monkeypatch):
    monkeypatch.setenv("DATAVERSE_TOKEN", "a-token")
    target = f"https://127.0.0.1:{closed_port()}"
    t0 = time.monotonic()
    assert migrate(tmp_path, export, "--target", target) == 2
    assert time.monotonic() - t0 < 10
    err = capsys.readouterr().err
    [line] = error_lines(err)
    assert f"cannot reach {target}: " in line and "check --target / DATAVERSE_URL and the network" in line
    assert "Traceback" not in err


def test_a_refused_token_names_the_settings_to_check(tmp_path, export, environment, capsys, monkeypatch):
    monkeypatch.setenv("DATAVERSE_TOKEN", "not-a-token-the-environment-issued")
    assert migrate(tmp_path, export, "--target", TARGET) == 2
    err = capsys.readouterr().err
    [line] = error_lines(err)
    assert f"Dataverse refused the credential for {TARGET} (401)" in line and "DATAVERSE_CLIENT_ID" in line
    assert "Traceback" not in err


def test_a_bad_option_value_names_the_option(tmp_path, export, capsys):
    assert migrate(tmp_path, export, "--target", TARGET, "--timezone", "Sydney/Australia") == 2
    [line] = error_lines(capsys.readouterr().err)
    assert line.startswith("error: --timezone: not an IANA time zone")


def test_documents_without_a_sharepoint_site_stop_before_anything_moves(tmp_path, export, environment, capsys,
                                                                        monkeypatch):
    monkeypatch.delenv("SHAREPOINT_SITE_URL")
    assert migrate(tmp_path, export, "--target", TARGET) == 2
    [line] = error_lines(capsys.readouterr().err)
    assert "SHAREPOINT_SITE_URL is not set" in line and "--skip document" in line
    assert not environment.app.state.store.rows["account"]  # nothing moved


def test_debug_shows_the_traceback(tmp_path, export, monkeypatch):
    monkeypatch.setenv("DATAVERSE_TOKEN", "a-token")
    with pytest.raises(Exception, match="cannot reach"):
        migrate(tmp_path, export, "--target", f"https://127.0.0.1:{closed_port()}", "--debug")
