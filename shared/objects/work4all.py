"""work4all objects, declared once (../shared/formats/work4all-export.md -> Dataverse).

Field names on the left are work4all's (the export's German column names; the GraphQL source yields
the same names), on the right Dataverse logical names. Every row carries its source key in
``w4a_sourceid`` (an alternate key). Keys are per source table: a Kunde and a Lieferant with the same
Code or Nummer are two accounts (``kunde-17``, ``lieferant-17``), never one.

Values are German (``1.234,56``, ``31.12.2024 14:30``, ``Ja``/``Nein``): the transform reads them with
the source's number style (``shared.transform.SOURCE_NUMBER_STYLE``) and the run's DMY order; source
times are local German time (the run's time zone defaults to Europe/Berlin for work4all).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from ..dataverse.keys import key_ref
from .spec import Close, Column, Field, Lookup, ObjectSpec, Route, entity_set, price_list_key

SOURCE = "work4all"
KEY = "w4a_sourceid"

#: Dataverse account.customertypecode ("Relationship Type"; learn.microsoft.com/power-apps/developer/
#: data-platform/reference/entities/account#BKMK_CustomerTypeCode): 3 Customer, 11 Vendor
CUSTOMER, VENDOR = 3, 11

_ADDRESS = (
    Field("Strasse", "address1_line1"),
    Field("PLZ", "address1_postalcode"),
    Field("Ort", "address1_city"),
    Field("Land", "address1_country"),
)


def _partner_fields(number_column: str) -> tuple[Field, ...]:
    return (
        Field("Name", "name"),
        Field("Nummer", number_column),
        Field("Firma2", "w4a_name2"),
        *_ADDRESS,
        Field("Telefon", "telephone1", "phone"),
        Field("Telefon2", "telephone2", "phone"),
        Field("Telefax", "fax", "phone"),
        Field("EMail", "emailaddress1", "email"),
        Field("Internet", "websiteurl", "url"),
        Field("Privatkunde", "w4a_privatecustomer", "bool"),
        Field("Gesperrt", "w4a_blocked", "bool"),
        Field("Zahlungsfrist", "w4a_paymentdays", "int"),
        Field("Gruppe", "w4a_group"),
        Field("Notiz", "description", "memo"),
        Field("Erstkontakt", "w4a_firstcontact", "date"),
    )


_PARTNER_COLUMNS = (
    Column("w4a_customernumber", "String", "Customer number (work4all)", max_length=50),
    Column("w4a_suppliernumber", "String", "Supplier number (work4all)", max_length=50),
    Column("w4a_sourcetype", "String", "Source type (work4all: Kunde, Lieferant)", max_length=20),
    Column("w4a_name2", "String", "Name 2 (work4all)", max_length=200),
    Column("w4a_privatecustomer", "Boolean", "Private customer (work4all)"),
    Column("w4a_blocked", "Boolean", "Blocked (work4all)"),
    Column("w4a_paymentdays", "Integer", "Payment term in days (work4all)"),
    Column("w4a_group", "String", "Group (work4all)", max_length=100),
    Column("w4a_firstcontact", "DateTime", "First contact (work4all)", date_only=True),
)

MITARBEITER = ObjectSpec(
    name="mitarbeiter",
    source=SOURCE,
    file="Mitarbeiter",
    table="systemuser",
    pipeline="owners",
    key_field="Code",
    key_column=KEY,
    # the owners step matches internalemailaddress by this column; Kuerzel is the employee's short
    # sign, which owner columns (Vertreter, Mitarbeiter) may hold instead of the e-mail
    fields=(Field("EMail", "internalemailaddress", "email"), Field("Kuerzel", "nickname")),
    owner_field=None,
    created_field=None,
    required=True,
)

KUNDE = ObjectSpec(
    name="kunde",
    source=SOURCE,
    file="Kunden",
    table="account",
    key_field="Code",
    key_column=KEY,
    key_prefix="kunde-",
    depends_on=("mitarbeiter",),
    required=True,
    fields=_partner_fields("w4a_customernumber"),
    owner_field="Vertreter",
    created_field="AngelegtAm",
    constants={"customertypecode": CUSTOMER, "w4a_sourcetype": "Kunde"},
    columns=_PARTNER_COLUMNS,
    notes=("Kunden become accounts with relationship type Customer (customertypecode 3); the work4all number is "
           "kept in w4a_customernumber and the source table in w4a_sourcetype.",),
)

LIEFERANT = ObjectSpec(
    name="lieferant",
    source=SOURCE,
    file="Lieferanten",
    table="account",
    key_field="Code",
    key_column=KEY,
    key_prefix="lieferant-",  # customers and suppliers share the account table, never a key
    depends_on=("mitarbeiter",),
    fields=_partner_fields("w4a_suppliernumber"),
    owner_field="Vertreter",
    created_field="AngelegtAm",
    constants={"customertypecode": VENDOR, "w4a_sourcetype": "Lieferant"},
    columns=_PARTNER_COLUMNS,
    notes=("Lieferanten become accounts with relationship type Vendor (customertypecode 11) and w4a_sourcetype "
           "Lieferant; their keys are their own (lieferant-<Code>), so a Kunde and a Lieferant with the same "
           "number are two accounts.",),
)


def _contact_shape(src: dict, body: dict, warn, s) -> dict:
    """A contact person of a Lieferant gets the supplier's account (a Kunde's contact the customer's)."""
    customer, supplier = (src.get("KundenCode") or "").strip(), (src.get("LieferantenCode") or "").strip()
    if not supplier:
        return body
    if customer:
        warn("ambiguous_parent", "LieferantenCode", "the contact names a Kunde and a Lieferant; its account is the "
                                                    "Kunde's")
        return body
    bound = s.bind("lieferant", supplier)
    if bound:
        body["parentcustomerid_account@odata.bind"] = bound
    else:
        warn("missing_parent", "LieferantenCode", f"LieferantenCode {supplier!r} is not a migrated Lieferant; the "
                                                  "link was not migrated")
    return body


