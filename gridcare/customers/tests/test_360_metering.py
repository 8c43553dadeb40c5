"""The customer 360 view's meters panel: installations and the billing hold, by role."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gridcare.metering.models import ReadingException
from gridcare.metering.tests.readings_fixtures import installed_meter

pytestmark = pytest.mark.django_db


@pytest.fixture
def metered() -> Any:
    meter = installed_meter("3110000000042", installed_on=dt.date(2026, 3, 1))
    return meter, meter.installations.get().account


def test_360_lists_the_installed_meter_and_the_billing_hold(staff_client: Any, metered: Any) -> None:
    # given an installed meter with one open reading exception on its account
    meter, account = metered
    ReadingException.objects.create(
        meter=meter,
        account=account,
        register="total",
        rule="spike",
        day_from=dt.date(2026, 3, 5),
        day_to=dt.date(2026, 3, 5),
        opened_at=timezone.now(),
    )
    client = staff_client(roles=["hotline_agent"])
    # when the agent opens the customer's 360 view
    response = client.get(reverse("customers:detail", args=[account.customer_id]))
    # then the meters panel links the meter and says the account is held from billing
    assert response.status_code == 200
    body = response.content.decode()
    assert reverse("metering:meter", args=[meter.pk]) in body
    assert meter.asset_no in body
    panel = response.context["metering"][account.pk]
    assert panel.open_exceptions == 1
    assert [i.meter_id for i in panel.installations] == [meter.pk]


def test_360_hides_meters_from_a_role_without_the_permission(make_user: Any, metered: Any) -> None:
    # given a staff user who may read the archive but not meters
    meter, account = metered
    user = make_user(roles=["hotline_agent"])
    user.groups.first().permissions.remove(Permission.objects.get(codename="view_meter"))
    client = Client()
    client.force_login(user)
    # when they open the 360 view
    response = client.get(reverse("customers:detail", args=[account.customer_id]))
    # then the panel shows no meter data
    assert response.status_code == 200
    assert response.context["metering"] is None
    assert meter.asset_no not in response.content.decode()
