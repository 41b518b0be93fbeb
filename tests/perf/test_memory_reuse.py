"""shared/memory.py: freed chunk memory stays with the process and is reused, without a page fault a page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# a chunk's records encoded as the staging codec encodes them (orjson), kept until written, freed; then the
# next chunk: the minor page faults that one takes
PROBE = """
import json, resource, sys
sys.path.insert(0, {root!r})
from shared.memory import keep_freed_memory
from shared.staging import codec
kept = keep_freed_memory() if {keep} else False
rows = [{{"key": f"P{{i}}", "body": {{f"column{{c}}": f"value {{c}}" for c in range(14)}}, "row": i}} for i in range(5000)]
x = [codec.dumps_bytes(r) for r in rows]; del x
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
x = [codec.dumps_bytes(r) for r in rows]; del x
print(json.dumps({{"kept": kept, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}}))
"""


def _probe(keep: bool, env: dict | None = None) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE.format(root=str(ROOT), keep=keep)], capture_output=True,
                         text=True, check=True, env={**os.environ, **(env or {})})
    return json.loads(out.stdout)


def test_a_chunk_allocated_again_reuses_the_pages_the_last_one_freed():
    default, kept = _probe(False), _probe(True)
    assert kept["kept"] is True
    assert default["faults"] > 1000  # given back and taken again, page by page
    assert kept["faults"] < default["faults"] / 10


def test_glibc_setting_in_the_environment_is_left_as_it_is():
    assert _probe(True, {"MALLOC_TRIM_THRESHOLD_": "131072"})["kept"] is False
