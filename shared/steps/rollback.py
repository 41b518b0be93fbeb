"""Rolling a run back: the activity bodies of the ``rollback`` orchestrator.

What a run wrote is known from what the load staged beside each chunk (:mod:`shared.rollback`): the keys
of the chunk per table, and the before-images of the rows that already existed. Every other key of a
chunk is a row the run created. The rollback, each step idempotent and resumable like the load:

1. :func:`rollback_plan`: the objects with load parts, in reverse dependency order (waves reversed);
2. :func:`rollback_restore` per load part: the updated rows put back as they were (columns, lookups,
   owner; a record closed now is reopened, updated and closed again as it was). Restores run first:
   a pre-existing contact the run attached to a created account is detached before that account goes;
3. per wave, children first: :func:`rollback_documents` (SharePoint files and empty record folders, the
   ``sharepointdocumentlocation``/``sharepointsite`` rows the run created) and :func:`rollback_delete`
   per load part: rows that still point at a created row through a parental relationship and that the run
   did not create are detached, then the created rows are deleted by alternate key with ``$batch``
   (continue on error, at most 1000 per request: standard tables have no DeleteMultiple,
   https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations); a row already gone
   (404) counts as done;
4. :func:`rollback_placeholders`: the placeholder rows and migration price lists the run created;
5. :func:`rollback_schema` (``--schema`` only): the custom columns, alternate keys, key columns and custom
   tables the run's schema steps created, each only when no row holds a value in it;
6. :func:`rollback_verify`: every created key read again (residue), every restored row read again and
   compared with its before-image (before ``--schema``, which may remove the key columns);
7. :func:`rollback_report`: ``rollback/report.json`` + ``report.txt``.

Staging, under the run's prefix: ``rollback/plan.json``, ``rollback/restore/<object>/<part>.json``,
``rollback/delete/<object>/<part>.json``, ``rollback/documents.json``, ``rollback/placeholders.json``,
``rollback/schema.json``, ``rollback/report.json``, ``rollback/report.txt``; ``rollback/passes/<object>/<n>.json``
(pass ``n``'s created and existing keys: a key a later pass stages again is one row, deleted, restored and
counted once, with the earliest pass that had it).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

from .. import objects as catalogue_mod
from .. import rollback as rb
from ..dataverse import loader, schema
from ..dataverse.client import DataverseClient, DataverseError, DataverseTransientError
from ..dataverse.keys import decode_key, encode_key, in_filter
from ..errors import PermanentError
from ..objects import ObjectSpec
from ..staging import Staging, open_staging
from .common import approved_mapping, dataverse, effective_spec, obj_path, run_config, spec_of, staging_for

log = logging.getLogger("migration.rollback")

PLAN, ATTEMPT = "rollback/plan.json", "rollback/attempt.json"
REPORT, REPORT_TEXT = "rollback/report.json", "rollback/report.txt"
DETACH_CHUNK = 50  # ids per "_x_value eq ... or ..." query
FILE_DELETES = 8  # SharePoint file deletes in flight (Graph's own throttling answers are waited out by the client)
#: close messages by table: how a record the rollback reopened is closed again as it was
CLOSE_MESSAGES = {"opportunity": {1: "WinOpportunity", 2: "LoseOpportunity"}, "incident": {1: "CloseIncident"}}
CLOSE_ACTIVITY = {"opportunity": ("OpportunityClose", "opportunityid"), "incident": ("IncidentResolution", "incidentid")}
COUNTS = ("deleted", "already_gone", "restored", "already_restored", "detached", "failed")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _pass_staging(run, n: int) -> Staging:
    """Pass ``n``'s staging (shared.run.pass_prefix: ``runs/<id>/`` for the first, ``passes/<n>/`` below it
    after): a rerun or delta sync loads under its own prefix, with its own before-images."""
    return open_staging(run.staging, prefix=f"runs/{run.run_id}/" if n == 1 else f"runs/{run.run_id}/passes/{n}/")


def _passes(st: Staging) -> int:
    """How many passes the migration staged (``passes/<n>/pass.json`` after the first)."""
    n = 1
    while st.exists(f"passes/{n + 1}/pass.json"):
        n += 1
    return n


def _part(payload: dict) -> tuple[int, str, str]:
    """``"<pass>:<part>"`` -> (pass, part, the name its rollback results are staged under)."""
    n, part = payload["part"].split(":", 1)
    return int(n), part, f"{n}-{part}"


def _parts(st: Staging, spec: ObjectSpec) -> list[str]:
    """The object's load parts (``part-NNNNN``) that have a before-image or an outcome file."""
    names = st.list(obj_path(spec, "load") + "/")
    parts = {n.rsplit("/", 1)[-1].split(".", 1)[0] for n in names
             if n.endswith(rb.BEFORE_SUFFIX) or (n.endswith(".json") and n.count(".") == 1)}
    return sorted(p for p in parts if p.startswith("part-"))


