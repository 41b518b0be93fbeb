"""The scope document: counts, custom tables against the Professional limit, roles for the admin."""

from __future__ import annotations

from dataclasses import replace

from shared.mapping import MappingFile, profile_rows
from shared.objects import catalogue
from shared.steps.scope import PROFESSIONAL_CUSTOM_TABLES, scope, scope_markdown


def test_scope_counts_objects_roles_and_recommends_the_edition():
    specs = catalogue("worketc-csv")
    users = profile_rows([{"Role": "Admin"}, {"Role": "Sales"}, {"Role": "Sales"}])
    workflows = profile_rows([{"Name": "a"}, {"Name": "b"}])
    presence = {"user": "present", "workflow": "present", "project": "present", "company": "present"}
    doc = scope("worketc-csv", specs, presence, {"user": users, "workflow": workflows}, MappingFile("worketc-csv"))
    assert doc["access"] == "an export (CSV files)"
    assert doc["owners"] == 3 and doc["workflows"] == 2
    assert doc["roles"][0] == {"role": "Sales", "people": 2, "proposal": "a security role and a team 'Sales'"}
    assert doc["custom_tables"] == ["wtc_project"] and doc["edition"]["recommended"] == "Sales Professional"
    assert {"object": "deal", "file": "deals.csv", "table": "opportunity", "pipeline": "records",
            "presence": "absent", "records": None} in doc["objects"]
    text = scope_markdown(doc, "r1")
    assert "- Admin: 1 people" in text and "Sales Professional" in text


def test_more_custom_tables_than_professional_allows_need_enterprise():
    base = catalogue("worketc-csv")["project"]
    specs = {f"t{i}": replace(base, name=f"t{i}", custom_table=(f"new_t{i}", "T", "Ts"))
             for i in range(PROFESSIONAL_CUSTOM_TABLES + 1)}
    doc = scope("worketc-soap", specs, {n: "present" for n in specs}, {}, MappingFile("worketc-soap"))
    assert doc["edition"]["recommended"] == "Sales Enterprise" and "at most 15" in doc["edition"]["why"]
    assert doc["access"] == "the API (SOAP)"
