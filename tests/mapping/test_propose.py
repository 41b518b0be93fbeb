"""The proposer: catalogue first, then header similarity (English and German), then compatibility with the
target; custom columns and skips; value maps; the precision floor on the labelled header sets."""

from __future__ import annotations

import pytest

from bench.mapping import DATA, evaluate, load_labels, metrics
from shared.mapping import ObjectDefaults, defaults_from_spec, dump, profile_rows, propose, propose_object
from shared.mapping.metadata import TargetColumn
from shared.mapping.propose import map_value
from shared.objects import worketc
from shared.sources.worketc import csv_export


def bare(table: str, key_column: str = "wtc_sourceid") -> ObjectDefaults:
    """No catalogue: a source nobody declared yet."""
    return ObjectDefaults(table, "", table, key_column=key_column)


def one(tables, table, header, rows=None):
    profile = profile_rows({header: v} for v in rows) if rows is not None else None
    om = propose_object(bare(table), tables[table], profile, headers=[header])
    assert len(om.entries) == 1
    return om.entries[0]


@pytest.mark.parametrize("table, header, target", [
    ("account", "Company Name", "name"), ("account", "Firma", "name"), ("account", "Name1", "name"),
    ("account", "E-mail", "emailaddress1"), ("account", "EMail", "emailaddress1"),
    ("account", "E-Mail-Adresse", "emailaddress1"), ("account", "Phone (work)", "telephone1"),
    ("account", "Telefon", "telephone1"), ("account", "Zip", "address1_postalcode"),
    ("account", "PLZ", "address1_postalcode"), ("account", "Street", "address1_line1"),
    ("account", "Strasse", "address1_line1"), ("account", "Straße", "address1_line1"),
    ("account", "Ort", "address1_city"), ("account", "Branche", "industrycode"), ("account", "Umsatz", "revenue"),
    ("account", "Mitarbeiter", "numberofemployees"), ("contact", "Anrede", "salutation"),
    ("contact", "Position", "jobtitle"), ("contact", "Abteilung", "department"), ("contact", "Mobil", "mobilephone"),
    ("contact", "Telefon geschäftlich", "telephone1"), ("lead", "Firma", "companyname"),
    ("opportunity", "Wahrscheinlichkeit", "closeprobability"), ("incident", "Betreff", "title"),
    ("phonecall", "Rufnummer", "phonenumber"), ("task", "Fällig", "scheduledend"),
    ("product", "Artikelnummer", "productnumber"),
    ("invoice", "Rechnungsnummer", "invoicenumber"),
])
def test_header_variants_in_english_and_german_are_sure(tables, table, header, target):
    e = one(tables, table, header)
    assert (e.target, e.label) == (target, "sure"), e.reason


def test_the_same_word_means_different_columns_in_different_tables(tables):
    assert one(tables, "account", "Mitarbeiter").target == "numberofemployees"
    task = one(tables, "task", "Mitarbeiter")
    assert (task.target, task.kind, task.read_only) == ("ownerid", "owner", True)


def test_kind_follows_the_target_column(tables):
    headers = ("E-Mail", "Internet", "Fax", "Umsatz", "Mitarbeiter", "Branche")
    kinds = {h: one(tables, "account", h).kind for h in headers}
    assert kinds == {"E-Mail": "email", "Internet": "url", "Fax": "phone", "Umsatz": "money", "Mitarbeiter": "int",
                     "Branche": "option"}


def test_the_catalogue_declaration_comes_first(tables, worketc_items):
    company = next(om for om in propose("worketc", worketc_items, tables).objects if om.name == "company")
    by = {(e.source, e.target): e for e in company.entries}
    name = by[("Name", "name")]
    assert name.reason.startswith("catalogue: company maps Name -> name")
    key, owner, created = by[("EntityID", "wtc_sourceid")], by[("OwnerEmail", "ownerid")], \
        by[("DateCreated", "overriddencreatedon")]
    assert (key.kind, owner.kind, created.kind) == ("key", "owner", "created")
    assert key.read_only and owner.read_only and created.read_only and created.format == "DMY"
    assert by[("DateModified", None)].kind == "skip"  # the export format's column the catalogue does not migrate
    contact = next(om for om in propose("worketc", worketc_items, tables).objects if om.name == "contact")
    lookup = next(e for e in contact.entries if e.source == "CompanyID")
    assert (lookup.kind, lookup.target, lookup.lookup, lookup.read_only) == \
        ("lookup", "parentcustomerid_account", "company", True)


