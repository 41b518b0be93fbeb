"""The import location: an export read from a folder or from ``imports/<name>`` in the staging account,
streamed, with the same rows, encodings, line numbers and sha256 either way."""

from __future__ import annotations

import codecs
import hashlib
import io
import random

import pytest

from shared.errors import InputError, SettingsError
from shared.settings import INPUTS, RequestRefused, check_import
from shared.sources.worketc.csv_export import presence, read_table
from shared.staging.imports import BlobImport, FolderImport, import_name, is_import, open_import

from .conftest import upload_batch


def _export(folder, companies: bytes):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Companies.csv").write_bytes(companies)  # real exports may capitalise
    (folder / "contacts.csv").write_bytes(b"EntityID,FirstName,LastName,CompanyID\r\n")
    (folder / "users.csv").write_bytes(b"")
    (folder / "files" / "company").mkdir(parents=True, exist_ok=True)
    (folder / "files" / "company" / "offer.pdf").write_bytes(b"%PDF the offer")
    return folder


def _companies(n: int = 300) -> bytes:
    rnd = random.Random(5)
    out = ["EntityID,Name,City,DateModified\r\n"]
    for i in range(1, n + 1):
        name = f'"Müller & Söhne {i}\r\nGmbH"' if i % 11 == 0 else f"Café {i}"
        out.append(f"{i},{name},{rnd.choice(['Zürich', 'Köln', 'Sydney'])},2024-01-0{1 + i % 9}\r\n")
    data = codecs.BOM_UTF8 + "".join(out).encode()
    return data + "301,Jürgen,Köln,2024-01-01\r\n".encode("cp1252")  # a cp1252 row past the prefix read


def _plain(rows):
    return [{k: v for k, v in r.items()} for r in rows]


def test_import_names_are_checked():
    assert is_import("imports/contoso-2026-11") and is_import("imports/contoso/2026_11")
    assert not is_import("imports/../staging") and not is_import("/data/imports/x") and not is_import("imports/")
    assert import_name(" imports/contoso-2026-11/ ") == "imports/contoso-2026-11"
    with pytest.raises(ValueError, match="imports/<name>"):
        import_name("imports/a b")
    assert isinstance(open_import("/data/export"), FolderImport)
    with pytest.raises(SettingsError, match="no staging setting"):
        open_import("imports/contoso")


def test_a_request_may_pick_an_upload_for_csv_when_staging_is_blob(monkeypatch):
    env = {"STAGING_CONNECTION": "https://stgx.blob.core.windows.net/staging"}
    csv = INPUTS["worketc-csv"]
    assert csv.pick("imports/contoso-2026-11", env) == "imports/contoso-2026-11"
    with pytest.raises(RequestRefused, match="imports/<name>"):
        csv.pick("imports/../../etc", env)
    with pytest.raises(RequestRefused, match="imports container"):
        csv.pick(None, env)  # nothing configured, nothing given: say how to give the upload
    with pytest.raises(RequestRefused):
        INPUTS["worketc-soap"].pick("imports/contoso", {"WORKETC_WSDL_URL": "https://a.worketc.com/xml?wsdl"})
    check_import("imports/contoso", "STAGING_CONNECTION", env)
    with pytest.raises(RequestRefused, match="is a folder") as refused:
        check_import("imports/contoso", "STAGING_CONNECTION", {"STAGING_CONNECTION": "/data/staging"})
    assert refused.value.setting == "STAGING_CONNECTION"


def test_a_folder_export_is_read_as_before(tmp_path):
    folder = _export(tmp_path / "export", _companies())
    rows = list(read_table(folder, "companies.csv"))
    assert len(rows) == 301 and rows[-1]["Name"] == "Jürgen"  # repaired, with a warning
    assert rows[-1]["_warnings"][0]["code"] == "encoding_repaired"
    assert presence(folder, "users.csv") == "empty" and presence(folder, "tickets.csv") == "absent"


@pytest.mark.parametrize("cut", [1, 7, 64, 299])
def test_a_reader_resumes_exactly_where_it_stopped(tmp_path, cut):
    folder = _export(tmp_path / "export", _companies())
    whole = _plain(read_table(folder, "companies.csv"))
    first = read_table(folder, "companies.csv")
    head = [next(first) for _ in range(cut)]
    at = first.position()
    first.close()
    rest = read_table(folder, "companies.csv", start=at)
    got = _plain(head) + _plain(rest)
    assert got == whole and rest.exhausted
    assert at["record"] == cut and at["offset"] > 0


@pytest.mark.azurite
def test_an_upload_reads_like_the_folder_streamed(tmp_path, azurite_connection_string, blob_staging):
    data = _companies()
    folder = _export(tmp_path / "export", data)
    name = f"unit-{tmp_path.name.lower().replace('_', '-')[:40]}".rstrip("-")  # the session's Azurite is shared
    upload_batch(azurite_connection_string, folder, name)
    location = open_import(f"imports/{name}", blob_staging)
    assert isinstance(location, BlobImport)
    assert location.find("companies.csv") == "Companies.csv" and "files" not in location.names()
    assert location.size("Companies.csv") == len(data)
    assert location.sha256("Companies.csv") == hashlib.sha256(data).hexdigest()
    with location.open("Companies.csv", 100) as f:  # a ranged, streamed read
        assert f.read() == data[100:]
    with location.open("Companies.csv", len(data)) as f:
        assert f.read() == b""

    blob_rows = read_table(location, "companies.csv")
    assert _plain(blob_rows) == _plain(read_table(folder, "companies.csv"))
    assert blob_rows.describe()["sha256"] == hashlib.sha256(data).hexdigest()
    assert presence(location, "users.csv") == "empty" and presence(location, "tickets.csv") == "absent"

    reader = read_table(location, "companies.csv")
    head = [next(reader) for _ in range(123)]
    rest = read_table(location, "companies.csv", start=reader.position())
    assert _plain(head) + _plain(rest) == _plain(read_table(folder, "companies.csv"))

    with location.open_file("files/company/offer.pdf") as f:
        assert f.read() == b"%PDF the offer" and f.seekable()
    with pytest.raises(FileNotFoundError):
        location.open_file("files/company/missing.pdf")
    with pytest.raises(ValueError):
        location.open_file("files/../../staging/secret")


@pytest.mark.azurite
def test_a_missing_upload_says_how_to_upload_it(blob_staging):
    location = open_import("imports/never-uploaded", blob_staging)
    with pytest.raises(InputError, match="upload-batch -d imports -s ./export --destination-path never-uploaded"):
        location.check()


def test_encoding_is_decided_from_a_prefix(tmp_path, monkeypatch):
    """A file is not read whole to decide its encoding: only its first bytes (the rest is streamed once)."""
    import shared.sources.worketc.csv_export as csv_export

    monkeypatch.setattr(csv_export, "_DETECT_BYTES", 4096)
    data = _companies(2000)
    folder = _export(tmp_path / "export", data)
    read = []

    class Counting(FolderImport):
        def open(self, name, offset=0):
            f = super().open(name, offset)
            raw = f.read()
            read.append(len(raw))
            return io.BytesIO(raw)

    reader = read_table(Counting(folder), "companies.csv")
    assert reader.encoding == "utf-8-sig"
    rows = list(reader)
    assert rows[-1]["Name"] == "Jürgen" and len(rows) == 2001
    assert reader.describe()["sha256"] == hashlib.sha256(data).hexdigest()  # hashed while read: no re-read
    assert len(read) == 3  # the workbook check's head, the prefix for the encoding, the one read of the rows
