import httpx
import pytest

from emulators.graph import create_app, mint_token

GRAPH = "https://graph.microsoft.com"


class Clock:
    def __init__(self) -> None:
        import time
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def app(clock):
    return create_app(clock=clock, simple_upload_limit=2 * 1024 * 1024)


@pytest.fixture
async def graph(app):
    headers = {"Authorization": f"Bearer {mint_token(app)}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=GRAPH + "/v1.0",
                                 headers=headers) as c:
        yield c


@pytest.fixture
async def anon(app):
    """A client without Authorization (upload/download URLs)."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=GRAPH) as c:
        yield c


@pytest.fixture
async def drive(graph):
    site = (await graph.get("/sites/contoso.sharepoint.com:/sites/crm")).json()
    return (await graph.get(f"/sites/{site['id']}/drive")).json()
