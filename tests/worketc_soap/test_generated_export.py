"""SOAP extraction over the sample generator's export (with its dirt) equals the CSV reader's rows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.sources.worketc.csv_export import read_table
from shared.sources.worketc.operations import DEFAULT_OPERATIONS

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not (ROOT / "emulators" / "sample_worketc.py").exists(),
                                reason="the sample generator is not there")


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wtc") / "export"
    subprocess.run([sys.executable, "-m", "emulators.sample_worketc", "--out", str(out), "--companies", "40",
                    "--seed", "11"], cwd=ROOT, check=True, capture_output=True)
    return out


def _content(r: dict) -> dict:
    """A row without its position (an API listing and a file order records differently)."""
    return {k: v for k, v in r.items() if k not in ("_row", "_record")}


def _key(r: dict) -> tuple:
    return tuple(str(r.get(k)) for k in ("EntityID", "ProjectType", "Stage", "Object", "Label"))


def test_generated_export_through_soap_equals_csv(emulator, client_for, generated):
    url, _ = emulator(generated, page_size=50)
    users = list(read_table(generated, "users.csv"))
    active = next(u for u in users if (u.get("Active") or "").lower() in ("yes", "true", "1"))
    c = client_for(url, email=active["Email"], page_size=50)
    problems = []
    for obj, spec in DEFAULT_OPERATIONS.items():
        if spec.operation is None:
            continue
        soap = sorted((_content(r) for r in c.extract(obj)), key=_key)
        csv_rows = sorted((_content(r) for r in read_table(generated, f"{obj}.csv") if "_error" not in r), key=_key)
        if soap != csv_rows:
            diffs = [(s, r) for s, r in zip(soap, csv_rows) if s != r][:2]
            problems.append(f"{obj}: {len(soap)} soap vs {len(csv_rows)} csv; first diffs {diffs}")
    assert not problems, "\n".join(problems)
