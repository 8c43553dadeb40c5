"""撤回: the clerk who requested a balance refund (销户退费) withdraws it while it is still
pending — nobody else may (another clerk, an approver, a customer), and not once it has
been approved, rejected or paid. It ends *withdrawn*, is audited, moves no money, and
releases the account's one waiting request (docs/billing-payments.md). The service, the
console (button, refusals, CSRF) and the API with its role/ownership matrix."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gridcare.billing.choices import PaymentChannel, PaymentKind, RefundRequestStatus
from gridcare.billing.models import AccountBalance, Payment, RefundRequest
from gridcare.billing.selectors.refunds import refund_requests_to_decide_count
from gridcare.billing.services.payments import (
    balance_refund_decide,
    balance_refund_request,
    balance_refund_withdraw,
    payment_post,
)
from gridcare.billing.tests.factories_payments import closed_with_credit, ensure_policy
from gridcare.core.errors import Conflict, NotFound, PermissionDenied
from gridcare.core.models import AuditEvent
from gridcare.customers.choices import AccountStatus

pytestmark = pytest.mark.django_db

API = "/api/billing/refund-requests"
WITHDRAWN_ACTION = "refundrequest.withdraw"


@pytest.fixture(autouse=True)
def _policy(db: None) -> None:
    ensure_policy()


@pytest.fixture
def clerk(make_user: Any) -> Any:
    return make_user(roles=["counter_clerk"], username="clerk")


@pytest.fixture
def manager(make_user: Any) -> Any:
    return make_user(roles=["service_manager"], username="manager")


def ask(actor: Any, account: Any | None = None, key: str = "r1") -> RefundRequest:
    return balance_refund_request(
        actor=actor,
        account_id=(account or closed_with_credit()).pk,
        channel=PaymentChannel.REFUND_BANK,
        reference="BT20261101001",
        reason="销户退还预收电费",
        idempotency_key=key,
    )


def balance_of(account_id: int) -> Decimal:
    return AccountBalance.objects.get(account_id=account_id).amount


def state(request: RefundRequest) -> tuple[str, Any, Any, Any, Decimal, int, int]:
    """What a refusal must leave as it was: the request, the balance, refunds, audit rows."""
    request.refresh_from_db()
    return (
        request.status,
        request.withdrawn_at,
        request.decided_at,
        request.payment_id,
        balance_of(request.account_id),
        Payment.objects.filter(kind=PaymentKind.REFUND).count(),
        AuditEvent.objects.filter(action=WITHDRAWN_ACTION).count(),
    )


def post_json(client: Any, url: str, data: dict[str, Any] | None = None, **headers: str) -> Any:
    return client.post(url, data=json.dumps(data or {}), content_type="application/json", headers=headers)


# --- the service -----------------------------------------------------------------------------


def test_the_requester_withdraws_their_pending_request_and_it_is_audited(clerk: Any) -> None:
    # Given a pending request of 120.00 on a closed account with 120.00 of credit
    request = ask(clerk)
    before = timezone.now()

    # When its requester withdraws it
    withdrawn = balance_refund_withdraw(actor=clerk, refund_request_id=request.pk)

    # Then it ends withdrawn, undecided, no money moved
    request.refresh_from_db()
    assert (withdrawn.pk, request.status, request.status_label) == (
        request.pk,
        RefundRequestStatus.WITHDRAWN,
        "Withdrawn (已撤回)",
    )
    assert request.withdrawn_at is not None
    assert before <= request.withdrawn_at <= timezone.now()
    assert (request.decided_at, request.decided_by, request.decided_by_user, request.payment) == (
        None,
        "",
        None,
        None,
    )
    assert balance_of(request.account_id) == Decimal("120.00")
    assert not Payment.objects.filter(kind=PaymentKind.REFUND).exists()
    # And one audit row says who withdrew what, before and after
    event = AuditEvent.objects.get(action=WITHDRAWN_ACTION)
    assert (event.object_type, event.object_id, event.actor_id) == (
        "billing.refundrequest",
        str(request.pk),
        clerk.pk,
    )
    assert event.before == {"status": "pending", "withdrawn_at": None}
    assert (event.after["status"], event.after["amount"], event.after["account_id"]) == (
        "withdrawn",
        "120.00",
        request.account_id,
    )
    assert event.after["withdrawn_at"] == request.withdrawn_at.isoformat()


def test_withdrawing_releases_the_accounts_waiting_request(clerk: Any, manager: Any) -> None:
    """A pending request reserves no money (the balance is untouched until an approval), so
    nothing goes back to the balance; what it holds is the account's one waiting request and
    its place in the approvers' queue. Both are released."""
    account = closed_with_credit()
    request = ask(clerk, account)
    with pytest.raises(Conflict):
        ask(clerk, account, key="r2")  # one waits per account
    assert refund_requests_to_decide_count(manager) == 1

    balance_refund_withdraw(actor=clerk, refund_request_id=request.pk)

    assert refund_requests_to_decide_count(manager) == 0
    again = ask(clerk, account, key="r2")
    assert (again.status, again.amount) == (RefundRequestStatus.PENDING, Decimal("120.00"))
    assert balance_of(account.pk) == Decimal("120.00")


