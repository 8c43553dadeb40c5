"""HTTP API of the customer archive: permission matrix, masking, 360 data, create errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from gridcare.core.errors import PermissionDenied
from gridcare.customers import services
from gridcare.customers.models import Customer
from gridcare.customers.tests.test_services import (
    make_account,
    make_organisation,
    make_person,
    make_transformer,
    make_user,
    valid_credit_code,
    valid_id_number,
    wrong_check_char,
)

pytestmark = pytest.mark.django_db

BASE = "/api/customers"


@pytest.fixture
def data() -> dict[str, Any]:
    transformer = make_transformer()
    zhang = make_person(name="张三", mobile="13800138000", id_number=valid_id_number(501, born="19800101"))
    account = make_account(zhang, transformer=transformer, address="城关镇人民路1号", importance="second")
    services.contract_create(
        actor="test", account=account, kind="residential", capacity_kva=8, start_date=account.opened_on
    )
    portal_user = services.customer_portal_login_create(
        actor="test", customer=zhang, username="zhangsan", password="Sgcc-portal-2024"
    )
    return {"transformer": transformer, "zhang": zhang, "account": account, "portal_user": portal_user}


def client_for(role: str | None) -> Client:
    client = Client()
    if role is not None:
        client.force_login(make_user(role))
    return client


def post_json(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def person_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "person",
        "name": "王五",
        "mobile": "13711112222",
        "id_number": valid_id_number(601),
    }
    body.update(changes)
    return body


def read_urls(data: dict[str, Any]) -> list[str]:
    return [
        f"{BASE}/",
        f"{BASE}/{data['zhang'].pk}",
        f"{BASE}/{data['zhang'].pk}/accounts",
        f"{BASE}/accounts/{data['account'].number}",
    ]


# --- permission matrix (house style 17) -----------------------------------------------------


def test_anonymous_gets_401_everywhere(data: dict[str, Any]) -> None:
    client = Client()
    for url in read_urls(data):
        response = client.get(url)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
    assert post_json(client, f"{BASE}/", person_body()).status_code == 401
    assert Customer.objects.count() == 1


def test_portal_customer_gets_403_even_for_their_own_record(data: dict[str, Any]) -> None:
    client = Client()
    client.force_login(data["portal_user"])
    for url in read_urls(data):
        response = client.get(url)
        assert response.status_code == 403
        assert response.json() == {
            "code": "permission_denied",
            "message": str(PermissionDenied.default_message),  # in the active language
            "field": None,
        }
    assert post_json(client, f"{BASE}/", person_body()).status_code == 403
    assert Customer.objects.count() == 1


def test_portal_customer_gets_403_for_another_customer(data: dict[str, Any]) -> None:
    other = make_person(name="李四", mobile="13912345678")
    other_account = make_account(other, transformer=data["transformer"])
    client = Client()
    client.force_login(data["portal_user"])
    assert client.get(f"{BASE}/{other.pk}").status_code == 403
    assert client.get(f"{BASE}/accounts/{other_account.number}").status_code == 403


def test_staff_without_archive_permission_gets_403(data: dict[str, Any]) -> None:
    Group.objects.get(name="repair_crew").permissions.clear()
    client = client_for("repair_crew")
    for url in read_urls(data):
        assert client.get(url).status_code == 403


def test_staff_without_the_customer_permission_gets_403_on_the_account_pages(data: dict[str, Any]) -> None:
    # given: a role that may read accounts but not customers
    Group.objects.get(name="repair_crew").permissions.remove(
        Permission.objects.get(content_type__app_label="customers", codename="view_customer")
    )
    client = client_for("repair_crew")

    response = client.get(f"{BASE}/{data['zhang'].pk}/accounts")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert client.get(f"{BASE}/accounts/{data['account'].number}").status_code == 200


def test_hotline_agent_reads_but_cannot_create(data: dict[str, Any]) -> None:
    client = client_for("hotline_agent")
    for url in read_urls(data):
        assert client.get(url).status_code == 200
    assert post_json(client, f"{BASE}/", person_body()).status_code == 403
    assert Customer.objects.count() == 1


@pytest.mark.parametrize("role", ["counter_clerk", "auditor", "inspector"])
def test_archive_staff_read(data: dict[str, Any], role: str) -> None:
    client = client_for(role)
    for url in read_urls(data):
        assert client.get(url).status_code == 200


def test_unknown_ids_give_404(data: dict[str, Any]) -> None:
    client = client_for("hotline_agent")
    assert client.get(f"{BASE}/99999").json()["code"] == "not_found"
    assert client.get(f"{BASE}/99999").status_code == 404
    assert client.get(f"{BASE}/accounts/0599999999").status_code == 404
    assert client.get(f"{BASE}/99999/accounts").status_code == 404


# --- list -------------------------------------------------------------------------------------


def test_list_masks_mobile_and_identity_and_searches(data: dict[str, Any]) -> None:
    make_person(name="李四", mobile="13912345678")
    client = client_for("hotline_agent")

    everyone = client.get(f"{BASE}/").json()
    assert everyone["count"] == 2
    assert [c["name"] for c in everyone["items"]] == ["李四", "张三"]

    found = client.get(f"{BASE}/", {"q": data["account"].number, "field": "number"}).json()
    zhang = data["zhang"]
    assert found == {
        "items": [
            {
                "id": zhang.pk,
                "kind": "person",
                "name": "张三",
                "mobile_masked": "138****8000",
                "identity_masked": zhang.id_number[:3] + "*" * 11 + zhang.id_number[-4:],
                "account_numbers": [data["account"].number],
                "address": "城关镇人民路1号",
            }
        ],
        "count": 1,
        "page": 1,
        "pages": 1,
    }
    assert "13800138000" not in json.dumps(found)


def test_list_pages_and_rejects_unknown_search_field(data: dict[str, Any]) -> None:
    for n in range(55):
        make_person(name=f"南门客户{n}", mobile=f"137{n:08d}")
    client = client_for("hotline_agent")
    second = client.get(f"{BASE}/", {"q": "南门", "field": "name", "page": 2}).json()
    assert (second["count"], second["page"], second["pages"], len(second["items"])) == (55, 2, 2, 5)
    response = client.get(f"{BASE}/", {"field": "password"})
    assert response.status_code == 422
    assert response.json()["field"] == "field"


def test_list_query_count_is_fixed(data: dict[str, Any], django_assert_max_num_queries: Any) -> None:
    for n in range(20):
        customer = make_person(name=f"客户{n}", mobile=f"139{n:08d}")
        make_account(customer, transformer=data["transformer"], address=f"南街{n}号")
    client = client_for("hotline_agent")
    with django_assert_max_num_queries(8):
        assert client.get(f"{BASE}/").status_code == 200


# --- 360 and account ----------------------------------------------------------------------------


def test_detail_returns_360_data(data: dict[str, Any]) -> None:
    zhang, account, transformer = data["zhang"], data["account"], data["transformer"]
    body = client_for("hotline_agent").get(f"{BASE}/{zhang.pk}").json()
    assert body["name"] == "张三"
    assert body["id_number"] == zhang.id_number[:3] + "*" * 11 + zhang.id_number[-4:]
    assert body["mobile"] == "13800138000"
    [acc] = body["accounts"]
    assert acc["number"] == account.number
    assert acc["importance"] == "second"
    assert acc["topology"] == {
        "substation_code": transformer.feeder.substation.code,
        "substation_name": transformer.feeder.substation.name,
        "feeder_code": transformer.feeder.code,
        "feeder_name": transformer.feeder.name,
        "transformer_code": transformer.code,
        "transformer_name": transformer.name,
        "area_type": "urban",
        "is_dedicated": False,
    }
    [contract] = acc["contracts"]
    assert contract["kind"] == "residential"
    assert contract["status"] == "active"
    assert "user" not in body
    assert "password" not in json.dumps(body)


def test_detail_shows_full_id_to_those_who_may_change_customers(data: dict[str, Any]) -> None:
    body = client_for("counter_clerk").get(f"{BASE}/{data['zhang'].pk}").json()
    assert body["id_number"] == data["zhang"].id_number


@pytest.fixture
def organisation(data: dict[str, Any]) -> tuple[Customer, list[str], list[str]]:
    """An organisation with 30 accounts numbered between two other customers' accounts: (the
    organisation, its 户号, the others' 户号)."""
    transformer = data["transformer"]
    before = make_account(make_person(name="李四", mobile="13912345678"), transformer=transformer)
    org = make_organisation(name="城关机械厂")
    accounts = [make_account(org, transformer=transformer, address=f"工业路{n}号") for n in range(30)]
    after = make_account(make_person(name="王五", mobile="13712345678"), transformer=transformer)
    others = [data["account"].number, before.number, after.number]
    return org, [a.number for a in accounts], others


