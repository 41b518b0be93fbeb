"""Bearer tokens for the Graph emulator, from ``emulators.common.tokens`` (HS256 JWTs).

A verifier is any callable ``(token: str) -> caller id | None``; ``create_app(token_verifier=...)``
swaps in another one.
"""

from __future__ import annotations

from emulators.common.tokens import TokenError, TokenIssuer, stable_object_id

AUDIENCE = "https://graph.microsoft.com"


def mint(issuer: TokenIssuer, subject: str = "migration-app", *, ttl: float = 3600) -> str:
    return issuer.mint(oid=stable_object_id(subject), appid=subject, aud=AUDIENCE, lifetime=ttl,
                       extra={"roles": ["Sites.Selected"]})


def verifier(issuer: TokenIssuer):
    def verify(token: str) -> str | None:
        try:
            claims = issuer.verify(token, audience=[AUDIENCE, AUDIENCE + "/", "00000003-0000-0000-c000-000000000000"])
        except TokenError:
            return None
        return str(claims.get("appid") or claims.get("oid") or "app")

    return verify
