"""``python -m emulators.graph --host 127.0.0.1 --port 8082 [--tls] [--file-host URL] [--faults SPEC]``.

Prints its base URL, one bearer token the emulator accepts (unless another verifier is configured)
and, with ``--tls``, the test CA file a client trusts (``GRAPH_CA_BUNDLE``)."""

from __future__ import annotations

import argparse

from emulators.common.serve import serve

from . import create_app, mint_token
from .middleware import Throttle


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m emulators.graph")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8082)
    p.add_argument("--hostname", default="contoso.sharepoint.com", help="SharePoint tenant host")
    p.add_argument("--site-path", default="/sites/crm")
    p.add_argument("--file-host", default=None, help="origin used in uploadUrl / download URLs")
    p.add_argument("--faults", default=None, help='e.g. "PUT uploadSession drop_after x1 +2"')
    p.add_argument("--throttle-limit", type=int, default=None, help="requests per window per caller")
    p.add_argument("--throttle-window", type=float, default=1.0)
    p.add_argument("--session-ttl", type=float, default=900.0)
    p.add_argument("--storage-dir", default=None)
    p.add_argument("--tls", action="store_true", help="https with a test CA (its PEM path is printed)")
    a = p.parse_args()
    throttle = Throttle(limit=a.throttle_limit, window=a.throttle_window) if a.throttle_limit else None
    app = create_app(sites=[{"hostname": a.hostname, "path": a.site_path}], throttle=throttle, faults=a.faults,
                     session_ttl=a.session_ttl, file_host=a.file_host, storage_dir=a.storage_dir)

    def ready(base_url: str, ca_file: str | None) -> None:
        print(f"graph emulator on {base_url}/v1.0  token: {mint_token(app, ttl=7 * 24 * 3600)}", flush=True)
        if ca_file:
            print(f"CA certificate: {ca_file}", flush=True)

    serve(app, host=a.host, port=a.port, tls=a.tls, log_level="warning", on_ready=ready)


if __name__ == "__main__":
    main()
