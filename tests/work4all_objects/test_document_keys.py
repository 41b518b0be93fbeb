"""SharePoint sites and document locations are keyed per source: a work4all run keys them by w4a_sourceid
(its document object's key column) and creates no WORKetc column (wtc_sourceid) on any table, so a work4all
customer's environment needs no wtc publisher. A Rechnung's PDF goes beside the record the map made of it
(a won opportunity by default, an invoice with invoices_as: invoice)."""

from __future__ import annotations

import pytest

from shared.objects import catalogue
from shared.sources.work4all.export import read_table
from shared.steps.documents import KEY_COLUMN, location_tables

from .conftest import migrated_snapshot

TABLES = ("sharepointsite", "sharepointdocumentlocation", "account", "contact", "opportunity", "quote", "invoice",
          "quotedetail", "invoicedetail", "opportunityproduct", "product", "productpricelevel", "pricelevel",
          "phonecall", "task", "w4a_openitem")
READS = {
    "sharepointdocumentlocations": "sharepointdocumentlocationid,w4a_sourceid,relativeurl,_regardingobjectid_value",
    "sharepointsites": "sharepointsiteid,w4a_sourceid,absoluteurl",
    "opportunities": "opportunityid,w4a_sourceid",
    "invoices": "invoiceid,w4a_sourceid",
    "quotes": "quoteid,w4a_sourceid",
    **{f"meta:{t}": "" for t in TABLES},
}


@pytest.fixture(scope="module")
def default_run(w4a_export, tmp_path_factory) -> dict:
    return migrated_snapshot(w4a_export, tmp_path_factory.mktemp("w4a-docs"), READS, run_id="w4a-docs-default")


@pytest.fixture(scope="module")
def invoice_run(w4a_export, tmp_path_factory) -> dict:
    return migrated_snapshot(w4a_export, tmp_path_factory.mktemp("w4a-docs-invoice"), READS,
                             settings={"beleg": {"invoices_as": "invoice"}}, run_id="w4a-docs-invoice")


def test_the_document_objects_key_column_is_their_sources():
    assert catalogue("work4all-export")["beleg_pdf"].key_column == "w4a_sourceid"
    assert all(s.key_column == KEY_COLUMN == "wtc_sourceid" for s in catalogue("worketc-csv").values()
               if s.load_activity == "transfer_documents")
    site, location = location_tables("w4a_sourceid")
    assert (site.key_column, location.key_column, location.entity_set) == \
        ("w4a_sourceid", "w4a_sourceid", "sharepointdocumentlocations")


def test_a_work4all_run_keys_sites_and_locations_by_w4a_sourceid_and_creates_no_wtc_column(default_run):
    meta = default_run["meta"]
    for table in TABLES:
        assert not [c for c in meta[table]["columns"] if c.startswith("wtc_")], table
    for table in ("sharepointsite", "sharepointdocumentlocation"):
        assert "w4a_sourceid" in meta[table]["columns"]
        assert meta[table]["keys"] == {"w4a_sourceid_key": ["w4a_sourceid"]}
    sites = default_run["rows"]["sharepointsites"]
    assert len(sites) == 1 and sites[0]["w4a_sourceid"].startswith("site~3A")  # 'site:' with ':' escaped
    keys = {loc["w4a_sourceid"].replace("~3A", ":") for loc in default_run["rows"]["sharepointdocumentlocations"]}
    assert all(k.startswith(("library:", "folder:")) for k in keys)
    assert {"library:opportunity", "library:quote"} <= keys


def beside(snapshot: dict, export, table: str, kind: str) -> None:
    """Every copied PDF of a Beleg of ``kind`` is in the folder of the ``table`` row the Beleg became."""
    rows = snapshot["rows"]
    ids = {r["w4a_sourceid"]: r[f"{table}id"] for r in rows[f"{table}s" if table != "opportunity" else
                                                           "opportunities"]}
    folders = {loc["w4a_sourceid"].replace("~3A", ":"): loc for loc in rows["sharepointdocumentlocations"]}
    rejected = {r["source_id"].removeprefix("pdf-") for r in snapshot["rejects"] if r["object"] == "beleg_pdf"}
    copied = 0
    for b in read_table(export, "Belege"):
        if b["Belegart"] != kind or b["Code"] in rejected or f"beleg-{b['Code']}" not in ids:
            continue
        folder = folders[f"folder:{table}:beleg-{b['Code']}"]
        assert folder["_regardingobjectid_value"] == ids[f"beleg-{b['Code']}"]
        copied += 1
    assert copied


def test_a_rechnungs_pdf_is_beside_its_won_opportunity_by_default(default_run, w4a_export):
    beside(default_run, w4a_export, "opportunity", "Rechnung")
    beside(default_run, w4a_export, "invoice", "Gutschrift")
    beside(default_run, w4a_export, "quote", "Angebot")


def test_with_invoices_as_invoice_a_rechnungs_pdf_is_beside_its_invoice(invoice_run, w4a_export):
    beside(invoice_run, w4a_export, "invoice", "Rechnung")
    keys = {loc["w4a_sourceid"].replace("~3A", ":") for loc in invoice_run["rows"]["sharepointdocumentlocations"]}
    assert not [k for k in keys if k.startswith("folder:opportunity:")]
    o = next(o for o in invoice_run["report"]["objects"] if o["object"] == "beleg_pdf")
    assert o["source"] == o["loaded"] + o["rejected"] + o.get("queued", 0)
