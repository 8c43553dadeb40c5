"""Console pages of billing runs: the permission matrix of every page and action, the job
page with its progress JSON, release, review decisions and issue."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape
from django.utils.translation import gettext as _

from gridcare.billing.choices import BillStatus, HoldStatus, ReviewStatus, RunStatus
from gridcare.billing.models import Bill, BillingHold, BillingRun, BillReview
from gridcare.billing.services.runs import billing_run
from gridcare.billing.tests.runs_fixtures import (
    OCT,
    billable_account,
    open_exception,
)
from gridcare.metering.choices import VeeRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated_run():
    billable_account()
    billable_account(start="10", end="10")  # zero consumption: flagged
    held, meter = billable_account()
    open_exception(held, meter, day_from=dt.date(2026, 10, 2), day_to=dt.date(2026, 10, 3))
    return billing_run(period="2026-10", actor="clerk")


def _urls(run):
    hold = BillingHold.objects.get(run=run)
    review = BillReview.objects.get(bill__run=run)
    return {
        "list": reverse("billing:runs"),
        "detail": reverse("billing:run", args=[run.pk]),
        "progress": reverse("billing:run_progress", args=[run.pk]),
        "issue": reverse("billing:run_issue", args=[run.pk]),
        "resume": reverse("billing:run_resume", args=[run.pk]),
        "release": reverse("billing:run_hold_release", args=[run.pk, hold.pk]),
        "decide": reverse("billing:run_review_decide", args=[run.pk, review.pk]),
    }


def test_anonymous_is_sent_to_login(client, rated_run):
    for name, url in _urls(rated_run).items():
        response = client.post(url) if name in {"issue", "resume", "release", "decide"} else client.get(url)
        assert response.status_code == 302, name
        assert "login" in response["Location"]


def test_customer_gets_403(customer_client, rated_run):
    for name, url in _urls(rated_run).items():
        response = (
            customer_client.post(url)
            if name in {"issue", "resume", "release", "decide"}
            else customer_client.get(url)
        )
        assert response.status_code == 403, name


def test_staff_without_billing_permission_gets_403(staff_client, rated_run):
    client = staff_client(roles=["metering_tech"])
    for name, url in _urls(rated_run).items():
        response = client.post(url) if name in {"issue", "resume", "release", "decide"} else client.get(url)
        assert response.status_code == 403, name


def test_viewer_sees_pages_but_may_not_act(staff_client, rated_run):
    client = staff_client(roles=["auditor"])
    urls = _urls(rated_run)
    page = client.get(urls["list"])
    assert page.status_code == 200
    assert "2026-10" in page.content.decode()
    assert 'name="period"' not in page.content.decode()
    detail = client.get(urls["detail"])
    assert detail.status_code == 200
    assert 'data-testid="issue"' not in detail.content.decode()
    assert client.get(urls["progress"]).json()["percent"] == 100
    for name in ("issue", "resume", "release", "decide"):
        assert client.post(urls[name], {"decision": "approve"}).status_code == 403, name
    assert client.post(urls["list"], {"period": "2026-11"}).status_code == 403
    assert BillingRun.objects.count() == 1


def test_clerk_journey_release_decide_issue(staff_client, rated_run):
    client = staff_client(roles=["billing_clerk"])
    urls = _urls(rated_run)
    detail = client.get(urls["detail"]).content.decode()
    assert "Open reading exception" in detail
    assert "Zero consumption on an active account" in detail
    assert 'data-testid="issue"' in detail
    progress = client.get(urls["progress"]).json()
    assert progress["status"] == RunStatus.REVIEW
    assert progress["bills_written"] == 2
    assert progress["in_progress"] is False

    assert client.post(urls["release"]).status_code == 302
    assert BillingHold.objects.get(run=rated_run).status == HoldStatus.RELEASED
    assert client.post(urls["decide"], {"decision": "approve", "note": "empty flat"}).status_code == 302
    assert BillReview.objects.get(bill__run=rated_run).status == ReviewStatus.APPROVED
    response = client.post(urls["issue"], follow=True)
    assert response.status_code == 200
    assert [m.level_tag for m in response.context["messages"]] == ["success"] * 3  # release, decide, issue
    assert Bill.objects.filter(status=BillStatus.ISSUED).count() == 2


def test_start_from_the_console_queues_the_run(staff_client, django_capture_on_commit_callbacks):
    billable_account()
    client = staff_client(roles=["billing_clerk"])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("billing:runs"), {"period": "2026-10"})
    run = BillingRun.objects.get(period=OCT)
    assert response.status_code == 302
    assert response["Location"] == reverse("billing:run", args=[run.pk])
    assert run.status == RunStatus.RUNNING
    assert run.partitions_total == 1
    assert len(callbacks) == 1
    page = client.get(reverse("billing:run", args=[run.pk])).content.decode()
    assert "billing/run_progress.js" in page
    assert client.get(reverse("billing:run_progress", args=[run.pk])).json()["in_progress"] is True


def test_start_with_a_bad_period_shows_the_error(staff_client):
    client = staff_client(roles=["billing_clerk"])
    response = client.post(reverse("billing:runs"), {"period": "soon"}, follow=True)
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert not BillingRun.objects.exists()


def test_unknown_ids_are_404(staff_client, rated_run):
    client = staff_client(roles=["billing_clerk"])
    assert client.get(reverse("billing:run", args=[rated_run.pk + 99])).status_code == 404
    assert client.post(reverse("billing:run_hold_release", args=[rated_run.pk, 999999])).status_code == 404
    assert client.post(reverse("billing:run_review_decide", args=[rated_run.pk, 999999])).status_code == 404


def _job_page(client, run, language):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client.get(reverse("billing:run", args=[run.pk])).content.decode()


def test_job_page_shows_reasons_in_the_readers_language(staff_client, rated_run):
    # given a hold for an open spike exception, a zero-consumption flag, and a hold whose
    # stored reason is of no known kind
    other, _meter = billable_account()
    BillingHold.objects.create(run=rated_run, account=other, reason="Checked by phone <ok>")
    client = staff_client(roles=["billing_clerk"])
    # when a clerk reads the job page in Chinese
    page = _job_page(client, rated_run, "zh-hans")
    # then the reasons are in Chinese, the unknown one as stored
    with translation.override("zh-hans"):
        hold = _("Open reading exception in the period: %(rule)s") % {"rule": VeeRule.SPIKE.label}
        flag = _("Zero consumption on an active account")
    assert escape(hold) in page
    assert "电量突增" in page
    assert "Open reading exception (spike) in the period" not in page  # the stored English
    assert escape(flag) in page
    assert escape("Checked by phone <ok>") in page
    # and in English when the clerk switches
    page = _job_page(client, rated_run, "en")
    assert escape("Open reading exception in the period: Consumption spike (电量突增)") in page
    assert "Zero consumption on an active account" in page
    assert escape("Checked by phone <ok>") in page
