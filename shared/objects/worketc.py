"""WORKetc objects, declared once (../shared/formats/worketc-csv.md -> Dataverse).

Field names on the left are WORKetc's (as in the CSV export and the SOAP records), on the right
Dataverse logical names. Every migrated row carries its ``EntityID`` in ``wtc_sourceid``, an
alternate key, so reruns upsert instead of duplicating and lookups bind by key.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ..problems import csv_text
from ..sources.worketc.values import FieldError
from .spec import Close, Column, Field, Lookup, ObjectSpec, Route, price_list_key

SOURCE = "worketc"

_ADDRESS = (
    Field("Address1", "address1_line1"),
    Field("City", "address1_city"),
    Field("State", "address1_stateorprovince"),
    Field("PostCode", "address1_postalcode"),
    Field("Country", "address1_country"),
)

USER = ObjectSpec(
    name="user",
    source=SOURCE,
    file="users.csv",
    table="systemuser",
    pipeline="owners",
    role_field="Role",
    owner_field=None,
    created_field=None,
    required=True,
)

CUSTOM_FIELD = ObjectSpec(
    name="custom_field",
    source=SOURCE,
    file="custom_fields.csv",
    pipeline="custom_fields",
    key_field="Label",
    owner_field=None,
    created_field=None,
)

COMPANY = ObjectSpec(
    name="company",
    source=SOURCE,
    file="companies.csv",
    table="account",
    depends_on=("user", "custom_field"),
    custom_fields_object="Company",
    required=True,
    fields=(
        Field("Name", "name"),
        Field("Website", "websiteurl", "url"),
        Field("Email", "emailaddress1", "email"),
        Field("Phone", "telephone1", "phone"),
        Field("Fax", "fax", "phone"),
        Field("Address2", "address1_line2"),
        *_ADDRESS,
        Field("Industry", "wtc_industry"),
    ),
    columns=(Column("wtc_industry", "String", "Industry (WORKetc)", max_length=200),),
    placeholder={
        "name": "WORKetc: contacts without a company",
        "description": "Placeholder account created by the migration for WORKetc contacts that had no "
        "valid company. Reassign these contacts, then delete this account.",
    },
)

CONTACT = ObjectSpec(
    name="contact",
    source=SOURCE,
    file="contacts.csv",
    table="contact",
    depends_on=("company", "user", "custom_field"),
    custom_fields_object="Contact",
    required=True,
    fields=(
        Field("FirstName", "firstname"),
        Field("LastName", "lastname"),
        Field("Email", "emailaddress1", "email"),
        Field("Phone", "telephone1", "phone"),
        Field("Mobile", "mobilephone", "phone"),
        Field("JobTitle", "jobtitle"),
        *_ADDRESS,
        Field("LifecycleStage", "wtc_lifecyclestage"),
    ),
    lookups=(Lookup("CompanyID", "company", "parentcustomerid_account", missing="placeholder"),),
    columns=(Column("wtc_lifecyclestage", "String", "Lifecycle stage (WORKetc)", max_length=100),),
)

CONTRACTOR = ObjectSpec(
    name="contractor",
    source=SOURCE,
    file="contractors.csv",
    table="contact",
    key_prefix="contractor-",  # contacts and contractors share the contact table and its key
    depends_on=("company", "user"),
    role_field="Role",
    owner_field=None,
    created_field=None,
    fields=(
        Field("Email", "emailaddress1", "email"),
        Field("Phone", "telephone1", "phone"),
        Field("Role", "wtc_contractorrole"),
    ),
    constants={"wtc_iscontractor": True},
    lookups=(Lookup("CompanyID", "company", "parentcustomerid_account", missing="placeholder"),),
    columns=(Column("wtc_iscontractor", "Boolean", "Contractor (WORKetc portal user)"),
             Column("wtc_contractorrole", "String", "Contractor role (WORKetc)", max_length=100)),
    shape=lambda src, body, warn, s: {**body, **_split_name(src.get("Name"))},
    listing=("contractor_roles.csv", ("EntityID", "Name", "Email", "CompanyID", "Role")),
    notes=("Contractor portal users become contacts with wtc_iscontractor = true; portal access does not "
           "migrate: their roles are listed in contractor_roles.csv for the administrator's security-role work.",),
)


def _split_name(name: str | None) -> dict:
    parts = (name or "").strip().rsplit(" ", 1)
    return {"firstname": parts[0], "lastname": parts[1]} if len(parts) == 2 else {"lastname": parts[0] or None}


# --------------------------------------------------------------------------- leads

#: WORKetc lead source -> Dataverse leadsourcecode (unknown sources: Other, raw value kept in wtc_leadsource)
LEAD_SOURCES = {"Advertisement": 1, "Employee Referral": 2, "Referral": 3, "External Referral": 3, "Partner": 4,
                "Public Relations": 5, "Seminar": 6, "Trade Show": 7, "Website": 8, "Web": 8,
                "Word of Mouth": 9, "Cold Call": 10, "Other": 10}
#: WORKetc lead status -> (statecode, statuscode). Qualification (QualifyLead) is the administrator's step:
#: qualified and converted leads stay open, flagged; unqualified ones are disqualified (Lost).
LEAD_STATES = {"New": (0, 1), "Contacted": (0, 2), "Qualified": (0, 2), "Converted": (0, 2), "Unqualified": (2, 4)}


def _lead_shape(src: dict, body: dict, warn, s) -> dict:
    status = (src.get("Status") or "").strip()
    state = next((v for k, v in LEAD_STATES.items() if k.casefold() == status.casefold()), None)
    if state is None:
        if status:
            warn("unmapped_value", "Status", f"lead status {status!r} has no Dataverse equivalent; the lead "
                                             "stays New (the WORKetc status is in wtc_leadstatus)")
        state = (0, 1)
    body["statecode"], body["statuscode"] = state
    name = " ".join(filter(None, [src.get("FirstName"), src.get("LastName")]))
    body["subject"] = s.fit(src.get("CompanyName") or name or f"WORKetc lead {src.get('EntityID')}", 300,
                            "CompanyName", warn)
    return body


LEAD = ObjectSpec(
    name="lead",
    source=SOURCE,
    file="leads.csv",
    table="lead",
    depends_on=("user", "custom_field"),
    custom_fields_object="Lead",
    fields=(
        Field("FirstName", "firstname"),
        Field("LastName", "lastname"),
        Field("CompanyName", "companyname"),
        Field("Email", "emailaddress1", "email"),
        Field("Phone", "telephone1", "phone"),
        Field("Source", "leadsourcecode", "option", options=LEAD_SOURCES, option_default=10),
        Field("Source", "wtc_leadsource"),
        Field("Status", "wtc_leadstatus"),
        Field("Score", "wtc_leadscore", "decimal"),
        Field("Converted", "wtc_convertedinsource", "bool"),
    ),
    columns=(Column("wtc_leadsource", "String", "Lead source (WORKetc)", max_length=100),
             Column("wtc_leadstatus", "String", "Lead status (WORKetc)", max_length=100),
             Column("wtc_leadscore", "Decimal", "Lead score (WORKetc)"),
             Column("wtc_convertedinsource", "Boolean", "Converted in WORKetc")),
    shape=_lead_shape,
    notes=("Leads converted in WORKetc are flagged wtc_convertedinsource = true and stay open for the "
           "administrator's Qualify step; unqualified leads are disqualified (Lost).",
           "Lead statuses map to Dataverse's: Contacted, Qualified and Converted become Contacted (open); lead sources "
           "without a Dataverse equivalent become Other. The WORKetc status and source stay in wtc_leadstatus and "
           "wtc_leadsource.",),
)

# --------------------------------------------------------------------------- deals

#: WORKetc deal stage -> Dataverse salesstage (0 Qualify, 1 Develop, 2 Propose, 3 Close)
DEAL_STAGES = {"Prospecting": 0, "Qualification": 0, "Needs Analysis": 1, "Discovery": 1, "Proposal": 2,
               "Quote": 2, "Negotiation": 3, "Closed Won": 3, "Closed Lost": 3}
STEP_NAMES = {0: "1-Qualify", 1: "2-Develop", 2: "3-Propose", 3: "4-Close"}


def _iso_date_start(day: str | None) -> str | None:
    return f"{day}T00:00:00Z" if day else None


def _deal_shape(src: dict, body: dict, warn, s) -> dict:
    if (src.get("Status") or "").strip().casefold() in ("won", "lost") and not body.get("estimatedclosedate"):
        warn("missing_value", "CloseDate", "a won or lost deal without a valid CloseDate: Dataverse records the "
                                           "day of the migration as its actual close date")
    if "salesstage" in body:
        body["stepname"] = STEP_NAMES[body["salesstage"]]
    if "parentaccountid@odata.bind" in body:
        body["customerid_account@odata.bind"] = body["parentaccountid@odata.bind"]
    elif "parentcontactid@odata.bind" in body:
        body["customerid_contact@odata.bind"] = body["parentcontactid@odata.bind"]
    return body


def _deal_close(src: dict, body: dict) -> tuple[str, dict] | None:
    status = (src.get("Status") or "").strip().casefold()
    if status not in ("won", "lost"):
        return None
    won = status == "won"
    close: dict[str, Any] = {
        "subject": f"{'Won' if won else 'Lost'}: {body.get('name') or src.get('EntityID')}"[:200],
        "actualrevenue": body.get("estimatedvalue", 0) if won else 0,
        "actualend": _iso_date_start(body.get("estimatedclosedate")),
    }
    reason = src.get("WinReason" if won else "LossReason")
    if reason:
        close["description"] = reason
    close = {k: v for k, v in close.items() if v is not None}
    return ("WinOpportunity", {"Status": 3, "OpportunityClose": close}) if won else \
        ("LoseOpportunity", {"Status": 4, "OpportunityClose": close})


DEAL = ObjectSpec(
    name="deal",
    source=SOURCE,
    file="deals.csv",
    table="opportunity",
    depends_on=("company", "contact", "user", "custom_field"),
    custom_fields_object="Deal",
    fields=(
        Field("Name", "name"),
        Field("Amount", "estimatedvalue", "money"),
        Field("Probability", "closeprobability", "int"),
        Field("CloseDate", "estimatedclosedate", "date"),
        Field("Stage", "salesstage", "option", options=DEAL_STAGES),
        Field("Stage", "wtc_stage"),
        Field("Currency", "transactioncurrencyid", "currency"),
        Field("WinReason", "wtc_winreason"),
        Field("LossReason", "wtc_lossreason"),
    ),
    lookups=(Lookup("CompanyID", "company", "parentaccountid", missing="omit"),
             Lookup("ContactID", "contact", "parentcontactid", missing="omit")),
    columns=(Column("wtc_stage", "String", "Stage (WORKetc)", max_length=100),
             Column("wtc_winreason", "String", "Win reason (WORKetc)", max_length=500),
             Column("wtc_lossreason", "String", "Loss reason (WORKetc)", max_length=500)),
    shape=_deal_shape,
    close=Close("OpportunityClose", "opportunityid", _deal_close),
    notes=("Won and lost deals are closed with WinOpportunity / LoseOpportunity (an opportunityclose with the "
           "original close date and revenue). Closed opportunities are read-only in Dataverse: later reruns leave "
           "them as they are, except their owner, which is corrected once the user exists (reopened, assigned and "
           "closed again with the same close data).",
           "WORKetc deal stages map onto Dataverse's four sales stages (Qualify, Develop, Propose, Close); the "
           "WORKetc stage stays in wtc_stage.",
           "The customer of a deal is its company, else its contact: a deal whose company is not migrated (warned "
           "per deal) has its contact as customer.",),
)

# --------------------------------------------------------------------------- projects


def _stage_config(rows: list[dict]) -> tuple[dict, list[tuple[dict, str, str, str]]]:
    """project_stages.csv -> {project type: {"stages": [{stage, order, weight}], "total_weight"}}."""
    config: dict[str, dict] = {}
    rejects = []
    for r in rows:
        try:
            order = int((r.get("Order") or "").strip())
        except ValueError:
            rejects.append((r, "Order", "invalid_value", f"Order {r.get('Order')!r} is not a whole number"))
            continue
        try:
            weight = Decimal((r.get("WeightPercent") or "").strip())
            if not 0 <= weight <= 100:
                raise InvalidOperation
        except InvalidOperation:
            rejects.append((r, "WeightPercent", "invalid_value",
                            f"WeightPercent {r.get('WeightPercent')!r} is not a percentage between 0 and 100"))
            continue
        t = config.setdefault(r["ProjectType"], {"stages": [], "total_weight": 0.0})
        t["stages"].append({"stage": r["Stage"], "order": order, "weight": float(weight)})
    for t in config.values():
        t["stages"].sort(key=lambda x: x["order"])
        t["total_weight"] = sum(x["weight"] for x in t["stages"])
    return config, rejects


def weighted_progress(stages: list[dict], current: str | None, completed: bool = False) -> float | None:
    """WORKetc's weighted progress: the weights of the stages before the current one (100 when done)."""
    if completed:
        return 100.0
    names = [x["stage"].casefold() for x in stages]
    if not current or current.casefold() not in names:
        return None
    return float(sum(x["weight"] for x in stages[: names.index(current.casefold())]))


