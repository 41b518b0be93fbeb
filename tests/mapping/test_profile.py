"""The profiler: kinds (English and German formats, date orders), figures, bounded memory, determinism."""

from __future__ import annotations

import json

import pytest

from shared.mapping import profile as prof
from shared.mapping.profile import Profiler, TableProfile, profile_rows


def column(values, name="c"):
    return profile_rows({name: v} for v in values).column(name)


@pytest.mark.parametrize("values, kind", [
    (["a@example.com", "B.Smith@Example.COM.au", "x+tag@mail.de"], "email"),
    (["+61 2 9172 5284", "(02) 9876 5432", "0301234567", "+49 30 1234567"], "phone"),
    (["https://www.example.com", "www.firma.de", "example.com.au/path"], "url"),
    (["12", "-3", "0", "4500"], "integer"),
    (["1.5", "2,345.75", "-0.25"], "decimal"),
    (["1.234,56", "12,5", "7"], "decimal"),
    (["true", "false", "TRUE"], "boolean"),
    (["Yes", "No", "yes"], "boolean"),
    (["Ja", "Nein", "Ja"], "boolean"),
    (["WAHR", "FALSCH"], "boolean"),
    (["1", "0", "1", "1"], "boolean"),
    (["2024-03-31", "2023-12-01"], "date"),
    (["2024-03-31T10:15:00Z", "2023-12-01 08:00"], "datetime"),
    (["31.03.2024", "01.12.2023"], "date"),
    (["31.03.2024 10:15", "01.12.2023 08:00"], "datetime"),
    (["13/01/2024 9:30 AM", "01/02/2024 12:00 PM"], "datetime"),
    (["01067", "10115", "80331"], "text"),  # postcodes: a leading zero is not a number
    (["High", "Low", "High", "Normal", "Low", "High"], "option"),
    (["Acme Pty Ltd", "Bäckerei Müller GmbH", "Harbour Legal"], "text"),
    ([None, "", "  "], "empty"),
])
def test_kinds(values, kind):
    assert column(values).kind == kind


def test_a_single_one_or_zero_is_a_number_not_a_flag():
    assert column(["1", "1", "1"]).kind == "integer"


@pytest.mark.parametrize("values, order", [
    (["13/01/2024", "02/03/2024"], "DMY"),  # 13 can only be a day
    (["01/13/2024", "03/02/2024"], "MDY"),
    (["2024-01-13", "2024-03-02"], "YMD"),
    (["01.02.2024", "03.04.2024"], "DMY"),  # German dotted dates are day first even when every day <= 12
    (["01/02/2024", "03/04/2024"], "ambiguous"),  # slashes with every day <= 12: cannot tell
])
def test_date_order(values, order):
    c = column(values)
    assert c.kind == "date" and c.date_order == order


def test_date_order_of_mixed_iso_and_day_first_values_is_day_first_and_all_parse():
    c = column(["2021-08-14T16:30:00", "13/11/2021 09:30", "19/01/2021 09:30"])
    assert (c.kind, c.date_order, c.kind_rate) == ("datetime", "DMY", 1.0)


def test_invalid_calendar_dates_do_not_count_as_dates():
    c = column(["31/02/2024", "30/02/2024", "15/01/2024"])
    assert c.kind != "date" and c.kind_rates["date"] == pytest.approx(1 / 3, abs=1e-3)


@pytest.mark.parametrize("values, style", [
    (["1.234,56", "12,5", "3"], "1.234,56"),
    (["1,234.56", "12.5", "3"], "1,234.56"),
    (["1.234", "12.345"], "ambiguous"),  # English decimals or German thousands
])
def test_decimal_style(values, style):
    c = column(values)
    assert c.kind == "decimal" and c.decimal_style == style


def test_dirty_column_keeps_its_kind_and_reports_the_share_that_fits():
    c = column(["a@x.com"] * 19 + ["not an address"])
    assert c.kind == "email" and c.kind_rate == 0.95 and c.kind_rates["email"] == 0.95


def test_figures_fill_rate_distinct_longest_top_samples_and_bookkeeping_keys():
    rows = [{"_file": "f.csv", "_row": i + 2, "City": city, "Note": note}
            for i, (city, note) in enumerate([("Berlin", "x"), ("Berlin", None), ("Köln", "two\nlines"),
                                              ("", "y"), ("Berlin", "z")])]
    rows.append({"_file": "f.csv", "_row": 9, "_error": "unterminated quote"})
    rows.append({"_file": "f.csv", "_row": 10})  # a row without the columns: empty, not skipped
    t = profile_rows(rows)
    assert (t.rows, t.malformed) == (6, 1)
    assert [c.name for c in t.columns] == ["City", "Note"]
    city, note = t.column("City"), t.column("Note")
    assert (city.filled, city.fill_rate, city.distinct, city.distinct_exact, city.longest) == (4, 0.6667, 2, True, 6)
    assert city.top == [["Berlin", 3], ["Köln", 1]] and city.top_exact and city.values_complete
    assert city.samples == ["Berlin", "Köln"]
    assert note.multiline and note.longest == 9


def test_distinct_past_the_cap_is_an_estimate_and_top_values_a_bounded_summary(monkeypatch):
    monkeypatch.setattr(prof, "DISTINCT_CAP", 500)
    monkeypatch.setattr(prof, "MG_COUNTERS", 20)
    p = Profiler()
    for i in range(20_000):
        p.add({"id": f"id-{i}", "hot": "HOT" if i % 4 == 0 else f"v{i}"})
    col = p._columns["hot"]
    assert col.counts is None and len(col.mg) <= 20  # the exact counts are gone: memory is bounded
    t = p.result()
    ids, hot = t.column("id"), t.column("hot")
    assert not ids.distinct_exact and abs(ids.distinct - 20_000) / 20_000 < 0.03
    assert not hot.top_exact and hot.top[0][0] == "HOT"
    assert 5_000 - hot.top_error <= hot.top[0][1] <= 5_000  # a lower bound, short by at most top_error


def test_long_values_are_counted_under_a_digest_not_kept():
    long_a, long_b = "a" * 5000, "a" * 4999 + "b"
    c = column([long_a, long_b, long_a])
    assert c.distinct == 2 and c.longest == 5000 and c.kind == "text"
    assert all(len(v) < 100 for v, _ in c.top) and all(len(s) <= prof.SAMPLE_CHARS for s in c.samples)


def test_output_is_deterministic_and_json_serialisable():
    rows = [{"a": str(i % 7), "b": f"x{i}@example.com", "c": "31.12.2023"} for i in range(300)]
    one, two = profile_rows(rows).to_dict(), profile_rows(reversed(rows)).to_dict()
    text = json.dumps(one, sort_keys=True)
    assert json.dumps(TableProfile.from_dict(json.loads(text)).to_dict(), sort_keys=True) == text
    assert one["columns"][0]["top"] == two["columns"][0]["top"]  # ties ordered by value, not by arrival
