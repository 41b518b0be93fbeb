"""The work4all emulator answers as the real API would: schema-checked queries (errors as HTTP 200),
the token endpoint, the bearer token and the mandant header, paging, filters, licences and faults."""

from __future__ import annotations

import json

import httpx
import pytest

from emulators.work4all import create_app

API = "https://api.work4all.de"


async def _token(c: httpx.AsyncClient, secret: str = "work4all", grant: str = "client_credentials") -> httpx.Response:
    return await c.post("https://auth.work4all.de/connect/token",
                        data={"grant_type": grant, "client_id": "migration", "client_secret": secret})


@pytest.fixture
def app(sample_records):
    return create_app(sample_records, max_query_size=25, unlicensed=["Besuchsberichte"])


@pytest.fixture
async def http(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=API) as c:
        yield c


@pytest.fixture
async def headers(http):
    r = await _token(http)
    return {"Authorization": f"Bearer {r.json()['access_token']}", "x-work4all-mandant": "1"}


async def gql(http, headers, query: str, **variables) -> httpx.Response:
    return await http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


KUNDEN = ("query($s: Int, $p: Int, $f: String, $by: String, $o: SortOrder) { getKunden(querySize: $s, queryPage: $p, "
          "filter: $f, querySortBy: $by, querySortOrder: $o) { total size page data { code nummer name } } }")


async def test_a_field_the_schema_lacks_is_refused_with_http_200_and_errors(http, headers):
    r = await gql(http, headers, "{ getKunden { total data { code passwort } } }")
    assert r.status_code == 200
    doc = r.json()
    assert "data" not in doc  # refused at validation: nothing ran
    assert "Cannot query field 'passwort' on type 'Kunde'" in doc["errors"][0]["message"]


async def test_an_unknown_query_and_a_wrong_argument_are_refused(http, headers):
    r = await gql(http, headers, "{ getGeheimnisse { total } }")
    assert r.status_code == 200 and "getGeheimnisse" in r.json()["errors"][0]["message"]
    r = await gql(http, headers, "{ getKunden(querySize: \"viele\") { total } }")
    assert r.status_code == 200 and r.json()["errors"]


