"""Background jobs of prepaid (费控), run by ``gridcare worker`` (Django tasks, database
backend). The worker's scheduler enqueues ``prepaid_daily_cycle_task`` once a day
(``core.scheduler``); it should run after the AMI import of the readings frozen at 00:00 that
day (docs/billing-prepaid.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone
from django_tasks import task

ACTOR = "worker:prepaid"


def _day(day: str | None) -> dt.date:
    """``day`` as ISO text, or yesterday (local time): the last whole day, whose use today's
    00:00 frozen reading closes."""
    return dt.date.fromisoformat(day) if day else timezone.localdate() - dt.timedelta(days=1)


@task()
def prepaid_daily_charge_task(day: str | None = None) -> dict[str, Any]:
    """费控日结 for ``day`` (default yesterday); re-running a day charges nothing twice."""
    from gridcare.billing.services.prepaid import prepaid_daily_charges

    return prepaid_daily_charges(day=_day(day), actor=ACTOR)


@task()
def prepaid_check_task() -> dict[str, Any]:
    """Balance thresholds → notices and remote orders (a reconnect is sent by the check at
    once), then send the pending orders."""
    from gridcare.billing.services.prepaid import prepaid_check_balances, remote_orders_dispatch

    summary = prepaid_check_balances(now=timezone.now(), actor=ACTOR)
    summary["dispatch"] = remote_orders_dispatch(actor=ACTOR)
    return summary


@task()
def prepaid_daily_cycle_task(day: str | None = None) -> dict[str, Any]:
    """The whole daily cycle in order: charge ``day`` (default yesterday), check, dispatch.

    The scheduled run (no ``day``) first charges the day before yesterday: yesterday's
    charge needs today's 00:00 readings, and when the AMI import comes after the run every
    day would otherwise find its closing reading missing. Accounts charged already are
    skipped, so on time this costs one quick pass (``catch_up`` in the result)."""
    from gridcare.billing.services.prepaid import (
        prepaid_check_balances,
        prepaid_daily_charges,
        remote_orders_dispatch,
    )

    target = _day(day)
    result: dict[str, Any] = {}
    if day is None:
        result["catch_up"] = prepaid_daily_charges(day=target - dt.timedelta(days=1), actor=ACTOR)
    result["charges"] = prepaid_daily_charges(day=target, actor=ACTOR)
    result["check"] = prepaid_check_balances(now=timezone.now(), actor=ACTOR)
    result["dispatch"] = remote_orders_dispatch(actor=ACTOR)
    return result


@task()
def prepaid_after_payment_task(account_id: int) -> dict[str, Any]:
    """Re-check one account after a payment (when the caller prefers the queue to a direct
    call); a reconnect it leads to is sent by the check itself. Other accounts' pending
    orders are left to the daily dispatch."""
    from gridcare.billing.services.prepaid import prepaid_after_payment

    return prepaid_after_payment(account_id=account_id, actor=ACTOR)
