"""Prepaid API: permission matrix and IDOR, the {"code","message","field"} errors."""

from __future__ import annotations

from typing import Any

import pytest

from gridcare.billing.choices import RemoteOrderStatus
from gridcare.billing.tests.test_prepaid_views import needs_person_order, prepaid_account
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory

pytestmark = pytest.mark.django_db

BASE = "/api/billing/prepaid"


def test_anonymous_is_401(client: Any) -> None:
    account = prepaid_account()
    assert client.get(f"{BASE}/accounts/{account.number}").status_code == 401
    assert client.get(f"{BASE}/orders").status_code == 401
    order = needs_person_order(account)
    response = client.post(
        f"{BASE}/orders/{order.pk}/decide", {"approve": True, "note": "x"}, content_type="application/json"
    )
    assert response.status_code == 401


def test_customer_own_account_and_idor(customer_client: Any) -> None:
    mine = prepaid_account(customer=customer_client.customer)
    needs_person_order(mine)
    body = customer_client.get(f"{BASE}/accounts/{mine.number}").json()
    assert body["number"] == mine.number
    assert body["balance"] == "-12.34"
    assert body["state"] == "arrears"
    assert [c["amount"] for c in body["charges"]] == ["3.64"]
    assert len(body["notices"]) == 1
    assert body["orders"] == []  # the customer sees reminders, not the orders
    other = prepaid_account(customer=CustomerFactory(with_login=True))
    response = customer_client.get(f"{BASE}/accounts/{other.number}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert customer_client.get(f"{BASE}/accounts/{customer_client.account.number}").status_code == 404
    assert customer_client.get(f"{BASE}/orders").status_code == 403


@pytest.mark.parametrize("role", ["repair_crew", "metering_tech"])
def test_staff_without_permission_is_403(staff_client: Any, role: str) -> None:
    client = staff_client(roles=[role])
    account = prepaid_account()
    assert client.get(f"{BASE}/accounts/{account.number}").status_code == 403
    assert client.get(f"{BASE}/orders").status_code == 403


def test_viewer_reads_but_cannot_decide(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    account = prepaid_account(importance="first")
    order = needs_person_order(account)
    body = client.get(f"{BASE}/accounts/{account.number}").json()
    assert [o["id"] for o in body["orders"]] == [order.pk]
    assert [o["id"] for o in client.get(f"{BASE}/orders").json()] == [order.pk]
    response = client.post(
        f"{BASE}/orders/{order.pk}/decide", {"approve": True, "note": "ok"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert client.get(f"{BASE}/accounts/{AccountFactory(is_prepaid=False).number}").status_code == 404


def test_manager_decides_and_errors_name_the_field(staff_client: Any) -> None:
    client = staff_client(roles=["service_manager"])
    order = needs_person_order(prepaid_account(importance="first"))
    bad = client.post(
        f"{BASE}/orders/{order.pk}/decide", {"approve": True, "note": " "}, content_type="application/json"
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "note"
    sent = client.post(f"{BASE}/orders/{order.pk}/send")
    assert sent.status_code == 409
    ok = client.post(
        f"{BASE}/orders/{order.pk}/decide",
        {"approve": True, "note": "备用电源已确认"},
        content_type="application/json",
    )
    assert ok.status_code == 200
    assert ok.json()["status"] == RemoteOrderStatus.PENDING
    assert client.post(f"{BASE}/orders/999999/confirm").status_code == 404
