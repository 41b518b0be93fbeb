"""``python -m emulators.work4all --host 127.0.0.1 --port 8446 [--tls] [--seed 1 --scale 1] [--mandant 1]``

Serves the token endpoint (``/connect/token``) and the GraphQL API (``/graphql``) on one origin, over
the sample tenant ``emulators.sample_work4all.records(seed, scale)`` (the same data ``python -m
emulators.sample_work4all --seed N --scale S`` writes as an export). Prints the base URL, the client
credentials it accepts and, with ``--tls``, the test CA file (``WORK4ALL_VERIFY``)."""

from __future__ import annotations

import argparse

from emulators.common.serve import serve

from .app import create_app


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m emulators.work4all", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8446)
    p.add_argument("--tls", action="store_true", help="https with a test CA (its PEM path is printed)")
    p.add_argument("--seed", type=int, default=1, help="sample tenant seed (as sample_work4all --seed)")
    p.add_argument("--scale", type=int, default=1, help="sample tenant scale (as sample_work4all --scale)")
    p.add_argument("--mandant", default="1", help="the tenant code the data is served as (x-work4all-mandant)")
    p.add_argument("--client", default="migration:work4all", help="client_id:client_secret the token endpoint accepts")
    p.add_argument("--faults", default=None, help='e.g. "429:0.05@1,503:0.02,partial:0.01,drop:0.01"')
    p.add_argument("--fault-seed", type=int, default=None)
    p.add_argument("--max-query-size", type=int, default=1000)
    p.add_argument("--unlicensed", default="", help="comma-separated tables a Light licence may not read")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every GraphQL request")
    a = p.parse_args(argv)
    from emulators.sample_work4all import records

    client_id, _, secret = a.client.partition(":")
    app = create_app(records(a.seed, a.scale), mandant=a.mandant, clients={client_id: secret}, faults=a.faults,
                     seed=a.fault_seed, max_query_size=a.max_query_size,
                     unlicensed=[t for t in a.unlicensed.split(",") if t.strip()], latency=a.latency)

    def ready(base_url: str, ca_file: str | None) -> None:
        print(f"work4all emulator on {base_url}  (WORK4ALL_API_URL={base_url} "
              f"WORK4ALL_TOKEN_URL={base_url}/connect/token WORK4ALL_CLIENT_ID={client_id}; mandant {a.mandant})",
              flush=True)
        if ca_file:
            print(f"CA certificate: {ca_file}", flush=True)

    serve(app, host=a.host, port=a.port, tls=a.tls, log_level="warning", on_ready=ready)


if __name__ == "__main__":
    main()
