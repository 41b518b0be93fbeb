"""Source row -> Dataverse row, driven by an object's declaration.

``Transformer.row(source_row)`` returns either a load row ``{"key", "body"}`` or a reject. A value
that cannot be carried over (a bad e-mail, an unparseable date, an unknown option) never makes a row
vanish: the row loads without that value and a *warning* names the file, row, field and the value.
A row that cannot load at all (no key, a required lookup that is missing) is *rejected* with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
import re
import uuid
from collections.abc import Mapping  # not typing's: its isinstance is slow, and it runs per row
from typing import Any, Callable

from .dataverse.keys import key_ref
from .mapping.profile import BOOL_TOKENS
from .objects import ID_KEYED, ObjectSpec
from .problems import Problem
from .sources.ids import id_fold
from .sources.worketc import csv_export as values

#: day/month orders a column map's ``format`` may set for dates (its YMD is ISO 8601, read in any order)
DATE_ORDERS = ("DMY", "MDY")
#: number styles a column map's ``format`` names -> how such a number is written (thousands separators
#: optional) and its (thousands, decimal) separators
NUMBER_STYLES = {
    "1,234.56": (re.compile(r"[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)\Z"), ",", "."),
    "1.234,56": (re.compile(r"[+-]?(?:(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?|,\d+)\Z"), ".", ","),
}
#: the number style of a source whose numbers are not plain (work4all: German, 1.234,56); a column map's
#: ``format`` still wins (../shared/formats/work4all-export.md)
SOURCE_NUMBER_STYLE = {"work4all": "1.234,56"}


_TEXT_KINDS = frozenset(("string", "memo", "phone", "url"))
#: an ASCII address values.parse_email accepts unchanged (dot-atom local part of at most 64 characters,
#: two or more domain labels of 1-63 letters, digits and inner hyphens, a top-level label not all digits)
_PLAIN_EMAIL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@"
                          r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
                          r"(?=[a-z0-9-]*[a-z])[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")


def _iso(dt: datetime) -> str:
    """UTC, to the second, ``YYYY-MM-DDTHH:MM:SSZ`` (isoformat: a third faster than strftime, and a year
    before 1000 keeps its 4 digits)."""
    return dt.astimezone(timezone.utc).isoformat(timespec="seconds")[:19] + "Z"


@dataclass
class CustomColumn:
    """A deployed custom field: source label -> Dataverse column (from the custom_field object)."""

    object: str
    label: str
    column: str
    type: str  # Text, TextArea, Dropdown, Date, Number, Checkbox
    options: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "CustomColumn":
        return cls(d["object"], d["label"], d["column"], d["type"], dict(d.get("options") or {}))


@dataclass
class LookupTarget:
    """What a lookup needs to know of the object it points at."""

    table: str
    entity_set: str
    key_column: str
    key_prefix: str
    loaded: set[str]  # (prefixed) source ids that are in Dataverse

    @cached_property
    def _folded(self) -> set[str]:
        return {id_fold(k) for k in self.loaded}

    def has(self, ref: str | None) -> bool:
        """Whether ``ref`` (unprefixed) is a loaded row, compared as Dataverse compares keys (case- and
        accent-insensitive): ``abc`` binds to the row keyed ``ABC``, so it must not go to the placeholder."""
        if not ref:
            return False
        key = f"{self.key_prefix}{ref}"
        return key in self.loaded or id_fold(key) in self._folded


@dataclass
class TransformContext:
    #: owner e-mail (lower case) -> systemuserid
    owners: dict[str, str]
    default_owner: str | None
    #: object name -> where its rows are and which of them loaded
    lookup_targets: dict[str, LookupTarget]
    custom_columns: list[CustomColumn]
    date_order: str = "DMY"
    timezone: str = "Australia/Sydney"
    #: ISO currency code (upper case) -> transactioncurrencyid
    currencies: dict[str, str] = field(default_factory=dict)
    #: configuration objects' documents (e.g. project stage weights), by object name
    config: dict[str, Any] = field(default_factory=dict)
    #: a user's short sign (lower case; work4all: Mitarbeiter.Kuerzel) -> their e-mail, for owner columns
    owner_aliases: dict[str, str] = field(default_factory=dict)


@dataclass
class Outcome:
    row: dict | None = None
    reject: Problem | None = None
    warnings: list[Problem] = field(default_factory=list)
    #: owner e-mail that had no Dynamics 365 user (for the reconciliation queue)
    unmatched_owner: str | None = None


def note_id(source: str, obj: str, key: str) -> str:
    """A stable GUID for a row of a table that cannot carry an alternate key (notes)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:crm-migration:{source}:{obj}:{key}"))


