"""Prepaid (费控) daily charge over 1 January on annual tiers (年阶梯, HEBS-RES-LV: ≤ 2,160 kWh
0.52, ≤ 3,360 kWh 0.57 yuan/kWh): a charge that catches up days of the old year rates them
at the old year's position — its daily charges and its bills of postpaid days — and the new
year's days from zero; the days after it count only the new year's share.

The years are 2025/2026: a day is charged only once it is over, and the test clock is in
late 2026."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from gridcare.billing.choices import BillStatus
from gridcare.billing.models import Bill, PrepaidCharge
from gridcare.billing.services.prepaid import prepaid_daily_charges
from gridcare.billing.tests.factories_bills import notice_bill
from gridcare.customers.tests.factories import AccountFactory
from gridcare.metering.models import Reading
from gridcare.metering.tests.readings_fixtures import installed_meter

pytestmark = pytest.mark.django_db

DEC1 = dt.date(2025, 12, 1)
DEC30 = dt.date(2025, 12, 30)
JAN2 = dt.date(2026, 1, 2)


@pytest.fixture(autouse=True)
def _data_dir(settings: Any, tmp_path: Any) -> None:
    settings.DATA_DIR = tmp_path
    settings.GRIDCARE_SMS_BACKEND = "file"


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=k) for k in range((last - first).days + 1)]


def _switched_in_december(asset: str) -> tuple[Any, Any]:
    """Postpaid to November 2025 with one bill of 2,000 kWh (the year's postpaid use),
    prepaid from 1 December; 10 kWh a day in December, charged daily 1–29 December."""
    account = AccountFactory(is_prepaid=True, billing_mode_since=DEC1, tariff_code="HEBS-RES-LV")
    meter = installed_meter(asset, account=account, installed_on=dt.date(2025, 1, 5))
    notice_bill(
        account=account,
        period=dt.date(2025, 11, 1),
        kwh="2000.000",
        amount="1040.00",
        tariff_code="HEBS-RES-LV",
        due_date=dt.date(2025, 12, 20),
    )
    return account, meter


def _put(meter: Any, values: dict[dt.date, int]) -> None:
    Reading.objects.bulk_create(
        [
            Reading(meter=meter, register="total", day=day, value=Decimal(v), source="ami", quality="valid")
            for day, v in values.items()
        ]
    )


@pytest.mark.parametrize("how", ["readings_missing", "runs_missed"])
def test_a_gap_over_new_year_rates_the_old_years_days_after_its_bills_and_charges(how: str) -> None:
    """Given 2,000 kWh billed in 2025 and 290 kWh charged daily 1–29 December (the year at
    2,290 kWh, above the 2,160 kWh bound), and no charge from 30 December to 1 January
    (the 00:00 readings of 31 Dec – 2 Jan missing, or the nightly runs missed): the charge
    for 2 January covers 40 kWh over 4 days — 20 kWh in 2025, at 2,290 kWh in the year,
    all in tier 2: 20 × 0.57 = 11.40; 20 kWh in 2026, from 0: 20 × 0.52 = 10.40 → 21.80.
    Counting only the December charges (290 kWh) would price the 2025 part at 0.52: 20.80."""
    account, meter = _switched_in_december("PNY001")
    values = {day: 10_000 + 10 * (day - DEC1).days for day in _days(DEC1, dt.date(2026, 1, 3))}
    if how == "readings_missing":
        values = {d: v for d, v in values.items() if d not in _days(dt.date(2025, 12, 31), JAN2)}
    _put(meter, values)

    december = [prepaid_daily_charges(day=day, actor="test") for day in _days(DEC1, dt.date(2025, 12, 29))]
    if how == "readings_missing":  # the nights of 30 Dec – 1 Jan ran: nothing to charge yet
        for day in _days(DEC30, dt.date(2026, 1, 1)):
            assert prepaid_daily_charges(day=day, actor="test")["missing"] == [account.number]
    summary = prepaid_daily_charges(day=JAN2, actor="test")

    # December itself started at the bill's 2,000 kWh: 16 days at 0.52, 13 days at 0.57.
    assert sum(Decimal(s["amount"]) for s in december) == 16 * Decimal("5.20") + 13 * Decimal("5.70")
    assert (summary["charged"], summary["kwh"], summary["amount"]) == (1, "40.000", "21.80")
    gap = PrepaidCharge.objects.get(account=account, day=JAN2)
    assert (gap.days, gap.first_day, gap.kwh, gap.amount) == (4, DEC30, Decimal("40.000"), Decimal("21.80"))


def test_the_old_years_bills_count_without_earlier_daily_charges() -> None:
    """Prepaid from 30 December (2,300 kWh billed in 2025, no daily charge yet), the
    readings of 31 Dec – 2 Jan missing: the first charge covers 30 Dec – 2 Jan, 40 kWh —
    the 2025 half at 2,300 kWh in the year (tier 2: 11.40), the 2026 half from 0 (10.40)."""
    account = AccountFactory(is_prepaid=True, billing_mode_since=DEC30, tariff_code="HEBS-RES-LV")
    meter = installed_meter("PNY002", account=account, installed_on=dt.date(2025, 1, 5))
    notice_bill(
        account=account,
        period=dt.date(2025, 12, 1),  # a bill of 1–29 December (the postpaid days)
        kwh="2300.000",
        amount="1196.00",
        tariff_code="HEBS-RES-LV",
        due_date=dt.date(2026, 1, 20),
        status=BillStatus.DRAFT,
    )
    Bill.objects.filter(account=account).update(
        period_end=dt.date(2025, 12, 29),
        status=BillStatus.ISSUED,
        issued_at=dt.datetime(2026, 1, 5, 9, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        due_date=dt.date(2026, 1, 20),
    )
    _put(meter, {DEC30: 5000, dt.date(2026, 1, 3): 5040})

    summary = prepaid_daily_charges(day=JAN2, actor="test")

    assert (summary["charged"], summary["kwh"], summary["amount"]) == (1, "40.000", "21.80")


def test_the_new_years_position_after_the_gap_counts_only_its_new_year_share() -> None:
    """After the gap charge of 2 January (40 kWh, 20 of them used in 2025), 2026 stands at
    20 kWh; with 2,130 kWh more charged up to 30 June it stands at 2,150 kWh, so the 10 kWh
    used on 1 July fill tier 1 exactly: 10 × 0.52 = 5.20. Counting the whole gap charge in
    2026 (2,170 kWh) would price them at 0.57: 5.70."""
    account, meter = _switched_in_december("PNY003")
    _put(meter, {DEC30: 10_290, dt.date(2026, 1, 3): 10_330})
    PrepaidCharge.objects.create(
        account=account,
        day=dt.date(2025, 12, 29),
        kwh=Decimal("290.000"),
        amount=Decimal("157.30"),
        balance_after=Decimal("-157.30"),
        created_at=timezone.now(),
    )
    assert prepaid_daily_charges(day=JAN2, actor="test")["amount"] == "21.80"
    PrepaidCharge.objects.create(
        account=account,
        day=dt.date(2026, 6, 30),
        kwh=Decimal("2130.000"),
        amount=Decimal("1107.60"),
        balance_after=Decimal("-1286.70"),
        created_at=timezone.now(),
    )
    _put(meter, {dt.date(2026, 7, 1): 20_000, dt.date(2026, 7, 2): 20_010})

    summary = prepaid_daily_charges(day=dt.date(2026, 7, 1), actor="test")

    assert (summary["charged"], summary["kwh"], summary["amount"]) == (1, "10.000", "5.20")


def test_the_old_years_position_counts_only_its_share_of_a_charge_that_began_the_year_before() -> None:
    """2025 began with a gap charge for 30 Dec 2024 – 2 Jan 2025 (40 kWh, 20 of them in
    2025), then 2,130 kWh up to 29 December: 2025 stands at 2,150 kWh. A gap from
    30 December 2025 to 2 January 2026 (40 kWh) prices its 2025 half from there:
    10 × 0.52 + 10 × 0.57 = 10.90, the 2026 half 20 × 0.52 = 10.40 → 21.30 (at 2,170 kWh,
    counting the whole first charge in 2025: 21.80)."""
    account = AccountFactory(is_prepaid=True, tariff_code="HEBS-RES-LV")
    meter = installed_meter("PNY004", account=account, installed_on=dt.date(2025, 1, 5))
    for day, days, kwh in ((dt.date(2025, 1, 2), 4, "40"), (dt.date(2025, 12, 29), 1, "2130")):
        PrepaidCharge.objects.create(
            account=account,
            day=day,
            days=days,
            kwh=Decimal(kwh),
            amount=Decimal("0"),
            balance_after=Decimal("0"),
            created_at=timezone.now(),
        )
    _put(meter, {DEC30: 5000, dt.date(2026, 1, 3): 5040})

    summary = prepaid_daily_charges(day=JAN2, actor="test")

    assert (summary["charged"], summary["kwh"], summary["amount"]) == (1, "40.000", "21.30")
