"""Core of the Dataverse Web API emulator: records, queries, bulk messages, actions and metadata.

`create_core_app(db=None, seed=None)` returns a Starlette app serving `/api/data/v9.2/...`.
Everything is routed through `DataverseCore.dispatch(Ctx) -> Resp`, which `$batch` (batch.py)
reuses for each part. The protection layer reads `request.state.dv_kind`, `dv_requests`,
`dv_records` (set here on every answered request).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any
from urllib.parse import quote, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import cascade
from . import sales
from . import errors as E
from .errors import DataverseError
from .odata import GUID_RE, compile_filter, parse_key, parse_orderby, parse_select, split_segment
from .schema import (DATETIME, DECIMAL, INTEGER, LOOKUP, LOOKUP_TYPES, MEMO, MONEY, OPTION_TYPES, PARTY_TYPES,
                     PICKLIST, STRING, Column, KeyDef, TableDef, custom_table)
from .store import _CONVERTERS, BUSINESS_UNIT_ID, MIGRATION_APP_USER_ID, ORGANIZATION_ID, Store

logger = logging.getLogger(__name__)

API_PREFIX = "/api/data/v9.2/"
JSON_CT = "application/json; odata.metadata=minimal"
DEFAULT_PAGE_SIZE = 5000
COUNT_LIMIT = 5000          # @odata.count never exceeds 5000 in Dataverse
MULTIPLE_MESSAGES = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")
_SIMPLE_ODATA_ID = re.compile(r"^(?:.*/)?([A-Za-z_]\w*)\(([A-Za-z_]\w*)='((?:[^']|'')*)'\)$")


@dataclass
class Ctx:
    method: str
    path: str                      # relative to /api/data/v9.2/, percent-decoded
    query: dict[str, str]
    headers: dict[str, str]        # lower-case names
    body: bytes
    base: str                      # e.g. https://org.crm.dynamics.com
    content_ids: dict[str, str] | None = None   # $batch change set: Content-ID -> entity path
    kind: str = "read"
    records: int = 0

    @property
    def api(self) -> str:
        return self.base + API_PREFIX

    def prefer(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in self.headers.get("prefer", "").split(","):
            part = part.strip()
            if not part:
                continue
            k, _, v = part.partition("=")
            out[k.strip().lower()] = v.strip().strip('"')
        return out


@dataclass
class Resp:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | None = None

    @classmethod
    def json(cls, status: int, obj: Any, headers: list[tuple[str, str]] | None = None) -> "Resp":
        return cls(status, [("Content-Type", JSON_CT), *(headers or [])],
                   json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode())

    @classmethod
    def error(cls, err: DataverseError) -> "Resp":
        return cls.json(err.status, err.body())


def label(text: str | None) -> dict:
    if text is None:
        return {"LocalizedLabels": [], "UserLocalizedLabel": None}
    lab = {"Label": text, "LanguageCode": 1033, "IsManaged": False}
    return {"LocalizedLabels": [lab], "UserLocalizedLabel": lab}


def label_text(obj: Any) -> str | None:
    if isinstance(obj, dict):
        labels = obj.get("LocalizedLabels") or []
        if labels:
            return labels[0].get("Label")
        ul = obj.get("UserLocalizedLabel")
        if isinstance(ul, dict):
            return ul.get("Label")
    return None


def parse_json_body(body: bytes) -> dict:
    if not body or not body.strip():
        raise E.malformed_json()
    try:
        obj = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise E.malformed_json(str(exc)) from None
    if not isinstance(obj, dict):
        raise DataverseError(400, E.ZERO, "A JSON object was expected in the request payload.")
    return obj


ATTR_TYPE_META = {  # AttributeType -> (@odata.type, AttributeTypeName)
    "String": ("StringAttributeMetadata", "StringType"), "Memo": ("MemoAttributeMetadata", "MemoType"),
    "Integer": ("IntegerAttributeMetadata", "IntegerType"), "Decimal": ("DecimalAttributeMetadata", "DecimalType"),
    "Money": ("MoneyAttributeMetadata", "MoneyType"), "Double": ("DoubleAttributeMetadata", "DoubleType"),
    "Boolean": ("BooleanAttributeMetadata", "BooleanType"),
    "DateTime": ("DateTimeAttributeMetadata", "DateTimeType"),
    "Picklist": ("PicklistAttributeMetadata", "PicklistType"), "State": ("StateAttributeMetadata", "StateType"),
    "Status": ("StatusAttributeMetadata", "StatusType"), "Lookup": ("LookupAttributeMetadata", "LookupType"),
    "Customer": ("LookupAttributeMetadata", "CustomerType"), "Owner": ("LookupAttributeMetadata", "OwnerType"),
    "Uniqueidentifier": ("UniqueIdentifierAttributeMetadata", "UniqueidentifierType"),
}
CREATABLE_ATTR_TYPES = {"StringAttributeMetadata": "String", "MemoAttributeMetadata": "Memo",
                        "PicklistAttributeMetadata": "Picklist", "DecimalAttributeMetadata": "Decimal",
                        "MoneyAttributeMetadata": "Money", "IntegerAttributeMetadata": "Integer",
                        "BooleanAttributeMetadata": "Boolean", "DateTimeAttributeMetadata": "DateTime",
                        "DoubleAttributeMetadata": "Double"}
KEYABLE_TYPES = {"String", "Integer", "Decimal", "DateTime", "Lookup", "Customer", "Owner", "Picklist"}
NO_MULTIPLE_NOTE = "MessageProcessorCache returned MessageProcessor.Empty."


class DataverseCore:
    def __init__(self, store: Store) -> None:
        self.store = store

    # --- entry ------------------------------------------------------------------------------------
    def dispatch(self, ctx: Ctx) -> Resp:
        try:
            return self._route(ctx)
        except DataverseError as err:
            ctx.records = 0
            return Resp.error(err)
        except Exception:  # a bug in the emulator: answer like the platform's generic failure, and say so
            logger.exception("dataverse emulator: unexpected error on %s %s", ctx.method, ctx.path)
            ctx.records = 0
            return Resp.error(DataverseError(500, E.GENERIC, "An unexpected error occurred."))

    def _route(self, ctx: Ctx) -> Resp:
        path = ctx.path.strip("/")
        if path == "":
            if ctx.method != "GET":
                raise E.method_not_allowed()
            return Resp.json(200, {"@odata.context": ctx.api + "$metadata",
                                   "value": [{"name": t.entity_set, "kind": "EntitySet", "url": t.entity_set}
                                             for t in self.store.tables.values()]})
        segs = path.split("/")
        name, key_text = split_segment(segs[0])
        if name == "$batch":
            from .batch import handle_batch
            ctx.kind = "batch"
            return handle_batch(self, ctx)
        if name == "EntityDefinitions":
            ctx.kind = "metadata"
            return self._metadata(ctx, key_text, segs[1:])
        if name == "RelationshipDefinitions":
            ctx.kind = "metadata"
            return self._relationships(ctx, key_text, segs[1:])
        if name in ("WinOpportunity", "LoseOpportunity", "CloseIncident") and key_text is None and len(segs) == 1:
            if ctx.method != "POST":
                raise E.method_not_allowed()
            ctx.kind = "single"
            return self._action(ctx, name)
        if name == "CreateEntities" and key_text is None and len(segs) == 1:  # Microsoft's Python SDK's tables
            from .create_entities import create_entities
            return create_entities(self, ctx)
        if name == "InsertOptionValue" and key_text is None and len(segs) == 1:
            if ctx.method != "POST":
                raise E.method_not_allowed()
            ctx.kind = "metadata"
            return self._insert_option_value(ctx)
        if name == "WhoAmI" and len(segs) == 1:
            return Resp.json(200, {"@odata.context": ctx.api + "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                                   "BusinessUnitId": BUSINESS_UNIT_ID, "UserId": self.store.caller_id,
                                   "OrganizationId": ORGANIZATION_ID})
        if name == "sdkmessagefilters" and len(segs) == 1 and key_text is None:
            if ctx.method != "GET":
                raise E.method_not_allowed()
            return self._sdkmessagefilters(ctx)
        table = self.store.table_for_set(name)
        if table is None:
            raise E.segment_not_found(segs[0] if key_text is None else name)
        if table.logical_name == "activityparty" and ctx.method != "GET":
            # "Operations supported: GET (RetrieveMultiple Only)": parties are written with their activity
            raise E.method_not_allowed()
        if key_text is None:
            if len(segs) == 1:
                if ctx.method == "GET":
                    return self._query(ctx, table)
                if ctx.method == "POST":
                    ctx.kind = "single"
                    return self._create(ctx, table)
                raise E.method_not_allowed()
            if len(segs) == 2 and segs[1].startswith("Microsoft.Dynamics.CRM."):
                message = segs[1][len("Microsoft.Dynamics.CRM."):]
                if message in MULTIPLE_MESSAGES:
                    if ctx.method != "POST":
                        raise E.method_not_allowed()
                    ctx.kind = "multiple"
                    return self._multiple(ctx, table, message)
            raise E.segment_not_found(segs[1])
        ref = parse_key(key_text)
        if len(segs) == 2 and segs[1].startswith("Microsoft.Dynamics.CRM.") and ctx.method == "POST":
            return sales.bound_action(self, ctx, table, ref, segs[1][len("Microsoft.Dynamics.CRM."):])
        if len(segs) > 1:
            if len(segs) == 2 and ctx.method == "GET":
                return self._property(ctx, table, ref, segs[1])
            raise E.segment_not_found(segs[1])
        if ctx.method == "GET":
            return self._retrieve(ctx, table, ref)
        if ctx.method == "PATCH":
            ctx.kind = "single"
            return self._patch(ctx, table, ref)
        if ctx.method == "DELETE":
            ctx.kind = "single"
            with self.store.transaction() as txn:
                rid = self.store.require_id(table, ref)
                self._delete_cascading(ctx, table, rid)
                ctx.records = txn.records if txn.undo else 1
            return Resp(204)
        raise E.method_not_allowed()

    # --- serialisation ------------------------------------------------------------------------------
    def entity_url(self, ctx: Ctx, table: TableDef, rid: str) -> str:
        return f"{ctx.api}{table.entity_set}({rid})"

    def to_json(self, ctx: Ctx, table: TableDef, row: dict, select: list[str] | None,
                annotate: bool = False) -> dict:
        out: dict[str, Any] = {"@odata.etag": f'W/"{row.get("versionnumber", 0)}"'}
        cols = table.columns
        if select is None:
            names = [c.value_name for c in cols.values()] + ["versionnumber"]
        else:
            names = list(select)
            if table.primary_id not in names:
                names.append(table.primary_id)
        for vn in names:
            if vn == "versionnumber":
                out[vn] = row.get(vn)
                continue
            col = table.by_value_name[vn]
            v = row.get(col.name)
            if col.type in LOOKUP_TYPES:
                out[vn] = v[1] if v else None
                if annotate and v:
                    out[f"{vn}@Microsoft.Dynamics.CRM.lookuplogicalname"] = v[0]
                    out[f"{vn}@Microsoft.Dynamics.CRM.associatednavigationproperty"] = (
                        next((n for n, (c, t) in table.navs.items() if c == col.name and t == v[0]), col.name))
            else:
                out[vn] = v
                if annotate and v is not None and col.type in OPTION_TYPES and col.options:
                    out[f"{vn}@OData.Community.Display.V1.FormattedValue"] = col.options.get(v, str(v))
        return out

    def check_select(self, table: TableDef, select: list[str] | None) -> None:
        if select is None:
            return
        for s in select:
            if s not in table.by_value_name and s != "versionnumber":
                raise E.unknown_select(s, table.logical_name)

    def _annotate(self, ctx: Ctx) -> bool:
        return "odata.include-annotations" in ctx.prefer()

    # --- reads --------------------------------------------------------------------------------------
    def _retrieve(self, ctx: Ctx, table: TableDef, ref) -> Resp:
        select = parse_select(ctx.query.get("$select"))
        self.check_select(table, select)
        expand = self._expansions(table, ctx.query.get("$expand"))
        with self.store.lock:
            rid = self.store.require_id(table, ref)
            row = self.store.rows[table.logical_name][rid]
            body = self.to_json(ctx, table, row, select, self._annotate(ctx))
            self._expand(ctx, table, [(row, body)], expand)
        sel = f"({','.join(select)})" if select else ""
        body = {"@odata.context": f"{ctx.api}$metadata#{table.entity_set}{sel}/$entity", **body}
        return Resp.json(200, body, [("ETag", body["@odata.etag"])])

    def _property(self, ctx: Ctx, table: TableDef, ref, prop: str) -> Resp:
        col = table.by_value_name.get(prop)
        if col is None:
            raise E.segment_not_found(prop)
        with self.store.lock:
            rid = self.store.require_id(table, ref)
            v = self.store.rows[table.logical_name][rid].get(col.name)
        if col.type in LOOKUP_TYPES:
            v = v[1] if v else None
        if v is None:
            return Resp(204)
        return Resp.json(200, {"@odata.context": f"{ctx.api}$metadata#{table.entity_set}({rid})/{prop}",
                               "value": v})

    def _resolver(self, table: TableDef):
        def resolve(name: str):
            col = table.by_value_name.get(name)
            if col is None:
                raise E.unknown_select(name, table.logical_name)
            cname = col.name
            return lambda r: r.get(cname)
        return resolve

    _IN_KEY = re.compile(r"^\s*Microsoft\.Dynamics\.CRM\.In\(PropertyName='(\w+)',\s*PropertyValues=\[((?:'(?:[^']|'')*'\s*,?\s*)*)\]\)")

    def _candidates(self, table: TableDef, flt: str | None) -> list[dict] | None:
        """Rows an ``In(...)`` on an active single-column alternate key can match, from the key's index
        (as the platform uses the key's index) instead of a table scan; the full filter still applies.
        Only when the ``In`` is a top-level conjunct (no ``or`` after it)."""
        m = self._IN_KEY.match(flt or "")
        if not m or table.settling or " or " in flt[m.end():].lower():
            return None
        key = next((k for k in table.active if k.attributes == (m.group(1),)), None)
        if key is None:
            return None
        index, rows = self.store.indexes[table.logical_name][key.logical_name], self.store.rows[table.logical_name]
        values = [v.replace("''", "'") for v in re.findall(r"'((?:[^']|'')*)'", m.group(2))]
        ids = dict.fromkeys(rid for v in values if (rid := index.get((v.lower(),))) is not None)
        return [rows[rid] for rid in ids]

    def _query(self, ctx: Ctx, table: TableDef) -> Resp:
        q = ctx.query
        select = parse_select(q.get("$select"))
        self.check_select(table, select)
        expand = self._expansions(table, q.get("$expand"))
        pred = compile_filter(q["$filter"], self._resolver(table)) if q.get("$filter") else None
        order = parse_orderby(q["$orderby"]) if q.get("$orderby") else []
        for prop, _ in order:
            self._resolver(table)(prop)
        top = _int_param(q, "$top")
        pref = ctx.prefer()
        page_size = DEFAULT_PAGE_SIZE
        applied = []
        if "odata.maxpagesize" in pref:
            try:
                page_size = max(1, min(int(pref["odata.maxpagesize"]), DEFAULT_PAGE_SIZE))
                applied.append(f"odata.maxpagesize={page_size}")
            except ValueError:
                pass
        page = 1
        tok = q.get("$skiptoken")
        if tok:
            m = re.search(r'pagenumber="(\d+)"', unquote(tok))
            page = int(m.group(1)) if m else 1
        annotate = self._annotate(ctx)
        if annotate:
            applied.append(f'odata.include-annotations="{pref["odata.include-annotations"]}"')
        with self.store.lock:
            rows = self._candidates(table, q.get("$filter"))
            if rows is None:
                rows = self.store.rows[table.logical_name].values()
            matched = [r for r in rows if pred(r)] if pred else list(rows)
            for prop, desc in reversed(order):
                cname = table.by_value_name[prop].name
                matched.sort(key=lambda r: _sort_key(r.get(cname)), reverse=desc)
            total = len(matched)
            if top is not None:
                matched = matched[:top]
            start = (page - 1) * page_size
            chunk = matched[start:start + page_size]
            more = top is None and start + page_size < len(matched)
            value = [self.to_json(ctx, table, r, select, annotate) for r in chunk]
            self._expand(ctx, table, list(zip(chunk, value)), expand)
        sel = f"({','.join(select)})" if select else ""
        body: dict[str, Any] = {"@odata.context": f"{ctx.api}$metadata#{table.entity_set}{sel}"}
        if q.get("$count") == "true":
            body["@odata.count"] = min(total, COUNT_LIMIT)
        body["value"] = value
        if more:
            cookie = f'<cookie pagenumber="{page + 1}" pagingcookie="" istracking="False" />'
            params = [(k, v) for k, v in q.items() if k != "$skiptoken"]
            params.append(("$skiptoken", cookie))
            body["@odata.nextLink"] = (f"{ctx.api}{table.entity_set}?"
                                       + "&".join(f"{k}={quote(v, safe='$')}" for k, v in params))
        headers = [("Preference-Applied", ",".join(applied))] if applied else []
        return Resp.json(200, body, headers)

    # --- writes -------------------------------------------------------------------------------------
    def binder(self, ctx: Ctx, table: TableDef):
        store = self.store

        def resolve_bind(nav: str, target_logical: str, value: Any) -> list:
            if not isinstance(value, str):
                raise DataverseError(400, E.ZERO, f"The value of '{nav}@odata.bind' must be a URI string.")
            ref_text = value
            if ctx.content_ids and ref_text.startswith("$") and ref_text[1:] in ctx.content_ids:
                ref_text = ctx.content_ids[ref_text[1:]]
            i = ref_text.find(API_PREFIX)
            if i >= 0:
                ref_text = ref_text[i + len(API_PREFIX):]
            ref_text = ref_text.lstrip("/")
            set_name, key_text = split_segment(ref_text)
            if key_text is None:
                raise DataverseError(400, E.ZERO, f"The URI '{value}' in '{nav}@odata.bind' does not identify "
                                                  "a single entity.")
            target = store.table_for_set(set_name)
            if target is None:
                raise E.segment_not_found(set_name)
            col_name, _ = table.navs[nav]
            allowed = table.columns[col_name].targets if nav == col_name else (target_logical,)
            if target.logical_name not in allowed:
                # *inferred* wording
                raise DataverseError(400, E.ZERO, f"An entity of type '{target.logical_name}' cannot be bound "
                                                  f"to the navigation property '{nav}'.")
            rid = store.require_id(target, parse_key(key_text))
            return [target.logical_name, rid]
        return resolve_bind

    def _respond_written(self, ctx: Ctx, table: TableDef, rid: str, created: bool) -> Resp:
        pref = ctx.prefer()
        if pref.get("return") == "representation":
            select = parse_select(ctx.query.get("$select"))
            self.check_select(table, select)
            with self.store.lock:
                row = self.store.rows[table.logical_name][rid]
                body = self.to_json(ctx, table, row, select, self._annotate(ctx))
            sel = f"({','.join(select)})" if select else ""
            body = {"@odata.context": f"{ctx.api}$metadata#{table.entity_set}{sel}/$entity", **body}
            return Resp.json(201 if created else 200, body,
                             [("Preference-Applied", "return=representation"), ("ETag", body["@odata.etag"]),
                              ("OData-EntityId", self.entity_url(ctx, table, rid))])
        url = self.entity_url(ctx, table, rid)
        return Resp(204, [("OData-EntityId", url), ("Location", url)])

    def _create(self, ctx: Ctx, table: TableDef) -> Resp:
        body = parse_json_body(ctx.body)
        parties = self._take_parties(table, body)
        with self.store.transaction() as txn:
            values = self.store.prepare(table, body, creating=True, resolve_bind=self.binder(ctx, table))
            rid = self.store.create(table, values)
            if parties is not None:
                self._write_parties(ctx, table, rid, parties, fresh=True)
            ctx.records = 1
        return self._respond_written(ctx, table, rid, True)

    def upsert(self, ctx: Ctx, table: TableDef, ref, body: dict, *, if_match: str | None = None,
               if_none_match: str | None = None) -> tuple[str, bool]:
        """PATCH semantics: update when the record exists, create otherwise (inside a transaction).

        An activity's ``<activity>_activity_parties`` in the body are written with it (deep insert; on an
        update the list replaces the parties, as ``PUT .../email_activity_parties`` does:
        learn.microsoft.com/power-apps/developer/data-platform/webapi/associate-disassociate-entities-using-web-api)."""
        body = dict(body)
        parties = self._take_parties(table, body)
        rid, created = self._upsert(ctx, table, ref, body, if_match, if_none_match)
        if parties is not None:
            self._write_parties(ctx, table, rid, parties, fresh=created)
        return rid, created

    def _upsert(self, ctx: Ctx, table: TableDef, ref, body: dict, if_match: str | None,
                if_none_match: str | None) -> tuple[str, bool]:
        store = self.store
        rid = store.find_id(table, ref)
        if rid is None:
            if if_match is not None:
                if isinstance(ref, str):
                    raise E.not_found(table.logical_name, ref)
                raise E.key_not_found(table.logical_name)
            values = store.prepare(table, body, creating=False, resolve_bind=self.binder(ctx, table))
            if isinstance(ref, dict):
                for k, v in ref.items():
                    col = table.columns[k]
                    if col.type in LOOKUP_TYPES:
                        raise DataverseError(400, E.ZERO, "Lookup key attributes are not supported by the emulator.")
                    values[k] = _CONVERTERS[col.type](col, table.logical_name, v)
                new_id = None
            else:
                new_id = ref
            store.check_required(table, values)
            rid = store.create(table, values, rid=new_id)
            return rid, True
        if if_none_match == "*":
            raise E.matching_key_exists()
        row = store.rows[table.logical_name][rid]
        if if_match not in (None, "*"):
            if if_match.strip() != f'W/"{row.get("versionnumber")}"':
                raise DataverseError(412, "0x80060882", "The version of the existing record doesn't match the "
                                                        "RowVersion property provided.")
        values = store.prepare(table, body, creating=False, resolve_bind=self.binder(ctx, table), existing=row)
        store.update(table, rid, values)
        if row.get("statecode") not in (None, 0) and values.get("statecode") == 0:
            self._reopened(table, rid)
        return rid, False

    def _patch(self, ctx: Ctx, table: TableDef, ref) -> Resp:
        body = parse_json_body(ctx.body)
        with self.store.transaction() as txn:
            rid, created = self.upsert(ctx, table, ref, body, if_match=ctx.headers.get("if-match"),
                                       if_none_match=ctx.headers.get("if-none-match"))
            ctx.records = 1
        return self._respond_written(ctx, table, rid, created)

    def _multiple(self, ctx: Ctx, table: TableDef, message: str) -> Resp:
        if not table.multiple:
            raise DataverseError(400, E.GENERIC, f"The '{message}' method does not support entities of type "
                                                 f"'{table.logical_name}'. {NO_MULTIPLE_NOTE}")
        body = parse_json_body(ctx.body)
        targets = body.get("Targets")
        if not isinstance(targets, list):
            raise DataverseError(400, E.ZERO, f"The parameter 'Targets' is required for the action '{message}'.")
        if not targets:
            raise DataverseError(400, E.INVALID_ARGUMENT, "The Targets collection must contain at least one entity.")
        expected_type = f"Microsoft.Dynamics.CRM.{table.logical_name}"
        store = self.store
        ids: list[str] = []
        binder = self.binder(ctx, table)
        with store.transaction() as txn:
            for target in targets:
                if not isinstance(target, dict):
                    raise DataverseError(400, E.ZERO, "Each item in Targets must be a JSON object.")
                odata_type = target.get("@odata.type")
                if odata_type is None:
                    raise DataverseError(400, E.ZERO, "Cannot create an abstract entity type "
                                                      "'Microsoft.Dynamics.CRM.crmbaseentity'.")
                if odata_type.lstrip("#") != expected_type:
                    # *inferred* wording
                    raise DataverseError(400, E.INVALID_ARGUMENT,
                                         f"All Targets must be of type '{table.logical_name}'; found "
                                         f"'{odata_type}'.")
                if message == "CreateMultiple":
                    values = store.prepare(table, target, creating=True, resolve_bind=binder)
                    ids.append(store.create(table, values))
                    continue
                ref = self._target_ref(table, target)
                if message == "UpdateMultiple":
                    if ref is None:
                        raise DataverseError(400, E.INVALID_ARGUMENT,
                                             f"Entity Id must be specified for Operation: Update ({table.logical_name}).")
                    rid = store.require_id(table, ref)
                    row = store.rows[table.logical_name][rid]
                    values = store.prepare(table, target, creating=False, resolve_bind=binder, existing=row)
                    store.update(table, rid, values)
                else:
                    if ref is None:
                        values = store.prepare(table, target, creating=True, resolve_bind=binder)
                        store.create(table, values)
                    else:
                        self.upsert(ctx, table, ref, target)
            ctx.records = len(targets)
        if message == "CreateMultiple":
            return Resp.json(200, {"@odata.context": f"{ctx.api}$metadata#Microsoft.Dynamics.CRM."
                                                     "CreateMultipleResponse", "Ids": ids})
        return Resp(204)

    def _target_ref(self, table: TableDef, target: dict):
        odata_id = target.get("@odata.id")
        if odata_id:
            m = _SIMPLE_ODATA_ID.match(odata_id)
            if m:
                set_name, kname, kval = m.groups()
                ref: Any = {kname.lower(): kval.replace("''", "'")}
            else:
                text = odata_id
                i = text.find(API_PREFIX)
                if i >= 0:
                    text = text[i + len(API_PREFIX):]
                set_name, key_text = split_segment(text.lstrip("/"))
                if key_text is None:
                    raise DataverseError(400, E.ZERO, f"Invalid @odata.id '{odata_id}'.")
                ref = parse_key(key_text)
            if set_name != table.entity_set:
                raise DataverseError(400, E.ZERO, f"The @odata.id '{odata_id}' does not address the entity set "
                                                  f"'{table.entity_set}'.")
            return ref
        pk = target.get(table.primary_id)
        if isinstance(pk, str) and GUID_RE.match(pk):
            return pk.lower()
        return None

    # --- actions ------------------------------------------------------------------------------------
    def _action(self, ctx: Ctx, name: str) -> Resp:
        body = parse_json_body(ctx.body)
        store = self.store
        if name in ("WinOpportunity", "LoseOpportunity"):
            close_name, parent, parent_attr, close_table = "OpportunityClose", "opportunity", "opportunityid", \
                "opportunityclose"
            new_state = 1 if name == "WinOpportunity" else 2
        else:
            close_name, parent, parent_attr, close_table = "IncidentResolution", "incident", "incidentid", \
                "incidentresolution"
            new_state = 1
        close = body.get(close_name)
        status = body.get("Status")
        if not isinstance(close, dict):
            raise DataverseError(400, E.ZERO, f"The parameter '{close_name}' is required for the action '{name}'.")
        if not isinstance(status, int) or isinstance(status, bool):
            raise DataverseError(400, E.ZERO, f"The parameter 'Status' is required for the action '{name}'.")
        ptable = store.tables[parent]
        ctable = store.tables[close_table]
        status_col = ptable.columns["statuscode"]
        if status != -1 and status_col.status_state.get(status) != new_state:
            state_label = ptable.columns["statecode"].options[new_state]
            raise DataverseError(400, E.INVALID_ARGUMENT,
                                 f"{status} is not a valid status code for state code "
                                 f"{parent.capitalize()}State.{state_label} on {parent}.")
        with store.transaction() as txn:
            values = store.prepare(ctable, close, creating=True, resolve_bind=self.binder(ctx, ctable))
            ref = values.get(parent_attr)
            if not ref:
                raise DataverseError(400, E.INVALID_ARGUMENT, f"{close_name}.{parent_attr} is required.")
            prow = store.rows[parent][ref[1]]
            if prow.get("statecode") != 0:
                if parent == "incident":
                    raise DataverseError(400, E.CASE_ALREADY_RESOLVED, E.CASE_ALREADY_RESOLVED_MESSAGE)
                raise DataverseError(400, E.INVALID_ARGUMENT,
                                     "The opportunity cannot be closed because it is not open.")  # *inferred*
            values.setdefault("statecode", 1)
            values["statecode"] = 1
            values["statuscode"] = 2
            store.create(ctable, values)
            if status == -1:
                status = {(1, "opportunity"): 3, (2, "opportunity"): 4, (1, "incident"): 5}[(new_state, parent)]
            upd: dict[str, Any] = {"statecode": new_state, "statuscode": status}
            if parent == "opportunity":
                actual_end = values.get("actualend")
                upd["actualclosedate"] = (actual_end or datetime.now(timezone.utc).isoformat())[:10]
                if values.get("actualrevenue") is not None:
                    upd["actualvalue"] = values["actualrevenue"]
                elif new_state == 1:
                    upd["actualvalue"] = prow.get("estimatedvalue")
            store.update(ptable, ref[1], upd)
            ctx.records = 2
        return Resp(204)

    def _insert_option_value(self, ctx: Ctx) -> Resp:
        """``InsertOptionValue`` (learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/
        insertoptionvalue): a new option on a local picklist -> ``{"NewOptionValue"}``. Refusing a value
        that exists is *inferred* (code and wording)."""
        body = parse_json_body(ctx.body)
        store = self.store
        with store.transaction() as txn:
            t = store.tables.get(str(body.get("EntityLogicalName", "")).lower())
            col = t.columns.get(str(body.get("AttributeLogicalName", "")).lower()) if t else None
            if col is None or col.type != PICKLIST:
                raise DataverseError(400, E.INVALID_ARGUMENT, "EntityLogicalName and AttributeLogicalName must name a "
                                                              "picklist column.")
            value = body.get("Value")
            if value is None:
                value = max([100000000 - 1, *col.options]) + 1
            if not isinstance(value, int) or isinstance(value, bool):
                raise DataverseError(400, E.ZERO, "Cannot convert a primitive value to the expected type 'Edm.Int32'.")
            if value in col.options:
                raise DataverseError(400, E.INVALID_ARGUMENT, f"An option with the value {value} already exists in "
                                                              f"{col.name}.")
            col.options[value] = label_text(body.get("Label")) or str(value)
            txn.meta_dirty = True
        return Resp.json(200, {"@odata.context": f"{ctx.api}$metadata#Microsoft.Dynamics.CRM.InsertOptionValueResponse",
                               "NewOptionValue": value})

    # --- deletes --------------------------------------------------------------------------------------------
    def _delete_cascading(self, ctx: Ctx, table: TableDef, rid: str, depth: int = 0) -> None:
        """Delete a row as Dataverse does, with the relationships' cascade rules (``cascade.py``): rows of
        parental relationships go with it, referential lookups to it are cleared (one transaction)."""
        if rid not in self.store.rows[table.logical_name]:
            return  # already deleted by another cascade of this delete
        cascade.apply(self.store, table, rid, lambda t, i, d: self._delete_cascading(ctx, t, i, d), depth)
        self.store.delete(table, rid)
        if table.logical_name in PARTY_TYPES:
            self._write_parties(ctx, table, rid, [])

    # --- activity parties -----------------------------------------------------------------------------
    def _take_parties(self, table: TableDef, body: dict) -> list | None:
        """Remove and return the body's ``<activity>_activity_parties`` (None when it has none)."""
        name = f"{table.logical_name}_activity_parties"
        if name not in body:
            return None
        if table.logical_name not in PARTY_TYPES:
            raise E.unknown_property(name, table.logical_name)
        parties = body.pop(name)
        if not isinstance(parties, list) or not all(isinstance(p, dict) for p in parties):
            raise DataverseError(400, E.ZERO, f"A collection of entities was expected for '{name}'.")
        return parties

    def _write_parties(self, ctx: Ctx, table: TableDef, rid: str, parties: list[dict], *,
                       fresh: bool = False) -> None:
        """Replace the activity's parties (inside the caller's transaction). ``fresh``: the activity was just
        created, so it has none to remove (no scan of every party: loading activities stays linear)."""
        store = self.store
        ptable = store.tables["activityparty"]
        for pid, party in ([] if fresh else list(store.rows["activityparty"].items())):
            if (party.get("activityid") or [None, None])[1] == rid:
                store.delete(ptable, pid)
        for party in parties:
            if party.get("participationtypemask") not in PARTY_TYPES[table.logical_name]:
                raise E.party_type_not_allowed(table.logical_name, party.get("participationtypemask"))
            values = store.prepare(ptable, party, creating=True, resolve_bind=self.binder(ctx, ptable))
            if values.get("partyid") is None and not values.get("addressused"):
                raise E.party_without_party_or_address()
            values["activityid"] = [table.logical_name, rid]
            store.create(ptable, values)

    def _expansions(self, table: TableDef, text: str | None) -> dict[str, list[str] | None]:
        """``$expand`` -> {navigation: $select}; only an activity's party list is implemented."""
        expand = _parse_expand(text)
        for nav, sel in expand.items():
            if nav != f"{table.logical_name}_activity_parties" or table.logical_name not in PARTY_TYPES:
                raise DataverseError(400, E.ZERO, f"The emulator does not implement $expand of '{nav}' on records.")
            self.check_select(self.store.tables["activityparty"], parse_select(sel))
        return {nav: parse_select(sel) for nav, sel in expand.items()}

    def _expand(self, ctx: Ctx, table: TableDef, rows: list[tuple[dict, dict]],
                expand: dict[str, list[str] | None]) -> None:
        if not expand:
            return
        ptable = self.store.tables["activityparty"]
        of: dict[str, list[dict]] = {}
        for party in self.store.rows["activityparty"].values():
            of.setdefault((party.get("activityid") or [None, None])[1], []).append(party)
        for nav, select in expand.items():
            for row, out in rows:
                out[nav] = [self.to_json(ctx, ptable, p, select) for p in of.get(row[table.primary_id], [])]

    #: close activity table and its lookup to the closed record, per table closed by a close message
    CLOSE_ACTIVITIES = {"opportunity": ("opportunityclose", "opportunityid"),
                        "incident": ("incidentresolution", "incidentid")}

    def _reopened(self, table: TableDef, rid: str) -> None:
        """A reopened opportunity or case: its completed close activities become Canceled, so the next
        close is the one that counts (*inferred*: the platform's bookkeeping of a reopen is not documented)."""
        close = self.CLOSE_ACTIVITIES.get(table.logical_name)
        if close is None:
            return
        ctable = self.store.tables[close[0]]
        for aid, act in list(self.store.rows[close[0]].items()):
            if (act.get(close[1]) or [None, None])[1] == rid and act.get("statecode") == 1:
                self.store.update(ctable, aid, {"statecode": 2, "statuscode": 3})

    # --- sdkmessagefilters --------------------------------------------------------------------------
    def _sdkmessagefilters(self, ctx: Ctx) -> Resp:
        messages = ["Create", "Update", "Delete", "Retrieve", "RetrieveMultiple", "Upsert", *MULTIPLE_MESSAGES]
        rows = []
        for t in self.store.tables.values():
            for msg in messages:
                if msg in MULTIPLE_MESSAGES and not t.multiple:
                    continue
                rows.append({"sdkmessagefilterid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{t.logical_name}/{msg}")),
                             "primaryobjecttypecode": t.logical_name, "secondaryobjecttypecode": "none",
                             "iscustomprocessingstepallowed": True, "isvisible": True,
                             "_sdkmessageid_value": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sdkmessage/{msg}")),
                             "sdkmessageid/name": msg})
        allowed = {"sdkmessagefilterid", "primaryobjecttypecode", "secondaryobjecttypecode",
                   "iscustomprocessingstepallowed", "isvisible", "_sdkmessageid_value", "sdkmessageid/name"}

        def resolve(name: str):
            if name not in allowed:
                raise E.unknown_select(name, "sdkmessagefilter")
            return lambda r: r.get(name)
        q = ctx.query
        if q.get("$filter"):
            pred = compile_filter(q["$filter"], resolve)
            rows = [r for r in rows if pred(r)]
        select = parse_select(q.get("$select"))
        out = []
        for r in rows:
            item = {k: v for k, v in r.items() if k != "sdkmessageid/name"}
            if select:
                for s in select:
                    if s not in allowed or s == "sdkmessageid/name":
                        raise E.unknown_select(s, "sdkmessagefilter")
                item = {k: v for k, v in item.items() if k in select or k == "sdkmessagefilterid"}
            out.append(item)
        body: dict[str, Any] = {"@odata.context": f"{ctx.api}$metadata#sdkmessagefilters"}
        if q.get("$count") == "true":
            body["@odata.count"] = len(out)
        body["value"] = out
        return Resp.json(200, body)

    # --- metadata -----------------------------------------------------------------------------------
    def _find_table_meta(self, key_text: str) -> TableDef:
        ref = parse_key(key_text)
        store = self.store
        if isinstance(ref, str):
            for t in store.tables.values():
                if t.metadata_id == ref:
                    return t
            raise DataverseError(404, E.OBJECT_DOES_NOT_EXIST, f"Could not find entity with id '{ref}'.")
        name = str(ref.get("logicalname", "")).lower()
        t = store.tables.get(name)
        if t is None:
            # *inferred* wording and code
            raise DataverseError(404, E.OBJECT_DOES_NOT_EXIST, f"Could not find entity with name '{name}'.")
        return t

    def table_meta(self, ctx: Ctx, t: TableDef) -> dict:
        return {"MetadataId": t.metadata_id, "LogicalName": t.logical_name,
                "SchemaName": t.schema_name or t.logical_name.capitalize(), "EntitySetName": t.entity_set,
                "LogicalCollectionName": t.entity_set, "CollectionSchemaName": t.entity_set.capitalize(),
                "PrimaryIdAttribute": t.primary_id, "PrimaryNameAttribute": t.primary_name,
                "ObjectTypeCode": t.object_type_code, "IsCustomEntity": t.custom, "IsActivity": t.is_activity,
                "CanCreateAttributes": {"Value": t.can_create_attributes, "CanBeChanged": False,
                                        "ManagedPropertyLogicalName": "cancreateattributes"},
                "OwnershipType": t.ownership if t.ownership != "OrganizationOwned" else "OrganizationOwned",
                "IsManaged": not t.custom, "DisplayName": label(t.display_name or t.logical_name.capitalize()),
                "HasNotes": True, "HasActivities": not t.is_activity}

    def attr_meta(self, t: TableDef, c: Column, expand_options: bool = False) -> dict:
        otype, tname = ATTR_TYPE_META[c.type]
        d: dict[str, Any] = {
            "@odata.type": f"#Microsoft.Dynamics.CRM.{otype}", "MetadataId": c.metadata_id,
            "LogicalName": c.name, "SchemaName": c.schema_name or c.name.capitalize(),
            "EntityLogicalName": t.logical_name, "AttributeType": c.type, "AttributeTypeName": {"Value": tname},
            "IsCustomAttribute": c.custom, "IsPrimaryId": c.is_primary_id, "IsPrimaryName": c.primary_name,
            "IsValidForCreate": not c.read_only, "IsValidForUpdate": not c.read_only and not c.is_primary_id,
            "RequiredLevel": {"Value": c.required, "CanBeChanged": True,
                              "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"},
            "DisplayName": label(c.display_name or c.name),
        }
        if c.type in (STRING, MEMO):
            d["MaxLength"] = c.max_length
            d["Format"] = "Text" if c.type == STRING else "TextArea"
        elif c.type in (INTEGER, DECIMAL, MONEY, "Double"):
            d["MinValue"], d["MaxValue"] = c.min_value, c.max_value
            if c.type != INTEGER:
                d["Precision"] = c.precision
        elif c.type == DATETIME:
            d["Format"] = "DateOnly" if c.date_only else "DateAndTime"
            d["DateTimeBehavior"] = {"Value": "DateOnly" if c.date_only else "UserLocal"}
        elif c.type in LOOKUP_TYPES:
            d["Targets"] = list(c.targets)
        if c.type in OPTION_TYPES and expand_options:
            d["OptionSet"] = {"MetadataId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{t.logical_name}/{c.name}")),
                              "Name": f"{t.logical_name}_{c.name}", "IsGlobal": False,
                              "OptionSetType": c.type,
                              "Options": [{"Value": v, "Label": label(lbl)}
                                          | ({"State": c.status_state[v]} if c.status_state else {})
                                          for v, lbl in (c.options or {}).items()]}
        return d

    def key_meta(self, t: TableDef, k: KeyDef) -> dict:
        return {"MetadataId": k.metadata_id, "LogicalName": k.logical_name, "SchemaName": k.schema_name,
                "EntityLogicalName": t.logical_name, "KeyAttributes": list(k.attributes),
                "EntityKeyIndexStatus": k.status, "DisplayName": label(k.display_name), "IsManaged": False,
                "IsCustomizable": {"Value": True, "CanBeChanged": True,
                                   "ManagedPropertyLogicalName": "iscustomizable"}}

    def _metadata(self, ctx: Ctx, key_text: str | None, rest: list[str]) -> Resp:
        store = self.store
        q = ctx.query
        if key_text is None:
            if rest:
                raise E.segment_not_found(rest[0])
            if ctx.method == "POST":
                return self._create_table(ctx)
            if ctx.method != "GET":
                raise E.method_not_allowed()
            with store.lock:
                items = [self.table_meta(ctx, t) for t in store.tables.values()]
            if q.get("$filter"):
                pred = compile_filter(q["$filter"], lambda n: (lambda r: r.get(n)))
                items = [i for i in items if pred(i)]
            items = [_select_meta(i, q.get("$select")) for i in items]
            return Resp.json(200, {"@odata.context": f"{ctx.api}$metadata#EntityDefinitions", "value": items})
        with store.lock:
            t = self._find_table_meta(key_text)
            store.refresh_keys(t)
            if not rest and ctx.method == "DELETE":
                return self._delete_table(ctx, t)
            if not rest:
                if ctx.method != "GET":
                    raise E.method_not_allowed()
                d = _select_meta(self.table_meta(ctx, t), q.get("$select"))
                expand = _parse_expand(q.get("$expand"))
                if "Attributes" in expand:
                    d["Attributes"] = [_select_meta(self.attr_meta(t, c), expand["Attributes"])
                                       for c in t.columns.values()]
                if "Keys" in expand:
                    d["Keys"] = [_select_meta(self.key_meta(t, k), expand["Keys"]) for k in t.keys.values()]
                return Resp.json(200, {"@odata.context": f"{ctx.api}$metadata#EntityDefinitions/$entity", **d})
            seg, sub_key = split_segment(rest[0])
            if seg == "Attributes":
                if sub_key is None:
                    if ctx.method == "POST" and len(rest) == 1:
                        return self._create_attribute(ctx, t)
                    if ctx.method != "GET":
                        raise E.method_not_allowed()
                    cast = rest[1] if len(rest) > 1 else None
                    cols = list(t.columns.values())
                    if cast:
                        want = cast.replace("Microsoft.Dynamics.CRM.", "")
                        cols = [c for c in cols if ATTR_TYPE_META[c.type][0] == want]
                    expand = _parse_expand(q.get("$expand"))
                    items = [_select_meta(self.attr_meta(t, c, "OptionSet" in expand), q.get("$select"), expand)
                             for c in cols]
                    if q.get("$filter"):
                        pred = compile_filter(q["$filter"], lambda n: (lambda r: r.get(n)))
                        items = [i for i in items if pred(i)]
                    return Resp.json(200, {"@odata.context": f"{ctx.api}$metadata#EntityDefinitions"
                                                             f"('{t.metadata_id}')/Attributes", "value": items})
                aref = parse_key(sub_key)
                col = None
                if isinstance(aref, str):
                    col = next((c for c in t.columns.values() if c.metadata_id == aref), None)
                else:
                    col = t.columns.get(str(aref.get("logicalname", "")).lower())
                if col is None:
                    # *inferred* wording
                    raise DataverseError(404, E.OBJECT_DOES_NOT_EXIST,
                                         f"Could not find attribute with name '{aref}' on entity "
                                         f"'{t.logical_name}'." if not isinstance(aref, dict) else
                                         f"Could not find attribute with name '{aref.get('logicalname')}' on "
                                         f"entity '{t.logical_name}'.")
                if ctx.method == "DELETE" and len(rest) == 1:
                    return self._delete_attribute(t, col)
                if ctx.method != "GET":
                    raise E.method_not_allowed()
                if len(rest) > 1:
                    want = rest[1].replace("Microsoft.Dynamics.CRM.", "")
                    if ATTR_TYPE_META[col.type][0] != want:
                        raise DataverseError(400, E.ZERO, f"The attribute '{col.name}' is not of type '{want}'.")
                expand = _parse_expand(q.get("$expand"))
                d = _select_meta(self.attr_meta(t, col, "OptionSet" in expand or "GlobalOptionSet" in expand),
                                 q.get("$select"))
                if "OptionSet" in expand and "OptionSet" not in d and col.type in OPTION_TYPES:
                    d["OptionSet"] = self.attr_meta(t, col, True)["OptionSet"]
                return Resp.json(200, {"@odata.context": f"{ctx.api}$metadata#EntityDefinitions"
                                                         f"('{t.metadata_id}')/Attributes/$entity", **d})
            if seg == "Keys":
                if sub_key is None:
                    if ctx.method == "POST":
                        return self._create_key(ctx, t)
                    if ctx.method != "GET":
                        raise E.method_not_allowed()
                    items = [_select_meta(self.key_meta(t, k), q.get("$select")) for k in t.keys.values()]
                    return Resp.json(200, {"@odata.context": f"{ctx.api}$metadata#EntityDefinitions"
                                                             f"('{t.metadata_id}')/Keys", "value": items})
                kref = parse_key(sub_key)
                key = None
                if isinstance(kref, str):
                    key = next((k for k in t.keys.values() if k.metadata_id == kref), None)
                else:
                    key = t.keys.get(str(kref.get("logicalname", "")).lower())
                if key is None:
                    raise DataverseError(404, E.OBJECT_DOES_NOT_EXIST,
                                         f"Could not find key '{sub_key}' on entity '{t.logical_name}'.")
                if ctx.method == "DELETE":
                    with store.transaction() as txn:
                        del t.keys[key.logical_name]
                        store.indexes[t.logical_name].pop(key.logical_name, None)
                        t.active = [k for k in t.keys.values() if k.status == "Active"]
                        txn.meta_dirty = True
                    return Resp(204)
                if ctx.method != "GET":
                    raise E.method_not_allowed()
                d = _select_meta(self.key_meta(t, key), q.get("$select"))
                return Resp.json(200, {"@odata.context": f"{ctx.api}$metadata#EntityDefinitions"
                                                         f"('{t.metadata_id}')/Keys/$entity", **d})
            raise E.segment_not_found(rest[0])

    def _relationships(self, ctx: Ctx, key_text: str | None, rest: list[str]) -> Resp:
        """One-to-many relationships: how Dataverse adds a lookup column to a table.

        ``POST RelationshipDefinitions`` with a ``OneToManyRelationshipMetadata`` whose ``Lookup`` is a
        ``LookupAttributeMetadata`` creates the lookup on ``ReferencingEntity``; its single-valued
        navigation property is the lookup's SchemaName. ``GET RelationshipDefinitions(SchemaName='x')``
        reads one back (404 when missing)."""
        store = self.store
        if rest:
            raise E.segment_not_found(rest[0])
        if ctx.method == "GET":
            if key_text is None:
                with store.lock:
                    return Resp.json(200, {"@odata.context": ctx.api + "$metadata#RelationshipDefinitions",
                                           "value": list(store.relationships.values())})
            m = re.fullmatch(r"SchemaName='([^']*)'", key_text or "")
            with store.lock:
                rel = store.relationships.get(m.group(1).lower()) if m else None
            if rel is None:
                raise DataverseError(404, "0x80040217", f"Could not find relationship {key_text}.")  # *inferred*
            return Resp.json(200, {"@odata.context": ctx.api + "$metadata#RelationshipDefinitions/$entity", **rel})
        if ctx.method != "POST" or key_text is not None:
            raise E.method_not_allowed()
        body = parse_json_body(ctx.body)
        otype = str(body.get("@odata.type", "")).replace("Microsoft.Dynamics.CRM.", "").lstrip("#")
        if otype != "OneToManyRelationshipMetadata":
            raise DataverseError(400, E.INVALID_ARGUMENT, "Only OneToManyRelationshipMetadata is supported.")
        schema = body.get("SchemaName")
        referenced, referencing = body.get("ReferencedEntity"), body.get("ReferencingEntity")
        lookup = body.get("Lookup") or {}
        if not isinstance(schema, str) or not schema:
            raise DataverseError(400, E.INVALID_ARGUMENT, "SchemaName is required.")
        with store.transaction() as txn:
            if schema.lower() in store.relationships:
                raise E.relationship_name_not_unique()
            target, t = store.tables.get(str(referenced).lower()), store.tables.get(str(referencing).lower())
            if target is None or t is None:
                raise DataverseError(400, E.INVALID_ARGUMENT,
                                     f"Entity '{referenced if target is None else referencing}' does not exist.")
            lk_schema = lookup.get("SchemaName")
            if not isinstance(lk_schema, str) or not lk_schema:
                raise DataverseError(400, E.INVALID_ARGUMENT, "Lookup.SchemaName is required.")
            store.check_prefix(lk_schema, "Attribute")
            name = lk_schema.lower()
            if name in t.columns:
                raise E.schema_name_not_unique(lk_schema, "Attribute")
            req = lookup.get("RequiredLevel") or {}
            col = Column(name, LOOKUP, targets=(target.logical_name,), navs={lk_schema: target.logical_name},
                         required=req.get("Value", "None") if isinstance(req, dict) else "None", custom=True,
                         schema_name=lk_schema, display_name=label_text(lookup.get("DisplayName")) or lk_schema)
            t.columns[name] = col
            t.index()
            rel = {"MetadataId": str(uuid.uuid4()), "SchemaName": schema, "ReferencedEntity": target.logical_name,
                   "ReferencingEntity": t.logical_name, "ReferencedAttribute": target.primary_id,
                   "ReferencingAttribute": name, "ReferencingEntityNavigationPropertyName": lk_schema,
                   "RelationshipType": "OneToManyRelationship"}
            store.relationships[schema.lower()] = rel
            txn.meta_dirty = True
        return Resp(204, [("OData-EntityId", f"{ctx.api}RelationshipDefinitions({rel['MetadataId']})")])

    def _column_from_metadata(self, body: dict, t: TableDef | None) -> Column:
        otype = str(body.get("@odata.type", "")).lstrip("#").replace("Microsoft.Dynamics.CRM.", "")
        atype = CREATABLE_ATTR_TYPES.get(otype)
        if atype is None:
            raise DataverseError(400, E.ZERO, f"The attribute type '{otype or '(missing @odata.type)'}' is not "
                                              "supported for creation.")
        schema = body.get("SchemaName")
        if not isinstance(schema, str) or not schema:
            raise DataverseError(400, E.INVALID_ARGUMENT, "SchemaName is required.")
        self.store.check_prefix(schema, "Attribute")
        name = schema.lower()
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or len(name) > 50:
            raise DataverseError(400, E.INVALID_ARGUMENT, f"Invalid SchemaName '{schema}'.")
        if t is not None and name in t.columns:
            raise E.schema_name_not_unique(schema, "Attribute")
        req = body.get("RequiredLevel") or {}
        required = req.get("Value", "None") if isinstance(req, dict) else "None"
        col = Column(name, atype, required=required, custom=True, schema_name=schema,
                     display_name=label_text(body.get("DisplayName")) or schema)
        if atype == STRING:
            col.max_length = int(body.get("MaxLength") or 100)
            if not 1 <= col.max_length <= 4000:
                raise DataverseError(400, E.INVALID_ARGUMENT, "MaxLength must be between 1 and 4000.")
        elif atype == MEMO:
            col.max_length = int(body.get("MaxLength") or 2000)
            if not 1 <= col.max_length <= 1048576:
                raise DataverseError(400, E.INVALID_ARGUMENT, "MaxLength must be between 1 and 1048576.")
        elif atype == PICKLIST:
            opts = (body.get("OptionSet") or {}).get("Options") or []
            col.options = {}
            nxt = 100000000
            for o in opts:
                v = o.get("Value")
                if v is None:
                    while nxt in col.options:
                        nxt += 1
                    v = nxt
                col.options[int(v)] = label_text(o.get("Label")) or str(v)
        elif atype == INTEGER:
            col.min_value = body.get("MinValue", -2147483648)
            col.max_value = body.get("MaxValue", 2147483647)
        elif atype in (DECIMAL, MONEY, "Double"):
            col.precision = int(body.get("Precision", 2 if atype != MONEY else 4))
            col.min_value = body.get("MinValue", -100000000000.0 if atype != MONEY else -922337203685477.0)
            col.max_value = body.get("MaxValue", 100000000000.0 if atype != MONEY else 922337203685477.0)
        elif atype == DATETIME:
            fmt = body.get("Format") or "DateAndTime"
            if fmt not in ("DateOnly", "DateAndTime"):
                raise DataverseError(400, E.INVALID_ARGUMENT, f"Invalid DateTime Format '{fmt}'.")
            col.date_only = fmt == "DateOnly"
        return col

    def _create_attribute(self, ctx: Ctx, t: TableDef) -> Resp:
        body = parse_json_body(ctx.body)
        if not t.can_create_attributes:
            # Real Dataverse: the Note (annotation) table reports CanCreateAttributes = False.
            raise DataverseError(400, E.INVALID_ARGUMENT,  # *inferred* code and wording
                                 f"Attributes cannot be created for the entity '{t.logical_name}'. "
                                 "CanCreateAttributes is false for this entity.")
        with self.store.transaction() as txn:
            col = self._column_from_metadata(body, t)
            t.columns[col.name] = col
            t.index()
            txn.meta_dirty = True
        url = f"{ctx.api}EntityDefinitions({t.metadata_id})/Attributes({col.metadata_id})"
        return Resp(204, [("OData-EntityId", url)])

    def _delete_attribute(self, t: TableDef, col: Column) -> Resp:
        """``DELETE EntityDefinitions(...)/Attributes(...)``: a custom column goes, with its values (the Web API
        does what the SDK's DeleteAttributeRequest does:
        https://learn.microsoft.com/power-apps/developer/data-platform/webapi/create-update-column-definitions-using-web-api,
        https://learn.microsoft.com/dotnet/api/microsoft.xrm.sdk.messages.deleteattributerequest).
        A system column, or one an alternate key uses, is refused (*inferred* codes and wording)."""
        if not col.custom:
            raise DataverseError(400, E.INVALID_ARGUMENT, f"The attribute '{col.name}' is a system attribute and "
                                                          "cannot be deleted.")
        if any(col.name in k.attributes for k in t.keys.values()):
            raise DataverseError(400, E.INVALID_ARGUMENT, f"The attribute '{col.name}' cannot be deleted because it "
                                                          "is used by an alternate key.")
        with self.store.transaction() as txn:
            del t.columns[col.name]
            t.index()
            for row in self.store.rows[t.logical_name].values():
                row.pop(col.name, None)
            txn.meta_dirty = True
        return Resp(204)

    def _delete_table(self, ctx: Ctx, t: TableDef) -> Resp:
        """``DELETE EntityDefinitions(...)``: a custom table goes, with its rows (the SDK's DeleteEntityRequest:
        https://learn.microsoft.com/dotnet/api/microsoft.xrm.sdk.messages.deleteentityrequest);
        a system table is refused (*inferred* code and wording)."""
        if not t.custom:
            raise DataverseError(400, E.INVALID_ARGUMENT, f"The entity '{t.logical_name}' is a system entity and "
                                                          "cannot be deleted.")
        with self.store.transaction() as txn:
            for rid in list(self.store.rows[t.logical_name]):
                self._delete_cascading(ctx, t, rid)  # its rows go as deletes would take them
            store = self.store
            store.tables.pop(t.logical_name, None)
            store.by_set.pop(t.entity_set, None)
            store.indexes.pop(t.logical_name, None)
            txn.meta_dirty = True
        return Resp(204)

    def _create_key(self, ctx: Ctx, t: TableDef) -> Resp:
        body = parse_json_body(ctx.body)
        store = self.store
        if t.logical_name in ("systemuser", "team"):
            raise DataverseError(400, E.INVALID_ARGUMENT,
                                 f"Alternate keys cannot be defined for the entity '{t.logical_name}'.")  # *inferred*
        schema = body.get("SchemaName")
        attrs = body.get("KeyAttributes")
        if not isinstance(schema, str) or not schema:
            raise DataverseError(400, E.INVALID_ARGUMENT, "SchemaName is required.")
        if not isinstance(attrs, list) or not attrs:
            raise DataverseError(400, E.INVALID_ARGUMENT, "KeyAttributes is required.")
        store.check_prefix(schema, "EntityKey")
        with store.transaction() as txn:
            if schema.lower() in t.keys:
                raise E.key_name_exists(schema, t.logical_name)
            if len(t.keys) >= store.max_keys_per_table:
                raise DataverseError(400, E.INVALID_ARGUMENT,
                                     f"The entity '{t.logical_name}' already has the maximum number of keys "
                                     f"({store.max_keys_per_table}).")  # *inferred*
            if len(attrs) > 16:
                raise DataverseError(400, E.INVALID_ARGUMENT, "An entity key can have at most 16 attributes.")
            names = []
            for a in attrs:
                col = t.columns.get(str(a).lower())
                if col is None:
                    raise DataverseError(400, E.INVALID_ARGUMENT,
                                         f"Attribute '{a}' does not exist on entity '{t.logical_name}'.")
                if col.type not in KEYABLE_TYPES:
                    raise DataverseError(400, E.INVALID_ARGUMENT,
                                         f"Attribute '{a}' of type {col.type} cannot be part of an entity key.")
                names.append(col.name)
            if any(set(k.attributes) == set(names) for k in t.keys.values()):
                raise E.key_attributes_exist()
            key = KeyDef(schema, schema.lower(), tuple(names), label_text(body.get("DisplayName")) or schema,
                         status="Pending", activate_at=time.monotonic() + store.key_activation_delay)
            t.keys[key.logical_name] = key
            t.settling = True
            txn.meta_dirty = True
        if store.key_activation_delay <= 0:
            store.refresh_keys(t)
        url = f"{ctx.api}EntityDefinitions({t.metadata_id})/Keys({key.metadata_id})"
        return Resp(204, [("OData-EntityId", url)])

    def _create_table(self, ctx: Ctx) -> Resp:
        body = parse_json_body(ctx.body)
        store = self.store
        schema = body.get("SchemaName")
        if not isinstance(schema, str) or not schema:
            raise DataverseError(400, E.INVALID_ARGUMENT, "SchemaName is required.")
        store.check_prefix(schema, "Entity")
        logical = schema.lower()
        attrs = body.get("Attributes") or []
        primary = [a for a in attrs if isinstance(a, dict) and a.get("IsPrimaryName")]
        if len(primary) != 1:
            raise DataverseError(400, E.INVALID_ARGUMENT,
                                 "A table must be created with exactly one String attribute with IsPrimaryName "
                                 "set to true.")  # *inferred*
        with store.transaction() as txn:
            if logical in store.tables:
                raise E.schema_name_not_unique(schema, "Entity")
            n_custom = sum(1 for t in store.tables.values() if t.custom)
            if store.custom_table_limit is not None and n_custom >= store.custom_table_limit:
                # *inferred*: the license limit is contractual; the emulator enforces it as an error.
                raise DataverseError(400, E.INVALID_ARGUMENT,
                                     f"Cannot create table '{logical}': this environment's license (Dynamics 365 "
                                     f"Sales Professional) allows at most {store.custom_table_limit} custom tables.")
            prim = self._column_from_metadata(primary[0], None)
            if prim.type != STRING:
                raise DataverseError(400, E.INVALID_ARGUMENT, "The primary name attribute must be a String.")
            ownership = body.get("OwnershipType") or "UserOwned"
            t = custom_table(schema, label_text(body.get("DisplayName")) or schema, prim, ownership)
            store.add_table(t)
            for a in attrs:
                if a is primary[0]:
                    continue
                col = self._column_from_metadata(a, t)
                t.columns[col.name] = col
            t.index()
            # HasActivities / HasNotes create the relationships that let activities (regardingobjectid)
            # and notes (objectid) point at rows of the new table, as in Dataverse.
            links = []
            if body.get("HasActivities"):
                links += [(a, "regardingobjectid", [f"regardingobjectid_{logical}_{a.logical_name}",
                                                     f"regardingobjectid_{logical}"])
                          for a in store.tables.values() if a.is_activity and "regardingobjectid" in a.columns]
            if body.get("HasNotes") and "annotation" in store.tables:
                links.append((store.tables["annotation"], "objectid", [f"objectid_{logical}"]))
            for other, column, navs in links:
                col = other.columns[column]
                col.targets = tuple(col.targets or ()) + (logical,)
                col.navs = {**col.navs, **{n: logical for n in navs}}
                other.index()
            txn.meta_dirty = True
        return Resp(204, [("OData-EntityId", f"{ctx.api}EntityDefinitions({t.metadata_id})")])


