"""Arrears aging (欠费账龄): each part a bill owes is aged by its own due date — the bill's
own amount by the bill's, an approved back-billing (补收) by its own — with payments and
refunds settling the earliest due part first, as ``engine.late_fee.outstanding_parts``."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from gridcare.billing.choices import DocumentStatus
from gridcare.billing.selectors.payments import AGING_BUCKETS, arrears_aging, open_bills
from gridcare.billing.tests.factories_bills import decided_adjustment, pay
from gridcare.billing.tests.factories_payments import business_account, ensure_policy, overdue_bill
from gridcare.customers.choices import CustomerClass
from gridcare.customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2026, 11, 26)
KEYS = [key for key, _low, _high in AGING_BUCKETS]


@pytest.fixture(autouse=True)
def _policy(db: None) -> None:
    ensure_policy()


@pytest.fixture
def clerk(make_user: Any) -> Any:
    return make_user(roles=["billing_clerk"])


def days_ago(days: int) -> dt.date:
    return AS_OF - dt.timedelta(days=days)


def amounts(report: dict[str, Any]) -> dict[str, dict[str, Decimal]]:
    """group → bucket → amount, the empty buckets left out."""
    return {
        row["key"]: {key: amount for key, amount in zip(KEYS, row["amounts"], strict=True) if amount}
        for row in report["rows"]
    }


def bucket_of(due: dt.date) -> str:
    overdue = (AS_OF - due).days
    for key, low, high in AGING_BUCKETS:
        if (low is None or overdue >= low) and (high is None or overdue <= high):
            return key
    raise AssertionError(overdue)


def test_a_fresh_back_billing_on_an_old_paid_bill_is_not_181_days_overdue(clerk: Any) -> None:
    """Given a bill 200 days overdue whose own 100.00 is paid, and a back-billing of 62.00
    approved 10 days ago (due in 5 days, its own due date): the 62.00 is not yet due, not
    "over 180 days" by the bill's due date."""
    account = business_account()
    bill = overdue_bill(account=account, period=dt.date(2026, 4, 1), amount="100.00", due_date=days_ago(200))
    pay(bill, "100.00")
    decided_adjustment(bill, "62.00", due_date=AS_OF + dt.timedelta(days=5))
    report = arrears_aging(user=clerk, as_of=AS_OF)
    assert amounts(report) == {CustomerClass.GENERAL_IC: {"not_due": Decimal("62.00")}}
    assert report["totals"] == [Decimal("62.00"), *[Decimal("0.00")] * 5]
    assert report["grand_total"] == Decimal("62.00")
    assert [row["bills"] for row in report["rows"]] == [1]


def test_a_back_billing_due_10_days_ago_is_in_1_to_30(clerk: Any) -> None:
    account = business_account()
    bill = overdue_bill(account=account, period=dt.date(2026, 4, 1), amount="100.00", due_date=days_ago(200))
    pay(bill, "100.00")
    decided_adjustment(bill, "62.00", due_date=days_ago(10))
    report = arrears_aging(user=clerk, as_of=AS_OF)
    assert amounts(report) == {CustomerClass.GENERAL_IC: {"d1_30": Decimal("62.00")}}


