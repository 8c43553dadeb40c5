"""Status and billing-mode changes between the two settlement paths: the monthly run bills
an account's supplied postpaid days, the daily charge its supplied prepaid days, so every
day of supply is settled exactly once, by exactly one of them (docs/billing-runs.md "Which
accounts are billed", docs/billing-prepaid.md).

Each scenario: daily readings for October, the change recorded through the archive
service (customers ``account_update``), the daily charges of October, then the October run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from gridcare.billing.models import Bill, BillingHold, PrepaidCharge
from gridcare.billing.services.period_data import period_data
from gridcare.billing.services.prepaid import prepaid_daily_charges
from gridcare.billing.services.runs import billing_run
from gridcare.billing.tests.factories_bills import notice_bill
from gridcare.billing.tests.runs_fixtures import OCT, OCT31, billable_account, put_reading
from gridcare.core.errors import ValidationFailed
from gridcare.customers import services
from gridcare.customers.choices import AccountStatus

pytestmark = pytest.mark.django_db

NOV = dt.date(2026, 11, 1)
OCTOBER = [OCT + dt.timedelta(days=i) for i in range(31)]


@pytest.fixture(autouse=True)
def _data_dir(settings: Any, tmp_path: Any) -> None:
    settings.DATA_DIR = tmp_path
    settings.GRIDCARE_SMS_BACKEND = "file"


def _account(per_day: list[int], **kwargs: Any) -> Any:
    """An account with its daily frozen readings from 1 October to 1 November (``per_day``:
    the kWh used on each October day)."""
    account, meter = billable_account(start=None, end=None, **kwargs)
    value = 1000
    put_reading(meter, "total", OCT, str(value))
    for day, kwh in zip(OCTOBER, per_day, strict=True):
        value += kwh
        put_reading(meter, "total", day + dt.timedelta(days=1), str(value))
    return account


def _update(account: Any, **changes: Any) -> Any:
    account.refresh_from_db()
    return services.account_update(actor="clerk", account_id=account.pk, version=account.version, **changes)


def _charge(days: list[dt.date]) -> None:
    for day in days:
        prepaid_daily_charges(day=day, actor="ops")


def _settled(account: Any, bill: tuple[dt.date, dt.date, int] | None) -> tuple[list[dt.date], int]:
    """Every October day settled for the account, once per path that settled it (sorted),
    and the Wh they were settled for. ``bill``: the monthly bill's (first day, last day, Wh)."""
    days: list[dt.date] = []
    wh = 0
    for day, covered, kwh in PrepaidCharge.objects.filter(account=account).values_list("day", "days", "kwh"):
        days += [day - dt.timedelta(days=i) for i in range(covered)]
        wh += int(kwh * 1000)
    if bill is not None:
        first, last, bill_wh = bill
        days += [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
        wh += bill_wh
    return sorted(days), wh


def _run_october(account: Any) -> tuple[dt.date, dt.date, int] | None:
    run = billing_run(period="2026-10", actor="clerk")
    assert not BillingHold.objects.filter(run=run, account=account).exists()
    bill = Bill.objects.filter(period=OCT, account=account).first()
    if bill is None:
        return None
    return bill.period_start, bill.period_end, int(bill.kwh * 1000)


def test_prepaid_in_october_then_postpaid_from_2_november_is_not_billed_again_for_october() -> None:
    account = _account([5] * 31, is_prepaid=True)
    _charge(OCTOBER)
    with pytest.raises(ValidationFailed) as exc_info:  # October is charged already
        _update(account, is_prepaid=False, billing_mode_since=dt.date(2026, 10, 20))
    assert "charged daily up to 2026-10-31" in str(exc_info.value.message)
    _update(account, is_prepaid=False, billing_mode_since=dt.date(2026, 11, 2))

    bill = _run_october(account)

    assert bill is None
    assert _settled(account, bill) == (OCTOBER, 155_000)


def test_postpaid_in_october_then_prepaid_from_2_november_gets_its_october_bill() -> None:
    account = _account([5] * 31)
    _update(account, is_prepaid=True, billing_mode_since=dt.date(2026, 11, 2))
    _charge(OCTOBER)  # October is not prepaid: nothing charged

    bill = _run_october(account)

    assert bill == (OCT, OCT31, 155_000)
    assert _settled(account, bill) == (OCTOBER, 155_000)


def test_switched_to_prepaid_mid_october_is_billed_to_the_day_before_and_charged_from_it() -> None:
    account = _account(list(range(1, 32)))
    _update(account, is_prepaid=True, billing_mode_since=dt.date(2026, 10, 16))
    _charge(OCTOBER)

    bill = _run_october(account)

    assert bill == (OCT, dt.date(2026, 10, 15), sum(range(1, 16)) * 1000)
    assert _settled(account, bill) == (OCTOBER, sum(range(1, 32)) * 1000)


def test_switching_back_to_postpaid_waits_for_the_bill_of_the_postpaid_days_before() -> None:
    """Postpaid, prepaid from 20 October, back to postpaid from 1 November: only the latest
    switch is kept, so 1–19 October must be billed before the switch back — refused until
    the October run has billed them; then every day is settled once."""
    account = _account([5] * 31)
    _update(account, is_prepaid=True, billing_mode_since=dt.date(2026, 10, 20))
    _charge(OCTOBER)
    with pytest.raises(ValidationFailed) as exc_info:
        _update(account, is_prepaid=False, billing_mode_since=NOV)
    assert exc_info.value.field == "billing_mode_since"
    assert "bill of 2026-10" in str(exc_info.value.message)

    bill = _run_october(account)
    _update(account, is_prepaid=False, billing_mode_since=NOV)

    assert bill == (OCT, dt.date(2026, 10, 19), 95_000)
    assert _settled(account, bill) == (OCTOBER, 155_000)
    assert _run_october(account) == bill  # the switch back does not bill October again


def test_annual_tier_position_counts_the_years_bills_after_switching_to_prepaid() -> None:
    """Postpaid to October with 2,150 kWh billed in 2026, prepaid from 1 November: the
    daily charge starts at 2,150 kWh in the year — 30 kWh on 1 November cross 2,160 kWh:
    10 × 0.52 + 20 × 0.57 = 16.60 yuan, not 30 × 0.52 as if the year started again."""
    account, meter = billable_account(start=None, end=None)
    notice_bill(account=account, period=OCT, kwh="2150.000", amount="1118.00", tariff_code="HEBS-RES-LV")
    _update(account, is_prepaid=True, billing_mode_since=NOV)
    put_reading(meter, "total", NOV, "5000")
    put_reading(meter, "total", NOV + dt.timedelta(days=1), "5030")

    summary = prepaid_daily_charges(day=NOV, actor="ops")

    assert (summary["charged"], summary["amount"]) == (1, "16.60")


@pytest.mark.parametrize("since", [NOV, dt.date(2026, 11, 11)])
def test_annual_tier_position_counts_the_years_daily_charges_after_switching_to_postpaid(
    since: dt.date,
) -> None:
    """Prepaid with 2,150 kWh charged daily in 2026 (the last 10 on the day before the
    switch), postpaid from ``since``: the November bill starts at 2,150 kWh in the year."""
    account, meter = billable_account(start=None, end=None, is_prepaid=True)
    for day, kwh in ((dt.date(2026, 10, 20), "2140"), (since - dt.timedelta(days=1), "10")):
        PrepaidCharge.objects.create(
            account=account, day=day, kwh=kwh, amount="0", balance_after="0", created_at=timezone.now()
        )
    _update(account, is_prepaid=False, billing_mode_since=since)
    put_reading(meter, "total", since, "5000")
    put_reading(meter, "total", dt.date(2026, 12, 1), "5100")

    data = period_data(period=NOV, account_lo=account.pk, account_hi=account.pk)

    assert [r["ytd_wh_before"] for r in data.periods.to_dicts()] == [2_150_000]


def test_suspended_on_3_november_is_billed_for_the_whole_of_october() -> None:
    account = _account([5] * 31)
    _update(account, status=AccountStatus.SUSPENDED, suspended_on=dt.date(2026, 11, 3))

    bill = _run_october(account)

    assert bill == (OCT, OCT31, 155_000)


def test_suspended_mid_october_is_billed_to_its_last_day_of_supply() -> None:
    account = _account([5] * 31)
    _update(account, status=AccountStatus.SUSPENDED, suspended_on=dt.date(2026, 10, 15))

    bill = _run_october(account)

    assert bill == (OCT, dt.date(2026, 10, 15), 75_000)


def test_prepaid_account_closed_back_dated_gets_its_last_days_charged() -> None:
    """Charged to 20 October, closed on 25 October (recorded later): the daily cycle still
    charges 21–25 October from the readings, nothing after, and no bill is made."""
    account = _account([5] * 31, is_prepaid=True)
    _charge(OCTOBER[:20])
    _update(account, status=AccountStatus.CLOSED, closed_on=dt.date(2026, 10, 25))
    _charge(OCTOBER[20:])

    bill = _run_october(account)

    assert bill is None
    assert _settled(account, bill) == (OCTOBER[:25], 125_000)


@settings(max_examples=12, deadline=None)
@given(
    per_day=st.lists(st.integers(min_value=0, max_value=40), min_size=31, max_size=31),
    change=st.sampled_from(["to_prepaid", "to_postpaid", "suspend", "close"]),
    was_prepaid=st.booleans(),
    offset=st.integers(min_value=0, max_value=32),
)
def test_every_day_of_supply_is_settled_once_by_one_path(
    per_day: list[int], change: str, was_prepaid: bool, offset: int
) -> None:
    """Property: for any change dated on any day from 1 October to 2 November, the October
    bill (``period_data``) and the October daily charges together cover each day of supply
    exactly once, for exactly the energy of those days."""
    day = OCT + dt.timedelta(days=offset)
    prepaid = {"to_prepaid": False, "to_postpaid": True}.get(change, was_prepaid)
    account = _account(per_day, is_prepaid=prepaid)
    last_supplied = OCT31
    if change in ("to_prepaid", "to_postpaid"):
        _update(account, is_prepaid=not prepaid, billing_mode_since=day)
    elif change == "suspend":
        _update(account, status=AccountStatus.SUSPENDED, suspended_on=day)
        last_supplied = min(day, OCT31)
    else:
        _update(account, status=AccountStatus.CLOSED, closed_on=day)
        last_supplied = min(day, OCT31)
    _charge(OCTOBER)

    data = period_data(period=OCT, account_lo=account.pk, account_hi=account.pk)

    assert data.holds.height == 0
    rows = data.periods.to_dicts()
    bill = (rows[0]["period_start"], rows[0]["period_end"], rows[0]["total_wh"]) if rows else None
    supplied = [d for d in OCTOBER if d <= last_supplied]
    assert _settled(account, bill) == (supplied, sum(per_day[: len(supplied)]) * 1000)
