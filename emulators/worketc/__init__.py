"""WORKetc SOAP 1.2 emulator over a CSV export folder (see app.py and schema.py)."""

from .app import DEFAULT_PASSWORD, Tenant, create_app
from .schema import NS, OPERATIONS, RECORD_TYPES, build_wsdl

__all__ = ["create_app", "Tenant", "DEFAULT_PASSWORD", "NS", "OPERATIONS", "RECORD_TYPES", "build_wsdl"]
