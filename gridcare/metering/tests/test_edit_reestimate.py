"""A clerk's edit of a reading inside or next to an estimated gap (人工修改示数, e.g. from a
photo of the meter): the edited value is a read to draw through, and the estimates on
either side of it are estimated again from the readings now around them, as after a
back-fill at import — SQLite and PostgreSQL alike. An edit with no estimate next to it
changes nothing else."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gridcare.core.models import AuditEvent
from gridcare.metering.choices import ReadingQuality, ReadingSource, VeeRule
from gridcare.metering.models import ReadingException
from gridcare.metering.services.readings import reading_edit, reading_exceptions_resolve
from gridcare.metering.tests.readings_fixtures import (
    EST,
    d,
    import_lines,
    installed_meter,
    series_lines,
    stored_by_day,
)

pytestmark = pytest.mark.django_db

EDITED = (ReadingSource.EDITED, ReadingQuality.EDITED)


@pytest.fixture
def estimated_gap(tmp_path):
    """Day 1 = 100, day 10 = 190 and day 11 = 200 read; days 2–9 estimated by a clerk
    (110 … 180)."""
    meter = installed_meter("M1")
    import_lines(tmp_path, [f"M1,total,{d(1)},100", f"M1,total,{d(10)},190", f"M1,total,{d(11)},200"])
    gap = ReadingException.objects.get(meter=meter, rule=VeeRule.MISSING)
    reading_exceptions_resolve(actor="clerk", exception_ids=[gap.pk], action="estimate")
    assert {n: v for n, (v, *_q) in stored_by_day(meter).items()} == {
        1: 100,
        **{n: Decimal(100 + 10 * (n - 1)) for n in range(2, 10)},
        10: 190,
        11: 200,
    }
    return meter


def test_editing_an_estimate_redraws_the_estimates_on_either_side(estimated_gap, django_user_model):
    meter = estimated_gap
    clerk = django_user_model.objects.create_user(username="clerk")
    before = stored_by_day(meter)

    # when the clerk types 160 over day 5's estimate (140), from a photo of the meter
    reading_edit(
        actor=clerk, meter_id=meter.pk, register="total", day=d(5), value=Decimal("160"), reason="拍照补抄"
    )

    # then day 5 is the edited value, days 2–4 lie on the line 100 → 160 and days 6–9 on
    # 160 → 190, still estimated; the reads around the gap are untouched
    rows = stored_by_day(meter)
    assert rows == {
        **before,
        2: (Decimal("115.000"), *EST),
        3: (Decimal("130.000"), *EST),
        4: (Decimal("145.000"), *EST),
        5: (Decimal("160.000"), *EDITED),
        6: (Decimal("166.000"), *EST),
        7: (Decimal("172.000"), *EST),
        8: (Decimal("178.000"), *EST),
        9: (Decimal("184.000"), *EST),
    }

    # and one audit row, the clerk's, on the edited reading lists each estimate changed
    key = f"{meter.pk}/total/"
    event = AuditEvent.objects.get(action="reading.reestimate")
    assert (event.object_id, event.actor_id, event.reason) == (f"{key}{d(5)}", clerk.pk, "拍照补抄")
    assert event.before == {
        f"{key}{d(n)}": {"value": f"{100 + 10 * (n - 1)}.000"} for n in (2, 3, 4, 6, 7, 8, 9)
    }
    assert event.after == {
        f"{key}{d(n)}": {"value": v}
        for n, v in {
            2: "115.000",
            3: "130.000",
            4: "145.000",
            6: "166.000",
            7: "172.000",
            8: "178.000",
            9: "184.000",
        }.items()
    }
    edit = AuditEvent.objects.get(action="reading.edit")
    assert (edit.before["value"], edit.after["value"]) == ("140.000", "160.000")


def test_correcting_the_read_at_the_end_of_a_gap_redraws_it(estimated_gap):
    # given days 2–9 estimated on the line 100 → 190
    meter = estimated_gap

    # when the clerk corrects day 10's read to 199 (the reader misread it)
    reading_edit(
        actor="clerk", meter_id=meter.pk, register="total", day=d(10), value=Decimal("199"), reason="复核"
    )

    # then the estimates follow the corrected read: 100 → 199 over 9 days, rounded down
    rows = stored_by_day(meter)
    assert {n: rows[n][0] for n in range(1, 12)} == {
        1: 100,
        2: 111,
        3: 122,
        4: 133,
        5: 144,
        6: 155,
        7: 166,
        8: 177,
        9: 188,
        10: 199,
        11: 200,
    }
    assert {rows[n][1:] for n in range(2, 10)} == {EST}


def test_editing_a_read_with_no_estimate_next_to_it_changes_nothing_else(estimated_gap):
    # given the gap estimated and day 11 read 200 (day 10, read, between it and the gap)
    meter = estimated_gap
    before = stored_by_day(meter)

    # when the clerk edits day 11
    reading_edit(
        actor="clerk", meter_id=meter.pk, register="total", day=d(11), value=Decimal("201"), reason="复核"
    )

    # then only day 11 changed, and no estimate was redrawn
    assert stored_by_day(meter) == {**before, 11: (Decimal("201.000"), *EDITED)}
    assert not AuditEvent.objects.filter(action="reading.reestimate").exists()


def test_editing_a_read_of_a_fully_read_series_changes_nothing_else(tmp_path):
    # given a meter read every day 1–15
    meter = installed_meter("M2")
    import_lines(tmp_path, series_lines("M2", d(1), [str(10 * n) for n in range(1, 16)]))
    before = stored_by_day(meter)

    # when the clerk edits day 5
    reading_edit(
        actor="clerk", meter_id=meter.pk, register="total", day=d(5), value=Decimal("52"), reason="复核"
    )

    # then only day 5 changed
    assert stored_by_day(meter) == {**before, 5: (Decimal("52.000"), *EDITED)}
    assert not AuditEvent.objects.filter(action="reading.reestimate").exists()
