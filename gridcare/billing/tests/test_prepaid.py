"""Prepaid (费控): daily charges from daily readings, thresholds → notices → orders, the
important-customer rule, payment → reconnect, a person's decision (services)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl
import pytest
from django.core.management import call_command
from django.utils import timezone, translation
from django.utils.translation import gettext
from hypothesis import given
from hypothesis import strategies as st

from gridcare.billing import seed_data
from gridcare.billing.choices import PrepaidNoticeLevel, RemoteOrderKind, RemoteOrderStatus
from gridcare.billing.models import AccountBalance, PrepaidCharge, PrepaidNotice, RemoteOrder
from gridcare.billing.services.catalogue import tariff_version_add
from gridcare.billing.services.period_data import month_bounds, reading_days
from gridcare.billing.services.prepaid import (
    prepaid_after_payment,
    prepaid_check_balances,
    prepaid_daily_charges,
    remote_order_confirm,
    remote_order_decide,
    remote_order_send,
    remote_orders_dispatch,
    usage_wh_expr,
)
from gridcare.core.errors import Conflict, PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.customers.tests.factories import AccountFactory
from gridcare.metering.models import Reading
from gridcare.metering.services.assets import meter_exchange
from gridcare.metering.tests.readings_fixtures import installed_meter, stock_meter

pytestmark = pytest.mark.django_db

TZ = dt.timezone(dt.timedelta(hours=8))
D = dt.date(2026, 3, 1)


def at(day: dt.date, hour: int = 9) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=TZ)


@pytest.fixture(autouse=True)
def _data_dir(settings: Any, tmp_path: Any) -> None:
    settings.DATA_DIR = tmp_path
    settings.GRIDCARE_SMS_BACKEND = "file"


def prepaid(
    asset: str, *, tariff: str = "HEBS-RES-LV", digits: int = 6, multiplier: str = "1", **kw: Any
) -> Any:
    account = AccountFactory(is_prepaid=True, tariff_code=tariff, **kw)
    meter = installed_meter(
        asset, account=account, installed_on=dt.date(2026, 1, 5), digits=digits, multiplier=multiplier
    )
    return account, meter


def readings(
    meter: Any, values: dict[dt.date, str], *, quality: str = "valid", register: str = "total"
) -> None:
    Reading.objects.bulk_create(
        [
            Reading(meter=meter, register=register, day=day, value=Decimal(v), source="ami", quality=quality)
            for day, v in values.items()
        ]
    )


def set_balance(account: Any, amount: str) -> None:
    AccountBalance.objects.update_or_create(account=account, defaults={"amount": Decimal(amount)})


def balance(account: Any) -> Decimal:
    return AccountBalance.objects.get(account=account).amount


def given_charge(account: Any, day: dt.date, *, kwh: str, amount: str, after: str) -> None:
    """A charge of an earlier day (given state): it sets the year's kWh so far and, by its
    balance before/after, the last threshold crossing."""
    PrepaidCharge.objects.create(
        account=account,
        day=day,
        kwh=Decimal(kwh),
        amount=Decimal(amount),
        balance_after=Decimal(after),
        created_at=at(day),
    )


# --- the daily charge ---------------------------------------------------------------------------


def test_tier_crossing_across_days_hand_computed() -> None:
    """Annual tiers (HEBS-RES-LV: ≤ 2,160 kWh 0.52, ≤ 3,360 kWh 0.57 yuan/kWh). 2,150 kWh charged
    earlier this year; 30 kWh used on 1 March (the readings frozen at 00:00 of 1 and 2 March)
    cross the first tier: 10 × 0.52 + 20 × 0.57 = 16.60; 15 kWh on 2 March are all in tier 2:
    15 × 0.57 = 8.55."""
    account, meter = prepaid("PP0001")
    given_charge(account, dt.date(2026, 2, 28), kwh="2150", amount="1118.00", after="100.00")
    set_balance(account, "100.00")
    readings(
        meter, {D: "5000.000", D + dt.timedelta(days=1): "5030.000", D + dt.timedelta(days=2): "5045.000"}
    )

    first = prepaid_daily_charges(day=D, actor="test")
    assert first["charged"] == 1
    assert first["amount"] == "16.60"
    assert first["kwh"] == "30.000"
    second = prepaid_daily_charges(day=D + dt.timedelta(days=1), actor="test")
    assert second["amount"] == "8.55"

    rows = list(PrepaidCharge.objects.filter(account=account, day__gte=D).order_by("day"))
    assert [(r.day, r.kwh, r.amount, r.balance_after) for r in rows] == [
        (D, Decimal("30.000"), Decimal("16.60"), Decimal("83.40")),
        (D + dt.timedelta(days=1), Decimal("15.000"), Decimal("8.55"), Decimal("74.85")),
    ]
    assert balance(account) == Decimal("74.85")
    events = AuditEvent.objects.filter(object_type="billing.prepaidcharge", action="prepaid_daily_charges")
    assert [(e.object_id, e.after["accounts"], e.after["amount"]) for e in events.order_by("pk")] == [
        ("2026-03-01", 1, "16.60"),
        ("2026-03-02", 1, "8.55"),
    ]


def test_a_price_change_at_midnight_rates_each_day_at_its_own_price() -> None:
    """A new HEBS-RES-LV version from 2 March (0.53 yuan/kWh in tier 1). 10 kWh used on
    1 March (reading(2 Mar) − reading(1 Mar)) are priced at the old 0.52: 5.20; 20 kWh used on
    2 March at the new 0.53: 10.60. The day of a charge is the day the energy was used."""
    params = copy.deepcopy(next(t["params"] for t in seed_data.TARIFFS if t["code"] == "HEBS-RES-LV"))
    params["prices"] = ["0.53", "0.58", "0.83"]
    tariff_version_add(
        actor="test",
        tariff_code="HEBS-RES-LV",
        effective_from=D + dt.timedelta(days=1),
        params=params,
        source="test",
    )
    account, meter = prepaid("PP0010")
    readings(meter, {D: "100.000", D + dt.timedelta(days=1): "110.000", D + dt.timedelta(days=2): "130.000"})
    prepaid_daily_charges(day=D, actor="test")
    prepaid_daily_charges(day=D + dt.timedelta(days=1), actor="test")
    rows = PrepaidCharge.objects.filter(account=account).order_by("day")
    assert [(r.day, r.kwh, r.amount) for r in rows] == [
        (D, Decimal("10.000"), Decimal("5.20")),
        (D + dt.timedelta(days=1), Decimal("20.000"), Decimal("10.60")),
    ]


def test_a_meter_installed_during_the_day_is_charged_from_its_initial_reading() -> None:
    """Installed on 1 March at 09:00 with 100 kWh on the register, 104 kWh at 00:00 on 2 March:
    the 4 kWh used on 1 March after the installation cost 4 × 0.52 = 2.08. The day before,
    the meter was not installed yet: nothing to charge."""
    account = AccountFactory(is_prepaid=True, tariff_code="HEBS-RES-LV")
    meter = installed_meter("PP0011", account=account, installed_on=D, initial={"total": "100.000"})
    readings(meter, {D + dt.timedelta(days=1): "104.000"})
    before = prepaid_daily_charges(day=D - dt.timedelta(days=1), actor="test")
    assert (before["accounts"], before["charged"]) == (0, 0)
    summary = prepaid_daily_charges(day=D, actor="test")
    assert (summary["charged"], summary["kwh"], summary["amount"]) == (1, "4.000", "2.08")
    assert PrepaidCharge.objects.get(account=account).day == D


def test_rollover_by_digits_and_multiplier() -> None:
    """A 4-digit register going 9,995 → 5 used 10 kWh; × multiplier 2 = 20 kWh = 10.40 yuan."""
    account, meter = prepaid("PP0002", digits=4, multiplier="2")
    readings(meter, {D: "9995.000", D + dt.timedelta(days=1): "5.000"})
    summary = prepaid_daily_charges(day=D, actor="test")
    charge = PrepaidCharge.objects.get(account=account)
    assert (charge.kwh, charge.amount, charge.balance_after) == (
        Decimal("20.000"),
        Decimal("10.40"),
        Decimal("-10.40"),
    )
    assert summary["charged"] == 1


def test_rerun_charges_nothing_twice() -> None:
    account, meter = prepaid("PP0003")
    set_balance(account, "50.00")
    readings(meter, {D: "100.000", D + dt.timedelta(days=1): "110.000", D + dt.timedelta(days=2): "112.000"})
    prepaid_daily_charges(day=D, actor="test")
    again = prepaid_daily_charges(day=D, actor="test")
    assert again["charged"] == 0
    assert again["already"] == 1
    assert balance(account) == Decimal("44.80")  # 10 kWh × 0.52 once
    # A later day charged: an earlier day run late is not charged over it either.
    prepaid_daily_charges(day=D + dt.timedelta(days=1), actor="test")
    late = prepaid_daily_charges(day=D - dt.timedelta(days=1), actor="test")
    assert late["already"] == 1
    assert late["charged"] == 0
    assert PrepaidCharge.objects.filter(account=account).count() == 2


def test_missing_reading_no_charge_then_the_gap_is_caught_up() -> None:
    account, meter = prepaid("PP0004")
    set_balance(account, "50.00")
    readings(meter, {D: "100.000", D + dt.timedelta(days=2): "120.000"})
    missing = prepaid_daily_charges(day=D, actor="test")  # reading(D + 1) closes D: missing
    assert missing["missing"] == [account.number]
    assert missing["missing_count"] == 1
    assert missing["charged"] == 0
    assert balance(account) == Decimal("50.00")
    assert not PrepaidCharge.objects.filter(account=account).exists()
    # The next day closed by a reading covers the 20 kWh since the last reading (used on D and
    # D + 1): nothing lost.
    prepaid_daily_charges(day=D + dt.timedelta(days=1), actor="test")
    charge = PrepaidCharge.objects.get(account=account)
    assert (charge.day, charge.kwh, charge.amount) == (
        D + dt.timedelta(days=1),
        Decimal("20.000"),
        Decimal("10.40"),
    )
    assert (charge.days, charge.first_day) == (2, D)  # shown as covering D and D + 1


def test_a_skipped_night_is_charged_with_the_next_day_charged() -> None:
    """The run of one night is missed (cron charges yesterday only): every reading is in,
    and the next charge resumes from the end of the last charged day, so the skipped day's
    use is in it (shown as 2 days) and the skipped day cannot be charged again."""
    account, meter = prepaid("PP0041")
    readings(meter, {D + dt.timedelta(days=k): f"{1000 + 10 * k}.000" for k in range(4)})
    prepaid_daily_charges(day=D, actor="test")
    prepaid_daily_charges(day=D + dt.timedelta(days=2), actor="test")  # D + 1 skipped
    late = prepaid_daily_charges(day=D + dt.timedelta(days=1), actor="test")
    assert late["already"] == 1
    charges = list(PrepaidCharge.objects.filter(account=account).order_by("day"))
    assert [(c.day, c.days, c.kwh) for c in charges] == [
        (D, 1, Decimal("10.000")),
        (D + dt.timedelta(days=2), 2, Decimal("20.000")),
    ]
    assert charges[-1].first_day == D + dt.timedelta(days=1)


def test_a_meter_exchange_day_charges_both_meters_parts() -> None:
    """换表 on D at 10:00: the old meter went 1000 → 1004 (its final reading), the new one
    0 → 6 by 00:00 of D + 1: D's charge is 10 kWh, as the monthly bill would sum it."""
    account, old = prepaid("PP0051")
    readings(old, {D - dt.timedelta(days=1): "990.000", D: "1000.000"})
    new = stock_meter("PP0052")
    meter_exchange(
        actor="test",
        account=account,
        new_meter=new,
        at=at(D, 10),
        old_final_readings={"total": "1004"},
        new_initial_readings={"total": "0"},
        reason="exchange",
    )
    readings(new, {D + dt.timedelta(days=1): "6.000"})
    prepaid_daily_charges(day=D - dt.timedelta(days=1), actor="test")
    summary = prepaid_daily_charges(day=D, actor="test")
    assert (summary["accounts"], summary["charged"]) == (1, 1)
    charges = PrepaidCharge.objects.filter(account=account).order_by("day")
    assert [(c.day, c.days, c.kwh) for c in charges] == [
        (D - dt.timedelta(days=1), 1, Decimal("10.000")),
        (D, 1, Decimal("10.000")),
    ]
    # The day after, only the new meter is in place.
    readings(new, {D + dt.timedelta(days=2): "9.000"})
    prepaid_daily_charges(day=D + dt.timedelta(days=1), actor="test")
    assert PrepaidCharge.objects.get(account=account, day=D + dt.timedelta(days=1)).kwh == Decimal("3.000")