def _project_shape(src: dict, body: dict, warn, s) -> dict:
    config = s.ctx.config.get("project_stage", {})
    ptype = src.get("ProjectType")
    types = {k.casefold(): v for k, v in config.items()}
    t = types.get((ptype or "").casefold())
    if t is None:
        if ptype:
            warn("unmapped_value", "ProjectType", f"project type {ptype!r} has no stage configuration; "
                                                  "weighted progress not computed")
        return body
    body["wtc_stageconfig"] = json.dumps({"project_type": ptype, **t}, ensure_ascii=False)
    progress = weighted_progress(t["stages"], src.get("Stage"), (src.get("Status") or "").casefold() == "completed")
    if progress is None and src.get("Stage"):
        warn("unmapped_value", "Stage", f"stage {src.get('Stage')!r} is not a stage of {ptype!r}; "
                                        "weighted progress not computed")
    if progress is not None:
        body["wtc_weightedprogress"] = progress
    return body


PROJECT_STAGE = ObjectSpec(
    name="project_stage",
    source=SOURCE,
    file="project_stages.csv",
    pipeline="config",
    key_field="ProjectType+Stage",
    owner_field=None,
    created_field=None,
    configure=_stage_config,
    notes=("Project types and stages (with weights) are stored as JSON on every project (wtc_stageconfig), "
           "and the weighted progress is computed from them (wtc_weightedprogress).",),
)

