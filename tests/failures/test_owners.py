"""Users without a Dynamics 365 user are queued for the administrator, not rejected; a user without
an e-mail is rejected with that reason; the object balances as source == loaded + rejected + queued."""

from __future__ import annotations

import asyncio
import csv
import io
import json

from shared.staging import write_chunks
from shared.steps.owners import resolve_owners
from shared.steps.reconcile import reconcile_object
from shared.steps.report import final_report

from .staged import new_run


def test_unprovisioned_users_are_queued_not_rejected(environment, export, tmp_path):
    provisioned = json.loads((export.parent / "provisioned_users.json").read_text())[0]["internalemailaddress"]
    run, st = new_run(tmp_path)
    users = [{"_file": "users.csv", "_row": 2, "EntityID": "1", "Name": "Known", "Email": provisioned},
             {"_file": "users.csv", "_row": 3, "EntityID": "2", "Name": "New Hire",
              "Email": "new.hire@customer.example"},
             {"_file": "users.csv", "_row": 4, "EntityID": "3", "Name": "No Mail", "Email": None}]
    manifest = write_chunks(st, "objects/user/extract", users, object_name="user")
    st.write_json("objects/user/extract.json", {"object": "user", "source": 3, "staged": 3, "rejected": 0,
                                                "rejects": [], "chunks": [c.model_dump() for c in manifest.chunks]})
    job = {"run": run.model_dump(), "object": "user"}
    summary = asyncio.run(resolve_owners(job))
    assert summary == {"matched": 1, "queued": 1, "rejected": 1}
    report = asyncio.run(reconcile_object(job))
    assert (report["source"], report["loaded"], report["unchanged"], report["rejected"], report["queued"]) == \
        (3, 1, 1, 1, 1)
    assert report["balanced"] and "@" not in json.dumps(report)
    [reject] = st.read_json("objects/user/problems.json")["rejects"]
    assert (reject["source_id"], reject["code"], reject["field"], reject["line"]) == ("3", "missing_email", "Email", 4)

    asyncio.run(final_report({"run": run.model_dump(), "objects": ["user"]}))
    queue = list(csv.DictReader(io.StringIO(st.read_bytes("report/owner_queue.csv").decode())))
    assert [(q["email"], q["name"]) for q in queue] == [("new.hire@customer.example", "New Hire")]
    assert st.read_json("report/report.json")["totals"]["queued"] == 1
