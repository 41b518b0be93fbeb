"""The sample work4all export: deterministic, dirty as the seed describes, the same data as ``records``."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path

import pytest

from emulators.sample_work4all import expected_dirt, generate, records
from shared.sources.work4all.export import COLUMNS, presence, read_table
from shared.sources.work4all.values import parse_bool, parse_number


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    generate(tmp_path / "a" / "export", seed=5)
    generate(tmp_path / "b" / "export", seed=5)
    generate(tmp_path / "c" / "export", seed=6)
    a, b, c = (_digest(tmp_path / x) for x in "abc")
    assert a == b
    assert a != c
    assert "export/Artikel.xlsx" in a and "export/Stammdaten.xlsx" in a and "expected_dirt.json" in a


def test_written_dirt_and_users(sample):
    folder, dirt = sample
    assert json.loads((folder.parent / "expected_dirt.json").read_text(encoding="utf-8")) == dirt
    users = json.loads((folder.parent / "provisioned_users.json").read_text(encoding="utf-8"))
    assert dirt["unprovisioned_employee"] not in {u["internalemailaddress"] for u in users}
    assert expected_dirt(3, 1) == {k: v for k, v in dirt.items() if k != "omitted"}


_NUMERIC = {"VKPreis", "EKPreis", "Lagerbestand", "Preis"}


def test_records_are_the_data_the_export_holds(sample):
    """What the GraphQL emulator serves (records) is what the export reader reads, value for value
    (Excel cells in their own notation: compared parsed)."""
    folder, _ = sample
    data = records(seed=3, scale=1)
    assert set(data) == set(COLUMNS)
    for table, expected in data.items():
        got = list(read_table(folder, table))
        assert len(got) == len(expected), table
        for g, e in zip(got, expected):
            for column, value in e.items():
                read = g[column]
                if table in ("Artikel", "Preislisten") and column in _NUMERIC and read is not None:
                    assert parse_number(read) == parse_number(value), (table, column)
                elif table == "Artikel" and column == "Gesperrt":
                    assert parse_bool(read) == parse_bool(value)
                else:
                    assert (read or "") == value, (table, g["_row"], column)


def test_german_dirt_is_there(sample):
    folder, dirt = sample
    raw = (folder / "Kunden.csv").read_bytes()
    assert "ß".encode("cp1252") in raw and "ü".encode("cp1252") in raw and b"\r\n" in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert (folder / "Ansprechpartner.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    kunden = {r["Code"]: r for r in read_table(folder, "Kunden")}
    lieferanten = {r["Code"]: r for r in read_table(folder, "Lieferanten")}
    same = dirt["same_nummer"]
    assert kunden[same["Kunden"]]["Nummer"] == lieferanten[same["Lieferanten"]]["Nummer"] == same["Nummer"]
    assert any(";" in (r["Notiz"] or "") and "\n" in (r["Notiz"] or "") for r in kunden.values())
    bad = dirt["kunden_bad_date"][0]
    assert kunden[bad["Code"]][bad["column"]] == bad["value"]
    values = [r["Wert"] for r in read_table(folder, "Verkaufschancen")]
    assert any("." in v and "," in v for v in values)  # 1.234,56
    ap = list(read_table(folder, "Ansprechpartner"))
    assert {r["Code"] for r in ap if r["LieferantenCode"]} == set(dirt["ansprechpartner_of_lieferanten"])
    owners = {r["Vertreter"] for r in kunden.values()}
    assert set(dirt["unknown_owners"]) & owners


def test_open_items_arithmetic_in_the_sample(sample):
    folder, dirt = sample
    items = {r["Code"]: r for r in read_table(folder, "OffenePosten")}
    paid: dict[str, Decimal] = {}
    for z in read_table(folder, "Zahlungen"):
        paid[z["OffenerPostenCode"]] = paid.get(z["OffenerPostenCode"], Decimal(0)) + parse_number(z["Betrag"])
    for code, open_amount in dirt["open_amounts"].items():
        assert parse_number(items[code]["Rechnungsbetrag"]) - paid.get(code, Decimal(0)) == Decimal(open_amount)
    over = dirt["offene_posten"]["ueberzahlt"][0]
    assert Decimal(dirt["open_amounts"][over]) < 0
    gs = dirt["offene_posten"]["gutschrift"][0]
    assert items[gs]["Art"] == "Gutschrift" and parse_number(items[gs]["Rechnungsbetrag"]) < 0
    assert dirt["offene_posten"]["zahlung_ohne_posten"]
    positions = {r["BelegCode"] for r in read_table(folder, "Belegpositionen")}
    assert dirt["belege_without_positionen"][0] not in positions


def test_omit_tables_like_a_light_licence(tmp_path):
    dirt = generate(tmp_path / "export", seed=2, omit=["Zahlungen", "Preislisten"])
    assert presence(tmp_path / "export", "Zahlungen") == "absent"
    assert presence(tmp_path / "export", "Preislisten") == "absent"
    assert not (tmp_path / "export" / "Stammdaten.xlsx").exists()
    assert dirt["omitted"] == ["Preislisten", "Zahlungen"]
    with pytest.raises(ValueError, match="unknown table"):
        generate(tmp_path / "x", omit=["Rechnungen"])


def test_pdfs_of_belege(sample):
    folder, dirt = sample
    belege = list(read_table(folder, "Belege"))
    with_pdf = [b["PdfDatei"] for b in belege if b["PdfDatei"]]
    assert with_pdf and all(p.startswith("Dateien/") for p in with_pdf)
    missing = set(dirt["missing_pdf"])
    for p in with_pdf:
        assert (folder / p).is_file() == (p not in missing)
        if p not in missing:
            assert (folder / p).read_bytes().startswith(b"%PDF-")