PROJECT = ObjectSpec(
    name="project",
    source=SOURCE,
    file="projects.csv",
    table="wtc_project",
    custom_table=("wtc_project", "Project (WORKetc)", "Projects (WORKetc)"),
    depends_on=("company", "deal", "project_stage", "user", "custom_field"),
    uses_config=("project_stage",),
    custom_fields_object="Project",
    fields=(
        Field("Name", "wtc_name"),
        Field("ProjectType", "wtc_projecttype"),
        Field("Stage", "wtc_stage"),
        Field("ProgressPercent", "wtc_progress", "decimal"),
        Field("StartDate", "wtc_startdate", "date"),
        Field("EndDate", "wtc_enddate", "date"),
        Field("Budget", "wtc_budget", "decimal"),
        Field("Status", "wtc_status"),
    ),
    lookups=(Lookup("CompanyID", "company", "wtc_accountid", missing="omit"),
             Lookup("DealID", "deal", "wtc_opportunityid", missing="omit")),
    columns=(Column("wtc_projecttype", "String", "Project type", max_length=200),
             Column("wtc_stage", "String", "Stage", max_length=200),
             Column("wtc_progress", "Decimal", "Progress % (WORKetc)"),
             Column("wtc_weightedprogress", "Decimal", "Weighted progress % (from stage weights)"),
             Column("wtc_stageconfig", "Memo", "Stage configuration (JSON)", max_length=20000),
             Column("wtc_startdate", "DateTime", "Start date", date_only=True),
             Column("wtc_enddate", "DateTime", "End date", date_only=True),
             Column("wtc_budget", "Decimal", "Budget"),
             Column("wtc_status", "String", "Status", max_length=100),
             Column("wtc_accountid", "Lookup", "Account", target="account"),
             Column("wtc_opportunityid", "Lookup", "Opportunity", target="opportunity")),
    shape=_project_shape,
    notes=("Projects land in the custom table wtc_project (one of the 15 custom tables Sales Professional "
           "allows), bound to their account and opportunity.",),
)

