"""Bank withholding (银行代扣) of a prepaid (费控) account's postpaid bill — the bill of the days
before it became prepaid, which its prepaid balance pays only when it covers all of it: the
file asks the bank for that bill (with its late fee), never for a top-up, and a successful
result pays the bill, not the prepaid balance (docs/billing-payments.md "Bank withholding")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from gridcare.billing.choices import PaymentChannel
from gridcare.billing.models import AccountBalance, Bill, Payment, PaymentAllocation
from gridcare.billing.selectors.bills import bill_outstanding
from gridcare.billing.services.payments import payment_post
from gridcare.billing.services.withholding import withholding_export, withholding_import
from gridcare.billing.tests.factories import issued_bill
from gridcare.billing.tests.factories_payments import ensure_policy
from gridcare.core.models import AuditEvent
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory

pytestmark = pytest.mark.django_db
NOT_DUE = dt.date(2099, 1, 1)  # no late fee whenever the test runs
RESULT_HEADER = "line,account,amount,result,bank_ref"


@pytest.fixture(autouse=True)
def _setup(settings: Any, tmp_path: Any) -> None:
    ensure_policy()
    settings.DATA_DIR = tmp_path  # the prepaid check after a payment may write a notice
    settings.GRIDCARE_SMS_BACKEND = "file"


def became_prepaid_on_the_16th(*, balance: str, due_date: dt.date = NOT_DUE) -> tuple[Any, Bill]:
    """A residential account prepaid since 16 November 2026 whose bill of its postpaid days
    (1–15 November, 200.00) is unpaid, with ``balance`` yuan on its prepaid balance."""
    account = AccountFactory(
        number="0500000101",
        customer=CustomerFactory(name="赵敏"),
        is_prepaid=True,
        billing_mode_since=dt.date(2026, 11, 16),
        tariff_code="HEBS-RES-LV",
    )
    bill = issued_bill(
        account=account,
        period=dt.date(2026, 11, 1),
        period_start=dt.date(2026, 11, 1),
        period_end=dt.date(2026, 11, 15),
        amount=Decimal("200.00"),
        due_date=due_date,
    )
    if Decimal(balance) > 0:
        payment_post(  # topped up at the counter: the money goes to the prepaid balance
            actor="t", account_id=account.pk, amount=balance, channel="counter_cash", idempotency_key="top-up"
        )
    elif Decimal(balance) < 0:  # the daily charges ran past the balance
        AccountBalance.objects.create(account=account, amount=Decimal(balance))
    return account, bill


def balance_of(account: Any) -> Decimal:
    return AccountBalance.objects.get(account=account).amount


def test_the_export_asks_for_the_postpaid_bill_of_a_prepaid_account_not_its_balance() -> None:
    # Given the bill of 200.00 unpaid and 50.00 on the prepaid balance (not enough for it)
    _account, bill = became_prepaid_on_the_16th(balance="50.00")

    # When the withholding file is exported
    batch, text = withholding_export(actor="cli", bank="ICBC")

    # Then it asks for the whole bill: the prepaid balance is not subtracted (it pays the
    # daily charges) and nothing is asked for it either
    assert text.splitlines() == ["line,account,name,amount", "1,0500000101,赵敏,200.00"]
    assert (batch.lines, batch.total) == (1, Decimal("200.00"))
    assert bill_outstanding(bill) == Decimal("200.00")


def test_the_export_adds_the_late_fee_to_date() -> None:
    # Given the bill is 10 days overdue today: 200.00 × 10 days × 1‰ (residential) = 2.00
    today = timezone.localdate()
    became_prepaid_on_the_16th(balance="50.00", due_date=today - dt.timedelta(days=10))

    _batch, text = withholding_export(actor="cli", bank="ICBC")

    assert text.splitlines()[1:] == ["1,0500000101,赵敏,202.00"]


def test_a_successful_result_pays_the_bill_and_leaves_the_prepaid_balance(
    django_capture_on_commit_callbacks: Any,
) -> None:
    # Given the file asked for the bill and its late fee (202.00)
    today = timezone.localdate()
    account, bill = became_prepaid_on_the_16th(balance="50.00", due_date=today - dt.timedelta(days=10))
    batch, _text = withholding_export(actor="cli", bank="ICBC")

    # When the bank answers success for the whole amount (what runs after the commit too)
    with django_capture_on_commit_callbacks(execute=True):
        result = withholding_import(
            actor="cli",
            batch_number=batch.number,
            content=f"{RESULT_HEADER}\n1,0500000101,202.00,success,B1\n",
        )

    # Then the withholding payment pays the bill (principal and late fee) itself, and the
    # prepaid balance is what it was
    assert result.posted == 1
    payment = Payment.objects.get(idempotency_key=f"wh:{batch.number}:1")
    assert payment.channel == PaymentChannel.BANK_WITHHOLDING
    allocation = PaymentAllocation.objects.get(bill=bill)
    assert (allocation.payment_id, allocation.amount, allocation.late_fee) == (
        payment.pk,
        Decimal("200.00"),
        Decimal("2.00"),
    )
    assert bill_outstanding(bill) == Decimal("0.00")
    assert balance_of(account) == Decimal("50.00")
    post = AuditEvent.objects.get(action="payment.post", object_id=str(payment.pk))
    assert (post.after["allocated"], post.after["to_balance"]) == ("202.00", "0.00")


@pytest.mark.parametrize(
    ("balance", "debited", "owed_after"),
    [
        ("50.00", "120.00", "80.00"),  # the bank debited part of it: that part pays the bill
        ("-30.00", "200.00", "0.00"),  # daily charges owed: the bank money still pays the bill
    ],
)
def test_the_bank_money_pays_the_bill_whatever_the_prepaid_balance(
    balance: str, debited: str, owed_after: str, django_capture_on_commit_callbacks: Any
) -> None:
    """Before: the money went to the prepaid balance, which pays a bill only when it covers
    all of it — 50 + 120 < 200 and −30 + 200 < 200 — so the bill stayed owed (late fee,
    reminders) and the withheld money paid the daily charges instead."""
    account, bill = became_prepaid_on_the_16th(balance=balance)
    batch, _text = withholding_export(actor="cli", bank="ICBC")

    with django_capture_on_commit_callbacks(execute=True):
        withholding_import(
            actor="cli",
            batch_number=batch.number,
            content=f"{RESULT_HEADER}\n1,0500000101,{debited},success,B1\n",
        )

    assert bill_outstanding(bill) == Decimal(owed_after)
    assert balance_of(account) == Decimal(balance)


def test_a_failed_line_moves_no_money_and_is_asked_for_again() -> None:
    account, bill = became_prepaid_on_the_16th(balance="50.00")
    batch, _text = withholding_export(actor="cli", bank="ICBC")

    withholding_import(
        actor="cli", batch_number=batch.number, content=f"{RESULT_HEADER}\n1,0500000101,200.00,fail,B1\n"
    )

    assert bill_outstanding(bill) == Decimal("200.00")
    assert balance_of(account) == Decimal("50.00")
    _next, text = withholding_export(actor="cli", bank="ICBC")
    assert text.splitlines()[1:] == ["1,0500000101,赵敏,200.00"]


def test_a_prepaid_balance_that_covers_the_bill_pays_it_and_the_bank_is_not_asked() -> None:
    # Given 300.00 on the prepaid balance, the bill not yet paid from it (the check after
    # the top-up did not run)
    account, bill = became_prepaid_on_the_16th(balance="300.00")

    # When the file is exported, then the balance pays the bill first (as the nightly
    # prepaid check would) and the account is not on the file
    batch, text = withholding_export(actor="cli", bank="ICBC")

    assert text.splitlines() == ["line,account,name,amount"]
    assert batch.lines == 0
    assert bill_outstanding(bill) == Decimal("0.00")
    assert balance_of(account) == Decimal("100.00")
