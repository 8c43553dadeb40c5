"""Portal 我的缴费记录: my payments only, what each paid, my balance, a refund shown as one;
staff and anonymous kept out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gridcare.billing.services.payments import payment_post, payment_reverse
from gridcare.billing.tests.factories_payments import ensure_policy, overdue_bill, refund_paid
from gridcare.customers.choices import AccountStatus

pytestmark = pytest.mark.django_db


def _client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


@pytest.fixture
def clerk(make_user):
    return make_user(roles=["counter_clerk"], username="clerk-portal")


def test_customer_sees_own_payments_with_bills_paid_and_balance(customer_a, customer_b, clerk) -> None:
    ensure_policy()
    a, a_accounts = customer_a
    _, b_accounts = customer_b
    today = timezone.localdate()
    bill = overdue_bill(account=a_accounts[0], period=dt.date(2026, 9, 1), amount="80.00", due_date=today)
    mine = payment_post(
        actor=clerk, account_id=a_accounts[0].pk, amount="100.00", channel="counter_cash", idempotency_key="a"
    )
    theirs = payment_post(
        actor=clerk, account_id=b_accounts[0].pk, amount="55.00", channel="counter_cash", idempotency_key="b1"
    )

    response = _client_for(a.user).get(reverse("portal:payments"))

    assert response.status_code == 200
    html = response.content.decode()
    assert mine.number in html
    assert theirs.number not in html  # another customer's payment never shows
    assert b_accounts[0].number not in html
    page = response.context["page"]
    (shown,) = page.object_list
    assert [(x.bill_id, x.amount, x.late_fee) for x in shown.paid_bills] == [(bill.pk, Decimal("80.00"), 0)]
    assert shown.to_balance == Decimal("20.00")
    assert [b.amount for b in response.context["balances"]] == [Decimal("20.00")]
    assert "2026-09" in html


def test_a_reversed_payment_shows_as_reversed_and_pays_nothing(customer_a, clerk, make_user) -> None:
    ensure_policy()
    a, accounts = customer_a
    today = timezone.localdate()
    overdue_bill(account=accounts[0], period=dt.date(2026, 9, 1), amount="80.00", due_date=today)
    payment = payment_post(
        actor=clerk, account_id=accounts[0].pk, amount="80.00", channel="counter_cash", idempotency_key="r1"
    )
    manager = make_user(roles=["service_manager"], username="mgr-portal")
    payment_reverse(actor=manager, payment_id=payment.pk, reason="wrong account")

    response = _client_for(a.user).get(reverse("portal:payments"))

    (shown,) = response.context["page"].object_list
    assert shown.status == "reversed"
    assert shown.paid_bills == []
    assert "badge--danger" in response.content.decode()


def test_filter_by_account_and_access(customer_a, staff_user, client: Client) -> None:
    a, accounts = customer_a
    url = reverse("portal:payments")
    assert _client_for(a.user).get(url, {"account": accounts[0].number}).status_code == 200
    assert _client_for(staff_user).get(url).status_code == 403
    anonymous = client.get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith(reverse("portal:login"))


def test_a_refund_shows_as_refunded_not_as_posted(customer_a: Any, clerk: Any) -> None:
    """销户退费: the customer's balance paid back reads 退费 · 已退款, never 已入账 (money in)."""
    ensure_policy()
    a, accounts = customer_a
    account = accounts[0]
    account.status, account.closed_on = AccountStatus.CLOSED, timezone.localdate()
    account.save()
    paid = payment_post(
        actor=clerk, account_id=account.pk, amount="35.00", channel="wechat", idempotency_key="in"
    )
    refund = refund_paid(account, clerk=clerk, key="tf")

    html = _client_for(a.user).get(reverse("portal:payments")).content.decode()

    refund_row = next(row for row in html.split("<tr>") if refund.number in row)
    paid_row = next(row for row in html.split("<tr>") if paid.number in row)
    assert "已退款" in refund_row
    assert "已入账" not in refund_row
    assert "退费</span>" in refund_row  # the kind, beside the refund channel
    assert "-¥35.00" in refund_row
    assert "已入账" in paid_row
    assert "已退款" not in paid_row
