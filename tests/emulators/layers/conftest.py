"""A tiny stand-in for the Dataverse core app, so the layers can be tested on their own."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.dataverse import mint_token, wrap_app

API = "/api/data/v9.2"


def make_core() -> Starlette:
    calls: list[str] = []

    async def whoami(request: Request):
        calls.append("whoami")
        request.state.dv_kind = "read"
        return JSONResponse({"UserId": request.state.dv_caller})

    async def create(request: Request):
        calls.append("create")
        request.state.dv_kind, request.state.dv_records = "single", 1
        return Response(status_code=204, headers={"OData-EntityId": f"{API}/accounts(00000000-0000-0000-0000-000000000001)"})

    async def upsert_multiple(request: Request):
        body = await request.json()
        calls.append("upsert_multiple")
        request.state.dv_kind = "multiple"
        request.state.dv_records = int(body.get("count", len(body.get("Targets", []))))
        return Response(status_code=204)

    async def batch(request: Request):
        calls.append("batch")
        request.state.dv_kind = "batch"
        request.state.dv_requests = int(request.headers.get("x-parts", "1"))
        request.state.dv_records = 0
        return Response(status_code=200)

    app = Starlette(routes=[
        Route(f"{API}/WhoAmI", whoami),
        Route(f"{API}/accounts", create, methods=["POST"]),
        Route(f"{API}/accounts/Microsoft.Dynamics.CRM.UpsertMultiple", upsert_multiple, methods=["POST"]),
        Route(f"{API}/$batch", batch, methods=["POST"]),
    ])
    app.state.calls = calls
    return app


@pytest.fixture
def make_app():
    def factory(**options):
        return wrap_app(make_core(), **options)
    return factory


def client_for(app, subject: str = "app-user-1", **kw) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {mint_token(app, subject)}"} if subject else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://org.crm.dynamics.com",
                             headers=headers, **kw)


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def gather(*aws):
    return await asyncio.gather(*aws)
