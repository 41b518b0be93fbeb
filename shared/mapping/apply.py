"""The approved column map applied: an object's declaration as ``mapping/approved.yaml`` says it.

The catalogue (shared/objects/<source>.py) declares every object in code; once a map is approved,
``spec_for(spec, mapping)`` is the object the transform and prepare steps work with, for any source:

- value entries (string ... currency) are the object's fields: target, kind and ``format`` (a date
  order or a number style); an option entry's ``values`` is its value map (a value mapped to null loads
  empty with a per-row warning; a value the map does not list falls back to the catalogue's own table
  for that column, then to its default option, else it is warned and loads empty, as before);
- skip entries carry nothing (the object's notes name them, so the report declares what stays behind);
- ``custom`` columns become engine columns, so prepare creates them (type, length, options) before
  any row loads;
- read-only entries (key, lookup, owner, created, engine) are the engine's: the code's declaration
  applies unchanged, and an entry that says otherwise is refused with :class:`MapApplyError` (the
  validator refuses such edits first). The one thing a read-only entry may set is the created date's
  day/month order (``format``);
- the source's custom fields are entries of the map like any other column (the proposal lists every
  column of the file), so they no longer reach Dataverse by a second path (``custom_fields_object``);
- hooks (``shape``, ``close``, ``route``) are untouched: they see the body the map built, and the map's
  per-object settings (``options:``, ``catalogue.SETTINGS``) as ``shaping.settings`` ({object: {setting:
  value}}, every object's of the map: Belegpositionen follow their Beleg's); an unknown setting or value is
  refused; each chosen setting is a line of the object's notes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

from ..errors import PermanentError
from ..objects.spec import Column, Field, ObjectSpec
from .catalogue import defaults_from_spec, settings_of
from .model import READ_ONLY_KINDS, VALUE_KINDS, Entry, ObjectMapping, ValueMapping

#: option values of new Picklist options: the publisher's customization prefix (10000) -> 100,000,000 and
#: up, as the custom fields step numbers the options it creates
OPTION_BASE = 100_000_000
#: created-date formats that change how the date is read (YMD is ISO 8601, which every order reads)
CREATED_ORDERS = ("DMY", "MDY")
#: the target of a read-only entry the catalogue does not declare, which the engine can still apply
ENGINE_TARGETS = {"owner": "ownerid", "created": "overriddencreatedon", "engine": None}


class MapApplyError(PermanentError):
    """The approved map asks for something the engine cannot apply; the message names object, column and fix."""


@dataclass(frozen=True)
class MappedField(Field):
    """A field as an approved map states it: with its entry's ``format`` (None: the run's settings)."""

    format: str | None = None


def spec_for(spec: ObjectSpec, mapping: ObjectMapping,
             picklists: Mapping[str, Mapping[str, int]] | None = None) -> ObjectSpec:
    """``spec`` as ``mapping`` (its approved map) says. ``picklists``: column -> {label: option value} of
    the Picklist columns already in Dataverse, so new custom options keep the values they were given."""
    if mapping.table not in (spec.table, spec.fallback_table):
        raise MapApplyError(f"mapping.yaml: {spec.name}: the map loads {spec.file} into {mapping.table!r}, but this "
                            f"object loads into {spec.table!r} (the table is not editable); write table: {spec.table}")
    _check_read_only(spec, mapping)
    declared = {(f.source, f.target): f for f in spec.fields}
    columns = {c.logical_name: c for c in spec.columns}
    owner_field, created_field, fields = _owner_and_created(spec, mapping)
    for e in mapping.entries:
        if e.kind in READ_ONLY_KINDS or e.kind == "skip":
            continue
        if e.kind not in VALUE_KINDS or not e.target:
            raise _refused(spec, e, f"kind {e.kind!r} with target {e.target!r} cannot be applied",
                           f"use one of {', '.join(VALUE_KINDS)} with a target column, or kind skip")
        if e.custom is not None:
            columns[e.target] = _column(spec, e, columns.get(e.target), (picklists or {}).get(e.target, {}))
        fields.append(_field(spec, e, declared.get((e.source, e.target)), columns.get(e.target)))
    return replace(spec, fields=tuple(fields), columns=tuple(columns.values()), owner_field=owner_field,
                   created_field=created_field, custom_fields_object=None, shape=_with_settings(spec, mapping),
                   notes=(*spec.notes, *_notes(mapping), *_setting_notes(spec, mapping)))


def _with_settings(spec: ObjectSpec, mapping: ObjectMapping):
    """The shape hook, given the map's settings (``shaping.settings``); the object's own are checked first."""
    declared = settings_of(spec.source, spec.name)
    for setting, choice in mapping.options.items():
        if choice not in declared.get(setting, ()):
            what = (f"the setting {setting}: {choice!r} is not one of {', '.join(declared[setting])}"
                    if setting in declared else f"{spec.name} has no setting {setting!r}")
            raise MapApplyError(f"mapping.yaml: {spec.name}: options: {what}; fix: correct it (or remove it: the "
                                "default applies)")
    shape = spec.shape
    if shape is None or not (mapping.options or mapping.map_options):
        return shape  # no settings in the map: the hook as declared (its defaults apply)
    settings = {**mapping.map_options, spec.name: dict(mapping.options)}

    def shaped(src: dict, body: dict, warn, s):
        s.settings = settings
        return shape(src, body, warn, s)

    return shaped


def _setting_notes(spec: ObjectSpec, mapping: ObjectMapping) -> tuple[str, ...]:
    declared = settings_of(spec.source, spec.name)
    return tuple(f"Map setting {k}: {mapping.options.get(k, v[0])}" + (" (the default)" if k not in mapping.options
                                                                        or mapping.options[k] == v[0] else "") + "."
                 for k, v in declared.items())


def _owner_and_created(spec: ObjectSpec, mapping: ObjectMapping) -> tuple[str | None, str | None, list[Field]]:
    """The owner and created-date columns: the code's, else the ones the map shows (a header the proposer
    recognised where the catalogue declares none). A created date with a day/month order in the map is
    read in that order rather than the run's: as a field of its own."""
    owner = spec.owner_field or next((e.source for e in mapping.entries if e.kind == "owner"), None)
    created = spec.created_field or next((e.source for e in mapping.entries if e.kind == "created"), None)
    order = next((e.format for e in mapping.entries if e.kind == "created" and created
                  and e.source.casefold() == created.casefold()), None)
    if order in CREATED_ORDERS:
        return owner, None, [MappedField(created, "overriddencreatedon", "datetime", format=order)]
    return owner, created, []


