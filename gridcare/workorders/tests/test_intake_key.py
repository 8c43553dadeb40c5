"""Idempotent intake: a channel's retry with the same Idempotency-Key files one order."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from gridcare.core.errors import ValidationFailed
from gridcare.workorders.models import IntakeKey, WorkOrder
from gridcare.workorders.tests.factories import accept

pytestmark = pytest.mark.django_db

BODY = {
    "kind": "complaint",
    "channel": "app",
    "category": "cmp_service_online",
    "subject": "App 无法登录",
    "contact_phone": "13900003333",
}


def test_same_key_same_user_returns_the_first_order(make_user):
    agent = make_user(roles=["hotline_agent"])
    first = accept(actor=agent, idempotency_key="call-123")
    again = accept(actor=agent, idempotency_key="call-123")
    assert again.pk == first.pk
    assert WorkOrder.objects.count() == 1


def test_key_is_per_user_and_expires_after_a_day(make_user):
    one, two = make_user(roles=["hotline_agent"]), make_user(roles=["hotline_agent"])
    first = accept(actor=one, idempotency_key="k")
    other = accept(actor=two, idempotency_key="k")
    assert other.pk != first.pk
    IntakeKey.objects.filter(user=one).update(created_at=timezone.now() - dt.timedelta(hours=25))
    later = accept(actor=one, idempotency_key="k")
    assert later.pk not in (first.pk, other.pk)
    assert IntakeKey.objects.get(user=one, key="k").order_id == later.pk


def test_key_needs_a_user_and_a_sane_length(make_user):
    with pytest.raises(ValidationFailed):
        accept(actor="some job", idempotency_key="k")
    with pytest.raises(ValidationFailed) as exc:
        accept(actor=make_user(roles=["hotline_agent"]), idempotency_key="x" * 101)
    assert exc.value.field == "idempotency_key"
    assert WorkOrder.objects.count() == 0


def test_api_header_makes_a_retry_safe(staff_client):
    client = staff_client(roles=["hotline_agent"])
    answers = [
        client.post(
            "/api/workorders/orders",
            data=json.dumps(BODY),
            content_type="application/json",
            headers={"Idempotency-Key": "msg-42"},
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["number"] == answers[1].json()["number"]
    assert WorkOrder.objects.count() == 1
    third = client.post("/api/workorders/orders", data=json.dumps(BODY), content_type="application/json")
    assert third.status_code == 201
    assert WorkOrder.objects.count() == 2


def test_a_retry_that_checked_before_the_first_call_committed_returns_the_first_order(make_user, monkeypatch):
    """The retry looked the key up before the first call committed (it saw nothing); by the time
    it stores the key the first call's key is there and live: it must not be replaced."""
    from gridcare.workorders.services import orders as orders_mod

    agent = make_user(roles=["hotline_agent"])
    first = accept(actor=agent, idempotency_key="call-7")
    real_lookup = orders_mod._order_for_key
    lookups: list[str] = []

    def lookup(user, key):
        lookups.append(key)
        return None if len(lookups) == 1 else real_lookup(user, key)  # the first check came too early

    monkeypatch.setattr(orders_mod, "_order_for_key", lookup)
    again = accept(actor=agent, idempotency_key="call-7")
    assert again.pk == first.pk
    assert lookups == ["call-7", "call-7"]
    assert WorkOrder.objects.count() == 1
    assert IntakeKey.objects.get(user=agent, key="call-7").order_id == first.pk
