"""The WORKetc SOAP 1.2 emulator: an ASGI app serving a tenant read from a CSV export folder.

Routes
  GET  /xml?wsdl                  the WSDL (schema.py), no session needed
  POST /xml                       SOAP 1.2 calls (``application/soap+xml``); the operation is the
                                  first child of ``soap:Body``
  GET  /Files/Download/{EntityID} a document's binary, streamed (inferred route), needs the session

Sessions: ``AuthenticateWebSafe(email, pass)`` answers ``Code=Success`` with a fresh ``SessionKey`` (a
GUID) for an active user of ``users.csv`` whose password ``password_for`` accepts, else
``Code=Not_Found`` (no fault, as the public PHP clients expect). Every other call needs the HTTP
header ``VeetroSession: <key>``; a missing, unknown or expired key answers HTTP 500 with a SOAP 1.2
``soap:Receiver`` fault whose reason reads like ASP.NET's (``Server was unable to process request.
---> Session is invalid or has expired. Please authenticate again.``) and a
``<SessionError>InvalidSession</SessionError>`` detail (*inferred*). Sessions slide: each call
renews ``session_ttl`` seconds.

Faults (optional, for resilience tests): ``faults="error=0.1,drop=0.05,slow=0.05,slow_seconds=2,seed=7"``
(or the same as a dict) makes that share of SOAP calls answer an HTTP 500 ``soap:Receiver`` fault, drop
the connection half-way through the answer, or answer after ``slow_seconds``.
``app.state.worketc.inject(kind, count)`` forces the next ``count`` data calls to fail that way
(deterministic tests). ``latency`` seconds are added to every SOAP call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Callable

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from shared.sources.worketc.csv_export import SourceFileError, read_table

from .schema import NS, OPERATIONS_BY_NAME, RECORD_TYPES, SOAP12_ENV, RecordType, build_wsdl

SOAP_CT = "application/soap+xml; charset=utf-8"
DEFAULT_PASSWORD = "worketc"
_FALSE = {"no", "false", "0", "n", "inactive"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _x(value: str) -> str:
    """Escape text for an XML element; ``\\r`` as a character reference so it survives parsing."""
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("\r", "&#13;"))


def parse_when(value: str | None, date_order: str = "DMY") -> dt.datetime | None:
    """A CSV or xs:dateTime timestamp as a naive datetime (aware values converted to UTC)."""
    if not value:
        return None
    v = value.strip()
    try:
        d = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        d = None
        for fmt in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"):
            f = fmt if date_order == "DMY" else fmt.replace("%d/%m", "%m/%d")
            try:
                d = dt.datetime.strptime(v, f)
                break
            except ValueError:
                continue
        if d is None:
            return None
    if d.tzinfo is not None:
        d = d.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return d


class Table:
    """One CSV file of the export, read with the project's own reader (aliases, encodings).

    Rows the reader cannot read (``_error``) are not part of the emulated tenant: a live WORKetc
    has no malformed records. ``header`` is the normalised header, ``extra`` the custom-field columns.
    """

    def __init__(self, folder: Path, file_name: str):
        self.header: list[str] = []
        self.extra: list[str] = []
        self.rows: list[dict[str, str | None]] = []
        try:
            reader = read_table(folder, file_name)
        except SourceFileError:
            return
        if reader.path is None:
            return
        self.header = list(reader.columns) + list(reader.missing_columns)
        self.extra = list(reader.extra_columns)
        for row in reader:
            if "_error" not in row:
                self.rows.append({k: v for k, v in row.items() if not k.startswith("_")})


def _computed_name(rt: RecordType, row: dict, ordinal: int) -> str | None:
    if rt.name in ("Contact", "Lead"):
        return " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p) or None
    return {
        "SupportCase": row.get("Subject"),
        "SupportCaseMessage": row.get("Subject"),
        "Invoice": row.get("Number"),
        "InvoiceLine": row.get("Description"),
        "Activity": row.get("Subject"),
        "Document": row.get("FileName"),
        "KnowledgeBaseArticle": row.get("Title"),
        "CustomFieldDefinition": row.get("Label"),
    }.get(rt.name)


class Tenant:
    """The tenant's data, rendered once to XML fragments, and its sessions/fault state."""

    def __init__(self, export_dir: str | Path, *, password_for, page_size: int, session_ttl: float,
                 faults, latency: float, date_order: str):
        self.export_dir = Path(export_dir)
        self.page_size = page_size
        self.session_ttl = session_ttl
        self.latency = latency
        self.date_order = date_order
        self._password_for = _password_checker(password_for)
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, float]] = {}
        self._forced: deque[str] = deque()
        self.calls: dict[str, int] = {}
        self.fault_cfg = _parse_faults(faults)
        self._rng = random.Random(self.fault_cfg.get("seed", 0))

        self.records: dict[str, list[tuple[str, dict]]] = {}  # type -> [(xml, row)]
        for rt in RECORD_TYPES:
            table = Table(self.export_dir, rt.file)
            extra = table.extra
            out = []
            for i, row in enumerate(table.rows, start=1):
                row = dict(row)
                if "EntityID" not in table.header:
                    row["EntityID"] = str(i)
                if "Name" not in table.header:
                    row["Name"] = _computed_name(rt, row, i)
                out.append((self._record_xml(rt, row, extra), row))
            self.records[rt.name] = out
        self.users = [row for _, row in self.records["Employee"]]
        self.documents = {row["EntityID"]: row for _, row in self.records["Document"]}
        self.stage_groups_xml = self._stage_groups()
        self.currencies_xml = self._currencies()

    # -- rendering -----------------------------------------------------------------------------
    def _record_xml(self, rt: RecordType, row: dict, extra: list[str]) -> str:
        parts = [f"<{rt.name}>"]
        for col in rt.columns:
            v = row.get(col)
            if v is not None:
                parts.append(f"<{col}>{_x(v)}</{col}>")
        if rt.custom_fields and extra:
            parts.append("<CustomFields>")
            for label in extra:
                v = row.get(label)
                value = f"<Value>{_x(v)}</Value>" if v is not None else ""
                parts.append(f"<CustomField><Label>{_x(label)}</Label>{value}</CustomField>")
            parts.append("</CustomFields>")
        parts.append(f"</{rt.name}>")
        return "".join(parts)

    def _stage_groups(self) -> str:
        table = Table(self.export_dir, "project_stages.csv")
        groups: dict[str, list[dict]] = {}
        for row in table.rows:
            groups.setdefault(row.get("ProjectType") or "", []).append(row)
        parts, stage_id = [], 0
        for gid, (name, stages) in enumerate(groups.items(), start=1):
            parts.append(f"<ProjectStageGroup><EntityID>{gid}</EntityID><Name>{_x(name)}</Name><Stages>")
            for st in stages:
                stage_id += 1
                parts.append(f"<ProjectStage><EntityID>{stage_id}</EntityID>")
                for src, dst in (("Stage", "Name"), ("Order", "Order"), ("WeightPercent", "WeightPercent")):
                    if st.get(src) is not None:
                        parts.append(f"<{dst}>{_x(st[src])}</{dst}>")
                parts.append("</ProjectStage>")
            parts.append("</Stages></ProjectStageGroup>")
        return "".join(parts)

    def _currencies(self) -> str:
        codes = ["AUD", "USD", "EUR", "GBP", "NZD"]
        for rt in ("Deal", "Invoice"):
            for _, row in self.records[rt]:
                c = (row.get("Currency") or "").strip().upper()
                if c and c not in codes:
                    codes.append(c)
        return "".join(f"<Currency><EntityID>{i}</EntityID><Name>{c}</Name><Code>{c}</Code></Currency>"
                       for i, c in enumerate(codes, start=1))

    # -- sessions ------------------------------------------------------------------------------
    def login(self, email: str | None, password: str | None) -> tuple[str, dict] | None:
        email = (email or "").strip().lower()
        for user in self.users:
            if (user.get("Email") or "").strip().lower() == email and email:
                if (user.get("Active") or "yes").strip().lower() in _FALSE:
                    return None
                if not self._password_for(user["Email"], password or ""):
                    return None
                key = str(uuid.uuid4())
                with self._lock:
                    self._sessions[key] = (user["EntityID"], time.monotonic() + self.session_ttl)
                return key, user
        return None

    def check_session(self, key: str | None) -> bool:
        if not key:
            return False
        now = time.monotonic()
        with self._lock:
            entry = self._sessions.get(key.strip())
            if entry is None or entry[1] < now:
                self._sessions.pop(key.strip(), None)
                return False
            self._sessions[key.strip()] = (entry[0], now + self.session_ttl)
            return True

    def expire_sessions(self) -> None:
        """Forget every session (the next call of each client gets the session fault)."""
        with self._lock:
            self._sessions.clear()

    # -- faults --------------------------------------------------------------------------------
    def inject(self, kind: str, count: int = 1) -> None:
        """Make the next ``count`` SOAP calls fail: kind is "error", "drop" or "slow"."""
        if kind not in ("error", "drop", "slow"):
            raise ValueError(kind)
        with self._lock:
            self._forced.extend([kind] * count)

    def next_fault(self) -> str | None:
        with self._lock:
            if self._forced:
                return self._forced.popleft()
            r = self._rng.random()
        acc = 0.0
        for kind in ("error", "drop", "slow"):
            acc += float(self.fault_cfg.get(kind, 0.0))
            if r < acc:
                return kind
        return None

    def count(self, op: str) -> None:
        with self._lock:
            self.calls[op] = self.calls.get(op, 0) + 1


