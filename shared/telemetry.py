"""Telemetry for Application Insights: spans, custom events and metrics, ids and counts only.

One run can be followed end to end: every span, event and log record of an activity carries
``migration.run_id`` (the run id *is* the Durable instance id of the ``migration`` orchestration, and
its objects' sub-orchestrations are ``<run_id>:<object>``), ``migration.object`` and
``migration.activity``.

- **Spans.** One per activity (:func:`traced`, applied to every step in ``shared.steps.STEPS``) and one
  per HTTP request of every remote client (Dataverse, Microsoft Graph, work4all, the token endpoints),
  which all build their ``httpx`` client through ``shared.http.async_client`` and so through
  :class:`TracedTransport`; the WORKetc SOAP client opens :func:`span` around each operation. A request
  span names the system, the method, the host and the path *template*: keys in parentheses, ids and
  Graph path-addressed file names are replaced, and the query string is dropped (``$filter`` may hold
  an e-mail address), so no record content reaches telemetry.
- **Custom events** (Application Insights ``customEvents``): one per completed activity,
  ``Migration.<activity>``, with the numeric counts of its result (``migration.rows``,
  ``migration.rejected``, ``migration.created``, ...), ``migration.outcome`` and ``migration.duration_s``. A log
  record with the attribute ``microsoft.custom_event.name`` is exported as a custom event by the Azure
  Monitor exporter (azure-monitor-opentelemetry-exporter, ``_MICROSOFT_CUSTOM_EVENT_NAME``).
- **Metrics**: ``migration.records.loaded``, ``migration.records.rejected``, ``migration.http.throttled``
  (429 answers), ``migration.http.retries``, ``migration.http.in_flight`` (current concurrency).

Nothing here needs a connection: without ``APPLICATIONINSIGHTS_CONNECTION_STRING`` the OpenTelemetry API
is a no-op, and tests install in-memory exporters of their own. :func:`configure` turns the Azure
Monitor distro on with its automatic HTTP instrumentations *off* (they record whole URLs, query strings
included) and the Azure SDK's off (blob names of imported documents are customers' file names).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import re
import time
from contextlib import contextmanager
from typing import Any, Awaitable, Callable, Iterator, Mapping

import httpx
from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

#: the logger the Azure Monitor distro exports (``configure_azure_monitor(logger_name=...)``)
LOGGER = "migration"
#: what ``configure_azure_monitor`` must not instrument by itself (see the module's docstring)
UNINSTRUMENTED = ("httpx", "requests", "urllib", "urllib3", "azure_sdk")
#: the attribute that makes the Azure Monitor exporter write a log record as a custom event
CUSTOM_EVENT = "microsoft.custom_event.name"

tracer = trace.get_tracer("migration")
meter = metrics.get_meter("migration")
events = logging.getLogger(f"{LOGGER}.events")

RECORDS_LOADED = meter.create_counter("migration.records.loaded", unit="{record}",
                                      description="records written to Dataverse")
RECORDS_REJECTED = meter.create_counter("migration.records.rejected", unit="{record}",
                                        description="records rejected, with a reason in the run's rejects.csv")
THROTTLED = meter.create_counter("migration.http.throttled", unit="{response}",
                                 description="429 answers of a remote system")
RETRIES = meter.create_counter("migration.http.retries", unit="{request}",
                               description="requests sent again after a throttle, a 5xx or a dropped connection")
IN_FLIGHT = meter.create_up_down_counter("migration.http.in_flight", unit="{request}",
                                         description="requests in flight (current concurrency)")

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("migration_telemetry", default={})
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def configure(env: Mapping[str, str] = os.environ) -> bool:
    """Export to Application Insights when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set; False if not."""
    connection = env.get("APPLICATIONINSIGHTS_CONNECTION_STRING")
    if not connection:
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(connection_string=connection, logger_name=LOGGER,
                            instrumentation_options={name: {"enabled": False} for name in UNINSTRUMENTED})
    for handler in logging.getLogger(LOGGER).handlers:
        handler.addFilter(ContextFilter())
    events.setLevel(logging.INFO)  # custom events are INFO records, whatever the host's default level
    return True


def current() -> dict[str, str]:
    """The run, object and activity this code runs for (empty outside an activity)."""
    return _context.get()


class ContextFilter(logging.Filter):
    """Adds the run id, object and activity to every log record (customDimensions in Application Insights)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def identity(name: str, payload: Mapping[str, Any]) -> dict[str, str]:
    """The ids an activity's telemetry carries: never a record's content, only engine names."""
    run = payload.get("run") if isinstance(payload.get("run"), Mapping) else {}
    ids = {"migration.activity": name, "migration.run_id": str(run.get("run_id") or payload.get("run_id") or "")}
    if isinstance(payload.get("object"), str):
        ids["migration.object"] = payload["object"]
    chunk = payload.get("chunk")
    chunk = chunk.get("name") if isinstance(chunk, Mapping) else chunk
    if isinstance(chunk, str):  # a staged blob's name: runs/<run>/objects/<object>/<phase>/part-NNNNN...
        ids["migration.chunk"] = chunk.rstrip("/").rsplit("/", 1)[-1]
    return {k: v for k, v in ids.items() if v}


def counts(result: Any) -> dict[str, float]:
    """The numbers of an activity's result, one level deep (``load.created``), keyed by engine names."""
    out: dict[str, float] = {}
    if not isinstance(result, Mapping):
        return out
    for key, value in result.items():
        if not (isinstance(key, str) and _IDENTIFIER.match(key)):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, Mapping):
                out.update({f"{key}.{k}": v for k, v in value.items()
                            if isinstance(k, str) and _IDENTIFIER.match(k)
                            and isinstance(v, (int, float)) and not isinstance(v, bool)})
            continue
        out[key] = value
    return out


