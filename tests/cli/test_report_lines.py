"""The lines printed under the reconciliation table: what the table alone does not say."""

from __future__ import annotations

from cli.app import report_lines


def test_missing_files_skipped_and_unbalanced_objects_are_spelled_out():
    report = {
        "discovery": [{"object": "lead", "file": "leads.csv", "presence": "empty"},
                      {"object": "company", "file": "companies.csv", "presence": "present"}],
        "objects": [{"object": "company", "status": "unbalanced", "source": 10, "loaded": 7, "rejected": 1,
                     "queued": 0},
                    {"object": "document", "status": "skipped", "reason": "skipped by --skip"},
                    {"object": "invoice", "status": "reconciled", "notes": ["Payments are not migrated."]}],
    }
    assert report_lines(report) == [
        "leads.csv: empty; lead not migrated",
        "document: skipped by --skip",
        "company: source 10 is not loaded 7 + rejected 1 + queued 0: records are unaccounted for; report this "
        "with the staging folder objects/company/",
        "invoice: Payments are not migrated.",
    ]
