import ssl

import httpx
import msal
import pytest
import trustme

from emulators.common.serve import serve_in_thread
from emulators.common.tokens import TokenIssuer
from tests.emulators.layers.conftest import API, client_for

RESOURCE = "https://org.crm.dynamics.com"
TOKEN_PATH = "/contoso.onmicrosoft.com/oauth2/v2.0/token"


def form(**overrides):
    data = {"grant_type": "client_credentials", "client_id": "c1", "client_secret": "s1",
            "scope": f"{RESOURCE}/.default"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


async def test_401_without_or_with_bad_token(make_app):
    app = make_app()
    async with client_for(app, subject=None) as client:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"},
                        {"Authorization": "Bearer " + TokenIssuer().mint(oid="x", appid="x", aud=RESOURCE)}):
            r = await client.get(f"{API}/WhoAmI", headers=headers)
            assert r.status_code == 401 and r.content == b""
            challenge = r.headers["www-authenticate"]
            assert challenge.startswith("Bearer authorization_uri=https://org.crm.dynamics.com/")
            assert challenge.endswith("/oauth2/authorize, resource_id=https://org.crm.dynamics.com/")
    assert app.state.calls == []


async def test_expired_token_is_refused(make_app):
    app = make_app()
    from emulators.dataverse import mint_token

    async with client_for(app, subject=None) as client:
        r = await client.get(f"{API}/WhoAmI", headers={"Authorization": f"Bearer {mint_token(app, lifetime=-10)}"})
    assert r.status_code == 401


async def test_valid_token_sets_caller(make_app):
    async with client_for(make_app(), "user-42") as client:
        r = await client.get(f"{API}/WhoAmI")
    assert r.status_code == 200 and r.json() == {"UserId": "user-42"}


async def test_token_endpoint_happy_path_and_stable_oid(make_app):
    app = make_app(clients={"c1": "s1", "c2": "s2"})
    async with client_for(app, subject=None) as client:
        r = await client.post(TOKEN_PATH, data=form())
        assert r.status_code == 200
        body = r.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] == 3599 and body["ext_expires_in"] == 3599
        who = await client.get(f"{API}/WhoAmI", headers={"Authorization": f"Bearer {body['access_token']}"})
        again = (await client.post(TOKEN_PATH, data=form())).json()["access_token"]
        who2 = await client.get(f"{API}/WhoAmI", headers={"Authorization": f"Bearer {again}"})
        other = (await client.post(TOKEN_PATH, data=form(client_id="c2", client_secret="s2"))).json()["access_token"]
        who3 = await client.get(f"{API}/WhoAmI", headers={"Authorization": f"Bearer {other}"})
    assert who.json()["UserId"] == who2.json()["UserId"] == app.state.dv_clients["c1"].oid
    assert who3.json()["UserId"] != who.json()["UserId"]


@pytest.mark.parametrize("overrides,status,error,code", [
    ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
    ({"client_id": "ghost"}, 400, "unauthorized_client", 700016),
    ({"scope": f"{RESOURCE}/user_impersonation"}, 400, "invalid_scope", 1002012),
    ({"grant_type": None}, 400, "invalid_request", 900144),
    ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
    ({"client_secret": None}, 401, "invalid_client", 7000216),
])
async def test_token_endpoint_errors(make_app, overrides, status, error, code):
    async with client_for(make_app(clients={"c1": "s1"}), subject=None) as client:
        r = await client.post(TOKEN_PATH, data=form(**overrides), headers={"client-request-id": "corr-1"})
    body = r.json()
    assert r.status_code == status and body["error"] == error and body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert "\r\nTrace ID: " in body["error_description"] and body["correlation_id"] == "corr-1"
    assert body["error_uri"] == f"https://login.microsoftonline.com/error?code={code}"


async def test_environment_url_restricts_audience(make_app):
    app = make_app(clients={"c1": "s1"}, environment_url=RESOURCE)
    async with client_for(app, subject=None) as client:
        bad = await client.post(TOKEN_PATH, data=form(scope="https://other.crm.dynamics.com/.default"))
        assert bad.status_code == 400 and bad.json()["error_codes"] == [500011]
        from emulators.dataverse import mint_token

        foreign = mint_token(app, audience="https://other.crm.dynamics.com")
        r = await client.get(f"{API}/WhoAmI", headers={"Authorization": f"Bearer {foreign}"})
        assert r.status_code == 401


@pytest.fixture
def no_ca_env(monkeypatch):
    # requests (used by MSAL) lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the session's verify=
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def _verify(ca_file):
    return ssl.create_default_context(cafile=ca_file)


def test_msal_secret_over_tls(make_app, no_ca_env):
    app = make_app(clients={"c1": "s1"})
    with serve_in_thread(app, "127.0.0.1", tls=True) as server:
        assert server.base_url.startswith("https://") and server.ca_file
        cca = msal.ConfidentialClientApplication("c1", client_credential="s1",
                                                 authority=f"{server.base_url}/contoso.onmicrosoft.com",
                                                 instance_discovery=False, verify=server.ca_file)
        result = cca.acquire_token_for_client(scopes=[f"{RESOURCE}/.default"])
        assert "access_token" in result, result
        r = httpx.get(f"{server.base_url}{API}/WhoAmI", verify=_verify(server.ca_file),
                      headers={"Authorization": f"Bearer {result['access_token']}"})
        assert r.status_code == 200 and r.json()["UserId"] == app.state.dv_clients["c1"].oid

        bad = msal.ConfidentialClientApplication("c1", client_credential="nope",
                                                 authority=f"{server.base_url}/contoso.onmicrosoft.com",
                                                 instance_discovery=False, verify=server.ca_file)
        failed = bad.acquire_token_for_client(scopes=[f"{RESOURCE}/.default"])
        assert failed["error"] == "invalid_client" and 7000215 in failed["error_codes"]


def test_msal_certificate_over_tls(make_app, no_ca_env):
    cert = trustme.CA().issue_cert("c-cert", key_type=trustme.KeyType.RSA)
    cert_pem = cert.cert_chain_pems[0].bytes().decode()
    key_pem = cert.private_key_pem.bytes().decode()
    other = trustme.CA().issue_cert("intruder", key_type=trustme.KeyType.RSA)
    app = make_app(clients={"c3": {"certificates": [cert_pem]}})
    with serve_in_thread(app, "127.0.0.1", tls=True) as server:
        authority = f"{server.base_url}/contoso.onmicrosoft.com"

        def acquire(key, public):
            cca = msal.ConfidentialClientApplication(
                "c3", client_credential={"private_key": key, "public_certificate": public},
                authority=authority, instance_discovery=False, verify=server.ca_file)
            return cca.acquire_token_for_client(scopes=[f"{RESOURCE}/.default"])

        assert "access_token" in acquire(key_pem, cert_pem)
        unknown = acquire(other.private_key_pem.bytes().decode(), other.cert_chain_pems[0].bytes().decode())
        assert unknown["error"] == "invalid_client" and 700027 in unknown["error_codes"]
        # right thumbprint in the header, wrong key: the signature does not verify
        forged = acquire(other.private_key_pem.bytes().decode(), cert_pem)
        assert forged["error"] == "invalid_client" and "access_token" not in forged
