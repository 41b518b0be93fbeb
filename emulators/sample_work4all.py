"""Deterministic sample work4all export (../shared/formats/work4all-export.md), with realistic German dirt.

    python -m emulators.sample_work4all --out out/w4a/export --seed 7 --scale 1 [--omit Zahlungen,Preislisten]

writes the export folder (CSV and Excel as a vendor delivers it, ``Dateien/`` with the documents' PDFs),
the Dynamics 365 users the customer's administrator has provisioned to ``--users-out`` (default
``<out>/../provisioned_users.json``) and ``<out>/../expected_dirt.json`` (which codes carry which dirt,
how many records every table holds). ``records(seed, scale)`` returns the same tenant as
``{table: [row dict]}`` (German column names, values as the export spells them), for the GraphQL
emulator to serve the same data.

The same seed and scale give byte-identical files: nothing depends on the clock, on hash ordering or
on the platform (the workbooks are written by this module with fixed zip timestamps). Each table draws
from its own random stream.

What the export looks like (the dirt is on purpose):
- ``Kunden.csv``, ``Lieferanten.csv``, ``Mitarbeiter.csv``, ``Verkaufschancen.csv``, ``Belege.csv``,
  ``OffenePosten.csv``, ``Zahlungen.csv``, ``Telefonnotizen.csv``, ``Besuchsberichte.csv``: Windows-1252
  (umlauts and ß as single bytes), semicolons, CRLF, ``"`` quoting (notes with semicolons and line breaks);
  ``Ansprechpartner.csv``: UTF-8 with a byte order mark; ``Belegpositionen.csv``, ``Aufgaben.csv``: UTF-8
  without one.
- ``Artikel.xlsx`` (first sheet ``Tabelle1``; prices as numbers, some as text ``1.234,56``) and the sheet
  ``Preislisten`` of the workbook ``Stammdaten.xlsx``.
- Numbers ``1.234,56``, ``1234,56``, ``1234,5``, ``-1.234,56``; dates ``dd.mm.yyyy`` and
  ``dd.mm.yyyy HH:MM`` (local German time, some at the DST changes); booleans ``Ja``/``Nein``,
  ``WAHR``/``FALSCH``, ``1``/``0`` mixed.
- A Kunde and a Lieferant with the same ``Nummer`` (and the same ``Code``: codes are per table); contact
  persons of suppliers; owners (``Vertreter``, ``Mitarbeiter``) as e-mail or ``Kuerzel``, some unknown;
  Gutschriften (negative amounts), partial payments, an overpaid item, a payment without its item; a
  Beleg without Positionen; an offer in an unknown currency; a value that does not parse; industry-extension
  columns on ``Besuchsberichte``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import random
import sys
import zipfile
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Iterable
from xml.sax.saxutils import escape

from emulators.sample_worketc import _pdf
from shared.sources.work4all.export import COLUMNS

BASE = datetime(2019, 1, 7, 8, 0)
SPAN_DAYS = 5 * 365
CENT = Decimal("0.01")

#: industry-extension columns on Besuchsberichte (a machine-building extension); not in the contract
EXTENSION_COLUMNS = ("Maschinentyp", "Seriennummer", "Wartungsintervall (Monate)", "Nächster Termin")

#: file layout of the sample: table -> (file, encoding) for CSVs; workbooks below
CSV_FILES: dict[str, tuple[str, str]] = {
    "Mitarbeiter": ("Mitarbeiter.csv", "cp1252"),
    "Kunden": ("Kunden.csv", "cp1252"),
    "Lieferanten": ("Lieferanten.csv", "cp1252"),
    "Ansprechpartner": ("Ansprechpartner.csv", "utf-8-sig"),
    "Verkaufschancen": ("Verkaufschancen.csv", "cp1252"),
    "Belege": ("Belege.csv", "cp1252"),
    "Belegpositionen": ("Belegpositionen.csv", "utf-8"),
    "OffenePosten": ("OffenePosten.csv", "cp1252"),
    "Zahlungen": ("Zahlungen.csv", "cp1252"),
    "Telefonnotizen": ("Telefonnotizen.csv", "cp1252"),
    "Besuchsberichte": ("Besuchsberichte.csv", "cp1252"),
    "Aufgaben": ("Aufgaben.csv", "utf-8"),
}
#: table -> (workbook, sheet)
XLSX_SHEETS: dict[str, tuple[str, str]] = {
    "Artikel": ("Artikel.xlsx", "Tabelle1"),
    "Preislisten": ("Stammdaten.xlsx", "Preislisten"),
}

# ------------------------------------------------------------------------------- vocabularies

VORNAMEN = ("Jürgen Sören Björn Günter Jörg Uwe Klaus Thomas Stefan Andreas Michael Matthias Frank Dieter Jens "
            "Käthe Jürgen Ute Anke Birgit Sabine Petra Claudia Martina Susanne Gisela Renate Ingrid Bärbel "
            "Heike Lena Jonas Lukas Mia Sophie Emilia Hannah Leonie Maximilian Felix").split()
NACHNAMEN = ("Müller Schmidt Schneider Fischer Weiß Meyer Wagner Becker Schulz Hoffmann Schäfer Koch Bauer "
             "Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann Lange "
             "Schmitt Werner Krause Meier Lehmann Groß Köhler Jäger Böhm Günther Fuß Strauß Dreßler").split()
FIRMA1 = ("Müller", "Schäfer", "Weißbach", "Großmann", "Köhler", "Nordlicht", "Rheinblick", "Hansa", "Alpen",
          "Süderelbe", "Bärenstark", "Förde", "Mainufer", "Isar", "Spreewald", "Elbtal", "Münsterland",
          "Schwarzwald", "Bodensee", "Harz")
FIRMA2 = ("Haustechnik", "Maschinenbau", "Elektro", "Metallbau", "Bäckerei", "Druckerei", "Logistik",
          "Gebäudereinigung", "Steuerberatung", "Schreinerei", "Kältetechnik", "Medizintechnik", "Autohaus",
          "Garten- und Landschaftsbau", "Fußbodentechnik", "Straßenbau")
RECHTSFORM = ("GmbH", "GmbH", "GmbH & Co. KG", "KG", "AG", "e.K.", "OHG", "UG (haftungsbeschränkt)")
ORTE = (("80331", "München"), ("50667", "Köln"), ("40213", "Düsseldorf"), ("90402", "Nürnberg"),
        ("20095", "Hamburg"), ("10115", "Berlin"), ("70173", "Stuttgart"), ("60311", "Frankfurt am Main"),
        ("01067", "Dresden"), ("04109", "Leipzig"), ("28195", "Bremen"), ("48143", "Münster"),
        ("33602", "Bielefeld"), ("97070", "Würzburg"), ("66111", "Saarbrücken"))
STRASSEN = ("Hauptstraße", "Bahnhofstraße", "Schulstraße", "Gartenstraße", "Dorfstraße", "Bergstraße",
            "Lindenstraße", "Mühlenweg", "Königsallee", "Am Südpark", "Große Bleichen", "Rosenstraße",
            "Industriestraße", "Gewerbering", "Schloßallee")
LAENDER = ("Deutschland", "Deutschland", "Deutschland", "DE", "D", "Österreich", "Schweiz")
GRUPPEN = ("A-Kunde", "B-Kunde", "C-Kunde", "Händler", "Endkunde", "Großhandel")
FUNKTIONEN = ("Geschäftsführer", "Einkaufsleiter", "Buchhaltung", "Prokurist", "Technischer Leiter",
              "Sachbearbeiterin", "Assistenz der Geschäftsführung", "Werkstattmeister")
ABTEILUNGEN = ("Geschäftsführung", "Einkauf", "Buchhaltung", "Technik", "Vertrieb", "Service", "Lager")
ANREDEN = ("Herr", "Frau", "Herr", "Frau", "Divers", "")
EINHEITEN = ("Stk", "Stk", "Std", "m", "kg", "Pauschal", "Psch.")
WARENGRUPPEN = ("Ersatzteile", "Dienstleistung", "Montage", "Verbrauchsmaterial", "Maschinen", "Software")
ARTIKEL = ("Dichtungssatz", "Wartungspauschale", "Montagestunde", "Kugellager", "Schweißdraht", "Steuerplatine",
           "Hydraulikschlauch", "Filtereinsatz", "Fräskopf", "Schutzgitter", "Kühlmittel", "Antriebsriemen",
           "Softwarelizenz", "Schulung vor Ort", "Anfahrtspauschale", "Außendienststunde")
PHASEN = (("Erstkontakt", 10), ("Bedarfsanalyse", 25), ("Angebot", 50), ("Verhandlung", 75), ("Abschluss", 90))
PROJEKTE = ("Modernisierung Halle", "Wartungsvertrag", "Neuanlage Fräszentrum", "Umrüstung Steuerung",
            "Ersatzteilpaket", "Schulungsprogramm", "Erweiterung Lager", "Retrofit Presse", "Service-Rahmenvertrag")
NOTIZEN = ("Rückruf erbeten; bitte bis Freitag.", "Zahlt zuverlässig.", "Ansprechpartner wechselt zum 1. Juli.",
           "Bitte nur per E-Mail; keine Anrufe vor 9 Uhr.", "Schlüssel beim Pförtner (\"Herr Groß\").",
           "Mahnstufe 1 am 12.03.\r\nZahlung zugesagt.", "Liefertermin abstimmen;\r\nAnlieferung über Tor 3.",
           "Größere Bestellung im Herbst geplant.", "")
TELEFON_NOTIZEN = ("Rückfrage zur Rechnung", "Termin für Wartung vereinbart", "Reklamation Lieferung; Ersatz zugesagt",
                   "Angebot nachgefasst", "Preisanfrage für Ersatzteile", "Kunde bittet um Rückruf\r\nwegen Lieferzeit",
                   "Kurze Abstimmung zur Montage")
BERICHT_TITEL = ("Besuch vor Ort", "Jahresgespräch", "Inbetriebnahme", "Wartungsbesuch", "Messegespräch",
                 "Reklamationsaufnahme")
AUFGABEN = ("Angebot nachfassen", "Rechnungskopie senden", "Wartungstermin planen", "Preisliste aktualisieren",
            "Rückruf Buchhaltung", "Ersatzteil bestellen", "Vertrag verlängern", "Mahnung prüfen")
MASCHINEN = ("DMU 50", "Trumpf TruLaser 3030", "Hermle C 42", "Bystronic Xpert", "Kuka KR 16", "")
GERMAN_TRUE = ("Ja", "WAHR", "1")
GERMAN_FALSE = ("Nein", "FALSCH", "0")

#: employees: Code, Kuerzel, Vorname, Name, EMail, Aktiv; the e-mail of MA index 6 is not provisioned in
#: Dynamics 365, MA index 7 left (Aktiv Nein)
MITARBEITER = (
    ("Jürgen", "Weiß", "JW"), ("Sabine", "Krüger", "SK"), ("Björn", "Schäfer", "BS"), ("Käthe", "Groß", "KG"),
    ("Thomas", "Müller", "TM"), ("Anke", "Hoffmann", "AH"), ("Sören", "Dreßler", "SD"), ("Uwe", "Böhm", "UB"),
)
DOMAIN = "beispiel-maschinenbau.de"
UNKNOWN_OWNERS = ("HW", "k.mueller@alt-firma.de")  # neither an employee's Kuerzel nor e-mail


# ------------------------------------------------------------------------------------ helpers

def _rng(seed: int, stream: str) -> random.Random:
    return random.Random(f"work4all-sample:{seed}:{stream}")


def _when(rng: random.Random, start: datetime = BASE, days: int = SPAN_DAYS) -> datetime:
    return start + timedelta(minutes=rng.randrange(days * 24 * 60 // 15) * 15)


def de_date(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def de_datetime(dt: datetime) -> str:
    return dt.strftime("%d.%m.%Y %H:%M")


def de_number(x: Decimal, *, thousands: bool = True, places: int = 2) -> str:
    """German notation: ``1.234,56`` (``thousands=False``: ``1234,56``)."""
    q = Decimal(1).scaleb(-places) if places else Decimal(1)
    x = Decimal(x).quantize(q, ROUND_HALF_UP)
    s = f"{abs(x):,.{places}f}" if thousands else f"{abs(x):.{places}f}"
    s = s.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return ("-" if x < 0 else "") + s


def _money(rng: random.Random, x: Decimal) -> str:
    """A money cell as exports spell it: mostly ``1.234,56``, sometimes ``1234,56`` or ``1234,5``."""
    r = rng.random()
    if r < 0.7:
        return de_number(x)
    if r < 0.9 or x.quantize(CENT) != x.quantize(Decimal("0.1")):
        return de_number(x, thousands=False)
    return de_number(x, thousands=False, places=1)


def _bool(rng: random.Random, value: bool) -> str:
    return rng.choice(GERMAN_TRUE if value else GERMAN_FALSE)


def _slug(text: str) -> str:
    table = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue"})
    return "".join(c for c in text.translate(table).lower() if c.isascii() and c.isalnum())[:24] or "firma"


def _phone(rng: random.Random) -> str:
    return f"0{rng.choice(('89', '221', '211', '911', '40', '30', '711', '69'))} {rng.randrange(100000, 9999999)}"


def _mobil(rng: random.Random) -> str:
    return f"01{rng.choice('567')}{rng.randrange(0, 9)} {rng.randrange(1000000, 9999999)}"


class _Picker:
    """Hands out distinct indices in a deterministic order, so no record carries two kinds of dirt."""

    def __init__(self, rng: random.Random, n: int):
        self.order = list(range(n))
        rng.shuffle(self.order)
        self.pos = 0

    def take(self, k: int = 1) -> list[int]:
        if self.pos + k > len(self.order):
            raise ValueError("not enough records for the dirt; use a larger scale")
        self.pos += k
        return self.order[self.pos - k:self.pos]


# ----------------------------------------------------------------------------------- workbooks

def _col(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


_EPOCH = datetime(1899, 12, 30)


def _cell(ref: str, v: Any) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return f'<c r="{ref}" t="b"><v>{int(v)}</v></c>'
    if isinstance(v, datetime):
        serial = (v - _EPOCH) / timedelta(days=1)
        return f'<c r="{ref}" s="2"><v>{round(serial, 8)!r}</v></c>'
    if isinstance(v, date):
        return f'<c r="{ref}" s="1"><v>{(v - _EPOCH.date()).days}</v></c>'
    if isinstance(v, (int, float, Decimal)):
        return f'<c r="{ref}"><v>{v}</v></c>'
    text = escape(str(v)).replace("\r", "&#13;")
    space = ' xml:space="preserve"' if text != text.strip() or "\n" in text else ""
    return f'<c r="{ref}" t="inlineStr"><is><t{space}>{text}</t></is></c>'


def write_xlsx(path: str | Path, sheets: Iterable[tuple[str, list[str], Iterable[list[Any]]]]) -> None:
    """A minimal Office Open XML workbook, streamed (constant memory) and byte-identical for the same rows.

    Cells: ``str`` (inline strings), ``int``/``float``/``Decimal`` (numbers), ``bool``, ``date`` and
    ``datetime`` (serial numbers with a date / date-time number format, as Excel stores them)."""
    sheets = list(sheets)

    def info(name: str) -> zipfile.ZipInfo:
        zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
        zi.compress_type = zipfile.ZIP_DEFLATED
        zi.external_attr = 0o600 << 16
        return zi

    ns = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    rel_ns = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
    with zipfile.ZipFile(path, "w") as z:
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-'
            f'officedocument.spreadsheetml.worksheet+xml"/>' for i in range(1, len(sheets) + 1))
        z.writestr(info("[Content_Types].xml"),
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                   '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                   '<Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                   'spreadsheetml.sheet.main+xml"/>'
                   '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                   f'spreadsheetml.styles+xml"/>{overrides}</Types>')
        z.writestr(info("_rels/.rels"),
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                   'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        sheet_xml = "".join(f'<sheet name="{escape(name)}" sheetId="{i}" r:id="rId{i}"/>'
                            for i, (name, _, _) in enumerate(sheets, 1))
        z.writestr(info("xl/workbook.xml"),
                   f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook {ns} {rel_ns}>'
                   f'<sheets>{sheet_xml}</sheets></workbook>')
        rels = "".join(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                       f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(sheets) + 1))
        rels += (f'<Relationship Id="rId{len(sheets) + 1}" Type="http://schemas.openxmlformats.org/officeDocument/'
                 '2006/relationships/styles" Target="styles.xml"/>')
        z.writestr(info("xl/_rels/workbook.xml.rels"),
                   '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://schemas.'
                   f'openxmlformats.org/package/2006/relationships">{rels}</Relationships>')
        z.writestr(info("xl/styles.xml"),
                   f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet {ns}>'
                   '<numFmts count="1"><numFmt numFmtId="164" formatCode="dd/mm/yyyy hh:mm"/></numFmts>'
                   '<fonts count="1"><font><sz val="11"/><name val="Calibri"/></font></fonts>'
                   '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
                   '<borders count="1"><border/></borders>'
                   '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
                   '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
                   '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
                   '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
                   '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
                   '</styleSheet>')
        for i, (_, header, rows) in enumerate(sheets, 1):
            # the used range, as Excel writes it (readers size the sheet from it; "A1" when rows stream)
            ref = f"A1:{_col(max(len(header), 1) - 1)}{len(rows) + 1}" if isinstance(rows, list) else "A1"
            with z.open(info(f"xl/worksheets/sheet{i}.xml"), "w", force_zip64=True) as raw:
                f = io.BufferedWriter(raw, 1 << 16)
                f.write(f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet {ns}>'
                        f'<dimension ref="{ref}"/><sheetData>'.encode())
                buf: list[str] = []
                for r, row in enumerate(_chain([header], rows), 1):
                    buf.append(f'<row r="{r}">' + "".join(_cell(f"{_col(c)}{r}", v) for c, v in enumerate(row))
                               + "</row>")
                    if len(buf) >= 1000:
                        f.write("".join(buf).encode())
                        buf.clear()
                f.write("".join(buf).encode())
                f.write(b"</sheetData></worksheet>")
                f.flush()


def _chain(*its: Iterable) -> Iterable:
    for it in its:
        yield from it


def write_csv(path: str | Path, header: list[str], rows: Iterable[list[str]], encoding: str = "cp1252") -> None:
    """Semicolons, CRLF, ``"`` quoting where needed; ``encoding`` ``cp1252``, ``utf-8`` or ``utf-8-sig``."""
    with open(path, "w", encoding=encoding, newline="") as f:
        w = csv.writer(f, delimiter=";", lineterminator="\r\n")
        w.writerow(header)
        w.writerows(["" if v is None else v for v in row] for row in rows)


