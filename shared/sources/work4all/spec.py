"""Vendor coordination for a work4all export: the specification to hand to the vendor, and the check of
what the vendor delivered before it is accepted as the migration's data set.

work4all on-premises has no public API, so the data comes as a database export the vendor (or the
customer's partner) produces, or as filled-in Excel templates. The seed's process: give the vendor a
structured specification of every table and column the migration needs (with the custom fields found
in a sample export, which no metadata endpoint lists), then validate the delivery against 50-100
sampled records per table before accepting it.

- ``write_specification(out, sample=None)`` writes ``work4all_export_spec.md`` (for people) and
  ``work4all_export_spec.csv`` (one row per table and column: kind, format, required, what it becomes
  in Dynamics 365), from the format contract (``export.COLUMNS``, ``COLUMN_KINDS``) and the object
  declarations (``shared.objects.work4all``).
- ``validate_export(folder)`` -> ``ValidationResult``: every table and column present (absent tables
  named, as a Light licence cannot export every table), records counted per table, malformed records
  counted, up to ``sample_size`` records per table sampled (reservoir sampling, seeded: the same
  delivery gives the same sample) and every cell of a typed column parsed with ``values.parse_*``,
  Belege without Belegpositionen and Positionen without their Beleg listed. ``accepted`` is False
  when any problem is a ``reject``; ``summary()`` is the one-screen verdict, ``write(out)`` the files.

Memory is constant: each table is read once as a stream; only the sample and the sets of Beleg codes
are held.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal

from ...staging.imports import ImportLocation
from ..worketc.values import parse_email
from . import values
from .export import (COLUMNS, REQUIRED_COLUMNS, REQUIRED_TABLES, SourceFileError, TableReader,
                     check_folder, list_tables)

Kind = Literal["code", "text", "memo", "number", "int", "date", "datetime", "bool", "email", "owner", "currency",
               "option", "file"]

#: the format of every contract column (../shared/formats/work4all-export.md); others are text
_COMMON: dict[str, Kind] = {
    "Code": "code", "KundenCode": "code", "LieferantenCode": "code", "AnsprechpartnerCode": "code",
    "VerkaufschanceCode": "code", "BelegCode": "code", "ArtikelCode": "code", "OffenerPostenCode": "code",
    "AngelegtAm": "datetime", "GeaendertAm": "datetime", "EMail": "email", "Vertreter": "owner",
    "Mitarbeiter": "owner", "Waehrung": "currency", "Notiz": "memo",
}
COLUMN_KINDS: dict[str, dict[str, Kind]] = {
    "Mitarbeiter": {"Aktiv": "bool"},
    "Kunden": {"Privatkunde": "bool", "Gesperrt": "bool", "Zahlungsfrist": "int", "Erstkontakt": "date"},
    "Lieferanten": {"Privatkunde": "bool", "Gesperrt": "bool", "Zahlungsfrist": "int", "Erstkontakt": "date"},
    "Ansprechpartner": {"Hauptansprechpartner": "bool"},
    "Artikel": {"Langtext": "memo", "VKPreis": "number", "EKPreis": "number", "Lagerbestand": "number",
                "Gesperrt": "bool"},
    "Preislisten": {"Preis": "number"},
    "Verkaufschancen": {"Wahrscheinlichkeit": "number", "Wert": "number", "Abschlussdatum": "date",
                        "Status": "option", "Phase": "option"},
    "Belege": {"Belegart": "option", "Datum": "date", "Netto": "number", "MwSt": "number", "Brutto": "number",
               "PdfDatei": "file"},
    "Belegpositionen": {"Position": "int", "Menge": "number", "Einzelpreis": "number", "Rabatt": "number",
                        "Gesamtpreis": "number"},
    "OffenePosten": {"Rechnungsdatum": "date", "Faellig": "date", "Rechnungsbetrag": "number", "Art": "option"},
    "Zahlungen": {"Datum": "date", "Betrag": "number"},
    "Telefonnotizen": {"Datum": "datetime", "Dauer": "int", "Richtung": "option"},
    "Besuchsberichte": {"Datum": "datetime", "Bericht": "memo", "Art": "option"},
    "Aufgaben": {"Status": "option", "Prioritaet": "option", "Faellig": "date"},
}

#: values the format names for option columns (others are warned: the field map's value map decides)
OPTION_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("Verkaufschancen", "Status"): ("Offen", "Gewonnen", "Verloren"),
    ("Belege", "Belegart"): ("Angebot", "Auftrag", "Rechnung", "Gutschrift", "Kostenbeleg"),
    ("OffenePosten", "Art"): ("Rechnung", "Gutschrift"),
    ("Telefonnotizen", "Richtung"): ("eingehend", "ausgehend"),
    ("Besuchsberichte", "Art"): ("Bericht", "Aufgabe"),
    ("Aufgaben", "Status"): ("offen", "erledigt"),
    ("Aufgaben", "Prioritaet"): ("niedrig", "normal", "hoch"),
}

#: reference column -> the table whose Code it holds
REFERENCES: dict[str, str] = {
    "KundenCode": "Kunden", "LieferantenCode": "Lieferanten", "AnsprechpartnerCode": "Ansprechpartner",
    "VerkaufschanceCode": "Verkaufschancen", "BelegCode": "Belege", "ArtikelCode": "Artikel",
    "OffenerPostenCode": "OffenePosten",
}

FORMATS: dict[Kind, str] = {
    "code": "the record's internal integer key (work4all Code), unique within its table",
    "text": "text", "memo": "text, line breaks allowed (quote the cell)",
    "number": "decimal comma, optional dot thousands separators: 1.234,56 / -1.234,56 / 1234,5",
    "int": "whole number: 30", "date": "dd.mm.yyyy", "datetime": "dd.mm.yyyy HH:MM (local German time)",
    "bool": "Ja/Nein (WAHR/FALSCH or 1/0 accepted)", "email": "one e-mail address",
    "owner": "the employee's e-mail address or Mitarbeiter.Kuerzel",
    "currency": "ISO 4217 code: EUR, CHF, USD", "option": "one of the values listed",
    "file": "path of the document under Dateien/ (e.g. Dateien/RE-2024-0001.pdf), the file delivered with it",
}

DESCRIPTIONS: dict[str, str] = {
    "Mitarbeiter": "employees: owners of records resolve to Dynamics 365 users by e-mail (or Kuerzel)",
    "Kunden": "customers (Debitoren) -> accounts, relationship type Customer",
    "Lieferanten": "suppliers (Kreditoren) -> accounts, relationship type Vendor",
    "Ansprechpartner": "contact persons of customers and suppliers -> contacts",
    "Artikel": "items -> products (with unit group and unit)",
    "Preislisten": "one row per price list and item -> price lists and their items",
    "Verkaufschancen": "sales opportunities -> opportunities",
    "Belege": "ERP documents (offers, orders, invoices, credit memos, cost receipts) with their PDFs",
    "Belegpositionen": "the documents' lines (every Beleg needs its Positionen)",
    "OffenePosten": "open items (invoices and credit memos not settled)",
    "Zahlungen": "payments and partial payments per open item (the open amount is reconciled from them)",
    "Telefonnotizen": "telephone notes -> phone calls",
    "Besuchsberichte": "visit reports -> notes or tasks; include the industry-extension fields",
    "Aufgaben": "tasks -> tasks",
}


def column_kind(table: str, column: str) -> Kind:
    return COLUMN_KINDS.get(table, {}).get(column) or _COMMON.get(column) or "text"


def _parser(kind: Kind, tz: str) -> Callable[[str], Any] | None:
    return {
        "number": values.parse_number, "int": values.parse_int, "date": values.parse_date,
        "datetime": lambda v: values.parse_datetime(v, tz), "bool": values.parse_bool, "email": parse_email,
        "code": _parse_code, "currency": _parse_currency,
    }.get(kind)


def _parse_code(raw: str) -> int:
    v = raw.strip()
    if not v.isdigit():
        raise ValueError(f"{raw!r} is not an integer key (work4all's Code)")
    return int(v)


def _parse_currency(raw: str) -> str:
    v = raw.strip()
    if not (len(v) == 3 and v.isalpha() and v.isupper()):
        raise ValueError(f"{raw!r} is not an ISO 4217 currency code (EUR, CHF, ...)")
    return v


# ------------------------------------------------------------------------------- the declarations

def _declared() -> dict[str, dict[str, str]]:
    """table -> column -> what it becomes in Dynamics 365, from the object declarations (if importable)."""
    try:
        from ...objects.work4all import OBJECTS
    except Exception:  # the catalogue is optional for the specification  # noqa: BLE001
        return {}
    out: dict[str, dict[str, str]] = {}
    for spec in OBJECTS.values():
        cols = out.setdefault(spec.file, {})
        where = spec.table or spec.name

        def add(column: str | None, what: str) -> None:
            if column:
                cols[column] = cols[column] + "; " + what if column in cols and what not in cols[column] else what

        add(spec.key_field, f"{where}.{spec.key_column} (key)")
        for f in spec.fields:
            add(f.source, f"{where}.{f.target}")
        for lk in spec.lookups:
            add(lk.source, f"{where}: lookup {lk.nav if isinstance(lk.nav, str) else '/'.join(lk.nav.values())}")
        add(spec.owner_field, f"{where}.ownerid (owner)")
        if spec.route is not None:
            add(getattr(spec.route, "field", None), f"{spec.name}: decides the target table")
    return out


# ----------------------------------------------------------------------------- the specification

def _sample_custom_fields(sample: str | Path | ImportLocation | None) -> dict[str, list[dict]]:
    """Per table, the columns of a sample export outside the contract (custom fields, industry
    extensions): name, filled cells of the first records, a kind guessed from their values, examples."""
    if sample is None:
        return {}
    out: dict[str, list[dict]] = {}
    for info in list_tables(sample):
        if not info.known or not info.present:
            continue
        reader = TableReader(sample, info.table)
        extra = list(reader.extra_columns)
        if not extra:
            reader.close()
            continue
        seen: dict[str, list[str]] = {c: [] for c in extra}
        rows = 0
        for row in reader:
            rows += 1
            for c in extra:
                v = row.get(c)
                if v is not None and len(seen[c]) < 1000:
                    seen[c].append(v)
            if rows >= 1000:
                break
        reader.close()
        out[info.table] = [{"column": c, "filled": len(seen[c]), "of": rows, "kind": _guess(seen[c]),
                            "examples": list(dict.fromkeys(seen[c]))[:3]} for c in extra]
    return out


def _guess(cells: list[str]) -> Kind:
    if not cells:
        return "text"
    for kind in ("bool", "int", "number", "date", "datetime"):
        parse = _parser(kind, values.DEFAULT_TIMEZONE)
        try:
            for v in cells:
                parse(v)
        except ValueError:
            continue
        return kind
    return "memo" if any("\n" in v or len(v) > 255 for v in cells) else "text"


def specification_rows(sample: str | Path | ImportLocation | None = None) -> list[dict]:
    """One row per table and column the export must hold (contract first, custom fields of the sample after)."""
    declared = _declared()
    rows: list[dict] = []
    for table, columns in COLUMNS.items():
        for c in columns:
            kind = column_kind(table, c)
            allowed = OPTION_VALUES.get((table, c))
            fmt = FORMATS[kind] + (f": {', '.join(allowed)}" if allowed else "")
            if kind == "code" and c != "Code":
                fmt = f"the Code of the {REFERENCES.get(c, c.removesuffix('Code'))} record it refers to (empty: none)"
            rows.append({
                "table": table, "column": c, "kind": kind, "format": fmt,
                "required": "yes" if c in REQUIRED_COLUMNS.get(table, ()) else "needed",
                "becomes": declared.get(table, {}).get(c, "read by the migration (checks, reconciliation, notes)"),
                "custom_field": "",
            })
    for table, extra in _sample_custom_fields(sample).items():
        for x in extra:
            rows.append({"table": table, "column": x["column"], "kind": x["kind"], "format": FORMATS[x["kind"]],
                         "required": "needed", "becomes": "a custom column (proposed in the field map)",
                         "custom_field": f"found in the sample: {x['filled']} of {x['of']} records filled, e.g. "
                                         + "; ".join(repr(e) for e in x["examples"])})
    return rows


def write_specification(out: str | Path, *, sample: str | Path | ImportLocation | None = None,
                        customer: str = "") -> dict[str, str]:
    """Write the export specification for the vendor: ``work4all_export_spec.md`` and ``.csv``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = specification_rows(sample)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), delimiter=";", lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    csv_path = out / "work4all_export_spec.csv"
    csv_path.write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))  # Excel opens UTF-8 with a BOM

    md = [f"# work4all export specification{(' for ' + customer) if customer else ''}", "",
          "What the migration to Dynamics 365 Sales needs from the work4all database. Please deliver one "
          "folder (or ZIP) with one file per table below.", "",
          "## Format", "",
          "- One file per table, named as the table: `Kunden.csv` (or `Kunden.xlsx`, or a sheet `Kunden` of "
          "one workbook). The first line holds the column names exactly as listed (German spelling as in "
          "work4all is fine: `Straße`, `E-Mail`, `Geändert am` are recognised).",
          "- CSV: semicolon-separated, `\"` quoting (cells with semicolons or line breaks quoted), CRLF line ends; "
          "encoding UTF-8 (preferably with BOM) or Windows-1252 - one encoding per file.",
          "- Excel: `.xlsx` (not `.xls`); numbers and dates may be Excel numbers and dates.",
          "- Numbers with a decimal comma and optional dot thousands separators (`1.234,56`, `-1.234,56`); "
          "dates `dd.mm.yyyy`; date-times `dd.mm.yyyy HH:MM` in local German time; booleans `Ja`/`Nein`.",
          "- Every record with its `Code` (the internal key); references to other tables by their `Code`. "
          "Owners (`Vertreter`, `Mitarbeiter`) as the employee's e-mail or Kürzel.",
          "- Documents (the PDFs of Belege) under `Dateien/`, `PdfDatei` naming the path.",
          "- Tables without records: deliver the file with its header line. A table your licence cannot "
          "export (Light licences): tell us which; it is reported, not guessed.",
          "- Belege only together with their Belegpositionen; credit memos (Gutschrift) with negative amounts; "
          "every payment (Zahlungen) of every open item, partial payments included.", ""]
    by_table: dict[str, list[dict]] = {}
    for r in rows:
        by_table.setdefault(r["table"], []).append(r)
    md += ["## Tables", ""]
    for table, cols in by_table.items():
        md += [f"### {table}", "", DESCRIPTIONS.get(table, "custom table found in the sample export"), "",
               "| column | format | required | becomes in Dynamics 365 |", "|---|---|---|---|"]
        for c in cols:
            note = f" ({c['custom_field']})" if c["custom_field"] else ""
            md.append(f"| {c['column']} | {c['format']} | {c['required']} | {c['becomes']}{note} |")
        md.append("")
    if sample is None:
        md += ["## Custom fields", "", "No sample export was read: custom fields (and industry-extension fields "
               "on Besuchsberichte) are not discoverable any other way. Please include every custom field as an "
               "extra column after the listed ones, headed by its label.", ""]
    else:
        md += ["## Custom fields", "", "The custom fields found in the sample export are listed with their tables "
               "above (`found in the sample`). Please include them, and any others, as extra columns headed by "
               "their label.", ""]
    md += ["## Acceptance", "", "We validate the delivery before accepting it (`python -m cli validate-export "
           "work4all <folder>`): every table and column present, 100 sampled records per table read with "
           "these formats, record counts per table, Belege without Positionen listed. Please send the record "
           "count of every table with the export.", ""]
    md_path = out / "work4all_export_spec.md"
    md_path.write_text("\n".join(md), encoding="utf-8")
    return {"markdown": str(md_path), "csv": str(csv_path)}


