"""End-to-end journey of a bill correction (退补) and the customer's bill in the portal:
a billing clerk requests a refund on an issued bill (amount by re-rating), a service manager
approves it, and the customer sees the lower amount to pay and downloads the PDF."""

from __future__ import annotations

import datetime as dt
from typing import Any

import django.apps
import pytest
from django.contrib.auth.models import Group, User

from gridcare.billing import seed_data
from gridcare.billing.models import BillAdjustment
from gridcare.billing.tests.factories_bills import notice_bill
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory
from tests.browser.helpers import login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Bills-pass-2026"


def _staff(username: str, role: str) -> User:
    user = User.objects.create_user(username, password=PASSWORD, first_name=username)
    user.groups.add(Group.objects.get(name=role))
    return user


def test_refund_is_requested_approved_and_seen_by_the_customer(page: Any, roles: None) -> None:
    # given the seeded catalogue, a customer with a portal login and an issued October bill
    seed_data.load(django.apps.apps)
    customer = CustomerFactory(name="王建国", with_login=True)
    customer.user.set_password(PASSWORD)
    customer.user.save()
    account = AccountFactory(customer=customer, number="0512345678")
    bill = notice_bill(account=account, period=dt.date(2026, 10, 1), kwh="100.000", amount="52.00")
    _staff("clerk01", "billing_clerk")
    _staff("manager01", "service_manager")

    # the clerk sees the bill in the customer's 360 view (chart and table)
    login(page, "clerk01", PASSWORD)
    page.goto(page.base_url + f"/customers/{customer.pk}/")
    page.wait_for_selector("#bills-chart canvas")
    assert page.locator(f"a[href='/billing/bills/{bill.pk}/']").count() == 1
    shot(page, "customer-360-bills")

    # when the clerk requests a refund of 20 kWh, leaving the amount to re-rating
    page.goto(page.base_url + f"/billing/bills/{bill.pk}/")
    shot(page, "bill-detail")
    assert "第一档电量电费" in page.content()
    page.get_by_role("link", name="申请退补").or_(
        page.get_by_role("link", name="Request a correction (退补)")
    ).click()
    page.select_option("select[name=kind]", "refund")
    page.fill("input[name=kwh]", "20")
    page.fill("textarea[name=reason]", "抄表错误, 多抄 20 kWh")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    adjustment = BillAdjustment.objects.get(bill=bill)
    assert str(adjustment.amount) == "-10.40"  # 80 × 0.52 = 41.60 against 52.00
    assert page.locator("button[value=approve]").count() == 0  # not by the requester

    # and a service manager approves it
    page.context.clear_cookies()
    login(page, "manager01", PASSWORD)
    page.goto(page.base_url + f"/billing/adjustments/{adjustment.pk}/")
    page.fill("textarea[name=note]", "核实无误")
    page.locator("button[value=approve]").click()
    page.wait_for_load_state("networkidle")
    adjustment.refresh_from_db()
    assert adjustment.status == "approved"

    # then the customer sees 41.60 to pay and can download the PDF
    page.context.clear_cookies()
    login(page, customer.user.username, PASSWORD, path="/portal/login/")
    page.goto(page.base_url + "/portal/bills/")
    assert "¥41.60" in page.content()
    page.goto(page.base_url + f"/portal/bills/{bill.pk}/")
    shot(page, "portal-bill")
    assert "0512345678" in page.content()
    pdf = page.request.get(page.base_url + f"/portal/bills/{bill.pk}/notice.pdf")
    assert pdf.status == 200
    assert pdf.body().startswith(b"%PDF-")