ANSPRECHPARTNER = ObjectSpec(
    name="ansprechpartner",
    source=SOURCE,
    file="Ansprechpartner",
    table="contact",
    key_field="Code",
    key_column=KEY,
    depends_on=("kunde", "lieferant", "mitarbeiter"),
    fields=(
        Field("Anrede", "salutation"),
        Field("Vorname", "firstname"),
        Field("Name", "lastname"),
        Field("Funktion", "jobtitle"),
        Field("Abteilung", "department"),
        Field("Telefon", "telephone1", "phone"),
        Field("Mobilfunk", "mobilephone", "phone"),
        Field("EMail", "emailaddress1", "email"),
        Field("Hauptansprechpartner", "w4a_maincontact", "bool"),
        Field("Notiz", "description", "memo"),
    ),
    lookups=(Lookup("KundenCode", "kunde", "parentcustomerid_account", missing="omit"),),
    owner_field=None,
    created_field="AngelegtAm",
    columns=(Column("w4a_maincontact", "Boolean", "Main contact (work4all)"),),
    shape=_contact_shape,
    notes=("Ansprechpartner become contacts whose parentcustomerid is their Kunde's or Lieferant's account.",),
)



def setting(s, obj: str, name: str) -> str:
    """A per-object setting of the approved map (``options:``; ``shaping.settings``, shared/mapping/apply.py),
    else its default (the first value ``shared.mapping.catalogue.SETTINGS`` declares)."""
    from ..mapping.catalogue import settings_of

    chosen = (getattr(s, "settings", None) or {}).get(obj, {}).get(name)
    return chosen or settings_of(SOURCE, obj)[name][0]


# --------------------------------------------------------------------------- opportunities

#: the stage table: work4all Phase -> Dataverse salesstage (0 Qualify, 1 Develop, 2 Propose, 3 Close); edit
#: it in the map (the value map of Phase) for a tenant's own phases
PHASES = {"Erstkontakt": 0, "Qualifizierung": 0, "Lead": 0, "Bedarfsanalyse": 1, "Analyse": 1, "Angebot": 2,
          "Angebotserstellung": 2, "Verhandlung": 3, "Abschluss": 3, "Gewonnen": 3, "Verloren": 3}
STEP_NAMES = {0: "1-Qualify", 1: "2-Develop", 2: "3-Propose", 3: "4-Close"}
WON, LOST, OPEN = "gewonnen", "verloren", "offen"


def _opportunity_shape(src: dict, body: dict, warn, s) -> dict:
    if "salesstage" in body:
        body["stepname"] = STEP_NAMES[body["salesstage"]]
    elif src.get("Phase"):
        warn("unmapped_value", "Phase", f"phase {src.get('Phase')!r} is not in the stage table; the opportunity "
                                        "has no sales stage (the work4all phase is in w4a_phase)")
    if "parentaccountid@odata.bind" in body:
        body["customerid_account@odata.bind"] = body["parentaccountid@odata.bind"]
    elif "parentcontactid@odata.bind" in body:
        body["customerid_contact@odata.bind"] = body["parentcontactid@odata.bind"]
    status = (src.get("Status") or "").strip().casefold()
    if status not in (WON, LOST, OPEN, ""):
        warn("unmapped_value", "Status", f"status {src.get('Status')!r} is not Offen, Gewonnen or Verloren; the "
                                         "opportunity stays open")
    if status in (WON, LOST) and not body.get("estimatedclosedate"):
        warn("missing_value", "Abschlussdatum", "a won or lost opportunity without a valid Abschlussdatum: "
                                                "Dataverse records the day of the migration as its close date")
    return body


def _opportunity_close(src: dict, body: dict) -> tuple[str, dict] | None:
    """Won and lost the Dataverse way (the same Close as WORKetc's deals: WinOpportunity / LoseOpportunity,
    learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/winopportunity)."""
    status = (src.get("Status") or "").strip().casefold()
    if status not in (WON, LOST):
        return None
    won = status == WON
    close: dict[str, Any] = {
        "subject": f"{'Gewonnen' if won else 'Verloren'}: {body.get('name') or src.get('Code')}"[:200],
        "actualrevenue": body.get("estimatedvalue", 0) if won else 0,
    }
    if body.get("estimatedclosedate"):
        close["actualend"] = f"{body['estimatedclosedate']}T00:00:00Z"
    return ("WinOpportunity", {"Status": 3, "OpportunityClose": close}) if won else \
        ("LoseOpportunity", {"Status": 4, "OpportunityClose": close})


VERKAUFSCHANCE = ObjectSpec(
    name="verkaufschance",
    source=SOURCE,
    file="Verkaufschancen",
    table="opportunity",
    key_field="Code",
    key_column=KEY,
    depends_on=("kunde", "ansprechpartner", "mitarbeiter"),
    fields=(
        Field("Bezeichnung", "name"),
        Field("Phase", "salesstage", "option", options=PHASES),
        Field("Phase", "w4a_phase"),
        Field("Wahrscheinlichkeit", "closeprobability", "int"),
        Field("Wert", "estimatedvalue", "money"),
        Field("Waehrung", "transactioncurrencyid", "currency"),
        Field("Abschlussdatum", "estimatedclosedate", "date"),
        Field("Status", "w4a_status"),
    ),
    lookups=(Lookup("KundenCode", "kunde", "parentaccountid", missing="omit"),
             Lookup("AnsprechpartnerCode", "ansprechpartner", "parentcontactid", missing="omit")),
    owner_field="Vertreter",
    created_field="AngelegtAm",
    columns=(Column("w4a_phase", "String", "Phase (work4all)", max_length=100),
             Column("w4a_status", "String", "Status (work4all)", max_length=50)),
    shape=_opportunity_shape,
    close=Close("OpportunityClose", "opportunityid", _opportunity_close),
    notes=("Phases map onto Dataverse's sales stages through the stage table (PHASES, the value map of Phase); the "
           "work4all phase stays in w4a_phase. Won and lost opportunities are closed with WinOpportunity / "
           "LoseOpportunity.",
           "An unknown currency (Waehrung) rejects the opportunity: it is never loaded as EUR."),
)

