"""End-to-end journey of a billing run: a billing clerk starts the month from the console,
watches the job page's progress bar fill while the run executes, approves the one review
flag and issues the bills."""

from __future__ import annotations

from typing import Any

import django.apps
import pytest
from django.contrib.auth.models import Group, User

from gridcare.billing import seed_data
from gridcare.billing.choices import BillStatus, ReviewStatus, RunStatus
from gridcare.billing.models import Bill, BillingRun, BillReview
from gridcare.billing.services.runs import billing_run_execute
from gridcare.billing.tests.runs_fixtures import OCT, billable_account
from tests.browser.helpers import shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Runs-pass-2026"


def test_clerk_runs_reviews_and_issues_a_month(page: Any, roles: None) -> None:
    # given the seeded catalogue, two metered residential accounts (one used nothing)
    seed_data.load(django.apps.apps)
    billable_account(start="1000", end="1150")
    billable_account(start="20", end="20")
    user = User.objects.create_user("clerk01", password=PASSWORD, first_name="clerk01")
    user.groups.add(Group.objects.get(name="billing_clerk"))

    page.goto(page.base_url + "/login/")
    page.fill("input[name=username]", "clerk01")
    page.fill("input[name=password]", PASSWORD)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_load_state("networkidle")

    # when the clerk starts October from the run list
    page.goto(page.base_url + "/billing/runs/")
    page.fill("input[name=period]", "2026-10")
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("#run-progress[data-in-progress=true]")
    run = BillingRun.objects.get(period=OCT)
    assert run.status == RunStatus.RUNNING
    assert page.locator("#run-progress-bar").get_attribute("value") == "0"
    shot(page, "run-started")

    # and the worker executes it, the polled job page shows the result by itself
    billing_run_execute(run_id=run.pk)
    page.wait_for_selector("#run-progress[data-in-progress=false]", timeout=20_000)
    assert page.locator("#run-progress-bar").get_attribute("value") == "100"
    shot(page, "run-in-review")

    # then the clerk approves the zero-consumption flag and issues
    page.fill("input[name=note]", "空置房")
    page.locator("button[value=approve]").click()
    page.wait_for_load_state("networkidle")
    assert BillReview.objects.get().status == ReviewStatus.APPROVED
    page.locator("[data-testid=issue]").click()
    page.wait_for_load_state("networkidle")
    shot(page, "run-issued")
    assert Bill.objects.filter(status=BillStatus.ISSUED).count() == 2
    assert BillingRun.objects.get(pk=run.pk).status == RunStatus.ISSUED
