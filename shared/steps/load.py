"""Load: one transformed chunk -> Dataverse, every row with exactly one outcome.

Rows go to their table (one, or one per row for routed objects) by alternate key or, for tables that
cannot have one, by a GUID derived from the source id. Around that upsert:

- **E-mail activity parties** given by a bare address are bound to the migrated contact or account,
  or the active user, that has exactly that address; any other address stays as written
  (``addressused``), as Dataverse models an unresolved sender or recipient.
- **Closing.** A row with a close instruction (won/lost deal, resolved ticket, paid or canceled invoice)
  is closed after loading, the Dataverse way: a close message (WinOpportunity, LoseOpportunity,
  CloseIncident) or SetState. A close message is never resent blindly: when its answer is lost or it is
  refused, the record's state is read first, and a record already closed as asked counts as closed.
- **Closed records are read-only** in Dataverse (learn.microsoft.com/troubleshoot/dynamics-365/sales/
  troubleshoot-opportunities-issues: "To change a closed opportunity, reopen it, make your changes, and
  then close it again"; the invoice table reference: "Paid and canceled invoices are read-only and can't
  be edited unless they are reactivated"). A rerun leaves them as they are (``unchanged``) except their
  owner: once the administrator has provisioned the user the source names, the owner is corrected.
  How: first the Web API's Assign (a PATCH of ``ownerid`` alone), which Dataverse accepts on resolved
  and canceled cases by default (learn.microsoft.com/dynamics365/customer-service/administer/
  update-resolved-canceled-cases: API updates of resolved and canceled cases "is the default behavior");
  where the environment refuses it (closed opportunities, paid invoices, cases when "Case update after
  resolution" is "Don't allow updates"), the record is reopened, assigned and closed again with the same
  close instruction, so it ends closed with its original close data. Trying Assign first keeps close
  activities and dates untouched wherever the environment allows it.
- **Rows inside a closed record** (an invoice line of a paid invoice, an opportunityproduct of a won
  opportunity: ``spec.inside``): lines already there are left as they are; a new line reopens its parent,
  is written, and the parent is closed again in the state it had: by SetState, or for a record closed by a
  close message (a won opportunity) by that message again, with its close activity's subject, revenue and
  date (read before reopening). A closed opportunity is read-only: "To change a closed opportunity, reopen
  it, make your changes, and then close it again" (see above). Two chunks doing this to one parent at
  once would race, so the orchestrator loads such an object's chunks one at a time.
"""

from __future__ import annotations

import asyncio
import copy
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .. import changes
from .. import objects as catalogue_mod
from ..dataverse import loader
from ..dataverse.client import DataverseClient, DataverseError, DataverseTransientError
from ..dataverse.keys import encode_key, in_filter, key_of_ref
from ..objects import ObjectSpec
from ..problems import Problem
from ..rollback import capture as before_images
from ..staging import read_chunk
from . import delta
from .common import (dataverse, effective_spec, load_summary, obj_path, run_config,
                     spec_of, staging_for)

IN_CHUNK = 200  # values per In(...) query
#: where an e-mail party's bare address may belong: table, entity set, id, address column, which rows
#: count (migrated records have a source id; users must be active), in the order a match is preferred
PARTY_TABLES = (("systemuser", "systemusers", "systemuserid", "internalemailaddress", "isdisabled ne true"),
                ("contact", "contacts", "contactid", "emailaddress1", "{key} ne null"),
                ("account", "accounts", "accountid", "emailaddress1", "{key} ne null"))
_OWNER = re.compile(r"^/?systemusers\(([0-9a-fA-F-]{36})\)$")


@dataclass
class Closed:
    """A record that exists in Dataverse and is not open."""

    id: str
    statecode: int
    statuscode: int
    owner: str | None


#: beside a load result when Dataverse answered 429 while the chunk loaded: the worker's client and its 429
#: counter before and after (chunks loading at once share a client, so their intervals may overlap)
THROTTLED_SUFFIX = ".throttled.json"


