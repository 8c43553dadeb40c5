"""The metering admin: configuration is add-only, business records are read-only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from gridcare.metering.models import MeterClassPolicy

pytestmark = pytest.mark.django_db

MODELS = [
    "meterclasspolicy",
    "veeparameters",
    "verificationpolicy",
    "meter",
    "installation",
    "readingimport",
    "readingexception",
    "verificationrequest",
    "adjustment",
]


@pytest.fixture
def admin_client_() -> Any:
    user = get_user_model().objects.create_superuser("root", password="Root-pass-2026")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", MODELS)
def test_every_metering_list_opens(admin_client_: Any, model: str) -> None:
    assert admin_client_.get(reverse(f"admin:metering_{model}_changelist")).status_code == 200


@pytest.mark.parametrize("model", ["meterclasspolicy", "veeparameters", "verificationpolicy"])
def test_configuration_can_be_added(admin_client_: Any, model: str) -> None:
    assert admin_client_.get(reverse(f"admin:metering_{model}_add")).status_code == 200


@pytest.mark.parametrize("model", ["meter", "readingexception", "adjustment"])
def test_business_records_cannot_be_added(admin_client_: Any, model: str) -> None:
    assert admin_client_.get(reverse(f"admin:metering_{model}_add")).status_code == 403


def test_a_configuration_row_in_force_cannot_be_edited_or_deleted(admin_client_: Any) -> None:
    policy = MeterClassPolicy.objects.first()
    assert policy is not None
    before = policy.tolerance_pct
    response = admin_client_.post(
        reverse("admin:metering_meterclasspolicy_change", args=[policy.pk]),
        {"tolerance_pct": "9.99"},
    )
    assert response.status_code == 403
    assert (
        admin_client_.post(reverse("admin:metering_meterclasspolicy_delete", args=[policy.pk])).status_code
        == 403
    )
    policy.refresh_from_db()
    assert policy.tolerance_pct == before