# --------------------------------------------------------------------------- products and price lists

#: the unit group every work4all Artikel is sold in (work4all units stay in w4a_unit); created by prepare
UNIT_GROUP, BASE_UNIT = "work4all", "Einheit"


def _units(s) -> dict:
    units = s.ctx.config.get("units")
    if not units:
        raise RuntimeError("units.json is missing from staging: prepare the artikel object first")
    return units


def _product_shape(src: dict, body: dict, warn, s) -> dict:
    units = _units(s)
    body["defaultuomscheduleid@odata.bind"] = f"/uomschedules({units['uomscheduleid']})"
    body["defaultuomid@odata.bind"] = f"/uoms({units['uomid']})"
    body["quantitydecimal"] = 2
    body.setdefault("productnumber", f"W4A-{src.get('Code')}")
    body.setdefault("name", body["productnumber"])
    return body


def _publish(src: dict, body: dict) -> tuple[str, dict] | None:
    """A product is created as a Draft and cannot be used until it is published
    (learn.microsoft.com/dynamics365/sales/developer/publish-revise-revert-retire-activate-products):
    PublishProductHierarchy, bound to the product; it ends Active (statecode 0, statuscode 1)."""
    return "PublishProductHierarchy", {"statecode": 0, "statuscode": 1}


ARTIKEL = ObjectSpec(
    name="artikel",
    source=SOURCE,
    file="Artikel",
    table="product",
    key_field="Code",
    key_column=KEY,
    depends_on=("mitarbeiter",),
    fields=(
        Field("Bezeichnung", "name"),
        Field("Nummer", "productnumber"),
        Field("Langtext", "description", "memo"),
        Field("VKPreis", "price", "money"),
        Field("EKPreis", "standardcost", "money"),
        Field("Einheit", "w4a_unit"),
        Field("Lagerbestand", "w4a_stock", "decimal"),
        Field("Warengruppe", "w4a_productgroup"),
        Field("Gesperrt", "w4a_blocked", "bool"),
    ),
    owner_field=None,  # products are organization-owned
    created_field=None,
    columns=(Column("w4a_unit", "String", "Unit (work4all)", max_length=50),
             Column("w4a_stock", "Decimal", "Stock (work4all)"),
             Column("w4a_productgroup", "String", "Product group (work4all)", max_length=100),
             Column("w4a_blocked", "Boolean", "Blocked (work4all)")),
    shape=_product_shape,
    close=Close(None, None, _publish, reopen_status=1),
    notes=("Artikel become products in the unit group 'work4all' (base unit 'Einheit'; the work4all unit stays in "
           "w4a_unit), published (PublishProductHierarchy) so quotes, orders and price lists can use them.",),
)


def _price_item_shape(src: dict, body: dict, warn, s) -> dict:
    from ..transform import Reject

    units = _units(s)
    iso = (src.get("Waehrung") or "EUR").strip().upper()
    if iso not in s.ctx.currencies:
        raise Reject("unknown_currency", "Waehrung", f"currency {iso!r} is not a transactioncurrency in Dynamics "
                                                     "365; add it, then rerun")
    body["pricelevelid@odata.bind"] = key_ref("pricelevels", KEY, price_level_key(src.get("Preisliste") or "", iso))
    body["uomid@odata.bind"] = f"/uoms({units['uomid']})"
    body["pricingmethodcode"] = 1  # Currency Amount
    return body


def price_level_key(name: str, iso: str) -> str:
    """Source id of the pricelevel of a Preisliste in a currency."""
    return f"preisliste:{name.strip()}:{iso.upper()}"


PREISLISTE = ObjectSpec(
    name="preisliste",
    source=SOURCE,
    file="Preislisten",
    table="productpricelevel",
    key_field="Preisliste+ArtikelCode",
    key_column=KEY,
    depends_on=("artikel",),
    fields=(Field("Preis", "amount", "money"), Field("Waehrung", "transactioncurrencyid", "currency")),
    lookups=(Lookup("ArtikelCode", "artikel", "productid", missing="reject"),),
    owner_field=None,
    created_field=None,
    shape=_price_item_shape,
    notes=("Each Preisliste becomes a pricelevel per currency (created before loading), each row a "
           "productpricelevel of a published product.",),
)

# --------------------------------------------------------------------------- Belege (documents) and lines

#: Belegart -> Dataverse table (offers and orders -> quote, invoices and credit memos -> invoice; cost
#: receipts of suppliers -> a note on the supplier's account). Rechnungen are won business: by default
#: (the map setting ``invoices_as: opportunity``) a won opportunity with opportunityproduct lines, as the seed
#: says; ``invoices_as: invoice`` keeps them Dynamics invoices. Gutschriften stay invoices either way: a
#: credit memo is not won business, and an opportunity of negative lines would be.
BELEG_TABLES = {"Angebot": "quote", "Auftrag": "quote", "Rechnung": "invoice", "Gutschrift": "invoice",
                "Kostenbeleg": "annotation"}
LINE_TABLES = {"quote": "quotedetail", "invoice": "invoicedetail", "opportunity": "opportunityproduct"}
#: a Beleg's table -> the navigation property of its lines to it (quotedetail.quoteid, ...)
LINE_PARENT = {"quotedetail": "quoteid", "invoicedetail": "invoiceid", "opportunityproduct": "opportunityid"}


