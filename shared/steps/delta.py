"""Passes of one migration: reruns that see the source, the cutover delta sync, the freeze certificate.

A migration (one run id) runs in **passes**. The first is the migration itself (``runs/<run_id>/``).
Running the same migration again once it completed - the same CLI command, ``cli delta``, the delta
timer, ``POST /api/migrations/{id}/delta`` - starts the next pass (:func:`plan_pass`): it stages under
``runs/<run_id>/passes/<n>/`` (``RunConfig.prefix``), runs as the Durable instance ``<run_id>:pass-<n>``
(``RunConfig.instance_id``; an instance id is unique per start, and the first pass keeps the run id),
re-reads the source and loads only what changed since the pass before it:

- every load row carries a content hash of what it sends (``shared/changes.py``, stamped by the
  transform); reconciliation keeps the hashes of the rows a pass loaded (``objects/<name>/hashes.json``);
- the next pass's load (:func:`previous_hashes`) sends no request for a row whose hash is unchanged
  (``unchanged``), upserts changed and new rows (``updated`` / ``created``), and reopens, updates and
  closes again a closed record whose source changed (``shared/steps/load.py``);
- a delta pass of a source whose API filters by modification date (WORKetc SOAP) reads only the records
  modified since the pass before began (:func:`modified_since`, less :data:`MODIFIED_SINCE_MARGIN`, for the
  objects whose operation has the filter); reconciliation carries the keys and hashes of the rows it did
  not return forward as ``unchanged``; a rerun, ``full`` or a freeze pass reads the whole source;
- :func:`sync_deleted` counts the keys the pass before loaded that the source no longer holds (not after a
  filtered read, which cannot see deletions)
  (``deleted_in_source``) and, with ``deactivate_deleted``, deactivates them: SetState to statecode 1
  ("Inactive", statuscode 2) on the tables that have that state (account, contact, the engine's custom
  tables: learn.microsoft.com/power-apps/developer/data-platform/reference/entities/account#BKMK_StateCode);
  on other tables statecode 1 means won, resolved or paid, so their records are only reported.

A pass that failed resumes when run again (its instance and staging are kept); a new pass starts only
when the latest one ended (``completed`` or ``unbalanced``). The approved field map carries over to the
new pass unchanged (same hash, no new approval): a source column the map does not list stops the
transform with the usual message (propose and approve a map again: ``--fresh``). A pass never waits at
a gate: owners without a Dynamics 365 user get the default owner and are listed in ``owner_queue.csv``.

Freeze mode (the cutover's final delta): the pass records who froze the source and when
(``RunConfig.freeze``), and ends with ``report/certificate.json`` + ``.md`` (:func:`certify`): per object,
the source count, what was loaded and rejected, the records of the object Dataverse holds (counted by
key), what the read-back verified, and whether they agree.

Staging of a later pass, beside the usual layout under its prefix::

    pass.json                       {"pass", "kind", "run", "created", "previous", "previous_started", "frozen"}
    objects/<name>/hashes.json      source key -> content hash of the rows this pass loaded
    objects/<name>/deleted.json     keys gone from the source since the pass before, deactivated or not
    report/certificate.json, .md    freeze mode only
"""

from __future__ import annotations

import asyncio
import threading
from datetime import datetime, timedelta, timezone

from .. import objects as catalogue_mod
from ..dataverse.client import DataverseError, DataverseTransientError
from ..dataverse.keys import decode_key, encode_key, key_segment
from ..errors import PermanentError
from ..objects import ObjectSpec
from ..objects.spec import ID_KEYED
from ..run import RunConfig, pass_prefix
from ..staging import Staging, open_staging
from ..transform import note_id
from .common import APPROVAL, APPROVED_MAP, dataverse, effective_spec, obj_path, run_config, spec_of, staging_for