# ---------------------------------------------------------------------------------- the tenant

def _scale(scale: int) -> int:
    if not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be a whole number >= 1, not {scale!r}")
    return scale


def _tenant(seed: int, scale: int) -> tuple[dict[str, list[dict]], dict[str, Any], dict[str, Any]]:
    """(records per table, expected dirt, typed cells for the workbooks: {table: {(row, column): value}})."""
    S = _scale(scale)
    dirt: dict[str, Any] = {"seed": seed, "scale": S}
    T: dict[str, list[dict]] = {t: [] for t in COLUMNS}
    typed: dict[str, dict[tuple[int, str], Any]] = {"Artikel": {}, "Preislisten": {}}

    def row(table: str, **values: Any) -> dict:
        r = {c: "" for c in COLUMNS[table]}
        for k, v in values.items():
            if k not in r and not (table == "Besuchsberichte" and k in EXTENSION_COLUMNS):
                raise KeyError(f"{table}.{k}")
            r[k] = "" if v is None else str(v)
        T[table].append(r)
        return r

    # --------------------------------------------------------------------- Mitarbeiter
    rng = _rng(seed, "mitarbeiter")
    emails = []
    for i, (vor, nach, kz) in enumerate(MITARBEITER):
        mail = f"{_slug(vor)}.{_slug(nach)}@{DOMAIN}"
        emails.append(mail)
        row("Mitarbeiter", Code=str(i + 1), Kuerzel=kz, Vorname=vor, Name=nach,
            EMail=mail if i != 3 else mail.upper(),  # case differs from the D365 user's
            Aktiv=_bool(rng, i != 7))
    kuerzel = [m[2] for m in MITARBEITER]
    dirt["unprovisioned_employee"] = emails[6]
    dirt["inactive_employee"] = emails[7]
    dirt["unknown_owners"] = list(UNKNOWN_OWNERS)

    def owner(rng: random.Random) -> str:
        i = rng.randrange(len(MITARBEITER) - 1)  # the inactive one owns nothing new
        return emails[i] if rng.random() < 0.5 else kuerzel[i]

    # --------------------------------------------------------------------- Kunden, Lieferanten
    nk, nl = 40 * S, 12 * S
    rng = _rng(seed, "kunden")
    pick = _Picker(_rng(seed, "kunden:dirt"), nk)
    d_unknown_owner = pick.take(2)
    d_bad_date = pick.take(1)
    d_dst = pick.take(2)
    d_quoted = pick.take(3)
    d_private = pick.take(2)
    kunden: list[dict] = []
    for i in range(nk):
        plz, ort = rng.choice(ORTE)
        private = i in d_private
        if private:
            name = f"{rng.choice(NACHNAMEN)}, {rng.choice(VORNAMEN)}"
            firma2 = ""
        else:
            name = f"{rng.choice(FIRMA1)} {rng.choice(FIRMA2)} {rng.choice(RECHTSFORM)}"
            firma2 = rng.choice(("", "", f"Inh. {rng.choice(VORNAMEN)} {rng.choice(NACHNAMEN)}", "Niederlassung Süd"))
        created = _when(rng)
        modified = created + timedelta(days=rng.randrange(0, 400), minutes=rng.randrange(0, 600) * 15 % 1440)
        if i in d_dst:  # the spring gap (02:30 does not exist) and the autumn overlap (02:30 happens twice)
            modified = datetime(2024, 3, 31, 2, 30) if i == d_dst[0] else datetime(2024, 10, 27, 2, 30)
        note = rng.choice(NOTIZEN)
        if i in d_quoted:
            note = ["Lieferung nur Mo-Fr; Rampe 2", "Achtung: \"Großkunde\"; Sonderpreise\r\nsiehe Vertrag",
                    "Öffnungszeiten: 7-16 Uhr;\r\nSamstag geschlossen"][d_quoted.index(i)]
        first = _when(rng, datetime(2005, 1, 1), 14 * 365).date()
        erst = de_date(first) if i not in d_bad_date else "31.02.2019"
        slug = _slug(name.split(",")[0])
        r = row("Kunden", Code=str(1000 + i), Nummer=str(10001 + i), Name=name, Firma2=firma2,
                Strasse=f"{rng.choice(STRASSEN)} {rng.randrange(1, 180)}{rng.choice(('', '', 'a', 'b'))}",
                PLZ=plz, Ort=ort, Land=rng.choice(LAENDER), Telefon=_phone(rng),
                Telefon2=_phone(rng) if rng.random() < 0.3 else "", Telefax=_phone(rng) if rng.random() < 0.4 else "",
                EMail=f"info@{slug}.de" if not private else f"{slug}{rng.randrange(10, 99)}@web.de",
                Internet=f"www.{slug}.de" if not private else "", Privatkunde=_bool(rng, private),
                Gesperrt=_bool(rng, rng.random() < 0.05), Zahlungsfrist=str(rng.choice((14, 30, 30, 45, 60))),
                Gruppe=rng.choice(GRUPPEN), Notiz=note, Erstkontakt=erst,
                Vertreter=owner(rng) if i not in d_unknown_owner else UNKNOWN_OWNERS[d_unknown_owner.index(i)],
                AngelegtAm=de_datetime(created), GeaendertAm=de_datetime(modified))
        kunden.append(r)
    dirt["kunden_unknown_owner"] = [kunden[i]["Code"] for i in d_unknown_owner]
    dirt["kunden_bad_date"] = [{"Code": kunden[i]["Code"], "column": "Erstkontakt", "value": "31.02.2019"}
                               for i in d_bad_date]
    dirt["kunden_dst"] = [{"Code": kunden[i]["Code"], "GeaendertAm": kunden[i]["GeaendertAm"]} for i in d_dst]
    dirt["kunden_quoted_notes"] = [kunden[i]["Code"] for i in d_quoted]
    dirt["privatkunden"] = [kunden[i]["Code"] for i in d_private]

    rng = _rng(seed, "lieferanten")
    lieferanten: list[dict] = []
    for i in range(nl):
        plz, ort = rng.choice(ORTE)
        first_word = rng.choice(FIRMA1)
        kind = rng.choice(("Industriebedarf", "Werkzeuge", "Stahlhandel", "Elektronik", "Spedition"))
        name = f"{first_word} {kind} {rng.choice(RECHTSFORM)}"
        created = _when(rng)
        slug = _slug(name)
        # the first supplier has the Nummer (and the internal Code) of the first customer: codes are per table
        code, nummer = (kunden[0]["Code"], kunden[0]["Nummer"]) if i == 0 else (str(5000 + i), str(70001 + i))
        lieferanten.append(row(
            "Lieferanten", Code=code, Nummer=nummer, Name=name, Firma2="", Strasse=f"{rng.choice(STRASSEN)} "
            f"{rng.randrange(1, 99)}", PLZ=plz, Ort=ort, Land=rng.choice(LAENDER[:4]), Telefon=_phone(rng),
            Telefax=_phone(rng), EMail=f"bestellung@{slug}.de", Internet=f"www.{slug}.de",
            Privatkunde=_bool(rng, False), Gesperrt=_bool(rng, False), Zahlungsfrist=str(rng.choice((10, 14, 30))),
            Gruppe=rng.choice(("Rohstoffe", "Zukaufteile", "Dienstleister")), Notiz=rng.choice(NOTIZEN),
            Erstkontakt=de_date(_when(rng, datetime(2005, 1, 1), 14 * 365).date()), Vertreter=owner(rng),
            AngelegtAm=de_datetime(created), GeaendertAm=de_datetime(created + timedelta(days=rng.randrange(0, 200)))))
    dirt["same_nummer"] = {"Kunden": kunden[0]["Code"], "Lieferanten": lieferanten[0]["Code"],
                           "Nummer": kunden[0]["Nummer"]}

    # --------------------------------------------------------------------- Ansprechpartner
    rng = _rng(seed, "ansprechpartner")
    ap_by_kunde: dict[str, list[str]] = {}
    ap_by_lief: dict[str, list[str]] = {}
    code = 1
    for parent, table, col in ((kunden, ap_by_kunde, "KundenCode"), (lieferanten, ap_by_lief, "LieferantenCode")):
        for p in parent:
            n = rng.randrange(1, 4) if col == "KundenCode" else rng.randrange(1, 3)
            for j in range(n):
                vor, nach = rng.choice(VORNAMEN), rng.choice(NACHNAMEN)
                created = _when(rng)
                row("Ansprechpartner", Code=str(code), **{col: p["Code"]},
                    Anrede=rng.choice(ANREDEN), Vorname=vor, Name=nach, Funktion=rng.choice(FUNKTIONEN),
                    Abteilung=rng.choice(ABTEILUNGEN), Telefon=_phone(rng), Mobilfunk=_mobil(rng),
                    EMail=f"{_slug(vor)}.{_slug(nach)}@{_slug(p['Name'].split(',')[0])}.de",
                    Hauptansprechpartner=_bool(rng, j == 0), Notiz=rng.choice(NOTIZEN),
                    AngelegtAm=de_datetime(created),
                    GeaendertAm=de_datetime(created + timedelta(hours=rng.randrange(1, 9000))))
                table.setdefault(p["Code"], []).append(str(code))
                code += 1
    orphan = row("Ansprechpartner", Code=str(code), KundenCode="99999", Anrede="Frau", Vorname="Grete",
                 Name="Straßburger", Funktion="Einkauf", EMail="g.strassburger@unbekannt.de",
                 Hauptansprechpartner="Nein", AngelegtAm="02.05.2021 10:00", GeaendertAm="02.05.2021 10:00")
    dirt["ansprechpartner_orphan"] = [orphan["Code"]]
    dirt["ansprechpartner_of_lieferanten"] = sorted((c for v in ap_by_lief.values() for c in v), key=int)

    # --------------------------------------------------------------------- Artikel, Preislisten
    rng = _rng(seed, "artikel")
    na = 30 * S
    artikel: list[dict] = []
    for i in range(na):
        base = ARTIKEL[i % len(ARTIKEL)]
        vk = Decimal(rng.randrange(250, 2_500_000)) / 100
        ek = (vk * Decimal(rng.randrange(40, 80)) / 100).quantize(CENT)
        stock = Decimal(rng.randrange(0, 50000)) / 10
        r = row("Artikel", Code=str(300 + i), Nummer=f"ART-{i + 1:05d}", Bezeichnung=f"{base} {i // len(ARTIKEL) + 1}"
                if i >= len(ARTIKEL) else base, Langtext=f"{base} für Maschinen der Baureihe {rng.choice('ABCX')}"
                f"{rng.randrange(10, 99)};\nGröße {rng.choice(('S', 'M', 'L', 'XL'))}, geprüft nach DIN",
                Einheit=rng.choice(EINHEITEN), VKPreis=de_number(vk), EKPreis=de_number(ek),
                Lagerbestand=de_number(stock, thousands=False, places=1), Warengruppe=rng.choice(WARENGRUPPEN),
                Gesperrt=_bool(rng, i % 17 == 16))
        k = len(artikel)
        artikel.append(r)
        # in the workbook: prices as numbers except every fifth (text as someone typed it), booleans as WAHR/FALSCH
        if i % 5:
            typed["Artikel"][(k, "VKPreis")] = vk
            typed["Artikel"][(k, "EKPreis")] = ek
            typed["Artikel"][(k, "Lagerbestand")] = stock
        typed["Artikel"][(k, "Code")] = 300 + i
    rng = _rng(seed, "preislisten")
    for liste, factor, cur in (("Standard", Decimal(1), "EUR"), ("Händler", Decimal("0.85"), "EUR"),
                               ("Export Schweiz", Decimal("1.05"), "CHF")):
        for k, a in enumerate(artikel):
            if liste != "Standard" and rng.random() < 0.4:
                continue
            price = (Decimal(a["VKPreis"].replace(".", "").replace(",", ".")) * factor).quantize(CENT)
            row("Preislisten", Preisliste=liste, ArtikelCode=a["Code"], Preis=de_number(price), Waehrung=cur)
            typed["Preislisten"][(len(T["Preislisten"]) - 1, "Preis")] = price
            typed["Preislisten"][(len(T["Preislisten"]) - 1, "ArtikelCode")] = int(a["Code"])
    bad_cur = row("Preislisten", Preisliste="Altpreise", ArtikelCode=artikel[0]["Code"], Preis="19,99", Waehrung="DM")
    dirt["preislisten_unknown_currency"] = [{"Preisliste": bad_cur["Preisliste"], "ArtikelCode": bad_cur["ArtikelCode"],
                                             "Waehrung": "DM"}]

    # --------------------------------------------------------------------- Verkaufschancen
    rng = _rng(seed, "verkaufschancen")
    nv = 30 * S
    pick = _Picker(_rng(seed, "verkaufschancen:dirt"), nv)
    d_bad_value = pick.take(1)
    d_bad_currency = pick.take(1)
    chancen: list[dict] = []
    for i in range(nv):
        k = kunden[rng.randrange(nk)]
        status = ("Gewonnen", "Gewonnen", "Verloren", "Offen", "Offen")[i % 5]
        phase, prob = (PHASEN[-1] if status != "Offen" else rng.choice(PHASEN[:-1]))
        if status == "Gewonnen":
            prob = 100
        elif status == "Verloren":
            prob = 0
        value = Decimal(rng.randrange(50_000, 25_000_000)) / 100
        created = _when(rng)
        cur = "CHF" if rng.random() < 0.1 else "EUR"
        wert = _money(rng, value)
        if i in d_bad_value:
            wert = "ca. 5.000"
        if i in d_bad_currency:
            cur = "XEU"
        chancen.append(row(
            "Verkaufschancen", Code=str(700 + i), Bezeichnung=f"{rng.choice(PROJEKTE)} {k['Ort']}", KundenCode=k["Code"],
            AnsprechpartnerCode=rng.choice(ap_by_kunde.get(k["Code"], [""])), Phase=phase,
            Wahrscheinlichkeit=str(prob), Wert=wert, Waehrung=cur,
            Abschlussdatum=de_date((created + timedelta(days=rng.randrange(20, 200))).date()), Status=status,
            Vertreter=owner(rng), AngelegtAm=de_datetime(created),
            GeaendertAm=de_datetime(created + timedelta(days=rng.randrange(1, 120)))))
    dirt["verkaufschancen_bad_value"] = [{"Code": chancen[i]["Code"], "column": "Wert", "value": "ca. 5.000"}
                                         for i in d_bad_value]
    dirt["verkaufschancen_unknown_currency"] = [{"Code": chancen[i]["Code"], "Waehrung": "XEU"} for i in d_bad_currency]

    # --------------------------------------------------------------------- Belege, Positionen
    rng = _rng(seed, "belege")
    beleg_code = [900]
    pos_code = [1]
    numbers = {"Angebot": 0, "Auftrag": 0, "Rechnung": 0, "Gutschrift": 0, "Kostenbeleg": 0}
    prefix = {"Angebot": "AN", "Auftrag": "AB", "Rechnung": "RE", "Gutschrift": "GS", "Kostenbeleg": "ER"}
    pdfs: dict[str, bytes] = {}

    def beleg(art: str, when: date, *, kunde: str = "", lieferant: str = "", chance: str = "", status: str,
              cur: str = "EUR", lines: int | None = None, sign: int = 1, pdf: bool = True) -> dict:
        numbers[art] += 1
        nummer = f"{prefix[art]}-{when.year}-{numbers[art]:04d}"
        code = str(beleg_code[0])
        beleg_code[0] += 1
        netto = Decimal(0)
        for p in range(1, (lines if lines is not None else rng.randrange(1, 5)) + 1):
            a = artikel[rng.randrange(na)]
            menge = Decimal(rng.choice((1, 1, 2, 3, 5, 10, Decimal("2.5"))))
            preis = Decimal(a["VKPreis"].replace(".", "").replace(",", "."))
            rabatt = Decimal(rng.choice((0, 0, 0, 5, 10, Decimal("12.5"))))
            gesamt = (sign * menge * preis * (100 - rabatt) / 100).quantize(CENT, ROUND_HALF_UP)
            netto += gesamt
            row("Belegpositionen", Code=str(pos_code[0]), BelegCode=code, Position=str(p), ArtikelCode=a["Code"],
                Bezeichnung=a["Bezeichnung"], Menge=str(int(menge)) if menge == menge.to_integral()
                else de_number(menge, places=1), Einheit=a["Einheit"],
                Einzelpreis=de_number(preis), Rabatt=de_number(rabatt, places=1) if rabatt else "0",
                Gesamtpreis=_money(rng, gesamt))
            pos_code[0] += 1
        if lines == 0:  # a header whose positions were not exported
            netto = sign * Decimal(rng.randrange(10_000, 500_000)) / 100
        mwst = (netto * Decimal("0.19")).quantize(CENT, ROUND_HALF_UP)
        brutto = netto + mwst
        pdf_path = f"Dateien/{art}_{nummer}.pdf" if pdf else ""
        if pdf:
            pdfs[pdf_path] = _pdf(f"{art} {nummer}")
        return row("Belege", Code=code, Belegart=art, Nummer=nummer, Datum=de_date(when), KundenCode=kunde,
                   LieferantenCode=lieferant, VerkaufschanceCode=chance, Netto=_money(rng, netto),
                   MwSt=_money(rng, mwst), Brutto=de_number(brutto), Waehrung=cur, Status=status, PdfDatei=pdf_path)

    rechnungen: list[tuple[dict, Decimal]] = []
    for c in chancen:
        when = datetime.strptime(c["Abschlussdatum"], "%d.%m.%Y").date()
        cur = c["Waehrung"] if c["Waehrung"] in ("EUR", "CHF") else "EUR"
        if c["Status"] == "Gewonnen":
            beleg("Angebot", when - timedelta(days=30), kunde=c["KundenCode"], chance=c["Code"], status="angenommen",
                  cur=cur)
            if int(c["Code"]) % 3 == 0:
                beleg("Auftrag", when - timedelta(days=10), kunde=c["KundenCode"], chance=c["Code"], status="erledigt",
                      cur=cur, pdf=False)
            b = beleg("Rechnung", when, kunde=c["KundenCode"], chance=c["Code"], status="gebucht", cur=cur)
            rechnungen.append((b, Decimal(b["Brutto"].replace(".", "").replace(",", "."))))
        elif c["Status"] == "Verloren":
            beleg("Angebot", when - timedelta(days=20), kunde=c["KundenCode"], chance=c["Code"], status="abgelehnt",
                  cur=cur)
        elif c["Phase"] in ("Angebot", "Verhandlung"):
            beleg("Angebot", when - timedelta(days=15), kunde=c["KundenCode"], chance=c["Code"], status="offen",
                  cur=cur)
    # invoices without an opportunity (counter sales), a credit memo, a header without positions, cost receipts
    for j in range(3 * S):
        k = kunden[rng.randrange(nk)]
        b = beleg("Rechnung", _when(rng).date(), kunde=k["Code"], status="gebucht")
        rechnungen.append((b, Decimal(b["Brutto"].replace(".", "").replace(",", "."))))
    first_inv = rechnungen[0][0]
    gs = beleg("Gutschrift", datetime.strptime(first_inv["Datum"], "%d.%m.%Y").date() + timedelta(days=14),
               kunde=first_inv["KundenCode"], status="gebucht", lines=1, sign=-1)
    no_pos = beleg("Rechnung", _when(rng).date(), kunde=kunden[1]["Code"], status="gebucht", lines=0)
    dirt["belege_without_positionen"] = [no_pos["Code"]]
    dirt["gutschriften"] = [gs["Code"]]
    kosten = []
    for j in range(4 * S):
        lf = lieferanten[rng.randrange(nl)]
        kosten.append(beleg("Kostenbeleg", _when(rng).date(), lieferant=lf["Code"], status="gebucht")["Code"])
    dirt["kostenbelege"] = kosten
    missing_pdf = T["Belege"][2]["PdfDatei"]
    dirt["missing_pdf"] = [missing_pdf] if missing_pdf else []
    pdfs.pop(missing_pdf, None)

    # --------------------------------------------------------------------- OffenePosten, Zahlungen
    rng = _rng(seed, "offeneposten")
    op_code, z_code = 1, 1
    kinds = ("unbezahlt", "teilbezahlt", "bezahlt", "ueberzahlt")
    dirt["offene_posten"] = {k: [] for k in (*kinds, "gutschrift", "zahlung_ohne_posten")}
    dirt["open_amounts"] = {}
    items = [(b, amt, "Rechnung") for b, amt in rechnungen[: max(8, len(rechnungen) * 2 // 3)]]
    items.append((gs, Decimal(gs["Brutto"].replace(".", "").replace(",", ".")), "Gutschrift"))
    for n, (b, amount, art) in enumerate(items):
        d = datetime.strptime(b["Datum"], "%d.%m.%Y").date()
        code = str(op_code)
        op_code += 1
        row("OffenePosten", Code=code, BelegCode=b["Code"], KundenCode=b["KundenCode"], Rechnungsnummer=b["Nummer"],
            Rechnungsdatum=de_date(d), Faellig=de_date(d + timedelta(days=30)), Rechnungsbetrag=_money(rng, amount),
            Art=art)
        if art == "Gutschrift":
            kind, pays = "gutschrift", [(amount / 2).quantize(CENT)]
        else:
            kind = kinds[n % 4]
            pays = {"unbezahlt": [], "bezahlt": [amount],
                    "teilbezahlt": [(amount * Decimal("0.4")).quantize(CENT), (amount * Decimal("0.25")).quantize(CENT)],
                    "ueberzahlt": [amount, Decimal("50.00")]}[kind]
        for k, p in enumerate(pays):
            row("Zahlungen", Code=str(z_code), OffenerPostenCode=code, Datum=de_date(d + timedelta(days=10 + 7 * k)),
                Betrag=_money(rng, p))
            z_code += 1
        dirt["offene_posten"][kind].append(code)
        dirt["open_amounts"][code] = str(amount - sum(pays, Decimal(0)))
    row("Zahlungen", Code=str(z_code), OffenerPostenCode="9999", Datum="15.06.2023", Betrag="1.000,00")
    dirt["offene_posten"]["zahlung_ohne_posten"].append(str(z_code))

    # --------------------------------------------------------------------- activities
    rng = _rng(seed, "telefonnotizen")
    nt = 40 * S
    for i in range(nt):
        if i % 6 == 5:
            lf = lieferanten[rng.randrange(nl)]
            kc, lc, ap = "", lf["Code"], rng.choice(ap_by_lief.get(lf["Code"], [""]))
        else:
            k = kunden[rng.randrange(nk)]
            kc, lc, ap = k["Code"], "", rng.choice(ap_by_kunde.get(k["Code"], [""]) + [""])
        when = _when(rng)
        if i == 0:
            when = datetime(2023, 3, 26, 3, 15)  # the morning after the spring change
        if i == 1:
            when = datetime(2023, 10, 29, 2, 45)  # inside the autumn overlap: the first (summer time) 02:45
        row("Telefonnotizen", Code=str(1 + i), KundenCode=kc, LieferantenCode=lc, AnsprechpartnerCode=ap,
            Datum=de_datetime(when), Dauer=str(rng.choice((1, 2, 5, 8, 15, 30, 45))),
            Richtung=rng.choice(("eingehend", "ausgehend")), Rufnummer=_phone(rng), Notiz=rng.choice(TELEFON_NOTIZEN),
            Mitarbeiter=owner(rng) if i != 2 else UNKNOWN_OWNERS[0])
    dirt["telefonnotizen_dst"] = ["1", "2"]
    dirt["telefonnotizen_unknown_owner"] = ["3"]

    rng = _rng(seed, "besuchsberichte")
    for i in range(15 * S):
        k = kunden[rng.randrange(nk)]
        art = "Aufgabe" if i % 4 == 3 else "Bericht"
        when = _when(rng)
        masch = rng.choice(MASCHINEN)
        row("Besuchsberichte", Code=str(1 + i), KundenCode=k["Code"],
            AnsprechpartnerCode=rng.choice(ap_by_kunde.get(k["Code"], [""])), Datum=de_datetime(when),
            Titel=rng.choice(BERICHT_TITEL),
            Bericht=("Maschine läuft; Kunde zufrieden.\r\nNächste Wartung im Frühjahr. Ölstand geprüft, Späne "
                     "entfernt." if art == "Bericht" else "Ersatzteilangebot für Spindel erstellen; bis Monatsende."),
            Mitarbeiter=owner(rng), Art=art, **{
                "Maschinentyp": masch, "Seriennummer": f"SN-{rng.randrange(10**6):06d}" if masch else "",
                "Wartungsintervall (Monate)": str(rng.choice((6, 12, 24))) if masch else "",
                "Nächster Termin": de_date((when + timedelta(days=rng.randrange(30, 300))).date()) if masch else ""})
    dirt["besuchsberichte_extension_columns"] = list(EXTENSION_COLUMNS)

    rng = _rng(seed, "aufgaben")
    belege_codes = [b["Code"] for b in T["Belege"]]
    for i in range(25 * S):
        k = kunden[rng.randrange(nk)]
        regarding = i % 5
        row("Aufgaben", Code=str(1 + i), Betreff=rng.choice(AUFGABEN), Notiz=rng.choice(NOTIZEN),
            Status=rng.choice(("offen", "offen", "erledigt")),
            Prioritaet=rng.choice(("niedrig", "normal", "normal", "hoch")),
            Faellig=de_date(_when(rng).date()), KundenCode=k["Code"] if regarding != 4 else "",
            AnsprechpartnerCode=rng.choice(ap_by_kunde.get(k["Code"], [""])) if regarding in (1, 2) else "",
            BelegCode=rng.choice(belege_codes) if regarding == 4 else "",
            Mitarbeiter=owner(rng) if i != 0 else UNKNOWN_OWNERS[1])
    dirt["aufgaben_unknown_owner"] = ["1"]

    dirt["counts"] = {t: len(rows) for t, rows in T.items()}
    dirt["pdfs"] = sorted(pdfs)
    dirt["provisioned_users"] = [
        {"internalemailaddress": e, "fullname": f"{v} {n}"}
        for j, (e, (v, n, _)) in enumerate(zip(emails, MITARBEITER)) if j not in (6, 7)]
    dirt["_pdfs"] = pdfs
    return T, dirt, typed


def records(seed: int = 1, scale: int = 1) -> dict[str, list[dict]]:
    """The sample tenant: ``{table: [{German column: str}]}``, values as the export spells them (empty
    cells ``""``), ``Besuchsberichte`` with its industry-extension columns. The same data ``generate``
    writes; the GraphQL emulator serves it."""
    return _tenant(seed, scale)[0]


def expected_dirt(seed: int = 1, scale: int = 1) -> dict[str, Any]:
    """Which codes carry which dirt, and the counts per table (what ``generate`` writes as JSON)."""
    dirt = dict(_tenant(seed, scale)[1])
    dirt.pop("_pdfs")
    return dirt


def generate(folder: str | Path, *, seed: int = 1, scale: int = 1, omit: Iterable[str] = (),
             users_out: str | Path | None = None, dirt_out: str | Path | None = None) -> dict[str, Any]:
    """Write the export into ``folder`` (created); returns the expected dirt (also written as JSON).

    ``omit``: tables left out, as a Light licence's export lacks them."""
    omit = set(omit)
    unknown = omit - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown table(s) to omit: {sorted(unknown)}; tables: {list(COLUMNS)}")
    T, dirt, typed = _tenant(seed, scale)
    pdfs = dirt.pop("_pdfs")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / "Dateien").mkdir(exist_ok=True)
    for table, (file, enc) in CSV_FILES.items():
        if table in omit:
            continue
        header = list(COLUMNS[table]) + (list(EXTENSION_COLUMNS) if table == "Besuchsberichte" else [])
        write_csv(out / file, header, ([r.get(c, "") for c in header] for r in T[table]), enc)
    workbooks: dict[str, list] = {}
    for table, (book, sheet) in XLSX_SHEETS.items():
        if table in omit:
            continue
        header = list(COLUMNS[table])
        cells = typed.get(table, {})
        rows = [[cells.get((i, c), r[c]) for c in header] for i, r in enumerate(T[table])]
        if table == "Artikel":
            for row_, r in zip(rows, T[table]):  # booleans as Excel booleans
                g = header.index("Gesperrt")
                row_[g] = r["Gesperrt"] in ("Ja", "WAHR", "1")
        workbooks.setdefault(book, []).append((sheet, header, rows))
    if "Preislisten" not in omit:  # a second sheet: the workbook is a set of templates, not one table
        workbooks["Stammdaten.xlsx"].insert(0, ("Hinweise", ["Hinweis"], [["Vorlage Stammdaten; Stand 01.2024"]]))
    for book, sheets in workbooks.items():
        write_xlsx(out / book, sheets)
    for rel, data in sorted(pdfs.items()):
        (out / rel).write_bytes(data)
    dirt["omitted"] = sorted(omit)
    users_out = Path(users_out) if users_out else out.parent / "provisioned_users.json"
    dirt_out = Path(dirt_out) if dirt_out else out.parent / "expected_dirt.json"
    users_out.write_text(json.dumps(dirt["provisioned_users"], indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    dirt_out.write_text(json.dumps(dirt, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return dirt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m emulators.sample_work4all", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="export folder to write (created)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scale", type=int, default=1, help="1 = 40 Kunden, 12 Lieferanten, 30 Artikel, ...; "
                                                         "everything scales with it")
    p.add_argument("--omit", default="", help="comma-separated tables to leave out (a Light licence's export)")
    p.add_argument("--users-out", default=None, help="default <out>/../provisioned_users.json")
    p.add_argument("--dirt-out", default=None, help="default <out>/../expected_dirt.json")
    a = p.parse_args(argv)
    dirt = generate(a.out, seed=a.seed, scale=a.scale, omit=[t for t in a.omit.split(",") if t.strip()],
                    users_out=a.users_out, dirt_out=a.dirt_out)
    print(f"wrote {sum(dirt['counts'].values())} records in {len(dirt['counts'])} tables to {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
