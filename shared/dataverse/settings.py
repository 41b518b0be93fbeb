"""Settings of the Dataverse client.

Service protection limits are per user, so the client takes a *pool* of identities (application
users); each gets its own token, its own concurrency window and its own Retry-After pause.

Environment (``DataverseSettings.from_env``)::

    DATAVERSE_URL                       https://org.crm.dynamics.com (required)
    DATAVERSE_TOKEN                     a static bearer token (az account get-access-token)
    DATAVERSE_TENANT_ID                 tenant for MSAL (or DATAVERSE_AUTHORITY: a full https authority)
    DATAVERSE_CLIENT_ID                 application (client) id
    DATAVERSE_CLIENT_SECRET             its secret, or
    DATAVERSE_CLIENT_CERT               PEM file (private key [+ certificate]) and
    DATAVERSE_CLIENT_CERT_THUMBPRINT    its SHA-1 thumbprint
    DATAVERSE_USE_MANAGED_IDENTITY      1/true: ManagedIdentityCredential
    DATAVERSE_MANAGED_IDENTITY_CLIENT_ID  user-assigned identity client id
    DATAVERSE_IDENTITIES                JSON list of identity objects (a pool); overrides the above
    DATAVERSE_CLIENT_ID_2.._9, DATAVERSE_CLIENT_SECRET_2.._9 / DATAVERSE_CLIENT_CERT_2.._9 (+ _THUMBPRINT_n)
                                        extra application users of the same tenant, added to the pool
    DATAVERSE_CA_BUNDLE                 CA file to trust (local emulator over TLS)
    DATAVERSE_BATCH_SIZE, DATAVERSE_MAX_CONCURRENCY, DATAVERSE_BYPASS_CUSTOM_LOGIC,
    DATAVERSE_TIMEOUT, DATAVERSE_MAX_ATTEMPTS, DATAVERSE_SOLUTION
"""

from __future__ import annotations

import json
import os
from typing import Mapping

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator


class IdentitySettings(BaseModel):
    """One application identity (one Dataverse user for service protection purposes)."""

    name: str = "default"
    static_token: SecretStr | None = None
    tenant_id: str | None = None
    authority: str | None = None  # full https authority (overrides tenant_id), e.g. a local emulator
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_cert_path: str | None = None
    client_cert_thumbprint: str | None = None
    managed_identity: bool = False
    managed_identity_client_id: str | None = None
    default_credential: bool = False  # DefaultAzureCredential as a last resort
    max_concurrency: int | None = None  # override of the per-identity cap


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


class DataverseSettings(BaseModel):
    url: str
    identities: list[IdentitySettings] = Field(
        default_factory=list, validation_alias=AliasChoices("identities", "users")
    )
    api_version: str = "v9.2"
    batch_size: int = Field(500, ge=1, le=1000)  # rows per UpsertMultiple / $batch request
    max_concurrency: int = Field(52, ge=1)  # per identity (the service limit is 52 concurrent per user)
    initial_concurrency: int = Field(4, ge=1)  # until the first x-ms-dop-hint arrives
    bypass_custom_logic: bool = False
    ca_bundle: str | None = None
    timeout: float = 120.0  # seconds per HTTP request
    max_attempts: int = Field(6, ge=1)  # 5xx / timeout / dropped connection attempts per request
    max_throttle_retries: int = Field(40, ge=0)  # 429 answers tolerated per request
    backoff_base: float = 1.0  # seconds; attempt n waits ~ base * 2**n (full jitter), capped
    backoff_max: float = 60.0
    default_retry_after: float = 5.0  # 429 without Retry-After: base of 2**n back-off
    solution_unique_name: str | None = None  # MSCRM.SolutionUniqueName for schema changes

    @field_validator("url")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if v.endswith("/api/data/v9.2"):
            v = v[: -len("/api/data/v9.2")]
        if not v.startswith(("https://", "http://")):
            raise ValueError("url must be an https:// environment URL")
        return v

    @property
    def api_base(self) -> str:
        return f"{self.url}/api/data/{self.api_version}/"

    @property
    def scope(self) -> str:
        return f"{self.url}/.default"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> "DataverseSettings":
        e = dict(os.environ if env is None else env)
        url = e.get("DATAVERSE_URL")
        if not url:
            raise ValueError("DATAVERSE_URL is not set")
        identities: list[IdentitySettings] = []
        if e.get("DATAVERSE_IDENTITIES"):
            identities = [IdentitySettings(**d) for d in json.loads(e["DATAVERSE_IDENTITIES"])]
        elif e.get("DATAVERSE_TOKEN"):
            identities = [IdentitySettings(name="static", static_token=e["DATAVERSE_TOKEN"])]
        elif _truthy(e.get("DATAVERSE_USE_MANAGED_IDENTITY")):
            identities = [
                IdentitySettings(
                    name="managed-identity",
                    managed_identity=True,
                    managed_identity_client_id=e.get("DATAVERSE_MANAGED_IDENTITY_CLIENT_ID") or None,
                )
            ]
        elif e.get("DATAVERSE_CLIENT_ID"):
            tenant, authority = e.get("DATAVERSE_TENANT_ID"), e.get("DATAVERSE_AUTHORITY")
            for n in ["", *[f"_{i}" for i in range(2, 10)]]:
                cid = e.get(f"DATAVERSE_CLIENT_ID{n}")
                if not cid:
                    continue
                identities.append(
                    IdentitySettings(
                        name=f"app{n or '_1'}",
                        tenant_id=tenant,
                        authority=authority,
                        client_id=cid,
                        client_secret=e.get(f"DATAVERSE_CLIENT_SECRET{n}") or None,
                        client_cert_path=e.get(f"DATAVERSE_CLIENT_CERT{n}") or None,
                        client_cert_thumbprint=e.get(f"DATAVERSE_CLIENT_CERT_THUMBPRINT{n}") or None,
                    )
                )
        kwargs: dict = dict(url=url, identities=identities)
        for key, field, conv in [
            ("DATAVERSE_BATCH_SIZE", "batch_size", int),
            ("DATAVERSE_MAX_CONCURRENCY", "max_concurrency", int),
            ("DATAVERSE_TIMEOUT", "timeout", float),
            ("DATAVERSE_MAX_ATTEMPTS", "max_attempts", int),
            ("DATAVERSE_CA_BUNDLE", "ca_bundle", str),
            ("DATAVERSE_SOLUTION", "solution_unique_name", str),
        ]:
            if e.get(key):
                kwargs[field] = conv(e[key])
        if e.get("DATAVERSE_BYPASS_CUSTOM_LOGIC"):
            kwargs["bypass_custom_logic"] = _truthy(e["DATAVERSE_BYPASS_CUSTOM_LOGIC"])
        kwargs.update(overrides)
        return cls(**kwargs)
