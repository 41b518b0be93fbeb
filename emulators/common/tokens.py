"""JWT-shaped bearer tokens minted and verified by an emulator (HS256, stdlib only).

Real Entra ID access tokens are RS256 JWTs whose keys are published at the tenant's JWKS
endpoint. The emulators only need tokens that *look* the same to a client (three base64url
parts, the usual claims) and that the emulator that minted them can verify, so they are
signed with an HMAC key held by the emulator. Clients must treat access tokens as opaque
anyway; nothing in the project may decode them to make decisions.

Claims: ``oid`` (object id of the caller, the application user), ``sub`` (= oid for app-only
tokens), ``appid`` (client id), ``aud`` (the resource, e.g. the Dataverse environment URL),
``iss``, ``tid``, ``iat``, ``nbf``, ``exp``.

Reusable by the Graph emulator: one ``TokenIssuer`` per emulator instance.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Iterable
from typing import Any

__all__ = ["TokenError", "TokenIssuer", "b64url_decode", "b64url_encode", "stable_object_id"]

_OID_NAMESPACE = uuid.UUID("6f1c2a3e-9a4b-4c5d-8e7f-0a1b2c3d4e5f")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    pad = "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text + pad)


def stable_object_id(name: str) -> str:
    """A deterministic GUID for a principal name (same client id -> same oid, every run)."""
    return str(uuid.uuid5(_OID_NAMESPACE, name))


class TokenError(Exception):
    """A token was malformed, badly signed, expired or meant for another audience."""


class TokenIssuer:
    """Mints and verifies HS256 JWTs with one secret key.

    ``key``: bytes; random per instance when omitted, so tokens of one emulator instance are
    not accepted by another (like two tenants).
    ``clock``: a callable returning epoch seconds (tests can move time).
    """

    def __init__(
        self,
        key: bytes | None = None,
        *,
        issuer: str = "https://sts.windows.net/{tid}/",
        tenant_id: str = "00000000-0000-0000-0000-000000000000",
        clock=time.time,
        leeway: float = 0.0,
    ) -> None:
        self.key = key or secrets.token_bytes(32)
        self.tenant_id = tenant_id
        self.issuer = issuer.format(tid=tenant_id)
        self.clock = clock
        self.leeway = leeway

    def mint(
        self,
        *,
        oid: str,
        appid: str,
        aud: str,
        lifetime: float = 3599,
        sub: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> str:
        now = int(self.clock())
        claims: dict[str, Any] = {
            "aud": aud,
            "iss": self.issuer,
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime),
            "appid": appid,
            "idtyp": "app",
            "oid": oid,
            "sub": sub or oid,
            "tid": self.tenant_id,
            "ver": "1.0",
            "uti": b64url_encode(secrets.token_bytes(12)),
        }
        if extra:
            claims.update(extra)
        header = {"typ": "JWT", "alg": "HS256", "kid": self.key_id}
        signing_input = (
            b64url_encode(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
        )
        return signing_input + "." + b64url_encode(self._sign(signing_input))

    @property
    def key_id(self) -> str:
        return b64url_encode(hashlib.sha256(self.key).digest()[:12])

    def verify(self, token: str, *, audience: str | Iterable[str] | None = None) -> dict[str, Any]:
        """Return the claims or raise ``TokenError``. ``audience=None`` accepts any audience;
        a trailing slash on either side is ignored (Dataverse accepts both forms)."""
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("malformed token")
        signing_input = parts[0] + "." + parts[1]
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (ValueError, json.JSONDecodeError) as exc:
            raise TokenError("malformed token") from exc
        if not isinstance(header, dict) or header.get("alg") != "HS256" or not isinstance(claims, dict):
            raise TokenError("unsupported token")
        if not hmac.compare_digest(signature, self._sign(signing_input)):
            raise TokenError("invalid signature")
        now = self.clock()
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or now > exp + self.leeway:
            raise TokenError("token expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, (int, float)) and now + self.leeway < nbf:
            raise TokenError("token not yet valid")
        if audience is not None:
            wanted = {audience} if isinstance(audience, str) else set(audience)
            wanted = {a.rstrip("/").lower() for a in wanted}
            if str(claims.get("aud", "")).rstrip("/").lower() not in wanted:
                raise TokenError("invalid audience")
        return claims

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(self.key, signing_input.encode("ascii"), hashlib.sha256).digest()