# --------------------------------------------------------------------------- tickets

#: Dataverse cases have High (1), Normal (2) and Low (3): WORKetc's Urgent becomes High (declared in the
#: ticket's notes; the WORKetc priority stays in wtc_priority)
TICKET_PRIORITIES = {"Urgent": 1, "High": 1, "Normal": 2, "Medium": 2, "Low": 3}
#: open WORKetc statuses -> incident statuscode within Active; closed ones are resolved with CloseIncident
TICKET_OPEN_STATUS = {"Open": 1, "In Progress": 1, "Waiting on Customer": 3, "On Hold": 2}
TICKET_CLOSED = {"closed", "resolved"}


def _customer(body: dict, src: dict, s, warn, *, required: bool, field: str = "CompanyID") -> dict:
    """customerid: the account, else the contact, else (where Dataverse requires one) the placeholder.

    A company that is named but not migrated never silently gives way to the contact: that is warned."""
    company, person = (src.get("CompanyID") or "").strip(), (src.get("ContactID") or "").strip()
    account, contact = s.bind("company", company), s.bind("contact", person)
    if account:
        body["customerid_account@odata.bind"] = account
    elif contact:
        body["customerid_contact@odata.bind"] = contact
        if company:
            warn("customer_substituted", field, f"CompanyID {company!r} is not a migrated company (missing in the "
                                                f"source or rejected); the customer is the contact {person!r} instead")
    elif required:
        body["customerid_account@odata.bind"] = s.placeholder("company")
        warn("placeholder_parent", field, "no migrated company or contact; the customer is the placeholder account")
    elif company or person:
        warn("missing_parent", field, "the company/contact is not migrated; the customer link was not migrated")
    return body


def _ticket_shape(src: dict, body: dict, warn, s) -> dict:
    body = _customer(body, src, s, warn, required=True)
    contact = s.bind("contact", src.get("ContactID"))
    if contact:
        body["primarycontactid@odata.bind"] = contact
    status = (src.get("Status") or "").strip()
    if status.casefold() in TICKET_CLOSED and not body.get("wtc_dateclosed"):
        warn("missing_value", "DateClosed", "a closed ticket without a valid DateClosed: Dataverse records the "
                                            "time of the migration as its resolution date")
    if status.casefold() not in TICKET_CLOSED:
        code = next((v for k, v in TICKET_OPEN_STATUS.items() if k.casefold() == status.casefold()), None)
        if code is None and status:
            warn("unmapped_value", "Status", f"ticket status {status!r} has no Dataverse equivalent; "
                                             "the case stays In Progress")
        body["statuscode"] = code or 1
    return body


def _ticket_close(src: dict, body: dict) -> tuple[str, dict] | None:
    if (src.get("Status") or "").strip().casefold() not in TICKET_CLOSED:
        return None
    resolution: dict[str, Any] = {"subject": f"Resolved in WORKetc: {body.get('title', '')}"[:200]}
    if body.get("wtc_dateclosed"):
        resolution["actualend"] = body["wtc_dateclosed"]
    return "CloseIncident", {"Status": 5, "IncidentResolution": resolution}


TICKET = ObjectSpec(
    name="ticket",
    source=SOURCE,
    file="tickets.csv",
    table="incident",
    depends_on=("company", "contact", "user", "custom_field"),
    custom_fields_object="Ticket",
    fields=(
        Field("Subject", "title"),
        Field("Description", "description", "memo"),
        Field("Priority", "prioritycode", "option", options=TICKET_PRIORITIES),
        Field("Priority", "wtc_priority"),
        Field("Status", "wtc_ticketstatus"),
        Field("DateClosed", "wtc_dateclosed", "datetime"),
    ),
    columns=(Column("wtc_ticketstatus", "String", "Ticket status (WORKetc)", max_length=100),
             Column("wtc_priority", "String", "Priority (WORKetc)", max_length=100),
             Column("wtc_dateclosed", "DateTime", "Closed on (WORKetc)")),
    shape=_ticket_shape,
    close=Close("IncidentResolution", "incidentid", _ticket_close),
    notes=("Closed tickets are resolved with CloseIncident (an incidentresolution); their conversation is "
           "migrated as completed e-mails regarding the case, with sender and recipients as activity parties.",
           "Dataverse cases have the priorities High, Normal and Low: Urgent tickets become High (the WORKetc "
           "priority stays in wtc_priority).",
           "A ticket whose company is not migrated gets its contact as customer (warned per ticket), else the "
           "placeholder account.",
           "Resolved cases are left as they are by later reruns, except their owner, which is corrected once the "
           "user exists."),
)