# ------------------------------------------------------------------------------------------- plan


async def rollback_plan(payload: dict) -> dict:
    """Which objects and load parts to roll back, in reverse dependency order."""
    run = run_config(payload)
    st = staging_for(run)
    if not st.exists("discovery.json"):
        raise PermanentError(f"run {run.run_id} has nothing staged in {run.staging} (no discovery.json): there is "
                             "nothing to roll back; check --run / the run id and the staging location")
    specs = catalogue_mod.catalogue(run.source)
    started = st.read_json("discovery.json").get("started")
    passes = _passes(st)
    parts = {name: [f"{n}:{p}" for n in range(1, passes + 1) for p in _parts(_pass_staging(run, n), spec)]
             for name, spec in specs.items() if spec.pipeline == "records"}
    parts = {name: p for name, p in parts.items() if p}
    waves = [[n for n in wave if n in parts] for wave in reversed(catalogue_mod.waves(specs))]
    plan = {"run_id": run.run_id, "started": started, "planned": _now(), "schema": bool(payload.get("schema")),
            "waves": [w for w in waves if w], "parts": parts, "passes": list(range(passes, 0, -1)),
            "loaders": {n: specs[n].load_activity for n in parts}}
    if not st.exists(PLAN):
        st.write_json(PLAN, plan)
    plan = {**st.read_json(PLAN), "schema": bool(payload.get("schema"))}
    st.delete(VERIFY)  # this rollback's verify pass is its own
    st.write_json(ATTEMPT, {"started": _now()})
    return {"waves": plan["waves"], "parts": plan["parts"], "loaders": plan["loaders"], "passes": plan["passes"]}


def _started(st: Staging) -> str | None:
    """When the run started (its discovery), as an OData DateTimeOffset literal: what the run created is
    what was created since then (placeholders, document locations are shared by key with earlier runs)."""
    started = st.read_json(PLAN).get("started") if st.exists(PLAN) else None
    return started.replace("+00:00", "Z") if started else None


# ---------------------------------------------------------------------------------------- restore


