"""Source ids: one normalisation for keys and for the fields that reference them, whatever the source.

Extraction applies :func:`source_id` once to every key and reference field, so later steps read ids
as staged; :func:`id_fold` is how Dataverse compares them (a lookup or a key match that ignores what
Dataverse ignores).
"""

from __future__ import annotations

import unicodedata


def source_id(value: str | None) -> str | None:
    """A source id as every step compares it: trimmed, ``None`` for an empty cell.

    Exports pad ids with spaces (`` 10268``) while references to them are read trimmed: a key kept as
    written would never be found by its references.
    """
    if value is None:
        return None
    v = value.strip()
    return v or None


def id_fold(value: str) -> str:
    """The form under which Dataverse compares an id: case-insensitive always, and accent-insensitive in
    most languages (English is ``_CI_AI``: https://learn.microsoft.com/power-platform/admin/language-collations).
    Two ids with one fold are one alternate-key value: they would merge into one row."""
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
