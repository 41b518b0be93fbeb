"""Idempotent bulk loading by alternate key.

``upsert_rows(client, table, rows)`` writes ``rows`` (``{"key": <source id>, "body": {...}}``) into
``table`` and returns exactly one :class:`RowOutcome` per input row, in input order.

How:

1. **Validation.** A row without a key, or whose key repeats an earlier row of the same call, is
   rejected (``missing_key`` / ``duplicate_key``): one request cannot upsert the same record twice.
   The key column value is ``encode_key(key)`` (see :mod:`.keys`); the loader adds it to the body.
2. **Classification.** Before writing, the loader asks which keys already exist
   (``$filter=Microsoft.Dynamics.CRM.In(PropertyName='<key column>',PropertyValues=[...])``);
   those become ``updated``, the others ``created``. (Another writer racing on the same keys can
   make this label stale; the write itself stays correct.)
3. **Write.** Rows go in requests of ``batch_size``, all sent concurrently; the client's adaptive
   concurrency decides how many are in flight. Where ``sdkmessagefilters`` lists ``UpsertMultiple``
   for the table (cached per client), a request is
   ``POST <set>/Microsoft.Dynamics.CRM.UpsertMultiple {"Targets": [{"@odata.type", "@odata.id":
   "<set>(<key>='...')", ...}]}``; otherwise a ``$batch`` (continue-on-error) of
   ``PATCH <set>(<key>='...')`` upserts.
4. **Split.** On standard tables any bad row fails the whole bulk request. A failed request is
   bisected and both halves retried (concurrently) until the bad rows are isolated; once a failing
   piece has at most ``isolate_below`` rows it is sent as one ``$batch`` of single upserts with
   ``odata.continue-on-error``, which names each bad row's error in one round trip. Good rows load;
   each bad row is ``rejected`` with the Dataverse error code and message.
5. **Verification.** Written keys are read back (same ``In`` query) to fill ``RowOutcome.id``; a key
   reported written but not found is rejected with code ``missing_after_write`` (never silently lost).

Failure policy for transient errors: the client retries 429/5xx/network failures (Retry-After, back
off). If its budget runs out, the affected rows are **rejected with code ``"transient"``** (default,
``on_transient="reject"``) so that every row is accounted for and the load can be re-run for exactly
those rows (upserts are idempotent); ``on_transient="raise"`` re-raises
:class:`DataverseTransientError` instead (the caller - e.g. a Durable activity with retry - reruns
the whole chunk). Transient failures are never bisected.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

from .client import BatchOperation, DataverseClient, DataverseError, DataverseTransientError, parse_error_body
from .keys import encode_key, in_filter, key_literal, key_segment

log = logging.getLogger(__name__)

ACTIVITY_TABLES = frozenset(
    {"task", "phonecall", "appointment", "email", "letter", "fax", "recurringappointmentmaster",
     "socialactivity", "serviceappointment", "campaignactivity", "campaignresponse", "activitypointer"}
)
IN_QUERY_URL_BUDGET = 12_000  # characters of key literals per read query (URL limit is 32 KB)
IN_QUERY_MAX_VALUES = 500


@dataclass(frozen=True)
class TableRef:
    logical_name: str  # account
    entity_set: str  # accounts
    key_column: str  # wtc_sourceid (alternate key column)
    id_column: str | None = None  # primary id; default <logical_name>id (activityid for activities)

    @property
    def primary_id(self) -> str:
        if self.id_column:
            return self.id_column
        return "activityid" if self.logical_name in ACTIVITY_TABLES else f"{self.logical_name}id"

    @property
    def keyed_by_id(self) -> bool:
        """Rows are addressed by their primary id (a GUID the caller derives from the source id).

        For tables that cannot carry an alternate key column (``annotation``: CanCreateAttributes is
        false), ``PATCH /annotations(<guid>)`` creates the row with that id or updates it: still an
        idempotent upsert."""
        return self.key_column == self.primary_id

    def address(self, encoded: str, *, url: bool = True) -> str:
        if self.keyed_by_id:
            return f"{self.entity_set}({encoded})"
        return key_segment(self.entity_set, self.key_column, encoded, url=url)

    def key_body(self, encoded: str) -> dict:
        return {} if self.keyed_by_id else {self.key_column: encoded}


Status = Literal["created", "updated", "unchanged", "rejected", "deleted", "not_found"]


@dataclass
class RowOutcome:
    key: str
    status: Status
    code: str | None = None
    message: str | None = None
    id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "status": self.status, "code": self.code, "message": self.message, "id": self.id}


@dataclass
class LoadStats:
    """Counters of one or several loads (pass the same object to accumulate)."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    write_requests: int = 0  # UpsertMultiple / $batch requests (not counting client retries)
    read_requests: int = 0
    splits: int = 0  # bisections of failed bulk requests
    isolation_batches: int = 0
    transient_rejects: int = 0
    seconds: float = 0.0
    method: str = ""

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def snapshot(self) -> dict[str, Any]:
        d = dict(vars(self))
        d["rows_per_s"] = round(self.rows_per_s, 1)
        return d