async def rollback_restore(payload: dict) -> dict:
    """Put the rows of one load part that existed before the run back as they were."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    n, part, label = _part(payload)
    out = f"rollback/restore/{spec.name}/{label}.json"
    if st.exists(out):
        return _summary(st.read_json(out))
    before_name = rb.before_name(spec.name, part)
    pst = _pass_staging(run, n)
    doc: dict[str, Any] = {"object": spec.name, "part": payload["part"], "restored": 0, "already_restored": 0,
                           "failed": []}
    if not pst.exists(before_name):
        doc["note"] = "no before-image (a load from before rollbacks were recorded): updated rows are not restored"
        st.write_json(out, doc)
        return _summary(doc)
    before = pst.read_json(before_name)
    # a row an earlier pass created is deleted with that pass's part, not restored; a row an earlier pass
    # also updated is put back to that pass's state here and counted once, with the earlier pass
    made = _earlier(run, st, spec, n, "created") if n > 1 else set()
    seen = _earlier(run, st, spec, n, "existing") if n > 1 else set()
    async with dataverse(run) as dv:
        for table, t in before["tables"].items():
            mine = {k: v for k, v in t["existing"].items() if (table, k) not in made}
            if not mine:
                continue
            now = await _current(dv, t, list(mine.values()))
            results = await asyncio.gather(*(_restore_one(dv, spec, table, t, image, now.get(image["id"]),
                                                          before["captured"])
                                             for key, image in mine.items()))
            for key, (status, reason) in zip(mine, results):
                if status == "failed":
                    doc["failed"].append({"table": table, "key": key, "reason": reason})
                elif (table, key) in seen:
                    doc["earlier_pass"] = doc.get("earlier_pass", 0) + 1
                else:
                    doc[status] += 1
    st.write_json(out, doc)
    return _summary(doc)


async def _current(dv: DataverseClient, t: dict, images: list[dict]) -> dict[str, dict]:
    """Record id -> the record as it is now (annotated), for the rows of ``images``."""
    ids = [i["id"] for i in images]
    now: dict[str, dict] = {}
    for i in range(0, len(ids), rb.IN_CHUNK):
        async for rec in rb.read_records(dv, t["entity_set"], in_filter(t["primary_id"], ids[i:i + rb.IN_CHUNK])):
            now[rec[t["primary_id"]]] = rec
    return now


async def _restore_one(dv: DataverseClient, spec: ObjectSpec, table: str, t: dict, image: dict,
                       now: dict | None, captured: str) -> tuple[str, str | None]:
    if now is None:
        return "failed", "the record no longer exists in Dataverse (deleted since the run); nothing to restore"
    if not rb.differences(image, now):
        return "already_restored", None
    es, rid = t["entity_set"], image["id"]
    was_state, was_status = image["state"]
    body = rb.restore_body(image)
    try:
        if now.get("statecode") not in (None, 0) and was_state not in (None, 0):
            try:  # closed before and now: the Web API's Assign / an update, where the environment takes it
                await dv.update(es, rid, body)
                return "restored", None
            except DataverseTransientError:
                raise
            except DataverseError:
                pass  # read-only while closed: reopen, update, close again
        if now.get("statecode") not in (None, 0):  # closed records are read-only: reopen first
            reopen = spec.close.reopen_status if spec.close else 1
            await dv.update(es, rid, {"statecode": 0, "statuscode": reopen})
            await _drop_close_activities(dv, table, rid, was_state, captured)
        if was_state in (None, 0):
            if was_status is not None:
                body["statuscode"] = was_status
            await dv.update(es, rid, body)
        else:
            await dv.update(es, rid, body)
            await _close_again(dv, table, es, rid, was_state, was_status)
    except DataverseTransientError:
        raise
    except DataverseError as e:
        return "failed", f"Dataverse refused the restore: {e.code} {e.message}"
    return "restored", None


async def _drop_close_activities(dv: DataverseClient, table: str, rid: str, was_state: int | None,
                                 captured: str) -> None:
    """A record the run closed (open before it): the close activities its close created (since the chunk's
    before-image was taken) go with the close."""
    if table not in CLOSE_ACTIVITY or was_state not in (None, 0):
        return
    activity, bind = CLOSE_ACTIVITY[table]
    es = f"{activity.lower()}s"  # opportunitycloses, incidentresolutions
    since = captured.replace("+00:00", "Z")
    async for rec in dv.get_all(es, select=["activityid"], filter=f"_{bind}_value eq {rid} and createdon ge {since}"):
        await dv.delete(es, rec["activityid"], missing_ok=True)


async def _close_again(dv: DataverseClient, table: str, es: str, rid: str, state: int, status: int | None) -> None:
    """Close a reopened record in the state it had (the close message where the table has one)."""
    message = CLOSE_MESSAGES.get(table, {}).get(state)
    if message is None:
        await dv.update(es, rid, {"statecode": state, **({"statuscode": status} if status is not None else {})})
        return
    activity, bind = CLOSE_ACTIVITY[table]
    await dv.execute_action(message, {"Status": status, activity: {
        "subject": "Closed again by the migration's rollback", f"{bind}@odata.bind": f"/{es}({rid})"}},
        idempotent=False)


# ----------------------------------------------------------------------------------------- delete


def _created(st: Staging, spec: ObjectSpec, part: str) -> dict[str, list[str]]:
    """Table -> the source keys of one load part that the run created (not there before, not rejected)."""
    before_name = rb.before_name(spec.name, part)
    result_name = obj_path(spec, "load", f"{part}.json")
    outcomes = st.read_json(result_name)["outcomes"] if st.exists(result_name) else []
    # refused by Dataverse: never written (a transient reject may have been written: it is deleted, or found gone)
    rejected = {(o.get("table") or spec.table, str(o["key"])) for o in outcomes
                if o["status"] == "rejected" and o.get("code") not in ("transient", "missing_after_write")}
    if st.exists(before_name):
        before = st.read_json(before_name)
        out: dict[str, list[str]] = {}
        for table, t in before["tables"].items():
            sources = t.get("sources", {})
            out[table] = [k for k in t["keys"] if k not in t["existing"]
                          and (table, sources.get(k, k)) not in rejected]
        return out
    # a load staged before before-images were recorded: its outcomes say what it created
    out = {}
    for o in outcomes:
        if o["status"] == "created":
            out.setdefault(o.get("table") or spec.table, []).append(str(o["key"]))
    return out


def _pass_keys(run, st: Staging, spec: ObjectSpec, n: int) -> dict[str, list[list[str]]]:
    """Pass ``n``'s ``created`` and ``existing`` (table, key) pairs of one object, over all its load parts;
    staged once (``rollback/passes/<object>/<n>.json``) so a pass's parts do not each read every part of
    every earlier pass."""
    name = f"rollback/passes/{spec.name}/{n}.json"
    if st.exists(name):
        return st.read_json(name)
    pst = _pass_staging(run, n)
    espec = effective_spec(pst, spec)
    created: dict[tuple[str, str], None] = {}
    existing: dict[tuple[str, str], None] = {}
    for part in _parts(pst, spec):
        for table, keys in _created(pst, espec, part).items():
            created.update(dict.fromkeys((table, k) for k in keys))
        if pst.exists(rb.before_name(spec.name, part)):
            for table, t in pst.read_json(rb.before_name(spec.name, part))["tables"].items():
                existing.update(dict.fromkeys((table, k) for k in t["existing"]))
    doc = {"created": [list(k) for k in created], "existing": [list(k) for k in existing]}
    st.write_json(name, doc)
    return doc


def _earlier(run, st: Staging, spec: ObjectSpec, n: int, kind: str) -> set[tuple[str, str]]:
    """The (table, key) pairs an earlier pass than ``n`` created (``kind="created"``) or found existing
    (``"existing"``): a key a delta pass sees again is one row, counted with the pass that first had it."""
    return {(t, k) for m in range(1, n) for t, k in _pass_keys(run, st, spec, m)[kind]}


async def rollback_delete(payload: dict) -> dict:
    """Delete the rows one load part created: detach what else points at them, then ``$batch`` DELETEs."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    n, part, label = _part(payload)
    out = f"rollback/delete/{spec.name}/{label}.json"
    if st.exists(out):
        return _summary(st.read_json(out))
    pst = _pass_staging(run, n)
    espec = effective_spec(pst, spec)
    doc: dict[str, Any] = {"object": spec.name, "part": payload["part"], "deleted": 0, "already_gone": 0, "detached": 0,
                           "failed": []}
    # a key an earlier pass created is that pass's row (the same row, staged again by a delta pass): deleted
    # once, by the earlier pass's part, and not reported "already gone" by this one
    earlier = _earlier(run, st, spec, n, "created") if n > 1 else set()
    async with dataverse(run) as dv:
        for table, keys in _created(pst, espec, part).items():
            await delete_keys(dv, rb.table_ref(espec, table), [k for k in keys if (table, k) not in earlier], doc)
    st.write_json(out, doc)
    return _summary(doc)


