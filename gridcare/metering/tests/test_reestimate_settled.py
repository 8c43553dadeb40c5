"""Re-estimation never moves an estimate a settled period used: when a real reading
replaces an estimate inside an estimated gap (a back-fill at import, a clerk's edit), the
estimates an issued bill or a prepaid daily charge already used stay, and the one on the
last such day is the read the estimates after it are drawn from — SQLite and PostgreSQL
alike. Without a settled period the whole gap is drawn again, as before.

28 Oct read 100, 29 Oct – 5 Nov estimated 110 … 180 (1 Nov = 140), 6 Nov read 190. October's
bill ends on the reading of 1 Nov (the day after its ``period_end``): 140."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from gridcare.billing.choices import BillStatus
from gridcare.billing.models import PrepaidCharge
from gridcare.billing.tests.factories import BillFactory, issued_bill
from gridcare.customers.tests.factories import AccountFactory
from gridcare.metering.choices import ReadingQuality, VeeRule
from gridcare.metering.models import Reading, ReadingException
from gridcare.metering.services.readings import reading_edit, reading_exceptions_resolve
from gridcare.metering.tests.readings_fixtures import import_lines, installed_meter

pytestmark = pytest.mark.django_db

OCT = 10
NOV = 11


def day(month: int, dom: int) -> dt.date:
    return dt.date(2026, month, dom)


def estimates(meter) -> dict[dt.date, Decimal]:
    return {
        r.day: r.value
        for r in Reading.objects.filter(meter=meter, register="total", quality=ReadingQuality.ESTIMATED)
    }


def account_of(meter):
    return meter.installations.get().account


def value(meter, on: dt.date) -> Decimal:
    return Reading.objects.get(meter=meter, register="total", day=on).value


ORIGINAL = {
    day(OCT, 29): Decimal("110.000"),
    day(OCT, 30): Decimal("120.000"),
    day(OCT, 31): Decimal("130.000"),
    day(NOV, 1): Decimal("140.000"),
    day(NOV, 2): Decimal("150.000"),
    day(NOV, 3): Decimal("160.000"),
    day(NOV, 4): Decimal("170.000"),
    day(NOV, 5): Decimal("180.000"),
}


@pytest.fixture
def gap(tmp_path):
    """The meter (installed for ``account_of`` it) with the estimated gap of the module docstring."""
    account = AccountFactory()
    meter = installed_meter("S1", installed_on=day(OCT, 27), initial={"total": "90"}, account=account)
    import_lines(tmp_path, [f"S1,total,{day(OCT, 28)},100", f"S1,total,{day(NOV, 6)},190"], name="a.csv")
    exc = ReadingException.objects.get(meter=meter, rule=VeeRule.MISSING)
    reading_exceptions_resolve(actor="clerk", exception_ids=[exc.pk], action="estimate")
    assert estimates(meter) == ORIGINAL
    return meter


def test_a_backfill_keeps_the_estimate_an_issued_bill_ended_on(tmp_path, gap):
    # given October's bill issued: it ended on 1 Nov's estimate, 140
    issued_bill(account=account_of(gap))

    # when the head-end back-fills 30 Oct: 160
    import_lines(tmp_path, [f"S1,total,{day(OCT, 30)},160"], name="b.csv")

    # then 30 Oct is the read value, and no estimate on or before 1 Nov moves (the old
    # redraw made 1 Nov 168.571 and November would have started there: 28.571 kWh lost);
    # the estimates after 1 Nov stay on the line 140 → 190
    assert value(gap, day(OCT, 30)) == Decimal("160.000")
    assert estimates(gap) == {k: v for k, v in ORIGINAL.items() if k != day(OCT, 30)}


def test_a_backfill_after_the_settled_day_redraws_only_the_estimates_after_it(tmp_path, gap):
    issued_bill(account=account_of(gap))

    # when the head-end back-fills 3 Nov: 170
    import_lines(tmp_path, [f"S1,total,{day(NOV, 3)},170"], name="b.csv")

    # then October's end stays 140 and is the read 2 Nov is drawn from (140 → 170); the
    # days after lie on 170 → 190; October's estimates do not move
    assert estimates(gap) == {
        day(OCT, 29): Decimal("110.000"),
        day(OCT, 30): Decimal("120.000"),
        day(OCT, 31): Decimal("130.000"),
        day(NOV, 1): Decimal("140.000"),
        day(NOV, 2): Decimal("155.000"),
        day(NOV, 4): Decimal("176.666"),
        day(NOV, 5): Decimal("183.333"),
    }


def test_without_an_issued_bill_the_whole_gap_is_drawn_again(tmp_path, gap):
    # given only a draft bill of the account, and an issued one of another account
    BillFactory(account=account_of(gap), status=BillStatus.DRAFT)
    issued_bill(period=day(NOV, 1), period_start=day(NOV, 1), period_end=day(NOV, 30))

    import_lines(tmp_path, [f"S1,total,{day(OCT, 30)},160"], name="b.csv")

    assert estimates(gap) == {
        day(OCT, 29): Decimal("130.000"),
        day(OCT, 31): Decimal("164.285"),
        day(NOV, 1): Decimal("168.571"),
        day(NOV, 2): Decimal("172.857"),
        day(NOV, 3): Decimal("177.142"),
        day(NOV, 4): Decimal("181.428"),
        day(NOV, 5): Decimal("185.714"),
    }


def test_a_prepaid_charged_day_is_settled_too(tmp_path, gap):
    # given the account's daily charge of 1 Nov (its use: 1 Nov's reading to 2 Nov's)
    PrepaidCharge.objects.create(
        account=account_of(gap),
        day=day(NOV, 1),
        kwh=Decimal("10.000"),
        amount=Decimal("5.20"),
        balance_after=Decimal("94.80"),
        created_at=timezone.now(),
    )

    # when the head-end back-fills 4 Nov: 175
    import_lines(tmp_path, [f"S1,total,{day(NOV, 4)},175"], name="b.csv")

    # then every estimate up to 2 Nov stays (the old redraw made 2 Nov 153.571); 3 Nov
    # lies on 150 → 175 and 5 Nov on 175 → 190
    assert estimates(gap) == {
        **{k: v for k, v in ORIGINAL.items() if k <= day(NOV, 2)},
        day(NOV, 3): Decimal("162.500"),
        day(NOV, 5): Decimal("182.500"),
    }


def test_a_clerks_edit_keeps_the_estimate_an_issued_bill_ended_on(gap):
    issued_bill(account=account_of(gap))

    reading_edit(
        actor="clerk",
        meter_id=gap.pk,
        register="total",
        day=day(NOV, 3),
        value=Decimal("170"),
        reason="photo",
    )

    assert value(gap, day(NOV, 1)) == Decimal("140.000")  # the old redraw: 146.666
    assert estimates(gap)[day(NOV, 2)] == Decimal("155.000")
    assert estimates(gap)[day(OCT, 31)] == Decimal("130.000")
