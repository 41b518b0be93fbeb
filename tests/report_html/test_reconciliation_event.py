"""Each object's reconciliation is also a structured log event (logger ``migration.reconciliation``): flat
``migration.*`` attributes, which Azure Monitor's OpenTelemetry exporter writes as customDimensions, one per
key. Ids, table names and counts only: no e-mail, name or value of a record."""

from __future__ import annotations

import logging

from .conftest import OWNER, PERSONAL, staged_run


async def test_a_reconciliation_is_logged_with_its_counts_as_custom_dimensions(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="migration.reconciliation")
    await staged_run(tmp_path)
    [event] = [r for r in caplog.records if r.name == "migration.reconciliation"]
    assert event.getMessage() == "reconciliation" and event.levelno == logging.INFO
    dims = {k: v for k, v in vars(event).items() if k.startswith("migration.")}
    assert dims == {
        "migration.run_id": "staged-run", "migration.object": "company", "migration.table": "account",
        "migration.phase": "reconcile", "migration.balanced": True,
        "migration.source": 4, "migration.staged": 3, "migration.loaded": 2, "migration.created": 1,
        "migration.updated": 1, "migration.unchanged": 0, "migration.rejected": 2, "migration.queued": 0,
        "migration.warnings": 1, "migration.sampled_out": 0, "migration.unknown_owner_records": 2,
        "migration.rejected_extract": 1, "migration.rejected_transform": 0, "migration.rejected_load": 1}
    # what an OpenTelemetry log handler exports: every attribute a string, number or bool (no dict, which the
    # exporter would flatten into one string), and nothing of the records
    assert all(isinstance(v, (str, int, float, bool)) for v in dims.values())
    exported = repr(dims) + event.getMessage()
    assert OWNER not in exported and PERSONAL not in exported and "Company " not in exported and "@" not in exported