async def delete_keys(dv: DataverseClient, ref: loader.TableRef, keys: list[str], doc: dict) -> None:
    """Delete ``keys`` of ``ref``'s table, detaching first the rows that point at them through a parental
    relationship (a delete would take them along); counts and failures go into ``doc``."""
    if not keys:
        return
    ids = await loader.existing_ids(dv, ref, [encode_key(k) for k in keys])
    by_key = {k: ids.get(encode_key(k)) for k in keys}
    doc["already_gone"] += sum(1 for v in by_key.values() if v is None)
    live = {k: v for k, v in by_key.items() if v}
    blocked = await detach_children(dv, ref.logical_name, live, doc)
    for key, reason in blocked.items():
        doc["failed"].append({"table": ref.logical_name, "key": key, "reason": reason})
    todo = [k for k in live if k not in blocked]
    for o in await loader.delete_rows(dv, ref, todo):
        if o.status == "deleted":
            doc["deleted"] += 1
        elif o.status == "not_found":
            doc["already_gone"] += 1
        else:
            doc["failed"].append({"table": ref.logical_name, "key": o.key, "reason": f"{o.code} {o.message}"})


async def detach_children(dv: DataverseClient, parent: str, live: dict[str, str], doc: dict) -> dict[str, str]:
    """Clear the lookup of the rows that point at the ``live`` rows (key -> id) of ``parent`` through a
    parental relationship: at this point of the rollback they are rows the run did not create (its own
    children went in an earlier wave). Returns key -> why for the parents that cannot be deleted
    (a child whose lookup is required)."""
    blocked: dict[str, str] = {}
    key_of = {v: k for k, v in live.items()}
    ids = list(key_of)
    for child, column, nav, parents in rb.PARENTAL:
        if parent not in parents or not ids:
            continue
        es = catalogue_mod.entity_set(child)
        pk = "activityid" if child in loader.ACTIVITY_TABLES else f"{child}id"
        for i in range(0, len(ids), DETACH_CHUNK):
            flt = " or ".join(f"_{column}_value eq {x}" for x in ids[i:i + DETACH_CHUNK])
            try:
                found = [rec async for rec in dv.get_all(es, select=[pk, f"_{column}_value"], filter=flt)]
            except DataverseTransientError:
                raise
            except DataverseError as e:
                if e.status in (400, 404):  # the table or column does not exist in this environment
                    break
                raise
            for rec in found:
                target = rec[f"_{column}_value"]
                try:
                    await dv.update(es, rec[pk], {f"{nav.format(parent=parent, child=child)}@odata.bind": None})
                    doc["detached"] += 1
                except DataverseTransientError:
                    raise
                except DataverseError as e:
                    blocked[key_of[target]] = (f"a {child} the run did not create ({rec[pk]}) refers to it and cannot "
                                               f"be detached ({e.code} {e.message}); Dataverse would delete it with "
                                               "it: reassign it, then run the rollback again")
    return blocked


# -------------------------------------------------------------------------------------- documents


