"""Fixtures of the review page tests: a real proposal built from the sample WORKetc export (as
tests/mapping builds one), with hostile values planted in the source rows the profile samples."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.mapping import MappingFile, TableProfile, defaults_from_spec, mappable, profile_rows, propose
from shared.objects import catalogue
from shared.sources.worketc import csv_export
from tests.mapping.conftest import load_tables

ROOT = Path(__file__).resolve().parents[2]
#: what a hostile export may hold in a company name: markup, a spreadsheet formula, a bidi override
SCRIPT = "<script>document.title='pwned';window.pwned=1</script>"
FORMULA = '=HYPERLINK("http://evil.example/x","click")'
BIDI = "Acme \u202eLtd"


@pytest.fixture(scope="session")
def proposal(tmp_path_factory) -> tuple[MappingFile, dict[str, TableProfile]]:
    export = tmp_path_factory.mktemp("review-export")
    subprocess.run([sys.executable, "-m", "emulators.sample_worketc", "--out", str(export), "--companies", "40",
                    "--seed", "7"], check=True, capture_output=True, cwd=ROOT)
    tables = load_tables()
    items = []
    for spec in catalogue("worketc-csv").values():
        if mappable(spec) and spec.table in tables:
            rows = list(csv_export.read_table(export, spec.file))
            if spec.name == "company":  # the first distinct values are the profile's samples
                rows[0]["Name"], rows[1]["Name"], rows[2]["Name"] = SCRIPT, FORMULA, BIDI
            items.append((defaults_from_spec(spec, contract=csv_export.COLUMNS[spec.file]), profile_rows(rows)))
    return propose("worketc", items, tables), {d.name: p for d, p in items}
