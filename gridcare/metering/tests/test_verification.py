"""Meter verification requests (计量装置校验申请): filing with the working-day deadline,
the test result against the class tolerance, the 退补 record (1996 第八十条 half period),
closing, and the list with its deadline colours.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from gridcare.core.errors import Conflict, NotFound, ValidationFailed
from gridcare.core.models import AuditEvent, CalendarDay
from gridcare.core.tests.factories import valid_id_number, valid_mobile
from gridcare.core.workdays import working_day_deadline
from gridcare.customers import services as customer_services
from gridcare.customers.choices import CustomerKind
from gridcare.metering.choices import AdjustmentDirection, AdjustmentStatus, VerificationStatus
from gridcare.metering.models import (
    Adjustment,
    Meter,
    MeterClassPolicy,
    VerificationPolicy,
    VerificationRequest,
)
from gridcare.metering.selectors.verification import (
    deadline_state,
    verification_policy_at,
    verification_request_get,
    verification_requests_list,
)
from gridcare.metering.services.assets import meter_exchange
from gridcare.metering.services.verification import (
    REFUND_RULE,
    verification_request_close,
    verification_request_file,
    verification_result_record,
)
from gridcare.metering.tests.test_assets import at, install, make_account, make_meter

pytestmark = pytest.mark.django_db


def verification_counts() -> dict[str, int]:
    return {
        "requests": VerificationRequest.objects.count(),
        "adjustments": Adjustment.objects.count(),
        "audit": AuditEvent.objects.count(),
    }


def installed_account(**meter_kwargs: Any) -> tuple[Any, Meter]:
    """An account with a class-2 meter installed on 2020-03-15 (made 2019-06-01, verified
    2019-12-01 unless overridden)."""
    account = make_account()
    data = {"manufactured_on": dt.date(2019, 6, 1), "last_verified_on": dt.date(2019, 12, 1)}
    data.update(meter_kwargs)
    meter = make_meter(**data)
    install(meter, account, at(2020, 3, 15, 10))
    return account, meter


def file(account: Any, when: dt.datetime | None = None, **kwargs: Any) -> VerificationRequest:
    return verification_request_file(
        actor="test", account=account, requested_at=when or at(2026, 3, 10, 9), **kwargs
    )


def record(request: VerificationRequest, error: str, when: dt.datetime | None = None) -> VerificationRequest:
    return verification_result_record(
        actor="test",
        request_id=request.pk,
        error_pct=Decimal(error),
        tested_at=when or at(2026, 3, 16, 15),
        tester="计量中心 王工",
    )


# --- filing -------------------------------------------------------------------------------


def test_the_seeded_policy_is_five_working_days_from_2023() -> None:
    policy = verification_policy_at(dt.date(2026, 1, 1))
    assert policy is not None
    assert (policy.effective_from, policy.result_working_days) == (dt.date(2023, 1, 1), 5)
    assert "十项承诺 第七条" in policy.source
    assert verification_policy_at(dt.date(2022, 12, 31)) is None


def test_file_over_the_2026_national_day_holiday(make_user: Any) -> None:
    # given an account with a meter and a counter clerk
    clerk = make_user(roles=["counter_clerk"])
    account, meter = installed_account()
    requested = at(2026, 9, 30, 10)
    # when the customer files on 2026-09-30, the eve of 国庆 (10-01..10-07 off)
    request = verification_request_file(
        actor=clerk, account=account, requested_at=requested, complaint="电费比去年同期高一倍"
    )
    # then the result is due at the end of the 5th working day after: 10-08, 10-09,
    # 10-10 (调休 Saturday), 10-12, 10-13
    expected = dt.datetime(2026, 10, 13, 23, 59, 59, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert working_day_deadline(requested, 5) == expected  # the calendar agrees
    request.refresh_from_db()
    assert request.due_at == expected
    # and the request is open, numbered, on the installed meter, filed by the clerk
    assert request.number == "JY2026000001"
    assert (request.meter_id, request.account_id) == (meter.pk, account.pk)
    assert (request.status, request.channel, request.created_by) == (
        VerificationStatus.OPEN,
        "counter",
        clerk,
    )
    assert request.complaint == "电费比去年同期高一倍"
    event = AuditEvent.objects.get(object_type="metering.verificationrequest")
    assert (event.action, event.actor) == ("verification.file", clerk)
    assert event.after["due_at"] == "2026-10-13T23:59:59+08:00"


def test_numbers_follow_the_sequence_and_the_request_year() -> None:
    first = file(installed_account()[0], at(2025, 12, 31, 23, 30))
    second = file(installed_account()[0], at(2026, 1, 2, 9))
    assert (first.number, second.number) == ("JY2025000001", "JY2026000002")


def test_deadline_follows_calendar_overrides_and_newer_policies() -> None:
    # given a company override making Friday 2026-03-13 a day off, and a 3-day policy from 2026-04-01
    CalendarDay.objects.create(date=dt.date(2026, 3, 13), is_workday=False, name="测试停休")
    VerificationPolicy.objects.create(
        effective_from=dt.date(2026, 4, 1), result_working_days=3, source="测试"
    )
    account, _ = installed_account()
    # when a request is filed on Monday 2026-03-09 under the 5-day policy
    march = file(account, at(2026, 3, 9, 9))
    # then the 5th working day skips the overridden Friday: 10, 11, 12, 16, 17
    assert march.due_at == at(2026, 3, 17, 23, 59, 59)
    # and a request filed on Thursday 2026-04-02 gets 3 working days: 04-03, 04-07, 04-08
    # (04-04..06 清明)
    other, _ = installed_account()
    april = file(other, at(2026, 4, 2, 9))
    assert april.due_at == working_day_deadline(at(2026, 4, 2, 9), 3)
    assert april.due_at.astimezone(at(2026, 1, 1).tzinfo).date() == dt.date(2026, 4, 8)


@pytest.mark.parametrize(
    ("case", "error", "field"),
    [
        ("no_meter", ValidationFailed, "meter"),
        ("foreign_meter", ValidationFailed, "meter"),
        ("already_open", Conflict, "meter"),
        ("naive_time", ValidationFailed, "requested_at"),
        ("future_time", ValidationFailed, "requested_at"),
        ("before_policy", ValidationFailed, "requested_at"),
        ("no_channel", ValidationFailed, "channel"),
    ],
)
def test_file_refusals_change_nothing(case: str, error: type[Exception], field: str) -> None:
    account, _ = installed_account()
    kwargs: dict[str, Any] = {"actor": "test", "account": account, "requested_at": at(2026, 3, 10, 9)}
    if case == "no_meter":
        kwargs["account"] = make_account()
    elif case == "foreign_meter":
        kwargs["meter"] = installed_account()[1]
    elif case == "already_open":
        file(account)
    elif case == "naive_time":
        kwargs["requested_at"] = dt.datetime(2026, 3, 10, 9)  # noqa: DTZ001 - the point of the test
    elif case == "future_time":
        kwargs["requested_at"] = at(2099, 3, 10, 9)
    elif case == "before_policy":
        kwargs["requested_at"] = at(2022, 12, 30, 9)
    elif case == "no_channel":
        kwargs["channel"] = " "
    before = verification_counts()
    with pytest.raises(error) as err:
        verification_request_file(**kwargs)
    assert err.value.field == field  # type: ignore[attr-defined]
    assert verification_counts() == before


def test_file_for_a_meter_exchanged_away_from_the_account() -> None:
    # given an account whose meter was exchanged; the customer disputes the old meter
    account, old = installed_account()
    new = make_meter()
    meter_exchange(
        actor="test",
        account=account,
        new_meter=new,
        at=at(2026, 2, 1, 9),
        old_final_readings={"total": "10", "peak": "4", "valley": "6"},
        new_initial_readings={"total": "0", "peak": "0", "valley": "0"},
        reason="故障换表",
    )
    # when filed for the old meter explicitly, and by default
    on_old = file(account, meter=old)
    on_new = file(account)
    # then each request is on its meter
    assert (on_old.meter_id, on_new.meter_id) == (old.pk, new.pk)


# --- the result ------------------------------------------------------------------------


def test_a_result_within_tolerance_raises_no_adjustment() -> None:
    # given an open request on a class-2 meter (±2.00 %)
    account, meter = installed_account()
    request = file(account)
    # when the test finds exactly -2.00 %
    tested = record(request, "-2.00")
    # then it is within tolerance, tested, and nothing is refunded or back-billed
    tested.refresh_from_db()
    assert tested.status == VerificationStatus.TESTED
    assert (tested.error_pct, tested.tolerance_pct, tested.within_tolerance) == (
        Decimal("-2.00"),
        Decimal("2.00"),
        True,
    )
    assert tested.tested_at == at(2026, 3, 16, 15)
    assert tested.tester == "计量中心 王工"
    assert Adjustment.objects.count() == 0
    # and the customer test does not count as the periodic verification
    meter.refresh_from_db()
    assert meter.last_verified_on == dt.date(2019, 12, 1)
    event = AuditEvent.objects.get(action="verification.tested")
    assert event.before["status"] == "open"
    assert event.after == {
        "status": "tested",
        "tested_at": "2026-03-16T15:00:00+08:00",
        "error_pct": "-2.00",
        "tolerance_pct": "2.00",
        "within_tolerance": True,
        "tester": "计量中心 王工",
    }


def test_a_fast_meter_is_refunded_over_half_the_time_since_installation() -> None:
    # given a meter verified 2019-12-01 and installed 2020-03-15 (the later: the base date)
    account, meter = installed_account()
    request = file(account)
    # when it tests 2.50 % fast on 2026-03-16
    tested = record(request, "2.50")
    # then a refund covers floor(2192 / 2) = 1096 days up to the test date
    assert tested.within_tolerance is False
    adjustment = Adjustment.objects.get()
    assert adjustment.verification_id == request.pk
    assert (adjustment.account_id, adjustment.meter_id) == (account.pk, meter.pk)
    assert adjustment.direction == AdjustmentDirection.REFUND
    assert adjustment.error_pct == Decimal("2.50")
    assert (adjustment.period_start, adjustment.period_end) == (dt.date(2023, 3, 16), dt.date(2026, 3, 16))
    assert (adjustment.period_end - adjustment.period_start).days == 1096
    assert adjustment.status == AdjustmentStatus.OPEN
    assert adjustment.rule == REFUND_RULE
    assert "第八十条" in adjustment.rule
    assert "未核实" in adjustment.rule
    event = AuditEvent.objects.get(action="adjustment.create")
    assert event.object_id == str(adjustment.pk)
    assert event.after["base_date"] == "2020-03-15"
    assert event.after["direction"] == "refund"


def test_a_slow_meter_is_back_billed_from_its_later_verification() -> None:
    # given a meter installed 2020-03-15 but verified later, on 2025-01-10
    account, _ = installed_account(last_verified_on=dt.date(2025, 1, 10))
    request = file(account, at(2026, 1, 5, 9))
    # when it tests 3.10 % slow on 2026-01-11
    record(request, "-3.10", at(2026, 1, 11, 10))
    # then a back-bill covers floor(366 / 2) = 183 days
    adjustment = Adjustment.objects.get()
    assert adjustment.direction == AdjustmentDirection.BACK_BILL
    assert adjustment.error_pct == Decimal("-3.10")
    assert (adjustment.period_start, adjustment.period_end) == (dt.date(2025, 7, 12), dt.date(2026, 1, 11))


def test_the_tolerance_is_the_class_policy_in_force_on_the_test_day() -> None:
    # given a stricter class-2 policy from 2026-03-16
    MeterClassPolicy.objects.create(
        accuracy_class="2",
        effective_from=dt.date(2026, 3, 16),
        tolerance_pct=Decimal("1.00"),
        verification_interval_months=96,
        replacement_years=8,
        source="测试",
    )
    first, _ = installed_account()
    second, _ = installed_account()
    early, late = file(first), file(second)
    # when both meters test 1.50 % fast, one the day before the new policy and one on its first day
    record(early, "1.50", at(2026, 3, 15, 15))
    record(late, "1.50", at(2026, 3, 16, 15))
    early.refresh_from_db()
    late.refresh_from_db()
    # then the first is within ±2.00 % and the second beyond ±1.00 %
    assert (early.tolerance_pct, early.within_tolerance) == (Decimal("2.00"), True)
    assert (late.tolerance_pct, late.within_tolerance) == (Decimal("1.00"), False)
    assert list(Adjustment.objects.values_list("verification_id", flat=True)) == [late.pk]


@pytest.mark.parametrize(
    ("case", "error", "field"),
    [
        ("already_tested", Conflict, "status"),
        ("before_request", ValidationFailed, "tested_at"),
        ("future", ValidationFailed, "tested_at"),
        ("three_places", ValidationFailed, "error_pct"),
        ("float", ValidationFailed, "error_pct"),
        ("text", ValidationFailed, "error_pct"),
        ("huge", ValidationFailed, "error_pct"),
        ("no_tester", ValidationFailed, "tester"),
    ],
)
def test_result_refusals_change_nothing(case: str, error: type[Exception], field: str) -> None:
    account, _ = installed_account()
    request = file(account)
    kwargs: dict[str, Any] = {
        "actor": "test",
        "request_id": request.pk,
        "error_pct": Decimal("5.00"),
        "tested_at": at(2026, 3, 16, 15),
        "tester": "王工",
    }
    if case == "already_tested":
        record(request, "0.10")
    elif case == "before_request":
        kwargs["tested_at"] = at(2026, 3, 9, 9)
    elif case == "future":
        kwargs["tested_at"] = at(2099, 1, 1, 9)
    elif case == "three_places":
        kwargs["error_pct"] = Decimal("2.005")
    elif case == "float":
        kwargs["error_pct"] = 2.5
    elif case == "text":
        kwargs["error_pct"] = "偏快"
    elif case == "huge":
        kwargs["error_pct"] = Decimal("10000")
    elif case == "no_tester":
        kwargs["tester"] = ""
    before = verification_counts()
    state = VerificationRequest.objects.filter(pk=request.pk).values().get()
    with pytest.raises(error) as err:
        verification_result_record(**kwargs)
    assert err.value.field == field  # type: ignore[attr-defined]
    assert verification_counts() == before
    assert VerificationRequest.objects.filter(pk=request.pk).values().get() == state


def test_result_for_an_unknown_request_is_not_found() -> None:
    with pytest.raises(NotFound):
        verification_result_record(
            actor="test", request_id=999_999, error_pct=Decimal("1"), tested_at=at(2026, 3, 16), tester="王工"
        )


# --- closing ----------------------------------------------------------------------------


def test_close_a_tested_request_with_a_note() -> None:
    account, _ = installed_account()
    request = record(file(account), "0.50")
    closed = verification_request_close(actor="test", request_id=request.pk, note="已电话告知客户校验合格")
    closed.refresh_from_db()
    assert closed.status == VerificationStatus.CLOSED
    event = AuditEvent.objects.get(action="verification.closed")
    assert event.reason == "已电话告知客户校验合格"
    assert (event.before["status"], event.after["status"]) == ("tested", "closed")


def test_close_refuses_an_untested_request_and_an_empty_note() -> None:
    account, _ = installed_account()
    request = file(account)
    before = verification_counts()
    with pytest.raises(Conflict):
        verification_request_close(actor="test", request_id=request.pk, note="客户撤回")
    record(request, "0.50")
    with pytest.raises(ValidationFailed) as err:
        verification_request_close(actor="test", request_id=request.pk, note="  ")
    assert err.value.field == "note"
    request.refresh_from_db()
    assert request.status == VerificationStatus.TESTED
    assert verification_counts()["requests"] == before["requests"]


# --- the list and its deadline colours --------------------------------------------------


@pytest.mark.parametrize(
    ("before_due", "state"),
    [
        (dt.timedelta(days=3), "ok"),
        (dt.timedelta(hours=24, seconds=1), "ok"),
        (dt.timedelta(hours=24), "warn"),
        (dt.timedelta(0), "warn"),
        (dt.timedelta(seconds=-1), "danger"),
        (dt.timedelta(days=-2), "danger"),
    ],
)
def test_deadline_state(before_due: dt.timedelta, state: str) -> None:
    due = at(2026, 10, 13, 23, 59, 59)
    assert deadline_state(due, due - before_due) == state


def test_deadline_state_needs_aware_times() -> None:
    with pytest.raises(ValueError, match="aware"):
        deadline_state(dt.datetime(2026, 1, 1), at(2026, 1, 1))  # noqa: DTZ001


def test_list_colours_and_filters(make_user: Any) -> None:
    # given three requests filed on different days and one answered late
    tech = make_user(roles=["metering_tech"])
    due_soon = file(installed_account()[0], at(2026, 3, 10, 9))  # due 03-17 23:59:59
    overdue = file(installed_account()[0], at(2026, 3, 2, 9))  # due 03-09 23:59:59
    later = file(installed_account()[0], at(2026, 3, 16, 9))  # due 03-23 23:59:59
    late_answer = file(installed_account()[0], at(2026, 2, 24, 9))  # due 03-03 23:59:59
    record(late_answer, "0.20", at(2026, 3, 5, 10))
    now = at(2026, 3, 17, 8)

    def listed(**kwargs: Any) -> list[tuple[str, str]]:
        return [
            (r.number, r.deadline_state) for r in verification_requests_list(user=tech, now=now, **kwargs)
        ]

    # then the list is oldest deadline first, each with its colour
    assert listed() == [
        (late_answer.number, "danger"),
        (overdue.number, "danger"),
        (due_soon.number, "warn"),
        (later.number, "ok"),
    ]
    assert listed(overdue=True) == [(overdue.number, "danger")]
    assert [n for n, _ in listed(overdue=False)] == [late_answer.number, due_soon.number, later.number]
    assert listed(status="tested") == [(late_answer.number, "danger")]
    with pytest.raises(ValidationFailed):
        listed(status="lost")
    got = verification_request_get(user=tech, request_id=due_soon.pk, now=now)
    assert got.deadline_state == "warn"


def test_list_is_scoped_by_role(make_user: Any) -> None:
    # given two customers' requests, one customer with a portal login
    person = customer_services.customer_create(
        actor="test",
        kind=CustomerKind.PERSON,
        name="李四",
        id_number=valid_id_number(9901),
        mobile=valid_mobile(9901),
    )
    own_account = make_account(customer=person)
    install(make_meter(), own_account, at(2024, 1, 1, 9))
    login = customer_services.customer_portal_login_create(
        actor="test", customer=person, username="lisi", password="Meter-check-2026"
    )
    own = file(own_account)
    other = file(installed_account()[0])
    # then staff see both, the customer only their own, a user without the role none
    assert {r.pk for r in verification_requests_list(user=make_user(roles=["hotline_agent"]))} == {
        own.pk,
        other.pk,
    }
    assert [r.pk for r in verification_requests_list(user=login)] == [own.pk]
    assert verification_requests_list(user=make_user(roles=[])) == []
    with pytest.raises(NotFound):
        verification_request_get(user=login, request_id=other.pk)
