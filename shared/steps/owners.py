"""Owners: the source's users -> Dynamics 365 users by e-mail.

A user with an active Dynamics 365 user of the same e-mail is *loaded* (matched; nothing is written).
A user without one is *queued* for the administrator (``owner_queue.csv``), not rejected: nothing is
wrong with the record, someone has to provision its user; their records get the default owner
meanwhile. A user without an e-mail cannot be matched at all and is rejected with that reason.
So the user object balances as ``source == loaded + rejected + queued``.
"""

from __future__ import annotations

from ..errors import SettingsError
from ..problems import Problem
from ..staging import read_chunk, read_manifest
from .common import dataverse, obj_path, run_config, spec_of, staging_for

#: the address is the operator's own input: messages do not repeat it (they travel in run status)
DEFAULT_OWNER_INACTIVE = ("the default owner (--default-owner, default_owner_email) is not an active Dynamics 365 "
                          "user: an administrator provisions that user, or give another one")


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
    active, disabled = await dynamics_users(run)
    owners: dict[str, str] = {}
    queue: list[dict] = []
    problems: list[dict] = []
    matched = 0
    # the column holding the user's e-mail (WORKetc: Email) and, where owner columns may name a user by a
    # short sign instead (work4all: Mitarbeiter.Kuerzel), that column: declared by the object's field map
    email_field = next((f.source for f in spec.fields if f.target == "internalemailaddress"), "Email")
    alias_field = next((f.source for f in spec.fields if f.target == "nickname"), None)
    aliases: dict[str, str] = {}
    for chunk in read_manifest(st, obj_path(spec, "extract")).chunks:
        for row in read_chunk(st, chunk.name, chunk.sha256):
            email = (row.get(email_field) or "").strip().lower()
            alias = (row.get(alias_field) or "").strip().lower() if alias_field else ""
            if alias and email:
                aliases[alias] = email
            hit = active.get(email)
            if hit:
                owners[email] = hit["id"]
                matched += 1
            elif not email:
                problems.append(Problem(spec.name, row.get(spec.key_field), "owners", "missing_email",
                                        "the user has no e-mail, so no Dynamics 365 user can be matched; their "
                                        "records get the default owner", file=row.get("_file"),
                                        line=row.get("_row"), record=row.get("_record"), field=email_field).to_dict())
            else:
                why = ("the Dynamics 365 user with this e-mail is disabled" if email in disabled
                       else "no Dynamics 365 user has this e-mail as internalemailaddress")
                name = row.get("Name") if "Vorname" not in row else " ".join(filter(None, (row.get("Vorname"),
                                                                                             row.get("Name"))))
                queue.append({"email": email, "name": name, "source_id": row.get(spec.key_field),
                              "reason": why})
    default_owner = None
    if run.default_owner_email:
        default_owner = active.get(run.default_owner_email.strip().lower(), {}).get("id")
        if default_owner is None:
            raise SettingsError(DEFAULT_OWNER_INACTIVE)
    doc = {"owners": owners, "default_owner": default_owner, "queue": queue, "problems": problems,
           "matched": matched, "aliases": aliases}
    st.write_json("owners.json", doc)
    st.write_json(obj_path(spec, "result.json"), {"loaded": matched, "queued": len(queue), "problems": problems})
    return _owner_summary(doc)


async def dynamics_users(run) -> tuple[dict[str, dict], set[str]]:
    """Dynamics 365 users by e-mail (``internalemailaddress``, lower case): the active ones
    (``{"id", "fullname"}``) and the e-mails of disabled ones."""
    active: dict[str, dict] = {}
    disabled: set[str] = set()
    async with dataverse(run) as dv:
        async for u in dv.get_all("systemusers", select=["systemuserid", "internalemailaddress", "fullname",
                                                         "isdisabled"]):
            email = (u.get("internalemailaddress") or "").strip().lower()
            if not email:
                continue
            if u.get("isdisabled"):
                disabled.add(email)
            else:
                active[email] = {"id": u["systemuserid"], "fullname": u.get("fullname")}
    return active, disabled


def _owner_summary(doc: dict) -> dict:
    return {"matched": doc["matched"], "queued": len(doc["queue"]), "rejected": len(doc["problems"])}
