"""Command line: run a migration locally with the same orchestrator code as the Function App.

    python -m cli migrate --source worketc-csv --input DIR --target URL --out DIR

``--target`` is the Dataverse environment URL (``https://org.crm.dynamics.com``) or an emulator's
base URL; credentials come from the environment (see README: DATAVERSE_*). Staging defaults to
``<out>/staging`` (a local folder); ``--staging`` takes a Blob Storage connection string instead (kept
in this process's environment as STAGING_CONNECTION: run settings name it, and nothing printed shows it).
Rerunning the same command resumes the run: finished steps are found in staging and skipped, and
every Dataverse write is an upsert by alternate key, so nothing is duplicated. ``--fresh`` starts over.
Rerunning a run that completed starts its next pass: the source is read again and only what changed is
written (``python -m cli delta --run RUN --out DIR [--freeze]`` does the same; shared/steps/delta.py).

A run stops twice for people (exit code 3): after discovery, with the proposed field map
(``mapping.yaml``, ``review.html``, ``scope.md`` in ``--out``), until it is approved with
``--approve FILE`` (``--auto-approve`` skips the review, for the demo); and at the owner gate, while
owners have no Dynamics 365 user (``owner_queue.csv``), until the same command is rerun after the
administrator provisioned them (or with ``--owners use-default``). Nothing is written to Dynamics 365
before the map is approved.

A run that fails still writes its report (what completed, what did not, and why) and ends with one
line naming the file, setting or host and what to do; ``--debug`` adds the traceback. Ctrl-C stops
the run; rerunning the same command resumes it.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import sys
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

from pydantic import ValidationError

from rich.console import Console
from rich.live import Live
from rich.measure import Measurement
from rich.table import Table

from cli.durable import DurableDriver, OrchestrationFailed
from shared.errors import SettingsError
from shared.memory import keep_freed_memory
from shared.objects import SOURCE_KINDS
from shared.run import RunConfig
from shared.settings import MaskingFilter, mask_secrets
from shared.staging import Staging, open_staging
from shared.staging.location import staging_reference
from shared.steps.lease import forget_run

console = Console(stderr=True, soft_wrap=True)  # a message stays one line, however long


class Progress:
    """A live table of objects and phases, fed by the driver's events."""

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}
        self.live: Live | None = None

    def __call__(self, event: str, data: dict) -> None:
        if event == "status" and isinstance(data.get("status"), dict) and "object" in data["status"]:
            s = data["status"]
            row = self.rows.setdefault(s["object"], {"phase": "", "done": 0, "chunks": 0})
            row["phase"] = s["phase"]
            if "chunks" in s:
                row["chunks"] = s["chunks"]
        elif event == "activity_completed" and data["name"] in ("load_chunk", "transform_chunk"):
            obj = data["input"]["object"]
            row = self.rows.setdefault(obj, {"phase": "", "done": 0, "chunks": 0})
            if data["name"] == "load_chunk":
                row["done"] += 1
        elif event == "activity_failed":
            console.print(f"retrying {data['name']} ({data['input'].get('object', '')}): {mask_secrets(data['error'])}",
                          style="yellow", markup=False)
        if self.live:
            self.live.update(self.render())

    def render(self) -> Table:
        t = Table(title="migration", expand=False)
        t.add_column("object")
        t.add_column("phase")
        t.add_column("chunks loaded", justify="right")
        for name, r in self.rows.items():
            t.add_row(name, r["phase"], f"{r['done']}/{r['chunks']}" if r["chunks"] else "")
        return t


def report_table(report: dict) -> Table:
    t = Table(title=f"reconciliation: run {report['run_id']} ({report['status']})")
    counts = ("source", "loaded", "created", "updated", "unchanged", "rejected", "queued", "warnings", "verified",
              "mismatched", "missing")
    cols = ("object", "table", *counts, "status")
    for c in cols:  # "phonecall, email, appointment, task, annotation" wraps rather than widening the table
        t.add_column(c, justify="right" if c in counts else "left", max_width=26 if c == "table" else None,
                     overflow="fold")
    for o in report["objects"]:
        t.add_row(*(str(o.get(c) if o.get(c) is not None else "") for c in cols))
    tot = report["totals"]
    t.add_row("total", "", *(str(tot.get(c, "")) for c in counts), "", style="bold")
    return t


