"""The work4all export reader: encodings, separators, quoting, Excel, aliases, absent tables."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import pytest

from emulators.sample_work4all import write_xlsx
from shared.errors import InputError
from shared.staging.imports import ImportLocation
from shared.sources.work4all.export import (SourceFileError, TableReader, Work4allExportSource, check_folder,
                                            count_rows, list_tables, locate, presence, read_table)

KUNDEN_HEADER = "Code;Nummer;Name;Strasse;Ort;Notiz"


def _rows(folder, table, **kw):
    return list(read_table(folder, table, **kw))


def test_cp1252_umlauts_and_sharp_s_survive(export):
    folder = export("Kunden.csv", f"{KUNDEN_HEADER}\r\n1;10001;Müller & Söhne GmbH;Große Straße 5;Köln;Weiß\r\n",
                    "cp1252")
    reader = read_table(folder, "Kunden")
    rows = list(reader)
    assert reader.encoding == "cp1252"
    assert rows[0]["Name"] == "Müller & Söhne GmbH" and rows[0]["Strasse"] == "Große Straße 5"
    assert rows[0]["Ort"] == "Köln" and rows[0]["Notiz"] == "Weiß"
    assert rows[0]["_file"] == "Kunden.csv" and rows[0]["_row"] == 2


@pytest.mark.parametrize("encoding,expected", [("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8")])
def test_utf8_with_and_without_bom(export, encoding, expected):
    folder = export("Kunden.csv", f"{KUNDEN_HEADER}\r\n1;10001;Bäckerei Öztürk;Fußweg 1;München;\r\n", encoding)
    reader = read_table(folder, "Kunden")
    rows = list(reader)
    assert reader.encoding == expected
    assert reader.columns[0] == "Code"  # the byte order mark is not part of the first header
    assert rows[0]["Code"] == "1" and rows[0]["Name"] == "Bäckerei Öztürk" and rows[0]["Notiz"] is None


def test_quoted_semicolons_newlines_and_quotes_keep_line_numbers(export):
    text = (f"{KUNDEN_HEADER}\r\n"
            '1;10001;"Schmidt; Partner";"Hauptstraße 1";Berlin;"Zeile 1\r\nZeile 2; mit ""Zitat"""\r\n'
            "2;10002;Meier;Ring 2;Bonn;\r\n")
    rows = _rows(export("Kunden.csv", text, "cp1252"), "Kunden")
    assert rows[0]["Name"] == "Schmidt; Partner"
    assert rows[0]["Notiz"] == 'Zeile 1\r\nZeile 2; mit "Zitat"'
    assert [r["_row"] for r in rows] == [2, 4]  # the second record starts on physical line 4
    assert [r["_record"] for r in rows] == [1, 2]


def test_lf_line_ends_and_blank_lines(export):
    rows = _rows(export("Kunden.csv", f"{KUNDEN_HEADER}\n1;1;A;S;O;\n\n2;2;B;S;O;\n"), "Kunden")
    assert [r["Code"] for r in rows] == ["1", "2"] and rows[1]["_row"] == 4


def test_malformed_row_is_yielded_with_an_error_not_dropped(export):
    text = f"{KUNDEN_HEADER}\r\n1;1;A;S;O;\r\n2;2;Meier; Söhne;S;O;x\r\n3;3;C;S;O;\r\n"
    rows = _rows(export("Kunden.csv", text, "cp1252"), "Kunden")
    assert len(rows) == 3
    bad = rows[1]
    assert bad["_row"] == 3 and bad["Code"] == "2"
    assert "expected 6 fields as in the header, found 7" in bad["_error"]


def test_unterminated_quote_is_reported(export):
    rows = _rows(export("Kunden.csv", f'{KUNDEN_HEADER}\r\n1;1;"A;S;O;\r\n2;2;B;S;O;\r\n'), "Kunden")
    assert len(rows) == 1 and "unterminated quoted field" in rows[0]["_error"]


def test_cell_in_the_other_encoding_is_repaired_with_a_warning(export):
    data = (f"{KUNDEN_HEADER}\r\n".encode() + "1;1;Müller;S;O;\r\n".encode("cp1252") * 3
            + "2;2;Jürgen Weiß;S;O;\r\n".encode("utf-8"))
    rows = _rows(export("Kunden.csv", data), "Kunden")
    assert rows[0]["Name"] == "Müller"
    assert rows[3]["Name"] == "Jürgen Weiß"
    assert rows[3]["_warnings"][0]["code"] == "encoding_repaired" and rows[3]["_warnings"][0]["field"] == "Name"