def _field(spec: ObjectSpec, e: Entry, declared: Field | None, column: Column | None) -> MappedField:
    options = option_default = None
    if e.kind == "option":
        labels = {lbl: v for v, lbl in column.options} if column is not None and column.type == "Picklist" else None
        same = declared if declared is not None and declared.kind == "option" else None
        catalogue = dict(same.options or {}) if same is not None else {}
        options = {**catalogue, **{v.source: _option(spec, e, v, labels) for v in e.values}}
        option_default = same.option_default if same is not None else None
    return MappedField(e.source, e.target, e.kind, options, option_default,
                       declared.precision if declared is not None else 2, format=e.format)


def _option(spec: ObjectSpec, e: Entry, v: ValueMapping, labels: dict[str, int] | None) -> int | None:
    """A value map's option as an option value: new Picklists name their options by label."""
    option = v.option
    if option is None:
        return None
    if labels is None:
        if isinstance(option, int):
            return option
    elif isinstance(option, str) and option in labels:
        return labels[option]
    elif isinstance(option, int) and option in labels.values():
        return option
    known = "the labels of its custom options" if labels is not None else "option values (numbers) of the column"
    raise _refused(spec, e, f"its value map sends a value to an option {e.target} does not have",
                   f"use {known}, or null", v.line)


