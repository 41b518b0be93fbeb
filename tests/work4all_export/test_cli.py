"""python -m cli work4all-spec / validate-export work4all."""

from __future__ import annotations

import json

from cli.app import EXPORT_REJECTED, main
from emulators.sample_work4all import generate


def test_cli_spec_and_validation(tmp_path, capsys):
    export = tmp_path / "export"
    generate(export, seed=4, omit=["Zahlungen"])
    assert main(["work4all-spec", "--out", str(tmp_path / "spec"), "--sample", str(export)]) == 0
    assert (tmp_path / "spec" / "work4all_export_spec.md").is_file()
    assert main(["validate-export", "work4all", str(export), "--out", str(tmp_path / "v")]) == EXPORT_REJECTED
    out = capsys.readouterr().err
    assert "REJECTED" in out and "Zahlungen is absent" in out
    assert json.loads((tmp_path / "v" / "validation.json").read_text(encoding="utf-8"))["accepted"] is False
    assert main(["validate-export", "work4all", str(export), "--allow-absent", "Zahlungen"]) == 0
    assert "ACCEPTED" in capsys.readouterr().err


def test_cli_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["validate-export", "work4all", str(tmp_path / "nope")]) == 2
    assert "work4all export folder" in capsys.readouterr().err
