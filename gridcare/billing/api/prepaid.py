"""Billing API: prepaid (费控), mounted at ``/api/billing/`` (docs/billing-prepaid.md).

- ``GET prepaid/accounts/{number}``: balance, the last 30 daily charges, the reminders —
  staff with ``billing.view_prepaidcharge`` (and the orders with ``view_remoteorder``), or
  the portal customer for their own prepaid account (anyone else's is 404);
- ``GET prepaid/orders``: the remote-order queue (``billing.view_remoteorder``);
- ``POST prepaid/orders/{id}/send|confirm|decide``: ``billing.change_remoteorder``; decide is
  for an order waiting for a person (an important customer's disconnection).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from gridcare.billing.models import RemoteOrder
from gridcare.billing.selectors.prepaid import (
    PERM_ACT,
    PERM_VIEW,
    PERM_VIEW_ORDERS,
    my_prepaid_account,
    prepaid_account_detail,
    remote_orders_queue,
)
from gridcare.billing.services.prepaid import remote_order_confirm, remote_order_decide, remote_order_send
from gridcare.core.errors import NotFound, PermissionDenied
from gridcare.core.roles import is_customer_user, staff_has_perm
from gridcare.customers.models import Account

router = Router(tags=["billing-prepaid"])

ORDERS_SHOWN = 200


class ChargeOut(Schema):
    day: dt.date
    days: int = Field(
        description="Days of use the charge covers, ending on `day` (more than 1 after missing readings)"
    )
    first_day: dt.date = Field(description="The first day of use it covers")
    kwh: Decimal
    amount: Decimal
    balance_after: Decimal


class NoticeOut(Schema):
    level: str
    balance: Decimal
    channels: str
    message: str
    sent_at: dt.datetime


class OrderOut(Schema):
    id: int
    account: str
    kind: str
    status: str
    reason: str
    balance: Decimal
    created_at: dt.datetime
    due_at: dt.datetime | None
    executed_at: dt.datetime | None
    decided_by: str


class PrepaidAccountOut(Schema):
    number: str
    balance: Decimal
    state: str = Field(description="arrears (< 0), low (below the reminder level) or ok")
    low_balance: Decimal
    charges: list[ChargeOut]
    notices: list[NoticeOut]
    orders: list[OrderOut]


class DecideIn(Schema):
    approve: bool
    note: str = Field(..., max_length=300)


def _order_out(order: RemoteOrder) -> dict[str, Any]:
    return {
        "id": order.pk,
        "account": order.account.number,
        "kind": order.kind,
        "status": order.status,
        "reason": order.reason,
        "balance": order.balance,
        "created_at": order.created_at,
        "due_at": order.due_at,
        "executed_at": order.executed_at,
        "decided_by": order.decided_by,
    }


@router.get("prepaid/accounts/{number}", response=PrepaidAccountOut)
def prepaid_account(request: HttpRequest, number: str) -> dict[str, Any]:
    """One prepaid account (the staff console's or the customer's own)."""
    user = request.user
    if is_customer_user(user):
        data = my_prepaid_account(user=user, number=number)
    elif staff_has_perm(user, PERM_VIEW):
        pk = Account.objects.filter(number=number).values_list("pk", flat=True).first()
        if pk is None:
            raise NotFound()
        data = prepaid_account_detail(user=user, account_id=pk)
    else:
        raise PermissionDenied()
    charges = list(reversed(data["charges"]))[:30]
    return {
        "number": data["account"].number,
        "balance": data["balance"],
        "state": data["state"],
        "low_balance": data["low"],
        "charges": charges,
        "notices": data["notices"],
        "orders": [_order_out(o) for o in data["orders"]],
    }


@router.get("prepaid/orders", response=list[OrderOut])
def prepaid_orders(request: HttpRequest, status: str = "", kind: str = "") -> list[dict[str, Any]]:
    """The remote-order queue (for a person first, then pending, sent; at most 200 rows)."""
    if not staff_has_perm(request.user, PERM_VIEW_ORDERS):
        raise PermissionDenied()
    return [
        _order_out(o) for o in remote_orders_queue(user=request.user, status=status, kind=kind)[:ORDERS_SHOWN]
    ]


def _act(request: HttpRequest) -> None:
    if not staff_has_perm(request.user, PERM_ACT):
        raise PermissionDenied()


@router.post("prepaid/orders/{order_id}/send", response=OrderOut)
def prepaid_order_send(request: HttpRequest, order_id: int) -> dict[str, Any]:
    """Send a pending order to the head-end adapter."""
    _act(request)
    return _order_out(remote_order_send(actor=request.user, order_id=order_id))


@router.post("prepaid/orders/{order_id}/confirm", response=OrderOut)
def prepaid_order_confirm(request: HttpRequest, order_id: int) -> dict[str, Any]:
    """Confirm a sent order as executed."""
    _act(request)
    return _order_out(remote_order_confirm(actor=request.user, order_id=order_id))


@router.post("prepaid/orders/{order_id}/decide", response=OrderOut)
def prepaid_order_decide(request: HttpRequest, order_id: int, payload: DecideIn) -> dict[str, Any]:
    """A person approves (→ pending) or declines (→ cancelled) an order waiting for them."""
    _act(request)
    return _order_out(
        remote_order_decide(actor=request.user, order_id=order_id, approve=payload.approve, note=payload.note)
    )
