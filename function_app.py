"""The Function App: wiring only.

- ``POST /api/migrations`` starts a run (body: the run's settings, see ``shared.run.RunConfig``;
  ``staging`` defaults to the app setting ``STAGING_CONNECTION``) and answers with the Durable
  check-status response.
- ``GET /api/migrations/{instance_id}`` reports progress (runtime status, the orchestrator's custom
  status, and the final report when done).
Orchestrators and activities live in blueprints; all work happens in ``shared``.
"""

from __future__ import annotations

import json
import logging
import os

import azure.durable_functions as df
import azure.functions as func
from pydantic import ValidationError

from activities.migration import bp as activities_bp
from orchestrators.migration import bp as orchestrators_bp
from shared.run import RunConfig

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(orchestrators_bp)
app.register_functions(activities_bp)

log = logging.getLogger("migration")


def _json(body: dict, status: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype="application/json")


@app.route(route="migrations", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_migration(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    try:
        body = req.get_json()
    except ValueError:
        return _json({"error": "the body must be a JSON object with the run's settings"}, 400)
    body.setdefault("staging", os.environ.get("STAGING_CONNECTION", ""))
    body.setdefault("target", os.environ.get("DATAVERSE_URL", ""))
    body.setdefault("run_id", RunConfig.derive_run_id(body.get("source", "worketc-csv"), body.get("input", ""),
                                                      body.get("target", "")))
    try:
        run = RunConfig.model_validate(body)
    except ValidationError as e:
        return _json({"error": "invalid run settings", "details": json.loads(e.json())}, 400)
    instance_id = await client.start_new("migration", client_input=run.model_dump())
    log.info("migration started", extra={"instance_id": instance_id, "run_id": run.run_id, "source": run.source})
    return client.create_check_status_response(req, instance_id)


@app.route(route="migrations/{instance_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def migration_status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await client.get_status(req.route_params["instance_id"])
    if status is None or status.runtime_status is None:
        return _json({"error": "no such migration"}, 404)
    return _json({
        "instance_id": status.instance_id,
        "runtime_status": status.runtime_status.value,
        "custom_status": status.custom_status,
        "created": status.created_time.isoformat() if status.created_time else None,
        "last_updated": status.last_updated_time.isoformat() if status.last_updated_time else None,
        "output": status.output,
    }, 200)
