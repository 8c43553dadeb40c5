"""Reading files and API batches → valid readings and rejected rows (engine.parse, no database)."""

from __future__ import annotations

import datetime as dt
import pathlib
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridcare.metering.engine.parse import (
    REQUIRED_COLUMNS,
    HeaderError,
    frame_from_records,
    parse_readings,
    read_table,
)

TODAY = dt.date(2026, 3, 1)
METERS = pl.DataFrame(
    {
        "asset_no": ["3100000001", "3100000002"],
        "meter_id": [11, 12],
        "registers": [["total", "sharp", "peak", "flat", "valley"], ["total", "reactive"]],
    },
    schema={"asset_no": pl.String, "meter_id": pl.Int64, "registers": pl.List(pl.String)},
)


def write(tmp_path: pathlib.Path, text: str, name: str = "readings.csv") -> pathlib.Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def parse_text(tmp_path: pathlib.Path, text: str):
    return parse_readings(read_table(write(tmp_path, text)), METERS, today=TODAY)


BROKEN_FILE = """\
meter,register,day,value,source
3100000001,total,2026-01-05,12345.678,ami
3100000001,peak,2026-01-05,100,manual
3100000001,total,2026-02-30,12346,ami
3100000001,total,26/01/2026,12346,ami
3100000001,total,2026-01-06,"12,5",ami
3100000001,total,2026-01-07,abc,ami
3100000001,total,2026-01-08,1.2345,ami
3100000001,total,2026-01-09,-5,ami
3100000001,total,2026-01-05,12345.679,ami
3199999999,total,2026-01-05,1,ami
3100000002,peak,2026-01-05,1,ami
3100000002,kwh,2026-01-05,1,ami
3100000002,total,2026-01-05,,ami
3100000002,total,2026-01-06,7.5,cloud
3100000002,total,2026-03-02,7.5,ami
 3100000002 , TOTAL , 2026-01-07 , 8.25 ,
3100000001,total,2026-01-05,99,handheld
"""


def test_broken_file_yields_exactly_its_valid_rows_and_a_reason_per_rejected_row(tmp_path):
    # given a file with one of each kind of bad row between good ones
    # when it is parsed
    parsed = parse_text(tmp_path, BROKEN_FILE)

    # then the good rows are valid, with exact milli values and the default source
    assert parsed.valid.to_dicts() == [
        {
            "meter_id": 11,
            "register": "total",
            "day": dt.date(2026, 1, 5),
            "value_milli": 12345678,
            "source": "ami",
            "line_no": 2,
        },
        {
            "meter_id": 11,
            "register": "peak",
            "day": dt.date(2026, 1, 5),
            "value_milli": 100000,
            "source": "manual",
            "line_no": 3,
        },
        {
            "meter_id": 12,
            "register": "total",
            "day": dt.date(2026, 1, 7),
            "value_milli": 8250,
            "source": "ami",
            "line_no": 17,
        },
    ]
    # and every other row is rejected, in file order, with its reason and a plain explanation
    assert parsed.rejected.select("line_no", "reason", "detail").rows() == [
        (4, "bad_date", "date '2026-02-30' does not exist"),
        (5, "bad_date", "date '26/01/2026' is not in YYYY-MM-DD form"),
        (6, "non_numeric", "value '12,5' has a comma; write the decimal point as '.'"),
        (7, "non_numeric", "value 'abc' is not a number"),
        (8, "non_numeric", "value '1.2345' has more than 3 decimals"),
        (9, "non_numeric", "value '-5' is negative"),
        (10, "duplicate_in_file", "same meter, register and day as line 2"),
        (11, "unknown_meter", "meter 3199999999 not in the asset register"),
        (12, "register_not_on_meter", "meter 3100000002 has no peak register (it has: total, reactive)"),
        (
            13,
            "unknown_register",
            "register 'kwh' is not one of total, sharp, peak, flat, valley, reactive",
        ),
        (14, "missing_value", "empty field: value"),
        (15, "bad_source", "source 'cloud' is not one of ami, manual, handheld"),
        (16, "bad_date", "in the future"),
        (18, "duplicate_in_file", "same meter, register and day as line 2"),
    ]
    # and the raw text of a rejected row is its fields as received, CSV-quoted where needed
    raws = dict(parsed.rejected.select("line_no", "raw").rows())
    assert raws[6] == '3100000001,total,2026-01-06,"12,5",ami'
    assert raws[14] == "3100000002,total,2026-01-05,,ami"
    # and no row is lost or counted twice
    assert sorted([*parsed.valid["line_no"], *parsed.rejected["line_no"]]) == list(range(2, 19))


