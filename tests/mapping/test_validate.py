"""Validation of an edited map: every error names the object, the YAML line and the fix."""

from __future__ import annotations

import pytest

from shared.mapping import check_text, dump, propose, validate


@pytest.fixture(scope="module")
def text(tables, worketc_items):
    return dump(propose("worketc", worketc_items, tables))


def edit(text: str, old: str, new: str, after: str = "") -> str:
    """Replace the first ``old`` that comes after ``after``."""
    start = text.index(after) if after else 0
    i = text.index(old, start)
    return text[:i] + new + text[i + len(old):]


def line_of(text: str, snippet: str, after: str = "") -> int:
    start = text.index(after) if after else 0
    return text[: text.index(snippet, start)].count("\n") + 1


def errors(text, tables):
    mapping, errs = check_text(text, tables)
    return errs


def test_the_proposed_map_is_valid(text, tables):
    assert errors(text, tables) == []


def only(errs, code):
    found = [e for e in errs if e.code == code]
    assert len(found) == 1, errs
    return found[0]


def test_unknown_target_column(text, tables):
    bad = edit(text, "target: websiteurl", "target: websiteur")
    e = only(errors(bad, tables), "unknown_target")
    assert (e.object, e.line) == ("company", line_of(bad, "target: websiteur"))
    assert "did you mean websiteurl?" in e.fix and "custom: {type: String" in e.fix
    assert str(e).startswith(f"mapping.yaml:{e.line}: company: ")


def test_a_declared_custom_column_is_a_known_target(text, tables):
    ok = edit(text, "target: websiteurl\n        kind: url",
              "target: wtc_web\n        kind: url\n        custom: {type: String, max_length: 200}")
    assert errors(ok, tables) == []


def test_a_kind_the_target_cannot_take(text, tables):
    bad = edit(text, "kind: url", "kind: date")
    e = only(errors(bad, tables), "bad_kind")
    assert e.line == line_of(bad, "kind: date") and "a String column cannot take kind date" in e.message
    assert "string or email or url or phone" in e.fix


def test_two_columns_onto_one_target(text, tables):
    bad = edit(text, "target: address1_line2", "target: address1_line1")
    e = only(errors(bad, tables), "duplicate_target")
    assert e.line == line_of(bad, "target: address1_line1", after="source: Address2")
    assert "'Address2' and 'Address1'" in e.message and f"(line {line_of(bad, '- source: Address1')})" in e.message


def test_a_required_target_left_unmapped(text, tables):
    bad = edit(text, "target: name\n        kind: string", "target: null\n        kind: skip")
    e = only(errors(bad, tables), "required_unmapped")
    assert (e.object, e.line) == ("company", line_of(bad, "  company:"))
    assert "account.name is required (ApplicationRequired)" in e.message and "map a source column to name" in e.fix


def test_engine_columns_count_as_mapped(text, tables):
    line = next(x for x in text.splitlines() if x.startswith("    engine_columns:") and " name," in x)
    assert line in text[text.index("  invoice:"):]  # the invoice's shape hook sets its name
    bad = edit(text, line, line.replace(" name,", ""), after="  invoice:")
    assert only(errors(bad, tables), "required_unmapped").object == "invoice"


def test_a_value_map_pointing_at_a_missing_option(text, tables):
    bad = edit(text, "to: 16,", "to: 99,")
    e = only(errors(bad, tables), "bad_option")
    assert e.line == line_of(bad, "to: 99,") and "-> 99, which is not an option of industrycode" in e.message
    assert "use one of 1 (Accounting)" in e.fix


def test_a_value_map_of_a_new_picklist_names_its_labels(tables):
    text = ("version: 1\nsource: x\nobjects:\n  k:\n    table: account\n    columns:\n"
            "      - source: Name\n        target: name\n        kind: string\n"
            "      - source: Gruppe\n        target: wtc_gruppe\n        kind: option\n"
            "        custom: {type: Picklist, options: [A, B]}\n"
            "        values:\n          - {from: A, to: A}\n          - {from: C, to: C}\n"
            "          - {from: A, to: B}\n")
    errs = errors(text, tables)
    assert {(e.code, e.line) for e in errs} == {("bad_option", 16), ("duplicate_value", 17)}
    assert "use one of A, B" in only(errs, "bad_option").fix


@pytest.mark.parametrize("old, new, code, fix", [
    ("kind: url", "kind: url\n        format: DMY", "bad_format", "remove the format line"),
    ("target: websiteurl", "target: createdon", "not_writable", "a new custom column keeps the value"),
    ("target: null\n        kind: skip", "target: description\n        kind: skip", "skip_with_target", "target: null"),
    ("target: websiteurl", "target: null", "missing_target", "set kind: skip"),
    ("target: websiteurl\n        kind: url",
     "target: websiteurl\n        kind: url\n        values: [{from: a, to: 1}]", "values_not_option", "remove values"),
    ("target: websiteurl\n        kind: url", "target: websiteurl\n        kind: url\n        custom: {type: String, "
     "max_length: 200}", "custom_exists", "remove the custom: line"),
])
def test_other_errors_name_line_and_fix(text, tables, old, new, code, fix):
    bad = edit(text, old, new)
    e = only(errors(bad, tables), code)
    assert e.object == "company" and e.line and fix in e.fix


@pytest.mark.parametrize("custom, fix", [
    ("{type: Lookup}", "use type String"),
    ("{type: String}", "add max_length"),
    ("{type: Picklist}", "list the option labels"),
])
def test_malformed_custom_columns(text, tables, custom, fix):
    bad = edit(text, "target: websiteurl\n        kind: url",
               f"target: wtc_web\n        kind: url\n        custom: {custom}")
    assert any(e.code == "bad_custom" and fix in e.fix for e in errors(bad, tables))


def test_a_custom_column_needs_the_publisher_prefix(text, tables):
    bad = edit(text, "target: websiteurl\n        kind: url",
               "target: Website2\n        kind: url\n        custom: {type: String, max_length: 200}")
    e = only(errors(bad, tables), "bad_custom")
    assert "publisher prefix" in e.message and e.fix == "name it like wtc_website2"


def test_unknown_table(text, tables):
    bad = edit(text, "table: account", "table: acount")
    e = only(errors(bad, tables), "unknown_table")
    assert (e.object, e.line) == ("company", line_of(bad, "  company:"))


def test_load_problems_come_back_as_errors_too(text, tables):
    mapping, errs = check_text(text.replace("kind: url", "kind: website", 1), tables, file="maps/contoso.yaml")
    assert mapping is None
    assert [(e.code, e.file) for e in errs] == [("bad_kind", "maps/contoso.yaml")]
    assert "use one of string" in errs[0].fix


def test_validate_takes_a_map_object_too(tables, worketc_items):
    assert validate(propose("worketc", worketc_items, tables), tables) == []
