"""A small in-memory Dataverse behind ``httpx.MockTransport``, faithful to ../../../shared/REFERENCE.md
for what the client and the loader touch: records by GUID or alternate key, ``In`` queries with
paging, UpsertMultiple (all-or-nothing on standard tables), PATCH upserts, ``$batch`` (own parser),
``sdkmessagefilters``, 429 + Retry-After on concurrency over the per-user limit, ARRAffinity cookies,
``x-ms-dop-hint``, scripted faults (5xx, dropped connections)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import defaultdict
from typing import Any, Callable

import httpx
import pytest

from shared import http as shared_http
from shared.auth import StaticToken
from shared.dataverse import DataverseClient, DataverseSettings

ORG = "https://org.crm.dynamics.com"
API = "/api/data/v9.2/"
FORBIDDEN = set("/<>*%&:\\?+")


def err(status: int, code: str, message: str, headers: dict | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": message}}, headers=headers or {})


class Table:
    def __init__(self, logical: str, entity_set: str, key: str, columns: set[str], multiple: bool = True) -> None:
        self.logical, self.entity_set, self.key = logical, entity_set, key
        self.id = f"{logical}id"
        self.columns = columns | {key, self.id}
        self.multiple = multiple
        self.rows: dict[str, dict] = {}  # id -> record

    def by_key(self, value: str) -> dict | None:
        return next((r for r in self.rows.values() if r.get(self.key) == value), None)


def parse_literals(text: str) -> list[str]:
    return [m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", text)]


class FakeDataverse:
    def __init__(self, *, tokens: tuple[str, ...] = ("tok-1", "tok-2"), concurrency_limit: int = 52,
                 dop_hint: int | None = 6, latency: float | Callable[[httpx.Request], float] = 0.0,
                 retry_after: str = "1") -> None:
        self.tokens = set(tokens)
        self.concurrency_limit = concurrency_limit
        self.dop_hint = dop_hint
        self.latency = latency
        self.retry_after = retry_after
        self.tables: dict[str, Table] = {}
        self.log: list[httpx.Request] = []
        self.by_token: dict[str, int] = defaultdict(int)
        self.in_flight: dict[str, int] = defaultdict(int)
        self.max_in_flight: dict[str, int] = defaultdict(int)
        self.throttled = 0
        self.faults: list[Callable[[httpx.Request], httpx.Response | None]] = []  # consumed in order
        self.add_table(Table("account", "accounts", "wtc_sourceid", {"name", "telephone1", "revenue", "description"}))
        self.add_table(Table("wtc_project", "wtc_projects", "wtc_sourceid", {"wtc_name"}, multiple=False))
        self.bad_value = "BAD"  # a column value that fails validation (like a too long name)

    def add_table(self, t: Table) -> None:
        self.tables[t.entity_set] = t

    # -- transport
    async def handle(self, request: httpx.Request) -> httpx.Response:
        self.log.append(request)
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        if token not in self.tokens:
            return err(401, "0x80040220", "Unauthorized")
        self.by_token[token] += 1
        if self.faults:
            fault = self.faults.pop(0)
            r = fault(request)
            if r is not None:
                return r
        self.in_flight[token] += 1
        try:
            self.max_in_flight[token] = max(self.max_in_flight[token], self.in_flight[token])
            if self.in_flight[token] > self.concurrency_limit:
                self.throttled += 1
                return err(429, "0x80072326", "Number of concurrent requests exceeded the limit of 52.",
                           {"Retry-After": self.retry_after})
            latency = self.latency(request) if callable(self.latency) else self.latency
            if latency:
                await asyncio.sleep(latency)
            resp = self.dispatch(request.method, request.url, request.headers, request.content)
        finally:
            self.in_flight[token] -= 1
        resp.headers["Set-Cookie"] = "ARRAffinity=abc123; Path=/; HttpOnly; Domain=org.crm.dynamics.com"
        if self.dop_hint:
            resp.headers["x-ms-dop-hint"] = str(self.dop_hint)
        return resp

    # -- core
    def dispatch(self, method: str, url: httpx.URL, headers: Any, content: bytes) -> httpx.Response:
        path = url.path
        assert path.startswith(API), path
        rel = path[len(API):]
        if rel == "$batch" and method == "POST":
            return self.batch(headers, content)
        if rel == "sdkmessagefilters":
            filt = url.params.get("$filter", "")
            msg = re.search(r"sdkmessageid/name eq '(\w+)'", filt).group(1)
            otc = re.search(r"primaryobjecttypecode eq '(\w+)'", filt).group(1)
            ok = msg == "UpsertMultiple" and any(t.logical == otc and t.multiple for t in self.tables.values())
            return httpx.Response(200, json={"value": [{"sdkmessagefilterid": str(uuid.uuid4())}] if ok else []})
        m = re.fullmatch(r"(\w+)(?:\((.*)\))?(?:/Microsoft\.Dynamics\.CRM\.(\w+))?", rel, re.S)
        if not m or m.group(1) not in self.tables:
            seg = rel.split("(")[0].split("/")[0]
            return err(404, "0x8006088a", f"Resource not found for the segment '{seg}'.")
        t = self.tables[m.group(1)]
        keypart, action = m.group(2), m.group(3)
        body = json.loads(content) if content else None
        if action == "UpsertMultiple" and method == "POST" and keypart is None:
            if not t.multiple:
                return err(400, "0x80040265", f"UpsertMultiple is not enabled on the entity {t.logical}")
            targets = body["Targets"]
            for tg in targets:  # standard table: validate all, any error fails the whole request
                if tg.get("@odata.type") != f"Microsoft.Dynamics.CRM.{t.logical}":
                    return err(400, "0x80048d19", "Error identified in Payload provided by the user for Entity")
                e = self.validate(t, {k: v for k, v in tg.items() if not k.startswith("@")})
                if e:
                    return e
            for tg in targets:
                km = re.fullmatch(rf"{t.entity_set}\({t.key}='((?:[^']|'')*)'\)", tg["@odata.id"])
                assert km, tg["@odata.id"]
                self.upsert(t, km.group(1).replace("''", "'"), {k: v for k, v in tg.items() if not k.startswith("@")})
            return httpx.Response(204)
        if keypart is None:
            if method == "GET":
                return self.query(t, url, headers)
            if method == "POST":
                e = self.validate(t, body)
                if e:
                    return e
                rid = str(uuid.uuid4())
                t.rows[rid] = {**body, t.id: rid}
                return httpx.Response(204, headers={"OData-EntityId": f"{ORG}{API}{t.entity_set}({rid})"})
            return err(405, "0x80060888", "Method not allowed")
        # single record: GUID or alternate key
        km = re.fullmatch(rf"{t.key}='((?:[^']|'')*)'", keypart)
        if km:
            kv = km.group(1).replace("''", "'")
            if any(c in FORBIDDEN for c in kv):  # real Dataverse cannot parse these (REFERENCE.md)
                return err(400, "0x80060891", "A potentially dangerous Request.Path value was detected.")
            rec = t.by_key(kv)
        elif re.fullmatch(r"[0-9a-f-]{36}", keypart):
            kv = None
            rec = t.rows.get(keypart)
        else:
            return err(400, "0x80060888", f"Bad key {keypart}")
        missing = err(404, "0x80040217", f"Entity '{t.logical}' With Id = {keypart} Does Not Exist")
        if method == "GET":
            return httpx.Response(200, json=rec) if rec else missing
        if method == "DELETE":
            if not rec:
                return missing
            del t.rows[rec[t.id]]
            return httpx.Response(204)
        if method == "PATCH":
            if headers.get("if-match") == "*" and not rec:
                return missing
            if headers.get("if-none-match") == "*" and rec:
                return err(412, "0x80060892", "A record with matching key values already exists.")
            e = self.validate(t, body)
            if e:
                return e
            rid = self.upsert(t, kv, body) if kv is not None else rec.update(body) or rec[t.id]
            return httpx.Response(204, headers={"OData-EntityId": f"{ORG}{API}{t.entity_set}({rid})"})
        return err(405, "0x80060888", "Method not allowed")

    def validate(self, t: Table, body: dict) -> httpx.Response | None:
        for k, v in body.items():
            if k.endswith("@odata.bind"):
                continue
            if k not in t.columns:
                return err(400, "0x0", f"An undeclared property '{k}' which only has property annotations in the payload...")
            if v == self.bad_value:
                return err(400, "0x80044331", f"A validation error occurred. The value of '{k}' is not valid.")
        return None

    def upsert(self, t: Table, key: str, body: dict) -> str:
        rec = t.by_key(key)
        if rec is None:
            rid = str(uuid.uuid4())
            t.rows[rid] = {**body, t.key: key, t.id: rid}
            return rid
        rec.update(body)
        return rec[t.id]

    def query(self, t: Table, url: httpx.URL, headers: Any) -> httpx.Response:
        params = url.params
        rows = list(t.rows.values())
        filt = params.get("$filter")
        if filt:
            m = re.fullmatch(r"Microsoft\.Dynamics\.CRM\.In\(PropertyName='(\w+)',PropertyValues=\[(.*)\]\)", filt, re.S)
            assert m, filt
            values = set(parse_literals(m.group(2)))
            rows = [r for r in rows if r.get(m.group(1)) in values]
        sel = params.get("$select")
        if sel:
            rows = [{c: r.get(c) for c in sel.split(",")} for r in rows]
        skip = int(params.get("$skiptoken", "0"))
        pm = re.search(r"odata\.maxpagesize=(\d+)", headers.get("prefer", ""))
        size = int(pm.group(1)) if pm else 5000
        page = rows[skip: skip + size]
        out: dict = {"value": page}
        if skip + size < len(rows):
            nxt = url.copy_merge_params({"$skiptoken": str(skip + size)})
            out["@odata.nextLink"] = str(nxt)
        return httpx.Response(200, json=out)

    # -- $batch (independent parser)
    def batch(self, headers: Any, content: bytes) -> httpx.Response:
        ctype = headers.get("content-type", "")
        boundary = re.search(r"boundary=([^;]+)", ctype).group(1)
        assert boundary.startswith("batch_")
        continue_on_error = "odata.continue-on-error" in headers.get("prefer", "")
        text = content.decode()
        parts = [p for p in text.split(f"--{boundary}")[1:] if not p.startswith("--")]
        assert len(parts) <= 1000
        out_parts: list[str] = []
        failed = None
        for raw in parts:
            head, _, rest = raw.lstrip("\r\n").partition("\r\n\r\n")
            assert "Content-Type: application/http" in head and "Content-Transfer-Encoding: binary" in head, head
            reqline, _, after = rest.partition("\r\n")
            method, target, _ = reqline.split(" ")
            hdr_text, _, body = after.partition("\r\n\r\n")
            hdrs = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in hdr_text.split("\r\n") if ":" in l}
            resp = self.dispatch(method, httpx.URL(ORG + target), hdrs, body.strip().encode())
            lines = [f"HTTP/1.1 {resp.status_code} {resp.reason_phrase}"] + [f"{k}: {v}" for k, v in resp.headers.items() if k.lower() in ("odata-entityid", "content-type")]
            out_parts.append("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" + "\r\n".join(lines) + "\r\n\r\n" + resp.content.decode())
            if resp.status_code >= 400 and not continue_on_error:
                failed = True
                break
        rb = "batchresponse_" + str(uuid.uuid4())
        body = "".join(f"--{rb}\r\n{p}\r\n" for p in out_parts) + f"--{rb}--\r\n"
        return httpx.Response(400 if failed else 200, content=body.encode(), headers={"Content-Type": f"multipart/mixed; boundary={rb}"})


def scripted(status: int, *, code: str = "0x80040216", message: str = "An unexpected error occurred.",
             headers: dict | None = None) -> Callable[[httpx.Request], httpx.Response]:
    return lambda req: err(status, code, message, headers)


def dropped(req: httpx.Request) -> httpx.Response:
    raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=req)


@pytest.fixture
def fake():
    dv = FakeDataverse()
    shared_http.register_transport(ORG, lambda: httpx.MockTransport(dv.handle))
    yield dv
    shared_http.unregister_transport(ORG)


def make_settings(**kw) -> DataverseSettings:
    base = dict(url=ORG, backoff_base=0.01, backoff_max=0.05, default_retry_after=0.05, max_attempts=4)
    base.update(kw)
    return DataverseSettings(**base)


@pytest.fixture
def settings() -> DataverseSettings:
    return make_settings()


def client_for(settings: DataverseSettings, tokens=("tok-1",)) -> DataverseClient:
    return DataverseClient(settings, token_providers=[StaticToken(t) for t in tokens])
