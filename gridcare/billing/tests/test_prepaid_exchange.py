"""Prepaid (费控) daily charge around a meter exchange (换表): the exchange day's energy is
the old meter's part (reading of the day → its final reading) plus the new meter's (its
initial reading → the next day's reading), charged exactly once whichever way the new
meter's first daily frozen reading comes: present, missing then back-filled, or still
missing when the next day's charge runs (the missed-night catch-up).

The exchange: on 10 March at 10:00 the old meter (1,000 kWh at 00:00 that day) is removed at
1,004 kWh and the new one installed at 100 kWh; the new meter reads 106 at 00:00 on
11 March, 109 on 12 March, 111 on 13 March. So 9 March used 10 kWh, 10 March 4 + 6 = 10,
11 March 3, 12 March 2 — at 0.52 yuan/kWh (HEBS-RES-LV, tier 1)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from gridcare.billing.models import PrepaidCharge
from gridcare.billing.services.prepaid import prepaid_daily_charges
from gridcare.customers.tests.factories import AccountFactory
from gridcare.metering.models import Reading
from gridcare.metering.services.assets import meter_exchange, meter_install
from gridcare.metering.tests.readings_fixtures import installed_meter, stock_meter

pytestmark = pytest.mark.django_db

TZ = dt.timezone(dt.timedelta(hours=8))
D = dt.date(2026, 3, 10)  # the exchange day
NEW_READINGS = {
    D + dt.timedelta(days=1): "106",
    D + dt.timedelta(days=2): "109",
    D + dt.timedelta(days=3): "111",
}


@pytest.fixture(autouse=True)
def _data_dir(settings: Any, tmp_path: Any) -> None:
    settings.DATA_DIR = tmp_path
    settings.GRIDCARE_SMS_BACKEND = "file"


def _put(meter: Any, day: dt.date, value: str, quality: str = "valid") -> None:
    Reading.objects.create(
        meter=meter, register="total", day=day, value=Decimal(value), source="ami", quality=quality
    )


def _exchanged(asset: str, **account: Any) -> tuple[Any, Any]:
    """A prepaid account whose meter is exchanged on D at 10:00; the old meter's readings of
    8–10 March are in. Returns the account and the new meter (no reading yet)."""
    acct = AccountFactory(is_prepaid=True, tariff_code="HEBS-RES-LV", **account)
    old = installed_meter(f"{asset}O", account=acct, installed_on=dt.date(2026, 1, 5))
    for day, value in ((D - dt.timedelta(days=2), "980"), (D - dt.timedelta(days=1), "990"), (D, "1000")):
        _put(old, day, value)
    new = stock_meter(f"{asset}N")
    meter_exchange(
        actor="test",
        account=acct,
        new_meter=new,
        at=dt.datetime.combine(D, dt.time(10), tzinfo=TZ),
        old_final_readings={"total": "1004"},
        new_initial_readings={"total": "100"},
        reason="换表",
    )
    return acct, new


def _run(offset: int) -> dict[str, Any]:
    return prepaid_daily_charges(day=D + dt.timedelta(days=offset), actor="test")


def _fill(new: Any, offset: int, quality: str = "valid") -> None:
    day = D + dt.timedelta(days=offset)
    _put(new, day, NEW_READINGS[day], quality)


def _charges(account: Any) -> list[tuple[int, int, Decimal, Decimal]]:
    """(day − D, days covered, kWh, amount) of the account's charges."""
    return [
        ((c.day - D).days, c.days, c.kwh, c.amount)
        for c in PrepaidCharge.objects.filter(account=account).order_by("day")
    ]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(
            ["run -1", "fill 1", "run 0", "fill 2", "run 1", "fill 3", "run 2"],
            [(-1, 1, 10), (0, 1, 10), (1, 1, 3), (2, 1, 2)],
            id="present",
        ),
        pytest.param(
            # The scheduler's catch-up: the exchange day again once its reading is in.
            ["run -1", "run 0", "fill 1 estimated", "fill 2", "run 0", "run 1"],
            [(-1, 1, 10), (0, 1, 10), (1, 1, 3)],
            id="missing-backfilled-day-run-again",
        ),
        pytest.param(
            # Back-filled, but the next charge is the following day's (cron: yesterday only).
            ["run -1", "run 0", "fill 1 estimated", "fill 2", "run 1", "run 0"],
            [(-1, 1, 10), (1, 2, 13)],
            id="missing-backfilled-next-day-charged",
        ),
        pytest.param(
            # Still missing when the next day's charge runs; back-filled afterwards.
            ["run -1", "run 0", "fill 2", "run 1", "fill 1 estimated", "run 0", "run 1", "fill 3", "run 2"],
            [(-1, 1, 10), (1, 2, 13), (2, 1, 2)],
            id="missing-at-the-next-days-charge",
        ),
        pytest.param(
            # The night of the exchange day was not run at all; every reading is in.
            ["run -1", "fill 1", "fill 2", "run 1", "run 0"],
            [(-1, 1, 10), (1, 2, 13)],
            id="missed-night-reading-present",
        ),
        pytest.param(
            # Two nights' readings missing: the charge of 12 March covers 10–12 March.
            ["run -1", "run 0", "run 1", "fill 3", "run 2"],
            [(-1, 1, 10), (2, 3, 15)],
            id="missing-two-days",
        ),
        pytest.param(
            # The exchange day charged; the night after it missed: the old meter is done.
            ["run -1", "fill 1", "run 0", "fill 2", "fill 3", "run 2", "run 1"],
            [(-1, 1, 10), (0, 1, 10), (2, 2, 5)],
            id="present-then-a-missed-night",
        ),
    ],
)
def test_the_exchange_days_old_meter_part_is_charged_exactly_once(
    steps: list[str], expected: list[tuple[int, int, int]]
) -> None:
    account, new = _exchanged("PX01")
    for step in steps:
        verb, offset, *quality = step.split()
        if verb == "run":
            _run(int(offset))
        else:
            _fill(new, int(offset), *quality)

    charges = _charges(account)

    price = Decimal("0.52")
    assert charges == [(day, days, Decimal(kwh), kwh * price) for day, days, kwh in expected]
    # Nothing lost, nothing twice: the charges from 9 March add up to the meters' energy.
    used = 10 + 4 + (int(NEW_READINGS[D + dt.timedelta(days=expected[-1][0] + 1)]) - 100)
    assert sum(kwh for _, _, kwh, _ in charges) == Decimal(used)


