"""Extraction in slices: every call is bounded (rows or seconds), the next resumes exactly where the last
stopped, and the result is the whole-object result: no record lost or duplicated, duplicates decided
across slices, the file's sha256 as one read gives it."""

from __future__ import annotations

import hashlib
import itertools

import pytest

import shared.steps.extract as extract_mod
from shared.errors import SettingsError
from shared.steps.extract import slice_bounds

from .conftest import dirty_companies


def _outcome(summary: dict, rows: list[dict]) -> tuple:
    rejects = [(r["code"], r["record"], r["line"], r["message"]) for r in summary["rejects"]]
    return ([(r["EntityID"], r["Name"], r["_row"], r["_record"]) for r in rows], rejects,
            {k: summary[k] for k in ("source", "staged", "rejected", "warned", "files", "trimmed_ids")})


async def test_a_slice_stops_at_its_row_bound_and_the_next_resumes_where_it_stopped(export, run_slices,
                                                                                      monkeypatch):
    folder = export(dirty_companies())
    calls_whole, summary_whole, rows_whole = await run_slices(folder, "company", "whole")
    assert len(calls_whole) == 1 and calls_whole[0]["done"]  # a small object: one call, as before

    monkeypatch.setenv("EXTRACT_SLICE_ROWS", "7")
    calls, summary, rows = await run_slices(folder, "company", "sliced")
    reads = [c for c in calls if not c["done"]]
    source_rows = summary["source"]
    assert len(reads) == source_rows // 7  # one call per 7 rows; the last also finishes
    assert [c["source"] for c in reads] == [7 * (i + 1) for i in range(len(reads))]  # bounded, cumulative
    assert summary["slices"] == len(calls)
    assert _outcome(summary, rows) == _outcome(summary_whole, rows_whole)
    # every source record is staged or rejected exactly once
    staged = [r["_record"] for r in rows]
    rejected = [r["record"] for r in summary["rejects"]]
    assert sorted(staged + rejected) == list(range(1, source_rows + 1))
    assert {r["code"] for r in summary["rejects"]} == {"malformed_row", "missing_key", "duplicate_key",
                                                         "case_collision"}
    kept3 = [r for r in rows if r["EntityID"] == "3"]
    assert [r["Name"] for r in kept3] == ["Company 3 again (newer)"]  # the later, newer copy, slices apart
    data = (folder / "companies.csv").read_bytes()
    assert summary["files"][0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert summary["files"][0]["bytes"] == len(data)


async def test_a_slice_stops_at_its_time_bound(export, run_slices, monkeypatch):
    folder = export(dirty_companies(30))
    _, summary_whole, rows_whole = await run_slices(folder, "company", "whole")
    clock = itertools.count(0, 10)  # every look at the clock: ten seconds later
    monkeypatch.setattr(extract_mod.time, "monotonic", lambda: float(next(clock)))
    monkeypatch.setenv("EXTRACT_SLICE_SECONDS", "45")
    calls, summary, rows = await run_slices(folder, "company", "timed")
    reads = [c for c in calls if not c["done"]]
    assert reads and all(b["source"] - a["source"] == 5 for a, b in zip(reads, reads[1:]))  # 45 s: 5 rows
    assert _outcome(summary, rows) == _outcome(summary_whole, rows_whole)


async def test_a_slice_killed_midway_is_redone_and_nothing_is_lost_or_doubled(export, run_slices, monkeypatch):
    folder = export(dirty_companies())
    _, summary_whole, rows_whole = await run_slices(folder, "company", "whole")
    monkeypatch.setenv("EXTRACT_SLICE_ROWS", "9")
    real = extract_mod._rows_from
    state = {"calls": 0}

    def dying(source, spec, start):
        rows = real(source, spec, start)
        state["calls"] += 1
        if state["calls"] != 3:  # the third slice dies after 4 rows (worker recycled, timeout...)
            return rows

        class Dies:
            def __getattr__(self, name):  # version, position(), exhausted: the reader's
                return getattr(rows, name)

            def __iter__(self):
                for i, row in enumerate(rows):
                    if i == 4:
                        raise ConnectionResetError("worker recycled")
                    yield row

        return Dies()

    monkeypatch.setattr(extract_mod, "_rows_from", dying)
    with pytest.raises(ConnectionResetError):
        await run_slices(folder, "company", "killed")
    # the orchestrator retries the same call; the slices done before are not read again
    monkeypatch.setattr(extract_mod, "_rows_from", real)
    calls, summary, rows = await run_slices(folder, "company", "killed")
    assert calls[0] == calls[1] or calls[0]["slice"] == 0  # slice 0 answered from staging
    assert _outcome(summary, rows) == _outcome(summary_whole, rows_whole)


async def test_a_retried_call_answers_from_staging(export, tmp_path, monkeypatch):
    from shared.run import RunConfig
    from shared.steps.extract import extract_object

    monkeypatch.setenv("EXTRACT_SLICE_ROWS", "10")
    folder = export(dirty_companies())
    run = RunConfig(run_id="slice-test", input=str(folder), target="https://contoso.crm.dynamics.com",
                    staging=str(tmp_path / "st"), chunk_size=10).model_dump()
    first = await extract_object({"run": run, "object": "company"})
    second = await extract_object({"run": run, "object": "company", "slice": 1})
    assert (first["source"], second["source"], second["done"]) == (10, 20, False)
    assert await extract_object({"run": run, "object": "company", "slice": 1}) == second  # a retried call
    assert await extract_object({"run": run, "object": "company"}) == first
    assert "rejects" not in second and "Company" not in str(second)  # counts, never source values


async def test_a_file_that_changes_between_slices_stops_the_run(export, run_slices, monkeypatch):
    from shared.errors import InputError

    monkeypatch.setenv("EXTRACT_SLICE_ROWS", "10")
    folder = export(dirty_companies())
    real = extract_mod._read_slice

    def read_then_change(run, spec, st, k, prev):
        doc = real(run, spec, st, k, prev)
        if k == 1:
            with open(folder / "companies.csv", "ab") as f:
                f.write(b"999,Added while running,,2024-01-01\r\n")
        return doc

    monkeypatch.setattr(extract_mod, "_read_slice", read_then_change)
    with pytest.raises(InputError, match="companies.csv changed while it was being extracted"):
        await run_slices(folder, "company", "changed")


def test_bounds_come_from_settings_and_bad_ones_say_which():
    assert slice_bounds({}) == (50_000, 240.0)
    assert slice_bounds({"EXTRACT_SLICE_ROWS": "1000", "EXTRACT_SLICE_SECONDS": "60"}) == (1000, 60.0)
    with pytest.raises(SettingsError, match="EXTRACT_SLICE_ROWS"):
        slice_bounds({"EXTRACT_SLICE_ROWS": "lots"})
    with pytest.raises(SettingsError, match="EXTRACT_SLICE_SECONDS"):
        slice_bounds({"EXTRACT_SLICE_SECONDS": "0"})


async def test_duplicates_are_decided_in_buckets_of_keys_across_calls(export, run_slices, monkeypatch):
    """A big object's keys do not fit one call's memory: they are decided in buckets (a key's rows all in
    one), a bounded number per call, and the result is the same."""
    folder = export(dirty_companies())
    _, summary_whole, rows_whole = await run_slices(folder, "company", "whole")
    monkeypatch.setattr(extract_mod, "DEDUP_KEYS", 8)  # about 8 buckets for this object
    clock = itertools.count(0, 100)  # every look at the clock: 100 s later, so a call decides one bucket
    monkeypatch.setattr(extract_mod.time, "monotonic", lambda: float(next(clock)))
    monkeypatch.setenv("EXTRACT_SLICE_SECONDS", "150")
    calls, summary, rows = await run_slices(folder, "company", "buckets")
    deciding = [c for c in calls if c.get("phase") == "deduplicating"]
    assert len(deciding) >= 5  # one bucket per call (after the first)
    assert _outcome(summary, rows) == _outcome(summary_whole, rows_whole)


async def test_a_utf16_file_is_read_in_one_slice_not_twice(export, run_slices, monkeypatch):
    text = dirty_companies(30)
    _, summary_whole, rows_whole = await run_slices(export(text), "company", "whole")
    folder = export("\ufeff" + text, encoding="utf-16-le")
    monkeypatch.setenv("EXTRACT_SLICE_ROWS", "7")
    calls, summary, rows = await run_slices(folder, "company", "utf16")
    assert len(calls) == 1 and summary["files"][0]["encoding"] == "utf-16"
    assert [(r["EntityID"], r["_record"]) for r in rows] == [(r["EntityID"], r["_record"]) for r in rows_whole]
    assert summary["source"] == summary_whole["source"]