# ---------------------------------------------------------------------------------- capabilities


async def supports_multiple(client: DataverseClient, logical_name: str, message: str = "UpsertMultiple") -> bool:
    """Whether ``sdkmessagefilters`` lists ``message`` for the table (cached per client)."""
    cache: dict = client.cache.setdefault("sdkmessagefilters", {})
    ck = (message, logical_name)
    if ck not in cache:
        filt = f"sdkmessageid/name eq '{message}' and primaryobjecttypecode eq '{logical_name}'"
        try:
            found = False
            async for _ in client.get_all("sdkmessagefilters", select=["sdkmessagefilterid"], filter=filt, page_size=1):
                found = True
                break
        except DataverseError as e:
            if isinstance(e, DataverseTransientError):
                raise
            log.warning("sdkmessagefilters query failed (%s); assuming no %s for %s", e, message, logical_name)
            found = False
        cache[ck] = found
    return cache[ck]


async def existing_ids(client: DataverseClient, table: TableRef, encoded_keys: Sequence[str], stats: LoadStats | None = None) -> dict[str, str]:
    """``{encoded key: record id}`` for the keys that exist, through ``In`` queries (chunked)."""
    out: dict[str, str] = {}
    chunks: list[list[str]] = []
    cur: list[str] = []
    size = 0
    for k in encoded_keys:
        lit = len(key_literal(k)) * 3 + 1  # worst case after percent-encoding
        if cur and (size + lit > IN_QUERY_URL_BUDGET or len(cur) >= IN_QUERY_MAX_VALUES):
            chunks.append(cur)
            cur, size = [], 0
        cur.append(k)
        size += lit
    if cur:
        chunks.append(cur)

    async def one(keys: list[str]) -> None:
        filt = in_filter(table.key_column, keys)
        if stats:
            stats.read_requests += 1
        async for rec in client.get_all(table.entity_set, select=[table.primary_id, table.key_column], filter=filt):
            kv = rec.get(table.key_column)
            if kv is not None:
                out[str(kv)] = rec.get(table.primary_id)

    await asyncio.gather(*(one(c) for c in chunks))
    return out


# ------------------------------------------------------------------------------------------ upsert


@dataclass
class _Row:
    index: int
    key: str
    encoded: str
    body: dict


@dataclass
class _Result:
    ok: bool
    code: str | None = None
    message: str | None = None
    id: str | None = None


