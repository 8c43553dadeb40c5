"""The billing demo: what a county's billing looks like a few months after go-live.

Runs the real services on the seeded county (whose first accounts have 13 months of daily
readings): the billing runs of the last complete months — the older ones reviewed and issued
on the fifth day after the month, the newest left in review for the clerk —, payments on
most issued bills through the batched posting path (on time, late with the late fee, in
part, or not at all, on the channels customers use), top-ups and 30 days of daily charges
for prepaid accounts, then the balance check (reminders, disconnection notices, orders).
Deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
from django.utils import timezone

from gridcare.billing.choices import BillStatus, PaymentChannel, ReviewStatus
from gridcare.billing.models import Bill, BillReview
from gridcare.customers.models import Account
from gridcare.metering.selectors.assets import add_months

ACTOR = "gridcare seed"
TZ = dt.timezone(dt.timedelta(hours=8))

# How customers pay, in share of payments (counter, withholding and the online channels).
CHANNELS = (
    (PaymentChannel.WSGW, 0.34),
    (PaymentChannel.WECHAT, 0.22),
    (PaymentChannel.ALIPAY, 0.16),
    (PaymentChannel.BANK_WITHHOLDING, 0.14),
    (PaymentChannel.COUNTER_CASH, 0.10),
    (PaymentChannel.COUNTER_CARD, 0.04),
)


def _at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=TZ)


def seed_billing(
    *, months: int = 3, seed: int = 1, today: dt.date | None = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Bill the last ``months`` complete months, collect, and run the prepaid cycle."""
    from gridcare.billing.services.payments import payment_item, payments_post_many
    from gridcare.billing.services.prepaid import prepaid_check_balances, prepaid_daily_charges
    from gridcare.billing.services.runs import bill_review_decide, billing_run, billing_run_issue

    today = today or timezone.localdate()
    rng = np.random.default_rng(seed + 4004)
    periods = [add_months(today.replace(day=1), -back) for back in range(months, 0, -1)]
    summary: dict[str, Any] = {"runs": [], "payments": 0, "prepaid_days": 0}
    for n, period in enumerate(periods):
        run = billing_run(period=period, actor=ACTOR)
        newest = n == len(periods) - 1
        issued = 0
        if not newest:
            for review_id in BillReview.objects.filter(bill__run=run, status=ReviewStatus.OPEN).values_list(
                "pk", flat=True
            ):
                bill_review_decide(review_id=review_id, actor=ACTOR, decision="approve", note="demo")
            issued = billing_run_issue(
                run_id=run.pk, actor=ACTOR, issued_at=_at(add_months(period, 1) + dt.timedelta(days=4), 9)
            )
        run.refresh_from_db()
        summary["runs"].append(
            {
                "period": f"{period:%Y-%m}",
                "bills": run.bills_written,
                "held": run.accounts_held,
                "issued": issued,
            }
        )
        log(
            f"  billing {period:%Y-%m}: {run.bills_written} bills, {run.accounts_held} held, "
            f"{'in review' if newest else f'{issued} issued'}"
        )

    # Payments: most bills in full before the due date, some late (with the late fee), a few in
    # part, the rest unpaid (they make the arrears report). One batch per month, oldest first.
    names = [c for c, _ in CHANNELS]
    weights = np.array([w for _, w in CHANNELS])
    for period in periods[:-1]:
        bills = list(
            Bill.objects.filter(period=period, status=BillStatus.ISSUED, amount__gt=0)
            .order_by("id")
            .values_list("id", "account_id", "amount", "issued_at", "due_date")
        )
        items = []
        for bill_id, account_id, amount, issued_at, due_date in bills:
            roll = rng.random()
            if issued_at is None or due_date is None:  # pragma: no cover - issued bills have both
                continue
            if roll < 0.08:
                continue  # unpaid
            if roll < 0.80:
                day = issued_at.date() + dt.timedelta(days=int(rng.integers(1, 14)))
            else:
                day = due_date + dt.timedelta(days=int(rng.integers(1, 30)))
            if day >= today:
                continue
            paid = amount if roll < 0.96 else (amount * Decimal("0.5")).quantize(Decimal("0.01"))
            if roll >= 0.80:
                paid += Decimal(2)  # late payers round up for the late fee
            if paid <= 0:
                continue
            channel = str(names[int(rng.choice(len(names), p=weights))])
            items.append(
                payment_item(
                    account_id=account_id,
                    amount=paid,
                    channel=channel,
                    idempotency_key=f"demo:{bill_id}",
                    received_at=_at(day, int(rng.integers(8, 21))),
                )
            )
        items.sort(key=lambda item: item.received_at)
        results = payments_post_many(actor=ACTOR, items=items) if items else []
        summary["payments"] += len(results)
        log(f"  payments for {period:%Y-%m}: {len(results)}")

    # Prepaid: a top-up 35 days ago, then 30 days of daily charges and today's balance check.
    prepaid = list(
        Account.objects.filter(is_prepaid=True, status="active", installations__removed_at__isnull=True)
        .values_list("id", flat=True)
        .distinct()
    )
    if prepaid:
        top_up_day = today - dt.timedelta(days=35)
        items = [
            payment_item(
                account_id=account_id,
                amount=Decimal(int(rng.choice([50, 100, 100, 200, 300]))),
                channel=PaymentChannel.WSGW,
                idempotency_key=f"demo:prepaid:{account_id}",
                received_at=_at(top_up_day, 10),
            )
            for account_id in prepaid
        ]
        payments_post_many(actor=ACTOR, items=items)
        # The demo's readings end yesterday, so the last day with a closing reading (a day's
        # use is reading(day + 1) − reading(day)) is the day before yesterday.
        for back in range(31, 1, -1):
            prepaid_daily_charges(day=today - dt.timedelta(days=back), actor=ACTOR)
            summary["prepaid_days"] += 1
        checked = prepaid_check_balances(now=_at(today, 7), actor=ACTOR)
        summary["prepaid"] = {"accounts": len(prepaid), "check": checked}
        log(f"  prepaid: {len(prepaid)} accounts topped up, 30 days charged, balances checked")
    return summary
