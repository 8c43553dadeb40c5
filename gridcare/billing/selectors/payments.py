"""Reads of collection (收费): unpaid bills with their late fee to date, account arrears,
the arrears aging report (欠费账龄), payments and waivers lists.

What a bill's customer still owes is the one rule shared with ``selectors/bills.py``::

    outstanding = bill.amount + Σ approved BillAdjustment.amount − Σ non-reversed
                  PaymentAllocation.amount

computed here in bulk (set-based subqueries). The late fee is separate (``late_fee`` on
the allocations collects it). What a bill owes is in parts with their own due dates — its
own amount from the bill's due date, each approved back-billing from its own
(``engine.late_fee.outstanding_parts``) — and each part's late fee counts from its own.

Visibility: staff holding the view permission named on each function; portal customers
see only their own accounts through :func:`payments_visible_to`; others nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from gridcare.billing.choices import BillStatus, DocumentStatus, PaymentStatus
from gridcare.billing.engine.late_fee import (
    LateFeeRates,
    charges_net_of_refunds,
    late_fees_by_part,
    outstanding_parts,
)
from gridcare.billing.models import (
    AccountBalance,
    Bill,
    BillAdjustment,
    BillingPolicy,
    LateFeeWaiver,
    Payment,
    PaymentAllocation,
    WithholdingBatch,
)
from gridcare.billing.selectors.policy import billing_policy_at
from gridcare.core.errors import NotFound, PermissionDenied
from gridcare.core.money import fen_to_yuan, yuan_to_fen
from gridcare.core.roles import is_customer_user, staff_has_perm
from gridcare.customers.choices import RESIDENTIAL_CLASSES, CustomerClass
from gridcare.customers.models import Account

ZERO = Decimal("0.00")
MONEY: DecimalField[Decimal, Decimal] = DecimalField(max_digits=16, decimal_places=2)

AGING_BUCKETS: tuple[tuple[str, int | None, int | None], ...] = (
    # (key, min days overdue, max days overdue) — inclusive; None: open-ended
    ("not_due", None, 0),
    ("d1_30", 1, 30),
    ("d31_60", 31, 60),
    ("d61_90", 61, 90),
    ("d91_180", 91, 180),
    ("d181_plus", 181, None),
)

__all__ = [
    "AGING_BUCKETS",
    "OpenBillRow",
    "account_arrears",
    "arrears_aging",
    "open_bills",
    "payments_visible_to",
    "policy_in_force",
    "rates_from_policy",
    "unpaid_bills",
    "waiver_get",
    "waivers_search",
    "waivers_visible_to",
    "withholding_batches_visible_to",
]


# --- policy ---------------------------------------------------------------------------------


def policy_in_force(on: dt.date) -> BillingPolicy:
    """The BillingPolicy row in force on ``on`` (the latest ``effective_from`` ≤ ``on``)."""
    policy = billing_policy_at(on)
    if policy is None:
        raise NotFound(f"No billing policy is in force on {on:%Y-%m-%d}.")
    return policy


def rates_from_policy(policy: BillingPolicy) -> LateFeeRates:
    return LateFeeRates(
        residential_permille=policy.late_fee_residential_permille,
        current_year_permille=policy.late_fee_current_year_permille,
        cross_year_permille=policy.late_fee_cross_year_permille,
        minimum_fen=yuan_to_fen(policy.late_fee_minimum),
    )


# --- outstanding, in bulk -------------------------------------------------------------------


def _sum_subquery(qs: QuerySet[Any], column: str) -> Subquery:
    return Subquery(
        qs.order_by().values("bill").annotate(total=Sum(column)).values("total")[:1], output_field=MONEY
    )


def unpaid_bills(bills: QuerySet[Bill] | None = None) -> QuerySet[Bill]:
    """Issued bills with ``outstanding`` > 0, annotated with ``outstanding`` (the one rule)
    and ``fee_paid`` (late fee already collected), in one query."""
    base = Bill.objects.all() if bills is None else bills
    adjusted = _sum_subquery(
        BillAdjustment.objects.filter(bill=OuterRef("pk"), status=DocumentStatus.APPROVED), "amount"
    )
    live = PaymentAllocation.objects.filter(bill=OuterRef("pk"), reversed=False)
    return (
        base.filter(status=BillStatus.ISSUED)
        .annotate(
            adjusted=Coalesce(adjusted, Value(ZERO), output_field=MONEY),
            paid=Coalesce(_sum_subquery(live, "amount"), Value(ZERO), output_field=MONEY),
            fee_paid=Coalesce(_sum_subquery(live, "late_fee"), Value(ZERO), output_field=MONEY),
        )
        .annotate(outstanding=F("amount") + F("adjusted") - F("paid"))
        .filter(Q(outstanding__gt=0))
    )


@dataclass(frozen=True)
class OpenBillRow:
    """An unpaid bill with what allocation and the counter need (money in fen)."""

    bill_id: int
    account_id: int
    number: str
    period: dt.date
    due_date: dt.date  # of the earliest part still owed (the bill's own, or a back-billing's)
    amount_fen: int
    outstanding_fen: int
    fee_paid_fen: int  # late fee collected on the bill so far
    fee_waived_fen: int  # late fee waivers covered on the bill's parts paid so far
    fee_credit_fen: int  # fee collected or waived beyond what those parts accrued (engine credit)
    residential: bool
    waiver_fen: int  # approved waivers no payment has used yet (or only one since reversed)
    late_fee_fen: int  # the late fee on the whole outstanding as of ``as_of``, net of waiver
    # (due date, fen) of each part still owed, earliest due first; they sum to outstanding_fen
    parts: tuple[tuple[dt.date, int], ...] = ()
    waiver_ids: tuple[int, ...] = ()  # those waivers (the next payment on the bill uses them)


def _unused_waivers(bill_ids: list[int]) -> dict[int, tuple[int, tuple[int, ...]]]:
    """Per bill, the approved waivers a payment has not used yet — their total (fen) and ids.
    A waiver applies to the next payment on its bill after its approval (a part larger than
    that payment's late fee lapses); that payment is recorded on it (``used_by``, written
    with the payment under the account lock). A waiver whose payment was reversed is unused
    again: the reversed allocations' waived fee no longer counts."""
    if not bill_ids:
        return {}
    rows = (
        LateFeeWaiver.objects.filter(bill_id__in=bill_ids, status=DocumentStatus.APPROVED)
        .filter(Q(used_by__isnull=True) | Q(used_by__status=PaymentStatus.REVERSED))
        .order_by("bill_id", "pk")
        .values_list("bill_id", "pk", "amount")
    )
    out: dict[int, tuple[int, tuple[int, ...]]] = {}
    for bill_id, pk, amount in rows:
        total, ids = out.get(bill_id, (0, ()))
        out[bill_id] = (total + yuan_to_fen(amount), (*ids, pk))
    return out


