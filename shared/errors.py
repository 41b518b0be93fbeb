"""Failures a person must act on, told apart from failures worth retrying.

A :class:`PermanentError` (bad settings, a refused credential, a missing or unreadable input file) is
never retried: the activity reports it at once and the run fails with its message. The message is
one line a migration engineer can act on: it names the file, setting or host and says what to do.
Everything else (timeouts, 5xx, throttling past the client's own retries, a recycled worker) is
transient and retried by the orchestrator.
"""

from __future__ import annotations


class PermanentError(Exception):
    """Retrying will not help; the message says what to change."""

    kind = "permanent"


class SettingsError(PermanentError):
    """A setting (app setting, environment variable, CLI option, request field) is missing or wrong."""

    kind = "settings"


class AccessError(PermanentError):
    """A credential was refused (401) or the identity lacks a privilege (403)."""

    kind = "access"


class InputError(PermanentError):
    """The source input cannot be read as given (missing folder, wrong format, wrong separator)."""

    kind = "input"


def is_permanent(exc: BaseException) -> bool:
    return isinstance(exc, PermanentError)
