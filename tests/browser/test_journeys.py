"""End-to-end journeys of a hotline agent and a customer, in a real browser."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User

from gridcare.core.engine.ids import id_check_char
from gridcare.customers import services
from tests.browser.helpers import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Journey-pass-2026"


def _id(seq: int) -> str:
    first17 = f"13068419850101{seq:03d}"
    return first17 + id_check_char(first17)


def _county() -> dict[str, Any]:
    sub = services.substation_create(actor="test", code="S01", name="城关110kV变电站")
    feeder = services.feeder_create(actor="test", code="F01", name="10kV城北线", substation=sub)
    tr = services.transformer_create(
        actor="test", code="T01", name="东关村1号台区", feeder=feeder, capacity_kva=400, area_type="rural"
    )
    people = {}
    for seq, (name, mobile, address) in enumerate(
        [
            ("王建国", "13812345678", "高碑店市东关村一街8号"),
            ("李秀英", "13987654321", "高碑店市东关村二街3号"),
        ],
        start=1,
    ):
        customer = services.customer_create(
            actor="test", kind="person", name=name, id_number=_id(seq), mobile=mobile
        )
        sp = services.service_point_create(actor="test", address=address, transformer=tr)
        account = services.account_open(
            actor="test",
            customer=customer,
            service_point=sp,
            customer_class="rural_res",
            voltage_level="220v",
            tariff_code="HEBS-RES-LV",
        )
        people[name] = (customer, account)
    return people


def test_hotline_agent_finds_customer_by_mobile_and_opens_360(page: Any, roles: None) -> None:
    # given a county with two customers and a hotline agent
    people = _county()
    agent = User.objects.create_user("agent01", password=PASSWORD, first_name="坐席一")
    agent.groups.add(Group.objects.get(name="hotline_agent"))
    customer, account = people["王建国"]

    # when the agent logs in and searches the caller's mobile number
    login(page, "agent01", PASSWORD)
    page.goto(page.base_url + "/customers/")
    page.fill("input[name=q]", "13812345678")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")

    # then exactly that customer is listed, and the 360 view shows the account and topology
    results = page.locator("table").first
    assert "王建国" in results.inner_text()
    assert "李秀英" not in results.inner_text()
    page.get_by_role("link", name="王建国").first.click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/customers/{customer.pk}/")
    body = page.locator("body").inner_text()
    assert account.number in body
    assert "东关村1号台区" in body
    assert "10kV城北线" in body
    assert "城关110kV变电站" in body


def test_customer_sees_only_own_account(page: Any, roles: None) -> None:
    # given two customers, the first with a portal login
    people = _county()
    mine, my_account = people["王建国"]
    _, other_account = people["李秀英"]
    services.customer_portal_login_create(actor="test", customer=mine, username="wangjg", password=PASSWORD)

    # when the customer logs in to the portal
    login(page, "wangjg", PASSWORD, path="/portal/login/")

    # then the portal lists their account and nothing of the other customer
    page.goto(page.base_url + "/portal/")
    body = page.locator("body").inner_text()
    assert my_account.number in body
    assert other_account.number not in body
    assert "李秀英" not in body

    # and the other customer's account page is not found, and so is the staff console
    response = page.goto(page.base_url + f"/portal/accounts/{other_account.number}/")
    assert response is not None
    assert response.status == 404
    response = page.goto(page.base_url + "/customers/")
    assert response is not None
    assert response.status == 403