def test_first_charge_after_becoming_prepaid_on_the_exchange_day() -> None:
    """Prepaid from the exchange day (no daily charge before): the exchange day's reading
    of the new meter missing, the first charge (11 March) covers 10–11 March from the old
    meter's 00:00 reading of 10 March: 4 + 9 = 13 kWh, 6.76 yuan. Nothing before 10 March
    (billed monthly) is taken."""
    account, new = _exchanged("PX02", billing_mode_since=D)
    assert _run(0)["missing"] == [account.number]
    _fill(new, 2)

    summary = _run(1)

    assert (summary["charged"], summary["kwh"], summary["amount"]) == (1, "13.000", "6.76")
    assert _charges(account) == [(1, 2, Decimal("13.000"), Decimal("6.76"))]


def test_the_old_meter_reinstalled_at_another_account_counts_once_for_each() -> None:
    """The old meter of the exchange goes to another prepaid account on 11 March at 09:00
    (initial 1,004 kWh, 1,010 at 00:00 on 12 March). Both accounts are charged for 11 March
    in one batch: the first covers 10–11 March with the old meter's part up to its removal
    (4 + 9 = 13 kWh), the second the old meter's use at its place (6 kWh) — the meter's
    readings serve each installation for its own days only."""
    account, new = _exchanged("PX03")
    old = Reading.objects.get(meter__asset_no="PX03O", day=D).meter
    other = AccountFactory(is_prepaid=True, tariff_code="HEBS-RES-LV")
    meter_install(
        actor="test",
        meter=old,
        account=other,
        installed_at=dt.datetime.combine(D + dt.timedelta(days=1), dt.time(9), tzinfo=TZ),
        initial_readings={"total": "1004"},
    )
    _put(old, D + dt.timedelta(days=2), "1010")
    _fill(new, 2)
    assert _run(0)["missing"] == [account.number]

    summary = _run(1)

    assert (summary["accounts"], summary["charged"], summary["kwh"]) == (2, 2, "19.000")
    assert _charges(account) == [(1, 2, Decimal("13.000"), Decimal("6.76"))]
    assert _charges(other) == [(1, 1, Decimal("6.000"), Decimal("3.12"))]