def test_a_meter_exchange_day_without_the_new_meters_reading_is_missing() -> None:
    """Both meters' parts or nothing: without the new meter's closing reading the exchange
    day is missing, never charged for the old meter's part alone."""
    account, old = prepaid("PP0053")
    readings(old, {D: "1000.000"})
    new = stock_meter("PP0054")
    meter_exchange(
        actor="test",
        account=account,
        new_meter=new,
        at=at(D, 10),
        old_final_readings={"total": "1004"},
        new_initial_readings={"total": "0"},
        reason="exchange",
    )
    summary = prepaid_daily_charges(day=D, actor="test")
    assert summary["missing"] == [account.number]
    assert not PrepaidCharge.objects.filter(account=account).exists()


def test_estimated_readings_count_and_others_are_left_alone() -> None:
    account, meter = prepaid("PP0005")
    readings(meter, {D: "100.000"})
    readings(meter, {D + dt.timedelta(days=1): "101.000"}, quality="estimated")
    postpaid = AccountFactory(is_prepaid=False, tariff_code="HEBS-RES-LV")
    other = installed_meter("PP0006", account=postpaid, installed_on=dt.date(2026, 1, 5))
    readings(other, {D: "1.000", D + dt.timedelta(days=1): "9.000"})
    summary = prepaid_daily_charges(day=D, actor="test")
    assert summary["charged"] == 1
    assert summary["amount"] == "0.52"
    assert not PrepaidCharge.objects.filter(account=postpaid).exists()