async def rollback_documents(payload: dict) -> dict:
    """The SharePoint files the run uploaded, the record folders left empty, and the document location
    and site rows the run created (created since the run started), children first."""
    from . import documents as docs_mod  # Graph settings are only needed when the run moved documents

    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    out = "rollback/documents.json"
    if st.exists(out):
        return _summary(st.read_json(out))
    started = _started(st)
    doc: dict[str, Any] = {"object": spec.name, "deleted": 0, "already_gone": 0, "files_deleted": 0,
                           "folders_deleted": 0, "locations_deleted": 0, "sites_deleted": 0, "detached": 0,
                           "failed": []}
    # each file once: a delta pass stages the files it found again (``unchanged``, the same drive item);
    # the first pass that had it says whether the run created it
    items = list({o["id"]: o for o in reversed([
        o for pst in (_pass_staging(run, n) for n in range(1, _passes(st) + 1)) for p in _parts(pst, spec)
        if pst.exists(obj_path(spec, "load", f"{p}.json"))
        for o in pst.read_json(obj_path(spec, "load", f"{p}.json"))["outcomes"]
        if o["status"] in ("created", "unchanged") and o.get("id")])}.values())
    settings = docs_mod.GraphSettings.from_env(target=run.target)
    async with dataverse(run) as dv, docs_mod.graph_client(run, settings) as sp:
        site = await docs_mod._resolve_site(sp, settings.site_url)
        drives = await sp.list_drives(site["id"])
        default = await sp.default_drive(site["id"])
        order = [default, *[d for d in drives if d["id"] != default["id"]]]
        gate = asyncio.Semaphore(FILE_DELETES)

        async def one(o: dict) -> None:
            async with gate:
                await _delete_file(sp, order, o, started, doc)

        await asyncio.gather(*(one(o) for o in items))
        key = spec.key_column  # the source's key column keys its locations (shared/steps/documents.py)
        locations = loader.TableRef("sharepointdocumentlocation", "sharepointdocumentlocations", key)
        mine = [r async for r in dv.get_all(locations.entity_set, select=[
            "sharepointdocumentlocationid", key, "relativeurl", "createdon"],
            filter=f"startswith({key},'{encode_key('folder:')}')" + (f" and createdon ge {started}" if started
                                                                              else ""))]
        for r in mine:  # folder:<table>:<record key>
            r[key] = decode_key(r[key])
        tables = sorted({r[key].split(":")[1] for r in mine})
        layout = docs_mod._layout(tables, drives, default)
        gone_folders: list[str] = []
        for r in mine:
            lib = layout[r[key].split(":")[1]]
            path = "/".join(p for p in (lib.prefix, r["relativeurl"]) if p)
            folder = await sp.get_item_by_path(lib.drive["id"], path)
            if folder is not None and (folder.raw.get("folder") or {}).get("childCount"):
                doc["failed"].append({"table": "sharepointdocumentlocation", "key": r[key],
                                      "reason": f"the SharePoint folder {path} still holds files the run did not "
                                                "upload; folder and location kept"})
                continue
            if folder is not None:
                await sp.request("DELETE", f"/drives/{lib.drive['id']}/items/{folder.id}", ok=(404,))
                doc["folders_deleted"] += 1
            gone_folders.append(r[key])
        deleted = doc["deleted"]
        await delete_keys(dv, locations, gone_folders, doc)
        doc["locations_deleted"] += doc["deleted"] - deleted
        # library locations (the default library's holds the table ones), then the site row: the run's, once
        # nothing hangs below them
        for prefix, ref in (("library:", locations),
                            ("site:", loader.TableRef("sharepointsite", "sharepointsites", key))):
            pid = f"{ref.logical_name}id"
            tried: set[str] = set()  # a row whose delete failed is not tried again
            while True:
                rows = [r async for r in dv.get_all(ref.entity_set, select=[pid, key],
                                                    filter=f"startswith({key},'{encode_key(prefix)}')"
                                                    + (f" and createdon ge {started}" if started else ""))]
                empty = [decode_key(r[key]) for r in rows
                         if not await _exists(dv, "sharepointdocumentlocations", "sharepointdocumentlocationid",
                                              f"_parentsiteorlocation_value eq {r[pid]}")
                         and decode_key(r[key]) not in tried]
                if not empty:
                    break
                tried.update(empty)
                deleted = doc["deleted"]
                await delete_keys(dv, ref, empty, doc)
                doc["sites_deleted" if prefix == "site:" else "locations_deleted"] += doc["deleted"] - deleted
        for lib in {lib.prefix: lib for lib in layout.values() if lib.prefix}.values():
            folder = await sp.get_item_by_path(lib.drive["id"], lib.prefix)
            if folder is not None and not (folder.raw.get("folder") or {}).get("childCount") and \
                    (not started or str(folder.raw.get("createdDateTime") or "") >= started):
                await sp.request("DELETE", f"/drives/{lib.drive['id']}/items/{folder.id}", ok=(404,))
                doc["folders_deleted"] += 1
    st.write_json(out, doc)
    return _summary(doc)


async def _exists(dv: DataverseClient, entity_set: str, pk: str, flt: str) -> bool:
    async for _ in dv.get_all(entity_set, select=[pk], filter=flt, params={"$top": 1}):
        return True
    return False


