"""Change detection between passes of one migration: a content hash per record, and what a pass does
with each record (create, update, leave alone) given the hashes of the last pass that loaded it.

A plain library (no staging, no Dataverse): the transform stamps every load row with :func:`row_hash`
(``shared/steps/transform.py``), reconciliation keeps the hashes of the rows a pass loaded
(``objects/<name>/hashes.json``), and the next pass's load compares (``shared/steps/load.py``):

- a row whose hash equals the last loaded one is ``unchanged``: no request is sent for it;
- a row with another hash is ``changed``: it is upserted (and a record closed in Dataverse is reopened,
  updated and closed again);
- a row the last pass did not load is ``new`` (created, or updated if Dataverse has it from elsewhere);
- a key the last pass loaded that the source no longer holds is ``deleted`` in the source: reported,
  and deactivated when the run asks (``RunConfig.deactivate_deleted``).

The hash covers what the engine would send for the record: its table, its body (the mapped target
columns, lookups as bound keys, owner) and its close instruction (a deal that is now won changes it).
A change in the approved map, a lookup that now resolves, or a new owner changes the body, so such a
record is written again, as it should be.
"""

from __future__ import annotations

import hashlib
import json
from typing import Iterable, Literal

import orjson

Change = Literal["new", "changed", "unchanged"]

#: the parts of a load row that reach Dataverse (``row``/``record`` only say where it came from)
HASHED = ("table", "body", "close")


_PLAIN = frozenset((str, int, bool, type(None)))
_STR = frozenset((str,))


def _orjson_same(value: object) -> bool:
    """Whether orjson writes ``value`` byte for byte as ``json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`` does: plain strings, integers, booleans, nulls, lists and dicts with string keys,
    and floats whose ``repr`` has no exponent (both write the shortest round-trip digits; they differ in
    exponent notation, ``1e+16`` / ``1e16``, and in NaN). Anything else (Decimal, datetime, subclasses,
    non-string keys) goes through the standard library with ``default=str`` as before."""
    t = type(value)
    if t in _PLAIN:
        return True
    if t is dict or t is list or t is tuple:  # by the set of their items' types first (a body: str and None)
        if t is dict:
            if not set(map(type, value)) <= _STR:  # type: ignore[call-overload]
                return False
            value = value.values()  # type: ignore[attr-defined]
        if set(map(type, value)) <= _PLAIN:  # type: ignore[call-overload]
            return True
        return all(_orjson_same(v) for v in value if type(v) not in _PLAIN)  # type: ignore[attr-defined]
    if t is float:
        return value == 0 or 1e-4 <= abs(value) < 1e16  # type: ignore[operator]
    return False


def _canonical(value: list) -> bytes:
    if _orjson_same(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # an integer beyond 64 bits, a lone surrogate
            pass
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8", "surrogatepass")


def row_hash(row: dict) -> str:
    """A short, stable content hash of what a load row sends (BLAKE2b-128 of canonical JSON).

    The canonical bytes are those of ``json.dumps(sort_keys=True, separators=(",", ":"),
    ensure_ascii=False, default=str)``, written by orjson where it writes the same bytes (nearly every
    row; about 10x faster), so a pass compares equal with the hashes an earlier pass kept
    (``tests/perf/test_row_hash.py`` pins one)."""
    return hashlib.blake2b(_canonical([row.get(k) for k in HASHED]), digest_size=16).hexdigest()


def with_hash(row: dict) -> dict:
    """``row`` with its ``hash`` (in place; returned for use in expressions)."""
    row["hash"] = row_hash(row)
    return row


def row_key(row: dict) -> str:
    """The key a load row (or a load outcome) is known by between passes: its source key."""
    return row.get("source_key") or row["key"]


def classify(row: dict, previous: dict[str, str] | None) -> Change:
    """What the pass does with ``row``, given the hashes the last pass loaded (None: no earlier pass)."""
    if not previous:
        return "new"
    before = previous.get(row_key(row))
    if before is None:
        return "new"
    return "unchanged" if before == (row.get("hash") or row_hash(row)) else "changed"


def deleted(previous: dict[str, str] | None, present: Iterable[str]) -> list[str]:
    """Keys the last pass loaded that the source no longer holds, sorted."""
    if not previous:
        return []
    return sorted(set(previous) - set(present))
