"""Activity functions: thin, idempotent wrappers around the steps registry ``shared.steps.STEPS``.

Each validates nothing beyond what the step validates, calls the step, and returns its small dict
(a permanent failure comes back as ``{"failure": ...}``, which the orchestrator fails on at once).
Activities run at least once; the steps make a second run a no-op.
"""

from __future__ import annotations

import azure.durable_functions as df

from shared.steps import STEPS

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
async def acquire_run_lease(payload: dict) -> dict:
    return await STEPS["acquire_run_lease"](payload)


@bp.activity_trigger(input_name="payload")
async def release_run_lease(payload: dict) -> dict:
    return await STEPS["release_run_lease"](payload)


@bp.activity_trigger(input_name="payload")
async def discover(payload: dict) -> dict:
    return await STEPS["discover"](payload)


@bp.activity_trigger(input_name="payload")
async def prepare_object(payload: dict) -> dict:
    return await STEPS["prepare_object"](payload)


@bp.activity_trigger(input_name="payload")
async def extract_object(payload: dict) -> dict:
    return await STEPS["extract_object"](payload)


@bp.activity_trigger(input_name="payload")
async def resolve_owners(payload: dict) -> dict:
    return await STEPS["resolve_owners"](payload)


@bp.activity_trigger(input_name="payload")
async def deploy_custom_fields(payload: dict) -> dict:
    return await STEPS["deploy_custom_fields"](payload)


@bp.activity_trigger(input_name="payload")
async def transform_chunk(payload: dict) -> dict:
    return await STEPS["transform_chunk"](payload)


@bp.activity_trigger(input_name="payload")
async def load_chunk(payload: dict) -> dict:
    return await STEPS["load_chunk"](payload)


@bp.activity_trigger(input_name="payload")
async def verify_object(payload: dict) -> dict:
    return await STEPS["verify_object"](payload)


@bp.activity_trigger(input_name="payload")
async def reconcile_object(payload: dict) -> dict:
    return await STEPS["reconcile_object"](payload)


@bp.activity_trigger(input_name="payload")
async def final_report(payload: dict) -> dict:
    return await STEPS["final_report"](payload)


@bp.activity_trigger(input_name="payload")
async def spot_check(payload: dict) -> dict:
    return await STEPS["spot_check"](payload)


@bp.activity_trigger(input_name="payload")
async def build_config(payload: dict) -> dict:
    return await STEPS["build_config"](payload)


@bp.activity_trigger(input_name="payload")
async def write_inventory(payload: dict) -> dict:
    return await STEPS["write_inventory"](payload)


@bp.activity_trigger(input_name="payload")
async def transfer_documents(payload: dict) -> dict:
    return await STEPS["transfer_documents"](payload)


# rolling a run back (orchestrators/rollback.py)
@bp.activity_trigger(input_name="payload")
async def rollback_plan(payload: dict) -> dict:
    return await STEPS["rollback_plan"](payload)


@bp.activity_trigger(input_name="payload")
async def rollback_restore(payload: dict) -> dict:
    return await STEPS["rollback_restore"](payload)


@bp.activity_trigger(input_name="payload")
async def rollback_delete(payload: dict) -> dict:
    return await STEPS["rollback_delete"](payload)


@bp.activity_trigger(input_name="payload")
async def rollback_documents(payload: dict) -> dict:
    return await STEPS["rollback_documents"](payload)


@bp.activity_trigger(input_name="payload")
async def rollback_placeholders(payload: dict) -> dict:
    return await STEPS["rollback_placeholders"](payload)


@bp.activity_trigger(input_name="payload")
async def rollback_schema(payload: dict) -> dict:
    return await STEPS["rollback_schema"](payload)


@bp.activity_trigger(input_name="payload")
async def rollback_verify(payload: dict) -> dict:
    return await STEPS["rollback_verify"](payload)


@bp.activity_trigger(input_name="payload")
async def rollback_report(payload: dict) -> dict:
    return await STEPS["rollback_report"](payload)


@bp.activity_trigger(input_name="payload")
async def propose_map(payload: dict) -> dict:
    return await STEPS["propose_map"](payload)


@bp.activity_trigger(input_name="payload")
async def approve_map(payload: dict) -> dict:
    return await STEPS["approve_map"](payload)


@bp.activity_trigger(input_name="payload")
async def owner_gate(payload: dict) -> dict:
    return await STEPS["owner_gate"](payload)


@bp.activity_trigger(input_name="payload")
async def sync_deleted(payload: dict) -> dict:
    return await STEPS["sync_deleted"](payload)


@bp.activity_trigger(input_name="payload")
async def certify(payload: dict) -> dict:
    return await STEPS["certify"](payload)
