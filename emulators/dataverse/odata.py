"""OData URL pieces: key segments `(guid)` / `(a='x',b=1)`, `$filter`, `$orderby`, `$select`.

`$filter` is compiled into a Python predicate once per request; property names are resolved through
a callback so the caller decides what exists (and raises Dataverse's error when it does not).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from .errors import DataverseError, ZERO

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_SEGMENT_RE = re.compile(r"^([A-Za-z_][\w.]*)(?:\((.*)\))?$", re.S)


def syntax_error(detail: str) -> DataverseError:
    return DataverseError(400, ZERO, detail)


def split_segment(segment: str) -> tuple[str, str | None]:
    """`accounts(wtc_sourceid='1')` -> ("accounts", "wtc_sourceid='1'"); `accounts` -> ("accounts", None)."""
    m = _SEGMENT_RE.match(segment)
    if not m:
        return segment, None
    return m.group(1), m.group(2)


def parse_key(text: str) -> str | dict[str, Any]:
    """A key segment body: a GUID (returned lower-case) or `name=value` pairs (returned as dict)."""
    text = text.strip()
    if GUID_RE.match(text):
        return text.lower()
    pairs: dict[str, Any] = {}
    i, n = 0, len(text)
    while i < n:
        m = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*").match(text, i)
        if not m:
            raise syntax_error(f"Bad Request - Error in query syntax.")
        name = m.group(1)
        i = m.end()
        if i < n and text[i] == "'":
            j, buf = i + 1, []
            while True:
                if j >= n:
                    raise syntax_error("Bad Request - Error in query syntax.")
                ch = text[j]
                if ch == "'":
                    if j + 1 < n and text[j + 1] == "'":
                        buf.append("'")
                        j += 2
                        continue
                    break
                buf.append(ch)
                j += 1
            value: Any = "".join(buf)
            i = j + 1
        else:
            m2 = re.compile(r"[^,]*").match(text, i)
            raw = m2.group(0).strip()
            i = m2.end()
            value = _literal(raw)
        pairs[name.lower()] = value
        while i < n and text[i] in " ":
            i += 1
        if i < n:
            if text[i] != ",":
                raise syntax_error("Bad Request - Error in query syntax.")
            i += 1
    if not pairs:
        raise syntax_error("Bad Request - Error in query syntax.")
    return pairs


def _literal(raw: str) -> Any:
    if raw == "null":
        return None
    if raw in ("true", "false"):
        return raw == "true"
    if GUID_RE.match(raw):
        return raw.lower()
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if re.fullmatch(r"-?\d+\.\d*(?:[eE][-+]?\d+)?[mMdDfF]?|-?\d+[mM]", raw):
        return float(raw.rstrip("mMdDfF"))
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        return raw
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?", raw):
        return normalize_datetime(raw)
    raise syntax_error(f"Syntax error at position {len(raw)} in '{raw}'.")


_CANON_DT = re.compile(r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\dZ$")


def normalize_datetime(raw: str) -> str:
    """ISO date-time -> 'YYYY-MM-DDTHH:MM:SSZ' in UTC; raises ValueError when not a date-time."""
    if _CANON_DT.match(raw) and raw[8:10] <= "28":
        return raw
    text = raw.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        dt = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    else:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,7})?)?([+-]\d{2}:\d{2})?", text):
            raise ValueError(raw)
        frac = re.search(r"\.(\d+)", text)
        if frac and len(frac.group(1)) > 6:
            text = text.replace(frac.group(0), "." + frac.group(1)[:6])
        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- $filter --------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^']|'')*')
  | (?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-]))
  | (?P<dt>\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2})?)?(?![\w]))
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?[mMdDfFlL]?(?![\w]))
  | (?P<name>[A-Za-z_@$][\w.]*(?:/[A-Za-z_][\w.]*)*)
  | (?P<punct>[(),\[\]=])
""", re.X)

Getter = Callable[[dict], Any]
Resolver = Callable[[str], Getter]