PASS = "pass.json"
#: the first pass's settings, in the migration's staging, written by the CLI: what ``cli delta --run`` starts from
RUN_SETTINGS = "run.json"
HASHES, DELETED = "hashes.json", "deleted.json"
CERTIFICATE = "report/certificate.json"
CERTIFICATE_MD = "report/certificate.md"
#: a pass that ended this way may be followed by the next; any other status resumes it
ENDED = frozenset({"completed", "unbalanced"})
#: what carries over from the pass before (the approved map and the files that show it)
CARRIED = (APPROVED_MAP, APPROVAL, "report/mapping.yaml", "report/review.html", "report/scope.md")
#: tables whose statecode 1 is "Inactive" (statuscode 2), so a record gone from the source can be deactivated;
#: the engine's custom tables (ObjectSpec.custom_table) have the same two states
DEACTIVATE = {"account": (1, 2), "contact": (1, 2)}
#: keys per deactivation batch in flight (the client's own concurrency limit applies on top)
DEACTIVATE_IN_FLIGHT = 16


def base_staging(run: RunConfig) -> Staging:
    """The migration's staging (``runs/<run_id>/``), whatever pass ``run`` is."""
    return open_staging(run.staging, prefix=run.base_prefix)


def _rel(n: int) -> str:
    """Pass ``n``'s folder relative to the migration's prefix."""
    return "" if n == 1 else f"passes/{n}/"


def latest_pass(st: Staging) -> int:
    """The number of the latest pass of the migration whose base staging is ``st``."""
    n = 1
    while st.exists(f"{_rel(n + 1)}{PASS}"):
        n += 1
    return n


def pass_report(st: Staging, n: int) -> dict | None:
    name = f"{_rel(n)}report/report.json"
    return st.read_json(name) if st.exists(name) else None


def stored_run(st: Staging, n: int) -> RunConfig | None:
    """The settings pass ``n`` (> 1) was started with."""
    name = f"{_rel(n)}{PASS}"
    return RunConfig.model_validate(st.read_json(name)["run"]) if n > 1 and st.exists(name) else None


def plan_pass(run: RunConfig, *, delta: bool, freeze: dict | None = None, new: bool = True) -> tuple[RunConfig, bool]:
    """The pass to run now for the migration ``run`` names: ``(settings, started)``.

    The latest pass when it has not ended (to resume it: ``started`` False; its stored settings for a later
    pass, ``run`` as pass 1 for the first); else, with ``new``, pass n+1, recorded in its ``pass.json`` with
    the approved map carried over (``started`` True). ``run`` gives the settings of the new pass (the
    command's or the first pass's), ``delta`` and ``freeze`` say what kind of pass it is.
    """
    st = base_staging(run)
    n = latest_pass(st)
    report = pass_report(st, n)
    if report is None or report.get("status") not in ENDED or not new:
        return (stored_run(st, n) or run.model_copy(update={"pass_no": 1})), False
    prev = open_staging(run.staging, prefix=pass_prefix(run.run_id, n))
    if not prev.exists(APPROVAL):
        raise PermanentError(f"run {run.run_id}: pass {n} has no approved field map, so no later pass can reuse it: "
                             "run the migration first (python -m cli migrate ...)")
    nxt = run.model_copy(update={"pass_no": n + 1, "delta": delta, "freeze": freeze, "take_over": False})
    dst = open_staging(run.staging, prefix=nxt.prefix)
    for name in CARRIED:
        if prev.exists(name):
            dst.write_bytes(name, prev.read_bytes(name))
    approval = dst.read_json(APPROVAL)
    dst.write_json(APPROVAL, {**approval, "carried_from_pass": approval.get("carried_from_pass", n)})
    st.write_json(f"{_rel(n + 1)}{PASS}", {
        "pass": n + 1, "kind": "delta" if delta else "rerun", "run": nxt.model_dump(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "previous": n, "previous_started": report.get("started"), "frozen": freeze})
    return nxt, True


#: how far before the previous pass's start a delta pass's modified-date filter reaches: the tenant's clock may
#: be behind the engine's, and a record saved while the previous pass read the source must be read again
MODIFIED_SINCE_MARGIN = timedelta(hours=1)


def modified_since(run: RunConfig, st: Staging, spec: ObjectSpec | None = None) -> datetime | None:
    """The modified-date filter of a delta pass (``pass.json``'s ``previous_started`` minus
    :data:`MODIFIED_SINCE_MARGIN`, aware; the SOAP client converts it to the tenant's clock,
    ``WORKETC_TENANT_TIMEZONE``), or None: the first pass, a rerun or a freeze pass read the whole source
    (the frozen source is certified, and only a whole read sees records deleted in the source). With ``spec``,
    also None when the pass before did not reconcile that object (what it missed since would not be read)."""
    if run.pass_no == 1 or not run.delta or run.freeze or not st.exists(PASS):
        return None
    if spec is not None and not open_staging(run.staging, prefix=pass_prefix(run.run_id, run.pass_no - 1)) \
            .exists(obj_path(spec, HASHES)):
        return None
    started = st.read_json(PASS).get("previous_started")
    if not started:
        return None
    at = datetime.fromisoformat(started)
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)) - MODIFIED_SINCE_MARGIN


