"""Fixtures of the mapping tests: target metadata (tables.yaml), a small sample WORKetc export and its
profiles, and the catalogue's defaults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shared.mapping import TableProfile, TargetTable, defaults_from_spec, mappable, profile_rows
from shared.objects import catalogue
from shared.sources.worketc import csv_export

DATA = Path(__file__).parent


def load_tables() -> dict[str, TargetTable]:
    raw = yaml.safe_load((DATA / "tables.yaml").read_text(encoding="utf-8"))
    return {t: TargetTable.from_dict({"logical_name": t, "columns": cols}) for t, cols in raw.items()}


@pytest.fixture(scope="session")
def tables() -> dict[str, TargetTable]:
    return load_tables()


@pytest.fixture(scope="session")
def export(tmp_path_factory) -> Path:
    """A deterministic WORKetc sample export with realistic dirt (emulators/sample_worketc.py)."""
    out = tmp_path_factory.mktemp("export")
    subprocess.run([sys.executable, "-m", "emulators.sample_worketc", "--out", str(out), "--companies", "60",
                    "--seed", "7"], check=True, capture_output=True, cwd=Path(__file__).resolve().parents[2])
    return out


@pytest.fixture(scope="session")
def worketc_items(export, tables) -> list[tuple]:
    """(defaults, profile) of every WORKetc object a column map shapes and whose table tables.yaml has."""
    items = []
    for spec in catalogue("worketc-csv").values():
        if mappable(spec) and spec.table in tables:
            profile = profile_rows(csv_export.read_table(export, spec.file))
            items.append((defaults_from_spec(spec, contract=csv_export.COLUMNS[spec.file]), profile))
    return items


@pytest.fixture(scope="session")
def worketc_profiles(worketc_items) -> dict[str, TableProfile]:
    return {d.name: p for d, p in worketc_items}
