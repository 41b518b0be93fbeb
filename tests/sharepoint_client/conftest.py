import pytest

from emulators.graph import create_app, mint_token
from shared.auth import StaticToken
from shared.http import register_transport, unregister_transport
from shared.sharepoint import SharePointClient

GRAPH = "https://graph.microsoft.com"
FILES = "https://contoso.sharepoint.com"  # upload/download URLs live on SharePoint, as in Graph


@pytest.fixture
def app():
    import httpx

    app = create_app(file_host=FILES)
    register_transport(GRAPH, lambda: httpx.ASGITransport(app=app))
    register_transport(FILES, lambda: httpx.ASGITransport(app=app))
    yield app
    unregister_transport(GRAPH)
    unregister_transport(FILES)


@pytest.fixture
async def sp(app):
    async with SharePointClient(StaticToken(mint_token(app)), f"{GRAPH}/v1.0", backoff_base=0.01) as client:
        yield client


@pytest.fixture
async def drive_id(sp):
    site = await sp.resolve_site("contoso.sharepoint.com", "/sites/crm")
    return (await sp.default_drive(site["id"]))["id"]