def test_dataverse_own_option_set_is_preferred_and_the_text_kept_beside_it(tables, worketc_items):
    company = next(om for om in propose("worketc", worketc_items, tables).objects if om.name == "company")
    industry = [e for e in company.entries if e.source == "Industry"]
    # Dataverse's own option set, and the source's text beside it: values without an option lose nothing
    assert [(e.target, e.kind) for e in industry] == [("industrycode", "option"), ("wtc_industry", "string")]
    e = industry[0]
    assert "beside the catalogue's text column wtc_industry" in e.reason
    assert "keeps the source's text" in industry[1].reason
    by = {v.source: v for v in e.values}
    assert (by["Finance"].option, by["Finance"].label) == (16, "Financial")
    assert by["Healthcare"].lossy and by["Technology"].option is None  # coarser, and no option at all
    assert e.label != "sure" and "without an option" in e.reason  # unmapped values lower the confidence


def test_hook_read_columns_are_engine_entries_and_hook_set_columns_engine_columns(tables, worketc_items):
    mapping = propose("worketc", worketc_items, tables)
    deal = mapping.object("deal")
    status = next(e for e in deal.entries if e.source == "Status")
    assert (status.kind, status.target, status.read_only) == ("engine", None, True)
    assert "name" in mapping.object("invoice").engine_columns


def test_values_longer_than_maxlength_lower_the_confidence_and_say_why(tables):
    e = one(tables, "account", "Firma", ["Acme"] * 5 + ["x" * 200])
    assert e.target == "name" and e.label != "sure"
    assert "longest value 200 characters > MaxLength 160" in e.reason


def test_email_validity_rate(tables):
    e = one(tables, "contact", "E-Mail", ["a@b.de"] * 6 + ["kein@", "n/a", "a@b@c.de", "x"])
    assert e.label == "unsure" and "40% of values are not valid e-mail addresses" in e.reason


def test_dates_that_do_not_parse_and_their_order(tables):
    e = one(tables, "contact", "Geburtstag", ["31.12.1980", "01.02.1975", "unbekannt", "1975"])
    assert e.target == "birthdate" and e.format == "DMY" and "50% of values are not dates" in e.reason
    ambiguous = one(tables, "contact", "Geburtstag", ["01/02/1980", "03/04/1975"])
    assert ambiguous.format is None and "set format DMY or MDY" in ambiguous.reason


def test_german_number_format_is_carried_in_the_format(tables):
    e = one(tables, "account", "Umsatz", ["1.234.567,89", "12.500,00", "999,5"])
    assert (e.target, e.format, e.label) == ("revenue", "1.234,56", "sure")


def test_option_values_an_option_set_does_not_cover(tables):
    e = one(tables, "incident", "Priorität", ["Hoch", "Niedrig", "Dringend", "Egal", "Hoch"])
    by = {v.source: v for v in e.values}
    assert (by["Hoch"].option, by["Hoch"].lossy) == (1, False)
    assert (by["Dringend"].option, by["Dringend"].lossy) == (1, True)  # Urgent -> High: coarser
    assert by["Egal"].option is None and by["Egal"].lossy
    assert "1 without an option" in e.reason and e.label != "sure"


def test_value_map_by_label_english_and_german():
    col = TargetColumn("prioritycode", "Picklist", options=((1, "High"), (2, "Normal"), (3, "Low")))
    assert (map_value("Urgent", col).option, map_value("Urgent", col).lossy, map_value("Urgent", col).match) == \
        (1, True, "synonym")
    assert (map_value("high", col).option, map_value("high", col).match) == (1, "exact")
    assert (map_value("Niedrig", col).option, map_value("Niedrig", col).lossy) == (3, False)
    assert map_value("Medium", col).option == 2
    assert map_value("whenever", col).option is None
    industry = TargetColumn("industrycode", "Picklist", options=((22, "Non-Durable Merchandise Retail"),
                                                                 (25, "Service Retail"), (32, "Vehicle Retail")))
    assert map_value("Retail", industry).match == "ambiguous"  # three options fit equally: none is chosen


def test_catalogue_option_map_is_used_and_merges_are_marked_lossy(tables, worketc_items):
    ticket = propose("worketc", worketc_items, tables).object("ticket")
    priority = next(e for e in ticket.entries if e.target == "prioritycode")
    by = {v.source: v for v in priority.values}
    assert by["Urgent"].option == by["High"].option == 1
    assert by["Urgent"].lossy and not by["High"].lossy and by["Urgent"].match == "catalogue"


