"""Open items (Offene Posten): the open amount work4all does not compute, reconciled before loading.

work4all keeps the invoice amount of an open item and, separately, its payments (Zahlungen); it
does not keep what is still open. So: open amount = Rechnungsbetrag (negative for a Gutschrift) minus
the sum of its Zahlungen. A payment on a credit memo is a refund: it is counted with the memo's sign,
whatever sign the export wrote it with.

Where it runs: the payments are summed by the ``zahlung`` configuration object (``payments_config``);
each open item's amounts are computed by its transform hook (``shape_open_item``), which also warns
about items that do not reconcile; and before any open item loads, the prepare step writes
``report/openitems_reconciliation.csv`` (``reconciliation``): every item whose payments exceed or do
not match its amount, and every payment whose open item is not in the export.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Iterable

#: German amounts: 1.234,56 / -1.234,56 / 1234,5 / 1234 (a plain 1234.56 is read too)
_DE = re.compile(r"[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?\Z")
_PLAIN = re.compile(r"[+-]?\d+(?:\.\d+)?\Z")
CENT = Decimal("0.01")

STATUS_OPEN, STATUS_PAID, STATUS_PARTIAL, STATUS_OVERPAID = "open", "paid", "partial", "overpaid"
RECONCILIATION_FILE = "openitems_reconciliation.csv"
RECONCILIATION_COLUMNS = ["Code", "Rechnungsnummer", "KundenCode", "Art", "Rechnungsbetrag", "amount", "paid",
                          "open", "payments", "Zahlungen", "status", "reason"]


def amount(raw: str | None, column: str = "Betrag") -> Decimal:
    """A German amount (``1.234,56``) as a Decimal; ValueError naming the column and the raw value."""
    try:
        from .values import parse_number  # W1's parser of German numbers, when present
    except ImportError:  # pragma: no cover - until the export reader lands
        parse_number = None
    text = (raw or "").strip()
    if not text:
        raise ValueError(f"{column} is empty")
    if parse_number is not None:
        try:
            return Decimal(str(parse_number(text)))
        except (ValueError, InvalidOperation) as e:
            raise ValueError(f"{column} {text!r} is not an amount: {e}") from None
    if _DE.match(text):
        return Decimal(text.replace(".", "").replace(",", "."))
    if _PLAIN.match(text):
        return Decimal(text)
    raise ValueError(f"{column} {text!r} is not an amount (expected 1.234,56)")


def is_credit(art: str | None) -> bool:
    return (art or "").strip().casefold() == "gutschrift"


def reconcile(invoice_amount: Decimal, art: str | None, paid: Decimal) -> tuple[Decimal, Decimal, Decimal, str]:
    """(signed amount, signed paid, open amount, status) of one open item.

    A Gutschrift is negative, and so are its payments (refunds); status says whether the payments
    match: open (none), partial, paid, overpaid (they exceed the amount)."""
    sign = Decimal(-1) if is_credit(art) else Decimal(1)
    signed, paid_signed = sign * abs(invoice_amount), sign * abs(paid)
    if paid and (paid < 0) != (sign < 0) and paid_signed != 0:
        pass  # a refund written with the invoice's sign: counted with the memo's sign (see the docstring)
    open_amount = (signed - paid_signed).quantize(CENT)
    if paid == 0:
        status = STATUS_OPEN
    elif abs(paid) == abs(invoice_amount):
        status = STATUS_PAID
    elif abs(paid) < abs(invoice_amount):
        status = STATUS_PARTIAL
    else:
        status = STATUS_OVERPAID
    return signed.quantize(CENT), paid_signed.quantize(CENT), open_amount, status


def payments_config(rows: list[dict]) -> tuple[dict, list[tuple[dict, str, str, str]]]:
    """Zahlungen -> ``{"paid": {OffenerPostenCode: "sum"}, "count": {...}, "codes": {...: [Zahlung Code]}}`` and
    rejects (row, field, code, message)."""
    paid: dict[str, Decimal] = {}
    count: dict[str, int] = {}
    codes: dict[str, list[str]] = {}
    rejects = []
    for r in rows:
        item = (r.get("OffenerPostenCode") or "").strip()
        if not item:
            rejects.append((r, "OffenerPostenCode", "missing_parent", "a Zahlung without OffenerPostenCode cannot be "
                                                                      "counted against any open item"))
            continue
        try:
            value = amount(r.get("Betrag"))
        except ValueError as e:
            rejects.append((r, "Betrag", "invalid_value", f"{e}; the payment is not counted: fix it in the export"))
            continue
        paid[item] = paid.get(item, Decimal(0)) + value
        count[item] = count.get(item, 0) + 1
        codes.setdefault(item, []).append(str(r.get("Code") or ""))
    return {"paid": {k: str(v) for k, v in paid.items()}, "count": count, "codes": codes}, rejects


def shape_open_item(src: dict, body: dict, warn, s) -> dict:
    """The transform hook of ``offener_posten``: amount, paid and open amount, reconciled."""
    from ...transform import Reject

    config = s.ctx.config.get("zahlung")
    try:
        invoice = amount(src.get("Rechnungsbetrag"), "Rechnungsbetrag")
    except ValueError as e:
        raise Reject("invalid_value", "Rechnungsbetrag", f"{e}: the open amount cannot be computed; fix it in the "
                                                         "export") from None
    code = str(src.get("Code") or "").strip()
    if config is None:  # no Zahlungen in the export (a light licence): the open amount is not known
        signed = -abs(invoice) if is_credit(src.get("Art")) else abs(invoice)
        body.update({"w4a_amount": float(signed.quantize(CENT)), "w4a_reconciliation": "payments unknown"})
        body.setdefault("w4a_name", src.get("Rechnungsnummer") or f"OP {code}")
        warn("payments_absent", "Rechnungsbetrag", "Zahlungen is not in the export: the open amount is not computed "
                                                   "(w4a_openamount left empty); deliver Zahlungen and rerun")
        return body
    paid = Decimal(config["paid"].get(code, "0"))
    signed, paid_signed, open_amount, status = reconcile(invoice, src.get("Art"), paid)
    body.update({"w4a_amount": float(signed), "w4a_paid": float(paid_signed), "w4a_openamount": float(open_amount),
                 "w4a_reconciliation": status})
    body.setdefault("w4a_name", src.get("Rechnungsnummer") or f"OP {code}")
    if status == STATUS_OVERPAID:
        warn("overpaid", "Rechnungsbetrag", f"payments of {paid_signed} exceed the amount {signed}: open amount "
                                            f"{open_amount} (listed in {RECONCILIATION_FILE})")
    return body


def reconciliation(items: Iterable[dict], config: dict) -> list[dict]:
    """Rows of the reconciliation file: items whose payments do not match their amount (partial, overpaid,
    unreadable) and payments whose open item is not in the export."""
    out: list[dict] = []
    seen: set[str] = set()
    for r in items:
        code = str(r.get("Code") or "").strip()
        seen.add(code)
        base = {k: r.get(k) for k in ("Code", "Rechnungsnummer", "KundenCode", "Art", "Rechnungsbetrag")}
        count = config.get("count", {}).get(code, 0)
        try:
            invoice = amount(r.get("Rechnungsbetrag"), "Rechnungsbetrag")
        except ValueError as e:
            out.append({**base, "payments": count, "status": "unreadable", "reason": str(e)})
            continue
        paid = Decimal(config.get("paid", {}).get(code, "0"))
        signed, paid_signed, open_amount, status = reconcile(invoice, r.get("Art"), paid)
        if status in (STATUS_PARTIAL, STATUS_OVERPAID):
            reason = ("payments exceed the amount" if status == STATUS_OVERPAID
                      else "payments do not match the amount (partially paid)")
            out.append({**base, "amount": str(signed), "paid": str(paid_signed), "open": str(open_amount),
                        "payments": count, "Zahlungen": " ".join(config.get("codes", {}).get(code, [])),
                        "status": status, "reason": reason})
    for code, paid in sorted(config.get("paid", {}).items()):
        if code not in seen:
            out.append({"Code": code, "paid": paid, "payments": config.get("count", {}).get(code, 0),
                        "Zahlungen": " ".join(config.get("codes", {}).get(code, [])), "status": "orphan_payment", "reason": "Zahlungen name this OffenerPostenCode, which is not in "
                                                              "OffenePosten: not counted anywhere"})
    return out


def receivable(src: dict, body: dict, warn, s) -> dict:
    """An open item as an open opportunity of the customer's account (the map setting ``open_items_as:
    receivable``): named after its invoice, estimated value = the open amount (the amount when Zahlungen are
    absent), estimated close date = the due date, the w4a_ amounts as on w4a_openitem; left open."""
    account = body.pop("w4a_accountid@odata.bind", None)
    number = body.pop("w4a_name", None) or src.get("Rechnungsnummer") or f"OP {src.get('Code')}"
    body["name"] = s.fit(f"Offener Posten {number}", 300, "Rechnungsnummer", warn)
    if account:
        body["parentaccountid@odata.bind"] = body["customerid_account@odata.bind"] = account
    value = body.get("w4a_openamount", body.get("w4a_amount"))
    if value is not None:
        body["estimatedvalue"] = value
    if body.get("w4a_duedate"):
        body["estimatedclosedate"] = body["w4a_duedate"]
    return body
