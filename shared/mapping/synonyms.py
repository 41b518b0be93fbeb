"""How people head their columns, in English and German, and how to compare two headers.

Source-neutral data: a target column (a Dataverse logical name) -> the header variants that mean it, as
exports spell them (WORKetc, work4all, Excel lists). ``COMMON`` applies to every table that has the
column; ``BY_TABLE`` adds variants that mean that column only in that table ("Name" is an account's
name but a contact's last name; "Mitarbeiter" is an account's head count but a task's owner). A variant
ending in ``?`` is ambiguous: a match on it is at most "likely". The target's logical name and its
display name (which a German org answers in German) count as variants too.

Comparison (``match``): the folded header (case, umlauts, accents, punctuation and spaces removed)
equal to a variant's is an exact match; equal word sets after canonicalising words ("Telefon
geschäftlich" and "Business Phone" are both {phone, work}; German compounds are split on known words:
"Telefonnummer" = telefon + nummer) is a word match; otherwise rapidfuzz similarity, which is never
"sure".

``OPTION_SYNONYMS`` does the same for option labels in value maps: a source value -> the English option
label it means, flagged lossy where the label is coarser than the value ("Urgent" -> "High").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue",
                          "ẞ": "SS", "&": " and "})


def fold(text: str) -> str:
    """Lower case, umlauts spelled out (ä -> ae, ß -> ss), other accents dropped."""
    t = unicodedata.normalize("NFKD", text.translate(_UMLAUTS))
    return "".join(ch for ch in t if not unicodedata.combining(ch)).casefold()


def norm(text: str) -> str:
    """The folded text without anything but letters and digits: "E-Mail-Adresse" -> "emailadresse"
    ("%" and "#" are words: "% erledigt" is not "Erledigt")."""
    return re.sub(r"[^0-9a-z]+", "", fold(text).replace("%", "percent").replace("#", "number"))


#: word -> canonical word(s): English and German words that mean the same in a header
_WORDS: dict[str, tuple[str, ...]] = {}


def _words(canonical: str, *variants: str) -> None:
    for v in variants:
        _WORDS[v] = tuple(canonical.split())


_words("email", "email", "mail", "mails", "emails", "emailadresse", "mailadresse")
_words("address", "address", "adresse", "anschrift", "addr", "adr", "adresszeile", "addresse")
_words("street", "street", "strasse", "str", "st", "strase")
_words("phone", "phone", "telefon", "tel", "telephone", "fon", "rufnummer", "festnetz", "phones")
_words("number", "number", "nummer", "nr", "no", "num", "nro", "anzahl", "zahl", "count")
_words("mobile", "mobile", "mobil", "handy", "mobilfunk", "cell", "cellular", "cellphone")
_words("fax", "fax", "telefax")
_words("work", "work", "business", "office", "geschaeftlich", "buero", "dienstlich", "geschaefts", "arbeit", "main")
_words("home", "home", "privat", "private", "personal", "priv")
_words("company", "company", "firma", "firmen", "unternehmen", "organisation", "organization", "org", "betrieb",
       "companies")
_words("customer", "customer", "kunde", "kunden", "client", "klient", "debitor")
_words("first name", "firstname", "vorname", "forename")
_words("first", "first", "given")
_words("last name", "lastname", "nachname", "surname", "familienname", "zuname")
_words("last", "last", "family")
_words("postcode", "plz", "postleitzahl", "zip", "zipcode", "postcode", "postalcode")
_words("city", "city", "ort", "stadt", "town", "suburb", "wohnort", "ortschaft")
_words("country", "country", "land", "laender", "nation")
_words("state", "state", "bundesland", "province", "provinz", "region", "kanton", "stateorprovince")
_words("description", "description", "beschreibung", "desc", "langtext")
_words("notes", "notes", "note", "notiz", "notizen", "bemerkung", "bemerkungen", "kommentar", "kommentare",
       "comment", "comments", "anmerkung", "anmerkungen")
_words("website", "website", "webseite", "homepage", "internet", "web", "url", "www", "internetseite", "site", "page",
       "websiteurl", "webadresse", "internetadresse")
_words("created", "created", "erstellt", "angelegt", "creation", "anlage", "erstell", "erfasst", "erfassung",
       "createdon", "overriddencreatedon")
_words("modified", "modified", "geaendert", "changed", "updated", "aenderung", "modifiedon", "update")
# "Erledigt am" is a date, "Erledigt" a flag
_words("date", "date", "datum", "dt", "am", "on", "time", "zeit", "uhrzeit")
_words("owner", "owner", "besitzer", "ownerid")
_words("revenue", "revenue", "umsatz", "turnover")
_words("annual", "annual", "jahres", "jahr", "yearly")
_words("employees", "employees", "mitarbeiter", "staff", "angestellte", "beschaeftigte", "headcount", "employee")
_words("industry", "industry", "branche", "sector", "sektor", "industrie", "industrycode")
_words("salutation", "salutation", "anrede", "briefanrede")
_words("title", "title", "titel")
_words("job", "job", "beruf", "berufs")
_words("department", "department", "abteilung", "dept")
_words("subject", "subject", "betreff", "thema", "topic")
_words("priority", "priority", "prioritaet", "prio", "dringlichkeit", "prioritycode")
_words("due", "due", "faellig", "faelligkeit", "faelligkeits", "deadline")
_words("start", "start", "beginn", "anfang", "begin", "scheduledstart")
_words("end", "end", "ende")
_words("duration", "duration", "dauer", "gespraechsdauer")
_words("minutes", "minutes", "minuten", "min", "mins")
_words("direction", "direction", "richtung", "directioncode")
_words("probability", "probability", "wahrscheinlichkeit", "chance", "prob", "closeprobability")
_words("quantity", "quantity", "menge", "qty")
_words("price", "price", "preis", "preise")
_words("sales", "vk", "verkauf", "verkaufs", "selling")
_words("purchase", "ek", "einkauf", "einkaufs")
_words("currency", "currency", "waehrung", "whg", "curr")
_words("invoice", "invoice", "rechnung", "rechnungs", "re")
_words("discount", "discount", "rabatt", "nachlass")
_words("tax", "tax", "mwst", "steuer", "ust", "vat", "gst")
_words("net", "net", "netto")
_words("gross", "gross", "brutto")
_words("total", "total", "gesamt", "summe", "sum", "gesamtsumme")
_words("amount", "amount", "betrag", "betraege")
_words("value", "value", "wert", "volumen")
_words("status", "status", "zustand")
_words("type", "type", "typ", "art")
_words("category", "category", "kategorie")
_words("source", "source", "quelle", "herkunft")
_words("rating", "rating", "bewertung")
_words("birthday", "birthday", "geburtstag", "birthdate", "dob", "geburtsdatum")
_words("gender", "gender", "geschlecht", "sex")
_words("line", "line", "zeile")
_words("estimated", "estimated", "expected", "erwartet", "erwarteter", "erwartetes", "geschaetzt", "geschaetzter",
       "voraussichtlich", "voraussichtlicher", "est")
_words("close", "close", "closing", "abschluss", "abschluss")
_words("unit", "unit", "einheit", "uom")
_words("stock", "stock", "lagerbestand", "bestand", "inventory")
_words("weight", "weight", "gewicht")
_words("size", "size", "groesse")
_words("vendor", "vendor", "lieferant", "lieferanten", "supplier")
_words("delivery", "delivery", "liefer", "lieferung", "shipping", "ship", "versand")
_words("billing", "billing", "bill")
_words("percent", "percent", "prozent", "pct")
_words("progress", "progress", "fortschritt")
_words("complete", "complete", "completed", "erledigt")
_words("freight", "freight", "fracht")
_words("budget", "budget")
_words("product", "product", "produkt", "artikel", "item", "produkte")
_words("account", "account", "accounts")
_words("name", "name", "namen", "bezeichnung")
_words("call", "call", "anruf", "telefonat", "gespraech")
_words("assistant", "assistant", "asst", "assistent", "assistentin")
_words("contact", "contact", "kontakt", "ansprechpartner")

#: words that carry no meaning in a header
_STOP = frozenset("or and of the a an at in for to und oder der die das des dem den im zum zur von vom "
                  "fuer bei per 1 i".split())


#: German inflection endings: "geschaeftliche" is "geschaeftlich"
_ENDINGS = ("e", "es", "en", "em", "n", "s")  # not "er": "Anrufer" (caller) is no "Anruf" (call)


def _known(word: str) -> tuple[str, ...] | None:
    if word in _WORDS:
        return _WORDS[word]
    for end in _ENDINGS:
        if word.endswith(end) and word[: -len(end)] in _WORDS:
            return _WORDS[word[: -len(end)]]
    return None


def _split_compound(word: str) -> tuple[str, ...] | None:
    """A German (or run-together English) compound of known words: "telefonnummer" -> (phone, number)."""
    known = _known(word)
    if known is not None:
        return known
    for i in range(len(word) - 2, 1, -1):  # longest known head first
        head, tail = word[:i], word[i:]
        head_words = _WORDS.get(head) or (_WORDS.get(head[:-1]) if head.endswith(("s", "n")) else None)
        if head_words is None:
            continue
        if tail in _STOP:
            return head_words
        tail_words = _split_compound(tail)
        if tail_words is not None:
            return head_words + tail_words
    return None


@lru_cache(maxsize=8192)
def words(text: str) -> frozenset[str]:
    """The canonical words of a header: "Telefon (geschäftlich)" -> {phone, work}."""
    t = text.translate(_UMLAUTS)
    t = re.sub(r"(?i)\be[\s_-]?mail", "email", t)
    t = re.sub(r"([a-z])([A-Z])", r"\1 \2", t)
    t = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", t)
    t = re.sub(r"([A-Za-z])(\d)|(\d)([A-Za-z])", lambda m: " ".join(g for g in m.groups() if g), t)
    t = fold(t)
    t = re.sub(r"\b(post|postal|zip)\s*code\b", "postcode", t)
    t = t.replace("#", " number ").replace("%", " percent ")
    out: set[str] = set()
    for w in re.split(r"[^0-9a-z]+", t):
        if not w or w in _STOP:
            continue
        out.update(_split_compound(w) or (w,))
    return frozenset(out)


def digits(text: str) -> frozenset[str]:
    """Numbers in a header ("Telefon 2" -> {2}); "1" is what an unnumbered header means."""
    return frozenset(re.findall(r"\d+", text)) - {"1"}


# ------------------------------------------------------------------------------------------ columns

COMMON: dict[str, tuple[str, ...]] = {
    "emailaddress1": ("Email", "E-Mail", "E-Mail-Adresse", "Email Address", "E-mail address", "Mail", "EMail",
                      "Primary Email", "E-Mail 1", "E-Mail geschäftlich", "Business Email", "Work Email",
                      "Email (work)", "Mailadresse", "Primary E-mail"),
    "emailaddress2": ("Email 2", "E-Mail 2", "Secondary Email", "E-Mail privat", "Private Email", "Home Email",
                      "Personal Email", "Alternative E-Mail", "Alternate Email", "Weitere E-Mail"),
    "emailaddress3": ("Email 3", "E-Mail 3", "Other Email", "Andere E-Mail"),
    "telephone1": ("Phone", "Telefon", "Telephone", "Tel", "Phone Number", "Telefonnummer", "Business Phone",
                   "Work Phone", "Phone (work)", "Telefon geschäftlich", "Office Phone", "Main Phone", "Telefon 1",
                   "Phone 1", "Telefon Büro", "Geschäftstelefon", "Festnetz", "Tel. Firma"),
    "telephone2": ("Phone 2", "Telefon 2", "Telephone 2", "Home Phone", "Telefon privat", "Private Phone",
                   "Privattelefon", "Phone (home)", "Tel. 2"),
    "telephone3": ("Phone 3", "Telefon 3", "Telephone 3", "Tel. 3"),
    "mobilephone": ("Mobile", "Mobil", "Mobile Phone", "Mobiltelefon", "Handy", "Mobilnummer", "Mobilfunk",
                    "Cell", "Cell Phone", "Mobile Number", "Telefon mobil", "Mobilfunknummer", "Handynummer"),
    "fax": ("Fax", "Telefax", "Fax Number", "Faxnummer", "Fax geschäftlich", "Business Fax"),
    "websiteurl": ("Website", "Web Site", "Webseite", "Homepage", "Internet", "URL", "Web", "Internetseite",
                   "Internetadresse", "WWW", "Web Address", "Website URL"),
    "address1_line1": ("Street", "Strasse", "Straße", "Str.", "Address", "Adresse", "Address 1", "Address line 1",
                       "Street 1", "Street Address", "Anschrift", "Straße und Hausnummer", "Adresszeile 1",
                       "Straße/Hausnr."),
    "address1_line2": ("Address 2", "Address line 2", "Street 2", "Adresszeile 2", "Adresszusatz", "Straße 2"),
    "address1_line3": ("Address 3", "Address line 3", "Street 3", "Adresszeile 3"),
    "address1_city": ("City", "Ort", "Stadt", "Town", "Suburb", "Wohnort", "Town/City", "City/Town"),
    "address1_stateorprovince": ("State", "Bundesland", "Province", "State/Province", "Region", "Kanton",
                                 "Provinz", "State or Province"),
    "address1_postalcode": ("Zip", "PLZ", "Postcode", "Post Code", "Postal Code", "Zip Code", "ZIP/Postal Code",
                            "Zip/Postcode", "Postleitzahl", "Postal/Zip Code"),
    "address1_country": ("Country", "Land", "Country/Region", "Staat", "Nation", "Länderkennzeichen", "LKZ"),
    "address1_county": ("County", "Landkreis", "Kreis"),
    "address1_postofficebox": ("PO Box", "P.O. Box", "Postfach", "Post Office Box"),
    "description": ("Description", "Beschreibung", "Notes", "Notiz", "Notizen", "Bemerkung", "Bemerkungen",
                    "Kommentar", "Comments", "Comment", "Memo", "Note", "Details", "Body", "Text", "Inhalt"),
    "jobtitle": ("Job Title", "Position", "Funktion", "Job", "Berufsbezeichnung", "Stellung", "Jobtitel",
                 "Tätigkeit", "Title?", "Role?", "Rolle?"),
    "department": ("Department", "Abteilung", "Dept", "Bereich?", "Division?"),
    "salutation": ("Salutation", "Anrede", "Briefanrede"),
    "firstname": ("First Name", "Firstname", "Vorname", "Given Name", "Forename", "First"),
    "lastname": ("Last Name", "Lastname", "Nachname", "Surname", "Family Name", "Familienname", "Last"),
    "middlename": ("Middle Name", "Zweiter Vorname", "Middle Initial", "Weitere Vornamen"),
    "nickname": ("Nickname", "Spitzname", "Rufname"),
    "suffix": ("Suffix", "Namenszusatz"),
    "birthdate": ("Birthday", "Birthdate", "Date of Birth", "Geburtstag", "Geburtsdatum", "DOB"),
    "gendercode": ("Gender", "Geschlecht", "Sex"),
    "assistantname": ("Assistant", "Assistent", "Assistentin", "Assistant Name"),
    "managername": ("Manager", "Vorgesetzter", "Manager Name"),
    "spousesname": ("Spouse", "Ehepartner", "Spouse Name"),
    "companyname": ("Company", "Company Name", "Firma", "Firmenname", "Organisation", "Organization",
                    "Unternehmen", "Account Name"),
    "accountnumber": ("Account Number", "Kundennummer", "Kunden-Nr.", "Kd.-Nr.", "Customer Number", "Customer No",
                      "Debitorennummer", "Kundennr"),
    "revenue": ("Revenue", "Annual Revenue", "Umsatz", "Jahresumsatz", "Turnover", "Annual Sales", "Sales Volume"),
    "numberofemployees": ("Employees", "Number of Employees", "No. of Employees", "Mitarbeiter", "Anzahl Mitarbeiter",
                          "Mitarbeiterzahl", "Headcount", "Staff", "Beschäftigte", "Employee Count", "# Employees"),
    "industrycode": ("Industry", "Branche", "Sector", "Sektor", "Industrie", "Wirtschaftszweig", "Industry Sector"),
    "tickersymbol": ("Ticker", "Ticker Symbol", "Börsenkürzel", "Stock Symbol"),
    "sic": ("SIC", "SIC Code"),
    "customertypecode": ("Relationship Type", "Customer Type", "Kundentyp", "Kundenart", "Beziehungstyp",
                         "Account Type"),
    "paymenttermscode": ("Payment Terms", "Zahlungsbedingungen", "Zahlungsziel", "Zahlungsfrist", "Terms"),
    "creditlimit": ("Credit Limit", "Kreditlimit", "Kreditrahmen"),
    "creditonhold": ("Credit Hold", "Credit On Hold", "Kreditsperre"),
    "donotemail": ("Do Not Email", "No Email", "Keine E-Mail", "Email Opt Out", "E-Mail Opt-Out"),
    "donotphone": ("Do Not Call", "Do Not Phone", "Keine Anrufe"),
    "leadsourcecode": ("Lead Source", "Source", "Quelle", "Lead-Quelle", "Leadquelle", "Herkunft"),
    "leadqualitycode": ("Rating", "Lead Rating", "Bewertung", "Lead Quality", "Qualität"),
    "subject": ("Subject", "Betreff", "Topic", "Thema"),
    "ticketnumber": ("Ticket Number", "Case Number", "Ticketnummer", "Ticket No", "Vorgangsnummer"),
    "prioritycode": ("Priority", "Priorität", "Prio", "Dringlichkeit", "Importance", "Wichtigkeit"),
    "caseorigincode": ("Origin", "Case Origin", "Channel", "Kanal", "Ursprung", "Eingangskanal"),
    "casetypecode": ("Case Type", "Ticket Type", "Vorgangsart", "Anfrageart", "Type?", "Typ?"),
    "severitycode": ("Severity", "Schweregrad"),
    "followupby": ("Follow Up By", "Follow-up", "Wiedervorlage", "Nachfassen am"),
    "productserialnumber": ("Serial Number", "Seriennummer", "Serial No"),
    "estimatedvalue": ("Amount", "Value", "Deal Value", "Estimated Value", "Est. Revenue", "Est. Value", "Wert",
                       "Betrag", "Volumen", "Auftragswert", "Expected Revenue", "Geschätzter Umsatz",
                       "Erwarteter Umsatz", "Deal Amount", "Opportunity Value", "Potential"),
    "estimatedclosedate": ("Close Date", "Expected Close Date", "Est. Close Date", "Estimated Close Date",
                           "Abschlussdatum", "Voraussichtlicher Abschluss", "Erwartetes Abschlussdatum",
                           "Closing Date", "Expected Close"),
    "closeprobability": ("Probability", "Wahrscheinlichkeit", "Probability (%)", "Win Probability", "Chance",
                         "Abschlusswahrscheinlichkeit", "Probability %"),
    "actualvalue": ("Actual Revenue", "Actual Value", "Tatsächlicher Umsatz", "Won Amount"),
    "actualclosedate": ("Actual Close Date", "Tatsächliches Abschlussdatum"),
    "salesstage": ("Stage", "Phase", "Sales Stage", "Vertriebsphase", "Verkaufsphase", "Pipeline Stage",
                   "Deal Stage"),
    "stepname": ("Pipeline Phase", "Sales Step", "Step"),
    "budgetamount": ("Budget", "Budget Amount", "Budgetbetrag"),
    "customerneed": ("Customer Need", "Kundenbedarf", "Bedarf"),
    "currentsituation": ("Current Situation", "Ausgangslage", "Ist-Situation"),
    "proposedsolution": ("Proposed Solution", "Lösungsvorschlag"),
    "opportunityratingcode": ("Rating", "Bewertung"),
    "purchasetimeframe": ("Purchase Timeframe", "Timeframe", "Kaufzeitraum", "Zeitrahmen"),
    "phonenumber": ("Phone Number", "Telefonnummer", "Rufnummer", "Phone", "Telefon", "Number Dialed"),
    "directioncode": ("Direction", "Richtung", "Call Direction", "Anrufrichtung", "Incoming/Outgoing"),
    "actualdurationminutes": ("Duration", "Dauer", "Duration (minutes)", "Dauer (Minuten)", "Dauer in Minuten",
                              "Minutes", "Minuten", "Call Duration", "Gesprächsdauer", "Actual Duration"),
    "scheduledend": ("Due", "Due Date", "Fällig", "Fälligkeit", "Fälligkeitsdatum", "Fällig am", "Deadline", "End",
                     "End Time", "End Date", "Ende", "Enddatum", "Bis?"),
    "scheduledstart": ("Start", "Start Date", "Start Time", "Beginn", "Startdatum", "Begin", "Anfang", "Von?"),
    "actualstart": ("Actual Start", "Tatsächlicher Beginn"),
    "actualend": ("Actual End", "Completed On", "Erledigt am", "Date Completed", "Completion Date"),
    "percentcomplete": ("Percent Complete", "% Complete", "Progress", "Fortschritt", "Prozent erledigt",
                        "Progress %", "% erledigt"),
    "category": ("Category", "Kategorie"),
    "subcategory": ("Subcategory", "Unterkategorie", "Sub-category"),
    "productnumber": ("Product Number", "Artikelnummer", "Art.-Nr.", "Artikel-Nr.", "SKU", "Item Number", "Item No",
                      "Produktnummer", "Part Number", "Product Code"),
    "price": ("Price", "List Price", "Listenpreis", "Preis", "VK-Preis", "VKPreis", "Verkaufspreis", "Sales Price",
              "Selling Price", "Unit Price?"),
    "standardcost": ("Standard Cost", "Standardkosten", "EKPreis", "EK-Preis", "Einkaufspreis", "Cost?"),
    "currentcost": ("Current Cost", "EK-Preis", "EKPreis", "Einkaufspreis", "Purchase Price", "Cost Price"),
    "quantityonhand": ("Quantity On Hand", "Stock", "Lagerbestand", "Bestand", "In Stock", "On Hand"),
    "vendorname": ("Vendor", "Vendor Name", "Lieferant", "Supplier", "Lieferantenname"),
    "vendorpartnumber": ("Vendor Part Number", "Lieferantenartikelnummer", "Supplier Part Number"),
    "producttypecode": ("Product Type", "Produkttyp", "Artikeltyp", "Artikelart"),
    "size": ("Size", "Größe"),
    "stockweight": ("Weight", "Gewicht"),
    "producturl": ("Product URL", "Produkt-URL"),
    "invoicenumber": ("Invoice Number", "Invoice No", "Invoice #", "Rechnungsnummer", "Rechnungs-Nr.", "Re.-Nr.",
                      "Belegnummer"),
    "duedate": ("Due Date", "Due", "Fällig", "Fälligkeitsdatum", "Fällig am", "Zahlbar bis", "Payment Due"),
    "datedelivered": ("Date Delivered", "Delivery Date", "Lieferdatum", "Leistungsdatum"),
    "totalamount": ("Total", "Total Amount", "Gesamtbetrag", "Brutto", "Bruttobetrag", "Rechnungsbetrag",
                    "Grand Total", "Summe", "Endbetrag", "Invoice Total", "Amount?"),
    "totaltax": ("Tax", "Total Tax", "MwSt", "Mehrwertsteuer", "USt", "Umsatzsteuer", "VAT", "Steuer", "Steuerbetrag",
                 "Tax Amount", "GST"),
    "totallineitemamount": ("Subtotal", "Sub Total", "Zwischensumme", "Netto", "Nettobetrag", "Net Amount",
                            "Net Total"),
    "discountamount": ("Discount", "Rabatt", "Discount Amount", "Nachlass", "Rabattbetrag"),
    "discountpercentage": ("Discount %", "Rabatt %", "Discount Percent", "Rabatt (%)"),
    "freightamount": ("Freight", "Freight Amount", "Shipping", "Versandkosten", "Fracht", "Frachtkosten"),
    "billto_line1": ("Billing Street", "Bill To Street", "Rechnungsadresse", "Billing Address", "Rechnungsstraße"),
    "billto_city": ("Billing City", "Rechnungsort"),
    "billto_postalcode": ("Billing Zip", "Billing Postcode", "Rechnungs-PLZ"),
    "billto_country": ("Billing Country", "Rechnungsland"),
    "shipto_line1": ("Shipping Street", "Ship To Street", "Lieferadresse", "Lieferstraße", "Delivery Address"),
    "shipto_city": ("Shipping City", "Lieferort"),
    "shipto_postalcode": ("Shipping Zip", "Liefer-PLZ"),
    "shipto_country": ("Shipping Country", "Lieferland"),
    "ownerid": ("Owner", "Owner Email", "OwnerEmail", "Besitzer", "Zuständig", "Zuständiger", "Verantwortlich",
                "Verantwortlicher", "Vertreter", "Sachbearbeiter", "Betreuer", "Kundenbetreuer", "Account Manager",
                "Sales Rep", "Assigned To", "Bearbeiter"),
    "overriddencreatedon": ("Created", "Created On", "Date Created", "Creation Date", "Created Date", "Erstellt",
                            "Erstellt am", "Angelegt", "Angelegt am", "Anlagedatum", "Erstelldatum", "Erfasst am",
                            "Erfassungsdatum", "Create Date"),
    "modifiedon": ("Modified", "Modified On", "Date Modified", "Last Modified", "Changed", "Geändert",
                   "Geändert am", "Änderungsdatum", "Letzte Änderung", "Updated", "Updated At", "Last Updated"),
    "transactioncurrencyid": ("Currency", "Währung", "Currency Code", "Währungscode", "ISO Currency"),
}

BY_TABLE: dict[str, dict[str, tuple[str, ...]]] = {
    "account": {
        "name": ("Name", "Company", "Company Name", "Firma", "Firmenname", "Name1", "Name 1", "Account Name",
                 "Organisation", "Organization", "Unternehmen", "Kunde", "Kundenname", "Customer Name",
                 "Business Name", "Firmierung"),
        "accountnumber": ("Nummer?", "Number?"),
    },
    "contact": {"lastname": ("Name?",)},
    "lead": {"subject": ("Lead Name", "Topic")},
    "opportunity": {
        "name": ("Name", "Topic", "Deal Name", "Opportunity Name", "Bezeichnung", "Titel", "Title", "Subject",
                 "Betreff", "Deal", "Opportunity", "Verkaufschance"),
    },
    "incident": {
        "title": ("Title", "Subject", "Case Title", "Betreff", "Titel", "Ticket Title", "Issue", "Summary",
                  "Kurzbeschreibung"),
    },
    "phonecall": {
        "subject": ("Title?", "Titel?"),
        "ownerid": ("Mitarbeiter?", "Employee?"),
        "actualstart": ("Call Date", "Anrufdatum", "Gesprächsdatum", "Datum?", "Date?"),
    },
    "task": {"subject": ("Title?", "Titel?"), "ownerid": ("Mitarbeiter?", "Employee?")},
    "product": {
        "name": ("Name", "Product Name", "Produktname", "Artikelname", "Bezeichnung", "Artikelbezeichnung",
                 "Product", "Produkt", "Artikel", "Item Name"),
        "productnumber": ("Nummer", "Number?"),
    },
    "invoice": {
        "name": ("Name", "Invoice Name", "Bezeichnung?", "Titel?"),
        "invoicenumber": ("Nummer", "Number", "Rechnungsnummer", "Rechnungs-Nr.", "Belegnummer?"),
    },
    # work4all's Belege (Angebote) and Preislisten
    "quote": {
        "name": ("Name", "Quote Name", "Bezeichnung?", "Titel?"),
        "quotenumber": ("Nummer", "Number", "Angebotsnummer", "Angebots-Nr.", "Quote Number", "Belegnummer?"),
    },
    "productpricelevel": {"amount": ("Preis", "Price", "Betrag", "Amount")},
    "quotedetail": {"quantity": ("Menge", "Quantity", "Anzahl"), "priceperunit": ("Einzelpreis", "Unit Price")},
    "invoicedetail": {"quantity": ("Menge", "Quantity", "Anzahl"), "priceperunit": ("Einzelpreis", "Unit Price")},
}


@dataclass(frozen=True)
class Variant:
    text: str
    weak: bool  # ambiguous: a match is at most "likely"
    norm: str
    words: frozenset[str]
    digits: frozenset[str]


def _variant(text: str) -> Variant:
    weak = text.endswith("?")
    t = text.rstrip("?")
    return Variant(t, weak, norm(t), words(t), digits(t))


@lru_cache(maxsize=4096)
def variants(table: str, column: str, display_name: str | None = None) -> tuple[Variant, ...]:
    """Every header variant of ``column`` in ``table``: its synonyms, logical name and display name."""
    texts = [*COMMON.get(column, ()), *BY_TABLE.get(table, {}).get(column, ()), column]
    if display_name:
        texts.append(display_name)
    seen: dict[str, Variant] = {}
    for t in texts:
        v = _variant(t)
        if v.norm and (v.norm not in seen or seen[v.norm].weak and not v.weak):
            seen[v.norm] = v
    return tuple(seen.values())


@dataclass(frozen=True)
class Match:
    """How well a header matches one target column."""

    score: float  # 0..1
    method: str  # exact | words | similar | contains
    variant: str  # the variant it matched
    weak: bool


#: a table's own name in a header qualifies nothing: "Account Owner" is the account's owner, "Deal Value"
#: the opportunity's value (canonical words, see ``words``)
TABLE_WORDS: dict[str, frozenset[str]] = {
    "account": frozenset({"account", "customer", "company"}), "contact": frozenset({"contact", "person"}),
    "lead": frozenset({"lead"}), "opportunity": frozenset({"opportunity", "deal", "verkaufschance"}),
    "incident": frozenset({"case", "ticket", "incident", "vorgang"}), "phonecall": frozenset({"call", "phonecall"}),
    "task": frozenset({"task", "aufgabe"}), "product": frozenset({"product"}), "invoice": frozenset({"invoice"}),
}
#: qualifiers of the first (business) address and numbers in other systems' exports: Salesforce's Billing
#: and Mailing address, Outlook's "Business Street" / "Straße geschäftlich" are address 1
DECORATION = frozenset({"billing", "mailing", "work"})
#: words that add little to a header: a variant that leaves only these out is the better "contains" match
GENERIC_WORDS = frozenset({"number", "date", "name", "code"})
#: compound tails too general to carry a compound's meaning ("Bestellnummer" is no invoice number)
GENERIC_TAILS = frozenset({"nummer", "number", "datum", "name", "code", "status", "betrag", "preis", "wert"})


def match(header: str, candidates: tuple[Variant, ...], table: str = "") -> Match | None:
    """The best match of ``header`` against one column's variants (None below ``FUZZY_FLOOR``)."""
    h_norm, h_words, h_digits = norm(header), words(header), digits(header)
    if not h_norm:
        return None
    core = h_words - TABLE_WORDS.get(table, frozenset()) - DECORATION
    best: Match | None = None
    for v in candidates:
        if h_norm == v.norm:
            m = Match(1.0, "exact", v.text, v.weak)
        elif h_words and h_words == v.words and h_digits == v.digits:
            m = Match(0.96, "words", v.text, v.weak)
        elif core and core != h_words and core == v.words and h_digits == v.digits:
            m = Match(0.93, "words", v.text, v.weak)
        elif h_digits != v.digits:
            continue  # "Telefon 3" is not "Telefon 2", however similar the letters
        elif len(v.words) >= 2 and v.words < h_words and len(h_words - v.words) == 1:
            m = Match(0.82 if (h_words - v.words) <= GENERIC_WORDS else 0.8, "contains", v.text, True)
        elif (len(v.norm) >= 6 and len(h_norm) - len(v.norm) >= 3 and h_norm.endswith(v.norm) and not v.weak
              and v.norm not in GENERIC_TAILS and re.fullmatch(r"\w+", header.strip())):
            # one German compound word is a kind of its last word: "Gesprächsnotiz" is a note
            m = Match(0.78, "contains", v.text, True)
        else:  # both the letters and the words must be alike: short or shared-word headers fool either alone
            if min(len(h_norm), len(v.norm)) < 6 or not core:
                continue
            s = min(fuzz.ratio(h_norm, v.norm), fuzz.token_sort_ratio(" ".join(sorted(core)),
                                                                       " ".join(sorted(v.words))))
            if s < FUZZY_FLOOR:
                continue
            m = Match(round(s / 100 * 0.9, 4), "similar", v.text, True)
        if best is None or (m.score, not m.weak) > (best.score, not best.weak):
            best = m
    return best


