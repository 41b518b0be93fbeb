"""E-mails keep their sender and recipients as activity parties (Dataverse's model of e-mail): bound to
the migrated contact, account or user with that address, else kept as the bare address."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from .conftest import make_env, migrate, run_config

EXPAND = "email_activity_parties($select=participationtypemask,addressused,_partyid_value)"


def read_csv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


async def test_ticket_messages_and_email_activities_carry_their_parties(monkeypatch, sample_export, tmp_path):
    export = tmp_path / "export"
    shutil.copytree(sample_export, export)
    shutil.copy(sample_export.parent / "provisioned_users.json", tmp_path / "provisioned_users.json")
    user = json.loads((tmp_path / "provisioned_users.json").read_text())[0]["internalemailaddress"]
    contacts = read_csv(export / "contacts.csv")
    contact = next(c for c in contacts if c["Email"] and "@" in c["Email"] and " " not in c["Email"]
                   and c["Email"].count("@") == 1 and c["CompanyID"])
    messages = read_csv(export / "ticket_messages.csv")
    messages[0]["FromAddress"], messages[0]["ToAddress"] = contact["Email"].upper(), f"{user}; cc@else.example"
    write_csv(export / "ticket_messages.csv", messages)
    env = await make_env(monkeypatch, export)
    run = run_config(export, str(tmp_path / "s"), run_id="parties", only=["ticket_message", "activity"])
    assert (await migrate(run))["status"] == "completed"

    ids = {c["wtc_sourceid"]: c["contactid"] for c in await env.rows("contacts", "contactid,wtc_sourceid")}
    user_id = (await env.rows("systemusers", "systemuserid", f"internalemailaddress eq '{user}'"))[0]["systemuserid"]
    emails = {}
    doc = await env.get("emails", **{"$select": "wtc_sourceid,activityid", "$expand": EXPAND})
    for e in doc["value"]:
        emails[e["wtc_sourceid"]] = {(p["participationtypemask"], p["_partyid_value"], p["addressused"])
                                     for p in e["email_activity_parties"]}
    first = emails[f"msg-{messages[0]['EntityID']}"]
    assert first == {(1, ids[contact["EntityID"]], contact["Email"].lower()), (2, user_id, user.lower()),
                     (2, None, "cc@else.example")}
    for m in messages[1:]:
        assert sorted(p[0] for p in emails[f"msg-{m['EntityID']}"]) == [1, 2]
        assert {p[2] for p in emails[f"msg-{m['EntityID']}"]} == {m["FromAddress"].lower(), m["ToAddress"].lower()}
    activity_emails = [a for a in read_csv(export / "activities.csv") if a["Type"] == "Email"]
    assert activity_emails
    for a in activity_emails:  # the owner is always a party (sender of outgoing, recipient of incoming)
        parties = emails[a["EntityID"]]
        owner_mask = 1 if a["Direction"] == "Outgoing" else 2
        assert any(mask == owner_mask and (pid or address) for mask, pid, address in parties), (a, parties)
