"""The sliced extraction's key spool: written at gzip level 1 with each key's bucket hash (level 9 cost
more CPU than the rest of the spool), decided in compact buckets, and read as before when a slice was
written by the version before (7 fields a key, no hash): the outcome is the same."""

from __future__ import annotations

import gzip
import io

import pytest

import shared.steps.extract as extract_mod
from shared.sources.ids import id_fold
from shared.staging import codec
from tests.slices.conftest import dirty_companies, export, run_slices  # noqa: F401 (fixtures)


def _outcome(summary: dict, rows: list[dict]) -> tuple:
    rejects = [(r["code"], r["record"], r["line"], r["message"]) for r in summary["rejects"]]
    return [(r["EntityID"], r["Name"], r["_record"]) for r in rows], rejects, summary["staged"]


@pytest.mark.parametrize("key", ["C1", "Abc-12", " x ", "ÄÖÜ", "Straße", "ﬁ1", "İ", "e\u0301", "ＡＢ", "Σσς", ""])
def test_the_fast_fold_is_id_fold(key):
    assert extract_mod._fold(key) == id_fold(key)


async def test_the_key_spool_is_gzip_level_1_with_bucket_hashes(export, run_slices, monkeypatch, tmp_path):
    monkeypatch.setenv("EXTRACT_SLICE_ROWS", "7")
    await run_slices(export(dirty_companies()), "company", "sliced")
    spools = sorted((tmp_path / "sliced").rglob("*.keys.jsonl.gz"))
    assert spools
    data = spools[0].read_bytes()
    assert data[8] == 4  # gzip header XFL: 4 = fastest (level 1); level 9 writes 2 (RFC 1952 2.3.1)
    entries = [e for line in gzip.GzipFile(fileobj=io.BytesIO(data)) for e in codec.loads(line)]
    assert entries and all(len(e) == 8 and e[7] == extract_mod._bucket_hash(id_fold(e[0])) for e in entries)


async def test_slices_spooled_without_hashes_are_decided_the_same(export, run_slices, monkeypatch, tmp_path):
    folder = export(dirty_companies())
    _, summary_whole, rows_whole = await run_slices(folder, "company", "whole")
    monkeypatch.setenv("EXTRACT_SLICE_ROWS", "7")
    real_finish = extract_mod._finish

    def finish_on_old_spools(run, spec, st):  # the spools as the version before wrote them: 7 fields, level 9
        spools = sorted((tmp_path / "old").rglob("*.keys.jsonl.gz"))
        assert len(spools) > 3
        for path in spools:
            lines = [codec.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]
            path.write_bytes(gzip.compress(b"".join(codec.dumps_bytes([e[:7] for e in part]) + b"\n"
                                                    for part in lines), compresslevel=9))
        return real_finish(run, spec, st)

    monkeypatch.setattr(extract_mod, "_finish", finish_on_old_spools)
    monkeypatch.setattr(extract_mod, "DEDUP_KEYS", 8)
    _, summary, rows = await run_slices(folder, "company", "old")
    assert _outcome(summary, rows) == _outcome(summary_whole, rows_whole)
    assert {r["code"] for r in summary["rejects"]} >= {"duplicate_key", "case_collision"}


async def test_the_dedup_pass_keeps_details_only_for_keys_with_duplicates(export, run_slices, monkeypatch):
    """Memory of the finishing call: a compact entry per key; the kept row's details (file, line, dates:
    what a reject message names) only for the keys that have duplicates, not for every key of the bucket."""
    made = []
    real = extract_mod._Kept

    def counting(*args, **kwargs):
        made.append(args[0] if args else kwargs.get("key"))
        return real(*args, **kwargs)

    monkeypatch.setenv("EXTRACT_SLICE_ROWS", "7")
    monkeypatch.setattr(extract_mod, "_Kept", counting)
    _, summary, rows = await run_slices(export(dirty_companies()), "company", "compact")
    losers = [r for r in summary["rejects"] if r["code"] in ("duplicate_key", "case_collision")]
    assert len(rows) > 3 * len(made)  # not one per staged key
    assert 0 < len(made) <= len(losers)  # one per key that has duplicates (each has a rejected row at least)
