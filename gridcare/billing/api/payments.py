"""Billing API: payments, arrears, late-fee waivers and the online-payment callback
(docs/billing-payments.md), mounted at /api/billing/.

- ``POST /payments`` — staff with ``billing.add_payment``; the ``Idempotency-Key`` header is
  required (a repeat returns the payment already posted);
- ``POST /payments/{id}/reverse`` — ``billing.change_payment``, with a reason;
- ``GET /payments`` and ``GET /payments/{id}`` — staff with ``billing.view_payment``, or a
  portal customer for their own accounts only;
- ``GET /arrears/{account}`` — the account's unpaid bills with the late fee to date (staff
  with ``billing.view_payment`` or the owning customer); ``GET /arrears-aging`` — staff;
- ``POST /late-fee-waivers`` / ``POST /late-fee-waivers/{id}/decide`` — request and decide;
- ``POST /refund-requests`` — 销户退费: a clerk (``billing.add_refundrequest``, the
  ``Idempotency-Key`` header) asks for a closed account's balance to be paid back; nothing
  is paid until ``POST /refund-requests/{id}/decide`` by another person
  (``billing.change_refundrequest``) approves it; ``GET /refund-requests`` and
  ``GET /refund-requests/{id}`` — staff with ``billing.view_refundrequest``, or a portal
  customer for their own accounts only; ``POST /refund-requests/{id}/withdraw`` — the
  requester alone (``billing.add_refundrequest``), while it is pending;
- ``GET /late-fee-waivers`` and ``GET /late-fee-waivers/{id}`` — staff with
  ``billing.view_latefeewaiver``: each waiver with the payment that used it (``used_by``);
- ``POST /payments/callback/{channel}`` — no session, no CSRF: the body must be signed
  (header ``X-Signature``: hex HMAC-SHA256 of the raw body with the channel's secret).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from gridcare.billing.choices import PaymentChannel, PaymentStatus
from gridcare.billing.models import LateFeeWaiver, Payment, RefundRequest
from gridcare.billing.selectors.payments import (
    account_arrears,
    arrears_aging,
    payment_get,
    payments_search,
    waiver_get,
    waivers_search,
)
from gridcare.billing.selectors.refunds import refund_request_get, refund_requests_search
from gridcare.billing.services.late_fees import late_fee_waiver_decide, late_fee_waiver_request
from gridcare.billing.services.payments import (
    balance_refund_decide,
    balance_refund_request,
    balance_refund_withdraw,
    payment_callback_receive,
    payment_post,
    payment_reverse,
)
from gridcare.core.errors import NotFound, PermissionDenied, ValidationFailed
from gridcare.core.money import fen_to_yuan
from gridcare.core.pagination import page_body, paginate
from gridcare.core.roles import is_customer_user, require_staff_perm, staff_has_perm
from gridcare.customers.models import Account

router = Router(tags=["billing-payments"])
LIST_LIMIT = 200
CENT = Decimal("0.01")
COUNTER_CHANNELS = (PaymentChannel.COUNTER_CASH, PaymentChannel.COUNTER_CARD)


class ErrorOut(Schema):
    code: str
    message: str
    field: str | None = None


class AllocationOut(Schema):
    bill: str
    period: dt.date
    principal: Decimal
    late_fee: Decimal
    reversed: bool


class PaymentOut(Schema):
    id: int
    number: str
    kind: str = Field(
        description="`payment` (money in) or `refund` (销户退费: money paid back, amount negative)"
    )
    kind_label: str = Field(description="The kind as shown, in the request's language")
    account: str
    channel: str
    amount: Decimal
    received_at: dt.datetime
    external_ref: str
    status: str
    status_label: str = Field(
        description="The status as shown, in the request's language (a refund that stands: 已退款)"
    )
    posted_by: str = Field(description="Who posted it (empty for a customer: staff names stay inside)")
    reversal_reason: str
    reversed_at: dt.datetime | None
    allocations: list[AllocationOut]


class PaymentIn(Schema):
    account: str
    amount: str
    channel: str = PaymentChannel.COUNTER_CASH
    received_at: dt.datetime | None = Field(
        None,
        description="When the money was taken, today only (default: now): the late fee counts to the "
        "payment day, so an earlier day would waive it without a waiver",
    )
    external_ref: str = ""


class ReverseIn(Schema):
    reason: str


class ArrearsBillOut(Schema):
    bill: str
    period: dt.date
    due_date: dt.date
    outstanding: Decimal
    late_fee: Decimal


class ArrearsOut(Schema):
    account: str
    as_of: dt.date
    balance: Decimal
    outstanding: Decimal
    late_fee: Decimal
    total_due: Decimal
    bills: list[ArrearsBillOut]


class AgingRowOut(Schema):
    key: str
    label: str
    amounts: list[Decimal]
    bills: int
    total: Decimal


class AgingOut(Schema):
    as_of: dt.date
    by: str
    buckets: list[str]
    rows: list[AgingRowOut]
    totals: list[Decimal]
    grand_total: Decimal


class WaiverIn(Schema):
    bill: int
    amount: str
    reason: str


class DecideIn(Schema):
    approve: bool
    note: str = ""


class WaiverOut(Schema):
    id: int
    bill: int
    bill_number: str
    account: str = Field(description="户号 of the bill's account")
    amount: Decimal
    reason: str
    status: str
    requested_by: str
    requested_at: dt.datetime
    decided_by: str
    decided_at: dt.datetime | None
    used_by: str | None = Field(
        description="Receipt number (SK…) of the payment whose late fee on the bill this approved "
        "waiver lowered, recorded when that payment was posted; null: not used yet"
    )
    used_by_id: int | None = Field(description="That payment in /payments (its allocations on the bill)")
    used_at: dt.datetime | None = Field(description="When that payment used it")
    used: bool = Field(
        description="true while the payment that used it stands; false when not used yet or that payment "
        "was reversed (冲正: the waiver then serves the next payment on the bill)"
    )
    fee_waived: Decimal | None = Field(
        description="The late fee that payment's allocations on the bill did not collect (all the waivers "
        "it used on the bill together; a part beyond its fee lapsed); null when not used"
    )


class WaiverPageOut(Schema):
    items: list[WaiverOut]
    page: int
    pages: int
    total: int
    per_page: int


class WaiverSearch(Schema):
    status: str = Field("", description="pending, approved or rejected")
    account: str = Field("", description="户号 (exact)")
    page: int = Field(1, description="Page number, from 1")
    per_page: int = Field(25, description="Waivers per page (at most 200)")


class RefundRequestIn(Schema):
    account: str = Field(description="户号 of the closed account")
    amount: str | None = Field(
        None,
        description="Yuan; default: what the balance leaves after the unpaid bills (they are paid first)",
    )
    channel: str = Field(description="`refund_bank` (bank transfer) or `refund_cash` (cash)")
    reference: str = Field(description="The bank transfer's serial number or the cash voucher's number")
    reason: str


class RefundDecideIn(Schema):
    approve: bool = Field(description="true: pay the money back now; false: reject (no money moves)")
    note: str = Field(description="The reason for the decision (审批意见), required, at most 300 characters")


class RefundRequestOut(Schema):
    id: int
    account: str
    amount: Decimal = Field(description="What is (to be) paid back, positive")
    channel: str
    channel_label: str
    reference: str
    reason: str
    status: str = Field(
        description="`pending` (待审批: no money moved), `approved` (paid back), `rejected`, or "
        "`withdrawn` (已撤回 by its requester before a decision: no money moved)"
    )
    status_label: str = Field(
        description="The status as shown, in the request's language: pending 待审批, rejected 已驳回, "
        "withdrawn 已撤回, approved the refund's own label (已退款, or 已冲正 once reversed)"
    )
    requested_by: str = Field(description="Empty for a customer: staff names stay inside")
    requested_at: dt.datetime
    decided_by: str = Field(description="Empty for a customer")
    decided_at: dt.datetime | None
    decision_note: str = Field(description="The approver's reason (empty for a customer)")
    withdrawn_at: dt.datetime | None = Field(description="When its requester withdrew it (撤回)")
    refund: str | None = Field(description="The refund voucher's number (TF…) once approved")
    refund_id: int | None = Field(description="The refund row in /payments once approved")


class RefundRequestPageOut(Schema):
    items: list[RefundRequestOut]
    page: int
    pages: int
    total: int
    per_page: int


class RefundRequestSearch(Schema):
    status: str = Field("", description="pending, approved, rejected or withdrawn")
    account: str = Field("", description="户号 (exact)")
    page: int = Field(1, description="Page number, from 1")
    per_page: int = Field(25, description="Requests per page (at most 200)")


def _payment_out(payment: Payment, user: Any) -> dict[str, Any]:
    """A payment as the API gives it; a customer sees no staff names (as in the portal)."""
    return {
        "id": payment.pk,
        "number": payment.number,
        "kind": payment.kind,
        "kind_label": str(payment.get_kind_display()),
        "account": payment.account.number,
        "channel": payment.channel,
        "amount": payment.amount,
        "received_at": payment.received_at,
        "external_ref": payment.external_ref,
        "status": payment.status,
        "status_label": payment.status_label,
        "posted_by": payment.posted_by if staff_has_perm(user, "billing.view_payment") else "",
        "reversal_reason": payment.reversal_reason,
        "reversed_at": payment.reversed_at,
        "allocations": [
            {
                "bill": a.bill.number,
                "period": a.bill.period,
                "principal": a.amount,
                "late_fee": a.late_fee,
                "reversed": a.reversed,
            }
            for a in payment.allocations.select_related("bill").order_by("bill__period", "bill_id")
        ],
    }


def _refund_request_out(refund: RefundRequest, user: Any) -> dict[str, Any]:
    """A refund request as the API gives it; a customer sees no staff names or notes."""
    staff = staff_has_perm(user, "billing.view_refundrequest")
    return {
        "id": refund.pk,
        "account": refund.account.number,
        "amount": refund.amount,
        "channel": refund.channel,
        "channel_label": str(refund.get_channel_display()),
        "reference": refund.reference,
        "reason": refund.reason,
        "status": refund.status,
        "status_label": refund.status_label,
        "requested_by": refund.requested_by if staff else "",
        "requested_at": refund.requested_at,
        "decided_by": refund.decided_by if staff else "",
        "decided_at": refund.decided_at,
        "decision_note": refund.decision_note if staff else "",
        "withdrawn_at": refund.withdrawn_at,
        "refund": refund.payment.number if refund.payment is not None else None,
        "refund_id": refund.payment_id,
    }


def _waiver_out(waiver: LateFeeWaiver) -> dict[str, Any]:
    """A waiver as the API gives it, with the payment that used it (``used_by``, recorded
    with that payment) — read from :func:`waivers_visible_to` (``fee_waived`` annotated), or
    as a service returned it (a waiver just requested or decided is not used yet)."""
    used_by = waiver.used_by
    used = used_by is not None and used_by.status != PaymentStatus.REVERSED
    fee_waived = getattr(waiver, "fee_waived", None) if used else None
    return {
        "id": waiver.pk,
        "bill": waiver.bill_id,
        "bill_number": waiver.bill.number,
        "account": waiver.bill.account.number,
        "amount": waiver.amount,
        "reason": waiver.reason,
        "status": waiver.status,
        "requested_by": waiver.requested_by,
        "requested_at": waiver.requested_at,
        "decided_by": waiver.decided_by,
        "decided_at": waiver.decided_at,
        "used_by": used_by.number if used_by is not None else None,
        "used_by_id": waiver.used_by_id,
        "used_at": waiver.used_at,
        "used": used,
        # A sum: SQLite gives it without its scale (52, not 52.00).
        "fee_waived": Decimal(fee_waived).quantize(CENT) if fee_waived is not None else None,
    }


@router.post(
    "/payments",
    response={200: PaymentOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Post a counter payment (柜台收费)",
)
def payments_post(request: HttpRequest, payload: PaymentIn) -> dict[str, Any]:
    """Needs ``billing.add_payment`` and the ``Idempotency-Key`` header; counter channels
    only (online money arrives by the signed callback, bank money by the result file)."""
    require_staff_perm(request.user, "billing.add_payment")
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise ValidationFailed("The Idempotency-Key header is required.", field="Idempotency-Key")
    if payload.channel not in COUNTER_CHANNELS:
        raise ValidationFailed("Only counter channels are posted here.", field="channel")
    account = Account.objects.filter(number=payload.account.strip()).first()
    if account is None:
        raise NotFound("No such account.", field="account")
    # A time without its zone is refused by payment_item; a counter payment is of today.
    when = payload.received_at
    if when is not None and timezone.is_aware(when) and timezone.localdate(when) != timezone.localdate():
        raise ValidationFailed(
            "A counter payment is received today: an earlier day would cut the late fee.", field="received_at"
        )
    payment = payment_post(
        actor=request.user,
        account_id=account.pk,
        amount=payload.amount,
        channel=payload.channel,
        idempotency_key=f"api:{key}",
        received_at=payload.received_at,
        external_ref=payload.external_ref,
    )
    return _payment_out(payment, request.user)


@router.get("/payments", response=list[PaymentOut], summary="Payments (staff: all; customer: own)")
def payments_list(
    request: HttpRequest, account: str = "", channel: str = "", status: str = "", limit: int = 50
) -> list[dict[str, Any]]:
    if not (staff_has_perm(request.user, "billing.view_payment") or is_customer_user(request.user)):
        raise PermissionDenied()
    qs = payments_search(user=request.user, account=account, channel=channel, status=status)
    return [_payment_out(p, request.user) for p in qs[: max(1, min(limit, LIST_LIMIT))]]


@router.get("/payments/{int:payment_id}", response={200: PaymentOut, 404: ErrorOut}, summary="One payment")
def payments_detail(request: HttpRequest, payment_id: int) -> dict[str, Any]:
    return _payment_out(payment_get(user=request.user, payment_id=payment_id), request.user)


@router.post(
    "/payments/{int:payment_id}/reverse",
    response={200: PaymentOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Reverse a payment (冲正)",
)
def payments_reverse(request: HttpRequest, payment_id: int, payload: ReverseIn) -> dict[str, Any]:
    require_staff_perm(request.user, "billing.change_payment")
    payment = payment_reverse(actor=request.user, payment_id=payment_id, reason=payload.reason)
    return _payment_out(payment, request.user)


@router.post(
    "/payments/callback/{channel}",
    auth=None,
    response={200: dict[str, Any], 400: ErrorOut, 401: ErrorOut},
    summary="Online-payment notification (WeChat / Alipay / 网上国网), signed",
)
def payments_callback(request: HttpRequest, channel: str) -> Status[dict[str, Any]]:
    """No session and no CSRF: the raw body must carry ``X-Signature``, the lowercase hex
    HMAC-SHA256 of the body with the channel's secret. A repeated ``txn_id`` posts once."""
    status, body = payment_callback_receive(
        channel=channel,
        raw_body=request.body,
        signature=request.headers.get("X-Signature", ""),
        remote_addr=request.META.get("REMOTE_ADDR", ""),
    )
    return Status(status, body)


