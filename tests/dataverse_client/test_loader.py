import json

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from shared.dataverse import LoadStats, TableRef, delete_rows, upsert_rows
from shared.dataverse.client import DataverseTransientError
from shared.dataverse.keys import encode_key

from .conftest import client_for, make_settings, scripted

ACCOUNTS = TableRef("account", "accounts", "wtc_sourceid")
PROJECTS = TableRef("wtc_project", "wtc_projects", "wtc_sourceid")


def rows(n, start=0, bad=()):
    return [{"key": str(i), "body": {"name": "BAD" if i in bad else f"Company {i}"}} for i in range(start, start + n)]


def upsert_requests(fake):
    return [r for r in fake.log if r.url.path.endswith("UpsertMultiple")]


async def test_created_then_updated_with_ids(fake):
    async with client_for(make_settings(batch_size=10)) as dv:
        stats = LoadStats()
        out = await upsert_rows(dv, ACCOUNTS, rows(25), stats=stats)
        assert [o.status for o in out] == ["created"] * 25
        assert [o.key for o in out] == [str(i) for i in range(25)]
        assert all(o.id and len(o.id) == 36 for o in out)
        assert len(upsert_requests(fake)) == 3
        body = json.loads(upsert_requests(fake)[0].content)
        t = body["Targets"][0]
        assert t["@odata.type"] == "Microsoft.Dynamics.CRM.account"
        assert t["@odata.id"] == f"accounts(wtc_sourceid='{t['wtc_sourceid']}')"
        out2 = await upsert_rows(dv, ACCOUNTS, rows(30))  # 25 exist, 5 new
        assert [o.status for o in out2] == ["updated"] * 25 + ["created"] * 5
        assert [o.id for o in out2[:25]] == [o.id for o in out]
    assert len(fake.tables["accounts"].rows) == 30
    assert stats.created == 25 and stats.rows == 25 and stats.write_requests == 3 and stats.method == "UpsertMultiple"


async def test_bad_rows_are_isolated_and_rejected(fake):
    bad = {3, 40, 41, 77}
    async with client_for(make_settings(batch_size=50)) as dv:
        stats = LoadStats()
        out = await upsert_rows(dv, ACCOUNTS, rows(100, bad=bad), stats=stats)
    assert len(out) == 100
    rejected = {o.key for o in out if o.status == "rejected"}
    assert rejected == {str(i) for i in bad}
    for o in out:
        if o.status == "rejected":
            assert o.code == "0x80044331" and "not valid" in o.message and o.id is None
        else:
            assert o.status == "created" and o.id
    stored = {r["wtc_sourceid"] for r in fake.tables["accounts"].rows.values()}
    assert stored == {str(i) for i in range(100)} - {str(i) for i in bad}
    assert stats.splits > 0 and stats.isolation_batches > 0


async def test_pure_bisection_without_isolation_batches(fake):
    async with client_for(make_settings(batch_size=64)) as dv:
        out = await upsert_rows(dv, ACCOUNTS, rows(64, bad={17}), isolate_below=0)
    assert [o.key for o in out if o.status == "rejected"] == ["17"]
    assert not any(r.url.path.endswith("$batch") for r in fake.log)
    assert len(upsert_requests(fake)) == 1 + 2 * 6  # 64 -> 32 -> ... -> 1


@hsettings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 60), bad=st.sets(st.integers(0, 59), max_size=8), size=st.integers(1, 25))
async def test_every_row_gets_exactly_one_outcome(fake, n, bad, size):
    for t in fake.tables.values():
        t.rows.clear()
    bad = {b for b in bad if b < n}
    async with client_for(make_settings(batch_size=size)) as dv:
        out = await upsert_rows(dv, ACCOUNTS, rows(n, bad=bad))
    assert [o.key for o in out] == [str(i) for i in range(n)]
    assert {o.key for o in out if o.status == "rejected"} == {str(b) for b in bad}
    assert len(fake.tables["accounts"].rows) == n - len(bad)


async def test_batch_fallback_when_table_lacks_upsertmultiple(fake):
    data = [{"key": f"P{i}", "body": {"wtc_name": "BAD" if i == 5 else f"Project {i}"}} for i in range(12)]
    async with client_for(make_settings(batch_size=5)) as dv:
        stats = LoadStats()
        out = await upsert_rows(dv, PROJECTS, data, stats=stats)
        out2 = await upsert_rows(dv, PROJECTS, data[:3])
    assert stats.method == "$batch"
    assert not upsert_requests(fake)
    assert sum(1 for r in fake.log if r.url.path.endswith("sdkmessagefilters")) == 1  # cached per client
    assert [o.status for o in out].count("created") == 11
    assert out[5].status == "rejected" and out[5].code == "0x80044331"
    assert all(o.id for o in out if o.status == "created")
    assert [o.status for o in out2] == ["updated"] * 3


