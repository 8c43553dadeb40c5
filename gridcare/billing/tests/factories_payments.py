"""Test data of collection (收费): accounts by customer class, balances, pending waivers.
Payments themselves are posted through the services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import factory
from django.apps import apps
from django.utils import timezone

from gridcare.billing.models import AccountBalance, LateFeeWaiver
from gridcare.billing.tests.factories import BillFactory, issued_bill
from gridcare.customers.choices import CustomerClass, VoltageLevel
from gridcare.customers.tests.factories import AccountFactory

__all__ = [
    "AccountBalanceFactory",
    "LateFeeWaiverFactory",
    "business_account",
    "ensure_policy",
    "overdue_bill",
    "refund_paid",
]

TZ = dt.timezone(dt.timedelta(hours=8))


def ensure_policy() -> None:
    """The seeded billing policy (a transactional test's flush drops it)."""
    from gridcare.billing import seed_data

    seed_data.load(apps)


def business_account(**kwargs: Any) -> Any:
    """A 一般工商业 account (non-residential late-fee rates)."""
    kwargs.setdefault("customer_class", CustomerClass.GENERAL_IC)
    kwargs.setdefault("voltage_level", VoltageLevel.V380)
    return AccountFactory(**kwargs)


def overdue_bill(*, account: Any, period: dt.date, amount: str, due_date: dt.date, **kwargs: Any) -> Any:
    """An issued bill of ``account`` for ``period``, due ``due_date``."""
    return issued_bill(
        account=account,
        period=period,
        period_start=period,
        period_end=period.replace(day=28),
        amount=Decimal(amount),
        due_date=due_date,
        **kwargs,
    )


class AccountBalanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountBalance

    account = factory.SubFactory(AccountFactory)
    amount = Decimal("0.00")


class LateFeeWaiverFactory(factory.django.DjangoModelFactory):
    """A pending waiver request (given state; decisions go through the service)."""

    class Meta:
        model = LateFeeWaiver

    bill = factory.SubFactory(BillFactory)
    amount = Decimal("1.00")
    reason = "首次逾期, 经核实减免"
    requested_by = "requester"
    requested_at = factory.LazyFunction(timezone.now)


def closed_with_credit(credit: str = "120.00", **fields: Any) -> Any:
    """A closed postpaid account whose last payment left ``credit`` on its balance."""
    from gridcare.billing.services.payments import payment_post
    from gridcare.customers.choices import AccountStatus

    account = AccountFactory(status=AccountStatus.CLOSED, closed_on=dt.date(2026, 10, 31), **fields)
    payment_post(
        actor="t",
        account_id=account.pk,
        amount=credit,
        channel="counter_cash",
        idempotency_key=f"in{account.pk}",
    )
    return account


def refund_paid(
    account: Any,
    *,
    clerk: Any = None,
    approver: Any = None,
    key: str | None = None,
    **request: Any,
) -> Any:
    """销户退费 the way it happens: ``clerk`` (a counter clerk by default) requests the refund
    of ``account``'s balance, ``approver`` (a service manager by default) approves it;
    returns the refund row of the payments. ``request`` overrides the request's fields
    (``amount``, ``channel``, ``reference``, ``reason``)."""
    from gridcare.billing.services.payments import balance_refund_decide, balance_refund_request
    from gridcare.core.tests.factories import UserFactory

    request.setdefault("channel", "refund_bank")
    request.setdefault("reference", "BT20261101001")
    request.setdefault("reason", "销户退还预收电费")
    asked = balance_refund_request(
        actor=clerk or UserFactory(roles=["counter_clerk"]),
        account_id=account.pk,
        idempotency_key=key or f"refund:{account.pk}:{timezone.now().timestamp()}",
        **request,
    )
    decided = balance_refund_decide(
        actor=approver or UserFactory(roles=["service_manager"]),
        refund_request_id=asked.pk,
        approve=True,
        note="核对无误, 同意退费",
    )
    return decided.payment
