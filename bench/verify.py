"""Rows/s of the verification step (``shared.steps.verify.verify_object``) against the emulator's limits.

    .venv/bin/python bench/verify.py [--records 100000] [--time-scale 1] [--chunk-size 5000] [--json FILE]

Starts ``python -m emulators.dataverse --profile realistic --time-scale X --tls`` in its own process (as
bench/load.py does: fresh store, empty sliding windows), and, as setup with identities that are not
measured, deploys a few custom columns on ``account`` (Money, date-only DateTime, Picklist, Boolean) and
loads ``--records`` accounts with the loader: every one with an owner bound by GUID and a multi-line
description, all but the first 1,000 with a parent account bound by key. It stages what a run of the
``company`` object leaves (transformed chunks, load outcomes, ``--chunk-size`` rows per chunk) in
``out/bench/verify/`` and runs ``verify_object`` once, as the Function App would, in a process of its own
(whose peak memory is the step's), through the run's one throttled client with a fresh application user
(its window starts empty).

Printed: rows/s, requests (by kind) and 429s, and what share of the per-user budget of 6,000 requests
per 5-minute window (and of the 1,200,000 ms of execution time, by the emulator's cost model) the
verification used. The verification of 100,000 rows sends about 1 request per 200 rows, so it is a
burst inside one window: its rows/s is bounded by latency and the two processes' CPU, not by the limits;
the long-run bound the limits allow is printed beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import ADMIN, TABLE, Emulator, settings, start, user_creds  # noqa: E402
from emulators.dataverse.protection import COSTS, LIMITS  # noqa: E402
from emulators.dataverse.store import MIGRATION_APP_USER_ID  # noqa: E402
from shared.dataverse import ColumnSpec, DataverseClient, IdentitySettings, ensure_columns, upsert_rows  # noqa: E402
from shared.run import RunConfig  # noqa: E402
from shared.staging import LocalStaging, encode_chunk  # noqa: E402
from shared.steps import STEPS  # noqa: E402
from shared.steps.common import dataverse  # noqa: E402
from shared.steps.verify import IN_FLIGHT, IN_KEYS  # noqa: E402

STAGING = ROOT / "out" / "bench" / "verify"
PARENTS = 1000  # the first accounts: parents of all the others
COLUMNS = [ColumnSpec("wtc_revenue", "Money", "Revenue", precision=2),
           ColumnSpec("wtc_customersince", "DateTime", "Customer since", date_only=True),
           ColumnSpec("wtc_tier", "Picklist", "Tier", options=[(100000000 + i, f"Tier {i}") for i in range(4)]),
           ColumnSpec("wtc_vip", "Boolean", "VIP")]
SETUP_USERS = 4  # identities that load the accounts (limits are per user); not measured


def row(i: int) -> dict:
    """One account as the transform would send it."""
    body = {
        "name": f"Company {i} Pty Ltd", "telephone1": f"+61 2 9{i % 1000:03d} {i % 10000:04d}",
        "emailaddress1": f"office{i}@company{i % 997}.example", "websiteurl": f"https://company{i}.example",
        "address1_city": ("Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide")[i % 5],
        "description": f"Migrated from WORKetc.\r\nAccount {i}: ask for \"Bruce\" at reception.",
        "overriddencreatedon": f"20{10 + i % 14:02d}-0{1 + i % 9}-1{i % 10}T0{i % 10}:15:00Z",
        "ownerid@odata.bind": f"/systemusers({MIGRATION_APP_USER_ID})",
        "wtc_revenue": round(1000 + i * 12.345, 2), "wtc_customersince": f"19{70 + i % 30}-0{1 + i % 9}-2{i % 8}",
        "wtc_tier": 100000000 + i % 4, "wtc_vip": i % 3 == 0,
    }
    if i >= PARENTS:
        body["parentaccountid@odata.bind"] = f"/accounts(wtc_sourceid='ACC-{i % PARENTS:08d}')"
    return {"key": f"ACC-{i:08d}", "body": body}


async def setup(em: Emulator, records: int, chunk_size: int) -> float:
    """Columns, then the accounts (parents first); returns the seconds it took."""
    t0 = time.monotonic()
    admin = IdentitySettings(name="admin", static_token=em.token(*ADMIN))
    async with DataverseClient(settings(em, [admin], 500)) as dv:
        await ensure_columns(dv, TABLE.logical_name, COLUMNS)
    loaders = [IdentitySettings(name=cid, static_token=em.token(cid, secret))
               for cid, secret in user_creds("setup", SETUP_USERS)]
    async with DataverseClient(settings(em, loaders, 1000)) as dv:
        async def load(start_at: int, end: int) -> None:
            outcomes = await upsert_rows(dv, TABLE, [row(i) for i in range(start_at, end)])
            if refused := [o for o in outcomes if o.status == "rejected"]:
                raise RuntimeError(f"setup: {len(refused)} rows refused, e.g. {refused[0]}")

        await load(0, min(PARENTS, records))
        await asyncio.gather(*(load(s, min(s + chunk_size, records)) for s in range(PARENTS, records, chunk_size)))
    return time.monotonic() - t0


def stage(records: int, chunk_size: int) -> None:
    """What a run of ``company`` leaves in staging: extract summary, transformed chunks, load outcomes."""
    shutil.rmtree(STAGING, ignore_errors=True)
    st = LocalStaging(STAGING, prefix="runs/bench-verify")
    chunks = []
    for n, start_at in enumerate(range(0, records, chunk_size)):
        part = f"part-{n:05d}"
        rows = [row(i) for i in range(start_at, min(start_at + chunk_size, records))]
        data = encode_chunk(rows)
        name = f"objects/company/transform/{part}/{part}.jsonl.gz"
        st.write_bytes(name, data)
        chunks.append({"name": f"objects/company/extract/{part}.jsonl.gz"})
        st.write_json(f"objects/company/transform/{part}.json",
                      {"chunk": {"name": name, "records": len(rows), "sha256": hashlib.sha256(data).hexdigest()}})
        st.write_json(f"objects/company/load/{part}.json",
                      {"outcomes": [{"key": r["key"], "status": "created"} for r in rows], "warnings": []})
    st.write_json("objects/company/extract.json", {"chunks": chunks})


async def verify(run: RunConfig) -> dict:
    """One verification of ``company``, as the Function App runs it; its figures."""
    kinds: Counter = Counter()
    async with dataverse(run) as dv:  # the run's one client, which the step will use
        original = dv.request

        async def counted(method, path, **kw):
            kinds["metadata" if path.startswith("EntityDefinitions") else "next page" if "?" in path else "query"] += 1
            return await original(method, path, **kw)

        dv.request = counted  # type: ignore[method-assign]
        cpu0, t0 = time.process_time(), time.monotonic()
        counts = await STEPS["verify_object"]({"run": run.model_dump(), "object": "company"})
        seconds, cpu = time.monotonic() - t0, time.process_time() - cpu0
        m = dv.metrics
    return {"counts": counts, "seconds": seconds, "verifier_cpu_s": cpu, "requests": m.requests,
            "requests_by_kind": dict(kinds), "throttled_429": m.throttled, "retries": m.retries,
            "verifier_peak_rss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM (Linux), which starts afresh at exec, unlike ru_maxrss (it
    keeps the high-water mark of the parent that forked it)."""
    try:
        line = next(l for l in Path("/proc/self/status").read_text().splitlines() if l.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(target: str, chunk_size: int) -> None:
    """The verification in a process of its own (its peak memory is the step's), figures as JSON on stdout.
    The token and CA bundle come in the environment, as the Function App's settings do."""
    run = RunConfig(run_id="bench-verify", source="worketc-csv", input=str(STAGING), target=target,
                    staging=str(STAGING), chunk_size=chunk_size)
    print(json.dumps(asyncio.run(verify(run))))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=100_000, help="accounts to verify (default 100,000)")
    p.add_argument("--time-scale", type=float, default=1.0, help="emulator time scale (1: real windows and costs)")
    p.add_argument("--chunk-size", type=int, default=5000, help="rows per transformed chunk (the run's default)")
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--child", metavar="TARGET", help=argparse.SUPPRESS)  # the measured process
    a = p.parse_args(argv)
    if a.child:
        return child(a.child, a.chunk_size)
    window_s = LIMITS.window_s * a.time_scale
    read_ms = COSTS.cost_ms("read")
    print(f"Verification benchmark: {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"emulator --profile realistic --time-scale {a.time_scale:g} (window {window_s:g} s) over TLS on loopback")
    print(f"Limits per user: {LIMITS.requests} requests and {LIMITS.execution_ms:,} ms execution per "
          f"{LIMITS.window_s:g} s; a read costs {read_ms:g} ms (cost model). Verify: {IN_KEYS} keys per In query, "
          f"{IN_FLIGHT} queries in flight at most (the client's adaptive window decides)", flush=True)
    em = start("realistic", a.time_scale, [*user_creds("setup", SETUP_USERS), *user_creds("verify", 1)], tls=True)
    try:
        setup_s = asyncio.run(setup(em, a.records, a.chunk_size))
        print(f"setup (not measured): {a.records:,} accounts loaded in {setup_s:.1f} s", flush=True)
        stage(a.records, a.chunk_size)
        cid, secret = user_creds("verify", 1)[0]
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATAVERSE_CLIENT_ID", "DATAVERSE_IDENTITIES", "DATAVERSE_USE_MANAGED_IDENTITY")}
        env.update({"DATAVERSE_TOKEN": em.token(cid, secret), "DATAVERSE_CA_BUNDLE": em.ca_file or ""})
        ecpu0 = em.cpu_seconds()
        out = subprocess.run([sys.executable, __file__, "--child", em.base_url, "--chunk-size", str(a.chunk_size)],
                             env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
        f = json.loads(out.strip().splitlines()[-1])
        f["emulator_cpu_s"] = em.cpu_seconds() - ecpu0
    finally:
        em.stop()
    seconds = f["seconds"]
    windows = max(1.0, seconds / window_s)
    share = f["requests"] / (LIMITS.requests * windows)
    execution = f["requests"] * read_ms / (LIMITS.execution_ms * windows)
    long_run = LIMITS.requests / LIMITS.window_s * IN_KEYS
    f.update(records=a.records, rows_per_s=a.records / seconds, window_s=window_s, request_budget_share=share,
             execution_budget_share=execution, long_run_rows_per_s_per_user=long_run, setup_s=setup_s,
             time_scale=a.time_scale, chunk_size=a.chunk_size)
    print()
    print(f"verified {a.records:,} rows in {seconds:.1f} s = {a.records / seconds:,.0f} rows/s: {f['counts']}")
    print(f"requests: {f['requests']} ({', '.join(f'{k} {v}' for k, v in f['requests_by_kind'].items())}), "
          f"429s: {f['throttled_429']}, retries: {f['retries']}")
    print(f"budget used: {share:.1%} of the {LIMITS.requests} requests per {window_s:g} s window"
          f"{'' if windows == 1 else f' (over {windows:.1f} windows)'}, {execution:.1%} of its execution time")
    print(f"CPU: verifier {f['verifier_cpu_s']:.1f} s, emulator {f['emulator_cpu_s']:.1f} s of {seconds:.1f} s wall; "
          f"peak memory of the verifying process {f['verifier_peak_rss_mb']:.0f} MB")
    print(f"long run, per user: the request limit allows {long_run:,.0f} rows/s ({LIMITS.requests} requests x {IN_KEYS} "
          f"rows per {LIMITS.window_s:g} s); the execution limit {LIMITS.execution_ms / read_ms * IN_KEYS / LIMITS.window_s:,.0f}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(f, indent=2))
        print(f"figures written to {a.json}")


if __name__ == "__main__":
    main()