@pytest.mark.parametrize(
    "roles",
    [
        ["counter_clerk"],  # another clerk
        ["billing_clerk"],
        ["service_manager"],  # an approver
        ["counter_clerk", "service_manager"],  # both, but not the requester
        ["hotline_agent"],
    ],
)
def test_nobody_but_the_requester_may_withdraw(clerk: Any, make_user: Any, roles: list[str]) -> None:
    request = ask(clerk)
    kept = state(request)

    with pytest.raises(PermissionDenied):
        balance_refund_withdraw(actor=make_user(roles=roles), refund_request_id=request.pk)

    assert state(request) == kept
    assert kept[0] == RefundRequestStatus.PENDING


def test_a_customer_or_a_system_actor_may_not_withdraw(clerk: Any, customer_client: Any) -> None:
    request = ask(clerk)
    kept = state(request)

    for actor in (customer_client.user, "cli"):
        with pytest.raises(PermissionDenied):
            balance_refund_withdraw(actor=actor, refund_request_id=request.pk)

    assert state(request) == kept


@pytest.mark.parametrize("approve", [True, False])
def test_a_decided_request_can_no_longer_be_withdrawn(clerk: Any, manager: Any, approve: bool) -> None:
    request = ask(clerk)
    balance_refund_decide(actor=manager, refund_request_id=request.pk, approve=approve, note="核对")
    kept = state(request)

    with pytest.raises(Conflict, match="can no longer be withdrawn"):
        balance_refund_withdraw(actor=clerk, refund_request_id=request.pk)

    assert state(request) == kept
    assert kept[0] == (RefundRequestStatus.APPROVED if approve else RefundRequestStatus.REJECTED)


def test_a_withdrawn_request_is_never_decided_and_a_second_withdrawal_changes_nothing(
    clerk: Any, manager: Any
) -> None:
    request = ask(clerk)
    balance_refund_withdraw(actor=clerk, refund_request_id=request.pk)
    kept = state(request)

    # A double click: the same request back, no second audit row
    again = balance_refund_withdraw(actor=clerk, refund_request_id=request.pk)
    assert (again.pk, again.status) == (request.pk, RefundRequestStatus.WITHDRAWN)
    # An approver arriving late is told so, and pays nothing
    with pytest.raises(Conflict, match="withdrawn"):
        balance_refund_decide(actor=manager, refund_request_id=request.pk, approve=True, note="同意")

    assert state(request) == kept
    assert kept[-1] == 1


def test_withdrawing_a_missing_request(clerk: Any) -> None:
    with pytest.raises(NotFound):
        balance_refund_withdraw(actor=clerk, refund_request_id=999_999)


def test_the_database_keeps_a_withdrawn_request_undecided(clerk: Any, manager: Any) -> None:
    """The status check: withdrawn ⇔ withdrawal time set, and then no decision nor refund."""
    request = ask(clerk)
    rows = RefundRequest.objects.filter(pk=request.pk)
    bad = [
        {"status": RefundRequestStatus.WITHDRAWN},  # no time
        {"withdrawn_at": timezone.now()},  # pending with a withdrawal time
        {
            "status": RefundRequestStatus.WITHDRAWN,
            "withdrawn_at": timezone.now(),
            "decided_at": timezone.now(),
            "decided_by_user": manager,
        },
    ]
    for fields in bad:
        with pytest.raises(IntegrityError), transaction.atomic():
            rows.update(**fields)
    request.refresh_from_db()
    assert (request.status, request.withdrawn_at) == (RefundRequestStatus.PENDING, None)


def test_going_back_past_migration_0017_refuses_while_a_request_is_withdrawn(clerk: Any) -> None:
    """billing 0017's way back: the old status check has no place for a withdrawn request,
    so the migration refuses (and says why) instead of failing half-way."""
    import importlib

    from django.apps import apps

    migration = importlib.import_module("gridcare.billing.migrations.0017_refundrequest_withdrawn")
    request = ask(clerk)
    migration.refuse_to_forget_withdrawals(apps, None)  # only pending ones: nothing to refuse
    balance_refund_withdraw(actor=clerk, refund_request_id=request.pk)
    with pytest.raises(RuntimeError, match=r"1 refund request\(s\) were withdrawn"):
        migration.refuse_to_forget_withdrawals(apps, None)


# --- the console -----------------------------------------------------------------------------


