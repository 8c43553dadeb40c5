"""Concurrency on PostgreSQL with real threads (each its own connection): a repeated
callback posts once; two clerks posting on one account never lose a payment; a waiver
decided during a payment serves one payment; a run issued during a payment leaves no
credit beside an unpaid bill."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, connections
from django.test import override_settings

from gridcare.billing.choices import BillStatus, PaymentChannel, RunStatus
from gridcare.billing.models import (
    AccountBalance,
    BillingRun,
    LateFeeWaiver,
    Payment,
    PaymentAllocation,
    PaymentCallbackLog,
)
from gridcare.billing.selectors.bills import bill_outstanding
from gridcare.billing.selectors.payments import open_bills
from gridcare.billing.services import payments as payments_mod
from gridcare.billing.services.late_fees import late_fee_waiver_decide, late_fee_waiver_request
from gridcare.billing.services.payments import payment_callback_receive, payment_post, sign_callback
from gridcare.billing.services.runs import billing_run_issue
from gridcare.billing.tests.factories import BillFactory, BillLineFactory
from gridcare.billing.tests.factories_payments import (
    AccountBalanceFactory,
    business_account,
    ensure_policy,
    overdue_bill,
)
from gridcare.core.models import AuditEvent
from gridcare.core.tests.transactional import race
from gridcare.customers.tests.factories import AccountFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]
TZ = dt.timezone(dt.timedelta(hours=8))
SECRETS = {"wechat": "s3cret-wechat"}


def in_thread(name: str, job: Callable[[], Any], out: dict[str, Any]) -> threading.Thread:
    """Run ``job`` on its own thread and connection; its result or exception goes to ``out``."""

    def run() -> None:
        try:
            out[name] = job()
        except Exception as exc:  # noqa: BLE001 — reported to the test below
            out[name] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def wait_while_running_unless_blocked(thread: threading.Thread, timeout: float = 10) -> None:
    """Return once ``thread`` finished or a session of this database waits on a lock."""
    end = time.monotonic() + timeout
    while thread.is_alive() and time.monotonic() < end:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cur.fetchone()[0]:
                return
        time.sleep(0.05)


def pause_payer(
    monkeypatch: Any, *, before_bills: bool, paused: threading.Event, go: threading.Event
) -> None:
    """The payment on the "payer" thread (holding the account lock) stops just before or
    just after reading the account's unpaid bills, until ``go``."""
    real_open_bills = payments_mod.open_bills

    def open_bills_with_pause(**kwargs: Any) -> Any:
        pause = threading.current_thread().name == "payer" and not paused.is_set()
        if pause and before_bills:
            paused.set()
            assert go.wait(20)
        rows = real_open_bills(**kwargs)
        if pause and not before_bills:
            paused.set()
            assert go.wait(20)
        return rows

    monkeypatch.setattr(payments_mod, "open_bills", open_bills_with_pause)


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

    results = race(*[call] * 6)
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
    results = race(*jobs)
    assert all(isinstance(r, Payment) for r in results), results
    # 6 × 70.00 = 420.00: the three bills (300.00) paid, 120.00 kept as balance.
    assert Payment.objects.filter(account=account).count() == 6
    assert [bill_outstanding(b) for b in bills] == [Decimal("0.00")] * 3
    assert AccountBalance.objects.get(account=account).amount == Decimal("120.00")
    allocated = sum(a.amount for a in PaymentAllocation.objects.filter(bill__account=account))
    assert allocated == Decimal("300.00")


def test_a_waiver_approved_while_a_payment_posts_serves_the_next_payment_once(
    make_user: Any, monkeypatch: Any
) -> None:
    # Given an overdue bill with a pending waiver, and a payment that has locked the account
    # and is about to read the bill
    ensure_policy()
    requester = make_user(is_superuser=True, is_staff=True, username="req")
    manager = make_user(is_superuser=True, is_staff=True, username="mgr")
    account = business_account()
    bill = overdue_bill(
        account=account, period=dt.date(2025, 11, 1), amount="10000.00", due_date=dt.date(2025, 12, 20)
    )
    waiver = late_fee_waiver_request(actor=requester, bill_id=bill.pk, amount="100.00", reason="系统故障")
    paused, go = threading.Event(), threading.Event()
    pause_payer(monkeypatch, before_bills=True, paused=paused, go=go)
    out: dict[str, Any] = {}

    def pay(key: str) -> Payment:
        return payment_post(
            actor="clerk",
            account_id=account.pk,
            amount="5000.00",
            channel=PaymentChannel.COUNTER_CASH,
            idempotency_key=key,
            received_at=dt.datetime(2026, 1, 10, 10, tzinfo=TZ),
        )

    payer = in_thread("payer", lambda: pay("w-1"), out)
    assert paused.wait(20)

    # When the manager approves the waiver meanwhile
    approver = in_thread(
        "approver", lambda: late_fee_waiver_decide(actor=manager, waiver_id=waiver.pk, approve=True), out
    )
    wait_while_running_unless_blocked(approver)
    go.set()
    payer.join(60)
    approver.join(60)

    # Then the decision waited for the payment, which charged the full fee; the waiver is
    # left whole for the next payment, and serves that one only
    assert not any(isinstance(v, Exception) for v in out.values()), out
    assert LateFeeWaiver.objects.get(pk=waiver.pk).status == "approved"
    first = PaymentAllocation.objects.get(payment=out["payer"])
    assert first.late_fee_waived == Decimal("0.00")
    assert open_bills(account_ids=[account.pk], as_of=dt.date(2026, 1, 10))[0].waiver_fen == 10000
    second = pay("w-2")
    assert PaymentAllocation.objects.get(payment=second).late_fee_waived == Decimal("100.00")
    assert open_bills(account_ids=[account.pk], as_of=dt.date(2026, 1, 10))[0].waiver_fen == 0