def _password_checker(password_for) -> Callable[[str, str], bool]:
    if password_for is None:
        return lambda email, pw: pw == DEFAULT_PASSWORD
    if isinstance(password_for, str):
        return lambda email, pw: pw == password_for
    if isinstance(password_for, dict):
        table = {k.lower(): v for k, v in password_for.items()}
        return lambda email, pw: table.get(email.lower()) == pw
    return lambda email, pw: password_for(email) == pw


def _parse_faults(faults) -> dict:
    if not faults:
        return {}
    if isinstance(faults, dict):
        return dict(faults)
    out: dict = {}
    for part in str(faults).split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            out[k.strip()] = float(v) if k.strip() != "seed" else int(v)
    return out


# -- SOAP plumbing ----------------------------------------------------------------------------
def _envelope(body: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP12_ENV}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            f'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>{body}</soap:Body></soap:Envelope>'
            ).encode("utf-8")


def soap_fault(reason: str, *, code: str = "Receiver", detail: str = "", status: int = 500) -> Response:
    detail_xml = f"<soap:Detail>{detail}</soap:Detail>" if detail else ""
    body = (f"<soap:Fault><soap:Code><soap:Value>soap:{code}</soap:Value></soap:Code>"
            f'<soap:Reason><soap:Text xml:lang="en">{_x(reason)}</soap:Text></soap:Reason>'
            f"{detail_xml}</soap:Fault>")
    return Response(_envelope(body), status_code=status, media_type=SOAP_CT)


