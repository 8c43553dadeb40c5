"""销户退费: a closed account's credit balance paid back — the service (limits, the account
lock, idempotency, audit), the console page (permissions, the flow from the counter) and the
refund in the customer's payment history (docs/billing-payments.md)."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gridcare.billing.choices import PaymentChannel, PaymentKind, PaymentStatus
from gridcare.billing.models import AccountBalance, Payment, PaymentAllocation
from gridcare.billing.selectors.bills import account_statement
from gridcare.billing.services import payments as payments_service
from gridcare.billing.services.payments import (
    balance_refund,
    balances_apply,
    payment_post,
    payment_reverse,
)
from gridcare.billing.tests.factories_payments import ensure_policy, overdue_bill
from gridcare.core.errors import Conflict, PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.customers.choices import AccountStatus
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _policy(db: None) -> None:
    ensure_policy()


@pytest.fixture
def clerk(make_user: Any) -> Any:
    return make_user(roles=["counter_clerk"], username="clerk")


def closed_with_credit(credit: str = "120.00", **fields: Any) -> Any:
    """A closed postpaid account whose last payment left ``credit`` on its balance."""
    account = AccountFactory(status=AccountStatus.CLOSED, closed_on=dt.date(2026, 10, 31), **fields)
    payment_post(
        actor="t",
        account_id=account.pk,
        amount=credit,
        channel="counter_cash",
        idempotency_key=f"in{account.pk}",
    )
    return account


def balance_of(account: Any) -> Decimal:
    return AccountBalance.objects.get(account=account).amount


def refund(actor: Any, account: Any, key: str = "r1", **kwargs: Any) -> Payment:
    kwargs.setdefault("channel", PaymentChannel.REFUND_BANK)
    kwargs.setdefault("reference", "BT20261101001")
    kwargs.setdefault("reason", "销户退还预收电费")
    return balance_refund(actor=actor, account_id=account.pk, idempotency_key=key, **kwargs)


# --- the service ----------------------------------------------------------------------------


def test_the_whole_balance_is_refunded_by_default_and_audited(clerk: Any) -> None:
    account = closed_with_credit("120.00")

    row = refund(clerk, account)

    assert (row.kind, row.amount, row.channel, row.status) == (
        PaymentKind.REFUND,
        Decimal("-120.00"),
        PaymentChannel.REFUND_BANK,
        PaymentStatus.POSTED,
    )
    assert row.number.startswith("TF")
    assert (row.external_ref, row.reason, row.posted_by) == ("BT20261101001", "销户退还预收电费", "clerk")
    assert not row.allocations.exists()
    assert balance_of(account) == Decimal("0.00")
    event = AuditEvent.objects.get(action="balance.refund")
    assert (event.object_id, event.reason) == (str(row.pk), "销户退还预收电费")
    assert event.before == {"balance": "120.00"}
    assert (event.after["amount"], event.after["balance"]) == ("-120.00", "0.00")


def test_a_part_may_be_refunded_the_rest_stays_and_never_more_than_the_balance(clerk: Any) -> None:
    account = closed_with_credit("120.00")

    with pytest.raises(ValidationFailed) as err:
        refund(clerk, account, amount="120.01")
    assert err.value.field == "amount"
    assert balance_of(account) == Decimal("120.00")
    assert not Payment.objects.filter(kind=PaymentKind.REFUND).exists()

    refund(clerk, account, amount="100.00", key="r2")
    assert balance_of(account) == Decimal("20.00")
    refund(clerk, account, channel=PaymentChannel.REFUND_CASH, reference="XJ0001", key="r3")
    assert balance_of(account) == Decimal("0.00")
    assert sorted(Payment.objects.filter(kind=PaymentKind.REFUND).values_list("amount", flat=True)) == [
        Decimal("-100.00"),
        Decimal("-20.00"),
    ]


@pytest.mark.parametrize(
    ("case", "field"),
    [("active", "account"), ("suspended", "account"), ("no credit", "amount"), ("owes a bill", "account")],
)
def test_refused_unless_closed_with_credit_and_nothing_owed(clerk: Any, case: str, field: str) -> None:
    if case in ("active", "suspended"):
        account = AccountFactory(
            status=case, suspended_on=dt.date(2026, 10, 31) if case == "suspended" else None
        )
        payment_post(actor="t", account_id=account.pk, amount="50.00", channel="wechat", idempotency_key="c")
    elif case == "no credit":
        account = AccountFactory(status=AccountStatus.CLOSED, closed_on=dt.date(2026, 10, 31))
    else:
        # A prepaid account's payments go to its balance, not to the bill it still owes;
        # the refund lets the balance pay first (50.00 of 80.00 and its late fee): refused,
        # and nothing of it is kept (one transaction).
        account = closed_with_credit("50.00", is_prepaid=True)
        overdue_bill(
            account=account, period=dt.date(2026, 9, 1), amount="80.00", due_date=dt.date(2026, 10, 20)
        )
    before = AccountBalance.objects.filter(account=account).values_list("amount", flat=True).first()
    audits = AuditEvent.objects.count()

    with pytest.raises(Conflict) as err:
        refund(clerk, account)

    assert err.value.field == field
    if case == "owes a bill":
        # what the balance left owed: 80.00 less the 48.12 principal its 50.00 paid beside
        # the bill's 1.88 late fee
        assert "1 bill(s) (31.88 yuan)" in str(err.value.message)
    assert not Payment.objects.filter(kind=PaymentKind.REFUND).exists()
    assert AccountBalance.objects.filter(account=account).values_list("amount", flat=True).first() == before
    assert AuditEvent.objects.count() == audits


def test_input_is_checked_before_anything_is_written(clerk: Any) -> None:
    account = closed_with_credit()
    for kwargs, field in [
        ({"channel": PaymentChannel.COUNTER_CASH}, "channel"),
        ({"reference": " "}, "reference"),
        ({"reason": ""}, "reason"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1.001"}, "amount"),
    ]:
        with pytest.raises(ValidationFailed) as err:
            refund(clerk, account, **kwargs)
        assert err.value.field == field, kwargs
    assert balance_of(account) == Decimal("120.00")


def test_needs_the_collection_permission(make_user: Any) -> None:
    account = closed_with_credit()
    for user in (make_user(roles=["hotline_agent"]), make_user(roles=["service_manager"])):
        with pytest.raises(PermissionDenied):
            refund(user, account)
    assert balance_of(account) == Decimal("120.00")


def test_a_repeated_key_records_the_refund_once(clerk: Any) -> None:
    account = closed_with_credit("120.00")

    first = refund(clerk, account, amount="50.00")
    again = refund(clerk, account, amount="50.00")

    assert again.pk == first.pk
    assert balance_of(account) == Decimal("70.00")
    other = closed_with_credit("10.00")
    with pytest.raises(Conflict):
        refund(clerk, other, amount="5.00")  # the key is the first account's
    with pytest.raises(Conflict):
        refund(clerk, account, key=f"in{account.pk}")  # the key of a payment


def test_the_account_lock_is_taken_before_the_bills_and_the_balance_are_read(
    clerk: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The balance row is locked first (as a payment locks it), so a payment or a second
    refund on the account waits and then sees the lower balance; the bills are read under
    the lock, and the balance used is the locked row's."""
    account = closed_with_credit("120.00")
    events: list[str] = []
    lock, unpaid = payments_service.lock_balance, payments_service.unpaid_bills

    def spy_lock(account_id: int) -> AccountBalance:
        events.append("lock")
        row = lock(account_id)
        AccountBalance.objects.filter(pk=row.pk).update(amount=Decimal("999.00"))  # not re-read
        return row

    def spy_unpaid(*args: Any, **kwargs: Any) -> Any:
        events.append("bills")
        return unpaid(*args, **kwargs)

    monkeypatch.setattr(payments_service, "lock_balance", spy_lock)
    monkeypatch.setattr(payments_service, "unpaid_bills", spy_unpaid)

    row = refund(clerk, account)

    assert events == ["lock", "bills"]
    assert row.amount == Decimal("-120.00")
    assert balance_of(account) == Decimal("0.00")


