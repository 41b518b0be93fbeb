"""work4all runs in-process: W1's dirty German sample export (emulators.sample_work4all) through the same
orchestrators, loader, gates and reports as WORKetc, into the Dataverse emulator (tests/integration helpers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulators import sample_work4all
from shared.run import RunConfig
from tests.integration.conftest import TARGET

SEED = 3


@pytest.fixture(scope="session")
def w4a_export(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("work4all")
    sample_work4all.generate(root / "export", seed=SEED)
    return root / "export"


@pytest.fixture(scope="session")
def dirt(w4a_export) -> dict:
    """What the sample holds on purpose (which codes carry which dirt, counts per table)."""
    return json.loads((w4a_export.parent / "expected_dirt.json").read_text(encoding="utf-8"))


def w4a_config(export: Path, staging: str, **kw) -> RunConfig:
    """A run straight through its gates (map approved as proposed, unknown owners get the default owner)
    unless a test says otherwise."""
    kw = {"auto_approve": True, "owners": "use-default", **kw}
    return RunConfig(run_id=kw.pop("run_id", "w4a-run"), source=kw.pop("source", "work4all-export"),
                     input=str(export), target=TARGET, staging=staging, **kw)
