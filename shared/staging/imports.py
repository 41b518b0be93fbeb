"""Where an export-based run reads its export: a local folder, or ``imports/<name>`` in Blob Storage.

A run's ``input`` for an export source (``worketc-csv``) is either

- an absolute folder (the CLI, or a folder mounted into the Function App): :class:`FolderImport`;
- ``imports/<name>``: the blobs under ``<name>/`` in the container ``imports`` of the run's *staging
  account* (the account ``run.staging`` names), where the operator uploaded the export with
  ``az storage blob upload-batch -d imports -s ./export --destination-path <name>``:
  :class:`BlobImport`. The account is reached as staging is (the managed identity in Azure, a
  connection string with Azurite), so an import carries no credential and the request picks only a name.

Both answer the same few questions, so the readers (``csv_export``, the documents' binaries) have one
code path: which files are directly in it (``names``), a file's ``size`` and ``version`` (mtime or ETag:
a file that changes between the slices of one extraction is an error), its first bytes (``head``), and
a *streamed* read from any byte offset (``open``): a blob is fetched 1 MiB range at a time
(``download_blob(offset=...).chunks()``), never whole into memory. ``sha256`` streams a whole file.
``open_file`` opens a file below the import (``files/<Path>`` of a document) and refuses a path that
leaves it.
"""

from __future__ import annotations

import abc
import hashlib
import io
import os
import re
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from ..errors import InputError, SettingsError

#: the container of the staging account that holds uploaded exports (infra/main.bicep ``importsContainer``)
IMPORTS_CONTAINER = "imports"
#: ``imports/<name>[/<more>]``: letters, digits, ``.``, ``_``, ``-`` per segment; no ``..``
IMPORT_INPUT = re.compile(r"^imports(/[A-Za-z0-9][A-Za-z0-9._-]{0,99}){1,4}$")
_BLOCK = 1 << 18


def is_import(value: str) -> bool:
    """``value`` names an upload in the staging account's ``imports`` container (``imports/<name>``)."""
    return bool(IMPORT_INPUT.match(value)) and ".." not in value.split("/")


def import_name(value: str) -> str:
    """``imports/<name>`` as a run may carry it; ValueError naming the rule otherwise."""
    value = value.strip().strip("/")
    if not is_import(value):
        raise ValueError("must be imports/<name> (the --destination-path of az storage blob upload-batch -d imports; "
                         "letters, digits, '.', '_' and '-')")
    return value


class ImportLocation(abc.ABC):
    """An export: files directly in it, read as streams (see the module docstring)."""

    #: how messages name it: the folder, or ``imports/<name>``
    label: str

    @abc.abstractmethod
    def exists(self) -> bool: ...

    @abc.abstractmethod
    def names(self) -> list[str]:
        """The files directly in the export (not in its subfolders), sorted."""

    @abc.abstractmethod
    def size(self, name: str) -> int: ...

    @abc.abstractmethod
    def version(self, name: str) -> str:
        """Changes when the file's content changes (mtime and size; a blob's ETag)."""

    @abc.abstractmethod
    def open(self, name: str, offset: int = 0) -> BinaryIO:
        """The file's bytes from ``offset`` on, streamed; the caller closes it."""

    @abc.abstractmethod
    def open_file(self, relative: str) -> BinaryIO:
        """A seekable stream of a file below the export (``files/company/a.pdf``); FileNotFoundError if it is
        not there, ValueError if the path leaves the export."""

    def find(self, name: str) -> str | None:
        """The file's name as stored (real exports may say ``Contacts.csv``), or None."""
        names = self.names()
        if name in names:
            return name
        want = name.casefold()
        return next((n for n in names if n.casefold() == want), None)

    def head(self, name: str, n: int) -> bytes:
        with self.open(name) as f:
            return f.read(n)

    def sha256(self, name: str) -> str:
        digest = hashlib.sha256()
        with self.open(name) as f:
            while block := f.read(_BLOCK):
                digest.update(block)
        return digest.hexdigest()

    def check(self) -> "ImportLocation":
        """This export, or an ``InputError`` saying it is not there."""
        if not self.exists():
            raise InputError(self._missing())
        return self

    def _missing(self) -> str:
        return (f"the WORKetc export {self.label!r} does not exist: give the folder that holds companies.csv, "
                "contacts.csv and users.csv (unzip the export first)")

    def __str__(self) -> str:
        return self.label


