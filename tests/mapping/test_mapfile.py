"""mapping.yaml: stable, commented, round trip, and a content hash over what the engine applies."""

from __future__ import annotations

import re

import pytest

from shared.mapping import MapFileError, dump, load, propose
from shared.mapping.model import CustomColumn, Entry, MappingFile, ObjectMapping, ValueMapping


@pytest.fixture(scope="module")
def proposed(tables, worketc_items, worketc_profiles):
    mapping = propose("worketc", worketc_items, tables)
    return mapping, dump(mapping, worketc_profiles)


def test_round_trip(proposed, worketc_profiles):
    mapping, text = proposed
    loaded = load(text)
    assert loaded == mapping
    assert dump(loaded, worketc_profiles) == text
    assert loaded.stored_hash == loaded.content_hash() == mapping.content_hash()


def test_comments_show_the_profile_figures(proposed):
    _, text = proposed
    line = next(x for x in text.splitlines() if x.strip().startswith("# Industry:"))
    assert re.search(r"# Industry: option; 100\.0% filled of [\d,]+; 12 distinct; longest \d+; top '.+' x\d+", line)
    assert "e.g. " in line
    assert re.search(r"confidence: 0\.\d\d  # (sure|likely|unsure)", text)


def test_stable_order_objects_then_columns_as_in_the_file(proposed, worketc_profiles):
    mapping, text = proposed
    sources = [m.group(1) for m in re.finditer(r"^      - source: (.+)$", text, re.M)]
    expected = [e.source for o in mapping.objects for e in o.entries]
    assert [s.strip("'") for s in sources] == expected
    assert text.index("  company:") < text.index("  contact:")


def _strip_comments(text: str) -> str:
    return "\n".join(re.sub(r"\s+#.*$", "", x) for x in text.splitlines() if not x.lstrip().startswith("#"))


def test_comments_whitespace_order_and_explanations_do_not_change_the_hash(proposed):
    mapping, text = proposed
    h = mapping.content_hash()
    assert load(_strip_comments(text)).content_hash() == h
    assert load(text.replace("\n", "\n\n").replace("kind: ", "kind:   ")).content_hash() == h
    edited = load(text)
    company = edited.object("company")
    company.entries.reverse()  # the order of entries is layout
    company.entries[0].reason = "a person's note"
    company.entries[0].confidence = 0.1
    for e in company.entries:
        for v in e.values:
            v.label, v.count = None, None
    assert edited.content_hash() == h


@pytest.mark.parametrize("edit", [
    lambda e: setattr(e, "target", "description"),
    lambda e: setattr(e, "kind", "memo"),
    lambda e: setattr(e, "format", "MDY"),
    lambda e: setattr(e, "custom", CustomColumn("String", 300)),
])
def test_any_change_of_a_mapping_changes_the_hash(proposed, edit):
    mapping, text = proposed
    edited = load(text)
    edit(next(e for e in edited.object("company").entries if e.source == "Name"))
    assert edited.content_hash() != mapping.content_hash()


def test_a_changed_value_map_or_a_removed_entry_changes_the_hash(proposed):
    mapping, text = proposed
    edited = load(text)
    industry = next(e for e in edited.object("company").entries if e.source == "Industry")
    industry.values[0].option = 33
    assert edited.content_hash() != mapping.content_hash()
    edited = load(text)
    edited.object("company").entries.pop()
    assert edited.content_hash() != mapping.content_hash()


def test_an_edited_file_keeps_the_written_hash_to_compare(proposed):
    mapping, text = proposed
    edited = load(text.replace("target: address1_city", "target: address1_line2", 1))
    assert edited.stored_hash == mapping.content_hash() != edited.content_hash()


def test_awkward_headers_and_values_survive_the_round_trip():
    awkward = ["Yes", "Kosten: netto", "# Nr", "  padded ", "null", "a, b", "{x}", "'quoted'", "Zeile\nzwei", "3"]
    entries = [Entry(h, f"wtc_c{i}", "option", 0.5, "unsure", f"reason with 'quotes' and: colons #{i}",
                     custom=CustomColumn("Picklist", options=tuple(awkward)),
                     values=[ValueMapping(v, v, v, "new", count=i) for v in awkward])
               for i, h in enumerate(awkward)]
    mapping = MappingFile("work4all", [ObjectMapping("kunden", "Kunden.csv", "account", entries, ("name",))])
    text = dump(mapping)
    assert load(text) == mapping
    assert dump(load(text)) == text


def test_structural_problems_name_the_line_and_the_fix(proposed):
    _, text = proposed
    lines = text.splitlines()
    i = next(n for n, x in enumerate(lines) if x.strip() == "target: name")
    lines[i] = lines[i].replace("target:", "taget:")
    with pytest.raises(MapFileError) as e:
        load("\n".join(lines))
    err = next(x for x in e.value.errors if x.code == "unknown_key")
    assert err.line == i + 1 and err.object == "company" and "taget" in err.message and "target" in err.fix
    lines = text.splitlines()
    j = next(n for n, x in enumerate(lines) if x.strip() == "kind: url")  # the Website entry; it starts 2 lines up
    with pytest.raises(MapFileError) as e:
        load("\n".join(lines[:j] + lines[j + 1:]))
    assert [(x.code, x.line, x.object) for x in e.value.errors] == [("missing_key", j - 1, "company")]
    with pytest.raises(MapFileError) as e:
        load("\n".join(lines[:j + 1] + ["        confidence: high"] + lines[j + 2:]))
    assert [(x.code, x.line) for x in e.value.errors] == [("type", j + 2)]
    with pytest.raises(MapFileError) as e:
        load("version: 1\nsource: x\nobjects:\n  a:\n    table: account\n    columns:\n      - source: [\n")
    assert e.value.errors[0].code == "yaml" and e.value.errors[0].line is not None
