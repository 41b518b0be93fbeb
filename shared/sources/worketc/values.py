"""Value parsers for WORKetc export cells (../shared/formats/worketc-csv.md).

Every parser takes the raw cell (``str`` or ``None``), returns ``None`` for an empty cell and raises
``FieldError(column, message)`` with a message that quotes the value and says what was expected.
Pass ``column=`` to have the error name the column; callers that already know it may leave it out.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Australia/Sydney"
DATE_ORDERS = ("DMY", "MDY")


class FieldError(ValueError):
    """A cell value that cannot be read as the expected type."""

    def __init__(self, column: str | None, message: str):
        self.column = column or ""
        self.message = message
        super().__init__(f"{self.column}: {message}" if self.column else message)


def _blank(value: str | None) -> bool:
    return value is None or value.strip() == ""


# ----------------------------------------------------------------------------------------- dates

_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_SLASH_DATE = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{2,4})$")
_SLASH_DATETIME = re.compile(
    r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*([AaPp][Mm])?$"
)
_MONTHS = ("January February March April May June July August September October November December").split()


def _check_order(order: str) -> str:
    o = (order or "DMY").upper()
    if o not in DATE_ORDERS:
        raise ValueError(f"date order must be one of {DATE_ORDERS}, not {order!r}")
    return o


def _make_date(raw: str, first: str, second: str, year: str, order: str, column: str | None) -> date:
    if len(year) != 4:
        raise FieldError(column, f"{raw!r} has a {len(year)}-digit year; expected dd/mm/yyyy or ISO 8601 yyyy-mm-dd")
    a, b, y = int(first), int(second), int(year)
    day, month = (a, b) if order == "DMY" else (b, a)
    if not 1 <= month <= 12:
        hint = ""
        if 1 <= day <= 12:
            other = "MDY" if order == "DMY" else "DMY"
            hint = f"; is the date order of the export {other} rather than {order}?"
        raise FieldError(column, f"{raw!r}: month {month} is out of range (date order {order}){hint}")
    try:
        return date(y, month, day)
    except ValueError:
        raise FieldError(
            column, f"{raw!r}: day {day} is out of range for {_MONTHS[month - 1]} {y} (date order {order})"
        ) from None


def parse_date(value: str | None, order: str = "DMY", *, column: str | None = None) -> date | None:
    """ISO 8601 (``2024-03-31``, a date-time is cut to its date) or ``dd/mm/yyyy`` in the run's order."""
    if _blank(value):
        return None
    o = _check_order(order)
    raw = value.strip()
    m = _ISO_DATE.match(raw)
    if m:
        try:
            return date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            raise FieldError(column, f"{raw!r} is not a valid calendar date") from None
    m = _SLASH_DATE.match(raw)
    if m:
        return _make_date(raw, m[1], m[3], m[4], o, column)
    # a date-time in a date-only field: keep the calendar date as written
    m = _SLASH_DATETIME.match(raw)
    if m:
        return _make_date(raw, m[1], m[3], m[4], o, column)
    if re.match(r"^\d{4}-\d{2}-\d{2}[T ]", raw):
        try:
            return datetime.fromisoformat(raw).date()
        except ValueError:
            pass
    raise FieldError(column, f"{raw!r} is not a date; expected ISO 8601 (yyyy-mm-dd) or "
                             f"{'dd/mm/yyyy' if o == 'DMY' else 'mm/dd/yyyy'}")


@lru_cache(maxsize=32)
def _zone(name: str) -> tzinfo:
    if name.upper() in ("UTC", "Z"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def parse_datetime(
    value: str | None,
    order: str = "DMY",
    tz: str | tzinfo = DEFAULT_TIMEZONE,
    *,
    column: str | None = None,
) -> datetime | None:
    """ISO 8601 with or without an offset, ``dd/mm/yyyy HH:MM[:SS] [AM|PM]`` or a bare date.

    A value without an offset is local time in ``tz`` (the run's time zone, default
    Australia/Sydney). Returns an aware datetime in UTC.
    """
    if _blank(value):
        return None
    o = _check_order(order)
    zone = _zone(tz) if isinstance(tz, str) else tz
    raw = value.strip()
    dt: datetime | None = None
    if len(raw) == 16 and raw[2] == "/" and raw[5] == "/" and raw[10] == " " and raw[13] == ":" and raw.isascii():
        # fast path for the usual export layout dd/mm/yyyy HH:MM (in the run's order); anything it does
        # not accept (a bad month, day or time) goes the general way below, which says what is wrong
        parts = (raw[0:2], raw[3:5], raw[6:10], raw[11:13], raw[14:16])
        if "".join(parts).isdigit():
            a, b, year, hour, minute = map(int, parts)
            day, month = (a, b) if o == "DMY" else (b, a)
            if 1 <= month <= 12 and hour < 24 and minute < 60:
                try:
                    return datetime(year, month, day, hour, minute, tzinfo=zone).astimezone(timezone.utc)
                except ValueError:
                    pass
    if re.match(r"^\d{4}-\d{2}-\d{2}", raw):
        try:
            dt = datetime.fromisoformat(raw)
        except ValueError:
            raise FieldError(column, f"{raw!r} is not a valid ISO 8601 date-time") from None
    else:
        m = _SLASH_DATETIME.match(raw)
        if m:
            d = _make_date(raw, m[1], m[3], m[4], o, column)
            hour, minute = int(m[5]), int(m[6])
            second = int(m[7] or 0)
            micro = int((m[8] or "0").ljust(6, "0"))
            ampm = (m[9] or "").upper()
            if ampm:
                if not 1 <= hour <= 12:
                    raise FieldError(column, f"{raw!r}: hour {hour} is not valid with {ampm}")
                hour = hour % 12 + (12 if ampm == "PM" else 0)
            try:
                dt = datetime.combine(d, time(hour, minute, second, micro))
            except ValueError:
                raise FieldError(column, f"{raw!r}: {hour:02d}:{minute:02d}:{second:02d} is not a valid time") from None
        else:
            m = _SLASH_DATE.match(raw)
            if m:
                dt = datetime.combine(_make_date(raw, m[1], m[3], m[4], o, column), time())
    if dt is None:
        raise FieldError(column, f"{raw!r} is not a date-time; expected ISO 8601 or "
                                 f"{'dd/mm/yyyy' if o == 'DMY' else 'mm/dd/yyyy'} HH:MM")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone)
    return dt.astimezone(timezone.utc)