def _draft_run_bill(account: Any, amount: str) -> Any:
    run = BillingRun.objects.create(period=dt.date(2026, 10, 1), status=RunStatus.REVIEW, created_by="t")
    bill = BillFactory(account=account, run=run, amount=Decimal(amount), status=BillStatus.DRAFT)
    BillLineFactory(bill=bill, amount=Decimal(amount))
    return bill


def test_a_run_issued_while_a_payment_posts_lets_the_payment_pay_the_new_bill(monkeypatch: Any) -> None:
    # Given a draft bill of a run, and a payment on its account that has read the (still
    # unbilled) account: its money will go to the balance
    ensure_policy()
    account = AccountFactory()
    bill = _draft_run_bill(account, "52.00")
    paused, go = threading.Event(), threading.Event()
    pause_payer(monkeypatch, before_bills=False, paused=paused, go=go)
    out: dict[str, Any] = {}
    payer = in_thread(
        "payer",
        lambda: payment_post(
            actor="clerk",
            account_id=account.pk,
            amount="52.00",
            channel=PaymentChannel.COUNTER_CASH,
            idempotency_key="race-1",
        ),
        out,
    )
    assert paused.wait(20)

    # When the run is issued (and its credit balances applied) before the payment commits
    out["issued"] = billing_run_issue(run_id=bill.run_id, actor="clerk")
    go.set()
    payer.join(60)

    # Then the payment's credit pays the new bill once it commits: nothing owed, no credit
    assert not isinstance(out["payer"], Exception), out
    assert out["issued"] == 1
    bill.refresh_from_db()
    assert bill.status == BillStatus.ISSUED
    assert bill_outstanding(bill) == Decimal("0.00")
    assert AccountBalance.objects.get(account=account).amount == Decimal("0.00")
    assert PaymentAllocation.objects.get(bill=bill).payment_id == out["payer"].pk
    assert AuditEvent.objects.filter(action="balance.apply").count() == 1


def test_a_run_issued_while_a_payment_adds_to_a_credit_applies_the_credit_after_it(monkeypatch: Any) -> None:
    # Given a draft bill of a run, an account with 10.00 credit, and a payment of 42.00 on it
    # that has read the (still unbilled) account
    ensure_policy()
    account = AccountFactory()
    AccountBalanceFactory(account=account, amount=Decimal("10.00"))
    earlier = Payment.objects.create(
        number="SK9000000001",
        account=account,
        channel=PaymentChannel.COUNTER_CASH,
        amount=Decimal("10.00"),
        received_at=dt.datetime(2026, 9, 1, 10, tzinfo=TZ),
        idempotency_key="earlier",
        posted_by="t",
    )
    bill = _draft_run_bill(account, "52.00")
    paused, go = threading.Event(), threading.Event()
    pause_payer(monkeypatch, before_bills=False, paused=paused, go=go)
    out: dict[str, Any] = {}
    payer = in_thread(
        "payer",
        lambda: payment_post(
            actor="clerk",
            account_id=account.pk,
            amount="42.00",
            channel=PaymentChannel.COUNTER_CASH,
            idempotency_key="race-2",
        ),
        out,
    )
    assert paused.wait(20)

    # When the run is issued meanwhile: applying the credit waits for the payment
    issuer = in_thread("issuer", lambda: billing_run_issue(run_id=bill.run_id, actor="clerk"), out)
    wait_while_running_unless_blocked(issuer)
    go.set()
    payer.join(60)
    issuer.join(60)

    # Then the whole credit (10.00 + 42.00) pays the bill, with the payment's allocation
    assert not any(isinstance(v, Exception) for v in out.values()), out
    assert bill_outstanding(bill) == Decimal("0.00")
    assert AccountBalance.objects.get(account=account).amount == Decimal("0.00")
    assert PaymentAllocation.objects.get(bill=bill).payment_id == out["payer"].pk != earlier.pk