def _tokenize(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise syntax_error(f"Syntax error at position {pos} in '{text}'.")
        pos = m.end()
        kind = m.lastgroup
        val = m.group(kind)
        if kind == "ws":
            continue
        if kind == "str":
            out.append(("lit", val[1:-1].replace("''", "'")))
        elif kind == "guid":
            out.append(("lit", val.lower()))
        elif kind == "dt":
            out.append(("lit", val if "T" not in val else normalize_datetime(val)))
        elif kind == "num":
            v = val.rstrip("mMdDfFlL")
            out.append(("lit", float(v) if any(c in v for c in ".eE") else int(v)))
        elif kind == "name":
            if val in ("true", "false"):
                out.append(("lit", val == "true"))
            elif val == "null":
                out.append(("lit", None))
            else:
                out.append(("name", val))
        else:
            out.append(("p", val))
    return out


def _norm(v: Any) -> Any:
    if isinstance(v, str):
        return v.lower()
    if isinstance(v, list):   # lookup stored as [table, id]
        return v[1]
    return v


def _cmp(op: str, a: Any, b: Any) -> bool:
    if op == "eq":
        return a == b
    if op == "ne":
        return a != b
    if a is None or b is None:
        return False
    try:
        if op == "gt":
            return a > b
        if op == "ge":
            return a >= b
        if op == "lt":
            return a < b
        if op == "le":
            return a <= b
    except TypeError:
        return False
    raise syntax_error(f"Unknown operator '{op}'.")


class _Parser:
    def __init__(self, text: str, resolve: Resolver) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.resolve = resolve

    def peek(self, k: int = 0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else (None, None)

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def expect(self, p: str) -> None:
        t = self.take()
        if t != ("p", p):
            raise syntax_error(f"Syntax error: expected '{p}' in '{self.text}'.")

    def parse(self) -> Callable[[dict], bool]:
        fn = self.or_expr()
        if self.i != len(self.toks):
            raise syntax_error(f"Syntax error at position {self.i} in '{self.text}'.")
        return fn

    def or_expr(self):
        left = self.and_expr()
        while self.peek() == ("name", "or"):
            self.take()
            right = self.and_expr()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def and_expr(self):
        left = self.unary()
        while self.peek() == ("name", "and"):
            self.take()
            right = self.unary()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def unary(self):
        if self.peek() == ("name", "not"):
            self.take()
            inner = self.unary()
            return lambda r: not inner(r)
        return self.comparison()

    def operand(self):
        kind, val = self.take()
        if kind == "lit":
            v = _norm(val)
            return lambda r: v
        if kind == "name":
            getter = self.resolve(val)
            return lambda r: _norm(getter(r))
        raise syntax_error(f"Syntax error at position {self.i} in '{self.text}'.")

    def comparison(self):
        kind, val = self.peek()
        if (kind, val) == ("p", "("):
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        if kind == "name" and self.peek(1) == ("p", "("):
            return self.function()
        left = self.operand()
        op_kind, op = self.take()
        if op_kind != "name" or op not in ("eq", "ne", "gt", "ge", "lt", "le"):
            raise syntax_error(f"Syntax error at position {self.i} in '{self.text}'.")
        right = self.operand()
        return lambda r: _cmp(op, left(r), right(r))

    def _named_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {}
        self.expect("(")
        while self.peek() != ("p", ")"):
            _, name = self.take()
            self.expect("=")
            if self.peek() == ("p", "["):
                self.take()
                items = []
                while self.peek() != ("p", "]"):
                    k, v = self.take()
                    if k == "lit":
                        items.append(v)
                    if self.peek() == ("p", ","):
                        self.take()
                self.take()
                args[name] = items
            else:
                args[name] = self.take()[1]
            if self.peek() == ("p", ","):
                self.take()
        self.take()
        return args

    def function(self):
        _, name = self.take()
        short = name.rsplit(".", 1)[-1]
        if short in ("In", "NotIn") and name.startswith("Microsoft.Dynamics.CRM."):
            args = self._named_args()
            getter = self.resolve(str(args.get("PropertyName")))
            values = {_norm(v) for v in args.get("PropertyValues", [])}
            if short == "In":
                return lambda r: _norm(getter(r)) in values
            return lambda r: _norm(getter(r)) not in values
        if short in ("Null", "NotNull") and name.startswith("Microsoft.Dynamics.CRM."):
            args = self._named_args()
            getter = self.resolve(str(args.get("PropertyName")))
            return (lambda r: getter(r) is None) if short == "Null" else (lambda r: getter(r) is not None)
        if name in ("contains", "startswith", "endswith"):
            self.expect("(")
            left = self.operand()
            self.expect(",")
            right = self.operand()
            self.expect(")")

            def fn(r, left=left, right=right, name=name):
                a, b = left(r), right(r)
                if not isinstance(a, str) or not isinstance(b, str):
                    return False
                return b in a if name == "contains" else a.startswith(b) if name == "startswith" else a.endswith(b)
            return fn
        raise syntax_error(f"An unknown function with name '{name}' was found. This may also be a function "
                           "import or a key lookup on a navigation property, which is not allowed.")


def compile_filter(text: str, resolve: Resolver) -> Callable[[dict], bool]:
    return _Parser(text, resolve).parse()


def parse_orderby(text: str) -> list[tuple[str, bool]]:
    out = []
    for part in text.split(","):
        bits = part.strip().split()
        if not bits:
            continue
        desc = len(bits) > 1 and bits[1].lower() == "desc"
        out.append((bits[0], desc))
    return out


def parse_select(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [s.strip() for s in text.split(",") if s.strip()]