def test_a_reversed_refund_puts_the_money_back_on_the_balance(clerk: Any) -> None:
    account = closed_with_credit("120.00")
    row = refund(clerk, account, amount="100.00")

    payment_reverse(actor="manager", payment_id=row.pk, reason="转账被退回")

    row.refresh_from_db()
    assert row.status == PaymentStatus.REVERSED
    assert balance_of(account) == Decimal("120.00")


def test_credit_left_after_a_refund_pays_a_later_bill_on_the_payment_not_the_refund(clerk: Any) -> None:
    """``balances_apply`` files a credit's allocations under the latest payment (its
    reversal takes them back): never under a refund."""
    account = closed_with_credit("120.00")
    payment = Payment.objects.get(account=account, kind=PaymentKind.PAYMENT)
    refund(clerk, account, amount="80.00")
    bill = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="30.00", due_date=dt.date(2099, 1, 1)
    )

    assert balances_apply(account_ids=[account.pk], actor="run") == 1

    allocation = PaymentAllocation.objects.get(bill=bill)
    assert allocation.payment_id == payment.pk
    assert balance_of(account) == Decimal("10.00")


def test_a_refund_channel_is_not_a_payment_channel(clerk: Any) -> None:
    account = closed_with_credit()
    with pytest.raises(ValidationFailed) as err:
        payment_post(
            actor=clerk, account_id=account.pk, amount="5.00", channel="refund_cash", idempotency_key="x"
        )
    assert err.value.field == "channel"


def test_the_statement_shows_the_refund_and_ends_at_zero(clerk: Any) -> None:
    account = closed_with_credit("120.00")
    refund(clerk, account)

    statement = account_statement(account.pk)

    assert [(e.amount, e.balance) for e in statement.entries] == [
        (Decimal("-120.00"), Decimal("-120.00")),
        (Decimal("120.00"), Decimal("0.00")),
    ]
    assert statement.balance == Decimal("0.00")