def pass_info(run: RunConfig, st: Staging) -> dict:
    """What the report says about the pass: its number and kind, the pass it compared with, the freeze."""
    if run.pass_no == 1:
        return {"number": 1, "kind": "first"}
    doc = st.read_json(PASS) if st.exists(PASS) else {}
    return {"number": run.pass_no, "kind": doc.get("kind", "delta" if run.delta else "rerun"),
            "compared_with": run.pass_no - 1, "previous_started": doc.get("previous_started"),
            **({"frozen": run.freeze} if run.freeze else {})}


# ------------------------------------------------------------------------------------ the last hashes

_HASHES: dict[tuple, dict[str, str]] = {}
_HASHES_LOCK = threading.Lock()


def previous_hashes(run: RunConfig, spec: ObjectSpec) -> dict[str, str] | None:
    """Source key -> content hash of the rows the latest earlier pass that loaded ``spec`` loaded; None in a
    first pass (everything is new). Read once per process and pass (load chunks run many times)."""
    if run.pass_no == 1:
        return None
    for k in range(run.pass_no - 1, 0, -1):
        st = open_staging(run.staging, prefix=pass_prefix(run.run_id, k))
        name = obj_path(spec, HASHES)
        if not st.exists(name):
            continue
        created = (staging_for(run).read_json(PASS).get("created") if staging_for(run).exists(PASS) else None)
        key = (run.staging, run.run_id, run.pass_no, created, k, spec.name)
        with _HASHES_LOCK:
            found = _HASHES.get(key)
        if found is None:
            found = st.read_json(name)
            with _HASHES_LOCK:
                if len(_HASHES) > 32:
                    _HASHES.clear()
                _HASHES[key] = found
        return found
    return {}


# -------------------------------------------------------------------------------- gone from the source


