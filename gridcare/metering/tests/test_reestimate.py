"""A back-fill inside an estimated gap (补召 of one day of it): the real reading replaces its
day's estimate, and the estimates still standing on either side are estimated again from
the real readings now around them — on the bulk import path, SQLite and PostgreSQL alike."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gridcare.core.models import AuditEvent
from gridcare.metering.choices import ExceptionStatus, ReadingQuality, ReadingSource, VeeRule
from gridcare.metering.models import ReadingException
from gridcare.metering.services import readings as readings_service
from gridcare.metering.services.readings import reading_exceptions_resolve
from gridcare.metering.tests.readings_fixtures import (
    EST,
    d,
    import_lines,
    installed_meter,
    stored_by_day,
)

pytestmark = pytest.mark.django_db


def values(meter) -> dict[int, Decimal]:
    return {n: row[0] for n, row in stored_by_day(meter).items()}


@pytest.fixture
def estimated_gap(tmp_path):
    """Day 1 = 100 and day 10 = 190; days 2–9 missing, estimated by a clerk (110 … 180)."""
    meter = installed_meter("M1")
    import_lines(tmp_path, [f"M1,total,{d(1)},100", f"M1,total,{d(10)},190"], name="a.csv")
    gap = ReadingException.objects.get(meter=meter, rule=VeeRule.MISSING)
    assert (gap.day_from, gap.day_to) == (d(2), d(9))
    reading_exceptions_resolve(actor="clerk", exception_ids=[gap.pk], action="estimate")
    assert values(meter) == {1: 100, **{n: Decimal(100 + 10 * (n - 1)) for n in range(2, 10)}, 10: 190}
    return meter


def test_a_backfill_inside_an_estimated_gap_re_estimates_the_days_on_either_side(tmp_path, estimated_gap):
    meter = estimated_gap

    # when the head-end back-fills day 5: 160 (the estimate said 140)
    job = import_lines(tmp_path, [f"M1,total,{d(5)},160"], name="b.csv")

    # then day 5 is the read value, days 2–4 lie on the line 100 → 160 and days 6–9 on
    # 160 → 190, still estimated; nothing is suspect and no exception opens
    rows = stored_by_day(meter)
    assert rows[5] == (Decimal("160.000"), ReadingSource.AMI, ReadingQuality.VALID)
    assert {n: rows[n] for n in (2, 3, 4, 6, 7, 8, 9)} == {
        2: (Decimal("115.000"), *EST),
        3: (Decimal("130.000"), *EST),
        4: (Decimal("145.000"), *EST),
        6: (Decimal("166.000"), *EST),
        7: (Decimal("172.000"), *EST),
        8: (Decimal("178.000"), *EST),
        9: (Decimal("184.000"), *EST),
    }
    assert rows[1][0] == 100
    assert rows[10][0] == 190
    assert (job.inserted_rows, job.duplicate_rows, job.exceptions_opened) == (1, 0, 0)
    assert not ReadingException.objects.filter(meter=meter, status=ExceptionStatus.OPEN).exists()

    # and one audit row on the import lists each estimate changed, before and after
    event = AuditEvent.objects.get(action="reading_import.reestimate")
    assert event.object_id == str(job.pk)
    key = f"{meter.pk}/total/"
    assert event.before == {
        f"{key}{d(n)}": {"value": f"{100 + 10 * (n - 1)}.000"} for n in (2, 3, 4, 6, 7, 8, 9)
    }
    assert event.after == {
        f"{key}{d(2)}": {"value": "115.000"},
        f"{key}{d(3)}": {"value": "130.000"},
        f"{key}{d(4)}": {"value": "145.000"},
        f"{key}{d(6)}": {"value": "166.000"},
        f"{key}{d(7)}": {"value": "172.000"},
        f"{key}{d(8)}": {"value": "178.000"},
        f"{key}{d(9)}": {"value": "184.000"},
    }

    # and importing the back-fill again changes nothing
    again = import_lines(tmp_path, [f"M1,total,{d(5)},160"], name="c.csv")
    assert (again.inserted_rows, again.duplicate_rows, again.exceptions_opened) == (0, 1, 0)
    assert stored_by_day(meter) == rows
    assert AuditEvent.objects.filter(action="reading_import.reestimate").count() == 1


def test_a_backfill_below_the_estimates_before_it_is_no_decrease(tmp_path, estimated_gap):
    # given days 2–4 estimated 110, 120, 130
    meter = estimated_gap

    # when day 5 reads 120 (the estimate said 140: day 4's 130 would be above it)
    job = import_lines(tmp_path, [f"M1,total,{d(5)},120"], name="b.csv")

    # then the read is valid and the estimates follow it: 100 → 120 and 120 → 190
    assert stored_by_day(meter)[5] == (Decimal("120.000"), ReadingSource.AMI, ReadingQuality.VALID)
    assert values(meter) == {
        1: 100,
        2: 105,
        3: 110,
        4: 115,
        5: 120,
        6: 134,
        7: 148,
        8: 162,
        9: 176,
        10: 190,
    }
    assert job.exceptions_opened == 0
    assert not ReadingException.objects.filter(meter=meter, status=ExceptionStatus.OPEN).exists()


def test_back_fills_of_several_days_re_estimate_each_stretch_between_them(tmp_path, estimated_gap):
    meter = estimated_gap

    job = import_lines(tmp_path, [f"M1,total,{d(4)},121", f"M1,total,{d(7)},169"], name="b.csv")

    # 100 → 121 (days 2, 3), 121 → 169 (days 5, 6), 169 → 190 (days 8, 9); rounded down
    assert values(meter) == {1: 100, 2: 107, 3: 114, 4: 121, 5: 137, 6: 153, 7: 169, 8: 176, 9: 183, 10: 190}
    assert {stored_by_day(meter)[n][2] for n in (2, 3, 5, 6, 8, 9)} == {ReadingQuality.ESTIMATED}
    assert job.exceptions_opened == 0


def test_a_backfill_of_an_import_estimate_re_estimates_its_neighbours(tmp_path):
    # given 10 kWh a day with days 5–7 missing: estimated at import (50, 60, 70)
    meter = installed_meter("M1")
    import_lines(
        tmp_path, [f"M1,total,{d(n)},{10 * n}" for n in range(1, 11) if n not in (5, 6, 7)], name="a.csv"
    )
    assert {n: stored_by_day(meter)[n] for n in (5, 6, 7)} == {
        5: (Decimal("50.000"), *EST),
        6: (Decimal("60.000"), *EST),
        7: (Decimal("70.000"), *EST),
    }

    # when day 6 is back-filled with 66
    import_lines(tmp_path, [f"M1,total,{d(6)},66"], name="b.csv")

    # then day 5 lies on 40 → 66 and day 7 on 66 → 80
    assert {n: stored_by_day(meter)[n] for n in (5, 6, 7)} == {
        5: (Decimal("53.000"), *EST),
        6: (Decimal("66.000"), ReadingSource.AMI, ReadingQuality.VALID),
        7: (Decimal("73.000"), *EST),
    }


def test_a_suspect_backfill_is_no_read_to_estimate_from(tmp_path, estimated_gap):
    meter = estimated_gap

    # when day 5 reads 200, above day 10's real 190
    job = import_lines(tmp_path, [f"M1,total,{d(5)},200"], name="b.csv")

    # then it is a decreasing back-fill against the next real read (not against an
    # estimate), suspect, and the estimates around it stay on the line 100 → 190
    assert stored_by_day(meter)[5] == (Decimal("200.000"), ReadingSource.AMI, ReadingQuality.SUSPECT)
    assert {n: values(meter)[n] for n in (2, 3, 4, 6, 7, 8, 9)} == {
        n: Decimal(100 + 10 * (n - 1)) for n in (2, 3, 4, 6, 7, 8, 9)
    }
    exc = ReadingException.objects.get(meter=meter, status=ExceptionStatus.OPEN)
    assert (exc.rule, exc.day_from, exc.day_to) == (VeeRule.DECREASING, d(5), d(5))
    assert exc.detail == {"value": "200.000", "next": "190.000"}
    assert job.exceptions_opened == 1
    assert not AuditEvent.objects.filter(action="reading_import.reestimate").exists()


def test_an_import_that_replaces_no_estimate_does_no_re_estimation_work(tmp_path, monkeypatch, estimated_gap):
    # given the estimated gap, when an import brings only new days after it
    calls: list[int] = []
    real = readings_service._estimate_runs_around

    def spy(keys, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(keys.height)
        return real(keys, **kwargs)

    monkeypatch.setattr(readings_service, "_estimate_runs_around", spy)

    import_lines(tmp_path, [f"M1,total,{d(n)},{190 + 10 * (n - 10)}" for n in range(11, 15)], name="b.csv")

    # then no chunk looks for estimates to re-estimate (the bulk path pays nothing extra)
    assert calls == []
    assert values(estimated_gap)[14] == 230

    # and one that replaces an estimate does, once while checking and once while writing
    import_lines(tmp_path, [f"M1,total,{d(5)},160"], name="c.csv")
    assert calls == [1, 1]


def test_a_long_estimated_gap_is_re_estimated_end_to_end(tmp_path):
    # given day 1 = 100 and day 42 = 510, days 2–41 estimated by a clerk (10 kWh a day):
    # longer than the first stretch the import looks at either side of a back-fill
    meter = installed_meter("M1")
    import_lines(tmp_path, [f"M1,total,{d(1)},100", f"M1,total,{d(42)},510"], name="a.csv")
    gap = ReadingException.objects.get(meter=meter, rule=VeeRule.MISSING)
    reading_exceptions_resolve(actor="clerk", exception_ids=[gap.pk], action="estimate")

    # when day 21 is back-filled with 320 (the estimate said 300)
    import_lines(tmp_path, [f"M1,total,{d(21)},320"], name="b.csv")

    # then every estimate of the gap lies on 100 → 320 or 320 → 510 (rounded down)
    expected = {n: Decimal(100 + 11 * (n - 1)) for n in range(2, 21)}
    expected |= {n: Decimal(320_000 + 190_000 * (n - 21) // 21) / 1000 for n in range(22, 42)}
    rows = stored_by_day(meter)
    assert {n: rows[n][0] for n in expected} == expected
    assert {rows[n][2] for n in expected} == {ReadingQuality.ESTIMATED}


def test_a_clerk_estimate_after_a_backfill_draws_the_line_through_the_read_day(tmp_path):
    # given day 1 = 100 and day 10 = 190 (days 2–9 missing, an open exception), and then a
    # back-fill of day 5 = 160 before the clerk got to the gap (the import estimates 2–4)
    meter = installed_meter("M1")
    import_lines(tmp_path, [f"M1,total,{d(1)},100", f"M1,total,{d(10)},190"], name="a.csv")
    gap = ReadingException.objects.get(meter=meter, rule=VeeRule.MISSING)
    import_lines(tmp_path, [f"M1,total,{d(5)},160"], name="b.csv")

    # when the clerk estimates the gap
    reading_exceptions_resolve(actor="clerk", exception_ids=[gap.pk], action="estimate")

    # then the read day stays and the days after it lie on 160 → 190, not on 100 → 190
    assert values(meter) == {1: 100, 2: 115, 3: 130, 4: 145, 5: 160, 6: 166, 7: 172, 8: 178, 9: 184, 10: 190}
    assert {stored_by_day(meter)[n][2] for n in (2, 3, 4, 6, 7, 8, 9)} == {ReadingQuality.ESTIMATED}
