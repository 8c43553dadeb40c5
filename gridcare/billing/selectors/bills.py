"""Reads of bills (电费账单): search, the customer 360 panel, outstanding amounts and the
account statement (对账单).

The one rule for what a bill's customer still owes (shared with the payments area, which
may compute it in bulk itself — keep both identical)::

    outstanding = bill.amount
                + Σ approved BillAdjustment.amount      (back-billing +, refund −)
                − Σ PaymentAllocation.amount where not reversed

The late fee (违约金) is separate: ``PaymentAllocation.late_fee`` collects it and it never
enters ``outstanding``.

Visibility: staff holding ``billing.view_bill`` see every bill; a portal customer sees only
the *issued* bills of their own accounts (drafts and void bills never reach the portal);
everybody else sees nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    Case,
    DecimalField,
    ExpressionWrapper,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, RowNumber

from gridcare.billing.choices import BillStatus, DocumentStatus, PaymentStatus
from gridcare.billing.models import Bill, BillAdjustment, Payment, PaymentAllocation
from gridcare.core.errors import NotFound, PermissionDenied
from gridcare.core.roles import is_customer_user, staff_has_perm

ZERO = Decimal("0.00")
MONEY: DecimalField[Decimal, Decimal] = DecimalField(max_digits=16, decimal_places=2)

__all__ = [
    "AccountStatement",
    "StatementEntry",
    "account_statement",
    "bill_get",
    "bill_outstanding",
    "bill_search",
    "bills_for_accounts",
    "bills_outstanding",
    "bills_visible_to",
    "with_outstanding",
]


# --- the one rule ---------------------------------------------------------------------------


def _adjusted_subquery() -> Subquery:
    return Subquery(
        BillAdjustment.objects.filter(bill=OuterRef("pk"), status=DocumentStatus.APPROVED)
        .order_by()
        .values("bill")
        .annotate(total=Sum("amount"))
        .values("total")[:1],
        output_field=MONEY,
    )


def _paid_subquery() -> Subquery:
    return Subquery(
        PaymentAllocation.objects.filter(bill=OuterRef("pk"), reversed=False)
        .order_by()
        .values("bill")
        .annotate(total=Sum("amount"))
        .values("total")[:1],
        output_field=MONEY,
    )


def with_outstanding(bills: QuerySet[Bill]) -> QuerySet[Bill]:
    """Annotate ``adjusted`` (approved 退补), ``paid`` (non-reversed allocations) and
    ``outstanding`` (amount + adjusted − paid) on every bill, in the same query."""
    return bills.annotate(
        adjusted=Coalesce(_adjusted_subquery(), Value(ZERO), output_field=MONEY),
        paid=Coalesce(_paid_subquery(), Value(ZERO), output_field=MONEY),
    ).annotate(outstanding=ExpressionWrapper(F("amount") + F("adjusted") - F("paid"), output_field=MONEY))


def bill_outstanding(bill: Bill | int) -> Decimal:
    """欠费: what the customer still owes on one bill (the rule in the module docstring),
    Decimal yuan with 2 places. A draft or void bill is owed nothing."""
    bill_id = bill if isinstance(bill, int) else bill.pk
    return bills_outstanding([bill_id]).get(bill_id, ZERO)


def bills_outstanding(bill_ids: Iterable[int]) -> dict[int, Decimal]:
    """The bulk version of :func:`bill_outstanding`: ``{bill_id: outstanding}`` for the
    issued bills among ``bill_ids`` (three grouped queries whatever the number of bills);
    draft and void bills map to 0."""
    ids = list(dict.fromkeys(int(i) for i in bill_ids))
    if not ids:
        return {}
    result = dict.fromkeys(ids, ZERO)
    amounts = dict(Bill.objects.filter(pk__in=ids, status=BillStatus.ISSUED).values_list("pk", "amount"))
    adjusted = dict(
        BillAdjustment.objects.filter(bill_id__in=amounts, status=DocumentStatus.APPROVED)
        .order_by()
        .values_list("bill_id")
        .annotate(total=Sum("amount"))
    )
    paid = dict(
        PaymentAllocation.objects.filter(bill_id__in=amounts, reversed=False)
        .order_by()
        .values_list("bill_id")
        .annotate(total=Sum("amount"))
    )
    for bill_id, amount in amounts.items():
        result[bill_id] = (amount + adjusted.get(bill_id, ZERO) - paid.get(bill_id, ZERO)).quantize(
            Decimal("0.01")
        )
    return result


# --- visibility and search ------------------------------------------------------------------


def bills_visible_to(user: Any) -> QuerySet[Bill]:
    """Bills ``user`` may see: all for staff with ``billing.view_bill``; the issued bills of
    their own accounts for a portal customer; none for anyone else."""
    if staff_has_perm(user, "billing.view_bill"):
        return Bill.objects.all()
    if is_customer_user(user):
        return Bill.objects.filter(account__customer__user=user, status=BillStatus.ISSUED)
    return Bill.objects.none()


def bill_get(*, user: Any, bill_id: int) -> Bill:
    """One bill the user may see, with its account, customer, run, lines, adjustments and
    allocations loaded and ``outstanding`` annotated; NotFound otherwise (a customer cannot
    tell another's bill from a missing one)."""
    bill = (
        with_outstanding(bills_visible_to(user))
        .select_related("account__customer", "account__service_point", "run")
        .prefetch_related("lines", "adjustments", "allocations__payment")
        .filter(pk=bill_id)
        .first()
    )
    if bill is None:
        raise NotFound()
    return bill


@dataclass(frozen=True)
class BillFilters:
    """The search form of the bill list (every field optional)."""

    account: str = ""  # 户号 prefix
    name: str = ""  # customer name contains
    period: dt.date | None = None  # first day of the billed month
    status: str = ""
    run: int | None = None


def bill_search(user: Any, filters: BillFilters | dict[str, Any] | None = None) -> QuerySet[Bill]:
    """账单查询 for the console: by 户号 (prefix), customer name, period, status and run;
    newest period first, with ``outstanding`` annotated. Staff without ``billing.view_bill``
    are refused (PermissionDenied); pages come from ``gridcare.core.pagination``."""
    if not staff_has_perm(user, "billing.view_bill"):
        raise PermissionDenied()
    if filters is None:
        filters = BillFilters()
    elif isinstance(filters, dict):
        filters = BillFilters(**{k: v for k, v in filters.items() if v not in (None, "")})
    bills = Bill.objects.select_related("account__customer")
    if filters.account:
        bills = bills.filter(account__number__startswith=filters.account.strip())
    if filters.name:
        bills = bills.filter(account__customer__name__icontains=filters.name.strip())
    if filters.period is not None:
        bills = bills.filter(period=filters.period.replace(day=1))
    if filters.status:
        bills = bills.filter(status=filters.status)
    if filters.run is not None:
        bills = bills.filter(run_id=filters.run)
    return with_outstanding(bills).order_by("-period", "account__number", "pk")


def bills_for_accounts(
    account_ids: Iterable[int], *, limit_per_account: int = 12, user: Any = None
) -> QuerySet[Bill]:
    """The last ``limit_per_account`` issued bills of each account (newest first within an
    account), with ``outstanding`` annotated: the customer 360 bills panel and the portal.

    The caller scopes ``account_ids`` (the 360 view shows a customer's accounts; the portal
    passes the customer's own). With ``user`` given, the bills are further restricted to
    what that user may see."""
    ids = list(account_ids)
    base = bills_visible_to(user) if user is not None else Bill.objects.all()
    ranked = (
        base.filter(account_id__in=ids, status=BillStatus.ISSUED)
        .annotate(
            rank=Window(expression=RowNumber(), partition_by=[F("account_id")], order_by=F("period").desc())
        )
        .filter(rank__lte=limit_per_account)
    )
    return with_outstanding(Bill.objects.filter(pk__in=Subquery(ranked.values("pk")))).order_by(
        "account_id", "-period"
    )


# --- the account statement (对账单) ---------------------------------------------------------


@dataclass(frozen=True)
class StatementEntry:
    """One line of an account statement: a bill (debit), an approved 退补 (debit or credit),
    a payment (credit) or a payment's reversal (debit again)."""

    on: dt.datetime
    kind: str  # "bill" | "adjustment" | "payment" | "reversal"
    reference: str
    description: str
    amount: Decimal  # + the customer owes more, − less
    balance: Decimal  # running: + owed, − in credit


@dataclass
class AccountStatement:
    account_id: int
    entries: list[StatementEntry] = field(default_factory=list)
    billed: Decimal = ZERO
    adjusted: Decimal = ZERO
    paid: Decimal = ZERO
    late_fees_paid: Decimal = ZERO
    outstanding: Decimal = ZERO  # Σ bill_outstanding of the issued bills
    balance: Decimal = ZERO  # billed + adjusted − paid (payments incl. late fees and credit)


def account_statement(account_id: int) -> AccountStatement:
    """对账单 of one account, oldest first: issued bills, approved 退补 (on their decision
    time), posted payments and reversals, with the running balance. The caller checks that
    the user may see the account. ``outstanding`` follows the one rule; ``balance`` also
    counts the late fees and any overpayment kept as credit."""
    statement = AccountStatement(account_id=account_id)
    rows: list[tuple[Any, int, str, str, str, Decimal]] = []
    bills = Bill.objects.filter(account_id=account_id, status=BillStatus.ISSUED).values_list(
        "pk", "number", "period", "issued_at", "amount"
    )
    bill_ids = []
    for pk, number, period, issued_at, amount in bills:
        bill_ids.append(pk)
        rows.append((issued_at, 0, "bill", number, f"{period:%Y-%m}", amount))
        statement.billed += amount
    adjustments = BillAdjustment.objects.filter(
        bill__account_id=account_id, status=DocumentStatus.APPROVED
    ).values_list("number", "decided_at", "amount", "bill__number")
    for number, decided_at, amount, bill_number in adjustments:
        rows.append((decided_at, 1, "adjustment", number, bill_number, amount))
        statement.adjusted += amount
    payments = Payment.objects.filter(account_id=account_id).values_list(
        "number", "received_at", "amount", "channel", "status", "reversed_at"
    )
    for number, received_at, amount, channel, status, reversed_at in payments:
        rows.append((received_at, 2, "payment", number, channel, -amount))
        statement.paid += amount
        if status == PaymentStatus.REVERSED and reversed_at is not None:
            rows.append((reversed_at, 3, "reversal", number, channel, amount))
            statement.paid -= amount
    statement.late_fees_paid = PaymentAllocation.objects.filter(
        bill__account_id=account_id, reversed=False
    ).aggregate(total=Coalesce(Sum("late_fee"), Value(ZERO), output_field=MONEY))["total"]
    running = ZERO
    for on, _order, kind, reference, description, amount in sorted(rows, key=lambda r: (r[0], r[1], r[3])):
        running += amount
        statement.entries.append(
            StatementEntry(
                on=on, kind=kind, reference=reference, description=description, amount=amount, balance=running
            )
        )
    statement.balance = running
    statement.outstanding = sum(bills_outstanding(bill_ids).values(), ZERO)
    return statement


def adjustments_visible_to(user: Any) -> QuerySet[BillAdjustment]:
    """退补单 a staff user with ``billing.view_billadjustment`` may see (pending first, then
    newest); none for anyone else."""
    if not staff_has_perm(user, "billing.view_billadjustment"):
        return BillAdjustment.objects.none()
    return (
        BillAdjustment.objects.select_related("bill__account__customer")
        .annotate(pending_order=Case(When(status=DocumentStatus.PENDING, then=Value(0)), default=Value(1)))
        .order_by("pending_order", "-requested_at", "-pk")
    )


def bills_panel(*, user: Any, account_ids: Iterable[int], limit: int = 12) -> dict[str, Any] | None:
    """The customer 360 bills panel: the last ``limit`` issued bills of each account (table)
    and, per month over the newest ``limit`` months, the kWh and amount summed over the
    accounts (chart data as decimal strings). None when the user may not see bills."""
    if not staff_has_perm(user, "billing.view_bill"):
        return None
    bills = list(bills_for_accounts(account_ids, limit_per_account=limit).select_related("account"))
    months: dict[dt.date, list[Decimal]] = {}
    for bill in bills:
        entry = months.setdefault(bill.period, [Decimal(0), Decimal(0)])
        entry[0] += bill.kwh
        entry[1] += bill.amount
    periods = sorted(months)[-limit:]
    return {
        "bills": sorted(bills, key=lambda b: (b.period, b.account.number), reverse=True),
        "chart": {
            "periods": [f"{p:%Y-%m}" for p in periods],
            "kwh": [str(months[p][0]) for p in periods],
            "amount": [str(months[p][1]) for p in periods],
        },
    }