def session_fault() -> Response:
    return soap_fault(
        "Server was unable to process request. ---> Session is invalid or has expired. "
        "Please authenticate again.",
        detail=f'<SessionError xmlns="{NS}">InvalidSession</SessionError>')


def _result(op: str, inner: str) -> Response:
    return Response(_envelope(f'<{op}Response xmlns="{NS}"><{op}Result>{inner}</{op}Result></{op}Response>'),
                    media_type=SOAP_CT)


def _int(args: dict, name: str, default: int = 0) -> int:
    v = args.get(name)
    try:
        return int(v) if v not in (None, "") else default
    except ValueError:
        raise _ArgError(f"The value of argument '{name}' is not a valid integer.") from None


class _ArgError(Exception):
    pass


class _DropConnection(Exception):
    """Raised after a partial answer: the server closes the connection mid-response."""


def create_app(export_dir: str | Path, *, password_for=None, faults=None, latency: float = 0.0,
               page_size: int = 100, session_ttl: float = 1200.0, date_order: str = "DMY") -> Starlette:
    """The emulated tenant ``export_dir`` (a CSV export folder) as a Starlette app.

    ``password_for``: None (every active user's password is ``"worketc"``), a password for all
    users, a dict email -> password, or a callable email -> password. ``page_size``: the most records
    a list operation returns per call. ``app.state.worketc`` is the :class:`Tenant` (sessions,
    ``inject``, ``expire_sessions``, ``calls``).
    """
    tenant = Tenant(export_dir, password_for=password_for, page_size=page_size, session_ttl=session_ttl,
                    faults=faults, latency=latency, date_order=date_order)

    async def wsdl(request: Request) -> Response:
        if "wsdl" not in {k.lower() for k in request.query_params.keys()}:
            return Response("Use ?wsdl for the service description; POST SOAP 1.2 calls here.",
                            media_type="text/plain")
        address = str(request.url.replace(query=None, fragment=None))
        return Response(build_wsdl(address), media_type="text/xml; charset=utf-8")

    async def soap(request: Request) -> Response:
        if tenant.latency:
            await asyncio.sleep(tenant.latency)
        raw = await request.body()
        try:
            root = etree.fromstring(raw, _PARSER)
            if root.getroottree().docinfo.doctype:
                raise etree.XMLSyntaxError("DTD is not allowed", None, 0, 0)  # type: ignore[arg-type]
        except (etree.XMLSyntaxError, ValueError):
            return soap_fault("Server was unable to read request. ---> There is an error in XML document.",
                              code="Sender", status=400)
        if etree.QName(root).namespace != SOAP12_ENV:
            return soap_fault("Possible SOAP version mismatch: Envelope namespaces are not SOAP 1.2.",
                              code="VersionMismatch", status=500)
        body = root.find(f"{{{SOAP12_ENV}}}Body")
        call = next(iter(body), None) if body is not None else None
        if call is None or not isinstance(call.tag, str):
            return soap_fault("Unable to handle request without a valid action parameter.", code="Sender")
        op = etree.QName(call).localname
        args = {etree.QName(ch).localname: (ch.text or "") for ch in call if isinstance(ch.tag, str)}
        tenant.count(op)

        if op == "AuthenticateWebSafe":
            got = tenant.login(args.get("email"), args.get("pass"))
            if got is None:
                return _result(op, "<Code>Not_Found</Code>")
            key, user = got
            return _result(op, f"<Code>Success</Code><SessionKey>{key}</SessionKey><User>"
                               f"<EntityID>{_x(user['EntityID'])}</EntityID><Name>{_x(user.get('Name') or '')}</Name>"
                               f"<Email>{_x(user.get('Email') or '')}</Email></User>")
        spec = OPERATIONS_BY_NAME.get(op)
        if spec is None:
            return soap_fault(f"Server did not recognize the value of HTTP Header SOAPAction: {NS}{op}.",
                              code="Sender")
        if not tenant.check_session(request.headers.get("VeetroSession")):
            return session_fault()

        fault = tenant.next_fault()
        if fault == "error":
            return soap_fault("Server was unable to process request. ---> Timeout expired. The timeout "
                              "period elapsed prior to completion of the operation or the server is not "
                              "responding.")
        if fault == "slow":
            await asyncio.sleep(float(tenant.fault_cfg.get("slow_seconds", 2.0)))
        try:
            inner = _answer(tenant, op, args)
        except _ArgError as exc:
            return soap_fault(f"Server was unable to read request. ---> {exc}", code="Sender", status=400)
        resp = _result(op, inner)
        if fault == "drop":
            return _DroppingResponse(resp.body)
        return resp

    async def download(request: Request) -> Response:
        if not tenant.check_session(request.headers.get("VeetroSession")):
            return Response("Session is invalid or has expired.", status_code=401, media_type="text/plain")
        doc = tenant.documents.get(request.path_params["entity_id"])
        if doc is None or not doc.get("Path"):
            return Response("Not found", status_code=404, media_type="text/plain")
        files = (tenant.export_dir / "files").resolve()
        path = (files / doc["Path"]).resolve()
        if files not in path.parents or not path.is_file():
            return Response("Not found", status_code=404, media_type="text/plain")
        fault = tenant.next_fault()
        if fault == "error":
            return Response("Internal Server Error", status_code=500, media_type="text/plain")
        return FileResponse(path, media_type=doc.get("MimeType") or "application/octet-stream",
                            filename=doc.get("FileName") or path.name)

    app = Starlette(routes=[
        Route("/xml", wsdl, methods=["GET"]),
        Route("/xml", soap, methods=["POST"]),
        Route("/Files/Download/{entity_id}", download, methods=["GET"]),
    ])
    app.state.worketc = tenant
    return app


