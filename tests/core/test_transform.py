"""The transformer's rules, row by row: a value that cannot be carried warns, a row that cannot load is
rejected with a reason, nothing vanishes."""

from __future__ import annotations

from shared.objects.worketc import ACTIVITY, COMPANY, CONTACT, DEAL, DOCUMENT
from shared.transform import LookupTarget, TransformContext, Transformer, note_id


def ctx(**kw) -> TransformContext:
    targets = {name: LookupTarget(table, f"{table}s" if table != "opportunity" else "opportunities",
                                  "wtc_sourceid", "", set(kw.pop(f"{name}_keys", [])))
               for name, table in [("company", "account"), ("contact", "contact"), ("lead", "lead"),
                                   ("deal", "opportunity"), ("project", "wtc_project"), ("ticket", "incident")]}
    return TransformContext(owners=kw.pop("owners", {"owner@x.com": "u-1"}), default_owner=kw.pop("default", "u-0"),
                            lookup_targets=targets, custom_columns=[], currencies={"AUD": "c-aud"}, **kw)


def src(**fields) -> dict:
    return {"_file": "x.csv", "_row": 7, **fields}


def test_a_bad_value_warns_and_the_row_still_loads():
    out = Transformer(COMPANY, ctx()).row(src(EntityID="1", Name="Acme", Email="bob@@acme", OwnerEmail="owner@x.com",
                                              DateCreated="31/12/2023 09:00"))
    assert out.reject is None
    assert out.row["key"] == "1" and out.row["body"]["name"] == "Acme"
    assert "emailaddress1" not in out.row["body"]
    [w] = out.warnings
    assert (w.field, w.code, w.line, w.file, w.value) == ("Email", "invalid_value", 7, "x.csv", "bob@@acme")
    assert out.row["body"]["ownerid@odata.bind"] == "/systemusers(u-1)"
    assert out.row["body"]["overriddencreatedon"] == "2023-12-30T22:00:00Z"  # Sydney summer time -> UTC


def test_unknown_owner_gets_the_default_owner_and_is_queued():
    out = Transformer(COMPANY, ctx()).row(src(EntityID="1", Name="A", OwnerEmail="Ghost@X.com"))
    assert out.row["body"]["ownerid@odata.bind"] == "/systemusers(u-0)"
    assert out.unmatched_owner == "ghost@x.com"


def test_contact_without_a_migrated_company_goes_to_the_placeholder():
    t = Transformer(CONTACT, ctx(company_keys=["10"]))
    ok = t.row(src(EntityID="5", LastName="L", CompanyID="10"))
    assert ok.row["body"]["parentcustomerid_account@odata.bind"] == "/accounts(wtc_sourceid='10')"
    orphan = t.row(src(EntityID="6", LastName="L", CompanyID="99"))
    assert orphan.row["body"]["parentcustomerid_account@odata.bind"] == "/accounts(wtc_sourceid='worketc-placeholder')"
    assert [w.code for w in orphan.warnings] == ["placeholder_parent"]


def test_keys_with_forbidden_characters_bind_encoded():
    t = Transformer(CONTACT, ctx(company_keys=["A/B"]))
    out = t.row(src(EntityID="5", LastName="L", CompanyID="A/B"))
    assert out.row["body"]["parentcustomerid_account@odata.bind"] == "/accounts(wtc_sourceid='A~2FB')"


def test_unknown_currency_rejects_the_deal_with_a_reason():
    out = Transformer(DEAL, ctx()).row(src(EntityID="4", Name="D", Currency="XYZ", Stage="Proposal", Status="Open"))
    assert out.row is None and out.reject.code == "unknown_currency" and out.reject.field == "Currency"


def test_won_deal_carries_a_close_instruction_with_revenue_and_date():
    out = Transformer(DEAL, ctx()).row(src(EntityID="4", Name="D", Currency="AUD", Amount="1200.50",
                                           CloseDate="13/01/2023", Stage="Closed Won", Status="Won"))
    body = out.row["body"]
    assert body["salesstage"] == 3 and body["stepname"] == "4-Close" and "statecode" not in body
    assert out.row["close"] == {"action": "WinOpportunity", "params": {"Status": 3, "OpportunityClose": {
        "subject": "Won: D", "actualrevenue": 1200.5, "actualend": "2023-01-13T00:00:00Z"}}}


