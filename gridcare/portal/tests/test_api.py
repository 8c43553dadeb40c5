"""Portal API: only the caller's own profile, accounts and bills; 403 for staff, 404 for others' data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from gridcare.core.errors import NotFound

pytestmark = pytest.mark.django_db


def _client_for(user: object) -> Client:
    client = Client()
    client.force_login(user)  # type: ignore[arg-type]
    return client


@pytest.mark.parametrize(
    "path", ["/api/portal/me", "/api/portal/accounts", "/api/portal/accounts/0500000001", "/api/portal/bills"]
)
def test_anonymous_gets_401(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize(
    "path", ["/api/portal/me", "/api/portal/accounts", "/api/portal/accounts/0500000001", "/api/portal/bills"]
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
    body = response.json()
    assert [row["number"] for row in body["items"]] == sorted(x.number for x in a_accounts)
    assert (body["page"], body["pages"], body["total"], body["per_page"]) == (1, 1, 2, 25)
    row = body["items"][0]
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


# --- pagination of my accounts ---------------------------------------------------------------------


@pytest.fixture
def organisation_with_many_accounts(transformer: Any) -> tuple[Any, list[str], list[str]]:
    """A customer with 30 accounts numbered between two other customers' accounts: (the
    customer, its 户号, the others' 户号)."""
    from gridcare.portal.tests.conftest import make_customer

    _, before = make_customer(name="李四", username="lisi", transformer=transformer, accounts=2)
    mine, accounts = make_customer(name="城关机械厂", username="jixie", transformer=transformer, accounts=30)
    _, after = make_customer(name="王五", username="wangwu", transformer=transformer, accounts=2)
    return mine, [a.number for a in accounts], [a.number for a in before + after]


def test_accounts_are_paged(organisation_with_many_accounts: Any) -> None:
    customer, mine, _ = organisation_with_many_accounts
    client = _client_for(customer.user)

    first = client.get("/api/portal/accounts").json()
    second = client.get("/api/portal/accounts", {"page": 2}).json()

    assert [row["number"] for row in first["items"]] == mine[:25]
    assert (first["page"], first["pages"], first["total"], first["per_page"]) == (1, 2, 30, 25)
    assert [row["number"] for row in second["items"]] == mine[25:]
    assert second["page"] == 2


@pytest.mark.parametrize(
    ("params", "page", "per_page", "shown"),
    [
        ({"page": "2"}, 2, 25, slice(25, 30)),
        ({"page": "999"}, 2, 25, slice(25, 30)),  # past the end: the last page
        ({"page": "0"}, 2, 25, slice(25, 30)),
        ({"page": "-1"}, 2, 25, slice(25, 30)),
        ({"per_page": "-5"}, 1, 1, slice(0, 1)),  # clamped to 1 …
        ({"per_page": "1000000"}, 1, 200, slice(0, 30)),  # … and to 200
        ({"page": "3", "per_page": "10"}, 3, 10, slice(20, 30)),
        ({"customer": "1", "customer_id": "1", "user": "1"}, 1, 25, slice(0, 25)),
    ],
)
def test_accounts_never_list_another_customers_account_whatever_the_parameters(
    organisation_with_many_accounts: Any, params: dict[str, str], page: int, per_page: int, shown: slice
) -> None:
    customer, mine, others = organisation_with_many_accounts

    response = _client_for(customer.user).get("/api/portal/accounts", params)

    assert response.status_code == 200
    body = response.json()
    assert [row["number"] for row in body["items"]] == mine[shown]
    assert (body["page"], body["per_page"], body["total"]) == (page, per_page, 30)
    for number in others:
        assert number not in response.content.decode()


@pytest.mark.parametrize("param", ["page", "per_page"])
def test_accounts_reject_a_page_that_is_not_a_number(customer_a: Any, param: str) -> None:
    a, _ = customer_a

    response = _client_for(a.user).get("/api/portal/accounts", {param: "x"})

    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("validation_failed", param)


def test_accounts_query_count_does_not_grow_with_accounts(
    organisation_with_many_accounts: Any, django_assert_num_queries: Any
) -> None:
    customer, _, _ = organisation_with_many_accounts
    client = _client_for(customer.user)
    with django_assert_num_queries(4):  # session, user with its roles, account count, the page's accounts
        assert client.get("/api/portal/accounts", {"per_page": 200}).status_code == 200


def test_openapi_documents_my_accounts_as_a_page(staff_user: Any) -> None:
    schema = _client_for(staff_user).get("/api/openapi.json").json()
    components = schema["components"]["schemas"]

    listing = schema["paths"]["/api/portal/accounts"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"page", "per_page"}
    page_ref = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = components[page_ref.rsplit("/", 1)[-1]]
    assert set(page["required"]) == {"items", "page", "pages", "total", "per_page"}
    account = components[page["properties"]["items"]["items"]["$ref"].rsplit("/", 1)[-1]]
    assert "status_label" in account["properties"]
    assert "topology" not in account["properties"]


# --- pagination of my bills -----------------------------------------------------------------------

MONTHS = 45  # three accounts × 45 months: 135 bills, more than the old cap of 120


def _month(i: int) -> dt.date:
    """The i-th month back from 2026-10 (0 → 2026-10-01)."""
    year, month = divmod(2026 * 12 + 9 - i, 12)
    return dt.date(year, month + 1, 1)


