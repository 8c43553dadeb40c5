"""Reading ingestion (抄表数据导入): the broken-file acceptance case, idempotent re-import and
every VEE rule surfacing as a reading exception, through ``reading_import_run``."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

import pytest

from gridcare.core.models import AuditEvent
from gridcare.metering.choices import ImportStatus, ReadingQuality, ReadingSource, VeeRule
from gridcare.metering.models import ImportRejection, Reading, ReadingException, ReadingImport
from gridcare.metering.selectors.readings import accounts_held_from_billing
from gridcare.metering.services.assets import meter_exchange
from gridcare.metering.services.readings import (
    reading_edit,
    reading_exceptions_resolve,
    reading_import_create,
    reading_import_run,
    rejected_csv_path,
)
from gridcare.metering.tests.readings_fixtures import (
    at,
    d,
    import_lines,
    installed_meter,
    series_lines,
    stock_meter,
    write_csv,
)

pytestmark = pytest.mark.django_db


def steady(days: int, *, start: int = 0, use: int = 10) -> list[str | None]:
    """Values of a meter using ``use`` kWh a day from ``start``: day 1 … ``days``."""
    return [str(start + use * (i + 1)) for i in range(days)]


def stored(meter) -> dict[dt.date, tuple[Decimal, str, str]]:
    return {
        r.day: (r.value, r.source, r.quality)
        for r in Reading.objects.filter(meter=meter, register="total").exclude(source=ReadingSource.EXCHANGE)
    }


def rules(meter) -> list[tuple[str, dt.date, dt.date]]:
    return sorted(
        (e.rule, e.day_from, e.day_to) for e in ReadingException.objects.filter(meter=meter).order_by("id")
    )


# --- the broken file ------------------------------------------------------------------------


def test_wrong_header_fails_the_job_and_stores_nothing(tmp_path):
    installed_meter("M1")
    path = write_csv(tmp_path, ["meter,registr,date,value", "M1,total,2026-01-02,10"])
    job = reading_import_create(actor="test", source_name="bad.csv", content=path, channel="ami")

    job = reading_import_run(import_id=job.pk, path=job.stored_path)

    assert job.status == ImportStatus.FAILED
    assert "register" in job.error
    assert "day" in job.error
    assert Reading.objects.exclude(source=ReadingSource.EXCHANGE).count() == 0
    assert ImportRejection.objects.count() == 0
    assert ReadingException.objects.count() == 0


def test_broken_rows_are_rejected_one_by_one_and_exactly_the_valid_rows_are_stored(tmp_path):
    m1 = installed_meter("M1")
    installed_meter("M2", registers=("total",))
    lines = [
        "M1,total,2026-01-02,10",  # line 2: valid
        "M1,total,2026-01-03,20.5",  # line 3: valid
        "M1,total,2026/01/04,30",  # line 4: bad date
        "M1,total,2026-02-30,30",  # line 5: no such date
        "M1,total,2026-01-04,abc",  # line 6: text in the number
        "M1,total,2026-01-03,21",  # line 7: duplicate of line 3
        "NOPE,total,2026-01-04,30",  # line 8: unknown meter
        "M2,peak,2026-01-04,30",  # line 9: register not on meter
        "M1,total,2026-01-04,30.125",  # line 10: valid
    ]

    job = import_lines(tmp_path, lines)

    assert job.status == ImportStatus.DONE
    assert (job.total_rows, job.inserted_rows, job.rejected_rows, job.duplicate_rows) == (9, 3, 6, 0)
    assert job.processed_rows == 9
    rejected = list(ImportRejection.objects.filter(reading_import=job).values_list("line_no", "reason"))
    assert rejected == [
        (4, "bad_date"),
        (5, "bad_date"),
        (6, "non_numeric"),
        (7, "duplicate_in_file"),
        (8, "unknown_meter"),
        (9, "register_not_on_meter"),
    ]
    assert {day: v[0] for day, v in stored(m1).items()} == {
        d(1): Decimal("10.000"),
        d(2): Decimal("20.500"),
        d(3): Decimal("30.125"),
    }
    with rejected_csv_path(job).open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["line", "reason", "detail", "raw"]
    assert [r[0] for r in rows[1:]] == ["4", "5", "6", "7", "8", "9"]
    assert rows[3][3] == "M1,total,2026-01-04,abc"


def test_reimporting_the_same_file_stores_nothing_new_and_opens_no_exception(tmp_path):
    meter = installed_meter("M1")
    values = steady(20)
    values[14] = str(10 * 14 + 200)  # a spike, so the first import opens an exception
    values[15:] = [str(10 * 14 + 200 + 10 * (i + 1)) for i in range(5)]
    lines = series_lines("M1", d(1), values)
    first = import_lines(tmp_path, lines, name="a.csv")
    readings_before = Reading.objects.count()
    exceptions_before = ReadingException.objects.count()
    assert first.inserted_rows == 20
    assert exceptions_before >= 1

    second = import_lines(tmp_path, lines, name="b.csv")

    assert second.status == ImportStatus.DONE
    assert (second.inserted_rows, second.duplicate_rows, second.exceptions_opened) == (0, 20, 0)
    assert Reading.objects.count() == readings_before
    assert ReadingException.objects.count() == exceptions_before
    assert stored(meter)[d(1)][0] == Decimal("10.000")


def test_source_column_and_channel(tmp_path):
    meter = installed_meter("M1")
    path = write_csv(tmp_path, ["meter,register,day,value,source", "M1,total,2026-01-02,10,handheld"])
    job = reading_import_create(actor="test", source_name="x.csv", content=path, channel="manual")
    reading_import_run(import_id=job.pk, path=job.stored_path)
    import_lines(tmp_path, ["M1,total,2026-01-03,20"], channel="manual", name="y.csv")

    assert {day: v[1] for day, v in stored(meter).items()} == {d(1): "handheld", d(2): "manual"}


# --- VEE rules ----------------------------------------------------------------------------


def test_decreasing_reading_opens_an_exception_and_is_suspect(tmp_path):
    meter = installed_meter("M1")
    values = steady(10)
    values[7] = "50"  # 70 → 50 → 90: a meter does not run backwards

    import_lines(tmp_path, series_lines("M1", d(1), values))

    assert (VeeRule.DECREASING, d(8), d(8)) in rules(meter)
    assert stored(meter)[d(8)][2] == ReadingQuality.SUSPECT


def test_spike_opens_an_exception(tmp_path):
    meter = installed_meter("M1")
    values = steady(12) + [str(120 + 200)] + [str(320 + 10 * (i + 1)) for i in range(3)]

    job = import_lines(tmp_path, series_lines("M1", d(1), values))

    assert (VeeRule.SPIKE, d(13), d(13)) in rules(meter)
    assert stored(meter)[d(13)][2] == ReadingQuality.SUSPECT
    assert job.exceptions_opened == len(rules(meter))


def test_zero_run_opens_an_exception_over_the_run(tmp_path):
    meter = installed_meter("M1")
    values = steady(5) + ["50"] * 8 + ["60", "70"]

    import_lines(tmp_path, series_lines("M1", d(1), values))

    found = [r for r in rules(meter) if r[0] == VeeRule.ZERO_RUN]
    assert len(found) == 1
    assert found[0][1] >= d(5)
    assert found[0][2] == d(13)


@pytest.mark.parametrize("handled", [None, "accept"])
def test_zero_run_longer_than_the_context_keeps_one_exception(tmp_path, handled):
    # given a vacant house: 49 days without use, one zero-use exception (accepted or not)
    meter = installed_meter("M1")
    import_lines(tmp_path, series_lines("M1", d(1), ["100"] * 50), name="first.csv")
    (first,) = ReadingException.objects.filter(meter=meter, rule=VeeRule.ZERO_RUN)
    assert (first.day_from, first.day_to) == (d(2), d(50))
    if handled:
        reading_exceptions_resolve(actor="test", exception_ids=[first.pk], action=handled, note="空置")
    status = ReadingException.objects.get(pk=first.pk).status

    # when the run goes on, one daily import at a time (longer than VEE's 37-day context)
    jobs = [import_lines(tmp_path, [f"M1,total,{d(n)},100"], name=f"day{n}.csv") for n in range(51, 55)]

    # then the same exception covers the whole run, in the state the clerk left it
    (run,) = ReadingException.objects.filter(meter=meter, rule=VeeRule.ZERO_RUN)
    assert (run.pk, run.day_from, run.day_to, run.status) == (first.pk, d(2), d(54), status)
    assert run.detail == {"days": 53}
    assert [job.exceptions_opened for job in jobs] == [0, 0, 0, 0]
    assert list(accounts_held_from_billing()) == ([] if handled else [run.account])
    event = AuditEvent.objects.filter(action="reading_import.extend_exceptions").latest("id")
    assert (event.before, event.after) == (
        {str(run.pk): {"day_to": str(d(53))}},
        {str(run.pk): {"day_to": str(d(54))}},
    )


def test_a_new_zero_run_after_use_resumed_opens_its_own_exception(tmp_path):
    meter = installed_meter("M1")
    values = ["100"] * 10 + ["110"] + ["110"] * 10
    import_lines(tmp_path, series_lines("M1", d(1), values[:11]), name="a.csv")
    import_lines(tmp_path, series_lines("M1", d(12), values[11:]), name="b.csv")

    assert [r for r in rules(meter) if r[0] == VeeRule.ZERO_RUN] == [
        (VeeRule.ZERO_RUN, d(2), d(10)),
        (VeeRule.ZERO_RUN, d(12), d(21)),
    ]


def test_tou_registers_not_summing_to_the_total(tmp_path):
    meter = installed_meter("T1", registers=("total", "peak", "valley"))
    lines = [
        "T1,total,2026-01-02,10",
        "T1,peak,2026-01-02,6",
        "T1,valley,2026-01-02,4",
        "T1,total,2026-01-03,20",
        "T1,peak,2026-01-03,12",
        "T1,valley,2026-01-03,5",  # 12 + 5 ≠ 20
    ]

    import_lines(tmp_path, lines)

    assert rules(meter) == [(VeeRule.TOU_MISMATCH, d(2), d(2))]


def test_long_gap_opens_a_missing_days_exception(tmp_path):
    meter = installed_meter("M1")
    values: list[str | None] = steady(15)
    values[5:10] = [None] * 5  # days 6–10 missing

    import_lines(tmp_path, series_lines("M1", d(1), values))

    assert rules(meter) == [(VeeRule.MISSING, d(6), d(10))]


def test_short_gap_is_estimated_and_flagged(tmp_path):
    meter = installed_meter("M1")
    values: list[str | None] = steady(10)
    values[4:6] = [None, None]  # days 5 and 6

    import_lines(tmp_path, series_lines("M1", d(1), values))

    rows = stored(meter)
    assert rows[d(5)] == (Decimal("50.000"), ReadingSource.ESTIMATED, ReadingQuality.ESTIMATED)
    assert rows[d(6)] == (Decimal("60.000"), ReadingSource.ESTIMATED, ReadingQuality.ESTIMATED)
    assert rules(meter) == []


def test_short_gap_next_to_a_spike_is_a_missing_days_exception_not_estimated(tmp_path):
    # given 10 kWh a day to day 20, days 21 and 22 missing, and day 23 reading +1,000 kWh
    meter = installed_meter("M1")
    lines = series_lines("M1", d(1), steady(20)) + [f"M1,total,{d(23)},1200"]

    import_lines(tmp_path, lines)

    # then nothing is interpolated from the suspect read: the gap waits for a clerk
    rows = stored(meter)
    assert rows[d(23)][2] == ReadingQuality.SUSPECT
    assert d(21) not in rows
    assert d(22) not in rows
    assert rules(meter) == [(VeeRule.MISSING, d(21), d(22)), (VeeRule.SPIKE, d(23), d(23))]


def test_short_gap_after_a_reading_stored_as_suspect_is_not_estimated(tmp_path):
    # given a spike on day 21 stored as suspect by an earlier import
    meter = installed_meter("M1")
    import_lines(tmp_path, series_lines("M1", d(1), [*steady(20), "1200"]), name="a.csv")
    assert stored(meter)[d(21)][2] == ReadingQuality.SUSPECT

    # when the next reading arrives after two missing days
    import_lines(tmp_path, [f"M1,total,{d(24)},1230"], name="b.csv")

    assert d(22) not in stored(meter)
    assert d(23) not in stored(meter)
    assert (VeeRule.MISSING, d(22), d(23)) in rules(meter)


def test_read_value_replaces_an_estimate_and_a_second_import_changes_nothing(tmp_path):
    # given days 5 and 6 estimated at import (50 and 60)
    meter = installed_meter("M1")
    values: list[str | None] = steady(10)
    values[4:6] = [None, None]
    import_lines(tmp_path, series_lines("M1", d(1), values), name="a.csv")
    assert stored(meter)[d(5)] == (Decimal("50.000"), ReadingSource.ESTIMATED, ReadingQuality.ESTIMATED)

    # when the head-end back-fills the real readings (补召)
    backfill = [f"M1,total,{d(5)},41.500", f"M1,total,{d(6)},58.250"]
    job = import_lines(tmp_path, backfill, name="b.csv")

    # then they replace the estimates and count as stored, not as already stored
    rows = stored(meter)
    assert rows[d(5)] == (Decimal("41.500"), ReadingSource.AMI, ReadingQuality.VALID)
    assert rows[d(6)] == (Decimal("58.250"), ReadingSource.AMI, ReadingQuality.VALID)
    assert (job.inserted_rows, job.duplicate_rows) == (2, 0)
    assert Reading.objects.get(meter=meter, day=d(5)).reading_import_id == job.pk
    event = AuditEvent.objects.get(action="reading_import.replace_estimates")
    assert event.object_id == str(job.pk)
    key = f"{meter.pk}/total/{d(5)}"
    assert event.before[key] == {"value": "50.000", "source": "estimated", "quality": "estimated"}
    assert event.after[key] == {"value": "41.500", "source": "ami", "quality": "valid"}

    # and importing the same file again stores and replaces nothing
    again = import_lines(tmp_path, backfill, name="c.csv")
    assert (again.inserted_rows, again.duplicate_rows, again.exceptions_opened) == (0, 2, 0)
    assert stored(meter) == rows
    assert AuditEvent.objects.filter(action="reading_import.replace_estimates").count() == 1


def test_backfill_above_the_next_reading_is_decreasing_and_suspect(tmp_path):
    from gridcare.inspection.services.consumption import accounts_daily_kwh

    # given day 11 estimated at import between day 10 (100) and day 12 (120)
    meter = installed_meter("M1")
    values: list[str | None] = steady(20)
    values[10] = None
    import_lines(tmp_path, series_lines("M1", d(1), values), name="a.csv")
    assert stored(meter)[d(11)][2] == ReadingQuality.ESTIMATED

    # when the back-fill of day 11 reads 125, above day 12's 120 (100 → 125 → 120)
    job = import_lines(tmp_path, [f"M1,total,{d(11)},125"], name="b.csv")

    # then the series goes backwards after it: the back-filled reading is suspect, on a
    # decreasing exception of its day, and billing and line loss leave it out
    rows = stored(meter)
    assert rows[d(11)] == (Decimal("125.000"), ReadingSource.AMI, ReadingQuality.SUSPECT)
    assert rows[d(12)][2] == ReadingQuality.VALID
    assert rules(meter) == [(VeeRule.DECREASING, d(11), d(11))]
    assert ReadingException.objects.get(meter=meter).detail == {"value": "125.000", "next": "120.000"}
    assert job.exceptions_opened == 1
    account = meter.installations.get().account
    assert list(accounts_held_from_billing()) == [account]
    daily = accounts_daily_kwh(start=d(9), end=d(12), account_ids=[account.pk])
    assert daily["day"].to_list() == [d(9), d(12)]


def test_only_an_estimate_is_replaced_never_a_read_edited_or_suspect_reading(tmp_path):
    meter = installed_meter("M1")
    values = steady(12)
    values[7] = "50"  # day 8 decreasing: suspect
    import_lines(tmp_path, series_lines("M1", d(1), values), name="a.csv")
    reading_edit(
        actor="test", meter_id=meter.pk, register="total", day=d(3), value=Decimal("31"), reason="补抄"
    )
    before = stored(meter)

    job = import_lines(
        tmp_path, [f"M1,total,{d(2)},21", f"M1,total,{d(3)},32", f"M1,total,{d(8)},80"], name="b.csv"
    )

    assert (job.inserted_rows, job.duplicate_rows) == (0, 3)
    assert stored(meter) == before
    assert before[d(3)][2] == ReadingQuality.EDITED
    assert before[d(8)][2] == ReadingQuality.SUSPECT


def test_rollover_is_no_exception(tmp_path):
    meter = installed_meter("R1", digits=4, initial={"total": "9900"})
    values = ["9920", "9940", "9960", "9980", "5", "25", "45"]

    import_lines(tmp_path, series_lines("R1", d(1), values))

    assert rules(meter) == []
    assert {v[2] for v in stored(meter).values()} == {ReadingQuality.VALID}


def test_meter_exchange_is_no_exception(tmp_path):
    old = installed_meter("OLD1")
    import_lines(tmp_path, series_lines("OLD1", d(1), steady(9, start=0)), name="old.csv")
    new = stock_meter("NEW1")
    meter_exchange(
        actor="test",
        account=old.installations.get().account,
        new_meter=new,
        at=at(d(10)),
        old_final_readings={"total": "100"},
        new_initial_readings={"total": "3"},
        reason="换表",
    )

    job = import_lines(tmp_path, series_lines("NEW1", d(11), steady(8, start=3)), name="new.csv")

    assert job.inserted_rows == 8
    assert ReadingException.objects.count() == 0
    assert {v[2] for v in stored(new).values()} == {ReadingQuality.VALID}


def test_exception_carries_the_account_of_the_open_installation(tmp_path):
    meter = installed_meter("M1")
    values = steady(10)
    values[7] = "50"

    job = import_lines(tmp_path, series_lines("M1", d(1), values))

    exc = ReadingException.objects.get(rule=VeeRule.DECREASING)
    assert exc.account_id == meter.installations.get().account_id
    assert exc.reading_import_id == job.pk
    assert exc.status == "open"
    assert ReadingImport.objects.get(pk=job.pk).exceptions_opened >= 1


def test_batch_of_records_uses_the_same_pipeline():
    from gridcare.metering.services.readings import readings_ingest_batch

    meter = installed_meter("M1")
    job = readings_ingest_batch(
        actor="test",
        records=[
            {"meter": "M1", "register": "total", "day": "2026-01-02", "value": "12.345"},
            {"meter": "M1", "register": "total", "day": "2026-01-03", "value": "x"},
        ],
        channel="ami",
    )

    assert (job.status, job.inserted_rows, job.rejected_rows) == (ImportStatus.DONE, 1, 1)
    assert stored(meter)[d(1)][0] == Decimal("12.345")


def test_batch_limit():
    from gridcare.core.errors import ValidationFailed
    from gridcare.metering.services.readings import API_BATCH_LIMIT, readings_ingest_batch

    records = [{"meter": "M", "register": "total", "day": "2026-01-02", "value": "1"}] * (API_BATCH_LIMIT + 1)
    with pytest.raises(ValidationFailed) as err:
        readings_ingest_batch(actor="test", records=records, channel="ami")
    assert err.value.field == "readings"
    assert ReadingImport.objects.count() == 0
