"""Source row -> Dataverse row, driven by an object's declaration.

``Transformer.row(source_row)`` returns either a load row ``{"key", "body"}`` or a reject. A value
that cannot be carried over (a bad e-mail, an unparseable date, an unknown option) never makes a row
vanish: the row loads without that value and a *warning* names the file, row, field and the value.
A row that cannot load at all (no key, a required lookup that is missing) is *rejected* with a reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Iterable

from .dataverse.keys import key_ref
from .objects import ObjectSpec
from .problems import Problem
from .sources.worketc import csv_export as values

ISO_Z = "%Y-%m-%dT%H:%M:%SZ"


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime(ISO_Z)


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
class TransformContext:
    #: owner e-mail (lower case) -> systemuserid
    owners: dict[str, str]
    default_owner: str | None
    #: object name -> (entity set, key column, loaded source ids) for lookups
    lookup_targets: dict[str, tuple[str, str, set[str]]]
    custom_columns: list[CustomColumn]
    date_order: str = "DMY"
    timezone: str = "Australia/Sydney"


@dataclass
class Outcome:
    row: dict | None = None
    reject: Problem | None = None
    warnings: list[Problem] = field(default_factory=list)
    #: owner e-mail that had no Dynamics 365 user (for the reconciliation queue)
    unmatched_owner: str | None = None


class Transformer:
    def __init__(self, spec: ObjectSpec, ctx: TransformContext):
        self.spec = spec
        self.ctx = ctx
        self.custom = [c for c in ctx.custom_columns if c.object == spec.custom_fields_object]

    def key_of(self, row: dict) -> str | None:
        return row.get(self.spec.key_field)

    def row(self, src: dict) -> Outcome:
        spec = self.spec
        key = self.key_of(src)
        out = Outcome()

        def problem(stage: str, code: str, message: str, fld: str | None = None, value: Any = None) -> Problem:
            return Problem(
                object=spec.name, source_id=key, file=src.get("_file"), row=src.get("_row"),
                stage=stage, code=code, field=fld, message=message, value=None if value is None else str(value),
            )

        def warn(code: str, fld: str, message: str, value: Any = None) -> None:
            out.warnings.append(problem("transform", code, message, fld, value))

        body: dict[str, Any] = dict(spec.constants)
        for f in spec.fields:
            raw = src.get(f.source)
            if raw is None or raw == "":
                continue
            try:
                body[f.target] = self.convert(f.kind, raw, f.source, f.options, f.option_default)
            except values.FieldError as e:
                warn("invalid_value", f.source, f"{e}; the value was not migrated", raw)

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

        for lk in spec.lookups:
            target_set, target_key_column, loaded = self.ctx.lookup_targets[lk.target]
            ref = src.get(lk.source)
            if ref and ref in loaded:
                body[f"{lk.nav}@odata.bind"] = key_ref(target_set, target_key_column, ref)
                continue
            why = (f"{lk.source} is empty" if not ref
                   else f"{lk.source} {ref!r} is not a migrated {lk.target} (missing in the source or rejected)")
            if lk.missing == "placeholder":
                placeholder = f"{self.spec.source}-placeholder"
                body[f"{lk.nav}@odata.bind"] = key_ref(target_set, target_key_column, placeholder)
                warn("placeholder_parent", lk.source, f"{why}; attached to the placeholder {lk.target}", ref)
            elif lk.missing == "omit":
                if ref:
                    warn("missing_parent", lk.source, f"{why}; the link was not migrated", ref)
            else:
                out.reject = problem("transform", "missing_parent", why, lk.source, ref)
                return out

        if spec.owner_field:
            email = (src.get(spec.owner_field) or "").strip().lower()
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
            body = spec.shape(src, body, lambda code, fld, msg: warn(code, fld, msg, src.get(fld)))
        out.row = {"key": key, "body": body, "row": src.get("_row")}
        return out

    def convert(self, kind: str, raw: str, column: str, options, option_default) -> Any:
        raw = raw.strip() if kind not in ("memo",) else raw
        if kind in ("string", "memo", "phone", "url"):
            return raw
        if kind == "email":
            return values.parse_email(raw)
        if kind == "date":
            d = values.parse_date(raw, order=self.ctx.date_order)
            return d.isoformat() if isinstance(d, date) else str(d)
        if kind == "datetime":
            return _iso(values.parse_datetime(raw, order=self.ctx.date_order, tz=self.ctx.timezone))
        if kind in ("decimal", "money"):
            return float(values.parse_decimal(raw))
        if kind == "int":
            return values.parse_int(raw)
        if kind == "bool":
            return values.parse_bool(raw)
        if kind == "option":
            folded = {k.casefold(): v for k, v in (options or {}).items()}
            if raw.casefold() in folded:
                return folded[raw.casefold()]
            if option_default is not None:
                return option_default
            raise values.FieldError(column, f"{raw!r} is not one of the options {sorted(options or {})}")
        raise ValueError(f"unknown field kind {kind!r}")


def as_json_number(value: Decimal) -> float:
    return float(value)


def transform_rows(spec: ObjectSpec, ctx: TransformContext, rows: Iterable[dict]) -> Iterable[Outcome]:
    t = Transformer(spec, ctx)
    for r in rows:
        yield t.row(r)
