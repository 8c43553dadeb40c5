"""PostgreSQL: two daily-charge runs of the same day at the same time charge every account
once (the balance rows are locked per batch; the loser sees the day charged)."""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.db import connection, connections

from gridcare.billing import seed_data
from gridcare.billing.models import AccountBalance, PrepaidCharge
from gridcare.billing.services.prepaid import prepaid_daily_charges
from gridcare.billing.tests.test_prepaid import _data_dir, prepaid, readings

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]

__all__ = ["_data_dir"]  # the autouse fixture of the service tests

D = dt.date(2026, 3, 1)


def test_concurrent_runs_charge_each_account_once() -> None:
    assert connection.vendor == "postgresql"
    seed_data.load(apps)  # the transactional flush dropped the seeded catalogue
    accounts = []
    for n in range(6):
        account, meter = prepaid(f"PC{n:04d}")
        readings(meter, {D: "100.000", D + dt.timedelta(days=1): "110.000"})
        accounts.append(account)
    results: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            barrier.wait()
            results.append(prepaid_daily_charges(day=D, actor="test"))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(r["charged"] for r in results) == [0, 6]
    assert sorted(r["already"] for r in results) == [0, 6]
    assert PrepaidCharge.objects.count() == 6
    assert set(AccountBalance.objects.filter(account__in=accounts).values_list("amount", flat=True)) == {
        Decimal("-5.20")
    }