def _owed_parts(bills: list[tuple[int, Any, dt.date, Decimal, int]]) -> dict[int, list[tuple[dt.date, int]]]:
    """What each of ``bills`` — ``(id, issued_at, due date, own amount, outstanding fen)`` of
    bills with an approved back-billing — still owes, by due date: its own amount and its
    approved back-billings (补收, each from its own due date), less its approved refunds
    (each taking back the latest charge before it: ``engine.late_fee.charges_net_of_refunds``),
    less its payments (the earliest due first: ``engine.late_fee.outstanding_parts``). One
    query for the documents; a loop over these bills only (back-billings are few)."""
    if not bills:
        return {}
    documents: dict[int, tuple[list[Any], list[Any]]] = {bill_id: ([], []) for bill_id, *_ in bills}
    rows = (
        BillAdjustment.objects.filter(bill_id__in=list(documents), status=DocumentStatus.APPROVED)
        .exclude(amount=0)
        .order_by("pk")
        .values_list("bill_id", "decided_at", "requested_at", "due_date", "amount")
    )
    for bill_id, decided_at, requested_at, due, amount in rows:
        charges, refunds = documents[bill_id]
        when = decided_at or requested_at
        if amount > 0 and due is not None:  # always (constraint bill_adjustment_backbill_due)
            charges.append((when, due, yuan_to_fen(amount)))
        elif amount < 0:
            refunds.append((when, -yuan_to_fen(amount)))
    out = {}
    for bill_id, issued_at, due, own, outstanding_fen in bills:
        charges, refunds = documents[bill_id]
        standing = charges_net_of_refunds([(issued_at, due, yuan_to_fen(own)), *charges], refunds)
        out[bill_id] = outstanding_parts(standing or [(due, outstanding_fen)], outstanding_fen)
    return out


