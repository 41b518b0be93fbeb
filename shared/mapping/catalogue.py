"""The catalogue's declarations as the proposer's defaults: what each object maps today.

``defaults_from_spec(spec)`` reads an ``ObjectSpec`` (shared/objects/spec.py) into
:class:`ObjectDefaults`: its field map, lookups, key, owner and created-date columns and the columns
the engine adds. Any source's catalogue reads the same way; a source without a catalogue (or a file
nobody declared) uses ``ObjectDefaults(name, file, table, key_column=...)`` and is proposed from names
and profiles alone.

What an object's ``shape``/``close`` hooks read and set is code the field map cannot show. ``HOOKS``
lists it, per (source, object), so that the proposal shows those source columns as engine-managed
rather than proposing custom columns for them, and the validator does not ask for a source column
for a required target a hook fills (an invoice's ``name``). tests/mapping checks it against the hooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from ..objects.spec import ObjectSpec


@dataclass(frozen=True)
class DeclaredField:
    source: str
    target: str
    kind: str
    options: Mapping[str, int] | None = None
    option_default: int | None = None


@dataclass(frozen=True)
class DeclaredLookup:
    source: str
    nav: str  # navigation property (may be a template: regardingobjectid_{target_table}_{table})
    objects: tuple[str, ...]  # the object(s) it points at
    type_field: str | None = None  # polymorphic: the column naming the object


@dataclass(frozen=True)
class DeclaredColumn:
    """A column the engine adds to the table (``ObjectSpec.columns``)."""

    logical_name: str
    type: str
    max_length: int | None = None
    date_only: bool = False
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hooks:
    reads: tuple[str, ...] = ()  # source columns the hooks read beyond the field map
    sets: tuple[str, ...] = ()  # target columns the hooks set


@dataclass(frozen=True)
class ObjectDefaults:
    name: str
    file: str
    table: str
    key_field: str | None = None
    key_column: str = ""
    fields: tuple[DeclaredField, ...] = ()
    lookups: tuple[DeclaredLookup, ...] = ()
    owner_field: str | None = None
    created_field: str | None = None
    route_field: str | None = None
    columns: tuple[DeclaredColumn, ...] = ()
    hooks: Hooks = Hooks()
    constants: tuple[str, ...] = ()  # target columns with a constant value
    #: the source's own columns for this file (its export contract): a contract column that nothing
    #: declares is known not to be migrated, where an unknown column is a custom field
    contract: tuple[str, ...] = ()

    @property
    def custom_prefix(self) -> str:
        """The prefix of new columns: the key column's (``wtc_sourceid`` -> ``wtc_``)."""
        head, sep, _ = self.key_column.partition("_")
        return f"{head}_" if sep and head else "new_"

    @property
    def engine_columns(self) -> tuple[str, ...]:
        """Target columns the engine fills without a source column of their own."""
        return tuple(dict.fromkeys([*self.hooks.sets, *self.constants]))

    def column(self, name: str) -> DeclaredColumn | None:
        return next((c for c in self.columns if c.logical_name == name), None)


