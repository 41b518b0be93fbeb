"""The emulator's bulk-message support table: one line per table, each with the page it comes from."""

from emulators.dataverse import create_app
from emulators.dataverse.messages import INFERRED, MULTIPLE_SUPPORT, supports_multiple
from emulators.dataverse.schema import build_tables
from shared.objects import catalogue


def test_every_line_names_its_page_or_is_marked_inferred():
    for table, (supported, source) in MULTIPLE_SUPPORT.items():
        assert isinstance(supported, bool), table
        assert source.startswith("https://learn.microsoft.com/") or source.startswith(INFERRED), (table, source)


def test_every_table_the_product_writes_has_a_line():
    written = {s.table for s in catalogue("worketc-csv").values() if s.table and not s.custom_table}
    written |= {"annotation", "phonecall", "appointment", "task", "email", "sharepointsite",
                "sharepointdocumentlocation", "pricelevel", "opportunityclose", "incidentresolution"}
    missing = sorted(t for t in written if t not in MULTIPLE_SUPPORT)
    assert not missing, missing


def test_documented_answers():
    # the Dynamics 365 task page lists CreateMultiple/UpdateMultiple/UpsertMultiple; the Dataverse phonecall page does not
    assert supports_multiple("task") and supports_multiple("invoicedetail")
    assert not supports_multiple("phonecall") and not supports_multiple("email")
    assert supports_multiple("wtc_project", custom=True)


def test_emulator_tables_follow_the_support_table():
    tables = build_tables()
    for name, table in tables.items():
        assert table.multiple == supports_multiple(name), name


async def test_sdkmessagefilters_answers_from_the_table():
    import httpx
    from emulators.dataverse import mint_token
    app = create_app()
    token = mint_token(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://org.crm.dynamics.com",
                                 headers={"Authorization": f"Bearer {token}"}) as c:
        async def has(table: str) -> bool:
            r = await c.get("/api/data/v9.2/sdkmessagefilters", params={
                "$select": "sdkmessagefilterid",
                "$filter": f"primaryobjecttypecode eq '{table}' and sdkmessageid/name eq 'UpsertMultiple'"})
            assert r.status_code == 200, r.text
            return bool(r.json()["value"])
        assert await has("task") is True
        assert await has("phonecall") is False
        assert await has("invoicedetail") is True