#: activity party participation types of an e-mail: Sender, ToRecipient, CCRecipient
#: (learn.microsoft.com/power-apps/developer/data-platform/activityparty-entity)
SENDER, TO_RECIPIENT, CC_RECIPIENT = 1, 2, 3
#: the objects an e-mail party can be (regarding type -> object); others (deals, projects, tickets) are no person
PARTY_OBJECTS = {"Company": "company", "Contact": "contact", "Lead": "lead"}


def _direction(src: dict, warn) -> bool:
    """True for outgoing. A value that is neither Incoming nor Outgoing is warned and taken as outgoing."""
    direction = (src.get("Direction") or "").strip().casefold()
    if direction not in ("incoming", "outgoing", ""):
        warn("unmapped_value", "Direction", f"direction {src.get('Direction')!r} is neither Incoming nor Outgoing; "
                                            "migrated as outgoing")
    return direction != "incoming"


def _address_parties(src: dict, warn, s) -> list[dict]:
    """Parties from the message's own address columns; the loader binds each address to the migrated
    contact, account or user that has it, else the party keeps the bare address (``addressused``)."""
    parties = []
    for column, mask in (("FromAddress", SENDER), ("ToAddress", TO_RECIPIENT), ("CcAddress", CC_RECIPIENT)):
        for address in filter(None, (a.strip() for a in re.split(r"[;,]", src.get(column) or ""))):
            try:
                parties.append({"participationtypemask": mask, "addressused": s.convert("email", address, column)})
            except FieldError as e:
                warn("invalid_value", column, f"{e}; this sender/recipient was not migrated as an activity party")
    return parties


def _email_parties(src: dict, warn, s, outgoing: bool) -> list[dict]:
    """An e-mail activity's sender and recipients: its own address columns where the export has them,
    else its owner (the user who sent or received it) and the company, contact or lead it regards."""
    if any(src.get(c) for c in ("FromAddress", "ToAddress", "CcAddress")):
        return _address_parties(src, warn, s)
    owner_email = (src.get("OwnerEmail") or "").strip().lower()
    user = s.ctx.owners.get(owner_email)
    owner = ({"partyid_systemuser@odata.bind": f"/systemusers({user})"} if user
             else {"addressused": owner_email} if owner_email else None)
    other = None
    target = PARTY_OBJECTS.get((src.get("RegardingType") or "").strip())
    bind = s.bind(target, src.get("RegardingID")) if target else None
    if bind:
        other = {f"partyid_{s.ctx.lookup_targets[target].table}@odata.bind": bind}
    sender, recipient = (owner, other) if outgoing else (other, owner)
    return [{"participationtypemask": mask, **party} for mask, party in ((SENDER, sender), (TO_RECIPIENT, recipient))
            if party]


def _message_shape(src: dict, body: dict, warn, s) -> dict:
    outgoing = _direction(src, warn)
    body["directioncode"] = outgoing
    body["statecode"], body["statuscode"] = 1, (3 if outgoing else 4)  # Completed: Sent / Received
    if body.get("actualend"):
        body["actualstart"] = body["actualend"]
    parties = _address_parties(src, warn, s)
    if parties:
        body["email_activity_parties"] = parties
    return body


TICKET_MESSAGE = ObjectSpec(
    name="ticket_message",
    source=SOURCE,
    file="ticket_messages.csv",
    table="email",
    key_prefix="msg-",  # shares the email table with e-mail activities
    depends_on=("ticket", "user"),
    owner_field=None,
    created_field="Sent",
    fields=(
        Field("Subject", "subject"),
        Field("Body", "description", "memo"),
        Field("FromAddress", "sender"),
        Field("ToAddress", "torecipients"),
        Field("Sent", "actualend", "datetime"),
    ),
    lookups=(Lookup("TicketID", "ticket", "regardingobjectid_incident_email", missing="reject"),),
    shape=_message_shape,
    notes=("Ticket messages keep their sender and recipients as e-mail activity parties: an address that a "
           "migrated contact, account or user has is bound to that record, any other address stays as it was "
           "written (addressused).",),
)

# --------------------------------------------------------------------------- invoices


#: WORKetc invoice status -> (statecode, statuscode) of the Dataverse invoice (Active: New / Billed;
#: Paid: Complete / Partial; Canceled: Canceled), from the invoice table reference
#: (learn.microsoft.com/dynamics365/sales/developer/entities/invoice): statecode is not valid for
#: create, so Paid and Canceled are set after loading (SetState, see _invoice_close)
INVOICE_STATES = {"draft": (0, 1), "sent": (0, 4), "overdue": (0, 4), "paid": (2, 100001),
                  "partially paid": (2, 100002), "partial": (2, 100002), "void": (3, 100003),
                  "cancelled": (3, 100003), "canceled": (3, 100003)}


