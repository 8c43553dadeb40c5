"""A correction (退补) re-rates both sides with the power-factor rule its bill was rated
with, read from the bill's lines — not with today's rule (docs/billing-tariffs.md,
"Corrections (退补)"; ``services.adjustments._billed_pf_rule``).

The bills "issued before today" are October bills of today's run turned back into what the
run wrote before the standard went by class and capacity: lines without their tariff
version, and the power-factor line as the tariff version's standard gave it (or none).
Single-part HEBS-GIC-LV, 1,000 kWh: energy 387.00 + unfloated 21.30 + 186.20 + 14.80 =
609.30 (the adjustment's base) + funds 27.40 = 636.70.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from gridcare.billing.choices import AdjustmentKind, BillLineKind, BillStatus
from gridcare.billing.models import Bill, BillAdjustment
from gridcare.billing.services.adjustments import bill_adjustment_request, correction_rating
from gridcare.billing.services.runs import billing_run
from gridcare.billing.tests.runs_fixtures import CLOSING, OCT, OPENING, billable_account, put_reading
from gridcare.billing.tests.test_runs_power_factor import gic_account
from gridcare.core.errors import ValidationFailed
from gridcare.customers.tests.factories import ContractFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk(make_user):
    return make_user(roles=["billing_clerk"], username="clerk")


def issued_as_before_today(account, *, pf_amount: str | None) -> Bill:
    """The account's October bill as the run wrote it before today: lines without their
    tariff version, the power-factor line ``pf_amount`` (``None``: no line), issued."""
    bill = Bill.objects.get(account=account, period=OCT)
    pf = bill.lines.get(kind=BillLineKind.POWER_FACTOR)
    amount = bill.amount - pf.amount
    if pf_amount is None:
        pf.delete()
    else:
        bill.lines.filter(pk=pf.pk).update(amount=Decimal(pf_amount))
        amount += Decimal(pf_amount)
    bill.lines.update(tariff_version=None)
    Bill.objects.filter(pk=bill.pk).update(
        amount=amount,
        status=BillStatus.ISSUED,
        issued_at=dt.datetime(2026, 11, 5, 9, tzinfo=dt.UTC),
        due_date=dt.date(2026, 11, 20),
    )
    bill.refresh_from_db()
    return bill


def pf_line(amount: str) -> dict[str, str]:
    return {"kind": "pf", "item": "pf_adjustment", "kwh": "0.000", "amount": amount}


def _pf_lines(lines: list[dict[str, str]]) -> list[dict[str, str]]:
    return [line for line in lines if line["kind"] == "pf"]


def test_a_correction_of_a_bill_without_a_power_factor_line_adds_no_adjustment(clerk):
    # given a 200 kVA general I&C account at pf 0.80 (today's rule: 0.85, +2.5 %) whose
    # October bill was issued without a power-factor line (636.70)
    acct = gic_account(kva="200", reactive="750")
    billing_run(period="2026-10", actor="clerk")
    bill = issued_as_before_today(acct, pf_amount=None)
    assert bill.amount == Decimal("636.70")

    # when 1,000 kWh more are back-billed (reactive energy in proportion: pf still 0.80)
    adjustment = bill_adjustment_request(
        actor=clerk, bill_id=bill.pk, kind=AdjustmentKind.BACKBILL, kwh="1000", reason="漏抄 1,000 kWh"
    )

    # then it is the consumption alone: 1,273.40 − 636.70 (not + 30.47 − 15.23 = 15.24 of a
    # power-factor charge the bill never had)
    assert adjustment.amount == Decimal("636.70")
    assert _pf_lines(adjustment.lines) == []
    assert BillAdjustment.objects.get(pk=adjustment.pk).amount == Decimal("636.70")


def test_a_correction_of_a_two_part_bill_uses_the_tariff_versions_standard_it_was_billed_at():
    # given a 160 kVA 大工业 account at 10 kV (today's rule: 0.85) at pf 0.80 whose October
    # bill was adjusted at HEBS-LI-10KV's own standard 0.90 (+5 %): basic 3,728.00 + energy
    # 387.00 + unfloated 21.30 + 121.60 + 14.80 = 4,272.70 × 5 % = 213.635 → 213.64
    acct, meter = billable_account(
        tariff_code="HEBS-LI-10KV",
        registers=("total", "reactive"),
        end="2000",
        customer_class="large_ind",
        voltage_level="10kv",
    )
    put_reading(meter, "reactive", OPENING, "0")
    put_reading(meter, "reactive", CLOSING, "750")
    ContractFactory(
        account=acct,
        kind="hv",
        capacity_kva=Decimal("160"),
        basic_charge_by="capacity",
        start_date=dt.date(2020, 1, 1),
    )
    billing_run(period="2026-10", actor="clerk")
    bill = issued_as_before_today(acct, pf_amount="213.64")

    # when 1,000 kWh more are re-rated
    rating = correction_rating(bill=bill, corrected_kwh=Decimal("2000"))

    # then both sides are adjusted at 0.90 as the bill was: 4,817.40 × 5 % = 240.87 − 213.64
    # = 27.23 (at 0.85 it would be 120.44 − 106.82 = 13.62)
    assert rating["original_fen"] == 451374  # the bill as issued: 4,300.10 + 213.64
    assert _pf_lines(rating["lines"]) == [
        {"kind": "pf", "item": "pf_adjustment", "kwh": "0.000", "amount": "27.23"}
    ]
    assert rating["amount"] == Decimal("599.33")  # 387.00 + 21.30 + 121.60 + 14.80 + 27.40 + 27.23


def test_a_correction_of_a_bill_rated_by_class_and_capacity_uses_the_accounts_standard():
    # given a bill of today's run (its lines record their version): 0.85 at pf 0.80, 15.23
    acct = gic_account(kva="200", reactive="750")
    billing_run(period="2026-10", actor="clerk")
    bill = Bill.objects.get(account=acct, period=OCT)

    rating = correction_rating(bill=bill, corrected_kwh=Decimal("2000"))

    # then 1,218.60 × 2.5 % = 30.465 → 30.47 − 15.23 = 15.24
    assert rating["original_fen"] == 65193  # the bill's 651.93
    assert _pf_lines(rating["lines"]) == [
        {"kind": "pf", "item": "pf_adjustment", "kwh": "0.000", "amount": "15.24"}
    ]


def test_a_bill_whose_standard_cannot_be_told_any_more_asks_for_the_amount():
    # given a bill of today's run adjusted at 0.85, and the account since recorded as
    # residential (which is never adjusted): the bill's standard is not derivable now
    acct = gic_account(kva="200", reactive="750")
    billing_run(period="2026-10", actor="clerk")
    bill = Bill.objects.get(account=acct, period=OCT)
    type(acct).objects.filter(pk=acct.pk).update(customer_class="urban_res")

    with pytest.raises(ValidationFailed) as caught:
        correction_rating(bill=bill, corrected_kwh=Decimal("2000"))

    assert caught.value.field == "amount"
