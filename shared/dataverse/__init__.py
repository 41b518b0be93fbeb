"""The one Dataverse client: auth, retries, throttling, bulk upsert, schema (see docs/ARCHITECTURE.md)."""

from .client import (
    BatchOperation,
    BatchResult,
    ClientMetrics,
    DataverseClient,
    DataverseError,
    DataverseTransientError,
)
from .keys import decode_key, encode_key, key_ref, key_segment
from .loader import LoadStats, RowOutcome, TableRef, delete_rows, upsert_rows
from .schema import (
    ColumnSpec,
    SchemaConflict,
    SchemaError,
    SchemaReport,
    ensure_alternate_key,
    ensure_columns,
    ensure_lookup,
    ensure_table,
    picklist_options,
    table_exists,
)
from .settings import DataverseSettings, IdentitySettings

__all__ = [
    "BatchOperation", "BatchResult", "ClientMetrics", "DataverseClient", "DataverseError",
    "DataverseTransientError", "decode_key", "encode_key", "key_ref", "key_segment", "LoadStats",
    "RowOutcome", "TableRef", "delete_rows", "upsert_rows", "ColumnSpec", "SchemaConflict", "SchemaError",
    "SchemaReport", "ensure_alternate_key", "ensure_columns", "ensure_lookup", "ensure_table", "picklist_options",
    "table_exists",
    "DataverseSettings", "IdentitySettings",
]