def beleg_table(kind: str, s) -> str | None:
    """The table a Beleg of Belegart ``kind`` becomes, under the map's setting ``invoices_as``."""
    if kind == "Rechnung" and setting(s, "beleg", "invoices_as") == "opportunity":
        return "opportunity"
    return BELEG_TABLES.get(kind)


def _beleg_bind(bound: str, table: str) -> str:
    """A bind to a Beleg (made with the beleg object's entity set, quotes) in the table it became."""
    return bound.replace("/quotes(", f"/{entity_set(table)}(", 1)


def _belegart(src: dict) -> str:
    kind = (src.get("Belegart") or "").strip()
    return next((k for k in BELEG_TABLES if k.casefold() == kind.casefold()), kind)


def _note_value(column: str, raw: str) -> str:
    """A value written into a note the same whichever way the source spelled it (``341350,57`` from the API,
    ``341.350,57`` in the export): amounts as ``1.234,56``, dates as ``dd.mm.yyyy``; unreadable ones as written."""
    from ..sources.work4all import values

    try:
        if column in ("Netto", "MwSt", "Brutto", "Einzelpreis", "Rabatt", "Gesamtpreis"):
            text = f"{values.parse_number(raw):,.2f}"
            return text.replace(",", " ").replace(".", ",").replace(" ", ".")
        if column == "Datum":
            return values.parse_date(raw).strftime("%d.%m.%Y")
    except ValueError:
        pass
    return raw


def _beleg_shape(src: dict, body: dict, warn, s) -> dict:
    from ..transform import Reject

    code, kind = src.get("Code"), _belegart(src)
    table = beleg_table(kind, s)
    if table is None:
        raise Reject("unknown_type", "Belegart", f"Belegart {src.get('Belegart')!r} is not one of "
                                                 f"{sorted(BELEG_TABLES)}")
    s.table = src["_tabelle"] = table  # the close hook reads it (_beleg_close)
    customer = s.bind("kunde", src.get("KundenCode"))
    supplier = s.bind("lieferant", src.get("LieferantenCode"))
    if table == "annotation":
        if not (supplier or customer):
            raise Reject("missing_parent", "LieferantenCode", "a Kostenbeleg without a migrated Lieferant (or Kunde): "
                                                              "the note has no account to attach to")
        text = "\n".join(f"{k}: {_note_value(k, src.get(k))}" for k in ("Nummer", "Datum", "Netto", "MwSt", "Brutto",
                                                                        "Waehrung", "Status", "PdfDatei") if src.get(k))
        note = {"subject": s.fit(f"{kind} {src.get('Nummer') or code}", 500, "Nummer", warn), "notetext": text,
                "objectid_account@odata.bind": supplier or customer,
                "overriddencreatedon": body.get("overriddencreatedon")}
        return {k: v for k, v in note.items() if v is not None}
    lines = s.ctx.config.get("belegposition_index")
    if lines is None:
        raise Reject("lines_absent", "Code", "Belegpositionen is not in the export (a light licence cannot export "
                                             "it?): the Beleg is not loaded without its lines; deliver "
                                             "Belegpositionen and rerun")
    if str(code) not in lines:
        raise Reject("no_lines", "Code", f"{kind} {src.get('Nummer') or code} has no Belegpositionen in the export: "
                                         "not loaded half; deliver its lines and rerun")
    if not customer:
        raise Reject("missing_parent", "KundenCode", f"KundenCode {src.get('KundenCode')!r} is not a migrated Kunde: "
                                                     f"a {table} needs its customer")
    body["customerid_account@odata.bind"] = customer
    number = src.get("Nummer") or str(code)
    iso = (src.get("Waehrung") or "").strip().upper()
    if iso:
        body["pricelevelid@odata.bind"] = key_ref("pricelevels", KEY, price_list_key(SOURCE, iso))
    if table == "opportunity":  # won business: its own won opportunity (see BELEG's notes)
        body["parentaccountid@odata.bind"] = customer
        body["name"] = s.fit(f"{kind} {number}", 300, "Nummer", warn)
        if "w4a_net" in body:
            body["estimatedvalue"] = body["w4a_net"]
        if "w4a_documentdate" in body:
            body["estimatedclosedate"] = body["w4a_documentdate"]
        if src.get("VerkaufschanceCode"):
            body["w4a_salesopportunity"] = s.fit(str(src["VerkaufschanceCode"]).strip(), 50, "VerkaufschanceCode",
                                                 warn)
        return body
    opportunity = s.bind("verkaufschance", src.get("VerkaufschanceCode"))
    if opportunity:
        body["opportunityid@odata.bind"] = opportunity
    elif src.get("VerkaufschanceCode"):
        warn("missing_parent", "VerkaufschanceCode", "not a migrated Verkaufschance; the link was not migrated")
    body["name"] = s.fit(f"{kind} {number}", 300, "Nummer", warn)
    body["quotenumber" if table == "quote" else "invoicenumber"] = s.fit(number, 100, "Nummer", warn)
    return body


def _beleg_close(src: dict, body: dict) -> tuple[str, dict] | None:
    """A Rechnung that became an opportunity is won business: WinOpportunity (learn.microsoft.com/power-apps/
    developer/data-platform/webapi/reference/winopportunity) with the invoice's net amount and date. Its lines
    (belegposition, ``inside`` this object) load later: the loader reopens it, adds them and wins it again."""
    if src.get("_tabelle") != "opportunity":
        return None
    close: dict[str, Any] = {"subject": f"Gewonnen: {body.get('name') or src.get('Code')}"[:200],
                             "actualrevenue": body.get("estimatedvalue", 0)}
    if body.get("estimatedclosedate"):
        close["actualend"] = f"{body['estimatedclosedate']}T00:00:00Z"
    return "WinOpportunity", {"Status": 3, "OpportunityClose": close}


