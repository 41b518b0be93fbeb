"""Source systems. Every source yields plain dicts with the source's own field names.

``open_source(run)`` picks the reader for the run's source kind; everything after extraction is
one code path whatever the source (CSV export, SOAP API, ...). A source says, per object, whether it
is ``present``, ``absent`` or ``empty`` (``presence``); which fields hold ids of other objects
(``reference_fields``: extraction normalises them like keys, see ``ids``); which field says when a
record last changed (``modified_field``: of two rows with one key, extraction keeps the later); and
whether ``rows`` can be read twice with the same result (``replayable``: extraction reads a
replayable source twice instead of spooling it).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Iterator, Protocol

from ..errors import SettingsError

if TYPE_CHECKING:  # the objects layer imports this package's helpers: no import of it at run time
    from ..objects import ObjectSpec
    from ..run import RunConfig
    from .worketc.csv_export import Presence


class Source(Protocol):
    replayable: bool
    reference_fields: tuple[str, ...]
    modified_field: str | None

    def presence(self, spec: ObjectSpec) -> Presence: ...

    def has(self, spec: ObjectSpec) -> bool: ...

    def rows(self, spec: ObjectSpec) -> Iterator[dict]: ...

    def contract(self, spec: ObjectSpec) -> tuple[str, ...]:
        """The columns the source's format defines for this object (the proposer skips those the
        catalogue does not migrate instead of proposing custom columns for them)."""
        ...


def _worketc_contract(spec: ObjectSpec) -> tuple[str, ...]:
    from .worketc.csv_export import COLUMNS

    return tuple(COLUMNS.get(spec.file, ()))


class WorketcCsvSource:
    """A WORKetc Starter-tier CSV export folder (../shared/formats/worketc-csv.md)."""

    replayable = True  # files: read again, checked by sha256

    def __init__(self, folder: str):
        from .worketc.csv_export import MODIFIED_COLUMN, REFERENCE_COLUMNS, check_folder

        self.folder = check_folder(folder)
        self.reference_fields, self.modified_field = REFERENCE_COLUMNS, MODIFIED_COLUMN

    def presence(self, spec: ObjectSpec) -> Presence:
        from .worketc.csv_export import presence

        return presence(self.folder, spec.file)

    def has(self, spec: ObjectSpec) -> bool:
        return self.presence(spec) != "absent"

    def rows(self, spec: ObjectSpec) -> Iterator[dict]:
        """A ``TableReader``: its ``describe()`` tells the file's encoding, size and sha256."""
        from .worketc.csv_export import read_table

        return read_table(self.folder, spec.file)

    def contract(self, spec: ObjectSpec) -> tuple[str, ...]:
        return _worketc_contract(spec)


class WorketcSoapSource:
    """A WORKetc tenant's SOAP API (paid tiers), through zeep: records with the CSV contract's names.

    ``input`` is the tenant's WSDL URL (``https://<alias>.worketc.com/xml?wsdl``) or its alias;
    credentials come from the environment (WORKETC_EMAIL, WORKETC_PASSWORD or
    WORKETC_PASSWORD_SECRET_URI), never from the run's settings. Only objects the API never exposes
    (the workflow inventory, see ``operations.DEFAULT_OPERATIONS``) are read from the CSV the
    administrator lists them in, ``WORKETC_EXPORT_DIR/<file>``: every other object comes from the API,
    whatever else that folder holds. Document binaries come through the API too
    (``shared.steps.documents``).
    """

    replayable = False  # the API answers what the tenant holds now: extraction spools it

    def __init__(self, input: str):
        from .worketc.csv_export import MODIFIED_COLUMN, REFERENCE_COLUMNS
        from .worketc.soap import WorketcSoapClient, WorketcSoapSettings

        target = {"wsdl_url": input} if "://" in input else {"alias": input}
        self.client = WorketcSoapClient(WorketcSoapSettings.from_env(**target))
        self.reference_fields, self.modified_field = REFERENCE_COLUMNS, MODIFIED_COLUMN
        self._available: set[str] | None = None
        export = os.environ.get("WORKETC_EXPORT_DIR")
        if export and not os.path.isdir(export):
            raise SettingsError(f"WORKETC_EXPORT_DIR={export!r} is not a folder: set it to the folder that holds "
                                "workflows.csv (the administrator's list of workflows), or leave it unset")
        self.csv = WorketcCsvSource(export) if export else None

    @staticmethod
    def _object(spec: ObjectSpec) -> str:
        return spec.file.removesuffix(".csv")

    def _from_folder(self, spec: ObjectSpec) -> bool:
        """Not in the API by nature (not merely disabled by configuration): the administrator's list."""
        from .worketc.operations import DEFAULT_OPERATIONS

        default = DEFAULT_OPERATIONS.get(self._object(spec))
        return default is not None and default.operation is None

    def presence(self, spec: ObjectSpec) -> Presence:
        if self._from_folder(spec):
            return self.csv.presence(spec) if self.csv else "absent"
        if self._available is None:
            self._available = set(self.client.discover()["extractable"])
        return "present" if self._object(spec) in self._available else "absent"

    def has(self, spec: ObjectSpec) -> bool:
        return self.presence(spec) != "absent"

    def rows(self, spec: ObjectSpec) -> Iterator[dict]:
        if self._from_folder(spec):
            return self.csv.rows(spec) if self.csv else iter(())
        return self.client.extract(self._object(spec))

    def contract(self, spec: ObjectSpec) -> tuple[str, ...]:
        return _worketc_contract(spec)


def open_source(run: RunConfig) -> Source:
    if run.source == "worketc-csv":
        return WorketcCsvSource(run.input)
    if run.source == "worketc-soap":
        return WorketcSoapSource(run.input)
    raise ValueError(f"source kind {run.source!r} is not supported yet")