# ----------------------------------------------------------------------------------- validation

Level = Literal["reject", "warning"]


@dataclass
class Problem:
    level: Level
    table: str
    message: str
    file: str = ""
    row: int | None = None
    column: str = ""
    value: str = ""


@dataclass
class TableCheck:
    table: str
    presence: str  # present | absent | empty | unreadable
    file: str = ""
    encoding: str | None = None
    records: int = 0
    malformed: int = 0
    sampled: int = 0
    sampled_with_problems: int = 0
    missing_columns: list[str] = field(default_factory=list)
    custom_columns: list[str] = field(default_factory=list)


@dataclass
class ValidationResult:
    folder: str
    tables: list[TableCheck]
    problems: list[Problem]
    sample_size: int

    @property
    def accepted(self) -> bool:
        return not any(p.level == "reject" for p in self.problems)

    @property
    def counts(self) -> dict[str, int]:
        return {t.table: t.records for t in self.tables}

    def rejects(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "reject"]

    def to_dict(self) -> dict:
        return {"folder": self.folder, "accepted": self.accepted, "sample_size": self.sample_size,
                "counts": self.counts, "tables": [asdict(t) for t in self.tables],
                "problems": [asdict(p) for p in self.problems]}

    def summary(self) -> str:
        """The verdict on one screen: ACCEPTED/REJECTED, a line per table, the reasons."""
        lines = [f"work4all export {self.folder}: {'ACCEPTED' if self.accepted else 'REJECTED'}", "",
                 f"{'table':<18} {'status':<10} {'records':>9} {'sampled':>8} {'problems':>9}  file"]
        for t in self.tables:
            lines.append(f"{t.table:<18} {t.presence:<10} {t.records:>9,} {t.sampled:>8} "
                         f"{t.sampled_with_problems + t.malformed:>9}  {t.file}")
        rejects = self.rejects()
        if rejects:
            lines += ["", "Rejected because:"] + [f"- {_where(p)}{p.message}" for p in rejects[:20]]
            if len(rejects) > 20:
                lines.append(f"- ... and {len(rejects) - 20} more (validation_problems.csv)")
        warnings = [p for p in self.problems if p.level == "warning"]
        if warnings:
            lines += ["", f"Warnings ({len(warnings)}; each record with such a value loads without it or is "
                          "rejected, named in the run's report):"]
            lines += [f"- {_where(p)}{p.message}" for p in warnings[:15]]
            if len(warnings) > 15:
                lines.append(f"- ... and {len(warnings) - 15} more (validation_problems.csv)")
        return "\n".join(lines)

    def write(self, out: str | Path) -> dict[str, str]:
        """``validation.json``, ``validation.md`` (the summary) and ``validation_problems.csv``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "validation.json").write_text(json.dumps(self.to_dict(), indent=1, ensure_ascii=False) + "\n",
                                             encoding="utf-8")
        (out / "validation.md").write_text("```\n" + self.summary() + "\n```\n", encoding="utf-8")
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(["level", "table", "file", "row", "column", "value", "message"])
        for p in self.problems:
            w.writerow([p.level, p.table, p.file, "" if p.row is None else p.row, p.column,
                        *(_neutral(x) for x in (p.value, p.message))])
        (out / "validation_problems.csv").write_bytes(b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8"))
        return {"json": str(out / "validation.json"), "summary": str(out / "validation.md"),
                "problems": str(out / "validation_problems.csv")}


def _where(p: Problem) -> str:
    if p.file and p.row is None and p.column == "Code" and p.value:
        return f"{p.file} Code {p.value}: "
    if p.file and p.row is not None:
        return f"{p.file} row {p.row}{(' column ' + p.column) if p.column else ''}: "
    if p.file:
        return f"{p.file}: "
    return f"{p.table}: "


def _neutral(text: str) -> str:
    """A cell that starts like a formula is neutralised (the file is opened in Excel)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def validate_export(folder: str | Path | ImportLocation, *, sample_size: int = 100, seed: int = 0,
                    allow_absent: Iterable[str] = (), max_error_rate: float = 0.05,
                    tz: str = values.DEFAULT_TIMEZONE, tables: Iterable[str] | None = None) -> ValidationResult:
    """Check a delivered export before accepting it (see the module doc).

    Rejected when: a table is absent that is not in ``allow_absent`` (a table the customer's licence
    cannot export, agreed to be left out), a contract column is missing, a table cannot be read, more
    than ``max_error_rate`` of a table's records are malformed or of its sampled records hold a value
    that does not parse (a systematic format problem: decimal points, another date order). Single bad
    values, unknown option values, Belege without Positionen and Positionen without a Beleg are warnings:
    the run reports each such record."""
    if not 1 <= sample_size <= 100_000:
        raise ValueError("sample_size must be between 1 and 100000")
    loc = check_folder(folder)
    allow = set(allow_absent)
    unknown = allow - set(COLUMNS)
    if unknown:
        raise ValueError(f"allow_absent names unknown tables {sorted(unknown)}; tables: {', '.join(COLUMNS)}")
    problems: list[Problem] = []
    checks: list[TableCheck] = []
    belege: dict[str, str] = {}  # Code -> "Belegart Nummer"
    positioned: set[str] = set()
    positions_of: dict[str, int] = {}
    names = list(tables) if tables is not None else list(COLUMNS)
    infos = {i.table: i for i in list_tables(loc)}
    for table in names:
        info = infos.get(table)
        if info is None or not info.present:
            level: Level = "warning" if table in allow else "reject"
            why = ("the export has no such table (no .csv, .xlsx or sheet of that name): a Light licence cannot "
                   "export every table; ask the vendor for it")
            if table in REQUIRED_TABLES:
                level, why = "reject", "the export has no such table, and the migration cannot run without it"
            elif table in allow:
                why = "not exported (agreed: left out of this migration)"
            checks.append(TableCheck(table, "absent"))
            problems.append(Problem(level, table, f"{table} is absent: {why}"))
            continue
        check, table_problems, codes = _check_table(loc, table, sample_size, seed, max_error_rate, tz)
        checks.append(check)
        problems.extend(table_problems)
        if table == "Belege":
            belege = codes
        elif table == "Belegpositionen":
            positions_of = {k: int(v) for k, v in codes.items()}
            positioned = set(codes)
    if "Belege" in names and "Belegpositionen" in names:
        problems.extend(_orphans(belege, positioned, positions_of, checks))
    for info in infos.values():
        if not info.known and tables is None:
            problems.append(Problem("warning", info.table, f"{info.location.label} is not a table of the format: it "
                                                           "is not migrated (if it should be, say what it holds)",
                                    file=info.location.label))
    for p in problems:  # "Code" keys of problems are fine; values are cell contents as delivered
        p.value = p.value[:200]
    return ValidationResult(str(getattr(loc, "label", folder)), checks, problems, sample_size)