# --- helpers ----------------------------------------------------------------------------------------

def _int_param(q: dict, name: str) -> int | None:
    if name not in q:
        return None
    try:
        v = int(q[name])
        if v < 0:
            raise ValueError
        return v
    except ValueError:
        raise DataverseError(400, E.ZERO, f"Invalid value '{q[name]}' for {name} query option found. "
                                          f"The {name} query option requires a non-negative integer value.") from None


def _sort_key(v: Any):
    if v is None:
        return (0, "")
    if isinstance(v, list):
        return (1, v[1])
    if isinstance(v, str):
        return (1, v.lower())
    if isinstance(v, bool):
        return (1, int(v))
    return (1, v)


def _parse_expand(text: str | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    if not text:
        return out
    depth, cur, parts = 0, "", []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for p in parts:
        p = p.strip()
        m = re.match(r"^(\w+)(?:\((.*)\))?$", p)
        if not m:
            continue
        inner = m.group(2) or ""
        sm = re.search(r"\$select=([^;)]*)", inner)
        out[m.group(1)] = sm.group(1) if sm else None
    return out


def _select_meta(d: dict, select: str | None, expanded=()) -> dict:
    """``$select`` on metadata; what ``$expand`` asked for stays, as OData has it (``$select=LogicalName&
    $expand=OptionSet`` answers the option set: the Picklist example of
    https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api)."""
    if not select:
        return d
    names = {s.strip() for s in select.split(",")} | set(expanded)
    names |= {"MetadataId", "@odata.type"}
    return {k: v for k, v in d.items() if k in names}


# --- seeding ----------------------------------------------------------------------------------------

DEFAULT_SEED = {
    "transactioncurrencies": [
        {"transactioncurrencyid": "b0b1a0e2-0000-4000-8000-000000000978", "isocurrencycode": "EUR",
         "currencyname": "Euro", "currencysymbol": "€", "exchangerate": 1.0, "currencyprecision": 2},
        {"transactioncurrencyid": "b0b1a0e2-0000-4000-8000-000000000036", "isocurrencycode": "AUD",
         "currencyname": "Australian Dollar", "currencysymbol": "A$", "exchangerate": 1.65,
         "currencyprecision": 2},
    ],
    # its base unit "Primary Unit" is created with it, as the platform does (emulators/dataverse/sales.py)
    "uomschedules": [{"uomscheduleid": "c0c1a0e2-0000-4000-8000-000000000001", "name": "Default Unit",
                      "baseuomname": "Primary Unit"}],
    "systemusers": [{"systemuserid": MIGRATION_APP_USER_ID, "fullname": "# migration-app",
                     "internalemailaddress": "migration-app@emulator.invalid", "accessmode": 4,
                     "applicationid": "00000000-0000-4000-8000-00000000a001", "isdisabled": False}],
}


def apply_seed(core: DataverseCore, seed: dict, base: str = "https://emulator.invalid") -> None:
    store = core.store
    for set_name, rows in seed.items():
        table = store.table_for_set(set_name)
        if table is None:
            raise ValueError(f"seed: unknown entity set '{set_name}'")
        ctx = Ctx("POST", set_name, {}, {}, b"", base)
        for row in rows:
            with store.transaction():
                values = store.prepare(table, row, creating=True, resolve_bind=core.binder(ctx, table), trusted=True)
                rid = row.get(table.primary_id)
                if rid and store.find_id(table, rid.lower()):
                    store.update(table, rid.lower(), values)
                else:
                    store.create(table, values, rid=rid)


# --- Starlette app ----------------------------------------------------------------------------------

def create_core_app(*, db: str | None = None, seed: dict | None = None, key_activation_delay: float = 0.2,
                    custom_table_limit: int | None = 15, publisher_prefixes: tuple[str, ...] = ("wtc", "w4a", "new"),
                    resolved_case_updates: bool = True) -> Starlette:
    """The Dataverse Web API core (no auth, no throttling): `/api/data/v9.2/...`.

    db: None -> in memory; a file path -> SQLite file (a later app on the same file serves the data).
    seed: {"<entity set>": [rows...]} added after the defaults (EUR/AUD, Default Unit/Primary Unit,
    the `# migration-app` application user).
    """
    store = Store(db, key_activation_delay=key_activation_delay, custom_table_limit=custom_table_limit,
                  publisher_prefixes=publisher_prefixes, resolved_case_updates=resolved_case_updates)
    core = DataverseCore(store)
    if not store.has_rows():
        apply_seed(core, DEFAULT_SEED)
    if seed:
        apply_seed(core, seed)

    async def endpoint(request: Request) -> Response:
        path = request.scope["path"]
        rel = path[len(API_PREFIX):] if path.startswith(API_PREFIX) else ""
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        host = headers.get("host", "localhost")
        ctx = Ctx(request.method, rel, dict(request.query_params), headers, body,
                  f"{request.url.scheme}://{host}")
        resp = core.dispatch(ctx)
        request.state.dv_kind = ctx.kind
        request.state.dv_requests = getattr(ctx, "batch_parts", 1) or 1
        request.state.dv_records = ctx.records
        out_headers = dict(resp.headers)
        out_headers["OData-Version"] = "4.0"
        return Response(resp.body if resp.body is not None else b"", status_code=resp.status,
                        headers=out_headers)

    app = Starlette(routes=[Route("/api/data/v9.2/{path:path}", endpoint,
                                  methods=["GET", "POST", "PATCH", "DELETE", "PUT"])])
    app.state.dataverse = core
    app.state.store = store
    return app


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
