"""The work4all export folder reader (vendor export or Excel templates; contract:
../shared/formats/work4all-export.md).

Each table comes as ``Name.csv``, ``Name.xlsx`` (first sheet) or a sheet ``Name`` of one workbook
(``locate``). ``read_table(folder, "Kunden")`` streams it as dicts keyed by the export's German column
names, values still strings as the export spells them (``values.parse_*`` read them); see
``TableReader``. A table the export lacks (a Light licence cannot export every table) is ``absent``
(``presence``), not an error, unless it is required (``REQUIRED_TABLES``).

CSV: semicolons (a comma- or tab-separated file is recognised by its header), CRLF or LF, ``"`` quoting
(quoted cells may hold semicolons and line breaks). The encoding is decided per file, never assumed:
UTF-8 with or without a byte order mark, else Windows-1252 unless charset-normalizer is confident of
another (``shared.sources.worketc.csv_export``'s detection, the same for both sources); a cell in the
other encoding is repaired with a warning on its row, NUL characters are removed with one. Excel
(``.xlsx``/``.xlsm``): the sheet's XML is streamed and each row dropped once read (``_XlsxRows``); the
shared-strings table, where Excel writes each distinct text once, is held in memory.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO, Iterator, Literal

from ...errors import InputError
from ...staging.imports import FolderImport, ImportLocation
from ..worketc import csv_export as _csv
from ..worketc.csv_export import SourceFileError

__all__ = ["COLUMNS", "REQUIRED_TABLES", "REQUIRED_COLUMNS", "REFERENCE_COLUMNS", "MODIFIED_COLUMN",
           "DEFAULT_ALIASES", "Location", "TableInfo", "TableReader", "SourceFileError", "Presence", "check_folder",
           "locate", "presence", "list_tables", "read_table", "count_rows", "sheet_names", "Work4allExportSource"]

log = logging.getLogger(__name__)

#: table -> its contract columns, in the contract's order (custom fields follow as extra columns)
_PARTY = ("Code", "Nummer", "Name", "Firma2", "Strasse", "PLZ", "Ort", "Land", "Telefon", "Telefon2", "Telefax",
          "EMail", "Internet", "Privatkunde", "Gesperrt", "Zahlungsfrist", "Gruppe", "Notiz", "Erstkontakt",
          "Vertreter", "AngelegtAm", "GeaendertAm")
COLUMNS: dict[str, tuple[str, ...]] = {
    "Mitarbeiter": ("Code", "Kuerzel", "Vorname", "Name", "EMail", "Aktiv"),
    "Kunden": _PARTY,
    "Lieferanten": _PARTY,
    "Ansprechpartner": ("Code", "KundenCode", "LieferantenCode", "Anrede", "Vorname", "Name", "Funktion",
                        "Abteilung", "Telefon", "Mobilfunk", "EMail", "Hauptansprechpartner", "Notiz", "AngelegtAm",
                        "GeaendertAm"),
    "Artikel": ("Code", "Nummer", "Bezeichnung", "Langtext", "Einheit", "VKPreis", "EKPreis", "Lagerbestand",
                "Warengruppe", "Gesperrt"),
    "Preislisten": ("Preisliste", "ArtikelCode", "Preis", "Waehrung"),
    "Verkaufschancen": ("Code", "Bezeichnung", "KundenCode", "AnsprechpartnerCode", "Phase", "Wahrscheinlichkeit",
                        "Wert", "Waehrung", "Abschlussdatum", "Status", "Vertreter", "AngelegtAm", "GeaendertAm"),
    "Belege": ("Code", "Belegart", "Nummer", "Datum", "KundenCode", "LieferantenCode", "VerkaufschanceCode", "Netto",
               "MwSt", "Brutto", "Waehrung", "Status", "PdfDatei"),
    "Belegpositionen": ("Code", "BelegCode", "Position", "ArtikelCode", "Bezeichnung", "Menge", "Einheit",
                        "Einzelpreis", "Rabatt", "Gesamtpreis"),
    "OffenePosten": ("Code", "BelegCode", "KundenCode", "Rechnungsnummer", "Rechnungsdatum", "Faellig",
                     "Rechnungsbetrag", "Art"),
    "Zahlungen": ("Code", "OffenerPostenCode", "Datum", "Betrag"),
    "Telefonnotizen": ("Code", "KundenCode", "LieferantenCode", "AnsprechpartnerCode", "Datum", "Dauer", "Richtung",
                       "Rufnummer", "Notiz", "Mitarbeiter"),
    "Besuchsberichte": ("Code", "KundenCode", "AnsprechpartnerCode", "Datum", "Titel", "Bericht", "Mitarbeiter",
                        "Art"),
    "Aufgaben": ("Code", "Betreff", "Notiz", "Status", "Prioritaet", "Faellig", "KundenCode", "AnsprechpartnerCode",
                 "BelegCode", "Mitarbeiter"),
}

#: tables every export must have: without its customers there is nothing to migrate
REQUIRED_TABLES: tuple[str, ...] = ("Kunden",)

#: columns without which a table cannot be read at all (its key, and a child's parent reference)
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    **{t: ("Code",) for t, cols in COLUMNS.items() if "Code" in cols},
    "Preislisten": ("Preisliste", "ArtikelCode"),
    "Belegpositionen": ("Code", "BelegCode"),
    "Zahlungen": ("Code", "OffenerPostenCode"),
}

#: columns that hold another table's Code (extraction normalises them like keys)
REFERENCE_COLUMNS: tuple[str, ...] = ("KundenCode", "LieferantenCode", "AnsprechpartnerCode", "VerkaufschanceCode",
                                      "BelegCode", "ArtikelCode", "OffenerPostenCode")

#: when a record was last changed: of two rows with one Code, the later one is the record
MODIFIED_COLUMN = "GeaendertAm"

#: header variants of real exports and templates -> contract column. Matching ignores case, spaces,
#: ``_ - . /`` and spells umlauts out (``Währung`` = ``Waehrung``, ``Straße`` = ``Strasse``), so only
#: other words need an entry. The approved map's ``aliases`` add to (and win over) these.
DEFAULT_ALIASES: dict[str, str] = {
    "Nr": "Nummer", "Nr.": "Nummer", "Kundennummer": "Nummer", "Kunden-Nr.": "Nummer", "Kundennr": "Nummer",
    "Lieferantennummer": "Nummer", "Lieferanten-Nr.": "Nummer", "Artikelnummer": "Nummer", "Artikel-Nr.": "Nummer",
    "Belegnummer": "Nummer", "Beleg-Nr.": "Nummer",
    "Firma": "Name", "Firmenname": "Name", "Name1": "Name", "Name 1": "Name", "Firma 2": "Firma2", "Name2": "Firma2",
    "Zusatz": "Firma2", "Str.": "Strasse", "Anschrift": "Strasse", "Postleitzahl": "PLZ", "Stadt": "Ort",
    "Telefon 1": "Telefon", "Tel.": "Telefon", "Tel": "Telefon", "Fax": "Telefax", "E-Mail": "EMail", "Mail": "EMail",
    "E-Mail-Adresse": "EMail", "Homepage": "Internet", "Webseite": "Internet", "Web": "Internet",
    "Mobil": "Mobilfunk", "Handy": "Mobilfunk", "Mobiltelefon": "Mobilfunk",
    "Angelegt am": "AngelegtAm", "Erstellt am": "AngelegtAm", "Anlagedatum": "AngelegtAm",
    "Geändert am": "GeaendertAm", "Letzte Änderung": "GeaendertAm", "Änderungsdatum": "GeaendertAm",
    "Zahlungsziel": "Zahlungsfrist", "Kundengruppe": "Gruppe", "Bemerkung": "Notiz", "Notizen": "Notiz",
    "Kürzel": "Kuerzel", "Vertreter E-Mail": "Vertreter", "Kundencode": "KundenCode", "Kunde": "KundenCode",
    "Lieferant": "LieferantenCode", "Ansprechpartner": "AnsprechpartnerCode", "Hauptansprechpartner?":
    "Hauptansprechpartner", "Position (Funktion)": "Funktion", "Kurztext": "Bezeichnung", "Artikelbezeichnung":
    "Bezeichnung", "VK": "VKPreis", "VK-Preis": "VKPreis", "Verkaufspreis": "VKPreis", "EK": "EKPreis",
    "EK-Preis": "EKPreis", "Einkaufspreis": "EKPreis", "Bestand": "Lagerbestand", "Mengeneinheit": "Einheit",
    "ME": "Einheit", "Preisgruppe": "Preisliste", "Artikel": "ArtikelCode", "Verkaufschance": "VerkaufschanceCode",
    "Beleg": "BelegCode", "Pos": "Position", "Pos.": "Position", "E-Preis": "Einzelpreis", "Gesamt": "Gesamtpreis",
    "Rabatt %": "Rabatt", "Netto-Betrag": "Netto", "Brutto-Betrag": "Brutto", "Mehrwertsteuer": "MwSt",
    "PDF": "PdfDatei", "Datei": "PdfDatei", "Offener Posten": "OffenerPostenCode", "Betrag": "Betrag",
    "Fälligkeit": "Faellig", "Fällig am": "Faellig", "Rechnungs-Nr.": "Rechnungsnummer", "Dauer (Min.)": "Dauer",
    "Telefonnummer": "Rufnummer", "Bearbeiter": "Mitarbeiter", "Betreff": "Betreff", "Titel": "Titel",
}

#: read at most this many characters into one cell (a longer one is a quote never closed)
MAX_FIELD_CHARS = 16 * 1024 * 1024
_SAMPLE_BYTES = 1 << 20
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")

Presence = Literal["present", "absent", "empty"]


def _norm(name: str) -> str:
    """Header / table names compared: case, blanks, ``_ - . /`` ignored, umlauts spelled out."""
    s = name.strip().lstrip("\ufeff").casefold()
    s = s.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue").replace("ß", "ss")
    return re.sub(r"[\s_\-./]+", "", s)


# -------------------------------------------------------------------------------- where a table is

@dataclass(frozen=True)
class Location:
    """Where one table of the export is: a CSV file, a workbook's first sheet, or a named sheet."""

    table: str
    kind: Literal["csv", "xlsx"]
    stored: str  # the file's name in the export
    sheet: str | None = None  # None: the workbook's first sheet

    @property
    def label(self) -> str:
        """How messages name it: ``Kunden.csv``, ``Artikel.xlsx``, ``Stammdaten.xlsx:Preislisten``."""
        return f"{self.stored}:{self.sheet}" if self.sheet else self.stored


