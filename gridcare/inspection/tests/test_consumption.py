"""Daily consumption read from the metering data for scoring and line loss."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from gridcare.inspection.services.consumption import accounts_daily_kwh, accounts_frame
from gridcare.inspection.tests.factories import metered_account, transformer_area

pytestmark = pytest.mark.django_db

START = dt.date(2026, 3, 1)


def test_daily_kwh_is_reading_difference_times_multiplier() -> None:
    area = transformer_area()
    a = metered_account(daily_kwh=[5.0, 6.5, 0.0, 7.25], start=START, transformer=area)
    b = metered_account(daily_kwh=[30.0, 40.0], start=START, transformer=area, multiplier=Decimal("20"))
    frame = accounts_daily_kwh(start=START, end=START + dt.timedelta(days=3))
    rows = {(r["account_id"], r["day"]): r["kwh"] for r in frame.iter_rows(named=True)}
    assert rows[(a.id, START)] == pytest.approx(5.0)
    assert rows[(a.id, START + dt.timedelta(days=3))] == pytest.approx(7.25)
    assert rows[(a.id, START + dt.timedelta(days=2))] == 0.0
    assert rows[(b.id, START + dt.timedelta(days=1))] == pytest.approx(40.0)
    assert len(rows) == 6


def test_gap_leaves_the_day_missing_and_rollover_counts() -> None:
    a = metered_account(daily_kwh=[5.0, math.nan, 6.0, 7.0], start=START)
    b = metered_account(daily_kwh=[8.0, 9.0], start=START, digits=4, first_reading=Decimal("9990"))
    frame = accounts_daily_kwh(start=START, end=START + dt.timedelta(days=3), account_ids=[a.id, b.id])
    days_a = frame.filter(frame["account_id"] == a.id)["day"].to_list()
    assert days_a == [START, START + dt.timedelta(days=3)]  # the missing reading hides two days
    kwh_b = frame.filter(frame["account_id"] == b.id)["kwh"].to_list()
    assert kwh_b == pytest.approx([8.0, 9.0])  # 9990 → 9998 → 7 (rollover at 10^4)


def test_accounts_frame_carries_area_and_class() -> None:
    area = transformer_area()
    a = metered_account(daily_kwh=[1.0], start=START, transformer=area)
    frame = accounts_frame(account_ids=[a.id])
    row = frame.row(0, named=True)
    assert row["transformer_id"] == area.id
    assert row["customer_class"] == a.customer_class
