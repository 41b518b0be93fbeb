"""The WORKetc export folder reader (Starter tier CSV; contract: ../shared/formats/worketc-csv.md).

``read_table(folder, "contacts.csv")`` streams one file as dicts::

    {"_file": "contacts.csv", "_row": 7, "EntityID": "200001", "FirstName": "Siân", "Fax": None, ...}

``_row`` is the physical line where the record starts (the header is line 1), so a reject can send
a person straight to the line in a text editor even when quoted cells hold newlines; ``_record`` is
the 1-based number of the data record (blank lines are not records). Empty cells are ``None``.
Header names are trimmed and normalised through an alias table; contract columns missing from the
file are present as ``None`` (and logged); columns outside the contract are kept as they are: they
are custom fields, headed by the custom field's label. A missing or empty (0-byte) optional file
yields nothing.

Encodings: the file's encoding is decided once, over the whole file (``detect_encoding``): UTF-8
when it decodes, else Windows-1252 (what Excel writes for Western exports) unless charset-normalizer is
confident it is something else. Exports are often glued together from several sources, so a row can
still be in the other encoding: UTF-8 text inside a cp1252 file, cp1252 bytes inside a UTF-8 file. Such
a cell is repaired (read in the encoding its bytes are valid in) and the row carries a warning naming
the field; so does a cell whose NUL characters were removed (Dataverse cannot store them). Warnings
ride on the row as ``"_warnings": [{"field", "code", "message", "value"}]``.

A malformed record (wrong number of fields, a stray or unterminated quote, bytes that are not valid
in any encoding tried) is *yielded* with ``"_error"`` naming the problem; it is never raised and
never dropped. A problem with the file as a whole (required file or column missing, no header, a
workbook or a semicolon-separated file where a CSV was expected) raises ``SourceFileError``, an
``InputError``: one line naming the file, what was found and what to do.

Memory stays constant: the file is decoded and parsed as a stream; only one record is held.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import importlib
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Literal

from ...errors import InputError
from ...staging.imports import FolderImport, ImportLocation
from .values import (  # re-exported: callers use csv_export.parse_* / csv_export.FieldError
    DEFAULT_TIMEZONE,
    FieldError,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_email,
    parse_int,
    parse_options,
)

__all__ = [
    "COLUMNS", "REQUIRED_FILES", "REQUIRED_COLUMNS", "REFERENCE_COLUMNS", "MODIFIED_COLUMN", "DEFAULT_ALIASES",
    "SourceFileError", "FieldError", "Presence", "TableInfo", "TableReader", "read_table", "count_rows", "list_tables",
    "check_export", "check_folder", "detect_encoding", "presence",
    "parse_bool", "parse_date", "parse_datetime", "parse_decimal", "parse_email", "parse_int", "parse_options",
    "DEFAULT_TIMEZONE",
]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------- the contract

#: file -> its contract columns, in the contract's order (custom fields follow as extra columns)
COLUMNS: dict[str, tuple[str, ...]] = {
    "companies.csv": ("EntityID", "Name", "Website", "Email", "Phone", "Fax", "Address1", "Address2", "City",
                      "State", "PostCode", "Country", "Industry", "OwnerEmail", "DateCreated", "DateModified"),
    "contacts.csv": ("EntityID", "FirstName", "LastName", "Email", "Phone", "Mobile", "JobTitle", "CompanyID",
                     "Address1", "City", "State", "PostCode", "Country", "LifecycleStage", "OwnerEmail",
                     "DateCreated", "DateModified"),
    "leads.csv": ("EntityID", "FirstName", "LastName", "CompanyName", "Email", "Phone", "Status", "Source", "Score",
                  "Converted", "OwnerEmail", "DateCreated", "DateModified"),
    "deals.csv": ("EntityID", "Name", "CompanyID", "ContactID", "Stage", "Amount", "Currency", "Probability",
                  "CloseDate", "Status", "WinReason", "LossReason", "OwnerEmail", "DateCreated", "DateModified"),
    "projects.csv": ("EntityID", "Name", "CompanyID", "DealID", "ProjectType", "Stage", "ProgressPercent",
                     "StartDate", "EndDate", "Budget", "Status", "OwnerEmail", "DateCreated", "DateModified"),
    "project_stages.csv": ("ProjectType", "Stage", "Order", "WeightPercent"),
    "tickets.csv": ("EntityID", "Subject", "Description", "Status", "Priority", "CompanyID", "ContactID",
                    "OwnerEmail", "DateCreated", "DateModified", "DateClosed"),
    "ticket_messages.csv": ("EntityID", "TicketID", "FromAddress", "ToAddress", "Subject", "Body", "Sent",
                            "Direction"),
    "invoices.csv": ("EntityID", "Number", "CompanyID", "ContactID", "DealID", "Status", "IssueDate", "DueDate",
                     "Currency", "Subtotal", "Tax", "Total", "AmountPaid", "DateCreated", "DateModified"),
    "invoice_lines.csv": ("EntityID", "InvoiceID", "Description", "Quantity", "UnitPrice", "Discount", "Tax",
                          "LineTotal"),
    "users.csv": ("EntityID", "Name", "Email", "Role", "Active"),
    "contractors.csv": ("EntityID", "Name", "Email", "CompanyID", "Phone", "Role"),
    "activities.csv": ("EntityID", "Type", "Subject", "Body", "Start", "End", "DueDate", "Status", "Direction",
                       "RegardingType", "RegardingID", "OwnerEmail", "DateCreated"),
    "documents.csv": ("EntityID", "FileName", "MimeType", "SizeBytes", "Sha256", "RegardingType", "RegardingID",
                      "Path", "DateCreated", "OwnerEmail"),
    "kb_articles.csv": ("EntityID", "Title", "Category", "Body", "Published", "DateCreated", "DateModified"),
    "custom_fields.csv": ("Object", "Label", "Type", "Options"),
    "workflows.csv": ("Name", "Trigger", "Conditions", "Actions", "Active"),
}

#: files every export must have
REQUIRED_FILES: tuple[str, ...] = ("companies.csv", "contacts.csv", "users.csv")

#: columns without which a file cannot be read at all (its key, and a child's parent reference)
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    **{f: ("EntityID",) for f, cols in COLUMNS.items() if "EntityID" in cols},
    "ticket_messages.csv": ("EntityID", "TicketID"),
    "invoice_lines.csv": ("EntityID", "InvoiceID"),
    "project_stages.csv": ("ProjectType", "Stage"),
    "custom_fields.csv": ("Object", "Label", "Type"),
    "workflows.csv": ("Name",),
    "users.csv": ("EntityID", "Email"),
    "documents.csv": ("EntityID", "Path"),
}

#: columns that hold another object's EntityID ("References between files use EntityID")
REFERENCE_COLUMNS: tuple[str, ...] = ("CompanyID", "ContactID", "DealID", "TicketID", "InvoiceID", "RegardingID")

#: when a record was last changed: of two rows with one EntityID, the later one is the record
MODIFIED_COLUMN = "DateModified"

#: header variants seen in (or plausible for) real exports -> contract column. Matching ignores case,
#: spaces, underscores, hyphens and dots, so "Entity ID", "entity_id" and "ENTITYID" are one name.
DEFAULT_ALIASES: dict[str, str] = {
    "Entity ID": "EntityID", "ID": "EntityID", "Record ID": "EntityID",
    "Email Address": "Email", "E-mail": "Email", "Primary Email": "Email",
    "Company ID": "CompanyID", "Customer ID": "CompanyID", "Client ID": "CompanyID",
    "Contact ID": "ContactID", "Deal ID": "DealID", "Opportunity ID": "DealID",
    "Ticket ID": "TicketID", "Invoice ID": "InvoiceID", "Regarding ID": "RegardingID",
    "Regarding Type": "RegardingType",
    "Company Name": "CompanyName", "Company": "CompanyName",
    "First Name": "FirstName", "Given Name": "FirstName", "Last Name": "LastName", "Surname": "LastName",
    "Job Title": "JobTitle", "Title": "JobTitle", "Position": "JobTitle",
    "Phone Number": "Phone", "Telephone": "Phone", "Work Phone": "Phone", "Mobile Phone": "Mobile", "Cell": "Mobile",
    "Address": "Address1", "Address Line 1": "Address1", "Street": "Address1", "Address Line 2": "Address2",
    "Suburb": "City", "Town": "City", "Province": "State", "Region": "State",
    "Postcode": "PostCode", "Post Code": "PostCode", "Zip": "PostCode", "Zip Code": "PostCode",
    "Postal Code": "PostCode",
    "Web Site": "Website", "URL": "Website", "Web": "Website",
    "Owner": "OwnerEmail", "Owner Email": "OwnerEmail", "Assigned To": "OwnerEmail",
    "Owner E-mail": "OwnerEmail", "Assigned To Email": "OwnerEmail",
    "Created": "DateCreated", "Date Created": "DateCreated", "Created Date": "DateCreated",
    "Created On": "DateCreated",
    "Modified": "DateModified", "Date Modified": "DateModified", "Last Modified": "DateModified",
    "Modified Date": "DateModified", "Modified On": "DateModified",
    "Closed": "DateClosed", "Date Closed": "DateClosed",
    "Lifecycle Stage": "LifecycleStage", "Lead Source": "Source", "Lead Status": "Status",
    "Close Date": "CloseDate", "Expected Close Date": "CloseDate", "Win Reason": "WinReason",
    "Loss Reason": "LossReason", "Lost Reason": "LossReason",
    "Project Type": "ProjectType", "Progress": "ProgressPercent", "Progress %": "ProgressPercent",
    "Start Date": "StartDate", "End Date": "EndDate", "Due Date": "DueDate", "Issue Date": "IssueDate",
    "Invoice Number": "Number", "Invoice No": "Number", "Sub Total": "Subtotal", "Amount Paid": "AmountPaid",
    "Unit Price": "UnitPrice", "Line Total": "LineTotal", "Qty": "Quantity",
    "From": "FromAddress", "To": "ToAddress", "Sent Date": "Sent", "Date Sent": "Sent",
    "File Name": "FileName", "Filename": "FileName", "Mime Type": "MimeType", "Content Type": "MimeType",
    "Size": "SizeBytes", "Size (bytes)": "SizeBytes", "SHA256": "Sha256", "SHA-256": "Sha256",
    "Weight": "WeightPercent", "Weight %": "WeightPercent", "Stage Order": "Order",
    "Field Label": "Label", "Field Type": "Type", "Is Active": "Active", "Enabled": "Active",
}

#: read at most this many characters into one cell; a longer cell almost always means a quote that
#: was never closed, and the reader reports it instead of swallowing the rest of the file
MAX_FIELD_CHARS = 16 * 1024 * 1024

_SAMPLE_BYTES = 1 << 20  # what charset-normalizer is shown, at most
_HEAD_BYTES = 1 << 16  # where byte order marks and UTF-16 without one are recognised
_BLOCK = 1 << 18
_LONE_CR = re.compile(rb"(?<=\r)(?!\n)")
_DETECT_BYTES = 8 << 20  # the prefix of a file its encoding is decided from

Presence = Literal["present", "absent", "empty"]


class SourceFileError(InputError):
    """A problem with an export file as a whole: the file cannot be read row by row.

    An ``InputError``: the run stops at once with this one line (retrying does not help)."""

    def __init__(self, file: str, message: str):
        self.file = file
        self.message = message
        super().__init__(f"{file}: {message}")


@dataclass(frozen=True)
class TableInfo:
    file: str
    known: bool  # named in the contract
    required: bool
    present: bool
    path: Path | None
    size_bytes: int | None


# ------------------------------------------------------------------------------------ utilities

def _norm(name: str) -> str:
    return re.sub(r"[\s_\-.]+", "", name).casefold()


def check_folder(folder: str | Path | ImportLocation) -> Path | ImportLocation:
    """The export folder (or upload, ``shared.staging.imports``), or an ``InputError`` saying it is not there."""
    if isinstance(folder, ImportLocation):
        return folder.check()
    path = Path(folder)
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise InputError(f"the WORKetc export folder {str(path)!r} {what}: give the folder that holds companies.csv, "
                         "contacts.csv and users.csv (unzip the export first)")
    return path


def _location(folder: str | Path | ImportLocation) -> ImportLocation:
    """Where the export's files are read through: a folder or an upload (``shared.staging.imports``)."""
    checked = check_folder(folder)
    return checked if isinstance(checked, ImportLocation) else FolderImport(checked)