async def load_chunk(payload: dict) -> dict:
    """Upsert one transformed chunk into Dataverse; every row gets exactly one outcome."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    chunk = payload["chunk"]
    part = chunk["name"].split("/transform/")[-1].split("/")[0]  # objects/x/transform/part-NNNNN/...
    result_name = obj_path(spec, "load", f"{part}.json")
    if st.exists(result_name):
        return load_summary(st.read_json(result_name))
    spec = effective_spec(st, spec)
    specs = catalogue_mod.catalogue(run.source)
    rows = read_chunk(st, chunk["name"], chunk.get("sha256"))
    outcomes: list = [None] * len(rows)
    warnings: list[dict] = []
    # a later pass: rows whose content hash is the one the pass before loaded are not written at all
    # (shared/changes.py, shared/steps/delta.py); changed rows of closed records are reopened and updated
    previous = delta.previous_hashes(run, spec)
    changed: set[int] = set()
    for i, r in enumerate(rows):
        change = changes.classify(r, previous)
        if change == "unchanged":
            outcomes[i] = loader.RowOutcome(r["key"], "unchanged", None,
                                            "unchanged in the source since the last pass; not written", None)
        elif change == "changed":
            changed.add(i)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        if outcomes[i] is None:
            groups.setdefault(r.get("table") or spec.table, []).append(i)
    started = datetime.now(timezone.utc).isoformat(timespec="milliseconds")  # the report's throughput chart
    async with dataverse(run) as dv:
        # what a rollback needs (shared/rollback.py), before any write: the keys and before-images of the rows to write
        await before_images(st, dv, spec, part, [rows[i] for idx in groups.values() for i in idx])
        throttled = dv.metrics.throttled  # the worker's client counts its 429s (concurrent chunks share it)
        for table, idx in groups.items():
            ref = loader.TableRef(table, catalogue_mod.entity_set(table), catalogue_mod.key_column(spec, table))
            await _bind_party_addresses(dv, spec, [rows[i] for i in idx])
            if spec.close and table not in catalogue_mod.ID_KEYED and not all(  # notes have no state
                    (rows[i].get("close") or {}).get("action") in BOUND_ACTIONS for i in idx):
                closed = await _closed_records(dv, ref, [rows[i]["key"] for i in idx])
                kept = [i for i in idx if rows[i]["key"] in closed]
                for i, (outcome, more) in zip(kept, await asyncio.gather(
                        *((_update_closed if i in changed else _keep_closed)(dv, spec, ref, rows[i],
                                                                             closed[rows[i]["key"]])
                          for i in kept))):
                    outcomes[i] = outcome
                    warnings += more
            if spec.inside:
                warnings += await _load_inside_closed(dv, spec, specs[spec.inside], ref, rows,
                                                      [i for i in idx if outcomes[i] is None], outcomes)
            idx = [i for i in idx if outcomes[i] is None]
            for i, o in zip(idx, await loader.upsert_rows(dv, ref, [rows[i] for i in idx])):
                outcomes[i] = o
            if spec.inside:  # refused because the parent was closed meanwhile (by a person, another tool)
                warnings += await _inside_again(dv, spec, specs[spec.inside], ref, rows, idx, outcomes)
            closing = [i for i in idx if rows[i].get("close") and outcomes[i].status != "rejected" and outcomes[i].id]
            warnings += [w for w in await asyncio.gather(
                *(_close(dv, spec, ref, rows[i], outcomes[i].id) for i in closing)) if w]
    if any(o is None for o in outcomes):
        raise RuntimeError(f"{spec.name} {part}: a row got no outcome")
    doc = {"outcomes": [{"key": r.get("source_key", r["key"]), "status": o.status, "code": o.code,
                         "message": o.message, "id": o.id, "row": r.get("row"), "record": r.get("record"),
                         "table": r.get("table"), "hash": r.get("hash")}
                        for r, o in zip(rows, outcomes)],
           "warnings": warnings,
           "timing": {"started": started, "ended": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                      "rows": sum(map(len, groups.values())), "client": f"{os.getpid()}:{id(dv):x}",
                      "throttled": [throttled, dv.metrics.throttled]}}  # the client's 429 counter, before and after
    if dv.metrics.throttled > throttled:  # a few bytes GET's per-object progress reads (shared/steps/progress.py)
        st.write_json(obj_path(spec, "load", f"{part}{THROTTLED_SUFFIX}"),
                      {"client": f"{os.getpid()}:{id(dv):x}:{dv.metrics.started}",
                       "throttled": [throttled, dv.metrics.throttled]})
    st.write_json(result_name, doc)
    return load_summary(doc)


def _warning(spec: ObjectSpec, row: dict, code: str | None, message: str) -> dict:
    return Problem(object=spec.name, source_id=row.get("source_key", row["key"]), stage="load",
                   code=code or "close_failed", message=message, file=spec.file, line=row.get("row"),
                   record=row.get("record")).to_dict()


# ------------------------------------------------------------------------------------ closed records


async def _closed_records(dv: DataverseClient, ref: loader.TableRef, keys: list[str]) -> dict[str, Closed]:
    """Source key -> the records among ``keys`` that exist and are not open."""
    closed: dict[str, Closed] = {}
    encoded = {encode_key(k): k for k in keys}
    enc = list(encoded)
    select = [ref.primary_id, ref.key_column, "statecode", "statuscode", "_ownerid_value"]
    for i in range(0, len(enc), IN_CHUNK):
        flt = f"{in_filter(ref.key_column, enc[i:i + IN_CHUNK])} and statecode ne 0"
        async for rec in dv.get_all(ref.entity_set, select=select, filter=flt):
            closed[encoded[rec[ref.key_column]]] = Closed(rec[ref.primary_id], rec["statecode"], rec["statuscode"],
                                                          rec.get("_ownerid_value"))
    return closed


async def _keep_closed(dv: DataverseClient, spec: ObjectSpec, ref: loader.TableRef, row: dict,
                       rec: Closed) -> tuple[loader.RowOutcome, list[dict]]:
    """A closed record stays as it is, except an owner that differs from the one the row names. A source
    that now says otherwise (open, or closed with another status reason) is warned, not followed."""
    wanted = spec.close.status(row["close"]["params"]) if row.get("close") else None
    if wanted != rec.statuscode:
        said = f"status reason {wanted}" if wanted is not None else "open"
        differs = [_warning(spec, row, "closed_in_dataverse", f"closed in Dataverse (status reason {rec.statuscode}) "
                                                              f"while the source now says {said}; left as it is: "
                                                              "reopen it in Dataverse to change it")]
    else:
        differs = []
    m = _OWNER.match(row["body"].get("ownerid@odata.bind") or "")
    owner = m.group(1).lower() if m else None
    if owner is None or owner == (rec.owner or "").lower():
        return loader.RowOutcome(row["key"], "unchanged", None, "closed in Dataverse (read-only); not updated",
                                 rec.id), differs
    outcome, warnings = await _assign_closed(dv, spec, ref, row, rec, owner)
    return outcome, differs + warnings


async def _update_closed(dv: DataverseClient, spec: ObjectSpec, ref: loader.TableRef, row: dict,
                         rec: Closed) -> tuple[loader.RowOutcome, list[dict]]:
    """A closed record whose source changed since the last pass, the Dataverse way: reopen it, update it,
    and close it again as its row now says (left open when the source reopened it). "To change a closed
    opportunity, reopen it, make your changes, and then close it again" (see the module docstring)."""
    try:
        await dv.update(ref.entity_set, rec.id, {"statecode": 0, "statuscode": spec.close.reopen_status})
    except DataverseTransientError:
        raise
    except DataverseError as e:  # rejected, so the next pass tries again
        return loader.RowOutcome(row["key"], "rejected", e.code, f"closed in Dataverse and changed in the source; "
                                                                 f"reopening it to update it was refused: {e.message}",
                                 rec.id), []
    # a transient failure from here on leaves it open: the retried activity upserts and closes it as a new row
    [outcome] = await loader.upsert_rows(dv, ref, [row])
    warning = await _close(dv, spec, ref, row, rec.id) if row.get("close") else None
    warnings = [warning] if warning else []
    if outcome.status == "rejected":
        return outcome, warnings
    said = "closed again" if row.get("close") else "left open, as the source now is"
    return loader.RowOutcome(row["key"], "updated", None, f"closed in Dataverse; reopened, updated and {said}",
                             rec.id), warnings