def show_table(table: Table, file=None) -> None:
    """In a terminal at its width (at least 130: narrower truncates the headers); where nothing limits the width
    (``make demo > log``, a pipe, CI) the whole table, with no header or status cut to "recon…"."""
    term = Console(file=file)
    if term.is_terminal:
        width = max(term.width, 130)
    else:
        probe = Console(width=1000, file=io.StringIO())
        width = Measurement.get(probe, probe.options, table).maximum
    Console(file=file, width=width).print(table)


def readable_time(value) -> str:
    """An ISO time as a person reads it: ``2026-12-07 16:22 UTC``, not ``2026-12-07T16:22:30.116410+00:00``."""
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if when.tzinfo is None:
        return when.strftime("%Y-%m-%d %H:%M")
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def schema_lines(rollback_report: dict) -> list[str]:
    """What ``rollback --schema`` removed and kept, in a few lines (the names are in rollback_report.json)."""
    schema = rollback_report.get("schema")
    if not schema:
        return []
    kept = schema.get("kept", [])
    lines = [f"schema: {len(schema.get('columns_deleted', []))} columns, {len(schema.get('keys_deleted', []))} "
             f"alternate keys and {len(schema.get('tables_deleted', []))} tables removed; {len(kept)} kept"]
    for k in kept:
        what = f"{k.get('table')}.{k['column']}" if k.get("column") else f"table {k.get('table')}"
        lines.append(f"kept {what}: {k.get('reason')}")
    return lines


def report_lines(report: dict) -> list[str]:
    """What the table does not show: files not found, objects left out or unbalanced, objects' notes."""
    lines = [f"{f['file']}: {f['presence']}; {f['object']} not migrated"
             for f in report.get("discovery", []) if f["presence"] != "present"]
    lines += [f"{o['object']}: {o['reason']}" for o in report["objects"] if o["status"] == "skipped"]
    lines += [f"{o['object']}: source {o['source']} is not loaded {o['loaded']} + rejected {o['rejected']} + queued "
              f"{o['queued']}: records are unaccounted for; report this with the staging folder objects/{o['object']}/"
              for o in report["objects"] if o["status"] == "unbalanced"]
    # a note several objects share (the map's "Not migrated (skipped in the approved map): DateModified." of
    # every WORKetc object) is printed once, naming them all, where the first of them would have printed it
    owners: dict[str, list[str]] = {}
    for o in report["objects"]:
        for note in o.get("notes", []):
            owners.setdefault(note, []).append(o["object"])
    lines += [f"{', '.join(dict.fromkeys(objs))}: {note}" for note, objs in owners.items()]
    return lines


def earlier_run(st: Staging, run: RunConfig) -> str | None:
    """What a rerun of the same command should know: the run already ended once."""
    if not st.exists("report/report.json"):
        return None
    r = json.loads(st.read_bytes("report/report.json"))
    if r["status"] == "failed":
        why = r["failure"].get("message") or "see report.json"
        return f"resuming run {run.run_id}, which failed at {r['ended']}: {why}"
    return (f"run {run.run_id} already completed at {r['ended']}; running it again reuses what it staged, so "
            "changes to the source since then are not read: use --fresh to run it again from the source")


def cli_input(value: str, staging: str, source: str = "worketc-csv") -> str:
    """``--input`` as the run carries it: a URL (the WSDL) as given; a work4all GraphQL tenant code (``1``) as
    given; ``imports/<name>`` (an export uploaded to the staging account's ``imports`` container,
    shared/staging/imports.py) as given, once the staging is known to be Blob Storage (a local folder of that
    name is ``./imports/<name>``); a folder made absolute."""
    from shared.staging.imports import import_name, is_import, open_import

    if "://" in value:
        return value
    if source == "work4all-graphql":  # the mandant (x-work4all-mandant), not a folder
        return value.strip()
    if is_import(value.strip().strip("/")):
        try:
            open_import(value, staging)  # no I/O: a Blob container client, or SettingsError for a folder
        except SettingsError:
            raise SettingsError(f"--input {value.strip()} reads an export uploaded to the imports container of the "
                                "staging account, but the staging is a folder: give --staging a Blob Storage "
                                "connection string (or a setting naming one), or give --input the export folder "
                                "(./imports/<name> for a local folder of that name)") from None
        return import_name(value)
    return str(Path(value).resolve())