def detail_url(request: RefundRequest) -> str:
    return reverse("billing:payments_refund_request", args=[request.pk])


def withdraw_url(request: RefundRequest) -> str:
    return reverse("billing:payments_refund_withdraw", args=[request.pk])


def logged_in(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_the_requester_sees_the_withdraw_button_only_while_pending(
    clerk: Any, manager: Any, make_user: Any
) -> None:
    request = ask(clerk)
    others = [make_user(roles=["counter_clerk"]), manager, make_user(roles=["auditor"])]

    html = logged_in(clerk).get(detail_url(request)).content.decode()
    assert 'id="refund-withdraw"' in html
    assert f'action="{withdraw_url(request)}"' in html
    assert "Withdraw the request (撤回)" in html
    for other in others:
        assert 'id="refund-withdraw"' not in logged_in(other).get(detail_url(request)).content.decode()

    balance_refund_decide(actor=manager, refund_request_id=request.pk, approve=False, note="户名不符")
    assert 'id="refund-withdraw"' not in logged_in(clerk).get(detail_url(request)).content.decode()


def test_the_requester_withdraws_in_the_console(clerk: Any) -> None:
    account = closed_with_credit()
    request = ask(clerk, account)
    client = logged_in(clerk)

    resp = client.post(withdraw_url(request))

    assert (resp.status_code, resp["Location"]) == (302, detail_url(request))
    request.refresh_from_db()
    assert request.status == RefundRequestStatus.WITHDRAWN
    html = client.get(detail_url(request)).content.decode()
    assert 'id="refund-status">Withdrawn (已撤回)</span>' in html
    assert 'id="refund-withdrawn"' in html
    assert 'id="refund-withdraw"' not in html
    assert "Refund request withdrawn" in html  # the message
    # Released: the refund page offers the form again, the counter shows nothing waiting
    refund_page = client.get(reverse("billing:payments_refund", args=[account.number])).content.decode()
    assert 'id="refund-waiting"' not in refund_page
    counter = client.get(reverse("billing:payments_counter"), {"account": account.number}).content.decode()
    assert 'id="refund-waiting"' not in counter
    assert re.search(r'<tr data-status="withdrawn">', counter)


def test_another_clerk_posting_the_withdrawal_is_refused(clerk: Any, make_user: Any) -> None:
    request = ask(clerk)
    kept = state(request)

    resp = logged_in(make_user(roles=["counter_clerk"])).post(withdraw_url(request))

    assert resp.status_code == 403
    assert "Only the person who requested a refund may withdraw it." in resp.content.decode()
    assert state(request) == kept


@pytest.mark.parametrize("roles", [["service_manager"], ["auditor"], ["metering_tech"]])
def test_staff_without_the_request_permission_are_refused(
    clerk: Any, make_user: Any, roles: list[str]
) -> None:
    request = ask(clerk)
    kept = state(request)

    assert logged_in(make_user(roles=roles)).post(withdraw_url(request)).status_code == 403
    assert state(request) == kept


def test_anonymous_customer_get_and_missing(clerk: Any, customer_client: Any) -> None:
    request = ask(clerk)
    kept = state(request)

    anonymous = Client().post(withdraw_url(request))
    assert anonymous.status_code == 302
    assert "login" in anonymous["Location"]
    assert customer_client.post(withdraw_url(request)).status_code == 403
    assert logged_in(clerk).get(withdraw_url(request)).status_code == 405  # a withdrawal is a POST
    missing = reverse("billing:payments_refund_withdraw", args=[request.pk + 1000])
    assert logged_in(clerk).post(missing).status_code == 404
    assert state(request) == kept


def test_a_decided_request_is_refused_in_the_console(clerk: Any, manager: Any) -> None:
    request = ask(clerk)
    balance_refund_decide(actor=manager, refund_request_id=request.pk, approve=True, note="同意")
    kept = state(request)

    resp = logged_in(clerk).post(withdraw_url(request))

    assert resp.status_code == 409
    assert 'id="refund-withdraw-error"' in resp.content.decode()
    assert state(request) == kept


def test_the_withdrawal_needs_the_csrf_token(clerk: Any) -> None:
    request = ask(clerk)
    client = logged_in(clerk, enforce_csrf_checks=True)
    kept = state(request)

    assert client.post(withdraw_url(request)).status_code == 403  # no token
    assert state(request) == kept

    page = client.get(detail_url(request)).content.decode()
    token = re.search(
        r'id="refund-withdraw-form">\s*<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)"', page
    )
    assert token is not None
    assert client.post(withdraw_url(request), {"csrfmiddlewaretoken": token.group(1)}).status_code == 302
    request.refresh_from_db()
    assert request.status == RefundRequestStatus.WITHDRAWN


def test_the_list_filters_withdrawn_requests(clerk: Any, manager: Any) -> None:
    withdrawn = ask(clerk, key="a")
    pending = ask(clerk, key="b")
    balance_refund_withdraw(actor=clerk, refund_request_id=withdrawn.pk)

    html = (
        logged_in(manager).get(reverse("billing:payments_refunds"), {"status": "withdrawn"}).content.decode()
    )

    assert f"#{withdrawn.pk}<" in html
    assert f"#{pending.pk}<" not in html
    assert "badge--muted" in html


# --- the API ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("anonymous", 401),
        ("requester", 200),
        ("requester+manager", 200),  # their own, whatever else they may do
        ("counter_clerk", 403),  # IDOR: another clerk's request
        ("billing_clerk", 403),
        ("service_manager", 403),
        ("marketing_manager", 403),
        ("hotline_agent", 403),
        ("auditor", 403),
        ("metering_tech", 403),
    ],
)
def test_api_withdraw_matrix(make_user: Any, who: str, status: int) -> None:
    requester_roles = (
        ["counter_clerk", "service_manager"] if who == "requester+manager" else ["counter_clerk"]
    )
    requester = make_user(roles=requester_roles)
    request = ask(requester)
    client = Client()
    if who.startswith("requester"):
        client.force_login(requester)
    elif who != "anonymous":
        client.force_login(make_user(roles=[who]))
    kept = state(request)

    resp = post_json(client, f"{API}/{request.pk}/withdraw")

    assert resp.status_code == status, resp.content
    if status == 200:
        body = resp.json()
        assert (body["id"], body["status"], body["status_label"], body["refund"]) == (
            request.pk,
            "withdrawn",
            "Withdrawn (已撤回)",
            None,
        )
        assert body["withdrawn_at"] is not None
        assert state(request)[0] == RefundRequestStatus.WITHDRAWN
    else:
        assert state(request) == kept
        assert resp.json()["code"] in ("not_authenticated", "permission_denied")


