"""The prepaid daily cycle run by the real background worker (django-tasks, database backend)."""

from __future__ import annotations

import datetime as dt
import io
import json
import signal
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from gridcare.billing import seed_data
from gridcare.billing.choices import PrepaidNoticeLevel
from gridcare.billing.models import AccountBalance, PrepaidCharge, PrepaidNotice
from gridcare.billing.tasks.prepaid import prepaid_daily_cycle_task
from gridcare.billing.tests.test_prepaid import _data_dir, prepaid, readings

pytestmark = pytest.mark.django_db(transaction=True)

__all__ = ["_data_dir"]  # the autouse fixture of the service tests

D = dt.date(2026, 3, 1)


def test_the_worker_runs_the_daily_cycle(settings: Any) -> None:
    settings.LANGUAGE_CODE = "zh-hans"  # the product's default (the billing tests run in English)
    seed_data.load(apps)  # the transactional flush dropped the seeded catalogue and policy
    account, meter = prepaid("PT0001")
    AccountBalance.objects.create(account=account, amount="25.00")
    readings(meter, {D: "100.000", D + dt.timedelta(days=1): "120.000"})
    prepaid_daily_cycle_task.enqueue(day=D.isoformat())

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    try:
        call_command("worker", batch=True, verbosity=0, stdout=io.StringIO(), stderr=io.StringIO())
    finally:  # the worker installs its own shutdown handlers
        for sig, handler in handlers.items():
            signal.signal(sig, handler)

    task = DBTaskResult.objects.get()
    assert task.status == "SUCCESSFUL"
    assert task.return_value["charges"]["charged"] == 1
    charge = PrepaidCharge.objects.get(account=account)
    assert (charge.amount, charge.balance_after) == (Decimal("10.40"), Decimal("14.60"))  # 20 kWh × 0.52
    assert AccountBalance.objects.get(account=account).amount == Decimal("14.60")
    assert list(PrepaidNotice.objects.filter(account=account).values_list("level", flat=True)) == [
        PrepaidNoticeLevel.LOW
    ]
    sms = (settings.DATA_DIR / "sms" / "outbox.log").read_text(encoding="utf-8").splitlines()
    assert json.loads(sms[0])["ref"] == f"prepaid:{account.number}:low"
    # The customer's SMS is in the default language, Simplified Chinese.
    assert json.loads(sms[0])["text"].startswith(f"户号 {account.number}：您的预付费电费余额为 14.60 元")


def test_the_scheduled_cycle_charges_a_day_whose_closing_reading_came_after_the_last_run() -> None:
    """The AMI import of today's 00:00 readings comes after the run: yesterday is missing.
    The next run charges it first (catch-up), with its own day, before its own yesterday."""
    seed_data.load(apps)
    account, meter = prepaid("PT0002")
    AccountBalance.objects.create(account=account, amount="100.00")
    today = timezone.localdate()
    day = dt.timedelta(days=1)
    readings(meter, {today - 2 * day: "100.000", today - day: "110.000"})

    first = prepaid_daily_cycle_task.call()
    assert (first["catch_up"]["charged"], first["catch_up"]["day"]) == (1, (today - 2 * day).isoformat())
    assert first["charges"]["missing"] == [account.number]  # today's reading is not in yet

    readings(meter, {today: "115.000"})  # it arrives after the run
    second = prepaid_daily_cycle_task.call()
    assert (second["catch_up"]["charged"], second["catch_up"]["already"]) == (0, 1)
    assert second["charges"]["charged"] == 1
    rows = PrepaidCharge.objects.filter(account=account).order_by("day")
    assert [(r.day, r.kwh) for r in rows] == [
        (today - 2 * day, Decimal("10.000")),
        (today - day, Decimal("5.000")),
    ]
