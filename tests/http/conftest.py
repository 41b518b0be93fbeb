"""The Function App's HTTP functions, called as the Functions host calls them.

``call(name, req)`` finds the decorated function in ``function_app.app.get_functions()`` and invokes
it with the Durable client binding as the host passes it (a JSON string). The client is the SDK's own
``DurableOrchestrationClient``; only its two transport functions are replaced by :class:`FakeHost`,
which answers like the Durable extension's RPC endpoint: ``POST .../orchestrators/<name>/<id>``
(202 ``{"id"}``) and ``GET .../instances/<id>`` (200 with a status, or 404 with an empty body).
"""

from __future__ import annotations

import functools
import importlib
import json
from urllib.parse import urlsplit

import azure.functions as func
import pytest

RPC = "http://127.0.0.1:17071/durabletask/"
HOST = "http://localhost:7071/runtime/webhooks/durabletask"
MANAGEMENT_URLS = {
    "id": "INSTANCEID",
    **{key: f"{HOST}/instances/INSTANCEID{suffix}?taskHub=hub&connection=Storage&code=SYSTEMKEY"
       for key, suffix in [("statusQueryGetUri", ""), ("sendEventPostUri", "/raiseEvent/{eventName}"),
                           ("terminatePostUri", "/terminate?reason={text}"), ("rewindPostUri", "/rewind?reason={text}"),
                           ("purgeHistoryDeleteUri", ""), ("restartPostUri", "/restart"),
                           ("suspendPostUri", "/suspend?reason={text}"), ("resumePostUri", "/resume?reason={text}")]},
}
STARTER = json.dumps({"taskHubName": "hub", "managementUrls": MANAGEMENT_URLS, "rpcBaseUrl": RPC,
                      "creationUrls": {"createNewInstancePostUri": f"{HOST}/orchestrators/{{functionName}}"}})
#: a Storage account key as it would sit in the app setting STAGING_CONNECTION
SECRET_KEY = "c2VjcmV0LWtleS1ub2JvZHktc2hvdWxkLXNlZQ=="
STAGING_CONNECTION = ("DefaultEndpointsProtocol=https;AccountName=contosostaging;"
                      f"AccountKey={SECRET_KEY};EndpointSuffix=core.windows.net")
TARGET = "https://contoso.crm.dynamics.com"
EXPORT = "/mnt/exports/contoso"
WSDL = "https://contoso.worketc.com/xml?wsdl"


class FakeHost:
    """The Durable extension's instance store, as the RPC endpoint shows it."""

    def __init__(self) -> None:
        self.instances: dict[str, dict] = {}
        self.started: list[dict] = []  # {"name", "instance_id", "input"} per start request
        self.events: list[dict] = []  # {"instance_id", "name", "data"} per raised event

    def set_status(self, instance_id: str, runtime_status: str, **extra) -> None:
        self.instances[instance_id] = {"instanceId": instance_id, "name": "migration", "runtimeStatus": runtime_status,
                                       "createdTime": "2025-01-01T00:00:00Z",
                                       "lastUpdatedTime": "2025-01-01T00:05:00Z", **extra}

    async def post(self, url: str, data=None, *args, **kwargs):
        path = urlsplit(url).path.removeprefix(urlsplit(RPC).path)
        if "/raiseEvent/" in path:  # instances/<id>/raiseEvent/<name>
            _, instance_id, _, name = path.split("/")
            self.events.append({"instance_id": instance_id, "name": name, "data": data})
            return [202, None]
        kind, name, instance_id = path.split("/")
        assert kind == "orchestrators"
        # the client sends its input as JSON text (``_get_json_input``), which the store keeps as is
        self.started.append({"name": name, "instance_id": instance_id, "input": json.loads(data)})
        self.set_status(instance_id, "Pending", input=data)
        return [202, {"id": instance_id}]

    async def get(self, url: str, *args, **kwargs):
        parts = urlsplit(url)
        instance_id = parts.path.removeprefix(urlsplit(RPC).path).removeprefix("instances/")
        status = self.instances.get(instance_id)
        if status is None:
            return [404, ""]
        if "showinput=true" not in parts.query.lower():
            status = {k: v for k, v in status.items() if k != "input"}
        return [200, status]


@pytest.fixture
def host(monkeypatch) -> FakeHost:
    fake = FakeHost()
    client_module = importlib.import_module("azure.durable_functions.models.DurableOrchestrationClient")
    monkeypatch.setattr(client_module, "post_async_request", fake.post)
    monkeypatch.setattr(client_module, "get_async_request", fake.get)
    return fake


@pytest.fixture
def settings(monkeypatch) -> dict[str, str]:
    """The Function App's app settings: one environment, one export folder, one WSDL, one staging."""
    values = {"DATAVERSE_URL": TARGET, "STAGING_CONNECTION": STAGING_CONNECTION, "WORKETC_EXPORT_FOLDER": EXPORT,
              "WORKETC_WSDL_URL": WSDL}
    for name in ("DATAVERSE_URLS", "STAGING_SETTINGS", "WORKETC_EXPORT_FOLDERS", "WORKETC_WSDL_URLS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def request(method: str, path: str, body: bytes | str | dict | list | None = None, **route_params) -> func.HttpRequest:
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body.encode() if isinstance(body, str)
                                                                               else body or b"")
    return func.HttpRequest(method=method, url=f"https://engine.azurewebsites.net/api/{path}", body=data,
                            headers={"content-type": "application/json"}, route_params=route_params)


@functools.cache
def functions() -> dict:
    """The app's functions by name, as the host indexes them (``get_functions`` indexes once only)."""
    from function_app import app

    return {f.get_function_name(): f.get_user_function() for f in app.get_functions()}


async def call(name: str, req: func.HttpRequest) -> func.HttpResponse:
    return await functions()[name](req=req, client=STARTER)


def body_of(response: func.HttpResponse) -> dict:
    return json.loads(response.get_body())