def open_bills(*, account_ids: Iterable[int], as_of: dt.date) -> list[OpenBillRow]:
    """Every unpaid issued bill of ``account_ids`` (oldest first) with its late fee to
    ``as_of`` (each part owed from its own due date: the bill's, or an approved
    back-billing's; the minimum counts fees already collected or waived, and a top-up to the
    minimum collected on earlier parts is used up first; approved waivers subtracted).
    Three queries whatever the number of accounts (a fourth when a bill has an approved
    back-billing); the fee is one vectorised engine call."""
    ids = list(account_ids)
    if not ids:
        return []
    live = PaymentAllocation.objects.filter(bill=OuterRef("pk"), reversed=False)
    backbilled = BillAdjustment.objects.filter(
        bill=OuterRef("pk"), status=DocumentStatus.APPROVED, amount__gt=0
    )
    rows: list[tuple[Any, ...]] = list(
        unpaid_bills(Bill.objects.filter(account_id__in=ids))
        .annotate(
            fee_waived=Coalesce(_sum_subquery(live, "late_fee_waived"), Value(ZERO), output_field=MONEY),
            fee_credit=Coalesce(_sum_subquery(live, "late_fee_topup"), Value(ZERO), output_field=MONEY),
            backbilled=Exists(backbilled),
        )
        .order_by("period", "pk")
        .values_list(
            "pk",
            "account_id",
            "number",
            "period",
            "due_date",
            "amount",
            "outstanding",
            "fee_paid",
            "account__customer_class",
            "fee_waived",
            "fee_credit",
            "backbilled",
            "issued_at",
        )
    )
    if not rows:
        return []
    rates = rates_from_policy(policy_in_force(as_of))
    waivers = _unused_waivers([r[0] for r in rows])
    outstanding = np.array([yuan_to_fen(r[6]) for r in rows], dtype=np.int64)
    owed_parts = _owed_parts(
        [(r[0], r[12], r[4], r[5], int(outstanding[i])) for i, r in enumerate(rows) if r[11]]
    )
    fee_paid = np.array([yuan_to_fen(r[7]) for r in rows], dtype=np.int64)
    fee_waived = np.array([yuan_to_fen(r[9]) for r in rows], dtype=np.int64)
    fee_credit = np.array([yuan_to_fen(r[10]) for r in rows], dtype=np.int64)
    residential = np.array([r[8] in RESIDENTIAL_CLASSES for r in rows], dtype=bool)
    parts = [tuple(owed_parts.get(r[0], [(r[4], int(outstanding[i]))])) for i, r in enumerate(rows)]
    part_bill = [i for i, bill_parts in enumerate(parts) for _ in bill_parts]
    fees = late_fees_by_part(
        principal_fen=np.array([fen for bill_parts in parts for _, fen in bill_parts], dtype=np.int64),
        due=np.array([due for bill_parts in parts for due, _ in bill_parts], dtype="datetime64[D]"),
        bill=np.array(part_bill, dtype=np.int64),
        bills=len(rows),
        as_of=np.datetime64(as_of, "D"),
        residential=residential,
        rates=rates,
        minimum_fen=np.maximum(rates.minimum_fen - fee_paid - fee_waived, 0),
        credit_fen=fee_credit,
    )
    out = []
    for i, r in enumerate(rows):
        waiver, waiver_ids = waivers.get(r[0], (0, ()))
        out.append(
            OpenBillRow(
                bill_id=r[0],
                account_id=r[1],
                number=r[2],
                period=r[3],
                due_date=parts[i][0][0],
                amount_fen=yuan_to_fen(r[5]),
                outstanding_fen=int(outstanding[i]),
                fee_paid_fen=int(fee_paid[i]),
                fee_waived_fen=int(fee_waived[i]),
                fee_credit_fen=int(fee_credit[i]),
                residential=bool(residential[i]),
                waiver_fen=waiver,
                late_fee_fen=max(0, int(fees[i]) - waiver),
                parts=parts[i],
                waiver_ids=waiver_ids,
            )
        )
    return out


@dataclass(frozen=True)
class AccountArrears:
    account: Account
    bills: list[OpenBillRow]
    balance: Decimal
    as_of: dt.date

    @property
    def outstanding(self) -> Decimal:
        return fen_to_yuan(sum(b.outstanding_fen for b in self.bills))

    @property
    def late_fee(self) -> Decimal:
        return fen_to_yuan(sum(b.late_fee_fen for b in self.bills))

    @property
    def total_due(self) -> Decimal:
        """What the counter asks for: outstanding + late fee − a credit balance (never < 0);
        a negative balance (money owed after a reversal) is added."""
        return max(ZERO, self.outstanding + self.late_fee - self.balance)


