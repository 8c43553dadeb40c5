"""Read side of billing runs: the run list, one run, its held accounts and review flags
(each checks the caller's permission; None / empty when they may not see it)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from gridcare.billing.choices import HoldStatus, ReviewStatus
from gridcare.billing.models import BillingHold, BillingRun, BillReview
from gridcare.core.roles import staff_has_perm


def billing_runs(user: Any) -> QuerySet[BillingRun]:
    if not staff_has_perm(user, "billing.view_billingrun"):
        return BillingRun.objects.none()
    return BillingRun.objects.order_by("-period")


def billing_run_get(*, user: Any, run_id: int) -> BillingRun | None:
    return billing_runs(user).filter(pk=run_id).first()


def run_holds(*, user: Any, run: BillingRun, status: str = HoldStatus.HELD) -> QuerySet[BillingHold]:
    if not staff_has_perm(user, "billing.view_billinghold"):
        return BillingHold.objects.none()
    qs = BillingHold.objects.filter(run=run).select_related("account", "account__customer")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("account__number")


def run_reviews(*, user: Any, run: BillingRun, status: str = ReviewStatus.OPEN) -> QuerySet[BillReview]:
    if not staff_has_perm(user, "billing.view_billreview"):
        return BillReview.objects.none()
    qs = BillReview.objects.filter(bill__run=run).select_related(
        "bill", "bill__account", "bill__account__customer"
    )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("bill__account__number", "rule")
