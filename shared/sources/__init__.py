"""Source systems. Every source yields plain dicts with the source's own field names.

``open_source(run)`` picks the reader for the run's source kind; everything after extraction is
one code path whatever the source (CSV export, SOAP API, ...). A source says, per object, whether it
is ``present``, ``absent`` or ``empty`` (``presence``); which fields hold ids of other objects
(``reference_fields``: extraction normalises them like keys, see ``ids``); which field says when a
record last changed (``modified_field``: of two rows with one key, extraction keeps the later); and
whether ``rows`` can be read twice with the same result (``replayable``: extraction reads a
replayable source twice instead of spooling it). A source whose API filters by modification date says so
per object (``supports_modified_since``) and takes ``modified_since`` in ``rows_from``: a delta pass reads
only what changed (``shared/steps/delta.py``).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Iterator, Protocol

from ..errors import SettingsError
from .rows import Resumable

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

    def __init__(self, folder: str, staging: str | None = None):
        from ..staging.imports import open_import
        from .worketc.csv_export import MODIFIED_COLUMN, REFERENCE_COLUMNS, check_folder

        # a folder, or an upload imports/<name> in the staging account (shared/staging/imports.py)
        location = open_import(folder, staging)
        self.folder = check_folder(location.folder if hasattr(location, "folder") else location)
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

    def rows_from(self, spec: ObjectSpec, start: dict | None) -> Iterator[dict]:
        """The rows from ``start`` (a ``position()`` of an earlier reader; None: the first), resumable:
        the reader's ``position()`` and ``exhausted`` say where to go on (extraction slices)."""
        from .worketc.csv_export import read_table

        return read_table(self.folder, spec.file, start=start)

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

    def rows_from(self, spec: ObjectSpec, start: dict | None, *, modified_since: datetime | None = None
                  ) -> Iterator[dict]:
        """The records from ordinal ``start["record"]`` on (extraction slices): a paged operation is asked
        for the page that holds it (``skip``), so a later slice does not page through the earlier ones.
        ``modified_since`` (a delta pass, where :meth:`supports_modified_since`): only the records modified
        at or after it, the ordinals counting those."""
        if self._from_folder(spec):
            return self.csv.rows_from(spec, start) if self.csv else _SoapFrom(iter(()), 0)
        return _soap_from(self.client, self._object(spec), int((start or {}).get("record", 0)),
                            modified_since=modified_since)

    def supports_modified_since(self, spec: ObjectSpec) -> bool:
        """Whether the object's operation takes the tenant's modified-date filter (not a CSV the administrator
        lists, not an operation without it: those are read whole and compared by content hash)."""
        return not self._from_folder(spec) and self.client.supports_modified_since(self._object(spec))

    def contract(self, spec: ObjectSpec) -> tuple[str, ...]:
        return _worketc_contract(spec)


def _soap_from(client, object_name: str, start: int, *, modified_since: datetime | None = None) -> Resumable:
    """SOAP records from ordinal ``start`` on: paged operations start at that page, others are read again
    and the first ``start`` skipped."""
    from .worketc.soap import WorketcError, _as_datetime, _items, _text, _values

    spec = client.spec(object_name)
    known = client.operation_inputs().get(spec.operation, [])
    paged = bool(spec.skip_arg and spec.top_arg and spec.skip_arg in known and spec.top_arg in known)
    if not start or not paged or spec.fan_out or spec.shape != "record":
        return Resumable.skipping(client.extract(object_name, modified_since=modified_since), {"record": start})

    def pages() -> Iterator[dict]:  # as WorketcSoapClient._pages, from skip = start
        base = {k: v for k, v in spec.args.items() if k in known}
        if modified_since is not None and spec.modified_arg in known:  # as WorketcSoapClient.extract
            base[spec.modified_arg] = _as_datetime(modified_since, client.settings.tenant_timezone)
        skip, previous, longest, ordinal = start, None, 0, start
        while True:
            items = _items(client.call(spec.operation, **{**base, spec.skip_arg: skip,
                                                          spec.top_arg: client.settings.page_size}))
            if not items:
                return
            first = _text(_values(items[0]).get("EntityID"))
            if previous is not None and first is not None and first == previous:
                raise WorketcError(f"{spec.operation} ignores {spec.skip_arg!r}: the same page came back")
            for item in items:
                for row in client._rows(spec, item):
                    ordinal += 1
                    row["_row"], row["_record"] = ordinal + 1, ordinal
                    yield row
            if len(items) < longest:
                return
            longest, skip, previous = max(longest, len(items)), skip + len(items), first

    return Resumable(pages(), start)


def open_source(run: RunConfig) -> Source:
    if run.source == "worketc-csv":
        return WorketcCsvSource(run.input, run.staging)
    if run.source == "worketc-soap":
        return WorketcSoapSource(run.input)
    if run.source == "work4all-export":  # the vendor export / Excel templates (shared/sources/work4all/export.py)
        from .work4all.export import Work4allExportSource

        return Work4allExportSource(run.input, run.staging)
    if run.source == "work4all-graphql":  # a cloud tenant's API; --input is the mandant (graphql.py)
        from .work4all.graphql import Work4allGraphqlSource

        return Work4allGraphqlSource(run.input, timezone=run.timezone)
    raise ValueError(f"source kind {run.source!r} is not supported yet")
