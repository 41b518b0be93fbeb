"""Run a real Azurite blob server for tests: ``with run_azurite(tmpdir) as conn_str: ...``.

Starts ``.tools/node_modules/.bin/azurite-blob`` (installed by ``make test`` /
``npm install --prefix .tools azurite@3.37.0``) on 127.0.0.1 and a free port, with its data in
``tmpdir``, waits until it answers HTTP, yields a connection string for the well-known development
account ``devstoreaccount1`` and stops the process (its whole process group) on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
AZURITE_BLOB = REPO / ".tools" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
# Azurite's published, well-known development key (not a secret).
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
INSTALL_HINT = "run `make test`, or `npm install --prefix .tools azurite@3.37.0` in the repository root"


class AzuriteError(RuntimeError):
    pass


def connection_string(port: int, host: str = "127.0.0.1") -> str:
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://{host}:{port}/{ACCOUNT};"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    """True once the server answers HTTP at all (any status: an unauthenticated request gets 4xx)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/{ACCOUNT}?comp=list", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextlib.contextmanager
def run_azurite(tmpdir: str | os.PathLike[str], *, startup_timeout: float = 30.0) -> Iterator[str]:
    """Start Azurite (blob service only) with data under ``tmpdir``; yield its connection string."""
    if not AZURITE_BLOB.exists():
        raise AzuriteError(f"Azurite is not installed at {AZURITE_BLOB}: {INSTALL_HINT}")
    if shutil.which("node") is None:
        raise AzuriteError(f"Azurite needs Node.js (`node` on PATH) to run {AZURITE_BLOB}")
    workdir = Path(tmpdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "azurite.log"

    last_error = ""
    for _attempt in range(3):  # a free port can be taken between probing and binding: retry
        port = _free_port()
        data_dir = workdir / f"data-{port}"
        data_dir.mkdir(exist_ok=True)
        cmd = [
            str(AZURITE_BLOB),
            "--blobHost", "127.0.0.1",
            "--blobPort", str(port),
            "--location", str(data_dir),
            "--silent",
            "--skipApiVersionCheck",  # the SDK may speak a newer x-ms-version than this Azurite knows
            "--disableTelemetry",
        ]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=data_dir, start_new_session=True,  # own process group: stopped as a whole
            )
        try:
            deadline = time.monotonic() + startup_timeout
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    break
                if _answers(port):
                    yield connection_string(port)
                    return
                time.sleep(0.1)
            else:
                last_error = f"did not answer on port {port} within {startup_timeout:.0f}s"
                continue
            last_error = f"exited with code {proc.returncode}"
        finally:
            _stop(proc)
    log_tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
    raise AzuriteError(f"Azurite failed to start ({last_error}). Log {log_path}:\n{log_tail}")
