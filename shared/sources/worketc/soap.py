"""The WORKetc SOAP extractor (Team and Foundations tiers): zeep against the tenant's WSDL.

It yields the same dicts as ``csv_export.read_table`` (the export contract's field names, values as
``str`` or ``None``, custom fields keyed by their label, ``"_file"``, ``"_row"`` and ``"_record"``), so everything
after extraction is one code path::

    with WorketcSoapClient(WorketcSoapSettings.from_env()) as wtc:
        report = wtc.discover()                  # which operations exist, which objects extract
        for row in wtc.extract("companies", modified_since=last_run):
            ...
        wtc.download_document(row, "/tmp/doc.bin")   # a binary, streamed to a file

Protocol (../shared/REFERENCE.md): SOAP 1.2, WSDL at ``https://<alias>.worketc.com/xml?wsdl``;
``AuthenticateWebSafe(email, pass)`` -> ``SessionKey``, then the HTTP header ``VeetroSession`` on every
call. A fault whose reason matches ``session_fault_pattern`` (a session that expired) triggers one
re-login and a retry of the call.

Transport: zeep's synchronous ``Transport`` over a ``requests.Session`` (keep-alive). The extractor is a
plain blocking iterator; an async step drives it in a worker thread (``asyncio.to_thread``) or in
chunks. Throughput is bounded by the configured request rate and zeep's XML parsing (see
bench/soap_extract.py), not by connection set-up.

Inferred behaviour (WORKetc publishes none of this; all of it is configuration):
- the object -> operation table (``operations.py``), overridable per tenant;
- paging: ``skip``/``top`` arguments when the operation declares both; the extractor asks for
  ``page_size`` records per call and stops at an empty page or at a page shorter than an earlier
  one (a server that caps ``top`` lower than asked is still read to the end); a server that ignores
  ``skip`` is detected and raises;
- delta: ``modifiedSince`` (``xs:dateTime``) where the operation declares it (records modified at or
  after it), else a full pull that the caller diffs with ``record_hash``;
- ``_record`` is the record's ordinal in the listing (1-based), ``_row`` the same counting a header as 1
  (the CSV reader's ``_row`` is a physical line number: equal unless cells hold newlines).

Throttling: a token bucket (``rate_per_second``, default 5/s, ``burst``) in front of every HTTP call.
Retries: faults other than ``soap:Sender`` ones, HTTP 5xx/429 and dropped or timed-out connections
are retried ``max_retries`` times with exponential backoff and jitter.

XML hardening: zeep ``Settings(forbid_dtd=True, forbid_entities=True, forbid_external=True,
xml_huge_tree=False, strict=True)``; a WSDL or an answer with a DTD, an entity (billion laughs) or
an external reference raises ``WorketcXmlError`` and is never retried.

Secrets: the password (``WORKETC_PASSWORD``, or a Key Vault secret URI resolved with
azure-identity; an App Service ``@Microsoft.KeyVault(...)`` reference arrives as the plain env var)
and the session key never reach logs or exception messages; the transport does not log envelopes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

import requests
import zeep
import zeep.exceptions as zexc
from lxml import etree
from pydantic import BaseModel, SecretStr

from ... import telemetry
from .operations import ObjectOperation, load_operations

log = logging.getLogger(__name__)

LOGIN_OPERATION = "AuthenticateWebSafe"
SESSION_HEADER = "VeetroSession"


# ------------------------------------------------------------------------------------------- errors

class WorketcError(Exception):
    """Anything that stops a WORKetc SOAP extraction. Messages never hold credentials."""


class WorketcAuthError(WorketcError):
    """Login refused (``Code`` other than ``Success``) or a session rejected right after login."""


class WorketcXmlError(WorketcError):
    """A WSDL or an answer that is not safe or not valid XML (DTD, entities, external references)."""


class WorketcConfigError(WorketcError):
    """The operation table does not fit the tenant (operation missing from its WSDL, ...)."""


class WorketcFault(WorketcError):
    """A SOAP fault that is not retried, or a call that still failed after every retry."""

    def __init__(self, operation: str, message: str, code: str | None = None):
        self.operation = operation
        self.code = code
        super().__init__(f"{operation}: {message}" + (f" ({code})" if code else ""))


# ----------------------------------------------------------------------------------------- settings

class WorketcSoapSettings(BaseModel):
    """Where the tenant is, who logs in, and how hard to push it."""

    wsdl_url: str | None = None  # default: https://<alias>.worketc.com/xml?wsdl
    alias: str | None = None
    endpoint: str | None = None  # SOAP address override (default: the WSDL's soap12:address)
    email: str | None = None
    password: SecretStr | None = None
    password_secret_uri: str | None = None  # https://<vault>.vault.azure.net/secrets/<name>[/<version>]
    operations: dict[str, Any] | str | None = None  # override of operations.DEFAULT_OPERATIONS
    page_size: int = 100
    rate_per_second: float = 5.0
    burst: int = 5
    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    timeout: float = 120.0
    verify: bool | str = True  # False, or a CA bundle file
    session_fault_pattern: str = r"(?i)session|authenticat|VeetroSession"
    download_path: str = "/Files/Download/{EntityID}"  # inferred; relative to the WSDL's origin
    tenant_timezone: str = "Australia/Sydney"  # an aware modified_since is converted to this local time

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "WorketcSoapSettings":
        """``WORKETC_WSDL_URL``/``WORKETC_ALIAS``, ``WORKETC_EMAIL``, ``WORKETC_PASSWORD``,
        ``WORKETC_PASSWORD_SECRET_URI``, ``WORKETC_OPERATIONS`` (JSON), ``WORKETC_PAGE_SIZE``,
        ``WORKETC_RATE_PER_SECOND``, ``WORKETC_BURST``, ``WORKETC_MAX_RETRIES``, ``WORKETC_TIMEOUT``."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            v = env.get(f"WORKETC_{name.upper()}")
            if v not in (None, ""):
                values[name] = v
        if isinstance(values.get("verify"), str) and values["verify"].lower() in ("true", "false", "1", "0"):
            values["verify"] = values["verify"].lower() in ("true", "1")
        values.update(overrides)
        return cls(**values)

    def resolved_wsdl_url(self) -> str:
        if self.wsdl_url:
            return self.wsdl_url
        if self.alias:
            return f"https://{self.alias}.worketc.com/xml?wsdl"
        raise WorketcConfigError("set WORKETC_WSDL_URL or WORKETC_ALIAS")

    def resolved_password(self) -> str:
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_secret_uri:
            return _key_vault_secret(self.password_secret_uri)
        raise WorketcConfigError("set WORKETC_PASSWORD or WORKETC_PASSWORD_SECRET_URI")


