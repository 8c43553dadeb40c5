"""Period data of a billing run: which accounts are billable, their consumption from the
daily frozen readings (rollover, multiplier, meter exchange), and which are held."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import polars as pl
import pytest

from gridcare.billing.services.period_data import RUN_PERIOD_SCHEMA, month_bounds, period_data
from gridcare.billing.tests.factories import BillFactory
from gridcare.billing.tests.runs_fixtures import (
    CLOSING,
    OCT,
    OCT31,
    OPENING,
    at,
    billable_account,
    new_meter,
    open_exception,
    put_reading,
)
from gridcare.customers.tests.factories import ContractFactory
from gridcare.metering.interval import curves_write
from gridcare.metering.services.assets import meter_exchange, meter_remove

pytestmark = pytest.mark.django_db


def _data(**kwargs):
    return period_data(period=OCT, account_lo=1, account_hi=10**12, **kwargs)


def _row(data, account):
    rows = data.periods.filter(data.periods["account_id"] == account.pk).to_dicts()
    assert len(rows) == 1, data.periods
    return rows[0]


def test_month_bounds():
    assert month_bounds(dt.date(2026, 2, 17)) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert month_bounds(dt.date(2026, 12, 1)) == (dt.date(2026, 12, 1), dt.date(2026, 12, 31))


def test_consumption_is_end_minus_start_with_the_contract_schema():
    acct, _meter = billable_account(start="1000.250", end="1150.750")
    data = _data()
    assert dict(data.periods.schema) == RUN_PERIOD_SCHEMA
    row = _row(data, acct)
    assert row["total_wh"] == 150_500
    assert row["period_start"] == OCT
    assert row["period_end"] == OCT31
    assert row["tariff_code"] == "HEBS-RES-LV"
    assert row["ytd_wh_before"] == 0
    assert row["service_days"] is None
    assert row["basic_parts"] is None  # one contract (or none) in the period
    assert row["peak_wh"] is None
    assert row["reactive_varh"] is None
    readings = json.loads(data.readings.filter(data.readings["account_id"] == acct.pk)["readings_json"][0])
    assert readings["total"]["start"] == "1000.250"
    assert readings["total"]["end"] == "1150.750"
    assert readings["total"]["multiplier"] == "1.00"
    assert data.holds.height == 0


def test_rollover_and_multiplier():
    rolled, _ = billable_account(digits=4, start="9990", end="15")
    scaled, _ = billable_account(multiplier="30", start="100", end="112.5")
    data = _data()
    assert _row(data, rolled)["total_wh"] == 25_000
    assert _row(data, scaled)["total_wh"] == 375_000


def test_meter_exchange_inside_the_period_sums_both_meters():
    acct, old = billable_account(start="200", end=None)
    new = new_meter()
    meter_exchange(
        actor="test",
        account=acct,
        new_meter=new,
        at=at(dt.date(2026, 10, 15)),
        old_final_readings={"total": "300"},
        new_initial_readings={"total": "5"},
        reason="faulty",
    )
    put_reading(new, "total", CLOSING, "55")
    data = _data()
    assert _row(data, acct)["total_wh"] == 150_000  # 100 on the old meter + 50 on the new
    readings = json.loads(data.readings["readings_json"][0])
    assert readings[f"total:{old.asset_no}"]["end"] == "300.000"
    assert readings[f"total:{new.asset_no}"]["start"] == "5.000"


def test_meter_installed_inside_the_period_starts_at_its_initial_reading():
    acct, _ = billable_account(installed_on=dt.date(2026, 10, 10), start=None, end="42")
    assert _row(_data(), acct)["total_wh"] == 42_000


def test_selection():
    billed, _ = billable_account()
    billable_account(is_prepaid=True)
    billable_account(tariff_code="")
    billable_account(status="suspended", suspended_on=dt.date(2026, 9, 30))
    billable_account(status="closed", closed_on=dt.date(2026, 9, 30))
    closing, closing_meter = billable_account(status="closed", closed_on=dt.date(2026, 10, 10))
    put_reading(closing_meter, "total", dt.date(2026, 10, 11), "1040")
    opened, opened_meter = billable_account(opened_on=dt.date(2026, 10, 21))
    put_reading(opened_meter, "total", dt.date(2026, 10, 21), "1100")
    billable_account(opened_on=dt.date(2026, 11, 2))
    data = _data()
    assert sorted(data.periods["account_id"].to_list()) == sorted([billed.pk, closing.pk, opened.pk])
    # Their own days' energy: 1 October → 11 October, 21 October → 1 November.
    assert _row(data, closing)["total_wh"] == 40_000
    assert _row(data, opened)["total_wh"] == 50_000
    assert _row(data, closing)["service_days"] == 10
    assert _row(data, opened)["service_days"] == 11
    assert _row(data, billed)["service_days"] is None
    # A month partly in service is the period: the engine pro-rates tier bounds by it.
    assert (_row(data, closing)["period_start"], _row(data, closing)["period_end"]) == (
        dt.date(2026, 10, 1),
        dt.date(2026, 10, 10),
    )
    assert (_row(data, opened)["period_start"], _row(data, opened)["period_end"]) == (
        dt.date(2026, 10, 21),
        dt.date(2026, 10, 31),
    )
    assert (_row(data, billed)["period_start"], _row(data, billed)["period_end"]) == (
        dt.date(2026, 10, 1),
        dt.date(2026, 10, 31),
    )


def test_closed_account_is_measured_to_the_day_after_closing_not_to_the_month_end():
    """A meter still recorded as installed after the account was closed (or removed later
    in the month) does not bill the energy used after closing."""
    kept, kept_meter = billable_account(status="closed", closed_on=dt.date(2026, 10, 10), end="1310")
    put_reading(kept_meter, "total", dt.date(2026, 10, 11), "1100")
    removed_late, late_meter = billable_account(end=None)
    meter_remove(
        actor="test",
        meter=late_meter,
        removed_at=at(dt.date(2026, 10, 20)),
        final_readings={"total": "1200"},
        reason="销户拆表",
    )
    type(removed_late).objects.filter(pk=removed_late.pk).update(
        status="closed", closed_on=dt.date(2026, 10, 10)
    )
    put_reading(late_meter, "total", dt.date(2026, 10, 11), "1070")
    missing, _ = billable_account(status="closed", closed_on=dt.date(2026, 10, 10))
    data = _data()
    assert _row(data, kept)["total_wh"] == 100_000
    assert _row(data, removed_late)["total_wh"] == 70_000
    reason = data.holds.filter(pl.col("account_id") == missing.pk)["reason"].to_list()
    assert reason == [f"Missing reading: meter {_meter_no(missing)} register total on 2026-10-11"]


def test_meter_removed_before_closing_ends_at_its_final_readings():
    acct, meter = billable_account(end=None)
    meter_remove(
        actor="test",
        meter=meter,
        removed_at=at(dt.date(2026, 10, 5)),
        final_readings={"total": "1030"},
        reason="拆表",
    )
    type(acct).objects.filter(pk=acct.pk).update(status="closed", closed_on=dt.date(2026, 10, 10))
    assert _row(_data(), acct)["total_wh"] == 30_000


def test_account_opened_after_its_meter_was_installed_starts_at_its_opening_day():
    acct, meter = billable_account(opened_on=dt.date(2026, 10, 21))
    put_reading(meter, "total", dt.date(2026, 10, 21), "1120")
    assert _row(_data(), acct)["total_wh"] == 30_000  # 1120 → 1150, not 1000 → 1150


def _meter_no(account: object) -> str:
    from gridcare.metering.models import Installation

    return str(Installation.objects.get(account=account).meter.asset_no)


def test_partition_bounds_and_skip():
    a, _ = billable_account()
    b, _ = billable_account()
    only_b = period_data(period=OCT, account_lo=b.pk, account_hi=b.pk)
    assert only_b.periods["account_id"].to_list() == [b.pk]
    skipped = _data(skip=[a.pk])
    assert skipped.periods["account_id"].to_list() == [b.pk]


def test_holds_open_exception_in_the_period_and_missing_readings():
    held, meter = billable_account()
    open_exception(held, meter, day_from=dt.date(2026, 10, 3), day_to=dt.date(2026, 10, 5))
    old_exc, meter2 = billable_account()
    open_exception(old_exc, meter2, day_from=dt.date(2026, 8, 3), day_to=dt.date(2026, 8, 5))
    resolved, meter3 = billable_account()
    open_exception(
        resolved, meter3, day_from=dt.date(2026, 10, 3), day_to=dt.date(2026, 10, 5), status="accepted"
    )
    reread, meter4 = billable_account()
    open_exception(reread, meter4, day_from=OPENING, day_to=OPENING, status="reread")
    no_end, _ = billable_account(end=None)
    suspect, meter5 = billable_account()
    put_reading(meter5, "total", CLOSING, "1200", quality="suspect")
    data = _data()
    holds = dict(data.holds.iter_rows())
    assert set(holds) == {held.pk, reread.pk, no_end.pk, suspect.pk}
    assert "Open reading exception (spike)" in holds[held.pk]
    assert holds[no_end.pk].startswith("Missing reading: meter ")
    assert "2026-11-01" in holds[no_end.pk]
    assert sorted(data.periods["account_id"].to_list()) == sorted([old_exc.pk, resolved.pk])
    released = _data(released=[held.pk, no_end.pk])
    assert set(dict(released.holds.iter_rows())) == {reread.pk, no_end.pk, suspect.pk}
    assert held.pk in released.periods["account_id"].to_list()


def test_tou_registers_only_for_tou_tariffs():
    registers = ("total", "peak", "flat", "valley")
    tou, meter = billable_account(tariff_code="HEBS-GIC-LV", registers=registers)
    plain, meter2 = billable_account(registers=registers)
    for m in (meter, meter2):
        for reg, (s, e) in {"peak": ("10", "70"), "flat": ("20", "70"), "valley": ("30", "70")}.items():
            put_reading(m, reg, OPENING, s)
            put_reading(m, reg, CLOSING, e)
    data = _data()
    row = _row(data, tou)
    assert (row["peak_wh"], row["flat_wh"], row["valley_wh"], row["sharp_wh"]) == (
        60_000,
        50_000,
        40_000,
        None,
    )
    assert _row(data, plain)["peak_wh"] is None


def test_tou_tariff_without_a_register_reading_is_held():
    tou, _meter = billable_account(tariff_code="HEBS-GIC-LV", registers=("total", "peak"))
    holds = dict(_data().holds.iter_rows())
    assert "register peak" in holds[tou.pk]


def test_year_to_date_and_contract():
    acct, _ = billable_account(tariff_code="HEBS-LI-10KV")
    BillFactory(account=acct, period=dt.date(2026, 3, 1), kwh=Decimal("100.500"), number="Y1")
    BillFactory(account=acct, period=dt.date(2025, 12, 1), kwh=Decimal("999"), number="Y2")
    BillFactory(account=acct, period=dt.date(2026, 5, 1), kwh=Decimal("10"), number="Y3", status="void")
    ContractFactory(
        account=acct,
        capacity_kva=Decimal("315"),
        basic_charge_by="demand",
        contracted_demand_kw=Decimal("200"),
    )
    row = _row(_data(), acct)
    assert row["ytd_wh_before"] == 100_500
    assert row["capacity_va"] == 315_000
    # Approved corrections of this year's bills count; pending ones and void bills do not.
    from django.utils import timezone

    from gridcare.billing.models import Bill, BillAdjustment

    def correction(bill_number: str, kwh: str, status: str, *, corrects_consumption: bool = True) -> None:
        BillAdjustment.objects.create(
            corrects_consumption=corrects_consumption,
            number=f"TB{BillAdjustment.objects.count() + 1}",
            bill=Bill.objects.get(number=bill_number),
            kind="refund" if Decimal(kwh) < 0 else "backbill",
            kwh=Decimal(kwh),
            amount=Decimal("0.00"),
            reason="test",
            status=status,
            requested_by="t",
            requested_at=timezone.now(),
        )

    correction("Y1", "-20.500", "approved")
    correction("Y1", "5", "pending")
    correction("Y3", "7", "approved")
    # a theft case's charge the bill only carries moves no tier position
    correction("Y1", "3240", "approved", corrects_consumption=False)
    assert _row(_data(), acct)["ytd_wh_before"] == 80_000
    assert row["basic_charge_by"] == "demand"
    assert row["max_demand_w"] == 200_000  # no interval curve: the contracted demand


def test_max_demand_from_the_interval_curve(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    acct, _ = billable_account(tariff_code="HEBS-LI-10KV")
    ContractFactory(
        account=acct,
        capacity_kva=Decimal("315"),
        basic_charge_by="demand",
        contracted_demand_kw=Decimal("200"),
    )
    curves_write(
        pl.DataFrame(
            {
                "kind": ["account"] * 3,
                "key": [acct.pk] * 3,
                "day": [dt.date(2026, 10, 5), dt.date(2026, 10, 5), dt.date(2026, 11, 1)],
                "slot": [3, 4, 5],
                "wh": [10_000, 45_000, 90_000],
            },
            schema={"kind": pl.String, "key": pl.Int64, "day": pl.Date, "slot": pl.Int8, "wh": pl.Int64},
        )
    )
    assert _row(_data(), acct)["max_demand_w"] == 180_000  # 45 kWh in 15 min; November not counted


def _curve(account, points):
    """Write an account's interval curve: ``points`` are (day, slot, Wh in the quarter hour)."""
    curves_write(
        pl.DataFrame(
            {
                "kind": ["account"] * len(points),
                "key": [account.pk] * len(points),
                "day": [day for day, _slot, _wh in points],
                "slot": [slot for _day, slot, _wh in points],
                "wh": [wh for _day, _slot, wh in points],
            },
            schema={"kind": pl.String, "key": pl.Int64, "day": pl.Date, "slot": pl.Int8, "wh": pl.Int64},
        )
    )