@pytest.fixture
def years_of_bills(transformer: Any) -> tuple[Any, list[int], list[int], list[str]]:
    """A customer with three accounts and 45 months of bills on each, numbered between two
    other customers whose bills fall in the same months: (the customer, their bill ids in the
    list's order — newest month first, then by 户号 —, the others' bill ids, the others' 户号)."""
    from gridcare.billing.tests.factories import issued_bill
    from gridcare.portal.tests.conftest import make_customer

    _, before = make_customer(name="李四", username="lisi", transformer=transformer, accounts=1)
    mine, accounts = make_customer(name="城关机械厂", username="jixie", transformer=transformer, accounts=3)
    _, after = make_customer(name="王五", username="wangwu", transformer=transformer, accounts=1)
    own: list[tuple[dt.date, str, int]] = []
    others: list[int] = []
    for i in range(MONTHS):
        period = _month(i)
        for account in [*before, *accounts, *after]:
            bill = issued_bill(account=account, period=period, period_start=period, period_end=period)
            if account in accounts:
                own.append((period, account.number, bill.pk))
            else:
                others.append(bill.pk)
    ordered = [pk for _, _, pk in sorted(own, key=lambda row: (-row[0].toordinal(), row[1]))]
    return mine, ordered, others, [a.number for a in before + after]


def test_bills_are_paged_and_every_one_is_reached(years_of_bills: Any) -> None:
    customer, mine, others, _ = years_of_bills
    client = _client_for(customer.user)

    first = client.get("/api/portal/bills").json()
    seen: list[int] = []
    for number in (1, 2, 3):
        body = client.get("/api/portal/bills", {"page": number, "per_page": 50}).json()
        assert (body["page"], body["pages"], body["total"], body["per_page"]) == (number, 3, 135, 50)
        seen += [row["id"] for row in body["items"]]

    assert (first["page"], first["pages"], first["total"], first["per_page"]) == (1, 6, 135, 25)
    assert [row["id"] for row in first["items"]] == mine[:25]
    assert seen == mine  # all 135 in order, none twice, none missing
    assert not set(seen) & set(others)


@pytest.mark.parametrize(
    ("params", "page", "per_page", "shown"),
    [
        ({"page": "2"}, 2, 25, slice(25, 50)),
        ({"page": "999"}, 6, 25, slice(125, 135)),  # past the end: the last page
        ({"page": "0"}, 6, 25, slice(125, 135)),
        ({"page": "-1"}, 6, 25, slice(125, 135)),
        ({"per_page": "0"}, 1, 1, slice(0, 1)),  # clamped to 1 …
        ({"per_page": "-5"}, 1, 1, slice(0, 1)),
        ({"per_page": "1000000"}, 1, 200, slice(0, 135)),  # … and to 200
        ({"page": "3", "per_page": "60"}, 3, 60, slice(120, 135)),
        ({"customer": "1", "customer_id": "1", "user": "1", "status": "draft"}, 1, 25, slice(0, 25)),
    ],
)
def test_bills_never_list_another_customers_bill_whatever_the_parameters(
    years_of_bills: Any, params: dict[str, str], page: int, per_page: int, shown: slice
) -> None:
    customer, mine, others, _ = years_of_bills

    response = _client_for(customer.user).get("/api/portal/bills", params)

    assert response.status_code == 200
    body = response.json()
    assert [row["id"] for row in body["items"]] == mine[shown]
    assert (body["page"], body["per_page"], body["total"]) == (page, per_page, 135)
    assert not {row["id"] for row in body["items"]} & set(others)


def test_bills_of_one_account_and_never_of_anothers(years_of_bills: Any) -> None:
    customer, mine, _, other_numbers = years_of_bills
    client = _client_for(customer.user)
    number = customer.accounts.order_by("number")[1].number

    one = client.get("/api/portal/bills", {"account": number, "per_page": 200}).json()
    foreign = client.get("/api/portal/bills", {"account": other_numbers[0]})

    ids = [row["id"] for row in one["items"]]
    assert one["total"] == len(ids) == MONTHS
    assert {row["account"] for row in one["items"]} == {number}
    assert ids == [pk for pk in mine if pk in set(ids)]  # newest month first
    assert foreign.status_code == 200
    assert foreign.json() == {"items": [], "page": 1, "pages": 1, "total": 0, "per_page": 25}


@pytest.mark.parametrize("param", ["page", "per_page"])
def test_bills_reject_a_page_that_is_not_a_number(customer_a: Any, param: str) -> None:
    a, _ = customer_a

    response = _client_for(a.user).get("/api/portal/bills", {param: "x"})

    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("validation_failed", param)


def test_bills_query_count_does_not_grow_with_bills(
    years_of_bills: Any, django_assert_num_queries: Any
) -> None:
    customer, _, _, _ = years_of_bills
    client = _client_for(customer.user)
    with django_assert_num_queries(4):  # session, user with its roles, bill count, the page's bills
        assert client.get("/api/portal/bills", {"per_page": 200}).status_code == 200


def test_openapi_documents_my_bills_as_a_page(staff_user: Any) -> None:
    schema = _client_for(staff_user).get("/api/openapi.json").json()
    components = schema["components"]["schemas"]

    listing = schema["paths"]["/api/portal/bills"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"account", "page", "per_page"}
    page_ref = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = components[page_ref.rsplit("/", 1)[-1]]
    assert set(page["required"]) == {"items", "page", "pages", "total", "per_page"}
    bill = components[page["properties"]["items"]["items"]["$ref"].rsplit("/", 1)[-1]]
    assert "outstanding" in bill["properties"]