def test_detail_gives_the_first_page_of_accounts_and_their_number(organisation: Any) -> None:
    org, numbers, _ = organisation

    body = client_for("hotline_agent").get(f"{BASE}/{org.pk}", {"page": 2}).json()

    assert [a["number"] for a in body["accounts"]] == numbers[:25]  # ``page`` is not a parameter here
    assert body["accounts_total"] == 30


def test_account_list_pages_the_customers_accounts(organisation: Any) -> None:
    org, numbers, _ = organisation
    client = client_for("hotline_agent")
    url = f"{BASE}/{org.pk}/accounts"

    first = client.get(url).json()
    second = client.get(url, {"page": 2}).json()
    third_of_ten = client.get(url, {"page": 3, "per_page": 10}).json()

    assert [a["number"] for a in first["items"]] == numbers[:25]
    assert {k: v for k, v in first.items() if k != "items"} == {
        "page": 1,
        "pages": 2,
        "total": 30,
        "per_page": 25,
    }
    assert [a["number"] for a in second["items"]] == numbers[25:]
    assert second["page"] == 2
    assert [a["number"] for a in third_of_ten["items"]] == numbers[20:]
    assert (third_of_ten["page"], third_of_ten["pages"], third_of_ten["per_page"]) == (3, 3, 10)
    row = second["items"][0]
    assert row["address"] == "工业路25号"
    assert row["topology"]["transformer_code"] == org.accounts.first().service_point.transformer.code
    assert row["contracts"] == []


