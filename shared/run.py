"""The settings of one migration run: small, serialisable, free of secrets.

A :class:`RunConfig` travels through orchestrator history as a plain dict, so it holds locations
and options only. Credentials come from the environment (app settings / Key Vault references).
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, Field


class RunConfig(BaseModel):
    run_id: str
    source: str = "worketc-csv"  # see shared.objects.SOURCE_KINDS
    input: str  # export folder (CSV) or tenant URL (SOAP/GraphQL)
    target: str  # Dataverse environment URL, e.g. https://org.crm.dynamics.com
    staging: str  # folder path or Blob Storage connection string / container URL
    date_order: Literal["DMY", "MDY"] = "DMY"
    timezone: str = "Australia/Sydney"  # for source timestamps without an offset
    default_owner_email: str | None = None
    chunk_size: int = Field(5000, ge=1)
    only: list[str] | None = None  # restrict the run to these objects (and what they need)

    @property
    def prefix(self) -> str:
        return f"runs/{self.run_id}/"

    @staticmethod
    def derive_run_id(source: str, input: str, target: str) -> str:
        """A stable id for 'the same migration', so rerunning the same command resumes it."""
        digest = hashlib.sha256(f"{source}\n{input}\n{target}".encode()).hexdigest()[:12]
        return f"run-{digest}"
