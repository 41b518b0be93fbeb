"""Bearer authentication in front of the Dataverse emulator, plus an Entra ID-compatible
client-credentials token endpoint (enough for MSAL Python ``ConfidentialClientApplication``).

Dataverse side: every ``/api/data/...`` request without ``Authorization: Bearer <token minted by
this emulator>`` (bad signature, expired, other audience when ``environment_url`` is set) gets
401, an empty body and ``WWW-Authenticate: Bearer authorization_uri=<authority>/oauth2/authorize,
resource_id=<environment>/`` like Dataverse. A valid token's ``oid`` goes to
``scope["state"]["dv_caller"]`` (limits are per caller).

Entra side (paths served by this middleware, never passed on):

* ``POST /{tenant}/oauth2/v2.0/token`` form ``grant_type=client_credentials``, ``client_id``,
  ``client_secret`` or ``client_assertion`` (+ ``client_assertion_type``), ``scope=<resource>/.default``
  -> 200 ``{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":...}`` or
  Entra's error JSON (``error``, ``error_description`` "AADSTSnnn: ...\\r\\nTrace ID...",
  ``error_codes``, ``timestamp``, ``trace_id``, ``correlation_id``, ``error_uri``);
* ``GET /{tenant}/v2.0/.well-known/openid-configuration`` (MSAL's tenant discovery);
* ``GET /common/discovery/instance`` (MSAL instance discovery, if pointed here);
* ``GET /{tenant}/discovery/v2.0/keys`` (empty: tokens are HMAC-signed, see common/tokens.py).

Any tenant name is accepted (*inferred* convenience; Entra answers AADSTS90002 for unknown ones).
MSAL needs an https authority: serve with ``emulators.common.serve`` ``tls=True`` and pass
``instance_discovery=False`` (or point ``instance_discovery`` at ``/common/discovery/instance``).

Certificate credentials: a client registered with ``{"certificates": [<PEM>]}`` (or
``{"thumbprints": [<hex sha1 or sha256>]}``) accepts a JWT assertion whose header ``x5t``
(SHA-1), ``x5t#S256`` or ``kid`` names a registered certificate; with a PEM the RS256/PS256
signature is verified (PyJWT + cryptography), as are ``exp``/``nbf`` and ``iss``/``sub`` = client id.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from emulators.common.tokens import TokenError, TokenIssuer, b64url_decode, stable_object_id

__all__ = ["AuthMiddleware", "ClientRegistration", "DEFAULT_CLIENTS", "DEFAULT_TENANT_ID", "build_clients"]

DEFAULT_TENANT_ID = "72f988bf-0000-4000-8000-00000000e301"  # emulator tenant (fixed, arbitrary)
DEFAULT_CLIENTS = {"migration-app": "migration-app-secret"}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

_TOKEN_PATH = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token/?$")
_OIDC_PATH = re.compile(r"^/(?P<tenant>[^/]+)/v2\.0/\.well-known/openid-configuration/?$")
_KEYS_PATH = re.compile(r"^/(?P<tenant>[^/]+)/discovery/v2\.0/keys/?$")


@dataclass
class ClientRegistration:
    client_id: str
    secrets: list[str] = field(default_factory=list)
    thumbprints: dict[str, object] = field(default_factory=dict)  # lowercase hex -> cert or None
    oid: str = ""

    def __post_init__(self) -> None:
        self.oid = self.oid or stable_object_id(f"client:{self.client_id}")


def build_clients(clients: dict | None) -> dict[str, ClientRegistration]:
    """``{"id": "secret"}`` or ``{"id": {"secret"|"secrets", "certificates", "thumbprints", "oid"}}``."""
    out: dict[str, ClientRegistration] = {}
    for client_id, spec in (clients if clients is not None else DEFAULT_CLIENTS).items():
        if isinstance(spec, str):
            out[client_id] = ClientRegistration(client_id, secrets=[spec])
            continue
        reg = ClientRegistration(client_id, secrets=list(spec.get("secrets", [])), oid=spec.get("oid", ""))
        if spec.get("secret"):
            reg.secrets.append(spec["secret"])
        for pem in spec.get("certificates", []):
            from cryptography import x509
            from cryptography.hazmat.primitives import hashes

            cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
            reg.thumbprints[cert.fingerprint(hashes.SHA1()).hex()] = cert  # noqa: S303 (x5t is SHA-1)
            reg.thumbprints[cert.fingerprint(hashes.SHA256()).hex()] = cert
        for thumb in spec.get("thumbprints", []):
            reg.thumbprints.setdefault(thumb.replace(":", "").lower(), None)
        out[client_id] = reg
    return out


class _EntraError(Exception):
    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description


def _missing(name: str) -> _EntraError:
    return _EntraError(400, "invalid_request", 900144,
                       f"The request body must contain the following parameter: '{name}'.")


class AuthMiddleware:
    """Pure ASGI middleware: token endpoint + bearer check for ``/api/data/``."""

    def __init__(self, app, *, issuer: TokenIssuer, clients: dict[str, ClientRegistration],
                 environment_url: str | None = None, token_lifetime: int = 3599, prefix: str = "/api/data/") -> None:
        self.app = app
        self.issuer = issuer
        self.clients = clients
        self.environment_url = environment_url.rstrip("/") if environment_url else None
        self.token_lifetime = token_lifetime
        self.prefix = prefix

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path.startswith(self.prefix):
            await self._guard(scope, receive, send)
            return
        method = scope["method"]
        if (m := _TOKEN_PATH.match(path)) and method == "POST":
            await self._token(scope, receive, send, m["tenant"])
        elif (m := _OIDC_PATH.match(path)) and method == "GET":
            await _json(send, 200, self._openid_configuration(scope, m["tenant"]))
        elif path.rstrip("/") == "/common/discovery/instance" and method == "GET":
            await _json(send, 200, self._instance_discovery(scope))
        elif _KEYS_PATH.match(path) and method == "GET":
            await _json(send, 200, {"keys": []})
        else:
            await self.app(scope, receive, send)

    # -- Dataverse side ---------------------------------------------------------------------------

    async def _guard(self, scope, receive, send) -> None:
        token = None
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, rest = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and rest.strip():
                    token = rest.strip()
        claims = None
        if token:
            try:
                claims = self.issuer.verify(token, audience=self.environment_url)
            except TokenError:
                claims = None
        if claims is None:
            base = _base_url(scope)
            challenge = (f"Bearer authorization_uri={base}/{self.issuer.tenant_id}/oauth2/authorize, "
                         f"resource_id={self.environment_url or base}/")
            await send({"type": "http.response.start", "status": 401, "headers": [
                (b"www-authenticate", challenge.encode()), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        state = scope.setdefault("state", {})
        state["dv_caller"] = claims.get("oid") or claims.get("sub")
        state["dv_claims"] = claims
        await self.app(scope, receive, send)

    # -- Entra side -------------------------------------------------------------------------------

    def _openid_configuration(self, scope, tenant: str) -> dict:
        base = _base_url(scope)
        tid = self.issuer.tenant_id
        return {
            "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "oid", "tid", "ver"],
            "kerberos_endpoint": f"{base}/{tenant}/kerberos",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        }

    def _instance_discovery(self, scope) -> dict:
        base = _base_url(scope)
        host = base.split("://", 1)[1]
        return {"tenant_discovery_endpoint": f"{base}/{{tenant}}/v2.0/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}]}

    async def _token(self, scope, receive, send, tenant: str) -> None:
        body = await _read_body(receive)
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        correlation = _header(scope, b"client-request-id") or str(uuid.uuid4())
        try:
            await _json(send, 200, self._issue(scope, form, tenant))
        except _EntraError as err:
            await _json(send, err.status, _error_body(err, correlation))

    def _issue(self, scope, form: dict, tenant: str) -> dict:
        grant_type = form.get("grant_type")
        if not grant_type:
            raise _missing("grant_type")
        if grant_type != "client_credentials":
            raise _EntraError(400, "unsupported_grant_type", 70003,
                              f"The app requested an unsupported grant type '{grant_type}'.")
        client_id = form.get("client_id")
        if not client_id:
            raise _missing("client_id")
        reg = self.clients.get(client_id)
        if reg is None:
            raise _EntraError(400, "unauthorized_client", 700016,
                              f"Application with identifier '{client_id}' was not found in the directory "
                              f"'{tenant}'. This can happen if the application has not been installed by the "
                              "administrator of the tenant or consented to by any user in the tenant. You may "
                              "have sent your authentication request to the wrong tenant.")
        scope_value = form.get("scope")
        if not scope_value:
            raise _missing("scope")
        resources = [s for s in scope_value.split() if s not in ("openid", "profile", "offline_access")]
        if len(resources) != 1 or not resources[0].endswith("/.default"):
            raise _EntraError(400, "invalid_scope", 1002012,
                              f"The provided value for scope {scope_value} is not valid. Client credential flows "
                              "must have a scope value with /.default suffixed to the resource identifier "
                              "(application ID URI).")
        resource = resources[0][: -len("/.default")]
        if self.environment_url and resource.rstrip("/").lower() != self.environment_url.lower():
            raise _EntraError(400, "invalid_resource", 500011,
                              f"The resource principal named {resource} was not found in the tenant named "
                              f"{tenant}. This can happen if the application has not been installed by the "
                              "administrator of the tenant or consented to by any user in the tenant. You might "
                              "have sent your authentication request to the wrong tenant.")
        if form.get("client_assertion"):
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                raise _EntraError(400, "invalid_request", 50027,
                                  "Invalid JWT token. The client_assertion_type must be "
                                  f"'{ASSERTION_TYPE}'.")
            self._check_assertion(reg, form["client_assertion"], _base_url(scope), tenant)
        elif form.get("client_secret"):
            if form["client_secret"] not in reg.secrets:
                raise _EntraError(401, "invalid_client", 7000215,
                                  "Invalid client secret provided. Ensure the secret being sent in the request is "
                                  "the client secret value, not the client secret ID, for a secret added to app "
                                  f"'{client_id}'.")
        else:
            raise _EntraError(401, "invalid_client", 7000216,
                              "'client_assertion', 'client_secret' or 'request' is required for the "
                              "'client_credentials' grant type.")
        token = self.issuer.mint(oid=reg.oid, appid=client_id, aud=resource.rstrip("/"),
                                 lifetime=self.token_lifetime)
        return {"token_type": "Bearer", "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime, "access_token": token}

    def _check_assertion(self, reg: ClientRegistration, assertion: str, base: str, tenant: str) -> None:
        parts = assertion.split(".")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
        except (ValueError, IndexError) as exc:
            raise _EntraError(400, "invalid_request", 50027, "Invalid JWT token. The token is malformed.") from exc
        candidates = []
        for name in ("x5t#S256", "x5t"):
            if header.get(name):
                try:
                    candidates.append(b64url_decode(header[name]).hex())
                except ValueError:
                    pass
        if header.get("kid"):
            candidates.append(str(header["kid"]).replace(":", "").lower())
        thumb = next((c for c in candidates if c in reg.thumbprints), None)
        if thumb is None:
            shown = candidates[0].upper() if candidates else ""
            raise _EntraError(401, "invalid_client", 700027,
                              "The certificate with identifier used to sign the client assertion is not registered "
                              f"on application. [Reason - The key was not found., Thumbprint of key used by client: "
                              f"'{shown}', Please visit the Azure Portal, Graph Explorer or directly use MS Graph "
                              f"to see configured keys for app Id '{reg.client_id}'.]")
        if claims.get("iss") != reg.client_id or claims.get("sub") != reg.client_id:
            raise _EntraError(401, "invalid_client", 700021,
                              "Client assertion application identifier doesn't match 'client_id' parameter.")
        now = self.issuer.clock()
        exp, nbf = claims.get("exp"), claims.get("nbf")
        if not isinstance(exp, (int, float)) or exp < now or (isinstance(nbf, (int, float)) and nbf > now + 300):
            raise _EntraError(401, "invalid_client", 700024, "Client assertion is not within its valid time range.")
        cert = reg.thumbprints[thumb]
        if cert is not None:
            import jwt  # PyJWT, installed with msal

            try:
                jwt.decode(assertion, cert.public_key(), algorithms=["RS256", "PS256"],
                           options={"verify_aud": False, "verify_exp": False, "verify_nbf": False,
                                    "verify_iat": False})
            except jwt.PyJWTError as exc:
                raise _EntraError(401, "invalid_client", 7000274,
                                  "Key was found, but use of the key to verify the signature failed.") from exc


def _error_body(err: _EntraError, correlation: str) -> dict:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    trace = str(uuid.uuid4())
    return {
        "error": err.error,
        "error_description": (f"AADSTS{err.code}: {err.description}\r\nTrace ID: {trace}\r\n"
                              f"Correlation ID: {correlation}\r\nTimestamp: {now}"),
        "error_codes": [err.code],
        "timestamp": now,
        "trace_id": trace,
        "correlation_id": correlation,
        "error_uri": f"https://login.microsoftonline.com/error?code={err.code}",
    }


def _header(scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _base_url(scope) -> str:
    scheme = scope.get("scheme", "http")
    host = _header(scope, b"host")
    if not host:
        server = scope.get("server") or ("localhost", None)
        host = server[0] if not server[1] else f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}"


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


async def _json(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store, no-cache")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

