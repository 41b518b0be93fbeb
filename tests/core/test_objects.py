from __future__ import annotations

import pytest

from shared.objects import DependencyError, ObjectSpec, catalogue, waves


def spec(name, *deps):
    return ObjectSpec(name=name, source="t", file=f"{name}.csv", depends_on=deps)


def test_waves_follow_dependencies():
    specs = {s.name: s for s in [spec("contact", "company", "user"), spec("company", "user"), spec("user"),
                                 spec("lead", "user")]}
    assert waves(specs) == [["user"], ["company", "lead"], ["contact"]]


def test_waves_of_a_subset_ignore_absent_dependencies():
    specs = {s.name: s for s in [spec("contact", "company"), spec("company", "user"), spec("user")]}
    assert waves(specs, ["contact", "user"]) == [["contact", "user"]]


def test_cycles_and_unknown_dependencies_are_errors():
    with pytest.raises(DependencyError, match="cycle"):
        waves({s.name: s for s in [spec("a", "b"), spec("b", "a")]})
    with pytest.raises(DependencyError, match="unknown object 'ghost'"):
        waves({s.name: s for s in [spec("a", "ghost")]})


def test_worketc_catalogue_loads_accounts_before_contacts():
    specs = catalogue("worketc-csv")
    order = [n for wave in waves(specs) for n in wave]
    assert order.index("company") < order.index("contact")
    assert order.index("user") < order.index("company")
    assert order.index("custom_field") < order.index("company")
    for s in specs.values():
        for lk in s.lookups:
            for target in lk.targets:
                assert target in s.depends_on, f"{s.name} looks up {target} without depending on it"


def test_unknown_source_kind():
    with pytest.raises(ValueError, match="unknown source kind"):
        catalogue("salesforce")


def test_lossy_option_mappings_are_declared_and_keep_the_source_value():
    """An option map that merges labels or falls back to a default loses the source's label: the object's
    notes must say so and name the text column that keeps the original (the report prints the notes)."""
    for s in catalogue("worketc-csv").values():
        for f in s.fields:
            if f.kind != "option" or not f.options:
                continue
            if f.option_default is None and len(set(f.options.values())) == len(f.options):
                continue
            kept = [g.target for g in s.fields if g.source == f.source and g.kind == "string"]
            assert kept, f"{s.name}.{f.source}: lossy option map without a column keeping the source value"
            assert any(k in note for k in kept for note in s.notes), f"{s.name}.{f.source}: not declared in notes"
