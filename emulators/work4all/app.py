"""The work4all cloud API emulator: GraphQL (schema.graphql, executed by graphql-core through Ariadne)
and the OAuth2 token endpoint, on one port, over the same data as the sample export.

Routes (the real hosts are ``auth.work4all.de`` and ``api.work4all.de``; a client reaches both here by
pointing ``WORK4ALL_TOKEN_URL`` and ``WORK4ALL_API_URL`` at this one origin, whatever the Host header)
  POST /connect/token   OAuth2 client credentials (RFC 6749 4.4): form ``grant_type=client_credentials``,
                        ``client_id`` and ``client_secret`` (or HTTP Basic). Answers ``{access_token,
                        expires_in, token_type: "Bearer", scope}``; an unknown client or a wrong secret
                        ``400 {"error": "invalid_client"}``, another grant ``400 {"error":
                        "unsupported_grant_type"}`` (as IdentityServer answers, RFC 6749 5.2; *inferred*
                        for work4all, whose token endpoint is an IdentityServer ``/connect/token``).
  POST /graphql         ``{query, variables, operationName}``. Needs ``Authorization: Bearer <token>``:
                        without one, or with one this emulator did not issue or that expired, ``401`` with
                        ``WWW-Authenticate: Bearer`` and no body (ASP.NET's JWT bearer handler, *inferred*).
                        Needs ``x-work4all-mandant: <tenant code>``: missing, ``400`` with an RFC 9457 problem
                        body; a tenant the emulator does not hold, ``403`` (both *inferred*: the real API's
                        answer is not published). Everything GraphQL says (a query the schema does not
                        allow, a syntax error, a bad filter, a resolver that failed) comes as **HTTP 200**
                        with an ``errors`` array (REFERENCE.md), ``data`` absent when the query was refused
                        at validation, present (with nulls) when it ran.

Queries: ``get<Table>(querySize, queryPage, querySortBy, querySortOrder, filter)`` ->
``{total, size, page, data}``; ``queryPage`` 1-based (the public clients' default page is 1),
``querySize`` default 100 and at most ``max_query_size`` (larger asks are capped, ``size`` says how many
a page holds; both *inferred*); ``querySortBy`` a field of the type (default: the data's order);
``filter`` a JSON list of conditions, all of which must hold: ``{"field": {"$op": value}}`` or ``{"field":
value}`` (= ``$eq``), ops ``$eq $ne $gt $gte $lt $lte $in $nin $like`` (``%`` wildcard) and ``$and``/``$or``
over lists of conditions; a value is compared as the field's type (``"123"`` matches ``code`` 123).

Data: ``records`` (``{table: [{German column: text}]}``, values spelled as the export spells them: what
``emulators.sample_work4all.records(seed, scale)`` returns), turned into API records with the same
column table the client reads (``shared.sources.work4all.graphql.TABLES``), cells parsed with the same
German parsers as the export reader (``shared.sources.work4all.values``). A live tenant holds no
unreadable values: a cell that does not parse is null, a record without a readable ``Code`` is not
served, and of two records with one ``Code`` the later one wins. Extra columns are custom fields.

Licences: ``unlicensed=("Besuchsberichte", ...)`` answers those queries with HotChocolate's
authorization error (``extensions.code`` ``AUTH_NOT_AUTHORIZED``), as a Light licence may (*inferred*).

Faults: ``faults="429:0.1@2,503:0.05,partial:0.05,drop:0.01,slow:0.05@1"`` (per /graphql request, kinds
``<status>[@retry-after]``, ``partial``, ``drop``, ``slow@seconds``; ``seed`` for determinism) and, for
deterministic tests, ``app.state.work4all.inject(kind, count=1, retry_after=None)``. ``partial`` runs the
query, then nulls one field of the first record and adds an ``errors`` entry with its path (a resolver
that failed: GraphQL spec 6.4.4), keeping HTTP 200.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, time as dtime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from ariadne import QueryType, make_executable_schema
from ariadne import graphql as execute_graphql
from graphql import GraphQLError, get_named_type, is_leaf_type
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulators.common.faults import drop_connection
from emulators.common.tokens import TokenError, TokenIssuer, stable_object_id
from shared.sources.work4all.graphql import MANDANT_HEADER, TABLES, Table
from shared.sources.work4all.values import parse_bool, parse_date, parse_datetime, parse_number

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")
BERLIN = ZoneInfo("Europe/Berlin")
_LOG = logging.getLogger("emulators.work4all.graphql")  # GraphQL errors are answers here, not faults
_LOG.addHandler(logging.NullHandler())
_LOG.propagate = False
AUDIENCE = "work4all-api"  # *inferred*: the API resource the token is for
DEFAULT_CLIENTS = {"migration": "work4all"}
#: salutations for women: the Anrede object's ``weiblich`` text; every other one is ``maennlich`` (*inferred*)
_FEMALE = {"frau", "fr.", "frl.", "fräulein", "ms", "mrs", "madame"}


# ---------------------------------------------------------------------------------------- the data

def _api_value(raw: Any, kind: str) -> Any:
    """An export cell as the API's typed value; None when empty or unreadable."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raw = str(raw)
    if raw.strip() == "":
        return None
    try:
        if kind == "str":
            return raw
        if kind == "int":
            n = parse_number(raw)
            return int(n) if n is not None and n == n.to_integral_value() else None
        if kind == "num":
            n = parse_number(raw)
            return None if n is None else float(n)
        if kind == "bool":
            return parse_bool(raw)
        if kind == "date":
            d = parse_date(raw)
            return None if d is None else datetime.combine(d, dtime(0, 0), BERLIN).isoformat()
        if kind == "datetime":
            d = parse_datetime(raw, "Europe/Berlin")
            return None if d is None else d.astimezone(BERLIN).isoformat()
    except ValueError:
        return None
    raise ValueError(f"unknown kind {kind!r}")


