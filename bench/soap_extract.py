"""Records/s of WORKetc SOAP extraction through zeep, against the emulator on a loopback port.

    python -m bench.soap_extract [--companies 500] [--page-size 100] [--rate 0] [--seed 7]

Generates a sample export (emulators.sample_worketc), starts ``python -m emulators.worketc`` over it in
a separate process (so the server's CPU does not share the extractor's GIL), extracts every object
with ``WorketcSoapClient`` and prints records/s per object and overall, with the extractor's CPU
share: CPU/wall near 100 % means the bound is the client's XML parsing (zeep), well below means it
waited on the server or on the configured request rate (``--rate``; 0 = unthrottled, the production
default is 5 requests/s, i.e. at most ``5 x page size`` records/s).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.sources.worketc.csv_export import read_table  # noqa: E402
from shared.sources.worketc.operations import DEFAULT_OPERATIONS  # noqa: E402
from shared.sources.worketc.soap import WorketcSoapClient, WorketcSoapSettings  # noqa: E402

PASSWORD = "bench-password"


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--companies", type=int, default=500)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--page-size", type=int, default=100, help="records per call (client and server)")
    p.add_argument("--rate", type=float, default=0.0, help="client request rate limit per second (0 = none)")
    p.add_argument("--latency", type=float, default=0.0, help="server latency per call, seconds")
    p.add_argument("--export", default=None, help="use this export folder instead of generating one")
    a = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        export = Path(a.export) if a.export else Path(tmp) / "export"
        if not a.export:
            subprocess.run([sys.executable, "-m", "emulators.sample_worketc", "--out", str(export),
                            "--companies", str(a.companies), "--seed", str(a.seed)], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "emulators.worketc", "--export", str(export), "--host", "127.0.0.1",
             "--port", str(port), "--password", PASSWORD, "--page-size", str(a.page_size),
             "--latency", str(a.latency)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    requests.get(f"{base}/xml", timeout=1)
                    break
                except requests.ConnectionError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit("the emulator did not start")
                    time.sleep(0.1)
            user = next(u for u in read_table(export, "users.csv")
                        if (u.get("Active") or "").lower() in ("yes", "true", "1"))
            settings = WorketcSoapSettings(wsdl_url=f"{base}/xml?wsdl", email=user["Email"], password=PASSWORD,
                                           page_size=a.page_size, rate_per_second=a.rate, burst=1)
            with WorketcSoapClient(settings) as client:
                client.login()
                print(f"export: {export.name}, {a.companies} companies; page size {a.page_size}; "
                      f"rate {'unthrottled' if a.rate <= 0 else f'{a.rate:g} req/s'}; latency {a.latency:g}s")
                print(f"{'object':<16}{'records':>9}{'calls':>7}{'seconds':>9}{'records/s':>11}{'cpu/wall':>10}")
                total_n, total_wall, total_cpu = 0, 0.0, 0.0
                for obj, spec in DEFAULT_OPERATIONS.items():
                    if spec.operation is None:
                        continue
                    calls0 = client.stats["calls"]
                    w0, c0 = time.perf_counter(), time.process_time()
                    n = sum(1 for _ in client.extract(obj))
                    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                    total_n, total_wall, total_cpu = total_n + n, total_wall + wall, total_cpu + cpu
                    print(f"{obj:<16}{n:>9}{client.stats['calls'] - calls0:>7}{wall:>9.2f}"
                          f"{n / wall if wall else 0:>11.0f}{cpu / wall if wall else 0:>9.0%}")
                print(f"{'total':<16}{total_n:>9}{client.stats['calls']:>7}{total_wall:>9.2f}"
                      f"{total_n / total_wall:>11.0f}{total_cpu / total_wall:>9.0%}")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