FUZZY_FLOOR = 85  # rapidfuzz score (0-100) below which a header is no match at all

# ------------------------------------------------------------------------------------- option values

#: source value (folded) -> (English option label, lossy): translations and coarser equivalents
OPTION_SYNONYMS: dict[str, tuple[str, bool]] = {}


def _options(lossy: bool, pairs: dict[str, str]) -> None:
    for src, label in pairs.items():
        OPTION_SYNONYMS[norm(src)] = (label, lossy)


_options(False, {
    "hoch": "High", "niedrig": "Low", "gering": "Low", "normal": "Normal", "mittel": "Normal", "medium": "Normal",
    "offen": "Open", "erledigt": "Completed", "abgeschlossen": "Completed", "geschlossen": "Closed",
    "gewonnen": "Won", "verloren": "Lost", "neu": "New", "aktiv": "Active", "inaktiv": "Inactive", "ja": "Yes",
    "nein": "No", "telefon": "Phone", "e-mail": "Email", "webseite": "Web", "website": "Web", "internet": "Web",
    "empfehlung": "External Referral", "mitarbeiterempfehlung": "Employee Referral", "messe": "Trade Show",
    "werbung": "Advertisement", "anzeige": "Advertisement", "mundpropaganda": "Word of Mouth",
    "sonstige": "Other", "sonstiges": "Other", "andere": "Other", "anderes": "Other", "frage": "Question",
    "anfrage": "Request", "heiss": "Hot", "kalt": "Cold", "qualifizieren": "Qualify", "entwickeln": "Develop",
    "vorschlagen": "Propose", "abschliessen": "Close", "eingehend": "Incoming", "ausgehend": "Outgoing",
    "maennlich": "Male", "weiblich": "Female", "ledig": "Single", "verheiratet": "Married",
    "geschieden": "Divorced", "verwitwet": "Widowed", "oeffentlich": "Public", "privat": "Private",
    "tochtergesellschaft": "Subsidiary", "kunde": "Customer", "lieferant": "Supplier", "interessent": "Prospect",
    "wettbewerber": "Competitor", "konkurrent": "Competitor", "berater": "Consultant", "presse": "Press",
    "wiederverkaeufer": "Reseller", "haendler": "Reseller", "beratung": "Consulting", "buchhaltung": "Accounting",
    "finanzen": "Financial", "finance": "Financial", "finanzdienstleistungen": "Financial",
    "versicherung": "Insurance", "versicherungen": "Insurance", "rechtsberatung": "Legal Services",
    "legal": "Legal Services", "transport": "Transportation", "grosshandel": "Wholesale",
    "landwirtschaft": "Agriculture and Non-petrol Natural Resource Extraction",
    "agriculture": "Agriculture and Non-petrol Natural Resource Extraction", "makler": "Brokers",
    "dienstleistungen": "Business Services", "autohaus": "Vehicle Retail", "soziales": "Social Services",
    "vermietung": "Equipment Rental and Leasing", "lebensmittel": "Food and Tobacco Processing",
    "baustoffhandel": "Building Supply Retail", "gastronomie": "Eating and Drinking Places",
    "restaurants": "Eating and Drinking Places", "arztpraxis": "Doctor's Offices and Clinics",
    "herr": "Mr.", "frau": "Ms.", "post": "Mail", "brief": "Mail", "postal": "Mail",
})
_options(True, {
    "urgent": "High", "dringend": "High", "critical": "High", "kritisch": "High", "sehr hoch": "High",
    "sehr niedrig": "Low", "cold call": "Other", "kaltakquise": "Other", "referral": "External Referral",
    "healthcare": "Doctor's Offices and Clinics", "gesundheitswesen": "Doctor's Offices and Clinics",
    "hospitality": "Eating and Drinking Places", "real estate": "Specialty Realty", "immobilien": "Specialty Realty",
    "transport & logistics": "Transportation", "logistik": "Transportation", "spedition": "Transportation",
    "professional services": "Business Services", "steuerberatung": "Accounting",
    "druck": "Broadcasting Printing and Publishing", "verlag": "Broadcasting Printing and Publishing",
    "medien": "Broadcasting Printing and Publishing", "energie": "Utility Creation and Distribution",
    "werbeagentur": "Design, Direction and Creative Management", "kanzlei": "Legal Services",
    "on hold": "Waiting for Details",
})