class Transformer:
    def __init__(self, spec: ObjectSpec, ctx: TransformContext):
        self.spec = spec
        self.ctx = ctx
        self.custom = [c for c in ctx.custom_columns if c.object == spec.custom_fields_object]
        self.number_style = SOURCE_NUMBER_STYLE.get(spec.source)

    def row(self, src: dict) -> Outcome:
        spec = self.spec
        raw_key = src.get(spec.key_field)
        key = f"{spec.key_prefix}{raw_key}"
        out = Outcome()

        def problem(stage: str, code: str, message: str, fld: str | None = None, value: Any = None) -> Problem:
            return Problem(
                object=spec.name, source_id=raw_key, file=src.get("_file"), line=src.get("_row"),
                record=src.get("_record"), stage=stage, code=code, field=fld, message=message,
                value=None if value is None else str(value),
            )

        def warn(code: str, fld: str, message: str, value: Any = None) -> None:
            out.warnings.append(problem("transform", code, message, fld, value))

        table = spec.table
        if spec.route and not spec.route.field.startswith("_"):  # "_...": the shape hook picks (s.table)
            kind = (src.get(spec.route.field) or "").strip()
            table = spec.route.tables.get(kind) or next(
                (t for k, t in spec.route.tables.items() if k.casefold() == kind.casefold()), None)
            if table is None:
                out.reject = problem("transform", "unknown_type",
                                     f"{spec.route.field} {kind!r} is not one of {sorted(spec.route.tables)}",
                                     spec.route.field, kind)
                return out

        body: dict[str, Any] = dict(spec.constants)
        for f in spec.fields:
            raw = src.get(f.source)
            if raw is None or raw == "":
                continue
            if f.kind in _TEXT_KINDS:  # what convert() does for text, without its call (the hot path)
                body[f.target] = raw if f.kind == "memo" else raw.strip()
                continue
            if f.kind == "currency":
                currency = self.ctx.currencies.get(raw.strip().upper())
                if currency is None:
                    out.reject = problem("transform", "unknown_currency",
                                         f"currency {raw!r} is not a transactioncurrency in Dynamics 365 (known: "
                                         f"{', '.join(sorted(self.ctx.currencies)) or 'none'}); add it, then rerun",
                                         f.source, raw)
                    return out
                body[f"{f.target}@odata.bind"] = f"/transactioncurrencies({currency})"
                continue
            fmt = getattr(f, "format", None)  # an approved map's fields have one (shared.mapping.apply.MappedField)
            if fmt is None and f.kind in ("decimal", "money", "int"):
                fmt = self.number_style
            try:
                body[f.target] = self.convert(f.kind, raw, f.source, f.options, f.option_default, fmt)
            except values.FieldError as e:
                warn("invalid_value", f.source, f"{e}; the value was not migrated", raw)
                continue
            if f.kind in ("decimal", "money"):
                body[f.target] = _fit_precision(plain_number(raw, fmt, f.source), f.precision, f.source, warn)

        for c in self.custom:
            raw = src.get(c.label)
            if raw is None or raw == "":
                continue
            kind = {"Text": "string", "TextArea": "memo", "Dropdown": "option", "Date": "date",
                    "Number": "decimal", "Checkbox": "bool"}[c.type]
            try:
                body[c.column] = self.convert(kind, raw, c.label, c.options, None)
            except values.FieldError as e:
                warn("invalid_value", c.label, f"{e}; the value was not migrated", raw)
                continue
            if kind == "decimal":  # custom Number columns are Decimal with precision 2
                body[c.column] = _fit_precision(raw, 2, c.label, warn)

        for lk in spec.lookups:
            ref = (src.get(lk.source) or "").strip()
            target_name = lk.target
            if isinstance(lk.target, Mapping):
                kind = (src.get(lk.type_field) or "").strip()
                target_name = lk.target.get(kind)
                if target_name is None:
                    why = f"{lk.type_field} {kind!r} is not one of {sorted(lk.target)}"
                    if lk.missing == "reject":
                        out.reject = problem("transform", "unknown_type", why, lk.type_field, kind)
                        return out
                    warn("missing_parent", lk.type_field, f"{why}; the link was not migrated", kind)
                    continue
            target = self.ctx.lookup_targets[target_name]
            nav = lk.nav_for(table, target.table)
            if target.has(ref):
                body[f"{nav}@odata.bind"] = key_ref(target.entity_set, target.key_column, f"{target.key_prefix}{ref}")
                continue
            why = (f"{lk.source} is empty" if not ref
                   else f"{lk.source} {ref!r} is not a migrated {target_name} (missing in the source or rejected)")
            if lk.missing == "placeholder":
                body[f"{nav}@odata.bind"] = key_ref(target.entity_set, target.key_column, f"{spec.source}-placeholder")
                warn("placeholder_parent", lk.source, f"{why}; attached to the placeholder {target_name}", ref)
            elif lk.missing == "omit":
                if ref:
                    warn("missing_parent", lk.source, f"{why}; the link was not migrated", ref)
            else:
                out.reject = problem("transform", "missing_parent", why, lk.source, ref)
                return out

        if spec.owner_field:
            email = (src.get(spec.owner_field) or "").strip().lower()
            email = self.ctx.owner_aliases.get(email, email)
            owner = self.ctx.owners.get(email) if email else None
            if owner is None and email:
                out.unmatched_owner = email
            owner = owner or self.ctx.default_owner
            if owner:
                body["ownerid@odata.bind"] = f"/systemusers({owner})"

        if spec.created_field and src.get(spec.created_field):
            try:
                created = values.parse_datetime(src[spec.created_field], order=self.ctx.date_order, tz=self.ctx.timezone)
                body["overriddencreatedon"] = _iso(created)
            except values.FieldError as e:
                warn("invalid_value", spec.created_field, f"{e}; the original created date was not kept",
                     src[spec.created_field])

        if spec.shape:
            shaping = Shaping(self, table)
            try:
                body = spec.shape(src, body, lambda code, fld, msg: warn(code, fld, msg, src.get(fld)), shaping)
            except Reject as r:
                out.reject = problem("transform", r.code, r.message, r.field, src.get(r.field) if r.field else None)
                return out
            if shaping.table != table and shaping.table in spec.tables:  # a routed row's table, picked by the hook
                table = shaping.table
        row: dict[str, Any] = {"key": key, "body": body, "row": src.get("_row"), "record": src.get("_record")}
        if table != spec.table:
            row["table"] = table
        if table in ID_KEYED:
            row["key"], row["source_key"] = note_id(spec.source, spec.name, key), key
        if spec.close:
            closing = spec.close.when(src, body)
            if closing:
                row["close"] = {"action": closing[0], "params": closing[1]}
        out.row = row
        return out

    def convert(self, kind: str, raw: str, column: str, options, option_default, fmt: str | None = None) -> Any:
        """``raw`` as Dataverse takes it; ``fmt``: a map's date order (DMY, MDY) or number style, else the run's."""
        raw = raw.strip() if kind not in ("memo",) else raw
        if kind in ("string", "memo", "phone", "url"):
            return raw
        if kind == "email":
            plain = raw.lower()  # a plain ASCII address is what parse_email returns for it; the rest goes there
            if len(plain) <= 254 and _PLAIN_EMAIL.match(plain) and plain.index("@") <= 64:
                return plain
            return values.parse_email(raw)
        order = fmt if fmt in DATE_ORDERS else self.ctx.date_order
        if kind == "date":
            d = values.parse_date(raw, order=order)
            return d.isoformat() if isinstance(d, date) else str(d)
        if kind == "datetime":
            return _iso(values.parse_datetime(raw, order=order, tz=self.ctx.timezone))
        if kind in ("decimal", "money"):
            return float(values.parse_decimal(plain_number(raw, fmt or self.number_style, column)))
        if kind == "int":
            return values.parse_int(plain_number(raw, fmt or self.number_style, column))
        if kind == "bool":  # also the other words the profiler reads as yes/no (Ja/Nein, wahr/falsch)
            word = BOOL_TOKENS.get(raw.lower())
            return word if word is not None else values.parse_bool(raw)
        if kind == "option":
            folded = {k.casefold(): v for k, v in (options or {}).items()}
            if raw.casefold() in folded:
                if folded[raw.casefold()] is None:  # an approved map sends this value to no option
                    raise values.FieldError(column, f"{raw!r} has no option in the approved map")
                return folded[raw.casefold()]
            if option_default is not None:
                return option_default
            raise values.FieldError(column, f"{raw!r} is not one of the options {sorted(options or {})}")
        raise ValueError(f"unknown field kind {kind!r}")