class _Lookup:
    """Distinct names -> ``{code, name}`` objects (a Gruppe, Waehrung, Einheit ...)."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def get(self, name: str) -> dict:
        code = self.codes.setdefault(name, len(self.codes) + 1)
        return {"code": code, "name": name}


def _api_record(table: Table, row: Mapping[str, Any], lookups: dict[str, _Lookup]) -> dict:
    rec: dict[str, Any] = {}
    known = set()
    for col in table.columns:
        known.add(col.column)
        value = _api_value(row.get(col.column), col.kind)
        path = col.path
        if "|" in path:  # Anrede: {maennlich | weiblich}
            if value is None:
                continue
            male, female = path.split("|")
            path = female if value.strip().lower() in _FEMALE else male
        parts = path.split(".")
        if len(parts) == 1:
            rec[path] = value
            continue
        head, leaf = parts
        if value is None:
            rec.setdefault(head, None)
            continue
        if leaf == "name":
            rec[head] = lookups.setdefault(head, _Lookup()).get(value)
        else:
            obj = lookups.setdefault(head, _Lookup()).get(value)
            rec[head] = {"code": obj["code"], "maennlich": None, "weiblich": None, leaf: value}
    if table.custom_fields:
        rec["customFields"] = [{"name": k, "value": None if v in (None, "") else str(v)}
                               for k, v in row.items() if k not in known and not str(k).startswith("_")]
    if table.query == "getAnsprechpartner":
        rec["anzeigename"] = " ".join(p for p in (rec.get("vorname"), rec.get("name")) if p) or None
        rec["abteilungCode"] = (rec.get("abteilung") or {}).get("code")
        rec.setdefault("telefon2", None)
    if table.query in ("getKunden", "getLieferanten"):
        rec["hauptansprechpartnerCode"] = None  # filled from the contacts below
    return rec


def build_tenant(records: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[str, list[dict]]:
    """``{query name: [API record]}`` from export-shaped records (see the module doc)."""
    lookups: dict[str, _Lookup] = {}
    out: dict[str, list[dict]] = {}
    for name, table in TABLES.items():
        recs: list[dict] = []
        by_code: dict[int, int] = {}
        for row in records.get(name, ()):
            rec = _api_record(table, row, lookups)
            if table.sort_by == "code":
                code = rec.get("code")
                if not isinstance(code, int):
                    continue  # a live tenant has no record without its key
                if code in by_code:
                    earlier = recs[by_code[code]]
                    if (rec.get("updateTime") or "") >= (earlier.get("updateTime") or ""):
                        recs[by_code[code]] = rec
                    continue
                by_code[code] = len(recs)
            recs.append(rec)
        out[table.query] = recs
    main: dict[tuple[str, int], int] = {}
    for ap in out["getAnsprechpartner"]:
        if ap.get("hauptansprechpartner"):
            for field, query in (("kundenCode", "getKunden"), ("lieferantenCode", "getLieferanten")):
                if ap.get(field) is not None:
                    main.setdefault((query, ap[field]), ap["code"])
    for query in ("getKunden", "getLieferanten"):
        for rec in out[query]:
            rec["hauptansprechpartnerCode"] = main.get((query, rec["code"]))
    return out


# ----------------------------------------------------------------------------------------- filters

_OPS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$like"}


class FilterError(ValueError):
    pass


def _coerce(value: Any, like: Any) -> Any:
    """A filter operand as the stored field's type (the public clients send codes as strings)."""
    if value is None or like is None:
        return value
    try:
        if isinstance(like, bool):
            return value if isinstance(value, bool) else str(value).lower() in ("true", "1")
        if isinstance(like, int):
            return int(value)
        if isinstance(like, float):
            return float(value)
    except (TypeError, ValueError):
        raise FilterError(f"the value {value!r} does not fit the field") from None
    if isinstance(like, str) and re.match(r"^\d{4}-\d\d-\d\d", like):
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            return (when if when.tzinfo else when.replace(tzinfo=BERLIN)).astimezone(timezone.utc)
        except ValueError:
            raise FilterError(f"the value {value!r} is not a date") from None
    return value if isinstance(value, str) else str(value)