def test_comma_separated_file_is_recognised(export):
    rows = _rows(export("Kunden.csv", "Code,Nummer,Name\r\n1,10001,\"Weiß, Hans\"\r\n"), "Kunden")
    assert rows[0]["Name"] == "Weiß, Hans"


def test_header_aliases_and_map_aliases(export):
    folder = export("Kunden.csv", "Code;Kunden-Nr.;Firmenbezeichnung;Straße;E-Mail;Geändert am;Währung X\r\n"
                                  "1;10001;Müller GmbH;Weg 1;a@b.de;01.02.2024 10:00;EUR\r\n", "cp1252")
    reader = read_table(folder, "Kunden", aliases={"Kunden:Firmenbezeichnung": "Name", "Lieferanten:Straße": "Ort"})
    row = next(reader)
    reader.close()
    assert row["Nummer"] == "10001" and row["Name"] == "Müller GmbH" and row["Strasse"] == "Weg 1"
    assert row["EMail"] == "a@b.de" and row["GeaendertAm"] == "01.02.2024 10:00"
    assert row["Währung X"] == "EUR" and reader.extra_columns == ["Währung X"]  # a custom field keeps its header
    assert row["Telefon"] is None and "Telefon" in reader.missing_columns
    assert reader.renamed["Kunden-Nr."] == "Nummer"


def test_two_headers_for_one_column_is_an_error(export):
    folder = export("Kunden.csv", "Code;EMail;E-Mail\r\n1;a@b.de;c@d.de\r\n")
    with pytest.raises(SourceFileError, match="'EMail' and 'E-Mail' are both the column 'EMail'"):
        read_table(folder, "Kunden")


def test_required_column_missing(export):
    with pytest.raises(SourceFileError, match=r"Kunden.csv: required column 'Code' is missing"):
        read_table(export("Kunden.csv", "Nummer;Name\r\n1;A\r\n"), "Kunden")


def test_absent_table_is_reported_not_a_crash(export):
    folder = export("Kunden.csv", f"{KUNDEN_HEADER}\r\n1;1;A;S;O;\r\n")
    assert presence(folder, "Zahlungen") == "absent"
    assert _rows(folder, "Zahlungen") == []
    assert locate(folder, "Zahlungen") is None


def test_required_table_missing_names_what_to_do(export):
    folder = export("Lieferanten.csv", "Code\r\n1\r\n")
    assert presence(folder, "Kunden") == "absent"
    with pytest.raises(SourceFileError, match="the table Kunden is missing from the export .* ask the vendor"):
        read_table(folder, "Kunden")


def test_empty_table(export):
    folder = export("Aufgaben.csv", b"")
    assert presence(folder, "Aufgaben") == "empty"
    assert _rows(folder, "Aufgaben") == []
    folder = export("Zahlungen.csv", "\ufeff  \r\n", "utf-8")
    assert presence(folder, "Zahlungen") == "empty"


def test_header_only_is_present_without_rows(export):
    folder = export("Zahlungen.csv", "Code;OffenerPostenCode;Datum;Betrag\r\n")
    assert presence(folder, "Zahlungen") == "present" and _rows(folder, "Zahlungen") == []


def test_missing_folder_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="work4all export folder .* does not exist"):
        read_table(tmp_path / "nope", "Kunden")


def test_file_names_are_matched_without_case(export):
    folder = export("KUNDEN.CSV", f"{KUNDEN_HEADER}\r\n1;1;A;S;O;\r\n")
    assert _rows(folder, "Kunden")[0]["_file"] == "KUNDEN.CSV"


# ---------------------------------------------------------------------------------------- Excel

