"""Schema before a load: custom tables, key columns and alternate keys, engine columns and lookups,
placeholder rows, migration price lists, the currency map."""

from __future__ import annotations

from dataclasses import replace

from .. import objects as catalogue_mod
from ..dataverse import loader, schema
from ..dataverse.client import DataverseClient
from ..errors import PermanentError
from ..objects import ObjectSpec
from .common import (dataverse, ensure_columns_and_key, ensure_custom_table, obj_path, run_config,
                     spec_of, staging_for)



async def prepare_object(payload: dict) -> dict:
    """Make the object's tables ready: custom table, key column + alternate key, engine columns and
    lookups, placeholder rows, migration price lists, the currency map."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    if spec.pipeline != "records":
        return {"object": spec.name, "prepared": False}
    specs = catalogue_mod.catalogue(run.source)
    st = staging_for(run)
    done: dict = {"object": spec.name, "prepared": True, "placeholders": []}
    async with dataverse(run) as dv:
        await ensure_custom_table(dv, spec)
        if spec.fallback_table and not await schema.table_exists(dv, spec.table):
            st.write_json(obj_path(spec, "target.json"), {"table": spec.fallback_table})
            done["table"] = spec.fallback_table
            spec = replace(spec, table=spec.fallback_table, entity_set=catalogue_mod.entity_set(spec.fallback_table),
                           columns=())
        await _ensure_table_keys(dv, spec)
        for lk in spec.lookups:
            if lk.missing != "placeholder":
                continue
            for target in [specs[t] for t in dict.fromkeys(lk.targets)]:
                await _ensure_table_keys(dv, target)
                body = dict(target.placeholder or {"name": f"{target.source} placeholder"})
                table = loader.TableRef(target.table, target.entity_set, target.key_column)
                [outcome] = await loader.upsert_rows(dv, table, [{"key": target.placeholder_key, "body": body}])
                if outcome.status == "rejected":
                    raise _refused(f"the placeholder {target.table}", outcome)
                done["placeholders"].append({"table": target.table, "key": target.placeholder_key})
        if any(f.kind == "currency" for f in spec.fields):
            currencies = {c["isocurrencycode"].upper(): c["transactioncurrencyid"]
                          async for c in dv.get_all("transactioncurrencies",
                                                    select=["transactioncurrencyid", "isocurrencycode"])}
            st.write_json("currencies.json", currencies)
            if spec.price_lists:
                done["price_lists"] = await _ensure_price_lists(dv, spec, currencies)
    return done


async def _ensure_price_lists(dv: DataverseClient, spec: ObjectSpec, currencies: dict[str, str]) -> int:
    """One migration price list per currency: invoices require a price list, WORKetc has none."""
    table = loader.TableRef("pricelevel", "pricelevels", spec.key_column)
    await ensure_columns_and_key(dv, "pricelevel", spec.key_column, [])
    rows = [{"key": catalogue_mod.price_list_key(spec.source, iso), "body": {
        "name": f"{spec.source.upper() if len(spec.source) < 4 else spec.source.title()} migration ({iso})",
        "description": "Price list for migrated invoices (write-in lines); created by the migration.",
        "transactioncurrencyid@odata.bind": f"/transactioncurrencies({cid})"}} for iso, cid in currencies.items()]
    outcomes = await loader.upsert_rows(dv, table, rows)
    bad = [o for o in outcomes if o.status == "rejected"]
    if bad:
        raise _refused("the migration price lists", bad[0])
    return len(rows)


def _refused(what: str, outcome: loader.RowOutcome) -> Exception:
    """A row the prepare step needs was refused: retried when the failure was transient, else the run
    stops with Dataverse's reason (retrying the same row would be refused the same way)."""
    message = f"could not create {what}: {outcome.code} {outcome.message}"
    return RuntimeError(message) if outcome.code == "transient" else PermanentError(
        f"{message}; fix this in Dataverse (a required column, a plug-in, a privilege), then run again")


async def _ensure_table_keys(dv: DataverseClient, spec: ObjectSpec) -> None:
    for table in spec.tables:
        if table in catalogue_mod.ID_KEYED:
            continue
        engine = [c for c in spec.columns if c.table in (None, table)]
        await ensure_columns_and_key(dv, table, spec.key_column, engine)