async def _assign_closed(dv: DataverseClient, spec: ObjectSpec, ref: loader.TableRef, row: dict, rec: Closed,
                         owner: str) -> tuple[loader.RowOutcome, list[dict]]:
    """The Web API's Assign; where a closed record refuses it, reopen, assign and close it again."""
    assign = {"ownerid@odata.bind": f"/systemusers({owner})"}
    try:
        await dv.update(ref.entity_set, rec.id, assign)  # the Web API's Assign
        return loader.RowOutcome(row["key"], "updated", None, "closed in Dataverse; owner corrected", rec.id), []
    except DataverseTransientError:
        raise
    except DataverseError as e:
        refused = e
    unchanged = loader.RowOutcome(row["key"], "unchanged", None, "closed in Dataverse; not updated", rec.id)
    if not row.get("close"):  # closed in Dataverse although the source says open: no close data to redo
        return unchanged, [_warning(spec, row, refused.code, f"closed in Dataverse, which refused the new owner "
                                                             f"({refused.message}); reopen it to assign it")]
    # reopen, assign, close again (a transient failure leaves it open: the retried activity upserts and closes it)
    try:
        await dv.update(ref.entity_set, rec.id, {"statecode": 0, "statuscode": spec.close.reopen_status})
    except DataverseTransientError:
        raise
    except DataverseError as e:
        return unchanged, [_warning(spec, row, e.code, f"closed in Dataverse, which refused the new owner "
                                                       f"({refused.message}) and reopening it ({e.message})")]
    try:
        await dv.update(ref.entity_set, rec.id, assign)
        failure = None
    except DataverseTransientError:
        raise
    except DataverseError as e:
        failure = _warning(spec, row, e.code, f"reopened to correct its owner, which Dataverse refused: {e.message}")
    warnings = [w for w in (failure, await _close(dv, spec, ref, row, rec.id)) if w]
    if failure:
        return unchanged, warnings
    return loader.RowOutcome(row["key"], "updated", None, "closed in Dataverse; reopened, owner corrected, closed "
                                                          "again", rec.id), warnings


