"""The real prepaid service is called after a prepaid payment commits (no stand-in)."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from gridcare.billing.choices import PaymentStatus, RemoteOrderKind, RemoteOrderStatus
from gridcare.billing.models import AccountBalance, BillingPolicy, Payment, RemoteOrder
from gridcare.billing.services import prepaid as prepaid_service
from gridcare.billing.services.payments import payment_post, payment_reverse
from gridcare.billing.tests.factories_payments import ensure_policy
from gridcare.customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def test_prepaid_payment_cancels_a_pending_disconnect(django_capture_on_commit_callbacks: Any) -> None:
    ensure_policy()
    account = AccountFactory(is_prepaid=True, tariff_code="HEBS-RES-LV")
    AccountBalance.objects.create(account=account, amount=Decimal("-12.00"))
    order = RemoteOrder.objects.create(
        account=account,
        kind=RemoteOrderKind.DISCONNECT,
        status=RemoteOrderStatus.PENDING,
        reason="balance below zero after the notice period",
        balance=Decimal("-12.00"),
        created_at=timezone.now(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        payment_post(
            actor="t", account_id=account.pk, amount="50.00", channel="alipay", idempotency_key="pp1"
        )
    assert AccountBalance.objects.get(account=account).amount == Decimal("38.00")
    order.refresh_from_db()
    assert order.status == RemoteOrderStatus.CANCELLED


# --- a failing check after the commit never fails the payment ----------------------------------


def test_a_failing_prepaid_check_is_logged_and_the_payment_stands(
    django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """No billing policy in force: the check after the commit raises. The payment is
    committed by then, so the clerk must see it posted (not an error inviting a second
    posting); the failure is logged with the account and the receipt."""
    BillingPolicy.objects.all().delete()
    account = AccountFactory(is_prepaid=True, tariff_code="HEBS-RES-LV")

    with (
        caplog.at_level(logging.ERROR, logger="gridcare.billing.payments"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        payment = payment_post(
            actor="t",
            account_id=account.pk,
            amount="50.00",
            channel="counter_cash",
            idempotency_key="pp2",
        )

    assert len(callbacks) == 1
    assert Payment.objects.filter(account=account).count() == 1
    assert AccountBalance.objects.get(account=account).amount == Decimal("50.00")
    [record] = [r for r in caplog.records if r.name == "gridcare.billing.payments"]
    assert str(account.pk) in record.getMessage()
    assert payment.number in record.getMessage()
    assert record.exc_info is not None


def test_a_failing_prepaid_check_after_a_reversal_is_logged_and_the_reversal_stands(
    django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_policy()
    account = AccountFactory(is_prepaid=True, tariff_code="HEBS-RES-LV")
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_post(
            actor="t", account_id=account.pk, amount="50.00", channel="counter_cash", idempotency_key="pp3"
        )

    def head_end_error(**kwargs: Any) -> None:
        raise RuntimeError("head-end unreachable")

    monkeypatch.setattr(prepaid_service, "prepaid_after_payment", head_end_error)
    with (
        caplog.at_level(logging.ERROR, logger="gridcare.billing.payments"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        payment_reverse(actor="t", payment_id=payment.pk, reason="重复缴费")

    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REVERSED
    assert AccountBalance.objects.get(account=account).amount == Decimal("0.00")
    [record] = [r for r in caplog.records if r.name == "gridcare.billing.payments"]
    assert f"reversal of payment {payment.number}" in record.getMessage()
