"""Telemetry of a whole run, captured with OpenTelemetry's in-memory exporters (shared.telemetry).

What Application Insights would receive: a span per activity and per remote request carrying the run
id, a custom event per completed activity with its counts, record and 429 metrics; and nothing of the
records themselves (names, e-mail addresses, phone numbers, file names) nor any secret.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import httpx
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry
from tests.integration.conftest import make_env, migrate, run_config, sample_export, unregister  # noqa: F401

#: the export's columns that hold people's and companies' data
PERSONAL = {"Name", "FirstName", "LastName", "Email", "Phone", "Mobile", "OwnerEmail", "FromAddress", "ToAddress",
            "CompanyName", "FileName", "Subject", "Address1", "LinkedIn"}


class Captured:
    def __init__(self):
        self.spans = InMemorySpanExporter()
        self.logs = InMemoryLogRecordExporter()
        self.metrics = InMemoryMetricReader()


@pytest.fixture(scope="module")
def captured():
    """The global providers can be set once per process: this module sets them with in-memory exporters."""
    c = Captured()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(c.spans))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[c.metrics]))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(c.logs))
    handler = LoggingHandler(level=logging.INFO, logger_provider=logger_provider)
    handler.addFilter(telemetry.ContextFilter())
    logger = logging.getLogger(telemetry.LOGGER)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield c
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_path_templates_keep_no_record_content():
    assert telemetry.path_template("/api/data/v9.2/accounts(wtc_companyid='10001')") == "/api/data/v9.2/accounts(…)"
    assert (telemetry.path_template("/api/data/v9.2/contacts(8f0c3a52-8b8e-4c8e-9f7a-2a1b3c4d5e6f)/Microsoft.Dynamics.CRM.x")
            == "/api/data/v9.2/contacts(…)/Microsoft.Dynamics.CRM.x")
    assert (telemetry.path_template("/v1.0/drives/b!abc/root:/Accounts/Acme Pty Ltd/Quote 7.pdf:/createUploadSession")
            == "/v1.0/drives/{…}/root:{path}:/createUploadSession")
    assert telemetry.path_template("/sites/crm/Shared Documents/jane.doe@example.com") == "/sites/crm/{…}/{…}"
    assert telemetry.system_of("contoso.crm4.dynamics.com") == "dataverse"
    assert telemetry.system_of("evil-dynamics.com") == "http"


async def test_request_spans_drop_the_query_and_count_429(captured):
    async def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "3"})

    captured.spans.clear()
    transport = telemetry.TracedTransport(httpx.MockTransport(answer))
    async with httpx.AsyncClient(transport=transport, base_url="https://contoso.crm.dynamics.com") as client:
        await client.get("/api/data/v9.2/contacts", params={"$filter": "emailaddress1 eq 'jane@example.com'"})
    (span,) = captured.spans.get_finished_spans()
    text = repr(dict(span.attributes)) + span.name
    assert "jane@example.com" not in text and "$filter" not in text
    assert span.attributes["migration.system"] == "dataverse"
    assert span.attributes["http.response.status_code"] == 429
    throttled = _metric_sum(captured, "migration.http.throttled")
    assert throttled >= 1


def _metric_sum(captured: Captured, name: str) -> float:
    data = captured.metrics.get_metrics_data()
    total = 0.0
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name == name:
                    total += sum(p.value for p in m.data.data_points)
    return total


def _personal_values(export: Path) -> set[str]:
    values: set[str] = set()
    for path in export.glob("*.csv"):
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as f:
            for row in csv.DictReader(f):
                values |= {v.strip() for k, v in row.items() if k in PERSONAL and v and len(v.strip()) >= 5}
    return values


async def test_a_run_is_followed_end_to_end_with_ids_and_counts_only(captured, monkeypatch, sample_export, tmp_path):
    captured.spans.clear()
    captured.logs.clear()
    env = await make_env(monkeypatch, sample_export)
    try:
        run = run_config(sample_export, str(tmp_path / "staging"), run_id="telemetry-run")
        result = await migrate(run)
    finally:
        unregister()
    assert result["status"] == "completed"
    spans = captured.spans.get_finished_spans()
    logs = [r.log_record for r in captured.logs.get_finished_logs()]

    # one run followed end to end: every activity span, and the Dataverse requests inside them, carry its id
    activities = [s for s in spans if s.name.startswith("activity ")]
    assert {s.attributes["migration.activity"] for s in activities} >= {"discover", "extract_object", "load_chunk",
                                                                       "verify_object", "final_report"}
    assert all(s.attributes.get("migration.run_id") == "telemetry-run" for s in activities)
    requests = [s for s in spans if s.attributes.get("migration.system") == "dataverse"]
    assert requests and all(s.attributes.get("migration.run_id") == "telemetry-run" for s in requests)
    loads = [s for s in requests if s.attributes.get("migration.activity") == "load_chunk"]
    assert loads, "Dataverse requests of load_chunk are inside its span"

    # a custom event per completed activity, with its counts
    events = [r for r in logs if (r.attributes or {}).get(telemetry.CUSTOM_EVENT)]
    loaded_events = [r for r in events if r.attributes[telemetry.CUSTOM_EVENT] == "Migration.load_chunk"]
    assert loaded_events and all("migration.created" in r.attributes and r.attributes["migration.outcome"] == "completed"
                                 for r in loaded_events)
    written = sum(r.attributes["migration.created"] + r.attributes["migration.updated"] for r in loaded_events)
    assert written > 0
    assert _metric_sum(captured, "migration.records.loaded") >= written

    # nothing of the records, and no secret
    personal = _personal_values(sample_export)
    assert len(personal) > 100
    secrets = {env.token, telemetry_env("GRAPH_TOKEN", monkeypatch)}
    texts = [s.name + repr(dict(s.attributes or {})) + repr([e.attributes for e in s.events]) for s in spans]
    texts += [str(r.body) + repr(dict(r.attributes or {})) for r in logs]
    blob = "\n".join(texts)
    leaked = sorted(v for v in personal | secrets if v and v in blob)
    assert not leaked, f"telemetry holds record content: {leaked[:5]}"


def telemetry_env(name: str, monkeypatch) -> str:
    import os

    return os.environ.get(name, "")
