"""The work4all GraphQL client: the export's dicts from the API, paging to the total, retries that honour
Retry-After, and GraphQL errors (even with HTTP 200, even beside data) never taken as data."""

from __future__ import annotations

import json
from types import SimpleNamespace

import httpx
import pytest

from shared import http as shared_http
from shared.errors import AccessError, SettingsError
from shared.sources.work4all import values
from shared.sources.work4all.graphql import (DEFAULT_API_URL, DEFAULT_TOKEN_URL, TABLES, Work4allError,
                                             Work4allGraphqlClient, Work4allGraphqlError, Work4allGraphqlSettings,
                                             Work4allGraphqlSource, format_number, retry_after_seconds)

from .conftest import NoSleep

_PARSERS = {"num": values.parse_number, "int": values.parse_number, "bool": values.parse_bool,
            "date": values.parse_date, "datetime": lambda v: values.parse_datetime(v, "Europe/Berlin")}


def _meaning(raw, kind):
    """What a cell means to the transform: parsed as the export's values are (unreadable -> None)."""
    if raw in (None, ""):
        return None
    parse = _PARSERS.get(kind)
    if parse is None:
        return raw
    try:
        return parse(raw)
    except ValueError:
        return None


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_table_arrives_as_the_export_spells_it(make_app, client_for, sample_records, table):
    make_app()
    rows = list(client_for(page_size=17).extract(table))
    source = sample_records[table]
    assert len(rows) == len(source)
    spec = TABLES[table]
    for got, want in zip(rows, source):
        assert got["_file"] == f"graphql:{spec.query}" and got["_row"] == got["_record"] + 1
        for col in spec.columns:
            assert _meaning(got[col.column], col.kind) == _meaning(want[col.column], col.kind), (table, col.column)
        extra = {k for k in want if k not in {c.column for c in spec.columns}}
        assert {k: got.get(k) for k in extra} == {k: want[k] or None for k in extra}  # custom fields as columns


def test_german_text_numbers_and_dates_as_the_export_spells_them(make_app, client_for, sample_records):
    make_app()
    kunden = {r["Code"]: r for r in client_for().extract("Kunden")}
    umlauts = next(r for r in sample_records["Kunden"] if "ß" in r["Name"] or "ü" in r["Name"])
    assert kunden[umlauts["Code"]]["Name"] == umlauts["Name"]
    artikel = {r["Code"]: r for r in client_for().extract("Artikel")}
    big = next(r for r in sample_records["Artikel"] if "." in r["VKPreis"])  # 1.234,56
    assert artikel[big["Code"]]["VKPreis"] == big["VKPreis"].replace(".", "")
    assert values.parse_number(artikel[big["Code"]]["VKPreis"]) == values.parse_number(big["VKPreis"])
    one = sample_records["Kunden"][0]
    assert kunden[one["Code"]]["AngelegtAm"] == one["AngelegtAm"]  # dd.mm.yyyy HH:MM, German local time
    assert kunden[one["Code"]]["Erstkontakt"] == one["Erstkontakt"]  # dd.mm.yyyy
    assert kunden[one["Code"]]["Privatkunde"] in ("Ja", "Nein")
    assert format_number(-1234.5) == "-1234,5" and format_number(5000.0) == "5000" and format_number(0.1) == "0,1"


