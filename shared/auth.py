"""Bearer tokens for remote clients (Dataverse, Graph).

A :class:`TokenProvider` is anything with ``async def token(self) -> str``. Three implementations:

- :class:`StaticToken` - a token obtained elsewhere (``az account get-access-token``), for local runs.
- :class:`MsalClientCredentials` - an application (client id + secret or certificate) through MSAL's
  ``ConfidentialClientApplication``. MSAL is synchronous, so it runs in a worker thread. Tokens are
  cached and renewed ``refresh_margin`` seconds before they expire. A full ``https://`` authority
  (a local token emulator served over TLS with a test CA) is supported: instance discovery is turned
  off and the CA bundle is trusted through a ``requests.Session`` handed to MSAL.
- :class:`AzureIdentityToken` - an azure-identity credential (``ManagedIdentityCredential``,
  ``DefaultAzureCredential``; sync or ``azure.identity.aio``).

Tokens and secrets are never logged or put in exception messages.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)

DEFAULT_REFRESH_MARGIN = 300.0  # seconds before expiry at which a cached token is renewed


class AuthError(RuntimeError):
    """A token could not be obtained (the message never contains a secret or a token)."""


@runtime_checkable
class TokenProvider(Protocol):
    async def token(self) -> str: ...


class StaticToken:
    """A fixed bearer token (for example ``DATAVERSE_TOKEN`` from ``az account get-access-token``)."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("StaticToken needs a non-empty token")
        self._token = token.strip()
        if self._token.lower().startswith("bearer "):
            self._token = self._token[7:].strip()

    async def token(self) -> str:
        return self._token

    def invalidate(self) -> None:  # nothing to renew
        pass

    def __repr__(self) -> str:
        return "StaticToken(<redacted>)"


class _CachedToken:
    """Thread-safe cache of one token with its expiry (monotonic clock)."""

    def __init__(self, refresh_margin: float) -> None:
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.refresh_margin = refresh_margin

    def get(self) -> str | None:
        with self._lock:
            if self._token and time.monotonic() < self._expires_at - self.refresh_margin:
                return self._token
            return None

    def put(self, token: str, expires_in: float) -> None:
        with self._lock:
            self._token = token
            self._expires_at = time.monotonic() + max(float(expires_in), 0.0)

    def clear(self) -> None:
        with self._lock:
            self._token = None
            self._expires_at = 0.0


def _CABundleSession(ca_bundle: str) -> Any:
    """A requests Session that trusts ``ca_bundle`` even when REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE are set
    (requests lets those environment variables override ``Session.verify``)."""
    import requests

    class Session(requests.Session):
        def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[override]
            merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
            merged["verify"] = ca_bundle
            return merged

    session = Session()
    session.verify = ca_bundle
    return session


class MsalClientCredentials:
    """Client-credentials flow through MSAL.

    ``tenant_or_authority`` is a tenant id/domain (authority ``https://login.microsoftonline.com/<t>``)
    or a full ``https://`` authority URL (``https://127.0.0.1:8443/<tenant>`` for a local emulator).
    Give either ``secret`` or ``certificate_path`` (PEM with the private key, optionally the public
    certificate too) plus ``certificate_thumbprint`` (SHA-1 hex).
    """

    def __init__(
        self,
        tenant_or_authority: str,
        client_id: str,
        scope: str,
        *,
        secret: str | None = None,
        certificate_path: str | None = None,
        certificate_thumbprint: str | None = None,
        ca_bundle: str | None = None,
        refresh_margin: float = DEFAULT_REFRESH_MARGIN,
        timeout: float = 60.0,
    ) -> None:
        if not client_id:
            raise ValueError("MsalClientCredentials needs a client_id")
        if bool(secret) == bool(certificate_path):
            raise ValueError("give exactly one of secret or certificate_path")
        if certificate_path and not certificate_thumbprint:
            raise ValueError("a certificate needs its thumbprint (certificate_thumbprint)")
        self.client_id = client_id
        self.scopes = [scope]
        self.custom_authority = tenant_or_authority.lower().startswith("https://")
        self.authority = (
            tenant_or_authority.rstrip("/")
            if self.custom_authority
            else f"https://login.microsoftonline.com/{tenant_or_authority}"
        )
        self._secret = secret
        self._certificate_path = certificate_path
        self._certificate_thumbprint = certificate_thumbprint
        self._ca_bundle = ca_bundle
        self._timeout = timeout
        self._cache = _CachedToken(refresh_margin)
        self._app_lock = threading.Lock()
        self._app: Any = None

    def __repr__(self) -> str:
        kind = "certificate" if self._certificate_path else "secret"
        return f"MsalClientCredentials(authority={self.authority!r}, client_id={self.client_id!r}, {kind}=<redacted>)"

    def _credential(self) -> Any:
        if self._secret:
            return self._secret
        with open(self._certificate_path, encoding="utf-8") as f:  # type: ignore[arg-type]
            pem = f.read()
        cred: dict[str, str] = {"private_key": pem, "thumbprint": self._certificate_thumbprint or ""}
        if "BEGIN CERTIFICATE" in pem:  # send x5c (subject name / issuer authentication)
            start = pem.index("-----BEGIN CERTIFICATE-----")
            end = pem.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
            cred["public_certificate"] = pem[start:end]
        return cred

    def _build_app(self) -> Any:
        import msal
        import requests

        session = _CABundleSession(self._ca_bundle) if self._ca_bundle else requests.Session()
        kwargs: dict[str, Any] = dict(
            client_credential=self._credential(),
            authority=self.authority,
            http_client=session,
            timeout=self._timeout,
            token_cache=msal.SerializableTokenCache(),
        )
        if self.custom_authority:
            # A non-Microsoft host (local emulator): no instance discovery against login.microsoftonline.com.
            kwargs["instance_discovery"] = False
        return msal.ConfidentialClientApplication(self.client_id, **kwargs)

    def _acquire_sync(self) -> str:
        with self._app_lock:
            cached = self._cache.get()
            if cached:
                return cached
            try:
                if self._app is None:
                    self._app = self._build_app()  # fetches the authority's openid-configuration
                result = self._app.acquire_token_for_client(scopes=self.scopes)
            except Exception as exc:  # network / TLS errors from requests
                raise AuthError(f"token request to {self.authority} failed: {type(exc).__name__}: {exc}") from None
            if not result or "access_token" not in result:
                err = (result or {}).get("error", "unknown_error")
                desc = (result or {}).get("error_description", "")
                raise AuthError(f"token request to {self.authority} for client {self.client_id} failed: {err}: {desc}")
            self._cache.put(result["access_token"], float(result.get("expires_in", 3600)))
            return result["access_token"]

    async def token(self) -> str:
        cached = self._cache.get()
        if cached:
            return cached
        return await asyncio.to_thread(self._acquire_sync)

    def invalidate(self) -> None:
        """Forget the cached token (after a 401). MSAL's own cache is bypassed by a new app."""
        self._cache.clear()
        with self._app_lock:
            self._app = None


