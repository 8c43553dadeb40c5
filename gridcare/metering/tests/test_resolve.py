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
from gridcare.metering.tests.readings_fixtures import DAY0, import_lines, installed_meter, series_lines

pytestmark = pytest.mark.django_db


def d(n: int) -> dt.date:
    return DAY0 + dt.timedelta(days=n)


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


def test_estimate_fills_the_missing_days(gap, clerk):
    meter, exc = gap

    reading_exceptions_resolve(actor=clerk, exception_ids=[exc.pk], action="estimate")

    exc.refresh_from_db()
    assert exc.status == ExceptionStatus.ESTIMATED
    estimates = Reading.objects.filter(meter=meter, quality=ReadingQuality.ESTIMATED).order_by("day")
    assert [r.day for r in estimates] == [d(n) for n in range(6, 11)]
    assert [r.value for r in estimates] == [Decimal(10 * n) for n in range(6, 11)]
    assert list(accounts_held_from_billing()) == []


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