def test_xlsx_first_sheet_typed_cells_in_export_notation(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    write_xlsx(folder / "Artikel.xlsx", [("Tabelle1", ["Code", "Nummer", "Bezeichnung", "VKPreis", "EKPreis",
                                                       "Gesperrt", "Lagerbestand"], [
        [300, "ART-1", "Fräskopf Ø 20", Decimal("1234.5"), "1.234,56", True, 12.0],
        [],  # an empty row: skipped, the next keeps its sheet row number
        [301, "ART-2", "Schweißdraht", -0.25, None, False, None],
    ])])
    reader = read_table(folder, "Artikel")
    rows = list(reader)
    assert reader.encoding == "xlsx" and reader.file == "Artikel.xlsx"
    assert rows[0] == {"_file": "Artikel.xlsx", "_row": 2, "_record": 1, "Code": "300", "Nummer": "ART-1",
                       "Bezeichnung": "Fräskopf Ø 20", "VKPreis": "1234,5", "EKPreis": "1.234,56", "Gesperrt": "WAHR",
                       "Lagerbestand": "12", "Langtext": None, "Einheit": None, "Warengruppe": None}
    assert rows[1]["_row"] == 4 and rows[1]["VKPreis"] == "-0,25" and rows[1]["Gesperrt"] == "FALSCH"
    assert rows[1]["EKPreis"] is None


def test_xlsx_dates_and_a_named_sheet_of_a_workbook(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    write_xlsx(folder / "Vorlagen.xlsx", [
        ("Hinweise", ["Text"], [["nichts"]]),
        ("Telefonnotizen", ["Code", "Datum", "Dauer"], [[1, datetime(2024, 3, 31, 3, 15), 5],
                                                         [2, date(2024, 1, 2), 1]]),
    ])
    assert locate(folder, "Telefonnotizen").label == "Vorlagen.xlsx:Telefonnotizen"
    rows = _rows(folder, "Telefonnotizen")
    assert rows[0]["_file"] == "Vorlagen.xlsx:Telefonnotizen"
    assert rows[0]["Datum"] == "31.03.2024 03:15" and rows[1]["Datum"] == "02.01.2024"
    assert presence(folder, "Kunden") == "absent"
    tables = {t.table: t for t in list_tables(folder)}
    assert tables["Telefonnotizen"].present and not tables["Kunden"].present
    assert "Hinweise" in tables and not tables["Hinweise"].known


def test_xlsx_empty_sheet_is_empty(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    write_xlsx(folder / "Aufgaben.xlsx", [("Tabelle1", [], [])])
    assert presence(folder, "Aufgaben") == "empty"


def test_table_in_two_places_is_an_error(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "Kunden.csv").write_text("Code\r\n1\r\n")
    write_xlsx(folder / "Export.xlsx", [("Kunden", ["Code"], [[1]])])
    with pytest.raises(SourceFileError, match=r"more than once \(Kunden.csv, Export.xlsx:Kunden\)"):
        read_table(folder, "Kunden")


def test_old_xls_and_broken_workbooks_are_refused(export):
    folder = export("Kunden.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100)
    with pytest.raises(SourceFileError, match=r"Excel 97-2003 workbook \(.xls\)"):
        presence(folder, "Kunden")
    folder = export("Kunden.xls", b"")
    (folder / "Kunden.xls").unlink()
    export("Artikel.xlsx", b"PK\x03\x04 not really a zip")
    with pytest.raises(SourceFileError, match="Artikel.xlsx: is not a readable Excel workbook"):
        read_table(folder, "Artikel")


# ---------------------------------------------------------------------------------- the sample

def test_sample_reads_without_errors_and_counts_match(sample):
    folder, dirt = sample
    for table, n in dirt["counts"].items():
        rows = _rows(folder, table)
        assert len(rows) == n, table
        assert not [r for r in rows if "_error" in r], table
        assert count_rows(folder, table) == n


def test_sample_encodings_and_locations(sample):
    folder, _ = sample
    assert read_table(folder, "Kunden").encoding == "cp1252"
    assert read_table(folder, "Ansprechpartner").encoding == "utf-8-sig"
    assert locate(folder, "Preislisten").label == "Stammdaten.xlsx:Preislisten"
    assert read_table(folder, "Besuchsberichte").extra_columns == ["Maschinentyp", "Seriennummer",
                                                                   "Wartungsintervall (Monate)", "Nächster Termin"]


def test_source_protocol(sample):
    folder, dirt = sample

    class Spec:
        file = "Kunden"

    src = Work4allExportSource(str(folder))
    assert src.presence(Spec) == "present" and src.has(Spec) and src.replayable
    reader = src.rows(Spec)
    assert sum(1 for _ in reader) == dirt["counts"]["Kunden"]
    d = reader.describe()
    assert d["file"] == "Kunden.csv" and d["encoding"] == "cp1252" and len(d["sha256"]) == 64
    assert src.contract(Spec)[0] == "Code" and "GeaendertAm" == src.modified_field
    Spec.file = "Zahlungen"
    assert Work4allExportSource(str(folder)).contract(Spec) == ("Code", "OffenerPostenCode", "Datum", "Betrag")


def test_open_source_branch(sample):
    from shared.sources import open_source

    class Run:
        source = "work4all-export"
        input = str(sample[0])
        staging = None

    assert isinstance(open_source(Run), Work4allExportSource)


# ------------------------------------------------------------------------------ slices (resume)

def _slices(folder, table, size):
    out, start = [], None
    while True:
        reader = read_table(folder, table) if start is None else TableReader(folder, table, start=start)
        got = []
        for row in reader:
            got.append(row)
            if len(got) == size:
                break
        out.extend(got)
        start = reader.position()
        done = reader.exhausted
        reader.close()
        if done or not got:
            return out


@pytest.mark.parametrize("table", ["Kunden", "Ansprechpartner", "Artikel", "Preislisten"])
def test_reading_in_slices_gives_the_same_rows(sample, table):
    folder, _ = sample
    whole = _rows(folder, table)
    assert _slices(folder, table, 7) == whole
    reader = read_table(folder, table)
    list(reader)
    assert reader.exhausted and reader.position()["record"] == len(whole)


def test_resumed_csv_starts_at_its_byte_offset(export):
    text = f"{KUNDEN_HEADER}\r\n" + "".join(f'{i};{i};"Name\r\n{i}";S;Köln;\r\n' for i in range(1, 6))
    folder = export("Kunden.csv", text, "cp1252")
    reader = read_table(folder, "Kunden")
    next(reader), next(reader)
    pos = reader.position()
    reader.close()
    assert pos["record"] == 2 and pos["line"] == 5 and pos["offset"] == len(text.split("\r\n3;")[0]) + 2
    rest = list(TableReader(folder, "Kunden", start=pos))
    assert [r["Code"] for r in rest] == ["3", "4", "5"] and [r["_row"] for r in rest] == [6, 8, 10]
    assert [r["_record"] for r in rest] == [3, 4, 5]


class _MemoryImport(ImportLocation):
    """An upload held in memory: the reader only uses the ImportLocation interface (as for Blob Storage)."""

    def __init__(self, folder):
        self.files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        self.label = "imports/memory"
        self.downloads = 0

    def exists(self):
        return True

    def names(self):
        return sorted(self.files)

    def size(self, name):
        return len(self.files[name])

    def version(self, name):
        return str(len(self.files[name]))

    def open(self, name, offset=0):
        return io.BytesIO(self.files[name][offset:])

    def open_file(self, relative):
        self.downloads += 1
        return io.BytesIO(self.files[relative])


def test_an_upload_reads_like_a_folder(sample):
    folder, dirt = sample
    upload = _MemoryImport(folder)
    for table in ("Kunden", "Artikel", "Preislisten"):
        assert _rows(upload, table) == [{**r, "_file": r["_file"]} for r in _rows(folder, table)]
    assert _slices(upload, "Kunden", 9) == _rows(folder, "Kunden")
    before = upload.downloads
    assert presence(upload, "Zahlungen") == "present" and presence(upload, "Aufgaben") == "present"
    assert upload.downloads == before  # sheet names are remembered, not downloaded per table


def test_a_workbook_excel_style_shared_strings_styles_and_dates(tmp_path):
    """A workbook as Excel writes it (openpyxl's normal mode: shared strings, a styles part, date formats)."""
    import openpyxl
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    folder = tmp_path / "export"
    folder.mkdir()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Daten"
    ws.append(["Code", "Datum", "Dauer", "Richtung", "Notiz", "Rufnummer"])
    ws.append([1, datetime(2024, 10, 27, 2, 30), 15, "eingehend", "Rückruf; Größe ß", "0221 123"])
    ws.append([2, date(2024, 3, 31), 2.5, "ausgehend", CellRichText(["fett ", TextBlock(InlineFont(b=True), "und")]),
               None])
    ws["B3"].number_format = "dd.mm.yyyy"
    ws["F2"] = "=\"0221 \"&\"123\""  # a formula: its cached value is what a saved file holds (none here)
    wb.save(folder / "Telefonnotizen.xlsx")
    rows = _rows(folder, "Telefonnotizen")
    assert rows[0]["Datum"] == "27.10.2024 02:30" and rows[0]["Dauer"] == "15"
    assert rows[0]["Notiz"] == "Rückruf; Größe ß"
    assert rows[1]["Datum"] == "31.03.2024" and rows[1]["Dauer"] == "2,5" and rows[1]["Notiz"] == "fett und"
    assert rows[0]["_file"] == "Telefonnotizen.xlsx" and rows[1]["_row"] == 3


def test_large_sheet_memory_does_not_keep_rows(tmp_path):
    """Each row is dropped once read: the parser's tree never holds more than one row."""
    from shared.sources.work4all.export import _XlsxRows, locate

    folder = tmp_path / "export"
    folder.mkdir()
    write_xlsx(folder / "Kunden.xlsx", [("Kunden", ["Code", "Name"], ([i, f"Name {i}"] for i in range(5000)))])
    reader = _XlsxRows(check_folder(folder), locate(folder, "Kunden"))
    it = reader.records()
    for _ in range(4000):
        next(it)
    frame = it.gi_frame
    assert frame.f_locals["data"] is not None and len(frame.f_locals["data"]) == 0
    reader.close()
