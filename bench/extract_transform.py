"""Extract + transform: rows per CPU-second, wall time, 1 vs 2 worker processes, peak memory.

    python -m bench.extract_transform [--rows 1000000] [--out out/bench/extract_transform] [--json FILE]

Writes a WORKetc export of ``--rows`` rows (30 % companies, 70 % contacts pointing at them; about 1 %
bad e-mails, 1 % contacts whose company is missing, dates in the run's DMY order), then runs the product's
own steps, each phase in a fresh Python process so its peak resident memory is its own:

- ``extract``: ``extract_object`` for companies and contacts (chunks of 5,000 rows);
- ``transform, N processes``: ``transform_chunk`` for every company chunk (all at once, as the
  orchestrator fans them out), then the companies are marked loaded (``loaded_keys.json``,
  ``report.json``, as reconciliation writes them) and every contact chunk is transformed against them
  (a lookup on 70 % of the rows, the placeholder for the missing ones). ``TRANSFORM_PROCESSES=N``;
  N = 0 runs the work on a thread of the bench process.

CPU seconds are the process's and its worker processes' user + system time (the workers' include their
start-up: a little over). "rows per CPU-second" = rows / (extract CPU + transform CPU), with the transform
as the Function App runs it (``TRANSFORM_PROCESSES`` unset: one worker process per core), and also with
N = 0. Marking the companies loaded between the two objects (reconciliation's work, not the transform's)
is left out of the transform's wall and CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CITIES = ("Sydney", "Melbourne", "Brisbane", "Perth", "Berlin", "München", "Köln", "Wien")
WORDS = ("Apex", "Harbour", "Summit", "Bäckerei", "Müller", "Granite", "Meridian", "Logistik", "Solar", "Dental")
FIRST = ("Anna", "Ben", "Chloé", "David", "Eva", "Fritz", "Grace", "Hannah", "Jürgen", "Liam", "Mia", "Noah")
LAST = ("Smith", "Jones", "Müller", "Schmidt", "Nguyen", "Brown", "Wagner", "O'Brien", "Taylor", "Weiß")
OWNERS = [f"owner{i}@contoso.com" for i in range(20)]


def _date(rng: random.Random) -> str:
    return f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2012, 2024)} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"


def generate(folder: Path, rows: int, seed: int = 7) -> tuple[int, int]:
    """companies.csv and contacts.csv (streamed), users.csv empty; returns (companies, contacts)."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    companies = max(1, rows * 3 // 10)
    contacts = rows - companies
    with (folder / "companies.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["EntityID", "Name", "Website", "Email", "Phone", "Fax", "Address1", "Address2", "City", "State",
                    "PostCode", "Country", "Industry", "OwnerEmail", "DateCreated", "DateModified"])
        for i in range(companies):
            name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i}"
            email = f"info{i}@example.com" if rng.random() > 0.01 else f"info{i}@@bad"
            w.writerow([f"C{i}", name, f"https://c{i}.example.com", email, f"+61 2 {rng.randint(1000, 9999)} "
                        f"{rng.randint(1000, 9999)}", "", f"{rng.randint(1, 300)} Main St", "", rng.choice(CITIES), "NSW",
                        f"{rng.randint(2000, 2999)}", "Australia", "Retail", rng.choice(OWNERS), _date(rng), _date(rng)])
    with (folder / "contacts.csv").open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["EntityID", "FirstName", "LastName", "Email", "Phone", "Mobile", "JobTitle", "Address1", "City",
                    "State", "PostCode", "Country", "LifecycleStage", "CompanyID", "OwnerEmail", "DateCreated",
                    "DateModified"])
        for i in range(contacts):
            company = f"C{rng.randrange(companies)}" if rng.random() > 0.01 else f"X{i}"
            email = f"p{i}@example.com" if rng.random() > 0.01 else "not-an-email"
            w.writerow([f"P{i}", rng.choice(FIRST), rng.choice(LAST), email, "", f"+61 4{rng.randint(10000000, 99999999)}",
                        "Manager", f"{rng.randint(1, 300)} High St", rng.choice(CITIES), "VIC", "3000", "Australia",
                        "Customer", company, rng.choice(OWNERS), _date(rng), _date(rng)])
    (folder / "users.csv").write_text("EntityID,Name,Email,Role,Active\r\n", encoding="utf-8")
    return companies, contacts


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _run_config(export: Path, staging: Path):
    from shared.run import RunConfig
    return RunConfig(run_id="bench-et", source="worketc-csv", input=str(export),
                     target="https://contoso.crm.dynamics.com", staging=str(staging), chunk_size=5000)


async def _extract(export: Path, staging: Path) -> dict:
    from shared.steps.extract import extract_object
    run = _run_config(export, staging)
    out = {}
    cpu0, t0 = _cpu(resource.RUSAGE_SELF), time.perf_counter()
    for name in ("company", "contact"):
        job = {"run": run.model_dump(), "object": name}
        result, calls = await extract_object(job), 1
        while not result.get("done", True):  # slice by slice, numbered, as the orchestrator calls it
            result, calls = await extract_object({**job, "slice": calls}), calls + 1
        out[name] = result["staged"]
    out["_wall"], out["_cpu"] = time.perf_counter() - t0, _cpu(resource.RUSAGE_SELF) - cpu0
    return out


