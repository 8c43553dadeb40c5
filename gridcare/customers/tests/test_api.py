"""HTTP API of the customer archive: permission matrix, masking, 360 data, create errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from gridcare.core.errors import PermissionDenied
from gridcare.customers import services
from gridcare.customers.models import Customer
from gridcare.customers.tests.test_services import (
    make_account,
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
    return [f"{BASE}/", f"{BASE}/{data['zhang'].pk}", f"{BASE}/accounts/{data['account'].number}"]


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
