"""What the work4all objects need in Dataverse before their rows load (called by the prepare step,
``shared.steps.prepare``, through ``PREPARE_HOOKS``): the unit group products are sold in, the price
lists of the Preislisten, and the open items' reconciliation before any open item loads.

Each hook is idempotent (it finds what an earlier attempt created) and returns a small dict for the
prepare step's answer.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from ...dataverse import loader
from ...dataverse.client import DataverseClient
from ...errors import PermanentError
from ...objects import work4all
from ...objects.spec import ObjectSpec
from ...problems import csv_text
from ...staging import Staging

UNITS = "units.json"


async def ensure_unit_group(dv: DataverseClient, st: Staging, run, spec: ObjectSpec) -> dict:
    """The unit group 'work4all' with its base unit: a product needs a default unit group and unit
    (learn.microsoft.com/dynamics365/sales/developer/entities/product: defaultuomscheduleid, defaultuomid).
    Creating a unit group creates its base unit, named by ``baseuomname``
    (learn.microsoft.com/dynamics365/sales/developer/entities/uomschedule)."""
    name = work4all.UNIT_GROUP.replace("'", "''")
    found = [r async for r in dv.get_all("uomschedules", select=["uomscheduleid", "name"], filter=f"name eq '{name}'")]
    if found:
        schedule = found[0]["uomscheduleid"]
    else:
        schedule = await dv.create("uomschedules", {"name": work4all.UNIT_GROUP, "baseuomname": work4all.BASE_UNIT,
                                                    "description": "Units of the products migrated from work4all"})
    base = [r async for r in dv.get_all("uoms", select=["uomid", "name"],
                                        filter=f"_uomscheduleid_value eq {schedule} and isschedulebaseuom eq true")]
    if not base:
        raise PermanentError(f"the unit group {work4all.UNIT_GROUP!r} has no base unit in Dataverse: check it under "
                             "Settings > Unit Groups, then run again")
    doc = {"uomscheduleid": schedule, "uomid": base[0]["uomid"]}
    st.write_json(UNITS, doc)
    return {"unit_group": work4all.UNIT_GROUP}


async def ensure_price_levels(dv: DataverseClient, st: Staging, run, spec: ObjectSpec) -> dict:
    """One pricelevel per Preisliste and currency of the export (keyed ``preisliste:<name>:<ISO>``)."""
    from .. import open_source

    source = open_source(run)
    if not source.has(spec):
        return {}
    currencies = st.read_json("currencies.json") if st.exists("currencies.json") else {}
    lists = sorted({((r.get("Preisliste") or "").strip(), (r.get("Waehrung") or "EUR").strip().upper())
                    for r in source.rows(spec) if (r.get("Preisliste") or "").strip()})
    rows = [{"key": work4all.price_level_key(name, iso), "body": {
        "name": f"{name} ({iso})"[:100], "description": "Preisliste migrated from work4all",
        "transactioncurrencyid@odata.bind": f"/transactioncurrencies({currencies[iso]})"}}
        for name, iso in lists if iso in currencies]  # an unknown currency rejects its rows in the transform
    from ...steps.common import ensure_columns_and_key

    await ensure_columns_and_key(dv, "pricelevel", spec.key_column, [])
    table = loader.TableRef("pricelevel", "pricelevels", spec.key_column)
    for outcome in await loader.upsert_rows(dv, table, rows) if rows else []:
        if outcome.status == "rejected":
            raise PermanentError(f"could not create the price list {outcome.key!r}: {outcome.code} {outcome.message}")
    return {"price_levels": len(rows)}


async def reconcile_open_items(dv: DataverseClient, st: Staging, run, spec: ObjectSpec) -> dict:
    """Before any open item loads: report/openitems_reconciliation.csv (see ``openitems``)."""
    from .. import open_source
    from ...objects import catalogue
    from .openitems import RECONCILIATION_COLUMNS, RECONCILIATION_FILE, reconciliation

    source = open_source(run)
    if not source.has(spec):
        return {}
    payments = catalogue(run.source)["zahlung"]
    name = f"objects/{payments.name}/result.json"
    config = st.read_json(name)["config"] if st.exists(name) else {"paid": {}, "count": {}}
    listed = reconciliation(source.rows(spec), config)
    st.write_bytes(f"report/{RECONCILIATION_FILE}", csv_text(RECONCILIATION_COLUMNS, listed).encode("utf-8"))
    return {"reconciliation": len(listed)}


Hook = Callable[[DataverseClient, Staging, object, ObjectSpec], Awaitable[dict]]
#: (source, object) -> what prepare does for it beyond keys and columns
PREPARE_HOOKS: dict[tuple[str, str], Hook] = {
    ("work4all", "artikel"): ensure_unit_group,
    ("work4all", "preisliste"): ensure_price_levels,
    ("work4all", "offener_posten"): reconcile_open_items,
}