@pytest.mark.parametrize(
    ("params", "page", "per_page", "shown"),
    [
        ({"page": "99"}, 2, 25, slice(25, 30)),  # past the end: the last page
        ({"page": "0"}, 2, 25, slice(25, 30)),
        ({"page": "-1"}, 2, 25, slice(25, 30)),
        ({"per_page": "-5"}, 1, 1, slice(0, 1)),  # clamped to 1 …
        ({"per_page": "0"}, 1, 1, slice(0, 1)),
        ({"per_page": "100000"}, 1, 200, slice(0, 30)),  # … and to 200
        ({"customer": "1", "customer_id": "1"}, 1, 25, slice(0, 25)),
    ],
)
def test_account_list_clamps_the_page_and_shows_only_that_customer(
    organisation: Any, params: dict[str, str], page: int, per_page: int, shown: slice
) -> None:
    org, numbers, others = organisation

    response = client_for("hotline_agent").get(f"{BASE}/{org.pk}/accounts", params)

    assert response.status_code == 200
    body = response.json()
    assert [a["number"] for a in body["items"]] == numbers[shown]
    assert (body["page"], body["per_page"], body["total"]) == (page, per_page, 30)
    assert not set(others) & {a["number"] for a in body["items"]}


@pytest.mark.parametrize("param", ["page", "per_page"])
def test_account_list_rejects_a_page_that_is_not_a_number(organisation: Any, param: str) -> None:
    org, _, _ = organisation

    response = client_for("hotline_agent").get(f"{BASE}/{org.pk}/accounts", {param: "x"})

    assert response.status_code == 422
    assert (response.json()["code"], response.json()["field"]) == ("validation_failed", param)


