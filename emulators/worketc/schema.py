"""The emulated WORKetc service description: record types, operations and the WSDL built from them.

What is public (../shared/REFERENCE.md, "WORKetc API (source)"): SOAP 1.2 at ``/xml``, WSDL at
``/xml?wsdl``, ``AuthenticateWebSafe(email, pass)``, the ``VeetroSession`` HTTP header, each
operation ``X`` answering in ``XResult``, and the operation names ``GetActvities`` (sic),
``GetSupportCasesByOwner(EntityID, status, top)``, ``GetProjectsByMember(EntityID, Membership)``,
``GetProjectStageGroups``, ``FindProjects(keywords)``, ``GetAllCurrenciesWebSafe``.

Everything else here is *inferred* (WORKetc's reference at admin.worketc.com/xml is not reachable)
and styled after the ASP.NET ``.asmx`` services WORKetc is built on: document/literal wrapped,
``elementFormDefault="qualified"``, ``ArrayOfX`` result types, every record field optional
(``minOccurs="0"``). Record fields carry the CSV export contract's names
(../shared/formats/worketc-csv.md) and are typed ``s:string``: the emulator serves the text of the
tenant's CSV export verbatim, so a CSV run and a SOAP run see the same values. Custom fields travel
as ``CustomFields/CustomField{Label, Value}`` (a value-less entry means an empty custom field).

Inferred arguments of the list operations: ``skip`` (records to skip) and ``top`` (records to
return; 0 or absent = the server's page size, larger values are capped at it), and
``modifiedSince`` (``s:dateTime``; records whose ``DateModified`` is at or after it) on the objects
that have a ``DateModified`` column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.sax.saxutils import escape

NS = "http://schema.veetro.com/"  # inferred: WORKetc is a Veetro product
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"


@dataclass(frozen=True)
class RecordType:
    name: str  # XSD complexType / element name of one record, e.g. "Company"
    file: str  # the CSV file of the export that holds these records
    columns: tuple[str, ...]  # the contract's columns, in XSD sequence order
    computed_name: bool = False  # the record has no Name column: the server computes one
    custom_fields: bool = True  # extra CSV columns travel as CustomFields


@dataclass(frozen=True)
class Operation:
    name: str
    record: str | None  # RecordType name listed in XResult (None: special result)
    args: tuple[tuple[str, str], ...] = ()  # (name, xsd type) besides skip/top/modifiedSince
    paged: bool = True
    modified_filter: bool = False
    doc: str = ""
    extra: dict = field(default_factory=dict)


_MOD = ("DateCreated", "DateModified")

RECORD_TYPES: tuple[RecordType, ...] = (
    RecordType("Company", "companies.csv", ("EntityID", "Name", "Website", "Email", "Phone", "Fax",
               "Address1", "Address2", "City", "State", "PostCode", "Country", "Industry",
               "OwnerEmail") + _MOD),
    RecordType("Contact", "contacts.csv", ("EntityID", "Name", "FirstName", "LastName", "Email",
               "Phone", "Mobile", "JobTitle", "CompanyID", "Address1", "City", "State", "PostCode",
               "Country", "LifecycleStage", "OwnerEmail") + _MOD, computed_name=True),
    RecordType("Lead", "leads.csv", ("EntityID", "Name", "FirstName", "LastName", "CompanyName",
               "Email", "Phone", "Status", "Source", "Score", "Converted", "OwnerEmail") + _MOD,
               computed_name=True),
    RecordType("Deal", "deals.csv", ("EntityID", "Name", "CompanyID", "ContactID", "Stage",
               "Amount", "Currency", "Probability", "CloseDate", "Status", "WinReason",
               "LossReason", "OwnerEmail") + _MOD),
    RecordType("Project", "projects.csv", ("EntityID", "Name", "CompanyID", "DealID",
               "ProjectType", "Stage", "ProgressPercent", "StartDate", "EndDate", "Budget",
               "Status", "OwnerEmail") + _MOD),
    RecordType("SupportCase", "tickets.csv", ("EntityID", "Name", "Subject", "Description",
               "Status", "Priority", "CompanyID", "ContactID", "OwnerEmail") + _MOD
               + ("DateClosed",), computed_name=True),
    RecordType("SupportCaseMessage", "ticket_messages.csv", ("EntityID", "Name", "TicketID",
               "FromAddress", "ToAddress", "Subject", "Body", "Sent", "Direction"),
               computed_name=True),
    RecordType("Invoice", "invoices.csv", ("EntityID", "Name", "Number", "CompanyID", "ContactID",
               "DealID", "Status", "IssueDate", "DueDate", "Currency", "Subtotal", "Tax", "Total",
               "AmountPaid") + _MOD, computed_name=True),
    RecordType("InvoiceLine", "invoice_lines.csv", ("EntityID", "Name", "InvoiceID", "Description",
               "Quantity", "UnitPrice", "Discount", "Tax", "LineTotal"), computed_name=True),
    RecordType("Employee", "users.csv", ("EntityID", "Name", "Email", "Role", "Active")),
    RecordType("Contractor", "contractors.csv", ("EntityID", "Name", "Email", "CompanyID", "Phone",
               "Role")),
    RecordType("Activity", "activities.csv", ("EntityID", "Name", "Type", "Subject", "Body",
               "Start", "End", "DueDate", "Status", "Direction", "RegardingType", "RegardingID",
               "OwnerEmail", "DateCreated"), computed_name=True),
    RecordType("Document", "documents.csv", ("EntityID", "Name", "FileName", "MimeType",
               "SizeBytes", "Sha256", "RegardingType", "RegardingID", "Path", "DateCreated",
               "OwnerEmail"), computed_name=True),
    RecordType("KnowledgeBaseArticle", "kb_articles.csv", ("EntityID", "Name", "Title", "Category",
               "Body", "Published") + _MOD, computed_name=True),
    RecordType("CustomFieldDefinition", "custom_fields.csv", ("EntityID", "Name", "Object", "Label",
               "Type", "Options"), computed_name=True),
)
RECORDS_BY_NAME = {r.name: r for r in RECORD_TYPES}

# The operation each record type is listed by. Public names where public code shows them.
OPERATIONS: tuple[Operation, ...] = (
    Operation("GetCompanies", "Company", modified_filter=True),
    Operation("GetContacts", "Contact", modified_filter=True),
    Operation("GetLeads", "Lead", modified_filter=True),
    Operation("GetDeals", "Deal", modified_filter=True),
    Operation("FindProjects", "Project", args=(("keywords", "s:string"),), modified_filter=True,
              doc="public: FindProjects(keywords); empty keywords = every project"),
    Operation("GetProjectsByMember", "Project", args=(("EntityID", "s:int"), ("Membership", "s:string")),
              paged=False, doc="public: the projects a user owns (Membership Any|Owner)"),
    Operation("GetProjectStageGroups", None, paged=False, doc="public: project types and stages"),
    Operation("GetSupportCases", "SupportCase", modified_filter=True),
    Operation("GetSupportCasesByOwner", "SupportCase",
              args=(("EntityID", "s:int"), ("status", "s:string"), ("top", "s:int")), paged=False,
              doc="public: top 0 = all; status Open|Closed|All"),
    Operation("GetSupportCaseMessages", "SupportCaseMessage"),
    Operation("GetInvoices", "Invoice", modified_filter=True),
    Operation("GetInvoiceLines", "InvoiceLine"),
    Operation("GetEmployees", "Employee"),
    Operation("GetContractors", "Contractor"),
    Operation("GetActvities", "Activity", doc="public (sic)"),
    Operation("GetDocuments", "Document",
              doc="metadata; binaries: GET /Files/Download/{EntityID} with VeetroSession"),
    Operation("GetKnowledgeBaseArticles", "KnowledgeBaseArticle", modified_filter=True),
    Operation("GetCustomFieldDefinitions", "CustomFieldDefinition"),
    Operation("GetAllCurrenciesWebSafe", None, paged=False, doc="public"),
)
OPERATIONS_BY_NAME = {o.name: o for o in OPERATIONS}


def _el(name: str, typ: str, *, min_occurs: int = 0, max_occurs: str = "1", nillable: bool = False) -> str:
    nil = ' nillable="true"' if nillable else ""
    return f'<s:element minOccurs="{min_occurs}" maxOccurs="{max_occurs}" name="{name}"{nil} type="{typ}"/>'


def _complex(name: str, elements: list[str]) -> str:
    return f'<s:complexType name="{name}"><s:sequence>{"".join(elements)}</s:sequence></s:complexType>'


def _array(item: str) -> str:
    return _complex(f"ArrayOf{item}", [_el(item, f"tns:{item}", max_occurs="unbounded", nillable=True)])


def _wrapper(name: str, elements: list[str]) -> str:
    return (f'<s:element name="{name}"><s:complexType><s:sequence>{"".join(elements)}'
            f"</s:sequence></s:complexType></s:element>")


def operation_args(op: Operation) -> list[tuple[str, str]]:
    args = list(op.args)
    if op.paged:
        args += [("skip", "s:int"), ("top", "s:int")]
    if op.modified_filter:
        args.append(("modifiedSince", "s:dateTime"))
    return args


def build_wsdl(address: str) -> str:
    """The WSDL of the emulated tenant; ``address`` is the SOAP endpoint (``.../xml``)."""
    types: list[str] = []
    for rt in RECORD_TYPES:
        fields = [_el(c, "s:string") for c in rt.columns]
        if rt.custom_fields:
            fields.append(_el("CustomFields", "tns:ArrayOfCustomField"))
        types.append(_complex(rt.name, fields))
        types.append(_array(rt.name))
    types.append(_complex("CustomField", [_el("Label", "s:string"), _el("Value", "s:string")]))
    types.append(_array("CustomField"))
    types.append(_complex("ProjectStage", [_el(c, "s:string") for c in ("EntityID", "Name", "Order", "WeightPercent")]))
    types.append(_array("ProjectStage"))
    types.append(_complex("ProjectStageGroup", [_el("EntityID", "s:int", min_occurs=1), _el("Name", "s:string"),
                                                _el("Stages", "tns:ArrayOfProjectStage")]))
    types.append(_array("ProjectStageGroup"))
    types.append(_complex("Currency", [_el("EntityID", "s:int", min_occurs=1), _el("Name", "s:string"),
                                       _el("Code", "s:string"), _el("Symbol", "s:string"),
                                       _el("ExchangeRate", "s:decimal", nillable=True)]))
    types.append(_array("Currency"))
    types.append(_complex("UserInfo", [_el("EntityID", "s:int", min_occurs=1), _el("Name", "s:string"),
                                       _el("Email", "s:string")]))
    types.append(_complex("AuthenticateResult", [_el("Code", "tns:AuthenticateCode", min_occurs=1),
                                                 _el("SessionKey", "s:string"), _el("User", "tns:UserInfo")]))
    types.append('<s:simpleType name="AuthenticateCode"><s:restriction base="s:string">'
                 '<s:enumeration value="Success"/><s:enumeration value="Not_Found"/>'
                 "</s:restriction></s:simpleType>")

    elements = [
        _wrapper("AuthenticateWebSafe", [_el("email", "s:string"), _el("pass", "s:string")]),
        _wrapper("AuthenticateWebSafeResponse", [_el("AuthenticateWebSafeResult", "tns:AuthenticateResult")]),
    ]
    for op in OPERATIONS:
        args = [_el(n, t, min_occurs=0) for n, t in operation_args(op)]
        elements.append(_wrapper(op.name, args))
        result_type = {"GetProjectStageGroups": "ArrayOfProjectStageGroup",
                       "GetAllCurrenciesWebSafe": "ArrayOfCurrency"}.get(op.name, f"ArrayOf{op.record}")
        elements.append(_wrapper(f"{op.name}Response", [_el(f"{op.name}Result", f"tns:{result_type}")]))

    names = ["AuthenticateWebSafe"] + [o.name for o in OPERATIONS]
    messages = "".join(
        f'<wsdl:message name="{n}SoapIn"><wsdl:part name="parameters" element="tns:{n}"/></wsdl:message>'
        f'<wsdl:message name="{n}SoapOut"><wsdl:part name="parameters" element="tns:{n}Response"/></wsdl:message>'
        for n in names)
    port_ops = "".join(
        f'<wsdl:operation name="{n}"><wsdl:input message="tns:{n}SoapIn"/>'
        f'<wsdl:output message="tns:{n}SoapOut"/></wsdl:operation>' for n in names)
    binding_ops = "".join(
        f'<wsdl:operation name="{n}"><soap12:operation soapAction="{NS}{n}" style="document"/>'
        f'<wsdl:input><soap12:body use="literal"/></wsdl:input>'
        f'<wsdl:output><soap12:body use="literal"/></wsdl:output></wsdl:operation>' for n in names)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" '
        'xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" '
        'xmlns:s="http://www.w3.org/2001/XMLSchema" '
        f'xmlns:tns="{NS}" targetNamespace="{NS}">'
        f'<wsdl:types><s:schema elementFormDefault="qualified" targetNamespace="{NS}">'
        + "".join(types) + "".join(elements) +
        "</s:schema></wsdl:types>" + messages +
        f'<wsdl:portType name="WorketcSoap">{port_ops}</wsdl:portType>'
        '<wsdl:binding name="WorketcSoap12" type="tns:WorketcSoap">'
        '<soap12:binding transport="http://schemas.xmlsoap.org/soap/http"/>'
        f"{binding_ops}</wsdl:binding>"
        '<wsdl:service name="Worketc"><wsdl:port name="WorketcSoap12" binding="tns:WorketcSoap12">'
        f'<soap12:address location="{escape(address, {chr(34): "&quot;"})}"/></wsdl:port></wsdl:service>'
        "</wsdl:definitions>"
    )
