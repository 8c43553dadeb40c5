"""Interval load curves (负荷曲线, 96 points a day): Parquet files partitioned by day.

Curves are far too many rows for the transactional database (one account is 35,040 values
a year), so they live as Parquet under the data directory and are read with Polars. The
database keeps the daily register readings; these files keep the shape of the day.

Layout (hive-style, one directory per day)::

    DATA_DIR/interval/date=2026-11-25/part-0.parquet
                                     /part-1.parquet …

Columns inside a file (long format, sorted by ``kind``, ``key``, ``slot``):

``kind`` String   ``"account"`` (an account's meter, key = ``Account.id``) or
                  ``"transformer"`` (a 台区 / 专变 total meter 台区总表, key =
                  ``Transformer.id``)
``key``  Int64    the account or transformer id
``slot`` Int8     0..95: the quarter hour starting at ``day 00:00 + 15 min × slot``
                  (``Asia/Shanghai`` wall time)
``wh``   Int64    energy in that quarter hour in **integer Wh** (energy is exact in
                  GridCare; the mean power in W is ``wh × 4``)

The day is not stored in the file: it is the partition (``date=YYYY-MM-DD``) and comes back
as the ``day`` column. (day, slot) instead of a timestamp because every filter GridCare
makes is by whole days: a date range selects directories before any file is opened, the
slot is a one-byte column, and there is no time-zone arithmetic on the read path. Use
:func:`with_timestamps` when a chart wants real instants.

Writes are idempotent per (kind, key, day): writing keys that are already stored for a day
replaces their values (the day's files are merged into one new ``base-<n>.parquet``, which
replaces every file numbered below it); writing keys that are new for the day adds a
``part-<n>.parquet`` next to the existing ones. Files are written under a temporary name
and renamed into place, so a reader never sees half a file, and a merge's clean-up that
fails leaves only files the readers ignore.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Sequence
from pathlib import Path

import polars as pl
from django.conf import settings

SLOTS_PER_DAY = 96
KINDS = ("account", "transformer")
ACCOUNT = "account"
TRANSFORMER = "transformer"

#: Columns of a file (what :func:`curves_write` takes, plus ``day``).
FILE_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "key": pl.Int64(),
    "slot": pl.Int8(),
    "wh": pl.Int64(),
}
#: What :func:`curves_write` takes and :func:`curves_read` returns (``kind`` only when written).
WRITE_SCHEMA: dict[str, pl.DataType] = {
    "kind": pl.String(),
    "key": pl.Int64(),
    "day": pl.Date(),
    "slot": pl.Int8(),
    "wh": pl.Int64(),
}
READ_SCHEMA: dict[str, pl.DataType] = {
    "key": pl.Int64(),
    "day": pl.Date(),
    "slot": pl.Int8(),
    "wh": pl.Int64(),
}
_PARTITION = "date"
_PART_GLOB = "part-*.parquet"
_BASE_GLOB = "base-*.parquet"


def interval_root(data_dir: Path | str | None = None) -> Path:
    """The directory that holds the day partitions (``DATA_DIR/interval``)."""
    return Path(data_dir if data_dir is not None else settings.DATA_DIR) / "interval"


def _partition_dir(root: Path, day: dt.date) -> Path:
    return root / f"{_PARTITION}={day.isoformat()}"


def _number(path: Path) -> int:
    return int(path.stem.split("-", 1)[1])


def _files(directory: Path) -> list[Path]:
    """Every data file of a day, base and part, by number."""
    return sorted([*directory.glob(_PART_GLOB), *directory.glob(_BASE_GLOB)], key=_number)


def _parts(directory: Path) -> list[Path]:
    """The day's live files: the newest ``base-<n>`` (a merge, which replaces every file
    numbered below it) and the ``part-<m>`` added after it (m > n). Files a merge replaced
    but could not delete are ignored, so a reader never sees a key twice."""
    files = _files(directory)
    bases = [f for f in files if f.name.startswith("base-")]
    if not bases:
        return files
    newest = _number(bases[-1])
    return [bases[-1], *(f for f in files if f.name.startswith("part-") and _number(f) > newest)]


def _normalise(frame: pl.DataFrame) -> pl.DataFrame:
    """Check and cast a frame handed to :func:`curves_write`; ValueError names the problem."""
    missing = [c for c in WRITE_SCHEMA if c not in frame.columns]
    if missing:
        raise ValueError(f"curves_write: missing column(s) {', '.join(missing)}")
    for column in ("key", "slot", "wh"):
        if not frame.schema[column].is_integer():
            raise ValueError(
                f"curves_write: {column} has the wrong type ({frame.schema[column]}): integers only"
            )
    if frame.height == 0:
        return pl.DataFrame(schema=WRITE_SCHEMA)
    try:
        out = frame.select(pl.col(c).cast(t, strict=True) for c, t in WRITE_SCHEMA.items())
    except pl.exceptions.PolarsError as exc:  # e.g. floats with fractions in wh
        raise ValueError(f"curves_write: a column has the wrong type ({exc})") from exc
    if out.null_count().sum_horizontal().item():
        raise ValueError("curves_write: null values")
    bad_kind = out.filter(~pl.col("kind").is_in(KINDS))
    if bad_kind.height:
        raise ValueError(f"curves_write: kind must be one of {KINDS}, got {bad_kind['kind'][0]!r}")
    if out.filter((pl.col("slot") < 0) | (pl.col("slot") >= SLOTS_PER_DAY)).height:
        raise ValueError("curves_write: slot must be 0..95")
    if out.filter(pl.col("wh") < 0).height:
        raise ValueError("curves_write: wh must not be negative")
    if out.select(pl.struct("kind", "key", "day", "slot").is_duplicated().any()).item():
        raise ValueError("curves_write: the same (kind, key, day, slot) twice")
    return out


def _write_atomic(frame: pl.DataFrame, target: Path) -> None:
    tmp = target.with_name(f".tmp-{uuid.uuid4().hex}.parquet")
    frame.write_parquet(tmp, compression="zstd", statistics=True, row_group_size=256 * 1024)
    os.replace(tmp, target)


def curves_write(frame: pl.DataFrame, *, data_dir: Path | str | None = None) -> int:
    """Store 96-point curves; returns the number of values written.

    ``frame`` has the columns ``kind``, ``key``, ``day``, ``slot``, ``wh`` (see the module
    docstring). Idempotent per (kind, key, day): the values of a key that is already stored
    for a day are replaced, not added. Not safe against two writers of the same day at once
    (the seed and batch loads write each day from one process).
    """
    data = _normalise(frame)
    if data.height == 0:
        return 0
    root = interval_root(data_dir)
    for (day,), day_frame in data.sort("day").partition_by("day", as_dict=True, maintain_order=True).items():
        assert isinstance(day, dt.date)  # noqa: S101 - partition key of a Date column
        new = day_frame.select(FILE_SCHEMA.keys()).sort("kind", "key", "slot")
        directory = _partition_dir(root, day)
        directory.mkdir(parents=True, exist_ok=True)
        parts = _parts(directory)
        if parts:
            stored_keys = pl.scan_parquet(parts).select("kind", "key").unique().collect()
            overlap = stored_keys.join(new.select("kind", "key").unique(), on=["kind", "key"], how="semi")
        else:
            overlap = pl.DataFrame(schema={"kind": pl.String(), "key": pl.Int64()})
        every = _files(directory)
        next_n = _number(every[-1]) + 1 if every else 0
        if overlap.height == 0:
            _write_atomic(new, directory / f"part-{next_n}.parquet")
            continue
        # Some keys are rewritten: merge the day into one file without their old values.
        kept = (
            pl.scan_parquet(parts)
            .select(FILE_SCHEMA.keys())
            .join(overlap.lazy(), on=["kind", "key"], how="anti")
            .collect()
        )
        merged = pl.concat([kept.cast(pl.Schema(FILE_SCHEMA)), new]).sort("kind", "key", "slot")
        # The rename of the base is the commit: from then on readers ignore every older
        # file, so a failed clean-up below (or a reader in between) never doubles a key.
        _write_atomic(merged, directory / f"base-{next_n}.parquet")
        for old in every:
            with contextlib.suppress(OSError):  # ignored by readers; the next merge retries
                old.unlink()
    return data.height


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def curves_read(
    *,
    keys: Sequence[int],
    start: dt.date,
    end: dt.date,
    kind: str = ACCOUNT,
    data_dir: Path | str | None = None,
) -> pl.DataFrame:
    """The 96-point curves of ``keys`` (account ids, or transformer ids with
    ``kind="transformer"``) from ``start`` to ``end`` inclusive.

    Returns ``key``, ``day``, ``slot``, ``wh`` sorted by key, day, slot; days without data
    are simply absent (no zero filling). Only the day partitions in the range are opened
    (the range picks the directories; the key filter is pushed into the Parquet scan and
    skips row groups by their statistics).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    empty = pl.DataFrame(schema=READ_SCHEMA)
    if not keys or end < start:
        return empty
    root = interval_root(data_dir)
    files: list[Path] = []
    for day in _days(start, end):
        directory = _partition_dir(root, day)
        if directory.is_dir():
            files.extend(_parts(directory))
    if not files:
        return empty
    wanted = pl.Series("key", list(keys), dtype=pl.Int64)
    return (
        pl.scan_parquet(
            files,
            hive_partitioning=True,
            hive_schema={_PARTITION: pl.Date()},
            schema=FILE_SCHEMA,
        )
        .filter(
            (pl.col("kind") == kind)
            & pl.col("key").is_in(wanted.implode())
            & pl.col(_PARTITION).is_between(start, end)
        )
        .select(
            pl.col("key"),
            pl.col(_PARTITION).alias("day"),
            pl.col("slot"),
            pl.col("wh"),
        )
        .sort("key", "day", "slot")
        .collect()
    )


def transformer_curves_read(
    *,
    keys: Sequence[int],
    start: dt.date,
    end: dt.date,
    data_dir: Path | str | None = None,
) -> pl.DataFrame:
    """The 台区总表 curves of the transformers ``keys`` (``Transformer.id``); see
    :func:`curves_read`."""
    return curves_read(keys=keys, start=start, end=end, kind=TRANSFORMER, data_dir=data_dir)


def with_timestamps(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``ts``: the start of each quarter hour as an aware ``Asia/Shanghai`` datetime
    (no daylight saving there, so day + 15 min × slot is exact)."""
    return frame.with_columns(
        (pl.col("day").cast(pl.Datetime("us")) + pl.duration(minutes=pl.col("slot").cast(pl.Int64) * 15))
        .dt.replace_time_zone("Asia/Shanghai")
        .alias("ts")
    )
