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
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import Decimal
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"non-finite Decimal {value!r} cannot be staged as JSON")
        return format(value, "f")
    if isinstance(value, (dt.datetime, dt.date, dt.time)):  # datetime is a date: one branch
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"value of type {type(value).__name__} is not JSON serialisable for staging")


def dumps(value: Any) -> str:
    """``value`` as one line of stable JSON text."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_default,
    )


def dumps_bytes(value: Any) -> bytes:
    return dumps(value).encode("utf-8")


def loads(data: bytes | str) -> Any:
    return json.loads(data)
