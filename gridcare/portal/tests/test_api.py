"""Portal API: only the caller's own profile and accounts; 403 for staff, 404 for others' data."""

from __future__ import annotations

import pytest
from django.test import Client

from gridcare.core.errors import NotFound

pytestmark = pytest.mark.django_db


def _client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


@pytest.mark.parametrize(
    "path", ["/api/portal/me", "/api/portal/accounts", "/api/portal/accounts/0500000001"]
)
def test_anonymous_gets_401(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "path", ["/api/portal/me", "/api/portal/accounts", "/api/portal/accounts/0500000001"]
)
def test_staff_gets_403(staff_user, customer_a, path: str) -> None:
    response = _client_for(staff_user).get(path)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_me_returns_masked_profile(customer_a) -> None:
    a, _ = customer_a
    response = _client_for(a.user).get("/api/portal/me")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "张三"
    assert body["identity_masked"] == a.id_number[:3] + "*" * 11 + a.id_number[-4:]
    assert a.id_number not in response.content.decode()
    assert body["mobile"] == a.mobile
    assert body["version"] == 1


def test_accounts_lists_only_own(customer_a, customer_b) -> None:
    a, a_accounts = customer_a
    response = _client_for(a.user).get("/api/portal/accounts")
    assert response.status_code == 200
    assert [row["number"] for row in response.json()] == sorted(x.number for x in a_accounts)
    row = response.json()[0]
    assert row["status"] == "active"
    assert row["customer_class"] == "urban_res"
    assert row["is_prepaid"] is False


def test_own_account_detail(customer_a) -> None:
    a, accounts = customer_a
    response = _client_for(a.user).get(f"/api/portal/accounts/{accounts[0].number}")
    assert response.status_code == 200
    body = response.json()
    assert body["number"] == accounts[0].number
    assert body["transformer"] == "东街1号台区"
    assert body["substation"] == "城关变"
    assert body["contracts"] == []


def test_another_customers_account_is_404(customer_a, customer_b) -> None:
    a, _ = customer_a
    _, b_accounts = customer_b
    response = _client_for(a.user).get(f"/api/portal/accounts/{b_accounts[0].number}")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": str(NotFound.default_message), "field": None}
