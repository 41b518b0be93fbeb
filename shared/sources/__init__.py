"""Source systems. Every source yields plain dicts with the source's own field names.

``open_source(run)`` picks the reader for the run's source kind; everything after extraction is
one code path whatever the source (CSV export, SOAP API, ...).
"""

from __future__ import annotations

import os
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


class WorketcSoapSource:
    """A WORKetc tenant's SOAP API (paid tiers), through zeep: records with the CSV contract's names.

    ``input`` is the tenant's WSDL URL (``https://<alias>.worketc.com/xml?wsdl``) or its alias;
    credentials come from the environment (WORKETC_EMAIL, WORKETC_PASSWORD or
    WORKETC_PASSWORD_SECRET_URI), never from the run's settings. Objects the API does not expose
    (workflows) are read from a CSV the administrator lists them in, ``WORKETC_EXPORT_DIR/<file>``,
    when one is given. Document binaries come through the API too (``shared.steps.documents``).
    """

    def __init__(self, input: str):
        from .worketc.soap import WorketcSoapClient, WorketcSoapSettings

        target = {"wsdl_url": input} if "://" in input else {"alias": input}
        self.client = WorketcSoapClient(WorketcSoapSettings.from_env(**target))
        self._available: set[str] | None = None
        export = os.environ.get("WORKETC_EXPORT_DIR")
        self.csv = WorketcCsvSource(export) if export else None

    @staticmethod
    def _object(spec: ObjectSpec) -> str:
        return spec.file.removesuffix(".csv")

    def has(self, spec: ObjectSpec) -> bool:
        if self._available is None:
            self._available = set(self.client.discover()["extractable"])
        if self._object(spec) in self._available:
            return True
        return bool(self.csv and self.csv.has(spec))

    def rows(self, spec: ObjectSpec) -> Iterator[dict]:
        if self._object(spec) not in (self._available or set()) and self.csv and self.csv.has(spec):
            return self.csv.rows(spec)
        return self.client.extract(self._object(spec))


def open_source(run: RunConfig) -> Source:
    if run.source == "worketc-csv":
        return WorketcCsvSource(run.input)
    if run.source == "worketc-soap":
        return WorketcSoapSource(run.input)
    raise ValueError(f"source kind {run.source!r} is not supported yet")
