"""Chunked extracts (gzip JSON Lines + manifest), run against every backend (see conftest.py)."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
from decimal import Decimal
from typing import Any, Iterator

import pytest

from shared.staging import (
    InvalidStagingName,
    Manifest,
    Staging,
    StagingIntegrityError,
    StagingNotFoundError,
    encode_chunk,
    iter_chunk,
    iter_records,
    read_chunk,
    read_manifest,
    write_chunks,
)
from shared.staging.codec import dumps


def rows(n: int, start: int = 0) -> Iterator[dict[str, Any]]:
    for i in range(start, start + n):
        yield {
            "_row": i + 2,
            "_file": "Kunden.csv",
            "EntityID": str(1000 + i),
            "Name": f"Müller {i}",
            "Umsatz": Decimal(f"{i}.50"),
            "Gruendung": dt.date(2000, 1, 1) + dt.timedelta(days=i),
            "Geaendert": dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=i),
            "Notiz": None,
        }


def as_read(record: dict[str, Any]) -> dict[str, Any]:
    """What a staged record reads back as (Decimal/date/datetime become strings)."""
    return {k: (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else str(v) if isinstance(v, Decimal) else v)
            for k, v in record.items()}


def test_write_and_read_back(staging: Staging) -> None:
    manifest = write_chunks(staging, "runs/r1/account/extract", rows(12), object_name="account", chunk_size=5)
    assert manifest.object == "account"
    assert manifest.records == 12
    assert [c.records for c in manifest.chunks] == [5, 5, 2]
    assert [c.name for c in manifest.chunks] == [
        "runs/r1/account/extract/part-00000.jsonl.gz",
        "runs/r1/account/extract/part-00001.jsonl.gz",
        "runs/r1/account/extract/part-00002.jsonl.gz",
    ]
    assert staging.list("runs/r1/account/extract/") == [
        "runs/r1/account/extract/manifest.json",
        *[c.name for c in manifest.chunks],
    ]
    assert read_manifest(staging, "runs/r1/account/extract") == manifest
    expected = [as_read(r) for r in rows(12)]
    got = [r for c in manifest.chunks for r in read_chunk(staging, c.name, c.sha256)]
    assert got == expected
    assert list(iter_records(staging, manifest)) == expected
    assert list(iter_chunk(staging, manifest.chunks[0].name, manifest.chunks[0].sha256)) == expected[:5]
    for ref in manifest.chunks:
        data = staging.read_bytes(ref.name)
        assert hashlib.sha256(data).hexdigest() == ref.sha256
        assert len(data) == ref.size
    raw = staging.read_json("runs/r1/account/extract/manifest.json")
    assert set(raw) == {"object", "records", "chunks", "version"}
    assert set(raw["chunks"][0]) == {"name", "records", "sha256", "size"}


def test_rewrite_is_byte_identical(staging: Staging) -> None:
    first = write_chunks(staging, "x/contact", rows(7), object_name="contact", chunk_size=3)
    bytes_before = {n: staging.read_bytes(n) for n in staging.list("x/contact/")}
    second = write_chunks(staging, "x/contact", rows(7), object_name="contact", chunk_size=3)
    bytes_after = {n: staging.read_bytes(n) for n in staging.list("x/contact/")}
    assert first == second
    assert bytes_before == bytes_after
    assert [c.sha256 for c in first.chunks] == [c.sha256 for c in second.chunks]


def test_chunk_bytes_do_not_depend_on_key_order_or_time() -> None:
    forward = {"a": 1, "b": Decimal("2.0"), "c": dt.date(2024, 1, 2)}
    backward = dict(reversed(list(forward.items())))
    assert encode_chunk([forward]) == encode_chunk([backward])
    data = encode_chunk([forward])
    assert data[4:8] == b"\x00\x00\x00\x00"  # gzip MTIME field is zero
    assert data[3] & 0x08 == 0  # no FNAME field
    assert gzip.decompress(data) == b'{"a":1,"b":"2.0","c":"2024-01-02"}\n'


def test_manifest_is_written_last(staging: Staging) -> None:
    writes: list[str] = []

    class Recording:
        def __getattr__(self, attr: str) -> Any:
            return getattr(staging, attr)

        def write_bytes(self, name: str, data: bytes, **kw: Any) -> None:
            writes.append(name)
            staging.write_bytes(name, data, **kw)

    write_chunks(Recording(), "p/obj", rows(10), object_name="obj", chunk_size=4)  # type: ignore[arg-type]
    assert writes[-1] == "p/obj/manifest.json"
    assert writes[:-1] == [f"p/obj/part-0000{i}.jsonl.gz" for i in range(3)]


def test_failed_extract_leaves_no_manifest(staging: Staging) -> None:
    write_chunks(staging, "p/obj", rows(6), object_name="obj", chunk_size=2)
    assert read_manifest(staging, "p/obj") is not None

    def broken() -> Iterator[dict[str, Any]]:
        yield from rows(5)
        raise RuntimeError("source connection dropped")

    with pytest.raises(RuntimeError):
        write_chunks(staging, "p/obj", broken(), object_name="obj", chunk_size=2)
    assert read_manifest(staging, "p/obj") is None  # the old manifest is gone: incomplete


def test_shorter_rewrite_removes_stale_parts(staging: Staging) -> None:
    write_chunks(staging, "p/obj", rows(10), object_name="obj", chunk_size=2)
    manifest = write_chunks(staging, "p/obj", rows(3), object_name="obj", chunk_size=2)
    assert staging.list("p/obj/") == ["p/obj/manifest.json", "p/obj/part-00000.jsonl.gz", "p/obj/part-00001.jsonl.gz"]
    assert manifest.records == 3


def test_empty_extract(staging: Staging) -> None:
    manifest = write_chunks(staging, "p/empty", [], object_name="obj")
    assert manifest == Manifest(object="obj", records=0, chunks=[])
    assert read_manifest(staging, "p/empty") == manifest
    assert list(iter_records(staging, manifest)) == []


def test_no_manifest_means_incomplete(staging: Staging) -> None:
    assert read_manifest(staging, "p/never") is None
    staging.write_bytes("p/partial/part-00000.jsonl.gz", encode_chunk(rows(1)))
    assert read_manifest(staging, "p/partial") is None


def test_invalid_manifest_is_an_integrity_error(staging: Staging) -> None:
    staging.write_json("p/bad/manifest.json", {"object": "x"})
    with pytest.raises(StagingIntegrityError, match="p/bad/manifest.json"):
        read_manifest(staging, "p/bad")
    staging.write_bytes("p/bad/manifest.json", b"{not json")
    with pytest.raises(StagingIntegrityError, match="p/bad/manifest.json"):
        read_manifest(staging, "p/bad")


def test_tampered_chunk_is_detected(staging: Staging) -> None:
    manifest = write_chunks(staging, "p/obj", rows(4), object_name="obj", chunk_size=2)
    ref = manifest.chunks[1]
    records = read_chunk(staging, ref.name)
    records[0]["Name"] = "Mallory"
    staging.write_bytes(ref.name, encode_chunk(records))  # valid gzip, different content

    with pytest.raises(StagingIntegrityError) as err:
        read_chunk(staging, ref.name, ref.sha256)
    assert ref.name in str(err.value) and "sha256" in str(err.value)
    assert err.value.name == ref.name
    with pytest.raises(StagingIntegrityError, match="part-00001"):
        list(iter_chunk(staging, ref.name, ref.sha256))
    with pytest.raises(StagingIntegrityError, match="part-00001"):
        list(iter_records(staging, manifest))
    assert read_chunk(staging, manifest.chunks[0].name, manifest.chunks[0].sha256)  # the other is fine


@pytest.mark.parametrize("damage", [
    lambda data: data[:-10],  # truncated
    lambda data: data[:20] + bytes(b ^ 0xFF for b in data[20:30]) + data[30:],  # flipped bytes
    lambda data: b"not gzip at all",
])
def test_corrupt_chunk_without_checksum_is_an_integrity_error(staging: Staging, damage) -> None:
    manifest = write_chunks(staging, "p/obj", rows(50), object_name="obj")
    name = manifest.chunks[0].name
    staging.write_bytes(name, damage(staging.read_bytes(name)))
    with pytest.raises(StagingIntegrityError, match="part-00000"):
        read_chunk(staging, name)
    with pytest.raises(StagingIntegrityError, match="part-00000"):
        list(iter_chunk(staging, name))


def test_missing_chunk_names_the_blob(staging: Staging) -> None:
    with pytest.raises(StagingNotFoundError, match="p/obj/part-00007.jsonl.gz"):
        read_chunk(staging, "p/obj/part-00007.jsonl.gz", "00" * 32)
    with pytest.raises(StagingNotFoundError, match="p/obj/part-00007.jsonl.gz"):
        list(iter_chunk(staging, "p/obj/part-00007.jsonl.gz"))


def test_prefix_must_be_a_valid_name(staging: Staging) -> None:
    with pytest.raises(InvalidStagingName):
        write_chunks(staging, "../escape", rows(1), object_name="obj")
    with pytest.raises(InvalidStagingName):
        read_manifest(staging, "")


def test_json_codec_is_deterministic_and_strict() -> None:
    assert dumps({"b": 1, "a": [Decimal("1E+2"), dt.datetime(2024, 1, 1, 9, 30)]}) == '{"a":["100","2024-01-01T09:30:00"],"b":1}'
    with pytest.raises(ValueError):
        dumps({"x": float("nan")})
    with pytest.raises(ValueError):
        dumps({"x": Decimal("NaN")})
    # orjson writes a NaN as null: told apart from the record's own nulls however they are spelled
    for record in ({"a": None, "x": float("inf")}, {"a": "null", "x": float("nan")},
                   {"a": None, "b": [None, float("-inf")]}, {"a": {"b": None}, "x": float("nan")}):
        with pytest.raises(ValueError):
            dumps(record)
    assert dumps({"a": None, "b": "null", "c": [None], "d": 1.5}) == '{"a":null,"b":"null","c":[null],"d":1.5}'
    with pytest.raises(TypeError, match="set"):
        dumps({"x": {1, 2}})
