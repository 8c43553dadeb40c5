"""The real prepaid service is called after a prepaid payment commits (no stand-in)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from gridcare.billing.choices import RemoteOrderKind, RemoteOrderStatus
from gridcare.billing.models import AccountBalance, RemoteOrder
from gridcare.billing.services.payments import payment_post
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