def test_unknown_tariff_is_reported_not_charged() -> None:
    account, meter = prepaid("PP0007", tariff="NO-SUCH-TARIFF")
    readings(meter, {D: "1.000", D + dt.timedelta(days=1): "2.000"})
    summary = prepaid_daily_charges(day=D, actor="test")
    assert summary["charged"] == 0
    assert [r["account"] for r in summary["not_rated"]] == [account.number]
    assert not PrepaidCharge.objects.filter(account=account).exists()


@pytest.mark.parametrize(
    ("tariff", "stored", "pattern", "values"),
    [
        (
            "NO-SUCH-TARIFF",
            "unknown tariff NO-SUCH-TARIFF",
            "Unknown tariff %(code)s",
            {"code": "NO-SUCH-TARIFF"},
        ),
        (
            "HEBS-RES-LV-TOU",
            "residential TOU tariff needs the peak and valley registers",
            "A residential TOU tariff needs the peak and valley registers",
            {},
        ),
    ],
)
def test_not_rated_reasons_are_shown_in_the_clerks_language(
    tariff: str, stored: str, pattern: str, values: dict[str, str]
) -> None:
    """The engine words its reasons in English (kept as ``reason``, stable to match on);
    ``reason_label`` is what a clerk reads, in the current language."""
    account, meter = prepaid("PP0008", tariff=tariff)
    readings(meter, {D: "1.000", D + dt.timedelta(days=1): "2.000"})

    with translation.override("zh-hans"):
        summary = prepaid_daily_charges(day=D, actor="test")
        expected = gettext(pattern) % values

    assert summary["not_rated"] == [{"account": account.number, "reason": stored, "reason_label": expected}]
    assert expected != pattern % values  # the catalogue has the Chinese


