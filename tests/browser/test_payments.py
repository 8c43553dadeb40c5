"""End-to-end: a counter clerk finds an account, sees the overdue bill with its late fee,
double-clicks "Post the payment" (one payment only), gets the receipt; the aging report
draws its chart."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from gridcare.billing import seed_data
from gridcare.billing.models import Payment
from gridcare.billing.selectors.bills import bill_outstanding
from gridcare.billing.tests.factories import issued_bill
from gridcare.core.tests.factories import UserFactory
from gridcare.customers.tests.factories import AccountFactory
from tests.browser.helpers import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Counter-pass-2026"


def test_counter_double_click_posts_once_and_prints_a_receipt(page: Any, roles: None) -> None:
    seed_data.load(apps)
    UserFactory(username="clerk", roles=["counter_clerk"], password=PASSWORD)
    account = AccountFactory()
    bill = issued_bill(
        account=account, amount=Decimal("52.00"), due_date=timezone.localdate() - dt.timedelta(days=3)
    )

    login(page, "clerk", PASSWORD, last_submit=True)
    page.goto(page.base_url + "/billing/payments/counter/")
    page.fill("input[name=account]", account.number)
    page.locator("form[role=search] button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    assert bill.number in page.content()
    assert page.input_value("input[name=amount]") == "53.00"  # 52.00 + the 1.00 minimum late fee
    page.locator("#counter-form button[type=submit]").dblclick()
    page.wait_for_url("**/billing/payments/*/")
    page.wait_for_load_state("networkidle")
    payment = Payment.objects.get(account=account)
    assert payment.number in page.content()
    assert Payment.objects.count() == 1
    assert bill_outstanding(bill) == Decimal("0.00")

    page.goto(page.base_url + "/billing/payments/aging/")
    assert page.locator("#aging-chart").count() == 0  # nothing owed any more: no chart
    issued_bill(
        account=AccountFactory(),
        amount=Decimal("20.00"),
        due_date=timezone.localdate() - dt.timedelta(days=40),
    )
    page.goto(page.base_url + "/billing/payments/aging/")
    page.wait_for_selector("#aging-chart canvas")