def _stored(value: Any) -> Any:
    if isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT", value):
        try:
            return datetime.fromisoformat(value).astimezone(timezone.utc)
        except ValueError:
            return value
    return value


def _holds(rec: Mapping[str, Any], cond: Any, fields: set[str]) -> bool:
    if not isinstance(cond, dict):
        raise FilterError("a condition must be an object such as {\"code\": {\"$eq\": \"123\"}}")
    for key, test in cond.items():
        if key in ("$and", "$or"):
            if not isinstance(test, list):
                raise FilterError(f"{key} takes a list of conditions")
            results = [_holds(rec, c, fields) for c in test]
            if not (all(results) if key == "$and" else any(results)):
                return False
            continue
        if key not in fields:
            raise FilterError(f"the field {key!r} cannot be filtered")
        actual = rec.get(key)
        if not isinstance(test, dict):
            test = {"$eq": test}
        for op, operand in test.items():
            if op not in _OPS:
                raise FilterError(f"the operator {op!r} is not supported")
            stored = _stored(actual)
            if op in ("$in", "$nin"):
                if not isinstance(operand, list):
                    raise FilterError(f"{op} takes a list")
                hit = stored in [_coerce(v, actual) for v in operand]
                if hit != (op == "$in"):
                    return False
                continue
            value = _coerce(operand, actual)
            if op == "$eq":
                ok = stored == value
            elif op == "$ne":
                ok = stored != value
            elif op == "$like":
                pattern = "^" + ".*".join(re.escape(p) for p in str(operand).split("%")) + "$"
                ok = stored is not None and re.match(pattern, str(actual), re.IGNORECASE | re.DOTALL) is not None
            else:
                if stored is None or value is None:
                    return False
                try:
                    ok = {"$gt": stored > value, "$gte": stored >= value, "$lt": stored < value,
                          "$lte": stored <= value}[op]
                except TypeError:
                    raise FilterError(f"{op} cannot compare the field {key!r} with {operand!r}") from None
            if not ok:
                return False
    return True


def apply_filter(recs: list[dict], raw: str | None, fields: set[str]) -> list[dict]:
    if raw is None or raw.strip() == "":
        return recs
    try:
        conds = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise FilterError(f"the filter is not JSON ({exc.msg})") from None
    if isinstance(conds, dict):
        conds = [conds]
    if not isinstance(conds, list):
        raise FilterError("the filter must be a JSON list of conditions")
    return [r for r in recs if all(_holds(r, c, fields) for c in conds)]


# ------------------------------------------------------------------------------------------ faults

@dataclass(frozen=True)
class Fault:
    kind: str  # "<status>" | "partial" | "drop" | "slow"
    rate: float = 0.0
    arg: float | None = None


def parse_faults(spec: str | None) -> list[Fault]:
    out: list[Fault] = []
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            kind, rest = item.split(":", 1)
            rate_text, _, arg_text = rest.partition("@")
            fault = Fault(kind.strip().lower(), float(rate_text), float(arg_text) if arg_text else None)
        except ValueError:
            raise ValueError(f"bad fault item {item!r}: expected kind:rate[@arg]") from None
        if not (fault.kind in ("partial", "drop", "slow") or (fault.kind.isdigit() and 400 <= int(fault.kind) <= 599)):
            raise ValueError(f"bad fault kind {fault.kind!r}: a 4xx/5xx status, partial, drop or slow")
        if not 0 <= fault.rate <= 1:
            raise ValueError(f"bad fault rate in {item!r}: within 0..1")
        out.append(fault)
    if sum(f.rate for f in out) > 1 + 1e-9:
        raise ValueError(f"fault rates add up to more than 1: {spec!r}")
    return out