def test_future_day_and_today_refused() -> None:
    """Today is not over: its use is known only from tomorrow's 00:00 reading."""
    for day in (timezone.localdate() + dt.timedelta(days=2), timezone.localdate()):
        with pytest.raises(ValidationFailed) as exc:
            prepaid_daily_charges(day=day, actor="test")
        assert exc.value.field == "day"


# --- thresholds, notices, orders -----------------------------------------------------------------


def _levels(account: Any) -> list[str]:
    return list(
        PrepaidNotice.objects.filter(account=account)
        .order_by("sent_at", "pk")
        .values_list("level", flat=True)
    )


def _run_to_disconnect(account: Any) -> None:
    """Low on 1 March, below zero on 2 March; checks each morning until 6 March."""
    set_balance(account, "50.00")
    prepaid_check_balances(now=at(D), actor="test")
    assert _levels(account) == []
    given_charge(account, D, kwh="67.308", amount="35.00", after="15.00")
    set_balance(account, "15.00")
    prepaid_check_balances(now=at(D + dt.timedelta(days=1)), actor="test")
    assert _levels(account) == [PrepaidNoticeLevel.LOW]
    given_charge(account, D + dt.timedelta(days=1), kwh="38.462", amount="20.00", after="-5.00")
    set_balance(account, "-5.00")
    prepaid_check_balances(now=at(D + dt.timedelta(days=2)), actor="test")
    assert _levels(account) == [
        PrepaidNoticeLevel.LOW,
        PrepaidNoticeLevel.ZERO,
        PrepaidNoticeLevel.DISCONNECT_NOTICE,
    ]
    for days in (3, 4):  # the notice period (3 days, BillingPolicy) is still running
        prepaid_check_balances(now=at(D + dt.timedelta(days=days)), actor="test")
        assert not RemoteOrder.objects.filter(account=account).exists()
    prepaid_check_balances(now=at(D + dt.timedelta(days=5)), actor="test")
    assert len(_levels(account)) == 3  # once per crossing, not every day


def test_threshold_sequence_low_zero_notice_then_disconnect_order(settings: Any) -> None:
    account, _meter = prepaid("PP0010")
    _run_to_disconnect(account)
    order = RemoteOrder.objects.get(account=account)
    assert (order.kind, order.status, order.balance) == (
        RemoteOrderKind.DISCONNECT,
        RemoteOrderStatus.PENDING,
        Decimal("-5.00"),
    )
    prepaid_check_balances(now=at(D + dt.timedelta(days=6)), actor="test")
    assert RemoteOrder.objects.filter(account=account).count() == 1
    sms = (settings.DATA_DIR / "sms" / "outbox.log").read_text(encoding="utf-8").splitlines()
    assert len(sms) == 3
    assert all(json.loads(line)["mobile"] == account.customer.mobile for line in sms)

    dispatched = remote_orders_dispatch(actor="test")
    assert dispatched["sent"] == 1
    order.refresh_from_db()
    assert order.status == RemoteOrderStatus.SENT
    outbox = [
        json.loads(x) for x in (settings.DATA_DIR / "headend" / "outbox.jsonl").read_text().splitlines()
    ]
    assert outbox == [
        {
            "ref": f"RO{order.pk}",
            "at": outbox[0]["at"],
            "command": "disconnect",
            "meter": "PP0010",
            "account": account.number,
        }
    ]
    remote_order_confirm(actor="test", order_id=order.pk)
    order.refresh_from_db()
    assert order.status == RemoteOrderStatus.DONE
    assert order.executed_at is not None
    actions = set(
        AuditEvent.objects.filter(object_type="billing.remoteorder", object_id=str(order.pk)).values_list(
            "action", flat=True
        )
    )
    assert actions == {"remote_order_create_disconnect", "remote_order_send", "remote_order_confirm"}