def _export(folder: str | Path | ImportLocation) -> ImportLocation:
    if isinstance(folder, ImportLocation):
        loc = folder
    else:
        loc = FolderImport(folder)
    if not loc.exists():
        where = loc.label
        what = ("is a file, not a folder" if isinstance(loc, FolderImport) and loc.folder.exists() else "does not exist")
        raise InputError(f"the work4all export folder {where!r} {what}: give the folder that holds Kunden.csv "
                         "(or Kunden.xlsx) and the other tables of the vendor's export (unzip it first)")
    return loc


def check_folder(folder: str | Path | ImportLocation) -> ImportLocation:
    """The export (a folder, or an upload: ``shared.staging.imports``), or an ``InputError``."""
    return _export(folder)


_SHEETS: dict[tuple[str, str, str], list[str]] = {}  # (export, workbook, version) -> sheet names


def sheet_names(loc: ImportLocation, stored: str) -> list[str]:
    """A workbook's sheet names, read from ``xl/workbook.xml`` alone (no cell is loaded); remembered
    per version of the file (an upload in Blob Storage is downloaded for it once, not once per table)."""
    key = (loc.label, stored, loc.version(stored))
    if key not in _SHEETS:
        if len(_SHEETS) > 256:
            _SHEETS.clear()
        _SHEETS[key] = _read_sheet_names(loc, stored)
    return list(_SHEETS[key])


