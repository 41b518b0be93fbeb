"""How verification compares a value sent with the value Dataverse answers, column type by column type."""

from __future__ import annotations

import pytest

from shared.steps.readback import ColumnInfo, columns_of, lookup_column, same

MONEY4 = ColumnInfo("Money", precision=4)
MONEY2 = ColumnInfo("Money", precision=2)
DECIMAL2 = ColumnInfo("Decimal", precision=2)
DATETIME = ColumnInfo("DateTime")
DATE_ONLY = ColumnInfo("DateTime", date_only=True)
OPTION = ColumnInfo("Picklist")
MEMO = ColumnInfo("Memo")
STRING = ColumnInfo("String")


@pytest.mark.parametrize("sent, found, column, equal", [
    # money and decimals at the column's precision
    (1453.12, 1453.12, MONEY4, True), (3265.29, 3265.2900, MONEY4, True), (0.125, 0.125, MONEY4, True),
    (14531.145, 14531.15, MONEY2, True),  # rounded to 2 places by Dataverse
    (14531.14, 14531.15, MONEY2, False), (1453.12, 1453.1201, MONEY4, False), (100, 150.0, MONEY2, False),
    (35.0, 35, DECIMAL2, True), (35.004, 35.0, DECIMAL2, True), (35.01, 35.0, DECIMAL2, False),
    (4030282.0, 4030282.0, DECIMAL2, True),
    # date-times as instants in UTC, to the second; Dataverse answers ...Z
    ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z", DATETIME, True),
    ("2024-05-01T20:00:00+10:00", "2024-05-01T10:00:00Z", DATETIME, True),
    ("2024-05-01T10:00:00.750Z", "2024-05-01T10:00:00Z", DATETIME, True),
    ("2024-05-01T10:00:00", "2024-05-01T10:00:00Z", DATETIME, True),  # no offset: UTC
    ("2024-05-01", "2024-05-01T00:00:00Z", DATETIME, True),
    ("2024-05-01T10:00:00Z", "2024-05-01T10:00:01Z", DATETIME, False),
    ("2024-05-01T10:00:00Z", "2024-05-01T11:00:00+00:00", DATETIME, False),
    # date-only columns as dates
    ("2023-01-13", "2023-01-13", DATE_ONLY, True), ("2023-01-13T00:00:00Z", "2023-01-13", DATE_ONLY, True),
    ("2023-01-13", "2023-01-14", DATE_ONLY, False), ("2023-01-13", "not a date", DATE_ONLY, False),
    # option values as integers, never booleans
    (100000003, 100000003, OPTION, True), (3, 3.0, OPTION, True), (3, 4, OPTION, False),
    (1, True, OPTION, False), (3, "3", OPTION, False),
    # booleans
    (True, True, ColumnInfo("Boolean"), True), (False, False, ColumnInfo("Boolean"), True),
    (True, False, ColumnInfo("Boolean"), False), (False, None, ColumnInfo("Boolean"), False),
    # multi-line text with line endings normalised, strings exactly
    ("Hi team,\r\n\r\nPrinter offline", "Hi team,\n\nPrinter offline", MEMO, True),
    ("a\rb", "a\nb", MEMO, True), ("a\r\nb", "a b", MEMO, False),
    ("a\r\nb", "a\nb", STRING, False), ("Acme", "acme", STRING, False), ("Acme", "Acme", STRING, True),
    ("Café ☕", "Café ☕", STRING, True), ("", None, STRING, True), (None, "x", STRING, False),
    # GUIDs whatever their case
    ("28115C06-9CF5-4B8A-99D8-71B6463C3822", "28115c06-9cf5-4b8a-99d8-71b6463c3822", ColumnInfo("Lookup"), True),
])
def test_values_compare_as_dataverse_stores_them(sent, found, column, equal):
    assert same(sent, found, column) is equal


@pytest.mark.parametrize("nav, table, target, column", [
    ("parentcustomerid_account@odata.bind", "contact", "account", "parentcustomerid"),
    ("regardingobjectid_incident_email@odata.bind", "email", "incident", "regardingobjectid"),
    ("ownerid@odata.bind", "account", "systemuser", "ownerid"),
    ("objectid_account@odata.bind", "annotation", "account", "objectid"),
    ("nothing_account@odata.bind", "contact", "account", None),
])
def test_a_navigation_property_names_its_lookup_column(nav, table, target, column):
    types = {"parentcustomerid": "Customer", "regardingobjectid": "Lookup", "ownerid": "Owner", "objectid": "Lookup",
             "nothing": "String"}
    assert lookup_column(nav, table, target, types) == column


class Metadata:
    """A client answering the four metadata reads, the organization and the currencies."""

    def __init__(self, money: list[dict]):
        self.money = money
        self.paths: list[str] = []

    async def get_json(self, path: str, params: dict | None = None) -> dict:
        self.paths.append(path)
        answers = {
            "": [{"LogicalName": n, "AttributeType": t} for n, t in (
                ("wtc_budget", "Money"), ("estimatedvalue", "Money"), ("priceperunit", "Money"),
                ("wtc_score", "Decimal"), ("closedate", "DateTime"), ("wtc_start", "DateTime"), ("name", "String"))],
            "Microsoft.Dynamics.CRM.DecimalAttributeMetadata": [{"LogicalName": "wtc_score", "Precision": 3}],
            "Microsoft.Dynamics.CRM.MoneyAttributeMetadata": self.money,
            "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata": [
                {"LogicalName": "closedate", "Format": "DateAndTime", "DateTimeBehavior": {"Value": "UserLocal"}},
                {"LogicalName": "wtc_start", "Format": "DateOnly", "DateTimeBehavior": {"Value": "DateOnly"}}],
        }
        if path == "organizations":
            return {"value": [{"pricingdecimalprecision": 3}]}
        return {"value": answers[path.split("/Attributes")[1].lstrip("/")]}

    async def get_all(self, entity_set: str, select=None, filter=None):
        self.paths.append(entity_set)
        for precision in (2, 0, 3):
            yield {"currencyprecision": precision}


async def test_columns_say_their_precision_from_where_dataverse_takes_it():
    dv = Metadata([{"LogicalName": "wtc_budget", "Precision": 2, "PrecisionSource": 0},
                   {"LogicalName": "priceperunit", "Precision": 4, "PrecisionSource": 1},
                   {"LogicalName": "estimatedvalue", "Precision": 4, "PrecisionSource": 2}])
    memo: dict = {}
    columns = await columns_of(dv, "opportunity", memo)
    assert columns["wtc_budget"] == ColumnInfo("Money", 2)
    assert columns["priceperunit"] == ColumnInfo("Money", 3)  # the organization's pricing precision
    assert columns["estimatedvalue"] == ColumnInfo("Money", 0)  # the coarsest currency: never a false difference
    assert columns["wtc_score"] == ColumnInfo("Decimal", 3)
    assert columns["wtc_start"] == ColumnInfo("DateTime", date_only=True)
    assert columns["closedate"] == ColumnInfo("DateTime") and columns["name"] == ColumnInfo("String")
    await columns_of(dv, "invoice", memo)  # the organization and the currencies are read once
    assert dv.paths.count("organizations") == 1 and dv.paths.count("transactioncurrencies") == 1


async def test_an_environment_without_currencies_keeps_the_column_precision():
    class NoCurrencies(Metadata):
        async def get_all(self, entity_set: str, select=None, filter=None):
            return
            yield

    columns = await columns_of(NoCurrencies([{"LogicalName": "estimatedvalue", "Precision": 4,
                                              "PrecisionSource": 2}]), "opportunity", {})
    assert columns["estimatedvalue"].precision == 4
