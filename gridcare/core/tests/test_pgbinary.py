"""Binary COPY encoding: what it refuses (pure), and rows round-tripped through PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridcare.core import pgbinary
from gridcare.core.bulk import _copy_rows, decimal_from_units
from gridcare.core.pgbinary import OID_INT2, OID_INT4, OID_INT8, OID_NUMERIC, OID_TEXT


def test_stream_is_header_rows_trailer() -> None:
    frame = pl.DataFrame({"n": [1, 2]})
    stream = pgbinary.encode(frame, [OID_INT8])
    assert stream is not None
    assert stream[0] == pgbinary.HEADER
    assert stream[-1] == pgbinary.TRAILER
    # one group: field count, then length 8 and the big-endian value, per row
    row = b"\x00\x01" + b"\x00\x00\x00\x08" + (1).to_bytes(8, "big")
    assert stream[1].startswith(row)
    assert len(stream[1]) == 2 * len(row)


@pytest.mark.parametrize(
    ("frame", "oids"),
    [
        (pl.DataFrame({"t": [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]}), [1184]),  # timestamptz
        (pl.DataFrame({"s": ["12"]}), [OID_INT8]),  # text into an integer column
        (pl.DataFrame({"n": [1]}), [OID_NUMERIC]),  # an integer is not a decimal
        (pl.DataFrame({"d": [Decimal("1.00001")]}), [OID_NUMERIC]),  # scale 5
        (pl.DataFrame({"n": [2**31]}), [OID_INT4]),  # out of the column's range
        (pl.DataFrame({"d": [Decimal("1" + "0" * 30)]}), [OID_NUMERIC]),  # beyond int64 units
        (pl.DataFrame({"d": [Decimal("10") ** 17]}), [OID_NUMERIC]),  # beyond the digits written
        (pl.DataFrame({"n": [-(2**15) - 1]}), [OID_INT2]),
        (pl.DataFrame({"t": [str(i) for i in range(pgbinary.MAX_GROUPS + 1)]}), [OID_TEXT]),
    ],
    ids=[
        "timestamp",
        "text-as-int",
        "int-as-numeric",
        "scale-5",
        "int4-range",
        "huge-decimal",
        "decimal-limit",
        "int2-range",
        "many-texts",
    ],
)
def test_what_cannot_be_encoded_falls_back(frame: pl.DataFrame, oids: list[int]) -> None:
    assert pgbinary.encode(frame, oids) is None


def test_column_types_must_match_columns() -> None:
    with pytest.raises(ValueError, match="column types"):
        pgbinary.encode(pl.DataFrame({"a": [1], "b": [2]}), [OID_INT8])


def test_decimal_from_units_is_exact() -> None:
    frame = pl.DataFrame({"v": [0, 5, 1234, -1234, 999_999_999_999, -7]})
    out = frame.select(decimal_from_units("v", scale=3)).get_column("v").to_list()
    assert out == [Decimal(x) for x in ("0", "0.005", "1.234", "-1.234", "999999999.999", "-0.007")]


# --- round trip through PostgreSQL ---------------------------------------------------------

TEXTS = ["total", "sharp", "峰", "", "x" * 8]
ROW = st.fixed_dictionaries(
    {
        "big": st.none() | st.integers(-(2**63), 2**63 - 1),
        "int": st.none() | st.integers(-(2**31), 2**31 - 1),
        "small": st.none() | st.integers(-(2**15), 2**15 - 1),
        "day": st.none() | st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31)),
        "milli": st.none() | st.integers(-(10**16) + 1, 10**16 - 1),
        "whole": st.none() | st.integers(-(10**12) + 1, 10**12 - 1),
        "flag": st.none() | st.booleans(),
        "code": st.none() | st.sampled_from(TEXTS),
        "note": st.sampled_from(TEXTS),
    }
)
COLUMNS = (
    "big bigint, int integer, small smallint, day date, milli numeric(20, 3), "
    "whole numeric(12, 0), flag boolean, code varchar(8), note text"
)

NAMES = ("big", "int", "small", "day", "milli", "whole", "flag", "code", "note")
SELECT_ALL = "SELECT big, int, small, day, milli, whole, flag, code, note FROM pgbinary_probe"


def _frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    raw = pl.DataFrame(
        rows,
        schema={
            "big": pl.Int64,
            "int": pl.Int64,
            "small": pl.Int64,
            "day": pl.Date,
            "milli": pl.Int64,
            "whole": pl.Int64,
            "flag": pl.Boolean,
            "code": pl.String,
            "note": pl.String,
        },
    )
    return raw.with_columns(
        decimal_from_units("milli", scale=3),
        pl.col("whole").cast(pl.Decimal(38, 0)),
    )


@pytest.mark.postgresql
@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=40))
def test_rows_round_trip_through_postgresql(rows: list[dict[str, object]]) -> None:
    assert connection.vendor == "postgresql"
    frame = _frame(rows)
    columns = list(frame.columns)
    assert tuple(columns) == NAMES
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS pgbinary_probe")
        cursor.execute(f"CREATE TEMP TABLE pgbinary_probe ({COLUMNS})")
        cursor.execute(SELECT_ALL + " LIMIT 0")
        oids = [c.type_code for c in cursor.description]
        # the binary path is the one under test: it must not fall back to CSV here
        assert pgbinary.encode(frame, oids) is not None
        _copy_rows(cursor, "pgbinary_probe", columns, frame)
        cursor.execute(SELECT_ALL)
        stored = cursor.fetchall()
        cursor.execute("DROP TABLE pgbinary_probe")
    expected = [
        (
            r["big"],
            r["int"],
            r["small"],
            r["day"],
            None if r["milli"] is None else Decimal(int(r["milli"])).scaleb(-3),  # type: ignore[call-overload]
            None if r["whole"] is None else Decimal(int(r["whole"])),  # type: ignore[call-overload]
            r["flag"],
            r["code"],
            r["note"],
        )
        for r in rows
    ]
    assert sorted(map(repr, stored)) == sorted(map(repr, expected))