#: bodies of injected statuses (*inferred*: a gateway in front of the API answers 5xx, 429 with Retry-After)
_STATUS_BODIES = {
    429: {"type": "https://tools.ietf.org/html/rfc6585#section-4", "title": "Too Many Requests", "status": 429},
    500: {"errors": [{"message": "Unexpected Execution Error"}]},
    502: {"type": "about:blank", "title": "Bad Gateway", "status": 502},
    503: {"type": "about:blank", "title": "Service Unavailable", "status": 503},
    504: {"type": "about:blank", "title": "Gateway Timeout", "status": 504},
}


# ------------------------------------------------------------------------------------------ tenant

class Work4allState:
    """Tenants (mandant -> data), clients, tokens and the fault state of one emulator instance."""

    def __init__(self, tenants: dict[str, dict[str, list[dict]]], *, clients: Mapping[str, str], faults: str | None,
                 seed: int | None, max_query_size: int, token_lifetime: float, unlicensed: Iterable[str],
                 clock=time.time):
        self.tenants = tenants
        self.clients = dict(clients)
        self.max_query_size = max_query_size
        self.token_lifetime = token_lifetime
        self.unlicensed = {TABLES[t].query if t in TABLES else t for t in unlicensed}
        self.issuer = TokenIssuer(issuer="https://auth.work4all.de", clock=clock)
        self.faults = parse_faults(faults)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._forced: deque[Fault] = deque()
        self.counts: dict[str, int] = {}
        self.requests: list[dict] = []  # (query variables, mandant) of each executed request, for tests

    def inject(self, kind: str, count: int = 1, retry_after: float | None = None) -> None:
        """The next ``count`` /graphql requests fail as ``kind`` (``429``, ``503``, ``partial``, ``drop``)."""
        parse_faults(f"{kind}:0")  # validates the kind
        with self._lock:
            self._forced.extend(Fault(str(kind).lower(), 0.0, retry_after) for _ in range(count))

    def choose(self) -> Fault | None:
        with self._lock:
            fault = self._forced.popleft() if self._forced else None
            if fault is None and self.faults:
                draw, acc = self._rng.random(), 0.0
                for f in self.faults:
                    acc += f.rate
                    if draw < acc:
                        fault = f
                        break
            if fault is not None:
                self.counts[fault.kind] = self.counts.get(fault.kind, 0) + 1
            return fault


def _page(state: Work4allState, query: str, info, querySize=None, queryPage=None, querySortBy=None,
          querySortOrder=None, filter=None) -> dict:
    mandant = info.context["mandant"]
    if query in state.unlicensed:
        raise GraphQLError("The current user is not authorized to access this resource.",
                           extensions={"code": "AUTH_NOT_AUTHORIZED"})
    recs = state.tenants[mandant].get(query, [])
    record_type = get_named_type(get_named_type(info.return_type).fields["data"].type)
    fields = {n for n, f in record_type.fields.items() if is_leaf_type(get_named_type(f.type))}
    try:
        recs = apply_filter(recs, filter, fields)
    except FilterError as exc:
        raise GraphQLError(f"Invalid filter: {exc}", extensions={"code": "INVALID_FILTER"}) from None
    if querySortBy:
        if querySortBy not in fields:
            raise GraphQLError(f"The field {querySortBy!r} cannot be sorted by.", extensions={"code": "INVALID_SORT"})
        present = [r for r in recs if r.get(querySortBy) is not None]
        missing = [r for r in recs if r.get(querySortBy) is None]
        present.sort(key=lambda r: _stored(r[querySortBy]), reverse=querySortOrder == "DESCENDING")
        recs = missing + present if querySortOrder != "DESCENDING" else present + missing
    size = 100 if querySize is None else querySize
    page = 1 if queryPage is None else queryPage
    if size < 1 or page < 1:
        raise GraphQLError("querySize and queryPage must be 1 or more.", extensions={"code": "INVALID_PAGING"})
    size = min(size, state.max_query_size)
    state.requests.append({"query": query, "mandant": mandant, "size": size, "page": page, "filter": filter})
    return {"total": len(recs), "size": size, "page": page, "data": recs[(page - 1) * size: page * size]}