# ----------------------------------------------------------------------------------------- other

_TRUE = frozenset({"yes", "y", "true", "t", "1"})
_FALSE = frozenset({"no", "n", "false", "f", "0"})


def parse_bool(value: str | None, *, column: str | None = None) -> bool | None:
    """``Yes``/``No``, ``true``/``false``, ``1``/``0`` (also ``Y``/``N``), any case."""
    if _blank(value):
        return None
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise FieldError(column, f"{value.strip()!r} is not a yes/no value; expected Yes/No, true/false or 1/0")


_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def parse_decimal(value: str | None, *, column: str | None = None) -> Decimal | None:
    """A plain decimal with a dot (``1234.5``, ``-0.25``); no thousands separators or currency signs."""
    if _blank(value):
        return None
    v = value.strip()
    if not _DECIMAL.match(v):
        hint = ""
        if re.search(r"\d", v):
            if "," in v:
                hint = " (no thousands separators or decimal commas)"
            elif re.search(r"[$€£¥%]|[A-Za-z]{3}", v):
                hint = " (no currency symbols, codes or percent signs)"
            elif re.search(r"[eE]", v):
                hint = " (no exponent notation)"
        raise FieldError(column, f"{v!r} is not a plain decimal number{hint}")
    try:
        return Decimal(v)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
        raise FieldError(column, f"{v!r} is not a plain decimal number") from None


_INT = re.compile(r"^[+-]?\d+(\.0*)?$")


def parse_int(value: str | None, *, column: str | None = None) -> int | None:
    """A whole number (``42``, ``-3``; ``42.0`` is accepted, ``42.5`` is not)."""
    if _blank(value):
        return None
    v = value.strip()
    if not _INT.match(v):
        if _DECIMAL.match(v):
            raise FieldError(column, f"{v!r} is not a whole number")
        raise FieldError(column, f"{v!r} is not a number")
    return int(v.split(".", 1)[0])


_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL = re.compile(r"^(?!-)[^\W_](?:[\w-]{0,61}[^\W_])?$", re.UNICODE)


def parse_email(value: str | None, *, column: str | None = None) -> str | None:
    """A single e-mail address, trimmed and lower-cased (``mailto:`` and ``Name <addr>`` accepted)."""
    if _blank(value):
        return None
    raw = value.strip()
    v = raw
    m = re.match(r"^[^<>]*<([^<>]+)>$", v)
    if m:
        v = m[1].strip()
    if v.lower().startswith("mailto:"):
        v = v[7:]
    v = v.lower()

    def bad(why: str) -> FieldError:
        return FieldError(column, f"{raw!r} is not a valid e-mail address: {why}")

    if any(c.isspace() for c in v):
        if re.search(r"[,;]", v) or v.count("@") > 1:
            raise bad("it holds more than one address or spaces")
        raise bad("it contains spaces")
    if v.count("@") == 0:
        raise bad("no '@'")
    if v.count("@") > 1:
        raise bad("more than one '@'")
    local, domain = v.split("@")
    if not local:
        raise bad("nothing before the '@'")
    if not domain:
        raise bad("no domain after the '@'")
    if len(local) > 64:
        raise bad("the part before the '@' is longer than 64 characters")
    if len(v) > 254:
        raise bad("longer than 254 characters")
    if not _LOCAL.match(local):
        raise bad("the part before the '@' has invalid characters or dots")
    if domain.endswith("."):
        domain = domain[:-1]
    labels = domain.split(".")
    if len(labels) < 2:
        raise bad(f"the domain {domain!r} has no dot")
    if any(not label for label in labels):
        raise bad(f"the domain {domain!r} has an empty label ('..')")
    for label in labels:
        if not _LABEL.match(label):
            raise bad(f"the domain {domain!r} has an invalid label {label!r}")
    if labels[-1].isdigit():
        raise bad(f"the domain {domain!r} has a numeric top-level label")
    return f"{local}@{domain}"


def parse_options(value: str | None, sep: str = "|") -> list[str]:
    """A separated list (Dropdown options, multi-select values): trimmed, empties and repeats dropped."""
    if value is None:
        return []
    out: list[str] = []
    for part in value.split(sep):
        p = part.strip()
        if p and p not in out:
            out.append(p)
    return out