def account_arrears(*, user: Any, account_number: str, as_of: dt.date) -> AccountArrears:
    """欠费查询 for one account by 户号: its unpaid bills with the late fee to ``as_of`` and
    its balance. Staff with ``billing.view_payment``, or the customer who owns it; NotFound
    otherwise (a customer cannot tell another's account from a missing one)."""
    account = (
        Account.objects.select_related("customer", "service_point__transformer")
        .filter(number=account_number.strip())
        .first()
    )
    allowed = staff_has_perm(user, "billing.view_payment") or (
        account is not None and is_customer_user(user) and account.customer.user_id == user.pk
    )
    if account is None or not allowed:
        raise NotFound()
    balance = AccountBalance.objects.filter(account=account).values_list("amount", flat=True).first()
    return AccountArrears(
        account=account,
        bills=open_bills(account_ids=[account.pk], as_of=as_of),
        balance=balance if balance is not None else ZERO,
        as_of=as_of,
    )


# --- arrears aging (欠费账龄) ----------------------------------------------------------------


def _bucket_case(as_of: dt.date, due_field: str = "due_date") -> Case:
    """The AGING_BUCKETS key of ``due_field`` (a date) as of ``as_of``, in SQL."""
    whens = []
    for key, low, high in AGING_BUCKETS:
        cond = Q()
        if low is not None:
            cond &= Q(**{f"{due_field}__lte": as_of - dt.timedelta(days=low)})
        if high is not None:
            cond &= Q(**{f"{due_field}__gte": as_of - dt.timedelta(days=high)})
        whens.append(When(cond, then=Value(key)))
    return Case(*whens, default=Value("not_due"))


def _bucket_of(due: dt.date, as_of: dt.date) -> str:
    """The AGING_BUCKETS key of ``due`` as of ``as_of`` (``_bucket_case`` in Python)."""
    overdue = (as_of - due).days
    for key, low, high in AGING_BUCKETS:
        if (low is None or overdue >= low) and (high is None or overdue <= high):
            return key
    return "not_due"


def arrears_aging(*, user: Any, as_of: dt.date, by: str = "customer_class") -> dict[str, Any]:
    """欠费账龄: outstanding money and bill counts per bucket of days overdue (not yet due,
    1–30, 31–60, 61–90, 91–180, > 180) grouped by customer class or by transformer
    (``by="transformer"``, with its area type). Each part a bill owes is aged by its own
    due date (``engine.late_fee.outstanding_parts``): the bill's own amount by the bill's,
    an approved back-billing (补收) by its own — a fresh back-billing on an old bill is not
    "181+ days". The bills' outstanding by the bill's due date in one grouped SQL query;
    then the unpaid bills with a back-billing (few) split into the parts they still owe
    (``_owed_parts``, the same split as the late fee) and each part due on a date of its own
    moved from its bill's bucket to its own; the buckets add up to the total outstanding.
    Staff with ``billing.view_payment`` only."""
    if not staff_has_perm(user, "billing.view_payment"):
        raise PermissionDenied()
    group_field = {
        "customer_class": "account__customer_class",
        "transformer": "account__service_point__transformer__code",
    }.get(by)
    if group_field is None:
        raise NotFound()
    rows = (
        unpaid_bills()
        .annotate(bucket=_bucket_case(as_of))
        .order_by()
        .values(group_field, "bucket")
        .annotate(total=Sum("outstanding"), bills=Count("pk"))
    )
    backbilled = list(
        unpaid_bills()
        .filter(
            Exists(
                BillAdjustment.objects.filter(
                    bill=OuterRef("pk"), status=DocumentStatus.APPROVED, amount__gt=0
                )
            )
        )
        .order_by()
        .values_list("pk", "issued_at", "due_date", "amount", "outstanding", group_field)
    )
    parts = _owed_parts(
        [(pk, issued, due, own, yuan_to_fen(owed)) for pk, issued, due, own, owed, _g in backbilled]
    )
    moved = [  # a part owed from a due date of its own: out of its bill's bucket, into its own
        (group, _bucket_of(due, as_of), _bucket_of(part_due, as_of), fen_to_yuan(fen))
        for pk, _issued, due, _own, _owed, group in backbilled
        for part_due, fen in parts[pk]
        if _bucket_of(part_due, as_of) != _bucket_of(due, as_of)
    ]
    keys = [k for k, _, _ in AGING_BUCKETS]
    groups: dict[str, dict[str, Any]] = {}
    totals = dict.fromkeys(keys, ZERO)
    for row in rows:
        group = row[group_field] or "—"
        entry = groups.setdefault(group, {"amounts": dict.fromkeys(keys, ZERO), "bills": 0, "total": ZERO})
        entry["amounts"][row["bucket"]] += row["total"]
        entry["bills"] += row["bills"]
        entry["total"] += row["total"]
        totals[row["bucket"]] += row["total"]
    for group_key, from_bucket, to_bucket, amount in moved:
        # (a bill paid between the two queries may be gone from the first: moves are zero-sum)
        entry = groups.setdefault(
            group_key or "—", {"amounts": dict.fromkeys(keys, ZERO), "bills": 0, "total": ZERO}
        )
        entry["amounts"][from_bucket] -= amount
        entry["amounts"][to_bucket] += amount
        totals[from_bucket] -= amount
        totals[to_bucket] += amount
    labels = dict(CustomerClass.choices)
    ordered = [
        {
            "key": g,
            "label": str(labels.get(g, g)) if by == "customer_class" else g,
            "amounts": [groups[g]["amounts"][k] for k in keys],
            "bills": groups[g]["bills"],
            "total": groups[g]["total"],
        }
        for g in sorted(groups)
    ]
    return {
        "as_of": as_of,
        "by": by,
        "buckets": keys,
        "rows": ordered,
        "totals": [totals[k] for k in keys],
        "grand_total": sum(totals.values(), ZERO),
    }


