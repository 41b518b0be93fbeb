"""Table definitions of the Dataverse emulator, declared as data.

Each table is a `TableDef` built from a compact spec: logical name, entity set, primary key, primary
name, ownership, whether it is an activity, its state model and its columns. Columns carry the type,
MaxLength, option sets and RequiredLevel as Dataverse declares them (values from the Dataverse table
reference; where a value is not documented it is marked *inferred* below).
Lookups carry their targets and the single-valued navigation property used in `@odata.bind`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from .messages import supports_multiple

# Attribute types, as AttributeMetadata.AttributeType names them.
STRING, MEMO, INTEGER, DECIMAL, MONEY, DOUBLE, BOOLEAN, DATETIME = (
    "String", "Memo", "Integer", "Decimal", "Money", "Double", "Boolean", "DateTime")
PICKLIST, STATE, STATUS, LOOKUP, CUSTOMER, OWNER, UNIQUEID = (
    "Picklist", "State", "Status", "Lookup", "Customer", "Owner", "Uniqueidentifier")
LOOKUP_TYPES = (LOOKUP, CUSTOMER, OWNER)
OPTION_TYPES = (PICKLIST, STATE, STATUS)

NONE, APP_REQUIRED, SYS_REQUIRED, RECOMMENDED = "None", "ApplicationRequired", "SystemRequired", "Recommended"


@dataclass
class Column:
    name: str
    type: str
    max_length: int | None = None
    required: str = NONE
    options: dict[int, str] | None = None          # value -> label (Picklist / State / Status)
    status_state: dict[int, int] | None = None      # Status: statuscode value -> statecode
    targets: tuple[str, ...] = ()                   # lookups: target logical names
    navs: dict[str, str] = field(default_factory=dict)  # nav property -> target logical name
    min_value: float | None = None
    max_value: float | None = None
    precision: int | None = None
    date_only: bool = False                          # DateTime: DateOnly format
    read_only: bool = False                          # not valid for create/update
    custom: bool = False
    display_name: str | None = None
    schema_name: str | None = None
    primary_name: bool = False
    metadata_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    is_primary_id: bool = False

    @property
    def value_name(self) -> str:
        """Name under which the column is read back (lookups: `_x_value`)."""
        return f"_{self.name}_value" if self.type in LOOKUP_TYPES else self.name


@dataclass
class KeyDef:
    schema_name: str
    logical_name: str
    attributes: tuple[str, ...]
    display_name: str
    status: str = "Pending"   # Pending -> InProgress -> Active | Failed
    activate_at: float = 0.0
    metadata_id: str = field(default_factory=lambda: str(uuid.uuid4()))


#: tables whose EntityMetadata.CanCreateAttributes is False in real Dataverse
#: (learn.microsoft.com: annotation entity metadata, "CanCreateAttributes: False")
NO_CUSTOM_ATTRIBUTES = frozenset({"annotation"})


@dataclass
class TableDef:
    logical_name: str
    entity_set: str
    primary_id: str
    primary_name: str | None
    ownership: str                          # UserOwned | OrganizationOwned
    columns: dict[str, Column]
    is_activity: bool = False
    custom: bool = False
    object_type_code: int = 0
    multiple: bool = True                   # supports CreateMultiple/UpdateMultiple/UpsertMultiple
    can_create_attributes: bool = True      # EntityMetadata.CanCreateAttributes (False for annotation)
    keys: dict[str, KeyDef] = field(default_factory=dict)
    display_name: str | None = None
    schema_name: str | None = None
    metadata_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    navs: dict[str, tuple[str, str]] = field(default_factory=dict)   # nav -> (column, target)
    by_value_name: dict[str, Column] = field(default_factory=dict)
    writers: dict | None = None             # store's cache: column -> (converter, column)
    sys_required: list[Column] = field(default_factory=list)
    settling: bool = False                  # a key is Pending/InProgress
    active: list[KeyDef] = field(default_factory=list)   # Active keys

    def index(self) -> None:
        self.navs = {}
        self.by_value_name = {}
        self.writers = None
        self.sys_required = [c for c in self.columns.values() if c.required == SYS_REQUIRED
                             and c.name not in ("ownerid", "statecode") and not c.is_primary_id]
        for col in self.columns.values():
            self.by_value_name[col.value_name] = col
            for nav, target in col.navs.items():
                self.navs[nav] = (col.name, target)


# --- option sets ---------------------------------------------------------------------------------
ACTIVE_INACTIVE_STATE = {0: "Active", 1: "Inactive"}
ACTIVE_INACTIVE_STATUS = ({1: "Active", 2: "Inactive"}, {1: 0, 2: 1})
INDUSTRY = {1: "Accounting", 2: "Agriculture and Non-petrol Natural Resource Extraction",
            3: "Broadcasting Printing and Publishing", 4: "Brokers", 5: "Building Supply Retail",
            6: "Business Services", 7: "Consulting", 8: "Consumer Services", 9: "Design, Direction and Creative Management",
            10: "Distributors, Dispatchers and Processors", 11: "Doctor's Offices and Clinics",
            12: "Durable Manufacturing", 13: "Eating and Drinking Places", 14: "Entertainment Retail",
            15: "Equipment Rental and Leasing", 16: "Financial", 17: "Food and Tobacco Processing",
            18: "Inbound Capital Intensive Processing", 19: "Inbound Repair and Services", 20: "Insurance",
            21: "Legal Services", 22: "Non-Durable Merchandise Retail", 23: "Outbound Consumer Service",
            24: "Petrochemical Extraction and Distribution", 25: "Service Retail", 26: "SIG Affiliations",
            27: "Social Services", 28: "Special Outbound Trade Contractors", 29: "Specialty Realty",
            30: "Transportation", 31: "Utility Creation and Distribution", 32: "Vehicle Retail", 33: "Wholesale"}
LEAD_SOURCE = {1: "Advertisement", 2: "Employee Referral", 3: "External Referral", 4: "Partner",
               5: "Public Relations", 6: "Seminar", 7: "Trade Show", 8: "Web", 9: "Word of Mouth", 10: "Other"}
HOT_WARM_COLD = {1: "Hot", 2: "Warm", 3: "Cold"}
#: account.customertypecode, "Relationship Type" (learn.microsoft.com/power-apps/developer/data-platform/
#: reference/entities/account#BKMK_CustomerTypeCode)
CUSTOMER_TYPE = {1: "Competitor", 2: "Consultant", 3: "Customer", 4: "Investor", 5: "Partner", 6: "Influencer",
                 7: "Press", 8: "Prospect", 9: "Reseller", 10: "Supplier", 11: "Vendor", 12: "Other"}
SALES_STAGE = {0: "Qualify", 1: "Develop", 2: "Propose", 3: "Close"}
CASE_PRIORITY = {1: "High", 2: "Normal", 3: "Low"}
CASE_ORIGIN = {1: "Phone", 2: "Email", 3: "Web", 2483: "Facebook", 3986: "Twitter", 700610000: "IoT"}
CASE_TYPE = {1: "Question", 2: "Problem", 3: "Request"}
ACTIVITY_PRIORITY = {0: "Low", 1: "Normal", 2: "High"}
PARTICIPATION_TYPES = {1: "Sender", 2: "To Recipient", 3: "CC Recipient", 4: "BCC Recipient",
                       5: "Required attendee", 6: "Optional attendee", 7: "Organizer", 8: "Regarding", 9: "Owner",
                       10: "Resource", 11: "Customer", 12: "Chat Participant", 13: "Related"}
#: who can be an activity party (a practical subset of the real list)
PARTY_TARGETS = ("account", "contact", "lead", "systemuser")
#: the participation types each activity's party list takes, from "Activity Party types available for each
#: activity" (learn.microsoft.com/power-apps/developer/data-platform/activityparty-entity): Email.From/To/Cc/Bcc,
#: PhoneCall.From/To, Appointment.RequiredAttendees/OptionalAttendees/Organizer
PARTY_TYPES = {"email": frozenset({1, 2, 3, 4}), "phonecall": frozenset({1, 2}), "appointment": frozenset({5, 6, 7})}


def _states(states: dict[int, str], statuses: dict[int, tuple[str, int]]):
    return states, {v: lbl for v, (lbl, _) in statuses.items()}, {v: st for v, (_, st) in statuses.items()}


STATE_MODELS = {
    "default": _states(ACTIVE_INACTIVE_STATE, {1: ("Active", 0), 2: ("Inactive", 1)}),
    "lead": _states({0: "Open", 1: "Qualified", 2: "Disqualified"},
                    {1: ("New", 0), 2: ("Contacted", 0), 3: ("Qualified", 1), 4: ("Lost", 2),
                     5: ("Cannot Contact", 2), 6: ("No Longer Interested", 2), 7: ("Canceled", 2)}),
    "opportunity": _states({0: "Open", 1: "Won", 2: "Lost"},
                           {1: ("In Progress", 0), 2: ("On Hold", 0), 3: ("Won", 1), 4: ("Canceled", 2),
                            5: ("Out-Sold", 2)}),
    "incident": _states({0: "Active", 1: "Resolved", 2: "Cancelled"},
                        {1: ("In Progress", 0), 2: ("On Hold", 0), 3: ("Waiting for Details", 0),
                         4: ("Researching", 0), 5: ("Problem Solved", 1), 1000: ("Information Provided", 1),
                         6: ("Cancelled", 2), 2000: ("Merged", 2)}),
    # the invoice table reference (learn.microsoft.com/dynamics365/sales/developer/entities/invoice)
    "invoice": _states({0: "Active", 1: "Closed (deprecated)", 2: "Paid", 3: "Canceled"},
                       {1: ("New", 0), 2: ("Partially Shipped", 0), 4: ("Billed", 0),
                        5: ("Booked (applies to services)", 0), 6: ("Installed (applies to services)", 0),
                        3: ("Canceled (deprecated)", 1),
                        7: ("Paid in Full (deprecated)", 1), 100001: ("Complete", 2), 100002: ("Partial", 2),
                        100003: ("Canceled", 3)}),
    "quote": _states({0: "Draft", 1: "Active", 2: "Won", 3: "Closed"},
                     {1: ("In Progress", 0), 2: ("In Progress", 1), 3: ("Open", 1), 4: ("Won", 2),
                      5: ("Lost", 3), 6: ("Canceled", 3), 7: ("Revised", 3)}),
    "task": _states({0: "Open", 1: "Completed", 2: "Canceled"},
                    {2: ("Not Started", 0), 3: ("In Progress", 0), 4: ("Waiting on someone else", 0),
                     7: ("Deferred", 0), 5: ("Completed", 1), 6: ("Canceled", 2)}),
    "phonecall": _states({0: "Open", 1: "Completed", 2: "Canceled"},
                         {1: ("Open", 0), 2: ("Made", 1), 4: ("Received", 1), 3: ("Canceled", 2)}),
    "appointment": _states({0: "Open", 1: "Completed", 2: "Canceled", 3: "Scheduled"},
                           {1: ("Free", 0), 2: ("Tentative", 0), 3: ("Completed", 1), 4: ("Canceled", 2),
                            5: ("Busy", 3), 6: ("Out of Office", 3)}),
    "email": _states({0: "Open", 1: "Completed", 2: "Canceled"},
                     {1: ("Draft", 0), 8: ("Failed", 0), 2: ("Completed", 1), 3: ("Sent", 1), 4: ("Received", 1),
                      6: ("Pending Send", 1), 7: ("Sending", 1), 5: ("Canceled", 2)}),
    "closeactivity": _states({0: "Open", 1: "Completed", 2: "Canceled"},
                             {1: ("Open", 0), 2: ("Completed", 1), 3: ("Canceled", 2)}),
    # the product table reference (learn.microsoft.com/dynamics365/sales/developer/entities/product#BKMK_StateCode)
    "product": _states({0: "Active", 1: "Retired", 2: "Draft", 3: "Under Revision"},
                       {1: ("Active", 0), 2: ("Retired", 1), 0: ("Draft", 2), 3: ("Under Revision", 3)}),
    "knowledgearticle": _states({0: "Draft", 1: "Approved", 2: "Scheduled", 3: "Published", 4: "Expired",
                                 5: "Archived", 6: "Discarded"},
                                {2: ("Draft", 0), 3: ("Needs review", 0), 4: ("In review", 0), 5: ("Approved", 1),
                                 6: ("Scheduled", 2), 7: ("Published", 3), 8: ("Expired", 4), 12: ("Archived", 5),
                                 13: ("Discarded", 6)}),
}
DEFAULT_STATUS = {  # statecode -> default statuscode on create
    "default": {0: 1, 1: 2}, "lead": {0: 1, 1: 3, 2: 4}, "opportunity": {0: 1, 1: 3, 2: 4},
    "incident": {0: 1, 1: 5, 2: 6}, "invoice": {0: 1, 1: 3, 2: 100001, 3: 100003},
    "quote": {0: 1, 1: 2, 2: 4, 3: 5}, "task": {0: 2, 1: 5, 2: 6}, "phonecall": {0: 1, 1: 2, 2: 3},
    "appointment": {0: 1, 1: 3, 2: 4, 3: 5}, "email": {0: 1, 1: 2, 2: 5}, "closeactivity": {0: 1, 1: 2, 2: 3},
    "knowledgearticle": {0: 2, 1: 5, 2: 6, 3: 7, 4: 8, 5: 12, 6: 13}, "product": {0: 1, 1: 2, 2: 0, 3: 3},
}

# --- compact column constructors ------------------------------------------------------------------


def S(name, max_length=100, required=NONE, **kw):
    return Column(name, STRING, max_length=max_length, required=required, **kw)


def M(name, max_length=2000, required=NONE, **kw):
    return Column(name, MEMO, max_length=max_length, required=required, **kw)


def I(name, lo=-2147483648, hi=2147483647, required=NONE, **kw):  # noqa: E743
    return Column(name, INTEGER, min_value=lo, max_value=hi, required=required, **kw)


def D(name, lo=-100000000000.0, hi=100000000000.0, precision=2, required=NONE, **kw):
    return Column(name, DECIMAL, min_value=lo, max_value=hi, precision=precision, required=required, **kw)


def Mo(name, required=NONE, **kw):
    return Column(name, MONEY, min_value=-922337203685477.0, max_value=922337203685477.0, precision=4,
                  required=required, **kw)


def B(name, required=NONE, **kw):
    return Column(name, BOOLEAN, required=required, **kw)


def DT(name, date_only=False, required=NONE, **kw):
    return Column(name, DATETIME, date_only=date_only, required=required, **kw)


def P(name, options, required=NONE, **kw):
    return Column(name, PICKLIST, options=dict(options), required=required, **kw)


def L(name, target, required=NONE, nav=None, **kw):
    return Column(name, LOOKUP, targets=(target,), navs={nav or name: target}, required=required, **kw)


def C(name, targets=("account", "contact"), required=NONE, **kw):
    return Column(name, CUSTOMER, targets=tuple(targets), navs={f"{name}_{t}": t for t in targets},
                  required=required, **kw)


ADDRESS = [S("address1_line1", 250), S("address1_line2", 250), S("address1_line3", 250), S("address1_city", 80),
           S("address1_stateorprovince", 50), S("address1_postalcode", 20), S("address1_country", 80)]

# Tables a "regarding" lookup may point at (a practical subset of the real, very long list).
REGARDING_TARGETS = ("account", "contact", "lead", "opportunity", "incident", "invoice", "quote",
                     "knowledgearticle")

# logical, entity set, primary id, primary name, ownership, state model, multiple? (unused: messages.py says,
# from Microsoft's table pages), object type code, columns
TABLE_SPECS: list[tuple] = [
    ("account", "accounts", "accountid", "name", "UserOwned", "default", True, 1, [
        S("name", 160, APP_REQUIRED), S("websiteurl", 200), S("emailaddress1", 100), S("emailaddress2", 100),
        S("telephone1", 50), S("telephone2", 50), S("fax", 50), *ADDRESS, M("description", 2000),
        S("accountnumber", 20), P("industrycode", INDUSTRY), L("parentaccountid", "account"),
        L("primarycontactid", "contact"), Mo("revenue"), I("numberofemployees", 0, 1000000000),
        L("transactioncurrencyid", "transactioncurrency"), P("customertypecode", CUSTOMER_TYPE)]),
    ("contact", "contacts", "contactid", "fullname", "UserOwned", "default", True, 2, [
        S("firstname", 50, RECOMMENDED), S("lastname", 50, APP_REQUIRED), S("middlename", 50),
        S("fullname", 160, read_only=True), S("emailaddress1", 100), S("emailaddress2", 100),
        S("telephone1", 50), S("telephone2", 50), S("mobilephone", 50), S("fax", 50), S("jobtitle", 100),
        S("department", 100), S("salutation", 100), C("parentcustomerid"), *ADDRESS, M("description", 2000),
        DT("birthdate", date_only=True), L("transactioncurrencyid", "transactioncurrency")]),
    ("lead", "leads", "leadid", "fullname", "UserOwned", "lead", True, 4, [
        S("subject", 300, RECOMMENDED), S("firstname", 50, RECOMMENDED), S("lastname", 50, APP_REQUIRED),
        S("fullname", 160, read_only=True), S("companyname", 100, RECOMMENDED), S("emailaddress1", 100),
        S("telephone1", 50), S("mobilephone", 50), S("jobtitle", 100), S("websiteurl", 200), *ADDRESS,
        P("leadsourcecode", LEAD_SOURCE), P("leadqualitycode", HOT_WARM_COLD), M("description", 2000),
        Mo("estimatedamount"), C("customerid"), L("parentaccountid", "account"), L("parentcontactid", "contact"),
        L("transactioncurrencyid", "transactioncurrency")]),
    ("opportunity", "opportunities", "opportunityid", "name", "UserOwned", "opportunity", True, 3, [
        S("name", 300, APP_REQUIRED), Mo("estimatedvalue"), I("closeprobability", 0, 100),
        P("salesstage", SALES_STAGE), P("salesstagecode", {1: "Default Value"}), S("stepname", 200),
        P("opportunityratingcode", HOT_WARM_COLD), DT("estimatedclosedate", date_only=True),
        DT("actualclosedate", date_only=True), Mo("actualvalue"), L("parentaccountid", "account"),
        L("parentcontactid", "contact"), C("customerid"), L("pricelevelid", "pricelevel"),
        L("originatingleadid", "lead"), L("transactioncurrencyid", "transactioncurrency"),
        M("description", 2000), M("currentsituation", 2000), M("customerneed", 2000)]),
    ("opportunityclose", "opportunitycloses", "activityid", "subject", "UserOwned", "closeactivity", False, 4208, [
        S("subject", 200), L("opportunityid", "opportunity"), Mo("actualrevenue"), DT("actualend"),
        M("description", 2000), S("competitorid_name", 100, read_only=True),
        L("transactioncurrencyid", "transactioncurrency")]),
    ("incident", "incidents", "incidentid", "title", "UserOwned", "incident", True, 112, [
        S("title", 200, APP_REQUIRED), M("description", 2000), S("ticketnumber", 100),
        P("prioritycode", CASE_PRIORITY), P("caseorigincode", CASE_ORIGIN), P("casetypecode", CASE_TYPE),
        C("customerid", required=SYS_REQUIRED), L("primarycontactid", "contact"), L("productid", "product"),
        L("transactioncurrencyid", "transactioncurrency")]),
    ("incidentresolution", "incidentresolutions", "activityid", "subject", "UserOwned", "closeactivity", False, 4206, [
        S("subject", 200), L("incidentid", "incident"), I("timespent", 0, 2147483647), DT("actualend"),
        M("description", 2000)]),
    ("invoice", "invoices", "invoiceid", "name", "UserOwned", "invoice", True, 1090, [
        S("name", 300, APP_REQUIRED), S("invoicenumber", 100), C("customerid", required=APP_REQUIRED),
        L("pricelevelid", "pricelevel", APP_REQUIRED), L("opportunityid", "opportunity"), L("quoteid", "quote"),
        L("transactioncurrencyid", "transactioncurrency", APP_REQUIRED), Mo("totalamount"),
        Mo("totallineitemamount"), Mo("totaltax"), Mo("totaldiscountamount"), Mo("discountamount"),
        Mo("freightamount"), DT("datedelivered", date_only=True), DT("duedate", date_only=True),
        B("ispricelocked"), M("description", 2000)]),
    ("invoicedetail", "invoicedetails", "invoicedetailid", None, "UserOwned", None, False, 1091, [
        L("invoiceid", "invoice", SYS_REQUIRED), L("productid", "product"), B("isproductoverridden"),
        S("productdescription", 500), D("quantity", 0, 1000000000, 5, APP_REQUIRED), Mo("priceperunit"),
        Mo("manualdiscountamount"), Mo("tax"), Mo("extendedamount"), Mo("baseamount"), I("lineitemnumber", 0),
        L("uomid", "uom"), B("ispriceoverridden"), M("description", 2000),
        L("transactioncurrencyid", "transactioncurrency")]),
    ("product", "products", "productid", "name", "OrganizationOwned", "product", True, 1024, [
        S("name", 100, SYS_REQUIRED), S("productnumber", 100, SYS_REQUIRED), M("description", 2000),
        L("defaultuomscheduleid", "uomschedule", APP_REQUIRED), L("defaultuomid", "uom", APP_REQUIRED),
        L("pricelevelid", "pricelevel"), Mo("price"), Mo("standardcost"), Mo("currentcost"),
        I("quantitydecimal", 0, 5), P("producttypecode", {1: "Sales Inventory", 2: "Miscellaneous Charges",
                                                          3: "Services", 4: "Flat Fees"}),
        L("transactioncurrencyid", "transactioncurrency")]),
    ("pricelevel", "pricelevels", "pricelevelid", "name", "OrganizationOwned", "default", True, 1022, [
        S("name", 100, SYS_REQUIRED), M("description", 200), DT("begindate", date_only=True),
        DT("enddate", date_only=True), L("transactioncurrencyid", "transactioncurrency", SYS_REQUIRED)]),
    ("productpricelevel", "productpricelevels", "productpricelevelid", None, "OrganizationOwned", None, True, 1026, [
        L("pricelevelid", "pricelevel", SYS_REQUIRED), L("productid", "product", SYS_REQUIRED),
        L("uomid", "uom", SYS_REQUIRED), L("uomscheduleid", "uomschedule"), Mo("amount"),
        P("pricingmethodcode", {1: "Currency Amount", 2: "Percent of List", 3: "Cost Plus Percent Markup - Current",
                                4: "Percent Margin - Current", 5: "Cost Plus Percent Markup - Standard",
                                6: "Percent Margin - Standard"}),
        L("transactioncurrencyid", "transactioncurrency")]),
    ("uom", "uoms", "uomid", "name", "OrganizationOwned", None, False, 1055, [
        S("name", 100, SYS_REQUIRED), L("uomscheduleid", "uomschedule", SYS_REQUIRED),
        D("quantity", 0, 1000000000, 10, SYS_REQUIRED), L("baseuom", "uom"), B("isschedulebaseuom")]),
    ("uomschedule", "uomschedules", "uomscheduleid", "name", "OrganizationOwned", "default", False, 1056, [
        S("name", 200, SYS_REQUIRED), S("baseuomname", 100), M("description", 2000)]),
    ("quote", "quotes", "quoteid", "name", "UserOwned", "quote", True, 1084, [
        S("name", 300, APP_REQUIRED), S("quotenumber", 100), C("customerid", required=APP_REQUIRED),
        L("pricelevelid", "pricelevel", APP_REQUIRED), L("opportunityid", "opportunity"), Mo("totalamount"),
        Mo("totallineitemamount"), Mo("totaltax"), DT("effectivefrom", date_only=True),
        DT("effectiveto", date_only=True), M("description", 2000),
        L("transactioncurrencyid", "transactioncurrency", APP_REQUIRED)]),
    ("quotedetail", "quotedetails", "quotedetailid", None, "UserOwned", None, False, 1085, [
        L("quoteid", "quote", SYS_REQUIRED), L("productid", "product"), B("isproductoverridden"), B("ispriceoverridden"),
        I("lineitemnumber", 0),
        S("productdescription", 500), D("quantity", 0, 1000000000, 5, APP_REQUIRED), Mo("priceperunit"),
        Mo("manualdiscountamount"), Mo("tax"), Mo("extendedamount"), L("uomid", "uom"), M("description", 2000),
        L("transactioncurrencyid", "transactioncurrency")]),
    ("opportunityproduct", "opportunityproducts", "opportunityproductid", "opportunityproductname", "UserOwned",
     None, False, 1083, [
        S("opportunityproductname", 500, read_only=True), L("opportunityid", "opportunity", SYS_REQUIRED),
        L("productid", "product"), B("isproductoverridden"), B("ispriceoverridden"), S("productdescription", 500),
        D("quantity", 0, 1000000000, 5, APP_REQUIRED), Mo("priceperunit"), Mo("manualdiscountamount"), Mo("tax"),
        Mo("extendedamount"), L("uomid", "uom"), M("description", 2000),
        L("transactioncurrencyid", "transactioncurrency")]),
    ("annotation", "annotations", "annotationid", "subject", "UserOwned", None, False, 5, [
        S("subject", 500), M("notetext", 100000), S("filename", 255), S("mimetype", 256),
        M("documentbody", 1073741823), B("isdocument"), I("filesize", 0, read_only=True),
        Column("objectid", LOOKUP, targets=REGARDING_TARGETS + ("task", "phonecall", "appointment", "email"),
               navs={f"objectid_{t}": t for t in REGARDING_TARGETS + ("task", "phonecall", "appointment", "email")}),
        S("objecttypecode", 100, read_only=True)]),
    ("knowledgearticle", "knowledgearticles", "knowledgearticleid", "title", "UserOwned", "knowledgearticle",
     True, 9953, [
        S("title", 500, SYS_REQUIRED), M("content", 1048576), S("description", 155), M("keywords", 1048576),
        S("articlepublicnumber", 100), I("languagelocaleid_code", 0, read_only=True),
        DT("publishon"), DT("expirationdate")]),
    ("sharepointsite", "sharepointsites", "sharepointsiteid", "name", "UserOwned", "default", False, 9502, [
        S("name", 160, SYS_REQUIRED), S("absoluteurl", 2000), S("relativeurl", 255), M("description", 2000),
        B("isdefault")]),
    ("sharepointdocumentlocation", "sharepointdocumentlocations", "sharepointdocumentlocationid", "name",
     "UserOwned", "default", False, 9508, [
        S("name", 160, SYS_REQUIRED), S("relativeurl", 255), S("absoluteurl", 2000), M("description", 2000),
        Column("parentsiteorlocation", LOOKUP, targets=("sharepointsite", "sharepointdocumentlocation"),
               navs={"parentsiteorlocation_sharepointsite": "sharepointsite",
                     "parentsiteorlocation_sharepointdocumentlocation": "sharepointdocumentlocation"}),
        Column("regardingobjectid", LOOKUP, targets=REGARDING_TARGETS,
               navs={f"regardingobjectid_{t}": t for t in REGARDING_TARGETS})]),
    ("systemuser", "systemusers", "systemuserid", "fullname", "OrganizationOwned", None, False, 8, [
        S("internalemailaddress", 100, SYS_REQUIRED), S("fullname", 200), S("firstname", 64),
        S("lastname", 64), S("domainname", 1024), B("isdisabled"), S("applicationid", 100),
        P("accessmode", {0: "Read-Write", 1: "Administrative", 2: "Read", 3: "Support User", 4: "Non-interactive",
                         5: "Delegated Admin"}),
        S("azureactivedirectoryobjectid", 100), S("title", 128)]),
    # Senders, recipients and attendees of activities (learn.microsoft.com/power-apps/developer/data-platform/
    # activityparty-entity); written only inside an activity (<activity>_activity_parties), read by query or $expand.
    ("activityparty", "activityparties", "activitypartyid", None, "None", None, False, 135, [
        Column("activityid", LOOKUP, targets=("email", "phonecall", "appointment"), read_only=True),
        Column("partyid", LOOKUP, targets=PARTY_TARGETS, navs={f"partyid_{t}": t for t in PARTY_TARGETS}),
        P("participationtypemask", PARTICIPATION_TYPES), S("addressused", 320)]),
    ("team", "teams", "teamid", "name", "OrganizationOwned", None, False, 9, [
        S("name", 160, SYS_REQUIRED), P("teamtype", {0: "Owner", 1: "Access", 2: "Security Group",
                                                    3: "Office Group"})]),
    ("transactioncurrency", "transactioncurrencies", "transactioncurrencyid", "currencyname", "OrganizationOwned",
     "default", False, 9105, [
        S("isocurrencycode", 5, SYS_REQUIRED), S("currencyname", 100, SYS_REQUIRED),
        D("exchangerate", 0.0000000001, 100000000000, 10, SYS_REQUIRED), S("currencysymbol", 10, SYS_REQUIRED),
        I("currencyprecision", 0, 4, SYS_REQUIRED)]),
]

ACTIVITY_SPECS = [  # logical, set, otc, state model, extra columns
    ("task", "tasks", 4212, "task", [I("percentcomplete", 0, 100), S("category", 250)]),
    ("phonecall", "phonecalls", 4210, "phonecall", [S("phonenumber", 200)]),
    ("appointment", "appointments", 4201, "appointment", [S("location", 200), B("isalldayevent")]),
    ("email", "emails", 4202, "email", [S("sender", 250), M("torecipients", 500), M("description", 1048576)]),
]


def _activity_columns(logical: str, extra: list[Column]) -> list[Column]:
    navs = {f"regardingobjectid_{t}_{logical}": t for t in REGARDING_TARGETS}
    navs.update({f"regardingobjectid_{t}": t for t in REGARDING_TARGETS})  # short form, see README
    cols = [S("subject", 200, RECOMMENDED if logical != "email" else NONE), M("description", 2000),
            DT("scheduledstart"), DT("scheduledend"), DT("actualstart"), DT("actualend"),
            I("actualdurationminutes", 0, 2147483647), I("scheduleddurationminutes", 0, 2147483647),
            B("directioncode"), P("prioritycode", ACTIVITY_PRIORITY),
            Column("regardingobjectid", LOOKUP, targets=REGARDING_TARGETS, navs=navs),
            S("activitytypecode", 100, read_only=True), L("transactioncurrencyid", "transactioncurrency")]
    by = {c.name: c for c in cols}
    for c in extra:
        by[c.name] = c
    return list(by.values())


def _common_columns(logical: str, ownership: str, state_model: str | None) -> list[Column]:
    cols = [DT("createdon", read_only=True), DT("modifiedon", read_only=True), DT("overriddencreatedon"),
            I("importsequencenumber"),
            Column("createdby", LOOKUP, targets=("systemuser",), navs={"createdby": "systemuser"}, read_only=True),
            Column("modifiedby", LOOKUP, targets=("systemuser",), navs={"modifiedby": "systemuser"}, read_only=True)]
    if ownership == "UserOwned":
        cols.append(Column("ownerid", OWNER, targets=("systemuser", "team"), navs={"ownerid": "systemuser"},
                           required=SYS_REQUIRED))
    if state_model:
        states, statuses, status_state = STATE_MODELS[state_model]
        cols.append(Column("statecode", STATE, options=dict(states), required=SYS_REQUIRED))
        cols.append(Column("statuscode", STATUS, options=dict(statuses), status_state=dict(status_state)))
    return cols


STATE_MODEL_OF: dict[str, str | None] = {}


def build_tables() -> dict[str, TableDef]:
    """Fresh table definitions (each app instance owns its own, metadata can be extended)."""
    tables: dict[str, TableDef] = {}
    specs = list(TABLE_SPECS)
    for logical, eset, otc, model, extra in ACTIVITY_SPECS:
        specs.append((logical, eset, "activityid", "subject", "UserOwned", model, False, otc,
                      _activity_columns(logical, extra)))
    for logical, eset, pk, pname, ownership, model, multiple, otc, cols in specs:
        STATE_MODEL_OF[logical] = model
        columns: dict[str, Column] = {}
        pk_col = Column(pk, UNIQUEID, is_primary_id=True)
        columns[pk] = pk_col
        for col in cols:
            columns[col.name] = Column(**{k: getattr(col, k) for k in col.__dataclass_fields__ if k != "metadata_id"})
        for col in _common_columns(logical, ownership, model):
            columns.setdefault(col.name, col)
        if pname and pname in columns:
            columns[pname].primary_name = True
        table = TableDef(logical, eset, pk, pname, ownership, columns, is_activity=pk == "activityid",
                         object_type_code=otc, multiple=supports_multiple(logical),
                         can_create_attributes=logical not in NO_CUSTOM_ATTRIBUTES)
        table.index()
        tables[logical] = table
    return tables


def custom_table(schema_name: str, display: str | None, primary: Column, ownership: str = "UserOwned") -> TableDef:
    logical = schema_name.lower()
    pk = f"{logical}id"
    STATE_MODEL_OF[logical] = "default"
    columns = {pk: Column(pk, UNIQUEID, is_primary_id=True, schema_name=f"{schema_name}Id"),
               primary.name: primary}
    primary.primary_name = True
    for col in _common_columns(logical, ownership, "default"):
        columns.setdefault(col.name, col)
    table = TableDef(logical, f"{logical}s", pk, primary.name, ownership, columns, custom=True,
                     object_type_code=10000, multiple=True, display_name=display, schema_name=schema_name)
    table.index()
    return table
