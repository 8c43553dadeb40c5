"""Bulk writes for batch paths (reading imports, billing runs): a Polars frame straight into
a table, skipping rows that already exist.

PostgreSQL: ``COPY`` into a temporary table, then one ``INSERT … SELECT … ON CONFLICT DO
NOTHING``. SQLite: ``INSERT OR IGNORE`` with ``executemany``. Either way one statement per
batch, no ORM objects, and the count of rows actually inserted is returned.

Call inside ``transaction.atomic()``; the caller owns validation (the frame must already
hold database-ready values: ints, strings, dates, Decimal-as-text).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import polars as pl
import psycopg
from django.db import IntegrityError, connection, transaction

from gridcare.core import pgbinary

_IDENT_OK = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")

#: Ids (or asset numbers) per ``IN (…)`` list of a bulk read: under SQLite's limit on a
#: statement's parameters, and few statements on PostgreSQL.
IN_BATCH = 5_000


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


def decimal_from_units(column: str, *, scale: int, alias: str | None = None) -> pl.Expr:
    """Integer units of ``10**-scale`` → an exact Decimal column, e.g. 12345 → 12.345 at
    scale 3. Bulk writes send Decimal columns to PostgreSQL in the binary ``COPY`` format."""
    return (pl.col(column).cast(pl.Decimal(38, scale)) / 10**scale).alias(alias or column)


def insert_ignoring_conflicts(
    *,
    table: str,
    frame: pl.DataFrame,
    conflict_columns: Sequence[str],
    batch_rows: int = 200_000,
    expect_new: bool = False,
) -> int:
    """Insert every row of ``frame`` (its columns name the table's columns) into ``table``,
    skipping rows that clash with an existing row on ``conflict_columns``. Returns the
    number of rows inserted.

    ``expect_new=True`` says the caller has already left out the rows it knows are stored
    (as the reading import does against the context it loaded): on PostgreSQL each batch
    is then first ``COPY``-ed straight into the table inside a savepoint, and only if a
    concurrent writer got there first (a unique violation) is the batch redone through the
    conflict-ignoring path. The result is the same either way; the fast path skips the
    temporary table and the ``INSERT … SELECT``."""
    if frame.height == 0:
        return 0
    table = _ident(table)
    columns = [_ident(c) for c in frame.columns]
    conflict = [_ident(c) for c in conflict_columns]
    inserted = 0
    for offset in range(0, frame.height, batch_rows):
        chunk = frame.slice(offset, batch_rows)
        if connection.vendor == "postgresql":
            copied = _pg_copy_direct(table, columns, chunk) if expect_new else None
            inserted += copied if copied is not None else _pg_insert(table, columns, conflict, chunk)
        else:
            inserted += _generic_insert(table, columns, chunk)
    return inserted


def _copy_rows(cursor: Any, table: str, columns: list[str], chunk: pl.DataFrame) -> None:
    """``COPY`` the rows of ``chunk`` into ``table`` (``cursor`` is Django's wrapper; the
    psycopg cursor under it does the COPY): in the binary format when ``core.pgbinary``
    can encode every column (the server then parses nothing), as CSV otherwise."""
    column_list = ", ".join(columns)
    cursor.execute(f"SELECT {column_list} FROM {table} LIMIT 0")  # noqa: S608 — identifiers checked
    stream = pgbinary.encode(chunk, [column.type_code for column in cursor.description])
    if stream is not None:
        with cursor.cursor.copy(f"COPY {table} ({column_list}) FROM STDIN WITH (FORMAT binary)") as copy:
            for part in stream:
                copy.write(part)
        return
    buffer = io.BytesIO()
    chunk.write_csv(buffer, include_header=False, null_value="")
    buffer.seek(0)
    with cursor.cursor.copy(f"COPY {table} ({column_list}) FROM STDIN WITH (FORMAT csv)") as copy:
        while data := buffer.read(1 << 20):
            copy.write(data)


def _executemany(sql: str, chunk: pl.DataFrame) -> None:
    """SQLite: run ``sql`` for every row of ``chunk``, 20,000 rows per call."""
    with connection.cursor() as cursor:
        rows = chunk.iter_rows()
        while batch := list(itertools.islice(rows, 20_000)):
            cursor.executemany(sql, batch)


@contextlib.contextmanager
def _staged(
    cursor: Any, table: str, columns: list[str], chunk: pl.DataFrame, *, prefix: str
) -> Iterator[str]:
    """A temporary table shaped like ``columns`` of ``table`` holding the rows of ``chunk``
    (``COPY`` on PostgreSQL, ``executemany`` on SQLite); yields its name, drops it after."""
    temp = f"{prefix}_{table}"
    column_list = ", ".join(columns)
    cursor.execute(f"DROP TABLE IF EXISTS {temp}")
    if connection.vendor == "postgresql":
        cursor.execute(
            f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {column_list} FROM {table} WITH NO DATA"  # noqa: S608
        )
        _copy_rows(cursor, temp, columns, chunk)
    else:
        cursor.execute(f"CREATE TEMP TABLE {temp} AS SELECT {column_list} FROM {table} WHERE 0")  # noqa: S608
        placeholders = ", ".join(["%s"] * len(columns))
        _executemany(f"INSERT INTO {temp} ({column_list}) VALUES ({placeholders})", chunk)  # noqa: S608
    yield temp
    cursor.execute(f"DROP TABLE {temp}")


def _pg_insert(table: str, columns: list[str], conflict: list[str], chunk: pl.DataFrame) -> int:
    col_list = ", ".join(columns)
    with connection.cursor() as cursor, _staged(cursor, table, columns, chunk, prefix="_bulk") as temp:
        cursor.execute(
            f"INSERT INTO {table} ({col_list}) SELECT {col_list} FROM {temp} "  # noqa: S608
            f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        )
        count = cursor.rowcount
    return max(count, 0)


def _pg_copy_direct(table: str, columns: list[str], chunk: pl.DataFrame) -> int | None:
    """COPY ``chunk`` straight into ``table`` in a savepoint; None when a row already exists."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _copy_rows(cursor, table, columns, chunk)
    except (IntegrityError, psycopg.IntegrityError):  # raw psycopg COPY errors are not wrapped
        return None
    return chunk.height


def _generic_insert(table: str, columns: list[str], chunk: pl.DataFrame) -> int:
    placeholders = ", ".join(["%s"] * len(columns))
    sql = f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
    before = _total_changes()
    _executemany(sql, chunk)
    return _total_changes() - before


def _total_changes() -> int:
    connection.ensure_connection()
    return int(connection.connection.total_changes)


def update_from_frame(
    *,
    table: str,
    frame: pl.DataFrame,
    key_columns: Sequence[str],
    only_if: str = "",
    batch_rows: int = 200_000,
) -> pl.DataFrame:
    """Update the rows of ``table`` named by ``key_columns`` of ``frame`` with the frame's
    other columns, set-based: the frame goes into a temporary table (``COPY`` on
    PostgreSQL, ``executemany`` on SQLite) and one ``UPDATE … FROM`` per batch changes the
    rows. ``only_if`` (SQL written by the caller, never user input) narrows it to the
    stored rows ``t`` that still qualify, e.g. ``"t.quality = 'estimated'"``; it may
    compare with the new values ``s``. Rows of ``frame`` with no stored row are ignored.

    Returns the key columns of the rows changed (the frame's types), so the caller can
    record exactly what was updated. Call inside ``transaction.atomic()``."""
    keys = [_ident(c) for c in key_columns]
    values = [_ident(c) for c in frame.columns if c not in keys]
    if not keys or not values or set(keys) - set(frame.columns):
        raise ValueError("update_from_frame: the frame needs the key columns and at least one value column")
    changed: list[tuple[Any, ...]] = []
    if frame.height:
        table = _ident(table)
        columns = [*keys, *values]
        # SQLite's RETURNING names the updated table's columns bare (not through its alias)
        owner = "t." if connection.vendor == "postgresql" else ""
        for offset in range(0, frame.height, batch_rows):
            chunk = frame.select(columns).slice(offset, batch_rows)
            with connection.cursor() as cursor, _staged(cursor, table, columns, chunk, prefix="_upd") as temp:
                cursor.execute(
                    f"UPDATE {table} AS t SET {', '.join(f'{c} = s.{c}' for c in values)} "  # noqa: S608 — identifiers checked
                    f"FROM {temp} AS s WHERE {' AND '.join(f't.{c} = s.{c}' for c in keys)}"
                    + (f" AND ({only_if})" if only_if else "")
                    + f" RETURNING {', '.join(owner + c for c in keys)}"
                )
                changed.extend(cursor.fetchall())
    schema = {c: frame.schema[c] for c in keys}
    dates = [c for c, dtype in schema.items() if dtype == pl.Date]
    rows = [
        tuple(
            dt.date.fromisoformat(v) if c in dates and isinstance(v, str) else v
            for c, v in zip(keys, row, strict=True)
        )
        for row in changed
    ]
    return pl.DataFrame(rows, schema=schema, orient="row")


def reserve_ids(*, table: str, count: int) -> list[int]:
    """Reserve ``count`` primary keys of ``table`` for rows about to be bulk-inserted.

    PostgreSQL takes them from the table's identity sequence (safe with concurrent
    writers); SQLite continues after the largest id (call inside the writing transaction,
    which SQLite runs IMMEDIATE, so nobody else writes meanwhile)."""
    table = _ident(table)
    if count <= 0:
        return []
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [int(row[0]) for row in cursor.fetchall()]
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
        start = int(cursor.fetchone()[0]) + 1
    return list(range(start, start + count))


def insert_new_rows(*, table: str, frame: pl.DataFrame, batch_rows: int = 200_000) -> list[int]:
    """Insert rows that are all new (no unique clash expected) and return their primary
    keys in frame order: ids reserved with :func:`reserve_ids`, then ``COPY`` on
    PostgreSQL or ``executemany`` on SQLite. Values must be database-ready (use
    :func:`db_datetime` for datetimes, JSON as text)."""
    ids = reserve_ids(table=table, count=frame.height)
    if not ids:
        return []
    with_ids = frame.with_columns(pl.Series("id", ids, dtype=pl.Int64))
    columns = [_ident(c) for c in with_ids.columns]
    for offset in range(0, with_ids.height, batch_rows):
        chunk = with_ids.slice(offset, batch_rows)
        if connection.vendor == "postgresql":
            copied = _pg_copy_direct(_ident(table), columns, chunk)
            if copied is None:
                raise IntegrityError(f"insert_new_rows: a row of {table} already exists")
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            _executemany(f"INSERT INTO {_ident(table)} ({', '.join(columns)}) VALUES ({placeholders})", chunk)
    return ids


_LOCK_BITS = 6  # each level of the id tree groups 64 ids of the level below
_LOCK_LEVELS = 4  # levels 0 (one id) to 3 (262,144 ids)


def id_lock_keys(ids: Iterable[int] | pl.Series, *, namespace: int) -> list[tuple[int, bool]]:
    """The advisory locks :func:`lock_ids` takes for ``ids``, in the order it takes them:
    ``(key, exclusive)`` pairs.

    The ids are covered by the nodes of a tree over the id space (level 0: one id; each
    level above: 64 nodes of the one below). A node inside ``min(ids)``–``max(ids)`` is
    locked exclusively as a whole; a node reaching past either end is locked shared and
    its nodes below that hold ids are covered in turn (only the two ends go down, so a
    chunk of 125,000 meters needs a few hundred locks, not one per meter). Two id sets
    that share an id always meet on one node, exclusively on at least one side; two sets
    whose ranges do not overlap (the chunks of one import) never do. The locks are taken
    in one order for everybody (by the node's first id, larger nodes first), so
    transactions that wait for each other never deadlock."""
    series = ids if isinstance(ids, pl.Series) else pl.Series(list(ids), dtype=pl.Int64)
    ordered = series.cast(pl.Int64).unique().sort().to_numpy()
    if not ordered.size:
        return []
    lo, hi = int(ordered[0]), int(ordered[-1])
    if namespace < 0 or namespace >= 1 << 15 or lo < 0 or hi >= 1 << 44:
        raise ValueError("id_lock_keys: namespace in 0..32767 and ids in 0..2**44-1")
    nodes: list[tuple[int, int, int, bool]] = []  # first id, -level, key, exclusive

    def cover(begin: int, end: int, level: int) -> None:  # the nodes of ordered[begin:end]
        shift = level * _LOCK_BITS
        while begin < end:
            node = int(ordered[begin]) >> shift
            first, last = node << shift, ((node + 1) << shift) - 1
            after = begin + int(ordered[begin:end].searchsorted(last, side="right"))
            whole = lo <= first and last <= hi
            nodes.append((first, -level, (namespace << 48) | (level << 44) | node, whole))
            if not whole:
                cover(begin, after, level - 1)
            begin = after

    cover(0, len(ordered), _LOCK_LEVELS - 1)
    nodes.sort()
    return [(key, exclusive) for _first, _level, key, exclusive in nodes]


def lock_ids(*, namespace: int, ids: Iterable[int] | pl.Series) -> None:
    """Serialise the transactions writing rows of the same ``ids`` (e.g. the meters of an
    import chunk) until they end: PostgreSQL transaction-level advisory locks from
    :func:`id_lock_keys`, taken in one statement in its order. A transaction whose ids
    overlap waits for the other to commit; transactions with disjoint id ranges go on side
    by side. Call first thing inside ``transaction.atomic()``, before any row is written.
    SQLite runs one writer at a time anyway: nothing to do."""
    if connection.vendor != "postgresql":
        return
    keys = id_lock_keys(ids, namespace=namespace)
    if not keys:
        return
    with connection.cursor() as cursor:
        # ORDER BY the position: PostgreSQL evaluates volatile output expressions after the sort
        cursor.execute(
            "SELECT CASE WHEN x THEN pg_advisory_xact_lock(k) ELSE pg_advisory_xact_lock_shared(k) END "
            "FROM unnest(%s::bigint[], %s::boolean[]) WITH ORDINALITY AS t(k, x, n) ORDER BY n",
            [[k for k, _x in keys], [x for _k, x in keys]],
        )
        cursor.fetchall()


def db_datetime(value: Any) -> str | None:
    """An aware datetime as the database stores it (for frames written in bulk)."""
    if value is None:
        return None
    return str(connection.ops.adapt_datetimefield_value(value))


def query_frame(sql: str, params: Sequence[Any], schema: dict[str, Any]) -> pl.DataFrame:
    """Run ``sql`` and return its rows as a frame with ``schema`` (dates selected as
    ``YYYY-MM-DD`` text, booleans as 0/1). PostgreSQL streams it with ``COPY … TO STDOUT``."""
    text_schema = {k: (pl.String if v == pl.Date else v) for k, v in schema.items()}
    if connection.vendor == "postgresql":
        buffer = io.BytesIO()
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy,
        ):
            for data in copy:
                buffer.write(data)
        if buffer.tell() == 0:
            frame = pl.DataFrame(schema=text_schema)
        else:
            buffer.seek(0)
            frame = pl.read_csv(buffer, has_header=False, new_columns=list(schema), schema=text_schema)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, list(params))
            rows = [tuple(str(v) if isinstance(v, dt.date) else v for v in row) for row in cursor.fetchall()]
        frame = pl.DataFrame(rows, schema=text_schema, orient="row")
    dates = [k for k, v in schema.items() if v == pl.Date]
    if dates:
        frame = frame.with_columns(pl.col(c).str.slice(0, 10).str.to_date("%Y-%m-%d") for c in dates)
    return frame


def sql_milli(expr: str) -> str:
    """SQL: a decimal column × 1000 as an integer, on either database (exact thousandths of a
    kWh or a kVA, read into integer columns of a frame)."""
    kind = "BIGINT" if connection.vendor == "postgresql" else "INTEGER"
    return f"CAST(ROUND({expr} * 1000) AS {kind})"