BELEG = ObjectSpec(
    name="beleg",
    source=SOURCE,
    file="Belege",
    table="quote",
    # the shape hook picks the table from Belegart and the map setting invoices_as (beleg_table)
    route=Route("_tabelle", {t: t for t in ("quote", "invoice", "opportunity", "annotation")}),
    key_field="Code",
    key_column=KEY,
    key_prefix="beleg-",  # a Rechnung's opportunity shares the table with Verkaufschancen, never a key
    depends_on=("kunde", "lieferant", "verkaufschance", "belegposition_index", "mitarbeiter"),
    uses_config=("belegposition_index",),
    price_lists=True,
    fields=(
        Field("Waehrung", "transactioncurrencyid", "currency"),
        Field("Belegart", "w4a_documenttype"),
        Field("Datum", "w4a_documentdate", "date"),
        Field("Netto", "w4a_net", "money"),
        Field("MwSt", "w4a_tax", "money"),
        Field("Brutto", "w4a_gross", "money"),
        Field("Status", "w4a_documentstatus"),
        Field("PdfDatei", "w4a_pdffile"),
    ),
    owner_field=None,
    created_field="Datum",
    columns=(Column("w4a_documenttype", "String", "Document type (work4all Belegart)", max_length=50),
             Column("w4a_documentdate", "DateTime", "Document date (work4all)", date_only=True),
             Column("w4a_net", "Money", "Net (work4all)"),
             Column("w4a_tax", "Money", "VAT (work4all)"),
             Column("w4a_gross", "Money", "Gross (work4all)"),
             Column("w4a_documentstatus", "String", "Status (work4all)", max_length=50),
             Column("w4a_pdffile", "String", "PDF file (work4all)", max_length=400),
             Column("w4a_salesopportunity", "String", "Verkaufschance (work4all Code)", max_length=50,
                    table="opportunity")),
    shape=_beleg_shape,
    close=Close("OpportunityClose", "opportunityid", _beleg_close),
    notes=("Angebote and Auftraege become quotes, Gutschriften invoices (a migration price list per currency; "
           "work4all's net, VAT and gross kept beside Dataverse's own totals), each bound to its customer and "
           "Verkaufschance; Kostenbelege become notes on the supplier's account.",
           "Rechnungen (won business) become, by default (map setting invoices_as: opportunity), a won opportunity "
           "each (keyed beleg-<Code>; estimated value and actual revenue = Netto, closed won on the invoice date) "
           "with opportunityproduct lines; with invoices_as: invoice, a Dynamics invoice with invoicedetail lines. "
           "The opportunity is the Rechnung's own, never its Verkaufschance (which keeps its own status, value and "
           "close; two invoices would double its revenue): the Verkaufschance's Code is kept in "
           "w4a_salesopportunity. Gutschriften stay invoices in both settings (negative opportunity lines would "
           "be won business that is not).",
           "A quote, invoice or opportunity whose Belegpositionen are missing from the export is rejected, never "
           "loaded without its lines."),
)


def _line_index(rows: list[dict]) -> tuple[dict, list]:
    """Belegpositionen -> the Belege that have lines (``{BelegCode: count}``)."""
    index: dict[str, int] = {}
    rejects = []
    for r in rows:
        code = (r.get("BelegCode") or "").strip()
        if not code:
            rejects.append((r, "BelegCode", "missing_parent", "a Belegposition without BelegCode"))
            continue
        index[code] = index.get(code, 0) + 1
    return index, rejects


BELEGPOSITION_INDEX = ObjectSpec(
    name="belegposition_index",
    counted_in="belegposition",
    source=SOURCE,
    file="Belegpositionen",
    pipeline="config",
    key_field="Code",
    key_column=KEY,
    owner_field=None,
    created_field=None,
    configure=_line_index,
    notes=("Counts the Belegpositionen per Beleg before any Beleg loads (a Beleg without lines is rejected); the "
           "lines themselves load as belegposition.",),
)


def _belegart_index(rows: list[dict]) -> tuple[dict, list]:
    """Belege -> ``{Code: Belegart}``, and for a Kostenbeleg ``{"lieferant:<Code>": LieferantenCode}`` too."""
    index: dict[str, str] = {}
    for r in rows:
        code = str(r.get("Code") or "").strip()
        if code:
            index[code] = _belegart(r)
            if index[code] == "Kostenbeleg" and r.get("LieferantenCode"):
                index[f"lieferant:{code}"] = str(r["LieferantenCode"]).strip()
    return index, []


BELEGART_INDEX = ObjectSpec(
    name="belegart_index",
    counted_in="beleg",
    source=SOURCE,
    file="Belege",
    pipeline="config",
    key_field="Code",
    key_column=KEY,
    owner_field=None,
    created_field=None,
    configure=_belegart_index,
    notes=("Which table each Beleg went to (quote or invoice), for its lines.",),
)