def _check_table(loc: ImportLocation, table: str, sample_size: int, seed: int, max_error_rate: float,
                 tz: str) -> tuple[TableCheck, list[Problem], dict[str, str]]:
    problems: list[Problem] = []
    codes: dict[str, str] = {}
    try:
        reader = TableReader(loc, table)
    except SourceFileError as e:
        return TableCheck(table, "unreadable", getattr(e, "file", "")), [Problem("reject", table, str(e))], codes
    check = TableCheck(table, "present", reader.file, reader.encoding)
    if reader.where is not None and not reader.columns:
        check.presence = "empty"
        problems.append(Problem("warning", table, f"{table} is empty (no header, no records): if the table holds "
                                                  "records in work4all, ask the vendor to export it again",
                                file=reader.file))
        return check, problems, codes
    check.missing_columns = list(reader.missing_columns)
    check.custom_columns = list(reader.extra_columns)
    for c in reader.missing_columns:
        problems.append(Problem("reject", table, f"column {c!r} is missing: ask the vendor to include it (or, if "
                                                 "it has another header, name it in the map's aliases)",
                                file=reader.file, column=c))
    if reader.extra_columns:
        problems.append(Problem("warning", table, f"{len(reader.extra_columns)} column(s) outside the format, read "
                                                  f"as custom fields: {', '.join(reader.extra_columns)}",
                                file=reader.file))
    rng = random.Random(f"work4all-validate:{seed}:{table}")
    sample: list[dict] = []
    malformed: list[dict] = []
    for row in reader:
        check.records += 1
        if "_error" in row:
            check.malformed += 1
            if len(malformed) < 20:
                malformed.append(row)
            continue
        if table == "Belege" and row.get("Code"):
            codes[row["Code"].strip()] = f"{row.get('Belegart') or ''} {row.get('Nummer') or ''}".strip()
        elif table == "Belegpositionen" and row.get("BelegCode"):
            k = row["BelegCode"].strip()
            codes[k] = str(int(codes.get(k, "0")) + 1)
        # reservoir sampling: every record equally likely, whatever the table's size
        n = check.records - check.malformed
        if len(sample) < sample_size:
            sample.append(row)
        else:
            j = rng.randrange(n)
            if j < sample_size:
                sample[j] = row
    check.sampled = len(sample)
    for row in malformed:
        problems.append(Problem("warning", table, f"unreadable record: {row['_error']}", file=row["_file"],
                                row=row["_row"], column="", value=row.get("Code") or ""))
    if check.malformed > 20:
        problems.append(Problem("warning", table, f"... {check.malformed - 20} more unreadable records",
                                file=reader.file))
    if check.records and check.malformed / check.records > max_error_rate:
        problems.append(Problem("reject", table, f"{check.malformed} of {check.records:,} records cannot be read "
                                                 f"(more than {max_error_rate:.0%}): the file's quoting or separator "
                                                 "is broken; ask the vendor to export it again", file=reader.file))
    sample.sort(key=lambda r: r["_record"])
    for row in sample:
        bad = False
        for column, raw in row.items():
            if column.startswith("_") or raw is None:
                continue
            kind = column_kind(table, column)
            parse = _parser(kind, tz)
            message = None
            if parse is not None:
                try:
                    parse(raw)
                except ValueError as e:
                    message = str(getattr(e, "message", None) or e)
            allowed = OPTION_VALUES.get((table, column))
            if message is None and allowed and raw.strip().casefold() not in {a.casefold() for a in allowed}:
                message = f"{raw!r} is not one of the format's values ({', '.join(allowed)})"
            if message is not None:
                bad = True
                problems.append(Problem("warning", table, message, file=row["_file"], row=row["_row"],
                                        column=column, value=raw))
        check.sampled_with_problems += bad
    if check.sampled and check.sampled_with_problems / check.sampled > max_error_rate:
        problems.append(Problem("reject", table, f"{check.sampled_with_problems} of {check.sampled} sampled records "
                                                 f"hold values that do not parse (more than {max_error_rate:.0%}): "
                                                 "check the number and date formats with the vendor",
                                file=reader.file))
    return check, problems, codes


