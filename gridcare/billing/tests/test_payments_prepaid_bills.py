"""A bill of a prepaid (费控) account's postpaid days — the account switched mode, or was
postpaid earlier — paid from its prepaid balance (``balances_apply``): in full when the
balance covers it, as far as it goes once the account is closed, set-based in the nightly
check before the reminders (docs/billing-payments.md "Allocation", docs/billing-prepaid.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from gridcare.billing.choices import BillStatus, PaymentChannel, PrepaidNoticeLevel
from gridcare.billing.models import AccountBalance, Bill, Payment, PaymentAllocation, PrepaidNotice
from gridcare.billing.selectors.payments import unpaid_bills
from gridcare.billing.services.payments import balances_apply, payment_post
from gridcare.billing.services.prepaid import prepaid_check_balances
from gridcare.billing.services.runs import billing_run, billing_run_issue
from gridcare.billing.tests.factories_payments import ensure_policy, overdue_bill, refund_paid
from gridcare.billing.tests.runs_fixtures import billable_account
from gridcare.core.models import AuditEvent
from gridcare.customers import services as customers
from gridcare.customers.choices import AccountStatus
from gridcare.customers.models import Account
from gridcare.customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db

OCT = dt.date(2026, 10, 1)
NOT_DUE = dt.date(2099, 1, 1)  # no late fee: the amounts stay round


@pytest.fixture(autouse=True)
def _setup(settings: Any, tmp_path: Any) -> None:
    ensure_policy()
    settings.DATA_DIR = tmp_path
    settings.GRIDCARE_SMS_BACKEND = "file"


def prepaid_account(paid: str, **fields: Any) -> Any:
    """A prepaid account whose payment of ``paid`` yuan is its balance."""
    account = AccountFactory(is_prepaid=True, tariff_code="HEBS-RES-LV", **fields)
    pay(account, paid)
    return account


def pay(account: Any, amount: str) -> Payment:
    return payment_post(
        actor="t",
        account_id=account.pk,
        amount=amount,
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key=f"in-{account.pk}-{Payment.objects.count()}",
    )


def balance_of(account: Any) -> Decimal:
    return AccountBalance.objects.get(account=account).amount


def owed(bill: Bill) -> Decimal:
    return unpaid_bills(Bill.objects.filter(pk=bill.pk)).values_list("outstanding", flat=True).first() or (
        Decimal("0.00")
    )


def notices(account: Any) -> list[tuple[str, Decimal]]:
    return list(PrepaidNotice.objects.filter(account=account).order_by("pk").values_list("level", "balance"))


def test_the_bill_of_the_postpaid_days_is_paid_from_the_prepaid_balance_when_issued() -> None:
    # Given: postpaid in October, prepaid from 2 November, 200 yuan prepaid since.
    account, _meter = billable_account()  # 150 kWh in October
    customers.account_update(
        actor="clerk",
        account_id=account.pk,
        version=account.version,
        is_prepaid=True,
        billing_mode_since=dt.date(2026, 11, 2),
    )
    payment = pay(account, "200.00")

    # When: the October run issues the bill of its postpaid days.
    run = billing_run(period="2026-10", actor="clerk")
    billing_run_issue(run_id=run.pk, actor="clerk")

    # Then: the prepaid balance paid it, under the payment (its reversal takes it back).
    bill = Bill.objects.get(account=account, period=OCT, status=BillStatus.ISSUED)
    assert bill.amount == Decimal("78.00")
    assert owed(bill) == Decimal("0.00")
    assert balance_of(account) == Decimal("122.00")
    allocation = PaymentAllocation.objects.get(bill=bill)
    assert (allocation.payment_id, allocation.amount) == (payment.pk, Decimal("78.00"))
    event = AuditEvent.objects.get(action="balance.apply")
    assert (event.before, event.after) == ({"amount": "200.00"}, {"amount": "122.00", "bills": [bill.pk]})


@pytest.mark.parametrize(
    ("is_prepaid", "status", "paid", "left"),
    [
        (False, {}, "50.00", "0.00"),  # postpaid (or switched to it): as far as it goes
        (True, {}, "0.00", "50.00"),  # not covered: the bill is not half-paid
        (True, {"status": AccountStatus.SUSPENDED, "suspended_on": OCT}, "0.00", "50.00"),
        (True, {"status": AccountStatus.CLOSED, "closed_on": OCT}, "50.00", "0.00"),  # nothing to prepay
    ],
)
def test_a_balance_short_of_the_bill_pays_part_of_it_only_when_nothing_is_left_to_prepay(
    is_prepaid: bool, status: dict[str, Any], paid: str, left: str
) -> None:
    account = AccountFactory(is_prepaid=is_prepaid)
    pay(account, "50.00")
    Account.objects.filter(pk=account.pk).update(**status)  # given state, after the payment
    bill = overdue_bill(account=account, period=OCT, amount="80.00", due_date=NOT_DUE)

    balances_apply(account_ids=[account.pk], actor="run")

    assert owed(bill) == Decimal("80.00") - Decimal(paid)
    assert balance_of(account) == Decimal(left)


def test_an_open_prepaid_balance_pays_the_bills_it_covers_oldest_first_with_their_late_fee() -> None:
    account = prepaid_account("200.00")
    older = overdue_bill(account=account, period=dt.date(2026, 8, 1), amount="60.00", due_date=OCT)
    newer = overdue_bill(account=account, period=dt.date(2026, 9, 1), amount="150.00", due_date=NOT_DUE)

    assert balances_apply(account_ids=[account.pk], actor="run") == 1

    allocation = PaymentAllocation.objects.get(bill=older)
    assert allocation.amount == Decimal("60.00")
    assert allocation.late_fee > 0  # overdue since 1 October
    assert owed(older) == Decimal("0.00")
    assert owed(newer) == Decimal("150.00")  # 140 left would only half-pay it
    assert balance_of(account) == Decimal("140.00") - allocation.late_fee


def test_a_prepaid_top_up_that_covers_the_bill_pays_it_and_the_check_sees_what_is_left(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given: 50 yuan prepaid, an 80 yuan bill of the postpaid days: not covered.
    account = prepaid_account("50.00")
    bill = overdue_bill(account=account, period=OCT, amount="80.00", due_date=NOT_DUE)
    assert balances_apply(account_ids=[account.pk], actor="run") == 0

    # When: the customer tops up 40 (the check runs once the payment commits).
    with django_capture_on_commit_callbacks(execute=True):
        pay(account, "40.00")

    # Then: the bill is paid, and the check reminds of the 10 yuan left (below 20).
    assert owed(bill) == Decimal("0.00")
    assert balance_of(account) == Decimal("10.00")
    assert notices(account) == [(PrepaidNoticeLevel.LOW, Decimal("10.00"))]


def test_the_nightly_check_pays_the_covered_bills_first_and_reminds_on_the_balance_left() -> None:
    covered = prepaid_account("100.00")
    covered_bill = overdue_bill(account=covered, period=OCT, amount="90.00", due_date=NOT_DUE)
    short = prepaid_account("100.00")
    short_bill = overdue_bill(account=short, period=OCT, amount="150.00", due_date=NOT_DUE)
    no_bill = prepaid_account("100.00")

    counts = prepaid_check_balances(now=timezone.now(), actor="worker")

    assert counts["bills_paid"] == 1
    assert (owed(covered_bill), balance_of(covered)) == (Decimal("0.00"), Decimal("10.00"))
    assert (owed(short_bill), balance_of(short)) == (Decimal("150.00"), Decimal("100.00"))
    assert balance_of(no_bill) == Decimal("100.00")
    assert notices(covered) == [(PrepaidNoticeLevel.LOW, Decimal("10.00"))]
    assert notices(short) == notices(no_bill) == []
    assert AuditEvent.objects.filter(action="balance.apply").count() == 1


def test_a_closed_prepaid_accounts_balance_pays_its_bill_in_the_nightly_check_then_is_refunded(
    make_user: Any,
) -> None:
    account = prepaid_account("50.00", status=AccountStatus.CLOSED, closed_on=dt.date(2026, 10, 31))
    bill = overdue_bill(account=account, period=OCT, amount="30.00", due_date=NOT_DUE)

    prepaid_check_balances(now=timezone.now(), actor="worker")
    refund = refund_paid(
        account,
        clerk=make_user(roles=["counter_clerk"]),
        channel=PaymentChannel.REFUND_BANK,
        reference="BT20261128001",
        key="r1",
    )

    assert owed(bill) == Decimal("0.00")
    assert refund.amount == Decimal("-20.00")
    assert balance_of(account) == Decimal("0.00")
    assert not PrepaidNotice.objects.filter(account=account).exists()  # no reminder when closed


def test_the_bulk_apply_of_prepaid_accounts_costs_one_audit_row_more_per_account() -> None:
    counts = {}
    for n in (2, 4):
        accounts = [prepaid_account("100.00") for _ in range(n)]
        for account in accounts:
            overdue_bill(account=account, period=OCT, amount="60.00", due_date=NOT_DUE)
        with CaptureQueriesContext(connection) as ctx:
            assert balances_apply(account_ids=[a.pk for a in accounts], actor="run") == n
        counts[n] = len(ctx.captured_queries)
    assert counts[4] - counts[2] == 2


def test_a_closed_prepaid_accounts_refund_at_the_counter_pays_its_bill_first(make_user: Any) -> None:
    """The same day, before any nightly check: the request offers what the balance leaves
    after the bill, and its approval pays the bill from the balance, then refunds the rest
    (before: refused, "the account still owes 1 bill")."""
    account = prepaid_account("50.00", status=AccountStatus.CLOSED, closed_on=dt.date(2026, 10, 31))
    bill = overdue_bill(account=account, period=OCT, amount="30.00", due_date=NOT_DUE)

    refund = refund_paid(
        account,
        clerk=make_user(roles=["counter_clerk"]),
        channel=PaymentChannel.REFUND_BANK,
        reference="BT20261128002",
        key="r2",
    )

    assert owed(bill) == Decimal("0.00")
    assert refund.amount == Decimal("-20.00")
    assert balance_of(account) == Decimal("0.00")
