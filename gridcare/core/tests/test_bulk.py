"""The bulk insert primitive on the database in use (PostgreSQL in CI, then SQLite)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from django.db import transaction

from gridcare.core.bulk import decimal_text, insert_ignoring_conflicts, update_from_frame
from gridcare.core.models import CalendarDay

pytestmark = pytest.mark.django_db

TABLE = CalendarDay._meta.db_table


def _days(*days: int, name: str = "调休") -> pl.DataFrame:
    return pl.DataFrame(
        {
            "date": [dt.date(2027, 1, d) for d in days],
            "is_workday": [True] * len(days),
            "name": [name] * len(days),
            "source": [""] * len(days),
        }
    )


@pytest.mark.parametrize("expect_new", [False, True])
def test_new_rows_are_inserted_and_counted(expect_new: bool) -> None:
    with transaction.atomic():
        inserted = insert_ignoring_conflicts(
            table=TABLE, frame=_days(1, 2, 3), conflict_columns=["date"], expect_new=expect_new
        )
    assert inserted == 3
    assert sorted(CalendarDay.objects.values_list("date__day", flat=True)) == [1, 2, 3]


@pytest.mark.parametrize("expect_new", [False, True])
def test_existing_rows_are_skipped_and_keep_their_values(expect_new: bool) -> None:
    # given two stored days
    with transaction.atomic():
        insert_ignoring_conflicts(table=TABLE, frame=_days(1, 2), conflict_columns=["date"])
    # when a batch overlapping them is inserted (even when the caller wrongly expects all new)
    with transaction.atomic():
        inserted = insert_ignoring_conflicts(
            table=TABLE, frame=_days(2, 3, name="新"), conflict_columns=["date"], expect_new=expect_new
        )
    # then only the new day is inserted and the stored one is unchanged
    assert inserted == 1
    assert dict(CalendarDay.objects.values_list("date__day", "name")) == {1: "调休", 2: "调休", 3: "新"}


def test_batches_are_split_and_summed() -> None:
    with transaction.atomic():
        inserted = insert_ignoring_conflicts(
            table=TABLE, frame=_days(*range(1, 11)), conflict_columns=["date"], batch_rows=3
        )
    assert inserted == 10
    assert CalendarDay.objects.count() == 10


def test_empty_frame_inserts_nothing() -> None:
    assert insert_ignoring_conflicts(table=TABLE, frame=_days(), conflict_columns=["date"]) == 0


def test_unsafe_identifiers_are_refused() -> None:
    with pytest.raises(ValueError, match="unsafe SQL identifier"):
        insert_ignoring_conflicts(table="core_calendarday; DROP", frame=_days(1), conflict_columns=["date"])


def test_update_from_frame_changes_only_the_qualifying_rows_and_returns_their_keys() -> None:
    # given three stored days
    with transaction.atomic():
        insert_ignoring_conflicts(table=TABLE, frame=_days(1, 2, 3, name="旧"), conflict_columns=["date"])
    # when days 1, 2 and 4 (not stored) are updated, only where the stored name is not "保留"
    CalendarDay.objects.filter(date__day=2).update(name="保留")
    with transaction.atomic():
        changed = update_from_frame(
            table=TABLE,
            frame=_days(1, 2, 4, name="新").select("date", "name"),
            key_columns=["date"],
            only_if="t.name <> '保留'",
            batch_rows=2,
        )
    # then day 1 changed, day 2 kept its name, day 4 was not created; the keys say so
    assert changed.schema == {"date": pl.Date}
    assert changed["date"].to_list() == [dt.date(2027, 1, 1)]
    assert dict(CalendarDay.objects.values_list("date__day", "name")) == {1: "新", 2: "保留", 3: "旧"}


def test_update_from_frame_needs_keys_and_values() -> None:
    with pytest.raises(ValueError, match="key columns"):
        update_from_frame(table=TABLE, frame=_days(1).select("date"), key_columns=["date"])
    assert update_from_frame(
        table=TABLE, frame=_days().select("date", "name"), key_columns=["date"]
    ).is_empty()


def test_decimal_text_is_exact_for_both_signs() -> None:
    frame = pl.DataFrame({"v": [0, 5, 1234, -1234, 999_999_999_999, -7]})
    out = frame.select(decimal_text("v", scale=3)).get_column("v").to_list()
    assert out == ["0.000", "0.005", "1.234", "-1.234", "999999999.999", "-0.007"]
