"""Extraction through WORKetc's SOAP API in slices: each slice asks for the page its continuation points
at (``skip``), so later slices do not page through the earlier records again, and the result is the
one-call result."""

from __future__ import annotations

import csv

import pytest

from shared.run import RunConfig
from shared.staging import open_staging, read_chunk, read_manifest
from shared.steps.extract import extract_object
from tests.worketc_soap.conftest import PASSWORD, emulator  # noqa: F401 - fixture


@pytest.fixture
def tenant(emulator, monkeypatch, tmp_path):  # noqa: F811
    from emulators.sample_worketc import generate

    generate(tmp_path / "export", companies=40, seed=3)
    url, app = emulator(export=tmp_path / "export")
    users = list(csv.DictReader((tmp_path / "export" / "users.csv").open(encoding="utf-8-sig", newline="")))
    email = next(u["Email"] for u in users if u["Email"] and u.get("Active", "").lower() in ("true", "yes", "1"))
    for name, value in {"WORKETC_EMAIL": email, "WORKETC_PASSWORD": PASSWORD, "WORKETC_RATE_PER_SECOND": "0",
                        "WORKETC_PAGE_SIZE": "4"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("WORKETC_EXPORT_DIR", raising=False)
    return f"{url}/xml?wsdl", app


async def _extract(tenant_url: str, staging, **kw) -> tuple[list[dict], dict, list[dict]]:
    run = RunConfig(run_id="soap-slices", source="worketc-soap", input=tenant_url,
                    target="https://contoso.crm.dynamics.com", staging=str(staging), chunk_size=10, **kw)
    calls = [await extract_object({"run": run.model_dump(), "object": "company"})]
    while not calls[-1].get("done", True):
        calls.append(await extract_object({"run": run.model_dump(), "object": "company", "slice": len(calls)}))
    st = open_staging(str(staging), prefix=run.prefix)
    rows = [r for c in read_manifest(st, "objects/company/extract").chunks for r in read_chunk(st, c.name, c.sha256)]
    return calls, st.read_json("objects/company/extract.json"), rows


async def test_soap_slices_resume_at_their_page(tenant, tmp_path, monkeypatch):
    url, app = tenant
    _, whole, whole_rows = await _extract(url, tmp_path / "whole")
    pages_whole = sum(n for op, n in app.state.worketc.calls.items() if op != "Login" and "Authenticate" not in op)
    app.state.worketc.calls.clear()
    monkeypatch.setenv("EXTRACT_SLICE_ROWS", "10")
    calls, sliced, rows = await _extract(url, tmp_path / "sliced")
    pages = sum(n for op, n in app.state.worketc.calls.items() if op != "Login" and "Authenticate" not in op)
    assert len(calls) >= whole["source"] // 10 >= 3
    assert [(r["EntityID"], r["_record"]) for r in rows] == [(r["EntityID"], r["_record"]) for r in whole_rows]
    assert (sliced["source"], sliced["staged"], sliced["rejected"]) == (whole["source"], whole["staged"],
                                                                       whole["rejected"])
    # each slice reads its own pages (plus the one that tells the end): not the ones before it again
    assert pages <= pages_whole + 2 * len(calls)