# --- the console page -----------------------------------------------------------------------


def refund_url(account: Any) -> str:
    return reverse("billing:payments_refund", args=[account.number])


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("counter_clerk", 200),
        ("billing_clerk", 200),
        ("hotline_agent", 403),
        ("service_manager", 403),
        ("auditor", 403),
        ("metering_tech", 403),
    ],
)
def test_refund_page_permissions(staff_client: Any, role: str, status: int) -> None:
    account = closed_with_credit()
    client = staff_client(roles=[role])

    assert client.get(refund_url(account)).status_code == status
    post = client.post(
        refund_url(account),
        {"key": "k", "amount": "120.00", "channel": "refund_bank", "reference": "BT1", "reason": "销户"},
    )
    assert post.status_code == (302 if status == 200 else 403)
    assert Payment.objects.filter(kind=PaymentKind.REFUND).exists() is (status == 200)


def test_refund_page_anonymous_customer_and_unknown_account(customer_client: Any) -> None:
    own = customer_client.account
    own.status, own.closed_on = AccountStatus.CLOSED, dt.date(2026, 10, 31)
    own.save()
    payment_post(actor="t", account_id=own.pk, amount="20.00", channel="wechat", idempotency_key="own")
    form = {"key": "k", "amount": "20.00", "channel": "refund_bank", "reference": "BT1", "reason": "x"}

    assert customer_client.get(refund_url(own)).status_code == 403  # even for their own account
    assert customer_client.post(refund_url(own), form).status_code == 403
    anonymous = Client().get(refund_url(own))
    assert anonymous.status_code == 302
    assert "login" in anonymous["Location"]
    assert not Payment.objects.filter(kind=PaymentKind.REFUND).exists()


def test_refund_flow_from_the_counter(staff_client: Any) -> None:
    client = staff_client(roles=["counter_clerk"])
    account = closed_with_credit("120.00")
    active = AccountFactory()

    counter = client.get(reverse("billing:payments_counter"), {"account": account.number}).content.decode()
    assert refund_url(account) in counter
    assert (
        refund_url(active)
        not in client.get(reverse("billing:payments_counter"), {"account": active.number}).content.decode()
    )

    page = client.get(refund_url(account)).content.decode()
    assert 'value="120.00"' in page
    key = re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)
    form = {
        "key": key,
        "amount": "120.00",
        "channel": "refund_bank",
        "reference": "BT7",
        "reason": "销户退费",
    }
    first = client.post(refund_url(account), form)
    second = client.post(refund_url(account), form)  # a double click

    row = Payment.objects.get(kind=PaymentKind.REFUND)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == reverse("billing:payments_receipt", args=[row.pk])
    assert balance_of(account) == Decimal("0.00")
    voucher = client.get(first["Location"]).content.decode()
    assert row.number in voucher
    assert "-¥120.00" in voucher
    assert "销户退费" in voucher
    listing = client.get(reverse("billing:payments"), {"account": account.number}).content.decode()
    assert row.number in listing
    assert "-¥120.00" in listing
    assert client.get(reverse("billing:payments_counter"), {"account": account.number}).status_code == 200
    assert (
        refund_url(account)
        not in client.get(reverse("billing:payments_counter"), {"account": account.number}).content.decode()
    )


def test_refund_page_refuses_an_open_account_with_the_reason(staff_client: Any) -> None:
    client = staff_client(roles=["counter_clerk"])
    account = AccountFactory()
    payment_post(actor="t", account_id=account.pk, amount="20.00", channel="wechat", idempotency_key="o")

    resp = client.post(
        refund_url(account),
        {"key": "k", "amount": "20.00", "channel": "refund_bank", "reference": "BT1", "reason": "x"},
    )

    assert resp.status_code == 200
    assert resp.context["form"].non_field_errors()
    assert not Payment.objects.filter(kind=PaymentKind.REFUND).exists()
    assert client.get(reverse("billing:payments_refund", args=["0000000000"])).status_code == 404


# --- the customer's payment history -----------------------------------------------------------


def test_the_portal_lists_the_refund_to_its_owner_only(clerk: Any, customer_client: Any) -> None:
    own = customer_client.account
    own.status, own.closed_on = AccountStatus.CLOSED, timezone.localdate()
    own.save()
    payment_post(actor="t", account_id=own.pk, amount="35.00", channel="wechat", idempotency_key="p1")
    row = refund(clerk, own, channel=PaymentChannel.REFUND_CASH, reference="XJ9")
    stranger = CustomerFactory(with_login=True)
    AccountFactory(customer=stranger)
    other = Client()
    other.force_login(stranger.user)

    mine = customer_client.get(reverse("portal:payments")).content.decode()
    theirs = other.get(reverse("portal:payments")).content.decode()

    assert row.number in mine
    assert "-¥35.00" in mine
    assert str(PaymentChannel.REFUND_CASH.label) in mine
    assert row.number not in theirs
