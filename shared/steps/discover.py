"""Discovery: which of the catalogue's objects the source has, and the waves to load them in."""

from __future__ import annotations

import asyncio

from .. import objects as catalogue_mod
from ..sources import open_source
from .common import run_config



async def discover(payload: dict) -> dict:
    """Which of the catalogue's objects this source has, and the waves to load them in."""
    run = run_config(payload)
    specs = catalogue_mod.catalogue(run.source)
    def look() -> dict[str, bool]:  # blocking: files or the tenant's WSDL
        source = open_source(run)
        return {name: source.has(spec) for name, spec in specs.items()}

    has = await asyncio.to_thread(look)
    present = [n for n in specs if has[n]]
    missing = [s.file for n, s in specs.items() if not has[n] and s.required]
    if missing:
        raise ValueError(f"the source lacks required files: {', '.join(missing)} (in {run.input})")
    if run.only:
        wanted: set[str] = set()
        stack = list(run.only)
        while stack:
            n = stack.pop()
            if n in wanted or n not in specs:
                continue
            wanted.add(n)
            stack.extend(specs[n].depends_on)
        present = [n for n in present if n in wanted]
    return {"objects": present, "waves": catalogue_mod.waves(specs, present)}