def _key_vault_secret(uri: str) -> str:
    """A Key Vault secret's value through the managed identity (azure-identity + the REST API)."""
    import httpx
    from azure.identity import DefaultAzureCredential

    token = DefaultAzureCredential().get_token("https://vault.azure.net/.default").token
    r = httpx.get(uri, params={"api-version": "7.4"}, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if r.status_code != 200:
        raise WorketcConfigError(f"Key Vault answered HTTP {r.status_code} for the WORKetc password secret")
    return r.json()["value"]


# ----------------------------------------------------------------------------------- rate limiting

class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; ``acquire()`` blocks until one is free."""

    def __init__(self, rate: float, burst: int = 1, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.rate = float(rate)
        self.capacity = max(1.0, float(burst))
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token; returns how long the caller waited."""
        if self.rate <= 0:
            return 0.0
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0 - 1e-9:  # tolerance: float sums may land a hair short
                    self._tokens = max(0.0, self._tokens - 1.0)
                    return waited
                delay = (1.0 - self._tokens) / self.rate
            self._sleep(delay)
            waited += delay


class _Transport(zeep.Transport):
    """zeep's transport, rate-limited, and never logging envelopes (they hold the password and key)."""

    def __init__(self, bucket: TokenBucket, **kw: Any):
        super().__init__(**kw)
        self.bucket = bucket

    def post(self, address, message, headers):  # noqa: D102 - see zeep.Transport.post
        self.bucket.acquire()
        return self.session.post(address, data=message, headers=headers, timeout=self.operation_timeout)


# ------------------------------------------------------------------------------------------ values

def _text(value: Any) -> str | None:
    """A zeep value as the CSV reader would give it: text, or None for an empty cell."""
    if value is None:
        return None
    if isinstance(value, str):
        return value if value != "" else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, (bytes, bytearray)):
        import base64

        return base64.b64encode(value).decode("ascii")
    return str(value)


