"""API of billing runs: the permission matrix and the clerk's calls."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from gridcare.billing.choices import BillStatus, HoldStatus, RunStatus
from gridcare.billing.models import Bill, BillingHold, BillingRun, BillReview
from gridcare.billing.services.runs import billing_run
from gridcare.billing.tests.runs_fixtures import billable_account, open_exception
from gridcare.metering.choices import VeeRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated_run():
    billable_account()
    billable_account(start="10", end="10")
    held, meter = billable_account()
    open_exception(held, meter, day_from=dt.date(2026, 10, 2), day_to=dt.date(2026, 10, 3))
    return billing_run(period="2026-10", actor="clerk")


def _calls(run):
    hold = BillingHold.objects.get(run=run)
    review = BillReview.objects.get(bill__run=run)
    base = f"/api/billing/runs/{run.pk}"
    return [
        ("get", "/api/billing/runs", None),
        ("post", "/api/billing/runs", {"period": "2026-11"}),
        ("get", base, None),
        ("post", f"{base}/issue", {}),
        ("get", f"{base}/holds", None),
        ("post", f"{base}/holds/{hold.pk}/release", {}),
        ("get", f"{base}/reviews", None),
        ("post", f"{base}/reviews/{review.pk}/decision", {"decision": "approve"}),
    ]


def _call(client, method, url, body):
    if method == "get":
        return client.get(url)
    return client.post(url, data=json.dumps(body), content_type="application/json")


def test_anonymous_gets_401(client, rated_run):
    for method, url, body in _calls(rated_run):
        assert _call(client, method, url, body).status_code == 401, url


def test_customer_gets_403(customer_client, rated_run):
    for method, url, body in _calls(rated_run):
        assert _call(customer_client, method, url, body).status_code == 403, url


def test_staff_without_the_permission_gets_403(staff_client, rated_run):
    other = staff_client(roles=["metering_tech"])
    for method, url, body in _calls(rated_run):
        assert _call(other, method, url, body).status_code == 403, url


def test_auditor_reads_but_may_not_act(staff_client, rated_run):
    client = staff_client(roles=["auditor"])
    for method, url, body in _calls(rated_run):
        expected = 200 if method == "get" else 403
        assert _call(client, method, url, body).status_code == expected, url
    assert BillingRun.objects.count() == 1


def test_clerk_calls(staff_client, rated_run, django_capture_on_commit_callbacks):
    client = staff_client(roles=["billing_clerk"])
    base = f"/api/billing/runs/{rated_run.pk}"
    run = client.get(base).json()
    assert run["status"] == RunStatus.REVIEW
    assert run["bills_written"] == 2
    holds = client.get(f"{base}/holds").json()
    assert len(holds) == 1
    assert "Open reading exception" in holds[0]["reason"]
    reviews = client.get(f"{base}/reviews").json()
    assert [r["rule"] for r in reviews] == ["zero"]
    bad = _call(client, "post", f"{base}/reviews/{reviews[0]['id']}/decision", {"decision": "send_back"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "note"
    ok = _call(client, "post", f"{base}/reviews/{reviews[0]['id']}/decision", {"decision": "approve"})
    assert ok.json()["status"] == "approved"
    released = _call(client, "post", f"{base}/holds/{holds[0]['id']}/release", {"note": "ok"})
    assert released.json()["status"] == HoldStatus.RELEASED
    issued = _call(client, "post", f"{base}/issue", {})
    assert issued.json()["issued"] == 2
    assert Bill.objects.filter(status=BillStatus.ISSUED).count() == 2
    assert _call(client, "post", f"/api/billing/runs/{rated_run.pk + 50}/issue", {}).status_code == 404
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        started = _call(client, "post", "/api/billing/runs", {"period": "2026-11"})
    assert started.status_code == 202
    assert started.json()["status"] == RunStatus.RUNNING
    assert len(callbacks) == 1
    bad_period = _call(client, "post", "/api/billing/runs", {"period": "11/2026"})
    assert bad_period.status_code == 422
    assert bad_period.json()["field"] == "period"


def test_holds_and_flags_carry_the_stored_text_and_a_label_in_the_callers_language(staff_client, rated_run):
    # given a run with a hold for an open spike exception, a zero-consumption flag, and a
    # hold whose stored reason is of no known kind
    other, _meter = billable_account()
    BillingHold.objects.create(run=rated_run, account=other, reason="Checked by phone")
    client = staff_client(roles=["billing_clerk"])
    base = f"/api/billing/runs/{rated_run.pk}"
    for language in ("zh-hans", "en"):
        # when the clerk reads holds and flags in that language
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        holds = client.get(f"{base}/holds").json()
        reviews = client.get(f"{base}/reviews").json()
        with translation.override(language):
            spike = _("Open reading exception in the period: %(rule)s") % {"rule": VeeRule.SPIKE.label}
            zero = _("Zero consumption on an active account")
        # then ``reason`` / ``detail`` stay as stored and the labels are in the language
        assert sorted((h["reason"], h["reason_label"]) for h in holds) == [
            ("Checked by phone", "Checked by phone"),
            ("Open reading exception (spike) in the period", spike),
        ], language
        assert [(r["detail"], r["detail_label"]) for r in reviews] == [
            ("Zero consumption on an active account", zero)
        ], language
        assert ("Consumption spike" in spike) == (language == "en")
