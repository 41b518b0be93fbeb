"""``open_staging``: which backend a location string selects, and how containers / prefixes are named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.staging import DEFAULT_CONTAINER, LocalStaging, open_staging
from shared.staging.blob import BlobStaging
from shared.staging.location import parse_connection_string

CONN = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;"
)


def test_folder_path_and_file_url(tmp_path: Path) -> None:
    for location in (str(tmp_path / "a"), tmp_path / "a", (tmp_path / "a").as_uri()):
        st = open_staging(location, prefix="runs/r1")
        assert isinstance(st, LocalStaging)
        assert st.folder == (tmp_path / "a").resolve()
        st.write_bytes("x.json", b"{}")
    assert (tmp_path / "a" / "runs" / "r1" / "x.json").read_bytes() == b"{}"
    assert open_staging(str(tmp_path / "a")).list() == ["runs/r1/x.json"]


def test_connection_string_container_precedence() -> None:
    # create=False: no request is made (nothing listens on port 1).
    st = open_staging(CONN, create=False)
    assert isinstance(st, BlobStaging)
    assert st.container.container_name == DEFAULT_CONTAINER
    st = open_staging(CONN + "Container=from-string", create=False, prefix="runs/r1")
    assert st.container.container_name == "from-string"
    assert st.url("a.json") == "http://127.0.0.1:1/devstoreaccount1/from-string/runs/r1/a.json"
    st = open_staging(CONN + "Container=from-string", container="from-arg", create=False)
    assert st.container.container_name == "from-arg"


def test_parse_connection_string() -> None:
    conn, container = parse_connection_string(CONN + "container=abc")
    assert container == "abc" and "container" not in conn.lower()
    assert conn.endswith("BlobEndpoint=http://127.0.0.1:1/devstoreaccount1")
    assert parse_connection_string("UseDevelopmentStorage=true") == ("UseDevelopmentStorage=true", None)
    sas = "BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=2024-01-01&sig=a%3D"
    assert parse_connection_string(sas) == (sas, None)
    assert parse_connection_string("/data/staging") is None
    assert parse_connection_string("./x=y") is None


def test_development_storage_shortcut() -> None:
    st = open_staging("UseDevelopmentStorage=true", create=False)
    assert st.url("a") == f"http://127.0.0.1:10000/devstoreaccount1/{DEFAULT_CONTAINER}/a"


def test_account_url_uses_a_token_credential_and_path_prefix() -> None:
    class FakeCredential:
        def get_token(self, *scopes, **kw):  # never called: create=False makes no request
            raise AssertionError("no request expected")

    st = open_staging(
        "https://acct.blob.core.windows.net/staging/runs/r1", prefix="account", credential=FakeCredential(), create=False
    )
    assert isinstance(st, BlobStaging)
    assert st.container.container_name == "staging"
    assert st.url("manifest.json") == "https://acct.blob.core.windows.net/staging/runs/r1/account/manifest.json"
    st = open_staging("https://acct.blob.core.windows.net", credential=FakeCredential(), create=False)
    assert st.container.container_name == DEFAULT_CONTAINER


@pytest.mark.parametrize("location", [
    "",
    "http://acct.blob.core.windows.net/c",
    "s3://bucket/x",
    "https://acct.blob.core.windows.net/c?sv=2024&sig=secret",
    "Foo=bar;Baz=qux",
])
def test_unsupported_locations(location: str) -> None:
    with pytest.raises(ValueError) as err:
        open_staging(location, create=False)
    assert "secret" not in str(err.value)


@pytest.mark.azurite
def test_real_container_is_created(azurite_connection_string: str) -> None:
    st = open_staging(azurite_connection_string + "Container=created-here", prefix="runs/r1")
    st.write_bytes("a.txt", b"a")
    assert st.container.exists()
    again = open_staging(azurite_connection_string, container="created-here")  # exists already: fine
    assert again.list() == ["runs/r1/a.txt"]


def test_staging_is_a_plain_library() -> None:
    code = (
        "import sys, shared.staging, shared.staging.blob;"
        "bad = [m for m in sys.modules if m.startswith(('azure.functions', 'azure.durable_functions'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
