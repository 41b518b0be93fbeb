"""With the map setting ``open_items_as: receivable`` open items are opportunities, and the custom table
w4a_openitem is not created at all (Sales Professional may use at most 15 custom tables: REFERENCE.md,
Dynamics 365 Licensing Guide); with the default ``openitem`` it is the table the rows go to."""

from __future__ import annotations

import pytest

from shared.objects import catalogue
from shared.staging import open_staging
from shared.steps.prepare import tables_in_use

from .conftest import migrated_snapshot

READS = {"opportunities": "opportunityid,w4a_sourceid", "EntityDefinitions": "LogicalName",
         "meta:opportunity": ""}


@pytest.fixture(scope="module")
def receivable(w4a_export, tmp_path_factory) -> dict:
    return migrated_snapshot(w4a_export, tmp_path_factory.mktemp("w4a-receivable-table"), READS,
                             settings={"offener_posten": {"open_items_as": "receivable"}}, run_id="w4a-op-notable")


def test_receivable_mode_creates_no_w4a_openitem_table(receivable):
    tables = {t["LogicalName"] for t in receivable["rows"]["EntityDefinitions"]}
    assert "opportunity" in tables and "w4a_openitem" not in tables
    assert any((r["w4a_sourceid"] or "").startswith("posten-") for r in receivable["rows"]["opportunities"])
    # the open item columns are on the opportunity, where the receivables are
    assert {"w4a_amount", "w4a_openamount", "w4a_paid", "w4a_sourceid"} <= receivable["meta"]["opportunity"]["columns"]
    o = next(o for o in receivable["report"]["objects"] if o["object"] == "offener_posten")
    assert o["loaded"] > 0 and o["source"] == o["loaded"] + o["rejected"] + o.get("queued", 0), o


def test_without_the_setting_the_rows_go_to_the_custom_table(tmp_path):
    spec = catalogue("work4all-export")["offener_posten"]
    st = open_staging(str(tmp_path), prefix="runs/x/")
    assert tables_in_use(st, spec) == ("w4a_openitem",) == spec.custom_table[:1]
    other = catalogue("work4all-export")["kunde"]
    assert tables_in_use(st, other) == other.tables
    beleg = catalogue("work4all-export")["beleg"]  # invoices_as picks the table of Rechnungen only
    assert tables_in_use(st, beleg) == beleg.tables
