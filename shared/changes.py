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

Change = Literal["new", "changed", "unchanged"]

#: the parts of a load row that reach Dataverse (``row``/``record`` only say where it came from)
HASHED = ("table", "body", "close")


def row_hash(row: dict) -> str:
    """A short, stable content hash of what a load row sends (BLAKE2b-128 of canonical JSON)."""
    canonical = json.dumps([row.get(k) for k in HASHED], sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False, default=str)
    return hashlib.blake2b(canonical.encode("utf-8"), digest_size=16).hexdigest()


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
