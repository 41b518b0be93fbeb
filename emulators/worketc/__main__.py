"""``python -m emulators.worketc --export DIR --host 127.0.0.1 --port 8088``"""

from __future__ import annotations

import argparse

import uvicorn

from .app import create_app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m emulators.worketc", description=__doc__)
    p.add_argument("--export", required=True, help="the CSV export folder that is the tenant's data")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8088)
    p.add_argument("--password", default=None, help="every active user's password (default: worketc)")
    p.add_argument("--page-size", type=int, default=100, help="most records per list call")
    p.add_argument("--faults", default=None, help='e.g. "error=0.05,drop=0.02,slow=0.02,slow_seconds=2,seed=1"')
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every SOAP call")
    p.add_argument("--session-ttl", type=float, default=1200.0)
    p.add_argument("--date-order", default="DMY", choices=["DMY", "MDY"])
    p.add_argument("--log-level", default="warning")
    a = p.parse_args(argv)
    app = create_app(a.export, password_for=a.password, faults=a.faults, latency=a.latency,
                     page_size=a.page_size, session_ttl=a.session_ttl, date_order=a.date_order)
    uvicorn.run(app, host=a.host, port=a.port, log_level=a.log_level)


if __name__ == "__main__":
    main()
