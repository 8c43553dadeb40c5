""" "Used by" of a late-fee waiver (违约金减免) on the waivers page and in the API: the payment
recorded on the waiver when it used it (``used_by`` / ``used_at``, written with that payment
— test_late_fee_waiver_use.py), its time, and the late fee that payment's allocation on the
bill did not collect; a reversed payment's waiver reads as serving the next payment
(docs/billing-payments.md "Late-fee waivers")."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from gridcare.billing.choices import PaymentChannel
from gridcare.billing.models import LateFeeWaiver, Payment
from gridcare.billing.services.late_fees import late_fee_waiver_decide, late_fee_waiver_request
from gridcare.billing.services.payments import payment_post, payment_reverse
from gridcare.billing.tests.factories_payments import business_account, ensure_policy, overdue_bill

pytestmark = pytest.mark.django_db
TZ = dt.timezone(dt.timedelta(hours=8))
PAY_DAY = dt.date(2026, 1, 10)  # 21 days after the due date: 1,000.00 paid carries 52.00 of fee
API = "/api/billing/late-fee-waivers"
VIEWERS = [
    "counter_clerk",
    "billing_clerk",
    "hotline_agent",
    "service_manager",
    "marketing_manager",
    "auditor",
]


@pytest.fixture(autouse=True)
def _policy(db: None) -> None:
    ensure_policy()


@pytest.fixture
def people(make_user: Any) -> dict[str, Any]:
    return {
        "clerk": make_user(roles=["counter_clerk"], username="clerk"),
        "manager": make_user(roles=["service_manager"], username="manager"),
    }


def a_bill(account: Any | None = None) -> Any:
    """A 一般工商业 bill of 10,000.00 due 2025-12-20."""
    return overdue_bill(
        account=account or business_account(),
        period=dt.date(2025, 11, 1),
        amount="10000.00",
        due_date=dt.date(2025, 12, 20),
    )


def waiver(people: dict[str, Any], bill: Any, amount: str = "30.00", *, approve: bool | None = True) -> Any:
    w = late_fee_waiver_request(actor=people["clerk"], bill_id=bill.pk, amount=amount, reason="系统故障")
    if approve is not None:
        w = late_fee_waiver_decide(actor=people["manager"], waiver_id=w.pk, approve=approve)
    return w


def pay(people: dict[str, Any], bill: Any, key: str) -> Payment:
    return payment_post(
        actor=people["clerk"],
        account_id=bill.account_id,
        amount="1000.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key=key,
        received_at=dt.datetime.combine(PAY_DAY, dt.time(10), tzinfo=TZ),
    )


def used_rows(html: str) -> list[tuple[str, str]]:
    """(data-used-by, the cell's text) per row of the waivers table, in the page's order."""
    cells = re.findall(r'<td class="waiver-used" data-used-by="([^"]*)">(.*?)</td>', html, re.S)
    return [(number, re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", text)).strip()) for number, text in cells]


def used_cells(html: str) -> dict[str, str]:
    """The payment's receipt number → the cell's text, for the rows of used waivers."""
    return {number: text for number, text in used_rows(html) if number}


def local(moment: dt.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


# --- the page --------------------------------------------------------------------------------


def test_the_waivers_page_shows_which_payment_used_each_waiver_and_when(
    people: dict[str, Any], staff_client: Any
) -> None:
    # Given a waiver of 100.00 used by a payment whose fee was 52.00 (the rest lapsed), an
    # approved waiver not used yet, a pending and a rejected one
    bill = a_bill()
    used = waiver(people, bill, "100.00")
    payment = pay(people, bill, "p1")
    unused = waiver(people, a_bill())
    waiver(people, bill, "5.00", approve=None)
    waiver(people, bill, "6.00", approve=False)
    used.refresh_from_db()

    # When the waivers page is opened
    html = staff_client(roles=["counter_clerk"]).get(reverse("billing:payments_waivers")).content.decode()

    # Then the used one names its payment (linked to the receipt), when, and the fee waived
    assert '<th scope="col">Used by</th>' in html
    cells = used_cells(html)
    assert cells[payment.number] == (
        f"{payment.number} · {local(used.used_at)} "
        "Late fee this payment did not collect on the bill (all its waivers): ¥52.00"
    )
    assert f'<a href="{reverse("billing:payments_receipt", args=[payment.pk])}">{payment.number}</a>' in html
    # and the others say not used yet (approved) or nothing (pending, rejected)
    assert sorted(text for number, text in used_rows(html) if not number) == ["Not used yet", "—", "—"]
    assert unused.used_by is None


def test_a_reversed_payment_shows_the_waiver_serving_the_next_one(
    people: dict[str, Any], staff_client: Any
) -> None:
    bill = a_bill()
    waiver(people, bill)
    first = pay(people, bill, "p1")
    payment_reverse(actor=people["manager"], payment_id=first.pk, reason="银行退票")
    client = staff_client(roles=["service_manager"])

    html = client.get(reverse("billing:payments_waivers")).content.decode()
    assert "Payment reversed: the waiver serves the next payment" in used_cells(html)[first.number]

    second = pay(people, bill, "p2")
    cells = used_cells(client.get(reverse("billing:payments_waivers")).content.decode())
    assert list(cells) == [second.number]
    assert cells[second.number].endswith("(all its waivers): ¥30.00")


def test_the_waivers_page_queries_do_not_grow_with_rows(people: dict[str, Any], staff_client: Any) -> None:
    client = staff_client(roles=["counter_clerk"])
    counts = []
    for n in (1, 4):
        for i in range(n):
            bill = a_bill()
            waiver(people, bill)
            pay(people, bill, f"q{n}-{i}")
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("billing:payments_waivers")).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


# --- the API ---------------------------------------------------------------------------------


def test_the_api_gives_the_payment_that_used_a_waiver(people: dict[str, Any], staff_client: Any) -> None:
    bill = a_bill()
    used = waiver(people, bill, "100.00")
    payment = pay(people, bill, "p1")
    unused = waiver(people, a_bill())
    used.refresh_from_db()
    client = staff_client(roles=["billing_clerk"])

    detail = client.get(f"{API}/{used.pk}").json()
    listing = client.get(API).json()

    assert (detail["used_by"], detail["used_by_id"], detail["used"], detail["fee_waived"]) == (
        payment.number,
        payment.pk,
        True,
        "52.00",
    )
    assert abs(dt.datetime.fromisoformat(detail["used_at"]) - used.used_at) < dt.timedelta(milliseconds=1)
    assert (detail["bill"], detail["bill_number"], detail["account"]) == (
        bill.pk,
        bill.number,
        bill.account.number,
    )
    assert {w["id"]: (w["used_by"], w["used"], w["fee_waived"]) for w in listing["items"]} == {
        used.pk: (payment.number, True, "52.00"),
        unused.pk: (None, False, None),
    }
    assert listing["total"] == 2
    # the payment it names has the allocation on the bill that waived the fee
    allocation = client.get(f"/api/billing/payments/{payment.pk}").json()["allocations"]
    assert [(a["bill"], a["late_fee"]) for a in allocation] == [(bill.number, "0.00")]


def test_the_api_after_a_reversal_and_the_next_payment(people: dict[str, Any], staff_client: Any) -> None:
    bill = a_bill()
    w = waiver(people, bill)
    first = pay(people, bill, "p1")
    payment_reverse(actor=people["manager"], payment_id=first.pk, reason="银行退票")
    client = staff_client(roles=["auditor"])

    reversed_ = client.get(f"{API}/{w.pk}").json()
    assert (reversed_["used_by"], reversed_["used"], reversed_["fee_waived"]) == (first.number, False, None)

    second = pay(people, bill, "p2")
    moved = client.get(f"{API}/{w.pk}").json()
    assert (moved["used_by"], moved["used_by_id"], moved["used"], moved["fee_waived"]) == (
        second.number,
        second.pk,
        True,
        "30.00",
    )


def test_the_api_filters_and_the_decision_answer(people: dict[str, Any], staff_client: Any) -> None:
    bill = a_bill()
    pending = waiver(people, bill, approve=None)
    other = waiver(people, a_bill())
    client = staff_client(roles=["service_manager"])

    assert [w["id"] for w in client.get(API, {"status": "pending"}).json()["items"]] == [pending.pk]
    by_account = client.get(API, {"account": other.bill.account.number}).json()["items"]
    assert [w["id"] for w in by_account] == [other.pk]
    decided = client.post(
        f"{API}/{pending.pk}/decide", data='{"approve": true}', content_type="application/json"
    ).json()
    assert (decided["status"], decided["used_by"], decided["used"], decided["fee_waived"]) == (
        "approved",
        None,
        False,
        None,
    )


@pytest.mark.parametrize(
    ("role", "status"),
    [*((r, 200) for r in VIEWERS), ("metering_tech", 403), ("inspector", 403), (None, 401)],
)
def test_api_waiver_reads_matrix(
    people: dict[str, Any], client: Client, make_user: Any, role: str | None, status: int
) -> None:
    w = waiver(people, a_bill())
    if role is not None:
        client.force_login(make_user(roles=[role]))

    listing = client.get(API)
    detail = client.get(f"{API}/{w.pk}")

    assert listing.status_code == status
    assert detail.status_code == (404 if status == 403 else status)
    if status == 200:
        assert [x["id"] for x in listing.json()["items"]] == [w.pk]
        assert detail.json()["id"] == w.pk
        assert client.get(f"{API}/{w.pk + 1000}").status_code == 404


def test_a_customer_reads_no_waiver_not_even_on_their_own_bill(
    people: dict[str, Any], customer_client: Any
) -> None:
    own = waiver(people, a_bill(customer_client.account))

    assert customer_client.get(API).status_code == 403
    assert customer_client.get(f"{API}/{own.pk}").status_code == 404
    assert LateFeeWaiver.objects.filter(pk=own.pk).exists()


def test_an_over_settling_refund_does_not_count_the_fee_waived_twice(
    people: dict[str, Any], staff_client: Any
) -> None:
    """An approved refund (退补) on a bill already paid moves the excess to the balance: the
    payment's allocation on the bill is marked reversed and written again, carrying its
    late_fee_waived (adjustments._credit_over_settlement). The waiver still shows the fee
    waived once, from the live allocation."""
    from gridcare.billing.choices import AdjustmentKind
    from gridcare.billing.models import PaymentAllocation
    from gridcare.billing.services.adjustments import bill_adjustment_decide, bill_adjustment_request

    bill = a_bill()
    used = waiver(people, bill, "100.00")
    payment = payment_post(
        actor=people["clerk"],
        account_id=bill.account_id,
        amount="12000.00",  # the whole bill and its fee, the rest to the balance
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="all",
        received_at=dt.datetime.combine(PAY_DAY, dt.time(10), tzinfo=TZ),
    )
    before = staff_client(roles=["billing_clerk"]).get(f"{API}/{used.pk}").json()["fee_waived"]
    refund = bill_adjustment_request(
        actor=make_clerk(people),
        bill_id=bill.pk,
        kind=AdjustmentKind.REFUND,
        kwh=0,
        amount="500.00",
        reason="抄表差错",
    )
    bill_adjustment_decide(actor=people["manager"], adjustment_id=refund.pk, approve=True)
    assert PaymentAllocation.objects.filter(payment=payment, bill=bill, reversed=True).exists()

    after = staff_client(roles=["billing_clerk"]).get(f"{API}/{used.pk}").json()
    assert after["fee_waived"] == before == "100.00"
    html = staff_client(roles=["counter_clerk"]).get(reverse("billing:payments_waivers")).content.decode()
    assert used_cells(html)[payment.number].endswith("(all its waivers): ¥100.00")


def make_clerk(people: dict[str, Any]) -> Any:
    """The clerk who may also request 退补 (billing_clerk rights on top of the counter's)."""
    from django.contrib.auth.models import Group

    clerk = people["clerk"]
    clerk.groups.add(Group.objects.get(name="billing_clerk"))
    return type(clerk).objects.get(pk=clerk.pk)