def _read_sheet_names(loc: ImportLocation, stored: str) -> list[str]:
    from defusedxml.ElementTree import fromstring

    try:
        with _open_seekable(loc, stored) as f, zipfile.ZipFile(f) as z:
            root = fromstring(z.read("xl/workbook.xml"))
    except (zipfile.BadZipFile, KeyError, OSError) as e:
        raise SourceFileError(stored, f"is not a readable Excel workbook ({e}): open it in Excel, save it again as "
                                      "'Excel Workbook (*.xlsx)' or as 'CSV UTF-8', then rerun") from None
    return [s.get("name", "") for s in root.iter() if _local(s.tag) == "sheet"]


def _open_seekable(loc: ImportLocation, stored: str) -> BinaryIO:
    if isinstance(loc, FolderImport):
        return open(loc.path(stored), "rb")
    return loc.open_file(stored)  # an upload: downloaded to a temporary file (zip needs to seek)


def locate(folder: str | Path | ImportLocation, table: str) -> Location | None:
    """Where ``table`` is in the export: ``Table.csv``, ``Table.xlsx`` (its first sheet), or a sheet named
    ``Table`` in one of the export's workbooks (names compared as ``_norm`` does); None if nowhere.

    Two places for one table (``Kunden.csv`` and a sheet ``Kunden``) are a ``SourceFileError``: which
    one is the export is a person's decision."""
    loc = _export(folder)
    return _locate(loc, table, loc.names())


def _locate(loc: ImportLocation, table: str, names: list[str]) -> Location | None:
    want = _norm(table)
    found: list[Location] = []
    for name in names:
        stem, suffix = Path(name).stem, Path(name).suffix.lower()
        if _norm(stem) == want and suffix == ".csv":
            found.append(Location(table, "csv", name))
        elif _norm(stem) == want and suffix == ".xls":
            raise SourceFileError(name, "is an Excel 97-2003 workbook (.xls), which is not read: open it in Excel and "
                                        "save it as 'Excel Workbook (*.xlsx)' or as 'CSV UTF-8', then rerun")
    for name in names:
        if Path(name).suffix.lower() not in WORKBOOK_SUFFIXES or name.startswith("~$"):
            continue
        sheets = sheet_names(loc, name)
        if _norm(Path(name).stem) == want:
            named = [s for s in sheets if _norm(s) == want]
            found.append(Location(table, "xlsx", name, named[0] if named else None))
            continue
        for s in sheets:
            if _norm(s) == want:
                found.append(Location(table, "xlsx", name, s))
    if len(found) > 1:
        raise SourceFileError(table, f"is in the export more than once ({', '.join(f.label for f in found)}): keep "
                                     "the one the vendor delivered as the export and remove the others, then rerun")
    return found[0] if found else None


def presence(folder: str | Path | ImportLocation, table: str) -> Presence:
    """``present``, ``absent`` (not exported: a Light licence cannot export every table) or ``empty``
    (0 bytes, only blanks, or a sheet without any cell)."""
    loc = _export(folder)
    where = _locate(loc, table, loc.names())
    if where is None:
        return "absent"
    return "empty" if _is_empty(loc, where) else "present"


