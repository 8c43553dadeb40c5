"""A correction (退补) rebuilds its bill's period as the run built it whatever the account is
today — held for a suspect reading, closed, switched between prepaid and postpaid since —
with the run's one year-to-date rule and one contract rule
(``services.period_data.bill_period_data``; docs/billing-bills.md, "Corrections"); what can
no longer be rebuilt is refused, and the amount is entered by hand.

HEBS-RES-LV: annual tiers 0–2,160 / 2,161–3,360 kWh at 0.52 / 0.57 yuan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from gridcare.billing.choices import AdjustmentKind, BillStatus
from gridcare.billing.engine import rating as engine
from gridcare.billing.models import Bill, BillAdjustment, PrepaidCharge
from gridcare.billing.services.adjustments import (
    NO_BASIC_CHARGE,
    NO_READINGS,
    bill_adjustment_decide,
    bill_adjustment_request,
    correction_rating,
)
from gridcare.billing.services.period_data import period_data
from gridcare.billing.tests.factories_bills import notice_bill
from gridcare.billing.tests.runs_fixtures import CLOSING, OCT, billable_account, put_reading
from gridcare.billing.tests.test_adjustments_two_part import (
    ORIGINAL,
    billed_basic_lines,
    capacity_reduced_on_the_16th,
    issued_october_bill,
    rated_basic_lines,
)
from gridcare.core.errors import ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.core.money import fen_to_yuan
from gridcare.customers.choices import AccountStatus, ContractStatus
from gridcare.customers.models import Account, Contract
from gridcare.customers.tests.factories import AccountFactory
from gridcare.metering.models import Installation

pytestmark = pytest.mark.django_db

SEP = dt.date(2026, 9, 1)


@pytest.fixture
def clerk(make_user):
    return make_user(roles=["billing_clerk"], username="clerk")


@pytest.fixture
def manager(make_user):
    return make_user(roles=["service_manager"], username="manager")


@dataclass
class Rated:
    """A rating the engine made: the PERIOD frame it was given and its answer."""

    frame: pl.DataFrame
    rating: Any


@pytest.fixture
def rated(monkeypatch) -> list[Rated]:
    """Every rating the engine makes from now on (the correction's, once the run is done)."""
    made: list[Rated] = []
    real = engine.rate

    def spy(periods: pl.DataFrame, catalogue: Any) -> Any:
        rating = real(periods, catalogue)
        made.append(Rated(periods, rating))
        return rating

    monkeypatch.setattr(engine, "rate", spy)
    return made


def run_ytd_wh(account: Any) -> int:
    """The year-to-date Wh the run's own rule gives the account's October (while the run
    still selects it and does not hold it)."""
    row = period_data(period=OCT, account_lo=account.pk, account_hi=account.pk).periods.row(0, named=True)
    return int(row["ytd_wh_before"])


def held_for_a_suspect_closing_reading(account: Any, meter: Any, value: str) -> None:
    """The 1 November reading re-marked suspect (存疑) after the bill was issued: the run
    holds the account for a missing reading now."""
    put_reading(meter, "total", CLOSING, value, quality="suspect")
    data = period_data(period=OCT, account_lo=account.pk, account_hi=account.pk)
    assert data.periods.height == 0
    assert data.holds["account_id"].to_list() == [account.pk]


def refund_of_october(clerk: Any, bill: Bill, kwh: str) -> BillAdjustment:
    return bill_adjustment_request(
        actor=clerk, bill_id=bill.pk, kind=AdjustmentKind.REFUND, kwh=kwh, reason=f"多抄 {kwh} kWh"
    )


# --- one year-to-date rule -----------------------------------------------------------------------


def test_an_annual_tier_correction_of_a_held_account_counts_the_years_approved_corrections(
    clerk, manager, rated
):
    # given September billed 2,100 kWh, of which 100 refunded by an approved correction: the
    # year stands at 2,000 kWh before October
    acct, meter = billable_account(tariff_code="HEBS-RES-LV", start="1000", end="1200")
    september = notice_bill(
        account=acct, period=SEP, kwh="2100.000", amount="1092.00", tariff_code="HEBS-RES-LV"
    )
    earlier = bill_adjustment_request(
        actor=clerk,
        bill_id=september.pk,
        kind=AdjustmentKind.REFUND,
        kwh="100",
        amount="52.00",
        reason="九月多抄 100 kWh",
    )
    bill_adjustment_decide(actor=manager, adjustment_id=earlier.pk, approve=True)
    assert run_ytd_wh(acct) == 2_000_000
    # and October's 200 kWh billed by the run: 160 in tier 1 and 40 in tier 2,
    # 83.20 + 22.80 = 106.00
    bill = issued_october_bill(acct)
    assert bill.amount == Decimal("106.00")
    # and the account now held: the 1 November reading was re-marked suspect
    held_for_a_suspect_closing_reading(acct, meter, "1200")
    rated.clear()

    # when 100 kWh of October are refunded
    adjustment = refund_of_october(clerk, bill, "100")

    # then the correction stands at the run's 2,000 kWh (not 2,100, the issued bills alone):
    # the billed side is the bill, and the 100 kWh left are all in tier 1 (52.00) → −54.00
    [correction] = rated
    assert correction.frame["ytd_wh_before"].to_list() == [2_000_000, 2_000_000]
    assert adjustment.amount == Decimal("-54.00")
    assert sorted(
        (line["item"], line["kwh"], line["amount"]) for line in adjustment.lines if line["kind"] == "energy"
    ) == [
        ("energy_tier1", "-60.000", "-31.20"),
        ("energy_tier2", "-40.000", "-22.80"),
    ]


def prepaid_charge(account: Any, *, day: dt.date, days: int, kwh: str) -> None:
    """A daily prepaid charge (费控) of ``kwh`` for the ``days`` days ending on ``day``
    (given state: the prepaid module's rows)."""
    PrepaidCharge.objects.create(
        account=account,
        day=day,
        days=days,
        kwh=Decimal(kwh),
        amount=(Decimal(kwh) * Decimal("0.52")).quantize(Decimal("0.01")),
        balance_after=Decimal("0.00"),
        created_at=dt.datetime(2026, 10, 10, 1, tzinfo=dt.UTC),
    )


def test_an_annual_tier_correction_of_a_held_account_counts_the_years_prepaid_charges(clerk, rated):
    # given an account prepaid (费控) until 30 September, charged 2,000 kWh by the day, and
    # postpaid since 1 October: its October bill of 200 kWh stands at 2,000 kWh in the year
    acct, meter = billable_account(
        tariff_code="HEBS-RES-LV", start="1000", end="1200", billing_mode_since=OCT
    )
    prepaid_charge(acct, day=dt.date(2026, 9, 30), days=30, kwh="2000")
    assert run_ytd_wh(acct) == 2_000_000
    bill = issued_october_bill(acct)
    assert bill.amount == Decimal("106.00")  # 160 × 0.52 + 40 × 0.57
    held_for_a_suspect_closing_reading(acct, meter, "1200")
    rated.clear()

    # when 100 kWh are refunded
    adjustment = refund_of_october(clerk, bill, "100")

    # then the prepaid days count as the run counted them: −54.00 (not −52.00 at 0 kWh)
    [correction] = rated
    assert correction.frame["ytd_wh_before"].to_list() == [2_000_000, 2_000_000]
    assert adjustment.amount == Decimal("-54.00")


def test_an_account_prepaid_again_since_keeps_the_prepaid_days_before_its_bill(clerk, rated):
    # given an account that left prepaid on 10 October (charged 2,000 kWh to 30 September
    # and 60 kWh for 1–9 October) and was billed 140 kWh for 10–31 October at 2,060 kWh in
    # the year: 100 in tier 1 and 40 in tier 2, 52.00 + 22.80 = 74.80
    acct, meter = billable_account(
        tariff_code="HEBS-RES-LV", start="1000", end="1200", billing_mode_since=dt.date(2026, 10, 10)
    )
    put_reading(meter, "total", dt.date(2026, 10, 10), "1060")
    prepaid_charge(acct, day=dt.date(2026, 9, 30), days=30, kwh="2000")
    prepaid_charge(acct, day=dt.date(2026, 10, 9), days=9, kwh="60")
    assert run_ytd_wh(acct) == 2_060_000
    bill = issued_october_bill(acct)
    assert (bill.period_start, bill.kwh, bill.amount) == (
        dt.date(2026, 10, 10),
        Decimal("140.000"),
        Decimal("74.80"),
    )
    # and prepaid again since 1 December: today's record no longer says it left prepaid
    # in October
    Account.objects.filter(pk=acct.pk).update(is_prepaid=True, billing_mode_since=dt.date(2026, 12, 1))
    rated.clear()

    # when 100 kWh are refunded
    adjustment = refund_of_october(clerk, bill, "100")

    # then the 1–9 October charges still count (the days before the bill's first day):
    # 40 kWh left, all in tier 1 (20.80) → −54.00
    [correction] = rated
    assert correction.frame["ytd_wh_before"].to_list() == [2_060_000, 2_060_000]
    assert adjustment.amount == Decimal("-54.00")


# --- one contract rule ---------------------------------------------------------------------------


def close_after_october(account: Any) -> None:
    Account.objects.filter(pk=account.pk).update(status=AccountStatus.CLOSED, closed_on=dt.date(2026, 11, 20))


def test_a_two_part_correction_of_a_held_and_closed_account_rebuilds_the_basic_charge_as_billed(clerk, rated):
    # given the October bill of a 减容 1,000 → 500 kVA on the 16th (basic 11,274.19 +
    # 6,012.90; 18,750.78 in all), and since then its closing reading re-marked suspect and
    # the account closed
    acct = capacity_reduced_on_the_16th()
    bill = issued_october_bill(acct)
    contracts = billed_basic_lines(bill)
    assert [line[1] for line in contracts] == [Decimal("11274.19"), Decimal("6012.90")]
    held_for_a_suspect_closing_reading(acct, Installation.objects.get(account=acct).meter, "2000")
    close_after_october(acct)
    rated.clear()

    # when 1,000 kWh more are back-billed
    adjustment = bill_adjustment_request(
        actor=clerk, bill_id=bill.pk, kind=AdjustmentKind.BACKBILL, kwh="1000", reason="漏抄 1,000 kWh"
    )

    # then both sides bill each contract for its days as the bill did, the billed side is
    # the bill, and the amount is the consumption's alone, as for an account still billed:
    # 544.70 + 27.40 + power factor 27.23 = 599.33
    [correction] = rated
    assert rated_basic_lines(correction.rating, ORIGINAL) == contracts
    assert rated_basic_lines(correction.rating, 2) == contracts
    original_fen = correction.rating.totals.filter(pl.col("account_id") == ORIGINAL)["total_fen"].item()
    assert fen_to_yuan(original_fen) == bill.amount
    assert adjustment.amount == Decimal("599.33")
    assert [line for line in adjustment.lines if line["kind"] == "basic"] == []


@pytest.mark.parametrize(
    "since",
    [
        pytest.param({"status": ContractStatus.TERMINATED}, id="contracts-terminated-on-closing"),
        pytest.param({"capacity_kva": Decimal("800")}, id="capacity-edited"),
    ],
)
def test_a_two_part_bill_whose_contracts_no_longer_give_its_basic_charge_asks_for_the_amount(clerk, since):
    # given the same October bill, the account closed since, and its contracts no longer
    # those it was billed on (terminated on closing, or the first one's capacity edited)
    acct = capacity_reduced_on_the_16th()
    bill = issued_october_bill(acct)
    close_after_october(acct)
    first = Contract.objects.filter(account=acct).order_by("start_date").first()
    assert first is not None
    Contract.objects.filter(pk=first.pk).update(**since)
    events = AuditEvent.objects.count()

    # when 1,000 kWh more are to be back-billed by re-rating
    with pytest.raises(ValidationFailed) as caught:
        bill_adjustment_request(
            actor=clerk, bill_id=bill.pk, kind=AdjustmentKind.BACKBILL, kwh="1000", reason="漏抄 1,000 kWh"
        )

    # then it is refused, asking for the amount by hand, and nothing is written
    assert (caught.value.field, str(caught.value.message)) == ("amount", str(NO_BASIC_CHARGE))
    assert not BillAdjustment.objects.exists()
    assert AuditEvent.objects.count() == events
    # and the amount entered by hand is accepted
    by_hand = bill_adjustment_request(
        actor=clerk,
        bill_id=bill.pk,
        kind=AdjustmentKind.BACKBILL,
        kwh="1000",
        amount="599.33",
        reason="漏抄 1,000 kWh, 手工计算",
    )
    assert (by_hand.kwh, by_hand.amount) == (Decimal("1000.000"), Decimal("599.33"))


# --- no readings ---------------------------------------------------------------------------------


def bill_without_readings(tariff_code: str, *, kwh: str = "100.000", amount: str = "52.00") -> Bill:
    """An issued bill of an account without a meter now, recording no readings (a bill is
    written as a draft, its readings emptied, then issued: an issued bill never changes)."""
    account = AccountFactory(tariff_code=tariff_code)
    bill = notice_bill(
        account=account, tariff_code=tariff_code, kwh=kwh, amount=amount, status=BillStatus.DRAFT
    )
    Bill.objects.filter(pk=bill.pk).update(readings={})
    Bill.objects.filter(pk=bill.pk).update(
        status=BillStatus.ISSUED,
        issued_at=dt.datetime(2026, 11, 5, 9, tzinfo=dt.UTC),
        due_date=dt.date(2026, 11, 20),
    )
    bill.refresh_from_db()
    return bill


def test_a_tou_bill_whose_readings_cannot_be_read_any_more_asks_for_the_amount():
    # given a residential peak/valley bill whose readings are gone
    bill = bill_without_readings("HEBS-RES-LV-TOU", amount="45.00")

    # when its consumption is re-rated
    with pytest.raises(ValidationFailed) as caught:
        correction_rating(bill=bill, corrected_kwh=Decimal("80"))

    # then it is refused, asking for the amount by hand (its peak and valley are unknown)
    assert (caught.value.field, str(caught.value.message)) == ("amount", str(NO_READINGS))


def test_a_bill_rated_on_its_total_alone_needs_no_readings(clerk):
    """A guard against refusing too much: a tariff that rates the total register alone (no
    TOU, two-part or power-factor part) needs no register to be re-rated, so a bill of it
    whose readings are gone — which a TOU bill is refused for, above — is still corrected,
    and its billed side verified against what it charged."""
    # given a monthly-tier residential bill of 200 kWh (180 × 0.52 + 20 × 0.57 = 105.00)
    # whose readings are gone
    bill = bill_without_readings("HEBS-RES-LV-M", kwh="200.000", amount="105.00")

    # when 50 kWh are refunded
    adjustment = refund_of_october(clerk, bill, "50")

    # then the total is all it is rated on: the billed side is the bill's 105.00 and the 150
    # kWh left are all in the first tier, 78.00 → −27.00
    assert correction_rating(bill=bill, corrected_kwh=Decimal("150"))["original_fen"] == 10500
    assert adjustment.amount == Decimal("-27.00")


def test_a_bill_whose_amount_its_month_no_longer_gives_asks_for_the_amount(clerk):
    # given a bill of 100 kWh that charged 57.00, which its tariff no longer gives for them
    # (52.00 today: its prices were changed since it was issued)
    bill = bill_without_readings("HEBS-RES-LV-M", amount="57.00")

    # when 20 kWh are to be refunded by re-rating
    with pytest.raises(ValidationFailed) as caught:
        refund_of_october(clerk, bill, "20")

    # then it is refused, saying what the month gives and what the bill charged
    assert caught.value.field == "amount"
    assert "gives 52.00 for its 100.000 kWh, not the 57.00" in str(caught.value.message)
    assert not BillAdjustment.objects.exists()