def test_activities_route_by_type_and_notes_get_a_stable_guid():
    t = Transformer(ACTIVITY, ctx(company_keys=["10"]))
    call = t.row(src(EntityID="9", Type="Call", Subject="s", RegardingType="Company", RegardingID="10",
                     Status="Completed", Direction="Incoming", Start="2024-01-01T10:00:00"))
    assert call.row["table"] == "phonecall"
    assert call.row["body"]["regardingobjectid_account_phonecall@odata.bind"] == "/accounts(wtc_sourceid='10')"
    assert (call.row["body"]["statecode"], call.row["body"]["statuscode"]) == (1, 4)
    note = t.row(src(EntityID="9", Type="Note", Subject="n", Body="text", RegardingType="Company", RegardingID="10"))
    assert note.row["table"] == "annotation" and note.row["body"]["objectid_account@odata.bind"]
    assert note.row["key"] == note_id("worketc", "activity", "9") and note.row["source_key"] == "9"
    weird = t.row(src(EntityID="11", Type="Fax", Subject="f"))
    assert weird.reject.code == "unknown_type" and weird.reject.field == "Type"


def test_document_without_a_migrated_record_is_rejected_not_dropped():
    out = Transformer(DOCUMENT, ctx()).row(src(EntityID="1", FileName="a.pdf", RegardingType="Company",
                                               RegardingID="404", Path="1/a.pdf"))
    assert out.row is None and out.reject.code == "missing_parent" and out.reject.line == 7


# ---------------------------------------------------------------------- nothing changed without a word

from shared.objects.worketc import INVOICE, INVOICE_LINE, TICKET, TICKET_MESSAGE  # noqa: E402


def test_urgent_tickets_become_high_declared_and_the_priority_is_kept():
    out = Transformer(TICKET, ctx(company_keys=["10"])).row(src(EntityID="1", Subject="S", Priority="Urgent",
                                                                 CompanyID="10", Status="Open"))
    assert out.row["body"]["prioritycode"] == 1 and out.row["body"]["wtc_priority"] == "Urgent"
    assert any("Urgent tickets become High" in n for n in TICKET.notes)


def test_a_ticket_whose_company_was_rejected_warns_before_taking_the_contact_as_customer():
    t = Transformer(TICKET, ctx(company_keys=["10"], contact_keys=["5"]))
    out = t.row(src(EntityID="1", Subject="S", CompanyID="99", ContactID="5", Status="Open"))
    assert out.row["body"]["customerid_contact@odata.bind"] == "/contacts(wtc_sourceid='5')"
    [w] = out.warnings
    assert (w.code, w.field, w.value, w.line, w.file) == ("customer_substituted", "CompanyID", "99", 7, "x.csv")
    assert not t.row(src(EntityID="2", Subject="S", ContactID="5", Status="Open")).warnings, "no company: no warning"


def test_paid_and_void_invoices_are_closed_the_dataverse_way():
    t = Transformer(INVOICE, ctx(company_keys=["10"]))

    def invoice(status):
        return t.row(src(EntityID="1", Number="INV-1", CompanyID="10", Currency="AUD", Status=status))

    paid, void, sent, odd = invoice("Paid"), invoice("Void"), invoice("Overdue"), invoice("Disputed")
    assert paid.row["close"] == {"action": "SetState", "params": {"statecode": 2, "statuscode": 100001}}
    assert void.row["close"] == {"action": "SetState", "params": {"statecode": 3, "statuscode": 100003}}
    assert "statecode" not in paid.row["body"], "statecode is not valid for create"
    assert "close" not in sent.row and sent.row["body"]["statuscode"] == 4
    assert [(w.code, w.field, w.value) for w in odd.warnings] == [("unmapped_value", "Status", "Disputed")]
    assert INVOICE_LINE.inside == "invoice"


