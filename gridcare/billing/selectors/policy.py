"""The billing policy in force (due days, review thresholds, late-fee rates, prepaid levels)."""

from __future__ import annotations

import datetime as dt

from gridcare.billing.models import BillingPolicy


def billing_policy_at(day: dt.date) -> BillingPolicy | None:
    """The ``BillingPolicy`` row in force on ``day``: the newest ``effective_from`` not after it."""
    return BillingPolicy.objects.filter(effective_from__lte=day).order_by("-effective_from").first()
