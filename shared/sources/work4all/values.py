"""Value parsers for work4all export cells: German notation (../shared/formats/work4all-export.md).

Every parser takes the raw cell (``str`` or ``None``), returns ``None`` for an empty cell and raises
``FieldError(column, message)`` (a ``ValueError``, the same class as the WORKetc parsers') with a
message that quotes the value and says what was expected. Pass ``column=`` to have the error name
the column. Readers hand cells over exactly as the export spells them; Excel cells that hold numbers,
dates or booleans are turned into this notation by the reader (``export._xlsx_text``), so one parser
serves CSV, Excel and the GraphQL API.

- numbers: decimal comma, optional dot thousands separators, optional sign: ``1.234,56``,
  ``-1.234,56``, ``1234,5``, ``1234``; ``1.234`` is one thousand two hundred and thirty-four (the dot
  groups thousands). A decimal point (``12.5``, ``1,234.56``) is refused: it is not German notation,
  and guessing would turn ``1.234`` into 1.234 somewhere else.
- dates ``dd.mm.yyyy`` (``d.m.yyyy`` too; ISO ``yyyy-mm-dd`` accepted); date-times
  ``dd.mm.yyyy HH:MM[:SS]``, local time in the source's zone (Europe/Berlin unless the run says
  otherwise), returned as aware UTC datetimes. A local time in the spring gap (``31.03.2024 02:30``
  does not exist in Germany) is read as if the clock had not yet been put forward (= 03:30 summer
  time); a time in the autumn overlap (``27.10.2024 02:30`` happens twice) as its first, summer-time
  occurrence: Python's ``fold=0``, as the WORKetc parsers do.
- booleans ``Ja``/``Nein``, ``WAHR``/``FALSCH``, ``1``/``0`` (also ``J``/``N``, ``wahr``, ``true``/``false``).
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone, tzinfo
from decimal import Decimal, InvalidOperation

from ..worketc.values import FieldError, _zone

__all__ = ["DEFAULT_TIMEZONE", "FieldError", "parse_number", "parse_int", "parse_date", "parse_datetime",
           "parse_bool"]

#: work4all is a German system: its local times are German time unless the run says otherwise
DEFAULT_TIMEZONE = "Europe/Berlin"


def _blank(value: str | None) -> bool:
    return value is None or value.strip() == ""


# --------------------------------------------------------------------------------------- numbers

_NUMBER = re.compile(r"^([+-]?)(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d+))?$")


def parse_number(value: str | None, *, column: str | None = None) -> Decimal | None:
    """``1.234,56`` -> ``Decimal("1234.56")``; ``-1.234,56``, ``1234,5``, ``1234`` (see the module doc)."""
    if _blank(value):
        return None
    raw = value.strip()
    v = raw.replace("\u00a0", "").replace("\u202f", "")  # Excel's non-breaking spaces around a sign
    m = _NUMBER.match(v)
    if not m:
        hint = "expected German notation such as 1.234,56, -1.234,56 or 1234,5"
        if re.fullmatch(r"[+-]?\d[\d,]*\.\d{1,2}", v) or re.fullmatch(r"[+-]?\d+\.\d+", v):
            hint = "it has a decimal point; " + hint + " (decimal comma, dots only between thousands)"
        elif re.search(r"[€$%]|EUR|CHF", v):
            hint = "no currency signs or percent signs; " + hint
        elif re.fullmatch(r"[+-]?[\d.,]+", v):
            hint = "the thousands dots or the decimal comma are misplaced; " + hint
        raise FieldError(column, f"{raw!r} is not a number: {hint}")
    sign, whole, frac = m.groups()
    try:
        return Decimal(sign + whole.replace(".", "") + (f".{frac}" if frac else ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid literals
        raise FieldError(column, f"{raw!r} is not a number") from None


def parse_int(value: str | None, *, column: str | None = None) -> int | None:
    """A whole number in German notation (``12``, ``1.200``; ``12,0`` too; ``12,5`` is refused)."""
    n = parse_number(value, column=column)
    if n is None:
        return None
    if n != n.to_integral_value():
        raise FieldError(column, f"{value.strip()!r} is not a whole number")
    return int(n)


# ----------------------------------------------------------------------------------------- dates

_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{2,4})$")
_DATETIME = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{2,4})[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*Uhr)?$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}")
_MONATE = ("Januar Februar März April Mai Juni Juli August September Oktober November Dezember").split()


def _make_date(raw: str, d: str, m: str, y: str, column: str | None) -> date:
    if len(y) != 4:
        raise FieldError(column, f"{raw!r} has a {len(y)}-digit year; expected dd.mm.yyyy (a four-digit year)")
    day, month, year = int(d), int(m), int(y)
    if not 1 <= month <= 12:
        raise FieldError(column, f"{raw!r}: month {month} is out of range; expected dd.mm.yyyy")
    try:
        return date(year, month, day)
    except ValueError:
        raise FieldError(column, f"{raw!r}: day {day} does not exist in {_MONATE[month - 1]} {year}") from None


def parse_date(value: str | None, *, column: str | None = None) -> date | None:
    """``31.12.2024`` (or ISO ``2024-12-31``); a date-time is cut to its calendar date as written."""
    if _blank(value):
        return None
    raw = value.strip()
    m = _DATE.match(raw) or _DATETIME.match(raw)
    if m:
        return _make_date(raw, m[1], m[2], m[3], column)
    if _ISO.match(raw):
        try:
            return datetime.fromisoformat(raw).date() if len(raw) > 10 else date.fromisoformat(raw)
        except ValueError:
            raise FieldError(column, f"{raw!r} is not a valid calendar date") from None
    raise FieldError(column, f"{raw!r} is not a date; expected dd.mm.yyyy")


def parse_datetime(value: str | None, tz: str | tzinfo = DEFAULT_TIMEZONE, *,
                   column: str | None = None) -> datetime | None:
    """``31.12.2024 14:30`` (seconds optional; a bare date is midnight) as local time in ``tz``
    (default Europe/Berlin), returned as an aware datetime in UTC. See the module doc for the DST
    changes. ISO 8601 with an offset keeps its offset."""
    if _blank(value):
        return None
    zone = _zone(tz) if isinstance(tz, str) else tz
    raw = value.strip()
    m = _DATETIME.match(raw)
    if m:
        d = _make_date(raw, m[1], m[2], m[3], column)
        hour, minute, second = int(m[4]), int(m[5]), int(m[6] or 0)
        try:
            dt = datetime.combine(d, time(hour, minute, second))
        except ValueError:
            raise FieldError(column, f"{raw!r}: {hour:02d}:{minute:02d} is not a valid time of day") from None
    elif _DATE.match(raw):
        m = _DATE.match(raw)
        dt = datetime.combine(_make_date(raw, m[1], m[2], m[3], column), time())
    elif _ISO.match(raw):
        try:
            dt = datetime.fromisoformat(raw)
        except ValueError:
            raise FieldError(column, f"{raw!r} is not a valid date-time") from None
    else:
        raise FieldError(column, f"{raw!r} is not a date-time; expected dd.mm.yyyy HH:MM")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=zone)  # fold=0: see the module doc
    return dt.astimezone(timezone.utc)


# -------------------------------------------------------------------------------------- booleans

_TRUE = frozenset({"ja", "j", "wahr", "1", "true"})
_FALSE = frozenset({"nein", "n", "falsch", "0", "false"})


def parse_bool(value: str | None, *, column: str | None = None) -> bool | None:
    """``Ja``/``Nein``, ``WAHR``/``FALSCH``, ``1``/``0`` in any case (also ``J``/``N``, ``true``/``false``)."""
    if _blank(value):
        return None
    v = value.strip().casefold()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise FieldError(column, f"{value.strip()!r} is not a yes/no value; expected Ja/Nein, WAHR/FALSCH or 1/0")