def _invoice_state(src: dict) -> tuple[int, int] | None:
    return INVOICE_STATES.get((src.get("Status") or "").strip().casefold())


def _invoice_shape(src: dict, body: dict, warn, s) -> dict:
    body = _customer(body, src, s, warn, required=True)
    body["name"] = s.fit(src.get("Number") or f"WORKetc invoice {src.get('EntityID')}", 300, "Number", warn)
    currency = (src.get("Currency") or "").strip().upper()
    if currency:
        from ..dataverse.keys import key_ref

        body["pricelevelid@odata.bind"] = key_ref("pricelevels", "wtc_sourceid", price_list_key(SOURCE, currency))
    state = _invoice_state(src)
    if state is None and src.get("Status"):
        warn("unmapped_value", "Status", f"invoice status {src.get('Status')!r} has no Dataverse equivalent; the "
                                         "invoice stays Active (New); the WORKetc status is in wtc_invoicestatus")
    if state and state[0] == 0:
        body["statuscode"] = state[1]
    return body


def _invoice_close(src: dict, body: dict) -> tuple[str, dict] | None:
    state = _invoice_state(src)
    if not state or state[0] == 0:
        return None
    return "SetState", {"statecode": state[0], "statuscode": state[1]}


INVOICE = ObjectSpec(
    name="invoice",
    source=SOURCE,
    file="invoices.csv",
    table="invoice",
    depends_on=("company", "contact", "deal", "user", "custom_field"),
    custom_fields_object="Invoice",
    price_lists=True,
    fields=(
        Field("Number", "invoicenumber"),
        Field("IssueDate", "wtc_issuedate", "date"),
        Field("DueDate", "duedate", "date"),
        Field("Currency", "transactioncurrencyid", "currency"),
        Field("Status", "wtc_invoicestatus"),
        Field("Subtotal", "wtc_subtotal", "money"),
        Field("Tax", "wtc_tax", "money"),
        Field("Total", "wtc_total", "money"),
        Field("AmountPaid", "wtc_amountpaid", "money"),
    ),
    lookups=(Lookup("DealID", "deal", "opportunityid", missing="omit"),),
    columns=(Column("wtc_issuedate", "DateTime", "Issue date (WORKetc)", date_only=True),
             Column("wtc_invoicestatus", "String", "Invoice status (WORKetc)", max_length=100),
             Column("wtc_subtotal", "Money", "Subtotal (WORKetc)"),
             Column("wtc_tax", "Money", "Tax (WORKetc)"),
             Column("wtc_total", "Money", "Total (WORKetc)"),
             Column("wtc_amountpaid", "Money", "Amount paid (WORKetc)")),
    shape=_invoice_shape,
    close=Close(None, None, _invoice_close),
    notes=("Payments are not migrated (bank reconciliation data); each invoice keeps the amount paid in "
           "wtc_amountpaid and WORKetc's totals in wtc_subtotal / wtc_tax / wtc_total for reconciliation.",
           "Invoices use a migration price list per currency and write-in lines (isproductoverridden).",
           "Invoice status: Draft -> Active (New); Sent and Overdue -> Active (Billed: Dataverse has no Overdue, "
           "the due date says it); Paid -> Paid (Complete), Partially Paid -> Paid (Partial); Void -> Canceled. "
           "Paid and canceled invoices are read-only in Dataverse: they are closed after loading and reopened only "
           "to add a line or correct the owner. The WORKetc status stays in wtc_invoicestatus."),
)


def _line_shape(src: dict, body: dict, warn, s) -> dict:
    body["isproductoverridden"] = True
    body.setdefault("productdescription", f"WORKetc line {src.get('EntityID')}")
    return body


INVOICE_LINE = ObjectSpec(
    name="invoice_line",
    source=SOURCE,
    file="invoice_lines.csv",
    table="invoicedetail",
    depends_on=("invoice",),
    owner_field=None,
    created_field=None,
    inside="invoice",
    fields=(
        Field("Description", "productdescription"),
        Field("Quantity", "quantity", "decimal", precision=5),
        Field("UnitPrice", "priceperunit", "money"),
        Field("Discount", "manualdiscountamount", "money"),
        Field("Tax", "tax", "money"),
        Field("LineTotal", "wtc_linetotal", "money"),
    ),
    lookups=(Lookup("InvoiceID", "invoice", "invoiceid", missing="reject"),),
    columns=(Column("wtc_linetotal", "Money", "Line total (WORKetc)"),),
    shape=_line_shape,
)

# --------------------------------------------------------------------------- activities

ACTIVITY_TABLES = {"Call": "phonecall", "Email": "email", "Meeting": "appointment", "Task": "task",
                   "Note": "annotation"}
REGARDING = {"Company": "company", "Contact": "contact", "Lead": "lead", "Deal": "deal", "Project": "project",
             "Ticket": "ticket"}
#: completed activity -> statuscode per table (and direction)
COMPLETED = {("phonecall", True): 2, ("phonecall", False): 4, ("email", True): 3, ("email", False): 4,
             ("appointment", True): 3, ("appointment", False): 3, ("task", True): 5, ("task", False): 5}