@dataclass
class _Job:
    client: DataverseClient
    table: TableRef
    use_multiple: bool
    isolate_below: int
    on_transient: str
    stats: LoadStats
    results: dict[int, _Result] = field(default_factory=dict)

    def target(self, row: _Row) -> dict:
        t = self.table
        return {
            "@odata.type": f"Microsoft.Dynamics.CRM.{t.logical_name}",
            "@odata.id": t.address(row.encoded, url=False),
            **row.body,
            **({t.key_column: row.encoded} if t.keyed_by_id else t.key_body(row.encoded)),
        }

    def transient(self, rows: list[_Row], exc: DataverseTransientError) -> None:
        if self.on_transient == "raise":
            raise exc
        for r in rows:
            self.results[r.index] = _Result(False, "transient", f"retries exhausted: {exc.message}")
        self.stats.transient_rejects += len(rows)

    async def load(self, rows: list[_Row], *, isolating: bool = False) -> None:
        if not rows:
            return
        if self.use_multiple and not (isolating and len(rows) <= self.isolate_below):
            await self._multiple(rows)
        else:
            await self._batch(rows)

    async def _multiple(self, rows: list[_Row]) -> None:
        t = self.table
        self.stats.write_requests += 1
        try:
            await self.client.request(
                "POST",
                f"{t.entity_set}/Microsoft.Dynamics.CRM.UpsertMultiple",
                json={"Targets": [self.target(r) for r in rows]},
            )
        except DataverseTransientError as exc:
            self.transient(rows, exc)
            return
        except DataverseError as exc:
            await self._split(rows, exc)
            return
        for r in rows:
            self.results[r.index] = _Result(True)

    async def _split(self, rows: list[_Row], exc: DataverseError) -> None:
        if len(rows) == 1:
            self.results[rows[0].index] = _Result(False, exc.code, exc.message)
            return
        self.stats.splits += 1
        mid = len(rows) // 2
        await asyncio.gather(self.load(rows[:mid], isolating=True), self.load(rows[mid:], isolating=True))

    async def _batch(self, rows: list[_Row], attempt: int = 0) -> None:
        """Single upserts in one $batch (continue on error): a result per row."""
        t = self.table
        if self.use_multiple:
            self.stats.isolation_batches += 1
        self.stats.write_requests += 1
        ops = [
            BatchOperation("PATCH", t.address(r.encoded), {**r.body, **t.key_body(r.encoded)})
            for r in rows
        ]
        try:
            answers = await self.client.batch(ops, continue_on_error=True)
        except DataverseTransientError as exc:
            self.transient(rows, exc)
            return
        except DataverseError as exc:  # the batch as a whole was refused: bisect
            if len(rows) == 1:
                self.results[rows[0].index] = _Result(False, exc.code, exc.message)
                return
            self.stats.splits += 1
            mid = len(rows) // 2
            await asyncio.gather(self._batch(rows[:mid]), self._batch(rows[mid:]))
            return
        retry: list[_Row] = []
        retry_after = 0.0
        for r, a in zip(rows, answers):
            if a.ok:
                self.results[r.index] = _Result(True, id=a.entity_id)
            elif a.status == 429 or a.status in (500, 502, 503, 504) or a.status == 0:
                retry.append(r)
                try:
                    retry_after = max(retry_after, float(a.headers.get("retry-after", 0)))
                except ValueError:
                    pass
            else:
                code, message = a.error
                self.results[r.index] = _Result(False, code, message or f"HTTP {a.status}")
        if retry:
            s = self.client.settings
            if attempt + 1 >= s.max_attempts:
                codes = sorted({str(a.status) for a in answers if not a.ok})
                self.transient(retry, DataverseTransientError(None, f"batch parts kept failing ({', '.join(codes)})"))
                return
            await asyncio.sleep(max(retry_after, self.client._backoff(attempt + 1)))
            await self._batch(retry, attempt + 1)


def _prepare(table: TableRef, rows: Sequence[dict], outcomes: list[RowOutcome | None]) -> list[_Row]:
    prepared: list[_Row] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        key = row.get("key")
        if key is None or str(key) == "":
            outcomes[i] = RowOutcome("" if key is None else str(key), "rejected", "missing_key", "row has no source key")
            continue
        key = str(key)
        body = dict(row.get("body") or {})
        enc = encode_key(key)
        if table.key_column in body and str(body[table.key_column]) != enc:
            outcomes[i] = RowOutcome(key, "rejected", "key_conflict", f"body sets {table.key_column} to a different value than the row key")
            continue
        body.pop(table.key_column, None)
        if enc in seen:
            outcomes[i] = RowOutcome(key, "rejected", "duplicate_key", "the same key appears earlier in this load; only the first row is written")
            continue
        seen.add(enc)
        prepared.append(_Row(i, key, enc, body))
    return prepared