def test_payment_after_disconnect_creates_reconnect_due_within_hours() -> None:
    account, _meter = prepaid("PP0011")
    _run_to_disconnect(account)
    remote_orders_dispatch(actor="test")
    disconnect = RemoteOrder.objects.get(account=account)
    remote_order_confirm(actor="test", order_id=disconnect.pk)
    set_balance(account, "95.00")  # the payment service posted 100 yuan
    before = timezone.now()
    counts = prepaid_after_payment(account_id=account.pk, actor="payment")
    after = timezone.now()
    assert counts["reconnect_orders"] == 1
    reconnect = RemoteOrder.objects.get(account=account, kind=RemoteOrderKind.RECONNECT)
    assert reconnect.status == RemoteOrderStatus.PENDING
    assert before + dt.timedelta(hours=24) <= reconnect.due_at <= after + dt.timedelta(hours=24)
    # Another check or payment does not create a second reconnect.
    prepaid_after_payment(account_id=account.pk, actor="payment")
    assert RemoteOrder.objects.filter(account=account, kind=RemoteOrderKind.RECONNECT).count() == 1
    assert remote_orders_dispatch(actor="test")["sent"] == 1


def test_payment_before_the_disconnect_is_sent_cancels_it() -> None:
    account, _meter = prepaid("PP0012")
    _run_to_disconnect(account)
    set_balance(account, "10.00")
    counts = prepaid_after_payment(account_id=account.pk, actor="payment")
    assert counts["disconnect_cancelled"] == 1
    assert counts["reconnect_orders"] == 0
    assert RemoteOrder.objects.get(account=account).status == RemoteOrderStatus.CANCELLED


def test_disconnect_send_rechecks_the_balance() -> None:
    account, _meter = prepaid("PP0013")
    _run_to_disconnect(account)
    set_balance(account, "1.00")  # paid, the after-payment hook not yet run
    order = remote_order_send(actor="test", order_id=RemoteOrder.objects.get(account=account).pk)
    assert order.status == RemoteOrderStatus.CANCELLED


def test_after_payment_ignores_postpaid_accounts() -> None:
    account = AccountFactory(is_prepaid=False)
    assert prepaid_after_payment(account_id=account.pk, actor="payment")["accounts"] == 0


# --- the important customer: never automatic ----------------------------------------------------


@pytest.mark.parametrize("importance", ["special", "first", "second", "temporary"])
def test_important_customer_disconnect_needs_a_person(importance: str, make_user: Any) -> None:
    account, _meter = prepaid(f"PP1{importance[:3]}", importance=importance)
    _run_to_disconnect(account)
    order = RemoteOrder.objects.get(account=account)
    assert order.status == RemoteOrderStatus.NEEDS_PERSON
    for days in (6, 7, 8):
        prepaid_check_balances(now=at(D + dt.timedelta(days=days)), actor="test")
        assert remote_orders_dispatch(actor="test")["sent"] == 0
    order.refresh_from_db()
    assert order.status == RemoteOrderStatus.NEEDS_PERSON
    assert not RemoteOrder.objects.filter(
        account=account,
        status__in=[RemoteOrderStatus.PENDING, RemoteOrderStatus.SENT, RemoteOrderStatus.DONE],
    ).exists()
    with pytest.raises(Conflict):
        remote_order_send(actor="test", order_id=order.pk)
    # Pending without a person's decision (say the account became important after the
    # order was made): "send" hands it to a person instead of sending it.
    RemoteOrder.objects.filter(pk=order.pk).update(status=RemoteOrderStatus.PENDING)
    dispatched = remote_orders_dispatch(actor="test")
    assert (dispatched["sent"], dispatched["to_person"]) == (0, 1)
    order.refresh_from_db()
    assert order.status == RemoteOrderStatus.NEEDS_PERSON


def test_a_person_decides(make_user: Any) -> None:
    account, _meter = prepaid("PP2001", importance="first")
    _run_to_disconnect(account)
    order = RemoteOrder.objects.get(account=account)
    with pytest.raises(PermissionDenied):
        remote_order_decide(actor="worker", order_id=order.pk, approve=True, note="auto")
    with pytest.raises(PermissionDenied):
        remote_order_decide(
            actor=make_user(roles=["hotline_agent"]), order_id=order.pk, approve=True, note="x"
        )
    manager = make_user(roles=["service_manager"], first_name="芳", last_name="刘")
    with pytest.raises(ValidationFailed) as exc:
        remote_order_decide(actor=manager, order_id=order.pk, approve=True, note="  ")
    assert exc.value.field == "note"
    remote_order_decide(actor=manager, order_id=order.pk, approve=True, note="医院已确认备用电源, 同意停电")
    order.refresh_from_db()
    assert (order.status, order.decided_by) == (RemoteOrderStatus.PENDING, "刘芳")
    assert remote_orders_dispatch(actor="test")["sent"] == 1
    event = AuditEvent.objects.get(
        object_type="billing.remoteorder", object_id=str(order.pk), action="remote_order_approve"
    )
    assert event.actor == manager
    assert "备用电源" in event.reason
    with pytest.raises(Conflict):
        remote_order_decide(actor=manager, order_id=order.pk, approve=False, note="again")


