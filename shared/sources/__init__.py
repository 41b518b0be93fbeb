"""Source systems. Every source yields plain dicts with the source's own field names.

``open_source(run)`` picks the reader for the run's source kind; everything after extraction is
one code path whatever the source (CSV export, SOAP API, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Protocol

from ..objects import ObjectSpec
from ..run import RunConfig


class Source(Protocol):
    def has(self, spec: ObjectSpec) -> bool: ...

    def rows(self, spec: ObjectSpec) -> Iterator[dict]: ...


class WorketcCsvSource:
    """A WORKetc Starter-tier CSV export folder (../shared/formats/worketc-csv.md)."""

    def __init__(self, folder: str):
        self.folder = Path(folder)

    def has(self, spec: ObjectSpec) -> bool:
        return (self.folder / spec.file).is_file()

    def rows(self, spec: ObjectSpec) -> Iterator[dict]:
        from .worketc.csv_export import read_table

        return read_table(self.folder, spec.file)


def open_source(run: RunConfig) -> Source:
    if run.source == "worketc-csv":
        return WorketcCsvSource(run.input)
    raise ValueError(f"source kind {run.source!r} is not supported yet")
