"""Reads of the customer portal: the logged-in customer's own record and accounts only.

Thin wrappers over :mod:`gridcare.customers.selectors`, which does the role scoping.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from gridcare.core.errors import NotFound
from gridcare.customers.models import Account, Customer
from gridcare.customers.selectors import accounts_visible_to, customers_visible_to


def my_customer(*, user: Any) -> Customer:
    """The customer record (客户档案) behind a portal login; NotFound if there is none."""
    customer = customers_visible_to(user).filter(user=user).first()
    if customer is None:
        raise NotFound()
    return customer


def my_accounts(*, user: Any) -> QuerySet[Account]:
    """The portal user's own accounts (户号) with their service addresses, by number."""
    return (
        accounts_visible_to(user)
        .filter(customer__user=user)
        .select_related("service_point")
        .order_by("number")
    )