@router.get("/arrears/{account}", response={200: ArrearsOut, 404: ErrorOut}, summary="Account arrears (欠费)")
def arrears_detail(request: HttpRequest, account: str, as_of: dt.date | None = None) -> dict[str, Any]:
    arrears = account_arrears(user=request.user, account_number=account, as_of=as_of or timezone.localdate())
    return {
        "account": arrears.account.number,
        "as_of": arrears.as_of,
        "balance": arrears.balance,
        "outstanding": arrears.outstanding,
        "late_fee": arrears.late_fee,
        "total_due": arrears.total_due,
        "bills": [
            {
                "bill": b.number,
                "period": b.period,
                "due_date": b.due_date,
                "outstanding": fen_to_yuan(b.outstanding_fen),
                "late_fee": fen_to_yuan(b.late_fee_fen),
            }
            for b in arrears.bills
        ],
    }


@router.get(
    "/arrears-aging",
    response={200: AgingOut, 403: ErrorOut, 404: ErrorOut},
    summary="Arrears aging (欠费账龄)",
)
def arrears_aging_report(
    request: HttpRequest, by: str = "customer_class", as_of: dt.date | None = None
) -> dict[str, Any]:
    return arrears_aging(user=request.user, as_of=as_of or timezone.localdate(), by=by)


