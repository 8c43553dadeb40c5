"""Readings must refer to a meter: enforced in the database by triggers (migration 0006)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from django.db import DatabaseError, connection, transaction

from gridcare.core.bulk import insert_ignoring_conflicts
from gridcare.metering.models import Reading
from gridcare.metering.tests.readings_fixtures import installed_meter

pytestmark = pytest.mark.django_db

NO_SUCH_METER = 987_654_321


def _frame(meter_ids: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "meter_id": meter_ids,
            "register": ["total"] * len(meter_ids),
            "day": [dt.date(2026, 5, 1) + dt.timedelta(days=i) for i in range(len(meter_ids))],
            "value": ["1.000"] * len(meter_ids),
            "source": ["ami"] * len(meter_ids),
            "quality": ["valid"] * len(meter_ids),
        }
    )


def test_a_reading_for_no_meter_is_refused_by_the_database() -> None:
    before = Reading.objects.count()
    with pytest.raises(DatabaseError), transaction.atomic():
        Reading.objects.create(
            meter_id=NO_SUCH_METER, register="total", day=dt.date(2026, 5, 1), value=1, source="ami"
        )
    assert Reading.objects.count() == before


@pytest.mark.parametrize("expect_new", [False, True])
def test_a_bulk_batch_with_one_unknown_meter_is_refused_whole(expect_new: bool) -> None:
    meter = installed_meter("3110000000777")
    before = Reading.objects.count()
    with pytest.raises(DatabaseError), transaction.atomic():
        insert_ignoring_conflicts(
            table=Reading._meta.db_table,
            frame=_frame([meter.pk, NO_SUCH_METER, meter.pk]),
            conflict_columns=["meter_id", "register", "day"],
            expect_new=expect_new,
        )
    assert Reading.objects.count() == before


def test_moving_a_reading_to_no_meter_is_refused() -> None:
    meter = installed_meter("3110000000778")
    reading = Reading.objects.filter(meter=meter).first()
    assert reading is not None
    with pytest.raises(DatabaseError), transaction.atomic():
        Reading.objects.filter(pk=reading.pk).update(meter_id=NO_SUCH_METER)
    reading.refresh_from_db()
    assert reading.meter_id == meter.pk


@pytest.mark.postgresql
def test_postgresql_refuses_to_delete_a_meter_that_has_readings() -> None:
    assert connection.vendor == "postgresql"
    meter = installed_meter("3110000000779")
    assert Reading.objects.filter(meter=meter).exists()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM metering_installation WHERE meter_id = %s", [meter.pk])
        with pytest.raises(DatabaseError), transaction.atomic():
            cursor.execute("DELETE FROM metering_meter WHERE id = %s", [meter.pk])
    assert type(meter).objects.filter(pk=meter.pk).exists()
