"""The Staging contract, run against every backend (see conftest.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import tracemalloc
from decimal import Decimal

import pytest

from shared.staging import (
    InvalidStagingName,
    Staging,
    StagingExistsError,
    StagingNotFoundError,
)

MiB = 1024 * 1024


def test_bytes_round_trip_and_overwrite(staging: Staging) -> None:
    staging.write_bytes("runs/r1/a.bin", b"first")
    assert staging.read_bytes("runs/r1/a.bin") == b"first"
    staging.write_bytes("runs/r1/a.bin", b"second")
    assert staging.read_bytes("runs/r1/a.bin") == b"second"
    staging.write_bytes("empty.bin", b"")
    assert staging.read_bytes("empty.bin") == b""


def test_overwrite_false_refuses_and_keeps_original(staging: Staging) -> None:
    staging.write_bytes("once.txt", b"original", overwrite=False)
    with pytest.raises(StagingExistsError) as err:
        staging.write_bytes("once.txt", b"other", overwrite=False)
    assert "once.txt" in str(err.value)
    assert isinstance(err.value, FileExistsError)
    assert staging.read_bytes("once.txt") == b"original"


def test_json_round_trip_is_stable(staging: Staging) -> None:
    obj = {
        "b": Decimal("12.50"),
        "a": dt.date(2024, 2, 29),
        "c": dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.timezone.utc),
        "d": [1, None, "Müller"],
    }
    staging.write_json("x/obj.json", obj)
    assert staging.read_json("x/obj.json") == {
        "a": "2024-02-29",
        "b": "12.50",
        "c": "2024-03-01T12:30:00+00:00",
        "d": [1, None, "Müller"],
    }
    assert staging.read_bytes("x/obj.json") == (
        '{"a":"2024-02-29","b":"12.50","c":"2024-03-01T12:30:00+00:00","d":[1,null,"Müller"]}'.encode()
    )


def test_exists_and_list(staging: Staging) -> None:
    for name in ["runs/r1/account/part-00001.jsonl.gz", "runs/r1/account/part-00000.jsonl.gz",
                 "runs/r1/account/manifest.json", "runs/r1/contact/manifest.json", "runs/r10/x", "top.json"]:
        staging.write_bytes(name, b"x")
    assert staging.exists("runs/r1/account/manifest.json")
    assert not staging.exists("runs/r1/account/missing.json")
    assert not staging.exists("runs/r1/account")  # a "folder" is not an object
    assert staging.list("runs/r1/account/") == [
        "runs/r1/account/manifest.json",
        "runs/r1/account/part-00000.jsonl.gz",
        "runs/r1/account/part-00001.jsonl.gz",
    ]
    assert staging.list("runs/r1/account/part-") == [
        "runs/r1/account/part-00000.jsonl.gz",
        "runs/r1/account/part-00001.jsonl.gz",
    ]
    assert staging.list("runs/r1/") == [
        "runs/r1/account/manifest.json",
        "runs/r1/account/part-00000.jsonl.gz",
        "runs/r1/account/part-00001.jsonl.gz",
        "runs/r1/contact/manifest.json",
    ]
    assert staging.list("runs/r1") == staging.list("runs/r1/") + ["runs/r10/x"]  # plain string prefix
    assert len(staging.list()) == 6
    assert staging.list("nothing/here/") == []


def test_delete_prefix(staging: Staging) -> None:
    for name in ["runs/r1/a/1", "runs/r1/a/2", "runs/r1/b/1", "runs/r2/a/1"]:
        staging.write_bytes(name, b"x")
    assert staging.delete_prefix("runs/r1/a/") == 2
    assert staging.list() == ["runs/r1/b/1", "runs/r2/a/1"]
    assert staging.delete_prefix("runs/r1/") == 1
    assert staging.delete_prefix("runs/r1/") == 0
    assert staging.list() == ["runs/r2/a/1"]
    with pytest.raises(InvalidStagingName):
        staging.delete_prefix("")
    assert staging.delete("runs/r2/a/1") is True
    assert staging.delete("runs/r2/a/1") is False


def test_scoped_area_sees_only_its_prefix(staging: Staging) -> None:
    staging.write_bytes("runs/r1/a.json", b"1")
    staging.write_bytes("runs/r2/a.json", b"2")
    run = staging.scoped("runs/r1")
    assert run.list() == ["a.json"]
    assert run.read_bytes("a.json") == b"1"
    run.write_bytes("sub/b.json", b"3")
    assert staging.read_bytes("runs/r1/sub/b.json") == b"3"
    assert run.scoped("sub").list() == ["b.json"]
    assert "runs/r1/sub/b.json" in run.url("sub/b.json")
    with pytest.raises(InvalidStagingName):
        run.read_bytes("../r2/a.json")


BAD_NAMES = ["", "/abs/name", "a/../b", "..", "../x", "./a", "a/./b", "a//b", "a/", "a\\b", "C:/x", "a\x00b",
             "a/.~staging-tmp-123"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_invalid_names_are_rejected(staging: Staging, bad: str) -> None:
    with pytest.raises(InvalidStagingName) as err:
        staging.write_bytes(bad, b"x")
    assert isinstance(err.value, ValueError)
    with pytest.raises(InvalidStagingName):
        staging.read_bytes(bad)
    with pytest.raises(InvalidStagingName):
        staging.exists(bad)
    if bad:  # "" is a valid list prefix (everything)
        with pytest.raises(InvalidStagingName):
            staging.list(bad + "/x")


def test_unicode_and_space_names(staging: Staging) -> None:
    staging.write_bytes("Kunden/Müller & Söhne.json", b"{}")
    assert staging.list("Kunden/") == ["Kunden/Müller & Söhne.json"]
    assert staging.read_json("Kunden/Müller & Söhne.json") == {}


def test_missing_objects_raise_naming_the_blob(staging: Staging) -> None:
    name = "runs/r1/account/part-00042.jsonl.gz"
    for call in (staging.read_bytes, staging.open_read, staging.read_json):
        with pytest.raises(StagingNotFoundError) as err:
            call(name)
        assert name in str(err.value)
        assert err.value.name == name
        assert isinstance(err.value, FileNotFoundError)


def test_url_names_the_object(staging: Staging) -> None:
    url = staging.url("runs/r1/manifest.json")
    assert url.endswith("runs/r1/manifest.json")
    assert "AccountKey" not in url and "sig=" not in url


def test_upload_file_and_download_file(staging: Staging, tmp_path) -> None:
    src = tmp_path / "export.csv"
    src.write_bytes(b"EntityID;Name\n1;A\n" * 1000)
    staging.upload_file("inputs/export.csv", str(src))
    assert staging.read_bytes("inputs/export.csv") == src.read_bytes()
    dst = tmp_path / "back.csv"
    staging.download_file("inputs/export.csv", str(dst))
    assert dst.read_bytes() == src.read_bytes()


class _GeneratedStream(io.RawIOBase):
    """A non-seekable stream of ``size`` random bytes, produced on demand (never all in memory)."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.hash = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self.remaining, 256 * 1024)
        if n <= 0:
            return 0
        data = os.urandom(n)
        b[:n] = data
        self.hash.update(data)
        self.remaining -= n
        return n


