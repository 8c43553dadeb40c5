"""Fixtures of the portal tests: two customers with portal logins and a staff user.

Everything is built through the real services (customers.services), as house style asks.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from gridcare.core.engine.ids import id_check_char
from gridcare.customers import services
from gridcare.customers.models import Account, Customer, Transformer

PASSWORD = "Portal-pass-2024"
_seq = itertools.count(1)


def valid_id_number(n: int) -> str:
    """A valid 18-digit 身份证 number (born 1990-03-07) with sequence ``n``."""
    first17 = f"11010519900307{n % 1000:03d}"
    return first17 + id_check_char(first17)


def make_staff(username: str, *roles: str) -> Any:
    user = get_user_model().objects.create_user(username=username, password=PASSWORD)
    user.groups.add(*Group.objects.filter(name__in=roles))
    return user


@pytest.fixture
def transformer() -> Transformer:
    sub = services.substation_create(actor="test", code="S01", name="城关变")
    feeder = services.feeder_create(actor="test", code="F01", name="城关一线", substation=sub)
    return services.transformer_create(
        actor="test", code="T01", name="东街1号台区", feeder=feeder, capacity_kva=400, area_type="urban"
    )


def make_customer(
    *, name: str, username: str, transformer: Transformer, accounts: int = 1
) -> tuple[Customer, list[Account]]:
    n = next(_seq)
    customer = services.customer_create(
        actor="test",
        kind="person",
        name=name,
        mobile=f"1380000{n:04d}",
        id_number=valid_id_number(n),
        postal_address=f"东街{n}号",
    )
    services.customer_portal_login_create(
        actor="test", customer=customer, username=username, password=PASSWORD
    )
    opened = []
    for i in range(accounts):
        sp = services.service_point_create(actor="test", address=f"东街{n}号{i}单元", transformer=transformer)
        opened.append(
            services.account_open(
                actor="test",
                customer=customer,
                service_point=sp,
                customer_class="urban_res",
                voltage_level="220v",
            )
        )
    customer.refresh_from_db()
    return customer, opened


@pytest.fixture
def customer_a(transformer: Transformer) -> tuple[Customer, list[Account]]:
    return make_customer(name="张三", username="zhangsan", transformer=transformer, accounts=2)


@pytest.fixture
def customer_b(transformer: Transformer) -> tuple[Customer, list[Account]]:
    return make_customer(name="李四", username="lisi", transformer=transformer, accounts=1)


@pytest.fixture
def staff_user() -> Any:
    return make_staff("clerk", "counter_clerk")