def test_a_declined_disconnect_is_not_recreated_for_the_same_notice(make_user: Any) -> None:
    account, _meter = prepaid("PP2002", importance="second")
    _run_to_disconnect(account)
    order = RemoteOrder.objects.get(account=account)
    remote_order_decide(
        actor=make_user(roles=["service_manager"]), order_id=order.pk, approve=False, note="供暖季, 暂缓"
    )
    prepaid_check_balances(now=at(D + dt.timedelta(days=9)), actor="test")
    assert list(RemoteOrder.objects.filter(account=account).values_list("status", flat=True)) == [
        RemoteOrderStatus.CANCELLED
    ]


def test_low_notice_again_after_a_new_crossing() -> None:
    account, _meter = prepaid("PP3001")
    set_balance(account, "15.00")
    prepaid_check_balances(now=at(D), actor="test")
    assert _levels(account) == [PrepaidNoticeLevel.LOW]
    # topped up to 60, then a charge on 2 March took it from 60 to 18: a new crossing
    given_charge(account, D + dt.timedelta(days=1), kwh="80.769", amount="42.00", after="18.00")
    set_balance(account, "18.00")
    prepaid_check_balances(now=at(D + dt.timedelta(days=3)), actor="test")
    assert _levels(account) == [PrepaidNoticeLevel.LOW, PrepaidNoticeLevel.LOW]


def test_console_sms_backend_and_cli(settings: Any, capsys: Any) -> None:
    settings.GRIDCARE_SMS_BACKEND = "console"
    account, meter = prepaid("PP4001")
    readings(meter, {D: "1.000", D + dt.timedelta(days=1): "11.000"})
    call_command("billing", "prepaid", "charge", "--day", D.isoformat())
    line = json.loads(capsys.readouterr().out.strip())
    assert (line["charged"], line["amount"]) == (1, "5.20")
    call_command("billing", "prepaid", "check")
    check = json.loads(capsys.readouterr().out.strip())
    assert check["notices_zero"] == 1  # -5.20: zero + disconnection notice
    assert not (settings.DATA_DIR / "sms" / "outbox.log").exists()
    call_command("billing", "prepaid", "send")
    assert json.loads(capsys.readouterr().out.strip())["pending"] == 0


def test_payment_through_payment_post_reconnects_and_a_reversal_starts_a_new_cycle(
    make_user: Any, django_capture_on_commit_callbacks: Any
) -> None:
    """The payments service calls ``prepaid_after_payment`` on commit, which sends the
    reconnect at once; a payment reversed after the reconnect leaves the account below zero
    again: a new ZERO notice and notice period (the old notice does not disconnect at once)."""
    from gridcare.billing.services.payments import payment_post, payment_reverse

    account, _meter = prepaid("PP5001")
    _run_to_disconnect(account)
    remote_orders_dispatch(actor="test")
    remote_order_confirm(actor="test", order_id=RemoteOrder.objects.get(account=account).pk)
    clerk = make_user(roles=["counter_clerk", "service_manager"])
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_post(
            actor=clerk,
            account_id=account.pk,
            amount="100.00",
            channel="counter_cash",
            idempotency_key="pp5001-1",
        )
    assert balance(account) == Decimal("95.00")
    reconnect = RemoteOrder.objects.get(account=account, kind=RemoteOrderKind.RECONNECT)
    assert reconnect.status == RemoteOrderStatus.SENT
    assert reconnect.due_at <= timezone.now() + dt.timedelta(hours=24)
    with django_capture_on_commit_callbacks(execute=True):
        payment_reverse(actor=clerk, payment_id=payment.pk, reason="bank returned the transfer")
    assert balance(account) == Decimal("-5.00")
    prepaid_check_balances(now=timezone.now(), actor="test")
    assert _levels(account)[-2:] == [PrepaidNoticeLevel.ZERO, PrepaidNoticeLevel.DISCONNECT_NOTICE]
    assert RemoteOrder.objects.filter(account=account, kind=RemoteOrderKind.DISCONNECT).count() == 1


