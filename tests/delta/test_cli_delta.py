"""``python -m cli delta --run RUN --out DIR [--freeze]``: the cutover delta sync from the command line."""

from __future__ import annotations

import json

from cli.app import main
from tests.failures.helpers import TARGET


def test_a_frozen_delta_ends_with_a_certificate(tmp_path, export, environment, capsys):
    out = tmp_path / "out"
    assert main(["migrate", "--input", str(export), "--target", TARGET, "--out", str(out), "--auto-approve",
                 "--owners", "use-default"]) == 0
    run_id = json.loads((out / "report.json").read_text())["run_id"]
    capsys.readouterr()
    code = main(["delta", "--run", run_id, "--out", str(out), "--freeze", "--frozen-by", "cutover lead"])
    err = " ".join(capsys.readouterr().err.split())
    report = json.loads((out / "report.json").read_text())
    cert = json.loads((out / "certificate.json").read_text())
    assert report["pass"]["number"] == 2 and report["pass"]["kind"] == "delta"
    assert report["pass"]["frozen"]["by"] == "cutover lead" and cert["frozen"]["by"] == "cutover lead"
    assert "certificate.json" in report["files"] and (out / "certificate.md").exists()
    records = [o for o in cert["objects"] if o.get("dataverse") is not None]
    assert records and all(o["dataverse"] == o["expected"] == o["source"] - o["rejected"] - o["queued"]
                           for o in records), cert["objects"]
    assert cert["certified"] is all(o["certified"] for o in cert["objects"])
    assert code == (0 if cert["certified"] else 2)
    assert ("certified:" in err) or ("NOT certified" in err)
    assert report["totals"]["created"] == report["totals"]["updated"] == 0  # the source did not change


def test_delta_of_an_unknown_run_says_what_to_give(tmp_path, environment, capsys):
    assert main(["delta", "--run", "run-000000000000", "--out", str(tmp_path / "out")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--run run-000000000000: no migration with this id" in err
