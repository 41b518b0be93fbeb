"""--sample N: extraction stages a connected sample (at most N rows per records object, every reference
to a parent in the parents' sample, spread over the parents) and counts the rest ``sampled_out``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from shared.errors import InputError
from shared.run import RunConfig
from shared.staging import open_staging
from shared.steps.common import staged_rows
from shared.steps.extract import extract_object
from shared.objects.worketc import COMPANY, CONTACT


def write(folder: Path, name: str, rows: list[dict]) -> None:
    with (folder / name).open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


@pytest.fixture
def export(tmp_path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    write(folder, "companies.csv", [{"EntityID": str(i), "Name": f"C{i}"} for i in range(1, 7)])
    # company 1 has many contacts first; one contact points at a company outside the sample, one at none
    contacts = [{"EntityID": f"p{i}", "LastName": "L", "CompanyID": "1"} for i in range(1, 5)]
    contacts += [{"EntityID": "p5", "LastName": "L", "CompanyID": "6"},
                 {"EntityID": "p6", "LastName": "L", "CompanyID": ""},
                 {"EntityID": "p7", "LastName": "L", "CompanyID": "2"},
                 {"EntityID": "p7", "LastName": "dup", "CompanyID": "2"}]
    write(folder, "contacts.csv", contacts)
    write(folder, "users.csv", [{"EntityID": "1", "Name": "U", "Email": "u@x.com", "Role": "", "Active": "Yes"}])
    return folder


def run_of(export: Path, tmp_path: Path, sample: int | None) -> RunConfig:
    return RunConfig(run_id="sample", input=str(export), target="https://contoso.crm.dynamics.com",
                     staging=str(tmp_path / "staging"), sample=sample)


async def extract(run: RunConfig, spec) -> dict:
    return await extract_object({"run": run.model_dump(), "object": spec.name})


async def test_a_sample_is_connected_spread_and_counted(export, tmp_path):
    run = run_of(export, tmp_path, 3)
    companies = await extract(run, COMPANY)
    assert (companies["source"], companies["staged"], companies["rejected"], companies["sampled_out"]) == (6, 3, 0, 3)
    contacts = await extract(run, CONTACT)
    st = open_staging(run.staging, prefix=run.prefix)
    assert [r["EntityID"] for r in staged_rows(st, COMPANY)] == ["1", "2", "3"]
    # one per parent first (p1 of company 1, p6 without a company, p7 of company 2), in source order
    assert [r["EntityID"] for r in staged_rows(st, CONTACT)] == ["p1", "p6", "p7"]
    # the duplicate p7 is rejected as in any run; the rest are left out, not rejected
    assert (contacts["source"], contacts["staged"], contacts["rejected"], contacts["sampled_out"]) == (8, 3, 1, 4)


async def test_a_sample_fills_up_with_the_next_rows_of_the_same_parents(export, tmp_path):
    run = run_of(export, tmp_path, 5)
    await extract(run, COMPANY)
    await extract(run, CONTACT)
    st = open_staging(run.staging, prefix=run.prefix)
    assert [r["EntityID"] for r in staged_rows(st, CONTACT)] == ["p1", "p2", "p3", "p6", "p7"]


async def test_staging_extracted_whole_is_not_passed_off_as_a_sample(export, tmp_path):
    await extract(run_of(export, tmp_path, None), COMPANY)
    with pytest.raises(InputError, match=r"company was extracted whole .* asks for as a sample of 3 rows .*--fresh"):
        await extract(run_of(export, tmp_path, 3), COMPANY)


def test_a_sample_run_has_an_id_of_its_own():
    assert RunConfig.derive_run_id("worketc-csv", "/x", "https://a") == RunConfig.derive_run_id(
        "worketc-csv", "/x", "https://a", None)
    assert RunConfig.derive_run_id("worketc-csv", "/x", "https://a", 5) != RunConfig.derive_run_id(
        "worketc-csv", "/x", "https://a")
