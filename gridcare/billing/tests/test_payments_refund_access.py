"""Who may do what with a balance refund (销户退费), page by page and endpoint by endpoint:
anonymous, a customer (their own account and another's), staff without the permission,
staff with it (docs/roles.md). Requests: counter and billing clerks; decisions: service
and marketing managers, never the requester; a customer sees only their own requests,
without staff names, and never another's (404)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from gridcare.billing.choices import DocumentStatus, PaymentKind
from gridcare.billing.models import AccountBalance, Payment, RefundRequest
from gridcare.billing.services.payments import balance_refund_decide, balance_refund_request, payment_post
from gridcare.billing.tests.factories_payments import closed_with_credit, ensure_policy
from gridcare.customers.choices import AccountStatus
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory

pytestmark = pytest.mark.django_db

REQUESTERS = ["counter_clerk", "billing_clerk"]
DECIDERS = ["service_manager", "marketing_manager"]
VIEWERS = [*REQUESTERS, *DECIDERS, "hotline_agent", "auditor"]
OUTSIDERS = ["metering_tech", "inspector", "repair_crew"]
FORM = {"key": "k1", "amount": "120.00", "channel": "refund_bank", "reference": "BT1", "reason": "销户"}


@pytest.fixture(autouse=True)
def _policy(db: None) -> None:
    ensure_policy()


def pending_request(make_user: Any, account: Any | None = None, key: str = "r1") -> RefundRequest:
    return balance_refund_request(
        actor=make_user(roles=["counter_clerk"]),
        account_id=(account or closed_with_credit()).pk,
        channel="refund_bank",
        reference="BT20261101001",
        reason="销户退还预收电费",
        idempotency_key=key,
    )


def post_json(client: Any, url: str, data: dict[str, Any], **headers: str) -> Any:
    return client.post(url, data=json.dumps(data), content_type="application/json", headers=headers)


def nothing_paid(account: Any) -> bool:
    return not Payment.objects.filter(kind=PaymentKind.REFUND).exists() and AccountBalance.objects.get(
        account=account
    ).amount == Decimal("120.00")


# --- console pages --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        *((r, True) for r in REQUESTERS),
        *((r, False) for r in [*DECIDERS, "hotline_agent", "auditor", *OUTSIDERS]),
    ],
)
def test_request_page_matrix(staff_client: Any, role: str, allowed: bool) -> None:
    account = closed_with_credit()
    client = staff_client(roles=[role])
    url = reverse("billing:payments_refund", args=[account.number])

    assert client.get(url).status_code == (200 if allowed else 403)
    assert client.post(url, FORM).status_code == (302 if allowed else 403)
    assert RefundRequest.objects.filter(status=DocumentStatus.PENDING).exists() is allowed
    assert nothing_paid(account)  # a request never pays


def test_request_page_anonymous_and_customer(customer_client: Any) -> None:
    own = customer_client.account
    own.status, own.closed_on = AccountStatus.CLOSED, dt.date(2026, 10, 31)
    own.save()
    payment_post(actor="t", account_id=own.pk, amount="20.00", channel="wechat", idempotency_key="own")
    url = reverse("billing:payments_refund", args=[own.number])

    assert customer_client.get(url).status_code == 403  # even for their own account
    assert customer_client.post(url, FORM).status_code == 403
    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert "login" in anonymous["Location"]
    assert not RefundRequest.objects.exists()


@pytest.mark.parametrize(("role", "status"), [*((r, 200) for r in VIEWERS), *((r, 403) for r in OUTSIDERS)])
def test_list_and_detail_pages_matrix(staff_client: Any, make_user: Any, role: str, status: int) -> None:
    request = pending_request(make_user)
    client = staff_client(roles=[role])

    assert client.get(reverse("billing:payments_refunds")).status_code == status
    assert client.get(reverse("billing:payments_refund_request", args=[request.pk])).status_code == status
    if status == 200:
        missing = reverse("billing:payments_refund_request", args=[request.pk + 1000])
        assert client.get(missing).status_code == 404


def test_list_and_detail_pages_anonymous_and_customer(customer_client: Any, make_user: Any) -> None:
    own = customer_client.account
    own.status, own.closed_on = AccountStatus.CLOSED, dt.date(2026, 10, 31)
    own.save()
    payment_post(actor="t", account_id=own.pk, amount="20.00", channel="wechat", idempotency_key="own")
    request = pending_request(make_user, own)
    urls = [
        reverse("billing:payments_refunds"),
        reverse("billing:payments_refund_request", args=[request.pk]),
    ]
    for url in urls:
        assert customer_client.get(url).status_code == 403  # the console, even for their own
        anonymous = Client().get(url)
        assert anonymous.status_code == 302
        assert "login" in anonymous["Location"]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        *((r, True) for r in DECIDERS),
        *((r, False) for r in [*REQUESTERS, "hotline_agent", "auditor", *OUTSIDERS]),
    ],
)
def test_decide_page_matrix(staff_client: Any, make_user: Any, role: str, allowed: bool) -> None:
    account = closed_with_credit()
    request = pending_request(make_user, account)
    client = staff_client(roles=[role])
    url = reverse("billing:payments_refund_decide", args=[request.pk])

    detail = client.get(reverse("billing:payments_refund_request", args=[request.pk]))
    resp = client.post(url, {"decision": "approve", "note": "同意"})

    assert resp.status_code == (302 if allowed else 403)
    request.refresh_from_db()
    assert (request.status == DocumentStatus.APPROVED) is allowed
    assert nothing_paid(account) is not allowed
    if detail.status_code == 200:
        assert ('id="refund-decide"' in detail.content.decode()) is allowed
    assert client.get(url).status_code in (403, 405)  # a decision is a POST


def test_decide_page_anonymous_customer_and_missing(
    customer_client: Any, staff_client: Any, make_user: Any
) -> None:
    account = closed_with_credit()
    request = pending_request(make_user, account)
    url = reverse("billing:payments_refund_decide", args=[request.pk])
    form = {"decision": "approve", "note": "同意"}

    assert customer_client.post(url, form).status_code == 403
    assert Client().post(url, form).status_code == 302
    manager = staff_client(roles=["service_manager"])
    assert (
        manager.post(reverse("billing:payments_refund_decide", args=[request.pk + 1000]), form).status_code
        == 404
    )
    request.refresh_from_db()
    assert request.status == DocumentStatus.PENDING
    assert nothing_paid(account)


def test_the_approvers_count_counts_what_they_may_decide(staff_client: Any, make_user: Any) -> None:
    """The count beside *Refunds*: the pending requests of others, for approvers only."""
    both = make_user(roles=["counter_clerk", "service_manager"], username="both")
    pending_request(make_user, key="a")
    pending_request(make_user, key="b")
    balance_refund_request(
        actor=both,
        account_id=closed_with_credit().pk,
        channel="refund_cash",
        reference="XJ1",
        reason="x",
        idempotency_key="c",
    )
    done = pending_request(make_user, key="d")
    balance_refund_decide(
        actor=make_user(roles=["service_manager"]), refund_request_id=done.pk, approve=False, note="x"
    )
    page = reverse("billing:payments")

    manager = staff_client(roles=["service_manager"]).get(page).content.decode()
    assert '<span class="badge badge--warning" id="refunds-to-decide"' in manager
    assert 'title="Refund requests waiting for your approval">3</span>' in manager
    client = Client()
    client.force_login(both)
    assert 'title="Refund requests waiting for your approval">2</span>' in client.get(page).content.decode()
    for role in ("counter_clerk", "auditor"):
        html = staff_client(roles=[role]).get(page).content.decode()
        assert 'id="refunds-to-decide"' not in html
        assert reverse("billing:payments_refunds") in html  # the list, without a count


# --- the API -----------------------------------------------------------------------------------


API = "/api/billing/refund-requests"


@pytest.mark.parametrize(
    ("roles", "status"),
    [
        (None, 401),
        *(([r], 200) for r in REQUESTERS),
        *(([r], 403) for r in [*DECIDERS, "hotline_agent", "auditor", "metering_tech"]),
    ],
)
def test_api_request_matrix(client: Client, make_user: Any, roles: Any, status: int) -> None:
    account = closed_with_credit()
    if roles is not None:
        client.force_login(make_user(roles=roles))

    resp = post_json(
        client,
        API,
        {"account": account.number, "channel": "refund_bank", "reference": "BT1", "reason": "销户"},
        **{"Idempotency-Key": "a1"},
    )

    assert resp.status_code == status, resp.content
    assert RefundRequest.objects.count() == (1 if status == 200 else 0)
    if status == 200:
        body = resp.json()
        assert (body["status"], body["status_label"], body["amount"], body["refund"]) == (
            "pending",
            "Pending approval (待审批)",
            "120.00",
            None,
        )
    assert nothing_paid(account)


def test_api_request_needs_the_header_and_asks_once(staff_client: Any) -> None:
    client = staff_client(roles=["counter_clerk"])
    account = closed_with_credit()
    data = {
        "account": account.number,
        "amount": "100.00",
        "channel": "refund_bank",
        "reference": "B",
        "reason": "x",
    }

    assert post_json(client, API, data).json()["field"] == "Idempotency-Key"
    first = post_json(client, API, data, **{"Idempotency-Key": "dbl"}).json()
    second = post_json(client, API, data, **{"Idempotency-Key": "dbl"}).json()

    assert first["id"] == second["id"]
    assert RefundRequest.objects.count() == 1
    assert (
        post_json(client, API, {**data, "account": "0000000000"}, **{"Idempotency-Key": "x"}).status_code
        == 404
    )
    open_account = AccountFactory()
    conflict = post_json(client, API, {**data, "account": open_account.number}, **{"Idempotency-Key": "y"})
    assert (conflict.status_code, conflict.json()["field"]) == (409, "account")


def test_the_customer_can_never_request_or_decide(customer_client: Any, make_user: Any) -> None:
    own = customer_client.account
    own.status, own.closed_on = AccountStatus.CLOSED, dt.date(2026, 10, 31)
    own.save()
    payment_post(actor="t", account_id=own.pk, amount="20.00", channel="wechat", idempotency_key="own")
    data = {"account": own.number, "channel": "refund_bank", "reference": "B", "reason": "x"}

    assert post_json(customer_client, API, data, **{"Idempotency-Key": "c"}).status_code == 403
    request = pending_request(make_user, own)
    decided = post_json(customer_client, f"{API}/{request.pk}/decide", {"approve": True, "note": "x"})
    assert decided.status_code == 403
    request.refresh_from_db()
    assert request.status == DocumentStatus.PENDING
    assert not Payment.objects.filter(kind=PaymentKind.REFUND).exists()


@pytest.mark.parametrize(
    ("roles", "status"),
    [
        (None, 401),
        *(([r], 200) for r in DECIDERS),
        *(([r], 403) for r in [*REQUESTERS, "hotline_agent", "auditor", "metering_tech"]),
        (["counter_clerk", "service_manager"], 403),  # the requester, a manager too
    ],
)
def test_api_decide_matrix(client: Client, make_user: Any, roles: Any, status: int) -> None:
    account = closed_with_credit()
    requester = make_user(roles=roles) if roles == ["counter_clerk", "service_manager"] else None
    request = balance_refund_request(
        actor=requester or make_user(roles=["counter_clerk"]),
        account_id=account.pk,
        channel="refund_bank",
        reference="BT1",
        reason="销户",
        idempotency_key="r1",
    )
    if roles is not None:
        client.force_login(requester or make_user(roles=roles))

    resp = post_json(client, f"{API}/{request.pk}/decide", {"approve": True, "note": "同意"})

    assert resp.status_code == status, resp.content
    request.refresh_from_db()
    assert (request.status == DocumentStatus.APPROVED) is (status == 200)
    assert nothing_paid(account) is (status != 200)
    if status == 200:
        body = resp.json()
        assert (body["status"], body["status_label"], body["refund"]) == (
            "approved",
            "Refunded (已退款)",
            request.payment.number,
        )
        again = post_json(client, f"{API}/{request.pk}/decide", {"approve": True, "note": "同意"})
        assert (again.status_code, again.json()["code"]) == (409, "conflict")
        assert Payment.objects.filter(kind=PaymentKind.REFUND).count() == 1


def test_api_decide_needs_the_reason_and_an_existing_request(staff_client: Any, make_user: Any) -> None:
    request = pending_request(make_user)
    client = staff_client(roles=["service_manager"])

    missing = post_json(client, f"{API}/{request.pk}/decide", {"approve": False, "note": " "})
    assert (missing.status_code, missing.json()["field"]) == (422, "note")
    assert (
        post_json(client, f"{API}/{request.pk + 1000}/decide", {"approve": True, "note": "x"}).status_code
        == 404
    )
    rejected = post_json(client, f"{API}/{request.pk}/decide", {"approve": False, "note": "户名不符"}).json()
    assert (rejected["status"], rejected["status_label"], rejected["refund"], rejected["decision_note"]) == (
        "rejected",
        "Rejected (已驳回)",
        None,
        "户名不符",
    )


@pytest.mark.parametrize(
    ("role", "status"), [*((r, 200) for r in VIEWERS), ("metering_tech", 403), (None, 401)]
)
def test_api_reads_matrix(client: Client, make_user: Any, role: str | None, status: int) -> None:
    request = pending_request(make_user)
    if role is not None:
        client.force_login(make_user(roles=[role]))

    listing = client.get(API)
    detail = client.get(f"{API}/{request.pk}")

    assert listing.status_code == status
    assert detail.status_code == (404 if status == 403 else status)
    if status == 200:
        assert [r["id"] for r in listing.json()["items"]] == [request.pk]
        assert detail.json()["requested_by"] != ""


def test_a_customer_reads_only_their_own_requests_without_staff_names(
    customer_client: Any, make_user: Any
) -> None:
    own = customer_client.account
    own.status, own.closed_on = AccountStatus.CLOSED, dt.date(2026, 10, 31)
    own.save()
    payment_post(actor="t", account_id=own.pk, amount="35.00", channel="wechat", idempotency_key="own")
    mine = pending_request(make_user, own, key="mine")
    theirs = pending_request(make_user, closed_with_credit(customer=CustomerFactory()), key="theirs")

    page = customer_client.get(API).json()
    detail = customer_client.get(f"{API}/{mine.pk}").json()

    assert [r["id"] for r in page["items"]] == [mine.pk]
    assert page["total"] == 1
    assert (detail["status"], detail["status_label"], detail["amount"]) == (
        "pending",
        "Pending approval (待审批)",
        "35.00",
    )
    assert (detail["requested_by"], detail["decided_by"], detail["decision_note"]) == ("", "", "")
    assert customer_client.get(f"{API}/{theirs.pk}").status_code == 404  # never confirmed
    assert customer_client.get(API, {"account": theirs.account.number}).json()["items"] == []


def test_openapi_documents_the_refund_request(staff_client: Any) -> None:
    schema = staff_client(roles=["counter_clerk"]).get("/api/openapi.json").json()

    out = schema["components"]["schemas"]["RefundRequestOut"]

    assert {"status", "status_label", "refund", "amount", "decided_at"} <= set(out["required"])
    assert f"{API}/{{refund_request_id}}/decide" in schema["paths"]
