"""python -m emulators.dataverse --host 127.0.0.1 --port N [--db FILE] [--profile off|realistic]
[--time-scale X] [--faults SPEC] [--tls] [--clients id:secret,...] [--seed FILE]"""

from __future__ import annotations

import argparse
import json

from emulators.common.serve import serve


def _clients(text: str | None) -> dict | None:
    if not text:
        return None
    out = {}
    for item in text.split(","):
        client_id, sep, secret = item.strip().partition(":")
        if not sep or not client_id or not secret:
            raise argparse.ArgumentTypeError(f"bad client {item!r}: expected id:secret")
        out[client_id] = secret
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators.dataverse", description="Dataverse Web API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8400)
    parser.add_argument("--db", help="SQLite file (default: in memory)")
    parser.add_argument("--profile", choices=["off", "realistic"], default="off")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--faults", help='e.g. "503:0.05,500:0.02,drop:0.01,slow:0.05@2.0"')
    parser.add_argument("--fault-seed", type=int)
    parser.add_argument("--tls", action="store_true", help="https with a test CA (its PEM path is printed)")
    parser.add_argument("--clients", type=_clients, help="id:secret,... (default migration-app:migration-app-secret)")
    parser.add_argument("--seed", help="JSON file with seed rows, e.g. {\"systemusers\": [...]}")
    args = parser.parse_args(argv)

    from emulators.dataverse import create_app
    from emulators.dataverse.auth import DEFAULT_CLIENTS

    seed = None
    if args.seed:
        with open(args.seed, encoding="utf-8") as fh:
            seed = json.load(fh)
    app = create_app(db=args.db, profile=args.profile, time_scale=args.time_scale, faults=args.faults,
                     clients=args.clients, seed=seed, fault_seed=args.fault_seed)

    def ready(base_url: str, ca_file: str | None) -> None:
        print(f"Dataverse emulator: {base_url}/api/data/v9.2/", flush=True)
        print(f"Token endpoint:     {base_url}/{app.state.dv_issuer.tenant_id}/oauth2/v2.0/token", flush=True)
        if ca_file:
            print(f"CA certificate:     {ca_file}", flush=True)
        print(f"Clients:            {', '.join(args.clients or DEFAULT_CLIENTS)}", flush=True)
        print(f"Profile:            {args.profile} (time scale {args.time_scale:g})", flush=True)

    serve(app, args.host, args.port, tls=args.tls, on_ready=ready)


if __name__ == "__main__":
    main()