def test_refunds_take_back_the_latest_charge_and_payments_settle_the_earliest_due(clerk: Any) -> None:
    """Bill A: own 100.00 due 200 days ago, back-billings 62.00 due 10 days ago and 20.00
    due in 5 days, then a refund of 10.00 and 30.00 paid: the refund takes back 10.00 of the
    latest charge (the 20.00: 10.00 left, not yet due), the 30.00 paid comes off the bill's
    own part (70.00 left, > 180 days), the 62.00 is owed whole in its own bucket.
    Bill B: own 100.00 due 95 days ago, back-billings 62.00 due 40 days ago and 20.00 due in
    5 days, 130.00 paid: the own part and 30.00 of the 62.00 are settled."""
    a = overdue_bill(
        account=business_account(), period=dt.date(2026, 4, 1), amount="100.00", due_date=days_ago(200)
    )
    decided_adjustment(a, "62.00", due_date=days_ago(10))
    decided_adjustment(a, "20.00", due_date=AS_OF + dt.timedelta(days=5))
    decided_adjustment(a, "-10.00")
    decided_adjustment(a, "500.00", status=DocumentStatus.PENDING)  # owes nothing yet
    pay(a, "30.00")
    b = overdue_bill(
        account=AccountFactory(customer_class=CustomerClass.URBAN_RESIDENTIAL),
        period=dt.date(2026, 8, 1),
        amount="100.00",
        due_date=days_ago(95),
    )
    decided_adjustment(b, "20.00", due_date=AS_OF + dt.timedelta(days=5))  # created first
    decided_adjustment(b, "62.00", due_date=days_ago(40))
    pay(b, "130.00")
    report = arrears_aging(user=clerk, as_of=AS_OF)
    assert amounts(report) == {
        CustomerClass.GENERAL_IC: {
            "not_due": Decimal("10.00"),
            "d1_30": Decimal("62.00"),
            "d181_plus": Decimal("70.00"),
        },
        CustomerClass.URBAN_RESIDENTIAL: {"not_due": Decimal("20.00"), "d31_60": Decimal("32.00")},
    }
    assert report["grand_total"] == sum(report["totals"]) == Decimal("194.00")
    assert [row["total"] for row in report["rows"]] == [Decimal("142.00"), Decimal("52.00")]
    # the same parts the late fee is counted on
    expected = dict.fromkeys(KEYS, Decimal("0.00"))
    for row in open_bills(account_ids=[a.account_id, b.account_id], as_of=AS_OF):
        for due, fen in row.parts:
            expected[bucket_of(due)] += Decimal(fen) / 100
    assert report["totals"] == [expected[key] for key in KEYS]


def test_by_transformer_the_back_billed_part_moves_within_its_transformer(clerk: Any) -> None:
    account = business_account()
    bill = overdue_bill(account=account, period=dt.date(2026, 4, 1), amount="100.00", due_date=days_ago(200))
    pay(bill, "40.00")
    decided_adjustment(bill, "62.00", due_date=days_ago(10))
    report = arrears_aging(user=clerk, as_of=AS_OF, by="transformer")
    code = account.service_point.transformer.code if account.service_point.transformer_id else "—"
    assert amounts(report) == {code: {"d1_30": Decimal("62.00"), "d181_plus": Decimal("60.00")}}
    assert report["grand_total"] == Decimal("122.00")


def test_the_api_and_the_excel_export_age_the_back_billing_by_its_own_due_date(staff_client: Any) -> None:
    client = staff_client(roles=["billing_clerk"])
    bill = overdue_bill(
        account=business_account(), period=dt.date(2026, 4, 1), amount="100.00", due_date=days_ago(200)
    )
    pay(bill, "100.00")
    decided_adjustment(bill, "62.00", due_date=AS_OF + dt.timedelta(days=5))
    body = client.get(f"/api/billing/arrears-aging?as_of={AS_OF:%Y-%m-%d}").json()
    assert body["totals"] == ["62.00", "0.00", "0.00", "0.00", "0.00", "0.00"]
    excel = client.get(reverse("billing:payments_aging"), {"as_of": f"{AS_OF:%Y-%m-%d}", "format": "xlsx"})
    with zipfile.ZipFile(io.BytesIO(excel.content)) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    # row 4 is the customer class, row 5 the totals: 62.00 under "not yet due" (column B)
    # and in the total (column H); nothing under "over 180 days" (column G)
    values = dict(re.findall(r'<c r="([A-Z]+\d+)"[^>]*><v>([^<]*)</v>', sheet))
    assert [values.get(f"{col}{row}") for row in (4, 5) for col in "BGH"] == ["62", "0", "62"] * 2