def _column(spec: ObjectSpec, e: Entry, code: Column | None, deployed: Mapping[str, int]) -> Column:
    """The custom column an entry declares (its label: the code's, else the source header). A Picklist's
    options keep the values Dataverse already has for their labels; new ones get free values."""
    c = e.custom
    options: tuple[tuple[int, str], ...] = ()
    if c.type == "Picklist":
        used, values, free = set(deployed.values()), [], OPTION_BASE
        for label in c.options:
            if label in deployed:
                values.append((deployed[label], label))
                continue
            while free in used:
                free += 1
            used.add(free)
            values.append((free, label))
        options = tuple(values)
    if code is not None and code.type != c.type:
        raise _refused(spec, e, f"{e.target} is the engine's {code.type} column, the map declares a {c.type}",
                       "remove the custom line, or name the new column otherwise")
    return Column(e.target, c.type, code.label if code is not None else e.source, max_length=c.max_length,
                  options=options, date_only=c.date_only, table=code.table if code is not None else None)


def _check_read_only(spec: ObjectSpec, mapping: ObjectMapping) -> None:
    """Every read-only entry must be what the code declares for its column, and a column the code reads
    itself (key, lookup, owner, created date, route) keeps its read-only entry: it cannot be skipped."""
    d = defaults_from_spec(spec)
    fold = str.casefold
    allowed: dict[str, set[tuple]] = {}

    def allow(source: str | None, *shapes: tuple) -> None:
        if source:
            allowed.setdefault(fold(source), set()).update(shapes)

    allow(d.key_field, ("key", d.key_column, None))
    for lk in d.lookups:
        allow(lk.source, ("lookup", lk.nav, ",".join(lk.objects)))
        allow(lk.type_field, ("engine", None, None))
    allow(d.owner_field, ("owner", "ownerid", None))
    allow(d.created_field, ("created", "overriddencreatedon", None))
    allow(d.route_field, ("engine", None, None))
    engine_reads = {fold(r) for r in d.hooks.reads}
    declared_for = {"owner": d.owner_field, "created": d.created_field}
    kept: set[str] = set()
    for e in mapping.entries:
        if e.kind not in READ_ONLY_KINDS:
            continue
        shape = (e.kind, e.target, e.lookup)
        if shape in allowed.get(fold(e.source), ()):
            kept.add(fold(e.source))
        elif e.kind == "engine" and e.target is None and fold(e.source) in engine_reads:
            continue
        elif fold(e.source) in allowed:
            want = sorted(allowed[fold(e.source)], key=str)[0]
            raise _refused(spec, e, f"a read-only entry was edited: the engine handles {e.source} as {want[0]}"
                                    + (f" -> {want[1]}" if want[1] else ""),
                           "put the entry back as proposed (kind, target and lookup of read-only entries are not "
                           "editable)")
        elif e.kind in ("owner", "created") and declared_for[e.kind]:
            raise _refused(spec, e, f"the {e.kind} of {spec.name} is read from {declared_for[e.kind]}",
                           "remove this entry (the engine's column is not editable)")
        elif e.kind in ("key", "lookup") or e.target != ENGINE_TARGETS.get(e.kind):
            raise _refused(spec, e, f"{e.source} is not a {e.kind} column of {spec.name} as the entry says",
                           "remove the entry, or map the column with a value kind (string, ...) or skip")
    for e in mapping.entries:
        if fold(e.source) in allowed and fold(e.source) not in kept:
            raise _refused(spec, e, f"{e.source} is read by the engine itself and its read-only entry is gone",
                           "put the read-only entry back as proposed (a value entry may be added beside it)")


def _notes(mapping: ObjectMapping) -> tuple[str, ...]:
    """What the map leaves behind or carries coarser, for the report."""
    notes = []
    skipped = [e.source for e in mapping.entries if e.kind == "skip"]
    if skipped:
        notes.append(f"Not migrated (skipped in the approved map): {', '.join(skipped)}.")
    for e in mapping.entries:
        coarse = [f"{v.source!r} -> {v.label or v.option}" for v in e.values if v.lossy and v.option is not None]
        if coarse and e.kind == "option":
            notes.append(f"{e.source} -> {e.target}: these values load as coarser options (approved map): "
                         f"{', '.join(coarse)}.")
    return tuple(notes)


def _refused(spec: ObjectSpec, e: Entry, what: str, fix: str, line: int | None = None) -> MapApplyError:
    """One line naming the map file's line, the object and the source column (never a source value)."""
    line = line or e.line
    where = f"mapping.yaml:{line}" if line else "mapping.yaml"
    return MapApplyError(f"{where}: {spec.name}: {e.source!r}: {what}; fix: {fix}")