def _is_empty(loc: ImportLocation, where: Location) -> bool:
    if where.kind == "csv":
        if loc.size(where.stored) > 4096:
            return False
        return loc.head(where.stored, 4096).lstrip(codecs.BOM_UTF8).strip() == b""
    reader = _XlsxRows(loc, where)
    try:
        return next(reader.rows(), None) is None
    finally:
        reader.close()


@dataclass(frozen=True)
class TableInfo:
    table: str
    known: bool  # in the contract
    required: bool
    location: Location | None

    @property
    def present(self) -> bool:
        return self.location is not None


def list_tables(folder: str | Path | ImportLocation) -> list[TableInfo]:
    """Every contract table (found or not), then every other CSV file and workbook sheet of the export
    (tables the contract does not know: reported, not read)."""
    loc = _export(folder)
    names = loc.names()
    out = [TableInfo(t, True, t in REQUIRED_TABLES, _locate(loc, t, names)) for t in COLUMNS]
    used = {(i.location.stored, i.location.sheet) for i in out if i.location}
    used_books = {i.location.stored for i in out if i.location and i.location.sheet is None}
    for name in names:
        suffix = Path(name).suffix.lower()
        if suffix == ".csv" and (name, None) not in used:
            out.append(TableInfo(Path(name).stem, False, False, Location(Path(name).stem, "csv", name)))
        elif suffix in WORKBOOK_SUFFIXES and not name.startswith("~$"):
            sheets = sheet_names(loc, name)
            for i, s in enumerate(sheets):
                if (name, s) in used or (i == 0 and name in used_books):
                    continue
                out.append(TableInfo(s, False, False, Location(s, "xlsx", name, s)))
    return out


# ------------------------------------------------------------------------------------ the reader