def test_large_stream_upload_and_streaming_read(staging: Staging) -> None:
    size = 20 * MiB
    source = _GeneratedStream(size)
    tracemalloc.start()
    try:
        staging.upload_stream("big/blob.bin", io.BufferedReader(source))
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()

        read_hash = hashlib.sha256()
        total = reads = 0
        with staging.open_read("big/blob.bin") as stream:
            while piece := stream.read(MiB):
                assert len(piece) <= MiB
                read_hash.update(piece)
                total += len(piece)
                reads += 1
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert reads >= 20
    assert read_hash.hexdigest() == source.hash.hexdigest()
    # Bounded by the transfer piece size (4 MiB blocks / ranges, a couple in flight), not by 20 MiB.
    print(f"peaks: upload {upload_peak / MiB:.1f} MiB, read {read_peak / MiB:.1f} MiB")
    assert upload_peak < 14 * MiB, f"upload held {upload_peak / MiB:.1f} MiB"
    assert read_peak < 16 * MiB, f"streaming read held {read_peak / MiB:.1f} MiB"


@pytest.mark.parametrize("data, length", [(b"abc", 5), (b"abcdefg", 5)])
def test_upload_stream_with_wrong_length_fails_and_stores_nothing(staging: Staging, data: bytes, length: int) -> None:
    with pytest.raises(ValueError, match="declared|expected"):
        staging.upload_stream("short.bin", io.BytesIO(data), length=length)
    assert not staging.exists("short.bin")
    assert staging.list() == []
