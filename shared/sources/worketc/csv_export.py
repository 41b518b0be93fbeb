"""The WORKetc export folder reader (Starter tier CSV; contract: ../shared/formats/worketc-csv.md).

``read_table(folder, "contacts.csv")`` streams one file as dicts::

    {"_file": "contacts.csv", "_row": 7, "EntityID": "200001", "FirstName": "Siân", "Fax": None, ...}

``_row`` is the physical line where the record starts (the header is line 1), so a reject can send
a person straight to the line in a text editor even when quoted cells hold newlines. Empty cells are
``None``. Header names are trimmed and normalised through an alias table; contract columns missing
from the file are present as ``None`` (and logged); columns outside the contract are kept as they
are: they are custom fields, headed by the custom field's label.

A malformed record (wrong number of fields, a stray or unterminated quote, bytes that are not valid
in the file's encoding) is *yielded* with ``"_error"`` naming the problem; it is never raised and
never dropped. A problem with the file as a whole (required file or column missing, no header)
raises ``SourceFileError``.

Memory stays constant: the file is decoded and parsed as a stream; only one record is held.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

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
    "COLUMNS", "REQUIRED_FILES", "REQUIRED_COLUMNS", "DEFAULT_ALIASES", "SourceFileError", "FieldError",
    "TableInfo", "TableReader", "read_table", "count_rows", "list_tables", "check_export", "detect_encoding",
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

_SAMPLE_BYTES = 1 << 20


class SourceFileError(Exception):
    """A problem with an export file as a whole: the file cannot be read row by row."""

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


def _resolve_file(folder: Path, file_name: str) -> Path | None:
    p = folder / file_name
    if p.is_file():
        return p
    if folder.is_dir():  # real exports may say Contacts.csv
        want = file_name.casefold()
        for q in sorted(folder.iterdir()):
            if q.name.casefold() == want and q.is_file():
                return q
    return None


def detect_encoding(path: str | Path, sample_bytes: int = _SAMPLE_BYTES) -> tuple[str, str]:
    """(Python codec name, how it was decided) for an export file, from a sample of its start.

    UTF-8 (with or without BOM) is the contract. A sample that is mostly valid UTF-8 stays UTF-8 (a
    few bad bytes become row errors); otherwise charset-normalizer decides (e.g. cp1252 from Excel).
    """
    with open(path, "rb") as f:
        sample = f.read(sample_bytes)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", "UTF-8 byte order mark"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "UTF-16 byte order mark"
    if sample.count(b"\x00") * 4 < len(sample):  # text, not UTF-16/32 without a BOM
        text = codecs.getincrementaldecoder("utf-8")("surrogateescape").decode(sample, final=False)
        bad = sum(1 for c in text if "\udc80" <= c <= "\udcff")
        if bad == 0:
            return "utf-8", "valid UTF-8"
        good = sum(1 for c in text if "\x80" <= c and not "\udc80" <= c <= "\udcff")
        if good > bad:
            return "utf-8", f"UTF-8 with {bad} invalid byte(s) in the first {len(sample)} bytes"
    from charset_normalizer import from_bytes

    best = from_bytes(sample).best()
    if best is None:
        return "cp1252", "not UTF-8 and charset-normalizer found no match; assumed cp1252"
    enc = codecs.lookup(best.encoding).name
    if enc != "cp1252" and _same_as_cp1252(sample, enc):
        return "cp1252", f"not UTF-8; charset-normalizer detected {best.encoding}, which reads this file as cp1252 does"
    return enc, f"not UTF-8; charset-normalizer detected {best.encoding}"


def _same_as_cp1252(sample: bytes, enc: str) -> bool:
    """Windows-1252 is what Excel writes in Australia; prefer it when the detected codec reads the same."""
    try:
        return sample.decode("cp1252") == sample.decode(enc)
    except (UnicodeDecodeError, LookupError):
        return False


_SURROGATE = re.compile("[\udc80-\udcff]")


def _has_surrogate(s: str) -> bool:
    return _SURROGATE.search(s) is not None


# --------------------------------------------------------------------------------------- reader

class TableReader:
    """Iterator over one export file's records (what ``read_table`` returns).

    After construction (the header has been read): ``encoding`` and ``encoding_reason`` say how the
    bytes were decoded, ``columns`` are the normalised header names (in file order), ``renamed`` maps
    original header -> contract name for aliased headers, ``missing_columns`` are contract columns
    absent from the file (yielded as ``None``), ``extra_columns`` are the custom-field columns.
    """

    def __init__(self, folder: str | Path, file_name: str, *, aliases: dict[str, str] | None = None,
                 max_field_chars: int = MAX_FIELD_CHARS):
        self.folder = Path(folder)
        self.file = file_name
        self.contract = COLUMNS.get(file_name)
        self.path = _resolve_file(self.folder, file_name)
        self.encoding: str | None = None
        self.encoding_reason: str | None = None
        self.columns: list[str] = []
        self.renamed: dict[str, str] = {}
        self.missing_columns: list[str] = []
        self.extra_columns: list[str] = []
        self.max_field_chars = max_field_chars
        self._records: Iterator[tuple[int, list[str] | None, str | None]] | None = None
        self._rows: Iterator[dict] = iter(())
        self._fh = None
        if self.path is None:
            if file_name in REQUIRED_FILES:
                raise SourceFileError(file_name, f"required file is missing from the export folder {str(self.folder)!r}")
            if self.contract is None:
                raise SourceFileError(file_name, f"no such file in the export folder {str(self.folder)!r}")
            log.info("%s: optional file not in the export; no rows", file_name)
            return
        self._open(aliases)
        self._rows = self._iter_rows()

    # -- setup

    def _open(self, aliases: dict[str, str] | None) -> None:
        self.encoding, self.encoding_reason = detect_encoding(self.path)
        if self.encoding not in ("utf-8", "utf-8-sig"):
            log.warning("%s: decoded as %s (%s)", self.file, self.encoding, self.encoding_reason)
        elif self.encoding_reason != "valid UTF-8" and self.encoding_reason != "UTF-8 byte order mark":
            log.warning("%s: %s", self.file, self.encoding_reason)
        raw = open(self.path, "rb")
        self._fh = io.TextIOWrapper(raw, encoding=self.encoding, errors="surrogateescape", newline="")
        self._records = self._iter_records(self._fh)
        try:
            header = next(self._records, None)
        except BaseException:
            self.close()
            raise
        if header is None:
            self.close()
            raise SourceFileError(self.file, "the file is empty: no header line")
        line, fields, error = header
        if error is not None:
            self.close()
            raise SourceFileError(self.file, f"the header line cannot be read: {error}")
        try:
            self._header(fields, aliases)
        except SourceFileError:
            self.close()
            raise

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

    def _header(self, fields: list[str], aliases: dict[str, str] | None) -> None:
        names = [f.strip().lstrip("\ufeff").strip() for f in fields]
        if _has_surrogate("".join(names)):
            raise SourceFileError(self.file, f"the header has bytes that are not valid {self.encoding}")
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
        last = 0
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
                end = reader.line_num
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
            end = reader.line_num
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
                if error is None:
                    if len(fields) != n:
                        if len(fields) > n and not any(fields[n:]):
                            fields = fields[:n]  # trailing empty cells (a trailing comma): harmless
                        else:
                            error = f"expected {n} fields as in the header, found {len(fields)}"
                    if error is None:
                        joined = "\x1f".join(fields)
                        if _SURROGATE.search(joined):
                            bad = [c for c, v in zip(columns, fields) if _SURROGATE.search(v)]
                            sample = next(v for v in fields if _SURROGATE.search(v))
                            bytes_ = sample.encode(self.encoding.replace("-sig", ""), "surrogateescape")
                            error = (f"bytes that are not valid {self.encoding} in column(s) "
                                     f"{', '.join(repr(c) for c in bad)}: {bytes_[:80]!r}")
                if error is not None:
                    row = {"_file": file, "_row": line, "_error": error}
                    if fields is not None and key and len(fields) > key_pos and fields[key_pos]:
                        row[key] = fields[key_pos]
                    yield row
                    continue
                row = {"_file": file, "_row": line}
                for c, v in zip(columns, fields):
                    row[c] = v if v != "" else None
                for c in missing:
                    row[c] = None
                yield row
        finally:
            self.close()

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


def read_table(folder: str | Path, file_name: str, *, aliases: dict[str, str] | None = None) -> TableReader:
    """Stream one export file as ``{"_file", "_row", <column>: str | None}`` dicts (see module doc).

    A missing optional contract file yields nothing; a missing required file, a missing required
    column or an empty header raises ``SourceFileError`` (when called, before the first row).
    """
    return TableReader(folder, file_name, aliases=aliases)


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
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceFileError(str(folder), "the export folder does not exist")
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
            raise SourceFileError(t.file, f"required file is missing from the export folder {str(folder)!r}")
    return tables
