"""Dataverse Web API emulator: ``create_app(...)`` composes auth -> faults -> protection -> core.

    app = create_app(profile="realistic", time_scale=0.01, faults="503:0.02", clients={"app1": "s1"})
    token = mint_token(app, "app-user-1")     # a bearer token this app accepts, no token endpoint

Layers (outermost first; each is a pure ASGI middleware added to the core Starlette app, so the
core's own lifespan and middleware stay as they are):

* ``auth``       (emulators/dataverse/auth.py): Entra-compatible token endpoint, 401 without a valid
                 bearer on ``/api/data/``, caller id (token ``oid``) -> ``scope["state"]["dv_caller"]``;
* ``faults``     (emulators/common/faults.py): injected 5xx, dropped connections, slow answers;
* ``protection`` (emulators/dataverse/protection.py): service protection limits per caller, cost
                 model, ``x-ms-dop-hint``;
* ``core``       (emulators/dataverse/core.py): records, queries, bulk, $batch, metadata.

Shared objects for tests and benchmarks are on ``app.state``: ``dv_issuer`` (TokenIssuer),
``dv_clients`` (registrations), ``dv_protection`` (ServiceProtection: ``snapshot(caller)``),
``dv_faults`` (FaultMiddleware options: spec string).
"""

from __future__ import annotations

from emulators.common.tokens import TokenIssuer
from emulators.dataverse.auth import DEFAULT_TENANT_ID, AuthMiddleware, build_clients
from emulators.dataverse.protection import ServiceProtection, ceiling

__all__ = ["create_app", "mint_token", "wrap_app", "ceiling"]


def wrap_app(core, *, profile: str = "off", time_scale: float = 1.0, faults: str | None = None,
             clients: dict | None = None, fault_seed: int | None = None, environment_url: str | None = None,
             tenant_id: str = DEFAULT_TENANT_ID, token_key: bytes | None = None, dop_hint: int | None = None):
    """Add the auth -> faults -> protection layers to a Starlette ``core`` app (mutates and returns it)."""
    from emulators.common.faults import FaultMiddleware
    from emulators.dataverse.protection import ProtectionMiddleware

    issuer = TokenIssuer(token_key, tenant_id=tenant_id)
    registrations = build_clients(clients)
    protection = ServiceProtection(profile=profile, time_scale=time_scale, dop_hint=dop_hint)
    # add_middleware inserts at the front: the last one added is the outermost.
    core.add_middleware(ProtectionMiddleware, protection=protection)
    if faults:
        core.add_middleware(FaultMiddleware, faults=faults, seed=fault_seed, paths=("/api/data/",))
    core.add_middleware(AuthMiddleware, issuer=issuer, clients=registrations, environment_url=environment_url)
    core.state.dv_issuer = issuer
    core.state.dv_clients = registrations
    core.state.dv_protection = protection
    core.state.dv_environment_url = environment_url
    core.state.dv_faults = faults
    return core


def create_app(*, db: str | None = None, profile: str = "off", time_scale: float = 1.0, faults: str | None = None,
               clients: dict | None = None, seed: dict | None = None, fault_seed: int | None = None,
               environment_url: str | None = None, tenant_id: str = DEFAULT_TENANT_ID,
               token_key: bytes | None = None, dop_hint: int | None = None, **core_options):
    """The Dataverse emulator app.

    ``profile``: "off" (no limits) | "realistic" (service protection, cost model holds);
    ``time_scale``: multiplies windows and durations (0.01 -> 3 s window);
    ``faults``: spec like ``"503:0.05,500:0.02,drop:0.01,slow:0.05@2.0"`` (``fault_seed`` for
    determinism); ``clients``: ``{"client-id": "secret" | {"secret", "certificates", "thumbprints"}}``
    (default ``{"migration-app": "migration-app-secret"}``); ``environment_url``: when set, tokens
    must have this audience and the token endpoint only issues for ``<environment_url>/.default``;
    ``db``/``seed``/``core_options``: passed to the core app.
    """
    from emulators.dataverse.core import create_core_app

    core = create_core_app(db=db, seed=seed, **core_options)
    return wrap_app(core, profile=profile, time_scale=time_scale, faults=faults, clients=clients,
                    fault_seed=fault_seed, environment_url=environment_url, tenant_id=tenant_id,
                    token_key=token_key, dop_hint=dop_hint)


def mint_token(app, subject: str = "app-user-1", *, audience: str | None = None, lifetime: int = 3599) -> str:
    """A bearer token ``app`` accepts, for tests that skip the token endpoint.

    ``subject`` becomes the caller id (``oid``); if it names a registered client, that client's
    application-user oid is used instead, so the token acts as that client.
    """
    issuer: TokenIssuer = app.state.dv_issuer
    registrations = app.state.dv_clients
    oid = registrations[subject].oid if subject in registrations else subject
    aud = audience or app.state.dv_environment_url or "https://org.crm.dynamics.com"
    return issuer.mint(oid=oid, appid=subject, aud=aud, lifetime=lifetime)
