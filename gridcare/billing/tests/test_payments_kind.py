"""A refund (销户退费) reads as one wherever payments are listed: the API's ``kind``,
``kind_label`` and ``status_label`` (staff and the owning customer), the console's payments
list and its voucher (docs/billing-payments.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse

from gridcare.billing.choices import PaymentChannel
from gridcare.billing.models import Payment
from gridcare.billing.services.payments import payment_post, payment_reverse
from gridcare.billing.tests.factories_payments import ensure_policy, refund_paid
from gridcare.customers.choices import AccountStatus
from gridcare.customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _policy(db: None) -> None:
    ensure_policy()


def paid_then_refunded(account: Any, *, clerk: Any) -> tuple[Payment, Payment]:
    """Given ``account`` closed with 35.00 of credit from a payment, the whole of it paid back:
    (the payment, the refund)."""
    account.status, account.closed_on = AccountStatus.CLOSED, dt.date(2026, 10, 31)
    account.save()
    payment = payment_post(
        actor="t", account_id=account.pk, amount="35.00", channel="wechat", idempotency_key=f"in{account.pk}"
    )
    refund = refund_paid(account, clerk=clerk, channel=PaymentChannel.REFUND_BANK, key=f"tf{account.pk}")
    return payment, refund


def by_number(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["number"]: row for row in rows}


def test_staff_api_says_which_row_is_a_refund(staff_client: Any, make_user: Any) -> None:
    client = staff_client(roles=["counter_clerk"])
    payment, refund = paid_then_refunded(AccountFactory(), clerk=client.user)

    rows = by_number(client.get("/api/billing/payments").json())
    detail = client.get(f"/api/billing/payments/{refund.pk}").json()

    fields = ("kind", "kind_label", "status", "status_label", "amount")
    assert {k: rows[refund.number][k] for k in fields} == {
        "kind": "refund",
        "kind_label": "Balance refund (退费)",
        "status": "posted",
        "status_label": "Refunded (已退款)",
        "amount": "-35.00",
    }
    assert {k: rows[payment.number][k] for k in ("kind", "kind_label", "status", "status_label")} == {
        "kind": "payment",
        "kind_label": "Payment (缴费)",
        "status": "posted",
        "status_label": "Posted (已入账)",
    }
    assert (detail["kind"], detail["status_label"]) == ("refund", "Refunded (已退款)")


def test_a_reversed_refund_reads_as_reversed(staff_client: Any, make_user: Any) -> None:
    client = staff_client(roles=["counter_clerk"])
    _, refund = paid_then_refunded(AccountFactory(), clerk=client.user)
    payment_reverse(actor=make_user(roles=["service_manager"]), payment_id=refund.pk, reason="转账退回")

    row = client.get(f"/api/billing/payments/{refund.pk}").json()

    assert (row["kind"], row["status"], row["status_label"]) == ("refund", "reversed", "Reversed (已冲正)")


def test_the_customer_sees_the_kind_of_their_own_rows_only(customer_client: Any, make_user: Any) -> None:
    clerk = make_user(roles=["counter_clerk"], username="clerk")
    _, own = paid_then_refunded(customer_client.account, clerk=clerk)
    _, other = paid_then_refunded(AccountFactory(), clerk=clerk)

    rows = by_number(customer_client.get("/api/billing/payments").json())

    assert other.number not in rows
    assert (rows[own.number]["kind"], rows[own.number]["status_label"]) == ("refund", "Refunded (已退款)")
    assert rows[own.number]["posted_by"] == ""
    assert customer_client.get(f"/api/billing/payments/{other.pk}").status_code == 404


def test_openapi_documents_the_kind(staff_client: Any) -> None:
    schema = staff_client(roles=["counter_clerk"]).get("/api/openapi.json").json()

    payment = schema["components"]["schemas"]["PaymentOut"]

    assert {"kind", "kind_label", "status_label"} <= set(payment["required"])


def test_console_list_and_voucher_label_the_refund(staff_client: Any) -> None:
    client = staff_client(roles=["counter_clerk"])
    account = AccountFactory()
    payment, refund = paid_then_refunded(account, clerk=client.user)

    listing = client.get(reverse("billing:payments"), {"account": account.number}).content.decode()
    voucher = client.get(reverse("billing:payments_receipt", args=[refund.pk])).content.decode()
    receipt = client.get(reverse("billing:payments_receipt", args=[payment.pk])).content.decode()

    refund_row = next(row for row in listing.split("<tr>") if refund.number in row)
    payment_row = next(row for row in listing.split("<tr>") if payment.number in row)
    assert "Refunded (已退款)" in refund_row
    assert "Posted (已入账)" not in refund_row
    assert "Posted (已入账)" in payment_row
    assert "Refund voucher (退费凭证)" in voucher
    assert "Refunded (已退款)" in voucher
    assert "Posted (已入账)" not in voucher
    assert "Paid back" in voucher
    assert "Posted (已入账)" in receipt
    assert "Paid back" not in receipt