def _relative_parts(relative: str) -> list[str]:
    parts = [p for p in PurePosixPath(relative.replace("\\", "/").lstrip("/")).parts if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ValueError(f"{relative!r} leaves the export's folder")
    return parts


class FolderImport(ImportLocation):
    """An export folder on this machine (or mounted into the app)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.label = str(self.folder)

    def exists(self) -> bool:
        return self.folder.is_dir()

    def _missing(self) -> str:
        what = "is a file, not a folder" if self.folder.exists() else "does not exist"
        return (f"the WORKetc export folder {self.label!r} {what}: give the folder that holds companies.csv, "
                "contacts.csv and users.csv (unzip the export first)")

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.is_file())

    def find(self, name: str) -> str | None:
        if (self.folder / name).is_file():
            return name
        return super().find(name)

    def path(self, name: str) -> Path:
        return self.folder / name

    def size(self, name: str) -> int:
        return (self.folder / name).stat().st_size

    def version(self, name: str) -> str:
        st = (self.folder / name).stat()
        return f"{st.st_mtime_ns}:{st.st_size}"

    def open(self, name: str, offset: int = 0) -> BinaryIO:
        f = open(self.folder / name, "rb")
        if offset:
            f.seek(offset)
        return f

    def open_file(self, relative: str) -> BinaryIO:
        root = self.folder.resolve()
        path = (root / "/".join(_relative_parts(relative))).resolve()
        if root != path and root not in path.parents:  # a symbolic link out of the export
            raise ValueError(f"{relative!r} leaves the export's folder")
        return open(path, "rb")


class BlobImport(ImportLocation):
    """An export uploaded to ``imports/<name>/`` in the staging account (streamed reads, 1 MiB ranges)."""

    def __init__(self, container: Any, prefix: str, label: str) -> None:
        self.container = container  # azure.storage.blob.ContainerClient
        self.prefix = prefix.strip("/") + "/"
        self.label = label
        self._props: dict[str, Any] | None = None

    def _listing(self) -> dict[str, Any]:
        """name -> blob properties, of the blobs directly under the prefix (listed once per instance)."""
        if self._props is None:
            from azure.core.exceptions import ResourceNotFoundError

            props: dict[str, Any] = {}
            try:
                for item in self.container.walk_blobs(name_starts_with=self.prefix, delimiter="/"):
                    name = item.name[len(self.prefix):]
                    if name and "/" not in name and hasattr(item, "size"):
                        props[name] = item
            except ResourceNotFoundError:  # no imports container at all
                pass
            self._props = props
        return self._props

    def exists(self) -> bool:
        return bool(self._listing())

    def _missing(self) -> str:
        return (f"the WORKetc export {self.label!r} is not in the staging account: upload it first (az storage blob "
                f"upload-batch -d {IMPORTS_CONTAINER} -s ./export --destination-path "
                f"{self.prefix.rstrip('/')}), or check the name")

    def names(self) -> list[str]:
        return sorted(self._listing())

    def _blob_name(self, name: str) -> str:
        return self.prefix + name

    def _prop(self, name: str) -> Any:
        props = self._listing().get(name)
        if props is None:
            raise FileNotFoundError(f"{self.label}/{name}")
        return props

    def size(self, name: str) -> int:
        return int(self._prop(name).size)

    def version(self, name: str) -> str:
        return str(self._prop(name).etag)

    def open(self, name: str, offset: int = 0) -> BinaryIO:
        from azure.core import MatchConditions

        from .blob import _ChunkReader

        props = self._prop(name)
        if offset >= int(props.size):  # a ranged GET past the end is a 416
            return io.BytesIO(b"")  # type: ignore[return-value]
        # if-match on the ETag listed: a blob replaced while a run reads it fails instead of mixing versions
        downloader = self.container.get_blob_client(self._blob_name(name)).download_blob(
            offset=offset or None, max_concurrency=1, etag=props.etag, match_condition=MatchConditions.IfNotModified)
        return io.BufferedReader(_ChunkReader(downloader.chunks()), buffer_size=256 * 1024)  # type: ignore[return-value]

    def open_file(self, relative: str) -> BinaryIO:
        """Downloaded to an unlinked temporary file: seekable for upload sessions, constant memory."""
        from azure.core.exceptions import ResourceNotFoundError

        blob = self.container.get_blob_client(self._blob_name("/".join(_relative_parts(relative))))
        out = tempfile.TemporaryFile(prefix="import-")
        try:
            blob.download_blob(max_concurrency=1).readinto(out)
        except ResourceNotFoundError:
            out.close()
            raise FileNotFoundError(f"{self.label}/{relative}") from None
        except BaseException:
            out.close()
            raise
        out.seek(0)
        return out  # type: ignore[return-value]


def open_import(value: str | os.PathLike[str] | ImportLocation, staging: str | None = None) -> ImportLocation:
    """The export ``value`` names: ``imports/<name>`` in the account ``staging`` names, else a folder."""
    if isinstance(value, ImportLocation):
        return value
    text = os.fspath(value)
    if not is_import(text.strip().strip("/")):
        return FolderImport(text)
    name = import_name(text)
    if not staging:
        raise SettingsError(f"input {name} reads an upload from the staging account, but this run has no staging "
                            "setting: give the export folder instead")
    from .location import open_staging

    st = open_staging(staging, container=IMPORTS_CONTAINER, create=False)
    container = getattr(st, "container", None)
    if container is None:
        raise SettingsError(f"input {name} reads an upload from the staging account's {IMPORTS_CONTAINER} container, "
                            f"but staging ({staging}) is a folder: give the export folder instead, or stage in Blob "
                            "Storage")
    return BlobImport(container, name.split("/", 1)[1], name)


def copy_to(location: ImportLocation, name: str, dest: BinaryIO) -> int:
    """Stream one file of the export into ``dest``; the bytes copied."""
    with location.open(name) as f:
        before = dest.tell() if dest.seekable() else 0
        shutil.copyfileobj(f, dest, _BLOCK)
        return (dest.tell() - before) if dest.seekable() else 0


__all__ = ["IMPORTS_CONTAINER", "ImportLocation", "FolderImport", "BlobImport", "is_import", "import_name",
           "open_import", "copy_to"]