def _line_shape(src: dict, body: dict, warn, s) -> dict:
    from ..transform import Reject

    parent = str(src.get("BelegCode") or "").strip()
    kind = s.ctx.config.get("belegart_index", {}).get(parent)
    table = LINE_TABLES.get(beleg_table(kind or "", s) or "")
    if kind == "Kostenbeleg":  # a cost receipt is a note on the supplier's account; so is each of its lines
        supplier = s.bind("lieferant", s.ctx.config.get("belegart_index", {}).get(f"lieferant:{parent}"))
        if not supplier:
            raise Reject("missing_parent", "BelegCode", f"the Kostenbeleg {parent!r} has no migrated Lieferant: its "
                                                        "line has no account to go with")
        s.table = "annotation"
        text = "\n".join(f"{k}: {_note_value(k, src.get(k))}" for k in ("Bezeichnung", "ArtikelCode", "Menge",
                                                                        "Einheit", "Einzelpreis", "Rabatt",
                                                                        "Gesamtpreis") if src.get(k))
        return {"subject": f"Kostenbeleg {parent}, Position {src.get('Position') or src.get('Code')}",
                "notetext": text, "objectid_account@odata.bind": supplier}
    bound = s.bind("beleg", parent) if table else None
    if not bound:
        raise Reject("missing_parent", "BelegCode", f"BelegCode {parent!r} is not a migrated quote or invoice "
                                                    "(missing in the export or rejected)")
    s.table = table
    header = LINE_PARENT[table].removesuffix("id")
    body[f"{LINE_PARENT[table]}@odata.bind"] = _beleg_bind(bound, header)
    product = s.bind("artikel", src.get("ArtikelCode"))
    if product:
        body["productid@odata.bind"] = product
        body["uomid@odata.bind"] = f"/uoms({_units(s)['uomid']})"
        body["ispriceoverridden"] = True  # the work4all price of the Beleg, not the price list's
    else:
        if src.get("ArtikelCode"):
            warn("missing_parent", "ArtikelCode", "not a migrated Artikel; the line is a write-in product")
        body["isproductoverridden"] = True
        body["productdescription"] = s.fit(src.get("Bezeichnung") or f"Position {src.get('Position')}", 500,
                                           "Bezeichnung", warn)
    if src.get("Position") and table != "opportunityproduct":  # an opportunity line has no line number
        try:
            body["lineitemnumber"] = int(str(src["Position"]).strip())
        except ValueError:
            warn("invalid_value", "Position", f"Position {src['Position']!r} is not a whole number")
    return body


BELEGPOSITION = ObjectSpec(
    name="belegposition",
    source=SOURCE,
    file="Belegpositionen",
    table="quotedetail",
    # the table follows the line's Beleg (its shape picks it): quote -> quotedetail, invoice -> invoicedetail
    route=Route("_belegtabelle", {"quote": "quotedetail", "invoice": "invoicedetail",
                                  "opportunity": "opportunityproduct", "annotation": "annotation"}),
    key_field="Code",
    key_column=KEY,
    # lines of a won opportunity (a Rechnung): a closed opportunity is read-only, so the loader reopens it,
    # writes them and wins it again (shared/steps/load.py, rows inside a closed record)
    inside="beleg",
    depends_on=("beleg", "artikel", "lieferant", "belegart_index"),
    uses_config=("belegart_index",),
    fields=(
        Field("Menge", "quantity", "decimal", precision=5),
        Field("Einzelpreis", "priceperunit", "money"),
        Field("Rabatt", "manualdiscountamount", "money"),
        Field("Gesamtpreis", "w4a_linetotal", "money"),
        Field("Bezeichnung", "description", "memo"),
    ),
    owner_field=None,
    created_field=None,
    columns=(Column("w4a_linetotal", "Money", "Line total (work4all)"),),
    shape=_line_shape,
    notes=("Belegpositionen become quotedetail / invoicedetail / opportunityproduct lines of their Beleg (as the "
           "Beleg's map setting invoices_as says): a published product with the Beleg's own price "
           "(ispriceoverridden), or a write-in line when the Artikel is not migrated; a line of a Kostenbeleg "
           "becomes a note on the supplier's account, as the receipt does.",
           "An opportunityproduct has no line number: the Position of a Rechnung's line is not carried.",
           "The lines of a won opportunity are added by reopening it and winning it again with its first close's "
           "subject, revenue and date (a closed opportunity is read-only); the first close activity stays, "
           "canceled."),
)

def _pdf_shape(src: dict, body: dict, warn, s) -> dict:
    """A Beleg's PDF -> SharePoint, in the folder of the record the Beleg became (shared/steps/documents.py)."""
    from ..transform import Reject

    path = (src.get("PdfDatei") or "").strip().replace("\\", "/")
    if not path:
        raise Reject("no_document", "PdfDatei", "the Beleg has no PdfDatei: no document to copy")
    kind, code = _belegart(src), str(src.get("Code") or "").strip()
    table = beleg_table(kind, s)
    if table == "annotation":  # a cost receipt: its note is on the supplier's account, and so is its PDF
        obj, ref = "lieferant", (src.get("LieferantenCode") or "").strip()
    elif table:
        obj, ref = "beleg", code
    else:
        raise Reject("unknown_type", "Belegart", f"Belegart {kind!r} is not one of {sorted(BELEG_TABLES)}")
    t = s.ctx.lookup_targets[obj]
    if not t.has(ref):
        raise Reject("missing_parent", "Code", f"the {kind} {src.get('Nummer') or code} is not migrated; its PDF "
                                               "has no record to go with")
    target = "account" if obj == "lieferant" else table
    regarding = {"object": obj, "table": target, "entity_set": entity_set(target), "key_column": KEY,
                 "key": f"{t.key_prefix}{ref}"}
    if kind == "Rechnung":  # documents are not in the map: the Rechnung is the opportunity or the invoice the map chose
        regarding["or"] = [{"table": x, "entity_set": entity_set(x)} for x in ("opportunity", "invoice") if x != target]
    return {"FileName": path.rsplit("/", 1)[-1], "MimeType": "application/pdf", "Path": path, "regarding": regarding}


BELEG_PDF = ObjectSpec(
    name="beleg_pdf",
    counted_in="beleg",
    source=SOURCE,
    file="Belege",
    table="sharepointdocumentlocation",
    key_field="Code",
    key_column=KEY,  # the documents code keys this source's SharePoint sites and locations by it
    key_prefix="pdf-",
    depends_on=("beleg", "lieferant"),
    load_activity="transfer_documents",
    owner_field=None,
    created_field=None,
    shape=_pdf_shape,
    notes=("The PDFs of Belege (PdfDatei, under Dateien/) go to SharePoint through the shared documents code, a "
           "folder per quote, invoice, opportunity (a Rechnung) or (cost receipts) supplier account; a Beleg without a PdfDatei is listed "
           "with code no_document.",),
)