#: what the shape/close hooks of shared/objects/<source>.py read and set (see the module docstring)
HOOKS: dict[tuple[str, str], Hooks] = {
    ("worketc", "contractor"): Hooks(reads=("Name",), sets=("firstname", "lastname")),
    ("worketc", "lead"): Hooks(reads=("Status", "CompanyName", "FirstName", "LastName"),
                               sets=("statecode", "statuscode", "subject")),
    ("worketc", "deal"): Hooks(reads=("Status", "WinReason", "LossReason"), sets=("stepname", "customerid")),
    ("worketc", "project"): Hooks(reads=("ProjectType", "Stage", "Status"),
                                  sets=("wtc_stageconfig", "wtc_weightedprogress")),
    ("worketc", "ticket"): Hooks(reads=("CompanyID", "ContactID", "Status"),
                                 sets=("customerid", "primarycontactid", "statuscode")),
    ("worketc", "ticket_message"): Hooks(reads=("Direction", "CcAddress"),
                                         sets=("directioncode", "statecode", "statuscode", "actualstart",
                                               "email_activity_parties")),
    ("worketc", "invoice"): Hooks(reads=("CompanyID", "ContactID", "Number", "Currency"),
                                  sets=("customerid", "name", "pricelevelid", "statuscode")),
    ("worketc", "invoice_line"): Hooks(sets=("isproductoverridden", "productdescription")),
    ("worketc", "activity"): Hooks(reads=("Body", "Start", "End", "DueDate", "Status", "Direction", "FromAddress",
                                          "ToAddress", "CcAddress"),
                                   sets=("description", "notetext", "scheduledstart", "scheduledend", "actualstart",
                                         "actualend", "directioncode", "statecode", "statuscode",
                                         "email_activity_parties")),
    ("work4all", "ansprechpartner"): Hooks(reads=("LieferantenCode",), sets=("parentcustomerid",)),
    ("work4all", "verkaufschance"): Hooks(reads=("Status",), sets=("stepname", "customerid")),
    ("work4all", "artikel"): Hooks(sets=("defaultuomscheduleid", "defaultuomid", "quantitydecimal", "productnumber",
                                         "name")),
    ("work4all", "preisliste"): Hooks(reads=("Preisliste", "Waehrung"), sets=("pricelevelid", "uomid",
                                                                            "pricingmethodcode")),
    ("work4all", "beleg"): Hooks(reads=("Belegart", "KundenCode", "LieferantenCode", "VerkaufschanceCode", "Nummer",
                                        "Datum", "Netto", "MwSt", "Brutto", "Waehrung", "Status", "PdfDatei"),
                                 sets=("customerid", "opportunityid", "name", "quotenumber", "invoicenumber",
                                       "pricelevelid", "subject", "notetext", "objectid", "parentaccountid",
                                       "estimatedvalue", "estimatedclosedate", "w4a_salesopportunity")),
    ("work4all", "belegposition"): Hooks(reads=("BelegCode", "ArtikelCode", "Bezeichnung", "Position", "Code", "Menge",
                                                "Einheit", "Einzelpreis", "Rabatt", "Gesamtpreis"),
                                         sets=("quoteid", "invoiceid", "opportunityid", "productid", "uomid",
                                               "ispriceoverridden",
                                               "isproductoverridden", "productdescription", "lineitemnumber",
                                               "subject", "notetext", "objectid")),
    ("work4all", "offener_posten"): Hooks(reads=("Rechnungsbetrag", "Art", "Code", "Rechnungsnummer"),
                                          sets=("w4a_amount", "w4a_paid", "w4a_openamount", "w4a_reconciliation",
                                                "w4a_name", "name", "parentaccountid", "customerid", "estimatedvalue",
                                                "estimatedclosedate")),
    ("work4all", "telefonnotiz"): Hooks(reads=("Datum", "Dauer", "Richtung", "Notiz", "KundenCode", "LieferantenCode",
                                               "AnsprechpartnerCode"),
                                        sets=("actualstart", "actualend", "directioncode", "subject", "regardingobjectid",
                                              "statecode", "statuscode")),
    ("work4all", "besuchsbericht"): Hooks(reads=("Titel", "Bericht", "Datum", "KundenCode", "AnsprechpartnerCode"),
                                          sets=("subject", "notetext", "description", "scheduledend", "objectid",
                                                "regardingobjectid")),
    ("work4all", "aufgabe"): Hooks(reads=("Status", "BelegCode", "KundenCode", "AnsprechpartnerCode"),
                                   sets=("statecode", "statuscode", "regardingobjectid")),
    ("worketc", "kb_article"): Hooks(reads=("Title", "Category", "Body", "Published"),
                                     sets=("title", "content", "keywords", "wtc_category", "wtc_publishedinsource",
                                           "subject", "notetext")),
}


#: per-object settings a map may choose (``options:`` in mapping.yaml), per (source, object): setting -> its
#: values, the first the default. The object's code reads them (shared/objects/<source>.py, ``setting``).
SETTINGS: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {
    # Rechnungen: a won opportunity with opportunityproduct lines, or a Dynamics invoice with invoicedetail lines
    ("work4all", "beleg"): {"invoices_as": ("opportunity", "invoice")},
    # Offene Posten: the custom table w4a_openitem, or an open opportunity (a receivable in the pipeline)
    ("work4all", "offener_posten"): {"open_items_as": ("openitem", "receivable")},
}


def settings_of(source: str, name: str) -> dict[str, tuple[str, ...]]:
    """The settings object ``name`` of ``source`` (a catalogue or a run's source kind) declares."""
    return SETTINGS.get((source.split("-", 1)[0], name), {})


def mappable(spec: ObjectSpec) -> bool:
    """Objects whose rows a column map shapes (not pipelines, not documents: those go to SharePoint)."""
    return spec.pipeline == "records" and bool(spec.table) and spec.load_activity == "load_chunk"


def defaults_from_spec(spec: ObjectSpec, *, contract: tuple[str, ...] = ()) -> ObjectDefaults:
    """The catalogue's declaration of ``spec`` as proposer defaults (``contract``: the file's columns)."""
    fields = tuple(DeclaredField(f.source, f.target, f.kind, dict(f.options) if f.options else None,
                                 f.option_default) for f in spec.fields)
    lookups = tuple(DeclaredLookup(lk.source, lk.nav if isinstance(lk.nav, str) else lk.nav.get("*", ""),
                                   lk.targets, lk.type_field) for lk in spec.lookups)
    columns = tuple(DeclaredColumn(c.logical_name, c.type, c.max_length, c.date_only,
                                   tuple(lbl for _, lbl in c.options)) for c in spec.columns)
    return ObjectDefaults(
        name=spec.name, file=spec.file, table=spec.table, key_field=spec.key_field, key_column=spec.key_column,
        fields=fields, lookups=lookups, owner_field=spec.owner_field, created_field=spec.created_field,
        route_field=spec.route.field if spec.route else None, columns=columns,
        hooks=HOOKS.get((spec.source, spec.name), Hooks()), constants=tuple(spec.constants), contract=contract,
    )