class AzureIdentityToken:
    """An azure-identity credential (sync ``TokenCredential`` or ``azure.identity.aio``)."""

    def __init__(self, credential: Any, scope: str, *, refresh_margin: float = DEFAULT_REFRESH_MARGIN) -> None:
        self.credential = credential
        self.scope = scope
        self._cache = _CachedToken(refresh_margin)
        self._async = inspect.iscoroutinefunction(getattr(credential, "get_token", None))

    def __repr__(self) -> str:
        return f"AzureIdentityToken({type(self.credential).__name__}, scope={self.scope!r})"

    async def token(self) -> str:
        cached = self._cache.get()
        if cached:
            return cached
        try:
            if self._async:
                access = await self.credential.get_token(self.scope)
            else:
                access = await asyncio.to_thread(self.credential.get_token, self.scope)
        except Exception as exc:
            raise AuthError(f"{type(self.credential).__name__} could not get a token for {self.scope}: {type(exc).__name__}") from exc
        self._cache.put(access.token, float(access.expires_on) - time.time())
        return access.token

    def invalidate(self) -> None:
        self._cache.clear()


def token_provider_from_settings(
    identity: Any,
    *,
    scope: str,
    ca_bundle: str | None = None,
) -> TokenProvider:
    """Build the provider an identity configuration asks for.

    ``identity`` is a :class:`shared.dataverse.settings.IdentitySettings` (or any object with the same
    attributes): ``static_token``, ``tenant_id``/``authority``, ``client_id``, ``client_secret``,
    ``client_cert_path``, ``client_cert_thumbprint``, ``managed_identity``, ``managed_identity_client_id``.
    """

    def secret(name: str) -> str | None:
        value = getattr(identity, name, None)
        if value is None:
            return None
        return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)

    static = secret("static_token")
    if static:
        return StaticToken(static)
    if getattr(identity, "managed_identity", False):
        from azure.identity import ManagedIdentityCredential

        mi_client = getattr(identity, "managed_identity_client_id", None)
        cred = ManagedIdentityCredential(client_id=mi_client) if mi_client else ManagedIdentityCredential()
        return AzureIdentityToken(cred, scope)
    client_id = getattr(identity, "client_id", None)
    authority = getattr(identity, "authority", None) or getattr(identity, "tenant_id", None)
    if client_id and authority:
        return MsalClientCredentials(
            authority,
            client_id,
            scope,
            secret=secret("client_secret"),
            certificate_path=getattr(identity, "client_cert_path", None),
            certificate_thumbprint=getattr(identity, "client_cert_thumbprint", None),
            ca_bundle=ca_bundle,
        )
    if getattr(identity, "default_credential", False):
        from azure.identity import DefaultAzureCredential

        return AzureIdentityToken(DefaultAzureCredential(), scope)
    raise ValueError(
        "identity has no usable credentials: set static_token, managed_identity, "
        "or tenant_id/authority + client_id + client_secret/client_cert_path"
    )