@router.post(
    "/late-fee-waivers",
    response={200: WaiverOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut},
    summary="Request a late-fee waiver (违约金减免)",
)
def waivers_request(request: HttpRequest, payload: WaiverIn) -> dict[str, Any]:
    waiver = late_fee_waiver_request(
        actor=request.user, bill_id=payload.bill, amount=payload.amount, reason=payload.reason
    )
    return _waiver_out(waiver)


@router.get(
    "/late-fee-waivers",
    response={200: WaiverPageOut, 403: ErrorOut},
    summary="Late-fee waivers, pending first, each with the payment that used it",
)
def waivers_list(request: HttpRequest, filters: Query[WaiverSearch]) -> dict[str, Any]:
    """Staff with ``billing.view_latefeewaiver`` (anybody else 403, customers included)."""
    require_staff_perm(request.user, "billing.view_latefeewaiver")
    qs = waivers_search(user=request.user, status=filters.status, account=filters.account)
    return page_body(paginate(request, qs), _waiver_out)


@router.get(
    "/late-fee-waivers/{int:waiver_id}",
    response={200: WaiverOut, 404: ErrorOut},
    summary="One late-fee waiver, with the payment that used it",
)
def waivers_detail(request: HttpRequest, waiver_id: int) -> dict[str, Any]:
    """404 for a waiver the caller may not see (missing or not theirs to see alike)."""
    return _waiver_out(waiver_get(user=request.user, waiver_id=waiver_id))


