"""Failures of the Dataverse connection are one line naming the host and what to check, and are not
retried: a host that never answered, a refused credential (401), a missing privilege (403), a token
endpoint that refuses the secret. A host that answered before is retried as an outage."""

from __future__ import annotations

import asyncio
import socket
import time

import httpx
import pytest

from emulators.common.serve import serve_in_thread
from emulators.dataverse import create_app
from shared import http as shared_http
from shared.dataverse import DataverseClient, DataverseSettings, IdentitySettings
from shared.dataverse.client import BatchOperation, DataverseTransientError
from shared.errors import AccessError, SettingsError

ORG = "https://org.crm.dynamics.com"


def settings(url: str = ORG, **kw) -> DataverseSettings:
    return DataverseSettings(url=url, identities=[IdentitySettings(static_token="tok")], backoff_base=0.01,
                             backoff_max=0.02, **kw)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def answers():
    """ORG answered by a script of responses (or exceptions) through httpx.MockTransport."""
    script: list = []

    def handler(request: httpx.Request) -> httpx.Response:
        item = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(item, Exception):
            raise item
        return item

    shared_http.register_transport(ORG, lambda: httpx.MockTransport(handler))
    yield script
    shared_http.unregister_transport(ORG)


async def test_a_host_that_refuses_connections_fails_at_once_naming_it():
    url = f"https://127.0.0.1:{closed_port()}"
    t0 = time.monotonic()
    async with DataverseClient(settings(url)) as dv:
        with pytest.raises(SettingsError) as e:
            await dv.request("GET", "WhoAmI")
    assert time.monotonic() - t0 < 3
    message = str(e.value)
    assert message.startswith(f"cannot reach {url}: ") and "\n" not in message
    assert message.endswith("check --target / DATAVERSE_URL and the network")


async def test_a_host_name_that_does_not_resolve_fails_at_once():
    async with DataverseClient(settings("https://no-such-org.invalid")) as dv:
        with pytest.raises(SettingsError, match=r"^cannot reach https://no-such-org\.invalid: .+; check --target"):
            await dv.request("GET", "WhoAmI")


async def test_a_host_that_answered_before_is_retried_as_an_outage(answers):
    answers += [httpx.Response(200, json={"UserId": "u"}), httpx.ConnectError("connection refused")]
    async with DataverseClient(settings(max_attempts=3)) as dv:
        await dv.request("GET", "WhoAmI")
        with pytest.raises(DataverseTransientError, match="gave up after 3 attempts"):
            await dv.request("GET", "WhoAmI")


async def test_401_names_the_host_and_the_settings_to_check(answers):
    answers.append(httpx.Response(401, headers={"WWW-Authenticate": "Bearer error=invalid_token"}))
    async with DataverseClient(settings()) as dv:
        with pytest.raises(AccessError) as e:
            await dv.request("GET", "accounts")
    assert str(e.value) == (f"Dataverse refused the credential for {ORG} (401): check DATAVERSE_CLIENT_ID / secret "
                            "/ tenant, or that the token's audience is the environment URL")


async def test_403_says_what_the_application_user_needs(answers):
    answers.append(httpx.Response(403, json={"error": {"code": "0x80040220", "message": "Principal user is "
                                                       "missing prvCreateAccount privilege"}}))
    async with DataverseClient(settings()) as dv:
        with pytest.raises(AccessError) as e:
            await dv.request("POST", "accounts", json={"name": "x"})
    message = str(e.value)
    assert message.startswith(f"Dataverse refused POST /api/data/v9.2/accounts on {ORG} (403) (0x80040220: "
                              "Principal user is missing prvCreateAccount privilege)")
    assert "application user" in message and "security role" in message


async def test_a_403_on_a_batch_is_not_taken_for_bad_rows(answers):
    """The loader isolates bad rows on error answers: a refused identity must not become N rejects."""
    answers.append(httpx.Response(403, json={"error": {"code": "0x80040220", "message": "no privilege"}}))
    async with DataverseClient(settings()) as dv:
        with pytest.raises(AccessError):
            await dv.batch([BatchOperation("PATCH", "accounts(wtc_sourceid='1')", {"name": "x"})])


def test_a_refused_client_secret_is_one_line():
    app = create_app(clients={"migration-app": "the-secret"})
    with serve_in_thread(app, tls=True) as server:
        s = DataverseSettings(url=server.base_url, ca_bundle=server.ca_file, identities=[IdentitySettings(
            authority=f"{server.base_url}/{app.state.dv_issuer.tenant_id}", client_id="migration-app",
            client_secret="not-the-secret")])

        async def call():
            async with DataverseClient(s) as dv:
                await dv.request("GET", "WhoAmI")

        with pytest.raises(AccessError) as e:
            asyncio.run(call())
    message = str(e.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"no token for {server.base_url}: ") and "AADSTS7000215" in message
    assert message.endswith("check DATAVERSE_CLIENT_ID / DATAVERSE_CLIENT_SECRET (or _CERT) / DATAVERSE_TENANT_ID "
                            "(or DATAVERSE_AUTHORITY)")