#: canceled activity -> statuscode per table
CANCELED = {"phonecall": 3, "email": 5, "appointment": 4, "task": 6}
#: WORKetc activity status -> Dataverse state (0 open, 1 completed, 2 canceled)
ACTIVITY_STATES = {"": 0, "open": 0, "not started": 0, "in progress": 0, "completed": 1, "done": 1,
                   "cancelled": 2, "canceled": 2}


def _activity_shape(src: dict, body: dict, warn, s) -> dict:
    table = s.table
    text = src.get("Body")
    if table == "annotation":
        if text:
            body["notetext"] = text
        return body
    if text:
        body["description"] = text
    start = s.try_convert("datetime", src.get("Start"), "Start", warn)
    end = s.try_convert("datetime", src.get("End"), "End", warn)
    due = s.try_convert("datetime", src.get("DueDate"), "DueDate", warn)
    state = ACTIVITY_STATES.get((src.get("Status") or "").strip().casefold())
    if state is None:
        warn("unmapped_value", "Status", f"activity status {src.get('Status')!r} is not Open, Completed or "
                                         "Cancelled; the activity stays open")
        state = 0
    if start:
        body["scheduledstart"] = start
    if end or due:
        body["scheduledend"] = end or due
    if state == 1:
        body["actualstart"] = start or end or due or body.get("overriddencreatedon")
        body["actualend"] = end or start or due or body.get("overriddencreatedon")
        body = {k: v for k, v in body.items() if v is not None}
    outgoing = _direction(src, warn)
    if table in ("phonecall", "email") and src.get("Direction"):
        body["directioncode"] = outgoing
    if state:
        body["statecode"], body["statuscode"] = state, (COMPLETED[(table, outgoing)] if state == 1 else CANCELED[table])
    if table == "email":
        parties = _email_parties(src, warn, s, outgoing)
        if parties:
            body["email_activity_parties"] = parties
    return body


ACTIVITY = ObjectSpec(
    name="activity",
    source=SOURCE,
    file="activities.csv",
    table="task",
    route=Route("Type", ACTIVITY_TABLES),
    depends_on=("company", "contact", "lead", "deal", "project", "ticket", "user"),
    fields=(Field("Subject", "subject"),),
    lookups=(Lookup("RegardingID", REGARDING, {"annotation": "objectid_{target_table}",
                                               "*": "regardingobjectid_{target_table}_{table}"},
                    missing="omit", type_field="RegardingType"),),
    shape=_activity_shape,
    notes=("Calls, e-mails, meetings and tasks become phonecall, email, appointment and task activities with "
           "their original dates (completed and cancelled ones closed as such); notes become annotations, which "
           "cannot carry a source-id column in Dataverse, so they are keyed by a GUID derived from the WORKetc id.",
           "WORKetc e-mail activities have no address columns: their activity parties are the owner (sender of an "
           "outgoing e-mail, recipient of an incoming one) and the company, contact or lead the e-mail regards; an "
           "e-mail regarding a deal, project or ticket gets the owner's party only.",),
)

# --------------------------------------------------------------------------- documents


def _document_shape(src: dict, body: dict, warn, s) -> dict:
    from ..transform import Reject

    kind = (src.get("RegardingType") or "").strip()
    target = REGARDING.get(kind)
    if target is None:
        raise Reject("unknown_type", "RegardingType", f"RegardingType {kind!r} is not one of {sorted(REGARDING)}")
    t = s.ctx.lookup_targets[target]
    ref = (src.get("RegardingID") or "").strip()
    if not t.has(ref):
        raise Reject("missing_parent", "RegardingID",
                     f"RegardingID {ref!r} is not a migrated {target}; the file has no record to attach to")
    body["EntityID"] = src.get("EntityID")  # the API downloads binaries by it
    body["regarding"] = {"object": target, "table": t.table, "entity_set": t.entity_set,
                         "key_column": t.key_column, "key": f"{t.key_prefix}{ref}"}
    return body


DOCUMENT = ObjectSpec(
    name="document",
    source=SOURCE,
    file="documents.csv",
    table="sharepointdocumentlocation",
    depends_on=("company", "contact", "lead", "deal", "project", "ticket", "user"),
    load_activity="transfer_documents",
    fields=(
        Field("FileName", "FileName"),
        Field("MimeType", "MimeType"),
        Field("SizeBytes", "SizeBytes", "int"),
        Field("Sha256", "Sha256"),
        Field("Path", "Path"),
    ),
    shape=_document_shape,
    notes=("Files are copied to SharePoint (a folder per record, <name>_<GUID>) and linked with a "
           "sharepointdocumentlocation per record folder.",),
)

# --------------------------------------------------------------------------- knowledge base


def _kb_shape(src: dict, body: dict, warn, s) -> dict:
    category, title, html = src.get("Category"), src.get("Title") or "", src.get("Body") or ""
    published = s.try_convert("bool", src.get("Published"), "Published", warn)
    if s.table == "annotation":  # no Knowledge Management: a note, category in the subject
        return {k: v for k, v in {
            "subject": s.fit(f"[{category}] {title}" if category else title, 500, "Title", warn), "notetext": html,
            "ownerid@odata.bind": body.get("ownerid@odata.bind"),
            "overriddencreatedon": body.get("overriddencreatedon")}.items() if v is not None}
    body.update({"title": title, "content": html, "keywords": category, "wtc_category": category,
                 "wtc_publishedinsource": bool(published)})
    return {k: v for k, v in body.items() if v is not None}


