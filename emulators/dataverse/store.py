"""Record store of the Dataverse emulator: in-memory rows with per-key indexes, optional SQLite file.

* Rows live in dicts (`rows[logical][id] -> {column: value}`); lookups are stored as `[table, id]`.
* Every Active alternate key has a unique index `{normalised key tuple: id}` (case-insensitive, as
  SQL Server's default collation compares strings).
* Writes run inside a `Transaction` (re-entrant per thread, one `threading.RLock`): an undo log
  restores rows and indexes when anything fails, which gives all-or-nothing *Multiple requests and
  $batch change sets. When `db` is a file path, committed rows and metadata are written to SQLite so a
  later emulator started on the same file serves them again.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sqlite3
import threading
import time
import uuid
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from . import errors as E
from . import sales
from .errors import DataverseError
from .odata import GUID_RE, normalize_datetime
from .schema import (BOOLEAN, CUSTOMER, DATETIME, DECIMAL, DOUBLE, INTEGER, LOOKUP_TYPES, MEMO, MONEY, OWNER,
                     PICKLIST, STATE, STATE_MODEL_OF, DEFAULT_STATUS, STATUS, STRING, SYS_REQUIRED, UNIQUEID,
                     Column, KeyDef, TableDef, build_tables, custom_table)

ANNOTATION_MAX_BYTES = 5 * 1024 * 1024       # default "Maximum file size" for notes (5 MB)
MIGRATION_APP_USER_ID = "7e6d8f4c-0c0a-4b5e-9a57-6f0d1b2c3a01"
BUSINESS_UNIT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
ORGANIZATION_ID = "5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f"


_NOW_CACHE: list = [0, ""]


def now_iso() -> str:
    t = int(time.time())
    if _NOW_CACHE[0] != t:
        _NOW_CACHE[0] = t
        _NOW_CACHE[1] = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return _NOW_CACHE[1]


def _key_norm(v: Any) -> Any:
    if isinstance(v, str):
        return v.lower()
    if isinstance(v, list):
        return v[1]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


class Transaction:
    def __init__(self) -> None:
        self.undo: list[tuple[TableDef, str, dict | None]] = []
        self.dirty: dict[tuple[str, str], dict | None] = {}
        self.records = 0
        self.meta_dirty = False


class Store:
    def __init__(self, db: str | None = None, *, key_activation_delay: float = 0.2,
                 custom_table_limit: int | None = 15, publisher_prefixes: tuple[str, ...] = ("wtc", "w4a", "new"),
                 max_keys_per_table: int = 10, resolved_case_updates: bool = True) -> None:
        self.lock = threading.RLock()
        #: Customer Service's "Case update after resolution": API updates of resolved and canceled cases
        #: are allowed by default (learn.microsoft.com/dynamics365/customer-service/administer/
        #: update-resolved-canceled-cases); False = "Don't allow updates"
        self.resolved_case_updates = resolved_case_updates
        self._local = threading.local()
        self.tables: dict[str, TableDef] = build_tables()
        self.relationships: dict[str, dict] = {}  # lower-case SchemaName -> RelationshipDefinitions row
        self.by_set: dict[str, TableDef] = {t.entity_set: t for t in self.tables.values()}
        self.rows: dict[str, dict[str, dict]] = {name: {} for name in self.tables}
        self.indexes: dict[str, dict[str, dict[tuple, str]]] = {name: {} for name in self.tables}
        self.key_activation_delay = key_activation_delay
        self.custom_table_limit = custom_table_limit
        self.publisher_prefixes = tuple(p.lower() for p in publisher_prefixes)
        self.max_keys_per_table = max_keys_per_table
        self.caller_id = MIGRATION_APP_USER_ID
        self._version = int(time.time() * 1000) % 10_000_000 * 100
        self.db_path = db
        self._db: sqlite3.Connection | None = None
        if db:
            self._db = sqlite3.connect(db, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
            self._db.execute("CREATE TABLE IF NOT EXISTS rows (tbl TEXT NOT NULL, id TEXT NOT NULL, "
                             "data TEXT NOT NULL, PRIMARY KEY (tbl, id))")
            self._load()

    # --- tables ---------------------------------------------------------------------------------
    def table_for_set(self, entity_set: str) -> TableDef | None:
        return self.by_set.get(entity_set)

    def add_table(self, table: TableDef) -> None:
        self.tables[table.logical_name] = table
        self.by_set[table.entity_set] = table
        self.rows.setdefault(table.logical_name, {})
        self.indexes.setdefault(table.logical_name, {})

    # --- transactions ---------------------------------------------------------------------------
    def transaction(self) -> "_TxnContext":
        return _TxnContext(self)

    @property
    def txn(self) -> Transaction:
        t = getattr(self._local, "txn", None)
        if t is None:
            raise RuntimeError("write outside a transaction")
        return t

    def _rollback(self, txn: Transaction) -> None:
        for table, rid, old in reversed(txn.undo):
            cur = self.rows[table.logical_name].get(rid)
            self._unindex(table, rid, cur)
            if old is None:
                self.rows[table.logical_name].pop(rid, None)
            else:
                self.rows[table.logical_name][rid] = old
                self._index(table, rid, old)

    def _commit(self, txn: Transaction) -> None:
        if self._db is None:
            return
        puts = [(tbl, rid, json.dumps(row, separators=(",", ":"))) for (tbl, rid), row in txn.dirty.items()
                if row is not None]
        dels = [(tbl, rid) for (tbl, rid), row in txn.dirty.items() if row is None]
        if not puts and not dels and not txn.meta_dirty:
            return
        cur = self._db.cursor()
        cur.execute("BEGIN")
        if puts:
            cur.executemany("INSERT OR REPLACE INTO rows (tbl, id, data) VALUES (?, ?, ?)", puts)
        if dels:
            cur.executemany("DELETE FROM rows WHERE tbl = ? AND id = ?", dels)
        if txn.meta_dirty:
            cur.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('schema', ?)", (json.dumps(self._dump_meta()),))
        cur.execute("COMMIT")

    # --- persistence of metadata ------------------------------------------------------------------
    def _dump_meta(self) -> dict:
        out: dict[str, Any] = {"custom_tables": [], "custom_columns": [], "keys": []}
        for t in self.tables.values():
            if t.custom:
                out["custom_tables"].append({"schema_name": t.schema_name, "display": t.display_name,
                                             "ownership": t.ownership,
                                             "primary": asdict(t.columns[t.primary_name]),
                                             "metadata_id": t.metadata_id})
            for c in t.columns.values():
                if c.custom and not c.primary_name:
                    out["custom_columns"].append({"table": t.logical_name, "column": asdict(c)})
            for k in t.keys.values():
                out["keys"].append({"table": t.logical_name, "key": asdict(k)})
        return out

    def _load(self) -> None:
        assert self._db is not None
        row = self._db.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()
        if row:
            meta = json.loads(row[0])
            for ct in meta["custom_tables"]:
                prim = _column_from_dict(ct["primary"])
                t = custom_table(ct["schema_name"], ct["display"], prim, ct["ownership"])
                t.metadata_id = ct["metadata_id"]
                self.add_table(t)
            for cc in meta["custom_columns"]:
                t = self.tables[cc["table"]]
                col = _column_from_dict(cc["column"])
                t.columns[col.name] = col
                t.index()
            for kk in meta["keys"]:
                k = kk["key"]
                k["attributes"] = tuple(k["attributes"])
                self.tables[kk["table"]].keys[k["logical_name"]] = KeyDef(**k)
        for tbl, rid, data in self._db.execute("SELECT tbl, id, data FROM rows"):
            if tbl in self.rows:
                self.rows[tbl][rid] = json.loads(data)
        for t in self.tables.values():
            for k in t.keys.values():
                if k.status == "Active":
                    self._build_key_index(t, k)
                elif k.status in ("Pending", "InProgress"):
                    k.activate_at = 0.0   # monotonic clocks differ between processes: finish the job now
                    t.settling = True
            t.active = [k for k in t.keys.values() if k.status == "Active"]

    def has_rows(self) -> bool:
        return any(self.rows.values())

    # --- keys -----------------------------------------------------------------------------------
    def refresh_keys(self, table: TableDef) -> None:
        """Advance keys whose (simulated) index job has finished: Pending -> Active | Failed."""
        if not table.settling:
            return
        now = time.monotonic()
        settling = False
        for key in table.keys.values():
            if key.status in ("Pending", "InProgress") and now >= key.activate_at:
                if not self._build_key_index(table, key):
                    key.status = "Failed"
                else:
                    key.status = "Active"
                self._persist_meta()
            elif key.status in ("Pending", "InProgress"):
                settling = True
                if now >= key.activate_at - self.key_activation_delay / 2:
                    key.status = "InProgress"
        table.settling = settling
        table.active = [k for k in table.keys.values() if k.status == "Active"]

    def _persist_meta(self) -> None:
        if self._db is not None:
            self._db.execute("INSERT OR REPLACE INTO meta (k, v) VALUES ('schema', ?)",
                             (json.dumps(self._dump_meta()),))

    def _build_key_index(self, table: TableDef, key: KeyDef) -> bool:
        idx: dict[tuple, str] = {}
        for rid, row in self.rows[table.logical_name].items():
            kt = self._key_tuple(key, row)
            if kt is None:
                continue
            if kt in idx:
                return False
            idx[kt] = rid
        self.indexes[table.logical_name][key.logical_name] = idx
        return True

    @staticmethod
    def _key_tuple(key: KeyDef, row: dict) -> tuple | None:
        if len(key.attributes) == 1:
            v = row.get(key.attributes[0])
            if v is None:
                return None
            return (v.lower(),) if v.__class__ is str else (_key_norm(v),)
        vals = []
        for a in key.attributes:
            v = row.get(a)
            if v is None:
                return None
            vals.append(_key_norm(v))
        return tuple(vals)

    def active_keys(self, table: TableDef) -> list[KeyDef]:
        if table.settling:
            self.refresh_keys(table)
        return table.active

    def find_key(self, table: TableDef, names: set[str]) -> KeyDef:
        self.refresh_keys(table)
        for k in table.keys.values():
            if set(k.attributes) == names:
                if k.status != "Active":
                    # *inferred*: an index that is not built yet is not usable for addressing.
                    raise DataverseError(400, E.ZERO,
                                         f"The alternate key '{k.schema_name}' of entity '{table.logical_name}' "
                                         f"cannot be used: its index status is {k.status}.")
                return k
        raise DataverseError(400, E.ZERO,
                             f"Invalid key: the key attributes ({', '.join(sorted(names))}) provided in the URL do "
                             f"not match any alternate key defined for entity '{table.logical_name}'.")

    def _index(self, table: TableDef, rid: str, row: dict | None) -> None:
        if row is None or not table.keys:
            return
        idxs = self.indexes[table.logical_name]
        for key in table.keys.values():
            idx = idxs.get(key.logical_name)
            if idx is None or key.status != "Active":
                continue
            kt = self._key_tuple(key, row)
            if kt is not None:
                idx[kt] = rid

    def _unindex(self, table: TableDef, rid: str, row: dict | None) -> None:
        if row is None or not table.keys:
            return
        idxs = self.indexes[table.logical_name]
        for key in table.keys.values():
            idx = idxs.get(key.logical_name)
            if idx is None:
                continue
            kt = self._key_tuple(key, row)
            if kt is not None and idx.get(kt) == rid:
                del idx[kt]

    # --- addressing -----------------------------------------------------------------------------
    def find_id(self, table: TableDef, ref: str | dict) -> str | None:
        """A GUID or a key dict -> the record id, or None when there is no such record."""
        if isinstance(ref, str):
            return ref if ref in self.rows[table.logical_name] else None
        if table.primary_id in ref and len(ref) == 1:
            v = ref[table.primary_id]
            return v if isinstance(v, str) and v in self.rows[table.logical_name] else None
        if table.logical_name in ("systemuser", "team"):
            raise DataverseError(400, E.ZERO,
                                 f"Alternate keys are not supported for the entity '{table.logical_name}'.")
        if len(ref) == 1 and not table.settling:
            ((name, value),) = ref.items()
            for key in table.active:
                if key.attributes == (name,):
                    return self.indexes[table.logical_name][key.logical_name].get((_key_norm(value),))
        for name in ref:
            if name not in table.columns:
                raise E.unknown_select(name, table.logical_name)
        key = self.find_key(table, set(ref))
        kt = tuple(_key_norm(ref[a]) for a in key.attributes)
        return self.indexes[table.logical_name][key.logical_name].get(kt)

    def require_id(self, table: TableDef, ref: str | dict) -> str:
        rid = self.find_id(table, ref)
        if rid is None:
            if isinstance(ref, str):
                raise E.not_found(table.logical_name, ref)
            raise E.key_not_found(table.logical_name)
        return rid

    # --- validation -----------------------------------------------------------------------------
    def prepare(self, table: TableDef, body: dict, *, creating: bool, resolve_bind, trusted: bool = False,
                existing: dict | None = None) -> dict:
        """Validate a JSON payload into stored values (raises DataverseError as Dataverse would)."""
        values: dict[str, Any] = {}
        cols = table.columns
        logical = table.logical_name
        writers = table.writers
        if writers is None:
            writers = table.writers = {c.name: (_CONVERTERS[c.type], c) for c in cols.values()
                                       if c.type in _CONVERTERS and not c.read_only and c.type != UNIQUEID}
        for name, value in body.items():
            w = writers.get(name)
            if w is not None:
                values[name] = w[0](w[1], logical, value)
                continue
            if name[0] == "@":
                continue
            at = name.find("@")
            if at > 0:
                if name.endswith("@odata.bind"):
                    nav = name[:at]
                    target = table.navs.get(nav)
                    if target is None:
                        raise E.undeclared_nav(nav)
                    col_name, target_table = target
                    if value is None:
                        values[col_name] = None
                        continue
                    values[col_name] = resolve_bind(nav, target_table, value)
                    continue
                continue  # other instance annotations are ignored
            col = cols.get(name)
            if col is None:
                raise E.unknown_property(name, logical)
            if col.type in LOOKUP_TYPES or col.type == UNIQUEID and not col.is_primary_id:
                if name in table.navs:
                    raise DataverseError(400, E.ZERO,
                                         "A 'PrimitiveValue' node with non-null value was found when trying to read "
                                         "the value of a navigation property; however, a 'StartArray' node, a "
                                         "'StartObject' node, or a 'PrimitiveValue' node with null value was expected.")
                raise E.unknown_property(name, logical)
            if col.read_only and not trusted:
                continue  # the platform ignores values for columns not valid for create/update
            conv = _CONVERTERS[col.type]
            values[name] = conv(col, logical, value)
        # system-required columns
        if creating:
            self.check_required(table, values)
        else:
            for name, v in values.items():
                if v is None and cols[name].required == SYS_REQUIRED:
                    raise _missing(table, cols[name])
        self._check_state(table, values, creating, existing)
        sales.check_write(self, table, values, existing)
        if logical == "annotation" and "documentbody" in values:
            body_b64 = values["documentbody"]
            if body_b64:
                try:
                    size = len(base64.b64decode(body_b64, validate=True))
                except (binascii.Error, ValueError):
                    raise DataverseError(400, E.ZERO, "The value of documentbody is not valid Base64.")  # *inferred*
                if size > ANNOTATION_MAX_BYTES:
                    raise DataverseError(400, "0x80043e09", "The attachment is either not a valid type or is too "
                                                            "large. It cannot be uploaded or downloaded.")
                values["filesize"] = size
                values["isdocument"] = True
        return values

    def check_required(self, table: TableDef, values: dict) -> None:
        for col in table.sys_required:
            if values.get(col.name) is None:
                raise _missing(table, col)

    def _check_closed(self, table: TableDef, values: dict, existing: dict | None) -> None:
        """Closed records are read-only; SetState (statecode/statuscode alone) still reopens them."""
        logical = table.logical_name
        if logical == "invoicedetail":  # a line is part of its invoice
            ref = values.get("invoiceid") or (existing or {}).get("invoiceid")
            invoice = self.rows["invoice"].get(ref[1]) if ref else None
            if invoice and invoice.get("statecode") != 0:
                raise E.closed_read_only("invoice", invoice["statecode"])
            return
        if existing is None or existing.get("statecode") in (None, 0) or not set(values) - {"statecode", "statuscode"}:
            return
        if logical == "incident" and not self.resolved_case_updates:
            raise DataverseError(400, E.CASE_ALREADY_RESOLVED, E.CASE_ALREADY_RESOLVED_MESSAGE)
        if logical in E.READ_ONLY_WHEN_CLOSED:
            raise E.closed_read_only(logical, existing["statecode"])

    def _check_state(self, table: TableDef, values: dict, creating: bool, existing: dict | None) -> None:
        self._check_closed(table, values, existing)
        if "statecode" not in values and "statuscode" not in values:
            return
        state_col, status_col = table.columns.get("statecode"), table.columns.get("statuscode")
        if state_col is None:
            return
        state = values.get("statecode")
        status = values.get("statuscode")
        if state is None and status is not None and status_col is not None and status_col.status_state:
            state = status_col.status_state.get(status)
        if state is not None and status is not None and status_col is not None and status_col.status_state:
            if status_col.status_state.get(status) != state:
                label = state_col.options.get(state, state)
                raise DataverseError(400, E.INVALID_ARGUMENT,
                                     f"{status} is not a valid status code for state code "
                                     f"{table.logical_name.capitalize()}State.{label} on {table.logical_name}"
                                     + (f" with Id {existing.get(table.primary_id)}." if existing else "."))
        logical = table.logical_name
        if logical == "opportunity" and state in (1, 2):
            raise E.set_state_refused("opportunity", "won" if state == 1 else "lost",
                                      "won" if state == 1 else "lose")
        if logical == "incident" and state == 1:
            raise E.set_state_refused("incident", "Resolved", "CloseIncidentRequest")
        if state is not None:
            values["statecode"] = state
            if status is None:
                model = STATE_MODEL_OF.get(logical) or "default"
                values["statuscode"] = DEFAULT_STATUS.get(model, {}).get(state)

    # --- writes (inside a transaction) -------------------------------------------------------------
    def _put(self, table: TableDef, rid: str, row: dict) -> None:
        txn = self.txn
        rows = self.rows[table.logical_name]
        old = rows.get(rid)
        if table.keys:
            for key in self.active_keys(table):
                kt = self._key_tuple(key, row)
                if kt is None:
                    continue
                holder = self.indexes[table.logical_name][key.logical_name].get(kt)
                if holder is not None and holder != rid:
                    raise E.duplicate_entity_key(key.schema_name, list(key.attributes))
            self._unindex(table, rid, old)
        txn.undo.append((table, rid, old))
        rows[rid] = row
        self._index(table, rid, row)
        txn.dirty[(table.logical_name, rid)] = row
        txn.records += 1

    def _computed(self, table: TableDef, row: dict) -> None:
        logical = table.logical_name
        if logical in ("contact", "lead") or (logical == "systemuser" and ("firstname" in row or "lastname" in row)):
            full = " ".join(p for p in (row.get("firstname"), row.get("lastname")) if p)
            if full or logical != "systemuser":
                row["fullname"] = full or None
        elif logical == "opportunityproduct":
            row["opportunityproductname"] = row.get("productdescription")

    def create(self, table: TableDef, values: dict, rid: str | None = None) -> str:
        rows = self.rows[table.logical_name]
        rid = (rid or values.get(table.primary_id) or str(uuid.uuid4())).lower()
        if rid in rows:
            raise E.duplicate_primary_key()
        now = now_iso()
        row: dict[str, Any] = {}
        row.update(values)
        row[table.primary_id] = rid
        cols = table.columns
        if "ownerid" in cols and row.get("ownerid") is None:
            row["ownerid"] = ["systemuser", self.caller_id]
        if "statecode" in cols and row.get("statecode") is None:
            row["statecode"] = state = sales.created_state(table.logical_name)  # products start as Draft
            model = STATE_MODEL_OF.get(table.logical_name) or "default"
            row["statuscode"] = row.get("statuscode") or DEFAULT_STATUS.get(model, {}).get(state)
        row["createdon"] = row.get("overriddencreatedon") or now
        row["modifiedon"] = now
        row["createdby"] = ["systemuser", self.caller_id]
        row["modifiedby"] = ["systemuser", self.caller_id]
        if table.is_activity:
            row["activitytypecode"] = table.logical_name
        if table.logical_name == "annotation" and row.get("objectid"):
            row["objecttypecode"] = row["objectid"][0]
        self._computed(table, row)
        self._version += 1
        row["versionnumber"] = self._version
        self._put(table, rid, row)
        sales.after_create(self, table, rid, row)
        return rid

    def update(self, table: TableDef, rid: str, values: dict) -> None:
        old = self.rows[table.logical_name][rid]
        row = dict(old)
        row.update(values)
        row.pop(table.primary_id, None)
        row[table.primary_id] = rid
        row["modifiedon"] = now_iso()
        # overriddencreatedon only moves createdon on create (as the platform does)
        self._computed(table, row)
        self._version += 1
        row["versionnumber"] = self._version
        self._put(table, rid, row)

    def delete(self, table: TableDef, rid: str) -> None:
        txn = self.txn
        rows = self.rows[table.logical_name]
        old = rows.get(rid)
        if old is None:
            raise E.not_found(table.logical_name, rid)
        self._unindex(table, rid, old)
        txn.undo.append((table, rid, old))
        del rows[rid]
        txn.dirty[(table.logical_name, rid)] = None
        txn.records += 1

    # --- metadata writes ----------------------------------------------------------------------------
    def check_prefix(self, schema_name: str, kind: str) -> None:
        prefix, sep, rest = schema_name.partition("_")
        if not sep or not rest or prefix.lower() not in self.publisher_prefixes or not re.fullmatch(
                r"[A-Za-z][A-Za-z0-9]{1,7}", prefix) or prefix.lower() == "mscrm":
            # *inferred* wording; code of InvalidCustomizationPrefix-like validation.
            raise DataverseError(400, "0x80044331",
                                 f"The schema name {schema_name} for type {kind} is not prefixed with a valid "
                                 f"customization prefix. Valid prefixes: {', '.join(self.publisher_prefixes)}.")


class _TxnContext:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.outer = False

    def __enter__(self) -> Transaction:
        st = self.store
        st.lock.acquire()
        cur = getattr(st._local, "txn", None)
        if cur is None:
            self.outer = True
            cur = Transaction()
            st._local.txn = cur
        return cur

    def __exit__(self, exc_type, exc, tb) -> bool:
        st = self.store
        try:
            if self.outer:
                txn = st._local.txn
                st._local.txn = None
                if exc_type is not None:
                    st._rollback(txn)
                else:
                    st._commit(txn)
        finally:
            st.lock.release()
        return False


def _missing(table: TableDef, col: Column) -> DataverseError:
    if table.logical_name == "incident" and col.name == "customerid":
        return DataverseError(400, E.INCIDENT_NO_CUSTOMER, "You should specify a parent contact or account.")
    return E.missing_required(col.name, table.logical_name)


def _column_from_dict(d: dict) -> Column:
    d = dict(d)
    for k in ("options", "status_state"):
        if d.get(k) is not None:
            d[k] = {int(a): b for a, b in d[k].items()}
    d["targets"] = tuple(d.get("targets") or ())
    return Column(**d)


# --- value converters (JSON value -> stored value) -------------------------------------------------

def _conv_string(col: Column, logical: str, v: Any) -> Any:
    if v is None:
        return None
    if not isinstance(v, str):
        raise E.bad_primitive("Edm.String")
    if col.max_length is not None and len(v) > col.max_length:
        raise E.too_long(col.name, logical, col.max_length)
    return v


def _conv_int(col: Column, logical: str, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise E.bad_literal(v, "Edm.Int32") if isinstance(v, str) else E.bad_primitive("Edm.Int32")
    if (col.min_value is not None and v < col.min_value) or (col.max_value is not None and v > col.max_value):
        raise E.number_out_of_range(col.name, logical, v, int(col.min_value), int(col.max_value))
    return v


def _conv_decimal(col: Column, logical: str, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise E.bad_literal(v, "Edm.Decimal") if isinstance(v, str) else E.bad_primitive("Edm.Decimal")
    if (col.min_value is not None and v < col.min_value) or (col.max_value is not None and v > col.max_value):
        raise E.number_out_of_range(col.name, logical, v, col.min_value, col.max_value)
    return round(float(v), col.precision if col.precision is not None else 10)


def _conv_double(col: Column, logical: str, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise E.bad_primitive("Edm.Double")
    return float(v)


def _conv_bool(col: Column, logical: str, v: Any) -> Any:
    if v is None:
        return None
    if not isinstance(v, bool):
        raise E.bad_primitive("Edm.Boolean")
    return v


def _conv_datetime(col: Column, logical: str, v: Any) -> Any:
    if v is None:
        return None
    edm = "Edm.Date" if col.date_only else "Edm.DateTimeOffset"
    if not isinstance(v, str):
        raise E.bad_primitive(edm)
    if col.date_only:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            raise E.bad_literal(v, edm)
        try:
            datetime.strptime(v, "%Y-%m-%d")
        except ValueError:
            raise E.bad_literal(v, edm) from None
        return v
    try:
        return normalize_datetime(v)
    except ValueError:
        raise E.bad_literal(v, edm) from None


def _conv_option(col: Column, logical: str, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise E.bad_literal(v, "Edm.Int32") if isinstance(v, str) else E.bad_primitive("Edm.Int32")
    if col.options is not None and v not in col.options:
        raise E.option_out_of_range(col.name, logical, v, sorted(col.options))
    return v


def _conv_uniqueid(col: Column, logical: str, v: Any) -> Any:
    if v is None:
        return None
    if not isinstance(v, str) or not GUID_RE.match(v):
        raise E.bad_literal(v, "Edm.Guid")
    return v.lower()


_CONVERTERS = {STRING: _conv_string, MEMO: _conv_string, INTEGER: _conv_int, DECIMAL: _conv_decimal,
               MONEY: _conv_decimal, DOUBLE: _conv_double, BOOLEAN: _conv_bool, DATETIME: _conv_datetime,
               PICKLIST: _conv_option, STATE: _conv_option, STATUS: _conv_option, UNIQUEID: _conv_uniqueid}
_ = (CUSTOMER, OWNER)