def test_detail_and_account_list_query_counts_do_not_grow_with_accounts(
    organisation: Any, django_assert_max_num_queries: Any
) -> None:
    org, _, _ = organisation
    client = client_for("hotline_agent")
    # session, user, permissions ×2, customer, account count, the page's accounts with their
    # topology, their contracts
    with django_assert_max_num_queries(8):
        assert client.get(f"{BASE}/{org.pk}").status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(f"{BASE}/{org.pk}/accounts", {"per_page": 200}).status_code == 200


def test_account_by_number(data: dict[str, Any]) -> None:
    account = data["account"]
    body = client_for("inspector").get(f"{BASE}/accounts/{account.number}").json()
    assert body["number"] == account.number
    assert body["customer"] == {"id": data["zhang"].pk, "name": "张三", "kind": "person"}
    assert body["topology"]["transformer_code"] == data["transformer"].code
    assert len(body["contracts"]) == 1


# --- create -------------------------------------------------------------------------------------


def test_create_person_returns_201(data: dict[str, Any]) -> None:
    response = post_json(client_for("counter_clerk"), f"{BASE}/", person_body())
    assert response.status_code == 201
    body = response.json()
    customer = Customer.objects.get(pk=body["id"])
    assert customer.name == "王五"
    assert body["accounts"] == []
    assert body["accounts_total"] == 0
    assert body["version"] == 1


def test_create_organisation(data: dict[str, Any]) -> None:
    code = valid_credit_code(88)
    response = post_json(
        client_for("counter_clerk"),
        f"{BASE}/",
        {
            "kind": "organisation",
            "name": "东关砖厂",
            "mobile": "13611112222",
            "credit_code": code,
            "contact_person": "赵六",
        },
    )
    assert response.status_code == 201
    assert response.json()["credit_code"] == code


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id_number": None}, "id_number"),
        ({"mobile": "1371111"}, "mobile"),
        ({"email": "bad"}, "email"),
        ({"name": " "}, "name"),
    ],
)
def test_create_errors_are_422_with_the_field(
    data: dict[str, Any], changes: dict[str, Any], field: str
) -> None:
    response = post_json(client_for("counter_clerk"), f"{BASE}/", person_body(**changes))
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    assert response.json()["field"] == field
    assert Customer.objects.count() == 1


def test_create_checksum_and_duplicate_errors(data: dict[str, Any]) -> None:
    client = client_for("counter_clerk")
    response = client.post(
        f"{BASE}/",
        data=json.dumps(person_body(id_number=wrong_check_char(valid_id_number(602)))),
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 422
    assert response.json() == {
        "code": "validation_failed",
        "message": "The ID card number's check digit is wrong.",
        "field": "id_number",
    }
    response = post_json(client, f"{BASE}/", person_body(id_number=data["zhang"].id_number))
    assert response.status_code == 422
    assert response.json()["field"] == "id_number"
    assert Customer.objects.count() == 1


def test_create_schema_errors_are_422(data: dict[str, Any]) -> None:
    response = post_json(client_for("counter_clerk"), f"{BASE}/", {"kind": "robot"})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"


# --- OpenAPI ------------------------------------------------------------------------------------


def test_openapi_documents_the_paged_accounts_with_the_archive_schema(data: dict[str, Any]) -> None:
    schema = client_for("hotline_agent").get("/api/openapi.json").json()
    components = schema["components"]["schemas"]

    listing = schema["paths"]["/api/customers/{customer_id}/accounts"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"customer_id", "page", "per_page"}
    page_ref = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = components[page_ref.rsplit("/", 1)[-1]]
    assert set(page["required"]) == {"items", "page", "pages", "total", "per_page"}
    # the items are the archive's accounts (topology, contracts), not the portal's
    account = components[page["properties"]["items"]["items"]["$ref"].rsplit("/", 1)[-1]]
    assert {"topology", "contracts", "tariff_code"} <= set(account["properties"])
    assert "accounts_total" in components["CustomerOut"]["required"]
