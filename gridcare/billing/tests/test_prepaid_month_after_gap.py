"""Prepaid (费控) daily charge on monthly tiers (月阶梯, HEBS-RES-LV-M: ≤ 180 kWh 0.52, ≤ 280 kWh
0.57, above 0.82 yuan/kWh) after a charge that caught up a gap over the 1st: the rest of the
month counts only that charge's share of the month, so each month still adds up to its
bill."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from gridcare.billing.models import PrepaidCharge
from gridcare.billing.services.prepaid import prepaid_daily_charges
from gridcare.customers.tests.factories import AccountFactory
from gridcare.metering.models import Reading
from gridcare.metering.tests.readings_fixtures import installed_meter

pytestmark = pytest.mark.django_db

MARCH = dt.date(2026, 3, 1)
# A month of 10 kWh a day on monthly tiers: 31 days 310 kWh = 180 × 0.52 + 100 × 0.57 +
# 30 × 0.82 = 175.20; 30 days 300 kWh = 93.60 + 57.00 + 20 × 0.82 = 167.00.
BILL_31 = Decimal("175.20")
BILL_30 = Decimal("167.00")


@pytest.fixture(autouse=True)
def _data_dir(settings: Any, tmp_path: Any) -> None:
    settings.DATA_DIR = tmp_path
    settings.GRIDCARE_SMS_BACKEND = "file"


@pytest.mark.parametrize(
    ("missing_first", "missing_last", "last_day", "bills"),
    [
        # The 00:00 readings of 31 March and 1 April missing: the charge for 1 April covers
        # 30 March – 1 April; April goes on to the 30th.
        (dt.date(2026, 3, 31), dt.date(2026, 4, 1), dt.date(2026, 4, 30), BILL_31 + BILL_30),
        # 31 March – 2 May missing: the charge for 2 May covers 30 March – 2 May (March's
        # end, all of April, May's start); May goes on to the 31st.
        (dt.date(2026, 3, 31), dt.date(2026, 5, 2), dt.date(2026, 5, 31), BILL_31 + BILL_30 + BILL_31),
    ],
)
def test_the_month_after_a_gap_over_the_first_adds_up_to_its_bill(
    missing_first: dt.date, missing_last: dt.date, last_day: dt.date, bills: Decimal
) -> None:
    """10 kWh a day from 1 March, charged every night. Without the fix the month's later
    days counted the whole gap charge (kWh and yuan, the earlier months' too) as the
    month's: 2 April was charged 10.65 instead of 5.56, April 5.09 yuan too much."""
    account = AccountFactory(is_prepaid=True, tariff_code="HEBS-RES-LV-M")
    meter = installed_meter("PMG001", account=account, installed_on=dt.date(2026, 1, 5))
    days = (last_day - MARCH).days + 1
    Reading.objects.bulk_create(
        [
            Reading(meter=meter, register="total", day=d, value=Decimal(1000 + 10 * k), source="ami")
            for k in range(days + 1)
            if not missing_first <= (d := MARCH + dt.timedelta(days=k)) <= missing_last
        ]
    )

    for k in range(days):
        prepaid_daily_charges(day=MARCH + dt.timedelta(days=k), actor="test")

    charges = list(PrepaidCharge.objects.filter(account=account).order_by("day"))
    gap = next(c for c in charges if c.days > 1)
    assert (gap.first_day, gap.day) == (dt.date(2026, 3, 30), missing_last)
    assert sum(c.kwh for c in charges) == Decimal(10 * days)
    assert sum(c.amount for c in charges) == bills
    after = [c for c in charges if c.day > gap.day]
    assert {c.kwh for c in after} == {Decimal("10.000")}
    assert max(c.amount for c in after) < Decimal("5.70")  # no day carries another month's part
