"""Profile a source table in one streaming pass and constant memory: what each column holds.

``profile_rows(rows)`` takes any iterable of dicts (column -> raw string or ``None``; keys starting with
``_`` are the reader's bookkeeping such as ``_file``/``_row``/``_error`` and are not columns) and returns
a :class:`TableProfile`: per column the inferred kind, fill rate, distinct count, longest value, top
values with counts and a few samples. The proposer reads it to choose targets and check compatibility;
the map file shows its figures as comments.

Memory per column is bounded whatever the row count:
- distinct values are counted exactly up to ``DISTINCT_CAP`` (a dict value -> count, which also gives
  exact top values and lets each distinct value be classified once instead of once per row); past the
  cap the count becomes a HyperLogLog estimate (``distinct_exact = False``, about 1 % error) and the
  top values a Misra-Gries summary seeded from the exact counts (``top_exact = False``: counts are
  lower bounds, short by at most ``top_error``);
- values longer than ``KEY_CHARS`` are counted under a prefix + digest, so a memo column does not keep
  its texts.
The output is deterministic (no salted ``hash()``; ties sorted by value) and JSON-serialisable. It
quotes source values (top values, samples), so it is personal data: keep it in staging, pass it by name.
"""

from __future__ import annotations

import calendar
import hashlib
import math
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Mapping

DISTINCT_CAP = 10_000  # exact distinct counting (and exact top values) up to this many values
TOP_REPORTED = 20  # top values reported for a column with many values
OPTION_MAX = 50  # at most this many distinct values make a column option-like (all of them are reported)
MG_COUNTERS = 200  # Misra-Gries counters once the exact counts are dropped
SAMPLES = 5
SAMPLE_CHARS = 80
KEY_CHARS = 256
HLL_BITS = 14  # 16,384 registers: ~0.8 % standard error
KIND_THRESHOLD = 0.9  # share of filled values a kind must fit (the rest is dirt the proposer reports)

KINDS = ("empty", "boolean", "integer", "decimal", "date", "datetime", "email", "url", "phone", "option", "text")
#: boolean tokens (English, German) -> meaning
BOOL_TOKENS = {"true": True, "false": False, "yes": True, "no": False, "y": True, "n": False, "ja": True,
               "nein": False, "j": True, "wahr": True, "falsch": False, "1": True, "0": False}

# feature indices of one value's classification
(F_BOOL, F_INT, F_EN, F_DE, F_EN_ONLY, F_DE_ONLY, F_DATE, F_DATETIME, F_DMY, F_MDY, F_YMD, F_DOT, F_EMAIL, F_URL,
 F_PHONE) = range(15)
_NFEATURES = 15

_INT = re.compile(r"[+-]?(?:0|[1-9]\d{0,14})\Z")
# numbers: no leading zeros (a postcode "01067" or a phone "0301234567" is not a number), at most 15 digits
_NUM_EN = re.compile(r"[+-]?(?:(?:[1-9]\d{0,2}(?:,\d{3})+|0|[1-9]\d{0,14})(?:\.\d+)?|\.\d+)\Z")
_NUM_DE = re.compile(r"[+-]?(?:(?:[1-9]\d{0,2}(?:\.\d{3})+|0|[1-9]\d{0,14})(?:,\d+)?|,\d+)\Z")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})"
                  r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,7})?)?(?:Z|[+-]\d{2}:?\d{2})?)?\Z")
