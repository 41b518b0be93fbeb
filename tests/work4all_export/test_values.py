"""German cell values: numbers, dates, date-times in Europe/Berlin (DST), booleans; bad values name the column."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from shared.sources.work4all.values import FieldError, parse_bool, parse_date, parse_datetime, parse_int, parse_number


@pytest.mark.parametrize("raw,expected", [
    ("1.234,56", Decimal("1234.56")), ("-1.234,56", Decimal("-1234.56")), ("1234,5", Decimal("1234.5")),
    ("1234,56", Decimal("1234.56")), ("1.234", Decimal("1234")), ("1.234.567,8", Decimal("1234567.8")),
    ("0,05", Decimal("0.05")), ("42", Decimal("42")), (" 12,00 ", Decimal("12.00")), ("+3,5", Decimal("3.5")),
])
def test_german_numbers(raw, expected):
    assert parse_number(raw) == expected


@pytest.mark.parametrize("raw", ["12.5", "1,234.56", "ca. 5.000", "5 €", "1.23,4", "1,2,3", "abc", "12,5%"])
def test_bad_numbers_name_the_column_and_value(raw):
    with pytest.raises(FieldError) as e:
        parse_number(raw, column="Wert")
    assert isinstance(e.value, ValueError)
    assert str(e.value).startswith("Wert: ") and repr(raw.strip()) in str(e.value)


def test_decimal_point_is_explained():
    with pytest.raises(ValueError, match="decimal point"):
        parse_number("12.5")


def test_blank_is_none_not_zero():
    assert parse_number("") is None and parse_number(None) is None and parse_number("  ") is None
    assert parse_date("") is None and parse_datetime(None) is None and parse_bool(" ") is None


def test_whole_numbers():
    assert parse_int("1.200") == 1200 and parse_int("30") == 30 and parse_int("12,0") == 12
    with pytest.raises(ValueError, match="whole number"):
        parse_int("12,5")


@pytest.mark.parametrize("raw,expected", [
    ("31.12.2024", date(2024, 12, 31)), ("1.2.2023", date(2023, 2, 1)), ("29.02.2024", date(2024, 2, 29)),
    ("2024-12-31", date(2024, 12, 31)), ("31.12.2024 14:30", date(2024, 12, 31)),
])
def test_dates(raw, expected):
    assert parse_date(raw) == expected


@pytest.mark.parametrize("raw,why", [("31.02.2019", "does not exist in Februar 2019"), ("12.13.2020", "month 13"),
                                     ("31.12.24", "2-digit year"), ("12/31/2024", "expected dd.mm.yyyy"),
                                     ("morgen", "not a date")])
def test_bad_dates(raw, why):
    with pytest.raises(FieldError, match=why) as e:
        parse_date(raw, column="Erstkontakt")
    assert str(e.value).startswith("Erstkontakt: ")


def test_datetimes_are_german_local_time_returned_in_utc():
    assert parse_datetime("15.01.2024 09:30") == datetime(2024, 1, 15, 8, 30, tzinfo=timezone.utc)  # CET +1
    assert parse_datetime("15.07.2024 09:30") == datetime(2024, 7, 15, 7, 30, tzinfo=timezone.utc)  # CEST +2
    assert parse_datetime("15.07.2024 09:30:15") == datetime(2024, 7, 15, 7, 30, 15, tzinfo=timezone.utc)
    assert parse_datetime("15.07.2024") == datetime(2024, 7, 14, 22, 0, tzinfo=timezone.utc)  # midnight local


def test_datetimes_at_the_dst_changes():
    # before and after the spring change (31.03.2024 02:00 CET -> 03:00 CEST)
    assert parse_datetime("31.03.2024 01:59") == datetime(2024, 3, 31, 0, 59, tzinfo=timezone.utc)
    assert parse_datetime("31.03.2024 03:00") == datetime(2024, 3, 31, 1, 0, tzinfo=timezone.utc)
    # in the gap: read as if the clock had not yet been put forward (= 03:30 CEST)
    assert parse_datetime("31.03.2024 02:30") == datetime(2024, 3, 31, 1, 30, tzinfo=timezone.utc)
    # the autumn overlap (27.10.2024 03:00 CEST -> 02:00 CET): 02:30 is its first, summer-time occurrence
    assert parse_datetime("27.10.2024 02:30") == datetime(2024, 10, 27, 0, 30, tzinfo=timezone.utc)
    assert parse_datetime("27.10.2024 03:30") == datetime(2024, 10, 27, 2, 30, tzinfo=timezone.utc)


def test_datetime_in_another_zone_and_bad_times():
    assert parse_datetime("15.01.2024 09:30", tz="Australia/Sydney") == datetime(2024, 1, 14, 22, 30,
                                                                                 tzinfo=timezone.utc)
    with pytest.raises(FieldError, match="25:00 is not a valid time"):
        parse_datetime("01.01.2024 25:00", column="Datum")
    with pytest.raises(FieldError, match="expected dd.mm.yyyy HH:MM"):
        parse_datetime("gestern", column="Datum")


@pytest.mark.parametrize("raw,expected", [("Ja", True), ("Nein", False), ("WAHR", True), ("FALSCH", False),
                                          ("1", True), ("0", False), ("ja", True), ("falsch", False),
                                          (" J ", True), ("N", False)])
def test_booleans(raw, expected):
    assert parse_bool(raw) is expected


def test_bad_boolean_names_the_value():
    with pytest.raises(FieldError, match=r"Gesperrt: 'vielleicht' is not a yes/no value; expected Ja/Nein"):
        parse_bool("vielleicht", column="Gesperrt")
