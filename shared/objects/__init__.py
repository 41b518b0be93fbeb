"""The catalogue of migrated objects, per source. Orchestrators read it; it does no I/O."""

from __future__ import annotations

from . import work4all, worketc
from .spec import (ENTITY_SETS, ID_KEYED, Close, Column, DependencyError, Field, Lookup, ObjectSpec, Route,
                   entity_set, key_column, price_list_key, waves)

SOURCES: dict[str, dict[str, ObjectSpec]] = {
    "worketc": worketc.OBJECTS,
    "work4all": work4all.OBJECTS,
}

#: how a run names its source kind -> which catalogue it uses
SOURCE_KINDS: dict[str, str] = {
    "worketc-csv": "worketc",
    "worketc-soap": "worketc",
    "work4all-export": "work4all",
    "work4all-graphql": "work4all",
}


def catalogue(source_kind: str) -> dict[str, ObjectSpec]:
    try:
        return SOURCES[SOURCE_KINDS[source_kind]]
    except KeyError:
        raise ValueError(f"unknown source kind {source_kind!r}; known: {sorted(SOURCE_KINDS)}") from None


__all__ = [
    "Close", "Column", "DependencyError", "ENTITY_SETS", "Field", "ID_KEYED", "Lookup", "ObjectSpec", "Route",
    "SOURCES", "SOURCE_KINDS", "catalogue", "entity_set", "key_column", "price_list_key", "waves",
]