def test_wrong_header_raises_header_error_naming_the_missing_columns(tmp_path):
    # given a file whose value column is called "reading" and has no day
    path = write(tmp_path, "meter,register,date,reading\n3100000001,total,2026-01-05,1\n")

    # when it is read, then the error names exactly the missing columns
    with pytest.raises(HeaderError, match="day, value") as excinfo:
        read_table(path)
    assert excinfo.value.missing == ["day", "value"]
    assert isinstance(excinfo.value, ValueError)


def test_empty_file_is_a_header_error(tmp_path):
    with pytest.raises(HeaderError) as excinfo:
        read_table(write(tmp_path, ""))
    assert excinfo.value.missing == list(REQUIRED_COLUMNS)


def test_unsupported_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unsupported reading file type '.xlsx'"):
        read_table(write(tmp_path, "meter,register,day,value\n", name="readings.xlsx"))


def test_header_with_bom_blanks_and_capitals_is_normalised_and_blank_lines_keep_line_numbers(tmp_path):
    # given a UTF-8 file with BOM, a header in capitals with blanks, and a blank line
    path = tmp_path / "bom.csv"
    path.write_bytes(
        (
            "\ufeff Meter ,Register,DAY,Value\n"
            "3100000001,total,2026-01-05,1\n"
            "\n"
            "3100000001,total,2026-01-06,2\n"
        ).encode()
    )

    # when it is read
    table = read_table(path)

    # then the columns are the lower-case names, all text, and line numbers are file lines
    assert table.columns == ["meter", "register", "day", "value", "line_no"]
    assert table.schema["value"] == pl.String
    assert table.schema["line_no"] == pl.Int64
    assert table.rows() == [
        ("3100000001", "total", "2026-01-05", "1", 2),
        ("3100000001", "total", "2026-01-06", "2", 4),
    ]


def test_csv_values_are_never_read_as_numbers(tmp_path):
    # given values whose leading zeros and decimals a number parser would lose
    table = read_table(write(tmp_path, "meter,register,day,value\n0031,total,2026-01-05,000002.100\n"))

    assert table.row(0) == ("0031", "total", "2026-01-05", "000002.100", 2)


def test_parquet_is_read_as_text_with_row_numbers_from_one(tmp_path):
    # given a Parquet file with typed columns
    path = tmp_path / "readings.parquet"
    pl.DataFrame(
        {
            "Meter": ["3100000001", "3100000002"],
            "register": ["total", "total"],
            "day": [dt.date(2026, 1, 5), dt.date(2026, 1, 6)],
            "value": ["12.5", "7"],
        }
    ).write_parquet(path)

    # when it is read and parsed
    table = read_table(path)
    parsed = parse_readings(table, METERS, today=TODAY)

    # then every column is text and line numbers count rows from 1
    assert all(dtype == pl.String for name, dtype in table.schema.items() if name != "line_no")
    assert table["line_no"].to_list() == [1, 2]
    assert parsed.valid.select("meter_id", "day", "value_milli", "line_no").rows() == [
        (11, dt.date(2026, 1, 5), 12500, 1),
        (12, dt.date(2026, 1, 6), 7000, 2),
    ]
    assert parsed.rejected.is_empty()


def test_frame_from_records_stringifies_values_and_numbers_records_from_one():
    # given an API batch with numbers, a missing source and a None value
    records = [
        {"meter": 3100000001, "register": "total", "day": "2026-01-05", "value": "12.5", "source": "manual"},
        {"meter": "3100000001", "register": "peak", "day": "2026-01-05", "value": 3},
        {"meter": "3100000002", "register": "total", "day": "2026-01-05", "value": None},
    ]

    # when it is turned into a table and parsed
    table = frame_from_records(records)
    parsed = parse_readings(table, METERS, today=TODAY)

    # then it looks like a file: all text, line_no from 1
    assert table.columns == ["meter", "register", "day", "value", "source", "line_no"]
    assert table.row(1) == ("3100000001", "peak", "2026-01-05", "3", None, 2)
    assert parsed.valid.select("meter_id", "register", "value_milli", "source", "line_no").rows() == [
        (11, "total", 12500, "manual", 1),
        (11, "peak", 3000, "ami", 2),
    ]
    assert parsed.rejected.select("line_no", "reason", "raw").rows() == [
        (3, "missing_value", "3100000002,total,2026-01-05,,")
    ]


def test_frame_from_records_without_a_required_key_is_a_header_error():
    with pytest.raises(HeaderError) as excinfo:
        frame_from_records([{"meter": "3100000001", "register": "total", "day": "2026-01-05"}])
    assert excinfo.value.missing == ["value"]