def traced(name: str, step: Callable[[dict], Awaitable[dict]]) -> Callable[[dict], Awaitable[dict]]:
    """``step`` inside a span and followed by its custom event; its counts feed the record metrics."""

    @functools.wraps(step)
    async def run(payload: dict) -> dict:
        ids = identity(name, payload)
        token = _context.set(ids)
        started = time.perf_counter()
        numbers: dict[str, float] = {}
        outcome = "error"  # an exception: retried by the orchestrator; its type is on the span
        try:
            with tracer.start_as_current_span(f"activity {name}", attributes=ids, record_exception=False,
                                              set_status_on_exception=False) as span:
                try:
                    result = await step(payload)
                except BaseException as exc:
                    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    raise
                numbers = counts(result)
                span.set_attributes(numbers)
                failure = result.get("failure") if isinstance(result, Mapping) else None
                if failure:
                    span.set_status(Status(StatusCode.ERROR, str(failure.get("kind", "permanent"))))
                outcome = "failed" if failure else "completed"
        finally:
            _context.reset(token)
            dims = {**ids, **{f"migration.{k}": v for k, v in numbers.items()}, "migration.outcome": outcome,
                    "migration.duration_s": round(time.perf_counter() - started, 3)}
            events.info("%s %s", name, outcome, extra={CUSTOM_EVENT: f"Migration.{name}", **dims})
        attributes = {"migration.object": ids.get("migration.object", "")}
        if name == "load_chunk":
            RECORDS_LOADED.add(int(numbers.get("created", 0) + numbers.get("updated", 0)), attributes)
        if "rejected" in numbers and name in ("transform_chunk", "load_chunk"):
            RECORDS_REJECTED.add(int(numbers["rejected"]), attributes)
        return result

    return run


@contextmanager
def span(system: str, operation: str, **attributes: str | int) -> Iterator[trace.Span]:
    """A client span around one call to a remote system that does not go through :class:`TracedTransport`."""
    attrs = {**current(), "migration.system": system, "rpc.method": operation, **attributes}
    IN_FLIGHT.add(1, {"migration.system": system})
    try:
        with tracer.start_as_current_span(f"{system} {operation}", kind=SpanKind.CLIENT, attributes=attrs) as s:
            yield s
    finally:
        IN_FLIGHT.add(-1, {"migration.system": system})


def retried(system: str, reason: str) -> None:
    """Count one request sent again (``reason``: throttled, server_error, network, reauth)."""
    RETRIES.add(1, {"migration.system": system, "reason": reason})


#: host suffix -> the system a request goes to
SYSTEMS = (("dynamics.com", "dataverse"), ("graph.microsoft.com", "graph"), ("sharepoint.com", "sharepoint"),
           ("login.microsoftonline.com", "entra"), ("work4all.de", "work4all"), ("worketc.com", "worketc"),
           ("vault.azure.net", "keyvault"))
_KEYED = re.compile(r"^([A-Za-z_.$][A-Za-z0-9_.$]*)\(.*\)$")
_NAME = re.compile(r"^[A-Za-z$][A-Za-z0-9_.$-]{0,63}$")
_ID = re.compile(r"^(?:[0-9a-fA-F-]{32,36}|\d+|v\d+(?:\.\d+)*)$")


def system_of(host: str) -> str:
    host = host.lower()
    return next((name for suffix, name in SYSTEMS if host == suffix or host.endswith("." + suffix)), "http")


def path_template(path: str) -> str:
    """``/api/data/v9.2/accounts(wtc_companyid='10001')`` -> ``/api/data/v9.2/accounts(…)``; Graph's
    ``/drives/{id}/root:/Accounts/Acme Pty/quote.pdf:/content`` -> ``/drives/{id}/root:{path}:/content``."""
    out: list[str] = []
    addressed = False  # inside a Graph path (root:/a/b/c.pdf:): every segment is a customer's name
    for segment in path.split("/"):
        if addressed:
            if segment.endswith(":"):
                addressed = False
                out[-1] = out[-1] + ":"
            continue
        if segment.endswith(":") and segment[:-1] and _NAME.match(segment[:-1]):
            out.append(segment + "{path}")
            addressed = True
        elif _ID.match(segment):
            out.append(segment if segment.startswith("v") else "{id}")
        elif m := _KEYED.match(segment):
            out.append(f"{m.group(1)}(…)")
        elif segment == "" or _NAME.match(segment) and not any(c.isspace() for c in segment):
            out.append(segment)
        else:
            out.append("{…}")
    return "/".join(out)


class TracedTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that wraps another in one client span per request, counting 429s."""

    def __init__(self, inner: httpx.AsyncBaseTransport, system: str | None = None):
        self.inner = inner
        self.system = system

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        system = self.system or system_of(request.url.host)
        template = path_template(request.url.path)
        attrs = {**current(), "migration.system": system, "http.request.method": request.method,
                 "server.address": request.url.host, "url.template": template}
        labels = {"migration.system": system}
        IN_FLIGHT.add(1, labels)
        try:
            with tracer.start_as_current_span(f"{request.method} {template}", kind=SpanKind.CLIENT,
                                              attributes=attrs, record_exception=False,
                                              set_status_on_exception=False) as s:
                try:
                    response = await self.inner.handle_async_request(request)
                except Exception as exc:  # the message may hold the URL: the type only
                    s.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                    raise
                s.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 400:
                    s.set_status(Status(StatusCode.ERROR, str(response.status_code)))
                if response.status_code == 429:
                    THROTTLED.add(1, labels)
                    s.set_attribute("migration.retry_after", response.headers.get("retry-after", ""))
                return response
        finally:
            IN_FLIGHT.add(-1, labels)

    async def aclose(self) -> None:
        await self.inner.aclose()
