"""The Function App: wiring only.

- ``POST /api/migrations`` starts a run. The body holds the run's options (``source``, ``date_order``,
  ``timezone``, ``chunk_size``, ``only``, ``default_owner_email``, ``run_id``, ``take_over``) and may
  *pick* the Dataverse environment (``target``), the source (``input``) and the staging setting
  (``staging``) among those the app settings allow (``shared.settings``); anything else is a 400 that
  names the field and the setting to change. The run id is the Durable instance id: while a run with
  that id is in progress, a second start is a 409 with its status URLs.
- ``POST /api/migrations/{id}/delta`` (``{}`` or ``{"freeze": true}``) starts the next pass of a completed
  migration (orchestrator ``delta``, instance ``<id>:pass-<n>``): the source read again, only what changed
  written; the timer ``delta_sync_timer`` does the same on the NCRONTAB schedule ``DELTA_SYNC_SCHEDULE`` for
  the run ``DELTA_SYNC_RUN_ID`` (no timer function exists while the schedule is unset).
- ``GET /api/migrations/{instance_id}`` reports progress: runtime status, the orchestrator's custom
  status, the run's non-sensitive settings and the report's counts when done.
- ``GET /api/migrations/{id}/map`` is the proposed map (``mapping.yaml``, or the review page with
  ``Accept: text/html``); ``POST /api/migrations/{id}/approve`` approves it by hash (or submits an edited
  map, validated, and approves that); ``POST /api/migrations/{id}/owners`` tells a run waiting at the
  owner gate that the owners were provisioned (or ``use_default_owner``).
- ``POST /api/migrations/{id}/rollback`` (``{}`` or ``{"schema": true}``) rolls a finished run back
  (orchestrator ``rollback``, instance ``<id>:rollback``); a rollback is never rolled back.
  ``GET /api/migrations/{id}/rollback`` (or ``GET /api/migrations/<id>:rollback``) shows its status and its
  report's totals. A run that was rolled back is not started again nor given a next pass (409: a new run id).
- ``POST /api/migrations`` for a run id that completed is a 409 naming its delta route (its next pass).
Orchestrators and activities live in blueprints; all work happens in ``shared``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
from typing import Any, Mapping

import azure.durable_functions as df
import azure.functions as func
from pydantic import ConfigDict, ValidationError

from activities.migration import bp as activities_bp
from orchestrators.migration import MAP_APPROVED, OWNERS_RESOLVED
from orchestrators.migration import bp as orchestrators_bp
from orchestrators.delta import bp as delta_bp
from orchestrators.rollback import SUFFIX as ROLLBACK_SUFFIX
from orchestrators.rollback import bp as rollback_bp
from shared import telemetry
from shared.memory import keep_freed_memory
from shared.errors import SettingsError
from shared.run import RUN_ID_PATTERN, RunConfig, RunId, RunOptions
from shared.staging import open_staging
from shared.steps.mapping import submit_map
from shared.steps.progress import run_progress
from shared.settings import INPUTS, STAGINGS, TARGETS, MaskingFilter, RequestRefused, check_import, mask_secrets

# Application Insights, when APPLICATIONINSIGHTS_CONNECTION_STRING is set (shared.telemetry: ids and counts only)
telemetry.configure()
keep_freed_memory()  # chunks' pages reused, not faulted in again (shared/memory.py)

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(orchestrators_bp)
app.register_functions(rollback_bp)
app.register_functions(activities_bp)
app.register_functions(delta_bp)

log = logging.getLogger("migration")
log.addFilter(MaskingFilter())

#: a run in one of these states has ended, and the same run id may start again (what
#: https://learn.microsoft.com/azure/azure-functions/durable/durable-functions-singletons checks);
#: Running, Pending, Suspended and ContinuedAsNew are in progress
FINISHED = {df.OrchestrationRuntimeStatus.Completed, df.OrchestrationRuntimeStatus.Failed,
            df.OrchestrationRuntimeStatus.Terminated, df.OrchestrationRuntimeStatus.Canceled}
#: what GET shows of a run's settings (never staging, input or the default owner's e-mail)
PUBLIC_RUN_FIELDS = ("run_id", "source", "target", "only")
#: what GET shows of each object's report (counts, not the owners' e-mail addresses)
PUBLIC_REPORT_FIELDS = ("object", "table", "source", "staged", "loaded", "created", "updated", "unchanged",
                        "rejected", "warnings", "balanced")


class StartRequest(RunOptions):
    """The body of ``POST /api/migrations``: the run's options, plus picks among the allowed endpoints."""

    model_config = ConfigDict(extra="forbid")  # merged with RunOptions' (inputs hidden in errors)

    run_id: RunId | None = None  # default: derived from source, input and target, as in the CLI
    target: str | None = None
    input: str | None = None
    staging: str | None = None


