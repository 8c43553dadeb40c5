"""The Parquet store of 96-point load curves (gridcare.metering.interval). No database."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from gridcare.metering import interval
from gridcare.metering.interval import curves_read, curves_write, transformer_curves_read, with_timestamps

D1 = dt.date(2026, 3, 1)


def _curves(keys: list[int], days: list[dt.date], *, kind: str = "account", base: int = 0) -> pl.DataFrame:
    rows = [
        (kind, key, day, slot, base + key * 1000 + day.day * 100 + slot)
        for key in keys
        for day in days
        for slot in range(96)
    ]
    return pl.DataFrame(rows, schema=interval.WRITE_SCHEMA, orient="row")


def _days(n: int, start: dt.date = D1) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range(n)]


def test_round_trip_returns_exactly_what_was_written(tmp_path: Path) -> None:
    # given three accounts over three days
    written = _curves([1, 2, 3], _days(3))
    # when written and read back
    assert curves_write(written, data_dir=tmp_path) == 3 * 3 * 96
    read = curves_read(keys=[1, 2, 3], start=D1, end=D1 + dt.timedelta(days=2), data_dir=tmp_path)
    # then the values are identical, in key, day, slot order, with the documented schema
    assert read.schema == pl.Schema(interval.READ_SCHEMA)
    assert read.equals(written.drop("kind").sort("key", "day", "slot"))
    # and the layout is hive-style, one directory per day
    assert sorted(p.name for p in (tmp_path / "interval").iterdir()) == [
        "date=2026-03-01",
        "date=2026-03-02",
        "date=2026-03-03",
    ]


def test_read_filters_keys_kind_and_days(tmp_path: Path) -> None:
    curves_write(_curves([1, 2], _days(5)), data_dir=tmp_path)
    curves_write(_curves([1], _days(5), kind="transformer", base=7), data_dir=tmp_path)

    accounts = curves_read(
        keys=[2], start=D1 + dt.timedelta(days=1), end=D1 + dt.timedelta(days=2), data_dir=tmp_path
    )
    transformers = transformer_curves_read(keys=[1], start=D1, end=D1, data_dir=tmp_path)

    assert accounts["key"].unique().to_list() == [2]
    assert accounts["day"].unique().sort().to_list() == [D1 + dt.timedelta(days=1), D1 + dt.timedelta(days=2)]
    assert accounts.height == 2 * 96
    assert transformers.height == 96
    assert transformers["wh"][0] == 7 + 1000 + 100  # the transformer's values, not account 1's


def test_only_partitions_in_the_range_are_opened(tmp_path: Path) -> None:
    # given curves on 1–5 March, and the 4 March partition replaced by garbage
    curves_write(_curves([1], _days(5)), data_dir=tmp_path)
    broken = tmp_path / "interval" / "date=2026-03-04"
    for part in broken.iterdir():
        part.write_bytes(b"not parquet at all")
    # when reading 1–3 March, the broken partition is never touched
    read = curves_read(keys=[1], start=D1, end=D1 + dt.timedelta(days=2), data_dir=tmp_path)
    assert read.height == 3 * 96
    # and reading across it does open it (so the test above proves the pruning)
    with pytest.raises(pl.exceptions.PolarsError):
        curves_read(keys=[1], start=D1, end=D1 + dt.timedelta(days=4), data_dir=tmp_path)


def test_rewriting_a_day_replaces_its_values_and_keeps_other_keys(tmp_path: Path) -> None:
    curves_write(_curves([1, 2], _days(2)), data_dir=tmp_path)
    # when account 2's second day is written again with new values, twice
    again = _curves([2], [D1 + dt.timedelta(days=1)]).with_columns(wh=pl.lit(5, dtype=pl.Int64))
    curves_write(again, data_dir=tmp_path)
    curves_write(again, data_dir=tmp_path)
    read = curves_read(keys=[1, 2], start=D1, end=D1 + dt.timedelta(days=1), data_dir=tmp_path)
    # then every (key, day, slot) is there once; account 2 day 2 has the new values only
    assert read.height == 2 * 2 * 96
    assert read.select(pl.struct("key", "day", "slot").is_duplicated().any()).item() is False
    day2 = read.filter((pl.col("key") == 2) & (pl.col("day") == D1 + dt.timedelta(days=1)))
    assert day2["wh"].to_list() == [5] * 96
    untouched = read.filter(pl.col("key") == 1)
    assert untouched.equals(_curves([1], _days(2)).drop("kind").sort("key", "day", "slot"))
    # and the day was compacted into one file
    assert [p.name for p in (tmp_path / "interval" / "date=2026-03-02").iterdir()] == ["base-2.parquet"]


def test_a_merge_whose_clean_up_fails_never_doubles_a_key(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The merged file is the commit; the old files it replaces are ignored by readers even
    if deleting them failed (a crash, a permission error), and the next merge removes them."""
    curves_write(_curves([1, 2], _days(1)), data_dir=tmp_path)
    curves_write(_curves([3], _days(1)), data_dir=tmp_path)  # part-1 beside part-0
    real_unlink = Path.unlink

    def failing_unlink(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError("simulated")

    monkeypatch.setattr(Path, "unlink", failing_unlink)
    rewrite = _curves([1], _days(1)).with_columns(wh=pl.lit(7, dtype=pl.Int64))
    curves_write(rewrite, data_dir=tmp_path)
    monkeypatch.setattr(Path, "unlink", real_unlink)
    day = tmp_path / "interval" / "date=2026-03-01"
    assert sorted(p.name for p in day.iterdir()) == ["base-2.parquet", "part-0.parquet", "part-1.parquet"]
    read = curves_read(keys=[1, 2, 3], start=D1, end=D1, data_dir=tmp_path)
    assert read.height == 3 * 96
    assert read.filter(pl.col("key") == 1)["wh"].to_list() == [7] * 96
    curves_write(_curves([4], _days(1)), data_dir=tmp_path)  # an append after the base counts
    assert curves_read(keys=[1, 2, 3, 4], start=D1, end=D1, data_dir=tmp_path).height == 4 * 96
    curves_write(rewrite.with_columns(wh=pl.lit(8, dtype=pl.Int64)), data_dir=tmp_path)
    assert sorted(p.name for p in day.iterdir()) == ["base-4.parquet"]  # the stale files went too
    assert curves_read(keys=[1, 2, 3, 4], start=D1, end=D1, data_dir=tmp_path).height == 4 * 96


def test_new_keys_for_a_day_are_appended_as_another_part(tmp_path: Path) -> None:
    curves_write(_curves([1], _days(1)), data_dir=tmp_path)
    curves_write(_curves([2], _days(1)), data_dir=tmp_path)
    parts = sorted(p.name for p in (tmp_path / "interval" / "date=2026-03-01").iterdir())
    assert parts == ["part-0.parquet", "part-1.parquet"]
    assert curves_read(keys=[1, 2], start=D1, end=D1, data_dir=tmp_path).height == 2 * 96


@pytest.mark.parametrize(
    ("keys", "start", "end"),
    [
        ([1], dt.date(2027, 1, 1), dt.date(2027, 1, 31)),  # no partition in range
        ([99], D1, D1),  # partition, but not that key
        ([], D1, D1),  # no keys
        ([1], D1, D1 - dt.timedelta(days=1)),  # end before start
    ],
)
def test_nothing_to_read_gives_an_empty_frame_with_the_schema(
    tmp_path: Path, keys: list[int], start: dt.date, end: dt.date
) -> None:
    curves_write(_curves([1], _days(1)), data_dir=tmp_path)
    read = curves_read(keys=keys, start=start, end=end, data_dir=tmp_path)
    assert read.height == 0
    assert read.schema == pl.Schema(interval.READ_SCHEMA)


def test_empty_store_reads_empty(tmp_path: Path) -> None:
    read = curves_read(keys=[1], start=D1, end=D1, data_dir=tmp_path)
    assert read.schema == pl.Schema(interval.READ_SCHEMA)
    assert read.height == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop("slot"), "missing column"),
        (lambda f: f.with_columns(slot=pl.lit(96, dtype=pl.Int8)), "slot must be 0..95"),
        (lambda f: f.with_columns(kind=pl.lit("feeder")), "kind must be one of"),
        (lambda f: f.with_columns(wh=pl.lit(-1, dtype=pl.Int64)), "must not be negative"),
        (lambda f: f.with_columns(wh=pl.lit(1.5)), "wrong type"),
        (lambda f: pl.concat([f, f.head(1)]), "twice"),
    ],
)
def test_bad_frames_are_refused_and_nothing_is_written(tmp_path: Path, change, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        curves_write(change(_curves([1], _days(1))), data_dir=tmp_path)
    assert not (tmp_path / "interval").exists()


def test_timestamps_are_quarter_hours_in_shanghai(tmp_path: Path) -> None:
    curves_write(_curves([1], _days(1)), data_dir=tmp_path)
    read = with_timestamps(curves_read(keys=[1], start=D1, end=D1, data_dir=tmp_path))
    assert read["ts"][0] == dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert read["ts"][95] == dt.datetime(2026, 3, 1, 23, 45, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def test_default_data_dir_is_the_settings_one(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings.DATA_DIR = tmp_path
    curves_write(_curves([1], _days(1)))
    assert (tmp_path / "interval" / "date=2026-03-01").is_dir()
    assert curves_read(keys=[1], start=D1, end=D1).height == 96
