"""Activity functions: thin, idempotent wrappers around ``shared.steps``.

Each validates nothing beyond what the step validates, calls the step, and returns its small dict.
Activities run at least once; the steps make a second run a no-op.
"""

from __future__ import annotations

import azure.durable_functions as df

from shared import steps

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
async def discover(payload: dict) -> dict:
    return await steps.discover(payload)


@bp.activity_trigger(input_name="payload")
async def prepare_object(payload: dict) -> dict:
    return await steps.prepare_object(payload)


@bp.activity_trigger(input_name="payload")
async def extract_object(payload: dict) -> dict:
    return await steps.extract_object(payload)


@bp.activity_trigger(input_name="payload")
async def resolve_owners(payload: dict) -> dict:
    return await steps.resolve_owners(payload)


@bp.activity_trigger(input_name="payload")
async def deploy_custom_fields(payload: dict) -> dict:
    return await steps.deploy_custom_fields(payload)


@bp.activity_trigger(input_name="payload")
async def transform_chunk(payload: dict) -> dict:
    return await steps.transform_chunk(payload)


@bp.activity_trigger(input_name="payload")
async def load_chunk(payload: dict) -> dict:
    return await steps.load_chunk(payload)


@bp.activity_trigger(input_name="payload")
async def reconcile_object(payload: dict) -> dict:
    return await steps.reconcile_object(payload)


@bp.activity_trigger(input_name="payload")
async def final_report(payload: dict) -> dict:
    return await steps.final_report(payload)


@bp.activity_trigger(input_name="payload")
async def build_config(payload: dict) -> dict:
    return await steps.build_config(payload)


@bp.activity_trigger(input_name="payload")
async def write_inventory(payload: dict) -> dict:
    return await steps.write_inventory(payload)


@bp.activity_trigger(input_name="payload")
async def transfer_documents(payload: dict) -> dict:
    return await steps.transfer_documents(payload)