_DMY = re.compile(r"(\d{1,2})([./-])(\d{1,2})\2(\d{4})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?\Z")
# the same rules as the transform's e-mail parser (shared/sources/worketc/values.parse_email), as one pattern
_EMAIL = re.compile(r"(?:mailto:)?[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                    r"@(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?=[\w-]*[^\W\d_])[^\W_](?:[\w-]{0,61}[^\W_])?\.?\Z")
_URL = re.compile(r"(?:https?://|www\.)\S+\Z|[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.[a-z]{2,}(?:[/?#]\S*)?\Z", re.I)
_PHONE = re.compile(r"\+?[\d ()./-]{6,}\d\Z")


def classify(v: str) -> tuple[int, ...]:
    """The features of one (stripped, non-empty) value: which kinds it fits."""
    out: list[int] = []
    low = v.lower()
    if low in BOOL_TOKENS:
        out.append(F_BOOL)
    c0 = v[0]
    if c0.isdigit() or c0 in "+-.,":
        if _INT.match(v):
            out.append(F_INT)
        en, de = _NUM_EN.match(v) is not None, _NUM_DE.match(v) is not None
        if en:
            out.append(F_EN)
            if not de:
                out.append(F_EN_ONLY)
        if de:
            out.append(F_DE)
            if not en:
                out.append(F_DE_ONLY)
        if c0.isdigit() and not (en or de):
            out.extend(_date_features(v))
        if not out and _is_phone(v):
            out.append(F_PHONE)
        return tuple(out)
    if "@" in v:
        if _EMAIL.match(v):
            out.append(F_EMAIL)
    elif "." in v and _URL.match(v):
        out.append(F_URL)
    elif c0 == "(" and _is_phone(v):
        out.append(F_PHONE)
    return tuple(out)


def _is_phone(v: str) -> bool:
    if not _PHONE.match(v):
        return False
    digits = sum(ch.isdigit() for ch in v)
    return digits >= 6 and (v[0] in "+(0" or any(ch in v for ch in " ()/-."))


def _valid_date(y: int, m: int, d: int) -> bool:
    return 1 <= m <= 12 and 1 <= d <= calendar.monthrange(y, m)[1] if y >= 1 else False


def _valid_time(h: str | None, mi: str | None, s: str | None, ampm: str | None = None) -> bool:
    if h is None:
        return True
    hour = int(h)
    ok_hour = 1 <= hour <= 12 if ampm else hour <= 23
    return ok_hour and int(mi or 0) <= 59 and int(s or 0) <= 59


def _date_features(v: str) -> list[int]:
    m = _ISO.match(v)
    if m:
        if _valid_date(int(m[1]), int(m[2]), int(m[3])) and _valid_time(m[4], m[5], m[6]):
            return [F_DATETIME if m[4] else F_DATE, F_YMD]
        return []
    m = _DMY.match(v)
    if not m or not _valid_time(m[5], m[6], m[7], m[8]):
        return []
    a, b, y = int(m[1]), int(m[3]), int(m[4])
    out = [F_DMY] if _valid_date(y, b, a) else []
    if _valid_date(y, a, b):
        out.append(F_MDY)
    if not out:
        return []
    out.append(F_DATETIME if m[5] else F_DATE)
    if m[2] == ".":
        out.append(F_DOT)
    return out


def _hash64(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


class _HyperLogLog:
    """Distinct-count estimate in 2**HLL_BITS bytes (Flajolet et al.; linear counting for small counts)."""

    def __init__(self) -> None:
        self.m = 1 << HLL_BITS
        self.registers = bytearray(self.m)

    def add(self, h: int) -> None:
        idx = h >> (64 - HLL_BITS)
        rest = (h << HLL_BITS) & 0xFFFFFFFFFFFFFFFF
        rank = 65 - HLL_BITS if rest == 0 else 65 - rest.bit_length()
        if rank > self.registers[idx]:
            self.registers[idx] = rank

    def estimate(self) -> int:
        m = self.m
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / sum(2.0 ** -r for r in self.registers)
        zeros = self.registers.count(0)
        if raw <= 2.5 * m and zeros:
            return round(m * math.log(m / zeros))
        return round(raw)


@dataclass
class ColumnProfile:
    """What one source column holds. Rates are shares of the filled (non-empty) values."""

    name: str
    rows: int
    filled: int
    fill_rate: float
    kind: str  # one of KINDS
    kind_rate: float  # share of filled values that fit ``kind``
    kind_rates: dict[str, float]  # every kind that fits at least one value -> share
    date_order: str | None  # DMY | MDY | YMD | ambiguous, of the values that are dates
    decimal_style: str | None  # "1.234,56" (German) | "1,234.56" (English) | ambiguous, of the numbers
    distinct: int
    distinct_exact: bool  # False: a HyperLogLog estimate (more than DISTINCT_CAP values)
    longest: int  # characters of the longest (trimmed) value
    multiline: bool
    top: list[list[Any]]  # [[value, count], ...] most frequent first
    top_exact: bool  # False: Misra-Gries lower bounds, each short by at most ``top_error``
    top_error: int
    samples: list[str]

    @property
    def values_complete(self) -> bool:
        """``top`` lists every distinct value with its exact count (what a value map needs)."""
        return self.distinct_exact and self.top_exact and len(self.top) == self.distinct


@dataclass
class TableProfile:
    rows: int
    malformed: int  # rows the reader marked ``_error`` (not profiled: they are rejected at extraction)
    columns: list[ColumnProfile] = field(default_factory=list)

    def column(self, name: str) -> ColumnProfile | None:
        return next((c for c in self.columns if c.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TableProfile":
        return cls(d["rows"], d["malformed"], [ColumnProfile(**c) for c in d["columns"]])


class _Column:
    __slots__ = ("name", "filled", "longest", "multiline", "counts", "samples", "features", "hll", "mg",
                 "mg_error", "bool_tokens")

    def __init__(self, name: str) -> None:
        self.name = name
        self.filled = 0
        self.longest = 0
        self.multiline = False
        self.counts: dict[str, int] | None = {}  # exact, until DISTINCT_CAP is passed
        self.samples: list[str] = []
        self.features = [0] * _NFEATURES
        self.hll: _HyperLogLog | None = None
        self.mg: dict[str, int] = {}
        self.mg_error = 0
        self.bool_tokens: set[str] = set()

    def add(self, v: str) -> None:
        self.filled += 1
        n = len(v)
        if n > self.longest:
            self.longest = n
        if "\n" in v:
            self.multiline = True
        key = v if n <= KEY_CHARS else _long_key(v)
        counts = self.counts
        if counts is not None:
            c = counts.get(key)
            if c is not None:
                counts[key] = c + 1
                return
            counts[key] = 1
            if len(self.samples) < SAMPLES:
                self.samples.append(v[:SAMPLE_CHARS])
            if key is not v:  # a long value is classified now: its key cannot be classified later
                self._features(v, 1)
            if len(counts) > DISTINCT_CAP:
                self._overflow()
            return
        self._features(v, 1)
        assert self.hll is not None
        self.hll.add(_hash64(key))
        mg = self.mg
        c = mg.get(key)
        if c is not None:
            mg[key] = c + 1
        elif len(mg) < MG_COUNTERS:
            mg[key] = 1
        else:  # Misra-Gries: decrement every counter (amortised O(1) per value)
            self.mg_error += 1
            for k in list(mg):
                if mg[k] == 1:
                    del mg[k]
                else:
                    mg[k] -= 1

    def _features(self, v: str, weight: int) -> None:
        _accumulate(self.features, self.bool_tokens, v, weight)

    def _overflow(self) -> None:
        """Past DISTINCT_CAP: fold the exact counts into the features, the estimate and a Misra-Gries summary."""
        counts = self.counts
        assert counts is not None
        self.hll = _HyperLogLog()
        for key, c in counts.items():
            if key[0] != "\0":
                self._features(key, c)
            self.hll.add(_hash64(key))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        cut = ranked[MG_COUNTERS][1] if len(ranked) > MG_COUNTERS else 0
        self.mg = {k: c - cut for k, c in ranked[:MG_COUNTERS] if c > cut}
        self.mg_error = cut
        self.counts = None

    def result(self, rows: int) -> ColumnProfile:
        exact = self.counts is not None
        f, bool_tokens = list(self.features), set(self.bool_tokens)
        if exact:
            assert self.counts is not None
            for key, c in self.counts.items():
                if key[0] != "\0":
                    _accumulate(f, bool_tokens, key, c)
            ranked = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
            distinct = len(ranked)
        else:
            assert self.hll is not None
            ranked = sorted(self.mg.items(), key=lambda kv: (-kv[1], kv[0]))
            distinct = max(self.hll.estimate(), DISTINCT_CAP + 1)
        filled = self.filled
        rate = (lambda n: round(n / filled, 4)) if filled else (lambda n: 0.0)
        kind, kind_rate = _decide(f, filled, distinct, exact, self.longest, self.multiline, bool_tokens)
        date_order, style = _date_order(f), _decimal_style(f, kind)
        kind_rates = {k: rate(n) for k, n in (
            ("boolean", f[F_BOOL]), ("integer", f[F_INT]), ("decimal", max(f[F_EN], f[F_DE])),
            ("date", _date_valid(f)), ("email", f[F_EMAIL]), ("url", f[F_URL]), ("phone", f[F_PHONE])) if n}
        shown = len(ranked) if exact and distinct <= OPTION_MAX else TOP_REPORTED
        return ColumnProfile(
            name=self.name, rows=rows, filled=filled, fill_rate=round(filled / rows, 4) if rows else 0.0,
            kind=kind,
            kind_rate=rate(kind_rate) if kind not in ("option", "text", "empty") else (1.0 if filled else 0.0),
            kind_rates=kind_rates, date_order=date_order, decimal_style=style, distinct=distinct,
            distinct_exact=exact, longest=self.longest, multiline=self.multiline,
            top=[[_shown(k), c] for k, c in ranked[:shown]], top_exact=exact, top_error=0 if exact else self.mg_error,
            samples=list(self.samples),
        )


def _accumulate(f: list[int], bool_tokens: set[str], v: str, weight: int) -> None:
    for i in classify(v):
        f[i] += weight
    low = v.lower()
    if low in BOOL_TOKENS:
        bool_tokens.add(low)


def _long_key(v: str) -> str:
    return "\0" + v[:64] + "…#" + hashlib.blake2b(v.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _shown(key: str) -> str:
    return key[1:] if key[:1] == "\0" else key


def _date_valid(f: list[int]) -> int:
    """Values that parse as dates under the better of the two day/month orders (ISO always parses)."""
    return f[F_YMD] + max(f[F_DMY], f[F_MDY]) if (f[F_DMY] or f[F_MDY] or f[F_YMD]) else 0


def _date_order(f: list[int]) -> str | None:
    """DMY | MDY | YMD | ambiguous, from the values that are dates (whatever the column's kind)."""
    if not (f[F_DMY] or f[F_MDY] or f[F_YMD]):
        return None
    if f[F_DMY] == f[F_MDY] == 0:
        return "YMD"
    if f[F_DMY] != f[F_MDY]:
        return "DMY" if f[F_DMY] > f[F_MDY] else "MDY"
    # every day is 12 or less: dd.mm.yyyy is German and so day first; slashes cannot tell
    return "DMY" if f[F_DOT] == f[F_DMY] else "ambiguous"


def _decimal_style(f: list[int], kind: str) -> str | None:
    if f[F_DE_ONLY] > f[F_EN_ONLY]:
        return "1.234,56"
    if f[F_EN_ONLY] > f[F_DE_ONLY]:
        return "1,234.56"
    return "ambiguous" if f[F_EN_ONLY] or kind == "decimal" else None


def _decide(f: list[int], filled: int, distinct: int, exact: bool, longest: int, multiline: bool,
            bool_tokens: set[str]) -> tuple[str, int]:
    """(kind, values that fit it): the most specific kind that fits KIND_THRESHOLD of the filled values."""
    if not filled:
        return "empty", 0
    need = KIND_THRESHOLD * filled
    numeric_only = bool_tokens <= {"0", "1"}
    if f[F_BOOL] >= need and bool_tokens and (not numeric_only or bool_tokens == {"0", "1"}):
        return "boolean", f[F_BOOL]
    if f[F_INT] >= need:
        return "integer", f[F_INT]
    if max(f[F_EN], f[F_DE]) >= need:
        return "decimal", f[F_DE] if f[F_DE_ONLY] > f[F_EN_ONLY] else f[F_EN] if f[F_EN_ONLY] > f[F_DE_ONLY] \
            else max(f[F_EN], f[F_DE])
    dated = _date_valid(f)
    if dated >= need:
        return ("datetime" if f[F_DATETIME] > f[F_DATE] else "date"), dated
    for kind, i in (("email", F_EMAIL), ("url", F_URL), ("phone", F_PHONE)):
        if f[i] >= need:
            return kind, f[i]
    if exact and distinct <= OPTION_MAX and filled >= 2 * distinct and longest <= 100 and not multiline:
        return "option", filled
    return "text", filled


class Profiler:
    """Streaming profiler: ``add(row)`` for each row, then ``result()``."""

    def __init__(self, *, meta_prefix: str = "_") -> None:
        self.meta_prefix = meta_prefix
        self.rows = 0
        self.malformed = 0
        self._columns: dict[str, _Column] = {}

    def add(self, row: Mapping[str, Any]) -> None:
        if row.get("_error"):
            self.malformed += 1
            return
        self.rows += 1
        cols = self._columns
        prefix = self.meta_prefix
        for name, raw in row.items():
            col = cols.get(name)
            if col is None:
                if prefix and name.startswith(prefix):
                    continue
                col = cols[name] = _Column(name)
            if raw is None:
                continue
            v = raw.strip() if isinstance(raw, str) else str(raw)
            if v:
                col.add(v)

    def result(self) -> TableProfile:
        return TableProfile(self.rows, self.malformed, [c.result(self.rows) for c in self._columns.values()])


def profile_rows(rows: Iterable[Mapping[str, Any]], *, meta_prefix: str = "_") -> TableProfile:
    p = Profiler(meta_prefix=meta_prefix)
    for row in rows:
        p.add(row)
    return p.result()