def test_monthly_tiers_month_to_date_sum_equals_the_month() -> None:
    """Monthly tiers (HEBS-RES-LV-M: ≤ 180 kWh 0.52, ≤ 280 kWh 0.57, above 0.82): each day is
    rated on the month so far, minus the month's earlier charges. 10 kWh a day in March:
    day 1 sees bounds pro-rated to 1/31 (5.806 / 9.032 kWh): 5.806 × 0.52 + 3.226 × 0.57 +
    0.968 × 0.82 = 3.02 + 1.84 + 0.79 = 5.65; the 31 days add up to the month's bill
    180 × 0.52 + 100 × 0.57 + 30 × 0.82 = 93.60 + 57.00 + 24.60 = 175.20."""
    account, meter = prepaid("PP6001", tariff="HEBS-RES-LV-M")
    start = dt.date(2026, 3, 1)  # readings frozen at 00:00 of 1 March … 1 April
    readings(meter, {start + dt.timedelta(days=k): f"{1000 + 10 * k}.000" for k in range(32)})
    for k in range(31):
        prepaid_daily_charges(day=start + dt.timedelta(days=k), actor="test")
    rows = list(PrepaidCharge.objects.filter(account=account).order_by("day"))
    assert [r.day for r in rows] == [start + dt.timedelta(days=k) for k in range(31)]
    assert rows[0].amount == Decimal("5.65")
    assert sum(r.kwh for r in rows) == Decimal("310.000")
    # The same energy the monthly bill of March reads: billing's opening and closing readings.
    opening, closing = reading_days(*month_bounds(start))
    stored = dict(Reading.objects.filter(meter=meter, day__in=[opening, closing]).values_list("day", "value"))
    assert sum(r.kwh for r in rows) == stored[closing] - stored[opening]
    assert sum(r.amount for r in rows) == Decimal("175.20")
    assert balance(account) == Decimal("-175.20")


@pytest.mark.parametrize("gap_days", [3, 40])
def test_monthly_tiers_a_gap_over_the_first_rates_each_months_share_in_its_month(gap_days: int) -> None:
    """Two accounts on monthly tiers use 10 kWh a day from 1 March. One has every reading; the
    other misses the readings of the ``gap_days - 1`` days before the day charged last, so its
    last charge covers days of March (and, for the long gap, all of April) as well as May's.
    Spread evenly, the gap's kWh fall in each month as the other account's did: both pay
    exactly the same in total. Rated in the charge's own month instead (as before), the
    March (and April) kWh of the gap would start the new month high in its tiers."""
    full, full_meter = prepaid("PP6101", tariff="HEBS-RES-LV-M")
    gap, gap_meter = prepaid("PP6102", tariff="HEBS-RES-LV-M")
    start = dt.date(2026, 3, 1)
    last = dt.date(2026, 4, 1) if gap_days == 3 else dt.date(2026, 5, 2)  # the day charged last
    days = (last - start).days + 1
    values = {start + dt.timedelta(days=k): f"{1000 + 10 * k}.000" for k in range(days + 1)}
    readings(full_meter, values)
    skipped = {last - dt.timedelta(days=k) for k in range(gap_days - 1)}  # 00:00 readings missing
    readings(gap_meter, {d: v for d, v in values.items() if d not in skipped})
    for k in range(days):
        prepaid_daily_charges(day=start + dt.timedelta(days=k), actor="test")
    full_rows = list(PrepaidCharge.objects.filter(account=full).order_by("day"))
    gap_rows = list(PrepaidCharge.objects.filter(account=gap).order_by("day"))
    assert len(full_rows) == days
    assert len(gap_rows) == days - gap_days + 1
    assert gap_rows[-1].day == last
    assert gap_rows[-1].kwh == Decimal(10 * gap_days)
    assert gap_rows[-1].days == gap_days
    assert {r.days for r in gap_rows[:-1]} == {r.days for r in full_rows} == {1}
    assert sum(r.kwh for r in gap_rows) == sum(r.kwh for r in full_rows)
    assert sum(r.amount for r in gap_rows) == sum(r.amount for r in full_rows)
    # March alone (the full account's 31 days) is the month's bill of 310 kWh: 175.20.
    assert sum(r.amount for r in full_rows if r.day.month == 3) == Decimal("175.20")
    assert balance(gap) == balance(full)


def test_residential_tou_uses_the_peak_and_valley_registers() -> None:
    """HEBS-RES-LV-TOU, tier 1: 6 kWh peak × 0.55 + 4 kWh valley × 0.30 = 3.30 + 1.20 = 4.50."""
    account = AccountFactory(is_prepaid=True, tariff_code="HEBS-RES-LV-TOU")
    meter = installed_meter(
        "PP7001", account=account, installed_on=dt.date(2026, 1, 5), registers=("total", "peak", "valley")
    )
    readings(meter, {D: "100.000", D + dt.timedelta(days=1): "110.000"})
    readings(meter, {D: "60.000", D + dt.timedelta(days=1): "66.000"}, register="peak")
    readings(meter, {D: "40.000", D + dt.timedelta(days=1): "44.000"}, register="valley")
    summary = prepaid_daily_charges(day=D, actor="test")
    assert (summary["charged"], summary["amount"]) == (1, "4.50")


def test_residential_tou_without_its_registers_is_not_rated() -> None:
    account, meter = prepaid("PP7002", tariff="HEBS-RES-LV-TOU")
    readings(meter, {D: "100.000", D + dt.timedelta(days=1): "110.000"})
    summary = prepaid_daily_charges(day=D, actor="test")
    assert summary["charged"] == 0
    assert [r["account"] for r in summary["not_rated"]] == [account.number]


