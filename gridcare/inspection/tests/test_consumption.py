"""Daily consumption read from the metering data for scoring and line loss."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from gridcare.inspection.services.consumption import accounts_daily_kwh, accounts_frame
from gridcare.inspection.tests.factories import metered_account, transformer_area
from gridcare.metering.models import Installation
from gridcare.metering.services.assets import meter_exchange
from gridcare.metering.tests.readings_fixtures import DAY0, import_lines, installed_meter, stock_meter

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


def test_a_decrease_that_is_no_rollover_leaves_the_day_missing(tmp_path) -> None:
    # 5000 → 4990 on a 6-digit meter is a bad read (accepted by a clerk, so valid), not a
    # rollover of 999,990 kWh: the day has no figure; a real rollover still counts through.
    meter = installed_meter("DEC1")
    account = Installation.objects.get(meter=meter).account
    lines = [f"DEC1,total,{day(n)},{v}" for n, v in enumerate([5000, 5010, 4990, 5000], start=1)]
    import_lines(tmp_path, lines, name="dec.csv")
    from gridcare.metering.models import Reading

    Reading.objects.filter(meter=meter).update(quality="valid")  # as after "accept"
    frame = accounts_daily_kwh(start=day(1), end=day(3), account_ids=[account.id])
    assert dict(frame.select("day", "kwh").iter_rows()) == {day(1): 10.0, day(3): 10.0}


def day(n: int) -> dt.date:
    return DAY0 + dt.timedelta(days=n)


def _exchange_at(hour: int, *, old_frozen_days: range, tmp_path) -> tuple[int, dt.date]:
    """An account whose meter OLD (10 kWh a day, readings frozen on the days given) is
    exchanged on day 9 at ``hour``:00 for NEW, which then uses 12 kWh a day from 0."""
    old = installed_meter("OLD1")
    account = Installation.objects.get(meter=old).account
    import_lines(tmp_path, [f"OLD1,total,{day(n)},{10 * n}" for n in old_frozen_days], name="old.csv")
    new = stock_meter("NEW1")
    exchange_at = dt.datetime.combine(day(9), dt.time(hour), tzinfo=dt.timezone(dt.timedelta(hours=8)))
    part = Decimal(10 * hour) / 24  # the old meter's energy from 00:00 to the exchange
    meter_exchange(
        actor="t",
        account=account,
        new_meter=new,
        at=exchange_at,
        old_final_readings={"total": str((90 + part).quantize(Decimal("0.001")))},
        new_initial_readings={"total": "0"},
        reason="故障换表",
    )
    rest = Decimal(12 * (24 - hour)) / 24
    lines = [
        f"NEW1,total,{day(n)},{(rest + 12 * (n - 10)).quantize(Decimal('0.001'))}" for n in range(10, 13)
    ]
    import_lines(tmp_path, lines, name="new.csv")
    return account.pk, day(9)


def test_meter_exchange_day_is_missing_not_the_new_meters_part_of_it(tmp_path) -> None:
    account, exchange_day = _exchange_at(10, old_frozen_days=range(1, 10), tmp_path=tmp_path)

    frame = accounts_daily_kwh(start=day(5), end=day(11), account_ids=[account])

    by_day = dict(frame.select("day", "kwh").iter_rows())
    assert exchange_day not in by_day
    assert by_day == pytest.approx(
        {day(5): 10.0, day(6): 10.0, day(7): 10.0, day(8): 10.0, day(10): 12.0, day(11): 12.0}
    )


def test_old_meters_last_day_is_missing_when_its_only_reading_is_the_exchange_reading(tmp_path) -> None:
    # given the old meter's 00:00 freeze of the exchange day never arrived: its reading of
    # that day is the one taken at the exchange (10:00)
    account, exchange_day = _exchange_at(10, old_frozen_days=range(1, 9), tmp_path=tmp_path)

    frame = accounts_daily_kwh(start=day(5), end=day(11), account_ids=[account])

    by_day = dict(frame.select("day", "kwh").iter_rows())
    assert day(8) not in by_day  # not 10 kWh + the morning of the exchange day
    assert exchange_day not in by_day
    assert by_day == pytest.approx({day(5): 10.0, day(6): 10.0, day(7): 10.0, day(10): 12.0, day(11): 12.0})


def test_an_exchange_at_midnight_loses_no_day(tmp_path) -> None:
    account, exchange_day = _exchange_at(0, old_frozen_days=range(1, 9), tmp_path=tmp_path)

    frame = accounts_daily_kwh(start=day(7), end=day(10), account_ids=[account])

    # the readings taken at 00:00 are that day's freezes: day 8 on the old meter, day 9 on the new
    assert dict(frame.select("day", "kwh").iter_rows()) == pytest.approx(
        {day(7): 10.0, day(8): 10.0, exchange_day: 12.0, day(10): 12.0}
    )


def test_accounts_frame_carries_area_and_class() -> None:
    area = transformer_area()
    a = metered_account(daily_kwh=[1.0], start=START, transformer=area)
    frame = accounts_frame(account_ids=[a.id])
    row = frame.row(0, named=True)
    assert row["transformer_id"] == area.id
    assert row["customer_class"] == a.customer_class
