"""Console pages of the customer archive: permission matrix, rendering, forms, query counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from gridcare.core.models import AuditEvent
from gridcare.customers import services
from gridcare.customers.models import Account, Customer, ServicePoint
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


@pytest.fixture
def data() -> dict[str, Any]:
    transformer = make_transformer()
    zhang = make_person(name="张三", mobile="13800138000", id_number=valid_id_number(301, born="19800101"))
    account = make_account(zhang, transformer=transformer, address="城关镇人民路1号")
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


def url_for(name: str, data: dict[str, Any]) -> str:
    transformer = data["transformer"]
    args = {
        "customers:search": [],
        "customers:create": [],
        "customers:detail": [data["zhang"].pk],
        "customers:edit": [data["zhang"].pk],
        "customers:account_edit": [data["account"].pk],
        "customers:topology": [],
        "customers:topology_substation": [transformer.feeder.substation_id],
        "customers:topology_feeder": [transformer.feeder_id],
        "customers:topology_transformer": [transformer.pk],
    }[name]
    return reverse(name, args=args)


VIEW_PAGES = [
    "customers:search",
    "customers:detail",
    "customers:topology",
    "customers:topology_substation",
    "customers:topology_feeder",
    "customers:topology_transformer",
]
EDIT_PAGES = ["customers:create", "customers:edit", "customers:account_edit"]
ALL_PAGES = VIEW_PAGES + EDIT_PAGES


# --- permission matrix (house style 17) -----------------------------------------------------


@pytest.mark.parametrize("name", ALL_PAGES)
def test_anonymous_is_sent_to_login(data: dict[str, Any], name: str) -> None:
    url = url_for(name, data)
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("core:login"))
    assert "next=" in response["Location"]


@pytest.mark.parametrize("name", ALL_PAGES)
def test_portal_customer_is_refused_even_for_their_own_record(data: dict[str, Any], name: str) -> None:
    client = Client()
    client.force_login(data["portal_user"])
    assert client.get(url_for(name, data)).status_code == 403


def test_portal_customer_is_refused_another_customers_record(data: dict[str, Any]) -> None:
    other = make_person(name="李四", mobile="13912345678")
    client = Client()
    client.force_login(data["portal_user"])
    assert client.get(reverse("customers:detail", args=[other.pk])).status_code == 403
    assert client.get(reverse("customers:edit", args=[other.pk])).status_code == 403


@pytest.mark.parametrize("name", ALL_PAGES)
def test_staff_without_any_archive_role_is_refused(data: dict[str, Any], name: str) -> None:
    # a console user whose role carries no archive permission at all
    Group.objects.get(name="repair_crew").permissions.clear()
    assert client_for("repair_crew").get(url_for(name, data)).status_code == 403


@pytest.mark.parametrize("name", EDIT_PAGES)
def test_hotline_agent_reads_but_cannot_create_or_edit(data: dict[str, Any], name: str) -> None:
    client = client_for("hotline_agent")
    assert client.get(url_for(name, data)).status_code == 403
    assert client.post(url_for(name, data), {"name": "改名"}).status_code == 403
    assert Customer.objects.get(pk=data["zhang"].pk).name == "张三"


@pytest.mark.parametrize("role", ["hotline_agent", "counter_clerk", "inspector", "auditor"])
@pytest.mark.parametrize("name", VIEW_PAGES)
def test_archive_staff_can_read(data: dict[str, Any], role: str, name: str) -> None:
    assert client_for(role).get(url_for(name, data)).status_code == 200


@pytest.mark.parametrize("name", EDIT_PAGES)
def test_counter_clerk_can_open_the_edit_pages(data: dict[str, Any], name: str) -> None:
    assert client_for("counter_clerk").get(url_for(name, data)).status_code == 200


def test_billing_clerk_may_edit_accounts_but_not_customers(data: dict[str, Any]) -> None:
    client = client_for("billing_clerk")
    assert client.get(url_for("customers:account_edit", data)).status_code == 200
    assert client.get(url_for("customers:edit", data)).status_code == 403
    assert client.get(url_for("customers:create", data)).status_code == 403


def test_missing_objects_give_404(data: dict[str, Any]) -> None:
    client = client_for("counter_clerk")
    assert client.get(reverse("customers:detail", args=[99999])).status_code == 404
    assert client.get(reverse("customers:edit", args=[99999])).status_code == 404
    assert client.get(reverse("customers:account_edit", args=[99999])).status_code == 404
    assert client.get(reverse("customers:topology_feeder", args=[99999])).status_code == 404


# --- search ---------------------------------------------------------------------------------


def test_search_page_lists_newest_and_finds_by_account_number(data: dict[str, Any]) -> None:
    make_organisation(name="城关机械厂", mobile="13600001111")
    client = client_for("hotline_agent")

    response = client.get(reverse("customers:search"))
    content = response.content.decode()
    assert content.index("城关机械厂") < content.index("张三")
    assert "autofocus" in content
    assert "138****8000" in content
    assert "13800138000" not in content

    response = client.get(reverse("customers:search"), {"q": data["account"].number, "field": "number"})
    content = response.content.decode()
    assert "张三" in content
    assert "城关机械厂" not in content
    assert reverse("customers:detail", args=[data["zhang"].pk]) in content
    assert "城关镇人民路1号" in content


def test_search_page_query_count_does_not_grow_with_rows(
    data: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    transformer = data["transformer"]
    for n in range(30):
        customer = make_person(name=f"客户{n}", mobile=f"139{n:08d}")
        make_account(customer, transformer=transformer, address=f"南街{n}号")
    client = client_for("hotline_agent")
    # session, user, roles, user and group permissions, count, page, prefetched accounts
    with django_assert_max_num_queries(8):
        response = client.get(reverse("customers:search"))
    assert response.status_code == 200
    with django_assert_max_num_queries(8):
        response = client.get(reverse("customers:search"), {"q": "南街", "field": "address"})
    assert response.status_code == 200
    assert response.context["page"].paginator.count == 30


def test_search_pagination_keeps_the_query(data: dict[str, Any]) -> None:
    for n in range(30):
        make_person(name=f"南门客户{n}", mobile=f"137{n:08d}")
    response = client_for("counter_clerk").get(reverse("customers:search"), {"q": "南门", "field": "name"})
    content = response.content.decode()
    assert "q=%E5%8D%97%E9%97%A8" in content
    assert "page=2" in content


# --- 360 view -----------------------------------------------------------------------------------


def test_detail_shows_identity_accounts_topology_contracts_and_unbuilt_panels(data: dict[str, Any]) -> None:
    response = client_for("hotline_agent").get(url_for("customers:detail", data))
    content = response.content.decode()
    zhang, account, transformer = data["zhang"], data["account"], data["transformer"]
    assert account.number in content
    assert transformer.name in content
    assert transformer.feeder.name in content
    assert transformer.feeder.substation.name in content
    assert "HT" in content  # the contract number
    assert "empty-panel" in content
    # a hotline agent sees the ID number masked, no edit button and no audit card
    assert zhang.id_number not in content
    assert zhang.id_number[-4:] in content
    assert reverse("customers:edit", args=[zhang.pk]) not in content
    assert response.context["recent_changes"] is None


def test_detail_for_clerk_shows_full_id_and_edit_button(data: dict[str, Any]) -> None:
    response = client_for("counter_clerk").get(url_for("customers:detail", data))
    content = response.content.decode()
    assert data["zhang"].id_number in content
    assert reverse("customers:edit", args=[data["zhang"].pk]) in content
    assert reverse("customers:account_edit", args=[data["account"].pk]) in content


def test_detail_shows_recent_changes_to_auditors_with_masked_id(data: dict[str, Any]) -> None:
    response = client_for("auditor").get(url_for("customers:detail", data))
    changes = response.context["recent_changes"]
    assert [c["action"] for c in changes] == ["customer.portal_login", "customer.create"]
    content = response.content.decode()
    assert "customer.create" in content
    assert data["zhang"].id_number not in content


def test_detail_query_count_is_fixed(data: dict[str, Any], django_assert_max_num_queries: Any) -> None:
    for n in range(30):  # more than one page
        make_account(data["zhang"], transformer=data["transformer"], address=f"北街{n}号")
    client = client_for("counter_clerk")
    # session, user, permissions ×2, customer, account count, the page's accounts with
    # topology, their contracts, all account ids (bills and inspection panels), bills,
    # installations with meters, open reading exceptions, the work-order panel's rows and its
    # open count
    with django_assert_max_num_queries(14):
        assert client.get(url_for("customers:detail", data)).status_code == 200


def test_detail_pages_the_accounts_and_the_bills_panel_covers_all_of_them(data: dict[str, Any]) -> None:
    from gridcare.billing.tests.factories_bills import notice_bill

    # given: an organisation with 30 accounts, billed on its first and its last one
    org = make_organisation(name="城关机械厂")
    accounts = [make_account(org, transformer=data["transformer"], address=f"工业路{n}号") for n in range(30)]
    notice_bill(account=accounts[0], amount="52.00")
    notice_bill(account=accounts[-1], amount="48.00")
    client = client_for("counter_clerk")
    url = reverse("customers:detail", args=[org.pk])

    first = client.get(url)
    second = client.get(url, {"page": 2})

    numbers = [a.number for a in accounts]
    assert [a.number for a in first.context["accounts"]] == numbers[:25]
    assert [a.number for a in second.context["accounts"]] == numbers[25:]
    assert first.context["page"].paginator.count == second.context["page"].paginator.count == 30
    assert "page=2" in first.content.decode()
    assert "工业路29号" not in first.content.decode()
    for response in (first, second):  # the bills panel sums every account, not only the page's
        panel = response.context["bills_panel"]
        assert [b.account.number for b in panel["bills"]] == [numbers[-1], numbers[0]]
        assert panel["chart"]["amount"] == ["100.00"]


@pytest.mark.parametrize("page", ["99", "0", "abc"])
def test_detail_page_numbers_out_of_range_show_a_page(data: dict[str, Any], page: str) -> None:
    for n in range(30):
        make_account(data["zhang"], transformer=data["transformer"], address=f"北街{n}号")

    response = client_for("hotline_agent").get(url_for("customers:detail", data), {"page": page})

    assert response.status_code == 200
    assert len(response.context["accounts"]) in (25, 6)  # the first or the last page


# --- create -----------------------------------------------------------------------------------


def person_form(**changes: Any) -> dict[str, Any]:
    form = {
        "kind": "person",
        "name": "王五",
        "id_number": valid_id_number(401),
        "credit_code": "",
        "mobile": "13711112222",
        "contact_person": "",
        "email": "",
        "postal_address": "",
        "transformer": "",
        "account_address": "",
        "customer_class": "",
        "voltage_level": "",
        "importance": "",
    }
    form.update(changes)
    return form


def test_create_person_only(data: dict[str, Any]) -> None:
    client = client_for("counter_clerk")
    response = client.post(reverse("customers:create"), person_form())
    customer = Customer.objects.get(name="王五")
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:detail", args=[customer.pk])
    assert customer.accounts.count() == 0
    follow = client.get(response["Location"])
    assert "王五" in follow.content.decode()


def test_create_person_with_first_account(data: dict[str, Any]) -> None:
    transformer = data["transformer"]
    response = client_for("counter_clerk").post(
        reverse("customers:create"),
        person_form(
            transformer=transformer.pk,
            account_address="城关镇新村5号",
            customer_class="urban_res",
            voltage_level="220v",
            is_prepaid="on",
        ),
    )
    assert response.status_code == 302
    customer = Customer.objects.get(name="王五")
    [account] = customer.accounts.all()
    assert account.service_point.address == "城关镇新村5号"
    assert account.service_point.transformer == transformer
    assert account.is_prepaid is True


def test_create_organisation(data: dict[str, Any]) -> None:
    code = valid_credit_code(77)
    response = client_for("counter_clerk").post(
        reverse("customers:create"),
        person_form(
            kind="organisation",
            name="东关砖厂",
            id_number="",
            credit_code=code,
            contact_person="赵六",
        ),
    )
    assert response.status_code == 302
    assert Customer.objects.get(credit_code=code).name == "东关砖厂"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id_number": "wrong"}, "id_number"),
        ({"mobile": "12345"}, "mobile"),
        ({"kind": "organisation", "id_number": "", "credit_code": "X"}, "credit_code"),
        ({"kind": "organisation", "id_number": "", "credit_code": valid_credit_code(78)}, "contact_person"),
        ({"email": "nope"}, "email"),
    ],
)
def test_create_shows_field_errors_and_saves_nothing(
    data: dict[str, Any], changes: dict[str, Any], field: str
) -> None:
    before = Customer.objects.count()
    response = client_for("counter_clerk").post(reverse("customers:create"), person_form(**changes))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert "field--error" in response.content.decode()
    assert Customer.objects.count() == before


def test_create_id_checksum_error_is_on_the_id_field(data: dict[str, Any]) -> None:
    response = client_for("counter_clerk").post(
        reverse("customers:create"),
        person_form(id_number=wrong_check_char(valid_id_number(402))),
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.context["form"].errors["id_number"] == ["The ID card number's check digit is wrong."]


def test_create_duplicate_id_is_reported_on_the_field(data: dict[str, Any]) -> None:
    response = client_for("counter_clerk").post(
        reverse("customers:create"), person_form(id_number=data["zhang"].id_number)
    )
    assert response.status_code == 200
    assert "id_number" in response.context["form"].errors
    assert Customer.objects.count() == 1


def test_create_with_bad_account_leaves_no_customer_behind(data: dict[str, Any]) -> None:
    # given a valid customer but an account address the service refuses (only blanks)
    counts = (
        Customer.objects.count(),
        ServicePoint.objects.count(),
        Account.objects.count(),
        AuditEvent.objects.count(),
    )
    response = client_for("counter_clerk").post(
        reverse("customers:create"),
        person_form(
            transformer=data["transformer"].pk,
            account_address="   ",
            customer_class="urban_res",
            voltage_level="220v",
        ),
    )
    assert response.status_code == 200
    assert "account_address" in response.context["form"].errors
    assert (
        Customer.objects.count(),
        ServicePoint.objects.count(),
        Account.objects.count(),
        AuditEvent.objects.count(),
    ) == counts


def test_create_account_service_error_rolls_back_the_customer(
    data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # the form passes but account_open refuses: the customer written first is rolled back
    from gridcare.core.errors import ValidationFailed

    def refuse(**kwargs: Any) -> Account:
        raise ValidationFailed("no capacity left on this transformer", field="customer_class")

    monkeypatch.setattr(services, "account_open", refuse)
    counts = (Customer.objects.count(), ServicePoint.objects.count(), AuditEvent.objects.count())
    response = client_for("counter_clerk").post(
        reverse("customers:create"),
        person_form(
            transformer=data["transformer"].pk,
            account_address="城关镇新村5号",
            customer_class="urban_res",
            voltage_level="220v",
        ),
    )
    assert response.status_code == 200
    assert response.context["form"].errors["customer_class"] == ["no capacity left on this transformer"]
    assert (Customer.objects.count(), ServicePoint.objects.count(), AuditEvent.objects.count()) == counts


# --- edit ---------------------------------------------------------------------------------------


def edit_form(customer: Customer, **changes: Any) -> dict[str, Any]:
    form = {
        "version": customer.version,
        "name": customer.name,
        "id_number": customer.id_number,
        "mobile": customer.mobile,
        "contact_person": customer.contact_person,
        "email": customer.email,
        "postal_address": customer.postal_address,
    }
    form.update(changes)
    return form


def test_edit_saves_and_redirects(data: dict[str, Any]) -> None:
    zhang = data["zhang"]
    response = client_for("counter_clerk").post(
        url_for("customers:edit", data), edit_form(zhang, mobile="13999998888")
    )
    assert response.status_code == 302
    zhang.refresh_from_db()
    assert zhang.mobile == "13999998888"
    assert zhang.version == 2


def test_renaming_says_the_new_name_and_an_over_long_email_is_a_field_error(data: dict[str, Any]) -> None:
    from django.contrib.messages import get_messages

    from gridcare.core.errors import ValidationFailed

    client = client_for("counter_clerk")
    response = client.post(url_for("customers:edit", data), edit_form(data["zhang"], name="张三丰"))
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["客户 张三丰 已保存。"]
    data["zhang"].refresh_from_db()
    long_email = "a" * 240 + "@example-utility.cn"  # valid, 259 characters: above the column's 254
    response = client.post(url_for("customers:edit", data), edit_form(data["zhang"], email=long_email))
    assert response.status_code == 200
    assert "email" in response.context["form"].errors
    with pytest.raises(ValidationFailed) as exc:  # the service refuses it too (the API's path)
        services.customer_update(actor="api", customer_id=data["zhang"].pk, version=2, email=long_email)
    assert exc.value.field == "email"
    data["zhang"].refresh_from_db()
    assert data["zhang"].email != long_email


def test_edit_with_stale_version_shows_conflict_and_saves_nothing(data: dict[str, Any]) -> None:
    zhang = data["zhang"]
    form = edit_form(zhang, name="张叁")
    services.customer_update(actor="other clerk", customer_id=zhang.pk, version=1, mobile="13500135000")
    response = client_for("counter_clerk").post(url_for("customers:edit", data), form)
    assert response.status_code == 200
    assert response.context["conflict"] is True
    zhang.refresh_from_db()
    assert zhang.name == "张三"
    assert zhang.mobile == "13500135000"
    assert zhang.version == 2


def test_edit_bad_mobile_is_a_field_error(data: dict[str, Any]) -> None:
    response = client_for("counter_clerk").post(
        url_for("customers:edit", data), edit_form(data["zhang"], mobile="138")
    )
    assert response.status_code == 200
    assert "mobile" in response.context["form"].errors
    data["zhang"].refresh_from_db()
    assert data["zhang"].version == 1


def test_account_edit_closes_the_account(data: dict[str, Any]) -> None:
    account = data["account"]
    response = client_for("counter_clerk").post(
        url_for("customers:account_edit", data),
        {
            "version": 1,
            "customer_class": "urban_res",
            "voltage_level": "220v",
            "tariff_code": "RES-T1",
            "status": "closed",
            "closed_on": "",
            "importance": "",
        },
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.status == "closed"
    assert account.closed_on is not None
    assert account.tariff_code == "RES-T1"


def test_account_edit_of_a_closed_account_does_not_offer_reopening(data: dict[str, Any]) -> None:
    account = data["account"]
    Account.objects.filter(pk=account.pk).update(opened_on=dt.date(2024, 1, 2))  # given: opened long ago
    services.account_update(
        actor="test",
        account_id=account.pk,
        version=1,
        status="closed",
        closed_on=dt.date(2026, 10, 20),
    )
    client = client_for("counter_clerk")

    shown = client.get(url_for("customers:account_edit", data))

    status = shown.context["form"]["status"]
    assert status.field.disabled
    assert [value for value, _label in status.field.choices] == ["closed"]
    assert "新装" in shown.content.decode()

    # a submitted status is ignored; a wrongly entered closing date can still be corrected
    saved = client.post(
        url_for("customers:account_edit", data),
        {
            "version": 2,
            "customer_class": "urban_res",
            "voltage_level": "220v",
            "tariff_code": "",
            "status": "active",
            "closed_on": "2026-10-10",
            "suspended_on": "",
            "importance": "",
        },
    )

    assert saved.status_code == 302
    account.refresh_from_db()
    assert (account.status, account.closed_on, account.version) == ("closed", dt.date(2026, 10, 10), 3)


def test_account_edit_switches_to_prepaid_from_a_day_after_the_last_bill(data: dict[str, Any]) -> None:
    from gridcare.billing.tests.factories import BillFactory

    account = data["account"]
    Account.objects.filter(pk=account.pk).update(opened_on=dt.date(2024, 1, 2))  # given: opened long ago
    BillFactory(account=account)  # October 2026, to 31 October
    form = {
        "version": 1,
        "customer_class": "urban_res",
        "voltage_level": "220v",
        "tariff_code": "",
        "status": "active",
        "closed_on": "",
        "suspended_on": "",
        "importance": "",
        "is_prepaid": "on",
        "billing_mode_since": "2026-10-15",
    }
    client = client_for("counter_clerk")

    refused = client.post(url_for("customers:account_edit", data), form)

    assert refused.status_code == 200
    assert refused.context["form"].errors["billing_mode_since"] == [
        "该户已出账至 2026-10-31：费控最早从 2026-11-01 开始。"
    ]
    account.refresh_from_db()
    assert (account.is_prepaid, account.version) == (False, 1)

    saved = client.post(url_for("customers:account_edit", data), {**form, "billing_mode_since": "2026-11-01"})

    assert saved.status_code == 302
    account.refresh_from_db()
    assert (account.is_prepaid, account.billing_mode_since) == (True, dt.date(2026, 11, 1))


def test_account_edit_suspends_with_the_last_day_of_supply(data: dict[str, Any]) -> None:
    account = data["account"]
    Account.objects.filter(pk=account.pk).update(opened_on=dt.date(2024, 1, 2))
    response = client_for("counter_clerk").post(
        url_for("customers:account_edit", data),
        {
            "version": 1,
            "customer_class": "urban_res",
            "voltage_level": "220v",
            "tariff_code": "",
            "status": "suspended",
            "closed_on": "",
            "suspended_on": "2026-10-15",
            "importance": "",
            "billing_mode_since": "2026-10-01",  # ignored: the prepaid flag does not change
        },
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.status, account.suspended_on, account.billing_mode_since) == (
        "suspended",
        dt.date(2026, 10, 15),
        None,
    )


def test_account_edit_stale_version_conflict(data: dict[str, Any]) -> None:
    account = data["account"]
    response = client_for("counter_clerk").post(
        url_for("customers:account_edit", data),
        {
            "version": 5,
            "customer_class": "urban_res",
            "voltage_level": "220v",
            "tariff_code": "",
            "status": "suspended",
            "closed_on": "",
            "importance": "",
        },
    )
    assert response.status_code == 200
    assert response.context["conflict"] is True
    account.refresh_from_db()
    assert account.status == "active"


# --- topology -----------------------------------------------------------------------------------


def test_topology_pages_drill_down_to_accounts(data: dict[str, Any]) -> None:
    transformer = data["transformer"]
    client = client_for("inspector")
    top = client.get(reverse("customers:topology")).content.decode()
    assert transformer.feeder.substation.name in top
    assert url_for("customers:topology_substation", data) in top
    sub = client.get(url_for("customers:topology_substation", data)).content.decode()
    assert url_for("customers:topology_feeder", data) in sub
    feeder = client.get(url_for("customers:topology_feeder", data)).content.decode()
    assert url_for("customers:topology_transformer", data) in feeder
    assert "badge" in feeder
    accounts = client.get(url_for("customers:topology_transformer", data)).content.decode()
    assert data["account"].number in accounts
    assert reverse("customers:detail", args=[data["zhang"].pk]) in accounts


def test_staff_without_topology_permission_is_refused(data: dict[str, Any]) -> None:
    user = make_user("hotline_agent")
    group = Group.objects.create(name="archive_only")
    group.permissions.add(Permission.objects.get(codename="view_customer"))
    user.groups.add(group)
    Group.objects.get(name="hotline_agent").permissions.remove(
        Permission.objects.get(codename="view_transformer")
    )
    client = Client()
    client.force_login(user)
    assert client.get(reverse("customers:topology")).status_code == 403
    assert client.get(reverse("customers:search")).status_code == 200