@given(
    digits=st.integers(min_value=4, max_value=8),
    data=st.data(),
    mult_centi=st.integers(min_value=1, max_value=1_000_000),
)
def test_usage_is_the_difference_modulo_the_register_times_the_multiplier(
    digits: int, data: Any, mult_centi: int
) -> None:
    """Property: used Wh = ((cur − prev) mod 10^digits kWh) × multiplier, half-up to the Wh."""
    top = 10**digits * 1000
    prev = data.draw(st.integers(min_value=0, max_value=top - 1))
    cur = data.draw(st.integers(min_value=0, max_value=top - 1))
    frame = pl.DataFrame({"wh": [cur], "prev_wh": [prev], "rollover_wh": [top], "mult_centi": [mult_centi]})
    used = frame.select(usage_wh_expr())["used_wh"][0]
    exact = Decimal((cur - prev) % top) * Decimal(mult_centi) / 100
    assert used == int(exact.quantize(Decimal("1"), rounding=ROUND_HALF_UP))


def test_unknown_sms_backend_is_refused(settings: Any) -> None:
    from gridcare.billing.notifications import sms_send

    settings.GRIDCARE_SMS_BACKEND = "pigeon"
    with pytest.raises(ValidationFailed) as exc:
        sms_send(mobile="13800000000", text="x", at=at(D))
    assert exc.value.field == "GRIDCARE_SMS_BACKEND"


def test_sms_without_a_mobile_is_still_recorded(settings: Any) -> None:
    from gridcare.billing.notifications import sms_send

    sms_send(mobile="", text="余额不足", at=at(D), ref="prepaid:x:low")
    line = json.loads((settings.DATA_DIR / "sms" / "outbox.log").read_text(encoding="utf-8"))
    assert (line["no_number"], line["text"]) == (True, "余额不足")


def test_monthly_tiers_a_gap_over_the_first_after_becoming_prepaid_mid_month() -> None:
    """Prepaid since 20 October on monthly tiers, 10 kWh a day; one account misses the
    readings of 31 October and 1 November. October's share of the gap is rated from 20
    October (the tier bounds pro-rated to the prepaid days), as the other account's
    October was: both pay the same."""
    since = dt.date(2026, 10, 20)
    full, full_meter = prepaid("PP6111", tariff="HEBS-RES-LV-M", billing_mode_since=since)
    gap, gap_meter = prepaid("PP6112", tariff="HEBS-RES-LV-M", billing_mode_since=since)
    values = {since + dt.timedelta(days=k): f"{1000 + 10 * k}.000" for k in range(15)}
    readings(full_meter, values)
    skipped = {dt.date(2026, 10, 31), dt.date(2026, 11, 1)}
    readings(gap_meter, {d: v for d, v in values.items() if d not in skipped})
    for k in range(13):  # 20 October .. 1 November
        prepaid_daily_charges(day=since + dt.timedelta(days=k), actor="test")
    full_rows = PrepaidCharge.objects.filter(account=full)
    gap_rows = PrepaidCharge.objects.filter(account=gap)
    assert sum(r.kwh for r in gap_rows) == sum(r.kwh for r in full_rows) == Decimal("130.000")
    assert sum(r.amount for r in gap_rows) == sum(r.amount for r in full_rows)


def test_a_gap_over_new_year_rates_each_year_from_its_own_position() -> None:
    """Readings of 1 and 2 Jan missing: the charge for 2 Jan (closed by the 3 Jan reading)
    covers 30 kWh used on 31 Dec – 2 Jan, 10 kWh in 2025 (2,155 kWh charged that year:
    5 × 0.52 + 5 × 0.57 = 5.45) and 20 kWh in 2026 (from 0: 20 × 0.52 = 10.40) → 15.85."""
    account = AccountFactory(is_prepaid=True, tariff_code="HEBS-RES-LV")
    meter = installed_meter("PP8001", account=account, installed_on=dt.date(2025, 1, 5))
    given_charge(account, dt.date(2025, 12, 30), kwh="2155", amount="1120.60", after="50.00")
    readings(meter, {dt.date(2025, 12, 31): "3000.000", dt.date(2026, 1, 3): "3030.000"})
    summary = prepaid_daily_charges(day=dt.date(2026, 1, 2), actor="test")
    assert (summary["charged"], summary["amount"]) == (1, "15.85")


@given(
    first=st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2027, 12, 31)),
    span=st.integers(min_value=0, max_value=90),
    wh=st.integers(min_value=0, max_value=10**10),
)
def test_month_shares_cut_at_month_ends_and_add_up(first: dt.date, span: int, wh: int) -> None:
    from gridcare.billing.services.prepaid import _month_shares

    last = first + dt.timedelta(days=span)
    shares = _month_shares(first, last, wh)
    assert sum(s for _, _, s in shares) == wh
    assert shares[0][0] == first
    assert shares[-1][1] == last
    days = span + 1
    for (a, b, share), following in zip(shares, [*shares[1:], None], strict=True):
        assert a <= b
        assert (a.year, a.month) == (b.year, b.month)
        if following is not None:  # contiguous, cut at the month end
            assert following[0] == b + dt.timedelta(days=1)
            assert following[0].day == 1
        exact = Decimal(wh) * ((b - a).days + 1) / days
        assert abs(share - exact) < 1