async def _delete_file(sp, drives: list[dict], outcome: dict, started: str | None, doc: dict) -> None:
    """One uploaded file, wherever its drive is; a file found ``unchanged`` only when this run created it."""
    for drive in drives:
        resp = await sp.request("GET", f"/drives/{drive['id']}/items/{outcome['id']}", ok=(404,))
        if resp.status_code == 404:
            continue
        item = resp.json()
        if outcome["status"] == "unchanged" and started and str(item.get("createdDateTime") or "") < started:
            return  # there before the run: not the run's to delete
        await sp.request("DELETE", f"/drives/{drive['id']}/items/{outcome['id']}", ok=(404,))
        doc["files_deleted"] += 1
        return
    doc["already_gone"] += 1


# ----------------------------------------------------------------------------------- placeholders


async def rollback_placeholders(payload: dict) -> dict:
    """The placeholder rows and migration price lists, when this run created them (created since it
    started) and nothing the run did not create still points at them."""
    run = run_config(payload)
    st = staging_for(run)
    out = "rollback/placeholders.json"
    if st.exists(out):
        return _summary(st.read_json(out))
    started = _started(st)
    specs = catalogue_mod.catalogue(run.source)
    doc: dict[str, Any] = {"object": "placeholders", "deleted": 0, "already_gone": 0, "detached": 0, "failed": []}
    wanted: dict[str, tuple[ObjectSpec, list[str]]] = {}
    for spec in specs.values():
        for lk in spec.lookups:
            if lk.missing == "placeholder":
                for target in lk.targets:
                    t = specs[target]
                    wanted.setdefault(t.table, (t, []))[1].append(t.placeholder_key)
        if spec.price_lists:
            wanted.setdefault("pricelevel", (spec, []))[1].append(catalogue_mod.price_list_key(spec.source, ""))
    async with dataverse(run) as dv:
        for table, (spec, keys) in wanted.items():
            ref = loader.TableRef(table, catalogue_mod.entity_set(table), spec.key_column)
            pid = ref.primary_id
            flt = " or ".join(f"startswith({ref.key_column},'{k}')" if k.endswith("-") else f"{ref.key_column} eq '{k}'"
                              for k in dict.fromkeys(keys))
            flt = f"({flt})" + (f" and createdon ge {started}" if started else "")
            try:
                found = [r async for r in dv.get_all(ref.entity_set, select=[pid, ref.key_column], filter=flt)]
            except DataverseTransientError:
                raise
            except DataverseError as e:
                if e.status in (400, 404):  # no key column: the run never prepared this table
                    continue
                raise
            await delete_keys(dv, ref, [decode_key(r[ref.key_column]) for r in found], doc)
    st.write_json(out, doc)
    return _summary(doc)


# ----------------------------------------------------------------------------------------- schema


async def rollback_schema(payload: dict) -> dict:
    """``--schema``: what the run's schema steps add, each only when no row holds a value in it: the custom
    fields' columns, the approved map's new custom columns, the engine's columns, the key column with its
    alternate key, and the custom tables (when they have no rows)."""
    run = run_config(payload)
    st = staging_for(run)
    out = "rollback/schema.json"
    if st.exists(out):
        return st.read_json(out)
    specs = catalogue_mod.catalogue(run.source)
    doc: dict[str, Any] = {"columns_deleted": [], "keys_deleted": [], "tables_deleted": [], "kept": []}
    columns: dict[str, dict[str, str | None]] = {}  # table -> column -> its alternate key (None: none)

    def add(table: str, column: str, key: str | None = None) -> None:
        columns.setdefault(table, {}).setdefault(column.lower(), key)

    if st.exists("schema/custom_fields.json"):
        tables = {s.custom_fields_object.casefold(): s.table for s in specs.values() if s.custom_fields_object}
        for c in st.read_json("schema/custom_fields.json")["columns"]:
            if table := tables.get(str(c.get("object", "")).casefold()):
                add(table, c["column"])
    for spec in specs.values():
        if spec.pipeline != "records":
            continue
        spec = effective_spec(st, spec)
        mapping = approved_mapping(st, spec)
        for e in (mapping.entries if mapping else ()):
            if e.custom and e.target:
                add(spec.table, e.target)
        for table in spec.tables:
            for c in spec.columns:
                if c.type != "Lookup" and c.table in (None, table):  # lookups go with their custom table
                    add(table, c.logical_name)
            if table not in catalogue_mod.ID_KEYED:
                add(table, spec.key_column, f"{spec.key_column}_key")
    for table in ("pricelevel", "sharepointsite", "sharepointdocumentlocation"):
        for key in sorted({s.key_column for s in specs.values() if s.table}):  # the source's key column
            add(table, key, f"{key}_key")
    custom = {s.custom_table[0].lower() for s in specs.values() if s.custom_table}
    async with dataverse(run) as dv:
        for table, cols in columns.items():
            if table in custom:
                continue  # goes with its table
            for column, key in cols.items():
                await _drop_column(dv, table, column, key, doc)
        for table in sorted(custom):
            if not await schema.table_exists(dv, table):
                continue
            if await _exists(dv, catalogue_mod.entity_set(table), f"{table}id", f"{table}id ne null"):
                doc["kept"].append({"table": table, "reason": "it still has rows"})
                continue
            try:
                await dv.request("DELETE", f"EntityDefinitions(LogicalName='{table}')")
                doc["tables_deleted"].append(table)
            except DataverseTransientError:
                raise
            except DataverseError as e:
                doc["kept"].append({"table": table, "reason": f"{e.code} {e.message}"})
    st.write_json(out, doc)
    return doc


