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
