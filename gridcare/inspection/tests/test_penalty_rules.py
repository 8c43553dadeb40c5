"""Penalty rules as effective-dated configuration: the row in force on a day, adding a new
value (permission, duplicates, audit) and the configuration page."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from gridcare.core.errors import Conflict, PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.inspection.models import PenaltyRule
from gridcare.inspection.services.penalty_rules import penalty_rule_add, penalty_rules_at

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(settings):
    """The page is checked in English (the msgids); the translator does zh-Hans."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


def test_the_seeded_1996_and_2024_rows_switch_on_2024_06_01():
    old = penalty_rules_at(dt.date(2024, 5, 31))
    new = penalty_rules_at(dt.date(2024, 6, 1))
    assert len(old) == len(new) == 13
    assert (old["theft_multiple"].value, old["theft_multiple"].is_cap) == (Decimal("3.00"), False)
    assert old["theft_multiple"].effective_from == dt.date(1996, 10, 8)
    assert (new["theft_multiple"].value, new["theft_multiple"].is_cap) == (Decimal("3.00"), True)
    assert new["theft_multiple"].effective_from == dt.date(2024, 6, 1)
    assert new["theft_unknown_days"].is_cap is False
    assert new["tampering_other"].value == Decimal("5000.00")


def test_a_day_before_any_row_is_a_clear_error():
    with pytest.raises(ValidationFailed) as exc:
        penalty_rules_at(dt.date(1990, 1, 1))
    assert "No penalty rule" in str(exc.value.message)
    assert "1990-01-01" in str(exc.value.message)


def test_add_a_new_value_takes_effect_from_its_day(make_user):
    manager = make_user(roles=["marketing_manager"])
    rule = penalty_rule_add(
        actor=manager,
        key="theft_multiple",
        value="2.5",
        is_cap=True,
        effective_from=dt.date(2026, 1, 1),
        source="本公司供用电合同范本 2026 版 第十二条",
    )
    assert penalty_rules_at(dt.date(2025, 12, 31))["theft_multiple"].value == Decimal("3.00")
    assert penalty_rules_at(dt.date(2026, 1, 1))["theft_multiple"].value == Decimal("2.50")
    event = AuditEvent.objects.get(object_type="inspection.penaltyrule", object_id=str(rule.pk))
    assert event.action == "inspection.penalty_rule.add"
    assert event.after["value"] == "2.5"
    with pytest.raises(Conflict):
        penalty_rule_add(
            actor=manager,
            key="theft_multiple",
            value="2",
            is_cap=True,
            effective_from=dt.date(2026, 1, 1),
            source="x",
        )
    assert PenaltyRule.objects.filter(key="theft_multiple").count() == 3


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"key": "nope"}, "key"),
        ({"value": "-1"}, "value"),
        ({"value": "1.234"}, "value"),
        ({"value": "abc"}, "value"),
        ({"value": 1.5}, "value"),
        ({"source": "  "}, "source"),
        ({"effective_from": "2026-01-01"}, "effective_from"),
    ],
)
def test_add_validates(make_user, changes, field):
    manager = make_user(roles=["service_manager"])
    kwargs = {
        "key": "theft_multiple",
        "value": "2",
        "is_cap": True,
        "effective_from": dt.date(2026, 1, 1),
        "source": "s",
        **changes,
    }
    with pytest.raises(ValidationFailed) as exc:
        penalty_rule_add(actor=manager, **kwargs)
    assert exc.value.field == field
    assert PenaltyRule.objects.count() == 26


def test_only_managers_add_rules(make_user):
    for role in ("inspector", "auditor", "billing_clerk"):
        with pytest.raises(PermissionDenied):
            penalty_rule_add(
                actor=make_user(roles=[role]),
                key="theft_multiple",
                value="2",
                is_cap=True,
                effective_from=dt.date(2026, 1, 1),
                source="s",
            )
    assert PenaltyRule.objects.count() == 26


# --- the page ---------------------------------------------------------------------------------------


def test_rules_page_permission_matrix(staff_client, customer_client):
    url = reverse("inspection:penalty_rules")
    response = Client().get(url)
    assert response.status_code == 302
    assert "/login/" in response["Location"]
    assert customer_client.get(url).status_code == 403
    assert staff_client(roles=["counter_clerk"]).get(url).status_code == 403
    page = staff_client(roles=["auditor"]).get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "theft_multiple" in body
    assert "2024-06-01" in body
    assert 'name="effective_from"' not in body  # the auditor reads only
    assert staff_client(roles=["auditor"]).post(url, {"key": "theft_multiple"}).status_code == 403


def test_rules_page_adds_a_value(staff_client):
    client = staff_client(roles=["marketing_manager"])
    url = reverse("inspection:penalty_rules")
    assert 'name="effective_from"' in client.get(url).content.decode()
    response = client.post(
        url,
        {
            "key": "source_per_kw",
            "value": "400",
            "is_cap": "on",
            "effective_from": "2026-07-01",
            "source": "合同约定",
        },
    )
    assert response.status_code == 302
    row = PenaltyRule.objects.get(key="source_per_kw", effective_from=dt.date(2026, 7, 1))
    assert (row.value, row.is_cap, row.source) == (Decimal("400.00"), True, "合同约定")
    again = client.post(
        url, {"key": "source_per_kw", "value": "300", "effective_from": "2026-07-01", "source": "x"}
    )
    assert again.status_code == 200
    assert "already has a value" in again.content.decode()
    assert PenaltyRule.objects.filter(key="source_per_kw").count() == 3