async def test_transient_failures_are_retried_not_rejected(fake):
    from .conftest import dropped

    fake.faults = [lambda r: None, scripted(503), dropped, scripted(429, headers={"Retry-After": "0"})]
    async with client_for(make_settings(batch_size=100)) as dv:
        out = await upsert_rows(dv, ACCOUNTS, rows(20))
    assert all(o.status == "created" for o in out)


async def test_exhausted_retries_reject_with_transient_code(fake):
    async with client_for(make_settings(batch_size=10)) as dv:
        await upsert_rows(dv, ACCOUNTS, rows(1))  # warm the sdkmessagefilters cache
        original = fake.dispatch

        def failing(method, url, headers, content):  # the chunk holding key 100 always gets 503
            if url.path.endswith("UpsertMultiple") and b'"100"' in content:
                return scripted(503)(None)
            return original(method, url, headers, content)

        fake.dispatch = failing
        out = await upsert_rows(dv, ACCOUNTS, rows(20, start=100))
    statuses = [o.status for o in out]
    assert statuses.count("rejected") == 10 and statuses.count("created") == 10
    assert {o.code for o in out if o.status == "rejected"} == {"transient"}


async def test_exhausted_retries_can_raise(fake):
    async with client_for(make_settings()) as dv:
        await upsert_rows(dv, ACCOUNTS, rows(1))
        fake.faults = [lambda r: None] + [scripted(503)] * 4
        with pytest.raises(DataverseTransientError):
            await upsert_rows(dv, ACCOUNTS, rows(5, start=10), on_transient="raise")


async def test_missing_duplicate_and_conflicting_keys(fake, settings):
    data = [
        {"key": "a", "body": {"name": "A"}},
        {"key": None, "body": {"name": "none"}},
        {"key": "a", "body": {"name": "A again"}},
        {"key": "b", "body": {"name": "B", "wtc_sourceid": "other"}},
        {"key": "c", "body": {"name": "C", "wtc_sourceid": "c"}},
    ]
    async with client_for(settings) as dv:
        out = await upsert_rows(dv, ACCOUNTS, data)
    assert [(o.status, o.code) for o in out] == [
        ("created", None), ("rejected", "missing_key"), ("rejected", "duplicate_key"),
        ("rejected", "key_conflict"), ("created", None),
    ]


async def test_keys_with_forbidden_characters_are_encoded(fake, settings):
    keys = ["a/b", "x?y+z", "O'Brien", "50%", "~tilde", "C:\\dir"]
    data = [{"key": k, "body": {"name": k}} for k in keys]
    async with client_for(settings) as dv:
        out = await upsert_rows(dv, ACCOUNTS, data)
        assert all(o.status == "created" for o in out), out
        out2 = await upsert_rows(dv, ACCOUNTS, data, use_multiple=False)  # PATCH by key in URLs
        assert all(o.status == "updated" for o in out2), out2
        deleted = await delete_rows(dv, ACCOUNTS, keys)
    stored = {r["wtc_sourceid"] for r in fake.tables["accounts"].rows.values()}
    assert stored == set()
    assert [d.status for d in deleted] == ["deleted"] * len(keys)
    assert encode_key("a/b") == "a~2Fb"


async def test_delete_rows_is_idempotent(fake, settings):
    async with client_for(settings) as dv:
        await upsert_rows(dv, ACCOUNTS, rows(5))
        out = await delete_rows(dv, ACCOUNTS, ["0", "1", "nope"])
    assert [o.status for o in out] == ["deleted", "deleted", "not_found"]
    assert len(fake.tables["accounts"].rows) == 3


async def test_load_under_throttling_loses_nothing(fake):
    fake.latency = 0.01
    fake.dop_hint = 20
    fake.concurrency_limit = 4
    fake.retry_after = "0.05"
    async with client_for(make_settings(batch_size=10), tokens=("tok-1", "tok-2")) as dv:
        stats = LoadStats()
        out = await upsert_rows(dv, ACCOUNTS, rows(600, bad={123, 456}), stats=stats)
        assert dv.metrics.throttled > 0
    assert sum(o.status == "created" for o in out) == 598
    assert len(fake.tables["accounts"].rows) == 598
    assert stats.rows_per_s > 0 and stats.snapshot()["rows"] == 600


async def test_missing_after_write_is_rejected_not_lost(fake, settings):
    """A 204 that did not store the row (a broken service) must still be reported."""
    async with client_for(settings) as dv:
        await upsert_rows(dv, ACCOUNTS, rows(1))
        original = fake.upsert
        fake.upsert = lambda t, key, body: None if key == "2" else original(t, key, body)
        out = await upsert_rows(dv, ACCOUNTS, rows(3, start=1))
    assert [(o.status, o.code) for o in out] == [("created", None), ("rejected", "missing_after_write"), ("created", None)]