def one_line(exc: BaseException) -> str:
    """An error as the one line the engineer acts on (the step's own message; options by their flag)."""
    if isinstance(exc, OrchestrationFailed):  # the failing step's one line, not the nested Durable details
        return exc.summary
    if isinstance(exc, ValidationError):
        return "; ".join(f"{OPTIONS.get(str(e['loc'][0]), '--' + str(e['loc'][0]).replace('_', '-'))}: "
                         f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
    text = next(iter(str(exc).strip().splitlines()), "") or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__module__ == "builtins" else text


#: the settings one of which gives the engine a Dataverse identity (shared/dataverse/settings.py from_env)
CREDENTIALS = ("DATAVERSE_IDENTITIES", "DATAVERSE_TOKEN", "DATAVERSE_USE_MANAGED_IDENTITY", "DATAVERSE_CLIENT_ID")

#: -v of every subcommand
VERBOSE_HELP = "also print INFO log lines (each step, and the per-object telemetry events)"

#: RunConfig fields whose option is not ``--`` + the field name
OPTIONS = {"default_owner_email": "--default-owner"}


#: the exit code of a run that stopped at a gate and waits for a person (map approval, owners)
WAITING = 3
EXPORT_REJECTED = 4  # validate-export: the delivered export is not accepted


async def _migrate(args: argparse.Namespace) -> int:
    from orchestrators.delta import ORCHESTRATORS  # the migration's and the later passes', as the Function App
    from orchestrators.migration import MAP_APPROVED, OWNERS_RESOLVED

    from shared.steps import STEPS
    from shared.steps.mapping import SUMMARY, submit_map

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    staging = staging_reference(args.staging or str(out / "staging"))
    input_ = cli_input(args.input, staging, args.source)
    run_id = args.run_id or RunConfig.derive_run_id(args.source, input_, args.target, args.sample)
    run = RunConfig(run_id=run_id, source=args.source, input=input_, target=args.target, staging=staging,
                    date_order=args.date_order, timezone=args.timezone, default_owner_email=args.default_owner,
                    chunk_size=args.chunk_size, only=args.only, skip=args.skip or [], take_over=args.take_over,
                    sample=args.sample, auto_approve=args.auto_approve, owners=args.owners,
                    deactivate_deleted=args.deactivate_deleted)
    st = open_staging(run.staging, prefix=run.prefix)
    store = out / "durable" / run.run_id  # the run's Durable history: a rerun resumes it, replay included
    if not args.fresh and st.exists("rollback/report.json"):  # what it staged is no longer in Dynamics 365
        raise SettingsError(f"run {run.run_id} was rolled back (python -m cli rollback; {out / 'rollback_report.txt'}): "
                            "to migrate it again, start it over with --fresh")
    if args.fresh:
        forget_run(st, str(uuid.uuid4()), take_over=args.take_over)
        shutil.rmtree(store, ignore_errors=True)
    progress = Progress()
    driver = DurableDriver(ORCHESTRATORS, STEPS, max_parallel_activities=args.parallel, listener=progress,
                           store=store)
    console.print(mask_secrets(f"run {run.run_id}: {run.source} {run.input} -> {run.target} (staging {run.staging})"),
                  markup=False)
    if not any(os.environ.get(name, "").strip().lower() not in ("", "false", "0") for name in CREDENTIALS):
        # said here, in one line, not as discover's "ValueError: DataverseSettings has no identities ..."
        raise SettingsError("no Dataverse credential in the environment: set DATAVERSE_CLIENT_ID and "
                            "DATAVERSE_CLIENT_SECRET (or DATAVERSE_CLIENT_CERT), or DATAVERSE_TOKEN, DATAVERSE_IDENTITIES "
                            "or DATAVERSE_USE_MANAGED_IDENTITY=true (README: Running against a real Dynamics 365 "
                            "environment; for the emulators: The emulators)")
    if not args.fresh and (later := later_pass(st, run)) is not None:  # the first pass ended: this is the next
        return await run_pass(driver, progress, later, out)
    waiting = driver.status(run.run_id)
    waiting = waiting if waiting and waiting.runtime_status in ("Running", "Pending") else None
    if waiting is None and not args.fresh and (notice := earlier_run(st, run)):
        console.print(mask_secrets(notice), markup=False)
    if args.approve and not (waiting and MAP_APPROVED in waiting.waiting_for):
        raise SettingsError(f"--approve: run {run.run_id} is not waiting for a map approval; run the command "
                            "without --approve first, which proposes the map")
    if waiting and MAP_APPROVED in waiting.waiting_for and (args.approve or args.auto_approve):
        if args.approve:
            content_hash, errors = submit_map(st, Path(args.approve).read_text(encoding="utf-8"),
                                              file=Path(args.approve).name)
            if errors:
                for line in errors:
                    console.print(f"error: {line}", markup=False)
                return 2
        else:
            content_hash = st.read_json(SUMMARY)["hash"]
        await driver.raise_event(run.run_id, MAP_APPROVED, {"hash": content_hash, "by": "cli"})
    elif waiting and OWNERS_RESOLVED in waiting.waiting_for:
        # the operator reran the command: the administrator provisioned the owners (or says to use the default)
        await driver.raise_event(run.run_id, OWNERS_RESOLVED, {"use_default_owner": args.owners == "use-default",
                                                               "by": "cli"})
    began = datetime.now(timezone.utc).replace(microsecond=0)
    status, error = None, None
    with Live(progress.render(), console=console, refresh_per_second=4, transient=not sys.stderr.isatty()) as live:
        progress.live = live
        try:
            if waiting:
                status = await driver.resume(run.run_id, until_idle=True)
            else:
                status = await driver.run("migration", run.model_dump(), run.run_id, until_idle=True)
        except Exception as exc:  # the failed run's report is shown first, then main() says why in one line
            error = exc
    if status is not None and status.runtime_status != "Completed":
        return _at_gate(st, out, run, status)
    if run.auto_approve and st.exists("mapping/approval.json") and st.exists(SUMMARY):
        p = st.read_json(SUMMARY)
        console.print(f"proposed field map: {p.get('columns')} columns of {p.get('objects')} objects, {p.get('unsure')} "
                      f"unsure, {p.get('custom')} new custom columns, {p.get('lossy')} lossy value maps", markup=False)
        console.print(f"map approved automatically (--auto-approve, no person reviewed it): "
                      f"{st.read_json('mapping/approval.json')['hash']}; review what was applied in "
                      f"{out / 'review.html'}", style="yellow", markup=False)
    report = json.loads(st.read_bytes("report/report.json")) if st.exists("report/report.json") else None
    if report and datetime.fromisoformat(report["ended"]) >= began:  # this run's, not an earlier one's
        for name in report["files"]:
            if st.exists(f"report/{name}"):
                (out / name).write_bytes(st.read_bytes(f"report/{name}"))
        if report["objects"]:
            show_table(report_table(report))
        for line in report_lines(report):
            console.print(line, style="dim", markup=False)
        console.print(f"in {out}: " + ", ".join(report["files"]), markup=False)
        if "report.html" in report["files"]:
            console.print(f"the report: {out / 'report.html'}", style="bold", markup=False)
        if error is None and report.get("failure"):
            console.print(f"error: {mask_secrets(report['failure']['message'])}", markup=False)
    if error is not None:
        raise error
    return 0 if status.output["status"] == "completed" else 2


GATE_FILES = ("mapping.yaml", "review.html", "scope.md", "owner_queue.csv")


# ------------------------------------------------------------------ later passes: reruns and delta syncs


def later_pass(st: Staging, run: RunConfig) -> RunConfig | None:
    """The pass to run when the migration's first pass has ended (a rerun re-reads the source and writes only
    what changed: shared/steps/delta.py); None while the first pass is still to run, to resume or at a gate."""
    from shared.steps.delta import ENDED, RUN_SETTINGS, latest_pass, pass_report, plan_pass

    n = latest_pass(st)
    if n == 1 and (pass_report(st, 1) or {}).get("status") not in ENDED:
        st.write_json(RUN_SETTINGS, run.model_dump())  # what `python -m cli delta --run` starts from
        return None
    later, started = plan_pass(run, delta=False)
    console.print(f"run {run.run_id}: pass {later.pass_no} "
                  + ("starts: the source is read again and only what changed since the last pass is written"
                     if started else "resumes"), markup=False)
    return later


async def run_pass(driver: DurableDriver, progress: Progress, run: RunConfig, out: Path) -> int:
    """Drive a later pass (orchestrators/delta.py) to its end and show its report and certificate."""
    st = open_staging(run.staging, prefix=run.prefix)
    began = datetime.now(timezone.utc).replace(microsecond=0)
    status, error = None, None
    with Live(progress.render(), console=console, refresh_per_second=4, transient=not sys.stderr.isatty()) as live:
        progress.live = live
        try:
            status = await driver.run("delta", run.model_dump(), run.instance_id, until_idle=True)
        except Exception as exc:  # the failed pass's report is shown first
            error = exc
    report = json.loads(st.read_bytes("report/report.json")) if st.exists("report/report.json") else None
    if report and datetime.fromisoformat(report["ended"]) >= began:
        for name in report["files"]:
            if st.exists(f"report/{name}"):
                (out / name).write_bytes(st.read_bytes(f"report/{name}"))
        if report["objects"]:
            show_table(report_table(report))
        gone = [o for o in report["objects"] if o.get("deleted_in_source")]
        for o in gone:
            console.print(f"{o['object']}: {o['deleted_in_source']} record(s) gone from the source since pass "
                          f"{run.pass_no - 1}, {o.get('deactivated', 0)} deactivated", markup=False)
        for line in report_lines(report):
            console.print(line, style="dim", markup=False)
        console.print(f"pass {run.pass_no} of run {run.run_id}, in {out}: " + ", ".join(report["files"]), markup=False)
        if "report.html" in report["files"]:  # as migrate ends: the page people read
            console.print(f"the report: {out / 'report.html'}", style="bold", markup=False)
    certified = None
    if run.freeze and st.exists("report/certificate.json"):
        cert = st.read_json("report/certificate.json")
        certified = cert["certified"]
        console.print(("certified: " if certified else "NOT certified: ") + "per object, the source count against "
                      f"Dataverse's, read back (certificate.md in {out})", markup=False,
                      style=None if certified else "red")
    if error is not None:
        raise error
    ok = status.output["status"] == "completed" and certified is not False
    return 0 if ok else 2


async def _delta(args: argparse.Namespace) -> int:
    """``python -m cli delta --run RUN --out DIR [--freeze]``: the next pass of a migration that ran from here."""
    from orchestrators.delta import ORCHESTRATORS
    from shared.steps import STEPS
    from shared.steps.delta import ENDED, RUN_SETTINGS, latest_pass, pass_report, plan_pass

    out = Path(args.out).resolve()
    staging = staging_reference(args.staging or str(out / "staging"))
    base = open_staging(staging, prefix=f"runs/{args.run}/")
    if not base.exists(RUN_SETTINGS):
        raise SettingsError(f"--run {args.run}: no migration with this id was run with --out {out}: give the run id "
                            "and --out (or --staging) of the migration (python -m cli migrate prints its run id)")
    if base.exists("rollback/report.json"):  # what it loaded is no longer in Dynamics 365: no next pass
        raise SettingsError(f"run {args.run} was rolled back ({out / 'rollback_report.txt'}), so it has no next pass: "
                            "to migrate it again, start it over with python -m cli migrate ... --fresh")
    if latest_pass(base) == 1 and (pass_report(base, 1) or {}).get("status") not in ENDED:
        raise SettingsError(f"run {args.run} has not completed its first pass: finish it with python -m cli migrate "
                            "(the same command) before a delta sync")
    run = RunConfig.model_validate({**base.read_json(RUN_SETTINGS), "staging": staging, "take_over": args.take_over,
                                    **({"deactivate_deleted": True} if args.deactivate_deleted else {})})
    freeze = {"by": args.frozen_by, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")} \
        if args.freeze else None
    later, started = plan_pass(run, delta=not args.full, freeze=freeze)
    console.print(f"run {run.run_id}: delta pass {later.pass_no} "
                  + (("starts" + (f", source frozen by {args.frozen_by}" if freeze else "")) if started
                     else "resumes (it had not ended)"), markup=False)
    progress = Progress()
    driver = DurableDriver(ORCHESTRATORS, STEPS, max_parallel_activities=args.parallel, listener=progress,
                           store=out / "durable" / run.run_id)
    return await run_pass(driver, progress, later, out)


def add_delta_parser(sub) -> None:
    d = sub.add_parser("delta", help="the next pass of a completed migration: only what changed (cutover delta sync)")
    d.add_argument("--run", required=True, help="the migration's run id (python -m cli migrate prints it)")
    d.add_argument("--out", required=True, help="the --out of the migration")
    d.add_argument("--staging", help="the migration's staging, if it was not <out>/staging")
    d.add_argument("--freeze", action="store_true",
                   help="the final pass with the source frozen: the report records it, and a certificate per object "
                        "(source count = Dataverse count, verified) ends it")
    d.add_argument("--frozen-by", default="operator (cli)", metavar="WHO",
                   help="who froze the source, for the report and the certificate")
    d.add_argument("--deactivate-deleted", action="store_true",
                   help="deactivate records whose source row is gone (tables with an Inactive state)")
    d.add_argument("--full", action="store_true",
                   help="read the whole source (a SOAP delta pass otherwise asks only for the records modified since "
                        "the pass before, which cannot see deletions)")
    d.add_argument("--parallel", type=int, default=4, help="activities run at once")
    d.add_argument("--take-over", action="store_true", help="take the run's lease from a dead earlier pass")
    d.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    d.add_argument("--debug", action="store_true", help="show the traceback of an error")


def _at_gate(st: Staging, out: Path, run: RunConfig, status) -> int:
    """The run waits for a person: say for what, where to look and which command goes on."""
    for name in GATE_FILES:
        if st.exists(f"report/{name}"):
            (out / name).write_bytes(st.read_bytes(f"report/{name}"))
    gate = status.custom_status if isinstance(status.custom_status, dict) else {}
    if gate.get("phase") == "awaiting_map_approval":
        if gate.get("refused"):
            console.print(f"approval refused: {gate['refused']}", style="red", markup=False)
        console.print(f"the proposed field map is {out / 'mapping.yaml'} ({gate.get('hash')}): "
                      f"{gate.get('columns', '?')} columns of {gate.get('objects', '?')} objects, "
                      f"{gate.get('unsure', 0)} unsure, {gate.get('custom', 0)} new custom columns, "
                      f"{gate.get('lossy', 0)} lossy value maps", markup=False)
        console.print(f"review it in {out / 'review.html'} (scope: {out / 'scope.md'}); nothing has been written "
                      "to Dynamics 365 yet", markup=False)
        console.print(f"to approve it (edited or as it is), rerun the same command with --approve "
                      f"{out / 'mapping.yaml'}; it waits until {readable_time(gate.get('deadline'))}", markup=False)
    elif gate.get("phase") == "awaiting_owners":
        console.print(f"{gate.get('unmatched')} owner(s) have no active Dynamics 365 user: {out / 'owner_queue.csv'} "
                      "lists them with their records per object; no record has been loaded yet", markup=False)
        console.print("when the administrator has provisioned them, rerun the same command; or rerun it with "
                      "--owners use-default to give the rest the default owner (the report records it)",
                      markup=False)
    else:
        console.print(f"run {run.run_id} waits ({gate.get('phase') or status.runtime_status}); rerun the same "
                      "command to go on", markup=False)
    return WAITING


def add_work4all_parsers(sub) -> None:
    """work4all vendor coordination: the export specification, and the check of a delivered export."""
    s = sub.add_parser("work4all-spec", help="write the work4all export specification to hand to the vendor")
    s.add_argument("--out", required=True, help="folder for work4all_export_spec.md and .csv")
    s.add_argument("--sample", help="a sample export: its custom fields are added to the specification")
    s.add_argument("--customer", default="", help="the customer's name, for the title")
    v = sub.add_parser("validate-export", help="check a delivered export before accepting it (exit 0 accepted, "
                                               f"{EXPORT_REJECTED} rejected)")
    v.add_argument("kind", choices=["work4all"], help="the export's system")
    v.add_argument("folder", help="the delivered export folder")
    v.add_argument("--out", help="folder for validation.json, validation.md, validation_problems.csv")
    v.add_argument("--sample-size", type=int, default=100, help="records sampled and parsed per table")
    v.add_argument("--allow-absent", default="", metavar="T1,T2",
                   help="tables agreed to be left out (a Light licence cannot export them)")
    for x in (s, v):
        x.add_argument("--debug", action="store_true", help="show the traceback of an error")
        x.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)


def _work4all(args) -> int:
    from shared.sources.work4all.spec import validate_export, write_specification

    if args.command == "work4all-spec":
        paths = write_specification(args.out, sample=args.sample, customer=args.customer)
        console.print(f"export specification: {paths['markdown']} and {paths['csv']}", markup=False)
        return 0
    result = validate_export(args.folder, sample_size=args.sample_size,
                             allow_absent=[t.strip() for t in args.allow_absent.split(",") if t.strip()])
    console.print(result.summary(), markup=False, highlight=False)
    if args.out:
        console.print(f"written: {', '.join(result.write(args.out).values())}", markup=False)
    return 0 if result.accepted else EXPORT_REJECTED


# ------------------------------------------------------------------------------------ rolling a run back


async def _rollback(args: argparse.Namespace) -> int:
    """``python -m cli rollback --run RUN --out DIR [--schema]``: undo a run (orchestrators/rollback.py)."""
    from orchestrators.rollback import ORCHESTRATORS, SUFFIX
    from shared.steps import STEPS

    if args.run.endswith(SUFFIX) or ":" in args.run:
        raise SettingsError(f"--run {args.run}: a rollback cannot be rolled back; to move the data again, run the "
                            "migration again")
    out = Path(args.out).resolve()
    staging = staging_reference(args.staging or str(out / "staging"))
    store = out / "durable" / args.run  # the run's Durable history, where migrate keeps it
    settings = _run_settings(open_staging(staging, prefix=f"runs/{args.run}/"), store, args.run)
    if settings is None:
        raise SettingsError(f"--run {args.run}: no migration with this id was run with --out {out}: give the run id "
                            "and --out (or --staging) of the migration (python -m cli migrate prints its run id)")
    run = RunConfig.model_validate({**settings, "staging": staging, "take_over": args.take_over})
    progress = Progress()
    driver = DurableDriver(ORCHESTRATORS, STEPS, max_parallel_activities=args.parallel, listener=progress,
                           store=store)
    status = driver.status(run.run_id)
    if status and status.runtime_status in ("Running", "Pending") and not args.take_over:
        phase = (status.custom_status or {}).get("phase") if isinstance(status.custom_status, dict) else None
        raise SettingsError(f"run {run.run_id} has not ended ({phase or status.runtime_status}): finish it with the same "
                            "migrate command, or if it died and is to be rolled back as it is, add --take-over")
    console.print(mask_secrets(f"rollback of run {run.run_id}: {run.target} (staging {run.staging})"), markup=False)
    st = open_staging(run.staging, prefix=run.prefix)
    error = None
    try:
        result = await driver.run("rollback", {"run": run.model_dump(), "schema": args.schema},
                                  f"{run.run_id}{SUFFIX}")
    except Exception as exc:  # the report says what was done; main() says why in one line
        error, result = exc, None
    for name in ("report.json", "report.txt"):
        if st.exists(f"rollback/{name}"):
            (out / f"rollback_{name}").write_bytes(st.read_bytes(f"rollback/{name}"))
    if st.exists("rollback/report.txt"):
        console.print(st.read_bytes("rollback/report.txt").decode("utf-8").rstrip(), markup=False)
        if st.exists("rollback/report.json"):  # --schema: what went, what stayed and why (else only in the JSON)
            for line in schema_lines(st.read_json("rollback/report.json")):
                console.print(line, markup=False)
        console.print(f"in {out}: rollback_report.json, rollback_report.txt", markup=False)
    if error is not None:
        raise error
    return 0 if result["status"] == "completed" else 2


def _run_settings(base: Staging, store: Path, run_id: str) -> dict | None:
    """The run's settings: staged by migrate (``run.json``), else the input its Durable history recorded."""
    if base.exists("run.json"):
        return base.read_json("run.json")
    record = store / f"i-{run_id}.json"
    if not record.exists():
        return None
    settings = json.loads(record.read_text(encoding="utf-8"))["input"]
    while isinstance(settings, str):  # JSON text (of JSON text: the Durable client encodes input twice)
        settings = json.loads(settings)
    return settings


def add_rollback_parser(sub) -> None:
    r = sub.add_parser("rollback", help="undo a run: delete what it created, restore what it updated")
    r.add_argument("--run", required=True, help="the migration's run id (python -m cli migrate prints it)")
    r.add_argument("--out", required=True, help="the --out of the migration")
    r.add_argument("--staging", help="the migration's staging, if it was not <out>/staging")
    r.add_argument("--schema", action="store_true",
                   help="also remove the custom columns and custom tables the run created, when they are empty")
    r.add_argument("--parallel", type=int, default=4, help="activities run at once")
    r.add_argument("--take-over", action="store_true",
                   help="roll back a run that died without ending (takes its lease)")
    r.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    r.add_argument("--debug", action="store_true", help="show the traceback of an error")


class _Console(logging.StreamHandler):
    """A console handler writing to ``sys.stderr`` as it is when a record comes (as logging's own last-resort
    handler does), not the stream it saw when set up: that one may be closed since (a test's capture)."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def configure_logging(verbose: bool) -> None:
    """Warnings on the console; INFO with -v. The telemetry events (one ``reconciliation`` record per object,
    the custom events of shared.telemetry) are INFO records of loggers set to INFO for Application Insights:
    without -v the console handler drops them, so the reconciliation table is not preceded by a line per object.

    The filters go on the CLI's own console handler only (set up once per process), never on handlers
    someone else installed: a program (or a test session) that calls ``main`` twice keeps its own logging."""
    root = logging.getLogger()
    console = next((h for h in root.handlers if getattr(h, "migration_cli", False)), None)
    if console is None:
        console = _Console()
        console.migration_cli = True  # type: ignore[attr-defined]
        console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        if not root.handlers:  # a plain process: the console is the root's only handler
            root.setLevel(logging.INFO if verbose else logging.WARNING)
        root.addHandler(console)
    console.filters.clear()
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    console.addFilter(MaskingFilter())
    # a step's permanent failure is logged for telemetry; here the run's end prints it, once
    console.addFilter(lambda record: not hasattr(record, "failure_kind"))


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()  # as the Function App does at start (shared/memory.py)
    p = argparse.ArgumentParser(prog="python -m cli", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("migrate", help="run a migration in-process")
    m.add_argument("--source", default="worketc-csv", choices=sorted(SOURCE_KINDS),
                   help="the source kind: " + ", ".join(sorted(SOURCE_KINDS)))
    m.add_argument("--input", required=True, help="the export folder (worketc-csv, work4all-export), imports/<name> (an "
                   "export uploaded to the staging account's imports container; needs a Blob --staging), the tenant's "
                   "WSDL URL (worketc-soap) or the mandant, e.g. 1 (work4all-graphql)")
    m.add_argument("--target", required=True, help="Dataverse environment URL or emulator base URL")
    m.add_argument("--out", required=True, help="folder for the report (report.html, summary.md, report.json) and its "
                   "CSVs, the map to review, and <out>/staging by default")
    m.add_argument("--staging", help="staging location (default: <out>/staging): a folder, a Blob connection string, "
                   "https://<account>.blob.core.windows.net/<container>, or the name of a variable holding one")
    m.add_argument("--run-id", help="default: derived from source, input and target, so reruns resume")
    m.add_argument("--date-order", choices=["DMY", "MDY"], default="DMY", help="for dd/mm/yyyy dates (WORKetc: DMY)")
    m.add_argument("--timezone", default=None, help="for source times without an offset (default: the source's: "
                   "Australia/Sydney for WORKetc, Europe/Berlin for work4all)")
    m.add_argument("--default-owner", help="e-mail of the Dynamics 365 user who owns records of unknown owners")
    m.add_argument("--chunk-size", type=int, default=5000,
                   help="records per staged chunk, the unit transformed and loaded by one activity (10..50000)")
    m.add_argument("--parallel", type=int, default=4, help="activities run at once")
    m.add_argument("--only", nargs="*", metavar="OBJECT", help="migrate only these objects (and what they depend on)")
    m.add_argument("--skip", nargs="+", metavar="OBJECT",
                   help="leave these objects out (and what depends on them), e.g. --skip document")
    m.add_argument("--fresh", action="store_true", help="forget earlier progress of this run (and its passes)")
    m.add_argument("--deactivate-deleted", action="store_true",
                   help="on a rerun, deactivate records whose source row is gone (else they are only reported)")
    m.add_argument("--approve", metavar="FILE",
                   help="approve this map (the proposed mapping.yaml, edited or not) for a run waiting at the map gate")
    m.add_argument("--auto-approve", action="store_true",
                   help="approve the proposed map without review (the demo); the run's output and report say so")
    m.add_argument("--owners", choices=["wait", "use-default"], default="wait",
                   help="owners without a Dynamics 365 user: wait at the owner gate (default), or give their "
                        "records the default owner")
    m.add_argument("--sample", type=int, metavar="N",
                   help="migrate a connected sample of N records per object (its own run id; the report says so)")
    m.add_argument("--take-over", action="store_true",
                   help="take this run's lease from an earlier run that is dead (one run at a time per run id)")
    m.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    m.add_argument("--debug", action="store_true", help="show the traceback of an error")
    add_delta_parser(sub)
    add_work4all_parsers(sub)
    add_rollback_parser(sub)
    args = p.parse_args(argv)
    configure_logging(args.verbose)
    if args.command not in ("migrate", "delta", "work4all-spec", "validate-export", "rollback"):
        return 1
    try:
        if args.command in ("work4all-spec", "validate-export"):
            return _work4all(args)
        if args.command == "rollback":
            return asyncio.run(_rollback(args))
        return asyncio.run(_migrate(args) if args.command == "migrate" else _delta(args))
    except KeyboardInterrupt:
        console.print("interrupted: rerun the same command to resume", markup=False)
        return 130
    except Exception as exc:
        if args.debug:
            raise
        console.print(f"error: {mask_secrets(one_line(exc))} (--debug shows the traceback)", markup=False)
        return 2


if __name__ == "__main__":
    sys.exit(main())
