"""Ctrl-C stops a run with one line saying how to go on, not a traceback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_ctrl_c_says_rerun_to_resume(tmp_path, export):
    with socket.socket() as silent:  # accepts connections (the kernel does) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        target = f"https://127.0.0.1:{silent.getsockname()[1]}"
        env = {**os.environ, "DATAVERSE_TOKEN": "a-token", "COLUMNS": "200"}
        proc = subprocess.Popen([sys.executable, "-m", "cli", "migrate", "--input", str(export), "--target", target,
                                 "--out", str(tmp_path / "out")], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
        started = proc.stderr.readline()  # "run <id>: ..." is printed as the run starts
        assert started.startswith("run "), started
        time.sleep(1)  # discovery is now waiting for the target
        proc.send_signal(signal.SIGINT)
        err = proc.stderr.read()
        assert proc.wait(timeout=30) == 130
    assert "interrupted: rerun the same command to resume" in err
    assert "Traceback" not in err