def test_max_demand_of_a_part_month_account_is_taken_over_its_own_days(settings, tmp_path):
    """Opened on 16 October: the 300 kW of 5 October (before it opened) is not its demand,
    the 160 kW of 20 October is."""
    settings.DATA_DIR = tmp_path
    acct, meter = billable_account(tariff_code="HEBS-LI-10KV", opened_on=dt.date(2026, 10, 16))
    put_reading(meter, "total", dt.date(2026, 10, 16), "1100")
    ContractFactory(account=acct, capacity_kva=Decimal("315"), basic_charge_by="demand")
    _curve(acct, [(dt.date(2026, 10, 5), 40, 75_000), (dt.date(2026, 10, 20), 40, 40_000)])
    row = _row(_data(), acct)
    assert (row["period_start"], row["service_days"]) == (dt.date(2026, 10, 16), 16)
    assert row["max_demand_w"] == 160_000


def test_contract_change_inside_the_month_lists_each_contracts_part(settings, tmp_path):
    """减容 from 1,000 to 500 kVA on 16 October: each contract for its own days (the old
    one's end date or not, the new one supersedes it from its start); a renewal on the
    same terms is no change; a contract switched to demand bills the demand of its days."""
    settings.DATA_DIR = tmp_path
    reduced, _ = billable_account(tariff_code="HEBS-LI-10KV")
    ContractFactory(
        account=reduced,
        capacity_kva=Decimal("1000"),
        basic_charge_by="capacity",
        start_date=dt.date(2020, 1, 1),
        end_date=dt.date(2026, 10, 15),
    )
    ContractFactory(
        account=reduced,
        capacity_kva=Decimal("500"),
        basic_charge_by="capacity",
        start_date=dt.date(2026, 10, 16),
    )
    renewed, _ = billable_account(tariff_code="HEBS-LI-10KV")
    ContractFactory(
        account=renewed,
        capacity_kva=Decimal("800"),
        basic_charge_by="capacity",
        start_date=dt.date(2020, 1, 1),
    )
    ContractFactory(
        account=renewed,
        capacity_kva=Decimal("800"),
        basic_charge_by="capacity",
        start_date=dt.date(2026, 10, 10),
    )
    switched, _ = billable_account(tariff_code="HEBS-LI-10KV")
    ContractFactory(
        account=switched,
        capacity_kva=Decimal("800"),
        basic_charge_by="capacity",
        start_date=dt.date(2020, 1, 1),
    )
    ContractFactory(
        account=switched,
        capacity_kva=Decimal("800"),
        basic_charge_by="demand",
        contracted_demand_kw=Decimal("500"),
        start_date=dt.date(2026, 10, 21),
    )
    # 400 kW on 5 October (billed by capacity then), 240 kW on 25 October
    _curve(switched, [(dt.date(2026, 10, 5), 1, 100_000), (dt.date(2026, 10, 25), 1, 60_000)])
    data = _data()

    row = _row(data, reduced)
    assert row["basic_parts"] == [
        {"from": OCT, "basic_charge_by": "capacity", "capacity_va": 1_000_000, "max_demand_w": None},
        {
            "from": dt.date(2026, 10, 16),
            "basic_charge_by": "capacity",
            "capacity_va": 500_000,
            "max_demand_w": None,
        },
    ]
    assert (row["basic_charge_by"], row["capacity_va"]) == ("capacity", 500_000)  # in force at the end
    row = _row(data, renewed)
    assert row["basic_parts"] is None
    assert (row["basic_charge_by"], row["capacity_va"]) == ("capacity", 800_000)
    row = _row(data, switched)
    assert row["basic_parts"] == [
        {"from": OCT, "basic_charge_by": "capacity", "capacity_va": 800_000, "max_demand_w": None},
        {
            "from": dt.date(2026, 10, 21),
            "basic_charge_by": "demand",
            "capacity_va": 800_000,
            "max_demand_w": 240_000,
        },
    ]
    assert (row["basic_charge_by"], row["max_demand_w"]) == ("demand", 240_000)