class TableReader:
    """Iterator over one table's records, CSV or Excel (what ``read_table`` returns).

    Rows are ``{"_file": "Kunden.csv", "_row": 7, "_record": 6, "Code": "1000", "Name": "Müller GmbH",
    "Fax": None, ...}``: ``_file`` names the file (``Book.xlsx:Sheet`` for a named sheet), ``_row`` is the
    physical line (CSV; quoted cells may span lines) or the sheet row where the record starts (the header
    is 1), ``_record`` the record's number. Empty cells are ``None``; the rest are strings as the export
    spells them (Excel numbers, dates and booleans are written in the export's notation: ``1234,5``,
    ``31.12.2024 14:30``, ``WAHR``). Headers go through the alias table (``DEFAULT_ALIASES`` + the map's
    ``aliases``); contract columns missing from the table are present as ``None``; other columns are
    kept under their header (custom fields, industry extensions: ``extra_columns``).

    A malformed record is yielded with ``"_error"`` (never raised, never dropped); repaired cells carry
    ``"_warnings"``. A problem with the table as a whole raises ``SourceFileError``. After construction
    ``encoding``/``encoding_reason`` say how the bytes were decoded (``xlsx`` for a workbook);
    ``describe()`` adds size and sha256. Memory stays constant: one record at a time.
    """

    _unclean = _csv.TableReader._unclean  # whether _clean would change a cell of a row
    _clean = _csv.TableReader._clean  # repair cells in the other encoding, remove NULs (one note per cell)

    def __init__(self, folder: str | Path | ImportLocation, table: str, *, aliases: dict[str, str] | None = None,
                 max_field_chars: int = MAX_FIELD_CHARS, start: dict | None = None):
        self.location = _export(folder)
        self.table = table
        self.contract = COLUMNS.get(table)
        self.where = _locate(self.location, table, self.location.names())
        self.file = self.where.label if self.where else f"{table}.csv"
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
        self._repair: str | None = None
        self._utf8 = False
        self._fh = None
        self._xlsx: _XlsxRows | None = None
        self._rows: Iterator[dict] = iter(())
        self.resumable = True
        self._offset = 0  # bytes of a CSV consumed by the csv parser so far
        self._line = 0  # physical lines (CSV) or sheet rows (Excel) consumed so far
        self._pos: dict = {"offset": 0, "line": 0, "record": 0}
        self._done = False
        self._skip = 0  # Excel: records to skip when resuming
        if self.where is None:
            if table in REQUIRED_TABLES:
                raise SourceFileError(f"{table}.csv", f"the table {table} is missing from the export "
                                                      f"{self.location.label!r} (no {table}.csv, {table}.xlsx or sheet "
                                                      f"{table}): ask the vendor to export it")
            if self.contract is None:
                raise SourceFileError(table, f"no such table in the export {self.location.label!r}")
            log.info("%s: table not in the export; no rows", table)
            self._done = True
            return
        self.size = self.location.size(self.where.stored)
        if self.where.kind == "csv" and _is_empty(self.location, self.where):
            log.info("%s: the table is empty; no rows", self.file)
            self._done = True
            return
        header = self._open_csv() if self.where.kind == "csv" else self._open_xlsx()
        if header is None:  # a sheet without a cell
            log.info("%s: the table is empty; no rows", self.file)
            self._done = True
            return
        try:
            self._header(header, aliases)
        except SourceFileError:
            self.close()
            raise
        self._pos = {"offset": self._offset, "line": self._line, "record": 0}
        if start and int(start.get("record", 0)) > 0:
            self._resume(start)
        self._rows = self._iter_rows(header[0])

    def position(self) -> dict:
        """Where the record after the last one read starts (``{"offset", "line", "record"}``): a later
        ``TableReader(..., start=position)`` reads on from there (extraction reads big tables in slices).
        A CSV resumes at its byte offset; a workbook (or a UTF-16 file) reads and skips the records before."""
        return dict(self._pos)

    @property
    def exhausted(self) -> bool:
        """Every record of the table has been read."""
        return self._done

    def _resume(self, start: dict) -> None:
        self.records = int(start["record"])
        if self.where.kind == "csv" and self.resumable and int(start.get("offset", 0)) > self._offset:
            self.close()
            self._offset, self._line = int(start["offset"]), int(start["line"])
            self._fh = self.location.open(self.where.stored, self._offset)
            self._records = self._iter_csv(self._lines(self._fh, first=False))
        else:  # read past the records before
            for _ in range(self.records):
                if next(self._records, None) is None:
                    break
        self._pos = {"offset": self._offset, "line": self._line, "record": self.records}

    def describe(self) -> dict:
        """The table as read: file, encoding (and why), bytes, sha256 (of the file), records read so far."""
        if self.sha256 is None and self.where is not None:
            self.sha256 = self.location.sha256(self.where.stored)
        return {"file": self.file, "encoding": self.encoding, "encoding_reason": self.encoding_reason,
                "bytes": self.size, "sha256": self.sha256, "rows": self.records}

    # -- CSV

    def _open_csv(self) -> tuple[int, list[str]]:
        with self.location.open(self.where.stored) as f:
            scan = _csv._scan(f, _SAMPLE_BYTES)
        self.encoding, self.encoding_reason = _csv._decide(scan)
        codec = codecs.lookup(self.encoding).name
        self._utf8 = codec.startswith("utf-8")
        self._repair = _csv._repair_fallback(self.encoding) if scan.invalid_utf8 or self._utf8 else None
        if not self._utf8:
            log.info("%s: decoded as %s (%s)", self.file, self.encoding, self.encoding_reason)
        first = scan.head.split(b"\n", 1)[0].decode(self.encoding, "replace")
        self.delimiter = _delimiter(first)
        self.resumable = not codec.startswith(("utf-16", "utf-32"))
        self._fh = self.location.open(self.where.stored)
        self._records = self._iter_csv(self._lines(self._fh, first=True))
        try:
            header = next(self._records, None)
        except BaseException:
            self.close()
            raise
        if header is None:
            self.close()
            raise SourceFileError(self.file, "no header line: ask the vendor to export the table again (a table "
                                             "without records still has its header line)")
        line, fields, error = header
        if error is not None:
            self.close()
            raise SourceFileError(self.file, f"the header line cannot be read: {error}")
        return line, fields

    def _lines(self, raw: BinaryIO, *, first: bool) -> Iterator[str]:
        """The file's physical lines as text (line ends kept, as csv wants them), counting their bytes so
        that a record's end is a byte offset (split on ``\\n``: safe in UTF-8 and 8-bit encodings)."""
        if not self.resumable:  # UTF-16/32: no byte offsets
            for piece in io.TextIOWrapper(raw, encoding=self.encoding, errors="surrogateescape", newline=""):
                self._line += 1
                yield piece
            return
        codec = "utf-8" if self.encoding == "utf-8-sig" else self.encoding
        for chunk in raw:
            self._offset += len(chunk)
            self._line += 1
            if first:
                first = False
                yield chunk.decode(self.encoding, "surrogateescape")
            else:
                yield chunk.decode(codec, "surrogateescape")

    def _iter_csv(self, lines: Iterator[str]) -> Iterator[tuple[int, list[str] | None, str | None]]:
        """(start line, fields, error) per record; blank lines are skipped."""
        reader = csv.reader(lines, delimiter=self.delimiter, strict=True)
        last = self._line
        while True:
            start = last + 1
            try:
                csv.field_size_limit(self.max_field_chars)  # module-wide: set before every record
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
                    msg = (f"a field runs past {self.max_field_chars} characters (lines {start}-{end}): probably a "
                           "quote that is never closed")
                elif "expected after" in msg:
                    msg = f"malformed quoting: {msg} (a quote inside a quoted field must be doubled)"
                else:
                    msg = f"malformed CSV: {msg}"
                last = max(end, start)
                yield start, None, msg
                continue
            last = self._line
            if not fields or (len(fields) == 1 and fields[0].strip() == ""):
                continue
            yield start, fields, None

    # -- Excel

    def _open_xlsx(self) -> tuple[int, list[str]] | None:
        """The header row (None: the sheet holds no cell); rows follow from ``self._records``."""
        self.encoding = "xlsx"
        self.encoding_reason = (f"Excel workbook, sheet {self.where.sheet!r}" if self.where.sheet
                                else "Excel workbook, first sheet")
        self._xlsx = _XlsxRows(self.location, self.where)
        self._records = self._xlsx.records()
        header = next(self._records, None)
        if header is None:
            self.close()
            return None
        return header[0], header[1]

    # -- both

    def _alias_table(self, aliases: dict[str, str] | None) -> dict[str, str]:
        contract = self.contract or ()
        table = {_norm(c): c for c in contract}
        for src, dst in DEFAULT_ALIASES.items():
            if dst in contract and _norm(src) not in table:
                table[_norm(src)] = dst
        for src, dst in (aliases or {}).items():  # the map's aliases win; "Table:Header" is for one table
            if ":" in src:
                t, src = src.split(":", 1)
                if _norm(t) != _norm(self.table):
                    continue
            table[_norm(src)] = dst
        return table

    def _header(self, header: tuple[int, list[str]], aliases: dict[str, str] | None) -> None:
        fields = list(header[1])
        notes: list[dict] = []
        if self.where.kind == "csv":
            fields = self._clean(fields, notes, ["header"] * len(fields))
        names = [str(f or "").strip().lstrip("\ufeff").strip() for f in fields]
        while names and names[-1] == "":
            names.pop()
        if not names:
            raise SourceFileError(self.file, "the header line is empty")
        if len(names) == 1 and self.where.kind == "csv" and ("," in names[0] or "\t" in names[0]):
            raise SourceFileError(self.file, f"the header {names[0][:120]!r} is one column: the separator is not a "
                                             "semicolon, comma or tab; export it again as semicolon-separated CSV")
        for i, n in enumerate(names):
            if n == "":
                raise SourceFileError(self.file, f"header column {i + 1} has no name")
        if _csv._has_surrogate("".join(names)):
            raise SourceFileError(self.file, f"the header has bytes that are not valid {self.encoding}")
        table = self._alias_table(aliases)
        out: list[str] = []
        seen: dict[str, str] = {}
        for n in names:
            target = table.get(_norm(n), n)
            if target in seen:
                raise SourceFileError(self.file, f"header columns {seen[target]!r} and {n!r} are both the column "
                                                 f"{target!r}: remove one, or map one of them elsewhere")
            seen[target] = n
            if target != n:
                self.renamed[n] = target
            out.append(target)
        self.columns = out
        for col in REQUIRED_COLUMNS.get(self.table, ()):
            if col not in seen:
                raise SourceFileError(self.file, f"required column {col!r} is missing (header: {names}); ask the "
                                                 f"vendor to include it, or name the column that holds it in the "
                                                 f"map's aliases")
        contract = self.contract or ()
        self.missing_columns = [c for c in contract if c not in seen]
        self.extra_columns = [c for c in out if c not in contract] if contract else []
        if self.missing_columns:
            log.warning("%s: contract columns missing from the table (read as empty): %s", self.file,
                        ", ".join(self.missing_columns))

    def _iter_rows(self, header_line: int) -> Iterator[dict]:
        file, columns = self.file, self.columns
        n = len(columns)
        missing = self.missing_columns
        key_pos = columns.index("Code") if "Code" in columns else -1
        csv_source = self.where.kind == "csv"
        try:
            for line, fields, error in self._records:
                self.records += 1
                notes: list[dict] = []
                if error is None:
                    if len(fields) > n and not any((f or "").strip() for f in fields[n:]):
                        fields = fields[:n]  # trailing empty cells: harmless
                    if len(fields) < n and not csv_source:
                        fields = list(fields) + [None] * (n - len(fields))  # Excel omits trailing empty cells
                    if len(fields) != n:
                        error = (f"expected {n} fields as in the header, found {len(fields)}"
                                 + (f" (a {self.delimiter!r} inside a value that is not quoted?)"
                                    if csv_source and len(fields) > n else ""))
                    elif csv_source:
                        joined = "\x1f".join(fields)
                        if self._unclean(joined):
                            joined = "\x1f".join(self._clean(fields, notes))
                        if _csv._SURROGATE.search(joined):
                            bad = [c for c, v in zip(columns, fields) if _csv._has_surrogate(v)]
                            error = (f"bytes that are not valid {self.encoding} in column(s) "
                                     f"{', '.join(repr(c) for c in bad)}")
                self._pos = {"offset": self._offset, "line": self._line, "record": self.records}
                row: dict = {"_file": file, "_row": line, "_record": self.records}
                if notes:
                    row["_warnings"] = notes
                if error is not None:
                    row["_error"] = error
                    if fields is not None and 0 <= key_pos < len(fields) and fields[key_pos]:
                        row["Code"] = fields[key_pos]
                    yield row
                    continue
                for c, v in zip(columns, fields):
                    row[c] = v if v not in ("", None) else None
                for c in missing:
                    row[c] = None
                yield row
            self._done = True
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
        if self._xlsx is not None:
            self._xlsx.close()
            self._xlsx = None

    def __enter__(self) -> "TableReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _delimiter(first_line: str) -> str:
    """The export's separator, from its header line: ``;`` (work4all's), else ``,`` or a tab if the header
    has those and no semicolon (Excel saved in another locale)."""
    counts = {d: first_line.count(d) for d in (";", ",", "\t")}
    if counts[";"]:
        return ";"
    best = max((",", "\t"), key=lambda d: counts[d])
    return best if counts[best] else ";"