def test_empty_batch_parses_to_nothing():
    parsed = parse_readings(frame_from_records([]), METERS, today=TODAY)

    assert parsed.valid.is_empty()
    assert parsed.rejected.is_empty()
    assert parsed.valid.schema == pl.Schema(
        {
            "meter_id": pl.Int64,
            "register": pl.String,
            "day": pl.Date,
            "value_milli": pl.Int64,
            "source": pl.String,
            "line_no": pl.Int64,
        }
    )
    assert parsed.rejected.schema == pl.Schema(
        {"line_no": pl.Int64, "raw": pl.String, "reason": pl.String, "detail": pl.String}
    )


def test_first_failing_check_wins(tmp_path):
    # given rows failing several checks at once
    parsed = parse_text(
        tmp_path,
        "meter,register,day,value,source\n"
        "3199999999,kwh,bad,abc,cloud\n"  # unknown meter first
        "3100000002,peak,bad,abc,cloud\n"  # register not on meter before the date
        "3100000001,total,bad,abc,cloud\n"  # date before the number
        "3100000001,total,2026-01-05,abc,cloud\n"  # number before the source
        ",total,bad,abc,cloud\n",  # an empty field before everything
    )

    assert parsed.rejected.select("line_no", "reason").rows() == [
        (2, "unknown_meter"),
        (3, "register_not_on_meter"),
        (4, "bad_date"),
        (5, "non_numeric"),
        (6, "missing_value"),
    ]
    assert parsed.rejected.filter(pl.col("line_no") == 6)["detail"].item() == "empty field: meter"


def test_duplicates_are_judged_among_otherwise_valid_rows_only(tmp_path):
    # given a bad first row and two good rows for the same meter, register and day
    parsed = parse_text(
        tmp_path,
        "meter,register,day,value\n"
        "3100000001,total,2026-01-05,abc\n"
        "3100000001,total,2026-01-05,10\n"
        "3100000001,total,2026-01-05,11\n"
        "3100000001,total,2026-01-06,12\n",
    )

    # then the first good row is kept and the later one names it
    assert parsed.valid.select("line_no", "value_milli").rows() == [(3, 10000), (5, 12000)]
    assert parsed.rejected.select("line_no", "reason", "detail").rows() == [
        (2, "non_numeric", "value 'abc' is not a number"),
        (4, "duplicate_in_file", "same meter, register and day as line 3"),
    ]


def test_today_is_allowed_and_tomorrow_is_in_the_future(tmp_path):
    parsed = parse_text(
        tmp_path,
        "meter,register,day,value\n3100000001,total,2026-03-01,1\n3100000001,total,2026-03-02,2\n",
    )

    assert parsed.valid["day"].to_list() == [dt.date(2026, 3, 1)]
    assert parsed.rejected.select("line_no", "reason", "detail").rows() == [(3, "bad_date", "in the future")]


@pytest.mark.parametrize(
    ("text", "milli"),
    [("0", 0), ("0.001", 1), ("7", 7000), ("7.1", 7100), ("7.12", 7120), ("000002.000", 2000)],
)
def test_value_text_becomes_exact_milli(tmp_path, text, milli):
    parsed = parse_text(tmp_path, f"meter,register,day,value\n3100000001,total,2026-01-05,{text}\n")

    assert parsed.valid["value_milli"].to_list() == [milli]


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("1.", "value '1.' is not a number"),
        (".5", "value '.5' is not a number"),
        ("1e3", "value '1e3' is not a number"),
        ("+5", "value '+5' is not a number"),
        ("123456789012", "value '123456789012' is too large (over 11 integer digits)"),
    ],
)
def test_odd_numbers_are_non_numeric(tmp_path, text, detail):
    parsed = parse_text(tmp_path, f"meter,register,day,value\n3100000001,total,2026-01-05,{text}\n")

    assert parsed.valid.is_empty()
    assert parsed.rejected.select("reason", "detail").rows() == [("non_numeric", detail)]