def run_from_request(body: Any, env: Mapping[str, str]) -> RunConfig:
    """The run a request asks for, its endpoints taken from the app settings ``env``."""
    request = StartRequest.model_validate(body)
    if request.auto_approve:
        raise RequestRefused("auto_approve", "-", "a run started over HTTP waits for a person to approve its field "
                             "map (POST /api/migrations/{id}/approve); auto_approve is for the local demo only")
    target = TARGETS.pick(request.target, env)
    input_ = INPUTS[request.source].pick(request.input, env)
    options = request.model_dump(exclude={"run_id", "target", "input", "staging"})
    staging = STAGINGS.pick(request.staging, env)
    check_import(input_, staging, env)  # imports/<name>: an upload in the staging account
    return RunConfig.model_validate({
        **options, "target": target, "input": input_, "staging": staging,
        "approval_hours": _deadline_hours(env),
        "run_id": request.run_id or RunConfig.derive_run_id(request.source, input_, target)})


def _deadline_hours(env: Mapping[str, str]) -> int:
    """MAP_APPROVAL_DEADLINE_HOURS: how long a run waits for its map's approval (default 168, 7 days)."""
    value = env.get("MAP_APPROVAL_DEADLINE_HOURS", "168")
    if not value.isdigit() or not 1 <= int(value) <= 720:
        raise SettingsError(f"MAP_APPROVAL_DEADLINE_HOURS={value!r} is not a number of hours from 1 to 720")
    return int(value)


def _body(req: func.HttpRequest, empty: Any = None) -> Any:
    """The request's JSON body (``empty`` when there is none; None when it is not JSON): callers check its shape."""
    if not req.get_body():
        return empty
    try:
        return req.get_json()
    except ValueError:
        return None