async def sync_deleted(payload: dict) -> dict:
    """Keys the pass before loaded that the source no longer holds: counted, and deactivated when the run's
    ``deactivate_deleted`` asks and the table has an Inactive state. ``objects/<name>/deleted.json``."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    st = staging_for(run)
    name = obj_path(spec, DELETED)
    if st.exists(name):
        return _deleted_summary(st.read_json(name))
    previous = previous_hashes(run, spec)
    if spec.pipeline != "records" or not previous or run.sample is not None \
            or not st.exists(obj_path(spec, "loaded_keys.json")):
        doc = {"deleted_in_source": 0, "deactivated": 0, "keys": [], "deactivation": None}
        st.write_json(name, doc)
        return _deleted_summary(doc)
    extracted = st.read_json(obj_path(spec, "extract.json")) if st.exists(obj_path(spec, "extract.json")) else {}
    if extracted.get("modified_since"):  # a filtered read returns no deleted record: nothing can be inferred
        doc = {"deleted_in_source": 0, "deactivated": 0, "keys": [], "checked": False,
               "deactivation": f"not checked: this pass read only the records modified since "
                               f"{extracted['modified_since']}, and a filtered read cannot see deletions; a whole "
                               "pass does (python -m cli migrate ... again, or POST .../delta with {\"full\": true})"}
        st.write_json(name, doc)
        return _deleted_summary(doc)
    present = set(st.read_json(obj_path(spec, "loaded_keys.json")))
    problems = st.read_json(obj_path(spec, "problems.json"))["rejects"] if st.exists(obj_path(spec, "problems.json")) else []
    present |= {f"{spec.key_prefix}{p['source_id']}" for p in problems if p.get("source_id")}
    gone = sorted(set(previous) - present)
    table = effective_spec(st, spec).table
    states = DEACTIVATE.get(table) or ((1, 2) if spec.custom_table else None)
    why = None
    deactivated: list[str] = []
    failed: list[dict] = []
    if not run.deactivate_deleted:
        why = "not asked (deactivate_deleted)"
    elif spec.route or table in ID_KEYED:
        why = f"{spec.name} is written to several tables or keyed by id: deactivate its records in Dataverse"
    elif states is None:
        why = (f"{table} has no Inactive state (its statecode 1 means won, resolved or paid): the records stay as "
               "they are; deactivate or delete them in Dataverse")
    elif gone:
        async with dataverse(run) as dv:
            sem = asyncio.Semaphore(DEACTIVATE_IN_FLIGHT)

            async def deactivate(key: str) -> None:
                async with sem:
                    path = key_segment(catalogue_mod.entity_set(table), spec.key_column, encode_key(key))
                    try:  # SetState by the Web API: a PATCH of statecode and statuscode, by alternate key
                        await dv.request("PATCH", path, json={"statecode": states[0], "statuscode": states[1]},
                                         headers={"If-Match": "*"})
                        deactivated.append(key)
                    except DataverseTransientError:
                        raise
                    except DataverseError as e:
                        failed.append({"key": key, "code": e.code, "message": e.message})

            await asyncio.gather(*(deactivate(k) for k in gone))
        why = "deactivated (statecode 1)"
    doc = {"deleted_in_source": len(gone), "deactivated": len(deactivated), "keys": gone,
           "deactivation": why, "failed": failed}
    st.write_json(name, doc)
    return _deleted_summary(doc)


def _deleted_summary(doc: dict) -> dict:
    return {"deleted_in_source": doc["deleted_in_source"], "deactivated": doc["deactivated"]}


def deleted_counts(st: Staging, spec: ObjectSpec) -> dict:
    """The counts the report shows for records gone from the source (zero when not checked)."""
    name = obj_path(spec, DELETED)
    return _deleted_summary(st.read_json(name)) if st.exists(name) else {"deleted_in_source": 0, "deactivated": 0}


# --------------------------------------------------------------------------------------- certificate


async def certify(payload: dict) -> dict:
    """Freeze mode's end: per object, the source count against the records Dataverse holds, verified.

    ``payload``: ``{"run", "objects": [names the pass ran]}``. Per records object: ``source`` (rows the frozen
    source holds), ``rejected`` / ``queued`` (with their reasons in rejects.csv), ``expected`` (the source's
    rows that must be in Dataverse: loaded), ``dataverse`` (the object's records found in its tables by
    key), ``extra_in_dataverse`` (records of the object whose key the source no longer holds),
    ``verified`` / ``mismatched`` / ``missing`` from the read-back, and ``certified``: the reconciliation
    balances, every expected record is in Dataverse, and the read-back found no difference.
    """
    run = run_config(payload)
    st = staging_for(run)
    specs = catalogue_mod.catalogue(run.source)
    rows = []
    async with dataverse(run) as dv:
        for name in payload["objects"]:
            spec = specs[name]
            if not st.exists(obj_path(spec, "report.json")):
                rows.append({"object": name, "certified": False, "reason": "not reconciled in this pass"})
                continue
            rec = st.read_json(obj_path(spec, "report.json"))
            ver = st.read_json(obj_path(spec, "verify.json")) if st.exists(obj_path(spec, "verify.json")) else {}
            row = {"object": name, "table": rec.get("table"), "source": rec["source"], "rejected": rec["rejected"],
                   "queued": rec.get("queued", 0), "expected": rec["loaded"],
                   **deleted_counts(st, spec),
                   **{k: ver.get(k, 0) for k in ("verified", "mismatched", "missing")}}
            if spec.pipeline == "records" and spec.load_activity == "load_chunk":
                try:
                    others = tuple(s.key_prefix for s in specs.values() if s.key_prefix and s is not spec)
                    found, extra = await _count_in_dataverse(dv, st, spec, others)
                except DataverseError as e:
                    row.update(dataverse=None, certified=False, reason=f"could not be counted: {e.message}")
                    rows.append(row)
                    continue
                row.update(dataverse=found, extra_in_dataverse=extra)
                ok = rec["balanced"] and found == rec["loaded"] and not row["mismatched"] and not row["missing"]
            else:  # no rows of its own (users, custom fields, configuration) or checked as it transfers (documents)
                row.update(dataverse=None, note="no records counted by key: reconciled only")
                ok = rec["balanced"]
            row["certified"] = bool(ok)
            rows.append(row)
    doc = {"run_id": run.run_id, "pass": run.pass_no, "frozen": run.freeze,
           "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "certified": all(r["certified"] for r in rows), "objects": rows}
    st.write_json(CERTIFICATE, doc)
    st.write_bytes(CERTIFICATE_MD, certificate_markdown(doc).encode("utf-8"))
    return {"certified": doc["certified"], "objects": len(rows), "certificate": CERTIFICATE}


async def _count_in_dataverse(dv, st: Staging, spec: ObjectSpec, others: tuple[str, ...]) -> tuple[int, int]:
    """(records of the object's loaded keys found in its tables, records of the object whose key the pass did
    not load), reading the key column of every record of the object's tables that has one."""
    loaded = set(st.read_json(obj_path(spec, "loaded_keys.json")))
    eff = effective_spec(st, spec)
    tables = eff.tables or (eff.table,)
    found: set[str] = set()
    extra = 0
    for table in tables:
        entity_set = catalogue_mod.entity_set(table)
        if table in ID_KEYED:  # notes carry no alternate key: their ids derive from the source key
            ids = {note_id(spec.source, spec.name, k): k for k in loaded}
            pk = ID_KEYED[table]
            async for r in dv.get_all(entity_set, select=[pk]):
                if r[pk] in ids:
                    found.add(ids[r[pk]])
            continue
        column = catalogue_mod.key_column(spec, table)
        async for r in dv.get_all(entity_set, select=[column], filter=f"{column} ne null"):
            key = decode_key(r[column])
            if key in loaded:
                found.add(key)
            elif _belongs(spec, key, others):
                extra += 1
    return len(found), extra


