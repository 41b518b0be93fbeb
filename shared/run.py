"""The settings of one migration run: small, serialisable, free of secrets.

A :class:`RunConfig` travels through orchestrator history (every orchestration and activity input) as
a plain dict, so it holds locations and options only, never a credential: ``staging`` is a *reference*
(the name of the app setting / environment variable holding a connection string, a container URL for
identity-based access, or a local folder), resolved from the environment inside each activity
(:func:`shared.staging.open_staging`). Credentials come from the environment (app settings / Key
Vault references).

The field validators live on :class:`RunOptions`, which both ``RunConfig`` (CLI, activities) and the
HTTP request model (``shared.settings.StartRequest``) extend, so a bad value is refused with the same
message wherever it comes from. Models hide input values in their errors (``hide_input_in_errors``):
a validation error names the field and the problem, never the value, which might be a secret.
"""

from __future__ import annotations

import hashlib
import re
import zoneinfo
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from .objects import SOURCE_KINDS, catalogue
from .settings import SETTING_NAME, absolute_folder, holds_secret, https_url

#: run ids name a staging folder and the Durable instance: lower-case letters, digits and dashes only
#: (no ``/``, ``..`` or ``:``), 2 to 63 characters
RUN_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
#: a chunk is one activity: below the minimum a big export floods Durable history with activities,
#: above the maximum one activity holds too many rows in memory and runs past its timeout
CHUNK_SIZE_MIN, CHUNK_SIZE_MAX = 10, 50_000


def _source_kind(value: str) -> str:
    if value not in SOURCE_KINDS:
        raise ValueError(f"unknown source kind; use one of {', '.join(sorted(SOURCE_KINDS))}")
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("not an IANA time zone (e.g. Australia/Sydney, Europe/Berlin, UTC)") from None
    return value


