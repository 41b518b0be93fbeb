"""Reconciliation of one object: source == loaded + rejected."""

from __future__ import annotations

import logging
from collections import Counter

from ..problems import Problem
from .common import (effective_spec, obj_path, problems_from, run_config, spec_of,
                     staging_for)

log = logging.getLogger("migration")


async def reconcile_object(payload: dict) -> dict:
    """Count what happened to every source row of one object: source == loaded + rejected."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    extract = st.read_json(obj_path(spec, "extract.json"))
    rejects = problems_from(extract.get("rejects"))
    warnings: list[Problem] = []
    created = updated = unchanged = 0
    loaded_keys: list[str] = []
    unmatched = Counter()
    staged = extract["staged"]

    if spec.pipeline == "records":
        for chunk in extract["chunks"]:
            part = chunk["name"].rsplit("/", 1)[-1].split(".")[0]
            t = st.read_json(obj_path(spec, "transform", f"{part}.json"))
            rejects += problems_from(t["rejects"])
            warnings += problems_from(t["warning_rows"])
            unmatched.update(t.get("unmatched_owners") or {})
            if not t["chunk"]:
                continue
            loaded_doc = st.read_json(obj_path(spec, "load", f"{part}.json"))
            warnings += problems_from(loaded_doc.get("warnings"))
            for o in loaded_doc["outcomes"]:
                if o["status"] == "rejected":
                    rejects.append(Problem(spec.name, o["key"], "load", o["code"] or "rejected",
                                           o["message"] or "", file=spec.file, row=o.get("row")))
                else:
                    created += o["status"] == "created"
                    updated += o["status"] == "updated"
                    unchanged += o["status"] == "unchanged"
                    loaded_keys.append(o["key"])
        loaded = created + updated + unchanged
    else:  # owners, custom fields, configuration, inventories: their step wrote result.json
        doc = st.read_json(obj_path(spec, "result.json"))
        rejects += problems_from(doc["problems"])
        loaded = doc["loaded"]

    tables = ", ".join(effective_spec(st, spec).tables)
    report = {
        "object": spec.name, "table": tables or None, "source": extract["source"], "staged": staged,
        "loaded": loaded, "created": created, "updated": updated, "unchanged": unchanged, "rejected": len(rejects),
        "warnings": len(warnings), "unmatched_owners": dict(unmatched),
    }
    report["balanced"] = report["source"] == report["loaded"] + report["rejected"]
    st.write_json(obj_path(spec, "loaded_keys.json"), loaded_keys)
    st.write_json(obj_path(spec, "problems.json"), {"rejects": [p.to_dict() for p in rejects],
                                                "warnings": [p.to_dict() for p in warnings]})
    st.write_json(obj_path(spec, "report.json"), report)
    if not report["balanced"]:
        log.error("reconciliation does not balance", extra={"report": report})
    return report