async def _state(dv: DataverseClient, ref: loader.TableRef, rid: str) -> tuple[int, int] | None:
    rec = await dv.retrieve(ref.entity_set, rid, select=["statecode", "statuscode"], missing_ok=True)
    return (rec["statecode"], rec["statuscode"]) if rec else None


#: "close" messages bound to the record that make it usable rather than read-only: a product is created
#: as a Draft and published with PublishProductHierarchy (learn.microsoft.com/dynamics365/sales/developer/
#: publish-revise-revert-retire-activate-products); ``params`` are the state it ends in
BOUND_ACTIONS = frozenset({"PublishProductHierarchy"})


async def _bound_action(dv: DataverseClient, spec: ObjectSpec, ref: loader.TableRef, row: dict, rid: str,
                        action: str, params: dict) -> dict | None:
    """``POST <set>(<id>)/Microsoft.Dynamics.CRM.<action>`` unless the record is already in the state it
    leads to (a rerun); a warning when it fails (the row is loaded, but not usable)."""
    wanted = (params.get("statecode"), params.get("statuscode"))
    if await _state(dv, ref, rid) == wanted:
        return None
    try:
        await dv.execute_action(action, {}, entity_set=f"{ref.entity_set}({rid})", idempotent=False)
    except DataverseError as e:
        if await _state(dv, ref, rid) == wanted:
            return None
        return _warning(spec, row, e.code, f"loaded, but {action} failed: {e.message}; the record cannot be used "
                                           "until it is published")
    return None


async def _close(dv: DataverseClient, spec: ObjectSpec, ref: loader.TableRef, row: dict, rid: str) -> dict | None:
    """Close a loaded record as its row says; a warning when it cannot be closed.

    A close message is not idempotent (a second one is refused: "already resolved", "not open"), so
    it is never resent blindly: after a lost answer or a refusal the record's state decides - closed
    with the asked status reason is success, open is retried while attempts remain, anything else is
    warned. SetState is a plain PATCH and safe to resend."""
    action, params = row["close"]["action"], copy.deepcopy(row["close"]["params"])
    if action in BOUND_ACTIONS:
        return await _bound_action(dv, spec, ref, row, rid, action, params)
    wanted = spec.close.status(params)
    if action != "SetState":
        params[spec.close.activity][f"{spec.close.bind}@odata.bind"] = f"/{ref.entity_set}({rid})"
    error: DataverseError | None = None
    for attempt in range(1, dv.settings.max_attempts + 1):
        try:
            if action == "SetState":
                await dv.update(ref.entity_set, rid, params)
            else:
                await dv.execute_action(action, params, idempotent=False)
            return None
        except DataverseError as e:
            error = e
        state = await _state(dv, ref, rid)
        if state is not None and state[0] != 0:
            if state[1] == wanted:
                return None  # it took effect; only its answer was lost (or the record was closed meanwhile)
            return _warning(spec, row, error.code, f"loaded, but {action} failed: {error.message}; the record is "
                                                   f"closed with status reason {state[1]}, not {wanted}")
        if not isinstance(error, DataverseTransientError):
            break
        await asyncio.sleep(dv._backoff(attempt))
    assert error is not None
    return _warning(spec, row, error.code, f"loaded, but {action} failed: {error.message}; the record is still open")


