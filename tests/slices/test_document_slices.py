"""Documents in slices: one call of transfer_documents moves at most SHAREPOINT_SLICE_FILES files (whole
records) and says done: False; the next call moves the rest, and the chunk ends as one call would end it."""

from __future__ import annotations

import pytest

from shared.steps.documents import transfer_documents
from tests.documents.conftest import drop_env, make_env
from tests.documents.test_transfer import build_chunk


@pytest.fixture
async def env(tmp_path, monkeypatch):
    yield await make_env(tmp_path, monkeypatch)
    drop_env()


async def test_a_call_stops_at_its_file_bound_and_the_next_goes_on(env, monkeypatch):
    monkeypatch.setenv("SHAREPOINT_SLICE_FILES", "2")
    rows, content = build_chunk(env)  # 7 documents on 4 records (3 on the first)
    payload = env.stage(rows)
    calls = [await transfer_documents(payload)]
    while calls[-1].get("done") is False:
        assert len(calls) < 10
        calls.append(await transfer_documents(payload))
    # a record's files go in one call (3 > 2: the bound is at least one record), then records of at most 2
    assert [c.get("files_done") for c in calls[:-1]] == [3, 5]
    assert calls[-1] == {"created": 4, "updated": 0, "unchanged": 0, "rejected": 3}
    outcomes = env.result()["outcomes"]
    assert sorted(o["key"] for o in outcomes) == sorted(r["key"] for r in rows)  # each file once
    stored = {path.rsplit("/", 1)[-1]: data for path, data in (await env.files_in_sharepoint()).items() if data}
    assert sorted(stored.values()) == sorted(content.values())
    assert await transfer_documents(payload) == calls[-1]  # done: a retry reads the result


def test_the_orchestrator_calls_a_load_again_until_it_is_done():
    from tests.orchestrators.test_migration_orchestrator import RUN, FakeContext, drive, registered

    answers = {"c1": [{"done": False}, {"done": False}, {"created": 1}], "c2": [{"created": 1}]}
    fake = FakeContext({"run": RUN, "object": "document"}, {
        "prepare_object": {}, "extract_object": {"chunks": [{"name": "c1"}, {"name": "c2"}], "staged": 2},
        "transform_chunk": lambda p: {"chunk": {"name": p["chunk"]["name"]}},
        "transfer_documents": lambda p: answers[p["chunk"]["name"]].pop(0),
        "verify_object": {}, "reconcile_object": {"object": "document", "balanced": True}})
    drive(registered("migrate_object"), fake.build())
    loads = [p["chunk"]["name"] for n, p in fake.calls if n == "transfer_documents"]
    assert loads == ["c1", "c2", "c1", "c1"]  # rounds: only the chunks not done go again


def test_the_orchestrator_calls_extraction_again_with_the_next_slice():
    from tests.orchestrators.test_migration_orchestrator import RUN, FakeContext, drive, registered

    answers = [{"done": False, "source": 10}, {"done": False, "source": 20},
               {"done": True, "chunks": [], "staged": 0}]
    fake = FakeContext({"run": RUN, "object": "company"}, {
        "prepare_object": {}, "extract_object": lambda p: answers[p.get("slice", 0)],
        "verify_object": {}, "reconcile_object": {"object": "company", "balanced": True}})
    drive(registered("migrate_object"), fake.build())
    slices = [p.get("slice") for n, p in fake.calls if n == "extract_object"]
    assert slices == [None, 1, 2]
    assert {"object": "company", "phase": "extracting", "slices": 2, "source": 20, "staged": None,
            "chunks": None} in fake.statuses
