"""Read side of prepaid (费控): the console lists and the customer's own view.

Staff selectors check the role's ``view_*`` permission themselves (a customer or a staff
user without it gets ``PermissionDenied``); the portal selectors only ever return the
logged-in customer's own accounts (someone else's account is ``NotFound``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    DecimalField,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext

from gridcare.billing.choices import BillStatus, RemoteOrderKind, RemoteOrderStatus
from gridcare.billing.models import AccountBalance, Bill, PrepaidCharge, PrepaidNotice, RemoteOrder
from gridcare.billing.selectors.policy import billing_policy_at
from gridcare.core.errors import NotFound, PermissionDenied
from gridcare.core.roles import staff_has_perm
from gridcare.customers.models import Account
from gridcare.customers.selectors import accounts_visible_to

PERM_VIEW = "billing.view_prepaidcharge"
PERM_VIEW_ORDERS = "billing.view_remoteorder"
PERM_ACT = "billing.change_remoteorder"
STATES = ("arrears", "low", "ok")


def _need(user: Any, perm: str) -> None:
    if not staff_has_perm(user, perm):
        raise PermissionDenied()


def low_balance_in_force(day: dt.date | None = None) -> Decimal:
    """``prepaid_low_balance`` of the policy in force (0 when there is none)."""
    policy = billing_policy_at(day or timezone.localdate())
    return policy.prepaid_low_balance if policy else Decimal("0")


def balance_state(balance: Decimal | None, low: Decimal) -> str:
    """``arrears`` (< 0, red), ``low`` (< the reminder level, amber) or ``ok``."""
    amount = balance or Decimal("0")
    if amount < 0:
        return "arrears"
    if amount < low:
        return "low"
    return "ok"


def _money(value: Decimal | None) -> Decimal:
    """An annotated amount as yuan with 2 places (SQLite returns subquery decimals unscaled)."""
    return Decimal(value if value is not None else 0).quantize(Decimal("0.01"))


def _with_balance(qs: QuerySet[Account]) -> QuerySet[Account]:
    last = PrepaidCharge.objects.filter(account_id=OuterRef("pk")).order_by("-day")
    return qs.annotate(
        balance_amount=Subquery(
            AccountBalance.objects.filter(account_id=OuterRef("pk")).values("amount")[:1],
            output_field=DecimalField(max_digits=14, decimal_places=2),
        ),
        last_charge_day=Subquery(last.values("day")[:1]),
        last_charge_amount=Subquery(
            last.values("amount")[:1], output_field=DecimalField(max_digits=14, decimal_places=2)
        ),
    )


def prepaid_accounts(*, user: Any, q: str = "", state: str = "") -> QuerySet[Account]:
    """Prepaid accounts with balance and last daily charge, lowest
    balance first; ``q`` matches the 户号 or customer name; ``state`` filters by colour."""
    _need(user, PERM_VIEW)
    qs = _with_balance(Account.objects.filter(is_prepaid=True).select_related("customer"))
    if q:
        qs = qs.filter(Q(number__startswith=q.strip()) | Q(customer__name__icontains=q.strip()))
    low = low_balance_in_force()
    if state == "arrears":
        qs = qs.filter(Q(balance_amount__lt=0))
    elif state == "low":
        qs = qs.filter(Q(balance_amount__gte=0, balance_amount__lt=low) | Q(balance_amount__isnull=True))
        if low <= 0:
            qs = qs.none()
    elif state == "ok":
        qs = qs.filter(Q(balance_amount__gte=low))
    return qs.order_by(
        Coalesce(
            "balance_amount", Value(Decimal("0")), output_field=DecimalField(max_digits=14, decimal_places=2)
        ),
        "number",
    )


def prepaid_account_detail(*, user: Any, account_id: int) -> dict[str, Any]:
    """One prepaid account: balance, the last 60 daily charges, notices and orders."""
    _need(user, PERM_VIEW)
    account = _with_balance(
        Account.objects.filter(pk=account_id, is_prepaid=True).select_related("customer")
    ).first()
    if account is None:
        raise NotFound()
    return _detail(account, charges=60, orders=staff_has_perm(user, PERM_VIEW_ORDERS))


def _chart_day(charge: PrepaidCharge) -> str:
    if charge.days == 1:
        return charge.day.isoformat()
    return gettext("%(day)s (%(days)s days)") % {"day": charge.day.isoformat(), "days": charge.days}


def _detail(account: Account, *, charges: int, orders: bool) -> dict[str, Any]:
    low = low_balance_in_force()
    rows = list(PrepaidCharge.objects.filter(account=account).order_by("-day")[:charges])
    rows.reverse()
    return {
        "account": account,
        "balance": _money(account.balance_amount),  # type: ignore[attr-defined]
        "state": balance_state(account.balance_amount, low),  # type: ignore[attr-defined]
        "low": low,
        "charges": rows,
        "chart": {
            # A charge that covers several days (readings missing) says so on its bar.
            "days": [_chart_day(c) for c in rows],
            "kwh": [str(c.amount) for c in rows],
            "unit": "yuan",
            "name": "charge",
        },
        "notices": list(PrepaidNotice.objects.filter(account=account).order_by("-sent_at", "-pk")[:50]),
        "orders": list(RemoteOrder.objects.filter(account=account).order_by("-pk")[:50]) if orders else [],
    }


def remote_orders_queue(*, user: Any, status: str = "", kind: str = "") -> QuerySet[RemoteOrder]:
    """Remote orders, those for a person first, then pending/sent by due time; an open
    reconnect past its due time is ``overdue``."""
    _need(user, PERM_VIEW_ORDERS)
    now = timezone.now()
    qs = RemoteOrder.objects.select_related("account", "account__customer")
    if status in RemoteOrderStatus.values:
        qs = qs.filter(status=status)
    if kind in RemoteOrderKind.values:
        qs = qs.filter(kind=kind)
    return qs.annotate(
        rank=Case(
            When(status=RemoteOrderStatus.NEEDS_PERSON, then=Value(0)),
            When(status=RemoteOrderStatus.PENDING, then=Value(1)),
            When(status=RemoteOrderStatus.SENT, then=Value(2)),
            default=Value(3),
            output_field=IntegerField(),
        ),
        overdue=Case(
            When(
                kind=RemoteOrderKind.RECONNECT,
                status__in=[RemoteOrderStatus.PENDING, RemoteOrderStatus.SENT],
                due_at__lt=now,
                then=Value(True),
            ),
            default=Value(False),
            output_field=BooleanField(),
        ),
    ).order_by("rank", "-overdue", "due_at", "-pk")


def my_prepaid_accounts(*, user: Any) -> list[dict[str, Any]]:
    """The portal customer's own prepaid accounts with their balance state."""
    low = low_balance_in_force()
    accounts = _with_balance(accounts_visible_to(user).filter(customer__user=user, is_prepaid=True)).order_by(
        "number"
    )
    return [
        {"account": a, "balance": _money(a.balance_amount), "state": balance_state(a.balance_amount, low)}  # type: ignore[attr-defined]
        for a in accounts
    ]


def my_prepaid_account(*, user: Any, number: str) -> dict[str, Any]:
    """One of the portal customer's own prepaid accounts: balance, last 30 daily charges,
    notices (no orders: the customer sees the notices sent to them). Anyone else's account,
    or one not prepaid, is ``NotFound``."""
    account = _with_balance(
        accounts_visible_to(user).filter(customer__user=user, is_prepaid=True, number=number)
    ).first()
    if account is None:
        raise NotFound()
    return _detail(account, charges=30, orders=False)


def account_settled_through(*, account_id: int) -> tuple[dt.date | None, dt.date | None]:
    """The last day of an account already settled, per path: (the end of its latest bill
    that is not void, the latest day charged daily) — ``None`` when there is none. The
    archive refuses a status or billing-mode change dated on a day already settled in the
    old mode (docs/customers.md)."""
    billed = (
        Bill.objects.filter(account_id=account_id)
        .exclude(status=BillStatus.VOID)
        .aggregate(last=Max("period_end"))["last"]
    )
    charged = PrepaidCharge.objects.filter(account_id=account_id).aggregate(last=Max("day"))["last"]
    return billed, charged
