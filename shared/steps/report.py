"""The final report: report.json, rejects.csv, warnings.csv, owner_queue.csv and the listings."""

from __future__ import annotations


from .. import objects as catalogue_mod
from ..problems import to_csv
from ..staging import Staging
from .common import (csv_text, obj_path, run_config, staged_rows, staging_for)



async def final_report(payload: dict) -> dict:
    """Gather the objects' reconciliations into report.json, rejects.csv, warnings.csv, owner_queue.csv."""
    run = run_config(payload)
    st = staging_for(run)
    specs = catalogue_mod.catalogue(run.source)
    reports, rejects, warnings = [], [], []
    for name in payload["objects"]:
        spec = specs[name]
        reports.append(st.read_json(obj_path(spec, "report.json")))
        probs = st.read_json(obj_path(spec, "problems.json"))
        rejects += probs["rejects"]
        warnings += probs["warnings"]
    queue = _owner_queue(st, reports)
    balanced = all(r["balanced"] for r in reports)
    counts = ("source", "loaded", "created", "updated", "unchanged", "rejected", "warnings")
    files = ["report.json", "rejects.csv", "warnings.csv", "owner_queue.csv"]
    for name in payload["objects"]:
        spec = specs[name]
        if spec.listing:
            fname, columns = spec.listing
            st.write_bytes(f"report/{fname}", csv_text(columns, staged_rows(st, spec)).encode("utf-8"))
            files.append(fname)
        if spec.pipeline == "inventory":
            files += st.read_json(obj_path(spec, "result.json"))["files"]
    report = {
        "run_id": run.run_id,
        "status": "completed" if balanced else "unbalanced",
        "source": run.source,
        "target": run.target,
        "objects": [{"object": r["object"], "table": r["table"], **{k: r.get(k, 0) for k in counts},
                     **({"notes": list(specs[r["object"]].notes)} if specs[r["object"]].notes else {})}
                    for r in reports],
        "totals": {k: sum(r.get(k, 0) for r in reports) for k in counts},
        "owner_queue": len(queue),
        "files": files,
    }
    st.write_json("report/report.json", report)
    st.write_bytes("report/rejects.csv", to_csv(rejects).encode("utf-8"))
    st.write_bytes("report/warnings.csv", to_csv(warnings).encode("utf-8"))
    st.write_bytes("report/owner_queue.csv", csv_text(["email", "name", "records", "objects", "reason"], queue).encode("utf-8"))
    return {"status": report["status"], "report": "report/report.json", "totals": report["totals"]}


def _owner_queue(st: Staging, reports: list[dict]) -> list[dict]:
    """Every owner e-mail without an active Dynamics 365 user, with how many records it owns."""
    queue: dict[str, dict] = {}
    if st.exists("owners.json"):
        for q in st.read_json("owners.json")["queue"]:
            if q["email"]:
                queue[q["email"]] = {"email": q["email"], "name": q.get("name"), "reason": q["reason"], "records": 0,
                                     "objects": ""}
    for r in reports:
        for email, n in (r.get("unmatched_owners") or {}).items():
            q = queue.setdefault(email, {"email": email, "name": None, "records": 0, "objects": "",
                                         "reason": "not in the source's user list and no Dynamics 365 user"})
            q["records"] += n
            q["objects"] = ",".join(filter(None, [q["objects"], r["object"]]))
    return sorted(queue.values(), key=lambda q: (-q["records"], q["email"]))



