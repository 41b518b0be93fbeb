"""``open_staging(location)``: one string (a setting) says where staging lives.

Accepted forms:

- the name of an app setting / environment variable (capitals, digits, ``_``: ``STAGING_CONNECTION``)
  holding one of the forms below. Run settings carry this name, never the connection string: they are
  copied into every orchestration and activity input, and the string holds the account key
  (:func:`staging_reference` turns an operator's connection string into such a name);
- a folder path (``./out/staging``, ``/data/staging``) or a ``file://`` URL -> :class:`LocalStaging`;
- a Blob Storage connection string (``DefaultEndpointsProtocol=...;AccountName=...;AccountKey=...;
  BlobEndpoint=...``, a SAS connection string, or ``UseDevelopmentStorage=true``) -> :class:`BlobStaging`
  authenticated by the string itself. The container may be named by a ``Container=<name>`` setting in
  the string (removed before the string is given to the SDK);
- ``https://<account>.blob.core.windows.net/<container>[/<prefix>...]`` -> :class:`BlobStaging`
  authenticated with ``DefaultAzureCredential`` (managed identity in Azure: set ``AZURE_CLIENT_ID`` for a
  user-assigned one; the developer's az login locally). Path segments after the container become a
  prefix, prepended to ``prefix=``.

Blob clients are cached per process (one connection pool per account and container), so opening the
same location in every step is cheap and ``close()`` on such a staging area is a no-op.

The container is, in order of precedence: the ``container=`` argument, ``Container=`` in the connection
string or the URL's first path segment, then :data:`DEFAULT_CONTAINER`. It is created if missing.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Callable, MutableMapping
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from ..errors import SettingsError
from ..settings import SETTING_NAME
from .base import Staging, join

DEFAULT_CONTAINER = "migration-staging"

_CONN_KEYS = {
    "defaultendpointsprotocol",
    "accountname",
    "accountkey",
    "blobendpoint",
    "endpointsuffix",
    "sharedaccesssignature",
    "usedevelopmentstorage",
    "blobsecondaryendpoint",
    "queueendpoint",
    "tableendpoint",
    "fileendpoint",
    "developmentstorageproxyuri",
    "container",
}

_clients_lock = threading.Lock()
_clients: dict[tuple, Any] = {}
_credential_lock = threading.Lock()
_credential: Any = None


def _default_credential() -> Any:
    """One ``DefaultAzureCredential`` per process (it caches tokens; creating one per call would not)."""
    global _credential
    with _credential_lock:
        if _credential is None:
            from azure.identity import DefaultAzureCredential

            _credential = DefaultAzureCredential()
        return _credential


def _container_client(key: tuple, make: Callable[[], Any]) -> Any:
    """One ContainerClient per (location, container[, credential]) per process: its connection pool is
    reused by every step that opens the same staging area (the SDK clients are thread-safe)."""
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = make()
        return client


def parse_connection_string(location: str) -> tuple[str, str | None] | None:
    """``(connection string without Container=, container or None)`` if ``location`` is a Blob
    Storage connection string, else None."""
    parts = [p for p in location.strip().split(";") if p.strip()]
    if not parts or any("=" not in p for p in parts):
        return None
    pairs = [p.split("=", 1) for p in parts]
    keys = {k.strip().lower() for k, _ in pairs}
    if not keys <= _CONN_KEYS or not keys & {"accountname", "blobendpoint", "usedevelopmentstorage"}:
        return None
    container = None
    kept = []
    for key, value in pairs:
        if key.strip().lower() == "container":
            container = value.strip()
        else:
            kept.append(f"{key.strip()}={value.strip()}")
    return ";".join(kept), container or None


def open_staging(
    location: str | os.PathLike[str],
    *,
    prefix: str = "",
    container: str | None = None,
    credential: Any = None,
    create: bool = True,
) -> Staging:
    """Open the staging area ``location`` points at, scoped under ``prefix`` (e.g. ``runs/<run_id>``).

    ``credential`` overrides ``DefaultAzureCredential`` for an ``https://`` account URL.
    ``create=False`` skips creating the container (Blob) - the folder is always created.
    """
    if isinstance(location, os.PathLike):
        location = os.fspath(location)
    if not isinstance(location, str) or not location.strip():
        raise ValueError("staging location is empty")
    location = location.strip()
    if SETTING_NAME.match(location):
        if not os.environ.get(location, "").strip():
            raise SettingsError(f"staging names the setting {location}, which is not set: set it to a connection "
                                "string, an https://<account>.blob.core.windows.net/<container> URL or a folder")
        location = os.environ[location].strip()

    if location.lower().startswith("file:"):
        from .local import LocalStaging

        path = url2pathname(unquote(urlsplit(location).path))
        return LocalStaging(path, prefix=prefix)

    parsed = parse_connection_string(location)
    if parsed is not None:
        from .blob import CLIENT_OPTIONS, BlobServiceClient, BlobStaging

        conn_str, conn_container = parsed
        name = container or conn_container or DEFAULT_CONTAINER
        client = _container_client(("conn", conn_str, name), lambda: BlobServiceClient.from_connection_string(
            conn_str, **CLIENT_OPTIONS).get_container_client(name))
        return BlobStaging(client, prefix=prefix, create=create, _owns_client=False)

    lowered = location.lower()
    if lowered.startswith("https://"):
        from .blob import CLIENT_OPTIONS, BlobServiceClient, BlobStaging

        url = urlsplit(location)
        if url.query:
            raise ValueError(
                "staging URL must not carry a query string (SAS tokens belong in a connection string: "
                "BlobEndpoint=...;SharedAccessSignature=...)"
            )
        segments = [unquote(s) for s in url.path.split("/") if s]
        url_container = segments[0] if segments else None
        url_prefix = "/".join(segments[1:])
        name = container or url_container or DEFAULT_CONTAINER
        cred = credential if credential is not None else _default_credential()
        account_url = f"https://{url.netloc}"
        client = _container_client(("url", account_url, name, id(cred)), lambda: BlobServiceClient(
            account_url, credential=cred, **CLIENT_OPTIONS).get_container_client(name))
        return BlobStaging(client, prefix=join(url_prefix, prefix), create=create, _owns_client=False)
    if lowered.startswith("http://") or "://" in location:
        raise ValueError(
            f"unsupported staging location scheme {location.split('://', 1)[0]!r}: use a folder, file://, https://<account>.blob.core."
            "windows.net/<container>, or a connection string (BlobEndpoint=http://... for Azurite)"
        )
    if "=" in location and ";" in location:
        raise ValueError(
            "staging location looks like a connection string but has unknown settings "
            "(expected DefaultEndpointsProtocol, AccountName, AccountKey, BlobEndpoint, EndpointSuffix, "
            "SharedAccessSignature, UseDevelopmentStorage, Container)"
        )

    from .local import LocalStaging

    return LocalStaging(location, prefix=prefix)


def staging_reference(location: str, *, setting: str = "STAGING_CONNECTION",
                      env: MutableMapping[str, str] = os.environ) -> str:
    """What a run's settings may carry for the staging ``location`` an operator gave: a connection
    string is put into ``env`` (the CLI's own process environment) under ``setting`` and named; a folder
    becomes absolute (activities may run elsewhere); a setting name or a URL stays as it is."""
    if parse_connection_string(location) is not None:
        env[setting] = location
        return setting
    if SETTING_NAME.match(location) or "://" in location:
        return location
    return str(Path(location).resolve())
