"""Schema before a load: custom tables, key columns and alternate keys, engine columns and lookups,
placeholder rows, migration price lists, the currency map.

The object is prepared as the approved column map says (``approved_spec``), so the custom columns the
map accepted exist before any row loads. A new Picklist's options keep the values Dataverse already
gives their labels (the source's custom fields may have created the column): prepare stages them in
``objects/<name>/picklists.json``, where the transform reads the same values. An object whose map setting
routes its rows away from its custom table (work4all ``open_items_as: receivable``) does not create that
table (:func:`tables_in_use`): Sales Professional may use at most 15 custom tables (Dynamics 365 Licensing
Guide)."""

from __future__ import annotations

from dataclasses import replace

from .. import objects as catalogue_mod
from ..dataverse import loader, schema
from ..dataverse.client import DataverseClient
from ..errors import PermanentError
from ..mapping.catalogue import settings_of
from ..objects import ObjectSpec
from ..staging import Staging
from ..sources.work4all.prepare import PREPARE_HOOKS
from .common import (require_approval, approved_mapping, approved_spec, dataverse, effective_spec, ensure_columns_and_key,
                     ensure_custom_table, obj_path, run_config, spec_of, staging_for)

#: a column the engine would create with the key's type may be an existing column of one of these types,
#: which holds every value it sends (whole numbers in a Decimal column the source's custom fields created)
WIDER = {"Integer": ("Decimal", "Money")}


async def prepare_object(payload: dict) -> dict:
    """Make the object's tables ready: custom table, key column + alternate key, engine columns and
    lookups, placeholder rows, migration price lists, the currency map."""
    run = run_config(payload)
    spec = spec_of(run, payload["object"])
    if spec.pipeline != "records":
        return {"object": spec.name, "prepared": False}
    specs = catalogue_mod.catalogue(run.source)
    st = staging_for(run)
    require_approval(st, run)
    done: dict = {"object": spec.name, "prepared": True, "placeholders": []}
    skipped = {spec.custom_table[0].lower()} - set(tables_in_use(st, spec)) if spec.custom_table else set()
    async with dataverse(run) as dv:
        if skipped:
            # the approved map's setting sends the rows elsewhere: no empty custom table (a Sales Professional
            # environment allows 15 custom tables)
            done["custom_table"] = "not needed"
        else:
            await ensure_custom_table(dv, spec)
        if spec.fallback_table and not await schema.table_exists(dv, spec.table):
            st.write_json(obj_path(spec, "target.json"), {"table": spec.fallback_table})
            done["table"] = spec.fallback_table
        else:
            await _stage_picklists(dv, st, spec)
        spec = effective_spec(st, approved_spec(st, spec))  # the fallback table, when it took the rows
        await _ensure_table_keys(dv, spec, tuple(t for t in spec.tables if t not in skipped))
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
        hook = PREPARE_HOOKS.get((spec.source, spec.name))
        if hook:  # what an object needs beyond keys and columns (a unit group, price lists, a reconciliation)
            done.update(await hook(dv, st, run, spec))
    return done


def tables_in_use(st: Staging, spec: ObjectSpec) -> tuple[str, ...]:
    """The tables the object writes into as the approved map's settings say: an object whose shape hook
    routes its rows (``Route`` on a ``_`` field) by a map setting whose choices are exactly the route's keys
    (work4all ``open_items_as``: openitem -> w4a_openitem, receivable -> opportunity) writes only the chosen
    table (the setting's first choice when the map leaves it out); every other object (work4all ``beleg``:
    ``invoices_as`` picks the table of Rechnungen only), all of ``spec.tables``."""
    if not (spec.route and spec.route.field.startswith("_")):
        return spec.tables
    mapping = approved_mapping(st, spec)
    chosen = mapping.options if mapping else {}
    for setting, choices in settings_of(spec.source, spec.name).items():
        if choices and set(choices) == set(spec.route.tables):  # the setting picks every row's table
            return (spec.route.tables[chosen.get(setting, choices[0])],)
    return spec.tables


async def _stage_picklists(dv: DataverseClient, st: Staging, spec: ObjectSpec) -> None:
    """The options Dataverse already has on the approved map's new Picklist columns: {column: {label: value}}."""
    mapping = approved_mapping(st, spec)
    wanted = [e.target for e in mapping.entries if e.custom and e.custom.type == "Picklist"] if mapping else []
    if not wanted:
        return
    have = await schema.existing_attributes(dv, spec.table)
    st.write_json(obj_path(spec, "picklists.json"),
                  {c: await schema.picklist_options(dv, spec.table, c) for c in wanted if have.get(c) == "Picklist"})


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


async def _ensure_table_keys(dv: DataverseClient, spec: ObjectSpec, tables: tuple[str, ...] | None = None) -> None:
    for table in spec.tables if tables is None else tables:
        if table in catalogue_mod.ID_KEYED:
            continue
        engine = [c for c in spec.columns if c.table in (None, table)]
        if any(c.type in WIDER for c in engine):
            have = await schema.existing_attributes(dv, table)
            engine = [replace(c, type=have[c.logical_name]) if have.get(c.logical_name) in WIDER.get(c.type, ()) else c
                      for c in engine]
        await ensure_columns_and_key(dv, table, spec.key_column, engine)
