"""What a new user sees on the console: no line per object from the telemetry events, a note shared by
several objects said once, the demo's commands as a person types them and its figures said once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cli.app import report_lines
from emulators import demo

ROOT = Path(__file__).resolve().parents[2]

SKIPPED = "Not migrated (skipped in the approved map): DateModified."


def test_a_note_several_objects_share_is_printed_once_naming_them():
    report = {"objects": [
        {"object": "company", "status": "reconciled", "notes": [SKIPPED]},
        {"object": "contact", "status": "reconciled", "notes": [SKIPPED]},
        {"object": "deal", "status": "reconciled", "notes": ["Won and lost deals are closed.", SKIPPED]},
    ]}
    assert report_lines(report) == [
        f"company, contact, deal: {SKIPPED}",
        "deal: Won and lost deals are closed.",
    ]


def _console(verbose: bool) -> str:
    """stderr of a CLI process that logs what a run logs per object: the reconciliation event, a warning."""
    code = ("import logging; from cli.app import configure_logging; from shared.steps.reconcile import events; "
            f"configure_logging({verbose}); events.info('reconciliation', extra={{'migration.object': 'company'}}); "
            "logging.getLogger('migration').warning('a warning the operator should see')")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_the_reconciliation_events_stay_off_the_console_unless_verbose():
    quiet = _console(False)
    assert "reconciliation" not in quiet
    assert "a warning the operator should see" in quiet
    assert "INFO migration.reconciliation: reconciliation" in _console(True)


def test_the_demo_shows_the_command_as_typed():
    cmd = [sys.executable, "-m", "cli", "migrate", "--out", "out/demo"]
    assert demo.shown(cmd) == "python -m cli migrate --out out/demo"


def test_the_demo_prints_its_figures_once_without_repeating_the_report_path(tmp_path, capsys):
    (tmp_path / "report.html").write_text("<html></html>")
    (tmp_path / "report.json").write_text(
        '{"owner_queue": 4, "totals": {"source": 10, "loaded": 8, "created": 8, "updated": 0, "unchanged": 0, '
        '"rejected": 1, "queued": 1, "warnings": 0, "verified": 8, "mismatched": 0, "missing": 0}}')
    assert demo.summarise(tmp_path, 0.0)
    printed = capsys.readouterr().out
    assert "report.html" not in printed  # the CLI printed the path just above
    assert "4 owners without a Dynamics 365 user (owner_queue.csv)" in printed
    assert printed.count("source records") == 1


def test_the_reconciliation_table_is_whole_where_nothing_limits_the_width():
    import io

    from cli.app import report_table, show_table

    row = {"object": "ticket_message", "table": "phonecall, email, appointment, task, annotation", "source": 766,
           "loaded": 766, "created": 766, "updated": 0, "unchanged": 0, "rejected": 0, "queued": 0, "warnings": 0,
           "verified": 766, "mismatched": 0, "missing": 0, "status": "reconciled"}
    report = {"run_id": "run-1", "status": "completed", "objects": [row],
              "totals": {k: v for k, v in row.items() if isinstance(v, int)}}
    out = io.StringIO()  # a pipe: `make demo > demo.log`
    show_table(report_table(report), file=out)
    text = out.getvalue()
    for word in ("ticket_message", "unchanged", "mismatched", "warnings", "reconciled"):
        assert word in text
    assert "…" not in text


def test_a_work4all_graphql_input_is_the_tenant_code_as_the_readme_gives_it(tmp_path):
    """README: ``python -m cli migrate --source work4all-graphql --input 1 ...``: ``1`` is the mandant, not the
    folder ``./1`` (which the emulator refused with 403 for mandant '/work/main/1')."""
    from cli.app import cli_input

    assert cli_input("1", str(tmp_path / "staging"), "work4all-graphql") == "1"
    assert cli_input("export", str(tmp_path / "staging"), "work4all-export") == str(Path("export").resolve())


def test_the_map_gate_says_until_when_it_waits_in_minutes():
    from cli.app import readable_time

    assert readable_time("2026-12-07T16:22:30.116410+00:00") == "2026-12-07 16:22 UTC"
    assert readable_time("2026-12-07T18:22:30+02:00") == "2026-12-07 16:22 UTC"
    assert readable_time(None) == "None"


def test_every_subcommand_explains_verbose_and_migrate_its_chunk_size():
    for command in ("migrate", "delta", "rollback", "work4all-spec", "validate-export"):
        done = subprocess.run([sys.executable, "-m", "cli", command, "--help"], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        text = " ".join(done.stdout.split())
        assert "-v, --verbose also print INFO log lines" in text, command
        if command == "migrate":
            assert "--chunk-size CHUNK_SIZE records per staged chunk" in text
            assert "--only [OBJECT ...]" in text
            assert "the mandant, e.g. 1 (work4all-graphql)" in text


def test_a_run_without_a_dataverse_credential_says_which_settings_to_set(tmp_path, monkeypatch, capsys):
    from cli.app import CREDENTIALS, main

    for name in CREDENTIALS:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "export").mkdir()
    code = main(["migrate", "--input", str(tmp_path / "export"), "--target", "https://contoso.crm.dynamics.com",
                 "--out", str(tmp_path / "out")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "no Dataverse credential in the environment: set DATAVERSE_CLIENT_ID and DATAVERSE_CLIENT_SECRET" in err
    assert "DataverseSettings has no identities" not in err


def test_rollback_schema_says_what_it_removed_and_kept():
    from cli.app import schema_lines

    report = {"schema": {"columns_deleted": ["account.wtc_vip", "account.wtc_abn"], "keys_deleted": ["account.k"],
                         "tables_deleted": [], "kept": [
                             {"table": "contact", "column": "wtc_sourceid", "reason": "rows still hold values in it"},
                             {"table": "wtc_project", "reason": "it still has rows"}]}}
    assert schema_lines(report) == [
        "schema: 2 columns, 1 alternate keys and 0 tables removed; 2 kept",
        "kept contact.wtc_sourceid: rows still hold values in it",
        "kept table wtc_project: it still has rows",
    ]
    assert schema_lines({"objects": []}) == []  # a rollback without --schema prints nothing more