# --------------------------------------------------------------------------- open items


def _payments(rows: list[dict]) -> tuple[dict, list]:
    from ..sources.work4all.openitems import payments_config

    return payments_config(rows)


ZAHLUNG = ObjectSpec(
    name="zahlung",
    source=SOURCE,
    file="Zahlungen",
    pipeline="config",
    key_field="Code",
    key_column=KEY,
    owner_field=None,
    created_field=None,
    configure=_payments,
    notes=("Zahlungen are not records in Dynamics 365: they are summed per open item, which loads with its open "
           "amount (Rechnungsbetrag minus the payments) and the sum paid.",),
)


def _open_item_shape(src: dict, body: dict, warn, s) -> dict:
    from ..sources.work4all.openitems import receivable, shape_open_item

    body = shape_open_item(src, body, warn, s)
    if setting(s, "offener_posten", "open_items_as") == "receivable":
        s.table = "opportunity"
        return receivable(src, body, warn, s)
    return body


OFFENER_POSTEN = ObjectSpec(
    name="offener_posten",
    source=SOURCE,
    file="OffenePosten",
    table="w4a_openitem",
    custom_table=("w4a_openitem", "Open item (work4all)", "Open items (work4all)"),
    # the map setting open_items_as picks the table: openitem (w4a_openitem) or receivable (an open opportunity)
    route=Route("_tabelle", {"openitem": "w4a_openitem", "receivable": "opportunity"}),
    key_field="Code",
    key_column=KEY,
    key_prefix="posten-",  # a receivable shares the opportunity table with Verkaufschancen, never a key
    depends_on=("kunde", "beleg", "zahlung", "mitarbeiter"),
    uses_config=("zahlung",),
    fields=(
        Field("Rechnungsnummer", "w4a_name"),
        Field("Rechnungsdatum", "w4a_invoicedate", "date"),
        Field("Faellig", "w4a_duedate", "date"),
        Field("Art", "w4a_type"),
    ),
    lookups=(Lookup("KundenCode", "kunde", "w4a_accountid", missing="reject"),),
    owner_field=None,
    created_field=None,
    columns=(Column("w4a_invoicedate", "DateTime", "Invoice date", date_only=True),
             Column("w4a_duedate", "DateTime", "Due date", date_only=True),
             Column("w4a_type", "String", "Type (Rechnung, Gutschrift)", max_length=50),
             Column("w4a_amount", "Money", "Invoice amount (credit memos negative)"),
             Column("w4a_paid", "Money", "Paid (sum of payments)"),
             Column("w4a_openamount", "Money", "Open amount"),
             Column("w4a_reconciliation", "String", "Reconciliation (ok, partial, overpaid, ...)", max_length=50),
             Column("w4a_accountid", "Lookup", "Account", target="account", table="w4a_openitem")),
    shape=_open_item_shape,
    notes=("Open items land, by default (map setting open_items_as: openitem), in the custom table w4a_openitem "
           "bound to the customer's account: amount (credit memos negative), paid (sum of Zahlungen) and open "
           "amount, reconciled before loading; openitems_reconciliation.csv lists every item whose payments exceed "
           "or do not match its amount.",
           "With open_items_as: receivable each open item is an open opportunity of the customer's account instead "
           "(lossy: a receivable is not pipeline; keyed posten-<Code>): name 'Offener Posten <Rechnungsnummer>', "
           "estimated value = the open amount (the amount when Zahlungen are absent), estimated close date = the "
           "due date, left open, with the same w4a_ amount, paid, open amount, type and reconciliation columns; it "
           "has no sales stage or probability. The custom table w4a_openitem is then not created.",),
)

# --------------------------------------------------------------------------- activities


def _regarding(src: dict, s) -> tuple[str, str] | None:
    """The contact, else the Kunde's, else the Lieferant's account: (nav target table, bind)."""
    for column, obj, table in (("AnsprechpartnerCode", "ansprechpartner", "contact"),
                               ("KundenCode", "kunde", "account"), ("LieferantenCode", "lieferant", "account")):
        bound = s.bind(obj, src.get(column)) if column in src and obj in s.ctx.lookup_targets else None
        if bound:
            return table, bound
    return None


def _bind_regarding(src: dict, body: dict, warn, s, table: str) -> None:
    hit = _regarding(src, s)
    if hit is None:
        named = [c for c in ("AnsprechpartnerCode", "KundenCode", "LieferantenCode") if src.get(c)]
        if named:
            warn("missing_parent", named[0], "not a migrated contact or account; the link was not migrated")
        return
    target, bound = hit
    nav = f"objectid_{target}" if table == "annotation" else f"regardingobjectid_{target}_{table}"
    body[f"{nav}@odata.bind"] = bound


