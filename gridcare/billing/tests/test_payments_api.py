"""Payments API: permission matrix, IDOR, the idempotency header, the signed callback."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client, override_settings

from gridcare.billing.choices import PaymentChannel, PaymentStatus
from gridcare.billing.models import Payment, PaymentCallbackLog
from gridcare.billing.services.payments import payment_post, sign_callback
from gridcare.billing.tests.factories_payments import ensure_policy, overdue_bill
from gridcare.customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
SECRETS = {"wechat": "s3cret-wechat", "alipay": "s3cret-alipay", "wsgw": "s3cret-wsgw"}


@pytest.fixture(autouse=True)
def _policy(db: None) -> None:
    ensure_policy()


def post_json(client: Any, url: str, data: dict[str, Any], **headers: str) -> Any:
    return client.post(url, data=json.dumps(data), content_type="application/json", headers=headers)


@pytest.mark.parametrize(
    ("roles", "status"),
    [
        (None, 401),
        (["hotline_agent"], 403),
        (["auditor"], 403),
        (["counter_clerk"], 200),
        (["billing_clerk"], 200),
    ],
)
def test_post_payment_permission_matrix(client: Client, make_user: Any, roles: Any, status: int) -> None:
    account = AccountFactory()
    if roles is not None:
        client.force_login(make_user(roles=roles))
    resp = post_json(
        client,
        "/api/billing/payments",
        {"account": account.number, "amount": "10.00"},
        **{"Idempotency-Key": "a1"},
    )
    assert resp.status_code == status, resp.content
    assert Payment.objects.count() == (1 if status == 200 else 0)


def test_customer_can_never_post(customer_client: Any) -> None:
    resp = post_json(
        customer_client,
        "/api/billing/payments",
        {"account": customer_client.account.number, "amount": "10.00"},
        **{"Idempotency-Key": "c1"},
    )
    assert resp.status_code == 403
    assert resp.json()["code"] == "permission_denied"
    assert not Payment.objects.exists()


def test_post_requires_the_idempotency_header_and_posts_once(staff_client: Any) -> None:
    client = staff_client(roles=["counter_clerk"])
    account = AccountFactory()
    overdue_bill(account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 30))
    resp = post_json(client, "/api/billing/payments", {"account": account.number, "amount": "52.00"})
    assert resp.status_code == 422
    assert resp.json()["field"] == "Idempotency-Key"
    for _ in range(2):
        resp = post_json(
            client,
            "/api/billing/payments",
            {"account": account.number, "amount": "52.00"},
            **{"Idempotency-Key": "dbl"},
        )
        assert resp.status_code == 200
    assert Payment.objects.count() == 1
    body = resp.json()
    assert body["allocations"][0]["principal"] == "52.00"
    assert body["channel"] == PaymentChannel.COUNTER_CASH


def test_a_counter_payment_cannot_be_dated_back_to_escape_the_late_fee(staff_client: Any) -> None:
    """The late fee counts to the payment day: a received_at on an earlier day would waive it
    with no waiver and no second person. Only today is accepted."""
    from django.utils import timezone

    client = staff_client(roles=["counter_clerk"])
    account = AccountFactory()
    overdue_bill(account=account, period=dt.date(2026, 8, 1), amount="1000.00", due_date=dt.date(2026, 9, 20))
    body = {"account": account.number, "amount": "1000.00", "received_at": "2026-09-19T10:00:00+08:00"}
    resp = post_json(client, "/api/billing/payments", body, **{"Idempotency-Key": "back"})
    assert resp.status_code == 422
    assert resp.json()["field"] == "received_at"
    naive = post_json(
        client,
        "/api/billing/payments",
        {**body, "received_at": "2026-09-19T10:00:00"},
        **{"Idempotency-Key": "nz"},
    )
    assert naive.status_code == 422  # without its time zone: refused by the payment service
    assert naive.json()["field"] == "received_at"
    assert not Payment.objects.exists()
    today = timezone.localtime().replace(microsecond=0).isoformat()
    resp = post_json(
        client, "/api/billing/payments", {**body, "received_at": today}, **{"Idempotency-Key": "now"}
    )
    assert resp.status_code == 200
    assert Decimal(resp.json()["allocations"][0]["late_fee"]) > 0


def test_post_bad_amount_names_the_field(staff_client: Any) -> None:
    client = staff_client(roles=["counter_clerk"])
    account = AccountFactory()
    resp = post_json(
        client,
        "/api/billing/payments",
        {"account": account.number, "amount": "1.001"},
        **{"Idempotency-Key": "x"},
    )
    assert resp.status_code == 422
    assert resp.json() == {"code": "validation_failed", "message": resp.json()["message"], "field": "amount"}
    resp = post_json(
        client, "/api/billing/payments", {"account": "nope", "amount": "1.00"}, **{"Idempotency-Key": "y"}
    )
    assert resp.status_code == 404
    assert not Payment.objects.exists()


@pytest.mark.parametrize(
    ("roles", "status"), [(None, 401), (["counter_clerk"], 403), (["service_manager"], 200)]
)
def test_reverse_permission_matrix(client: Client, make_user: Any, roles: Any, status: int) -> None:
    account = AccountFactory()
    payment = payment_post(
        actor="t", account_id=account.pk, amount="5.00", channel="counter_cash", idempotency_key="r"
    )
    if roles is not None:
        client.force_login(make_user(roles=roles))
    resp = post_json(client, f"/api/billing/payments/{payment.pk}/reverse", {"reason": "收错"})
    assert resp.status_code == status
    payment.refresh_from_db()
    assert payment.status == (PaymentStatus.REVERSED if status == 200 else PaymentStatus.POSTED)


def test_customer_sees_only_own_payments(customer_client: Any) -> None:
    own = payment_post(
        actor="t", account_id=customer_client.account.pk, amount="5.00", channel="wechat", idempotency_key="o"
    )
    other = payment_post(
        actor="t", account_id=AccountFactory().pk, amount="7.00", channel="wechat", idempotency_key="p"
    )
    resp = customer_client.get("/api/billing/payments")
    assert resp.status_code == 200
    assert [p["number"] for p in resp.json()] == [own.number]
    assert resp.json()[0]["posted_by"] == ""  # no staff names for customers, as in the portal
    assert customer_client.get(f"/api/billing/payments/{own.pk}").status_code == 200
    assert customer_client.get(f"/api/billing/payments/{own.pk}").json()["posted_by"] == ""
    assert customer_client.get(f"/api/billing/payments/{other.pk}").status_code == 404
    other_account = other.account.number
    assert customer_client.get(f"/api/billing/arrears/{other_account}").status_code == 404
    assert customer_client.get(f"/api/billing/arrears/{customer_client.account.number}").status_code == 200
    assert customer_client.get("/api/billing/arrears-aging").status_code == 403


def test_staff_without_view_sees_no_payments(staff_client: Any) -> None:
    payment = payment_post(
        actor="t", account_id=AccountFactory().pk, amount="5.00", channel="wechat", idempotency_key="o"
    )
    client = staff_client(roles=["metering_tech"])
    assert client.get("/api/billing/payments").status_code == 403
    assert client.get(f"/api/billing/payments/{payment.pk}").status_code == 404
    assert client.get(f"/api/billing/arrears/{payment.account.number}").status_code == 404
    assert client.get("/api/billing/arrears-aging").status_code == 403


def test_arrears_shows_late_fee_to_date(staff_client: Any) -> None:
    client = staff_client(roles=["counter_clerk"])
    account = AccountFactory()
    overdue_bill(account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 20))
    resp = client.get(f"/api/billing/arrears/{account.number}?as_of=2026-11-23")
    assert resp.status_code == 200
    body = resp.json()
    assert body["outstanding"] == "52.00"
    assert body["late_fee"] == "1.00"
    assert body["total_due"] == "53.00"


def test_aging_report_buckets(staff_client: Any) -> None:
    client = staff_client(roles=["billing_clerk"])
    account = AccountFactory()
    overdue_bill(account=account, period=dt.date(2026, 5, 1), amount="10.00", due_date=dt.date(2026, 5, 20))
    overdue_bill(account=account, period=dt.date(2026, 10, 1), amount="20.00", due_date=dt.date(2026, 11, 10))
    overdue_bill(account=account, period=dt.date(2026, 11, 1), amount="40.00", due_date=dt.date(2026, 12, 10))
    resp = client.get("/api/billing/arrears-aging?as_of=2026-11-26")
    assert resp.status_code == 200
    body = resp.json()
    assert body["buckets"] == ["not_due", "d1_30", "d31_60", "d61_90", "d91_180", "d181_plus"]
    assert [r["amounts"] for r in body["rows"]] == [["40.00", "20.00", "0.00", "0.00", "0.00", "10.00"]]
    assert body["grand_total"] == "70.00"
    assert client.get("/api/billing/arrears-aging?by=nonsense").status_code == 404


# --- the callback over HTTP -----------------------------------------------------------------


@override_settings(GRIDCARE_PAYMENT_SECRETS=SECRETS)
def test_callback_needs_no_session_nor_csrf_but_a_signature() -> None:
    client = Client(enforce_csrf_checks=True)
    account = AccountFactory()
    body = json.dumps(
        {"account": account.number, "amount": "52.00", "txn_id": "A9", "paid_at": "2026-11-25T10:00:00+08:00"}
    ).encode()
    url = "/api/billing/payments/callback/alipay"
    resp = client.post(url, data=body, content_type="application/json", headers={"X-Signature": "00" * 32})
    assert resp.status_code == 401
    assert resp.json()["code"] == "bad_signature"
    # A forged signature with non-ASCII characters is refused the same way (was a 500) and logged.
    logged = PaymentCallbackLog.objects.count()
    resp = client.post(url, data=body, content_type="application/json", headers={"X-Signature": "签名" * 16})
    assert resp.status_code == 401
    assert resp.json()["code"] == "bad_signature"
    assert PaymentCallbackLog.objects.count() == logged + 1
    sig = sign_callback(secret=SECRETS["alipay"], raw_body=body)
    resp = client.post(url, data=body, content_type="application/json", headers={"X-Signature": sig})
    assert resp.status_code == 200
    assert resp.json()["status"] == "accepted"
    resp = client.post(url, data=body, content_type="application/json", headers={"X-Signature": sig})
    assert resp.json()["status"] == "repeat"
    assert Payment.objects.get().amount == Decimal("52.00")
    assert PaymentCallbackLog.objects.count() == 4  # two rejected, accepted, repeat
    resp = client.post("/api/billing/payments/callback/wechat", data=b"{}", content_type="application/json")
    assert resp.status_code == 401


def test_waiver_endpoints(staff_client: Any, make_user: Any, client: Client) -> None:
    bill = overdue_bill(
        account=AccountFactory(), period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 20)
    )
    clerk = staff_client(roles=["counter_clerk"])
    resp = post_json(
        clerk, "/api/billing/late-fee-waivers", {"bill": bill.pk, "amount": "1.00", "reason": "x"}
    )
    assert resp.status_code == 200
    waiver_id = resp.json()["id"]
    resp = post_json(clerk, f"/api/billing/late-fee-waivers/{waiver_id}/decide", {"approve": True})
    assert resp.status_code == 403
    other = Client()
    other.force_login(make_user(roles=["service_manager"]))
    resp = post_json(other, f"/api/billing/late-fee-waivers/{waiver_id}/decide", {"approve": True})
    assert resp.status_code == 200
    assert resp.json()["status"] == "approved"


def test_staff_see_who_posted_a_payment(staff_client: Any) -> None:
    client = staff_client(roles=["billing_clerk"])
    payment = payment_post(
        actor="柜台张三", account_id=AccountFactory().pk, amount="5.00", channel="wechat", idempotency_key="s"
    )
    assert client.get(f"/api/billing/payments/{payment.pk}").json()["posted_by"] == "柜台张三"
