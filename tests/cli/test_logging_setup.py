"""The CLI's console logging is its own: calling ``main`` leaves the handlers others installed alone."""

from __future__ import annotations

import logging

from cli.app import configure_logging


def test_configuring_twice_touches_only_the_cli_console():
    root = logging.getLogger()
    foreign = logging.Handler()
    root.addHandler(foreign)
    try:
        configure_logging(False)
        configure_logging(True)
        assert foreign.filters == []  # a test session's capture handler, an app's exporter, ...
        consoles = [h for h in root.handlers if getattr(h, "migration_cli", False)]
        assert len(consoles) == 1 and consoles[0].level == logging.INFO
        assert len(consoles[0].filters) == 2  # masking, and failures printed once: not piled up per call
    finally:
        root.removeHandler(foreign)
        for h in [h for h in root.handlers if getattr(h, "migration_cli", False)]:
            root.removeHandler(h)


def test_the_console_writes_to_the_stderr_of_now(monkeypatch):
    """The console handler outlives the ``main`` call that set it up: it writes to whatever ``sys.stderr``
    is when a record comes, not to the one it saw at set-up (a test session closes each test's capture;
    writing there printed "--- Logging error --- ValueError: I/O operation on closed file")."""
    import io
    import sys

    root = logging.getLogger()
    try:
        configure_logging(False)
        before = io.StringIO()
        monkeypatch.setattr(sys, "stderr", before)
        configure_logging(False)
        before.close()
        now = io.StringIO()
        monkeypatch.setattr(sys, "stderr", now)
        logging.getLogger("shared.test").warning("work4all call failed; retrying")
        assert "work4all call failed; retrying" in now.getvalue()
    finally:
        for h in [h for h in root.handlers if getattr(h, "migration_cli", False)]:
            root.removeHandler(h)