def _values(obj: Any) -> Mapping[str, Any]:
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return obj
    vals = getattr(obj, "__values__", None)
    if vals is not None:
        return vals
    return {k: getattr(obj, k) for k in dir(obj) if not k.startswith("_")}


def _items(result: Any) -> list:
    """The records of a result: zeep unwraps ``ArrayOfX`` to a list, an empty one to None."""
    if result is None:
        return []
    if isinstance(result, list):
        return result
    vals = _values(result)
    if len(vals) == 1:
        (only,) = vals.values()
        return _items(only)
    return [result]


def record_hash(record: Mapping[str, Any]) -> str:
    """A stable sha256 of a record's fields (keys starting with ``_`` ignored, order-independent)."""
    body = {k: v for k, v in record.items() if not k.startswith("_")}
    raw = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _as_datetime(value: datetime | date | str, tenant_timezone: str) -> datetime:
    """The filter value as a naive tenant-local time (WORKetc timestamps carry no offset)."""
    if isinstance(value, datetime):
        d = value
    elif isinstance(value, date):
        d = datetime(value.year, value.month, value.day)
    else:
        d = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return d.astimezone(ZoneInfo(tenant_timezone)).replace(tzinfo=None) if d.tzinfo else d


@dataclass(frozen=True)
class Download:
    path: Path
    size: int
    sha256: str


# -------------------------------------------------------------------------------------------- client

