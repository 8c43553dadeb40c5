"""Prepaid console and portal pages: permission matrix (anonymous, customer, staff without
the permission, staff with it) and IDOR (a customer sees only their own prepaid accounts)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from gridcare.billing.choices import PrepaidNoticeLevel, RemoteOrderKind, RemoteOrderStatus
from gridcare.billing.models import AccountBalance, PrepaidCharge, PrepaidNotice, RemoteOrder
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 3, 2)


def prepaid_account(*, customer: Any = None, importance: str = "", amount: str = "-12.34") -> Any:
    kwargs = {"customer": customer} if customer is not None else {}
    account = AccountFactory(is_prepaid=True, tariff_code="HEBS-RES-LV", importance=importance, **kwargs)
    AccountBalance.objects.create(account=account, amount=Decimal(amount))
    PrepaidCharge.objects.create(
        account=account,
        day=DAY,
        kwh=Decimal("7.000"),
        amount=Decimal("3.64"),
        balance_after=Decimal(amount),
        created_at=timezone.now(),
    )
    PrepaidNotice.objects.create(
        account=account,
        level=PrepaidNoticeLevel.ZERO,
        balance=Decimal(amount),
        channels="sms,portal",
        message=f"Account {account.number}: in arrears",
        sent_at=timezone.now(),
    )
    return account


def needs_person_order(account: Any) -> RemoteOrder:
    return RemoteOrder.objects.create(
        account=account,
        kind=RemoteOrderKind.DISCONNECT,
        status=RemoteOrderStatus.NEEDS_PERSON,
        reason="important customer",
        balance=Decimal("-12.34"),
        created_at=timezone.now(),
    )


def console_urls(account: Any) -> list[str]:
    return [
        reverse("billing:prepaid_accounts"),
        reverse("billing:prepaid_account", args=[account.pk]),
        reverse("billing:prepaid_orders"),
    ]


def test_anonymous_is_sent_to_login(client: Any) -> None:
    account = prepaid_account()
    for url in [*console_urls(account), reverse("billing:prepaid_my_account", args=[account.number])]:
        response = client.get(url)
        assert response.status_code == 302
        assert "login" in response["Location"]
    order = needs_person_order(account)
    response = client.post(reverse("billing:prepaid_order_action", args=[order.pk, "approve"]), {"note": "x"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == RemoteOrderStatus.NEEDS_PERSON


def test_customer_gets_403_on_console(customer_client: Any) -> None:
    account = prepaid_account()
    for url in console_urls(account):
        assert customer_client.get(url).status_code == 403


@pytest.mark.parametrize("role", ["repair_crew", "metering_tech", "inspector"])
def test_staff_without_the_permission_gets_403(staff_client: Any, role: str) -> None:
    client = staff_client(roles=[role])
    account = prepaid_account()
    for url in console_urls(account):
        assert client.get(url).status_code == 403


@pytest.mark.parametrize("role", ["hotline_agent", "auditor", "counter_clerk"])
def test_viewers_see_pages_but_cannot_act(staff_client: Any, role: str) -> None:
    client = staff_client(roles=[role])
    account = prepaid_account(importance="first")
    order = needs_person_order(account)
    listing = client.get(reverse("billing:prepaid_accounts"))
    assert listing.status_code == 200
    assert account.number in listing.content.decode()
    detail = client.get(reverse("billing:prepaid_account", args=[account.pk])).content.decode()
    assert "in arrears" in detail
    assert "3.64" in detail
    queue = client.get(reverse("billing:prepaid_orders")).content.decode()
    assert account.number in queue
    assert reverse("billing:prepaid_order_action", args=[order.pk, "approve"]) not in queue
    response = client.post(
        reverse("billing:prepaid_order_action", args=[order.pk, "approve"]), {"note": "ok"}
    )
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == RemoteOrderStatus.NEEDS_PERSON


@pytest.mark.parametrize("role", ["service_manager", "billing_clerk", "marketing_manager"])
def test_a_permitted_person_approves(staff_client: Any, role: str) -> None:
    client = staff_client(roles=[role])
    order = needs_person_order(prepaid_account(importance="first"))
    queue = client.get(reverse("billing:prepaid_orders")).content.decode()
    assert reverse("billing:prepaid_order_action", args=[order.pk, "approve"]) in queue
    response = client.post(
        reverse("billing:prepaid_order_action", args=[order.pk, "approve"]), {"note": "已核实"}
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == RemoteOrderStatus.PENDING
    assert order.decided_by


def test_decide_without_a_note_is_refused_with_a_message(staff_client: Any) -> None:
    client = staff_client(roles=["service_manager"])
    order = needs_person_order(prepaid_account(importance="first"))
    response = client.post(
        reverse("billing:prepaid_order_action", args=[order.pk, "decline"]), {"note": ""}, follow=True
    )
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == RemoteOrderStatus.NEEDS_PERSON
    assert [m.level_tag for m in response.context["messages"]] == ["error"]


def test_unknown_action_and_order_are_404(staff_client: Any) -> None:
    client = staff_client(roles=["service_manager"])
    order = needs_person_order(prepaid_account(importance="first"))
    assert client.post(reverse("billing:prepaid_order_action", args=[order.pk, "explode"])).status_code == 404
    assert (
        client.post(reverse("billing:prepaid_order_action", args=[order.pk + 999, "send"])).status_code == 404
    )
    assert client.get(reverse("billing:prepaid_order_action", args=[order.pk, "send"])).status_code == 405


def test_non_prepaid_account_detail_is_404(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    postpaid = AccountFactory(is_prepaid=False)
    assert client.get(reverse("billing:prepaid_account", args=[postpaid.pk])).status_code == 404


def test_state_filter(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    arrears = prepaid_account(amount="-1.00")
    low = prepaid_account(amount="5.00")
    ok = prepaid_account(amount="80.00")
    for state, account in (("arrears", arrears), ("low", low), ("ok", ok)):
        body = client.get(reverse("billing:prepaid_accounts"), {"state": state}).content.decode()
        others = {arrears, low, ok} - {account}
        assert account.number in body
        assert not any(o.number in body for o in others)


# --- portal ---------------------------------------------------------------------------------------


def test_portal_customer_sees_own_prepaid_account(customer_client: Any) -> None:
    mine = prepaid_account(customer=customer_client.customer)
    response = customer_client.get(reverse("billing:prepaid_my_account", args=[mine.number]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "-¥12.34" in body
    assert "in arrears" in body
    assert "3.64" in body
    listing = customer_client.get(reverse("billing:prepaid_my_accounts")).content.decode()
    assert mine.number in listing


def test_a_charge_covering_several_days_says_so_on_the_page_and_in_the_api(customer_client: Any) -> None:
    mine = prepaid_account(customer=customer_client.customer)
    PrepaidCharge.objects.create(
        account=mine,
        day=DAY + dt.timedelta(days=3),
        days=3,
        kwh=Decimal("21.000"),
        amount=Decimal("10.92"),
        balance_after=Decimal("-23.26"),
        created_at=timezone.now(),
    )
    body = customer_client.get(reverse("billing:prepaid_my_account", args=[mine.number])).content.decode()
    first = (DAY + dt.timedelta(days=1)).isoformat()
    assert f"3 days from {first} (readings missing)" in body
    assert body.count("(readings missing)") == 1  # the one-day charge has no note
    assert f'"{(DAY + dt.timedelta(days=3)).isoformat()} (3 days)"' in body  # its bar in the chart
    charges = customer_client.get(f"/api/billing/prepaid/accounts/{mine.number}").json()["charges"]
    assert [(c["days"], c["first_day"]) for c in charges] == [(3, first), (1, DAY.isoformat())]


def test_portal_idor_other_customers_account_is_404(customer_client: Any) -> None:
    other = prepaid_account(customer=CustomerFactory(with_login=True))
    assert customer_client.get(reverse("billing:prepaid_my_account", args=[other.number])).status_code == 404
    listing = customer_client.get(reverse("billing:prepaid_my_accounts")).content.decode()
    assert other.number not in listing


def test_portal_own_postpaid_account_is_404(customer_client: Any) -> None:
    response = customer_client.get(
        reverse("billing:prepaid_my_account", args=[customer_client.account.number])
    )
    assert response.status_code == 404


def test_portal_refuses_staff(staff_client: Any) -> None:
    client = staff_client(roles=["service_manager"])
    account = prepaid_account()
    assert client.get(reverse("billing:prepaid_my_account", args=[account.number])).status_code == 403
    assert client.get(reverse("billing:prepaid_my_accounts")).status_code == 403


def test_portal_account_page_links_to_the_prepaid_page(customer_client: Any) -> None:
    mine = prepaid_account(customer=customer_client.customer)
    body = customer_client.get(reverse("portal:account", args=[mine.number])).content.decode()
    assert reverse("billing:prepaid_my_account", args=[mine.number]) in body
    postpaid = customer_client.get(
        reverse("portal:account", args=[customer_client.account.number])
    ).content.decode()
    assert "/prepaid/my/" not in postpaid


def test_queue_puts_needs_person_first_and_marks_overdue_reconnects(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    late = RemoteOrder.objects.create(
        account=prepaid_account(amount="10.00"),
        kind=RemoteOrderKind.RECONNECT,
        status=RemoteOrderStatus.PENDING,
        reason="paid",
        balance=Decimal("10.00"),
        created_at=timezone.now() - dt.timedelta(hours=30),
        due_at=timezone.now() - dt.timedelta(hours=6),
    )
    person = needs_person_order(prepaid_account(importance="first"))
    page = client.get(reverse("billing:prepaid_orders"))
    orders = list(page.context["page"].object_list)
    assert [o.pk for o in orders] == [person.pk, late.pk]
    assert [o.overdue for o in orders] == [False, True]
    assert "var(--gc-danger-bg)" in page.content.decode()
