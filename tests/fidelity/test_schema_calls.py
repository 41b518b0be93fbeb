"""Schema calls are idempotent: an existing column or key with the same definition is success, a
different definition is a permanent failure that names table, column and the difference."""

from __future__ import annotations

import asyncio

import pytest

from shared.dataverse import ColumnSpec, DataverseError, SchemaConflict, ensure_alternate_key, ensure_columns
from shared.errors import PermanentError
from shared.steps import STEPS
from shared.steps.common import dataverse
from shared.steps.prepare import prepare_object

from .conftest import lose_answers, make_env, run_config, slow_answers


async def test_objects_sharing_a_table_prepare_it_at_the_same_time(monkeypatch, sample_export, tmp_path):
    """contact and contractor are in one wave and both prepare the contact table (demo: 0x80044363)."""
    env = await make_env(monkeypatch, sample_export)
    # both read the table's columns and keys before either creates one, as two workers do
    slow_answers(env, lambda method, path: method == "GET" and path.endswith(("/Attributes", "/Keys")))
    run = run_config(sample_export, str(tmp_path / "s"), run_id="prep-race").model_dump()
    done = await asyncio.gather(*(prepare_object({"run": run, "object": o}) for o in ("contact", "contractor")))
    assert all(d["prepared"] for d in done)
    keys = (await env.get("EntityDefinitions(LogicalName='contact')/Keys"))["value"]
    assert [k["KeyAttributes"] for k in keys] == [["wtc_sourceid"]]


async def test_a_create_whose_answer_was_lost_is_not_a_failure(monkeypatch, sample_export, tmp_path):
    env = await make_env(monkeypatch, sample_export)
    lost = lose_answers(env, lambda m, p: m == "POST" and p.endswith(("/Attributes", "/Keys")), times=2)
    run = run_config(sample_export, str(tmp_path / "s"), run_id="prep-lost").model_dump()
    done = await prepare_object({"run": run, "object": "company"})
    assert done["prepared"] and len(lost.lost) == 2
    attrs = {a["LogicalName"] for a in (await env.get("EntityDefinitions(LogicalName='account')/Attributes"))["value"]}
    assert {"wtc_sourceid", "wtc_industry"} <= attrs


async def test_a_different_definition_fails_the_step_once_naming_table_column_and_difference(
        monkeypatch, sample_export, tmp_path):
    env = await make_env(monkeypatch, sample_export)
    run = run_config(sample_export, str(tmp_path / "s"), run_id="prep-conflict")
    async with dataverse(run) as dv:  # an earlier deployment made wtc_industry a short text column
        await ensure_columns(dv, "account", [ColumnSpec("wtc_industry", "String", "Industry", max_length=20)])
    result = await STEPS["prepare_object"]({"run": run.model_dump(), "object": "company"})
    assert result["failure"]["kind"] == "permanent"
    assert result["failure"]["message"].startswith("account: column wtc_industry: MaxLength is 20, the migration "
                                                   "needs 200")
    assert env  # the environment is left as it was


async def test_keys_same_columns_reused_other_columns_refused(monkeypatch, sample_export, tmp_path):
    await make_env(monkeypatch, sample_export)
    run = run_config(sample_export, str(tmp_path / "s"), run_id="keys")
    async with dataverse(run) as dv:
        cols = [ColumnSpec("wtc_sourceid", "String", "Source id"), ColumnSpec("wtc_other", "String", "Other")]
        await ensure_columns(dv, "account", cols)
        await ensure_alternate_key(dv, "account", "wtc_a", ["wtc_sourceid"], poll_interval=0.01)
        again = await asyncio.gather(*(ensure_alternate_key(dv, "account", "wtc_b", ["wtc_sourceid"],
                                                            poll_interval=0.01) for _ in range(2)))
        assert {k["SchemaName"] for k in again} == {"wtc_a"}
        with pytest.raises(SchemaConflict, match=r"account: alternate key wtc_a exists on \(wtc_sourceid\), the "
                                                 r"migration needs it on \(wtc_other\)") as e:
            await ensure_alternate_key(dv, "account", "wtc_a", ["wtc_other"], poll_interval=0.01)
        assert isinstance(e.value, PermanentError) and not isinstance(e.value, DataverseError)


async def test_a_new_dropdown_option_is_added_once_even_when_its_answer_is_lost(monkeypatch, sample_export, tmp_path):
    env = await make_env(monkeypatch, sample_export)
    run = run_config(sample_export, str(tmp_path / "s"), run_id="options")
    kind = [(100000000, "Customer")]
    lost = lose_answers(env, lambda method, path: path.endswith("/InsertOptionValue"))
    async with dataverse(run) as dv:
        await ensure_columns(dv, "account", [ColumnSpec("wtc_kind", "Picklist", "Kind", options=kind)])
        report = await ensure_columns(dv, "account", [ColumnSpec("wtc_kind", "Picklist", "Kind",
                                                                 options=[*kind, (100000001, "Supplier")])])
        assert report.options_added == {"wtc_kind": [100000001]} and lost.lost
        meta = await env.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='wtc_kind')/"
                             "Microsoft.Dynamics.CRM.PicklistAttributeMetadata", **{"$expand": "OptionSet"})
        assert [o["Value"] for o in meta["OptionSet"]["Options"]] == [100000000, 100000001]
