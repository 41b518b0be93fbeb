"""Whole runs through the CLI as a new user reads them: each run's console says where its report is, once,
and the per-object telemetry events do not precede the table."""

from __future__ import annotations

import json

from cli.app import main
from tests.failures.helpers import TARGET


def test_migrate_then_delta_each_name_their_report_once_and_log_no_event_lines(tmp_path, export, environment,
                                                                                capsys):
    out = tmp_path / "out"
    assert main(["migrate", "--input", str(export), "--target", TARGET, "--out", str(out), "--auto-approve",
                 "--owners", "use-default"]) == 0
    err = capsys.readouterr().err
    assert err.count(f"the report: {out / 'report.html'}") == 1
    assert "INFO migration.reconciliation" not in err
    run_id = json.loads((out / "report.json").read_text())["run_id"]
    assert main(["delta", "--run", run_id, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"pass 2 of run {run_id}" in err
    assert err.count(f"the report: {out / 'report.html'}") == 1  # the delta pass says it as migrate does
