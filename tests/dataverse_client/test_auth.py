import base64
import hashlib
import json
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import trustme

from shared.auth import AuthError, AzureIdentityToken, MsalClientCredentials, StaticToken, token_provider_from_settings
from shared.dataverse import DataverseSettings, IdentitySettings

TENANT = "tenant-x"


@pytest.fixture(scope="module")
def token_server(tmp_path_factory):
    """A local Entra-like token endpoint over TLS (MSAL insists on https) with a test CA."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder = tmp_path_factory.mktemp("tls")
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _json(self, status, obj):
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            base = f"https://127.0.0.1:{self.server.server_port}/{TENANT}"
            if self.path.startswith(f"/{TENANT}/v2.0/.well-known/openid-configuration"):
                return self._json(200, {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                })
            self._json(404, {"error": "not_found"})

        def do_POST(self):
            form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            calls.append(form)
            ok = form.get("client_secret") == ["s3cret"] or "client_assertion" in form
            if not ok:
                return self._json(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})
            self._json(200, {"token_type": "Bearer", "expires_in": self.server.expires_in,
                             "access_token": f"at-{len(calls)}"})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.expires_in = 3600
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield {"authority": f"https://127.0.0.1:{server.server_port}/{TENANT}", "ca": str(ca_file), "calls": calls,
           "server": server, "ca_obj": ca, "folder": folder}
    server.shutdown()


async def test_static_token():
    assert await StaticToken("Bearer abc").token() == "abc"
    assert "abc" not in repr(StaticToken("abc"))


async def test_msal_secret_against_custom_https_authority(token_server):
    p = MsalClientCredentials(token_server["authority"], "client-1", "https://org.crm.dynamics.com/.default",
                              secret="s3cret", ca_bundle=token_server["ca"])
    n = len(token_server["calls"])
    t1 = await p.token()
    t2 = await p.token()
    assert t1 == t2 and t1.startswith("at-")
    assert len(token_server["calls"]) == n + 1  # cached
    form = token_server["calls"][-1]
    assert form["grant_type"] == ["client_credentials"] and form["scope"] == ["https://org.crm.dynamics.com/.default"]
    assert "s3cret" not in repr(p)


async def test_msal_refreshes_before_expiry(token_server):
    token_server["server"].expires_in = 100  # inside the 300 s refresh margin
    try:
        p = MsalClientCredentials(token_server["authority"], "client-2", "api://x/.default", secret="s3cret",
                                  ca_bundle=token_server["ca"])
        a = await p.token()
        b = await p.token()
        assert a != b
    finally:
        token_server["server"].expires_in = 3600


async def test_msal_bad_secret_is_a_clear_error_without_the_secret(token_server):
    p = MsalClientCredentials(token_server["authority"], "client-3", "api://x/.default", secret="wrong-secret",
                              ca_bundle=token_server["ca"])
    with pytest.raises(AuthError) as ei:
        await p.token()
    assert "invalid_client" in str(ei.value) and "wrong-secret" not in str(ei.value)


async def test_msal_certificate(token_server):
    leaf = trustme.CA().issue_cert("client.example", key_type=trustme.KeyType.RSA)  # Entra wants RSA
    pem = token_server["folder"] / "client.pem"
    pem.write_bytes(leaf.private_key_pem.bytes() + leaf.cert_chain_pems[0].bytes())
    der = ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())
    thumb = hashlib.sha1(der).hexdigest()
    p = MsalClientCredentials(token_server["authority"], "client-4", "api://x/.default", certificate_path=str(pem),
                              certificate_thumbprint=thumb, ca_bundle=token_server["ca"])
    assert (await p.token()).startswith("at-")
    form = token_server["calls"][-1]
    assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    header = json.loads(base64.urlsafe_b64decode(form["client_assertion"][0].split(".")[0] + "=="))
    assert header["alg"] == "RS256"


def test_msal_rejects_untrusted_tls(token_server):
    import asyncio

    p = MsalClientCredentials(token_server["authority"], "client-5", "api://x/.default", secret="s3cret")
    with pytest.raises(AuthError):
        asyncio.run(p.token())


async def test_azure_identity_token_caches():
    class Access:
        def __init__(self, token, expires_on):
            self.token, self.expires_on = token, expires_on

    class FakeCredential:
        calls = 0

        def get_token(self, *scopes):
            FakeCredential.calls += 1
            assert scopes == ("https://org.crm.dynamics.com/.default",)
            return Access(f"mi-{FakeCredential.calls}", int(time.time()) + 3600)

    p = AzureIdentityToken(FakeCredential(), "https://org.crm.dynamics.com/.default")
    assert await p.token() == "mi-1"
    assert await p.token() == "mi-1"

    class AsyncCredential:
        async def get_token(self, *scopes):
            return Access("amı", int(time.time()) + 3600)

    assert await AzureIdentityToken(AsyncCredential(), "s").token() == "amı"


def test_settings_from_env_and_factory():
    s = DataverseSettings.from_env({"DATAVERSE_URL": "https://org.crm.dynamics.com/", "DATAVERSE_TOKEN": "abc",
                                    "DATAVERSE_BATCH_SIZE": "200", "DATAVERSE_BYPASS_CUSTOM_LOGIC": "true"})
    assert s.api_base == "https://org.crm.dynamics.com/api/data/v9.2/" and s.scope == "https://org.crm.dynamics.com/.default"
    assert s.batch_size == 200 and s.bypass_custom_logic and s.max_concurrency == 52
    assert isinstance(token_provider_from_settings(s.identities[0], scope=s.scope), StaticToken)
    assert "abc" not in repr(s)

    s = DataverseSettings.from_env({"DATAVERSE_URL": "https://org.crm.dynamics.com", "DATAVERSE_TENANT_ID": "t",
                                    "DATAVERSE_CLIENT_ID": "c1", "DATAVERSE_CLIENT_SECRET": "x",
                                    "DATAVERSE_CLIENT_ID_2": "c2", "DATAVERSE_CLIENT_SECRET_2": "y"})
    assert [i.client_id for i in s.identities] == ["c1", "c2"]
    p = token_provider_from_settings(s.identities[1], scope=s.scope)
    assert isinstance(p, MsalClientCredentials) and p.authority == "https://login.microsoftonline.com/t"

    s = DataverseSettings.from_env({"DATAVERSE_URL": "https://org.crm.dynamics.com", "DATAVERSE_USE_MANAGED_IDENTITY": "1"})
    assert isinstance(token_provider_from_settings(s.identities[0], scope=s.scope), AzureIdentityToken)

    s = DataverseSettings(url="https://org.crm.dynamics.com", users=[IdentitySettings(static_token="a")])
    assert len(s.identities) == 1
    with pytest.raises(ValueError):
        DataverseSettings.from_env({})
    with pytest.raises(ValueError):
        token_provider_from_settings(IdentitySettings(), scope="x")
