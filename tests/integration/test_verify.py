"""Proof after the load: every row a real migration wrote, read back from the in-process Dataverse emulator
and compared field by field; what changed behind the engine's back between the load and the verification
is counted (a column edited, a closed record reopened, a record deleted), and the rest verifies."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest

from shared.objects import catalogue
from shared.problems import csv_text
from shared.staging import open_staging
from shared.steps import STEPS
from shared.steps.verify import CLOCK_TOLERANCE, MISMATCH_COLUMNS, mismatch_rows

from .conftest import migrate, run_config

EDITED = "=HYPERLINK(\"http://evil.example\",\"edited\")"


def loads_rows(spec) -> bool:
    return spec.pipeline == "records" and spec.load_activity == "load_chunk"


async def key_and_id(dv, entity_set: str, id_column: str, flt: str) -> tuple[str, str]:
    rec = (await dv.get(entity_set, **{"$filter": flt, "$select": f"{id_column},wtc_sourceid",
                                       "$orderby": "wtc_sourceid"}))["value"][0]
    return rec["wtc_sourceid"], rec[id_column]


def forget_verification(staging, names) -> None:
    """The run verified each object already; a test that changes Dataverse afterwards verifies again."""
    for n in names:
        for f in ("verify.json", "mismatches.json"):
            staging.delete(f"objects/{n}/{f}")


async def test_every_row_written_reads_back_as_sent_and_what_changed_since_is_counted(dataverse, sample_export,
                                                                                      tmp_path):
    run = run_config(sample_export, str(tmp_path / "staging"), run_id="verify")
    assert (await migrate(run))["status"] == "completed"
    staging = open_staging(str(tmp_path / "staging"), prefix=run.prefix)
    specs = catalogue(run.source)
    loaded = {n: staging.read_json(f"objects/{n}/report.json")["loaded"] for n, s in specs.items() if loads_rows(s)}
    assert all(loaded.values())
    # the run verified every object after its load: everything it wrote read back as sent
    report = json.loads((tmp_path / "staging" / run.prefix / "report" / "report.json").read_text())
    assert report["totals"]["mismatched"] == report["totals"]["missing"] == 0
    assert report["totals"]["verified"] == sum(loaded.values())
    forget_verification(staging, specs)

    # between the load and the verification, behind the engine's back (after the clocks' tolerance):
    await asyncio.sleep(CLOCK_TOLERANCE.total_seconds() + 1.2)
    account_key, account = await key_and_id(dataverse, "accounts", "accountid", "wtc_sourceid ne null")
    sent_name = (await dataverse.get(f"accounts({account})", **{"$select": "name"}))["name"]
    await dataverse.send("PATCH", f"/api/data/v9.2/accounts({account})", json={"name": EDITED})  # modifiedon moves
    deal_key, deal = await key_and_id(dataverse, "opportunities", "opportunityid", "wtc_sourceid ne null")
    store = dataverse.app.state.store
    with store.lock:  # straight into the store: the value changes, modifiedon does not
        store.rows["opportunity"][deal]["estimatedvalue"] += 0.01
    invoice_key, invoice = await key_and_id(dataverse, "invoices", "invoiceid", "statecode ne 0")
    await dataverse.send("PATCH", f"/api/data/v9.2/invoices({invoice})", json={"statecode": 0, "statuscode": 1})
    article_key, article = await key_and_id(dataverse, "knowledgearticles", "knowledgearticleid",
                                            "wtc_sourceid ne null")
    await dataverse.send("DELETE", f"/api/data/v9.2/knowledgearticles({article})")

    counts = {n: await STEPS["verify_object"]({"run": run.model_dump(), "object": n}) for n in specs}

    expected = {n: {"object": n, "verified": loaded.get(n, 0), "mismatched": 0, "missing": 0,
                    "modified_after_load": 0} for n in specs}
    expected["company"].update(verified=loaded["company"] - 1, mismatched=1, modified_after_load=1)
    expected["deal"].update(verified=loaded["deal"] - 1, mismatched=1)
    expected["invoice"].update(verified=loaded["invoice"] - 1, mismatched=1, modified_after_load=1)
    expected["kb_article"].update(verified=loaded["kb_article"] - 1, missing=1)
    assert counts == expected, {n: json.loads((tmp_path / "staging" / run.prefix / "objects" / n /
                                               "mismatches.json").read_text())["rows"][:5]
                                for n in specs if counts[n] != expected[n]}

    listed = {n: mismatch_rows(staging, specs[n]) for n in ("company", "deal", "invoice", "kb_article")}
    shown = {n: [(r["key"], r["kind"], r["field"]) for r in rows] for n, rows in listed.items()}
    assert shown == {"company": [(account_key, "different", "name"), (account_key, "modified_after_load", "modifiedon")],
                     "deal": [(deal_key, "different", "estimatedvalue")],
                     "invoice": [(invoice_key, "different", "statuscode"), (invoice_key, "different", "statecode"),
                                 (invoice_key, "modified_after_load", "modifiedon")],
                     "kb_article": [(article_key, "missing", "")]}
    assert (listed["company"][0]["sent"], listed["company"][0]["found"]) == (sent_name, EDITED)
    assert listed["invoice"][1]["found"] == "0" and listed["invoice"][1]["sent"] != "0"
    # the report's mismatches.csv: one CSV writer, no live formula from a value found in Dataverse
    lines = list(csv.DictReader(io.StringIO(csv_text(MISMATCH_COLUMNS, listed["company"]))))
    assert lines[0]["found"] == "'" + EDITED
    assert staging.read_json("objects/invoice/verify.json")["fields_different"] == 2

    # idempotent: a second call returns what the first found, whatever changed since
    await dataverse.send("DELETE", f"/api/data/v9.2/accounts({account})")
    assert await STEPS["verify_object"]({"run": run.model_dump(), "object": "company"}) == expected["company"]


@pytest.mark.azurite
async def test_a_run_staged_in_blob_storage_verifies_against_its_blobs_times(dataverse, sample_export, tmp_path,
                                                                             monkeypatch, azurite_connection_string):
    conn = f"{azurite_connection_string};Container=verify-{tmp_path.name.lower().replace('_', '-')[:40]}"
    monkeypatch.setenv("IT_STAGING", conn)
    run = run_config(sample_export, "IT_STAGING", run_id="verify-blob", only=["company"])
    assert (await migrate(run))["status"] == "completed"
    loaded = open_staging("IT_STAGING", prefix=run.prefix).read_json("objects/company/report.json")["loaded"]
    await asyncio.sleep(CLOCK_TOLERANCE.total_seconds() + 1.2)
    _, account = await key_and_id(dataverse, "accounts", "accountid", "wtc_sourceid ne null")
    await dataverse.send("PATCH", f"/api/data/v9.2/accounts({account})", json={"telephone1": "+61 2 0000 0000"})
    forget_verification(open_staging("IT_STAGING", prefix=run.prefix), ["company"])
    assert await STEPS["verify_object"]({"run": run.model_dump(), "object": "company"}) == {
        "object": "company", "verified": loaded - 1, "mismatched": 1, "missing": 0, "modified_after_load": 1}
