"""Sales behaviour of the Dataverse emulator: the product lifecycle, unit groups, and what a product
line may refer to. Declared here, hooked into the store (``created_state``, ``after_create``,
``check_write``) and the router (``bound_action``).

- **Product lifecycle** (learn.microsoft.com/dynamics365/sales/developer/publish-revise-revert-retire-
  activate-products): "By default, a product record is in the Draft state when you create it, and isn't
  available for your sales agents. The record becomes available ... only when you publish it, which
  changes the state of the record to Active." States: Active 0, Retired 1, Draft 2, Under Revision 3
  (learn.microsoft.com/dynamics365/sales/developer/entities/product#BKMK_StateCode). Publishing is
  ``PublishProductHierarchy`` bound to the product (learn.microsoft.com/power-apps/developer/data-platform/
  webapi/reference/publishproducthierarchy); "Activate" is for retired products only, so a Draft cannot
  be made Active with SetState (*inferred* wording and code of the refusal).
  The org setting CreateProductsWithoutParentInActiveState is off, as on a fresh Dynamics 365 Sales.
- **A product that is not Active cannot be used**: a price list item (productpricelevel), a quote,
  order, invoice or opportunity line naming a Draft or Retired product is refused (*inferred* code and
  wording; the product catalog UI offers only active products).
- **A closed opportunity is read-only, its lines too**: "To change a closed opportunity, reopen it, make your
  changes, and then close it again" (learn.microsoft.com/troubleshoot/dynamics-365/sales/troubleshoot-
  opportunities-issues); an opportunityproduct (a line of an opportunity: learn.microsoft.com/dynamics365/sales/
  developer/create-opportunity, "Add Existing Products and Write-in Products") written while its opportunity
  is won or lost is refused as the invoice lines of a paid invoice are (*inferred* code and wording).
- **Unit groups** (learn.microsoft.com/dynamics365/sales/developer/entities/uomschedule): creating one
  creates its base unit, named by ``baseuomname`` (quantity 1, ``isschedulebaseuom`` true).
"""

from __future__ import annotations

from typing import Any

from .errors import INVALID_ARGUMENT, DataverseError, closed_read_only

PRODUCT_ACTIVE, PRODUCT_RETIRED, PRODUCT_DRAFT, PRODUCT_REVISION = 0, 1, 2, 3
#: statecode a new row gets when the body names none (the product lifecycle above)
CREATED_STATE = {"product": PRODUCT_DRAFT}
#: tables whose rows name a product that must be Active
PRODUCT_LINES = frozenset({"productpricelevel", "quotedetail", "invoicedetail", "opportunityproduct",
                           "salesorderdetail"})
PRODUCT_STATES = {PRODUCT_ACTIVE: "Active", PRODUCT_RETIRED: "Retired", PRODUCT_DRAFT: "Draft",
                  PRODUCT_REVISION: "Under Revision"}


def created_state(logical: str) -> int:
    return CREATED_STATE.get(logical, 0)


def after_create(store, table, rid: str, row: dict) -> None:
    """A new unit group gets its base unit (in the same transaction)."""
    if table.logical_name != "uomschedule":
        return
    uom = store.tables["uom"]
    base_name = row.get("baseuomname") or "Primary Unit"
    store.create(uom, {"name": base_name, "uomscheduleid": ["uomschedule", rid], "quantity": 1.0,
                       "isschedulebaseuom": True})


def check_write(store, table, values: dict, existing: dict | None) -> None:
    """Refuse what Dataverse refuses around products (see the module doc)."""
    logical = table.logical_name
    if logical == "product" and existing is not None and values.get("statecode") == PRODUCT_ACTIVE \
            and existing.get("statecode") in (PRODUCT_DRAFT, PRODUCT_REVISION):
        raise DataverseError(400, INVALID_ARGUMENT, "A product in the Draft or Under Revision state cannot be "
                                                    "activated; publish it with PublishProductHierarchy.")
    if logical == "opportunityproduct":  # a line is part of its opportunity
        ref = values.get("opportunityid") or (existing or {}).get("opportunityid")
        opportunity = store.rows["opportunity"].get(ref[1]) if ref else None
        if opportunity and opportunity.get("statecode") not in (None, 0):
            raise closed_read_only("opportunity", opportunity["statecode"])
    if logical in PRODUCT_LINES:
        ref = values.get("productid")
        if not ref:
            return
        product = store.rows["product"].get(ref[1])
        state = product.get("statecode") if product else None
        if product is not None and state != PRODUCT_ACTIVE:
            raise DataverseError(400, INVALID_ARGUMENT, f"The product {product.get('productnumber') or ref[1]} is "
                                                        f"{PRODUCT_STATES.get(state, state)}: only an active (published) "
                                                        f"product can be added to a {logical}.")


def bound_action(core, ctx, table, ref, name: str):
    """``POST <set>(<id>)/Microsoft.Dynamics.CRM.<name>``: PublishProductHierarchy on a product."""
    from .core import Resp
    from . import errors as E

    if ctx.method != "POST":
        raise E.method_not_allowed()
    if name != "PublishProductHierarchy" or table.logical_name != "product":
        raise E.segment_not_found(f"Microsoft.Dynamics.CRM.{name}")
    ctx.kind = "single"
    store = core.store
    with store.transaction():
        rid = store.require_id(table, ref)
        row = store.rows["product"][rid]
        if row.get("statecode") not in (PRODUCT_DRAFT, PRODUCT_REVISION):  # *inferred* wording
            raise DataverseError(400, INVALID_ARGUMENT, "Only a product in the Draft or Under Revision state can be "
                                                        "published.")
        store.update(table, rid, {"statecode": PRODUCT_ACTIVE, "statuscode": 1})
        ctx.records = 1
    return Resp(204)


__all__: list[Any] = ["CREATED_STATE", "after_create", "bound_action", "check_write", "created_state"]
