"""A whole WORKetc migration against the realistic Dataverse emulator: records/s against the mix ceiling.

    python -m bench.migration [--companies 11500] [--users 1 2] [--time-scale 0.25] [--json FILE]

For each number of application users: a sample export (``emulators.sample_worketc``, every object but
documents: at 11,500 companies about 200,000 records), the Dataverse emulator in its own process over
TLS (``--profile realistic``, in-memory, time-scaled; ``bench/load.py``'s ``Emulator``), the users
provisioned as an administrator would, then the product's real path: ``python -m cli migrate
--auto-approve --owners use-default`` with the application users as ``DATAVERSE_CLIENT_ID[_n]``.

The ceiling is computed from the limits (``emulators.dataverse.protection``'s ``LIMITS`` and cost model):
rows of tables whose ``sdkmessagefilters`` list UpsertMultiple (``emulators/dataverse/messages.py``, from
Microsoft's table pages) go as UpsertMultiple x 500 (one request, cheap in execution time), the others
through ``$batch`` (every part is a request), and closing actions (WinOpportunity, CloseIncident, ...) are
one request each. Both limits are per user and shared by all tables, so the least time the mix needs is
the larger of (all requests / the request limit's rate) and (all execution time / the execution limit's
rate), divided by the number of users. A run starts on a fresh environment with its sliding windows empty,
so each user may spend one whole window's budget at once: that budget is taken off first (the "mix
ceiling"; without it, the lower "steady state" ceiling is printed too). The mix ceiling is the records
over that time. Measured: each object's load window (first load activity started to last ended,
``objects/<o>/timing.json``) and the whole run's wall time; the ratio compares the load windows'
records/s with the mix ceiling. ``--remeasure`` measures the runs already in ``--out`` again.

What a customer can do where the ceiling binds: more application users (limits are per user: the
``--users 2`` line), and bypassing custom logic (``DATAVERSE_BYPASS_CUSTOM_LOGIC``), which lowers the real
execution time per record (the emulator's cost model has no plug-ins, so it cannot show that gain).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import ADMIN, Emulator  # noqa: E402
from emulators.dataverse.messages import supports_multiple  # noqa: E402
from emulators.dataverse.protection import COSTS, LIMITS  # noqa: E402

TENANT = "bench-tenant"
BATCH = 500


def users(n: int) -> list[tuple[str, str]]:
    return [(f"bench-app-{i}", f"bench-secret-{i}") for i in range(1, n + 1)]


def provision(em: Emulator, people: list[dict]) -> None:
    token = em.token(*ADMIN)
    with httpx.Client(base_url=em.base_url, verify=em.ca_file or True, timeout=60,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        for u in people:
            http.post("/api/data/v9.2/systemusers", json=u).raise_for_status()


def bound_seconds(calls: dict[str, tuple[int, int]], time_scale: float, n_users: int, *, empty_window: bool = False) -> float:
    """Seconds the limits allow for ``calls`` (kind -> (HTTP requests, records)) at the least: every request
    counts toward the request limit ($batch: each part), and each costs execution time (the emulator's cost
    model, from Microsoft's ratios); both limits are per user, so the bound is the larger of the two.

    ``empty_window``: the calls start with the sliding windows empty (a run on a fresh environment), so each
    user may spend one whole window's budget at once; after that, a window's budget per window length."""
    requests = execution = 0.0
    for kind, (n_calls, records) in calls.items():
        if not n_calls:
            continue
        per_call = records / n_calls
        if kind == "batch":
            requests += records
            execution += n_calls * COSTS.cost_ms("batch", per_call, per_call)
        else:
            requests += n_calls
            execution += n_calls * COSTS.cost_ms(kind, per_call)
    request_rate = LIMITS.requests / (LIMITS.window_s * time_scale)          # requests/s per user
    execution_rate = LIMITS.execution_ms / (LIMITS.window_s * 1000.0)        # cost-seconds per second per user
    if empty_window:
        requests = max(0.0, requests - n_users * LIMITS.requests)
        execution = max(0.0, execution - n_users * LIMITS.execution_ms)
    return max(requests / request_rate, execution * time_scale / 1000.0 / execution_rate) / n_users


def calls_of(tables: Counter, closes: int) -> dict[str, tuple[int, int]]:
    bulk = sum(c for t, c in tables.items() if supports_multiple(t, custom=t.startswith("wtc_")))
    batch = sum(tables.values()) - bulk
    return {"multiple": (-(-bulk // BATCH), bulk), "batch": (-(-batch // BATCH), batch), "single": (closes, closes)}


def _t(s: str) -> float:
    return datetime.fromisoformat(s).timestamp()


def measure(out: Path, run_id: str, time_scale: float, n_users: int) -> dict:
    report = json.loads((out / "report.json").read_text())
    staging = out / "staging" / "runs" / run_id / "objects"
    rows, total_records = [], 0
    all_tables, all_closes = Counter(), 0
    windows = []
    for obj in report["objects"]:
        name = obj["object"]
        loaded = int(obj.get("loaded") or 0)
        timing_file = staging / name / "timing.json"
        if not loaded or not timing_file.exists():
            continue
        timing = json.loads(timing_file.read_text())
        start, end = min(_t(t["started"]) for t in timing), max(_t(t["ended"]) for t in timing)
        windows.append((start, end))
        # which table each row went to and whether it was closed by an action
        tables, closes = Counter(), 0
        for part in sorted((staging / name / "load").glob("*.json")):
            doc = json.loads(part.read_text())
            for o in doc.get("outcomes") or []:  # (part-NNNNN.before.json: what the rollback restores)
                tables[o.get("table") or (obj.get("table") or "").split(",")[0].strip()] += 1
        for chunk in sorted((staging / name / "transform").glob("part-*/part-*.jsonl.gz")):
            for line in gzip.decompress(chunk.read_bytes()).splitlines():
                closes += b'"close":' in line
        seconds_at_ceiling = bound_seconds(calls_of(tables, closes), time_scale, n_users)
        records = sum(tables.values())
        total_records += records
        all_tables.update(tables)
        all_closes += closes
        rate = records / max(end - start, 1e-9)
        cap = records / seconds_at_ceiling if seconds_at_ceiling else float("nan")
        rows.append({"object": name, "tables": dict(tables), "closes": closes, "records": records,
                     "seconds": end - start, "records_per_s": rate, "ceiling": cap, "ratio": rate / cap})
    load_seconds = 0.0  # union of the objects' load windows (objects of a wave load at the same time)
    for s, e in sorted(windows):
        if load_seconds and s < last_end:
            load_seconds += max(0.0, e - last_end)
            last_end = max(last_end, e)
        else:
            load_seconds += e - s
            last_end = e
    # the run starts on a fresh environment: its first window's budget comes at once (the mix ceiling); in
    # the long run only the steady rate counts (the steady ceiling, lower)
    total_time_at_ceiling = bound_seconds(calls_of(all_tables, all_closes), time_scale, n_users, empty_window=True)
    steady_time = bound_seconds(calls_of(all_tables, all_closes), time_scale, n_users)
    mix = total_records / total_time_at_ceiling if total_time_at_ceiling else float("nan")
    overall = total_records / load_seconds if load_seconds else float("nan")
    return {"users": n_users, "objects": rows, "records": total_records, "load_seconds": load_seconds,
            "records_per_s": overall, "mix_ceiling": mix, "ratio": overall / mix,
            "steady_ceiling": total_records / steady_time if steady_time else float("nan"),
            "wall_s": report.get("duration_s"), "totals": report.get("totals")}


def run_one(export: Path, people: list[dict], out: Path, n_users: int, time_scale: float, parallel: int) -> dict:
    creds = users(n_users)
    with Emulator(profile="realistic", time_scale=time_scale, clients=[ADMIN, *creds], tls=True) as em:
        provision(em, people)
        authority = em.token_url.rsplit("/oauth2/", 1)[0]
        env = {**os.environ, "DATAVERSE_URL": em.base_url, "DATAVERSE_AUTHORITY": authority,
               "DATAVERSE_CA_BUNDLE": em.ca_file or "", "DATAVERSE_TENANT_ID": TENANT}
        for i, (cid, secret) in enumerate(creds, start=1):
            suffix = "" if i == 1 else f"_{i}"
            env[f"DATAVERSE_CLIENT_ID{suffix}"], env[f"DATAVERSE_CLIENT_SECRET{suffix}"] = cid, secret
        shutil.rmtree(out, ignore_errors=True)
        cmd = [sys.executable, "-m", "cli", "migrate", "--source", "worketc-csv", "--input", str(export),
               "--target", em.base_url, "--out", str(out), "--auto-approve", "--owners", "use-default",
               "--skip", "document", "--parallel", str(parallel), "--run-id", f"bench-mix-{n_users}"]
        t0 = time.perf_counter()
        out.mkdir(parents=True)
        with (out.parent / f"run-{n_users}.log").open("w") as log:
            code = subprocess.run(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode
        wall = time.perf_counter() - t0
        if not (out / "report.json").exists():
            raise SystemExit(f"the migration with {n_users} user(s) wrote no report (exit {code})")
    result = measure(out, f"bench-mix-{n_users}", time_scale, n_users)
    result["run_wall_s"], result["exit"] = wall, code
    return result


def fmt(results: list[dict], time_scale: float) -> str:
    lines = ["| users | object | records | load s | records/s | ceiling rec/s | ratio |", "|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        for o in r["objects"]:
            lines.append(f"| {r['users']} | {o['object']} | {o['records']:,} | {o['seconds']:.1f} | "
                         f"{o['records_per_s']:,.0f} | {o['ceiling']:,.0f} | {o['ratio']:.2f} |")
        lines.append(f"| {r['users']} | **all (load windows)** | {r['records']:,} | {r['load_seconds']:.1f} | "
                     f"{r['records_per_s']:,.0f} | {r['mix_ceiling']:,.0f} | {r['ratio']:.2f} |")
    lines.append("")
    for r in results:
        lines.append(f"{r['users']} user(s): whole run {r['run_wall_s']:.0f} s wall; load windows {r['load_seconds']:.0f} s: "
                     f"{r['records_per_s']:,.0f} records/s (real-time equivalent {r['records_per_s'] * time_scale:,.0f}) "
                     f"(mix ceiling from an empty window {r['mix_ceiling']:,.0f}, real time "
                     f"{r['mix_ceiling'] * time_scale:,.0f}; steady state {r['steady_ceiling']:,.0f})")
    single = next((r for r in results if r["users"] == 1), None)
    if single is not None:
        one = single["records_per_s"]
        for r in (r for r in results if r["users"] > 1):
            lines.append(f"{r['users']} users / 1 user: {r['records_per_s'] / one:.2f}x (goal >= {0.8 * r['users']:.1f}x)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--companies", type=int, default=11500, help="sample size (11,500: about 200,000 records)")
    p.add_argument("--users", type=int, nargs="*", default=[1, 2])
    p.add_argument("--time-scale", type=float, default=0.25)
    p.add_argument("--parallel", type=int, default=8, help="activities at once (the CLI's --parallel)")
    p.add_argument("--out", default=str(ROOT / "out" / "bench" / "migration"))
    p.add_argument("--json", default=None)
    p.add_argument("--remeasure", action="store_true",
                   help="no new runs: measure the runs already in --out again (whole-run wall time: the report's)")
    a = p.parse_args(argv)
    out = Path(a.out).resolve()
    if a.remeasure:
        results = []
        for n in a.users:
            r = measure(out / f"run-{n}", f"bench-mix-{n}", a.time_scale, n)
            results.append({**r, "run_wall_s": r["wall_s"] or float("nan")})
        print(fmt(results, a.time_scale))
        return 0
    export, users_file = out / f"export-{a.companies}", out / f"users-{a.companies}.json"
    if not (export / "companies.csv").exists():
        subprocess.run([sys.executable, "-m", "emulators.sample_worketc", "--out", str(export), "--companies",
                        str(a.companies), "--users-out", str(users_file)], check=True, cwd=ROOT)
    people = json.loads(users_file.read_text())
    results = []
    for n in a.users:
        results.append(run_one(export, people, out / f"run-{n}", n, a.time_scale, a.parallel))
        print(fmt(results[-1:], a.time_scale), flush=True)  # each as it ends (a long run may be cut short)
        if a.json:
            Path(a.json).write_text(json.dumps(results, indent=2, default=str))
    print(f"\nWORKetc sample of {a.companies:,} companies, Dataverse emulator --profile realistic over TLS, "
          f"time scale {a.time_scale} (Retry-After in scaled decimal seconds); {platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}\n")
    print(fmt(results, a.time_scale))
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