rows_strategy = st.lists(
    st.tuples(
        st.sampled_from([("3100000001", "total"), ("3100000001", "valley"), ("3100000002", "reactive")]),
        st.dates(min_value=dt.date(2000, 1, 1), max_value=TODAY),
        st.integers(min_value=0, max_value=10**11 - 1),
        st.integers(min_value=0, max_value=3),
        st.sampled_from(["", "ami", "MANUAL", "handheld"]),
    ),
    max_size=40,
    unique_by=lambda row: (row[0], row[1]),
)


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy, fraction_digits=st.integers(min_value=0, max_value=999))
def test_any_valid_row_set_round_trips_exactly(rows, fraction_digits):
    # given well-formed rows, each (meter, register, day) once, with 0..3 decimals
    records = []
    expected = []
    for (asset_no, register), day, whole, decimals, source in rows:
        fraction = f"{fraction_digits:03d}"[:decimals]
        text = f"{whole}.{fraction}" if decimals else str(whole)
        records.append({"meter": asset_no, "register": register, "day": day.isoformat(), "value": text})
        if source:
            records[-1]["source"] = source
        expected.append(int(Decimal(text) * 1000))

    # when parsed
    parsed = parse_readings(frame_from_records(records), METERS, today=TODAY)

    # then nothing is rejected and every value is exactly its text × 1000
    assert parsed.rejected.is_empty()
    assert parsed.valid["value_milli"].to_list() == expected
    assert parsed.valid["line_no"].to_list() == list(range(1, len(records) + 1))
    assert set(parsed.valid["source"]) <= {"ami", "manual", "handheld"}


def test_a_line_longer_than_the_header_is_rejected_not_cut_short(tmp_path):
    # given a decimal comma and a thousands separator, unquoted: each line has a field too many
    parsed = parse_text(
        tmp_path,
        "meter,register,day,value\n"
        "3100000001,total,2026-01-05,12345,678\n"
        "3100000001,total,2026-01-06,1,240.5\n"
        "3100000001,total,2026-01-07,12346.5,\n"  # a trailing empty field loses nothing
        '3100000001,total,2026-01-08,"12,5",x\n',
    )

    # then the long lines are rejected with what was left over, never stored as 12345 or 1
    assert parsed.valid.select("day", "value_milli").rows() == [(dt.date(2026, 1, 7), 12_346_500)]
    assert parsed.rejected.select("line_no", "reason").rows() == [
        (2, "extra_fields"),
        (3, "extra_fields"),
        (5, "extra_fields"),
    ]
    assert parsed.rejected["detail"][0].startswith("more fields than the header: '678' left over")
    assert parsed.rejected["raw"][0] == "3100000001,total,2026-01-05,12345,678"


def test_a_clean_file_takes_the_fast_path_without_an_extra_column(tmp_path):
    table = read_table(write(tmp_path, "meter,register,day,value\n3100000001,total,2026-01-05,1\n"))
    assert table.columns == ["meter", "register", "day", "value", "line_no"]


FULL_WIDTH = "has full-width digits; type them as 0-9"


@pytest.mark.parametrize(
    ("line", "reason", "detail"),
    [
        ("3100000001,total,2026-01-05,１２３４", "non_numeric", f"value '１２３４' {FULL_WIDTH}"),
        ("3100000001,total,2026-01-05,12．5", "non_numeric", f"value '12．5' {FULL_WIDTH}"),
        ("3100000001,total,２０２６-01-05,1", "bad_date", f"date '２０２６-01-05' {FULL_WIDTH}"),
    ],
)
def test_full_width_digits_are_rejected_with_their_reason(tmp_path, line, reason, detail):
    # Polars' \d is any Unicode digit: a full-width value once passed the check and then
    # reached the database as NULL.
    parsed = parse_text(tmp_path, f"meter,register,day,value\n{line}\n")

    assert parsed.valid.is_empty()
    assert parsed.rejected.select("reason", "detail").rows() == [(reason, detail)]


def test_parquet_timestamp_day_is_read_as_its_date(tmp_path):
    # given a file written by pandas: dates as timestamps at midnight, naive or with a zone
    path = tmp_path / "readings.parquet"
    pl.DataFrame(
        {
            "meter": ["3100000001", "3100000002"],
            "register": ["total", "total"],
            "day": [dt.datetime(2026, 1, 5), dt.datetime(2026, 1, 6)],  # noqa: DTZ001 - naive, as pandas writes
            "value": [Decimal("12.5"), Decimal("7")],
        }
    ).write_parquet(path)
    zoned = tmp_path / "zoned.parquet"
    pl.DataFrame(
        {
            "meter": ["3100000001"],
            "register": ["total"],
            "day": [dt.datetime(2026, 1, 6, 16, 0, tzinfo=dt.UTC)],
            "value": ["1"],
        },
    ).write_parquet(zoned)

    parsed = parse_readings(read_table(path), METERS, today=TODAY)
    assert parsed.rejected.is_empty()
    assert parsed.valid.select("day", "value_milli").rows() == [
        (dt.date(2026, 1, 5), 12_500),
        (dt.date(2026, 1, 6), 7_000),
    ]
    # 16:00 UTC is midnight of the next day in Beijing
    assert read_table(zoned)["day"].to_list() == ["2026-01-07"]
