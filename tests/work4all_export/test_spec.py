"""The export specification for the vendor, and the validation of a delivered export (accept / reject)."""

from __future__ import annotations

import csv
import json
import shutil

import pytest

from emulators.sample_work4all import generate
from shared.sources.work4all.export import COLUMNS
from shared.sources.work4all.spec import specification_rows, validate_export, write_specification


@pytest.fixture
def delivery(sample, tmp_path):
    """A copy of the sample export to spoil."""
    folder = tmp_path / "delivery"
    shutil.copytree(sample[0], folder)
    return folder


def test_specification_lists_every_table_and_column_and_the_sample_custom_fields(sample, tmp_path):
    folder, _ = sample
    paths = write_specification(tmp_path / "spec", sample=folder, customer="Beispiel Maschinenbau GmbH")
    with open(paths["csv"], encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    listed = {(r["table"], r["column"]) for r in rows}
    assert {(t, c) for t, cols in COLUMNS.items() for c in cols} <= listed
    custom = [r for r in rows if r["custom_field"]]
    assert {r["column"] for r in custom} == {"Maschinentyp", "Seriennummer", "Wartungsintervall (Monate)",
                                             "Nächster Termin"}
    assert {r["table"] for r in custom} == {"Besuchsberichte"}
    kinds = {r["column"]: r["kind"] for r in custom}
    assert kinds["Nächster Termin"] == "date" and kinds["Wartungsintervall (Monate)"] == "int"
    wert = next(r for r in rows if (r["table"], r["column"]) == ("Verkaufschancen", "Wert"))
    assert "1.234,56" in wert["format"]
    md = open(paths["markdown"], encoding="utf-8").read()
    assert "# work4all export specification for Beispiel Maschinenbau GmbH" in md
    assert "### Belegpositionen" in md and "Windows-1252" in md and "| Maschinentyp |" in md


def test_specification_without_sample_asks_for_custom_fields(tmp_path):
    write_specification(tmp_path)
    md = (tmp_path / "work4all_export_spec.md").read_text(encoding="utf-8")
    assert "No sample export was read" in md
    assert not [r for r in specification_rows() if r["custom_field"]]


def test_sample_export_is_accepted_with_its_dirt_as_warnings(sample, tmp_path):
    folder, dirt = sample
    result = validate_export(folder)
    assert result.accepted, result.summary()
    assert result.counts == dirt["counts"]
    checks = {t.table: t for t in result.tables}
    assert checks["Kunden"].sampled == dirt["counts"]["Kunden"]  # fewer than 100: every record
    assert checks["Belegpositionen"].sampled == 100  # more: 100 sampled
    assert checks["Besuchsberichte"].custom_columns[0] == "Maschinentyp"
    # a bad value names file, row, column and raw value
    bad = dirt["kunden_bad_date"][0]
    p = next(p for p in result.problems if p.column == "Erstkontakt")
    assert (p.file, p.value, p.level) == ("Kunden.csv", bad["value"], "warning") and p.row > 1
    assert "Kunden.csv row" in result.summary() and "'31.02.2019'" in result.summary()
    # a Beleg without Positionen is reported
    no_pos = dirt["belege_without_positionen"][0]
    assert any(p.table == "Belege" and p.value == no_pos for p in result.problems)
    assert result.summary().splitlines()[0].endswith("ACCEPTED")
    paths = result.write(tmp_path / "v")
    assert json.loads(open(paths["json"], encoding="utf-8").read())["accepted"] is True
    with open(paths["problems"], encoding="utf-8-sig", newline="") as f:
        assert next(csv.reader(f)) == ["level", "table", "file", "row", "column", "value", "message"]


def test_the_same_delivery_gives_the_same_sample(sample):
    a = validate_export(sample[0], sample_size=50, seed=1)
    b = validate_export(sample[0], sample_size=50, seed=1)
    assert a.to_dict() == b.to_dict()
    assert {t.table: t.sampled for t in a.tables}["Belegpositionen"] == 50


def test_absent_table_is_reported_and_rejects_unless_agreed(tmp_path):
    folder = tmp_path / "export"
    generate(folder, seed=3, omit=["Zahlungen"])
    result = validate_export(folder)
    assert not result.accepted
    checks = {t.table: t for t in result.tables}
    assert checks["Zahlungen"].presence == "absent"
    assert any("Zahlungen is absent" in p.message and "Light licence" in p.message for p in result.rejects())
    agreed = validate_export(folder, allow_absent=["Zahlungen"])
    assert agreed.accepted
    assert any(p.table == "Zahlungen" and p.level == "warning" for p in agreed.problems)


def test_missing_kunden_rejects(delivery):
    (delivery / "Kunden.csv").unlink()
    result = validate_export(delivery, allow_absent=["Kunden"])
    assert not result.accepted
    assert "cannot run without it" in result.rejects()[0].message


def test_missing_column_rejects(delivery):
    path = delivery / "Kunden.csv"
    text = path.read_bytes().decode("cp1252").replace(";Zahlungsfrist;", ";Zahlungsziel_alt;", 1)
    path.write_bytes(text.encode("cp1252"))
    result = validate_export(delivery)
    assert not result.accepted
    r = result.rejects()[0]
    assert (r.file, r.column) == ("Kunden.csv", "Zahlungsfrist") and "missing" in r.message


def test_systematic_format_problem_rejects(delivery):
    """Decimal points instead of commas in every Zahlungen row: a format problem, not a few bad values."""
    path = delivery / "Zahlungen.csv"
    lines = path.read_bytes().decode("cp1252").split("\r\n")
    out = [lines[0]]
    for line in lines[1:]:
        if line:
            *head, amount = line.split(";")
            line = ";".join([*head, amount.replace(".", "").replace(",", ".")])
        out.append(line)
    path.write_bytes("\r\n".join(out).encode("cp1252"))
    result = validate_export(delivery)
    assert not result.accepted
    assert any(p.table == "Zahlungen" and "sampled records hold values that do not parse" in p.message
               for p in result.rejects())
    p = next(p for p in result.problems if p.table == "Zahlungen" and p.column == "Betrag")
    assert "decimal point" in p.message and p.file == "Zahlungen.csv"


def test_belege_without_any_positionen_table_rejects(delivery):
    (delivery / "Belegpositionen.csv").unlink()
    result = validate_export(delivery, allow_absent=["Belegpositionen"])
    assert not result.accepted
    assert any("no Belegpositionen" in p.message for p in result.rejects())


def test_unreadable_records_reject_when_many(delivery):
    path = delivery / "Aufgaben.csv"
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    broken = [lines[0]] + [line + ";x;y" if line and i % 2 else line for i, line in enumerate(lines[1:])]
    path.write_bytes("\r\n".join(broken).encode("utf-8"))
    result = validate_export(delivery)
    assert not result.accepted
    aufgaben = {t.table: t for t in result.tables}["Aufgaben"]
    assert aufgaben.malformed > 0 and aufgaben.records > aufgaben.malformed


def test_unknown_tables_are_reported(delivery):
    (delivery / "Projekte.csv").write_text("Code;Name\r\n1;Halle 3\r\n", encoding="utf-8")
    result = validate_export(delivery)
    assert result.accepted
    assert any(p.table == "Projekte" and "not a table of the format" in p.message for p in result.problems)
    assert any(p.table == "Hinweise" for p in result.problems)  # the templates' notes sheet
