"""Bulk writes for batch paths (reading imports, billing runs): a Polars frame straight into
a table, skipping rows that already exist.

PostgreSQL: ``COPY`` into a temporary table, then one ``INSERT … SELECT … ON CONFLICT DO
NOTHING``. SQLite: ``INSERT OR IGNORE`` with ``executemany``. Either way one statement per
batch, no ORM objects, and the count of rows actually inserted is returned.

Call inside ``transaction.atomic()``; the caller owns validation (the frame must already
hold database-ready values: ints, strings, dates, Decimal-as-text).
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence

import polars as pl
from django.db import connection

_IDENT_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


def _ident(name: str) -> str:
    if not name or set(name) - _IDENT_OK:
        raise ValueError(f"unsafe SQL identifier: {name!r}")
    return name


def decimal_text(column: str, *, scale: int, alias: str | None = None) -> pl.Expr:
    """Integer thousandths (or any 10**scale units) → exact decimal text, e.g. 12345 → '12.345'.

    Works for non-negative and negative values without going through float.
    """
    unit = 10**scale
    col = pl.col(column)
    sign = pl.when(col < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    magnitude = col.abs()
    whole = (magnitude // unit).cast(pl.String)
    frac = (magnitude % unit).cast(pl.String).str.zfill(scale)
    return pl.concat_str([sign, whole, pl.lit("."), frac]).alias(alias or column)


def insert_ignoring_conflicts(
    *,
    table: str,
    frame: pl.DataFrame,
    conflict_columns: Sequence[str],
    batch_rows: int = 200_000,
) -> int:
    """Insert every row of ``frame`` (its columns name the table's columns) into ``table``,
    skipping rows that clash with an existing row on ``conflict_columns``. Returns the
    number of rows inserted."""
    if frame.height == 0:
        return 0
    table = _ident(table)
    columns = [_ident(c) for c in frame.columns]
    conflict = [_ident(c) for c in conflict_columns]
    inserted = 0
    for offset in range(0, frame.height, batch_rows):
        chunk = frame.slice(offset, batch_rows)
        if connection.vendor == "postgresql":
            inserted += _pg_insert(table, columns, conflict, chunk)
        else:
            inserted += _generic_insert(table, columns, chunk)
    return inserted


def _pg_insert(table: str, columns: list[str], conflict: list[str], chunk: pl.DataFrame) -> int:
    col_list = ", ".join(columns)
    temp = f"_bulk_{table}"
    buffer = io.BytesIO()
    chunk.write_csv(buffer, include_header=False, null_value="")
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {temp}")
        cursor.execute(
            f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {col_list} FROM {table} WITH NO DATA"
        )
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        with raw.copy(f"COPY {temp} ({col_list}) FROM STDIN WITH (FORMAT csv)") as copy:
            while data := buffer.read(1 << 20):
                copy.write(data)
        cursor.execute(
            f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {temp} "
            f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        )
        count = cursor.rowcount
        cursor.execute(f"DROP TABLE {temp}")
    return max(count, 0)


def _generic_insert(table: str, columns: list[str], chunk: pl.DataFrame) -> int:
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
    with connection.cursor() as cursor:
        before = _total_changes()
        rows = chunk.iter_rows()
        while batch := list(itertools.islice(rows, 20_000)):
            cursor.executemany(sql, batch)
        return _total_changes() - before


def _total_changes() -> int:
    connection.ensure_connection()
    return int(connection.connection.total_changes)
