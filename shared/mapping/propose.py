"""Propose a column map: for each source column a target, a kind, a confidence and a one-line reason.

In order of authority:
1. the catalogue's declaration (``ObjectDefaults`` from ``catalogue.defaults_from_spec``): its field
   map, and as read-only entries its key, lookups, owner, created date and the columns its code reads;
   where it maps to a text column of its own and Dataverse has an option set of that meaning
   (WORKetc Industry -> ``industrycode``), Dataverse's column is proposed, with a value map;
2. header similarity with English and German variants (``synonyms``), against the target table's
   metadata (only columns valid for create; lookups other than currency and the state model excluded);
3. compatibility with the target, from the column profile: values longer than MaxLength, the share of
   valid e-mail addresses, dates that parse (and their day/month order), numbers (and a German decimal
   comma), option values an option set covers. Each problem lowers the confidence and says why.
A column nothing matches becomes a proposed custom column (type and size from the profile), or
``skip`` when it is empty. Confidence labels: sure >= 0.9 > likely >= 0.7 > unsure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

from rapidfuzz import fuzz

from .catalogue import DeclaredField, ObjectDefaults, settings_of
from .metadata import DATA_TYPES, TargetColumn, TargetTable
from .model import CustomColumn, Entry, MappingFile, ObjectMapping, ValueMapping, label_for
from .profile import ColumnProfile, TableProfile
from .synonyms import OPTION_SYNONYMS, TABLE_WORDS, Match, fold, match, norm, variants, words

#: base confidence per way of knowing
CATALOGUE, EXACT, WORDS, CONTAINS, WEAK, AMBIGUOUS = 0.97, 0.95, 0.92, 0.75, 0.8, 0.75
STRING_SIZES = (50, 100, 200, 500, 1000, 2000, 4000)
MEMO_SIZES = (2000, 10000, 100000, 1048576)
REJECT = 0.35  # a header that only resembles a column's name, and whose values disagree, gets a column of its own
TIE = 0.02  # a header falls back from a taken column only to one this close in score
OPTION_FUZZ = 85  # rapidfuzz score for an option label "similar" to a source value
CUSTOM_NAME_CHARS = 40


def pct(share: float) -> str:
    return f"{share:.1%}" if 0 < share < 0.01 else f"{share:.0%}"


def _some(items: Iterable[str], n: int = 3) -> str:
    items = [repr(i) for i in items]
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


# ------------------------------------------------------------------------------------- target kinds

def kind_for(col: TargetColumn) -> str:
    """The conversion a Dataverse column takes (the transform's field kind)."""
    t, name = col.type, col.logical_name
    if t == "String":
        fmt = (col.format or "").lower()
        if fmt == "email" or name.startswith("emailaddress"):
            return "email"
        if fmt == "url" or name in ("websiteurl", "producturl"):
            return "url"
        if fmt == "phone" or re.match(r"(telephone\d|mobilephone|fax|phonenumber|address\d_telephone\d)$", name):
            return "phone"
        return "string"
    if t == "Owner":
        return "owner"
    if t == "Lookup" and col.targets == ("transactioncurrency",):
        return "currency"
    if t == "DateTime":
        return "created" if name == "overriddencreatedon" else "date" if col.date_only else "datetime"
    return {"Memo": "memo", "Integer": "int", "BigInt": "int", "Decimal": "decimal", "Double": "decimal",
            "Money": "money", "Boolean": "bool", "Picklist": "option", "MultiSelectPicklist": "option"}.get(t, "string")


def matchable(col: TargetColumn) -> bool:
    """Columns a header may be matched to by name (not-creatable ones too: they explain a custom column)."""
    if col.primary_id:
        return False
    return col.type in DATA_TYPES or col.type == "Owner" or \
        (col.type == "Lookup" and col.targets == ("transactioncurrency",))


# ------------------------------------------------------------------------------------- value maps

def _option_by_label(col: TargetColumn) -> dict[str, tuple[int, str]]:
    return {norm(lbl): (v, lbl) for v, lbl in col.options}


def _translate(value: str) -> str:
    """Word by word through the non-lossy option synonyms ("Sehr hoch" stays, "Hoch" -> "High")."""
    out = []
    for w in re.split(r"\s+", value.strip()):
        hit = OPTION_SYNONYMS.get(norm(w))
        out.append(hit[0] if hit and not hit[1] else w)
    return " ".join(out)


def _same_meaning(value: str, label: str) -> bool:
    if norm(value) == norm(label) or norm(_translate(value)) == norm(label):
        return True
    hit = OPTION_SYNONYMS.get(norm(value))
    if hit is not None:
        return not hit[1] and norm(hit[0]) == norm(label)
    return fuzz.ratio(norm(value), norm(label)) >= OPTION_FUZZ


def map_value(value: str, col: TargetColumn, declared: DeclaredField | None = None) -> ValueMapping:
    """One source value -> an option of ``col``: catalogue, exact label, synonym, translation, similar label."""
    labels = _option_by_label(col)
    if declared and declared.options:
        folded = {k.casefold(): v for k, v in declared.options.items()}
        if value.casefold() in folded:
            opt = folded[value.casefold()]
            lbl = col.option_label(opt)
            return ValueMapping(value, opt, lbl, "catalogue", lbl is None or not _same_meaning(value, lbl))
    n = norm(value)
    if n in labels:
        return ValueMapping(value, *labels[n], "exact")
    hit = OPTION_SYNONYMS.get(n)
    if hit is not None and norm(hit[0]) in labels:
        return ValueMapping(value, *labels[norm(hit[0])], "synonym", hit[1])
    t = norm(_translate(value))
    if t in labels:
        return ValueMapping(value, *labels[t], "translated")
    scored = sorted(((max(fuzz.ratio(n, k), fuzz.token_set_ratio(fold(value), fold(lbl))), v, lbl)
                     for k, (v, lbl) in labels.items() if k), key=lambda s: (-s[0], s[1]))
    if scored and scored[0][0] >= OPTION_FUZZ:
        ties = [lbl for s, _, lbl in scored if s == scored[0][0]]
        if len(ties) > 1:
            return ValueMapping(value, None, None, "ambiguous", True)
        return ValueMapping(value, scored[0][1], scored[0][2], "similar")
    if declared and declared.option_default is not None:
        return ValueMapping(value, declared.option_default, col.option_label(declared.option_default), "default", True)
    return ValueMapping(value, None, None, "none", True)


def value_map(p: ColumnProfile | None, col: TargetColumn | None,
              declared: DeclaredField | None) -> tuple[list[ValueMapping], float, str]:
    """The value map of an option entry, the factor it puts on the confidence, and why."""
    if p is not None and p.filled:
        values = [(str(v), int(c)) for v, c in p.top]
    elif declared and declared.options:
        values = [(k, None) for k in declared.options]  # no profile: the catalogue's own table
    else:
        return [], 1.0, ""
    out: list[ValueMapping] = []
    for v, c in values:
        if col is not None:
            vm = map_value(v, col, declared)
        else:  # a new Picklist: every value becomes an option of its own
            vm = ValueMapping(v, v, v, "new")
        vm.count = c
        out.append(vm)
    if p is None or not p.filled:
        return out, 1.0, ""
    total = sum(vm.count or 0 for vm in out) or 1
    unmapped = sum(vm.count or 0 for vm in out if vm.option is None) / total
    lossy = sum(vm.count or 0 for vm in out if vm.lossy and vm.option is not None) / total
    factor = max(0.3, 1 - unmapped) * (1 - 0.3 * lossy)
    n_none = sum(vm.option is None for vm in out)
    n_lossy = sum(vm.lossy and vm.option is not None for vm in out)
    why = f"value map: {len(out) - n_none} of {len(out)} values onto options"
    if n_lossy:
        why += f", {n_lossy} coarser ({_some(vm.source for vm in out if vm.lossy and vm.option is not None)})"
    if n_none:
        why += (f", {n_none} without an option ({_some(vm.source for vm in out if vm.option is None)}: "
                f"{pct(unmapped)} of rows would load it empty)")
    if not p.values_complete:
        factor *= 0.7
        why += f"; {p.distinct}{'' if p.distinct_exact else '+'} distinct values, only the top {len(p.top)} are mapped"
    return out, factor, why


# ------------------------------------------------------------------------------------- compatibility

def check(entry: Entry, p: ColumnProfile | None, col: TargetColumn | None) -> tuple[float, list[str]]:
    """What the profile says against the target: a confidence factor and the reasons (and sets ``format``)."""
    if p is None:
        return 1.0, []
    if not p.filled:
        return 1.0, [f"empty in all {p.rows} rows"]
    factor, why = 1.0, []
    kind = entry.kind
    limit = col.max_length if col is not None and col.type in ("String", "Memo") else \
        entry.custom.max_length if entry.custom and entry.custom.type in ("String", "Memo") else None
    if limit and p.longest > limit:
        factor *= 0.6
        why.append(f"longest value {p.longest} characters > MaxLength {limit}: Dataverse refuses those rows")
    rates = p.kind_rates
    if kind == "email":
        r = rates.get("email", 0.0)
        if r < 1:
            factor *= max(0.3, r) if r < 0.98 else 1
            why.append(f"{pct(1 - r)} of values are not valid e-mail addresses (they load empty, with a warning)")
    elif kind == "url":
        r = rates.get("url", 0.0)
        if r < 0.5:
            factor *= 0.7
            why.append(f"only {pct(r)} of values look like web addresses")
    elif kind in ("date", "datetime", "created"):
        r = rates.get("date", 0.0)
        if r < 1:
            factor *= max(0.3, r) if r < 0.98 else 1
            why.append(f"{pct(1 - r)} of values are not dates (they load empty, with a warning)")
        if p.date_order in ("DMY", "MDY", "YMD"):
            entry.format = p.date_order
        elif p.date_order == "ambiguous":
            factor *= 0.8
            why.append("no day above 12: the day/month order cannot be told from the data; set format DMY or MDY")
    elif kind in ("decimal", "money", "int"):
        r = rates.get("integer" if kind == "int" else "decimal", 0.0)
        if r < 1:
            factor *= max(0.3, r) if r < 0.98 else 1
            noun = "whole numbers" if kind == "int" else "numbers"
            why.append(f"{pct(1 - r)} of values are not {noun} (they load empty, with a warning)")
        if p.decimal_style == "1.234,56":
            entry.format = "1.234,56"
            why.append("German number format (1.234,56)")
        elif p.decimal_style == "ambiguous" and kind != "int":
            factor *= 0.85
            why.append("thousands or decimal separator cannot be told (1.234); set format")
    elif kind == "bool":
        r = rates.get("boolean", 0.0)
        if r < 1:
            factor *= max(0.3, r) if r < 0.98 else 1
            why.append(f"{pct(1 - r)} of values are not yes/no values")
    if col is not None and col.is_required and p.fill_rate < 1:
        factor *= 0.9
        why.append(f"{pct(1 - p.fill_rate)} of rows are empty and {col.logical_name} is required")
    return factor, why


def _finish(entry: Entry, base: float, reason: str, p: ColumnProfile | None, col: TargetColumn | None,
            declared: DeclaredField | None = None) -> Entry:
    factor, why = check(entry, p, col)
    if entry.kind == "option":
        entry.values, f, vwhy = value_map(p, col, declared)
        factor *= f
        if vwhy:
            why.append(vwhy)
    entry.confidence = round(base * factor, 2)
    entry.label = label_for(entry.confidence)
    entry.reason = "; ".join([reason, *why])
    return entry


# ------------------------------------------------------------------------------------- custom columns

def _bucket(n: int, sizes: Sequence[int]) -> int:
    return next((s for s in sizes if s >= n), sizes[-1])


def custom_column(p: ColumnProfile | None) -> tuple[str, CustomColumn, str]:
    """(kind, column, how it was chosen) for a new column holding this source column."""
    if p is None:
        return "string", CustomColumn("String", 200), "no profile: text, 200 characters"
    longest = max(p.longest, 1)
    if p.kind == "boolean":
        return "bool", CustomColumn("Boolean"), "yes/no values"
    if p.kind == "integer":
        return "int", CustomColumn("Integer"), "whole numbers"
    if p.kind == "decimal":
        return "decimal", CustomColumn("Decimal"), "numbers"
    if p.kind in ("date", "datetime"):
        return p.kind, CustomColumn("DateTime", date_only=p.kind == "date"), \
            "dates" if p.kind == "date" else "dates with times"
    if p.kind == "option" and p.values_complete:
        options = tuple(str(v) for v, _ in p.top)
        return "option", CustomColumn("Picklist", options=options), f"{p.distinct} distinct values"
    if p.kind in ("email", "url", "phone"):
        floor = {"email": 100, "url": 200, "phone": 50}[p.kind]
        return p.kind, CustomColumn("String", max(floor, _bucket(longest, STRING_SIZES))), f"{p.kind} values"
    if p.multiline or longest > STRING_SIZES[-1]:
        return "memo", CustomColumn("Memo", _bucket(longest, MEMO_SIZES)), f"text up to {longest} characters"
    return "string", CustomColumn("String", _bucket(longest, STRING_SIZES)), f"text up to {longest} characters"


def custom_base(header: str, prefix: str) -> str:
    slug = re.sub(r"[^0-9a-z]+", "", fold(header)).encode("ascii", "ignore").decode() or "column"
    return (prefix + slug)[:CUSTOM_NAME_CHARS]


def custom_name(header: str, prefix: str, taken: set[str]) -> str:
    base = custom_base(header, prefix)
    name, n = base, 2
    while name in taken:
        name = f"{base[:CUSTOM_NAME_CHARS - len(str(n))]}{n}"
        n += 1
    taken.add(name)
    return name


# ------------------------------------------------------------------------------------- the proposal

@dataclass
class _Candidate:
    col: TargetColumn
    match: Match


def _candidates(header: str, cols: Iterable[TargetColumn], table: str) -> list[_Candidate]:
    out = []
    cols = list(cols)
    for c in cols:
        m = match(header, variants(table, c.logical_name, c.display_name), table)
        if m is not None:
            out.append(_Candidate(c, m))
    own = words(header)
    if own and own <= TABLE_WORDS.get(table, frozenset()):  # "Task" in a task list: the task's name
        out += [_Candidate(c, Match(0.85, "table", header, True)) for c in cols if c.primary_name]
    out.sort(key=lambda x: (-x.match.score, x.match.weak))
    return out


def _match_confidence(m: Match) -> float:
    base = {"exact": EXACT, "words": WORDS, "contains": CONTAINS, "table": WEAK}.get(m.method)
    if base is None:  # similar: rapidfuzz 80..100 -> 0.5..0.85
        base = round(0.5 + (m.score / 0.9 - 0.8) / 0.2 * 0.35, 2)
    return min(base, WEAK) if m.weak else base


def _read_only(source: str, target: str | None, kind: str, reason: str, lookup: str | None = None) -> Entry:
    return Entry(source, target, kind, 1.0, "sure", reason, read_only=True, lookup=lookup)


def propose_object(defaults: ObjectDefaults, table: TargetTable, profile: TableProfile | None = None,
                   headers: Sequence[str] | None = None) -> ObjectMapping:
    """The proposed map of one object (``headers`` default to the profile's columns)."""
    if headers is None:
        headers = [c.name for c in profile.columns] if profile else [f.source for f in defaults.fields]
    prof = (lambda h: profile.column(h)) if profile else (lambda h: None)
    d = defaults
    declared: dict[str, list[DeclaredField]] = {}
    for f in d.fields:
        declared.setdefault(norm(f.source), []).append(f)
    lookups = {}
    for lk in d.lookups:
        lookups.setdefault(norm(lk.source), []).append(lk)
    type_fields = {norm(lk.type_field): lk for lk in d.lookups if lk.type_field}
    reads = {norm(r) for r in d.hooks.reads}
    contract = {norm(c) for c in d.contract}
    engine = set(d.engine_columns)
    # targets the declaration claims (a name match may not take them)
    claimed = {f.target for f in d.fields} | engine | {d.key_column}
    if d.owner_field:
        claimed.add("ownerid")
    if d.created_field:
        claimed.add("overriddencreatedon")

    slots: list[list[Entry]] = []  # per header, its entries (filled in below)
    pending: list[int] = []
    used_declared: set[str] = set()
    for i, h in enumerate(headers):
        n, p = norm(h), prof(h)
        out: list[Entry] = []
        if d.key_field and n == norm(d.key_field):
            out.append(_read_only(h, d.key_column, "key", f"the source id -> alternate key {d.key_column} "
                                                          "(reruns update instead of duplicating)"))
        elif n in lookups:
            for lk in lookups[n]:
                out.append(_read_only(h, lk.nav, "lookup", f"a reference to {' / '.join(lk.objects)}: bound by "
                                      f"its source id through {lk.nav}", ",".join(lk.objects)))
        elif d.owner_field and n == norm(d.owner_field):
            out.append(_read_only(h, "ownerid", "owner", "the owner's e-mail -> the Dynamics 365 user with that "
                                                        "internalemailaddress (unknown ones: owner_queue.csv)"))
        elif d.created_field and n == norm(d.created_field):
            e = _read_only(h, "overriddencreatedon", "created", "the original created date -> overriddencreatedon")
            _, why = check(e, p, table.column("overriddencreatedon"))
            e.reason = "; ".join([e.reason, *why])
            out.append(e)
        elif d.route_field and n == norm(d.route_field):
            out.append(_read_only(h, None, "engine", "picks each row's table"))
        elif n in type_fields:
            out.append(_read_only(h, None, "engine", f"names the object {type_fields[n].source} points at"))
        elif n in declared and n not in used_declared:
            pass  # below: a declared field, beside any read-only entry of the same column
        elif n in reads:
            out.append(_read_only(h, None, "engine", "read by the object's code (shape/close hooks), "
                                                     "not by the column map"))
        elif n in contract:
            out.append(Entry(h, None, "skip", 1.0, "sure", "part of the source's export format that the "
                                                             "catalogue does not migrate"))
        else:
            pending.append(i)
        if n in declared and n not in used_declared:
            # also when the column is a key, lookup, owner or created date: a ticket message's Sent is its
            # created date *and* its actualend; dropping the declared field would lose the value
            used_declared.add(n)
            out.extend(e for f in declared[n] for e in _declared(f, h, p, table, d))
        slots.append(out)

    for e in (e for es in slots for e in es):
        if e.target:
            claimed.add(e.target)
    cols = [c for c in table.columns if matchable(c) and c.logical_name not in claimed]
    notes = _assign_by_name(headers, pending, cols, table, prof, slots)

    taken = {c.logical_name for c in table.columns} | claimed | {e.target for es in slots for e in es if e.target}
    # custom columns an earlier run created for these headers: used again, never a second copy (<name>2)
    reusable = {c.logical_name for c in table.columns if c.custom} - claimed - {
        e.target for es in slots for e in es if e.target}
    for i in pending:
        if not slots[i]:
            slots[i].append(_custom(headers[i], prof(headers[i]), d, taken, table, notes.get(i), reusable))
    return ObjectMapping(d.name, d.file, d.table, [e for es in slots for e in es], d.engine_columns)


def _declared(f: DeclaredField, header: str, p: ColumnProfile | None, table: TargetTable,
              d: ObjectDefaults) -> list[Entry]:
    col = table.column(f.target)
    dc = d.column(f.target) if col is None else None
    custom = CustomColumn(dc.type, dc.max_length, dc.date_only, dc.options) if dc else None
    reason = f"catalogue: {d.name} maps {f.source} -> {f.target}"
    if dc is not None and dc.type == "String" and f.kind == "string":
        own = _own_option_set(header, f, table, d)
        if own is not None:
            e = Entry(header, own.logical_name, "option")
            kept = _finish(Entry(header, f.target, f.kind, custom=custom), CATALOGUE,
                           f"{reason}: keeps the source's text, since not every value has an option in "
                           f"{own.logical_name}", p, col, f)
            return [_finish(e, EXACT, f"Dataverse's own {own.logical_name} (option set) beside the catalogue's "
                                      f"text column {f.target}", p, own), kept]
    e = Entry(header, f.target, f.kind, custom=custom)
    return [_finish(e, CATALOGUE, reason, p, col, f)]


def _own_option_set(header: str, f: DeclaredField, table: TargetTable, d: ObjectDefaults) -> TargetColumn | None:
    """A standard Picklist of the table whose name the header (or the declared target's label) matches."""
    claimed = {x.target for x in d.fields}
    picklists = [c for c in table.columns if c.type == "Picklist" and not c.custom and c.valid_for_create
                 and c.logical_name not in claimed]
    for c in _candidates(header, picklists, table.logical_name):
        if c.match.method in ("exact", "words") and not c.match.weak:
            return c.col
    return None


def _assign_by_name(headers: Sequence[str], pending: list[int], cols: list[TargetColumn], table: TargetTable,
                    prof, slots: list[list[Entry]]) -> dict[int, tuple[str, float]]:
    """Greedy: the best (header, column) pairs first; each column taken once. A header whose best match
    is taken falls back only to an equally good one; one whose best match is a column Dataverse sets
    itself, or was taken by another header, gets a note instead (it becomes a custom column)."""
    ranked: dict[int, list[_Candidate]] = {i: _candidates(headers[i], cols, table.logical_name) for i in pending}
    pairs = sorted(((c.match.score, not c.match.weak, -i, -k, i, c) for i, cs in ranked.items()
                    for k, c in enumerate(cs) if c.match.score >= cs[0].match.score - TIE),
                   key=lambda t: t[:4], reverse=True)
    done: set[int] = set()
    used: dict[str, int] = {}
    notes: dict[int, tuple[str, float]] = {}
    for score, _, _, _, i, c in pairs:
        if i in done:
            continue
        if c.col.logical_name in used:
            notes[i] = (f"{headers[i]!r} means {c.col.logical_name}, which {headers[used[c.col.logical_name]]!r} "
                        "already maps to (a second column of the same meaning: keep one, or keep both)", 0.6)
            continue
        done.add(i)
        notes.pop(i, None)
        if not c.col.valid_for_create:
            notes[i] = (f"{headers[i]!r} means {c.col.logical_name}, which Dataverse sets itself (not valid for "
                        "create)", WEAK)
            continue
        e = _by_name(headers[i], c, ranked[i], prof(headers[i]))
        if c.match.method in ("similar", "contains") and e.confidence < REJECT:
            notes[i] = (f"{headers[i]!r} resembles {c.match.variant!r} ({c.col.logical_name}), but the values "
                        f"disagree ({e.reason.split('; ', 1)[-1]})", 0.6)
            continue
        used[c.col.logical_name] = i
        slots[i].append(e)
    return notes


def _by_name(header: str, c: _Candidate, rivals: list[_Candidate], p: ColumnProfile | None) -> Entry:
    m, col = c.match, c.col
    base = _match_confidence(m)
    how = {"words": "has the same words as", "exact": "is", "contains": "contains",
           "table": "names the table itself, so its name column:"}.get(m.method, "resembles")
    reason = f"header {header!r} {how} {m.variant!r} -> {col.logical_name}"
    strong = [r for r in rivals if r.col is not col and r.match.score >= m.score and not r.match.weak]
    if strong and m.method in ("exact", "words"):
        base = min(base, AMBIGUOUS)
        reason += f" (also matches {strong[0].col.logical_name})"
    kind = kind_for(col)
    if kind in ("owner", "created"):
        e = _read_only(header, col.logical_name, kind, reason)
        if kind == "created":
            _, why = check(e, p, col)
            e.reason = "; ".join([e.reason, *why])
        e.confidence, e.label = round(base, 2), label_for(base)
        return e
    return _finish(Entry(header, col.logical_name, kind), base, reason, p, col)


def _custom(header: str, p: ColumnProfile | None, d: ObjectDefaults, taken: set[str], table: TargetTable,
            note: tuple[str, float] | None, reusable: set[str] = frozenset()) -> Entry:
    if p is not None and not p.filled:
        return Entry(header, None, "skip", 1.0, "sure", f"empty in all {p.rows} rows: nothing to carry")
    existing = table.column(custom_base(header, d.custom_prefix))
    if existing is not None and existing.logical_name in reusable:
        reusable.discard(existing.logical_name)
        e = Entry(header, existing.logical_name, kind_for(existing))
        return _finish(e, 0.9, f"the custom column {existing.logical_name} that a migration created before for "
                               f"{header!r}", p, existing)
    name = custom_name(header, d.custom_prefix, taken)
    kind, col, how = custom_column(p)
    e = Entry(header, name, kind, custom=col)
    if note:
        return _finish(e, note[1], f"{note[0]}: kept in a new {col.type} column ({how})", p, None)
    near = _candidates(header, [c for c in table.columns if matchable(c)], table.logical_name)
    base = 0.6 if near else 0.7
    reason = f"no column of {table.logical_name} matches {header!r}: a new {col.type} column ({how})"
    if near:
        reason += f"; closest: {near[0].col.logical_name} ({near[0].match.variant!r})"
    return _finish(e, base, reason, p, None)


def propose(source: str, objects: Iterable[tuple[ObjectDefaults, TableProfile | None]],
            tables: dict[str, TargetTable]) -> MappingFile:
    """The proposed map of every object (its table's metadata must be in ``tables``)."""
    proposed = MappingFile(source, [propose_object(d, tables[d.table], p) for d, p in objects])
    for o in proposed.objects:  # each setting the object declares, at its default: the reviewer sees the choice
        o.options = {k: v[0] for k, v in settings_of(source, o.name).items()}
    return proposed
