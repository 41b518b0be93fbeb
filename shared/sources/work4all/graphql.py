"""The work4all GraphQL client (cloud tenants): the one client for this system.

It yields the same dicts as the export reader (``export.read_table``): the export's German column
names (../shared/formats/work4all-export.md), values as text spelled as the export spells them
(``1234,56``, ``31.12.2024``, ``31.12.2024 14:30``, ``Ja``/``Nein``), custom fields as extra columns,
``"_file"`` (``graphql:getKunden``), ``"_record"`` (the record's ordinal) and ``"_row"`` (the same
counting a header as 1, as the export's line numbers would). Everything after extraction is one code
path::

    with Work4allGraphqlClient(Work4allGraphqlSettings.from_env(mandant="1")) as w4a:
        for row in w4a.extract("Kunden"):
            ...

Protocol (../shared/REFERENCE.md, work4all; the public clients atroo/work4all_n8n_integration and
atroo/work4all_zapier_integration): ``POST {WORK4ALL_API_URL}/graphql`` with ``Authorization: Bearer``
and ``x-work4all-mandant: <tenant code>``; the token from ``POST {WORK4ALL_TOKEN_URL}`` (OAuth2 client
credentials, form-encoded ``grant_type=client_credentials``, ``client_id``, ``client_secret``, as RFC 6749
section 4.4 and the zapier client's utils/auth.js send it). Queries ``get<Table>(querySize, queryPage,
querySortBy, querySortOrder, filter)`` answer ``{total, size, page, data}``; ``queryPage`` is 1-based.

What is an error (never taken for data):
- an answer with an ``errors`` array, even with HTTP 200 and even beside ``data`` (a field that failed
  leaves null in ``data``: partial data is never taken as complete): the extraction fails with one
  line naming the query, the page and the first error; errors the server raises while executing
  (not validation errors) are retried first, as a transient failure may clear;
- a page shorter than the rest while records remain, or a listing whose count is not ``total``;
- HTTP 429 and 5xx, timeouts and dropped connections: retried ``max_retries`` times, waiting the
  ``Retry-After`` the server sent (seconds or an HTTP date, at most ``max_wait``) or else exponential
  backoff with jitter;
- HTTP 401: the token is renewed once; a second 401, a 403, a 400 (the mandant header missing or
  refused) or a refused client credential stops the run with the setting to fix, never retried.

Why httpx and not gql: the project's clients all go through ``shared.http.async_client`` (so tests swap
in the emulator's ASGI app and production gets tracing), and the retry policy needs the status and the
``Retry-After`` header, which gql's transports turn into exceptions without them. The query documents are
constants built from the column table below (values travel as GraphQL variables, never in the text).

Paging: ``querySize``/``queryPage`` sorted by ``code`` until ``total``; a server that caps
``querySize`` is followed (its ``size``). A later slice of the extraction goes on after the last
``code`` read (a ``$gt`` filter: keyset paging), so records added or removed meanwhile shift nothing.

The client is async inside; ``extract`` is a plain blocking iterator (the extraction step runs sources
in a worker thread) that drives its own event loop, in a thread of its own, one page at a time.

Secrets: the client secret (``WORK4ALL_CLIENT_SECRET``, or a Key Vault secret URI,
``WORK4ALL_CLIENT_SECRET_URI``, resolved with the managed identity) and the token never reach logs or
messages; records are never logged.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterator, Mapping
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel, SecretStr, field_validator

from ...errors import AccessError, InputError, PermanentError, SettingsError
from ...http import async_client
from ...settings import https_url
from ..rows import Resumable

log = logging.getLogger(__name__)

MANDANT_HEADER = "x-work4all-mandant"
DEFAULT_API_URL = "https://api.work4all.de"
DEFAULT_TOKEN_URL = "https://auth.work4all.de/connect/token"
SOURCE_TIMEZONE = "Europe/Berlin"


# ------------------------------------------------------------------------------------------ errors

class Work4allError(Exception):
    """A work4all GraphQL call failed after its retries (transient: the orchestrator may retry)."""


class Work4allGraphqlError(PermanentError):
    """The API answered with GraphQL errors (or an answer that cannot be taken as complete).

    ``code``: the first error's ``extensions.code``; ``executed``: the server ran the query (the
    answer had ``data``), as opposed to refusing it at validation."""

    kind = "input"

    def __init__(self, message: str, *, code: str | None = None, executed: bool = True):
        super().__init__(message)
        self.code, self.executed = code, executed


#: errors that answer the same however often they are asked (HotChocolate's authorization codes)
NOT_AUTHORIZED = frozenset({"AUTH_NOT_AUTHORIZED", "AUTH_NOT_AUTHENTICATED"})


# ------------------------------------------------------------------------------------ column table

@dataclass(frozen=True)
class Col:
    """One export column and where the API has it: ``path`` (dots into nested objects), ``kind``."""

    column: str
    path: str
    kind: str = "str"  # str | int | num | bool | date | datetime


@dataclass(frozen=True)
class Table:
    query: str
    columns: tuple[Col, ...]
    sort_by: str | None = "code"  # a unique field, so pages do not shift between requests
    custom_fields: bool = True  # the type has customFields (name/value): extra columns

    def selection(self) -> str:
        """The selection set of ``data`` (nested paths grouped), as a GraphQL document fragment."""
        tree: dict[str, Any] = {}
        for col in self.columns:
            for alternative in col.path.split("|"):
                node = tree
                for part in alternative.split("."):
                    node = node.setdefault(part, {})
        if self.custom_fields:
            tree["customFields"] = {"name": {}, "value": {}}

        def render(node: dict) -> str:
            return " ".join(k + (" { " + render(v) + " }" if v else "") for k, v in node.items())

        return render(tree)

    def document(self) -> str:
        return (f"query {self.query}($querySize: Int, $queryPage: Int, $querySortBy: String, "
                f"$querySortOrder: SortOrder, $filter: String) {{ {self.query}(querySize: $querySize, "
                f"queryPage: $queryPage, querySortBy: $querySortBy, querySortOrder: $querySortOrder, "
                f"filter: $filter) {{ total size page data {{ {self.selection()} }} }} }}")


def _party(query: str) -> Table:
    return Table(query, (
        Col("Code", "code", "int"), Col("Nummer", "nummer"), Col("Name", "name"), Col("Firma2", "firma2"),
        Col("Strasse", "strasse"), Col("PLZ", "plz"), Col("Ort", "ort"), Col("Land", "staat"),
        Col("Telefon", "telefon"), Col("Telefon2", "telefon2"), Col("Telefax", "telefax"), Col("EMail", "eMail"),
        Col("Internet", "interNet"), Col("Privatkunde", "privatkunde", "bool"), Col("Gesperrt", "gesperrt", "bool"),
        Col("Zahlungsfrist", "zahlungsfrist", "int"), Col("Gruppe", "gruppe.name"), Col("Notiz", "notiz"),
        Col("Erstkontakt", "erstkontakt", "date"), Col("Vertreter", "vertreter"),
        Col("AngelegtAm", "anlageDatum", "datetime"), Col("GeaendertAm", "updateTime", "datetime")))


#: export table -> the query and the fields that hold its columns (emulators/work4all/schema.graphql;
#: names beyond REFERENCE.md's Kunde and Ansprechpartner are *inferred* there)
TABLES: dict[str, Table] = {
    "Kunden": _party("getKunden"),
    "Lieferanten": _party("getLieferanten"),
    "Ansprechpartner": Table("getAnsprechpartner", (
        Col("Code", "code", "int"), Col("KundenCode", "kundenCode", "int"),
        Col("LieferantenCode", "lieferantenCode", "int"), Col("Anrede", "anrede.maennlich|anrede.weiblich"),
        Col("Vorname", "vorname"), Col("Name", "name"), Col("Funktion", "funktion"),
        Col("Abteilung", "abteilung.name"), Col("Telefon", "telefon"), Col("Mobilfunk", "mobilfunk"),
        Col("EMail", "eMail"), Col("Hauptansprechpartner", "hauptansprechpartner", "bool"), Col("Notiz", "notiz"),
        Col("AngelegtAm", "anlageDatum", "datetime"), Col("GeaendertAm", "updateTime", "datetime"))),
    "Mitarbeiter": Table("getMitarbeiter", (
        Col("Code", "code", "int"), Col("Kuerzel", "kuerzel"), Col("Vorname", "vorname"), Col("Name", "name"),
        Col("EMail", "eMail"), Col("Aktiv", "aktiv", "bool")), custom_fields=False),
    "Artikel": Table("getArtikel", (
        Col("Code", "code", "int"), Col("Nummer", "nummer"), Col("Bezeichnung", "bezeichnung"),
        Col("Langtext", "langtext"), Col("Einheit", "einheit.name"), Col("VKPreis", "vkPreis", "num"),
        Col("EKPreis", "ekPreis", "num"), Col("Lagerbestand", "lagerbestand", "num"),
        Col("Warengruppe", "warengruppe.name"), Col("Gesperrt", "gesperrt", "bool"))),
    "Preislisten": Table("getPreislisten", (
        Col("Preisliste", "preisliste"), Col("ArtikelCode", "artikelCode", "int"), Col("Preis", "preis", "num"),
        Col("Waehrung", "waehrung.name")), sort_by=None, custom_fields=False),
    "Verkaufschancen": Table("getVerkaufschancen", (
        Col("Code", "code", "int"), Col("Bezeichnung", "bezeichnung"), Col("KundenCode", "kundenCode", "int"),
        Col("AnsprechpartnerCode", "ansprechpartnerCode", "int"), Col("Phase", "phase"),
        Col("Wahrscheinlichkeit", "wahrscheinlichkeit", "num"), Col("Wert", "wert", "num"),
        Col("Waehrung", "waehrung.name"), Col("Abschlussdatum", "abschlussDatum", "date"), Col("Status", "status"),
        Col("Vertreter", "vertreter"), Col("AngelegtAm", "anlageDatum", "datetime"),
        Col("GeaendertAm", "updateTime", "datetime"))),
    "Belege": Table("getBelege", (
        Col("Code", "code", "int"), Col("Belegart", "belegart"), Col("Nummer", "nummer"),
        Col("Datum", "datum", "date"), Col("KundenCode", "kundenCode", "int"),
        Col("LieferantenCode", "lieferantenCode", "int"), Col("VerkaufschanceCode", "verkaufschanceCode", "int"),
        Col("Netto", "netto", "num"), Col("MwSt", "mwst", "num"), Col("Brutto", "brutto", "num"),
        Col("Waehrung", "waehrung.name"), Col("Status", "status"), Col("PdfDatei", "pdfDatei"))),
    "Belegpositionen": Table("getBelegpositionen", (
        Col("Code", "code", "int"), Col("BelegCode", "belegCode", "int"), Col("Position", "position", "int"),
        Col("ArtikelCode", "artikelCode", "int"), Col("Bezeichnung", "bezeichnung"), Col("Menge", "menge", "num"),
        Col("Einheit", "einheit"), Col("Einzelpreis", "einzelpreis", "num"), Col("Rabatt", "rabatt", "num"),
        Col("Gesamtpreis", "gesamtpreis", "num")), custom_fields=False),
    "OffenePosten": Table("getOffenePosten", (
        Col("Code", "code", "int"), Col("BelegCode", "belegCode", "int"), Col("KundenCode", "kundenCode", "int"),
        Col("Rechnungsnummer", "rechnungsnummer"), Col("Rechnungsdatum", "rechnungsdatum", "date"),
        Col("Faellig", "faelligDatum", "date"), Col("Rechnungsbetrag", "rechnungsbetrag", "num"),
        Col("Art", "art")), custom_fields=False),
    "Zahlungen": Table("getZahlungen", (
        Col("Code", "code", "int"), Col("OffenerPostenCode", "offenerPostenCode", "int"),
        Col("Datum", "datum", "date"), Col("Betrag", "betrag", "num")), custom_fields=False),
    "Telefonnotizen": Table("getTelefonnotizen", (
        Col("Code", "code", "int"), Col("KundenCode", "kundenCode", "int"),
        Col("LieferantenCode", "lieferantenCode", "int"), Col("AnsprechpartnerCode", "ansprechpartnerCode", "int"),
        Col("Datum", "datum", "datetime"), Col("Dauer", "dauer", "num"), Col("Richtung", "richtung"),
        Col("Rufnummer", "rufnummer"), Col("Notiz", "notiz"), Col("Mitarbeiter", "mitarbeiter"))),
    "Besuchsberichte": Table("getBesuchsberichte", (
        Col("Code", "code", "int"), Col("KundenCode", "kundenCode", "int"),
        Col("AnsprechpartnerCode", "ansprechpartnerCode", "int"), Col("Datum", "datum", "datetime"),
        Col("Titel", "titel"), Col("Bericht", "bericht"), Col("Mitarbeiter", "mitarbeiter"), Col("Art", "art"))),
    "Aufgaben": Table("getAufgaben", (
        Col("Code", "code", "int"), Col("Betreff", "betreff"), Col("Notiz", "notiz"), Col("Status", "status"),
        Col("Prioritaet", "prioritaet"), Col("Faellig", "faelligDatum", "date"), Col("KundenCode", "kundenCode", "int"),
        Col("AnsprechpartnerCode", "ansprechpartnerCode", "int"), Col("BelegCode", "belegCode", "int"),
        Col("Mitarbeiter", "mitarbeiter"))),
}


def table_of(name: str) -> Table:
    """The table for an object's file name (``Kunden``, ``Kunden.csv``)."""
    stem = name.rsplit("/", 1)[-1].split(".", 1)[0]
    try:
        return TABLES[stem]
    except KeyError:
        raise SettingsError(f"work4all has no GraphQL query for the table {stem!r}; known: "
                            f"{', '.join(sorted(TABLES))}") from None


