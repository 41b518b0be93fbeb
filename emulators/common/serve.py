"""Run an ASGI app on loopback with uvicorn, optionally over TLS with a throw-away test CA.

* ``serve(app, host, port, tls=...)``: blocking, for ``python -m emulators.<name>``.
* ``serve_in_thread(app, host, port=0, tls=False) -> ServerHandle``: a background server for
  tests and benchmarks (``.base_url``, ``.ca_file``, ``.port``, ``.stop()``; also a context
  manager).
* ``python -m emulators.common.serve package.module:app [--factory] [--host] [--port] [--tls]``.

TLS: a CA is made at start with ``trustme``; its PEM is written to a file (path printed by
``serve``/the CLI, ``handle.ca_file`` in a thread) so clients can trust it
(``httpx.AsyncClient(verify=ssl.create_default_context(cafile=...))``, MSAL ``verify=ca_file``).
The server certificate covers ``127.0.0.1``, ``::1`` and ``localhost``.

Every http scope gets ``scope["emulator.abort"]``: a callable that aborts the client's TCP
connection, used by ``emulators.common.faults`` to drop connections without an answer.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import shutil
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Callable

import uvicorn

from emulators.common.faults import ConnectionDropped

__all__ = ["ServerHandle", "TlsFiles", "make_tls_files", "serve", "serve_in_thread", "with_abort"]


@dataclass
class TlsFiles:
    ca_file: str
    cert_file: str
    key_file: str


def make_tls_files(directory: str, hosts: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")) -> TlsFiles:
    """Make a test CA and a server certificate for ``hosts``; write PEM files into ``directory``."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert(*hosts)
    files = TlsFiles(
        ca_file=os.path.join(directory, "emulator-ca.pem"),
        cert_file=os.path.join(directory, "server-chain.pem"),
        key_file=os.path.join(directory, "server-key.pem"),
    )
    ca.cert_pem.write_to_path(files.ca_file)
    cert.private_key_pem.write_to_path(files.key_file)
    with open(files.cert_file, "wb") as out:
        for blob in cert.cert_chain_pems:
            out.write(blob.bytes())
    return files


def with_abort(app):
    """Wrap an ASGI app so inner layers can abort the connection (``scope["emulator.abort"]``)."""

    async def wrapper(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if transport is not None:
            scope["emulator.abort"] = transport.abort
        try:
            await app(scope, receive, send)
        except ConnectionDropped:
            # The socket is gone; give uvicorn a chance to see it so it neither logs a
            # traceback nor tries to write a 500.
            await asyncio.sleep(0)

    return wrapper


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _base_url(scheme: str, host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


@dataclass
class ServerHandle:
    base_url: str
    host: str
    port: int
    ca_file: str | None
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _tmpdir: str | None = field(default=None, repr=False)

    def stop(self, timeout: float = 10.0, grace: float = 0.5) -> None:
        """Stop serving: graceful for ``grace`` seconds, then idle keep-alive connections (which a
        TLS client such as requests/MSAL leaves open) are dropped."""
        self._server.should_exit = True
        self._thread.join(grace)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> "ServerHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _config(app, tls: TlsFiles | None, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        with_abort(app),
        log_level=log_level,
        http="h11",
        lifespan="auto",
        timeout_keep_alive=30,
        ssl_certfile=tls.cert_file if tls else None,
        ssl_keyfile=tls.key_file if tls else None,
    )


def serve_in_thread(app, host: str = "127.0.0.1", port: int = 0, tls: bool = False, *,
                    log_level: str = "warning", startup_timeout: float = 10.0) -> ServerHandle:
    """Start ``app`` on ``host:port`` (0 = a free port) in a daemon thread; returns once it listens."""
    tmpdir = tempfile.mkdtemp(prefix="emulator-tls-") if tls else None
    tls_files = make_tls_files(tmpdir) if tmpdir else None
    sock = _bind(host, port)
    actual_port = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, tls_files, log_level))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name=f"emulator-{actual_port}")
    thread.start()
    deadline = threading.Event()
    for _ in range(int(startup_timeout / 0.01)):
        if server.started or not thread.is_alive():
            break
        deadline.wait(0.01)
    if not server.started:
        server.should_exit = True
        raise RuntimeError(f"server on {host}:{actual_port} did not start")
    return ServerHandle(
        base_url=_base_url("https" if tls else "http", host, actual_port),
        host=host, port=actual_port, ca_file=tls_files.ca_file if tls_files else None,
        _server=server, _thread=thread, _tmpdir=tmpdir,
    )


def serve(app, host: str = "127.0.0.1", port: int = 8000, tls: bool = False, *, log_level: str = "info",
          tls_dir: str | None = None, on_ready: Callable[[str, str | None], None] | None = None) -> None:
    """Serve ``app`` until interrupted. ``on_ready(base_url, ca_file)`` is called before serving
    (default: print both). With ``tls`` the CA PEM goes to ``tls_dir`` (default: a temp folder)."""
    tls_files = None
    if tls:
        tls_dir = tls_dir or tempfile.mkdtemp(prefix="emulator-tls-")
        tls_files = make_tls_files(tls_dir)
    sock = _bind(host, port)
    base_url = _base_url("https" if tls else "http", host, sock.getsockname()[1])
    ca_file = tls_files.ca_file if tls_files else None
    if on_ready is None:
        print(f"Serving on {base_url}", flush=True)
        if ca_file:
            print(f"CA certificate: {ca_file}", flush=True)
    else:
        on_ready(base_url, ca_file)
    uvicorn.Server(_config(app, tls_files, log_level)).run(sockets=[sock])


def _load(target: str, factory: bool):
    module_name, _, attr = target.partition(":")
    obj = getattr(importlib.import_module(module_name), attr or "app")
    return obj() if factory else obj


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulators.common.serve",
                                     description="Serve an ASGI app on loopback (optionally TLS with a test CA).")
    parser.add_argument("target", help="package.module:attribute")
    parser.add_argument("--factory", action="store_true", help="call the attribute to get the app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args(argv)
    serve(_load(args.target, args.factory), args.host, args.port, args.tls)


if __name__ == "__main__":
    main()