def _orphans(belege: dict[str, str], positioned: set[str], positions_of: dict[str, int],
             checks: list[TableCheck]) -> list[Problem]:
    out: list[Problem] = []
    present = {c.table for c in checks if c.presence == "present"}
    if "Belege" not in present:
        return out
    if "Belegpositionen" not in present:
        if belege:
            out.append(Problem("reject", "Belege", f"{len(belege):,} Belege but no Belegpositionen: documents would "
                                                   "load without their lines; ask the vendor for Belegpositionen"))
        return out
    without = [c for c in belege if c not in positioned]
    file = next((c.file for c in checks if c.table == "Belege"), "")
    for code in without[:50]:
        out.append(Problem("warning", "Belege", f"Beleg {code} ({belege[code]}) has no Belegpositionen: it is "
                                                "reported by the run, not loaded without its lines",
                           file=file, column="Code", value=code))
    if len(without) > 50:
        out.append(Problem("warning", "Belege", f"... and {len(without) - 50} more Belege without Belegpositionen"))
    orphans = sorted(positioned - set(belege))
    if orphans:
        n = sum(positions_of.get(c, 0) for c in orphans)
        out.append(Problem("warning", "Belegpositionen", f"{n} Belegpositionen of {len(orphans)} Beleg code(s) not "
                                                         f"in Belege (e.g. {', '.join(orphans[:5])}): they cannot be "
                                                         "loaded", column="BelegCode", value=orphans[0]))
    return out