class _DroppingResponse(Response):
    """Announces the full length, sends part of the body, then fails: the connection is dropped."""

    def __init__(self, body: bytes):
        super().__init__(body, media_type=SOAP_CT)

    async def __call__(self, scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body[: max(1, len(self.body) // 3)],
                    "more_body": True})
        raise _DropConnection("connection dropped by fault injection")


def _answer(t: Tenant, op: str, args: dict) -> str:
    if op == "GetProjectStageGroups":
        return t.stage_groups_xml
    if op == "GetAllCurrenciesWebSafe":
        return t.currencies_xml
    spec = OPERATIONS_BY_NAME[op]
    rows: list[tuple[str, dict]] = t.records[spec.record]  # type: ignore[index]

    if op in ("GetSupportCasesByOwner", "GetProjectsByMember"):
        uid = str(_int(args, "EntityID"))
        email = next(((u.get("Email") or "").lower() for u in t.users if u["EntityID"] == uid), None)
        rows = [r for r in rows if email and (r[1].get("OwnerEmail") or "").lower() == email]
        status = (args.get("status") or "All").strip().lower()
        if op == "GetSupportCasesByOwner" and status not in ("", "all"):
            rows = [r for r in rows if (r[1].get("Status") or "").lower() == status]
        top = _int(args, "top")
        return "".join(x for x, _ in (rows[:top] if top > 0 else rows))

    if op == "FindProjects" and (args.get("keywords") or "").strip():
        kw = args["keywords"].strip().lower()
        rows = [r for r in rows if kw in (r[1].get("Name") or "").lower()]
    if spec.modified_filter and (args.get("modifiedSince") or "").strip():
        since = parse_when(args["modifiedSince"])
        if since is None:
            raise _ArgError("The string 'modifiedSince' is not a valid AllXsd value.")
        # A record whose DateModified is empty or unreadable is always listed (never missed).
        rows = [r for r in rows
                if (m := parse_when(r[1].get("DateModified"), t.date_order)) is None or m >= since]
    if spec.paged:
        skip = max(0, _int(args, "skip"))
        top = _int(args, "top")
        top = t.page_size if top <= 0 else min(top, t.page_size)
        rows = rows[skip: skip + top]
    return "".join(x for x, _ in rows)
