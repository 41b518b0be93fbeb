"""WORKetc objects, declared once (../shared/formats/worketc-csv.md -> Dataverse).

Field names on the left are WORKetc's (as in the CSV export and the SOAP records), on the right
Dataverse logical names. Every migrated row carries its ``EntityID`` in ``wtc_sourceid``, an
alternate key, so reruns upsert instead of duplicating and lookups bind by key.
"""

from __future__ import annotations

from .spec import Column, Field, Lookup, ObjectSpec

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
    entity_set="systemusers",
    pipeline="owners",
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
    entity_set="accounts",
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
    entity_set="contacts",
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

OBJECTS: dict[str, ObjectSpec] = {s.name: s for s in (USER, CUSTOM_FIELD, COMPANY, CONTACT)}