def _resolve_file(folder: Path, file_name: str) -> Path | None:
    name = FolderImport(folder).find(file_name)
    return folder / name if name is not None else None


#: file signatures of spreadsheets saved where a CSV was expected
_WORKBOOKS = ((b"PK\x03\x04", "an Excel workbook (.xlsx, a ZIP archive)"),
              (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (.xls)"))
_SAVE_AS_CSV = "open it in Excel and save it as 'CSV UTF-8 (Comma delimited) (*.csv)', then rerun"


def _refuse_workbook(location: ImportLocation, file_name: str, stored: str | None) -> None:
    """``SourceFileError`` when the file is a workbook, or is missing while a workbook of its name is there."""
    if stored is not None:
        head = location.head(stored, 8)
        for magic, what in _WORKBOOKS:
            if head.startswith(magic):
                raise SourceFileError(file_name, f"is {what}, not a comma-separated text file: {_SAVE_AS_CSV}")
        return
    stem = Path(file_name).stem.casefold()
    for q in location.names():
        if Path(q).stem.casefold() == stem and Path(q).suffix.lower() in (".xlsx", ".xlsm", ".xls"):
            raise SourceFileError(file_name, f"is missing, but the export folder has the workbook {q}: open "
                                             f"it in Excel and save it as {file_name} (file type 'CSV UTF-8 (Comma "
                                             "delimited) (*.csv)'), then rerun")


def _is_empty(location: ImportLocation, stored: str) -> bool:
    """0 bytes, or nothing but blanks and a byte order mark: no header, no records."""
    if location.size(stored) > 4096:
        return False
    return location.head(stored, 4096).lstrip(codecs.BOM_UTF8).strip() == b""


def presence(folder: str | Path | ImportLocation, file_name: str) -> Presence:
    """``present``, ``absent`` or ``empty`` (0 bytes or blank: an object without rows, not an error
    for an optional file). A workbook in place of the CSV raises ``SourceFileError``."""
    location = _location(folder)
    stored = location.find(file_name)
    _refuse_workbook(location, file_name, stored)
    if stored is None:
        return "absent"
    return "empty" if _is_empty(location, stored) else "present"


# ------------------------------------------------------------------------------------ encodings

_SURROGATE = re.compile("[\udc80-\udcff]")
_NON_ASCII_TEXT = re.compile("[^\x00-\x7f\udc80-\udcff]")  # characters UTF-8 decoded from 2-4 bytes


def _has_surrogate(s: str) -> bool:
    return _SURROGATE.search(s) is not None


@dataclass(frozen=True)
class _Scan:
    """One pass over a file's bytes: what its encoding is decided from, and what the summary shows."""

    size: int
    sha256: str
    head: bytes  # the first bytes
    invalid_utf8: int  # bytes that are not UTF-8
    utf8_chars: int  # characters that UTF-8 decodes from several bytes
    other: bytes  # up to sample_bytes from the first block that is not UTF-8, less its UTF-8 characters


def _scan(f: BinaryIO, sample_bytes: int, limit: int | None = None) -> _Scan:
    """What the encoding is decided from, over the file's first ``limit`` bytes (default
    ``_DETECT_BYTES``): a file of gigabytes in Blob Storage is not read whole for it (a row in the other
    encoding further on is repaired row by row, with a warning, as in a file that is mostly UTF-8)."""
    limit = _DETECT_BYTES if limit is None else limit
    digest, size, invalid, multi = hashlib.sha256(), 0, 0, 0
    head, other = bytearray(), bytearray()
    decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
    while True:
        block = f.read(min(_BLOCK, limit - size)) if size < limit else b""
        # at the limit, a character cut in two is not counted as invalid (final=False)
        text = decoder.decode(block, final=not block and size < limit)
        invalid += len(_SURROGATE.findall(text))
        multi += len(_NON_ASCII_TEXT.findall(text))
        if invalid and len(other) < sample_bytes:
            other += _NON_ASCII_TEXT.sub("", text).encode("utf-8", "surrogateescape")[: sample_bytes - len(other)]
        if not block:
            break
        digest.update(block)
        size += len(block)
        if len(head) < _HEAD_BYTES:
            head += block[: _HEAD_BYTES - len(head)]
    return _Scan(size, digest.hexdigest(), bytes(head), invalid, multi, bytes(other))


def detect_encoding(path: str | Path, sample_bytes: int = _SAMPLE_BYTES) -> tuple[str, str]:
    """(Python codec name, how it was decided) for an export file."""
    with open(path, "rb") as f:
        return _decide(_scan(f, sample_bytes))


def _decide(scan: _Scan) -> tuple[str, str]:
    """UTF-8 (with or without BOM) is the contract and wins whenever the file decodes as UTF-8, or mostly
    does (the odd cp1252 row is repaired row by row). Otherwise Windows-1252, Excel's encoding for
    Western exports, unless charset-normalizer is confident of another one: a file read in the wrong
    single-byte encoding loads as mojibake (``MĂĽller``) with no error anywhere."""
    head = scan.head
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "UTF-8 byte order mark"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "UTF-16 byte order mark"
    if head and head.count(b"\x00") * 4 >= len(head):  # UTF-16/32 without a BOM: ask the detector
        return _detected(head, "not 8-bit text (many NUL bytes)") or ("utf-16", "many NUL bytes; assumed UTF-16")
    if scan.invalid_utf8 == 0:
        return "utf-8", "valid UTF-8"
    if scan.utf8_chars > scan.invalid_utf8:
        return "utf-8", (f"UTF-8, but {scan.invalid_utf8} byte(s) are not: cells holding them are read as cp1252, "
                         "with a warning")
    return _single_byte(scan.other)


def _detected(sample: bytes, why: str) -> tuple[str, str] | None:
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        return None
    # of equivalent readings, the Windows code page (what Excel writes)
    enc = next((c for c in best.could_be_from_charset if c.startswith("cp125")), best.encoding)
    return codecs.lookup(enc).name, f"{why}; charset-normalizer detected {enc} ({best.language})"


def _single_byte(other: bytes) -> tuple[str, str]:
    """cp1252 unless the bytes that are not UTF-8 (``other``) say otherwise."""
    from charset_normalizer import from_bytes

    try:
        as_cp1252 = other.decode("cp1252")
    except UnicodeDecodeError:
        as_cp1252 = None
    matches = list(from_bytes(other))
    agrees = any("cp1252" in (m.encoding, *m.could_be_from_charset) for m in matches)
    if as_cp1252 is not None and (agrees or not matches):
        how = "agrees" if agrees else "found nothing more likely"
        return "cp1252", f"not UTF-8; cp1252 (Windows Western, Excel's encoding), charset-normalizer {how}"
    detected = _detected(other, "not UTF-8")
    if detected is None:
        return "cp1252", "not UTF-8 and charset-normalizer found no match; assumed cp1252"
    enc, why = detected
    if as_cp1252 is not None and _reads_as(other, enc) == as_cp1252:
        return "cp1252", f"{why}, which reads this file as cp1252 does"
    return enc, f"{why}, confident enough to prefer it to cp1252"


def _reads_as(data: bytes, enc: str) -> str | None:
    try:
        return data.decode(enc)
    except (UnicodeDecodeError, LookupError):
        return None


def _repair_fallback(codec: str) -> str | None:
    """The encoding for bytes a cell's own encoding does not explain, or None where no repair is safe.

    A UTF-8 file: cp1252 for the bytes that are not UTF-8. An 8-bit file (cp1252, cp1250, latin-1...):
    its own encoding for the bytes that are not UTF-8, so UTF-8 text pasted into it reads as UTF-8.
    Wider encodings (UTF-16, CJK) are left alone."""
    name = codecs.lookup(codec).name
    if name.startswith("utf-8"):
        return "cp1252"
    if name == "iso8859-1":
        return name
    try:
        module = importlib.import_module(f"encodings.{name.replace('-', '_')}")
    except ImportError:
        return None
    return name if hasattr(module, "decoding_table") else None


def _mixed_decode(raw: bytes, fallback: str) -> str:
    """UTF-8 where the bytes are UTF-8, ``fallback`` where they are not (unknown bytes stay surrogates)."""
    out: list[str] = []
    while raw:
        try:
            out.append(raw.decode("utf-8"))
            break
        except UnicodeDecodeError as e:
            out.append(raw[: e.start].decode("utf-8"))
            out.append(raw[e.start: e.end].decode(fallback, "surrogateescape"))
            raw = raw[e.end:]
    return "".join(out)


# --------------------------------------------------------------------------------------- reader

class TableReader:
    """Iterator over one export file's records (what ``read_table`` returns).

    After construction (the header has been read): ``encoding`` and ``encoding_reason`` say how the
    bytes were decoded, ``columns`` are the normalised header names (in file order), ``renamed`` maps
    original header -> contract name for aliased headers, ``missing_columns`` are contract columns
    absent from the file (yielded as ``None``), ``extra_columns`` are the custom-field columns.
    ``describe()`` is what the extract summary shows of the file (encoding, size, sha256, records).

    Resumable: ``position()`` after a record is where the next one starts (byte offset, physical line,
    records so far); ``TableReader(..., start=position)`` reads on from there, the header read again
    from the file's start. Extraction reads a big file in slices this way (``shared.steps.extract``).
    (Files in UTF-16/32 cannot be cut at a byte offset: they are read in one go.)
    """

    def __init__(self, folder: str | Path | ImportLocation, file_name: str, *, aliases: dict[str, str] | None = None,
                 max_field_chars: int = MAX_FIELD_CHARS, start: dict | None = None):
        self.location = _location(folder)
        self.folder = self.location.folder if isinstance(self.location, FolderImport) else self.location
        self.file = file_name
        self.contract = COLUMNS.get(file_name)
        self.stored = self.location.find(file_name)
        self.path = self.location.path(self.stored) if self.stored and isinstance(self.location, FolderImport) else None
        self.encoding: str | None = None
        self.encoding_reason: str | None = None
        self.columns: list[str] = []
        self.renamed: dict[str, str] = {}
        self.missing_columns: list[str] = []
        self.extra_columns: list[str] = []
        self.max_field_chars = max_field_chars
        self.records = 0
        self.size: int | None = None
        self.sha256: str | None = None
        self.version: str | None = None
        self.resumable = True
        self._repair: str | None = None
        self._utf8 = False
        self._records: Iterator[tuple[int, list[str] | None, str | None]] | None = None
        self._rows: Iterator[dict] = iter(())
        self._fh = None
        self._offset = 0  # bytes of the file consumed by the csv parser so far
        self._line = 0  # physical lines consumed so far
        self._pos = {"offset": 0, "line": 0, "record": 0}
        self._digest = None  # sha256 of the bytes read, while reading from the start
        self._done = False
        _refuse_workbook(self.location, file_name, self.stored)
        required = file_name in REQUIRED_FILES
        if self.stored is None:
            if required:
                raise SourceFileError(file_name, f"required file is missing from the export folder "
                                                 f"{self.location.label!r}: export it from WORKetc into that folder")
            if self.contract is None:
                raise SourceFileError(file_name, f"no such file in the export folder {self.location.label!r}")
            log.info("%s: optional file not in the export; no rows", file_name)
            self._done = True
            return
        if not required and _is_empty(self.location, self.stored):
            log.info("%s: the file is empty; no rows", file_name)
            self._done = True
            return
        self._open(aliases, start)
        self._rows = self._iter_rows()

    def describe(self) -> dict:
        """The file as read: name, encoding (and why), bytes, sha256, and the records read so far.

        The sha256 is of the whole file: hashed while it was read from the start to the end, else (a
        slice, or before the end) streamed once more for it."""
        size = self.size if self.size is not None else (self.location.size(self.stored) if self.stored else None)
        if self.sha256 is None and self.encoding is not None:
            self.sha256 = self.location.sha256(self.stored)
        return {"file": self.file, "encoding": self.encoding, "encoding_reason": self.encoding_reason,
                "bytes": size, "sha256": self.sha256, "rows": self.records}

    def position(self) -> dict:
        """Where the record after the last one read starts: ``{"offset", "line", "record"}`` (see the class),
        with the encoding decided at the start (``"decoded"``): a later slice of the same file version reads on
        without deciding it again from the file's first megabytes."""
        return {**self._pos, "decoded": [self.encoding, self.encoding_reason, self._repair]}

    @property
    def exhausted(self) -> bool:
        """Every record of the file has been read."""
        return self._done

    # -- setup

    def _open(self, aliases: dict[str, str] | None, start: dict | None) -> None:
        self.size, self.version = self.location.size(self.stored), self.location.version(self.stored)
        decoded = (start or {}).get("decoded")
        scan = None
        if decoded and start.get("offset"):  # a later slice (extraction checks it is the same file version)
            self.encoding, self.encoding_reason, self._repair = decoded
        else:
            with self.location.open(self.stored) as f:
                scan = _scan(f, _SAMPLE_BYTES)
            self.encoding, self.encoding_reason = _decide(scan)
        codec = codecs.lookup(self.encoding).name
        self._utf8 = codec.startswith("utf-8")
        if scan is not None:  # the prefix decided the encoding: a UTF-8 file may still hold a cp1252 cell further on
            self._repair = _repair_fallback(self.encoding) if scan.invalid_utf8 or self._utf8 else None
        self.resumable = not codec.startswith(("utf-16", "utf-32"))
        if self.encoding not in ("utf-8", "utf-8-sig"):
            log.warning("%s: decoded as %s (%s)", self.file, self.encoding, self.encoding_reason)
        elif self.encoding_reason != "valid UTF-8" and self.encoding_reason != "UTF-8 byte order mark":
            log.warning("%s: %s", self.file, self.encoding_reason)
        if start is not None and not self.resumable and start.get("offset"):
            raise SourceFileError(self.file, f"is {self.encoding}, which is read in one go: it cannot be resumed at a "
                                             "byte offset; rerun the object's extraction from the start (--fresh)")
        self._fh = self.location.open(self.stored)
        self._records = self._iter_records(self._lines(self._fh, 0, hashing=start is None))
        try:
            header = next(self._records, None)
        except BaseException:
            self.close()
            raise
        if header is None:
            self.close()
            raise SourceFileError(self.file, "the file is empty: no header line; export it again from WORKetc "
                                             "(an object without records still exports its header line)")
        line, fields, error = header
        if error is not None:
            self.close()
            raise SourceFileError(self.file, f"the header line cannot be read: {error}")
        try:
            self._header(fields, aliases)
        except SourceFileError:
            self.close()
            raise
        self._pos = {"offset": self._offset, "line": self._line, "record": 0}
        if start is not None and start.get("offset", 0) > self._pos["offset"]:
            # a later slice: read on from where the last one stopped (the header was read above)
            self.close()
            self._offset, self._line = int(start["offset"]), int(start["line"])
            self.records = int(start["record"])
            self._pos = {"offset": self._offset, "line": self._line, "record": self.records}
            self._fh = self.location.open(self.stored, self._offset)
            self._records = self._iter_records(self._lines(self._fh, self._line, hashing=False))

    def _lines(self, raw: BinaryIO, line: int, *, hashing: bool) -> Iterator[str]:
        """The file's physical lines as text (line ends kept, as csv wants them), counting their bytes, so
        that a record's end is a byte offset; hashing what it reads when it reads from the start."""
        if not self.resumable:  # UTF-16/32: no byte offsets, one pass
            self._digest = hashlib.sha256() if hashing else None
            text = io.TextIOWrapper(raw, encoding=self.encoding, errors="surrogateescape", newline="")
            for piece in text:
                self._line += 1
                yield piece
            if self._digest is not None and self.stored is not None:
                self._digest = None
                self.sha256 = self.location.sha256(self.stored)
            return
        codec = self.encoding
        first_codec = codec
        if codec == "utf-8-sig":
            codec = "utf-8"  # the byte order mark is only at the start
        digest = hashlib.sha256() if hashing else None
        first = self._offset == 0
        # split on b"\n" (safe in UTF-8 and 8-bit encodings: no multi-byte unit holds 0x0A), then at a lone
        # b"\r", as universal newlines do: lines are numbered as a text editor (and newline="") numbers them
        for block in raw:
            if digest is not None:
                digest.update(block)
            cr = block.count(b"\r")
            pieces = (block,) if not cr or (cr == 1 and block.endswith(b"\r\n")) else \
                [p for p in _LONE_CR.split(block) if p]
            for chunk in pieces:
                self._offset += len(chunk)
                self._line += 1
                if first:
                    first = False
                    yield chunk.decode(first_codec, "surrogateescape")
                else:
                    yield chunk.decode(codec, "surrogateescape")
        if digest is not None:
            self.sha256 = digest.hexdigest()

    def _alias_table(self, aliases: dict[str, str] | None) -> dict[str, str]:
        table: dict[str, str] = {}
        contract = self.contract or ()
        for c in contract:
            table[_norm(c)] = c
        for src, dst in DEFAULT_ALIASES.items():
            if (not contract or dst in contract) and _norm(src) not in table:
                table[_norm(src)] = dst
        for src, dst in (aliases or {}).items():  # the mapping file wins; "file.csv:Header" is per file
            if ":" in src and src.split(":", 1)[0].strip().casefold().endswith(".csv"):
                f, src = src.split(":", 1)
                if f.strip().casefold() != self.file.casefold():
                    continue
            table[_norm(src)] = dst
        return table

    def _refuse_other_delimiter(self, fields: list[str]) -> None:
        """A header that splits into more columns on ``;`` (Excel in many locales), a tab or ``|``
        than on commas: the whole file would read as one column, and every record as malformed."""
        raw = ",".join(fields)
        for sep, name in ((";", "semicolon"), ("\t", "tab"), ("|", "pipe")):
            if raw.count(sep) >= len(fields):
                raise SourceFileError(
                    self.file, f"looks {name}-separated (header {raw[:120]!r}); WORKetc exports are comma-separated: "
                               "export it again from WORKetc, or open it in Excel and save it as 'CSV UTF-8 (Comma "
                               "delimited) (*.csv)'")

    def _header(self, fields: list[str], aliases: dict[str, str] | None) -> None:
        self._refuse_other_delimiter(fields)
        notes: list[dict] = []
        names = [f.strip().lstrip("\ufeff").strip() for f in self._clean(list(fields), notes, ["header"] * len(fields))]
        if notes:  # a custom field's label must read as custom_fields.csv spells it
            log.warning("%s: header repaired: %s", self.file, "; ".join(n["message"] for n in notes))
        if _has_surrogate("".join(names)):
            raise SourceFileError(self.file, f"the header has bytes that are not valid {self.encoding}: save the file "
                                             "as 'CSV UTF-8' and export again")
        while names and names[-1] == "":  # trailing commas after the last header
            names.pop()
        if not names:
            raise SourceFileError(self.file, "the header line is empty")
        for i, n in enumerate(names):
            if n == "":
                raise SourceFileError(self.file, f"header column {i + 1} has no name")
        table = self._alias_table(aliases)
        out: list[str] = []
        seen: dict[str, str] = {}
        for n in names:
            target = table.get(_norm(n), n)
            if target in seen:
                raise SourceFileError(
                    self.file, f"header columns {seen[target]!r} and {n!r} are both the column {target!r}")
            seen[target] = n
            if target != n:
                self.renamed[n] = target
            out.append(target)
        self.columns = out
        contract = self.contract or ()
        for col in REQUIRED_COLUMNS.get(self.file, ()):
            if col not in seen:
                raise SourceFileError(self.file, f"required column {col!r} is missing (header: {names})")
        self.missing_columns = [c for c in contract if c not in seen]
        self.extra_columns = [c for c in out if c not in contract] if contract else []
        if self.missing_columns:
            log.warning("%s: contract columns missing from the file (read as empty): %s",
                        self.file, ", ".join(self.missing_columns))

    # -- reading

    def _iter_records(self, fh) -> Iterator[tuple[int, list[str] | None, str | None]]:
        """(start line, fields, error) per record; blank lines are skipped."""
        reader = csv.reader(fh, strict=True)
        limit = self.max_field_chars
        last = self._line  # physical lines before this stream (a resumed slice starts past the header)
        while True:
            start = last + 1
            try:
                # the limit is module-wide in the csv module: set ours before every record, so readers
                # with different limits can interleave
                csv.field_size_limit(limit)
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                end = self._line
                msg = str(e)
                if "unexpected end of data" in msg:
                    msg = (f"unterminated quoted field: a quote in the record starting on line {start} is never "
                           f"closed, so lines {start}-{end} (the end of the file) were read as one record")
                elif "field larger than field limit" in msg:
                    msg = (f"a field runs past {self.max_field_chars} characters (lines {start}-{end}): "
                           f"probably a quote that is never closed; those lines were not read as records")
                elif "expected after" in msg:
                    msg = f"malformed quoting: {msg} (a quote inside a quoted field must be doubled)"
                else:
                    msg = f"malformed CSV: {msg}"
                last = max(end, start)
                yield start, None, msg
                continue
            end = self._line
            # blank lines (and leading blank lines) are not records
            if not fields:
                last = end
                continue
            last = end
            yield start, fields, None

    def _iter_rows(self) -> Iterator[dict]:
        file = self.file
        columns = self.columns
        n = len(columns)
        missing = self.missing_columns
        key = "EntityID" if "EntityID" in columns else None
        key_pos = columns.index(key) if key else -1
        try:
            for line, fields, error in self._records:
                self.records += 1
                self._pos = {"offset": self._offset, "line": self._line, "record": self.records}
                notes: list[dict] = []
                if error is None:
                    if len(fields) != n:
                        if len(fields) > n and not any(fields[n:]):
                            fields = fields[:n]  # trailing empty cells (a trailing comma): harmless
                        else:
                            error = f"expected {n} fields as in the header, found {len(fields)}"
                    if error is None:
                        joined = "\x1f".join(fields)
                        if self._unclean(joined):
                            joined = "\x1f".join(self._clean(fields, notes))
                        if _SURROGATE.search(joined):
                            bad = [c for c, v in zip(columns, fields) if _SURROGATE.search(v)]
                            sample = next(v for v in fields if _SURROGATE.search(v))
                            bytes_ = sample.encode(self.encoding.replace("-sig", ""), "surrogateescape")
                            error = (f"bytes that are not valid {self.encoding} in column(s) "
                                     f"{', '.join(repr(c) for c in bad)}: {bytes_[:80]!r}")
                row = {"_file": file, "_row": line, "_record": self.records}
                if notes:
                    row["_warnings"] = notes
                if error is not None:
                    row["_error"] = error
                    if fields is not None and key and len(fields) > key_pos and fields[key_pos]:
                        row[key] = fields[key_pos]
                    yield row
                    continue
                for c, v in zip(columns, fields):
                    row[c] = v if v != "" else None
                for c in missing:
                    row[c] = None
                yield row
            self._done = True
        finally:
            self.close()

    def _unclean(self, joined: str) -> bool:
        """Whether :meth:`_clean` would change a cell of a row (its cells joined): a NUL, or a non-ASCII cell
        to repair (in a UTF-8 file only where its bytes were not UTF-8). One look at the row instead of one
        per cell: half the rows of a German or French export are not ASCII."""
        if "\x00" in joined:
            return True
        return bool(self._repair) and not joined.isascii() and (not self._utf8 or _has_surrogate(joined))

    def _clean(self, fields: list[str], notes: list[dict], columns: list[str] | None = None) -> list[str]:
        """Repair cells in the other encoding and remove NUL characters, in place; a note per cell."""
        codec = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        for i, (column, value) in enumerate(zip(columns or self.columns, fields)):
            # a UTF-8 file's cell needs a repair only where its bytes are not UTF-8 (surrogates)
            if self._repair and not value.isascii() and (not self._utf8 or _has_surrogate(value)):
                raw = value.encode(codec, "surrogateescape")
                fixed = _mixed_decode(raw, self._repair)
                if fixed != value and not _has_surrogate(fixed):
                    how = (f"bytes that are not UTF-8 ({raw[:60]!r}), read as {self._repair}" if _has_surrogate(value)
                           else f"UTF-8 text in a file read as {self.encoding} (it read {value[:80]!r})")
                    notes.append({"field": column, "code": "encoding_repaired", "value": fixed,
                                  "message": f"{column} held {how}; loaded as {fixed[:80]!r}: check the value"})
                    value = fixed
            if "\x00" in value:
                notes.append({"field": column, "code": "nul_removed", "value": value.replace("\x00", ""),
                              "message": f"{column} held {value.count(chr(0))} NUL character(s), which Dataverse "
                                         "cannot store; they were removed"})
                value = value.replace("\x00", "")
            fields[i] = value
        return fields

    def __iter__(self) -> "TableReader":
        return self

    def __next__(self) -> dict:
        return next(self._rows)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "TableReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_table(folder: str | Path | ImportLocation, file_name: str, *, aliases: dict[str, str] | None = None,
               start: dict | None = None) -> TableReader:
    """Stream one export file as ``{"_file", "_row", <column>: str | None}`` dicts (see module doc).

    A missing optional contract file yields nothing; a missing required file, a missing required
    column or an empty header raises ``SourceFileError`` (when called, before the first row).
    """
    return TableReader(folder, file_name, aliases=aliases, start=start)


def count_rows(folder: str | Path, file_name: str, *, aliases: dict[str, str] | None = None) -> int:
    """How many records ``read_table`` yields for the file (malformed ones included)."""
    reader = TableReader(folder, file_name, aliases=aliases)
    if reader._records is None:
        return 0
    try:
        return sum(1 for _ in reader._records)
    finally:
        reader.close()


def list_tables(folder: str | Path) -> list[TableInfo]:
    """Every contract file (present or not) and every other ``.csv`` in the folder, contract order first."""
    folder = check_folder(folder)
    out: list[TableInfo] = []
    seen: set[str] = set()
    for name in COLUMNS:
        p = _resolve_file(folder, name)
        if p is not None:
            seen.add(p.name)
        out.append(TableInfo(name, True, name in REQUIRED_FILES, p is not None, p,
                             p.stat().st_size if p is not None else None))
    for p in sorted(folder.iterdir()):
        if p.is_file() and p.suffix.lower() == ".csv" and p.name not in seen:
            out.append(TableInfo(p.name, False, False, True, p, p.stat().st_size))
    return out


def check_export(folder: str | Path) -> list[TableInfo]:
    """``list_tables``, raising ``SourceFileError`` for the first missing required file."""
    tables = list_tables(folder)
    for t in tables:
        if t.required and not t.present:
            raise SourceFileError(t.file, f"required file is missing from the export folder {str(folder)!r}: "
                                          "export it from WORKetc into that folder")
    return tables
