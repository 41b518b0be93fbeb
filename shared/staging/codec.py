"""Stable JSON: the same Python value always becomes the same bytes.

Keys are sorted, separators are compact, non-ASCII text is kept as UTF-8, and the few non-JSON types
that source rows carry are written as ISO / plain strings:

- ``Decimal`` -> its fixed-point string (``Decimal("12.50")`` -> ``"12.50"``, never ``1E+2``),
  so no precision is lost and the consumer parses it back where the target column wants a number;
- ``datetime`` -> ``isoformat()`` (an aware value keeps its offset, a naive one stays naive);
- ``date`` -> ``"YYYY-MM-DD"``; ``time`` -> ``isoformat()``;
- ``UUID`` -> its canonical string.

NaN and infinite floats are refused (they are not JSON and would not round-trip). Reading gives
plain JSON values back: strings stay strings, nothing is guessed.

Encoding and decoding go through orjson (a well-kept Rust JSON library; about 10x the standard
library's speed with sorted keys), which writes the same text as ``json.dumps(sort_keys=True,
separators=(",", ":"), ensure_ascii=False)`` for these types. What orjson does differently is routed
back to the standard library so the rules above hold: it writes NaN/Infinity as ``null`` (a ``null``
in the output is checked for a non-finite float), and it refuses integers beyond 64 bits and some
types the default handler names (the whole value is then encoded by ``json``, which says why).
Reading: orjson reads an integer beyond 64 bits as a float; the engine stages none (source values are
strings, converted integers are Dataverse's 32-bit ones).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from decimal import Decimal
from typing import Any

import orjson

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"non-finite Decimal {value!r} cannot be staged as JSON")
        return format(value, "f")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):  # datetime is a date: one branch
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, str):  # a str subclass (passed through by orjson)
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, (list, tuple)):
        return list(value)
    raise TypeError(f"value of type {type(value).__name__} is not JSON serialisable for staging")


_SCALARS = frozenset((str, type(None), int, bool))


def _non_finite(value: Any) -> bool:
    """Whether a NaN or infinite float is anywhere in ``value``. It runs for every record with a null, so
    containers of plain scalars (a source row: strings and nulls) are passed over by their types alone."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        items = value.values()
    elif isinstance(value, (list, tuple)):
        items = value
    else:
        return False
    if set(map(type, items)) <= _SCALARS:
        return False
    return any(_non_finite(v) for v in items if v.__class__ not in _SCALARS)


def _stdlib(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False,
                      default=_default)


def dumps_bytes(value: Any) -> bytes:
    """``value`` as one line of stable JSON, UTF-8 bytes."""
    try:
        data = orjson.dumps(value, default=_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return _stdlib(value).encode("utf-8")  # raises the precise ValueError / TypeError, or encodes big ints
    # orjson writes NaN and Infinity as null: a null that no None explains is one. In a flat record the
    # nulls are counted against its None values (a null inside a string or a nested value only makes the
    # counts differ, which falls back to the full look)
    if b"null" in data and (value.__class__ is not dict or data.count(b"null") != list(value.values()).count(None)) \
            and _non_finite(value):
        raise ValueError("Out of range float values are not JSON compliant (NaN or Infinity cannot be staged)")
    return data


def dumps(value: Any) -> str:
    """``value`` as one line of stable JSON text."""
    return dumps_bytes(value).decode("utf-8")


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)  # orjson.JSONDecodeError is a ValueError (json.JSONDecodeError's base)