# ------------------------------------------------------------------------------------------ values

def format_number(value: Any) -> str:
    """A number as the export spells it: decimal comma, no thousands separator (``1234,56``)."""
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None
    text = format(d, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text.replace(".", ",")


def _moment(value: Any, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        d = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    else:
        d = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    # an offset says which instant: the export shows the source's local time (Europe/Berlin)
    return d.astimezone(tz).replace(tzinfo=None) if d.tzinfo else d


def to_export_text(value: Any, kind: str, tz: ZoneInfo) -> str | None:
    """An API value as the export would spell it (None for null and empty text)."""
    if value is None or value == "":
        return None
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"not a Boolean: {value!r}")
        return "Ja" if value else "Nein"
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise ValueError(f"not an integer: {value!r}")
        return str(int(value))
    if kind == "num":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError(f"not a number: {value!r}")
        return format_number(value)
    if kind == "date":
        return _moment(value, tz).strftime("%d.%m.%Y")
    if kind == "datetime":
        return _moment(value, tz).strftime("%d.%m.%Y %H:%M")
    if isinstance(value, (dict, list)):
        raise ValueError(f"not text: {type(value).__name__}")
    return str(value)


def _get(record: Mapping[str, Any], path: str) -> Any:
    """``a.b`` into nested objects; ``x|y``: the first that is not empty."""
    for alternative in path.split("|"):
        node: Any = record
        for part in alternative.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if node not in (None, ""):
            return node
    return None


def record_to_row(table: Table, record: Mapping[str, Any], tz: ZoneInfo, *, where: str) -> dict[str, Any]:
    """One API record as the export reader's dict. A value of the wrong type is an error naming the
    query, the record and the field (the API's schema promises the type: an answer that breaks it is
    malformed, not data to guess at)."""
    if not isinstance(record, Mapping):
        raise Work4allGraphqlError(f"work4all {where}: a record is not an object; the answer is malformed")
    row: dict[str, Any] = {}
    for col in table.columns:
        try:
            row[col.column] = to_export_text(_get(record, col.path), col.kind, tz)
        except (TypeError, ValueError) as exc:
            raise Work4allGraphqlError(
                f"work4all {where}, field {col.path} (column {col.column}): {exc}; the answer does not fit "
                "the schema the engine reads, so it is not taken as data") from None
    for custom in record.get("customFields") or () if table.custom_fields else ():
        name = custom.get("name") if isinstance(custom, Mapping) else None
        if not name or name in row or name.startswith("_"):
            continue
        value = custom.get("value")
        row[name] = None if value in (None, "") else str(value)
    return row


# ---------------------------------------------------------------------------------------- settings

class Work4allGraphqlSettings(BaseModel):
    """Where the tenant is, who logs in, and how hard to push it (``WORK4ALL_<FIELD>``)."""

    mandant: str | None = None  # the tenant code sent as x-work4all-mandant (the run's --input)
    api_url: str = DEFAULT_API_URL
    token_url: str = DEFAULT_TOKEN_URL
    client_id: str | None = None
    client_secret: SecretStr | None = None
    client_secret_uri: str | None = None  # https://<vault>.vault.azure.net/secrets/<name>[/<version>]
    scope: str | None = None  # sent with the token request when set
    page_size: int = 200
    max_retries: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_wait: float = 300.0  # the longest Retry-After waited; longer fails the call (transient)
    timeout: float = 120.0
    verify: bool | str = True  # False, or a CA bundle file (a local emulator's)

    @field_validator("api_url", "token_url")
    @classmethod
    def _https(cls, value: str) -> str:
        return https_url(value)  # the client secret and the token never travel over plain http

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "Work4allGraphqlSettings":
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            v = env.get(f"WORK4ALL_{name.upper()}")
            if v not in (None, ""):
                values[name] = v
        if isinstance(values.get("verify"), str) and values["verify"].lower() in ("true", "false", "1", "0"):
            values["verify"] = values["verify"].lower() in ("true", "1")
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValueError as exc:
            first = exc.errors()[0] if hasattr(exc, "errors") else {"loc": ("?",), "msg": str(exc)}
            name = str(first["loc"][0]).upper()
            raise SettingsError(f"WORK4ALL_{name}: {first['msg']}; fix that setting") from None

    def resolved_secret(self) -> str:
        if self.client_secret is not None:
            return self.client_secret.get_secret_value()
        if self.client_secret_uri:
            return _key_vault_secret(self.client_secret_uri)
        raise SettingsError("set WORK4ALL_CLIENT_SECRET or WORK4ALL_CLIENT_SECRET_URI (the work4all API "
                            "client's secret or its Key Vault secret URI)")


def _key_vault_secret(uri: str) -> str:
    """A Key Vault secret's value through the managed identity (as WORKetc's password)."""
    from azure.identity import DefaultAzureCredential

    token = DefaultAzureCredential().get_token("https://vault.azure.net/.default").token
    r = httpx.get(uri, params={"api-version": "7.4"}, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if r.status_code != 200:
        raise SettingsError(f"Key Vault answered HTTP {r.status_code} for WORK4ALL_CLIENT_SECRET_URI; check the "
                            "URI and that the Function App's identity may read the secret")
    return r.json()["value"]


# ------------------------------------------------------------------------------------------ client

def retry_after_seconds(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """``Retry-After`` as seconds: a number (decimals accepted) or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now())


@dataclass
class _Token:
    value: str | None = None
    expires: float = 0.0


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    tokens: int = 0
    waited_s: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)


class Work4allGraphqlClient:
    """One tenant (mandant): token, retries and paging in one place. Async; ``extract`` is blocking."""

    def __init__(self, settings: Work4allGraphqlSettings, *, sleep: Callable[[float], Any] | None = None,
                 timezone_name: str = SOURCE_TIMEZONE):
        if not settings.mandant:
            raise SettingsError("no work4all mandant: give the tenant code as --input (it is sent as "
                                "x-work4all-mandant), e.g. --input 1")
        if not settings.client_id:
            raise SettingsError("set WORK4ALL_CLIENT_ID (the work4all API client's id)")
        self.settings = settings
        self.tz = ZoneInfo(timezone_name)
        self._sleep = sleep or asyncio.sleep
        self._token = _Token()
        self._secret: str | None = None
        self.stats = Stats()

    def __enter__(self) -> "Work4allGraphqlClient":
        return self

    def __exit__(self, *exc) -> None:
        pass

    # -- HTTP

    def _http(self, url: str) -> httpx.AsyncClient:
        return async_client(url, timeout=self.settings.timeout, verify=self.settings.verify, max_connections=4)

    async def _new_token(self) -> str:
        if self._secret is None:
            self._secret = await asyncio.to_thread(self.settings.resolved_secret)  # Key Vault: blocking
        form = {"grant_type": "client_credentials", "client_id": self.settings.client_id,
                "client_secret": self._secret}
        if self.settings.scope:
            form["scope"] = self.settings.scope
        async with self._http(self.settings.token_url) as auth:  # its own host (auth.work4all.de)
            r = await self._send(auth, "POST", self.settings.token_url, what="the token endpoint", data=form)
        if r.status_code in (400, 401):
            try:
                doc = r.json()
                code = doc.get("error") if isinstance(doc, dict) and isinstance(doc.get("error"), str) else None
            except ValueError:
                code = None
            raise AccessError(f"work4all's token endpoint {self.settings.token_url} refused the client credentials "
                              f"(HTTP {r.status_code}{', ' + code if code else ''}); check WORK4ALL_CLIENT_ID and "
                              "WORK4ALL_CLIENT_SECRET (or WORK4ALL_CLIENT_SECRET_URI)")
        if r.status_code != 200:
            raise AccessError(f"work4all's token endpoint {self.settings.token_url} answered HTTP {r.status_code}; "
                              "check WORK4ALL_TOKEN_URL")
        try:
            doc = r.json()
            token, lifetime = doc["access_token"], float(doc.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise AccessError(f"work4all's token endpoint {self.settings.token_url} answered without an "
                              "access_token; check WORK4ALL_TOKEN_URL") from None
        self._token = _Token(token, time.monotonic() + max(0.0, lifetime - 60))
        self.stats.tokens += 1
        return token

    async def _bearer(self) -> str:
        if self._token.value and time.monotonic() < self._token.expires:
            return self._token.value
        return await self._new_token()

    async def _send(self, http: httpx.AsyncClient, method: str, url: str, *, what: str, **kw) -> httpx.Response:
        """One request with retries on 429/5xx/timeouts/dropped connections; other answers returned."""
        attempt = 0
        while True:
            self.stats.requests += 1
            try:
                r = await http.request(method, url, **kw)
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                error, wait = f"{type(exc).__name__}", None
            else:
                self.stats.statuses[r.status_code] = self.stats.statuses.get(r.status_code, 0) + 1
                if r.status_code != 429 and r.status_code < 500:
                    return r
                error, wait = f"HTTP {r.status_code}", retry_after_seconds(r.headers.get("Retry-After"))
            attempt += 1
            if attempt > self.settings.max_retries:
                raise Work4allError(f"work4all {what}: gave up after {attempt} attempts ({error}); rerun later, "
                                    "or raise WORK4ALL_MAX_RETRIES")
            if wait is not None and wait > self.settings.max_wait:
                raise Work4allError(f"work4all {what}: asked to wait {wait:.0f} s (Retry-After), more than "
                                    f"WORK4ALL_MAX_WAIT={self.settings.max_wait:g}; rerun later")
            if wait is None:
                wait = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (attempt - 1))
                wait *= 0.5 + random.random() / 2
            self.stats.retries += 1
            self.stats.waited_s += wait
            log.warning("work4all call failed; retrying", extra={"what": what, "attempt": attempt,
                                                                 "delay_s": round(wait, 2), "error": error})
            await self._sleep(wait)

    async def query(self, http: httpx.AsyncClient, document: str, variables: dict[str, Any], *,
                    what: str) -> dict[str, Any]:
        """``data`` of a GraphQL answer without errors; raises on anything else (see the module doc)."""
        url = self.settings.api_url.rstrip("/") + "/graphql"
        renewed, executions = False, 0
        while True:
            headers = {"Authorization": f"Bearer {await self._bearer()}",
                       MANDANT_HEADER: str(self.settings.mandant), "Accept": "application/json"}
            r = await self._send(http, "POST", url, what=what, json={"query": document, "variables": variables},
                                 headers=headers)
            if r.status_code == 401 and not renewed:
                self._token = _Token()
                renewed = True
                continue
            if r.status_code == 401:
                raise AccessError(f"work4all {url} refused a fresh token (HTTP 401); check that the API client "
                                  "WORK4ALL_CLIENT_ID may use the API")
            if r.status_code == 403:
                raise AccessError(f"work4all {url} refused mandant {self.settings.mandant!r} (HTTP 403); check "
                                  "--input (the tenant code) and the API client's access to it")
            if r.status_code != 200:
                raise InputError(f"work4all {what}: HTTP {r.status_code} {_detail(r)}; check --input (the "
                                 f"mandant, sent as {MANDANT_HEADER}) and WORK4ALL_API_URL")
            try:
                doc = r.json()
            except ValueError:
                raise Work4allGraphqlError(f"work4all {what}: the answer is not JSON; check WORK4ALL_API_URL "
                                           "points at the GraphQL API") from None
            if not isinstance(doc, dict):
                raise Work4allGraphqlError(f"work4all {what}: the answer is not a GraphQL response object")
            errors = doc.get("errors")
            if errors:
                first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
                executed = "data" in doc  # validation errors come without data (GraphQL spec 7.1.2)
                ext = first.get("extensions")
                code = ext.get("code") if isinstance(ext, dict) and isinstance(ext.get("code"), str) else None
                executions += 1
                if executed and code not in NOT_AUTHORIZED and executions <= self.settings.max_retries:
                    self.stats.retries += 1
                    await self._sleep(min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (executions - 1)))
                    continue
                partial = " (with partial data, not taken as complete)" if doc.get("data") else ""
                path = ".".join(str(p) for p in first.get("path") or ())
                raise Work4allGraphqlError(
                    f"work4all {what}: {str(first.get('message') or errors)[:300]}"
                    + (f" at {path}" if path else "") + f"{partial}; "
                    + ("the query does not fit the tenant's schema: check WORK4ALL_API_URL and the API version"
                       if not executed else "the API client may not read it: check its rights in work4all"
                       if code in NOT_AUTHORIZED else
                       "the extraction stops; rerun once work4all answers without errors"),
                    code=code, executed=executed)
            data = doc.get("data")
            if not isinstance(data, dict):
                raise Work4allGraphqlError(f"work4all {what}: the answer has no data and no errors; malformed")
            return data

    async def pages(self, table_name: str, *, filter: list | None = None, after: int | None = None,
                    numbered_from: int = 0) -> Any:
        """An async iterator of the table's export-shaped rows, page by page (a list per page).

        ``after``: only records whose key (``code``) is greater (keyset paging: a later slice of the
        extraction goes on where the last one stopped, whatever was added or removed before it);
        ``numbered_from``: how many rows earlier slices read (``_row`` goes on from there)."""
        table = table_of(table_name)
        document = table.document()
        if after is not None:
            if table.sort_by is None:
                raise ValueError(f"{table.query} has no key to go on after")
            filter = [*(filter or []), {table.sort_by: {"$gt": after}}]
        size, page, seen, total = max(1, self.settings.page_size), 1, 0, None
        async with self._http(self.settings.api_url) as http:
            while True:
                variables: dict[str, Any] = {"querySize": size, "queryPage": page}
                if table.sort_by:
                    variables.update(querySortBy=table.sort_by, querySortOrder="ASCENDING")
                if filter:
                    variables["filter"] = json.dumps(filter, ensure_ascii=False)
                what = f"{table.query} page {page}"
                data = await self.query(http, document, variables, what=what)
                listing = data.get(table.query)
                if not isinstance(listing, dict) or not isinstance(listing.get("data"), list) \
                        or not isinstance(listing.get("total"), int):
                    raise Work4allGraphqlError(f"work4all {what}: no {{total, data}} in the answer; malformed")
                records = listing["data"]
                if total is None:
                    total = listing["total"]
                    served = listing.get("size")
                    if isinstance(served, int) and 0 < served < size:
                        size = served  # the server caps querySize: page 1 of that size is what came
                elif listing["total"] != total:
                    raise Work4allGraphqlError(
                        f"work4all {what}: total changed from {total} to {listing['total']} during the extraction; "
                        "records were added or removed meanwhile, rerun (pages would have shifted)")
                rows = [record_to_row(table, rec, self.tz,
                                      where=f"{table.query} record {numbered_from + seen + i + 1}")
                        for i, rec in enumerate(records)]
                for i, row in enumerate(rows):  # numbered as the export's rows: _row counts a header as 1
                    row["_file"] = f"graphql:{table.query}"
                    row["_record"] = numbered_from + seen + i + 1
                    row["_row"] = row["_record"] + 1
                seen += len(rows)
                if rows:
                    yield rows
                if seen >= total:
                    if seen > total:
                        raise Work4allGraphqlError(f"work4all {table.query}: {seen} records arrived, more than the "
                                                   f"total of {total}; the listing is inconsistent, rerun")
                    return
                if len(records) < size:
                    raise Work4allGraphqlError(
                        f"work4all {what}: {len(records)} records where {size} were due ({seen} of {total} so far); "
                        "a short page before the end is partial data, not taken as complete; rerun")
                page += 1

    async def count(self, table_name: str) -> int | None:
        """The table's ``total``; None when the tenant does not serve it (a light licence, another
        API version): presence ``absent``."""
        table = table_of(table_name)
        document = (f"query {table.query}Total($querySize: Int) {{ {table.query}(querySize: $querySize, "
                    "queryPage: 1) { total } }")
        async with self._http(self.settings.api_url) as http:
            try:
                data = await self.query(http, document, {"querySize": 1}, what=f"{table.query} (count)")
            except Work4allGraphqlError as exc:
                if exc.executed and exc.code not in NOT_AUTHORIZED:
                    raise
                # not in the tenant's schema, or not readable with its licence (Light cannot read every table)
                log.info("work4all table not served", extra={"query": table.query, "code": exc.code})
                return None
        listing = data.get(table.query)
        return listing.get("total") if isinstance(listing, dict) and isinstance(listing.get("total"), int) else None

    def extract(self, table_name: str, *, filter: list | None = None, after: int | None = None,
                numbered_from: int = 0) -> Iterator[dict[str, Any]]:
        """The table's rows as the export reader yields them; blocking (its own event loop, see _Loop)."""
        with _Loop() as loop:
            agen = self.pages(table_name, filter=filter, after=after, numbered_from=numbered_from)
            try:
                while True:
                    try:
                        rows = loop.run(agen.__anext__())
                    except StopAsyncIteration:
                        return
                    yield from rows
            finally:
                loop.run(agen.aclose())

    def total(self, table_name: str) -> int | None:
        with _Loop() as loop:
            return loop.run(self.count(table_name))


class _Loop:
    """An event loop of the client's own in a worker thread, so the blocking calls work from a thread
    (the extraction step) and from a coroutine alike (a step that asks ``has()`` on its loop); the
    client and its connections stay on this one loop from the first page to the last."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="work4all-graphql", daemon=True)

    def __enter__(self) -> "_Loop":
        self.thread.start()
        return self

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def _detail(r: httpx.Response) -> str:
    """A short, secret-free reason from an error answer (ProblemDetails ``detail``/``title``, or errors)."""
    try:
        doc = r.json()
    except ValueError:
        return ""
    if isinstance(doc, dict):
        if doc.get("errors") and isinstance(doc["errors"], list) and isinstance(doc["errors"][0], dict):
            return f"({str(doc['errors'][0].get('message', ''))[:200]})"
        text = doc.get("detail") or doc.get("title")
        return f"({str(text)[:200]})" if text else ""
    return ""


class ApiRows(Resumable):
    """Rows of one table from a position on: ``position()`` is ``{"record": rows read, "after": last
    code}``, so the next slice asks for the codes after it instead of paging from the start."""

    def __init__(self, client: Work4allGraphqlClient, table_name: str, start: dict | None):
        start = start or {}
        self._after = start.get("after")
        self._keyed = table_of(table_name).sort_by == "code"
        n = int(start.get("record", 0))
        if self._keyed and (self._after is not None or n == 0):
            super().__init__(client.extract(table_name, after=self._after, numbered_from=n), n)
        else:  # no key to go on after (Preislisten): read again and skip what earlier slices read
            reader = Resumable.skipping(client.extract(table_name), start)
            super().__init__(reader._rows, reader._n)

    def seen(self, row: dict[str, Any]) -> None:
        if self._keyed and row.get("Code") is not None:
            self._after = int(row["Code"])

    def position(self) -> dict:
        return {"record": self._n, **({"after": self._after} if self._after is not None else {})}

    def close(self) -> None:
        self._rows.close()


# ------------------------------------------------------------------------------------------ source

class Work4allGraphqlSource:
    """A work4all cloud tenant through its GraphQL API: records with the export contract's names.

    ``input`` is the tenant code (mandant, sent as ``x-work4all-mandant``); where the API is and the
    credentials come from the environment (``WORK4ALL_API_URL``, ``WORK4ALL_TOKEN_URL``,
    ``WORK4ALL_CLIENT_ID``, ``WORK4ALL_CLIENT_SECRET`` or ``WORK4ALL_CLIENT_SECRET_URI``), never from the
    run's settings. ``timezone``: the run's source time zone, in which the API's instants are spelled.
    """

    replayable = False  # the API answers what the tenant holds now: extraction spools it

    def __init__(self, input: str, *, timezone: str = SOURCE_TIMEZONE,
                 settings: Work4allGraphqlSettings | None = None):
        self.client = Work4allGraphqlClient(settings or Work4allGraphqlSettings.from_env(mandant=input.strip()),
                                            timezone_name=timezone)
        try:
            from . import export
        except ImportError:  # pragma: no cover - the export module ships with this package
            export = None
        self.reference_fields = tuple(getattr(export, "REFERENCE_COLUMNS", ())) or tuple(sorted(
            {c.column for t in TABLES.values() for c in t.columns if c.column.endswith("Code") and c.column != "Code"}))
        self.modified_field = getattr(export, "MODIFIED_COLUMN", "GeaendertAm")
        self._columns = getattr(export, "COLUMNS", {})
        self._totals: dict[str, int | None] = {}

    def presence(self, spec) -> str:
        table = table_of(spec.file).query
        if table not in self._totals:
            self._totals[table] = self.client.total(spec.file)
        total = self._totals[table]
        return "absent" if total is None else "empty" if total == 0 else "present"

    def has(self, spec) -> bool:
        return self.presence(spec) != "absent"

    def rows(self, spec) -> Iterator[dict]:
        """The rows, page by page (a generator: the extraction step spools what it reads once)."""
        return self.client.extract(spec.file)

    def rows_from(self, spec, start: dict | None) -> "ApiRows":
        """The rows from ``start`` (a ``position()`` of an earlier reader; None: the first), for the
        extraction's slices: keyset paging on ``code`` where the table has it."""
        return ApiRows(self.client, spec.file, start)

    def contract(self, spec) -> tuple[str, ...]:
        stem = spec.file.rsplit("/", 1)[-1].split(".", 1)[0]
        return tuple(self._columns.get(stem, ())) or tuple(c.column for c in table_of(stem).columns)
