"""A correction (退补) verifies the month it rebuilds: rated with the bill's own kWh it must
give what the bill charged, to the fen, or the amount is entered by hand
(``services.adjustments.correction_rating``, :data:`NOT_REPRODUCED`); its registers are the
ones the bill records, summed by the run's rule (``period_data.recorded_register_sums``); a
meter-verification record (验表退补) whose period holds a bill that cannot be re-rated names
it and takes its amount by hand on the settle page (docs/billing-bills.md, "Corrections").

HEBS-RES-LV: annual tiers 0–2,160 / 2,161–3,360 kWh at 0.52 / 0.57 yuan.
HEBS-RES-LV-TOU, first tier: peak 0.55, valley 0.30.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from gridcare.billing.choices import AdjustmentKind, BillStatus, DocumentStatus
from gridcare.billing.models import Bill, BillAdjustment
from gridcare.billing.services.adjustments import (
    NO_READINGS,
    bill_adjustment_decide,
    bill_adjustment_request,
    bill_adjustments_from_meter_adjustment,
    correction_rating,
)
from gridcare.billing.services.period_data import recorded_register_sums
from gridcare.billing.tests.factories import TZ
from gridcare.billing.tests.factories_bills import meter_adjustment, notice_bill
from gridcare.billing.tests.runs_fixtures import (
    CLOSING,
    OCT,
    OPENING,
    at,
    billable_account,
    new_meter,
    put_reading,
)
from gridcare.billing.tests.test_adjustments_two_part import issued_october_bill
from gridcare.core.errors import ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.customers.tests.factories import AccountFactory
from gridcare.metering.choices import AdjustmentStatus
from gridcare.metering.services.assets import meter_exchange

pytestmark = pytest.mark.django_db

SEP = dt.date(2026, 9, 1)
NOV = dt.date(2026, 11, 1)


@pytest.fixture
def clerk(make_user):
    return make_user(roles=["billing_clerk"], username="clerk")


@pytest.fixture
def manager(make_user):
    return make_user(roles=["service_manager"], username="manager")


def refund(clerk: Any, bill: Bill, kwh: str, **fields: Any) -> BillAdjustment:
    return bill_adjustment_request(
        actor=clerk, bill_id=bill.pk, kind=AdjustmentKind.REFUND, kwh=kwh, reason=f"多抄 {kwh} kWh", **fields
    )


# --- (a) the year's tier position is verified, not assumed --------------------------------------


def test_a_bill_whose_tier_position_moved_since_it_was_issued_asks_for_the_amount(clerk, manager):
    # given September billed 2,000 kWh and October 140 kWh by the run, all in tier 1 (the
    # year stood at 2,000): 140 × 0.52 = 72.80
    acct, meter = billable_account(tariff_code="HEBS-RES-LV", start="1000", end="1140")
    september = notice_bill(
        account=acct, period=SEP, kwh="2000.000", amount="1040.00", tariff_code="HEBS-RES-LV"
    )
    october = issued_october_bill(acct)
    assert (october.kwh, october.amount) == (Decimal("140.000"), Decimal("72.80"))
    # and then 60 kWh back-billed on September and approved: the year now stands at 2,060
    # before October, where 140 kWh rate to 100 × 0.52 + 40 × 0.57 = 74.80
    missed = bill_adjustment_request(
        actor=clerk, bill_id=september.pk, kind=AdjustmentKind.BACKBILL, kwh="60", reason="九月漏抄"
    )
    assert missed.amount == Decimal("31.20")
    bill_adjustment_decide(actor=manager, adjustment_id=missed.pk, approve=True)
    documents, events = BillAdjustment.objects.count(), AuditEvent.objects.count()

    # when 100 kWh of October are to be refunded by re-rating
    with pytest.raises(ValidationFailed) as caught:
        refund(clerk, october, "100")

    # then it is refused (not −54.00 = 20.80 − 74.80 at today's position), saying the
    # bill's rating is not reproduced, and nothing is written
    assert caught.value.field == "amount"
    message = str(caught.value.message)
    assert "74.80" in message
    assert "72.80" in message
    assert "enter the amount by hand" in message
    assert (BillAdjustment.objects.count(), AuditEvent.objects.count()) == (documents, events)
    # and the amount entered by hand is accepted: 100 × 0.52 as billed
    by_hand = refund(clerk, october, "100", amount="52.00")
    assert (by_hand.kwh, by_hand.amount) == (Decimal("-100.000"), Decimal("-52.00"))


def test_a_bill_whose_earlier_corrections_move_the_start_is_verified_at_its_own_kwh(clerk):
    # given a 200 kWh / 105.00 monthly-tier bill (180 × 0.52 + 20 × 0.57) with 50 kWh
    # refunded already (pending)
    bill = notice_bill(kwh="200.000", amount="105.00")
    first = refund(clerk, bill, "50")
    assert first.amount == Decimal("-27.00")  # 150 × 0.52 = 78.00 − 105.00

    # when 50 kWh more are refunded, re-rating from the 150 kWh the first left
    second = refund(clerk, bill, "50")

    # then the bill's own 200 kWh reproduce 105.00 (verified), and the second refund is
    # priced from 150 → 100 kWh: 52.00 − 78.00 = −26.00
    assert second.amount == Decimal("-26.00")


# --- (b) a meter exchange inside the month, from the recorded readings ---------------------------


def exchanged_on_the_15th(tariff_code: str) -> tuple[Any, Any]:
    """An account whose total-only meter read 100 kWh (200 → 300) until its exchange on 15
    October for a peak/valley meter that read 40 peak + 20 valley (60 total) to 1 November."""
    acct, _old = billable_account(tariff_code=tariff_code, start="200", end=None)
    new = new_meter(registers=("total", "peak", "valley"))
    meter_exchange(
        actor="test",
        account=acct,
        new_meter=new,
        at=at(dt.date(2026, 10, 15)),
        old_final_readings={"total": "300"},
        new_initial_readings={"total": "0", "peak": "0", "valley": "0"},
        reason="upgrade",
    )
    for register, value in {"total": "60", "peak": "40", "valley": "20"}.items():
        put_reading(new, register, CLOSING, value)
    return acct, new


def test_an_exchange_month_whose_readings_are_gone_is_corrected_with_the_runs_split(clerk):
    # given the run's October bill of an exchange from a total-only to a peak/valley meter:
    # the old meter's 100 kWh split 2:1 like the new one's (66.667 peak, 33.333 valley), so
    # 106.667 × 0.55 + 53.333 × 0.30 = 58.67 + 16.00 = 74.67
    acct, new = exchanged_on_the_15th("HEBS-RES-LV-TOU")
    bill = issued_october_bill(acct)
    assert (bill.kwh, bill.amount) == (Decimal("160.000"), Decimal("74.67"))
    # its readings record each meter's part: total:<old>, total:<new>, peak, valley
    assert sorted(key.split(":")[0] for key in bill.readings) == ["peak", "total", "total", "valley"]
    # and the new meter's 1 November readings since marked suspect: they are gone
    for register, value in {"total": "60", "peak": "40", "valley": "20"}.items():
        put_reading(new, register, CLOSING, value, quality="suspect")

    # when 80 kWh are refunded
    adjustment = refund(clerk, bill, "80")

    # then the recorded readings are summed by the run's rule (not 140 peak + 20 valley, the
    # old part all in the biggest register: 83.00 billed, −41.50), the billed side is the
    # bill, and the 80 kWh left keep the 2:1 split: 53.334 × 0.55 + 26.666 × 0.30 = 29.33 +
    # 8.00 = 37.33 → −37.34
    rating = correction_rating(bill=bill, corrected_kwh=Decimal("80"))
    assert rating["original_fen"] == 7467
    assert adjustment.amount == Decimal("-37.34")


# --- (c) readings edited after the bill was issued ------------------------------------------------


def test_readings_edited_after_issue_do_not_change_the_billed_proportions(clerk):
    # given a peak/valley account billed 100 kWh by the run: 60 peak + 40 valley = 33.00 +
    # 12.00 = 45.00
    acct, meter = billable_account(
        tariff_code="HEBS-RES-LV-TOU", registers=("total", "peak", "valley"), start="1000", end="1100"
    )
    for register, start, end in (("peak", "0", "60"), ("valley", "0", "40")):
        put_reading(meter, register, OPENING, start)
        put_reading(meter, register, CLOSING, end)
    bill = issued_october_bill(acct)
    assert bill.amount == Decimal("45.00")
    # and since then the closing readings edited (a misread, the reason for this 退补): 80
    # kWh, 50 peak + 30 valley
    put_reading(meter, "total", CLOSING, "1080", quality="edited")
    put_reading(meter, "peak", CLOSING, "50", quality="edited")
    put_reading(meter, "valley", CLOSING, "30", quality="edited")

    # when the 20 kWh misread are refunded
    adjustment = refund(clerk, bill, "20")

    # then both sides keep the proportions the bill was rated with (60:40), so the billed
    # side is the bill's 45.00 (not 62.5 peak + 37.5 valley = 45.63) and the 80 kWh left
    # are 48 × 0.55 + 32 × 0.30 = 26.40 + 9.60 = 36.00 → −9.00 (not −9.13)
    assert adjustment.amount == Decimal("-9.00")
    energy = [line for line in adjustment.lines if line["kind"] == "energy"]
    assert sorted((line["item"], line["kwh"], line["amount"]) for line in energy) == [
        ("energy_tier1_peak", "-12.000", "-6.60"),
        ("energy_tier1_valley", "-8.000", "-2.40"),
    ]


def test_a_tou_bill_whose_total_register_differs_from_its_tou_sum_is_not_refused(clerk):
    # given a peak/valley account whose total register read 100.100 kWh while its TOU
    # registers read 60 + 40 (within VEE's TOU tolerance): the run rates the TOU registers,
    # 60 × 0.55 + 40 × 0.30 = 33.00 + 12.00 = 45.00 for 100 kWh
    acct, meter = billable_account(
        tariff_code="HEBS-RES-LV-TOU", registers=("total", "peak", "valley"), start="1000", end="1100.100"
    )
    for register, start, end in (("peak", "0", "60"), ("valley", "0", "40")):
        put_reading(meter, register, OPENING, start)
        put_reading(meter, register, CLOSING, end)
    bill = issued_october_bill(acct)
    assert (bill.kwh, bill.amount) == (Decimal("100.000"), Decimal("45.00"))

    # when 10 kWh are refunded, the bill is reproduced from the registers it was rated on
    # (not the total's 100.100 scaled down to 60.04 + 39.96 = 45.01) and the 90 kWh left
    # keep its 60:40: 54 × 0.55 + 36 × 0.30 = 29.70 + 10.80 = 40.50 → −4.50
    adjustment = refund(clerk, bill, "10")

    assert adjustment.amount == Decimal("-4.50")


# --- (d) a meter-verification record with a bill that cannot be re-rated ------------------------


def issued_without_readings(
    account: Any, *, period: dt.date, kwh: str, amount: str, tariff_code: str
) -> Bill:
    """An issued bill that records no readings (its meter's readings gone too)."""
    bill = notice_bill(
        account=account,
        period=period,
        kwh=kwh,
        amount=amount,
        tariff_code=tariff_code,
        status=BillStatus.DRAFT,
    )
    Bill.objects.filter(pk=bill.pk).update(readings={})
    Bill.objects.filter(pk=bill.pk).update(
        status=BillStatus.ISSUED,
        issued_at=dt.datetime(2026, 12, 5, 9, tzinfo=TZ),
        due_date=dt.date(2026, 12, 20),
    )
    bill.refresh_from_db()
    return bill


def a_record_over_october_and_november() -> tuple[Bill, Bill, Any]:
    """A meter 5 % fast over 16 October – 15 November; October's peak/valley bill (60 + 40
    kWh, 45.00) can be re-rated, November's (90 kWh, 40.50) records no readings."""
    account = AccountFactory(tariff_code="HEBS-RES-LV-TOU")
    october = notice_bill(
        account=account,
        period=OCT,
        kwh="100.000",
        amount="45.00",
        tariff_code="HEBS-RES-LV-TOU",
        readings={
            "peak": {"meter": "M0001", "start": "0", "end": "60", "multiplier": "1.00", "kwh": "60.000"},
            "valley": {"meter": "M0001", "start": "0", "end": "40", "multiplier": "1.00", "kwh": "40.000"},
        },
    )
    november = issued_without_readings(
        account, period=NOV, kwh="90.000", amount="40.50", tariff_code="HEBS-RES-LV-TOU"
    )
    record = meter_adjustment(
        account, error_pct="5.00", start=dt.date(2026, 10, 16), end=dt.date(2026, 11, 15)
    )
    return october, november, record


def test_a_meter_record_with_a_bill_that_cannot_be_re_rated_names_it_and_writes_nothing(clerk):
    october, november, record = a_record_over_october_and_november()
    events = AuditEvent.objects.count()

    # when the record is settled
    with pytest.raises(ValidationFailed) as caught:
        bill_adjustments_from_meter_adjustment(actor=clerk, meter_adjustment_id=record.pk)

    # then the message names November's bill and why, says what to do on this page, and
    # nothing is written: no document, no audit row, the record still open
    message = str(caught.value.message)
    assert november.number in message
    assert october.number not in message
    assert str(NO_READINGS) in message
    assert message.startswith("These bills cannot be re-rated, so no correction was created")
    assert "Enter the amount of each of them" in message
    assert not BillAdjustment.objects.exists()
    assert AuditEvent.objects.count() == events
    record.refresh_from_db()
    assert record.status == AdjustmentStatus.OPEN


def test_a_meter_record_takes_the_amount_of_a_bill_that_cannot_be_re_rated_by_hand(clerk):
    october, november, record = a_record_over_october_and_november()

    # when it is settled with November's amount entered (ΔW = 90 × 15/30 × 5/105 = 2.143
    # kWh; the clerk's own figure 0.96)
    created = bill_adjustments_from_meter_adjustment(
        actor=clerk, meter_adjustment_id=record.pk, amounts={november.pk: "0.96"}
    )

    # then October is re-rated (97.542 kWh: 58.526 peak + 39.016 valley = 32.19 + 11.70 =
    # 43.89 → −1.11) and November takes the amount, as a refund, without per-item lines
    by_bill = {a.bill_id: a for a in created}
    assert (by_bill[october.pk].kwh, by_bill[october.pk].amount) == (Decimal("-2.458"), Decimal("-1.11"))
    hand = by_bill[november.pk]
    assert (hand.kind, hand.kwh, hand.amount, hand.lines) == (
        AdjustmentKind.REFUND,
        Decimal("-2.143"),
        Decimal("-0.96"),
        [],
    )
    assert "金额手工录入" in hand.reason
    assert all(a.status == DocumentStatus.PENDING and a.meter_adjustment_id == record.pk for a in created)
    assert AuditEvent.objects.filter(action="bill_adjustment.request").count() == 2
    record.refresh_from_db()
    assert record.status == AdjustmentStatus.SETTLED


@pytest.mark.parametrize(
    ("entered", "words"),
    [
        pytest.param("0.961", "2 decimal places", id="fen"),
        pytest.param("abc", "Enter a number", id="not-a-number"),
        pytest.param("40.51", "cannot exceed the billed amount", id="above-the-bill"),
        pytest.param("1e30", "too large", id="huge"),
    ],
)
def test_a_wrong_amount_by_hand_names_its_bill_and_writes_nothing(clerk, entered, words):
    _october, november, record = a_record_over_october_and_november()

    with pytest.raises(ValidationFailed) as caught:
        bill_adjustments_from_meter_adjustment(
            actor=clerk, meter_adjustment_id=record.pk, amounts={november.pk: entered}
        )

    assert caught.value.field == f"amount_{november.pk}"
    assert november.number in str(caught.value.message)
    assert words in str(caught.value.message)
    assert not BillAdjustment.objects.exists()
    record.refresh_from_db()
    assert record.status == AdjustmentStatus.OPEN


def test_the_settle_page_shows_the_refusal_and_takes_the_amount(staff_client):
    october, november, record = a_record_over_october_and_november()
    client = staff_client(roles=["billing_clerk"])
    url = reverse("billing:bill_meter_adjustment_settle", args=[record.pk])

    # the record's bills, each with its share and an amount field
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert october.number in body
    assert "2.143" in body
    assert f'name="amount_{november.pk}"' in body

    # "Create corrections" from the corrections page: refused, this page again with the message
    refused = client.post(url)
    assert refused.status_code == 200
    body = refused.content.decode()
    assert november.number in body
    assert "Enter the amount of each of them" in body
    assert not BillAdjustment.objects.exists()

    # November's amount entered: both corrections, the record settled
    done = client.post(url, {f"amount_{november.pk}": "0.96", f"amount_{october.pk}": ""})
    assert done.status_code == 302
    assert sorted(BillAdjustment.objects.values_list("amount", flat=True)) == [
        Decimal("-1.11"),
        Decimal("-0.96"),
    ]
    record.refresh_from_db()
    assert record.status == AdjustmentStatus.SETTLED


def test_the_settle_page_keeps_what_was_entered_when_it_is_refused(staff_client):
    _october, november, record = a_record_over_october_and_november()
    client = staff_client(roles=["billing_clerk"])
    url = reverse("billing:bill_meter_adjustment_settle", args=[record.pk])

    refused = client.post(url, {f"amount_{november.pk}": "0.961"})

    assert refused.status_code == 200
    body = refused.content.decode()
    assert 'value="0.961"' in body
    assert "2 decimal places" in body
    assert not BillAdjustment.objects.exists()


@pytest.mark.parametrize("roles", [["auditor"], ["hotline_agent"]])
def test_the_settle_page_needs_the_request_permission(staff_client, customer_client, roles):
    _october, _november, record = a_record_over_october_and_november()
    url = reverse("billing:bill_meter_adjustment_settle", args=[record.pk])
    assert Client().get(url).status_code == 302  # anonymous: to the login
    assert customer_client.get(url).status_code == 403
    assert staff_client(roles=roles).get(url).status_code == 403
    missing = reverse("billing:bill_meter_adjustment_settle", args=[10**9])
    assert staff_client(roles=["billing_clerk"]).get(missing).status_code == 404


# --- the run's register rule on recorded readings (no database) -----------------------------------


def _part(meter: str, kwh: str) -> dict[str, str]:
    return {"meter": meter, "start": "0", "end": kwh, "multiplier": "1.00", "kwh": kwh}


@pytest.mark.parametrize(
    ("kind", "readings", "expected"),
    [
        pytest.param(
            "gic_tou",
            {
                "total:A": _part("A", "100.000"),
                "total:B": _part("B", "60.000"),
                "peak": _part("B", "30.000"),
                "flat": _part("B", "20.000"),
                "valley": _part("B", "10.000"),
            },
            {"total": 160_000, "peak": 30_000, "flat": 120_000, "valley": 10_000},
            id="total-only-part-as-flat",
        ),
        pytest.param(
            "two_part",
            {
                "total:A": _part("A", "100.000"),
                "peak:A": _part("A", "50.000"),
                "flat:A": _part("A", "30.000"),
                "valley:A": _part("A", "20.000"),
                "reactive": _part("A", "75.000"),
                "total:B": _part("B", "60.000"),
                "peak:B": _part("B", "30.000"),
                "flat:B": _part("B", "20.000"),
                "valley:B": _part("B", "10.000"),
            },
            {"total": 160_000, "peak": 80_000, "flat": 50_000, "valley": 30_000, "reactive": 120_000},
            id="reactive-of-one-part-scaled",
        ),
        pytest.param(
            "res_tou",
            {"total": _part("A", "100.000"), "peak": _part("A", "60.000"), "valley": _part("A", "40.000")},
            {"total": 100_000, "peak": 60_000, "valley": 40_000},
            id="one-meter",
        ),
        pytest.param("res_tou", {"total": {"meter": "A"}, "note": "x"}, {}, id="nothing-usable"),
    ],
)
def test_recorded_readings_are_summed_by_the_runs_exchange_rule(kind, readings, expected):
    # the same figures as the run's own frames (test_period_data, "exchange")
    assert recorded_register_sums(readings, kind=kind) == expected


def test_an_amount_for_a_bill_that_can_be_re_rated_is_refused(clerk):
    """The re-rated amount is the rule: an amount typed for October (which can be re-rated)
    is refused with its bill named, and nothing is written."""
    october, november, record = a_record_over_october_and_november()

    with pytest.raises(ValidationFailed) as caught:
        bill_adjustments_from_meter_adjustment(
            actor=clerk, meter_adjustment_id=record.pk, amounts={october.pk: "5.00", november.pk: "0.96"}
        )

    assert caught.value.field == f"amount_{october.pk}"
    assert str(caught.value.message) == f"Bill {october.number} can be re-rated: leave its amount empty."
    assert not BillAdjustment.objects.exists()
    record.refresh_from_db()
    assert record.status == AdjustmentStatus.OPEN


def test_a_meter_record_prices_a_bill_from_what_its_earlier_corrections_left(clerk, manager):
    """A bill already corrected is priced from what it stands at, as any correction is.
    Given an account at 2,000 kWh in the year (prepaid charges to 30 September) whose
    October bill of 200 kWh was 160 in tier 1 + 40 in tier 2 = 83.20 + 22.80 = 106.00, and
    an approved refund of 100 of them (−22.80 − 31.20 = −54.00): October stands at 100
    kWh, all in tier 1."""
    from gridcare.billing.tests.test_adjustments_fallback import prepaid_charge
    from gridcare.metering.models import Adjustment as MeterAdjustment

    acct, meter = billable_account(
        tariff_code="HEBS-RES-LV", start="1000", end="1200", billing_mode_since=OCT
    )
    prepaid_charge(acct, day=dt.date(2026, 9, 30), days=30, kwh="2000")
    bill = issued_october_bill(acct)
    assert bill.amount == Decimal("106.00")
    earlier = refund(clerk, bill, "100")
    assert earlier.amount == Decimal("-54.00")
    bill_adjustment_decide(actor=manager, adjustment_id=earlier.pk, approve=True)
    # when a meter 5 % fast over all of October is settled: ΔW = 200 × 5/105 = 9.524 kWh
    record = MeterAdjustment.objects.create(
        account=acct,
        meter=meter,
        direction="refund",
        error_pct=Decimal("5.00"),
        period_start=OCT,
        period_end=dt.date(2026, 10, 31),
        rule="test",
    )

    [created] = bill_adjustments_from_meter_adjustment(actor=clerk, meter_adjustment_id=record.pk)

    # then it comes off the 100 kWh left, in tier 1: 9.524 × 0.52 = 4.95 (not 9.524 × 0.57
    # = 5.43 from the 200 kWh billed, in tier 2)
    assert (created.kwh, created.amount) == (Decimal("-9.524"), Decimal("-4.95"))


def test_scaling_follows_the_registers_the_tariff_rates():
    """``_scaled`` keeps the engine's own energy: a residential peak/valley row with a flat
    register too is scaled on peak + valley (the flat register is not rated), so at the
    bill's kWh the row is the bill's; with no energy in the rated registers the split cannot
    be told for peak/valley, and goes to flat (as the engine rates a total-only meter) for
    an agency tariff."""
    from gridcare.billing.services.adjustments import NO_SPLIT, _scaled

    row = {"total_wh": 230_000, "peak_wh": 120_000, "valley_wh": 80_000, "flat_wh": 30_000}
    same = _scaled(row, 200_000, "res_tou")
    assert (same["peak_wh"], same["valley_wh"]) == (120_000, 80_000)
    half = _scaled(row, 100_000, "res_tou")
    assert (half["peak_wh"], half["valley_wh"]) == (60_000, 40_000)
    stuck = {"total_wh": 0, "peak_wh": 0, "valley_wh": 0, "flat_wh": 0, "sharp_wh": 0}
    with pytest.raises(ValidationFailed) as caught:
        _scaled(stuck, 50_000, "res_tou")
    assert caught.value.message == NO_SPLIT
    agency = _scaled(stuck, 50_000, "gic_tou")
    assert (agency["flat_wh"], agency["peak_wh"], agency["total_wh"]) == (50_000, 0, 50_000)


def test_a_meter_refund_beyond_what_earlier_corrections_left_takes_an_amount_by_hand(clerk, manager):
    """October billed 106.00 (200 kWh) and an approved refund of 104.00 by amount alone
    leaves 2.00: the fast meter's re-rated refund (9.524 kWh, 5.43) would take back more, so
    the bill is named for an amount by hand, and 2.00 entered is taken."""
    from gridcare.billing.tests.test_adjustments_fallback import prepaid_charge
    from gridcare.metering.models import Adjustment as MeterAdjustment

    acct, meter = billable_account(
        tariff_code="HEBS-RES-LV", start="1000", end="1200", billing_mode_since=OCT
    )
    prepaid_charge(acct, day=dt.date(2026, 9, 30), days=30, kwh="2000")
    bill = issued_october_bill(acct)
    earlier = refund(clerk, bill, "0", amount="104.00")
    bill_adjustment_decide(actor=manager, adjustment_id=earlier.pk, approve=True)
    record = MeterAdjustment.objects.create(
        account=acct,
        meter=meter,
        direction="refund",
        error_pct=Decimal("5.00"),
        period_start=OCT,
        period_end=dt.date(2026, 10, 31),
        rule="test",
    )

    with pytest.raises(ValidationFailed) as caught:
        bill_adjustments_from_meter_adjustment(actor=clerk, meter_adjustment_id=record.pk)
    assert bill.number in str(caught.value.message)
    assert "2.00 left" in str(caught.value.message)

    [created] = bill_adjustments_from_meter_adjustment(
        actor=clerk, meter_adjustment_id=record.pk, amounts={bill.pk: "2.00"}
    )
    assert (created.kwh, created.amount) == (Decimal("-9.524"), Decimal("-2.00"))


def test_an_energy_too_large_is_a_clear_error(clerk):
    account = AccountFactory(tariff_code="HEBS-RES-LV")
    bill = notice_bill(account=account, period=OCT, kwh="100.000", amount="52.00", tariff_code="HEBS-RES-LV")
    for kwh in ("1e26", "100000000000"):
        with pytest.raises(ValidationFailed) as caught:
            refund(clerk, bill, kwh)
        assert caught.value.field == "kwh"
        assert "too large" in str(caught.value.message)
