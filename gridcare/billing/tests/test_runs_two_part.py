"""A billing run's two-part (两部制) basic charge end to end: a contract changed inside the
month, and the maximum demand of an account billed for part of the month
(docs/billing-tariffs.md, "Two-part")."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from gridcare.billing.models import Bill
from gridcare.billing.services.runs import billing_run
from gridcare.billing.tests.runs_fixtures import CLOSING, OCT, OPENING, billable_account, put_reading
from gridcare.customers.tests.factories import ContractFactory
from gridcare.metering.interval import curves_write

pytestmark = pytest.mark.django_db


def _lines(account) -> list[tuple[str, str, Decimal]]:
    bill = Bill.objects.get(account=account, period=OCT)
    return [(line.kind, line.item, line.amount) for line in bill.lines.order_by("seq")]


def test_capacity_reduced_on_the_16th_bills_each_contract_for_its_days():
    """减容 1,000 → 500 kVA: the old contract ends 15 October, the new one starts on the
    16th. 1,000 × 23.3 × 15/31 = 11,274.19 + 500 × 23.3 × 16/31 = 6,012.90 = 17,287.09
    (not 500 × 23.3 = 11,650.00 for the whole month), and the power-factor adjustment
    covers both."""
    acct, meter = billable_account(
        tariff_code="HEBS-LI-10KV",
        registers=("total", "reactive"),
        end="2000",
        customer_class="large_ind",  # 大工业 at 10 kV above 160 kVA: power-factor standard 0.90
        voltage_level="10kv",
    )
    put_reading(meter, "reactive", OPENING, "0")
    put_reading(meter, "reactive", CLOSING, "750")  # 1,000 kWh, 750 kvarh: pf 0.80, +5 %
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
    billing_run(period="2026-10", actor="clerk")

    lines = _lines(acct)
    assert lines[:2] == [
        ("basic", "basic_capacity", Decimal("11274.19")),
        ("basic", "basic_capacity", Decimal("6012.90")),
    ]
    # base of the adjustment: basic 17,287.09 + energy 387.00 (1,000 kWh flat at 0.387)
    # + unfloated 21.30 + 121.60 + 14.80 = 17,831.79; × 5 % = 891.5895 → 891.59
    assert lines[-1] == ("pf", "pf_adjustment", Decimal("891.59"))
    bill = Bill.objects.get(account=acct, period=OCT)
    assert bill.amount == sum((amount for _kind, _item, amount in lines), Decimal("0"))


def test_demand_of_an_account_opened_mid_month_is_its_own_days_highest(settings, tmp_path):
    """Opened 16 October, billed by demand: the highest quarter hour before it opened (300 kW
    on 5 October) is not its demand; 160 kW on 20 October is: 160 × 35 × 16/31 = 2,890.32
    (not 300 × 35 × 16/31 = 5,419.35)."""
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
                "wh": [75_000, 40_000],  # Wh in a quarter hour × 4 = W
            },
            schema={"kind": pl.String, "key": pl.Int64, "day": pl.Date, "slot": pl.Int8, "wh": pl.Int64},
        )
    )
    billing_run(period="2026-10", actor="clerk")

    assert _lines(acct)[0] == ("basic", "basic_demand", Decimal("2890.32"))


def test_a_temporary_capacity_increase_bills_the_contract_still_in_force_after_it():
    """临时增容: 1,200 kVA from 10 to 20 October on top of 1,000 kVA in force until 2027.
    1,000 × 23.3 × 9/31 = 6,764.52 + 1,200 × 23.3 × 11/31 = 9,921.29 + 1,000 × 23.3 × 11/31
    = 8,267.74 (not 1,200 kVA from the 10th to the end of the month: 19,842.58)."""
    acct, _meter = billable_account(tariff_code="HEBS-LI-10KV", end="2000")
    ContractFactory(
        account=acct,
        kind="hv",
        capacity_kva=Decimal("1000"),
        basic_charge_by="capacity",
        start_date=dt.date(2020, 1, 1),
        end_date=dt.date(2027, 12, 31),
    )
    ContractFactory(
        account=acct,
        kind="hv",
        capacity_kva=Decimal("1200"),
        basic_charge_by="capacity",
        start_date=dt.date(2026, 10, 10),
        end_date=dt.date(2026, 10, 20),
    )
    billing_run(period="2026-10", actor="clerk")

    assert [line for line in _lines(acct) if line[0] == "basic"] == [
        ("basic", "basic_capacity", Decimal("6764.52")),
        ("basic", "basic_capacity", Decimal("9921.29")),
        ("basic", "basic_capacity", Decimal("8267.74")),
    ]


def test_a_contract_past_its_end_date_is_still_billed_until_a_new_one():
    """合同到期未续签: the 800 kVA contract ended on 30 September and the account is still
    supplied: October's basic charge is 800 × 23.3 = 18,640.00 on its terms."""
    acct, _meter = billable_account(tariff_code="HEBS-LI-10KV", end="2000")
    ContractFactory(
        account=acct,
        kind="hv",
        capacity_kva=Decimal("800"),
        basic_charge_by="capacity",
        start_date=dt.date(2020, 1, 1),
        end_date=dt.date(2026, 9, 30),
    )
    billing_run(period="2026-10", actor="clerk")

    assert Bill.objects.filter(account=acct, period=OCT).exists()
    assert _lines(acct)[0] == ("basic", "basic_capacity", Decimal("18640.00"))