def _email(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ValueError("not an e-mail address")
    return value


def _no_secret(value: str) -> str:
    if holds_secret(value):
        raise ValueError("holds a secret; secrets come from app settings / environment variables only")
    return value


def _staging_reference(value: str) -> str:
    """A setting name, an https container URL or an absolute folder; never a connection string."""
    value = value.strip()
    if SETTING_NAME.match(value) or value.lower().startswith("file:"):
        return value
    if ";" in value and "=" in value:
        raise ValueError("is a connection string, which would be copied into every orchestration and activity "
                         "input: put it in an app setting / environment variable (e.g. STAGING_CONNECTION) "
                         "and give that setting's name")
    return https_url(value) if "://" in value else absolute_folder(value)


#: the time zone of a catalogue's source timestamps when the run names none (others: Australia/Sydney)
SOURCE_TIMEZONES = {"work4all": "Europe/Berlin"}

RunId = Annotated[str, Field(pattern=RUN_ID_PATTERN)]
SourceKind = Annotated[str, AfterValidator(_source_kind)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
ChunkSize = Annotated[int, Field(ge=CHUNK_SIZE_MIN, le=CHUNK_SIZE_MAX)]
Email = Annotated[str | None, AfterValidator(_email)]


class RunOptions(BaseModel):
    """How a run reads and writes, validated the same way at the HTTP boundary and in the CLI."""

    model_config = ConfigDict(hide_input_in_errors=True)

    source: SourceKind = "worketc-csv"
    date_order: Literal["DMY", "MDY"] = "DMY"
    timezone: TimeZone = "Australia/Sydney"  # for source timestamps without an offset
    default_owner_email: Email = None
    chunk_size: ChunkSize = 5000
    only: list[str] | None = None  # restrict the run to these objects (and what they need)
    skip: list[str] = []  # leave these objects out (and what depends on them)
    take_over: bool = False  # take the run's lease from a holder that is known to be dead
    #: stage a connected sample of at most this many rows per records object (None: everything); see
    #: shared/steps/extract.py. A sample run is a run of its own: its id differs (derive_run_id)
    sample: Annotated[int, Field(ge=1)] | None = None
    #: approve the proposed map without a person (the demo); the run's status and report say so
    auto_approve: bool = False
    #: owners without an active Dynamics 365 user: "wait" at the owner gate until the administrator
    #: provisions them (or says to use the default owner), or "use-default" owner from the start
    owners: Literal["wait", "use-default"] = "wait"
    #: how long the run waits for the map's approval before it ends approval_expired, having moved
    #: nothing (MAP_APPROVAL_DEADLINE_HOURS; 7 days by default)
    approval_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 168
    #: a later pass (a rerun, a delta sync) deactivates the records whose source row is gone
    #: (SetState statecode 1 where the table has an Inactive state: shared/steps/delta.py); else they are
    #: only reported ``deleted_in_source``
    deactivate_deleted: bool = False

    @model_validator(mode="before")
    @classmethod
    def _source_timezone(cls, data):
        """A source's own clock when the run names no time zone: work4all is German (Europe/Berlin)."""
        if isinstance(data, dict) and data.get("timezone") is None:
            data = {k: v for k, v in data.items() if k != "timezone"}
            zone = SOURCE_TIMEZONES.get(SOURCE_KINDS.get(str(data.get("source") or "worketc-csv"), ""))
            if zone:
                data["timezone"] = zone
        return data

    @field_validator("only", "skip")
    @classmethod
    def _known_objects(cls, names: list[str] | None, info: ValidationInfo) -> list[str] | None:
        if names is None or "source" not in info.data:  # a bad source is reported on its own
            return names
        if info.field_name == "only" and not names:
            raise ValueError("give at least one object, or leave the field out for all of them")
        known = catalogue(info.data["source"])
        if unknown := [name for name in names if name not in known]:
            raise ValueError(f"unknown object(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}")
        return names


class RunConfig(RunOptions):
    run_id: RunId
    input: Annotated[str, Field(min_length=1), AfterValidator(_no_secret)]  # export folder or WSDL URL
    target: Annotated[str, AfterValidator(https_url)]  # Dataverse environment URL, https://org.crm.dynamics.com
    staging: Annotated[str, AfterValidator(_staging_reference)]  # see the module docstring

    #: which pass of the migration this is: 1 is the first, each rerun of a completed run and each delta
    #: sync is the next (shared/steps/delta.py); a pass stages under its own prefix and loads only what
    #: changed since the pass before it
    pass_no: Annotated[int, Field(ge=1)] = 1
    #: a delta sync (timer, HTTP route, ``cli delta``) rather than a rerun of the same command
    delta: bool = False
    #: a delta sync's final run with the source frozen: ``{"by", "at"}``; it ends with a certificate
    freeze: dict[str, str] | None = None

    @property
    def base_prefix(self) -> str:
        """The migration's staging prefix, shared by its passes (the lease of ``--fresh``, the pass list)."""
        return f"runs/{self.run_id}/"

    @property
    def prefix(self) -> str:
        """This pass's staging prefix: the migration's for the first pass, ``passes/<n>/`` below it after."""
        return pass_prefix(self.run_id, self.pass_no)

    @property
    def instance_id(self) -> str:
        """The Durable instance id of this pass: the run id for the first, ``<run_id>:pass-<n>`` after."""
        return self.run_id if self.pass_no == 1 else f"{self.run_id}:pass-{self.pass_no}"

    @staticmethod
    def derive_run_id(source: str, input: str, target: str, sample: int | None = None) -> str:
        """A stable id for 'the same migration', so rerunning the same command resumes it (a sample of
        it is another run: its staging must not pass for the whole)."""
        text = f"{source}\n{input}\n{target}" + ("" if sample is None else f"\nsample={sample}")
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        return f"run-{digest}"


def pass_prefix(run_id: str, pass_no: int) -> str:
    """Where pass ``pass_no`` of run ``run_id`` stages (``runs/<id>/`` for the first)."""
    return f"runs/{run_id}/" if pass_no == 1 else f"runs/{run_id}/passes/{pass_no}/"