async def _drop_column(dv: DataverseClient, table: str, column: str, key: str | None, doc: dict) -> None:
    """Drop ``table.column`` (and first its alternate key ``key``) when no row holds a value in it."""
    es = catalogue_mod.entity_set(table)
    try:
        held = await _exists(dv, es, column, f"{column} ne null")
    except DataverseTransientError:
        raise
    except DataverseError:
        return  # no such column (any more), or the table is not in this environment
    if held:
        doc["kept"].append({"table": table, "column": column, "reason": "rows still hold values in it"})
        return
    meta = f"EntityDefinitions(LogicalName='{table}')"
    try:
        if key:
            try:
                await dv.request("DELETE", f"{meta}/Keys(LogicalName='{key}')")
                doc["keys_deleted"].append(f"{table}.{key}")
            except DataverseTransientError:
                raise
            except DataverseError as e:
                if e.status != 404:
                    raise
        await dv.request("DELETE", f"{meta}/Attributes(LogicalName='{column}')")
        doc["columns_deleted"].append(f"{table}.{column}")
    except DataverseTransientError:
        raise
    except DataverseError as e:
        doc["kept"].append({"table": table, "column": column, "reason": f"{e.code} {e.message}"})


# ----------------------------------------------------------------------------------------- report


def _summary(doc: dict) -> dict:
    return {k: (len(doc[k]) if isinstance(doc.get(k), list) else doc.get(k, 0)) for k in COUNTS}


VERIFY = "rollback/verify.json"


async def rollback_verify(payload: dict) -> dict:
    """The verify pass, per object: ``residue`` (created keys still in Dataverse) and ``not_restored``
    (updated rows that differ from their before-image: the earliest pass's image of a row, the state before
    the migration; rows a pass created are residue, not restores). Runs before ``--schema`` removes key columns."""
    run = run_config(payload)
    st = staging_for(run)
    specs = catalogue_mod.catalogue(run.source)
    plan = st.read_json(PLAN)
    names = [n for wave in plan["waves"] for n in wave if specs[n].load_activity == "load_chunk"]
    found = {name: {"residue": 0, "not_restored": 0} for name in names}
    parts = sorted(((int(ref.split(":", 1)[0]), ref.split(":", 1)[1], name) for name in names
                    for ref in plan["parts"][name]), key=lambda p: p[0])
    created: dict[tuple[int, str, str], dict[str, list[str]]] = {}
    for n, part, name in parts:
        pst = _pass_staging(run, n)
        created[(n, part, name)] = _created(pst, effective_spec(pst, specs[name]), part)
    made = {(table, key) for by_table in created.values() for table, keys in by_table.items() for key in keys}
    images: dict[tuple[str, str], tuple[str, dict, dict]] = {}  # (table, id) -> (object, table doc, image)
    checked: set[tuple[str, str]] = set()  # a key two passes created is one row: its residue counts once
    async with dataverse(run) as dv:
        for n, part, name in parts:
            pst = _pass_staging(run, n)
            spec = effective_spec(pst, specs[name])
            for table, keys in created[(n, part, name)].items():
                keys = [k for k in keys if (table, k) not in checked]
                checked.update((table, k) for k in keys)
                if keys:
                    found[name]["residue"] += len(await loader.existing_ids(dv, rb.table_ref(spec, table),
                                                                            [encode_key(k) for k in keys]))
            if pst.exists(rb.before_name(name, part)):
                for table, t in pst.read_json(rb.before_name(name, part))["tables"].items():
                    for key, image in t["existing"].items():
                        if (table, key) not in made:
                            images.setdefault((table, image["id"]), (name, t, image))
        by_doc: dict[int, list[tuple[str, dict, dict]]] = {}
        for item in images.values():
            by_doc.setdefault(id(item[1]), []).append(item)
        for items in by_doc.values():
            now = await _current(dv, items[0][1], [image for _, _, image in items])
            for name, _, image in items:
                if image["id"] not in now or rb.differences(image, now[image["id"]]):
                    found[name]["not_restored"] += 1
    st.write_json(VERIFY, {"verified": _now(), "objects": found})
    return {k: sum(o[k] for o in found.values()) for k in ("residue", "not_restored")}