# ------------------------------------------------------------------------------------ Excel cells

def _local(tag: str) -> str:
    """An element's name without its namespace (transitional and strict OOXML use different ones)."""
    return tag.rsplit("}", 1)[-1]


class _XlsxRows:
    """A sheet's rows as lists of export-notation strings, streamed from the sheet's XML.

    Not openpyxl's read-only mode: it keeps every parsed (emptied) row element under ``sheetData``, so
    its memory grows with the sheet (about 80 MiB per million rows, measured); here each row is
    dropped once read. What is held: the shared-strings table (Excel writes each distinct text once
    there) and the cell formats (to tell dates from numbers). XML is parsed with defusedxml (no DTDs,
    no entities). openpyxl's helpers decide date formats and turn serial numbers into dates."""

    def __init__(self, loc: ImportLocation, where: Location):
        self.where = where
        self._fh = _open_seekable(loc, where.stored)
        try:
            self._zip = zipfile.ZipFile(self._fh)
            self._open_book()
        except SourceFileError:
            self.close()
            raise
        except Exception as e:  # a damaged archive or XML: one line naming the workbook
            self.close()
            raise SourceFileError(where.stored, f"is not a readable Excel workbook ({type(e).__name__}: {e}): open it "
                                                "in Excel and save it again as 'Excel Workbook (*.xlsx)'") from None

    def _xml(self, name: str):
        from defusedxml.ElementTree import fromstring

        return fromstring(self._zip.read(name))

    def _open_book(self) -> None:
        from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format

        book = self._xml("xl/workbook.xml")
        self.date1904 = any(_local(e.tag) == "workbookPr" and e.get("date1904") in ("1", "true") for e in book.iter())
        rel_ns = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
        sheets = [(e.get("name", ""), e.get(rel_ns) or next((v for k, v in e.attrib.items() if k.endswith("}id")), ""))
                  for e in book.iter() if _local(e.tag) == "sheet"]
        if not sheets:
            raise SourceFileError(self.where.stored, "the workbook has no sheets")
        rels = {e.get("Id"): (e.get("Target", ""), e.get("Type", ""))
                for e in self._xml("xl/_rels/workbook.xml.rels").iter() if _local(e.tag) == "Relationship"}
        name, rid = sheets[0] if self.where.sheet is None else next(
            (x for x in sheets if x[0] == self.where.sheet), (None, None))
        if name is None:
            raise SourceFileError(self.where.label, "no such sheet in the workbook")
        self.sheet_path = self._part(rels[rid][0])
        self.shared: list[str] = []
        for target, kind in rels.values():
            if kind.endswith("/sharedStrings"):
                self.shared = self._shared_strings(self._part(target))
        self.date_styles: set[int] = set()
        styles = next((self._part(t) for t, k in rels.values() if k.endswith("/styles")), None)
        if styles and styles in self._zip.namelist():
            root = self._xml(styles)
            formats = dict(BUILTIN_FORMATS)
            for e in root.iter():
                if _local(e.tag) == "numFmt":
                    formats[int(e.get("numFmtId", "0"))] = e.get("formatCode", "")
            xfs = next((e for e in root if _local(e.tag) == "cellXfs"), None)
            for i, xf in enumerate(xfs if xfs is not None else ()):
                if is_date_format(formats.get(int(xf.get("numFmtId", "0")), "") or ""):
                    self.date_styles.add(i)

    @staticmethod
    def _part(target: str) -> str:
        return target.lstrip("/") if target.startswith("/") else "xl/" + target

    def _shared_strings(self, path: str) -> list[str]:
        from defusedxml.ElementTree import iterparse

        out: list[str] = []
        with self._zip.open(path) as f:
            for _, e in iterparse(f, events=("end",)):
                if _local(e.tag) == "si":  # plain text, or rich-text runs; not the phonetic guides (rPh)
                    parts = []
                    for child in e:
                        name = _local(child.tag)
                        if name == "t":
                            parts.append(child.text or "")
                        elif name == "r":
                            parts.extend(t.text or "" for t in child if _local(t.tag) == "t")
                    out.append("".join(parts))
                    e.clear()
        return out

    def rows(self) -> Iterator[list[str | None]]:
        for _, cells, _ in self.records():
            yield cells

    def records(self) -> Iterator[tuple[int, list[str | None], None]]:
        """(sheet row number, cells, None) of every row that holds a value; the first is the header."""
        from defusedxml.ElementTree import iterparse

        number = 0
        data = None
        with self._zip.open(self.sheet_path) as f:
            for event, e in iterparse(f, events=("start", "end")):
                tag = _local(e.tag)
                if event == "start":
                    if tag == "sheetData":
                        data = e
                    continue
                if tag != "row":
                    continue
                number = int(e.get("r") or number + 1)
                cells: list[str | None] = []
                for c in e:
                    if _local(c.tag) != "c":
                        continue
                    ref = c.get("r")
                    if ref:
                        col = _column_index(ref)
                        if col < len(cells):  # a repeated reference: the later cell wins, as Excel shows it
                            cells = cells[:col]
                        cells.extend([None] * (col - len(cells)))
                    cells.append(self._value(c))
                if data is not None:
                    data.clear()  # drop the row just read (openpyxl keeps it: memory would grow per row)
                else:
                    e.clear()
                while cells and cells[-1] is None:
                    cells.pop()
                if cells:
                    yield number, cells, None

    def _value(self, c) -> str | None:
        # cell types b, n, e, s, str, inlineStr, d (learn.microsoft.com/dotnet/api/documentformat.openxml.
        # spreadsheet.cellvalues); <v> holds a shared-string index for "s", a formula's last result, or the
        # value; an inline string is in <is> (learn.microsoft.com/en-us/previous-versions/office/developer/
        # office-2010/cc820237(v=office.14), ISO/IEC 29500-1 18.3.1.96)
        t = c.get("t", "n")
        v = None
        for child in c:
            name = _local(child.tag)
            if name == "v":
                v = child.text
            elif name == "is":
                return _xlsx_text("".join(x.text or "" for x in child.iter() if _local(x.tag) == "t"))
        if v is None:
            return None
        if t == "s":
            return _xlsx_text(self.shared[int(v)])
        if t in ("str", "e"):
            return _xlsx_text(v)
        if t == "b":
            return _xlsx_text(v.strip() in ("1", "true"))
        if t == "d":
            return _xlsx_text(datetime.fromisoformat(v.strip().rstrip("Z")))
        if int(c.get("s") or 0) in self.date_styles:
            from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

            return _xlsx_text(from_excel(float(v), CALENDAR_MAC_1904 if self.date1904 else CALENDAR_WINDOWS_1900))
        return _xlsx_text(Decimal(v.strip()))

    def close(self) -> None:
        z = getattr(self, "_zip", None)
        try:
            if z is not None:
                z.close()
        finally:
            self._fh.close()