def _json(body: dict, status: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


def _problems(error: ValidationError) -> list[dict]:
    """Field and problem per error, never the value (it may be a secret)."""
    return [{"field": ".".join(map(str, e["loc"])) or "body", "problem": e["msg"].removeprefix("Value error, ")}
            for e in error.errors(include_url=False, include_input=False, include_context=False)]


async def _in_progress(client: df.DurableOrchestrationClient, instance_id: str) -> func.HttpResponse | None:
    status = await client.get_status(instance_id)
    if not status or status.runtime_status is None or status.runtime_status in FINISHED:
        return None
    return _json({"error": f"run {instance_id} is already in progress ({status.runtime_status.value}); "
                           "follow it at statusQueryGetUri, or terminate it there before starting it again",
                  **client.create_http_management_payload(instance_id)}, 409)


async def _rolled_back(client: df.DurableOrchestrationClient, run_id: str) -> Any:
    """The Durable status of run ``run_id``'s rollback (instance ``<run_id>:rollback``), None if it has none."""
    status = await client.get_status(f"{run_id}{ROLLBACK_SUFFIX}")
    return status if status and status.runtime_status is not None else None


async def _ended(client: df.DurableOrchestrationClient, run_id: str) -> func.HttpResponse | None:
    """Why ``POST /api/migrations`` does not start run ``run_id`` again although it is not in progress: it was
    rolled back (what it staged is no longer in Dynamics 365), or it completed (its next pass is the delta
    route: starting pass 1 again would reuse what it staged and read no change). A run that failed or was
    terminated resumes (None)."""
    if rollback := await _rolled_back(client, run_id):
        return _json({"error": f"run {run_id} was rolled back ({run_id}{ROLLBACK_SUFFIX}: "
                               f"{rollback.runtime_status.value}); to migrate the data again, start with a new "
                               "run_id", "rollback": f"/api/migrations/{run_id}{ROLLBACK_SUFFIX}"}, 409)
    status = await client.get_status(run_id)
    if status and status.runtime_status == df.OrchestrationRuntimeStatus.Completed:
        at = status.last_updated_time.isoformat() if status.last_updated_time else "an earlier time"
        return _json({"error": f"run {run_id} completed at {at}; POST /api/migrations/{run_id}/delta runs its next "
                               "pass (only what changed), or start with a new run_id",
                      "delta": f"/api/migrations/{run_id}/delta"}, 409)
    return None


@app.route(route="migrations", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_migration(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    if refused := _forbidden(req, "start"):
        return refused
    body = _body(req)
    if not isinstance(body, dict):
        return _json({"error": "the body must be a JSON object with the run's settings"}, 400)
    try:
        run = run_from_request(body, os.environ)
    except ValidationError as e:
        return _json({"error": "invalid run settings", "details": _problems(e)}, 400)
    except RequestRefused as e:
        return _json({"error": str(e), "field": e.field, "setting": e.setting}, 400)
    except SettingsError as e:
        log.error("the Function App is not configured: %s", e)
        return _json({"error": f"the Function App is not configured: {e}"}, 500)
    if conflict := await _in_progress(client, run.run_id):
        return conflict
    if refused := await _ended(client, run.run_id):
        return refused
    try:
        await client.start_new("migration", instance_id=run.run_id, client_input=run.model_dump())
    except Exception:
        # the extension refuses to replace a running instance: another start won the race since we looked
        if conflict := await _in_progress(client, run.run_id):
            return conflict
        raise
    log.info("migration started", extra={"instance_id": run.run_id, "source": run.source})
    return client.create_check_status_response(req, run.run_id)


def _public_output(output: Any) -> Any:
    """The orchestrator's result without personal data: the report's counts (a failed run's output is
    its error message, masked)."""
    if isinstance(output, str):
        return mask_secrets(output)
    if not isinstance(output, dict):
        return None
    objects = [{k: o[k] for k in PUBLIC_REPORT_FIELDS if k in o} for o in output.get("objects") or []]
    return {"status": output.get("status"), "totals": output.get("totals"), "report": output.get("report"),
            "objects": objects}


@app.route(route="migrations/{instance_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def migration_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = req.route_params.get("instance_id", "")
    # a run, a later pass of it (<run_id>:pass-<n>, started by POST .../delta) or its rollback (<run_id>:rollback)
    known = PASS_INSTANCE.match(instance_id) or ROLLBACK_INSTANCE.match(instance_id)
    status = await client.get_status(instance_id, show_input=True) if known else None
    if not status or status.runtime_status is None:
        return _json({"error": "no such migration"}, 404)
    run = json.loads(status.input_) if isinstance(status.input_, str) else status.input_
    run = run if isinstance(run, dict) else {}
    if ROLLBACK_INSTANCE.match(instance_id):  # its input is {"run": <the run's settings>, "schema": bool}
        return _rollback_status(status, run)
    return _json({
        "instance_id": status.instance_id,
        "runtime_status": status.runtime_status.value,
        "run": {k: run.get(k) for k in PUBLIC_RUN_FIELDS},
        "custom_status": status.custom_status,
        "created": status.created_time.isoformat() if status.created_time else None,
        "last_updated": status.last_updated_time.isoformat() if status.last_updated_time else None,
        "output": _public_output(status.output),
        # per object while the run loads: phase, wave, chunks and records done of total (shared/steps/progress.py)
        "objects": None if status.runtime_status in FINISHED else await run_progress(
            status.instance_id, run, status.custom_status, client.get_status),
    }, 200)


def _rollback_status(status: Any, job: dict) -> func.HttpResponse:
    """A rollback's status: runtime status, phase, and when it ended its report's status and totals (deleted,
    already gone, restored, detached, failed, residue, not restored: counts only, never keys or messages)."""
    run = job.get("run") if isinstance(job.get("run"), dict) else {}
    output = status.output if isinstance(status.output, dict) else None
    return _json({
        "instance_id": status.instance_id,
        "runtime_status": status.runtime_status.value,
        "run": {k: run.get(k) for k in PUBLIC_RUN_FIELDS},
        "schema": bool(job.get("schema")),
        "custom_status": status.custom_status,
        "created": status.created_time.isoformat() if status.created_time else None,
        "last_updated": status.last_updated_time.isoformat() if status.last_updated_time else None,
        "output": {"status": output.get("status"), "totals": output.get("totals"), "report": output.get("report")}
        if output else _public_output(status.output),
    }, 200)


@app.route(route="migrations/{instance_id}/rollback", methods=["GET"])
@app.durable_client_input(client_name="client")
async def rollback_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The rollback of run ``{instance_id}``: as ``GET /api/migrations/{instance_id}:rollback``."""
    instance_id = req.route_params.get("instance_id", "")
    status = await client.get_status(f"{instance_id}{ROLLBACK_SUFFIX}", show_input=True) \
        if re.match(RUN_ID_PATTERN, instance_id) else None
    if not status or status.runtime_status is None:
        return _json({"error": f"run {instance_id} has no rollback"}, 404)
    job = json.loads(status.input_) if isinstance(status.input_, str) else status.input_
    return _rollback_status(status, job if isinstance(job, dict) else {})


# ------------------------------------------------------------------------------------------ the gates


async def _waiting_run(client: df.DurableOrchestrationClient, instance_id: str
                       ) -> tuple[Any, RunConfig | None, func.HttpResponse | None]:
    """The run's Durable status and settings, or the response saying there is no such run."""
    status = await client.get_status(instance_id, show_input=True) if re.match(RUN_ID_PATTERN, instance_id) else None
    if not status or status.runtime_status is None:
        return None, None, _json({"error": "no such migration"}, 404)
    run = json.loads(status.input_) if isinstance(status.input_, str) else status.input_
    return status, RunConfig.model_validate(run), None


def _phase(status: Any) -> str | None:
    return status.custom_status.get("phase") if isinstance(status.custom_status, dict) else None


#: the Entra app roles a route needs when ``AUTH_REQUIRE_APP_ROLES`` is true (Easy Auth in front): starting a
#: run or its next pass, approving its map or telling it owners were provisioned, rolling it back
ROLES = {"start": "Migration.Start", "approve": "Migration.Approve", "rollback": "Migration.Rollback"}


def _roles(req: func.HttpRequest) -> set[str]:
    """The caller's app roles from Easy Auth's ``X-MS-CLIENT-PRINCIPAL`` (Base64 JSON of the token's claims).

    App Service sets that header and refuses it from outside ("External requests aren't allowed to set
    these headers, so they're present only if App Service sets them":
    https://learn.microsoft.com/azure/app-service/configure-authentication-user-identities), so without
    Easy Auth there is no header and no role."""
    raw = req.headers.get("x-ms-client-principal")
    if not raw:
        return set()
    try:
        principal = json.loads(base64.b64decode(raw))
        role_typ = principal.get("role_typ") or "roles"
        return {c["val"] for c in principal.get("claims", [])
                if isinstance(c, dict) and c.get("typ") in (role_typ, "roles") and isinstance(c.get("val"), str)}
    except (ValueError, TypeError, AttributeError):
        return set()


def _forbidden(req: func.HttpRequest, action: str, env: Mapping[str, str] = os.environ) -> func.HttpResponse | None:
    """403 when ``AUTH_REQUIRE_APP_ROLES`` is true and the caller lacks the app role ``action`` needs."""
    if env.get("AUTH_REQUIRE_APP_ROLES", "").strip().lower() not in ("1", "true", "yes"):
        return None
    role = ROLES[action]
    if role in _roles(req):
        return None
    return _json({"error": f"this route needs the app role {role} (AUTH_REQUIRE_APP_ROLES is on): assign it to "
                           "the caller in the API's app registration (Enterprise applications -> Users and "
                           "groups), or call through Easy Auth with a token that carries it",
                  "role": role}, 403)


def _approver(req: func.HttpRequest) -> str:
    """Who approved, for the report: the Entra principal's object id behind Easy Auth (an id, not a name),
    else the holder of a function key."""
    return req.headers.get("x-ms-client-principal-id") or "function key"


@app.route(route="migrations/{instance_id}/map", methods=["GET"])
@app.durable_client_input(client_name="client")
async def migration_map(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The proposed (or approved) map: ``mapping.yaml``, or the review page with ``Accept: text/html``."""
    status, run, missing = await _waiting_run(client, req.route_params.get("instance_id", ""))
    if missing:
        return missing
    st = open_staging(run.staging, prefix=run.prefix)
    html = "text/html" in (req.headers.get("accept") or "")
    name = "report/review.html" if html else "report/mapping.yaml"
    if not st.exists(name):
        return _json({"error": f"run {run.run_id} has not proposed its map yet (phase {_phase(status)})"}, 404)
    return func.HttpResponse(st.read_bytes(name), status_code=200,
                             mimetype="text/html" if html else "application/yaml", charset="utf-8")


async def _at_gate(req: func.HttpRequest, client: df.DurableOrchestrationClient, phase: str, waiting: str
                   ) -> tuple[Any, func.HttpResponse | None]:
    """The run a gate route answers, or the refusal: the caller lacks the approve role (403), there is no such
    run (404), or it is not in ``phase`` (409: "not waiting <waiting>")."""
    if refused := _forbidden(req, "approve"):
        return None, refused
    status, run, missing = await _waiting_run(client, req.route_params.get("instance_id", ""))
    if missing:
        return None, missing
    if _phase(status) != phase:
        return None, _json({"error": f"run {run.run_id} is not waiting {waiting} (phase {_phase(status)})"}, 409)
    return run, None


@app.route(route="migrations/{instance_id}/approve", methods=["POST"])
@app.durable_client_input(client_name="client")
async def approve_migration_map(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``{"hash": "sha256:..."}`` approves the proposed map; ``{"map": "<edited mapping.yaml>"}`` submits an
    edited map (validated; 400 with every error naming object, line and fix) and approves it under its hash."""
    run, refused = await _at_gate(req, client, "awaiting_map_approval", "for a map approval")
    if refused:
        return refused
    body = _body(req)
    if not isinstance(body, dict) or not (isinstance(body.get("hash"), str) or isinstance(body.get("map"), str)):
        return _json({"error": 'the body must be {"hash": "sha256:..."} or {"map": "<the edited mapping.yaml>"}'}, 400)
    content_hash = body.get("hash")
    if isinstance(body.get("map"), str):
        submitted, errors = submit_map(open_staging(run.staging, prefix=run.prefix), body["map"])
        if errors:
            return _json({"error": "the map is not valid", "details": errors}, 400)
        if content_hash and content_hash != submitted:
            return _json({"error": f"the map's hash is {submitted}, not {content_hash}"}, 400)
        content_hash = submitted
    await client.raise_event(run.run_id, MAP_APPROVED, {"hash": content_hash, "by": _approver(req)})
    return _json({"approved": content_hash, "note": "the run checks the hash and goes on; follow it at "
                                                    f"/api/migrations/{run.run_id}"}, 202)


@app.route(route="migrations/{instance_id}/owners", methods=["POST"])
@app.durable_client_input(client_name="client")
async def resolve_migration_owners(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The administrator provisioned the queued owners (``{}``): the run matches again; or decided that the
    rest get the default owner (``{"use_default_owner": true}``), which the report records."""
    run, refused = await _at_gate(req, client, "awaiting_owners", "at the owner gate")
    if refused:
        return refused
    body = _body(req, empty={})
    if not isinstance(body, dict) or not isinstance(body.get("use_default_owner", False), bool):
        return _json({"error": 'the body must be {} or {"use_default_owner": true}'}, 400)
    await client.raise_event(run.run_id, OWNERS_RESOLVED, {"use_default_owner": body.get("use_default_owner", False),
                                                           "by": _approver(req)})
    return _json({"resolved": True, "use_default_owner": body.get("use_default_owner", False)}, 202)


# ------------------------------------------------------------------------------------------ rollback


@app.route(route="migrations/{instance_id}/rollback", methods=["POST"])
@app.durable_client_input(client_name="client")
async def rollback_migration(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Roll a run back (``{}``, or ``{"schema": true}`` to remove its custom columns and tables when empty):
    starts the ``rollback`` orchestrator as instance ``<id>:rollback``. Refused for a rollback (a rollback
    is not rolled back) and for a run still in progress; a rollback in progress answers 409 with its URLs."""
    if refused := _forbidden(req, "rollback"):
        return refused
    instance_id = req.route_params.get("instance_id", "")
    if instance_id.endswith(ROLLBACK_SUFFIX):
        return _json({"error": f"{instance_id} is a rollback, and a rollback cannot be rolled back; to move the "
                               "data again, start the migration again"}, 409)
    status, run, missing = await _waiting_run(client, instance_id)
    if missing:
        return missing
    if status.runtime_status not in FINISHED:
        return _json({"error": f"run {run.run_id} is in progress ({status.runtime_status.value}, phase "
                               f"{_phase(status)}); wait for it to end, or terminate it, before rolling it back"}, 409)
    body = _body(req, empty={})
    if not isinstance(body, dict) or not isinstance(body.get("schema", False), bool) or set(body) - {"schema"}:
        return _json({"error": 'the body must be {} or {"schema": true}'}, 400)
    rollback_id = f"{run.run_id}{ROLLBACK_SUFFIX}"
    if conflict := await _in_progress(client, rollback_id):
        return conflict
    await client.start_new("rollback", instance_id=rollback_id,
                           client_input={"run": run.model_dump(), "schema": body.get("schema", False)})
    log.info("rollback started", extra={"instance_id": rollback_id})
    return client.create_check_status_response(req, rollback_id)


# -------------------------------------------------------------------- later passes: the delta sync


#: a pass's instance id: the run id (first pass) or ``<run_id>:pass-<n>`` (shared/steps/delta.py)
PASS_INSTANCE = re.compile(RUN_ID_PATTERN.removesuffix("$") + r"(?::pass-[0-9]{1,6})?$")
#: a rollback's instance id: ``<run_id>:rollback`` (orchestrators/rollback.py)
ROLLBACK_INSTANCE = re.compile(RUN_ID_PATTERN.removesuffix("$") + re.escape(ROLLBACK_SUFFIX) + "$")


async def start_delta(client: df.DurableOrchestrationClient, run_id: str, body: dict, by: str
                      ) -> tuple[int, dict, str | None]:
    """Start the next pass of run ``run_id`` (or restart its latest pass that failed): ``(status, answer, id)``.

    The run's settings are its first pass's Durable input (they name the allowed endpoints and the staging
    setting, never a secret); ``body`` may say ``freeze`` (the final delta: the report records who froze the
    source and when, and a certificate ends the pass) and ``deactivate_deleted``."""
    from datetime import datetime, timezone

    from shared.steps.delta import base_staging, plan_pass
    from shared.steps.rollback import REPORT as ROLLBACK_REPORT

    status = await client.get_status(run_id, show_input=True) if re.match(RUN_ID_PATTERN, run_id) else None
    if not status or status.runtime_status is None:
        return 404, {"error": "no such migration"}, None
    if status.runtime_status not in FINISHED:
        return 409, {"error": f"run {run_id} is still in progress ({status.runtime_status.value}); a delta sync "
                              "follows a completed migration"}, None
    if rollback := await _rolled_back(client, run_id):  # what it loaded is no longer in Dynamics 365
        return 409, {"error": f"run {run_id} was rolled back ({run_id}{ROLLBACK_SUFFIX}: "
                              f"{rollback.runtime_status.value}), so it has no next pass; to migrate the data "
                              "again, start with a new run_id (POST /api/migrations)"}, None
    first = json.loads(status.input_) if isinstance(status.input_, str) else status.input_
    run = RunConfig.model_validate({**first, "take_over": False,
                                    **({"deactivate_deleted": True} if body.get("deactivate_deleted") else {})})
    freeze = {"by": by, "at": datetime.now(timezone.utc).isoformat(timespec="seconds")} if body.get("freeze") else None
    if base_staging(run).exists(ROLLBACK_REPORT):  # rolled back by the CLI (python -m cli rollback)
        return 409, {"error": f"run {run_id} was rolled back (its staging holds {ROLLBACK_REPORT}), so it has no "
                              "next pass; to migrate the data again, start with a new run_id (POST /api/migrations)"}, None
    # {"full": true}: the whole source is read (a SOAP delta pass otherwise reads what was modified since the pass
    # before: shared/steps/delta.py modified_since), which is also what sees records deleted in the source
    later, started = plan_pass(run, delta=not body.get("full"), freeze=freeze)
    if not started and later.pass_no == 1:
        return 409, {"error": f"run {run_id} has not completed (its report says so): finish or start it again "
                              "with POST /api/migrations before a delta sync"}, None
    if conflict := await _in_progress(client, later.instance_id):  # its latest pass runs (two timers, a person)
        return 409, json.loads(conflict.get_body()), None
    await client.start_new("delta", instance_id=later.instance_id, client_input=later.model_dump())
    log.info("delta sync started", extra={"instance_id": later.instance_id, "pass": later.pass_no,
                                          "freeze": bool(later.freeze)})
    return 202, {"pass": later.pass_no, "resumed": not started}, later.instance_id


@app.route(route="migrations/{instance_id}/delta", methods=["POST"])
@app.durable_client_input(client_name="client")
async def delta_sync(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """``{}`` or ``{"freeze": true}`` (and ``"deactivate_deleted": true``, ``"full": true``): the next pass of a
    completed run."""
    if refused := _forbidden(req, "start"):
        return refused
    body = _body(req, empty={})
    if not isinstance(body, dict) or set(body) - {"freeze", "deactivate_deleted", "full"} \
            or not all(isinstance(v, bool) for v in body.values()):
        return _json({"error": 'the body must be {}, {"freeze": true}, {"full": true} or '
                               '{"deactivate_deleted": true}'}, 400)
    code, answer, instance_id = await start_delta(client, req.route_params.get("instance_id", ""), body,
                                                  _approver(req))
    if instance_id is None:
        return _json(answer, code)
    return client.create_check_status_response(req, instance_id)


if os.environ.get("DELTA_SYNC_SCHEDULE"):
    # Functions indexes a Python app's functions when the worker starts, and a change of app settings restarts
    # the app (learn.microsoft.com/azure/azure-functions/disable-function), so the timer exists only while
    # DELTA_SYNC_SCHEDULE is set; the binding reads the schedule from that setting ("%...%": "You can put the
    # schedule expression in an app setting and set this property to the app setting name wrapped in % signs",
    # learn.microsoft.com/azure/azure-functions/functions-bindings-timer#attributes), six-field NCRONTAB in UTC.
    @app.timer_trigger(schedule="%DELTA_SYNC_SCHEDULE%", arg_name="timer", run_on_startup=False, use_monitor=True)
    @app.durable_client_input(client_name="client")
    async def delta_sync_timer(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
        """The scheduled delta sync of run ``DELTA_SYNC_RUN_ID`` (never frozen: the final pass is started by a
        person, ``POST /api/migrations/{id}/delta`` with ``{"freeze": true}``)."""
        run_id = os.environ.get("DELTA_SYNC_RUN_ID", "")
        if not run_id:
            log.error("DELTA_SYNC_SCHEDULE is set but DELTA_SYNC_RUN_ID is not: set it to the run id to sync")
            return
        deactivate = os.environ.get("DELTA_SYNC_DEACTIVATE_DELETED", "false").lower() == "true"
        code, answer, instance_id = await start_delta(client, run_id, {"deactivate_deleted": deactivate},
                                                      "delta timer")
        if instance_id is None:
            log.warning("delta sync not started (%s): %s", code, answer.get("error"))