def test_paging_follows_total_and_a_server_cap(make_app, client_for, sample_records):
    app = make_app(max_query_size=6)
    client = client_for(page_size=50)
    rows = list(client.extract("Ansprechpartner"))
    assert [r["Code"] for r in rows] == sorted((r["Code"] for r in sample_records["Ansprechpartner"]), key=int)
    asked = [q for q in app.state.work4all.requests if q["query"] == "getAnsprechpartner"]
    assert [q["page"] for q in asked] == list(range(1, -(-len(rows) // 6) + 1))
    assert all(q["size"] == 6 for q in asked)


def test_429_waits_the_retry_after_it_was_given(make_app, client_for):
    app = make_app()
    sleep = NoSleep()
    app.state.work4all.inject("429", 2, retry_after=7)
    rows = list(client_for(sleep=sleep).extract("Mitarbeiter"))
    assert rows and sleep.waits == [7, 7]


def test_a_retry_after_longer_than_allowed_is_not_waited(make_app, client_for):
    app = make_app()
    app.state.work4all.inject("429", 1, retry_after=3600)
    with pytest.raises(Work4allError, match="WORK4ALL_MAX_WAIT"):
        list(client_for(max_wait=60).extract("Mitarbeiter"))


def test_5xx_and_dropped_connections_are_retried_with_backoff(make_app, client_for):
    app = make_app()
    sleep = NoSleep()
    app.state.work4all.inject("503", 2)
    app.state.work4all.inject("drop", 1)
    client = client_for(sleep=sleep)
    assert list(client.extract("Mitarbeiter"))
    assert len(sleep.waits) == 3 and all(0 < w <= 30 for w in sleep.waits)
    assert client.stats.statuses.get(503) == 2


def test_5xx_that_never_ends_gives_up_naming_the_setting(make_app, client_for):
    app = make_app()
    app.state.work4all.inject("502", 10)
    with pytest.raises(Work4allError, match=r"gave up after 4 attempts \(HTTP 502\).*WORK4ALL_MAX_RETRIES"):
        list(client_for(max_retries=3).extract("Mitarbeiter"))


def test_errors_beside_partial_data_fail_the_extraction_with_one_line(make_app, client_for):
    app = make_app()
    app.state.work4all.inject("partial", 10)
    with pytest.raises(Work4allGraphqlError) as caught:
        list(client_for(max_retries=2).extract("Kunden"))
    message = str(caught.value)
    assert "\n" not in message
    assert "getKunden page 1" in message and "Unexpected Execution Error" in message
    assert "partial data, not taken as complete" in message


def test_one_partial_answer_is_asked_again_and_nothing_is_lost(make_app, client_for, sample_records):
    app = make_app()
    app.state.work4all.inject("partial", 1)
    rows = list(client_for().extract("Kunden"))
    assert len(rows) == len(sample_records["Kunden"]) and all(r["Name"] for r in rows)


def test_a_refused_client_secret_is_a_clear_access_error(make_app, client_for, monkeypatch):
    make_app()
    monkeypatch.setenv("WORK4ALL_CLIENT_SECRET", "falsch")
    with pytest.raises(AccessError, match="refused the client credentials.*WORK4ALL_CLIENT_SECRET"):
        list(client_for().extract("Kunden"))


def test_an_expired_token_is_renewed_once(make_app, client_for):
    make_app()
    client = client_for()
    list(client.extract("Mitarbeiter"))
    client._token.value = "eyJhbGciOiJIUzI1NiJ9.e30.expired"  # as if the token had run out
    assert list(client.extract("Mitarbeiter"))
    assert client.stats.tokens == 2 and client.stats.statuses[401] == 1


def test_a_mandant_the_api_refuses_and_a_missing_one(make_app, client_for, env):
    make_app()
    with pytest.raises(AccessError, match="mandant '9'.*--input"):
        list(client_for(mandant="9").extract("Kunden"))
    with pytest.raises(SettingsError, match="--input"):
        Work4allGraphqlSource(" ")


def _mock(handler):
    async def token(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"access_token": "t", "expires_in": 3600, "token_type": "Bearer"})

    async def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/connect/token":
            return await token(request)
        return handler(json.loads(request.content))

    for url in (DEFAULT_API_URL, DEFAULT_TOKEN_URL):
        shared_http.register_transport(url, lambda: httpx.MockTransport(route))


@pytest.fixture
def mocked():
    yield _mock
    for url in (DEFAULT_API_URL, DEFAULT_TOKEN_URL):
        shared_http.unregister_transport(url)


def _page(records, total, size=2, page=1):
    return httpx.Response(200, json={"data": {"getMitarbeiter": {"total": total, "size": size, "page": page,
                                                                  "data": records}}})


def test_a_short_page_before_the_total_is_partial_data(mocked, client_for):
    mocked(lambda body: _page([{"code": 1}], total=5))
    with pytest.raises(Work4allGraphqlError, match="1 records where 2 were due.*partial data"):
        list(client_for(page_size=2).extract("Mitarbeiter"))


def test_a_value_of_the_wrong_type_is_not_taken(mocked, client_for):
    mocked(lambda body: _page([{"code": 1, "aktiv": "vielleicht"}], total=1))
    with pytest.raises(Work4allGraphqlError, match="record 1, field aktiv \\(column Aktiv\\): not a Boolean"):
        list(client_for().extract("Mitarbeiter"))


def test_an_answer_that_is_not_json_or_has_no_data(mocked, client_for):
    mocked(lambda body: httpx.Response(200, text="<html>Wartungsarbeiten</html>"))
    with pytest.raises(Work4allGraphqlError, match="not JSON.*WORK4ALL_API_URL"):
        list(client_for().extract("Mitarbeiter"))
    mocked(lambda body: httpx.Response(200, json={"data": None}))
    with pytest.raises(Work4allGraphqlError, match="no data and no errors"):
        list(client_for().extract("Mitarbeiter"))


def test_the_query_travels_with_variables_only(mocked, client_for):
    seen = []

    def handler(body):
        seen.append(body)
        return _page([], total=0)

    mocked(handler)
    assert list(client_for().extract("Mitarbeiter", filter=[{"kuerzel": {"$eq": "\" } evil {"}}])) == []
    assert "evil" not in seen[0]["query"] and "evil" in seen[0]["variables"]["filter"]


def test_retry_after_as_seconds_or_http_date():
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=lambda: 1445412470.0) == 10.0
    assert retry_after_seconds("bald") is None and retry_after_seconds(None) is None


def test_the_source_reports_presence_and_yields_the_rows(make_app, env, sample_records):
    make_app(unlicensed=["Besuchsberichte"], records={**sample_records, "Zahlungen": []})
    source = Work4allGraphqlSource("1")
    spec = lambda file: SimpleNamespace(file=file, name=file)  # noqa: E731
    assert source.presence(spec("Kunden.csv")) == "present"
    assert source.presence(spec("Besuchsberichte.csv")) == "absent"  # a Light licence
    assert source.presence(spec("Zahlungen.csv")) == "empty"
    assert source.replayable is False and source.modified_field == "GeaendertAm"
    assert "KundenCode" in source.reference_fields
    assert [r["Code"] for r in source.rows(spec("Kunden"))] == [r["Code"] for r in sample_records["Kunden"]]
    assert source.contract(spec("Kunden.csv"))[:3] == ("Code", "Nummer", "Name")


def test_over_tls_on_a_loopback_port_as_the_demo_runs_it(env, sample_records):
    from emulators.common.serve import serve_in_thread
    from emulators.work4all import create_app

    with serve_in_thread(create_app(sample_records), tls=True) as server:
        settings = Work4allGraphqlSettings.from_env(
            {"WORK4ALL_API_URL": server.base_url, "WORK4ALL_TOKEN_URL": f"{server.base_url}/connect/token",
             "WORK4ALL_CLIENT_ID": "migration", "WORK4ALL_CLIENT_SECRET": "work4all",
             "WORK4ALL_VERIFY": server.ca_file, "WORK4ALL_PAGE_SIZE": "5"}, mandant="1")
        rows = list(Work4allGraphqlClient(settings).extract("Mitarbeiter"))
    assert [r["EMail"] for r in rows] == [r["EMail"] for r in sample_records["Mitarbeiter"]]



def test_a_later_slice_goes_on_after_the_last_code(make_app, env, sample_records):
    app = make_app()
    source = Work4allGraphqlSource("1")
    spec = SimpleNamespace(file="Kunden", name="kunde")
    first = source.rows_from(spec, None)
    head = [next(first) for _ in range(7)]
    first.close()
    where = first.position()
    assert where == {"record": 7, "after": int(head[-1]["Code"])} and not first.exhausted
    rest = source.rows_from(spec, where)
    tail = list(rest)
    assert rest.exhausted and rest.position()["record"] == len(sample_records["Kunden"])
    assert [r["Code"] for r in head + tail] == [r["Code"] for r in sample_records["Kunden"]]
    assert [r["_record"] for r in tail] == list(range(8, len(sample_records["Kunden"]) + 1))
    assert all(r["_row"] == r["_record"] + 1 for r in head + tail)
    asked = [json.loads(q["filter"]) for q in app.state.work4all.requests if q["filter"]]
    assert asked == [[{"code": {"$gt": int(head[-1]["Code"])}}]] * len(asked) and asked  # keyset, not offsets


def test_a_table_without_a_key_goes_on_by_counting(make_app, env, sample_records):
    make_app()
    source = Work4allGraphqlSource("1")
    spec = SimpleNamespace(file="Preislisten", name="preisliste")
    rest = list(source.rows_from(spec, {"record": 5}))
    assert len(rest) == len(sample_records["Preislisten"]) - 5
    assert rest[0]["ArtikelCode"] == sample_records["Preislisten"][5]["ArtikelCode"]


def test_every_query_the_client_sends_fits_the_schema():
    from pathlib import Path

    from graphql import build_schema, parse, validate

    import emulators.work4all

    schema = build_schema((Path(emulators.work4all.__file__).parent / "schema.graphql").read_text(encoding="utf-8"))
    for table in TABLES.values():
        assert validate(schema, parse(table.document())) == [], table.query


def test_the_secret_can_come_from_key_vault(make_app, client_for, monkeypatch):
    import azure.identity

    make_app()
    monkeypatch.delenv("WORK4ALL_CLIENT_SECRET")
    monkeypatch.setenv("WORK4ALL_CLIENT_SECRET_URI", "https://kv.vault.azure.net/secrets/work4all")
    asked = []

    class Credential:
        def get_token(self, scope):
            asked.append(scope)
            return SimpleNamespace(token="kv-token")

    vault = {"status": 200}

    def get(url, **kw):
        assert kw["headers"]["Authorization"] == "Bearer kv-token"
        return httpx.Response(vault["status"], json={"value": "work4all"} if vault["status"] == 200 else {})

    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", Credential)
    monkeypatch.setattr(httpx, "get", get)
    assert list(client_for().extract("Mitarbeiter")) and asked == ["https://vault.azure.net/.default"]
    vault["status"] = 403
    with pytest.raises(SettingsError, match="Key Vault answered HTTP 403 for WORK4ALL_CLIENT_SECRET_URI"):
        list(client_for().extract("Mitarbeiter"))
