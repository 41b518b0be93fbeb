"""Discovery: what the source has, what the run leaves out, and whether the run can work at all.

Everything a person must fix is found here, before anything moves, and reported at once in one
message: a required export file missing or empty, a setting an object needs (documents need
``SHAREPOINT_SITE_URL``), a target that cannot be reached or refuses the credential, a default owner
who is not an active user. Optional files that are missing or empty are not errors: their objects
are left out and the report's discovery section names them. Objects the run skips (``--skip``, and
whatever depends on them) are listed as skipped with the reason.

Findings go to ``discovery.json`` in staging as they are made (with the time of every attempt: the
report says when the run started and how often it was resumed, and a run that fails here still has a
report saying what was found); the step returns only object names and waves.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Callable

from .. import objects as catalogue_mod
from ..dataverse.keys import key_literal
from ..errors import InputError, SettingsError
from ..objects import ObjectSpec
from ..run import RunConfig
from ..sources import open_source
from . import documents
from .common import dataverse, run_config, staging_for
from .owners import DEFAULT_OWNER_INACTIVE

DISCOVERY = "discovery.json"


#: activity -> the settings problems of the objects it loads (besides Dataverse, which every run needs)
SETTINGS_CHECKS: dict[str, Callable[[RunConfig], list[str]]] = {"transfer_documents": documents.check_settings}


async def discover(payload: dict) -> dict:
    """Which objects this run migrates, in which waves; what it found and left out goes to staging."""
    run = run_config(payload)
    st = staging_for(run)
    specs = catalogue_mod.catalogue(run.source)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")

    earlier = st.read_json(DISCOVERY) if st.exists(DISCOVERY) else {}
    doc: dict = {"started": earlier.get("started", now), "attempts": [*earlier.get("attempts", []), now]}

    def record(**more) -> None:  # as it goes: the report of a run that fails here shows how far it got
        doc.update(more)
        st.write_json(DISCOVERY, doc)

    def look() -> dict[str, str]:  # blocking: files or the tenant's WSDL
        source = open_source(run)
        return {name: source.presence(spec) for name, spec in specs.items()}

    record()
    presence = await asyncio.to_thread(look)
    record(found=[{"object": n, "file": s.file, "presence": presence[n], "required": s.required}
                  for n, s in specs.items()])
    unusable = [f"{s.file} is {'missing' if presence[n] == 'absent' else 'empty (0 bytes)'}"
                for n, s in specs.items() if s.required and presence[n] != "present"]
    if unusable:
        raise InputError(f"the source {run.input} cannot be migrated: {'; '.join(unusable)}; export these "
                         "files again (every WORKetc export has them) or check --input")
    skipped = skipped_objects(specs, run.skip)
    if run.source not in documents.OPENERS:  # e.g. work4all's GraphQL API: no file download to copy from
        skipped.update({n: f"the source {run.source} cannot provide document binaries: migrate them from an export"
                        for n, s in specs.items() if s.load_activity == "transfer_documents" and n not in skipped})
    wanted = _with_dependencies(specs, run.only) if run.only else set(specs)
    names = [n for n in specs if presence[n] == "present" and n not in skipped and n in wanted]
    problems = [p for activity, check in SETTINGS_CHECKS.items()
                if any(specs[n].load_activity == activity for n in names) for p in check(run)]
    problems += await _target_problems(run)
    if problems:
        raise SettingsError("; ".join(problems))
    record(objects=names, skipped=skipped)
    return {"objects": names, "waves": catalogue_mod.waves(specs, names)}


def skipped_objects(specs: dict[str, ObjectSpec], skip: list[str]) -> dict[str, str]:
    """Object -> why the run leaves it out: named by ``--skip``, or depending on one that is.

    A dependent goes too: loading contacts without their companies would hang them all on the
    placeholder account, which nobody asked for."""
    reasons = {name: "skipped by --skip" for name in skip}
    changed = True
    while changed:
        changed = False
        for name, spec in specs.items():
            parent = next((d for d in spec.depends_on if d in reasons), None)
            if parent and name not in reasons:
                reasons[name] = f"skipped by --skip: depends on {parent}"
                changed = True
    return reasons


def _with_dependencies(specs: dict[str, ObjectSpec], only: list[str]) -> set[str]:
    wanted: set[str] = set()
    stack = list(only)
    while stack:
        n = stack.pop()
        if n not in wanted:
            wanted.add(n)
            stack.extend(specs[n].depends_on)
    return wanted


async def _target_problems(run: RunConfig) -> list[str]:
    """Reach the target with the run's credential; check the default owner is an active user.

    An unreachable host, a refused credential or a missing application user raise from the client as
    SettingsError / AccessError with their own message (``shared.dataverse.client``)."""
    async with dataverse(run) as dv:
        await dv.request("GET", "WhoAmI")
        if not run.default_owner_email:
            return []
        email = run.default_owner_email.strip().lower()
        found = [u async for u in dv.get_all(
            "systemusers", select=["systemuserid"],
            filter=f"internalemailaddress eq {key_literal(email)} and isdisabled eq false", page_size=1)]
    return [] if found else [DEFAULT_OWNER_INACTIVE]