async def test_a_token_is_required(http):
    r = await http.post("/graphql", json={"query": "{ getKunden { total } }"}, headers={"x-work4all-mandant": "1"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    r = await http.post("/graphql", json={"query": "{ getKunden { total } }"},
                        headers={"x-work4all-mandant": "1", "Authorization": "Bearer not.a.token"})
    assert r.status_code == 401 and "invalid_token" in r.headers["WWW-Authenticate"]


async def test_the_token_endpoint_refuses_a_wrong_secret_and_another_grant(http):
    r = await _token(http, secret="falsch")
    assert (r.status_code, r.json()) == (400, {"error": "invalid_client"})
    r = await _token(http, grant="password")
    assert (r.status_code, r.json()) == (400, {"error": "unsupported_grant_type"})
    r = await _token(http)
    doc = r.json()
    assert r.status_code == 200 and doc["token_type"] == "Bearer" and doc["expires_in"] == 3600


async def test_the_mandant_header_is_required(http, headers):
    no_mandant = {k: v for k, v in headers.items() if k != "x-work4all-mandant"}
    r = await gql(http, no_mandant, "{ getKunden { total } }")
    assert r.status_code == 400 and "x-work4all-mandant" in r.json()["detail"]
    r = await gql(http, {**headers, "x-work4all-mandant": "7"}, "{ getKunden { total } }")
    assert r.status_code == 403


async def test_paging_with_query_size_and_page(http, headers, sample_records):
    total = len(sample_records["Kunden"])
    first = (await gql(http, headers, KUNDEN, s=10, p=1, by="code", o="ASCENDING")).json()["data"]["getKunden"]
    last_page = (total + 9) // 10
    last = (await gql(http, headers, KUNDEN, s=10, p=last_page, by="code", o="ASCENDING")).json()["data"]["getKunden"]
    assert (first["total"], first["size"], first["page"], len(first["data"])) == (total, 10, 1, 10)
    assert len(last["data"]) == total - 10 * (last_page - 1) and last["page"] == last_page
    beyond = (await gql(http, headers, KUNDEN, s=10, p=last_page + 1)).json()["data"]["getKunden"]
    assert beyond["data"] == [] and beyond["total"] == total
    codes = [d["code"] for d in first["data"]]
    assert codes == sorted(codes)
    desc = (await gql(http, headers, KUNDEN, s=3, p=1, by="code", o="DESCENDING")).json()["data"]["getKunden"]
    assert desc["data"][0]["code"] == max(int(r["Code"]) for r in sample_records["Kunden"])


async def test_a_query_size_over_the_cap_is_capped_and_says_so(http, headers):
    page = (await gql(http, headers, KUNDEN, s=500, p=1)).json()["data"]["getKunden"]
    assert page["size"] == 25 and len(page["data"]) == 25


async def test_filters(http, headers, sample_records):
    one = sample_records["Kunden"][5]

    async def codes(f) -> list[int]:
        doc = (await gql(http, headers, KUNDEN, s=1000, f=json.dumps(f))).json()
        return sorted(d["code"] for d in doc["data"]["getKunden"]["data"])

    assert await codes([{"code": {"$eq": one["Code"]}}]) == [int(one["Code"])]  # a string matches an Int field
    assert await codes([{"nummer": one["Nummer"]}]) == [int(one["Code"])]
    assert await codes([{"code": {"$in": [1000, "1001"]}}]) == [1000, 1001]
    assert await codes([{"code": {"$gte": 1035}}, {"code": {"$lt": 1037}}]) == [1035, 1036]
    assert await codes([{"$or": [{"code": 1000}, {"code": 1002}]}]) == [1000, 1002]
    name = one["Name"].split()[0]
    liked = await codes([{"name": {"$like": f"{name}%"}}])
    assert int(one["Code"]) in liked and all(r["Name"].startswith(name) for r in sample_records["Kunden"]
                                             if int(r["Code"]) in liked)
    after = await codes([{"updateTime": {"$gte": "2024-01-01T00:00:00+01:00"}}])
    assert after and len(after) < len(sample_records["Kunden"])


async def test_a_bad_filter_is_a_graphql_error_with_http_200(http, headers):
    for f in ("not json", json.dumps([{"kennwort": {"$eq": 1}}]), json.dumps([{"code": {"$regex": "."}}])):
        r = await gql(http, headers, KUNDEN, s=5, f=f)
        doc = r.json()
        assert r.status_code == 200 and doc["data"] == {"getKunden": None}
        assert doc["errors"][0]["message"].startswith("Invalid filter") and doc["errors"][0]["path"] == ["getKunden"]


async def test_a_table_the_licence_does_not_cover_answers_not_authorized(http, headers):
    r = await gql(http, headers, "{ getBesuchsberichte { total } }")
    doc = r.json()
    assert r.status_code == 200 and doc["data"] == {"getBesuchsberichte": None}
    assert doc["errors"][0]["extensions"]["code"] == "AUTH_NOT_AUTHORIZED"


async def test_faults_429_5xx_and_partial_data(app, http, headers):
    app.state.work4all.inject("429", retry_after=2.5)
    r = await gql(http, headers, KUNDEN, s=2)
    assert r.status_code == 429 and r.headers["Retry-After"] == "2.5"
    app.state.work4all.inject("503")
    assert (await gql(http, headers, KUNDEN, s=2)).status_code == 503
    app.state.work4all.inject("partial")
    r = await gql(http, headers, KUNDEN, s=2)
    doc = r.json()
    assert r.status_code == 200 and len(doc["data"]["getKunden"]["data"]) == 2
    assert doc["errors"][0]["path"][:3] == ["getKunden", "data", 0]
    assert doc["data"]["getKunden"]["data"][0][doc["errors"][0]["path"][3]] is None
    assert (await gql(http, headers, KUNDEN, s=2)).json().get("errors") is None


async def test_the_sample_data_is_served_typed(http, headers, sample_records):
    q = ("{ getAnsprechpartner(querySize: 1000) { data { code kundenCode lieferantenCode anrede { maennlich weiblich } "
         "hauptansprechpartner anzeigename } } getBesuchsberichte: getVerkaufschancen(querySize: 1000) "
         "{ data { code wert waehrung { name } } } }")
    doc = (await gql(http, headers, q)).json()
    assert "errors" not in doc
    frau = next(a for a in doc["data"]["getAnsprechpartner"]["data"] if (a["anrede"] or {}).get("weiblich"))
    assert frau["anrede"] == {"maennlich": None, "weiblich": "Frau"}
    suppliers = (await gql(http, headers, '{ getAnsprechpartner(filter: "[{\\"lieferantenCode\\": {\\"$gte\\": 1}}]") '
                                          '{ total data { kundenCode } } }')).json()["data"]["getAnsprechpartner"]
    assert suppliers["total"] == sum(1 for r in sample_records["Ansprechpartner"] if r["LieferantenCode"])
    assert all(a["kundenCode"] is None for a in suppliers["data"])
    values = {c["code"]: c["wert"] for c in doc["data"]["getBesuchsberichte"]["data"]}
    bad = next(r for r in sample_records["Verkaufschancen"] if r["Wert"] == "ca. 5.000")
    assert values[int(bad["Code"])] is None  # a live tenant has no unreadable number
    assert all(isinstance(v, float) for k, v in values.items() if k != int(bad["Code"]))
