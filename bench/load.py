"""Records/s of the Dataverse loader against the emulator's service protection limits.

    .venv/bin/python bench/load.py [--records 100000] [--users 2] [--time-scale 0.25] [--batch-size 500]
        [--windows 2] [--baseline-records 2000] [--with-sdk] [--json out/bench/load.json]

Starts ``python -m emulators.dataverse --profile realistic --time-scale X`` in a SEPARATE process (one
per scenario: fresh store, empty sliding windows) on a loopback port over TLS (as Dataverse, and as the
baselines below) and loads accounts by alternate key
(``wtc_sourceid``) with ``shared.dataverse.loader.upsert_rows`` (UpsertMultiple, the product's
defaults: adaptive concurrency from ``x-ms-dop-hint``, Retry-After), with 1 application user and with
``--users`` users. Same run, baselines kept busy for as many whole windows as the loader (``--baseline-windows``,
default ``--windows``; ``--baseline-time-scale``, default ``--time-scale``), both over TLS, each 429 retried
after its Retry-After as Microsoft documents (learn.microsoft.com/power-apps/developer/data-platform/api-limits,
"Retry operations"): (a) one upsert request per record (``PATCH accounts(wtc_sourceid='..')``, plain httpx,
``--single-concurrency`` 16 in flight) and (b) Microsoft's ``PowerPlatform-Dataverse-Client`` as a user would
use it at its best (``client.records.upsert(table, [UpsertItem...])``, one call per ``--batch-size`` rows: it
does not chunk by itself; a thread pool of ``--sdk-threads`` 8, learn.microsoft.com/power-apps/developer/
data-platform/send-parallel-requests), when installed or with ``--with-sdk`` (installs it into
``out/bench/sdk-site``, not the venv). ``--only sdk`` runs (b) alone. The bench prints whether the emulator's
Retry-After is Dataverse's whole seconds (time scale 1) or time-scaled decimals.

The ceiling is ``emulators.dataverse.protection.ceiling(batch_size, kind)`` (per user, records/s in the
long run) times the number of users. What is measured, honestly:

* The sliding window starts empty, so the first window lets one user write a whole window's budget
  (1,200,000 ms of execution = ~150,000 records by UpsertMultiple) as fast as the CPUs allow ("burst").
  A load of 100,000 records on a fresh environment finishes inside that burst: its records/s is not a
  steady state and says nothing about the limits. The bench prints it ("first N records") but does not
  compare it to the ceiling.
* Sustained: the loader is kept busy (more records are generated past ``--records`` if needed) for
  ``--windows`` whole windows; records/s = records acknowledged in [0, k x window] / (k x window). Any
  interval of one window can hold at most one window's budget (+ the requests admitted while the
  budget ran out: the limits are checked when a request starts and recorded when it ends), so this is
  the figure comparable with the ceiling. Windows after the first show how the client copes with the
  limits once it is throttled (the first window includes the ramp-up from an empty window).
* The emulator capacity (``--profile off``, same loader) is measured first: the scaled ceiling must
  stay well below it, or the bench measures CPUs instead of the limits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulators.dataverse.protection import COSTS, LIMITS, ceiling  # noqa: E402
from shared.dataverse import (  # noqa: E402
    ColumnSpec,
    DataverseClient,
    DataverseSettings,
    IdentitySettings,
    LoadStats,
    TableRef,
    ensure_alternate_key,
    ensure_columns,
    upsert_rows,
)

TABLE = TableRef("account", "accounts", "wtc_sourceid")
KEY_SCHEMA = "wtc_sourceid_key"
ADMIN = ("bench-admin", "bench-admin-secret")
SDK_SITE = ROOT / "out" / "bench" / "sdk-site"
SDK_PACKAGE = "PowerPlatform-Dataverse-Client"
CHUNK = 5000  # rows per upsert_rows call (the staging chunk size: one load activity's input)


# ------------------------------------------------------------------------------------------ emulator


def _verify(ca_file: str | None):
    """httpx ``verify``: the emulator's test CA when it runs over TLS."""
    return ssl.create_default_context(cafile=ca_file) if ca_file else True


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Emulator:
    """``python -m emulators.dataverse`` in its own process (own GIL), in-memory store."""

    def __init__(self, *, profile: str, time_scale: float, clients: list[tuple[str, str]], tls: bool = False) -> None:
        self.port = _free_port()
        self.tls = tls
        self.ca_file: str | None = None
        cmd = [sys.executable, "-m", "emulators.dataverse", "--host", "127.0.0.1", "--port", str(self.port),
               "--profile", profile, "--time-scale", repr(time_scale),
               "--clients", ",".join(f"{i}:{s}" for i, s in clients)]
        if tls:
            cmd.append("--tls")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.token_url = ""
        deadline = time.monotonic() + 60
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("the emulator exited before it was ready")
            if line.startswith("Token endpoint:"):
                self.token_url = line.split(":", 1)[1].strip()
            elif line.startswith("CA certificate:"):
                self.ca_file = line.split(":", 1)[1].strip()
            elif line.startswith("Profile:"):
                break
        # keep draining stdout so the pipe never fills
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        self.base_url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User+system CPU of the emulator process so far (Linux /proc)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def token(self, client_id: str, secret: str) -> str:
        r = httpx.post(self.token_url, data={"grant_type": "client_credentials", "client_id": client_id,
                                             "client_secret": secret, "scope": f"{self.base_url}/.default"},
                       verify=_verify(self.ca_file), timeout=30)
        r.raise_for_status()
        return r.json()["access_token"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def __enter__(self) -> "Emulator":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# -------------------------------------------------------------------------------------------- data


def make_rows(start: int, n: int, distinct: int | None = None) -> list[dict]:
    """Rows ``start .. start+n-1``; with ``distinct``, keys repeat every ``distinct`` rows (later passes
    update the same accounts, so the table stays at ``distinct`` rows)."""
    return [{"key": f"ACC-{(i % distinct if distinct else i):08d}", "body": {
        "name": f"Company {i} Pty Ltd",
        "telephone1": f"+61 2 9{i % 1000:03d} {i % 10000:04d}",
        "emailaddress1": f"office{i}@company{i % 997}.example",
        "websiteurl": f"https://company{i}.example",
        "address1_city": ("Sydney", "Melbourne", "Brisbane", "Perth", "Adelaide")[i % 5],
        "description": "Migrated from WORKetc by the benchmark.",
    }} for i in range(start, start + n)]


SETTINGS_OVERRIDES: dict = {}  # e.g. {"max_concurrency": 8} from --max-concurrency (experiments)


def settings(em: Emulator, identities: list[IdentitySettings], batch_size: int) -> DataverseSettings:
    return DataverseSettings(url=em.base_url, identities=identities, batch_size=batch_size, ca_bundle=em.ca_file,
                             **SETTINGS_OVERRIDES)


async def prepare_schema(em: Emulator) -> None:
    """Key column + alternate key, by an administrator identity that is not measured."""
    ident = IdentitySettings(name="admin", static_token=em.token(*ADMIN))
    async with DataverseClient(settings(em, [ident], 500)) as dv:
        await ensure_columns(dv, TABLE.logical_name, [ColumnSpec(schema_name=TABLE.key_column, type="String",
                                                                 label="Source id", max_length=100)])
        await ensure_alternate_key(dv, TABLE.logical_name, KEY_SCHEMA, [TABLE.key_column], poll_interval=0.2)


def user_creds(prefix: str, n: int) -> list[tuple[str, str]]:
    return [(f"{prefix}-{i}", f"{prefix}-{i}-secret") for i in range(1, n + 1)]


# ---------------------------------------------------------------------------------------- results


@dataclass
class Result:
    scenario: str
    users: int
    method: str
    records: int = 0
    seconds: float = 0.0
    ceiling: float | None = None  # records/s, all users, long run
    binding: str = ""
    throttled: int = 0
    retries: int = 0
    rejected: int = 0
    regime: str = ""  # what the records/s figure is
    note: str = ""
    first_n_seconds: float | None = None  # time to the first --records records (burst on a fresh window)
    windows: list = field(default_factory=list)  # records/s in each whole window
    sustained: float | None = None  # records/s over the whole windows
    emulator_cpu_s: float | None = None
    loader_cpu_s: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        if self.sustained is not None:
            return self.sustained
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def ratio(self) -> float | None:
        """records/s over the long-run ceiling; None for a burst (not comparable with it)."""
        if not self.ceiling or self.regime.startswith("burst"):
            return None
        return self.rate / self.ceiling


def _windows(timeline: list[tuple[float, int]], t0: float, window: float, k: int) -> list[float]:
    counts = [0] * k
    for t, n in timeline:
        w = int((t - t0) // window)
        if 0 <= w < k:
            counts[w] += n
    return [c / window for c in counts]


# ---------------------------------------------------------------------------------- the loader run


async def run_loader(em: Emulator, creds: list[tuple[str, str]], *, records: int, batch_size: int, window_s: float,
                     windows: int, label: str) -> Result:
    identities = [IdentitySettings(name=cid, static_token=em.token(cid, secret)) for cid, secret in creds]
    c = ceiling(batch_size, kind="multiple", time_scale=em_time_scale(em))
    res = Result(label, len(creds), f"upsert_rows (UpsertMultiple x {batch_size})",
                 ceiling=c.records_per_s * len(creds), binding=c.binding)
    timeline: list[tuple[float, int]] = []
    stats = LoadStats()
    must_run = window_s * windows  # keep the loader busy at least this long
    cpu0, ecpu0 = time.process_time(), em.cpu_seconds()
    async with DataverseClient(settings(em, identities, batch_size)) as dv:
        original = dv.request

        async def timed(method, path, **kw):  # records acknowledged, when
            resp = await original(method, path, **kw)
            if path.endswith("UpsertMultiple") and resp.status_code < 300:
                timeline.append((time.monotonic(), len(kw["json"]["Targets"])))
            return resp

        dv.request = timed  # type: ignore[method-assign]
        t0 = time.monotonic()
        next_row = 0
        # Enough chunks in flight that the client always has more requests queued than its window.
        in_flight = max(2, math.ceil(2 * dv.settings.max_concurrency * len(creds) * batch_size / CHUNK))

        async def worker() -> None:
            nonlocal next_row
            while True:
                if next_row >= records and time.monotonic() - t0 >= must_run:
                    return
                start = next_row
                next_row += CHUNK
                outcomes = await upsert_rows(dv, TABLE, make_rows(start, CHUNK, records), stats=stats)
                res.rejected += sum(o.status == "rejected" for o in outcomes)

        await asyncio.gather(*(worker() for _ in range(in_flight)))
        t1 = time.monotonic()
        m = dv.metrics
        res.throttled, res.retries = m.throttled, m.retries
        res.extra = {"requests": m.requests, "write_requests": stats.write_requests, "read_requests": stats.read_requests,
                     "paused_s": {k: round(v.paused_seconds, 1) for k, v in m.lanes.items()},
                     "final_window": {k: round(v.window, 1) for k, v in m.lanes.items()}}
    res.loader_cpu_s = time.process_time() - cpu0
    res.emulator_cpu_s = em.cpu_seconds() - ecpu0
    done = 0
    for t, n in sorted(timeline):
        done += n
        if done >= records:
            res.first_n_seconds = t - t0
            break
    _sustained(res, timeline, t0, t1, window_s, windows)
    return res


_TIME_SCALE: dict[int, float] = {}


def em_time_scale(em: Emulator) -> float:
    return _TIME_SCALE[id(em)]


def start(profile: str, time_scale: float, clients: list[tuple[str, str]], tls: bool = False) -> Emulator:
    em = Emulator(profile=profile, time_scale=time_scale, clients=[ADMIN, *clients], tls=tls)
    _TIME_SCALE[id(em)] = time_scale
    asyncio.run(prepare_schema(em))
    return em


# ----------------------------------------------------------------------- baseline (a): one request per record


def retry_after_format(time_scale: float) -> str:
    """What the emulator's ``Retry-After`` looks like at this time scale (the bench prints it).

    Dataverse sends whole seconds (learn.microsoft.com/power-apps/developer/data-platform/api-limits,
    "Retry operations": wait the number of seconds the ``Retry-After`` header gives); the emulator does
    too at time scale 1, and a scaled decimal number of seconds otherwise
    (``emulators.dataverse.protection.format_retry_after``)."""
    if time_scale == 1.0:
        return "whole seconds, as Dataverse sends it"
    return (f"TIME-SCALED: decimal seconds x {time_scale:g} (e.g. '0.250'), not Dataverse's whole seconds; "
            f"run with --time-scale 1 for whole seconds")


def parse_retry_after(value: str | None, default: float) -> float:
    """Seconds to wait from a ``Retry-After`` header (whole or, from the time-scaled emulator, decimal
    seconds); ``default`` when absent or unreadable."""
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return seconds if math.isfinite(seconds) and seconds >= 0 else default


def _sustained(res: "Result", timeline: list[tuple[float, int]], t0: float, t1: float, window_s: float,
               windows: int) -> None:
    res.records = sum(n for _, n in timeline)
    res.seconds = t1 - t0
    k = min(int((t1 - t0 + 1e-6) // window_s), windows) if windows else int((t1 - t0 + 1e-6) // window_s)
    if k >= 1:
        res.windows = _windows(timeline, t0, window_s, k)
        res.sustained = sum(res.windows) / k
        res.regime = f"sustained, {k} whole window{'s' if k > 1 else ''} of {window_s:g} s"
    else:
        res.regime = "burst (shorter than one window)"


async def run_single(em: Emulator, *, concurrency: int, window_s: float, windows: int, distinct: int) -> Result:
    """One ``PATCH accounts(wtc_sourceid='..')`` per record, kept busy for ``windows`` whole windows (as
    long as the loader's measured windows) by ``concurrency`` asyncio workers over TLS, each 429 honoured
    as Microsoft documents it: wait the ``Retry-After`` seconds, then send the same request again
    (learn.microsoft.com/power-apps/developer/data-platform/api-limits, "Retry operations"). Workers
    share the wait (Dataverse extends it for a caller that keeps sending). Keys repeat every
    ``distinct`` records (the later passes update the same accounts)."""
    cid, secret = user_creds("single", 1)[0]
    token = em.token(cid, secret)
    ts = em_time_scale(em)
    c = ceiling(1, kind="single", time_scale=ts)
    res = Result("(a) one request per record", 1, f"PATCH upsert per record, {concurrency} in flight, retry on 429 "
                 f"after Retry-After", ceiling=c.records_per_s, binding=c.binding)
    timeline: list[tuple[float, int]] = []
    retry_after_seen: list[str] = []
    throttled = failed = 0
    next_row = 0
    pause_until = 0.0
    must_run = window_s * windows
    ecpu0 = em.cpu_seconds()
    async with httpx.AsyncClient(base_url=f"{em.base_url}/api/data/v9.2/", verify=_verify(em.ca_file), timeout=60,
                                 limits=httpx.Limits(max_connections=concurrency),
                                 headers={"Authorization": f"Bearer {token}", "OData-Version": "4.0",
                                          "OData-MaxVersion": "4.0", "Accept": "application/json"}) as http:
        t0 = time.monotonic()

        async def worker() -> None:
            nonlocal throttled, failed, pause_until, next_row
            while time.monotonic() - t0 < must_run:
                row = make_rows(next_row, 1, distinct)[0]
                next_row += 1
                key = row["key"].replace("'", "''")
                while True:
                    while (wait := pause_until - time.monotonic()) > 0:  # re-read: other 429s may extend it
                        if time.monotonic() + wait - t0 >= must_run:
                            return  # the measured windows are over before the wait is
                        await asyncio.sleep(wait)
                    r = await http.patch(f"accounts(wtc_sourceid='{key}')", json={**row["body"], "wtc_sourceid": row["key"]})
                    if r.status_code == 429:
                        throttled += 1
                        header = r.headers.get("retry-after")
                        if len(retry_after_seen) < 5:
                            retry_after_seen.append(header or "")
                        pause_until = max(pause_until, time.monotonic() + parse_retry_after(header, 1.0 * ts))
                        continue
                    if r.status_code >= 300:
                        failed += 1
                    else:
                        timeline.append((time.monotonic(), 1))
                    break

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        t1 = max(time.monotonic(), t0 + must_run)  # workers stop early when a wait outlasts the windows
    res.emulator_cpu_s = em.cpu_seconds() - ecpu0
    res.throttled, res.retries, res.rejected = throttled, throttled, failed
    _sustained(res, timeline, t0, t1, window_s, windows)
    res.extra = {"retry_after_sample": retry_after_seen, "tls": em.base_url.startswith("https")}
    return res


# ------------------------------------------------------------------ baseline (b): Microsoft's Python SDK


def sdk_available(install: bool) -> tuple[bool, str]:
    if SDK_SITE.exists() and str(SDK_SITE) not in sys.path:
        sys.path.insert(0, str(SDK_SITE))
    try:
        import PowerPlatform.Dataverse.client  # noqa: F401
        import pandas  # noqa: F401  (the SDK imports it)
        return True, ""
    except ImportError as exc:
        if not install:
            return False, (f"{SDK_PACKAGE} is not installed ({exc}); run with --with-sdk to install it into "
                           f"{SDK_SITE.relative_to(ROOT)}")
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(SDK_SITE), f"{SDK_PACKAGE}==1.1.0",
           "pandas", "numpy"]
    # azure-identity, azure-core, requests come from the venv; pandas/numpy (its hard dependency) go
    # into the separate folder so that the project's venv is not changed.
    print(f"installing {SDK_PACKAGE} into {SDK_SITE} ...", flush=True)
    done = subprocess.run([*cmd[:5], "--no-deps", *cmd[5:]], capture_output=True, text=True)
    if done.returncode != 0:
        return False, f"pip could not install {SDK_PACKAGE}: {done.stderr.strip()[-300:]}"
    sys.path.insert(0, str(SDK_SITE))
    try:
        import PowerPlatform.Dataverse.client  # noqa: F401,F811
        return True, ""
    except ImportError as exc:
        return False, f"{SDK_PACKAGE} installed but does not import: {exc}"


class _TokenCredential:
    """An azure-identity style TokenCredential around a token from the emulator's token endpoint."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, int(time.time()) + 3000)

    def get_token_info(self, *scopes, options=None):
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self._token, int(time.time()) + 3000)


def run_sdk(em: Emulator, *, threads: int, batch_size: int, window_s: float, windows: int, distinct: int) -> Result:
    """Microsoft's Python SDK at its best, as Microsoft's guidance describes a bulk client:

    * a thread pool of ``threads`` (8-16: learn.microsoft.com/power-apps/developer/data-platform/send-parallel-requests
      "Send parallel requests ... using multiple threads"; the SDK does not expose ``x-ms-dop-hint``),
      one ``DataverseClient`` (one ``requests.Session``) per thread, over TLS;
    * ``client.records.upsert("account", [UpsertItem...])``, one call per ``batch_size`` rows (as its
      README shows; it does not chunk);
    * each call in a retry loop: on the SDK's ``HttpError`` with ``status_code == 429`` sleep for the
      Retry-After seconds and send it again (learn.microsoft.com/power-apps/developer/data-platform/api-limits,
      "Retry operations"), and the other threads wait too: Dataverse extends the wait of a caller that
      keeps sending (../shared/REFERENCE.md; Microsoft's advice: let Retry-After pace you). The SDK 1.1.0 parses Retry-After with ``int()``, so ``retry_after`` is ``None``
      when the time-scaled emulator sends decimals: the loop then reads the header from the SDK's own
      ``requests.Session`` (a response hook; counted in ``extra["retry_after_from_session"]``).

    Kept busy for ``windows`` whole windows, like the loader."""
    from concurrent.futures import ThreadPoolExecutor

    from PowerPlatform.Dataverse.client import DataverseClient as SdkClient
    from PowerPlatform.Dataverse.core.errors import HttpError
    from PowerPlatform.Dataverse.models import UpsertItem

    os.environ["REQUESTS_CA_BUNDLE"] = em.ca_file or ""
    os.environ["SSL_CERT_FILE"] = em.ca_file or ""
    cid, secret = user_creds("sdk", 1)[0]
    token = em.token(cid, secret)
    ts = em_time_scale(em)
    c = ceiling(batch_size, kind="multiple", time_scale=ts)
    res = Result("(b) PowerPlatform-Dataverse-Client", 1, f"records.upsert, {batch_size} per call, {threads} threads, "
                 f"retry on 429 after Retry-After", ceiling=c.records_per_s, binding=c.binding)
    lock = threading.Lock()
    timeline: list[tuple[float, int]] = []
    counts = {"throttled": 0, "retry_after_from_sdk": 0, "retry_after_from_session": 0, "retry_after_missing": 0,
              "failed_calls": 0}
    errors: list[str] = []
    retry_after_seen: list = []
    next_chunk = [0]
    pause_until = [0.0]  # shared by the threads: one 429 pauses them all for its Retry-After
    must_run = window_s * windows
    ecpu0 = em.cpu_seconds()
    t0 = time.monotonic()

    def worker(_: int) -> None:
        last = {"retry-after": None}

        def hook(resp, *args, **kwargs):  # the header as the server sent it
            last["retry-after"] = resp.headers.get("Retry-After")

        with SdkClient(em.base_url, _TokenCredential(token)) as cl:
            cl._session.hooks["response"].append(hook)
            while time.monotonic() - t0 < must_run:
                with lock:
                    start_row = next_chunk[0] * batch_size
                    next_chunk[0] += 1
                items = [UpsertItem(alternate_key={"wtc_sourceid": r["key"]}, record=r["body"])
                         for r in make_rows(start_row, batch_size, distinct)]
                while True:
                    while (wait := pause_until[0] - time.monotonic()) > 0:  # re-read: other 429s may extend it
                        if time.monotonic() + wait - t0 >= must_run:
                            return  # the measured windows are over before the wait is
                        time.sleep(wait)
                    try:
                        cl.records.upsert("account", items)
                    except HttpError as exc:
                        if exc.status_code != 429:
                            with lock:
                                counts["failed_calls"] += 1
                                if len(errors) < 3:
                                    errors.append(f"{exc.status_code}: {str(exc)[:120]}")
                            break
                        sdk_value = exc.details.get("retry_after")
                        header = last["retry-after"]
                        with lock:
                            counts["throttled"] += 1
                            if len(retry_after_seen) < 5:
                                retry_after_seen.append({"sdk_retry_after": sdk_value, "header": header})
                            if sdk_value is not None:
                                counts["retry_after_from_sdk"] += 1
                            elif header is not None:
                                counts["retry_after_from_session"] += 1
                            else:
                                counts["retry_after_missing"] += 1
                        wait = float(sdk_value) if sdk_value is not None else parse_retry_after(header, 1.0 * ts)
                        with lock:
                            pause_until[0] = max(pause_until[0], time.monotonic() + wait)
                        continue
                    with lock:
                        timeline.append((time.monotonic(), len(items)))
                    break

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    t1 = max(time.monotonic(), t0 + must_run)  # threads stop early when a wait outlasts the windows
    res.emulator_cpu_s = em.cpu_seconds() - ecpu0
    res.throttled = res.retries = counts["throttled"]
    res.rejected = counts["failed_calls"] * batch_size
    _sustained(res, timeline, t0, t1, window_s, windows)
    res.extra = {**counts, "retry_after_sample": retry_after_seen, "errors": errors,
                 "tls": em.base_url.startswith("https")}
    if counts["retry_after_from_session"]:
        res.note = (f"the SDK gave retry_after=None for {counts['retry_after_from_session']} of {counts['throttled']} "
                    f"429s (it parses Retry-After with int(); the time-scaled emulator sends decimals): the wait "
                    f"was read from its requests.Session")
    return res


# -------------------------------------------------------------------------------------------- output


def fmt_table(results: list[Result], time_scale: float = 1.0) -> str:
    head = ["scenario", "users", "time scale", "records", "seconds", "records/s", "real-time rec/s", "ceiling rec/s",
            "ratio", "429s", "retries"]
    rows = []
    for r in results:
        rts = r.extra.get("time_scale", time_scale)
        rows.append([r.scenario, str(r.users), f"{rts:g}", f"{r.records:,}", f"{r.seconds:.1f}", f"{r.rate:,.0f}",
                     f"{r.rate * rts:,.0f}",
                     f"{r.ceiling:,.0f}" if r.ceiling else "-", f"{r.ratio:.2f}" if r.ratio is not None else ("burst" if r.regime.startswith("burst") else "-"),
                     str(r.throttled), str(r.retries)])
    widths = [max(len(h), *(len(x[i]) for x in rows)) for i, h in enumerate(head)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|"
    return "\n".join([line(head), sep, *(line(r) for r in rows)])


def _print_baseline(r: Result, time_scale: float, loader_real: float | None) -> None:
    real = r.rate * time_scale
    vs_loader = f"; {real / loader_real:.2f} x the loader's {loader_real:,.0f} (1 user, real time)" if loader_real else ""
    print(f"{r.scenario}: {r.records:,} records in {r.seconds:.1f} s at time scale {time_scale:g}; per window: "
          f"{', '.join(f'{w:,.0f}' for w in r.windows)} records/s; {r.rate:,.0f} records/s = "
          f"{r.ratio if r.ratio is not None else float('nan'):.2f} x its ceiling {r.ceiling or 0:,.0f} ({r.binding} limit); "
          f"real-time equivalent {real:,.0f} records/s{vs_loader}; 429s {r.throttled}; {r.regime}; {r.note} {r.extra}",
          flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=100_000, help="accounts of the main load (default 100,000)")
    p.add_argument("--users", type=int, default=2, help="the main load runs with 1 user and with this many")
    p.add_argument("--time-scale", type=float, default=0.25,
                   help="emulator time scale: windows, costs and Retry-After x this (default 0.25: 75 s windows)")
    p.add_argument("--batch-size", type=int, default=500, help="rows per UpsertMultiple (product default 500)")
    p.add_argument("--windows", type=int, default=2,
                   help="keep the main load busy for this many whole windows (0: just --records)")
    p.add_argument("--baseline-records", type=int, default=2000,
                   help="distinct accounts of the (a) and (b) baselines (their keys repeat: they run for --windows)")
    p.add_argument("--baseline-windows", type=int,
                   help="whole windows the (a) and (b) baselines run for (default: --windows, at least 1)")
    p.add_argument("--baseline-time-scale", type=float,
                   help="time scale of the (a) and (b) baselines (default: --time-scale; 1 = whole-second Retry-After)")
    p.add_argument("--single-concurrency", type=int, default=16, help="requests in flight for baseline (a)")
    p.add_argument("--sdk-threads", type=int, default=8, help="thread pool size for baseline (b) (8-16)")
    p.add_argument("--loader-rate", type=float,
                   help="real-time records/s of the loader (1 user) to compare the baselines with when the loader "
                        "is not run (--only baselines)")
    p.add_argument("--with-sdk", action="store_true", help=f"install {SDK_PACKAGE} (into out/bench/sdk-site) if missing")
    p.add_argument("--skip-capacity", action="store_true", help="skip the --profile off capacity run")
    p.add_argument("--capacity-records", type=int, default=100_000)
    p.add_argument("--only", choices=["loader", "baselines", "sdk"],
                   help="run only part of the bench (sdk: only baseline (b))")
    p.add_argument("--max-concurrency", type=int,
                   help="DataverseSettings.max_concurrency per user for the loader (default: the product's, 52)")
    p.add_argument("--json", help="also write the figures to this file")
    a = p.parse_args(argv)

    if a.max_concurrency:
        SETTINGS_OVERRIDES["max_concurrency"] = a.max_concurrency
    ts = a.time_scale
    window_s = LIMITS.window_s * ts
    c1 = ceiling(a.batch_size, kind="multiple", time_scale=ts)
    cs = ceiling(1, kind="single", time_scale=ts)
    per_window = c1.records_per_s * window_s
    print(f"Dataverse loader benchmark: {platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"Limits per user: {LIMITS.requests} requests and {LIMITS.execution_ms:,} ms execution per {LIMITS.window_s:g} s "
          f"sliding window, {LIMITS.concurrency} concurrent; time scale {ts:g} -> window {window_s:g} s")
    print(f"Cost model: UpsertMultiple of {a.batch_size} = {COSTS.cost_ms('multiple', a.batch_size):,.0f} ms "
          f"(x{ts:g} = {c1.cost_s:.3f} s); single upsert = {COSTS.cost_ms('single', 1):.0f} ms")
    print(f"Ceiling per user: UpsertMultiple x{a.batch_size}: {c1.records_per_s:,.0f} records/s ({c1.binding} limit binds; "
          f"{c1.parallelism:.1f} requests in flight needed; {per_window:,.0f} records per window); "
          f"one request per record: {cs.records_per_s:,.0f} records/s ({cs.binding} limit binds)")
    print(f"Retry-After from the emulator: {retry_after_format(ts)}")
    print(flush=True)

    results: list[Result] = []
    capacity = None
    if a.only not in ("baselines", "sdk"):
        if not a.skip_capacity:
            users = user_creds("cap", a.users)
            with start("off", ts, users, tls=True) as em:
                r = asyncio.run(run_loader(em, users, records=a.capacity_records, batch_size=a.batch_size,
                                           window_s=window_s, windows=0, label="capacity (--profile off)"))
            r.ceiling, r.regime = None, "no limits: what the emulator + loader can process on this machine"
            capacity = r.records / r.seconds
            results.append(r)
            print(f"capacity: {r.records:,} records in {r.seconds:.1f} s = {capacity:,.0f} records/s "
                  f"(emulator CPU {r.emulator_cpu_s:.1f} s, loader CPU {r.loader_cpu_s:.1f} s); scaled ceiling with "
                  f"{a.users} users = {c1.records_per_s * a.users:,.0f} records/s = {c1.records_per_s * a.users / capacity:.0%} of it",
                  flush=True)
        for n in sorted({1, a.users}):
            users = user_creds(f"user{n}", n)
            with start("realistic", ts, users, tls=True) as em:  # over TLS, as the baselines and Dataverse
                r = asyncio.run(run_loader(em, users, records=a.records, batch_size=a.batch_size, window_s=window_s,
                                           windows=a.windows, label=f"loader, {n} user{'s' if n > 1 else ''}"))
            results.append(r)
            print(f"{r.scenario}: {r.records:,} records in {r.seconds:.1f} s; per window: "
                  f"{', '.join(f'{w:,.0f}' for w in r.windows)} records/s; sustained {r.rate:,.0f} = "
                  f"{r.ratio:.2f} x ceiling {r.ceiling:,.0f}; first {a.records:,} records in "
                  f"{r.first_n_seconds if r.first_n_seconds is not None else float('nan'):.1f} s; 429s {r.throttled}; "
                  f"CPU emulator {r.emulator_cpu_s:.0f} s, loader {r.loader_cpu_s:.0f} s; {r.extra}", flush=True)
    if a.only != "loader":
        bts = a.baseline_time_scale or ts
        bwindow = LIMITS.window_s * bts
        bwindows = max(1, a.baseline_windows if a.baseline_windows is not None else a.windows)
        loader_1 = next((r for r in results if r.scenario == "loader, 1 user"), None)
        loader_real = loader_1.rate * ts if loader_1 is not None else a.loader_rate
        print(f"baselines: time scale {bts:g} ({bwindows} x {bwindow:g} s windows = {bwindows * LIMITS.window_s:g} s "
              f"real time), over TLS; Retry-After: {retry_after_format(bts)}", flush=True)
        if a.only != "sdk":
            with start("realistic", bts, user_creds("single", 1), tls=True) as em:
                r = asyncio.run(run_single(em, concurrency=a.single_concurrency, window_s=bwindow, windows=bwindows,
                                           distinct=a.baseline_records))
            r.extra["time_scale"] = bts
            results.append(r)
            _print_baseline(r, bts, loader_real)
        ok, why = sdk_available(a.with_sdk)
        if ok:
            with start("realistic", bts, user_creds("sdk", 1), tls=True) as em:
                try:
                    r = run_sdk(em, threads=a.sdk_threads, batch_size=a.batch_size, window_s=bwindow, windows=bwindows,
                                distinct=a.baseline_records)
                except Exception as exc:  # noqa: BLE001
                    r = Result("(b) PowerPlatform-Dataverse-Client", 1, "records.upsert", note=f"failed: {type(exc).__name__}: {exc}"[:300])
            r.extra["time_scale"] = bts
            results.append(r)
            _print_baseline(r, bts, loader_real)
        else:
            results.append(Result("(b) PowerPlatform-Dataverse-Client", 1, "skipped", note=why))
            print(f"(b) skipped: {why}", flush=True)

    print()
    print(fmt_table(results, ts))
    print()
    for r in results:
        print(f"- {r.scenario}: {r.method}; records/s = {r.regime}" + (f"; {r.note}" if r.note else ""))
        if r.first_n_seconds is not None and r.sustained is not None:
            print(f"    first {a.records:,} records (fresh window, burst): {r.first_n_seconds:.1f} s = "
                  f"{a.records / r.first_n_seconds:,.0f} records/s (not comparable with the ceiling)")
        if r.windows:
            print(f"    records/s per window: {', '.join(f'{w:,.0f}' for w in r.windows)}")
        if r.extra.get("first_429"):
            print(f"    SDK at its first 429: {r.extra['first_429']}")
    if a.json:
        out = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
               "settings": {k: v for k, v in vars(a).items()}, "window_s": window_s,
               "ceiling_per_user": asdict(c1) if hasattr(c1, "__dataclass_fields__") else vars(c1),
               "capacity_records_per_s": capacity,
               "results": [{**asdict(r), "records_per_s": r.rate, "ratio": r.ratio} for r in results]}
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(out, indent=2, default=str))
        print(f"\nfigures written to {a.json}")


if __name__ == "__main__":
    main()
