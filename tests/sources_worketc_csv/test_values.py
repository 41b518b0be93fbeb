"""Value parsers: what they accept, and that errors name the column and the value."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.sources.worketc import csv_export
from shared.sources.worketc.values import (
    FieldError,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_decimal,
    parse_email,
    parse_int,
    parse_options,
)


def test_parsers_are_reexported_by_csv_export():
    assert csv_export.parse_date is parse_date and csv_export.FieldError is FieldError


@pytest.mark.parametrize("parser", [parse_date, parse_datetime, parse_bool, parse_decimal, parse_int, parse_email])
@pytest.mark.parametrize("empty", [None, "", "   "])
def test_empty_is_none(parser, empty):
    assert parser(empty) is None


# ------------------------------------------------------------------------------------ dates

@pytest.mark.parametrize("value, order, expected", [
    ("2024-03-31", "DMY", date(2024, 3, 31)),
    ("31/03/2024", "DMY", date(2024, 3, 31)),
    ("3/4/2024", "DMY", date(2024, 4, 3)),
    ("3/4/2024", "MDY", date(2024, 3, 4)),
    ("03/31/2024", "MDY", date(2024, 3, 31)),
    ("31.03.2024", "DMY", date(2024, 3, 31)),
    ("31/03/2024 14:30", "DMY", date(2024, 3, 31)),
    ("2024-03-31T23:59:00+10:00", "DMY", date(2024, 3, 31)),
    (" 2024-02-29 ", "DMY", date(2024, 2, 29)),
])
def test_parse_date(value, order, expected):
    assert parse_date(value, order) == expected


@pytest.mark.parametrize("value, order, fragment", [
    ("31/13/2024", "DMY", "month 13 is out of range"),
    ("13/31/2024", "DMY", "month 31"),
    ("31/03/2024", "MDY", "is the date order of the export DMY rather than MDY?"),
    ("30/02/2024", "DMY", "day 30 is out of range for February 2024"),
    ("2023-02-29", "DMY", "not a valid calendar date"),
    ("31/03/24", "DMY", "2-digit year"),
    ("next Tuesday", "DMY", "not a date"),
    ("2024/03/31", "DMY", "not a date"),
])
def test_parse_date_errors(value, order, fragment):
    with pytest.raises(FieldError) as e:
        parse_date(value, order, column="CloseDate")
    assert e.value.column == "CloseDate" and fragment in e.value.message
    assert str(e.value).startswith("CloseDate: ") and repr(value.strip()) in str(e.value)


def test_bad_order_is_a_programming_error():
    with pytest.raises(ValueError):
        parse_date("01/02/2024", "YMD")


@given(st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)))
def test_dates_round_trip_in_every_notation(d):
    assert parse_date(d.isoformat()) == d
    assert parse_date(d.strftime("%d/%m/%Y"), "DMY") == d
    assert parse_date(f"{d.month}/{d.day}/{d.year:04d}", "MDY") == d


def test_parse_datetime_naive_is_run_timezone_and_result_is_utc():
    # Sydney is UTC+11 in January (daylight saving) and UTC+10 in July
    assert parse_datetime("15/01/2024 09:30") == datetime(2024, 1, 14, 22, 30, tzinfo=timezone.utc)
    assert parse_datetime("2024-07-15T09:30:00") == datetime(2024, 7, 14, 23, 30, tzinfo=timezone.utc)
    assert parse_datetime("2024-07-15 09:30") == datetime(2024, 7, 14, 23, 30, tzinfo=timezone.utc)
    assert parse_datetime("2024-07-15T09:30:00Z") == datetime(2024, 7, 15, 9, 30, tzinfo=timezone.utc)
    assert parse_datetime("2024-07-15T09:30:00+02:00") == datetime(2024, 7, 15, 7, 30, tzinfo=timezone.utc)
    assert parse_datetime("07/15/2024 9:30 PM", order="MDY", tz="UTC") == datetime(2024, 7, 15, 21, 30,
                                                                                   tzinfo=timezone.utc)
    assert parse_datetime("15/07/2024 12:05 am", tz="Europe/Berlin") == datetime(2024, 7, 14, 22, 5,
                                                                                 tzinfo=timezone.utc)
    assert parse_datetime("15/07/2024 10:11:12", tz="UTC") == datetime(2024, 7, 15, 10, 11, 12, tzinfo=timezone.utc)
    assert parse_datetime("15/07/2024", tz="UTC") == datetime(2024, 7, 15, tzinfo=timezone.utc)
    assert parse_datetime("2024-07-15", tz="UTC") == datetime(2024, 7, 15, tzinfo=timezone.utc)
    assert parse_datetime("2024-07-15T09:30:00").tzinfo is timezone.utc


@pytest.mark.parametrize("value, fragment", [
    ("15/07/2024 25:00", "not a valid time"),
    ("15/07/2024 13:00 PM", "not valid with PM"),
    ("2024-07-15T9:3", "not a valid ISO 8601"),
    ("yesterday", "not a date-time"),
    ("15/13/2024 10:00", "month 13"),
])
def test_parse_datetime_errors(value, fragment):
    with pytest.raises(FieldError, match="DateCreated") as e:
        parse_datetime(value, column="DateCreated")
    assert fragment in str(e.value)


def test_unknown_timezone():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        parse_datetime("2024-01-01T00:00:00", tz="Mars/Olympus")


# ------------------------------------------------------------------------------------ others

@pytest.mark.parametrize("value, expected", [
    ("Yes", True), ("no", False), ("TRUE", True), ("false", False), ("1", True), ("0", False), (" Y ", True),
])
def test_parse_bool(value, expected):
    assert parse_bool(value) is expected


def test_parse_bool_error():
    with pytest.raises(FieldError, match=r"Converted: 'maybe' is not a yes/no value"):
        parse_bool("maybe", column="Converted")


@pytest.mark.parametrize("value, expected", [
    ("1234.50", Decimal("1234.50")), ("-0.25", Decimal("-0.25")), ("7", Decimal(7)), (".5", Decimal("0.5")),
    ("+3.", Decimal(3)),
])
def test_parse_decimal(value, expected):
    assert parse_decimal(value) == expected


@pytest.mark.parametrize("value, fragment", [
    ("1,234.50", "thousands separators"), ("12,5", "decimal commas"), ("$100", "currency"),
    ("100 AUD", "currency"), ("1e5", "exponent"), ("NaN", "not a plain decimal"), ("abc", "not a plain decimal"),
])
def test_parse_decimal_errors(value, fragment):
    with pytest.raises(FieldError) as e:
        parse_decimal(value, column="Amount")
    assert e.value.column == "Amount" and fragment in e.value.message


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-10**12, max_value=10**12))
def test_decimals_round_trip(d):
    assert parse_decimal(format(d, "f")) == d


def test_parse_int():
    assert parse_int("42") == 42 and parse_int("-3") == -3 and parse_int("+7") == 7 and parse_int("42.0") == 42
    with pytest.raises(FieldError, match="'42.5' is not a whole number"):
        parse_int("42.5", column="Score")
    with pytest.raises(FieldError, match="'forty' is not a number"):
        parse_int("forty")


@pytest.mark.parametrize("value, expected", [
    ("Ann.Lee@Example.COM", "ann.lee@example.com"),
    ("  o'brien@example.com.au ", "o'brien@example.com.au"),
    ("mailto:x@y.io", "x@y.io"),
    ("Ann Lee <ann@example.com>", "ann@example.com"),
    ("first+tag@sub.example.co.nz", "first+tag@sub.example.co.nz"),
    ("j@müller.de", "j@müller.de"),
])
def test_parse_email(value, expected):
    assert parse_email(value) == expected


@pytest.mark.parametrize("value, fragment", [
    ("john.smith@", "no domain"),
    ("jane.doe at example.com", "spaces"),
    ("bob@@example.com", "more than one '@'"),
    ("mary@example..com", "empty label"),
    ("sales@", "no domain"),
    ("chris@gmail", "has no dot"),
    (".kate@example.com", "invalid characters or dots"),
    ("info@a.com ; sales@a.com", "more than one address"),
    ("noatsign.example.com", "no '@'"),
    ("@example.com", "nothing before"),
    ("x@-bad-.com", "invalid label"),
    ("x@1.2.3.4", "numeric top-level"),
])
def test_parse_email_errors(value, fragment):
    with pytest.raises(FieldError) as e:
        parse_email(value, column="Email")
    assert fragment in e.value.message and repr(value.strip()) in e.value.message and e.value.column == "Email"


def test_parse_options():
    assert parse_options("Bronze| Silver |Gold||Silver") == ["Bronze", "Silver", "Gold"]
    assert parse_options("a;b", sep=";") == ["a", "b"]
    assert parse_options(None) == [] and parse_options("") == []