async def rollback_report(payload: dict) -> dict:
    """The rollback's report, ``rollback/report.json`` and ``rollback/report.txt``: per object what was
    deleted, restored, already gone or already restored, detached, what failed and why, and the verify
    pass's residue (a rollback that stopped before it is reported ``failed``, its residue not verified)."""
    run = run_config(payload)
    st = staging_for(run)
    specs = catalogue_mod.catalogue(run.source)
    plan = st.read_json(PLAN) if st.exists(PLAN) else {"waves": [], "parts": {}}
    failure = payload.get("failure")
    verify = st.read_json(VERIFY) if st.exists(VERIFY) and not failure else None
    objects: list[dict] = []
    for name in [n for wave in plan["waves"] for n in wave]:
        spec = specs[name]
        row: dict[str, Any] = {"object": name, **{k: 0 for k in COUNTS}, "failures": [],
                               **((verify or {}).get("objects", {}).get(name) or {"residue": 0, "not_restored": 0})}
        labels = [p.replace(":", "-", 1) for p in plan["parts"][name]]
        docs = [st.read_json(f"rollback/{kind}/{name}/{p}.json") for p in labels
                for kind in ("restore", "delete") if st.exists(f"rollback/{kind}/{name}/{p}.json")]
        if spec.load_activity != "load_chunk" and st.exists("rollback/documents.json"):
            docs.append(st.read_json("rollback/documents.json"))
            row.update({k: docs[-1].get(k, 0) for k in ("files_deleted", "folders_deleted", "locations_deleted",
                                                        "sites_deleted")})
        for d in docs:
            for k in COUNTS:
                row[k] += len(d[k]) if isinstance(d.get(k), list) else d.get(k, 0)
            row["failures"] += d.get("failed", [])
        objects.append(row)
    for d in [st.read_json(n) for n in ("rollback/placeholders.json",) if st.exists(n)]:
        objects.append({"object": d["object"], **{k: (len(d[k]) if isinstance(d.get(k), list) else d.get(k, 0))
                                                  for k in COUNTS}, "failures": d["failed"], "residue": 0,
                        "not_restored": 0})
    totals = {k: sum(o[k] for o in objects) for k in (*COUNTS, "residue", "not_restored")}
    status = "failed" if failure or verify is None else "completed" if totals["residue"] == 0 \
        and totals["not_restored"] == 0 and totals["failed"] == 0 else "incomplete"
    ended = _now()
    began = st.read_json(ATTEMPT)["started"] if st.exists(ATTEMPT) else None
    report = {"run_id": run.run_id, "status": status, "started": began, "ended": ended,
              "duration_s": round((datetime.fromisoformat(ended) - datetime.fromisoformat(began)).total_seconds())
              if began else None, "verified": bool(verify),
              "objects": objects, "totals": totals,
              **({"schema": st.read_json("rollback/schema.json")} if st.exists("rollback/schema.json") else {}),
              **({"failure": failure} if failure else {})}
    st.write_json(REPORT, report)
    st.write_bytes(REPORT_TEXT, report_text(report).encode("utf-8"))
    return {"status": status, "totals": totals, "report": REPORT}


def report_text(report: dict) -> str:
    lines = [f"rollback of run {report['run_id']}: {report['status']} ({report['ended']}, {report['duration_s']} s)",
             f"{'object':<16} {'deleted':>8} {'gone':>6} {'restored':>9} {'detached':>9} {'failed':>7} {'residue':>8}"]
    for o in report["objects"]:
        lines.append(f"{o['object']:<16} {o['deleted']:>8} {o['already_gone']:>6} "
                     f"{o['restored'] + o['already_restored']:>9} {o['detached']:>9} {o['failed']:>7} "
                     f"{o['residue'] + o['not_restored']:>8}")
    for o in report["objects"]:
        if "files_deleted" in o:  # the table's "deleted" is the Dataverse rows: locations + sites
            lines.append(f"{o['object']}: deleted {o['files_deleted']} SharePoint files, {o['folders_deleted']} "
                         f"SharePoint folders and {o['deleted']} Dataverse rows ({o.get('locations_deleted', 0)} "
                         f"document locations, {o.get('sites_deleted', 0)} SharePoint site"
                         f"{'' if o.get('sites_deleted', 0) == 1 else 's'}); "
                         f"{o['already_gone']} already gone")
    t = report["totals"]
    if report["verified"]:
        lines.append(f"residue: {t['residue']} created rows still in Dataverse, {t['not_restored']} updated rows not "
                     "as they were")
    else:
        lines.append("residue: not verified (the rollback stopped before its verify pass): run it again")
    for o in report["objects"]:
        for f in o["failures"][:20]:
            lines.append(f"failed: {o['object']} {f.get('table')} {f.get('key')}: {f.get('reason')}")
    if report.get("failure"):
        lines.append(f"error: {report['failure'].get('message')}")
    return "\n".join(lines) + "\n"