def _contract(account, kva, start_date, end_date=None, **fields):
    """A capacity-billed contract of ``kva`` in force from ``start_date`` to ``end_date``."""
    fields.setdefault("basic_charge_by", "capacity")
    return ContractFactory(
        account=account, capacity_kva=Decimal(kva), start_date=start_date, end_date=end_date, **fields
    )


def _parts(row):
    """``basic_parts`` as (from, kVA) pairs."""
    return [(part["from"], part["capacity_va"] // 1000) for part in row["basic_parts"]]


def test_a_temporary_contract_gives_the_days_after_it_back_to_the_one_still_in_force():
    """临时增容 to 1,200 kVA from 10 to 20 October on top of 1,000 kVA in force until 2027:
    1,000 again from the 21st (the latest-starting contract whose dates cover the day). A
    temporary contract ending on 5 October: the 1,000 kVA from the 6th."""
    temporary, _ = billable_account(tariff_code="HEBS-LI-10KV")
    _contract(temporary, "1000", dt.date(2020, 1, 1), dt.date(2027, 12, 31))
    _contract(temporary, "1200", dt.date(2026, 10, 10), dt.date(2026, 10, 20))
    early, _ = billable_account(tariff_code="HEBS-LI-10KV")
    _contract(early, "1000", dt.date(2020, 1, 1))
    _contract(early, "1200", dt.date(2026, 9, 20), dt.date(2026, 10, 5))
    data = _data()

    row = _row(data, temporary)
    assert _parts(row) == [(OCT, 1000), (dt.date(2026, 10, 10), 1200), (dt.date(2026, 10, 21), 1000)]
    assert row["capacity_va"] == 1_000_000  # in force at the end
    row = _row(data, early)
    assert _parts(row) == [(OCT, 1200), (dt.date(2026, 10, 6), 1000)]
    assert row["capacity_va"] == 1_000_000


def test_a_contract_past_its_end_date_carries_on_until_a_new_one():
    """合同到期未续签: supply goes on under the last contract's terms — for the rest of the
    month it ends in, in the months after, and until a contract starting later takes over.
    A contract an operator marked expired (到期) is not in force."""
    in_month, _ = billable_account(tariff_code="HEBS-LI-10KV")
    _contract(in_month, "800", dt.date(2020, 1, 1), dt.date(2026, 10, 15))
    before, _ = billable_account(tariff_code="HEBS-LI-10KV")
    _contract(before, "500", dt.date(2020, 1, 1), dt.date(2026, 8, 31))
    _contract(before, "800", dt.date(2026, 9, 1), dt.date(2026, 9, 30))  # the last one in force
    gap, _ = billable_account(tariff_code="HEBS-LI-10KV")
    _contract(gap, "1000", dt.date(2020, 1, 1), dt.date(2026, 9, 30))
    _contract(gap, "500", dt.date(2026, 10, 10))
    marked, _ = billable_account(tariff_code="HEBS-LI-10KV")
    _contract(marked, "800", dt.date(2020, 1, 1), dt.date(2026, 9, 30), status="expired")
    data = _data()

    for account in (in_month, before):
        row = _row(data, account)
        assert (row["basic_charge_by"], row["capacity_va"], row["basic_parts"]) == ("capacity", 800_000, None)
    row = _row(data, gap)
    assert _parts(row) == [(OCT, 1000), (dt.date(2026, 10, 10), 500)]
    row = _row(data, marked)
    assert (row["basic_charge_by"], row["capacity_va"]) == (None, None)


def test_contracts_starting_the_same_day_the_one_created_later_is_in_force():
    """Two contracts from 16 October: only the later-created one bills from that day, and
    when they are the month's first contracts it also covers the days before (the other
    contract is never billed)."""
    changed, _ = billable_account(tariff_code="HEBS-LI-10KV")
    _contract(changed, "1000", dt.date(2020, 1, 1))
    _contract(changed, "500", dt.date(2026, 10, 16))
    _contract(changed, "630", dt.date(2026, 10, 16))
    new, _ = billable_account(tariff_code="HEBS-LI-10KV")
    _contract(new, "500", dt.date(2026, 10, 16))
    _contract(new, "630", dt.date(2026, 10, 16))
    data = _data()

    assert _parts(_row(data, changed)) == [(OCT, 1000), (dt.date(2026, 10, 16), 630)]
    row = _row(data, new)
    assert (row["capacity_va"], row["basic_parts"]) == (630_000, None)


def test_suspended_and_switched_accounts_are_billed_for_their_supplied_postpaid_days():
    """Supplied AND postpaid: suspended on 15 October → 1–15 October (to the 16 October
    reading); suspended after the month → the whole month; prepaid from 11 October → 1–10
    October; postpaid from 11 October (prepaid before) → 11–31 October; prepaid from before
    the month, or postpaid only from November → not billed."""
    suspended, suspended_meter = billable_account(status="suspended", suspended_on=dt.date(2026, 10, 15))
    put_reading(suspended_meter, "total", dt.date(2026, 10, 16), "1060")
    suspended_later, _ = billable_account(status="suspended", suspended_on=dt.date(2026, 11, 3))
    to_prepaid, to_prepaid_meter = billable_account(is_prepaid=True, billing_mode_since=dt.date(2026, 10, 11))
    put_reading(to_prepaid_meter, "total", dt.date(2026, 10, 11), "1030")
    to_postpaid, to_postpaid_meter = billable_account(billing_mode_since=dt.date(2026, 10, 11))
    put_reading(to_postpaid_meter, "total", dt.date(2026, 10, 11), "1030")
    billable_account(is_prepaid=True, billing_mode_since=dt.date(2026, 10, 1), opened_on=dt.date(2026, 1, 1))
    billable_account(billing_mode_since=dt.date(2026, 11, 1), opened_on=dt.date(2026, 1, 1))

    data = _data()

    assert sorted(data.periods["account_id"].to_list()) == sorted(
        [suspended.pk, suspended_later.pk, to_prepaid.pk, to_postpaid.pk]
    )
    spans = {
        pk: (_row(data, acct)["period_start"], _row(data, acct)["period_end"], _row(data, acct)["total_wh"])
        for pk, acct in [(a.pk, a) for a in (suspended, suspended_later, to_prepaid, to_postpaid)]
    }
    assert spans == {
        suspended.pk: (dt.date(2026, 10, 1), dt.date(2026, 10, 15), 60_000),
        suspended_later.pk: (OCT, OCT31, 150_000),
        to_prepaid.pk: (dt.date(2026, 10, 1), dt.date(2026, 10, 10), 30_000),
        to_postpaid.pk: (dt.date(2026, 10, 11), OCT31, 120_000),
    }
    assert _row(data, suspended)["service_days"] == 15
    assert _row(data, to_postpaid)["service_days"] == 21


def test_days_charged_daily_are_not_billed_again():
    """An account switched twice keeps only its latest switch: prepaid in October, postpaid
    from 2 November, prepaid again from 1 December reads as "postpaid before 1 December".
    Its October was charged daily (to 31 October): a later October run bills none of it,
    and a charge to 20 October only leaves 21–31 October to the bill."""
    from gridcare.billing.models import PrepaidCharge

    def charged(account, last):
        PrepaidCharge.objects.bulk_create(
            PrepaidCharge(
                account=account,
                day=OCT + dt.timedelta(days=i),
                kwh=Decimal("5"),
                amount=Decimal("2.60"),
                balance_after=Decimal("0"),
                created_at=at(OCT),
            )
            for i in range((last - OCT).days + 1)
        )

    whole, _ = billable_account(is_prepaid=True, billing_mode_since=dt.date(2026, 12, 1))
    charged(whole, OCT31)
    part, part_meter = billable_account(is_prepaid=True, billing_mode_since=dt.date(2026, 12, 1))
    charged(part, dt.date(2026, 10, 20))
    put_reading(part_meter, "total", dt.date(2026, 10, 21), "1100")

    data = _data()

    assert data.periods["account_id"].to_list() == [part.pk]
    assert (_row(data, part)["period_start"], _row(data, part)["total_wh"]) == (dt.date(2026, 10, 21), 50_000)


def _exchange(acct, *, old_final, new_registers, new_closing):
    """Exchange ``acct``'s meter on 15 October for a new one with ``new_registers`` (initial
    readings 0) and its 1 November readings ``new_closing``."""
    new = new_meter(registers=new_registers)
    meter_exchange(
        actor="test",
        account=acct,
        new_meter=new,
        at=at(dt.date(2026, 10, 15)),
        old_final_readings=old_final,
        new_initial_readings=dict.fromkeys(new_registers, "0"),
        reason="upgrade",
    )
    for reg, value in new_closing.items():
        put_reading(new, reg, CLOSING, value)
    return new


def test_exchange_from_a_total_only_meter_to_a_tou_meter_bills_the_old_part_as_flat():
    # given a general I&C account whose total-only meter read 100 kWh before its exchange
    acct, _old = billable_account(tariff_code="HEBS-GIC-LV", start="200", end=None)
    _exchange(
        acct,
        old_final={"total": "300"},
        new_registers=("total", "peak", "flat", "valley"),
        new_closing={"total": "60", "peak": "30", "flat": "20", "valley": "10"},
    )
    # when / then: the TOU registers carry both parts, the old one at the flat price
    row = _row(_data(), acct)
    assert (row["total_wh"], row["peak_wh"], row["flat_wh"], row["valley_wh"]) == (
        160_000,
        30_000,
        120_000,
        10_000,
    )


def test_exchange_to_a_peak_valley_meter_splits_the_old_part_in_the_new_meters_proportion():
    acct, _old = billable_account(tariff_code="HEBS-RES-LV-TOU", start="200", end=None)
    _exchange(
        acct,
        old_final={"total": "300"},
        new_registers=("total", "peak", "valley"),
        new_closing={"total": "60", "peak": "40", "valley": "20"},
    )
    row = _row(_data(), acct)
    # 100 kWh split 2:1 (66.667 peak, 33.333 valley) + the new meter's 40 / 20
    assert (row["total_wh"], row["peak_wh"], row["valley_wh"]) == (160_000, 106_667, 53_333)


def test_exchange_to_a_meter_without_reactive_register_keeps_the_old_parts_power_factor():
    # given a two-part account (大工业, 10 kV, 500 kVA: power-factor adjusted) whose old meter
    # had a reactive register (100 kWh, 75 kvarh: power factor 0.80) and whose new meter has
    # none (60 kWh)
    registers = ("total", "peak", "flat", "valley", "reactive")
    acct, old = billable_account(
        tariff_code="HEBS-LI-10KV",
        registers=registers,
        start="200",
        end=None,
        customer_class="large_ind",
        voltage_level="10kv",
    )
    ContractFactory(account=acct, kind="hv", capacity_kva=Decimal("500"), basic_charge_by="capacity")
    for reg in ("peak", "flat", "valley", "reactive"):
        put_reading(old, reg, OPENING, "0")
    _exchange(
        acct,
        old_final={"total": "300", "peak": "50", "flat": "30", "valley": "20", "reactive": "75"},
        new_registers=("total", "peak", "flat", "valley"),
        new_closing={"total": "60", "peak": "30", "flat": "20", "valley": "10"},
    )
    row = _row(_data(), acct)
    # then the reactive energy is scaled to the 160 kWh billed: the same ratio, 0.80
    assert (row["peak_wh"], row["flat_wh"], row["valley_wh"]) == (80_000, 50_000, 30_000)
    assert row["reactive_varh"] == 120_000
