"""Owners: the source's users -> Dynamics 365 users by e-mail."""

from __future__ import annotations


from ..problems import Problem
from ..staging import read_chunk, read_manifest
from .common import (dataverse, obj_path, run_config, spec_of, staging_for)



async def resolve_owners(payload: dict) -> dict:
    """WORKetc users -> Dynamics 365 users by e-mail (``internalemailaddress``).

    The product never creates users: an administrator provisions them. A user with no active match
    goes to the reconciliation queue and the records they own get the run's default owner.
    """
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    if st.exists("owners.json"):
        return _owner_summary(st.read_json("owners.json"))
    async with dataverse(run) as dv:
        active: dict[str, dict] = {}
        disabled: set[str] = set()
        async for u in dv.get_all("systemusers", select=["systemuserid", "internalemailaddress", "fullname",
                                                         "isdisabled"]):
            email = (u.get("internalemailaddress") or "").strip().lower()
            if not email:
                continue
            if u.get("isdisabled"):
                disabled.add(email)
            else:
                active[email] = {"id": u["systemuserid"], "fullname": u.get("fullname")}
    owners: dict[str, str] = {}
    queue: list[dict] = []
    problems: list[dict] = []
    matched = 0
    for chunk in read_manifest(st, obj_path(spec, "extract")).chunks:
        for row in read_chunk(st, chunk.name, chunk.sha256):
            email = (row.get("Email") or "").strip().lower()
            hit = active.get(email)
            if hit:
                owners[email] = hit["id"]
                matched += 1
                continue
            why = ("the Dynamics 365 user with this e-mail is disabled" if email in disabled
                   else "no Dynamics 365 user has this e-mail as internalemailaddress")
            queue.append({"email": email or None, "name": row.get("Name"), "source_id": row.get("EntityID"),
                          "reason": why})
            problems.append(Problem(spec.name, row.get("EntityID"), "owners", "owner_not_provisioned",
                                    f"{why}; queued for the administrator, their records get the default owner",
                                    file=row.get("_file"), row=row.get("_row"), field="Email",
                                    value=email or None).to_dict())
    default_owner = None
    if run.default_owner_email:
        default_owner = active.get(run.default_owner_email.strip().lower(), {}).get("id")
        if default_owner is None:
            raise ValueError(f"the default owner {run.default_owner_email} is not an active Dynamics 365 user")
    doc = {"owners": owners, "default_owner": default_owner, "queue": queue, "problems": problems,
           "matched": matched}
    st.write_json("owners.json", doc)
    st.write_json(obj_path(spec, "result.json"), {"loaded": matched, "problems": problems})
    return _owner_summary(doc)


def _owner_summary(doc: dict) -> dict:
    return {"matched": doc["matched"], "unmatched": len(doc["queue"])}
