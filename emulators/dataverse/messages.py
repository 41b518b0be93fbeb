"""Which tables support the bulk messages CreateMultiple / UpdateMultiple / UpsertMultiple.

Built from Microsoft's table reference pages, which list every message a table supports: the Dataverse
page (learn.microsoft.com/power-apps/developer/data-platform/reference/entities/<table>) and, for tables
Dynamics 365 extends, the Dynamics 365 page (learn.microsoft.com/dynamics365/developer/reference/entities/
<table>, or the Sales one under dynamics365/sales/developer/entities/<table>), whose Messages section lists
what the extension adds. A table supports the bulk messages when either page lists them. Microsoft says
the list on the UpsertMultiple action page is incomplete and that a client should ask
``sdkmessagefilters`` (learn.microsoft.com/power-apps/developer/data-platform/bulk-operations#availability-with-standard-tables);
the emulator answers that query from this table and refuses the messages elsewhere, as Dataverse does.

One line per table: (supports the *Multiple messages, source). The source is the page that says so, or
``*inferred*`` with the reason where no page says (then the conservative answer the emulator always had
is kept). Custom tables (``wtc_project``) support them: "custom tables ... support these messages"
(bulk-operations page).
"""

from __future__ import annotations

_DV = "https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/"
_D365 = "https://learn.microsoft.com/dynamics365/developer/reference/entities/"
_SALES = "https://learn.microsoft.com/dynamics365/sales/developer/entities/"
BULK_OPERATIONS = "https://learn.microsoft.com/power-apps/developer/data-platform/bulk-operations"
INFERRED = "*inferred*"

#: logical name -> (CreateMultiple/UpdateMultiple/UpsertMultiple supported, where that comes from)
MULTIPLE_SUPPORT: dict[str, tuple[bool, str]] = {
    # --- what the product writes ------------------------------------------------------------------------
    "account": (True, _SALES + "account"),                    # lists CreateMultiple, UpdateMultiple, UpsertMultiple
    "contact": (True, _DV + "contact"),                       # lists CreateMultiple ... UpsertMultiple
    "lead": (True, f"{INFERRED}: standard Sales table like account/contact; page not checked"),
    "opportunity": (True, _SALES + "opportunity"),            # lists CreateMultiple ... UpsertMultiple
    "incident": (True, _D365 + "incident"),                   # Case: lists CreateMultiple ... UpsertMultiple
    "invoice": (True, f"{INFERRED}: standard Sales table like opportunity; page not checked"),
    "invoicedetail": (True, _SALES + "invoicedetail"),        # lists CreateMultiple, UpdateMultiple, UpsertMultiple
    "task": (True, _D365 + "task"),                           # the Dynamics 365 page adds the three *Multiple
    "phonecall": (False, _DV + "phonecall"),                  # Create, Update, Upsert; no *Multiple on either page
    "appointment": (False, _DV + "appointment"),              # no *Multiple on either page
    "email": (False, _DV + "email"),                          # no *Multiple; the D365 page adds ProcessInboundEmail only
    "annotation": (False, _DV + "annotation"),                # Create, Update, Upsert, Rollup; no *Multiple
    "knowledgearticle": (True, f"{INFERRED}: kept as the emulator had it; page not checked"),
    "pricelevel": (True, f"{INFERRED}: kept as the emulator had it; page not checked"),
    "sharepointsite": (False, f"{INFERRED}: conservative ($batch), page not checked"),
    "sharepointdocumentlocation": (False, f"{INFERRED}: conservative ($batch), page not checked"),
    # written only through actions (WinOpportunity, LoseOpportunity, CloseIncident), never in bulk
    "opportunityclose": (False, f"{INFERRED}: written by WinOpportunity/LoseOpportunity only"),
    "incidentresolution": (False, f"{INFERRED}: written by CloseIncident only"),
    # --- tables the emulator holds that the product reads or seeds --------------------------------------
    "product": (True, f"{INFERRED}: kept as the emulator had it"),
    "productpricelevel": (True, f"{INFERRED}: kept as the emulator had it"),
    "quote": (True, f"{INFERRED}: kept as the emulator had it"),
    "quotedetail": (False, f"{INFERRED}: conservative, page not checked"),
    "opportunityproduct": (False, f"{INFERRED}: conservative, page not checked"),
    "uom": (False, f"{INFERRED}: conservative, page not checked"),
    "uomschedule": (False, f"{INFERRED}: conservative, page not checked"),
    "systemuser": (False, f"{INFERRED}: conservative; users are provisioned by an administrator"),
    "activityparty": (False, f"{INFERRED}: written only inside its activity"),
    "team": (False, f"{INFERRED}: conservative, page not checked"),
    "transactioncurrency": (False, f"{INFERRED}: conservative, page not checked"),
}

#: custom tables (created through EntityDefinitions) support the bulk messages
CUSTOM_TABLES = (True, BULK_OPERATIONS)


def supports_multiple(logical_name: str, *, custom: bool = False) -> bool:
    """Whether ``logical_name`` supports CreateMultiple/UpdateMultiple/UpsertMultiple (unknown: no)."""
    if custom:
        return CUSTOM_TABLES[0]
    return MULTIPLE_SUPPORT.get(logical_name, (False, INFERRED))[0]


__all__ = ["MULTIPLE_SUPPORT", "CUSTOM_TABLES", "INFERRED", "supports_multiple"]