def plain_number(raw: str, style: str | None, column: str) -> str:
    """A number written in a map's ``style`` (``1.234,56``) as a plain decimal (``1234.56``); other
    styles (None: the source's own plain numbers) pass through unchanged."""
    if style not in NUMBER_STYLES:
        return raw
    pattern, thousands, decimal = NUMBER_STYLES[style]
    v = raw.strip()
    if not pattern.match(v):
        raise values.FieldError(column, f"{v!r} is not a number written {style}")
    return v.replace(thousands, "").replace(decimal, ".")


def _fit_precision(raw: str, precision: int, column: str, warn: Callable[..., None]) -> float:
    """The value Dataverse will store in a column of ``precision`` decimal places, warning when that
    rounds the source value (Dataverse would round it without a word)."""
    exact = values.parse_decimal(raw)
    fitted = exact.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP)
    if fitted != exact:
        warn("rounded", column, f"{exact} has more than {precision} decimal places (the column's precision); "
                                f"migrated as {fitted}", raw)
    return float(fitted)


class Reject(Exception):
    """Raised by a shape hook: the row cannot load (a reason, never a silent drop)."""

    def __init__(self, code: str, field: str | None, message: str):
        super().__init__(message)
        self.code, self.field, self.message = code, field, message


@dataclass
class Shaping:
    """What an object's ``shape`` hook may use: value conversion, the run's context, the row's table."""

    transformer: Transformer
    table: str

    @property
    def ctx(self) -> TransformContext:
        return self.transformer.ctx

    def convert(self, kind: str, raw: str, column: str = "") -> Any:
        return self.transformer.convert(kind, raw, column, None, None)

    def bind(self, target: str, ref: str | None) -> str | None:
        """``/<set>(<key>='<ref>')`` when ``ref`` is a migrated row of object ``target``, else None."""
        t = self.ctx.lookup_targets[target]
        ref = (ref or "").strip()
        if t.has(ref):
            return key_ref(t.entity_set, t.key_column, f"{t.key_prefix}{ref}")
        return None

    def placeholder(self, target: str) -> str:
        t = self.ctx.lookup_targets[target]
        return key_ref(t.entity_set, t.key_column, f"{self.transformer.spec.source}-placeholder")

    def fit(self, text: str, max_length: int, column: str, warn: Callable[[str, str, str], None]) -> str:
        """``text`` cut to a column's MaxLength, warning when that drops characters."""
        if len(text) <= max_length:
            return text
        warn("truncated", column, f"{len(text)} characters, the column holds {max_length}; the rest was cut off")
        return text[:max_length]

    def try_convert(self, kind: str, raw: str | None, column: str, warn: Callable[[str, str, str], None]) -> Any:
        """Convert or warn (and return None): for values a shape hook carries over."""
        if raw is None or raw == "":
            return None
        try:
            return self.convert(kind, raw, column)
        except values.FieldError as e:
            warn("invalid_value", column, f"{e}; the value was not migrated")
            return None