# ------------------------------------------------------------------ rows inside a closed parent record


#: close messages by (close activity, the state a record was closed in): how a parent closed by one is closed
#: again, and the entity set of its close activities (learn.microsoft.com/power-apps/developer/data-platform/
#: webapi/reference/winopportunity, loseopportunity, closeincident)
CLOSE_AGAIN = {("OpportunityClose", 1): "WinOpportunity", ("OpportunityClose", 2): "LoseOpportunity",
               ("IncidentResolution", 1): "CloseIncident"}
CLOSE_ACTIVITY_SETS = {"OpportunityClose": ("opportunitycloses", ["subject", "actualrevenue", "actualend",
                                                                  "description"]),
                       "IncidentResolution": ("incidentresolutions", ["subject", "timespent", "actualend",
                                                                      "description"])}
_BIND_SET = re.compile(r"^/?(\w+)\(")


def _parent_bind(spec: ObjectSpec, parent: ObjectSpec, row: dict) -> tuple[str, str] | None:
    """(parent table, parent key) a row's body binds to: its declared lookup, else any bind into one of the
    parent's tables (rows whose shape hook binds them: work4all's Belegpositionen)."""
    sets = {catalogue_mod.entity_set(t): t for t in parent.tables if t not in catalogue_mod.ID_KEYED}
    lookup = next((lk for lk in spec.lookups if parent.name in lk.targets), None)
    table = row.get("table") or spec.table
    names = [f"{lookup.nav_for(table, parent.table)}@odata.bind"] if lookup else \
        [k for k in row["body"] if k.endswith("@odata.bind")]
    for name in names:
        ref = row["body"].get(name)
        m = _BIND_SET.match(ref) if isinstance(ref, str) else None
        if m and m.group(1) in sets and key_of_ref(ref):
            return sets[m.group(1)], key_of_ref(ref)
    return None


async def _load_inside_closed(dv: DataverseClient, spec: ObjectSpec, parent: ObjectSpec, ref: loader.TableRef,
                              rows: list[dict], idx: list[int], outcomes: list) -> list[dict]:
    """Rows whose parent record (``spec.inside``) is closed in Dataverse: existing ones stay as they are;
    new ones are written by reopening the parent and closing it again as it was."""
    parent_of = {i: _parent_bind(spec, parent, rows[i]) for i in idx}
    warnings: list[dict] = []
    for ptable in sorted({p[0] for p in parent_of.values() if p}):
        pref = loader.TableRef(ptable, catalogue_mod.entity_set(ptable), parent.key_column)
        members = [i for i in idx if parent_of[i] and parent_of[i][0] == ptable]
        warnings += await _inside_table(dv, spec, parent, pref, ref, rows, members,
                                        {i: parent_of[i][1] for i in members}, outcomes)
    return warnings


async def _inside_again(dv: DataverseClient, spec: ObjectSpec, parent: ObjectSpec, ref: loader.TableRef,
                        rows: list[dict], idx: list[int], outcomes: list, attempts: int = 3) -> list[dict]:
    """Rejected rows whose parent is closed now (it was open when the chunk looked, and someone closed it
    before the lines were written): the inside path again; rows whose parent is not closed keep their
    rejection. (A run's own chunks of such an object load one at a time: orchestrators/migration.py.)"""
    warnings: list[dict] = []
    for _ in range(attempts):
        refused = {i: outcomes[i] for i in idx if outcomes[i].status == "rejected" and outcomes[i].code != "transient"}
        if not refused:
            break
        for i in refused:
            outcomes[i] = None
        warnings += await _load_inside_closed(dv, spec, parent, ref, rows, list(refused), outcomes)
        for i, o in refused.items():
            if outcomes[i] is None:
                outcomes[i] = o
        if not any(outcomes[i].status != "rejected" for i in refused):
            break  # no progress: the rest are refused for their own reasons
    return warnings