def _phonecall_shape(src: dict, body: dict, warn, s) -> dict:
    start = s.try_convert("datetime", src.get("Datum"), "Datum", warn)
    minutes = s.try_convert("int", src.get("Dauer"), "Dauer", warn)
    if start:
        body["actualstart"] = start
        end = datetime.strptime(start, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        body["actualend"] = (end + timedelta(minutes=minutes or 0)).strftime("%Y-%m-%dT%H:%M:%SZ")
    direction = (src.get("Richtung") or "").strip().casefold()
    if direction not in ("eingehend", "ausgehend", ""):
        warn("unmapped_value", "Richtung", f"Richtung {src.get('Richtung')!r} is neither eingehend nor ausgehend; "
                                           "migrated as ausgehend")
    outgoing = direction != "eingehend"
    body["directioncode"] = outgoing
    note = src.get("Notiz") or ""
    first = note.strip().splitlines()[0] if note.strip() else ""
    body["subject"] = s.fit(f"Telefonnotiz: {first}" if first else f"Telefonnotiz {src.get('Code')}", 200, "Notiz",
                            warn)
    _bind_regarding(src, body, warn, s, "phonecall")
    body["statecode"], body["statuscode"] = 1, (2 if outgoing else 4)  # Completed: Made / Received
    return body


TELEFONNOTIZ = ObjectSpec(
    name="telefonnotiz",
    source=SOURCE,
    file="Telefonnotizen",
    table="phonecall",
    key_field="Code",
    key_column=KEY,
    depends_on=("kunde", "lieferant", "ansprechpartner", "mitarbeiter"),
    fields=(Field("Rufnummer", "phonenumber", "phone"), Field("Notiz", "description", "memo"),
            Field("Dauer", "actualdurationminutes", "int")),
    owner_field="Mitarbeiter",
    created_field="Datum",
    shape=_phonecall_shape,
    notes=("Telefonnotizen become completed phone calls (made or received by Richtung) with their original time as "
           "actual start/end and created-on, regarding the contact, else the account.",),
)

VISIT_TABLES = {"Bericht": "annotation", "Aufgabe": "task"}


def _visit_shape(src: dict, body: dict, warn, s) -> dict:
    table = s.table
    known = {"Code", "KundenCode", "AnsprechpartnerCode", "Datum", "Titel", "Bericht", "Mitarbeiter", "Art"}
    extension = [(k, v) for k, v in src.items() if not k.startswith("_") and k not in known and v not in (None, "")]
    title = src.get("Titel") or f"Besuchsbericht {src.get('Code')}"
    text = src.get("Bericht") or ""
    if table == "annotation":  # notes cannot take custom columns: the industry-extension fields go in the text
        text = "\n".join([text, *(f"{k}: {v}" for k, v in extension)]).strip()
        note = {"subject": s.fit(title, 500, "Titel", warn), "notetext": text or None,
                "ownerid@odata.bind": body.get("ownerid@odata.bind"),
                "overriddencreatedon": body.get("overriddencreatedon")}
        _bind_regarding(src, note, warn, s, "annotation")
        return {k: v for k, v in note.items() if v is not None}
    body["subject"] = s.fit(title, 200, "Titel", warn)
    if text:
        body["description"] = text
    start = s.try_convert("datetime", src.get("Datum"), "Datum", warn)
    if start:
        body["scheduledend"] = start
    _bind_regarding(src, body, warn, s, "task")
    return body


BESUCHSBERICHT = ObjectSpec(
    name="besuchsbericht",
    source=SOURCE,
    file="Besuchsberichte",
    table="task",
    route=Route("Art", VISIT_TABLES),
    key_field="Code",
    key_column=KEY,
    key_prefix="besuchsbericht-",  # Besuchsberichte and Aufgaben share the task table, never a key
    depends_on=("kunde", "ansprechpartner", "mitarbeiter"),
    owner_field="Mitarbeiter",
    created_field="Datum",
    shape=_visit_shape,
    notes=("Besuchsberichte of Art Bericht become notes (their industry-extension fields as lines of the text), "
           "those of Art Aufgabe tasks (the extension fields as proposed custom columns on task).",),
)

TASK_PRIORITY = {"niedrig": 0, "normal": 1, "hoch": 2}  # task.prioritycode: Low, Normal, High


def _task_shape(src: dict, body: dict, warn, s) -> dict:
    status = (src.get("Status") or "").strip().casefold()
    if status == "erledigt":
        body["statecode"], body["statuscode"] = 1, 5  # Completed
    elif status not in ("offen", ""):
        warn("unmapped_value", "Status", f"Status {src.get('Status')!r} is neither offen nor erledigt; the task "
                                         "stays open")
    beleg = s.bind("beleg", src.get("BelegCode")) if src.get("BelegCode") else None
    if beleg:
        kind = s.ctx.config.get("belegart_index", {}).get(str(src.get("BelegCode")).strip())
        table = beleg_table(kind or "", s) or "quote"
        if table in ("quote", "invoice", "opportunity"):
            body[f"regardingobjectid_{table}_task@odata.bind"] = _beleg_bind(beleg, table)
            return body
    _bind_regarding(src, body, warn, s, "task")
    return body


AUFGABE = ObjectSpec(
    name="aufgabe",
    source=SOURCE,
    file="Aufgaben",
    table="task",
    key_field="Code",
    key_column=KEY,
    key_prefix="aufgabe-",
    depends_on=("kunde", "ansprechpartner", "beleg", "belegart_index", "mitarbeiter"),
    uses_config=("belegart_index",),
    fields=(
        Field("Betreff", "subject"),
        Field("Notiz", "description", "memo"),
        Field("Prioritaet", "prioritycode", "option", options=TASK_PRIORITY),
        Field("Faellig", "scheduledend", "datetime"),
    ),
    owner_field="Mitarbeiter",
    created_field=None,
    shape=_task_shape,
    notes=("Aufgaben become tasks (erledigt ones completed), regarding their Beleg, else contact, else account.",),
)

OBJECTS: dict[str, ObjectSpec] = {s.name: s for s in (
    MITARBEITER, KUNDE, LIEFERANT, ANSPRECHPARTNER, VERKAUFSCHANCE, ARTIKEL, PREISLISTE, BELEGPOSITION_INDEX, BELEG,
    BELEGART_INDEX, BELEGPOSITION, BELEG_PDF, ZAHLUNG, OFFENER_POSTEN, TELEFONNOTIZ, BESUCHSBERICHT, AUFGABE)}

__all__ = ["OBJECTS", "SOURCE", "PHASES", "BELEG_TABLES", "UNIT_GROUP", "BASE_UNIT", "price_level_key"]