def _belongs(spec: ObjectSpec, key: str, others: tuple[str, ...]) -> bool:
    """Whether a key found in a shared table is this object's: its key prefix, not another object's, and not
    one of the engine's own records (placeholders, price lists: ``<source>-...``)."""
    if spec.key_prefix:
        return key.startswith(spec.key_prefix)
    return not key.startswith((f"{spec.source}-", *others))


def certificate_markdown(doc: dict) -> str:
    frozen = doc.get("frozen") or {}
    lines = [f"# Cutover certificate: run {doc['run_id']}, pass {doc['pass']}", "",
             f"Source frozen by {frozen.get('by', '-')} at {frozen.get('at', '-')}; certified at {doc['at']}.",
             "", f"**{'Certified' if doc['certified'] else 'NOT certified'}**: per object, the source count against "
                 "the records Dataverse holds, read back and compared.", "",
             "| object | table | source | rejected | queued | expected | in Dataverse | deleted in source | verified "
             "| mismatched | missing | certified |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in doc["objects"]:
        cells = [r.get("object"), r.get("table") or "", *(r.get(k, "") for k in (
            "source", "rejected", "queued", "expected")), "-" if r.get("dataverse") is None else r["dataverse"],
            r.get("deleted_in_source", ""), r.get("verified", ""), r.get("mismatched", ""), r.get("missing", ""),
            "yes" if r["certified"] else f"NO{': ' + r['reason'] if r.get('reason') else ''}"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    lines += ["", "Rejected and queued records are listed with their reasons in rejects.csv and owner_queue.csv; "
                  "`expected` = source - rejected - queued."]
    return "\n".join(lines) + "\n"