class WorketcSoapClient:
    """One tenant: WSDL, session, throttling and retries in one place. A context manager."""

    def __init__(self, settings: WorketcSoapSettings, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self.operations: dict[str, ObjectOperation] = load_operations(settings.operations)
        self._session_fault = re.compile(settings.session_fault_pattern)
        self._sleep = sleep
        self.bucket = TokenBucket(settings.rate_per_second, settings.burst)
        http = session or requests.Session()
        http.verify = settings.verify
        self._transport = _Transport(self.bucket, session=http, timeout=settings.timeout,
                                     operation_timeout=settings.timeout)
        self._client: zeep.Client | None = None
        self._service = None
        self._key: str | None = None
        self._login_lock = threading.Lock()
        self.user: dict[str, str | None] | None = None
        self.stats = {"calls": 0, "retries": 0, "logins": 0}

    # -- lifecycle

    def __enter__(self) -> "WorketcSoapClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._transport.session.close()

    @property
    def http(self) -> requests.Session:
        return self._transport.session

    def _zeep(self) -> zeep.Client:
        if self._client is None:
            url = self.settings.resolved_wsdl_url()
            zs = zeep.Settings(strict=True, xml_huge_tree=False, forbid_dtd=True, forbid_entities=True,
                               forbid_external=True)
            try:
                client = zeep.Client(url, transport=self._transport, settings=zs)
            except (zexc.DTDForbidden, zexc.EntitiesForbidden, zexc.XMLParseError, zexc.XMLSyntaxError,
                    etree.XMLSyntaxError) as exc:
                raise WorketcXmlError(f"the WSDL at {_safe_url(url)} was refused: {type(exc).__name__}: {exc}") from None
            except requests.RequestException as exc:
                raise WorketcError(f"cannot load the WSDL at {_safe_url(url)}: {type(exc).__name__}") from exc
            if self.settings.endpoint:
                binding = next(iter(client.wsdl.bindings))
                self._service = client.create_service(binding, self.settings.endpoint)
            else:
                self._service = client.service
            self._client = client
        return self._client

    # -- WSDL

    def operation_inputs(self) -> dict[str, list[str]]:
        """Every operation of the tenant's WSDL with its input element names."""
        self._zeep()
        out: dict[str, list[str]] = {}
        binding = self._service._binding
        for name, op in binding._operations.items():
            try:
                out[name] = [n for n, _ in op.input.body.type.elements]
            except AttributeError:
                out[name] = []
        return out

    def discover(self) -> dict[str, Any]:
        """Which operations the WSDL has, and per object whether (and how) it can be extracted."""
        inputs = self.operation_inputs()
        objects: dict[str, Any] = {}
        for name, spec in self.operations.items():
            entry: dict[str, Any] = {"operation": spec.operation, "note": spec.note or None}
            if spec.operation is None:
                entry.update(available=False, reason="not exposed by the API")
            elif spec.operation not in inputs:
                candidates = sorted(op for op in inputs for h in spec.hints if h.lower() in op.lower())
                entry.update(available=False, reason="operation not in the tenant's WSDL",
                             candidates=sorted(set(candidates)))
            else:
                args = inputs[spec.operation]
                paged = bool(spec.skip_arg and spec.top_arg and spec.skip_arg in args and spec.top_arg in args)
                modified = bool(spec.modified_arg and spec.modified_arg in args)
                if spec.fan_out and spec.owner_arg not in args:
                    entry.update(available=False, reason=f"owner argument {spec.owner_arg!r} not in the operation")
                else:
                    entry.update(available=True, paged=paged, arguments=args,
                                 delta="modified_since" if modified else "content_hash")
            objects[name] = entry
        used = {s.operation for s in self.operations.values()} | {LOGIN_OPERATION}
        return {
            "wsdl": _safe_url(self.settings.resolved_wsdl_url()),
            "login": LOGIN_OPERATION in inputs,
            "operations": sorted(inputs),
            "objects": objects,
            "extractable": sorted(k for k, v in objects.items() if v["available"]),
            "not_extractable": sorted(k for k, v in objects.items() if not v["available"]),
            "unused_operations": sorted(set(inputs) - used),
        }

    # -- session

    def login(self) -> None:
        """``AuthenticateWebSafe(email, pass)``; the session key goes into the ``VeetroSession`` header."""
        if not self.settings.email:
            raise WorketcConfigError("set WORKETC_EMAIL")
        password = self.settings.resolved_password()
        self._zeep()
        with self._login_lock:
            self._transport.session.headers.pop(SESSION_HEADER, None)
            result = self._invoke(LOGIN_OPERATION, {"email": self.settings.email, "pass": password}, login=True)
            vals = _values(result)
            code = _text(vals.get("Code"))
            key = _text(vals.get("SessionKey"))
            if code != "Success" or not key:
                raise WorketcAuthError(f"WORKetc refused the login of the configured account (Code={code})")
            self._key = key
            self._transport.session.headers[SESSION_HEADER] = key
            user = _values(vals.get("User"))
            self.user = {"EntityID": _text(user.get("EntityID")), "Name": _text(user.get("Name"))}
            self.stats["logins"] += 1
            log.info("logged in to WORKetc", extra={"worketc_user_id": self.user["EntityID"]})

    def call(self, operation: str, **args: Any) -> Any:
        """Call ``operation`` in the session (logging in first if needed) with retries."""
        if self._key is None:
            self.login()
        return self._invoke(operation, args)

    def _invoke(self, operation: str, args: dict[str, Any], *, login: bool = False) -> Any:
        self._zeep()
        attempt, relogged = 0, False
        while True:
            self.stats["calls"] += 1
            try:
                with telemetry.span("worketc", operation):
                    return self._service[operation](**args)
            except zexc.Fault as f:
                message = (f.message or "").strip()
                if not login and self._session_fault.search(message):
                    if relogged:
                        raise WorketcAuthError(f"{operation}: the session was rejected right after a fresh login") from None
                    log.info("WORKetc session expired; logging in again", extra={"operation": operation})
                    self.login()
                    relogged = True
                    continue
                if f.code and f.code.endswith("Sender"):
                    raise WorketcFault(operation, message, f.code) from None
                error: Exception = WorketcFault(operation, message, f.code)
            except (zexc.DTDForbidden, zexc.EntitiesForbidden, zexc.XMLParseError, zexc.XMLSyntaxError,
                    etree.XMLSyntaxError) as exc:
                raise WorketcXmlError(f"{operation}: the answer was refused: {type(exc).__name__}: {exc}") from None
            except zexc.TransportError as exc:
                if "invalid XML" in str(exc.message or ""):
                    raise WorketcXmlError(f"{operation}: the answer is not valid XML (HTTP {exc.status_code}): "
                                          f"{str(exc.message)[:300]}") from None
                if exc.status_code not in (429,) and exc.status_code < 500:
                    raise WorketcFault(operation, f"HTTP {exc.status_code}") from None
                error = WorketcFault(operation, f"HTTP {exc.status_code}")
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                error = WorketcError(f"{operation}: connection failed: {type(exc).__name__}")
            attempt += 1
            if attempt > self.settings.max_retries:
                raise WorketcFault(operation, f"gave up after {attempt} attempts: {error}") from None
            delay = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (attempt - 1))
            delay *= 0.5 + random.random() / 2
            self.stats["retries"] += 1
            telemetry.retried("worketc", type(error).__name__)
            log.warning("WORKetc call failed; retrying", extra={"operation": operation, "attempt": attempt,
                                                                "delay_s": round(delay, 2), "error": str(error)})
            self._sleep(delay)

    # -- extraction

    def spec(self, object_name: str) -> ObjectOperation:
        name = object_name.removesuffix(".csv")
        spec = self.operations.get(name)
        if spec is None:
            raise WorketcConfigError(f"no SOAP operation is configured for {object_name!r}")
        if spec.operation is None:
            raise WorketcConfigError(f"{name}: {spec.note or 'not exposed by the WORKetc API'}")
        return spec

    def supports_modified_since(self, object_name: str) -> bool:
        spec = self.spec(object_name)
        args = self.operation_inputs().get(spec.operation, [])
        return bool(spec.modified_arg and spec.modified_arg in args)

    def extract(self, object_name: str, *, modified_since: datetime | date | str | None = None
                ) -> Iterator[dict[str, Any]]:
        """Yield the object's records as ``read_table`` would, paging until done.

        With ``modified_since`` and an operation that has a modified filter, only records modified at
        or after it; otherwise every record (diff by ``record_hash``; ``supports_modified_since``
        tells which)."""
        spec = self.spec(object_name)
        inputs = self.operation_inputs()
        if spec.operation not in inputs:
            raise WorketcConfigError(
                f"{spec.object}: operation {spec.operation!r} is not in the tenant's WSDL; "
                "fix the object -> operation table (WORKETC_OPERATIONS), see discover()")
        args_known = inputs[spec.operation]
        base = {k: v for k, v in spec.args.items() if k in args_known}
        if modified_since is not None and spec.modified_arg in args_known:
            base[spec.modified_arg] = _as_datetime(modified_since, self.settings.tenant_timezone)
        paged = bool(spec.skip_arg and spec.top_arg and spec.skip_arg in args_known and spec.top_arg in args_known)
        ordinal = 0
        if spec.fan_out == "users":
            seen: set[str] = set()
            owners = [r["EntityID"] for r in self.extract("users") if r.get("EntityID")]
            for owner in owners:
                for item in self._pages(spec, {**base, spec.owner_arg: owner}, paged):
                    key = _text(_values(item).get(spec.field_map.get("EntityID", "EntityID")))
                    if key in seen:
                        continue
                    seen.add(key)
                    for row in self._rows(spec, item):
                        ordinal += 1
                        row["_row"], row["_record"] = ordinal + 1, ordinal
                        yield row
            return
        for item in self._pages(spec, base, paged):
            for row in self._rows(spec, item):
                ordinal += 1
                row["_row"], row["_record"] = ordinal + 1, ordinal
                yield row

    def _pages(self, spec: ObjectOperation, base: dict[str, Any], paged: bool) -> Iterator[Any]:
        skip, previous_first, longest = 0, None, 0
        while True:
            args = dict(base)
            if paged:
                args[spec.skip_arg] = skip
                args[spec.top_arg] = self.settings.page_size
            items = _items(self.call(spec.operation, **args))
            if not items:
                return
            first = _text(_values(items[0]).get("EntityID"))
            if paged and skip and first is not None and first == previous_first:
                raise WorketcError(f"{spec.operation} ignores {spec.skip_arg!r}: the same page came back; "
                                   "set skip_arg/top_arg for this object to null to read it in one call")
            yield from items
            # the end: no paging, or a page shorter than an earlier one (the server may cap ``top``
            # below what was asked, so a short first page alone proves nothing: one more call)
            if not paged or len(items) < longest:
                return
            longest = max(longest, len(items))
            skip += len(items)
            previous_first = first

    def _rows(self, spec: ObjectOperation, item: Any) -> Iterator[dict[str, Any]]:
        vals = _values(item)
        if spec.shape == "stage_groups":
            group = _text(vals.get(spec.field_map.get("ProjectType", "Name")))
            for stage in _items(vals.get("Stages")):
                sv = _values(stage)
                yield {"_file": spec.file, "ProjectType": group,
                       "Stage": _text(sv.get(spec.field_map.get("Stage", "Name"))),
                       "Order": _text(sv.get(spec.field_map.get("Order", "Order"))),
                       "WeightPercent": _text(sv.get(spec.field_map.get("WeightPercent", "WeightPercent")))}
            return
        row: dict[str, Any] = {"_file": spec.file}
        for col in spec.columns:
            row[col] = _text(vals.get(spec.field_map.get(col, col)))
        if spec.custom_fields:
            for cf in _items(vals.get(spec.custom_fields)):
                cv = _values(cf)
                label = _text(cv.get("Label"))
                if label and label not in spec.columns and not label.startswith("_"):
                    row[label] = _text(cv.get("Value"))
        yield row

    # -- documents

    def download_url(self, entity_id: str) -> str:
        return urljoin(self.settings.resolved_wsdl_url(), self.settings.download_path.format(EntityID=entity_id))

    def download_document(self, document: Mapping[str, Any] | str, dest: str | Path, *,
                          chunk_size: int = 1 << 20) -> Download:
        """Stream a document's binary to ``dest`` (constant memory; written to ``dest.part`` first).

        ``document`` is a ``documents`` row (its ``Sha256``, when present, is verified) or an EntityID.
        """
        row = document if isinstance(document, Mapping) else {"EntityID": document}
        entity_id = str(row["EntityID"])
        expected = (row.get("Sha256") or "").strip().lower() or None
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        if self._key is None:
            self.login()
        attempt, relogged = 0, False
        while True:
            self.bucket.acquire()
            try:
                with self.http.get(self.download_url(entity_id), stream=True, timeout=self.settings.timeout) as r:
                    if r.status_code in (401, 403) and not relogged:
                        self.login()
                        relogged = True
                        continue
                    if r.status_code == 404:
                        raise WorketcFault("download", f"document {entity_id} has no binary (HTTP 404)")
                    if r.status_code >= 400 and r.status_code < 500 and r.status_code != 429:
                        raise WorketcFault("download", f"document {entity_id}: HTTP {r.status_code}")
                    if r.status_code >= 400:
                        raise _Retry(f"HTTP {r.status_code}")
                    h, size = hashlib.sha256(), 0
                    with open(part, "wb") as fh:
                        for chunk in r.iter_content(chunk_size):
                            fh.write(chunk)
                            h.update(chunk)
                            size += len(chunk)
                digest = h.hexdigest()
                if expected and digest != expected:
                    part.unlink(missing_ok=True)
                    raise WorketcError(f"document {entity_id}: sha256 {digest} differs from the recorded {expected}")
                os.replace(part, dest)
                return Download(dest, size, digest)
            except (_Retry, requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                part.unlink(missing_ok=True)
                attempt += 1
                if attempt > self.settings.max_retries:
                    raise WorketcFault("download", f"document {entity_id}: gave up after {attempt} attempts: "
                                                   f"{type(exc).__name__}: {exc}") from None
                self.stats["retries"] += 1
                self._sleep(min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (attempt - 1)))


class _Retry(Exception):
    pass


def _safe_url(url: str) -> str:
    """A URL without query secrets (a JSON-flavour VeetroSession must never be printed)."""
    return re.sub(r"(?i)(VeetroSession|pass(word)?|key)=[^&]*", r"\1=***", url)
