"""Reading corrections and exception handling: ``reading_edit``, ``reading_exceptions_resolve``
and the selectors billing and the console read (held accounts, daily consumption)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from gridcare.core.errors import Conflict, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.metering.choices import ExceptionStatus, ReadingQuality, ReadingSource, VeeRule
from gridcare.metering.models import Reading, ReadingException
from gridcare.metering.selectors.readings import (
    accounts_held_from_billing,
    meter_daily_consumption,
    reading_exceptions_queue,
)
from gridcare.metering.services.readings import reading_edit, reading_exceptions_resolve
from gridcare.metering.tests.readings_fixtures import d, import_lines, installed_meter, series_lines

pytestmark = pytest.mark.django_db


@pytest.fixture
def clerk(make_user):
    return make_user(roles=["billing_clerk"])


@pytest.fixture
def gap(tmp_path):
    """A meter with days 6–10 missing: one open missing-days exception."""
    meter = installed_meter("M1")
    values: list[str | None] = [str(10 * (i + 1)) for i in range(15)]
    values[5:10] = [None] * 5
    import_lines(tmp_path, series_lines("M1", d(1), values))
    return meter, ReadingException.objects.get(meter=meter)


@pytest.fixture
def decreasing(tmp_path):
    meter = installed_meter("M2")
    values = [str(10 * (i + 1)) for i in range(10)]
    values[7] = "50"
    import_lines(tmp_path, series_lines("M2", d(1), values), name="m2.csv")
    return meter, ReadingException.objects.get(meter=meter, rule=VeeRule.DECREASING)


# --- reading_edit -------------------------------------------------------------------------


def test_edit_requires_a_reason_and_changes_nothing_without_one(tmp_path, clerk):
    meter = installed_meter("M1")
    import_lines(tmp_path, series_lines("M1", d(1), ["10", "20"]))
    reading = Reading.objects.get(meter=meter, day=d(1))

    with pytest.raises(ValidationFailed) as err:
        reading_edit(
            actor=clerk,
            meter_id=reading.meter_id,
            register=reading.register,
            day=reading.day,
            value=Decimal("11"),
            reason="  ",
        )

    assert err.value.field == "reason"
    reading.refresh_from_db()
    assert (reading.value, reading.quality) == (Decimal("10.000"), ReadingQuality.VALID)
    assert not AuditEvent.objects.filter(action="reading.edit").exists()


def test_edit_stores_the_value_and_audits_before_and_after(tmp_path, clerk):
    meter = installed_meter("M1")
    import_lines(tmp_path, series_lines("M1", d(1), ["10", "20"]))
    reading = Reading.objects.get(meter=meter, day=d(1))

    edited = reading_edit(
        actor=clerk,
        meter_id=reading.meter_id,
        register=reading.register,
        day=reading.day,
        value=Decimal("11.5"),
        reason="照片核对",
    )

    assert (edited.value, edited.source, edited.quality) == (
        Decimal("11.500"),
        ReadingSource.EDITED,
        ReadingQuality.EDITED,
    )
    event = AuditEvent.objects.get(action="reading.edit")
    assert event.actor == clerk
    assert event.reason == "照片核对"
    assert event.before["value"] == "10.000"
    assert event.after["value"] == "11.500"


# --- resolve ------------------------------------------------------------------------------


def test_open_exception_holds_the_account_from_billing(gap):
    meter, exc = gap
    assert list(accounts_held_from_billing()) == [exc.account]


@pytest.mark.parametrize(
    ("action", "status", "held"),
    [
        ("accept", ExceptionStatus.ACCEPTED, False),
        ("release", ExceptionStatus.RELEASED, False),
        ("reread", ExceptionStatus.REREAD, True),
    ],
)
def test_resolve_sets_the_status_audits_and_updates_the_hold(decreasing, clerk, action, status, held):
    meter, exc = decreasing

    count = reading_exceptions_resolve(actor=clerk, exception_ids=[exc.pk], action=action, note="核实")

    exc.refresh_from_db()
    assert count == 1
    assert (exc.status, exc.resolved_by, exc.resolution_note) == (status, clerk, "核实")
    assert exc.resolved_at is not None
    assert AuditEvent.objects.filter(action=f"reading_exception.{action}", object_id=str(exc.pk)).count() == 1
    assert (exc.account in accounts_held_from_billing()) is held


@pytest.fixture
def spike(tmp_path):
    """A meter using 10 kWh a day for 20 days, then 1,000 kWh on day 21: one open spike
    exception, the day-21 reading suspect."""
    meter = installed_meter("M3")
    values = [str(10 * (i + 1)) for i in range(20)] + ["1200", "1210"]
    import_lines(tmp_path, series_lines("M3", d(1), values), name="m3.csv")
    return meter, ReadingException.objects.get(meter=meter, rule=VeeRule.SPIKE)


@pytest.mark.parametrize("action", ["accept", "release"])
def test_accept_or_release_makes_the_covered_suspect_reading_valid_and_audits_it(spike, clerk, action):
    meter, exc = spike
    reading = Reading.objects.get(meter=meter, register="total", day=exc.day_from)
    assert reading.quality == ReadingQuality.SUSPECT

    reading_exceptions_resolve(actor=clerk, exception_ids=[exc.pk], action=action, note="新增电暖器")

    reading.refresh_from_db()
    assert (reading.value, reading.source, reading.quality) == (
        Decimal("1200.000"),
        ReadingSource.AMI,
        ReadingQuality.VALID,
    )
    event = AuditEvent.objects.get(action="reading.quality")
    assert (event.object_id, event.actor, event.reason) == (
        f"{meter.pk}/total/{exc.day_from}",
        clerk,
        "新增电暖器",
    )
    assert event.before == {"quality": "suspect"}
    assert event.after == {"quality": "valid", "exception": exc.pk, "action": action}


def test_reread_leaves_the_reading_suspect(spike, clerk):
    meter, exc = spike

    reading_exceptions_resolve(actor=clerk, exception_ids=[exc.pk], action="reread")

    assert (
        Reading.objects.get(meter=meter, register="total", day=exc.day_from).quality == ReadingQuality.SUSPECT
    )
    assert not AuditEvent.objects.filter(action="reading.quality").exists()


def test_a_reading_another_open_exception_covers_stays_suspect_until_that_one_is_handled(tmp_path, clerk):
    # given a day-21 total that is both a spike and off its TOU registers: two exceptions
    meter = installed_meter("T1", registers=("total", "peak", "valley"))
    lines = []
    for n in range(1, 22):
        total = 10 * n if n < 21 else 1200
        lines += [f"T1,total,{d(n)},{total}", f"T1,peak,{d(n)},{4 * n}", f"T1,valley,{d(n)},{6 * n}"]
    import_lines(tmp_path, lines)
    spike_exc = ReadingException.objects.get(meter=meter, rule=VeeRule.SPIKE)
    tou_exc = ReadingException.objects.get(meter=meter, rule=VeeRule.TOU_MISMATCH)
    reading = Reading.objects.get(meter=meter, register="total", day=d(21))

    # when the spike is accepted, the TOU mismatch still sent for re-read
    reading_exceptions_resolve(actor=clerk, exception_ids=[tou_exc.pk], action="reread")
    reading_exceptions_resolve(actor=clerk, exception_ids=[spike_exc.pk], action="accept")
    reading.refresh_from_db()
    assert reading.quality == ReadingQuality.SUSPECT

    # then it becomes valid once the other one is released too
    reading_exceptions_resolve(actor=clerk, exception_ids=[tou_exc.pk], action="release")
    reading.refresh_from_db()
    assert reading.quality == ReadingQuality.VALID
    assert AuditEvent.objects.filter(action="reading.quality").count() == 1


@pytest.mark.parametrize("action", ["accept", "release"])
def test_an_accepted_or_released_closing_reading_is_billed_and_counted_in_line_loss(tmp_path, clerk, action):
    """docs/metering.md, docs/billing-runs.md: after accept or release the next run bills
    the account; the reading counts for line loss too."""
    from gridcare.billing.services.period_data import period_data
    from gridcare.billing.tests.runs_fixtures import CLOSING, OCT, OPENING, billable_account
    from gridcare.inspection.services.consumption import accounts_daily_kwh

    account, meter = billable_account(end=None)
    values = [str(1000 + 10 * (i + 1)) for i in range(30)] + ["2200"]  # 2 Oct … 1 Nov: +900 kWh
    import_lines(tmp_path, series_lines(meter.asset_no, OPENING + dt.timedelta(days=1), values))
    exc = ReadingException.objects.get(meter=meter, rule=VeeRule.SPIKE)
    assert exc.day_from == CLOSING
    held = period_data(period=OCT, account_lo=account.pk, account_hi=account.pk)
    assert held.holds["account_id"].to_list() == [account.pk]

    reading_exceptions_resolve(actor=clerk, exception_ids=[exc.pk], action=action, note="核实")

    billed = period_data(period=OCT, account_lo=account.pk, account_hi=account.pk)
    assert billed.holds.is_empty()
    assert billed.periods.select("account_id", "total_wh").rows() == [(account.pk, 1_200_000)]
    last_day = CLOSING - dt.timedelta(days=1)
    daily = accounts_daily_kwh(start=last_day, end=last_day, account_ids=[account.pk])
    assert daily["kwh"].to_list() == [900.0]


def test_estimate_fills_the_missing_days(gap, clerk):
    meter, exc = gap

    reading_exceptions_resolve(actor=clerk, exception_ids=[exc.pk], action="estimate")

    exc.refresh_from_db()
    assert exc.status == ExceptionStatus.ESTIMATED
    estimates = Reading.objects.filter(meter=meter, quality=ReadingQuality.ESTIMATED).order_by("day")
    assert [r.day for r in estimates] == [d(n) for n in range(6, 11)]
    assert [r.value for r in estimates] == [Decimal(10 * n) for n in range(6, 11)]
    assert list(accounts_held_from_billing()) == []


def test_estimate_does_not_extend_a_gap_from_a_suspect_reading(tmp_path, clerk):
    # given 10 kWh a day to day 20, days 21–22 missing and a spike read on day 23
    meter = installed_meter("M4")
    values: list[str | None] = [str(10 * (i + 1)) for i in range(20)] + [None, None, "1200"]
    import_lines(tmp_path, series_lines("M4", d(1), values))
    exc = ReadingException.objects.get(meter=meter, rule=VeeRule.MISSING)
    assert (exc.day_from, exc.day_to) == (d(21), d(22))

    reading_exceptions_resolve(actor=clerk, exception_ids=[exc.pk], action="estimate")

    # then the days go on from the valid reads before the gap, not towards the suspect one
    estimates = Reading.objects.filter(meter=meter, quality=ReadingQuality.ESTIMATED).order_by("day")
    assert [(r.day, r.value) for r in estimates] == [(d(21), Decimal("210.000")), (d(22), Decimal("220.000"))]


def test_estimate_across_a_rollover_interpolates_and_wraps_at_the_register_range(tmp_path, clerk):
    # given a 6-digit meter using 20 kWh a day up to 999,950 on day 10, days 11–15 missing
    # and 10 on day 16 after rolling over (60 kWh in 6 days)
    meter = installed_meter("R1", initial={"total": "999750"})
    values: list[str | None] = [str(999750 + 20 * (i + 1)) for i in range(10)] + [None] * 5 + ["10"]
    import_lines(tmp_path, series_lines("R1", d(1), values))
    exc = ReadingException.objects.get(meter=meter, rule=VeeRule.MISSING)

    reading_exceptions_resolve(actor=clerk, exception_ids=[exc.pk], action="estimate")

    # then the days are interpolated on the unwrapped register and read 0 again at 10**6
    estimates = Reading.objects.filter(meter=meter, quality=ReadingQuality.ESTIMATED).order_by("day")
    assert [(r.day, r.value) for r in estimates] == [
        (d(11), Decimal("999960.000")),
        (d(12), Decimal("999970.000")),
        (d(13), Decimal("999980.000")),
        (d(14), Decimal("999990.000")),
        (d(15), Decimal("0.000")),
    ]
    assert dict(meter_daily_consumption(meter_id=meter.pk, start=d(10), end=d(15))) == {
        d(n): Decimal("10.000") for n in range(10, 16)
    }


def test_only_missing_days_can_be_estimated(decreasing, clerk):
    meter, exc = decreasing

    with pytest.raises(ValidationFailed) as err:
        reading_exceptions_resolve(actor=clerk, exception_ids=[exc.pk], action="estimate")

    assert err.value.field == "action"
    exc.refresh_from_db()
    assert exc.status == ExceptionStatus.OPEN


def test_already_resolved_is_refused_and_nothing_changes(decreasing, gap, clerk):
    _, first = decreasing
    _, second = gap
    reading_exceptions_resolve(actor=clerk, exception_ids=[first.pk], action="accept")

    with pytest.raises(Conflict):
        reading_exceptions_resolve(actor=clerk, exception_ids=[first.pk, second.pk], action="release")

    second.refresh_from_db()
    assert second.status == ExceptionStatus.OPEN
    assert not AuditEvent.objects.filter(action="reading_exception.release").exists()


def test_unknown_action(decreasing, clerk):
    _, exc = decreasing
    with pytest.raises(ValidationFailed) as err:
        reading_exceptions_resolve(actor=clerk, exception_ids=[exc.pk], action="delete")
    assert err.value.field == "action"


# --- selectors ----------------------------------------------------------------------------


def test_queue_filters_and_scopes(decreasing, gap, clerk, make_user):
    assert {e.rule for e in reading_exceptions_queue(user=clerk)} == {VeeRule.DECREASING, VeeRule.MISSING}
    assert [e.rule for e in reading_exceptions_queue(user=clerk, rule=VeeRule.MISSING)] == [VeeRule.MISSING]
    assert list(reading_exceptions_queue(user=clerk, area_type="remote")) == []
    assert list(reading_exceptions_queue(user=clerk, min_age_days=3)) == []
    assert list(reading_exceptions_queue(user=make_user(roles=["repair_crew"]))) == []


def test_queue_query_count(decreasing, gap, clerk, django_assert_num_queries):
    list(reading_exceptions_queue(user=clerk))  # roles and permissions are cached on the user
    with django_assert_num_queries(1):
        rows = list(reading_exceptions_queue(user=clerk))
        assert [r.account.service_point.transformer.code for r in rows]


def test_daily_consumption_uses_the_multiplier(tmp_path):
    meter = installed_meter("M1", multiplier="40")
    import_lines(tmp_path, series_lines("M1", d(1), ["10", "12.5", "20"]))

    # the 00:00 freezes of days 1, 2, 3 close days 1 and 2 (day 3 needs day 4's freeze)
    assert meter_daily_consumption(meter_id=meter.pk, start=d(1), end=d(3)) == [
        (d(1), Decimal("100.000")),
        (d(2), Decimal("300.000")),
    ]


def test_daily_consumption_counts_a_rollover_through(tmp_path):
    meter = installed_meter("R1", digits=4, initial={"total": "9900"})
    import_lines(tmp_path, series_lines("R1", d(1), ["9980", "5", "25"]))

    assert meter_daily_consumption(meter_id=meter.pk, start=d(1), end=d(2)) == [
        (d(1), Decimal("25.000")),
        (d(2), Decimal("20.000")),
    ]


def test_daily_consumption_leaves_out_suspect_readings_and_decreases_that_are_no_rollover(tmp_path, clerk):
    # given a mistyped 4990 after 5000 on day 12 (suspect) and 5020 on day 13
    meter = installed_meter("M1")
    values = [str(4900 + 10 * i) for i in range(11)] + ["4990", "5020"]
    import_lines(tmp_path, series_lines("M1", d(1), values))
    exc = ReadingException.objects.get(meter=meter, rule=VeeRule.DECREASING)

    # then days 11 and 12 have no bar while the reading is suspect…
    chart = dict(meter_daily_consumption(meter_id=meter.pk, start=d(10), end=d(12)))
    assert chart == {d(10): Decimal("10.000")}

    # …nor once a clerk accepted it: a decrease that is no rollover is no consumption
    reading_exceptions_resolve(actor=clerk, exception_ids=[exc.pk], action="accept")
    chart = dict(meter_daily_consumption(meter_id=meter.pk, start=d(10), end=d(12)))
    assert chart == {d(10): Decimal("10.000"), d(12): Decimal("30.000")}