@router.post(
    "/late-fee-waivers/{int:waiver_id}/decide",
    response={200: WaiverOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Approve or reject a late-fee waiver (another person)",
)
def waivers_decide(request: HttpRequest, waiver_id: int, payload: DecideIn) -> dict[str, Any]:
    waiver = late_fee_waiver_decide(
        actor=request.user, waiver_id=waiver_id, approve=payload.approve, note=payload.note
    )
    return _waiver_out(waiver)


# --- balance refunds (销户退费), four eyes ----------------------------------------------------


@router.post(
    "/refund-requests",
    response={200: RefundRequestOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Request a closed account's balance refund (销户退费申请)",
)
def refund_requests_post(request: HttpRequest, payload: RefundRequestIn) -> dict[str, Any]:
    """Needs ``billing.add_refundrequest`` and the ``Idempotency-Key`` header (a repeat
    returns the request already made). The request is pending: no money moves until
    another person approves it."""
    require_staff_perm(request.user, "billing.add_refundrequest")
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        raise ValidationFailed("The Idempotency-Key header is required.", field="Idempotency-Key")
    account = Account.objects.filter(number=payload.account.strip()).first()
    if account is None:
        raise NotFound("No such account.", field="account")
    refund = balance_refund_request(
        actor=request.user,
        account_id=account.pk,
        amount=payload.amount,
        channel=payload.channel,
        reference=payload.reference,
        reason=payload.reason,
        idempotency_key=f"api:{key}",
    )
    return _refund_request_out(refund, request.user)


@router.get(
    "/refund-requests",
    response={200: RefundRequestPageOut, 403: ErrorOut},
    summary="Refund requests, pending first (staff: all; customer: own)",
)
def refund_requests_list(request: HttpRequest, filters: Query[RefundRequestSearch]) -> dict[str, Any]:
    if not (staff_has_perm(request.user, "billing.view_refundrequest") or is_customer_user(request.user)):
        raise PermissionDenied()
    qs = refund_requests_search(user=request.user, status=filters.status, account=filters.account)
    page = paginate(request, qs)
    return page_body(page, lambda r: _refund_request_out(r, request.user))


@router.get(
    "/refund-requests/{int:refund_request_id}",
    response={200: RefundRequestOut, 404: ErrorOut},
    summary="One refund request",
)
def refund_requests_detail(request: HttpRequest, refund_request_id: int) -> dict[str, Any]:
    refund = refund_request_get(user=request.user, refund_request_id=refund_request_id)
    return _refund_request_out(refund, request.user)


@router.post(
    "/refund-requests/{int:refund_request_id}/decide",
    response={200: RefundRequestOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
    summary="Approve (pay back now) or reject a refund request — another person",
)
def refund_requests_decide(
    request: HttpRequest, refund_request_id: int, payload: RefundDecideIn
) -> dict[str, Any]:
    """Needs ``billing.change_refundrequest``; never the requester (403). A request already
    decided answers 409 (two approvals at once pay once); a refund the account no longer
    allows answers 409 and the request stays pending."""
    require_staff_perm(request.user, "billing.change_refundrequest")
    refund = balance_refund_decide(
        actor=request.user, refund_request_id=refund_request_id, approve=payload.approve, note=payload.note
    )
    return _refund_request_out(refund, request.user)


@router.post(
    "/refund-requests/{int:refund_request_id}/withdraw",
    response={200: RefundRequestOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Withdraw one's own pending refund request (撤回)",
)
def refund_requests_withdraw(request: HttpRequest, refund_request_id: int) -> dict[str, Any]:
    """The requester alone (``billing.add_refundrequest``): anybody else — another clerk, an
    approver, a customer — answers 403, whoever's the request. A request already approved or
    rejected answers 409; one already withdrawn by the caller is returned as it is. No money
    moves: the request ends ``withdrawn`` and the account may be asked for again."""
    require_staff_perm(request.user, "billing.add_refundrequest")
    refund = balance_refund_withdraw(actor=request.user, refund_request_id=refund_request_id)
    return _refund_request_out(refund, request.user)
