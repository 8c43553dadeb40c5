"""Fixtures shared by every test in GridCare.

- ``make_user(roles=[...])``: a user in the given role groups (created by the migrations).
- ``staff_client(roles=[...])`` / ``customer_client``: logged-in Django test clients.
- hypothesis profile ``gridcare`` (no per-example deadline: CI machines are slow and
  shared; ``HYPOTHESIS_PROFILE=dev`` for more examples locally).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "gridcare",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
settings.register_profile("dev", parent=settings.get_profile("gridcare"), max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "gridcare"))


MakeUser = Callable[..., Any]


@pytest.fixture(scope="session", autouse=True)
def _static_root() -> None:
    """WhiteNoise warns on every request when STATIC_ROOT is missing; the test settings
    point it into a fresh temporary directory, so create it once."""
    from django.conf import settings as django_settings

    Path(django_settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@pytest.fixture
def make_user(db: None) -> MakeUser:
    """Factory fixture: ``make_user(roles=["counter_clerk"], username="zhang", **fields)``.

    The password is ``gridcare-demo`` unless given. Unknown role names raise ValueError,
    so a typo cannot silently produce a user without permissions.
    """
    from gridcare.core.tests.factories import UserFactory

    def _make_user(*, roles: Iterable[str] = (), **fields: Any) -> Any:
        return UserFactory(roles=list(roles), **fields)

    return _make_user


@pytest.fixture
def staff_client(make_user: MakeUser, client: Any) -> Callable[..., Any]:
    """``staff_client(roles=["hotline_agent"])`` → a Django test client logged in as such a user
    (the user is on ``client.user``)."""

    def _login(*, roles: Iterable[str], **fields: Any) -> Any:
        user = make_user(roles=roles, **fields)
        client.force_login(user)
        client.user = user
        return client

    return _login


@pytest.fixture
def customer_client(client: Any, db: None) -> Any:
    """A Django test client logged in as a portal customer who owns one account
    (``client.customer`` and ``client.account``)."""
    from gridcare.customers.tests.factories import AccountFactory, CustomerFactory

    customer = CustomerFactory(with_login=True)
    account = AccountFactory(customer=customer)
    client.force_login(customer.user)
    client.user = customer.user
    client.customer = customer
    client.account = account
    return client