def _column_index(ref: str) -> int:
    """``"AB12"`` -> 27 (0-based column of a cell reference)."""
    n = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
        elif "a" <= ch <= "z":
            n = n * 26 + ord(ch) - 96
        else:
            break
    return n - 1


def _xlsx_text(v: object) -> str | None:
    """An Excel cell in the export's notation (what the CSV would hold): ``1234,5``, ``31.12.2024``,
    ``31.12.2024 14:30``, ``WAHR``/``FALSCH``; text as it is (empty text: None)."""
    if v is None:
        return None
    if isinstance(v, str):
        return v if v.strip() != "" else None
    if isinstance(v, bool):
        return "WAHR" if v else "FALSCH"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        text = format(Decimal(repr(v)), "f")
        return text.replace(".", ",")
    if isinstance(v, Decimal):
        if v == v.to_integral_value() and abs(v) < Decimal("1e15"):
            return str(int(v))
        return format(v.normalize(), "f").replace(".", ",")
    if isinstance(v, datetime):
        if v.time() == time():
            return v.strftime("%d.%m.%Y")
        return v.strftime("%d.%m.%Y %H:%M:%S" if v.second else "%d.%m.%Y %H:%M")
    if isinstance(v, date):
        return v.strftime("%d.%m.%Y")
    if isinstance(v, time):
        return v.strftime("%H:%M")
    return str(v)


