"""A correction (退补) of a two-part (两部制) bill whose contract changed inside the month
re-rates its basic charge as the run billed it: each contract for its days
(``services.period_data`` gives the period row's ``basic_parts``, the engine bills each part),
not the whole month at one contract's capacity or demand (docs/billing-bills.md,
"Corrections").

HEBS-LI-10KV: capacity 23.3 yuan/kVA·month, demand 35 yuan/kW·month; 1,000 kWh flat at
0.387 = 387.00 + unfloated 21.30 + 121.60 + 14.80 = 544.70 (the adjustment's base besides
the basic charge) + funds 27.40.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from gridcare.billing.choices import AdjustmentKind, BillLineKind, BillStatus
from gridcare.billing.engine import rating as engine
from gridcare.billing.models import Bill
from gridcare.billing.services.adjustments import bill_adjustment_request, correction_rating
from gridcare.billing.services.runs import billing_run, billing_run_issue
from gridcare.billing.tests.runs_fixtures import CLOSING, OCT, OPENING, billable_account, put_reading
from gridcare.core.money import fen_to_yuan
from gridcare.customers.tests.factories import ContractFactory
from gridcare.metering.interval import curves_write

pytestmark = pytest.mark.django_db

ORIGINAL = 1  # correction_rating rates the billed side as account 1, the corrected as 2


@pytest.fixture
def clerk(make_user):
    return make_user(roles=["billing_clerk"], username="clerk")


@pytest.fixture
def ratings(monkeypatch) -> list[Any]:
    """Every rating the engine makes from now on (the correction's, once the run is done)."""
    made: list[Any] = []
    real = engine.rate

    def spy(periods: pl.DataFrame, catalogue: Any) -> Any:
        rating = real(periods, catalogue)
        made.append(rating)
        return rating

    monkeypatch.setattr(engine, "rate", spy)
    return made


def capacity_reduced_on_the_16th() -> Any:
    """减容 1,000 → 500 kVA on 16 October, 大工业 at 10 kV (standard 0.90) at pf 0.80 (+5 %)."""
    acct, meter = billable_account(
        tariff_code="HEBS-LI-10KV",
        registers=("total", "reactive"),
        end="2000",
        customer_class="large_ind",
        voltage_level="10kv",
    )
    put_reading(meter, "reactive", OPENING, "0")
    put_reading(meter, "reactive", CLOSING, "750")  # 1,000 kWh, 750 kvarh: pf 0.80
    ContractFactory(
        account=acct,
        kind="hv",
        capacity_kva=Decimal("1000"),
        basic_charge_by="capacity",
        start_date=dt.date(2020, 1, 1),
        end_date=dt.date(2026, 10, 15),
    )
    ContractFactory(
        account=acct,
        kind="hv",
        capacity_kva=Decimal("500"),
        basic_charge_by="capacity",
        start_date=dt.date(2026, 10, 16),
    )
    return acct


def issued_october_bill(acct: Any) -> Bill:
    run = billing_run(period="2026-10", actor="clerk")
    billing_run_issue(run_id=run.pk, actor="clerk")
    bill = Bill.objects.get(account=acct, period=OCT)
    assert bill.status == BillStatus.ISSUED
    return bill


Line = tuple[str, Decimal, dt.date | None, dt.date | None]  # item, amount, from, to


def billed_basic_lines(bill: Bill) -> list[Line]:
    lines = bill.lines.filter(kind=BillLineKind.BASIC).order_by("seq")
    return [(line.item, line.amount, line.period_from, line.period_to) for line in lines]


def rated_basic_lines(rating: Any, account_id: int) -> list[Line]:
    lines = rating.lines.filter((pl.col("account_id") == account_id) & (pl.col("kind") == "basic"))
    return [
        (line["item"], fen_to_yuan(line["amount_fen"]), line["line_from"], line["line_to"])
        for line in lines.sort("seq").to_dicts()
    ]


def test_a_correction_rates_the_basic_charge_of_each_contract_for_its_days_as_the_run(clerk, ratings):
    # given the October bill of a run: 1,000 × 23.3 × 15/31 = 11,274.19 + 500 × 23.3 × 16/31
    # = 6,012.90; pf +5 % of 17,287.09 + 544.70 = 891.59; total 18,750.78
    acct = capacity_reduced_on_the_16th()
    bill = issued_october_bill(acct)
    contracts = [
        ("basic_capacity", Decimal("11274.19"), dt.date(2026, 10, 1), dt.date(2026, 10, 15)),
        ("basic_capacity", Decimal("6012.90"), dt.date(2026, 10, 16), dt.date(2026, 10, 31)),
    ]
    assert billed_basic_lines(bill) == contracts
    assert bill.amount == Decimal("18750.78")
    ratings.clear()

    # when 1,000 kWh more are back-billed (漏抄)
    adjustment = bill_adjustment_request(
        actor=clerk, bill_id=bill.pk, kind=AdjustmentKind.BACKBILL, kwh="1000", reason="漏抄 1,000 kWh"
    )

    # then both sides bill each contract for its days, as the run did (not 500 kVA all
    # month: 11,650.00), and the billed side is the bill itself
    [rating] = ratings
    assert rated_basic_lines(rating, ORIGINAL) == contracts
    assert rated_basic_lines(rating, 2) == contracts
    original_fen = rating.totals.filter(pl.col("account_id") == ORIGINAL)["total_fen"].item()
    assert fen_to_yuan(original_fen) == bill.amount
    # the difference: 544.70 + 27.40 + pf (18,376.49 × 5 % = 918.82) − 891.59 = 27.23
    assert adjustment.amount == Decimal("599.33")
    assert [line for line in adjustment.lines if line["kind"] == "basic"] == []


def test_a_refund_of_the_whole_consumption_takes_back_the_adjustment_of_both_contracts(clerk):
    # given the same October bill (18,750.78, of which pf 891.59 on both contracts' basic charge)
    acct = capacity_reduced_on_the_16th()
    bill = issued_october_bill(acct)

    # when its 1,000 kWh are refunded (another account's meter read by mistake)
    rating = correction_rating(bill=bill, corrected_kwh=Decimal("0"))

    # then the corrected side keeps the basic charge, 11,274.19 + 6,012.90, without an
    # adjustment (no energy, no power factor): −(544.70 + 27.40 + 891.59) = −1,463.69
    # (not −(544.70 + 27.40 + 609.74), the adjustment of 500 kVA all month)
    assert rating["original_fen"] == 1_875_078
    assert rating["corrected_fen"] == 1_728_709
    assert rating["amount"] == Decimal("-1463.69")
    assert [line for line in rating["lines"] if line["kind"] == "pf"] == [
        {"kind": "pf", "item": "pf_adjustment", "kwh": "0.000", "amount": "-891.59"}
    ]


def test_a_demand_billed_correction_takes_each_contracts_demand_on_its_own_days(
    clerk, ratings, settings, tmp_path
):
    # given a contract billed by demand changed on 16 October (800 → 400 kW contracted), the
    # highest quarter hour 700 kW on 10 October and 300 kW on 20 October: 700 × 35 × 15/31
    # = 11,854.84 + 300 × 35 × 16/31 = 5,419.35 (not 300 kW all month: 10,500.00)
    settings.DATA_DIR = tmp_path
    acct, _meter = billable_account(tariff_code="HEBS-LI-10KV", end="2000")
    ContractFactory(
        account=acct,
        kind="hv",
        capacity_kva=Decimal("1000"),
        basic_charge_by="demand",
        contracted_demand_kw=Decimal("800"),
        start_date=dt.date(2020, 1, 1),
        end_date=dt.date(2026, 10, 15),
    )
    ContractFactory(
        account=acct,
        kind="hv",
        capacity_kva=Decimal("500"),
        basic_charge_by="demand",
        contracted_demand_kw=Decimal("400"),
        start_date=dt.date(2026, 10, 16),
    )
    curves_write(
        pl.DataFrame(
            {
                "kind": ["account", "account"],
                "key": [acct.pk, acct.pk],
                "day": [dt.date(2026, 10, 10), dt.date(2026, 10, 20)],
                "slot": [40, 40],
                "wh": [175_000, 75_000],  # Wh in a quarter hour × 4 = W
            },
            schema={"kind": pl.String, "key": pl.Int64, "day": pl.Date, "slot": pl.Int8, "wh": pl.Int64},
        )
    )
    bill = issued_october_bill(acct)
    demands = [
        ("basic_demand", Decimal("11854.84"), dt.date(2026, 10, 1), dt.date(2026, 10, 15)),
        ("basic_demand", Decimal("5419.35"), dt.date(2026, 10, 16), dt.date(2026, 10, 31)),
    ]
    assert billed_basic_lines(bill) == demands
    ratings.clear()

    # when 100 kWh are refunded
    adjustment = bill_adjustment_request(
        actor=clerk, bill_id=bill.pk, kind=AdjustmentKind.REFUND, kwh="100", reason="多抄 100 kWh"
    )

    # then the correction bills the same demands for the same days, and the billed side is the bill
    [rating] = ratings
    assert rated_basic_lines(rating, ORIGINAL) == demands
    original_fen = rating.totals.filter(pl.col("account_id") == ORIGINAL)["total_fen"].item()
    assert fen_to_yuan(original_fen) == bill.amount
    assert [line for line in adjustment.lines if line["kind"] == "basic"] == []


def test_a_correction_of_a_part_month_demand_bill_takes_the_demand_of_its_own_days(
    clerk, ratings, settings, tmp_path
):
    # given an account opened on 16 October billed by demand: 160 kW on the 20th is its
    # demand, not 300 kW on the 5th (before it opened): 160 × 35 × 16/31 = 2,890.32
    settings.DATA_DIR = tmp_path
    acct, meter = billable_account(tariff_code="HEBS-LI-10KV", opened_on=dt.date(2026, 10, 16))
    put_reading(meter, "total", dt.date(2026, 10, 16), "1100")
    ContractFactory(
        account=acct,
        kind="hv",
        capacity_kva=Decimal("315"),
        basic_charge_by="demand",
        contracted_demand_kw=Decimal("250"),
        start_date=dt.date(2026, 10, 16),
    )
    curves_write(
        pl.DataFrame(
            {
                "kind": ["account", "account"],
                "key": [acct.pk, acct.pk],
                "day": [dt.date(2026, 10, 5), dt.date(2026, 10, 20)],
                "slot": [40, 40],
                "wh": [75_000, 40_000],
            },
            schema={"kind": pl.String, "key": pl.Int64, "day": pl.Date, "slot": pl.Int8, "wh": pl.Int64},
        )
    )
    bill = issued_october_bill(acct)
    assert billed_basic_lines(bill) == [("basic_demand", Decimal("2890.32"), None, None)]
    ratings.clear()

    # when 10 kWh are back-billed
    bill_adjustment_request(
        actor=clerk, bill_id=bill.pk, kind=AdjustmentKind.BACKBILL, kwh="10", reason="漏抄 10 kWh"
    )

    # then the correction's billed side is the bill: the same demand over the same days
    [rating] = ratings
    assert rated_basic_lines(rating, ORIGINAL) == [("basic_demand", Decimal("2890.32"), None, None)]
    original_fen = rating.totals.filter(pl.col("account_id") == ORIGINAL)["total_fen"].item()
    assert fen_to_yuan(original_fen) == bill.amount
