"""The owner gate: no record is loaded with a guessed owner unless a person said so.

After the owners object has been matched (``owners.resolve_owners``), every owner e-mail the records
name (counted per object while the source was profiled) is looked up among the active Dynamics 365
users. Those without one are the queue: ``report/owner_queue.csv`` (e-mail, name, records per object,
reason), which the administrator works through. The orchestrator waits on ``OwnersResolved``; each
event re-reads the users (``recheck``), and ``use_default_owner`` records a person's decision that
the rest get the run's default owner.
"""

from __future__ import annotations

from datetime import datetime, timezone

from .. import objects as catalogue_mod
from ..problems import csv_text
from .common import run_config, staging_for
from .mapping import OWNER_RECORDS
from .owners import dynamics_users, resolve_owners

OWNERS = "owners.json"
QUEUE_COLUMNS = ("email", "name", "records", "objects", "reason")


async def owner_gate(payload: dict) -> dict:
    """``{"run", "recheck": bool, "use_default_owner": bool, "by"}`` -> ``{"unmatched": n, "matched": m}``."""
    run = run_config(payload)
    st = staging_for(run)
    specs = catalogue_mod.catalogue(run.source)
    owner_object = next((s.name for s in specs.values() if s.pipeline == "owners"), None)
    if payload.get("recheck") and owner_object:  # the administrator provisioned users: match again
        st.delete(OWNERS)
        await resolve_owners({"run": payload["run"], "object": owner_object})
    doc = st.read_json(OWNERS) if st.exists(OWNERS) else {"owners": {}, "queue": [], "default_owner": None}
    records: dict[str, dict[str, int]] = st.read_json(OWNER_RECORDS) if st.exists(OWNER_RECORDS) else {}
    listed = {q["email"]: q for q in doc["queue"] if q.get("email")}
    unknown = [e for e in records if e not in doc["owners"] and e not in listed]
    if unknown:  # owners the records name that the source's user list does not: match them too
        active, _ = await dynamics_users(run)
        for email in unknown:
            if email in active:
                doc["owners"][email] = active[email]["id"]
            else:
                listed[email] = {"email": email, "name": None,
                                 "reason": "not in the source's user list, and no active Dynamics 365 user has "
                                           "this e-mail as internalemailaddress"}
    queue = [{**q, "records": sum(records.get(e, {}).values()),
              "objects": ",".join(f"{o}:{n}" for o, n in sorted(records.get(e, {}).items()))}
             for e, q in listed.items()]
    queue.sort(key=lambda q: (-q["records"], q["email"]))
    doc["gate_queue"] = len(queue)
    if payload.get("use_default_owner"):
        doc["default_owner_decision"] = {"by": payload.get("by") or "administrator",
                                         "at": datetime.now(timezone.utc).isoformat(), "queued": len(queue)}
    st.write_json(OWNERS, doc)
    st.write_bytes("report/owner_queue.csv", csv_text(QUEUE_COLUMNS, queue).encode("utf-8"))
    return {"unmatched": len(queue), "matched": len(doc["owners"])}

