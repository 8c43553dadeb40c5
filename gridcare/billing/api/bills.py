"""Billing API: bills and 退补 corrections (docs/billing-bills.md), mounted at /api/billing/.

Staff only: reading bills needs ``billing.view_bill``; requesting a correction
``billing.add_billadjustment``; deciding one ``billing.change_billadjustment`` (and not
being its requester). Portal customers are refused here (403) and read their own bills at
``/api/portal/bills``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from gridcare.billing.models import Bill, BillAdjustment
from gridcare.billing.selectors.bills import (
    account_statement,
    adjustments_visible_to,
    bill_get,
    bill_search,
    with_outstanding,
)
from gridcare.billing.services.adjustments import bill_adjustment_decide, bill_adjustment_request
from gridcare.billing.services.bills import backbill_due
from gridcare.core.errors import NotFound, PermissionDenied
from gridcare.core.roles import staff_has_perm
from gridcare.customers.models import Account

router = Router(tags=["billing-bills"])
LIST_LIMIT = 200
CENT = Decimal("0.01")


class ErrorOut(Schema):
    code: str
    message: str
    field: str | None = None


class LineOut(Schema):
    seq: int
    kind: str
    item: str
    kwh: Decimal | None
    unit_price: Decimal | None
    amount: Decimal
    period_from: dt.date | None = Field(
        None,
        description="First day of a line that covers part of the bill's period only (a basic-charge "
        "line per contract when the contract changed in the month); null: the whole period",
    )
    period_to: dt.date | None = Field(None, description="Last day (inclusive) of such a line; null otherwise")


class AdjustmentOut(Schema):
    id: int
    number: str
    bill: int
    kind: str
    kwh: Decimal
    amount: Decimal
    reason: str
    status: str
    requested_by: str
    requested_at: dt.datetime
    decided_by: str
    decided_at: dt.datetime | None
    due_date: dt.date | None = Field(
        None, description="缴费截止日 of an approved back-billing (补收); null for anything else"
    )
    meter_adjustment: int | None
    lines: list[Any]


class AllocationOut(Schema):
    payment: str
    received_at: dt.datetime
    amount: Decimal
    late_fee: Decimal
    reversed: bool


class BillOut(Schema):
    id: int
    number: str
    account: str
    period: dt.date
    period_start: dt.date
    period_end: dt.date
    tariff_code: str
    kwh: Decimal
    amount: Decimal
    status: str
    issued_at: dt.datetime | None
    due_date: dt.date | None
    outstanding: Decimal


class BillDetailOut(BillOut):
    readings: dict[str, Any]
    lines: list[LineOut]
    adjustments: list[AdjustmentOut]
    allocations: list[AllocationOut]


class StatementEntryOut(Schema):
    on: dt.datetime
    kind: str
    reference: str
    description: str
    amount: Decimal
    balance: Decimal


class StatementOut(Schema):
    """对账单: every issued bill, approved correction, payment and reversal, oldest first."""

    account: str
    billed: Decimal
    adjusted: Decimal
    paid: Decimal
    late_fees_paid: Decimal
    outstanding: Decimal
    balance: Decimal
    entries: list[StatementEntryOut]


class AdjustmentIn(Schema):
    kind: Literal["refund", "backbill"]
    kwh: str = "0"
    amount: str | None = None
    reason: str = Field(..., max_length=2000)


class DecisionIn(Schema):
    approve: bool
    note: str = ""


def _staff(request: HttpRequest, perm: str) -> Any:
    if not staff_has_perm(request.user, perm):
        raise PermissionDenied()
    return request.user


def bill_out(bill: Bill) -> dict[str, Any]:
    """The list fields of a bill (``outstanding`` annotated; 0 unless issued)."""
    return {
        "id": bill.pk,
        "number": bill.number,
        "account": bill.account.number,
        "period": bill.period,
        "period_start": bill.period_start,
        "period_end": bill.period_end,
        "tariff_code": bill.tariff_code,
        "kwh": bill.kwh,
        "amount": bill.amount,
        "status": bill.status,
        "issued_at": bill.issued_at,
        "due_date": bill.due_date,
        # SQLite computes the annotation in floating point: quantize back to the fen.
        "outstanding": Decimal(bill.outstanding).quantize(CENT)  # type: ignore[attr-defined]
        if bill.status == "issued"
        else Decimal("0.00"),
    }


def adjustment_out(item: BillAdjustment) -> dict[str, Any]:
    return {
        "id": item.pk,
        "number": item.number,
        "bill": item.bill_id,
        "kind": item.kind,
        "kwh": item.kwh,
        "amount": item.amount,
        "reason": item.reason,
        "status": item.status,
        "requested_by": item.requested_by,
        "requested_at": item.requested_at,
        "decided_by": item.decided_by,
        "decided_at": item.decided_at,
        "due_date": backbill_due(item),
        "meter_adjustment": item.meter_adjustment_id,
        "lines": item.lines or [],
    }


def bill_detail_out(bill: Bill, *, adjustments: bool = True) -> dict[str, Any]:
    """A bill with readings, lines, corrections and allocations (``adjustments=False`` is
    what a customer is shown: approved corrections only, without the staff user names)."""
    items = list(bill.adjustments.all())
    if not adjustments:
        items = [a for a in items if a.status == "approved"]
    return {
        **bill_out(bill),
        "readings": bill.readings or {},
        "lines": [
            {
                "seq": line.seq,
                "kind": line.kind,
                "item": line.item,
                "kwh": line.kwh,
                "unit_price": line.unit_price,
                "amount": line.amount,
                "period_from": line.period_from,
                "period_to": line.period_to,
            }
            for line in bill.lines.all()
        ],
        "adjustments": [
            adjustment_out(a) if adjustments else {**adjustment_out(a), "requested_by": "", "decided_by": ""}
            for a in items
        ],
        "allocations": [
            {
                "payment": al.payment.number,
                "received_at": al.payment.received_at,
                "amount": al.amount,
                "late_fee": al.late_fee,
                "reversed": al.reversed,
            }
            for al in bill.allocations.all()
        ],
    }


@router.get("/bills", response={200: list[BillOut], 403: ErrorOut})
def bills(
    request: HttpRequest,
    account: str = "",
    period: dt.date | None = None,
    status: str = "",
    run: int | None = None,
) -> list[dict[str, Any]]:
    """Bills by 户号 (prefix), month, status and run, newest first (at most 200)."""
    user = _staff(request, "billing.view_bill")
    found = bill_search(user, {"account": account, "period": period, "status": status, "run": run})
    return [bill_out(b) for b in found[:LIST_LIMIT]]


@router.get("/bills/{bill_id}", response={200: BillDetailOut, 403: ErrorOut, 404: ErrorOut})
def bill_detail(request: HttpRequest, bill_id: int) -> dict[str, Any]:
    """One bill with its readings, lines, corrections and allocated payments."""
    user = _staff(request, "billing.view_bill")
    return bill_detail_out(bill_get(user=user, bill_id=bill_id))


@router.get("/accounts/{number}/statement", response={200: StatementOut, 403: ErrorOut, 404: ErrorOut})
def statement(request: HttpRequest, number: str) -> dict[str, Any]:
    """对账单 of one account (户号): bills, corrections, payments with the running balance."""
    _staff(request, "billing.view_bill")
    account = Account.objects.filter(number=number).first()
    if account is None:
        raise NotFound()
    result = account_statement(account.pk)
    return {
        "account": account.number,
        "billed": result.billed,
        "adjusted": result.adjusted,
        "paid": result.paid,
        "late_fees_paid": result.late_fees_paid,
        "outstanding": result.outstanding,
        "balance": result.balance,
        "entries": [vars(e) for e in result.entries],
    }


@router.post(
    "/bills/{bill_id}/adjustments",
    response={201: AdjustmentOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def adjustment_request(request: HttpRequest, bill_id: int, payload: AdjustmentIn) -> Status:
    """申请退补 on an issued bill; without ``amount`` it is computed by re-rating."""
    user = _staff(request, "billing.add_billadjustment")
    _staff(request, "billing.view_bill")
    item = bill_adjustment_request(
        actor=user,
        bill_id=bill_id,
        kind=payload.kind,
        kwh=payload.kwh,
        amount=payload.amount,
        reason=payload.reason,
    )
    return Status(201, adjustment_out(item))


@router.get("/adjustments", response={200: list[AdjustmentOut], 403: ErrorOut})
def adjustments(request: HttpRequest, status: str = "", bill: int | None = None) -> list[dict[str, Any]]:
    """退补单, pending first then newest (at most 200); filter by status and bill."""
    user = _staff(request, "billing.view_billadjustment")
    items = adjustments_visible_to(user)
    if status:
        items = items.filter(status=status)
    if bill is not None:
        items = items.filter(bill_id=bill)
    return [adjustment_out(a) for a in items[:LIST_LIMIT]]


@router.get("/adjustments/{adjustment_id}", response={200: AdjustmentOut, 403: ErrorOut, 404: ErrorOut})
def adjustment_detail(request: HttpRequest, adjustment_id: int) -> dict[str, Any]:
    """One 退补单 with its re-rated lines."""
    item = (
        adjustments_visible_to(_staff(request, "billing.view_billadjustment"))
        .filter(pk=adjustment_id)
        .first()
    )
    if item is None:
        raise NotFound()
    return adjustment_out(item)


@router.post(
    "/adjustments/{adjustment_id}/decision",
    response={200: AdjustmentOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
def adjustment_decision(request: HttpRequest, adjustment_id: int, payload: DecisionIn) -> dict[str, Any]:
    """审批退补: approve or reject (a second person)."""
    user = _staff(request, "billing.change_billadjustment")
    return adjustment_out(
        bill_adjustment_decide(
            actor=user, adjustment_id=adjustment_id, approve=payload.approve, note=payload.note
        )
    )


__all__ = ["bill_detail_out", "bill_out", "router", "with_outstanding"]