def read_table(folder: str | Path | ImportLocation, table: str, *,
               aliases: dict[str, str] | None = None) -> TableReader:
    """Stream one table of the export as ``{"_file", "_row", "_record", <German column>: str | None}``
    (see ``TableReader``). An absent optional table yields nothing; an absent required table, a
    required column missing or an unreadable header raises ``SourceFileError`` before the first row."""
    return TableReader(folder, table, aliases=aliases)


def count_rows(folder: str | Path | ImportLocation, table: str) -> int:
    """How many records ``read_table`` yields (malformed ones included)."""
    with TableReader(folder, table) as reader:
        return sum(1 for _ in reader)


class Work4allExportSource:
    """A work4all vendor export / Excel templates (``work4all-export``): the ``Source`` of
    ``shared.sources``. ``input`` is the export folder, or ``imports/<name>`` (an upload in the staging
    account, ``shared.staging.imports``). An object's ``file`` is its table name (``Kunden``)."""

    replayable = True  # files: read again, checked by sha256
    reference_fields = REFERENCE_COLUMNS
    modified_field = MODIFIED_COLUMN

    def __init__(self, input: str | Path | ImportLocation, staging: str | None = None):
        from ...staging.imports import open_import

        self.folder = check_folder(open_import(input, staging))

    def presence(self, spec) -> Presence:
        return presence(self.folder, spec.file)

    def has(self, spec) -> bool:
        return self.presence(spec) != "absent"

    def rows(self, spec) -> Iterator[dict]:
        """A ``TableReader``: its ``describe()`` tells the file's encoding, size and sha256."""
        return read_table(self.folder, spec.file)

    def rows_from(self, spec, start: dict | None) -> Iterator[dict]:
        """The rows from ``start`` (a ``position()`` of an earlier reader; None: the first), resumable:
        the reader's ``position()`` and ``exhausted`` say where to go on (extraction slices)."""
        return TableReader(self.folder, spec.file, start=start)

    def contract(self, spec) -> tuple[str, ...]:
        return tuple(COLUMNS.get(spec.file, ()))
