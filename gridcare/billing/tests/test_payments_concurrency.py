"""Concurrency on PostgreSQL with real threads (each its own connection): a repeated
callback posts once; two clerks posting on one account never lose a payment."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections
from django.test import override_settings

from gridcare.billing.choices import PaymentChannel
from gridcare.billing.models import AccountBalance, Payment, PaymentAllocation, PaymentCallbackLog
from gridcare.billing.selectors.bills import bill_outstanding
from gridcare.billing.services.payments import payment_callback_receive, payment_post, sign_callback
from gridcare.billing.tests.factories_payments import ensure_policy, overdue_bill
from gridcare.customers.tests.factories import AccountFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]
TZ = dt.timezone(dt.timedelta(hours=8))
SECRETS = {"wechat": "s3cret-wechat"}


def run_together(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Start every job at the same moment on its own thread and connection."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = jobs[i]()
        except Exception as exc:  # noqa: BLE001 — reported to the test below
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


@override_settings(GRIDCARE_PAYMENT_SECRETS=SECRETS)
def test_simultaneous_callbacks_with_the_same_key_post_once() -> None:
    assert connection.vendor == "postgresql"
    ensure_policy()
    account = AccountFactory()
    bill = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 30)
    )
    body = json.dumps(
        {
            "account": account.number,
            "amount": "52.00",
            "txn_id": "W-1",
            "paid_at": "2026-11-25T10:00:00+08:00",
        }
    ).encode()
    sig = sign_callback(secret=SECRETS["wechat"], raw_body=body)

    def call() -> Any:
        return payment_callback_receive(
            channel="wechat", raw_body=body, signature=sig, remote_addr="10.0.0.1"
        )

    results = run_together([call] * 6)
    assert all(isinstance(r, tuple) and r[0] == 200 for r in results), results
    assert sorted(r[1]["status"] for r in results) == ["accepted"] + ["repeat"] * 5
    assert Payment.objects.filter(account=account).count() == 1
    assert PaymentAllocation.objects.filter(bill=bill).count() == 1
    assert bill_outstanding(bill) == Decimal("0.00")
    assert AccountBalance.objects.get(account=account).amount == Decimal("0.00")
    assert PaymentCallbackLog.objects.count() == 6


def test_two_clerks_posting_on_one_account_never_lose_a_payment() -> None:
    ensure_policy()
    account = AccountFactory()
    bills = [
        overdue_bill(
            account=account, period=dt.date(2026, m, 1), amount="100.00", due_date=dt.date(2026, 11, 30)
        )
        for m in (7, 8, 9)
    ]
    clerks = ["clerk-a", "clerk-b"]  # a flush between transactional tests drops the role groups
    jobs = [
        (
            lambda i=i: payment_post(
                actor=clerks[i % 2],
                account_id=account.pk,
                amount="70.00",
                channel=PaymentChannel.COUNTER_CASH,
                idempotency_key=f"clerk-{i}",
                received_at=dt.datetime(2026, 11, 25, 10, tzinfo=TZ),
            )
        )
        for i in range(6)
    ]
    results = run_together(jobs)
    assert all(isinstance(r, Payment) for r in results), results
    # 6 × 70.00 = 420.00: the three bills (300.00) paid, 120.00 kept as balance.
    assert Payment.objects.filter(account=account).count() == 6
    assert [bill_outstanding(b) for b in bills] == [Decimal("0.00")] * 3
    assert AccountBalance.objects.get(account=account).amount == Decimal("120.00")
    allocated = sum(a.amount for a in PaymentAllocation.objects.filter(bill__account=account))
    assert allocated == Decimal("300.00")
