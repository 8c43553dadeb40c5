"""End-to-end: a 客服经理 finds an important prepaid customer in arrears, sees the daily
charges chart, and approves the disconnect that was waiting for a person; the customer sees
the balance and the reminders in the portal (and not another customer's account).

``GRIDCARE_DOCS_SHOTS=1`` also saves the pages as the screenshots of docs/billing-prepaid.md.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from gridcare.billing import seed_data
from gridcare.billing.choices import PrepaidNoticeLevel, RemoteOrderKind, RemoteOrderStatus
from gridcare.billing.models import AccountBalance, PrepaidCharge, PrepaidNotice, RemoteOrder
from gridcare.core.tests.factories import UserFactory
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory
from tests.browser.helpers import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Prepaid-pass-2026"
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "img"


def _shot(page: Any, name: str) -> None:
    if os.environ.get("GRIDCARE_DOCS_SHOTS"):
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def _given(customer: Any) -> tuple[Any, RemoteOrder]:
    """An important (一级) prepaid account 30 days into daily charges, now in arrears, with
    its disconnect waiting for a person; and two ordinary prepaid accounts."""
    account: Any = AccountFactory(
        customer=customer, is_prepaid=True, tariff_code="HEBS-RES-LV", importance="first"
    )
    today = timezone.localdate()
    balance = Decimal("60.00")
    for n in range(30, 0, -1):
        amount = Decimal("3.12") + Decimal(n % 5) * Decimal("0.52")
        balance -= amount
        PrepaidCharge.objects.create(
            account=account,
            day=today - dt.timedelta(days=n),
            kwh=(amount / Decimal("0.52")).quantize(Decimal("0.001")),
            amount=amount,
            balance_after=balance,
            created_at=timezone.now(),
        )
    AccountBalance.objects.create(account=account, amount=balance)
    for level in (PrepaidNoticeLevel.LOW, PrepaidNoticeLevel.ZERO, PrepaidNoticeLevel.DISCONNECT_NOTICE):
        PrepaidNotice.objects.create(
            account=account,
            level=level,
            balance=balance,
            channels="sms,portal",
            message=f"户号 {account.number}: {level}",
            sent_at=timezone.now() - dt.timedelta(days=4),
        )
    order = RemoteOrder.objects.create(
        account=account,
        kind=RemoteOrderKind.DISCONNECT,
        status=RemoteOrderStatus.NEEDS_PERSON,
        reason="Balance still below zero 3 days after the disconnection notice. Important customer.",
        balance=balance,
        created_at=timezone.now(),
    )
    for held in ("8.50", "126.40"):
        other: Any = AccountFactory(is_prepaid=True, tariff_code="HEBS-RES-LV")
        AccountBalance.objects.create(account=other, amount=Decimal(held))
    return account, order


def test_manager_approves_important_disconnect_and_customer_sees_balance(page: Any, roles: None) -> None:
    seed_data.load(apps)
    UserFactory(username="manager", roles=["service_manager"], password=PASSWORD)
    customer = CustomerFactory(user=UserFactory(username="cust1", roles=["customer"], password=PASSWORD))
    account, order = _given(customer)
    stranger = AccountFactory(is_prepaid=True, customer=CustomerFactory(with_login=True))

    login(page, "manager", PASSWORD, last_submit=True)
    page.goto(page.base_url + "/billing/prepaid/")
    row = page.locator("tr", has=page.locator(f"a:text-is('{account.number}')"))
    assert row.locator(".badge--danger").count() >= 1  # arrears (and important)
    _shot(page, "billing-prepaid-accounts")
    row.locator(f"a:text-is('{account.number}')").click()
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("#consumption-chart canvas")  # ECharts drew the daily charges

    page.goto(page.base_url + "/billing/prepaid/orders/")
    first = page.locator("tbody tr").first
    assert account.number in first.inner_text()  # for-a-person orders come first
    first.locator("input[name=note]").fill("已与医院确认备用电源, 同意停电")
    _shot(page, "billing-prepaid-orders")
    first.locator("button.btn--primary").click()
    page.wait_for_load_state("networkidle")
    order.refresh_from_db()
    assert order.status == RemoteOrderStatus.PENDING
    assert order.decided_by

    page.context.clear_cookies()
    login(page, "cust1", PASSWORD, path="/portal/login/", last_submit=True)
    page.goto(page.base_url + f"/portal/accounts/{account.number}/")
    page.locator(f"a[href='/billing/prepaid/my/{account.number}/']").click()
    page.wait_for_load_state("networkidle")
    page.wait_for_selector("#consumption-chart canvas")
    assert str(account.number) in page.content()
    assert page.locator("table").nth(1).locator("tbody tr").count() == 3  # the three reminders
    response = page.goto(page.base_url + f"/billing/prepaid/my/{stranger.number}/")
    assert response is not None
    assert response.status == 404
