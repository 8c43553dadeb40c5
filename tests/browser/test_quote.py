"""Browser journey of the quote (电费试算): a hotline agent answers "why is my bill so high"
with the keyboard only — tariff, dates, kWh, Enter — and sees the tiers and the total."""

from __future__ import annotations

from typing import Any

import django.apps
import pytest
from django.contrib.auth.models import Group, User

from gridcare.billing import seed_data
from tests.browser.helpers import login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Quote-pass-2026"


def test_quote_by_keyboard_shows_the_tiers_and_total(page: Any, roles: None) -> None:
    seed_data.load(django.apps.apps)  # the live-server flush dropped the seeded catalogue
    agent = User.objects.create_user("agent01", password=PASSWORD, first_name="agent01")
    agent.groups.add(Group.objects.get(name="hotline_agent"))

    login(page, "agent01", PASSWORD)

    page.goto(page.base_url + "/billing/quote/")
    page.focus("#id_tariff")
    page.select_option("#id_tariff", "HEBS-RES-LV")
    # the dates are the browser's own date pickers (their keyboard order follows the locale)
    page.fill("#id_period_start", "2026-10-01")
    page.fill("#id_period_end", "2026-10-31")
    page.focus("#id_total")
    page.keyboard.type("300")
    page.keyboard.press("Tab")  # → kWh billed earlier this year
    page.keyboard.type("2000")
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    shot(page, "quote")

    # 160 kWh × 0.52 = 83.20 in tier 1, 140 kWh × 0.57 = 79.80 in tier 2
    assert page.inner_text("#quote-total").strip() == "163.00"
    lines = page.inner_text("#quote-lines")
    assert "83.20" in lines
    assert "79.80" in lines
    assert "第2档: 140.000 kWh" in page.content()  # the console speaks Chinese by default
    assert "tariff=HEBS-RES-LV" in page.url  # a GET form: the quote can be bookmarked


def test_quote_page_refuses_a_customer(page: Any, roles: None) -> None:
    from gridcare.customers.tests.factories import AccountFactory, CustomerFactory

    customer = CustomerFactory(with_login=True)
    customer.user.set_password(PASSWORD)
    customer.user.save()
    AccountFactory(customer=customer)
    page.goto(page.base_url + "/portal/login/")
    page.fill("input[name=username]", customer.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_load_state("networkidle")
    response = page.goto(page.base_url + "/billing/quote/")
    assert response.status == 403