async def _inside_table(dv: DataverseClient, spec: ObjectSpec, parent: ObjectSpec, pref: loader.TableRef,
                        ref: loader.TableRef, rows: list[dict], idx: list[int], parent_of: dict[int, str],
                        outcomes: list) -> list[dict]:
    closed = await _closed_records(dv, pref, sorted(set(parent_of.values())))
    inside = [i for i in idx if parent_of[i] in closed]
    if not inside:
        return []
    existing = await loader.existing_ids(dv, ref, [encode_key(rows[i]["key"]) for i in inside])
    new: dict[str, list[int]] = {}
    for i in inside:
        rid = existing.get(encode_key(rows[i]["key"]))
        if rid:
            outcomes[i] = loader.RowOutcome(rows[i]["key"], "unchanged", None,
                                            f"its {pref.logical_name} is closed in Dataverse (read-only); not updated",
                                            rid)
        else:
            new.setdefault(parent_of[i], []).append(i)
    activity = parent.close.activity if parent.close else None
    # a parent closed by a close message is closed again by it, with its close activity's data (read first:
    # reopening cancels that activity)
    again: dict[str, dict | None] = {}
    if activity in CLOSE_ACTIVITY_SETS:
        close_set, select = CLOSE_ACTIVITY_SETS[activity]
        for key in new:
            flt = f"_{parent.close.bind}_value eq {closed[key].id} and statecode eq 1"
            acts = [a async for a in dv.get_all(close_set, select=select, filter=flt)]
            again[key] = {k: v for k, v in (acts[-1] if acts else {}).items() if k in select and v is not None}

    async def set_state(key: str, statecode: int, statuscode: int) -> DataverseError | None:
        try:
            await dv.update(pref.entity_set, closed[key].id, {"statecode": statecode, "statuscode": statuscode})
            return None
        except DataverseError as e:
            return e

    async def close_again(key: str) -> DataverseError | None:
        c = closed[key]
        message = CLOSE_AGAIN.get((activity, c.statecode)) if activity else None
        if message is None:
            return await set_state(key, c.statecode, c.statuscode)
        params = {"Status": c.statuscode, activity: {**(again.get(key) or {}),
                                                     f"{parent.close.bind}@odata.bind": f"/{pref.entity_set}({c.id})"}}
        try:
            await dv.execute_action(message, params, idempotent=False)
            return None
        except DataverseError as e:
            if await _state(dv, pref, c.id) == (c.statecode, c.statuscode):
                return None  # it took effect; only its answer was lost
            return e

    reopen = dict(zip(new, await asyncio.gather(*(set_state(k, 0, parent.close.reopen_status) for k in new))))
    for key, error in reopen.items():
        for i in new[key] if error else ():
            outcomes[i] = loader.RowOutcome(rows[i]["key"], "rejected", error.code, f"its {pref.logical_name} {key!r} "
                                            f"is closed and could not be reopened to add it: {error.message}")
    members = [i for key, error in reopen.items() if not error for i in new[key]]
    try:
        for i, o in zip(members, await loader.upsert_rows(dv, ref, [rows[i] for i in members])):
            outcomes[i] = o
    finally:
        reopened = [key for key, error in reopen.items() if not error]
        errors = await asyncio.gather(*(close_again(k) for k in reopened))
    return [_warning(spec, rows[new[key][0]], e.code, f"its {pref.logical_name} {key!r} was reopened to add this row "
                                                      f"and could not be closed again: {e.message}; it is open")
            for key, e in zip(reopened, errors) if e]


# ------------------------------------------------------------------------------- e-mail activity parties


async def _bind_party_addresses(dv: DataverseClient, spec: ObjectSpec, rows: list[dict]) -> None:
    """Bind each bare-address party to the one migrated contact or account, or active user, with that
    address (``addressused`` stays: it is the address the e-mail really used)."""
    parties = [p for r in rows for name, value in r["body"].items() if name.endswith("_activity_parties")
               for p in value if "addressused" in p and not any(k.startswith("partyid_") for k in p)]
    addresses = sorted({p["addressused"].lower() for p in parties})
    if not addresses:
        return
    owners: dict[str, set[tuple[str, str, str]]] = {}
    for table, entity_set, pk, column, which in PARTY_TABLES:
        for i in range(0, len(addresses), IN_CHUNK):
            flt = f"{in_filter(column, addresses[i:i + IN_CHUNK])} and {which.format(key=spec.key_column)}"
            async for rec in dv.get_all(entity_set, select=[pk, column], filter=flt):
                owners.setdefault((rec.get(column) or "").lower(), set()).add((table, entity_set, rec[pk]))
    for p in parties:
        for table in (t[0] for t in PARTY_TABLES):  # users first: an address is a person's before a company's
            matches = [m for m in owners.get(p["addressused"].lower(), ()) if m[0] == table]
            if len(matches) == 1:
                _, entity_set, rid = matches[0]
                p[f"partyid_{table}@odata.bind"] = f"/{entity_set}({rid})"
                break
            if matches:  # two records with this address: which one is not ours to guess
                break