# --- lists ----------------------------------------------------------------------------------


def payments_visible_to(user: Any) -> QuerySet[Payment]:
    """Payments ``user`` may see: all for staff with ``billing.view_payment``; those of their
    own accounts for a portal customer; none otherwise. Newest first."""
    base = Payment.objects.select_related("account__customer").order_by("-received_at", "-pk")
    if staff_has_perm(user, "billing.view_payment"):
        return base
    if is_customer_user(user):
        return base.filter(account__customer__user=user)
    return Payment.objects.none()


def payments_search(
    *,
    user: Any,
    account: str = "",
    channel: str = "",
    status: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[Payment]:
    qs = payments_visible_to(user)
    if account:
        qs = qs.filter(account__number__startswith=account.strip())
    if channel:
        qs = qs.filter(channel=channel)
    if status:
        qs = qs.filter(status=status)
    if date_from is not None:
        qs = qs.filter(received_at__date__gte=date_from)
    if date_to is not None:
        qs = qs.filter(received_at__date__lte=date_to)
    return qs


def payment_get(*, user: Any, payment_id: int) -> Payment:
    payment = payments_visible_to(user).prefetch_related("allocations__bill").filter(pk=payment_id).first()
    if payment is None:
        raise NotFound()
    return payment


def waivers_visible_to(user: Any) -> QuerySet[LateFeeWaiver]:
    """Late-fee waivers for staff with ``billing.view_latefeewaiver`` (pending first), each
    with its use as recorded when the payment was posted: the payment (``used_by``, joined)
    and ``used_at`` on the row, and ``fee_waived`` — the late fee that payment's allocations
    on the bill did not collect (``PaymentAllocation.late_fee_waived``; the waivers it used
    on the bill together, at most their amounts: a larger part lapsed). ``None`` when
    unused. One query for a page, whatever its length."""
    if not staff_has_perm(user, "billing.view_latefeewaiver"):
        return LateFeeWaiver.objects.none()
    fee_waived = (
        # Live allocations only: an over-settling refund (adjustments._credit_over_settlement)
        # marks a row reversed and writes its rest again with the same late_fee_waived.
        PaymentAllocation.objects.filter(
            payment_id=OuterRef("used_by_id"), bill_id=OuterRef("bill_id"), reversed=False
        )
        .values("payment_id")
        .annotate(total=Sum("late_fee_waived"))
        .values("total")
    )
    return (
        LateFeeWaiver.objects.select_related("bill__account__customer", "used_by")
        .annotate(
            pending_order=Case(When(status=DocumentStatus.PENDING, then=Value(0)), default=Value(1)),
            fee_waived=Subquery(fee_waived, output_field=MONEY),
        )
        .order_by("pending_order", "-requested_at", "-pk")
    )


def waivers_search(*, user: Any, status: str = "", account: str = "") -> QuerySet[LateFeeWaiver]:
    """:func:`waivers_visible_to` filtered by status and 户号 (exact)."""
    qs = waivers_visible_to(user)
    if status:
        qs = qs.filter(status=status)
    if account:
        qs = qs.filter(bill__account__number=account.strip())
    return qs


def waiver_get(*, user: Any, waiver_id: int) -> LateFeeWaiver:
    """One waiver ``user`` may see (with its use, as :func:`waivers_visible_to`); NotFound
    otherwise (missing or not visible alike)."""
    found = waivers_visible_to(user).filter(pk=waiver_id).first()
    if found is None:
        raise NotFound()
    return found


def withholding_batches_visible_to(user: Any) -> QuerySet[WithholdingBatch]:
    if not staff_has_perm(user, "billing.view_withholdingbatch"):
        return WithholdingBatch.objects.none()
    return WithholdingBatch.objects.order_by("-created_at", "-pk")
