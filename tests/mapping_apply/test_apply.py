"""The approved map applied to an object's declaration (shared.mapping.apply.spec_for) and what the
transformer then does with it: remapped, skipped and custom columns, value maps, formats, and edits of
the engine's read-only entries refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.mapping import CustomColumn, Entry, ValueMapping, defaults_from_spec, dump, load, propose_object
from shared.mapping.apply import OPTION_BASE, MapApplyError, spec_for
from shared.objects.worketc import COMPANY, CONTACT, LEAD, TICKET
from shared.sources.worketc import csv_export
from shared.transform import LookupTarget, TransformContext, Transformer
from tests.mapping.conftest import load_tables

TABLES = load_tables()


def proposal(spec):
    """The unedited proposal for ``spec`` from the catalogue's declaration and the table's metadata,
    written to mapping.yaml and read back (entries then know their lines)."""
    om = propose_object(defaults_from_spec(spec, contract=csv_export.COLUMNS[spec.file]), TABLES[spec.table],
                        headers=csv_export.COLUMNS[spec.file])
    from shared.mapping import MappingFile
    return load(dump(MappingFile("worketc", [om]))).objects[0]


def entry(om, source: str, target: str | None = None) -> Entry:
    return next(e for e in om.entries if e.source == source and (target is None or e.target == target))


def fields(spec) -> set[tuple]:
    return {(f.source, f.target, f.kind) for f in spec.fields}


def ctx(**kw) -> TransformContext:
    targets = {"company": LookupTarget("account", "accounts", "wtc_sourceid", "", set(kw.pop("company_keys", []))),
               "contact": LookupTarget("contact", "contacts", "wtc_sourceid", "", set())}
    return TransformContext(owners={}, default_owner="u-0", lookup_targets=targets, custom_columns=[], **kw)


def row(spec, **values):
    return Transformer(spec, ctx()).row({"_file": "x.csv", "_row": 3, "EntityID": "1", **values})


def test_the_unedited_proposal_carries_what_the_catalogue_declares():
    for spec in (COMPANY, CONTACT, LEAD, TICKET):
        mapped = spec_for(spec, proposal(spec))
        # by design the proposer prefers Dataverse's own option set to the catalogue's text column
        expected = fields(spec) - {("Industry", "wtc_industry", "string")}
        assert expected <= fields(mapped), spec.name
        assert (mapped.key_field, mapped.key_column, mapped.lookups, mapped.owner_field, mapped.shape) == \
            (spec.key_field, spec.key_column, spec.lookups, spec.owner_field, spec.shape)
        assert mapped.custom_fields_object is None  # custom fields are entries of the map like any column


def test_a_remapped_column_lands_in_its_new_target_and_a_skipped_one_nowhere():
    om = proposal(COMPANY)
    entry(om, "Phone").target = "telephone2"
    fax = entry(om, "Fax")
    fax.kind, fax.target = "skip", None
    mapped = spec_for(COMPANY, om)
    body = row(mapped, Name="Acme", Phone="+61 2 1234 5678", Fax="+61 2 0000 0000").row["body"]
    assert body["telephone2"] == "+61 2 1234 5678"
    assert "telephone1" not in body and "fax" not in body
    assert any("Not migrated (skipped in the approved map): Fax" in n for n in mapped.notes)


def test_a_value_map_decides_the_option_and_null_loads_empty_with_a_warning():
    om = proposal(LEAD)
    source = entry(om, "Source", "leadsourcecode")
    source.values = [ValueMapping("Referral", 2), ValueMapping("Web", None)]
    mapped = spec_for(LEAD, om)
    assert row(mapped, Source="Referral").row["body"]["leadsourcecode"] == 2  # the catalogue says 3
    web = row(mapped, Source="web")
    assert "leadsourcecode" not in web.row["body"] and web.row["body"]["wtc_leadsource"] == "web"
    [w] = [w for w in web.warnings if w.field == "Source"]
    assert (w.code, w.value, w.line) == ("invalid_value", "web", 3) and "no option in the approved map" in w.message
    # a value the map does not list: the catalogue's table for the column, then its default option
    assert row(mapped, Source="Trade Show").row["body"]["leadsourcecode"] == 7
    assert row(mapped, Source="Podcast").row["body"]["leadsourcecode"] == 10


def test_an_accepted_custom_column_is_created_by_prepare_and_filled():
    om = proposal(COMPANY)
    om.entries.append(Entry("Region", "wtc_region", "option", custom=CustomColumn("Picklist", options=("North", "South")),
                            values=[ValueMapping("N", "North"), ValueMapping("S", "South"), ValueMapping("?", None)]))
    om.entries.append(Entry("Notes2", "wtc_notes2", "memo", custom=CustomColumn("Memo", max_length=4000)))
    mapped = spec_for(COMPANY, om)
    region = next(c for c in mapped.columns if c.logical_name == "wtc_region")
    assert (region.type, region.label, region.options) == ("Picklist", "Region",
                                                           ((OPTION_BASE, "North"), (OPTION_BASE + 1, "South")))
    notes = next(c for c in mapped.columns if c.logical_name == "wtc_notes2")
    assert (notes.type, notes.max_length) == ("Memo", 4000)
    body = row(mapped, Name="A", Region="S", Notes2="x\ny").row["body"]
    assert (body["wtc_region"], body["wtc_notes2"]) == (OPTION_BASE + 1, "x\ny")
    # options already in Dataverse (the source's custom fields made the column) keep their values
    again = spec_for(COMPANY, om, {"wtc_region": {"South": OPTION_BASE, "East": OPTION_BASE + 1}})
    region = next(c for c in again.columns if c.logical_name == "wtc_region")
    assert region.options == ((OPTION_BASE + 2, "North"), (OPTION_BASE, "South"))
    assert row(again, Name="A", Region="S").row["body"]["wtc_region"] == OPTION_BASE


def test_a_custom_column_the_code_declares_keeps_its_label_and_the_maps_definition():
    om = proposal(LEAD)
    e = entry(om, "Source", "wtc_leadsource")
    e.custom = CustomColumn("String", max_length=250)
    col = next(c for c in spec_for(LEAD, om).columns if c.logical_name == "wtc_leadsource")
    assert (col.label, col.max_length) == ("Lead source (WORKetc)", 250)
    e.custom = CustomColumn("Memo", max_length=250)
    with pytest.raises(MapApplyError, match="engine's String column"):
        spec_for(LEAD, om)


@pytest.mark.parametrize("edit, message", [
    (lambda om: setattr(entry(om, "CompanyID"), "target", "parentcustomerid_contact"), "read-only entry was edited"),
    (lambda om: entry(om, "CompanyID").__setattr__("kind", "skip") or setattr(entry(om, "CompanyID"), "target", None),
     "read-only entry is gone"),
    (lambda om: setattr(entry(om, "EntityID"), "kind", "string"), "read-only entry is gone"),
    (lambda om: setattr(entry(om, "OwnerEmail"), "target", "createdby"), "read-only entry was edited"),
    (lambda om: om.entries.append(Entry("JobTitle", "parentcustomerid_account", "lookup", lookup="company",
                                        read_only=True)), "not a lookup column"),
])
def test_an_edit_of_a_read_only_entry_is_refused_naming_the_line(edit, message):
    om = proposal(CONTACT)
    edit(om)
    with pytest.raises(MapApplyError, match=message) as e:
        spec_for(CONTACT, om)
    assert str(e.value).startswith("mapping.yaml:") and "contact" in str(e.value) and "fix:" in str(e.value)


def test_a_value_entry_may_sit_beside_a_read_only_one():
    om = proposal(CONTACT)
    om.entries.append(Entry("CompanyID", "wtc_companyref", "string", custom=CustomColumn("String", max_length=50)))
    mapped = spec_for(CONTACT, om)
    assert mapped.lookups == CONTACT.lookups
    assert row(mapped, LastName="L", CompanyID="10").row["body"]["wtc_companyref"] == "10"


def test_another_table_is_refused():
    om = proposal(COMPANY)
    om.table = "contact"
    with pytest.raises(MapApplyError, match="write table: account"):
        spec_for(COMPANY, om)


def test_formats_read_german_numbers_day_month_orders_and_german_booleans():
    om = proposal(LEAD)
    entry(om, "Score").format = "1.234,56"
    om.entries.append(Entry("Seit", "wtc_since", "date", format="MDY", custom=CustomColumn("DateTime", date_only=True)))
    om.entries.append(Entry("Aktiv", "wtc_active", "bool", custom=CustomColumn("Boolean")))
    created = entry(om, "DateCreated")
    created.format = "MDY"
    mapped = spec_for(LEAD, om)
    out = row(mapped, Score="1.234,5", Seit="03/31/2024", Aktiv="Ja", DateCreated="12/31/2023 09:00")
    body = out.row["body"]
    assert (body["wtc_leadscore"], body["wtc_since"], body["wtc_active"]) == (1234.5, "2024-03-31", True)
    assert body["overriddencreatedon"] == "2023-12-30T22:00:00Z"  # read month first, though the run says DMY
    assert row(mapped, Aktiv="nein").row["body"]["wtc_active"] is False
    bad = row(mapped, Score="1,234.5")
    assert "wtc_leadscore" not in bad.row["body"]
    assert [(w.field, w.code) for w in bad.warnings] == [("Score", "invalid_value")]
    assert "not a number written 1.234,56" in bad.warnings[0].message


def test_a_rounded_german_number_still_warns():
    om = proposal(LEAD)
    entry(om, "Score").format = "1.234,56"
    out = row(spec_for(LEAD, om), Score="12,345")
    assert out.row["body"]["wtc_leadscore"] == 12.35
    assert [w.code for w in out.warnings] == ["rounded"]


def test_hooks_see_the_body_the_map_built():
    om = proposal(TICKET)
    entry(om, "Priority", "prioritycode").values = [ValueMapping("Urgent", 1), ValueMapping("Low", 2)]
    t = Transformer(spec_for(TICKET, om), ctx(company_keys=["10"]))
    out = t.row({"EntityID": "6", "Subject": "S", "Priority": "Low", "CompanyID": "10", "Status": "Closed",
                 "DateClosed": "2024-01-02T10:00:00"})
    body = out.row["body"]
    assert body["prioritycode"] == 2 and body["customerid_account@odata.bind"] == "/accounts(wtc_sourceid='10')"
    assert out.row["close"]["action"] == "CloseIncident"


def test_a_map_without_lines_names_the_file_only():
    om = proposal(COMPANY)
    om.entries.append(Entry("X", "name2", "lookup", read_only=True))
    with pytest.raises(MapApplyError, match=r"^mapping.yaml: company: 'X'"):
        spec_for(COMPANY, replace(om, entries=[replace(e, line=None) for e in om.entries]))


def test_an_owner_or_created_date_the_catalogue_does_not_declare_is_applied_as_the_map_shows():
    from shared.objects.worketc import CONTRACTOR
    om = proposal(CONTRACTOR)
    om.entries.append(Entry("Manager", "ownerid", "owner", read_only=True))
    om.entries.append(Entry("Added", "overriddencreatedon", "created", read_only=True))
    mapped = spec_for(CONTRACTOR, om)
    assert (mapped.owner_field, mapped.created_field) == ("Manager", "Added")
    t = Transformer(mapped, replace(ctx(), owners={"boss@x.com": "u-7"}))
    body = t.row({"EntityID": "9", "Name": "A B", "Manager": "Boss@x.com", "Added": "2024-01-02"}).row["body"]
    assert body["ownerid@odata.bind"] == "/systemusers(u-7)" and body["overriddencreatedon"].startswith("2024-01-0")


def test_a_second_owner_column_is_refused():
    om = proposal(CONTACT)
    om.entries.append(Entry("Manager", "ownerid", "owner", read_only=True))
    with pytest.raises(MapApplyError, match="owner of contact is read from OwnerEmail"):
        spec_for(CONTACT, om)


def test_a_value_sent_to_an_option_the_column_lacks_is_refused_without_quoting_values():
    om = proposal(COMPANY)
    om.entries.append(Entry("Tier", "wtc_tier", "option", custom=CustomColumn("Picklist", options=("Gold",)),
                            values=[ValueMapping("Secret Customer Ltd", "Platinum", line=42)]))
    with pytest.raises(MapApplyError, match=r"^mapping.yaml:42: company: 'Tier': its value map sends a value") as e:
        spec_for(COMPANY, om)
    assert "Secret" not in str(e.value) and "Platinum" not in str(e.value)