def test_unmatched_columns_become_custom_columns_typed_by_the_profile(tables):
    d = ObjectDefaults("kunden", "Kunden.csv", "account", key_column="w4a_sourceid")
    rows = [{"Privatkunde": "Ja", "Zahlungsziel Tage": "30", "Bonität": "1.234,50", "Gruppe": "A",
             "Memo intern": "Zeile 1\nZeile 2", "Leer": "", "Kürzel": f"M{i}"} for i in range(3)] + \
           [{"Privatkunde": "Nein", "Zahlungsziel Tage": "14", "Bonität": "99,00", "Gruppe": "B",
             "Memo intern": "x", "Leer": None, "Kürzel": f"A{i}"} for i in range(3)]
    om = propose_object(d, tables["account"], profile_rows(rows))
    by = {e.source: e for e in om.entries}
    assert (by["Privatkunde"].target, by["Privatkunde"].kind, by["Privatkunde"].custom.type) == \
        ("w4a_privatkunde", "bool", "Boolean")  # the prefix comes from the key column
    assert (by["Bonität"].kind, by["Bonität"].custom.type, by["Bonität"].format) == \
        ("decimal", "Decimal", "1.234,56")
    assert (by["Gruppe"].kind, by["Gruppe"].custom.type, by["Gruppe"].custom.options) == \
        ("option", "Picklist", ("A", "B"))
    assert (by["Memo intern"].kind, by["Memo intern"].custom.type) == ("memo", "Memo")
    assert (by["Kürzel"].custom.type, by["Kürzel"].custom.max_length) == ("String", 50)
    assert (by["Leer"].kind, by["Leer"].target) == ("skip", None)


def test_two_columns_of_one_meaning_do_not_both_take_the_target(tables):
    om = propose_object(bare("account"), tables["account"], headers=["Telefon", "Phone (work)"])
    first, second = om.entries
    assert first.target == "telephone1" and second.custom is not None
    assert "'Telefon' already maps to" in second.reason


def test_a_column_dataverse_sets_itself_becomes_a_custom_column(tables):
    e = one(tables, "account", "Geändert am")
    assert e.custom is not None and "modifiedon, which Dataverse sets itself" in e.reason


def test_a_name_that_only_resembles_and_values_that_disagree_become_a_custom_column(tables):
    assert one(tables, "account", "Hauptbranche").target == "industrycode"  # a compound: a kind of Branche
    e = one(tables, "account", "Hauptbranche", ["Gold", "Silber", "Bronze", "Gold"])
    assert e.custom is not None and "resembles 'Branche' (industrycode), but the values disagree" in e.reason


def test_proposal_is_deterministic(tables, worketc_items, worketc_profiles):
    one_text = dump(propose("worketc", worketc_items, tables), worketc_profiles)
    assert dump(propose("worketc", worketc_items, tables), worketc_profiles) == one_text


def test_defaults_adapter_reads_a_spec(tables):
    d = defaults_from_spec(worketc.LEAD, contract=csv_export.COLUMNS["leads.csv"])
    assert d.custom_prefix == "wtc_" and d.key_field == "EntityID" and d.owner_field == "OwnerEmail"
    source = [f for f in d.fields if f.source == "Source"]
    assert [f.target for f in source] == ["leadsourcecode", "wtc_leadsource"] and source[0].option_default == 10
    assert d.column("wtc_leadscore").type == "Decimal" and "subject" in d.engine_columns


@pytest.mark.parametrize("name", ["headers.yaml", "headers_heldout.yaml"])
def test_precision_floor_on_the_labelled_headers(tables, name):
    labels = load_labels(DATA / name)
    assert len(labels) >= (200 if name == "headers.yaml" else 100)
    m = metrics(evaluate(tables, labels))
    assert m["precision_sure"] >= 0.95 and m["precision"] >= 0.9 and m["recall_sure"] >= 0.8, m


def test_a_declared_field_on_a_created_date_column_is_kept():
    """A ticket message's Sent is its created date and its actualend: both entries are proposed."""
    from shared.mapping import TargetColumn, TargetTable, defaults_from_spec, propose_object
    from shared.objects import catalogue

    email = TargetTable("email", (TargetColumn("subject", "String", max_length=200),
                                  TargetColumn("actualend", "DateTime", format="DateAndTime"),
                                  TargetColumn("overriddencreatedon", "DateTime", format="DateAndTime")))
    spec = catalogue("worketc-csv")["ticket_message"]
    message = propose_object(defaults_from_spec(spec), email, None)
    sent = {(e.target, e.kind) for e in message.entries if e.source == "Sent"}
    assert sent == {("overriddencreatedon", "created"), ("actualend", "datetime")}