def test_decimals_beyond_the_columns_precision_are_rounded_with_a_warning():
    t = Transformer(INVOICE_LINE, ctx())
    t.ctx.lookup_targets["invoice"] = LookupTarget("invoice", "invoices", "wtc_sourceid", "", {"9"})
    out = t.row(src(EntityID="1", InvoiceID="9", Quantity="1.123456", UnitPrice="10.005", Tax="1.10"))
    body = out.row["body"]
    assert (body["quantity"], body["priceperunit"], body["tax"]) == (1.12346, 10.01, 1.1)
    assert sorted((w.code, w.field, w.value) for w in out.warnings) == [("rounded", "Quantity", "1.123456"),
                                                                       ("rounded", "UnitPrice", "10.005")]


def test_ticket_messages_carry_sender_and_recipients_as_activity_parties():
    t = Transformer(TICKET_MESSAGE, ctx())
    t.ctx.lookup_targets["ticket"] = LookupTarget("incident", "incidents", "wtc_sourceid", "", {"3"})
    out = t.row(src(EntityID="8", TicketID="3", FromAddress="Ann <ann@x.com>", ToAddress="a@b.com; c@d.com",
                    Direction="Sideways", Sent="2024-01-01T10:00:00"))
    assert out.row["body"]["email_activity_parties"] == [
        {"participationtypemask": 1, "addressused": "ann@x.com"},
        {"participationtypemask": 2, "addressused": "a@b.com"}, {"participationtypemask": 2, "addressused": "c@d.com"}]
    assert [(w.code, w.field, w.value) for w in out.warnings] == [("unmapped_value", "Direction", "Sideways")]


def test_email_activities_get_owner_and_regarding_person_as_parties():
    t = Transformer(ACTIVITY, ctx(contact_keys=["5"]))
    out = t.row(src(EntityID="9", Type="Email", Subject="s", RegardingType="Contact", RegardingID="5",
                    Status="Completed", Direction="Incoming", OwnerEmail="owner@x.com"))
    assert out.row["body"]["email_activity_parties"] == [
        {"participationtypemask": 1, "partyid_contact@odata.bind": "/contacts(wtc_sourceid='5')"},
        {"participationtypemask": 2, "partyid_systemuser@odata.bind": "/systemusers(u-1)"}]
    unknown = t.row(src(EntityID="10", Type="Email", Subject="s", RegardingType="Deal", RegardingID="4",
                        Status="Completed", Direction="Outgoing", OwnerEmail="ghost@x.com"))
    assert unknown.row["body"]["email_activity_parties"] == [{"participationtypemask": 1, "addressused": "ghost@x.com"}]
    cancelled = t.row(src(EntityID="11", Type="Task", Subject="s", Status="Cancelled", RegardingType="Contact",
                          RegardingID="5"))
    assert (cancelled.row["body"]["statecode"], cancelled.row["body"]["statuscode"]) == (2, 6)
    odd = t.row(src(EntityID="12", Type="Task", Subject="s", Status="Deferred", RegardingType="Contact",
                    RegardingID="5"))
    assert "statecode" not in odd.row["body"] and [w.code for w in odd.warnings] == ["unmapped_value"]


def test_a_close_without_its_date_says_that_dataverse_will_use_the_migration_date():
    deal = Transformer(DEAL, ctx()).row(src(EntityID="4", Name="D", Currency="AUD", Stage="Closed Won", Status="Won",
                                            CloseDate="31/02/2023"))
    assert [(w.code, w.field) for w in deal.warnings] == [("invalid_value", "CloseDate"),
                                                          ("missing_value", "CloseDate")]
    ticket = Transformer(TICKET, ctx(company_keys=["10"])).row(src(EntityID="1", Subject="S", CompanyID="10",
                                                                   Status="Closed"))
    assert [(w.code, w.field) for w in ticket.warnings] == [("missing_value", "DateClosed")]
    assert ticket.row["close"]["action"] == "CloseIncident"


def test_a_reference_differing_only_in_case_or_accents_binds_as_dataverse_would():
    """Dataverse compares alternate keys case- and accent-insensitively: ``abc`` binds to the row keyed
    ``ABC``; comparing exactly sent such references to the placeholder."""
    from shared.transform import LookupTarget

    t = LookupTarget("account", "accounts", "wtc_sourceid", "co-", {"co-ABC", "co-Müller"})
    assert t.has("abc") and t.has("ABC") and t.has("muller")
    assert not t.has("abd") and not t.has("") and not t.has(None)