async def _transform(export: Path, staging: Path) -> dict:
    from shared.objects import catalogue
    from shared.staging import open_staging
    from shared.steps import transform as step
    run = _run_config(export, staging)
    st = open_staging(run.staging, prefix=run.prefix)
    st.write_json("owners.json", {"owners": {e: f"00000000-0000-0000-0000-{i:012d}" for i, e in enumerate(OWNERS)},
                                  "default_owner": "00000000-0000-0000-0000-00000000ffff"})
    specs = catalogue(run.source)
    counts = {}
    workers = step.transform_processes()
    if workers:  # a Function worker keeps its pool: start it (and import the engine in it) before timing
        loop = asyncio.get_running_loop()
        await asyncio.gather(*[loop.run_in_executor(step._pool(workers), step.transform_processes)
                               for _ in range(workers * 2)])
    # workers' CPU so far (start-up, imports) is left out: their CPU is read when they are reaped below
    cpu0, t0 = _cpu(resource.RUSAGE_SELF), time.perf_counter()
    for name in ("company", "contact"):
        spec = specs[name]
        for prefix in ("transform",):
            st.delete_prefix(f"objects/{name}/{prefix}/")
        extract = st.read_json(f"objects/{name}/extract.json")
        results = await asyncio.gather(*[
            step.transform_chunk({"run": run.model_dump(), "object": name, "chunk": c}) for c in extract["chunks"]])
        counts[name] = {"rows": sum(r["rows"] for r in results), "rejected": sum(r["rejected"] for r in results),
                        "warnings": sum(r["warnings"] for r in results)}
        if name == "company":  # as reconciliation leaves a loaded object (not the transform: off the clocks)
            from shared.staging import read_chunk
            paused, paused_cpu = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
            keys = [row["key"] for r in results if r["chunk"]
                    for row in read_chunk(st, r["chunk"]["name"], r["chunk"]["sha256"])]
            st.write_json(f"objects/{name}/loaded_keys.json", keys)
            st.write_json(f"objects/{name}/report.json", {"object": name, "loaded": len(keys)})
            t0 += time.perf_counter() - paused
            cpu0 += _cpu(resource.RUSAGE_SELF) - paused_cpu
    wall = time.perf_counter() - t0
    cpu = _cpu(resource.RUSAGE_SELF) - cpu0
    if step._POOL is not None:
        step._POOL.shutdown(wait=True)  # its workers' CPU time counts once they are reaped
        cpu += _cpu(resource.RUSAGE_CHILDREN)  # (includes their start-up: a little over)
    counts["context_builds"] = dict(step.CONTEXT_BUILDS)
    counts["_wall"], counts["_cpu"] = wall, cpu
    return counts


def child(phase: str, export: Path, staging: Path) -> dict:
    from shared.memory import keep_freed_memory
    keep_freed_memory()  # as the Function App's worker does at start (function_app.py)
    counts = asyncio.run(_extract(export, staging) if phase == "extract" else _transform(export, staging))
    wall, cpu = counts.pop("_wall"), counts.pop("_cpu")
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return {"phase": phase, "wall_s": wall, "cpu_s": cpu, "peak_mib": peak / 1024, "counts": counts,
            "processes": os.environ.get("TRANSFORM_PROCESSES")}


def _default_processes() -> int:
    from shared.steps.transform import transform_processes
    env = dict(os.environ)
    os.environ.pop("TRANSFORM_PROCESSES", None)
    try:
        return transform_processes()
    finally:
        os.environ.clear()
        os.environ.update(env)


def _spawn(phase: str, export: Path, staging: Path, processes: int | None = None) -> dict:
    env = dict(os.environ)
    if processes is not None:
        env["TRANSFORM_PROCESSES"] = str(processes)
    out = subprocess.run([sys.executable, __file__, "--child", phase, "--export", str(export), "--staging", str(staging)],
                         env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"{phase} failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--out", default=str(ROOT / "out" / "bench" / "extract_transform"))
    p.add_argument("--json", default=None)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--export", default=None, help=argparse.SUPPRESS)
    p.add_argument("--staging", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        print(json.dumps(child(a.child, Path(a.export), Path(a.staging))))
        return 0
    out = Path(a.out).resolve()
    export, staging = out / f"export-{a.rows}", out / "staging"
    if not (export / "contacts.csv").exists():
        t = time.perf_counter()
        generate(export, a.rows)
        print(f"generated {a.rows:,} rows in {time.perf_counter() - t:.1f} s")
    shutil.rmtree(staging, ignore_errors=True)
    results = [_spawn("extract", export, staging)]
    for n in (0, 1, 2):
        results.append(_spawn("transform", export, staging, n))
    ext, t0, t1, t2 = results
    rows = a.rows
    print(f"\n{rows:,} rows ({platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()})\n")
    print("| phase | processes | wall s | CPU s | rows per CPU-second | peak MiB |")
    print("|---|---:|---:|---:|---:|---:|")
    for r, label in ((ext, "extract"), (t0, "transform"), (t1, "transform"), (t2, "transform")):
        procs = "-" if r["processes"] is None else r["processes"]
        print(f"| {label} | {procs} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {rows / r['cpu_s']:,.0f} | {r['peak_mib']:.0f} |")
    default = {0: t0, 1: t1, 2: t2}.get(_default_processes(), t2)
    total, inline = ext["cpu_s"] + default["cpu_s"], ext["cpu_s"] + t0["cpu_s"]
    print(f"\nextract + transform: {rows / total:,.0f} rows per CPU-second ({total:.1f} CPU s) as the Function App "
          f"runs them (TRANSFORM_PROCESSES unset: {default['processes']} worker processes); "
          f"{rows / inline:,.0f} with the transform on a thread (TRANSFORM_PROCESSES=0, {inline:.1f} CPU s); "
          f"transform on 2 processes vs 1: {t1['wall_s'] / t2['wall_s']:.2f}x wall; "
          f"contexts built (inline run): {t0['counts']['context_builds']}")
    print(f"counts: {t2['counts']}")
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
