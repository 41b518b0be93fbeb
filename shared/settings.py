"""What the deployed engine may talk to, and keeping secrets out of what it prints.

In the Function App a caller does not choose where the engine sends its credentials: the Dataverse
environment, the WORKetc endpoint or export folder, and the staging area come from app settings, and a
request may only *pick* among them (:class:`AllowList`). Each allow-list is one app setting holding
one value (``DATAVERSE_URL``) plus its comma-separated plural (``DATAVERSE_URLS``); a request names a
choice by its value or by the name of the single setting. The CLI is run by the operator on their own
machine and keeps free arguments.

:func:`mask_secrets` hides what looks like a secret in a line of text (connection-string keys, SAS
signatures, client secrets, passwords, bearer tokens, passwords in URLs), for the CLI's output and
for logs (:class:`MaskingFilter`).
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Callable, Mapping
from urllib.parse import urlsplit

from .errors import SettingsError

MASK = "***"
#: ``key=value`` / ``"key": "value"`` pairs whose value is a secret (connection strings, SAS query
#: strings, settings dumps, JSON); the key is kept so a reader still sees what was there
_SECRET_PAIR = re.compile(
    r"""(?ix)\b(accountkey|sharedaccesssignature|sig|[\w-]*secret|[\w-]*password|pwd|[\w-]*token)
        (["']?\s*[=:]\s*["']?)([^;&\s"',}]+)""")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[\w.~+/=-]+")
_URL_PASSWORD = re.compile(r"(://[^/\s:@]+:)[^@\s/]+@")


def mask_secrets(text: str) -> str:
    """``text`` with every secret-looking value replaced by ``***`` (keys and the rest kept)."""
    text = _SECRET_PAIR.sub(lambda m: f"{m[1]}{m[2]}{MASK}", text)
    text = _BEARER.sub(lambda m: f"{m[1]}{MASK}", text)
    return _URL_PASSWORD.sub(lambda m: f"{m[1]}{MASK}@", text)


def holds_secret(text: str) -> bool:
    return mask_secrets(text) != text


class MaskingFilter(logging.Filter):
    """Masks secrets in every record a handler emits (install it on the handlers, so records that
    propagate from any logger pass through it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_secrets(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def https_url(value: str, *, query: bool = False) -> str:
    """``value`` as a plain https URL: a credential is never sent over plain http, and the URL carries
    no user name, password or fragment (nor a query, unless ``query``: a WSDL URL ends ``?wsdl``)."""
    value = value.strip().rstrip("/")
    url = urlsplit(value)
    if url.scheme != "https" or not url.hostname:
        raise ValueError("must be an https:// URL (for a local emulator, start it with --tls)")
    if url.username or url.password or url.fragment or (url.query and not query) or holds_secret(value):
        raise ValueError("must be a plain https://host/path URL (no user, password, secret or fragment)")
    return value


def absolute_folder(value: str) -> str:
    value = value.strip()
    if not (PurePosixPath(value).is_absolute() or PureWindowsPath(value).is_absolute()):
        raise ValueError("must be an absolute folder path")
    return value.rstrip("/\\") or value


def work4all_mandant(value: str) -> str:
    """A work4all tenant code (``x-work4all-mandant``): a short name of letters, digits, ``-`` or ``_``."""
    value = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        raise ValueError("must be a work4all mandant code (letters, digits, - or _; e.g. 1)")
    return value


#: the name of an app setting / environment variable
SETTING_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,127}$")


def setting_name(value: str) -> str:
    if not SETTING_NAME.match(value):
        raise ValueError("must be an app setting name (capitals, digits, _)")
    return value


class RequestRefused(ValueError):
    """A request asked for something the app settings do not allow: a 400 naming field and setting."""

    def __init__(self, field: str, setting: str, message: str) -> None:
        super().__init__(message)
        self.field, self.setting = field, setting


@dataclass(frozen=True)
class AllowList:
    """The values a request may pick for one field: app setting ``one`` and the entries of ``many``."""

    field: str  # the request field it answers
    what: str  # for messages: "Dataverse environment"
    one: str  # the app setting holding one value
    many: str  # the app setting holding a comma-separated list
    check: Callable[[str], str] = https_url  # normalises a value; ValueError if it is not acceptable
    #: the choices are the names of settings (staging: their values are connection strings, which
    #: must neither travel in run settings nor be compared with what a caller sends)
    names_only: bool = False
    #: an export uploaded to the staging account may be picked too: ``imports/<name>``
    #: (shared/staging/imports.py; the run's staging must then be Blob Storage, see ``check_import``)
    imports: bool = False

    def choices(self, env: Mapping[str, str]) -> dict[str, str]:
        """name -> value: the single setting is named by its own name, list entries by their value."""
        out: dict[str, str] = {}
        if env.get(self.one):
            out[self.one] = self._allowed(self.one, self.one if self.names_only else env[self.one], env)
        for entry in (e.strip() for e in env.get(self.many, "").split(",")):
            if entry:
                value = self._allowed(self.many, entry, env)
                out[value] = value
        return out

    def _allowed(self, setting: str, value: str, env: Mapping[str, str]) -> str:
        """A configured value, checked: a misconfigured app setting is the operator's to fix."""
        try:
            value = self.check(value)
            if self.names_only and not env.get(value):
                raise ValueError(f"names the setting {value}, which is not set")
        except ValueError as e:
            which = "an entry" if setting == self.many else "its value"
            raise SettingsError(f"app setting {setting}: {which} {e}; fix that setting") from None
        return value

    def pick(self, requested: str | None, env: Mapping[str, str]) -> str:
        """The allowed value ``requested`` names (by value or by setting name); the only one if None."""
        if self.imports and requested is not None and requested.strip().startswith("imports/"):
            from .staging.imports import import_name

            try:
                return import_name(requested)
            except ValueError as e:
                raise RequestRefused(self.field, "-", f"{self.field} {e}") from None
        choices = self.choices(env)
        if not choices and self.imports and requested is None:
            raise RequestRefused(self.field, self.one, (
                f"{self.field}: give the export you uploaded to the staging account's imports container "
                f"(\"{self.field}\": \"imports/<name>\"), or set the app setting {self.one} to a folder"))
        if not choices:
            raise SettingsError(f"no {self.what} is configured: set the app setting {self.one} (or {self.many})")
        if requested is None:
            if len(set(choices.values())) == 1:
                return next(iter(choices.values()))
            raise RequestRefused(self.field, self.many, f"{self.field}: several {self.what}s are allowed "
                                 f"({self.one}, {self.many}); name one by its value or setting name")
        if requested in choices:
            return choices[requested]
        if not self.names_only:
            try:
                requested = self.check(requested)
            except ValueError as e:
                raise RequestRefused(self.field, self.many, f"{self.field} {e}") from None
            if requested in choices.values():
                return requested
        raise RequestRefused(self.field, self.many, (
            f"{self.field} is not a {self.what} this Function App allows: give the value or name of the app "
            f"setting {self.one}, or an entry of {self.many}; to use another one, add it to {self.many}"))


TARGETS = AllowList("target", "Dataverse environment", "DATAVERSE_URL", "DATAVERSE_URLS")
STAGINGS = AllowList("staging", "staging setting", "STAGING_CONNECTION", "STAGING_SETTINGS", check=setting_name,
                     names_only=True)
#: source kind -> where its input may come from
INPUTS: dict[str, AllowList] = {
    "worketc-csv": AllowList("input", "WORKetc export folder", "WORKETC_EXPORT_FOLDER", "WORKETC_EXPORT_FOLDERS",
                             check=absolute_folder, imports=True),
    "worketc-soap": AllowList("input", "WORKetc WSDL URL", "WORKETC_WSDL_URL", "WORKETC_WSDL_URLS",
                              check=functools.partial(https_url, query=True)),
    "work4all-export": AllowList("input", "work4all export folder", "WORK4ALL_EXPORT_FOLDER",
                                 "WORK4ALL_EXPORT_FOLDERS", check=absolute_folder, imports=True),
    # the API and token URLs are app settings (WORK4ALL_API_URL, WORK4ALL_TOKEN_URL); a run picks the tenant
    "work4all-graphql": AllowList("input", "work4all mandant", "WORK4ALL_MANDANT", "WORK4ALL_MANDANTS",
                                  check=work4all_mandant),
}


def check_import(input_: str, staging: str, env: Mapping[str, str]) -> None:
    """An ``imports/<name>`` input is read from the staging account: refused (400, naming the staging
    setting) when the run's staging setting holds a folder rather than Blob Storage."""
    if not input_.startswith("imports/"):
        return
    value = env.get(staging, staging).strip()
    from .staging.location import parse_connection_string

    if not (value.lower().startswith("https://") or parse_connection_string(value) is not None):
        raise RequestRefused("input", staging, f"input {input_} is read from the staging account's imports "
                             f"container, but the staging setting {staging} is a folder: stage in Blob Storage, "
                             "or give an export folder (WORKETC_EXPORT_FOLDER)")
