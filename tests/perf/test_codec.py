"""The staging codec (orjson) keeps the rules of stable JSON and round-trips what the engine stages."""

import datetime as dt
import gzip
import json
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from shared.staging import codec
from shared.staging.chunks import encode_chunk


VALUES = [
    {"b": 1, "a": [Decimal("1E+2"), dt.datetime(2024, 1, 1, 9, 30)]},
    {"x": dt.datetime(2024, 1, 1, 9, 30, 1, 123, tzinfo=ZoneInfo("Australia/Sydney")), "d": dt.date(2024, 2, 3),
     "t": dt.time(1, 2, 3, 5), "u": uuid.UUID("12345678-1234-5678-1234-567812345678")},
    {"ü": "ä€\u2028 \"quoted\" \\ \n", "n": None, "f": 1.1, "neg": -0.0, "e": 1e300, "s": 1e-7, "big": 2 ** 70,
     "nested": {"z": [1, {"y": True, "a": None}]}},
]


def _reference(value) -> str:  # the standard library with the codec's rules: what chunks held before orjson
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=codec._default)


@pytest.mark.parametrize("value", VALUES)
def test_same_text_as_the_standard_library(value):
    assert codec.dumps(value) == _reference(value)


def test_round_trip_of_plain_json():
    value = {"key": "C1", "body": {"name": "Müller GmbH", "revenue": 12.5, "n": 3, "ok": False, "x": None}}
    assert codec.loads(codec.dumps_bytes(value)) == value


@pytest.mark.parametrize("bad", [{"x": float("nan")}, {"x": [float("inf")]}, {"x": {"y": -float("inf")}},
                                 {"x": Decimal("NaN")}])
def test_non_finite_numbers_are_refused(bad):
    with pytest.raises(ValueError):
        codec.dumps(bad)


def test_unknown_types_are_refused_by_name():
    with pytest.raises(TypeError, match="set"):
        codec.dumps({"x": {1, 2}})


def test_chunks_are_deterministic_gzip_json_lines():
    rows = [{"key": f"K{i}", "body": {"name": f"n{i}"}} for i in range(50)]
    data = encode_chunk(rows)
    assert data == encode_chunk(rows)
    lines = gzip.decompress(data).split(b"\n")
    assert lines[-1] == b"" and [codec.loads(x) for x in lines[:-1]] == rows
    assert gzip.decompress(encode_chunk([])) == b""


def test_the_transforms_plain_email_path_agrees_with_parse_email():
    import random
    from shared.sources.worketc import values
    from shared.transform import _PLAIN_EMAIL
    rng = random.Random(3)
    samples = ["a@b.co", "John.Smith@Example.COM", "x..y@a.com", "x@a..com", "x@-a.com", "x@a.123", "a@b", ".a@b.com",
               "a@b.com.", "a@b_c.com", "a@" + "b" * 64 + ".com", "a'b@c.de", "ü@b.com"]
    samples += ["".join(rng.choice("ab.@-_+1'") for _ in range(rng.randint(3, 12))) for _ in range(5000)]
    for s in samples:
        v = s.strip().lower()
        if len(v) <= 254 and _PLAIN_EMAIL.match(v) and v.index("@") <= 64:
            assert values.parse_email(s) == v, s