def test_api_a_customer_never_withdraws_even_on_their_own_account(
    customer_client: Any, make_user: Any
) -> None:
    own = customer_client.account
    own.status, own.closed_on = AccountStatus.CLOSED, dt.date(2026, 10, 31)
    own.save()
    payment_post(actor="t", account_id=own.pk, amount="20.00", channel="wechat", idempotency_key="own")
    mine = ask(make_user(roles=["counter_clerk"]), own, key="mine")
    theirs = ask(make_user(roles=["counter_clerk"]), key="theirs")
    kept = (state(mine), state(theirs))

    for request in (mine, theirs):
        assert post_json(customer_client, f"{API}/{request.pk}/withdraw").status_code == 403

    assert (state(mine), state(theirs)) == kept


def test_api_withdraw_conflicts_repeats_and_missing(clerk: Any, manager: Any) -> None:
    client = logged_in(clerk)
    decided = ask(clerk, key="a")
    balance_refund_decide(actor=manager, refund_request_id=decided.pk, approve=False, note="户名不符")
    pending = ask(clerk, key="b")

    conflict = post_json(client, f"{API}/{decided.pk}/withdraw")
    assert (conflict.status_code, conflict.json()["code"]) == (409, "conflict")
    first = post_json(client, f"{API}/{pending.pk}/withdraw")
    second = post_json(client, f"{API}/{pending.pk}/withdraw")
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.json() == second.json()
    assert AuditEvent.objects.filter(action=WITHDRAWN_ACTION).count() == 1
    assert post_json(client, f"{API}/{pending.pk + 1000}/withdraw").status_code == 404
    # the decision endpoint now refuses the withdrawn request
    late = post_json(logged_in(manager), f"{API}/{pending.pk}/decide", {"approve": True, "note": "同意"})
    assert (late.status_code, late.json()["code"]) == (409, "conflict")
    assert not Payment.objects.filter(kind=PaymentKind.REFUND).exists()


def test_api_withdraw_needs_the_csrf_token(clerk: Any) -> None:
    request = ask(clerk)
    client = logged_in(clerk, enforce_csrf_checks=True)

    resp = post_json(client, f"{API}/{request.pk}/withdraw")

    assert resp.status_code == 403
    request.refresh_from_db()
    assert request.status == RefundRequestStatus.PENDING


def test_api_lists_withdrawn_requests(clerk: Any, manager: Any) -> None:
    withdrawn = ask(clerk, key="a")
    ask(clerk, key="b")
    balance_refund_withdraw(actor=clerk, refund_request_id=withdrawn.pk)

    page = logged_in(manager).get(API, {"status": "withdrawn"}).json()

    assert [r["id"] for r in page["items"]] == [withdrawn.pk]
    schema = logged_in(manager).get("/api/openapi.json").json()
    assert f"{API}/{{refund_request_id}}/withdraw" in schema["paths"]
