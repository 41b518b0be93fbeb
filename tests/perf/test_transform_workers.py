"""The transform's context is built once per object and process; its result is the same in a worker
process as inline."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from shared.run import RunConfig
from shared.staging import open_staging, read_chunk
from shared.steps import transform as step
from shared.steps.extract import extract_object

OWNERS = {"a@x.com": "00000000-0000-0000-0000-000000000001"}


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


@pytest.fixture
def staged(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    _write(export / "companies.csv", ["EntityID", "Name", "Email", "OwnerEmail", "DateCreated"],
           [[f"C{i}", f"Company {i}", "bad@@" if i % 7 == 0 else f"c{i}@x.com", "a@x.com", "01/02/2020 10:00"]
            for i in range(30)])
    _write(export / "contacts.csv", ["EntityID", "FirstName", "LastName", "CompanyID", "OwnerEmail"],
           [[f"P{i}", "Ann", f"Lee {i}", f"c{i % 40}", "b@x.com"] for i in range(45)])
    (export / "users.csv").write_text("EntityID,Name,Email,Role,Active\r\n", encoding="utf-8")

    async def run(staging_name: str) -> tuple[RunConfig, object]:
        run = RunConfig(run_id="perf-test", source="worketc-csv", input=str(export),
                        target="https://contoso.crm.dynamics.com", staging=str(tmp_path / staging_name), chunk_size=10)
        st = open_staging(run.staging, prefix=run.prefix)
        st.write_json("owners.json", {"owners": OWNERS, "default_owner": OWNERS["a@x.com"]})
        for name in ("company", "contact"):
            job = {"run": run.model_dump(), "object": name}
            result, calls = await extract_object(job), 1
            while not result.get("done", True):
                result, calls = await extract_object({**job, "slice": calls}), calls + 1
        # companies C0..C29 loaded (keys as reconciliation writes them)
        st.write_json("objects/company/loaded_keys.json", [f"C{i}" for i in range(30)])
        st.write_json("objects/company/report.json", {"object": "company", "loaded": 30})
        return run, st
    return run


async def _transform_all(run: RunConfig, st, name: str) -> list[dict]:
    extract = st.read_json(f"objects/{name}/extract.json")
    out = []
    for chunk in extract["chunks"]:
        r = await step.transform_chunk({"run": run.model_dump(), "object": name, "chunk": chunk})
        out.append({**r, "records": read_chunk(st, r["chunk"]["name"], r["chunk"]["sha256"]) if r["chunk"] else []})
    return out


async def test_context_is_built_once_per_object(staged, monkeypatch):
    monkeypatch.setenv("TRANSFORM_PROCESSES", "0")  # counted in this process
    run, st = await staged("s")
    step._CONTEXTS.clear()
    before = step.CONTEXT_BUILDS["contact"]
    results = await _transform_all(run, st, "contact")
    assert len(results) == 5  # 45 rows in chunks of 10
    assert step.CONTEXT_BUILDS["contact"] - before == 1
    # an input changed (the target loaded again, with other keys): built again
    st.write_json("objects/company/loaded_keys.json", [f"C{i}" for i in range(40)])
    st.write_json("objects/company/report.json", {"object": "company", "loaded": 40})
    st.delete_prefix("objects/contact/transform/")
    results = await _transform_all(run, st, "contact")
    assert step.CONTEXT_BUILDS["contact"] - before == 2
    bound = [r for res in results for r in res["records"] if "parentcustomerid_account@odata.bind" in r["body"]]
    assert len(bound) == 45  # c30..c39 now resolve too; the rest go to the placeholder (bound as well)


async def test_worker_process_gives_the_same_result_as_inline(staged, monkeypatch):
    monkeypatch.setenv("TRANSFORM_PROCESSES", "0")
    run, st = await staged("inline")
    inline = [await _transform_all(run, st, n) for n in ("company", "contact")]
    monkeypatch.setenv("TRANSFORM_PROCESSES", "2")
    run2, st2 = await staged("pool")
    try:
        pooled = [await _transform_all(run2, st2, n) for n in ("company", "contact")]
    finally:
        if step._POOL is not None:
            step._POOL.shutdown(wait=True)
            step._POOL = None
    strip = lambda results: [{k: v for k, v in r.items() if k != "chunk"} | {"sha": (r["chunk"] or {}).get("sha256")}
                             for r in results]
    assert [strip(x) for x in pooled] == [strip(x) for x in inline]
    assert sum(r["warnings"] for r in inline[0]) > 0 and sum(r["rows"] for r in inline[1]) == 45


def test_a_bad_setting_is_named(monkeypatch):
    monkeypatch.setenv("TRANSFORM_PROCESSES", "two")
    with pytest.raises(Exception, match="TRANSFORM_PROCESSES='two'"):
        step.transform_processes()
