"""Non-record objects: configuration documents later objects read, and inventories for the administrator."""

from __future__ import annotations


from .common import (once, run_config, spec_of, staging_for)



async def build_config(payload: dict) -> dict:
    """A configuration object (e.g. project types and stage weights) -> a document later objects read."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])

    def make(rows: list[dict]) -> tuple[dict, list]:
        config, rejects = spec.configure(rows)
        return {"config": config}, rejects

    doc = once(staging_for(run), spec, "transform", make)
    return {"loaded": doc["loaded"], "rejected": len(doc["problems"])}


async def write_inventory(payload: dict) -> dict:
    """An object that is not migrated but inventoried (workflows): report files for the administrator."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)

    def make(rows: list[dict]) -> tuple[dict, list]:
        files, rejects = spec.inventory(rows)
        for fname, text in files.items():
            st.write_bytes(f"report/{fname}", text.encode("utf-8"))
        return {"files": sorted(files)}, rejects

    doc = once(st, spec, "inventory", make)
    return {"loaded": doc["loaded"], "rejected": len(doc["problems"]), "files": doc["files"]}
