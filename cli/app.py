"""Command line: run a migration locally with the same orchestrator code as the Function App.

    python -m cli migrate --source worketc-csv --input DIR --target URL --out DIR

``--target`` is the Dataverse environment URL (``https://org.crm.dynamics.com``) or an emulator's
base URL; credentials come from the environment (see README: DATAVERSE_*). Staging defaults to
``<out>/staging`` (a local folder); ``--staging`` takes a Blob Storage connection string instead.
Rerunning the same command resumes the run: finished steps are found in staging and skipped, and
every Dataverse write is an upsert by alternate key, so nothing is duplicated. ``--fresh`` starts over.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table

from shared.driver import LocalDriver
from shared.run import RunConfig
from shared.staging import open_staging

console = Console(stderr=True)


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
            console.print(f"[yellow]retrying {data['name']} ({data['input'].get('object', '')}): {data['error']}")
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
    cols = ("object", "table", "source", "loaded", "created", "updated", "unchanged", "rejected", "warnings")
    for c in cols:
        t.add_column(c, justify="left" if c in ("object", "table") else "right")
    for o in report["objects"]:
        t.add_row(*(str(o.get(c) if o.get(c) is not None else "") for c in cols))
    tot = report["totals"]
    t.add_row("total", "", *(str(tot[c]) for c in cols[2:]), style="bold")
    return t


async def _migrate(args: argparse.Namespace) -> int:
    from orchestrators.migration import ORCHESTRATORS  # the same generators the Function App registers

    from shared.steps import STEPS

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    input_ = str(Path(args.input).resolve()) if "://" not in args.input else args.input
    staging = args.staging or str(out / "staging")
    run_id = args.run_id or RunConfig.derive_run_id(args.source, input_, args.target)
    run = RunConfig(run_id=run_id, source=args.source, input=input_, target=args.target, staging=staging,
                    date_order=args.date_order, timezone=args.timezone, default_owner_email=args.default_owner,
                    chunk_size=args.chunk_size, only=args.only)
    st = open_staging(run.staging, prefix=run.prefix)
    if args.fresh:
        st.delete_prefix("")
    progress = Progress()
    driver = LocalDriver(ORCHESTRATORS, STEPS, max_parallel_activities=args.parallel, listener=progress)
    console.print(f"run [bold]{run.run_id}[/]: {run.source} {run.input} -> {run.target} (staging {staging})")
    with Live(progress.render(), console=console, refresh_per_second=4, transient=not sys.stderr.isatty()) as live:
        progress.live = live
        result = await driver.run("migration", run.model_dump(), instance_id=run.run_id)
    report = json.loads(st.read_bytes("report/report.json"))
    for name in report["files"]:
        (out / name).write_bytes(st.read_bytes(f"report/{name}"))
    Console(width=max(Console().width, 110)).print(report_table(report))
    for o in report["objects"]:
        for note in o.get("notes", []):
            console.print(f"[dim]{o['object']}: {note}")
    console.print(f"in {out}: " + ", ".join(report["files"]))
    return 0 if result["status"] == "completed" else 2


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m cli", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("migrate", help="run a migration in-process")
    m.add_argument("--source", default="worketc-csv", help="worketc-csv (more to come)")
    m.add_argument("--input", required=True, help="the export folder")
    m.add_argument("--target", required=True, help="Dataverse environment URL or emulator base URL")
    m.add_argument("--out", required=True, help="folder for report.json, rejects.csv, owner_queue.csv")
    m.add_argument("--staging", help="staging location (default: <out>/staging); a Blob connection string works")
    m.add_argument("--run-id", help="default: derived from source, input and target, so reruns resume")
    m.add_argument("--date-order", choices=["DMY", "MDY"], default="DMY", help="for dd/mm/yyyy dates (WORKetc: DMY)")
    m.add_argument("--timezone", default="Australia/Sydney", help="for source times without an offset")
    m.add_argument("--default-owner", help="e-mail of the Dynamics 365 user who owns records of unknown owners")
    m.add_argument("--chunk-size", type=int, default=5000)
    m.add_argument("--parallel", type=int, default=4, help="activities run at once")
    m.add_argument("--only", nargs="*", help="migrate only these objects (and what they depend on)")
    m.add_argument("--fresh", action="store_true", help="forget earlier progress of this run")
    m.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "migrate":
        return asyncio.run(_migrate(args))
    return 1


if __name__ == "__main__":
    sys.exit(main())
