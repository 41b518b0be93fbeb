"""The pieces of the work4all objects that need no Dataverse: German numbers through the transform, the
open-item arithmetic, the time zone default, owners by Kuerzel, and what the hooks read and set."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from shared.mapping import HOOKS, mappable
from shared.objects import catalogue
from shared.objects.work4all import OBJECTS
from shared.run import RunConfig
from shared.sources.work4all.export import read_table
from shared.sources.work4all.openitems import payments_config, reconcile, reconciliation
from shared.transform import LookupTarget, Shaping, TransformContext, Transformer

EUR = "00000000-0000-0000-0000-00000000e0e0"


def context(**kw) -> TransformContext:
    targets = {n: LookupTarget(s.table or "account", f"{s.table or 'account'}s", "w4a_sourceid", s.key_prefix,
                               set()) for n, s in OBJECTS.items()}
    return TransformContext(owners={"anke.hoffmann@example.de": "00000000-0000-0000-0000-0000000000a1"},
                            default_owner=None, lookup_targets=targets, custom_columns=[], timezone="Europe/Berlin",
                            currencies={"EUR": EUR}, **kw)


@pytest.mark.parametrize("raw,expected", [("1.234,56", 1234.56), ("-1.234,56", -1234.56), ("1234,5", 1234.5),
                                          ("1234", 1234.0), ("1.000.000,01", 1000000.01)])
def test_german_numbers_arrive_as_numbers(raw, expected):
    row = {"Code": "1", "Bezeichnung": "X", "Wert": raw, "Waehrung": "EUR", "Status": "Offen"}
    out = Transformer(OBJECTS["verkaufschance"], context()).row(row)
    assert out.reject is None and out.row["body"]["estimatedvalue"] == expected


def test_a_decimal_point_is_a_warning_never_a_guess():
    out = Transformer(OBJECTS["verkaufschance"], context()).row({"Code": "1", "Bezeichnung": "X", "Wert": "1234.56"})
    assert "estimatedvalue" not in out.row["body"]
    assert [(w.field, w.value) for w in out.warnings] == [("Wert", "1234.56")]


def test_an_unknown_currency_is_a_reject_not_eur():
    out = Transformer(OBJECTS["verkaufschance"], context()).row({"Code": "1", "Bezeichnung": "X", "Waehrung": "DM"})
    assert out.row is None and out.reject.code == "unknown_currency" and out.reject.field == "Waehrung"


def test_german_local_times_and_owners_by_kuerzel():
    ctx = context(owner_aliases={"ah": "anke.hoffmann@example.de"})
    row = {"Code": "7", "Datum": "31.07.2024 14:30", "Dauer": "5", "Richtung": "ausgehend", "Mitarbeiter": "AH"}
    body = Transformer(OBJECTS["telefonnotiz"], ctx).row(row).row["body"]
    assert body["actualstart"] == "2024-07-31T12:30:00Z"  # CEST = UTC+2
    assert body["actualend"] == "2024-07-31T12:35:00Z"
    assert body["ownerid@odata.bind"] == "/systemusers(00000000-0000-0000-0000-0000000000a1)"
    out = Transformer(OBJECTS["telefonnotiz"], ctx).row({**row, "Mitarbeiter": "ZZ"})
    assert out.unmatched_owner == "zz"  # an unknown Kuerzel goes to the owner queue


def test_work4all_runs_default_to_berlin_time_and_worketc_to_sydney():
    common = {"run_id": "ab", "input": "/tmp", "target": "https://x.crm.dynamics.com", "staging": "/tmp/s"}
    assert RunConfig(source="work4all-export", **common).timezone == "Europe/Berlin"
    assert RunConfig(source="work4all-graphql", timezone=None, **common).timezone == "Europe/Berlin"
    assert RunConfig(source="worketc-csv", **common).timezone == "Australia/Sydney"
    assert RunConfig(source="work4all-export", timezone="UTC", **common).timezone == "UTC"


def test_open_item_arithmetic():
    # partial payments, an overpaid invoice, a credit memo (negative) and its refund
    assert reconcile(Decimal("1000"), "Rechnung", Decimal("400")) == (Decimal("1000.00"), Decimal("400.00"),
                                                                      Decimal("600.00"), "partial")
    assert reconcile(Decimal("1000"), "Rechnung", Decimal("1050"))[2:] == (Decimal("-50.00"), "overpaid")
    assert reconcile(Decimal("1000"), "Rechnung", Decimal("1000"))[2:] == (Decimal("0.00"), "paid")
    assert reconcile(Decimal("1000"), "Rechnung", Decimal("0"))[2:] == (Decimal("1000.00"), "open")
    assert reconcile(Decimal("-200"), "Gutschrift", Decimal("-50")) == (Decimal("-200.00"), Decimal("-50.00"),
                                                                        Decimal("-150.00"), "partial")
    assert reconcile(Decimal("200"), "Gutschrift", Decimal("50"))[0] == Decimal("-200.00")  # sign from Art
    config, rejects = payments_config([
        {"Code": "1", "OffenerPostenCode": "10", "Betrag": "1.000,50"},
        {"Code": "2", "OffenerPostenCode": "10", "Betrag": "99,50"},
        {"Code": "3", "OffenerPostenCode": "77", "Betrag": "5"},
        {"Code": "4", "OffenerPostenCode": "10", "Betrag": "12.5"},
        {"Code": "5", "OffenerPostenCode": "", "Betrag": "1"}])
    assert config["paid"] == {"10": "1100.00", "77": "5"} and config["codes"]["10"] == ["1", "2"]
    assert [(r[1], r[2]) for r in rejects] == [("Betrag", "invalid_value"), ("OffenerPostenCode", "missing_parent")]
    listed = reconciliation([{"Code": "10", "Rechnungsbetrag": "1.000,00", "Art": "Rechnung"}], config)
    assert [(r["Code"], r["status"]) for r in listed] == [("10", "overpaid"), ("77", "orphan_payment")]


HOOKED = [s for s in catalogue("work4all-export").values() if mappable(s) and (s.shape or s.close)]


class Recording(dict):
    def __init__(self, row: dict):
        super().__init__(row)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


def _column(key: str) -> str:
    """A body key as the column it writes: ``regardingobjectid_account_task@odata.bind`` -> regardingobjectid."""
    name = key.removesuffix("@odata.bind")
    for polymorphic in ("regardingobjectid", "objectid", "parentcustomerid", "customerid"):
        if name.startswith(polymorphic + "_") or name == polymorphic:
            return polymorphic
    return name


class Everything(set):
    def __contains__(self, _):
        return True


def test_every_hooked_work4all_object_is_described():
    assert {s.name for s in HOOKED} <= {name for src, name in HOOKS if src == "work4all"}


@pytest.mark.parametrize("spec", HOOKED, ids=lambda s: s.name)
def test_work4all_hooks_read_and_set_no_more_than_declared(spec, w4a_export):
    """catalogue.HOOKS is what the proposer shows as engine-managed: it must cover what the hooks do."""
    hooks = HOOKS[(spec.source, spec.name)]
    declared = {*hooks.reads, *(f.source for f in spec.fields), *(lk.source for lk in spec.lookups), spec.key_field,
                spec.owner_field, spec.created_field, *((spec.route.field,) if spec.route else ())}
    targets = {n: LookupTarget(s.table or "account", f"{s.table or 'account'}s", "w4a_sourceid", s.key_prefix,
                               Everything()) for n, s in OBJECTS.items()}
    ctx = TransformContext(owners={}, default_owner=None, lookup_targets=targets, custom_columns=[],
                           currencies={"EUR": EUR}, config={
                               "units": {"uomscheduleid": EUR, "uomid": EUR}, "zahlung": {"paid": {}, "count": {}},
                               "belegposition_index": {str(i): 1 for i in range(10000)},
                               "belegart_index": {r["Code"]: r["Belegart"] for r in read_table(w4a_export, "Belege")}})
    reads, sets = set(), set()
    extension = set()
    for row in list(read_table(w4a_export, spec.file))[:60]:
        extension |= {k for k in row if not k.startswith("_")} - set(declared) - set(hooks.reads)
        plain = Transformer(dataclasses.replace(spec, shape=None, close=None), ctx).row(row)
        if plain.row is None:
            continue
        src, before = Recording(row), plain.row["body"]
        body = spec.shape(src, dict(before), lambda *a: None, Shaping(Transformer(spec, ctx),
                                                                     plain.row.get("table", spec.table)))
        reads |= src.read
        sets |= {_column(k) for k in body} - {_column(k) for k in before}
    assert reads - {"_file", "_row"} - extension <= declared, "HOOKS lacks what the hooks read"
    norm = sets
    allowed = {*hooks.sets, *(f.target for f in spec.fields), "ownerid", "overriddencreatedon"}
    assert norm <= allowed | {"FileName", "MimeType", "Path", "regarding"}, "HOOKS lacks what the hooks set"