KB_ARTICLE = ObjectSpec(
    name="kb_article",
    source=SOURCE,
    file="kb_articles.csv",
    table="knowledgearticle",
    fallback_table="annotation",
    depends_on=("user",),
    owner_field=None,
    columns=(Column("wtc_category", "String", "Category (WORKetc)", max_length=200),
             Column("wtc_publishedinsource", "Boolean", "Published in WORKetc")),
    shape=_kb_shape,
    notes=("Articles become knowledgearticle drafts (HTML body kept, category in wtc_category; published ones "
           "flagged wtc_publishedinsource for review and publishing). Without Knowledge Management they become "
           "notes with the category in the subject (notes cannot take custom columns).",),
)

# --------------------------------------------------------------------------- workflows (inventory only)

FLOW_TRIGGERS = [
    (("created", "added", "new "), "Dataverse: When a row is added, modified or deleted (change type: Added)"),
    (("updated", "changed", "modified", "status ="), "Dataverse: When a row is added, modified or deleted "
                                                      "(change type: Modified, with filter columns)"),
    (("daily", "weekly", "monthly", "every", " am", " pm", "schedule"), "Schedule: Recurrence (scheduled cloud flow)"),
    (("form", "web"), "Dataverse: When a row is added (rows created by a Power Pages or Customer Voice form)"),
    (("email received", "inbound email"), "Office 365 Outlook: When a new email arrives (V3)"),
]
FLOW_ACTIONS = [
    (("email", "send", "template"), "Office 365 Outlook: Send an email (V2), or Dataverse: Add a new row (Email) "
                                    "+ Perform a bound action SendEmail"),
    (("assign", "round-robin", "owner"), "Dataverse: Update a row (Owner), or an assignment rule"),
    (("task", "follow-up", "follow up", "reminder"), "Dataverse: Add a new row (Tasks)"),
    (("notify", "alert", "slack", "teams"), "Microsoft Teams: Post message in a chat or channel"),
    (("update", "set ", "change"), "Dataverse: Update a row"),
    (("invoice", "overdue"), "Dataverse: List rows (with a filter) + Apply to each"),
    (("webhook", "http", "api"), "HTTP: HTTP (premium connector)"),
]


def _recommend(text: str, table: list[tuple[tuple[str, ...], str]], default: str) -> str:
    t = f" {text.casefold()} "
    hits = [rec for words, rec in table if any(w in t for w in words)]
    return "; ".join(dict.fromkeys(hits)) or default


def _workflow_inventory(rows: list[dict]) -> tuple[dict[str, str], list]:
    rejects, items = [], []
    for r in rows:
        if not (r.get("Trigger") or r.get("Actions")):
            rejects.append((r, "Trigger", "incomplete", "the workflow lists neither a trigger nor actions"))
            continue
        items.append({**{k: r.get(k) or "" for k in ("Name", "Trigger", "Conditions", "Actions", "Active")},
                      "Power Automate trigger": _recommend(r.get("Trigger") or "", FLOW_TRIGGERS,
                                                           "Dataverse: When a row is added, modified or deleted"),
                      "Power Automate actions": _recommend(r.get("Actions") or "", FLOW_ACTIONS,
                                                           "review by hand")})
    md = ["# WORKetc workflows: inventory for the rebuild in Power Automate", "",
          "WORKetc workflows and automations are not exposed by its API and do not migrate. Each one below "
          "lists its trigger, conditions and actions as the administrator recorded them, with a recommended "
          "Power Automate equivalent.", ""]
    for it in items:
        md += [f"## {it['Name']}" + ("" if it["Active"].casefold() in ("yes", "true", "1") else " (inactive)"), "",
               f"- **Trigger:** {it['Trigger']}", f"- **Conditions:** {it['Conditions'] or '(none)'}",
               f"- **Actions:** {it['Actions']}".replace("\n", " "),
               f"- **Power Automate trigger:** {it['Power Automate trigger']}",
               f"- **Power Automate actions:** {it['Power Automate actions']}", ""]
    columns = list(items[0]) if items else ["Name"]
    return {"workflows.md": "\n".join(md), "workflows.csv": csv_text(columns, items)}, rejects


WORKFLOW = ObjectSpec(
    name="workflow",
    source=SOURCE,
    file="workflows.csv",
    pipeline="inventory",
    key_field="Name",
    owner_field=None,
    created_field=None,
    inventory=_workflow_inventory,
    notes=("Not migrated: workflows.md and workflows.csv inventory every workflow with a recommended Power "
           "Automate equivalent.",),
)

OBJECTS: dict[str, ObjectSpec] = {s.name: s for s in (
    USER, CUSTOM_FIELD, COMPANY, CONTACT, CONTRACTOR, LEAD, DEAL, PROJECT_STAGE, PROJECT, TICKET, TICKET_MESSAGE,
    INVOICE, INVOICE_LINE, ACTIVITY, DOCUMENT, KB_ARTICLE, WORKFLOW)}