def _make_schema(state: Work4allState):
    query = QueryType()
    for table in TABLES.values():
        def resolver(obj, info, _q=table.query, **kw):
            return _page(state, _q, info, **kw)

        query.set_field(table.query, resolver)
    return make_executable_schema(SCHEMA_FILE.read_text(encoding="utf-8"), query)


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse({"type": "about:blank", "title": title, "status": status, "detail": detail},
                        status_code=status, media_type="application/problem+json")


def _partial(result: dict) -> dict:
    """Null one field of the first record and say so in ``errors`` (a resolver that failed)."""
    data = result.get("data") or {}
    for name, listing in data.items():
        records = (listing or {}).get("data") if isinstance(listing, dict) else None
        if records:
            field = next((k for k, v in records[0].items() if k != "code" and v is not None), None)
            if field is not None:
                records[0][field] = None
                path = [name, "data", 0, field]
                break
        else:
            data[name] = None
            path = [name]
            break
    else:
        path = []
    result.setdefault("errors", []).append({"message": "Unexpected Execution Error", "path": path,
                                            "extensions": {"code": "EXEC_UNEXPECTED"}})
    return result


def create_app(records: Mapping[str, Iterable[Mapping[str, Any]]] | None = None, *,
               tenants: Mapping[str, Mapping[str, Iterable[Mapping[str, Any]]]] | None = None,
               mandant: str = "1", clients: Mapping[str, str] | None = None, faults: str | None = None,
               seed: int | None = None, max_query_size: int = 1000, token_lifetime: float = 3600,
               unlicensed: Iterable[str] = (), latency: float = 0.0) -> Starlette:
    """The emulated work4all API. ``records``: one tenant's export-shaped records (served as
    ``mandant``), or ``tenants``: mandant -> records. ``clients``: client id -> secret (default
    ``migration``/``work4all``). ``app.state.work4all`` is the :class:`Work4allState`."""
    data = {str(m): build_tenant(r) for m, r in (tenants or {mandant: records or {}}).items()}
    state = Work4allState(data, clients=clients or DEFAULT_CLIENTS, faults=faults, seed=seed,
                          max_query_size=max_query_size, token_lifetime=token_lifetime, unlicensed=unlicensed)
    schema = _make_schema(state)

    async def token(request: Request) -> Response:
        form = await request.form()
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return JSONResponse({"error": "invalid_client"}, status_code=400)
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if not client_id or state.clients.get(str(client_id)) != secret:
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        access = state.issuer.mint(oid=stable_object_id(f"work4all:{client_id}"), appid=str(client_id),
                                   aud=AUDIENCE, lifetime=state.token_lifetime)
        return JSONResponse({"access_token": access, "expires_in": int(state.token_lifetime),
                             "token_type": "Bearer", "scope": form.get("scope") or "api"},
                            headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def graphql_endpoint(request: Request) -> Response:
        if latency:
            await asyncio.sleep(latency)
        auth = request.headers.get("authorization", "")
        try:
            if not auth.lower().startswith("bearer "):
                raise TokenError("no bearer token")
            state.issuer.verify(auth[7:].strip(), audience=AUDIENCE)
        except TokenError:
            return Response(status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
                            if auth else {"WWW-Authenticate": "Bearer"})
        mandant = request.headers.get(MANDANT_HEADER)
        if not mandant:
            return _problem(400, "Bad Request", f"The header {MANDANT_HEADER} is required.")
        if mandant not in state.tenants:
            return _problem(403, "Forbidden", f"Mandant {mandant} is not available to this client.")
        fault = state.choose()
        if fault is not None and fault.kind == "drop":
            await drop_connection(request.scope)
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.arg or 1.0)
        if fault is not None and fault.kind.isdigit():
            status = int(fault.kind)
            headers = {"Retry-After": f"{fault.arg:g}"} if fault.arg is not None else {}
            if status == 429 and "Retry-After" not in headers:
                headers["Retry-After"] = "1"
            return JSONResponse(_STATUS_BODIES.get(status, {"title": "Error", "status": status}),
                                status_code=status, headers=headers)
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return JSONResponse({"errors": [{"message": "The request body is not valid JSON."}]}, status_code=400)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return JSONResponse({"errors": [{"message": "The request has no query."}]}, status_code=400)
        _, result = await execute_graphql(schema, body, context_value={"mandant": mandant}, debug=False,
                                            logger=_LOG.name)
        if fault is not None and fault.kind == "partial":
            result = _partial(result)
        return JSONResponse(result, status_code=200)

    app = Starlette(routes=[Route("/connect/token", token, methods=["POST"]),
                            Route("/graphql", graphql_endpoint, methods=["POST"])])
    app.state.work4all = state
    return app