async def upsert_rows(
    client: DataverseClient,
    table: TableRef,
    rows: Sequence[dict],
    *,
    batch_size: int | None = None,
    isolate_below: int = 8,
    on_transient: Literal["reject", "raise"] = "reject",
    use_multiple: bool | None = None,
    resolve_ids: bool = True,
    stats: LoadStats | None = None,
) -> list[RowOutcome]:
    """Upsert ``rows`` by alternate key; one :class:`RowOutcome` per input row, in input order.

    ``use_multiple`` forces (True) or forbids (False) ``UpsertMultiple``; ``None`` asks
    ``sdkmessagefilters``. ``stats`` (a :class:`LoadStats`) receives the counters.
    """
    started = time.monotonic()
    stats = stats if stats is not None else LoadStats()
    outcomes: list[RowOutcome | None] = [None] * len(rows)
    prepared = _prepare(table, rows, outcomes)
    if prepared:
        if use_multiple is None:
            use_multiple = await supports_multiple(client, table.logical_name)
        stats.method = "UpsertMultiple" if use_multiple else "$batch"
        size = min(batch_size or client.settings.batch_size, 1000)
        try:
            before = await existing_ids(client, table, [r.encoded for r in prepared], stats)
        except DataverseTransientError as exc:
            if on_transient == "raise":
                raise
            for r in prepared:
                outcomes[r.index] = RowOutcome(r.key, "rejected", "transient", f"could not read existing keys: {exc.message}")
            prepared = []
            before = {}
        job = _Job(client, table, bool(use_multiple), isolate_below, on_transient, stats)
        await asyncio.gather(*(job.load(prepared[i : i + size]) for i in range(0, len(prepared), size)))
        written = [r for r in prepared if job.results[r.index].ok]
        after: dict[str, str] = {}
        if resolve_ids and written:
            try:
                after = await existing_ids(client, table, [r.encoded for r in written], stats)
            except DataverseTransientError as exc:
                if on_transient == "raise":
                    raise
                log.warning("could not read back ids after write (%s); outcomes keep ids from the write", exc)
                resolve_ids = False
        for r in prepared:
            res = job.results[r.index]
            if not res.ok:
                outcomes[r.index] = RowOutcome(r.key, "rejected", res.code or "error", res.message)
                continue
            rid = res.id or before.get(r.encoded)
            if resolve_ids:
                if r.encoded not in after:
                    outcomes[r.index] = RowOutcome(
                        r.key, "rejected", "missing_after_write", "the write was acknowledged but the key is not found"
                    )
                    continue
                rid = after[r.encoded]
            outcomes[r.index] = RowOutcome(r.key, "updated" if r.encoded in before else "created", None, None, rid)
    final = [o for o in outcomes if o is not None]
    assert len(final) == len(rows), "every input row gets exactly one outcome"
    stats.rows += len(final)
    stats.created += sum(o.status == "created" for o in final)
    stats.updated += sum(o.status == "updated" for o in final)
    stats.rejected += sum(o.status == "rejected" for o in final)
    stats.seconds += time.monotonic() - started
    return final


async def delete_rows(
    client: DataverseClient,
    table: TableRef,
    keys: Sequence[str],
    *,
    batch_size: int | None = None,
    on_transient: Literal["reject", "raise"] = "reject",
) -> list[RowOutcome]:
    """Delete records by source key (``$batch`` of DELETEs, continue on error).

    Outcome per key: ``deleted``, ``not_found`` (already gone: rollback is idempotent) or ``rejected``.
    """
    size = min(batch_size or client.settings.batch_size, 1000)
    outcomes: list[RowOutcome | None] = [None] * len(keys)

    async def one(start: int, chunk: Sequence[str], attempt: int = 0) -> None:
        ops = [BatchOperation("DELETE", table.address(encode_key(str(k)))) for k in chunk]
        try:
            answers = await client.batch(ops, continue_on_error=True)
        except DataverseTransientError as exc:
            if on_transient == "raise":
                raise
            for j, k in enumerate(chunk):
                outcomes[start + j] = RowOutcome(str(k), "rejected", "transient", exc.message)
            return
        except DataverseError as exc:
            for j, k in enumerate(chunk):
                outcomes[start + j] = RowOutcome(str(k), "rejected", exc.code, exc.message)
            return
        retry: list[int] = []
        for j, (k, a) in enumerate(zip(chunk, answers)):
            if a.ok:
                outcomes[start + j] = RowOutcome(str(k), "deleted")
            elif a.status == 404:
                outcomes[start + j] = RowOutcome(str(k), "not_found", *a.error)
            elif a.status in (0, 429, 500, 502, 503, 504):
                retry.append(j)
            else:
                outcomes[start + j] = RowOutcome(str(k), "rejected", *a.error)
        if retry:
            if attempt + 1 >= client.settings.max_attempts:
                for j in retry:
                    outcomes[start + j] = RowOutcome(str(chunk[j]), "rejected", "transient", "batch parts kept failing")
                return
            await asyncio.sleep(client._backoff(attempt + 1))
            # Re-run just the failed ones, each keeping its own position.
            await asyncio.gather(*(one(start + j, [chunk[j]], attempt + 1) for j in retry))

    await asyncio.gather(*(one(i, keys[i : i + size]) for i in range(0, len(keys), size)))
    return [o for o in outcomes if o is not None]


__all__ = [
    "TableRef", "RowOutcome", "LoadStats", "upsert_rows", "delete_rows", "supports_multiple", "existing_ids",
    "parse_error_body",
]
