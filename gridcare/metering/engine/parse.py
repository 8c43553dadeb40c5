"""Reading files and API batches → checked register readings (抄表数据解析). Pure Polars, no Django.

A reading file has one row per meter, register and day::

    meter,register,day,value,source
    3100012345,total,2026-01-05,12345.678,ami

``read_table`` loads a CSV or Parquet file with every column as text; ``frame_from_records``
does the same for the API's batched JSON. ``parse_readings`` then checks every row against
the asset register and splits the rows into ``valid`` readings (register values in integer
thousandths, "milli": ``12345.678`` → ``12345678``, converted from the text, never through a
float) and ``rejected`` rows with a reason code and a short explanation for the clerk. Every
input row ends up in exactly one of the two.

Rows are checked in this order; the first failing check gives the reason:

=======================  ==============================================================
``extra_fields``         the line has more fields than the header (e.g. ``12345,678``)
``missing_value``        a required field (meter, register, day, value) is empty
``unknown_meter``        the meter's asset number is not in the asset register
``unknown_register``     not one of total, sharp, peak, flat, valley, reactive
``register_not_on_meter`` the meter does not carry that register
``bad_date``             not ``YYYY-MM-DD``, not a real date, or after ``today``
``non_numeric``          not digits with at most 3 decimals (no sign, no comma)
``bad_source``           source given but not ami, manual or handheld
``duplicate_in_file``    the same meter, register and day on an earlier line
=======================  ==============================================================

Field text is stripped of surrounding blanks; register and source are case-insensitive.
"""

from __future__ import annotations

import csv
import datetime as dt
import pathlib
from dataclasses import dataclass

import polars as pl

REQUIRED_COLUMNS = ("meter", "register", "day", "value")
SOURCE_COLUMN = "source"
BEIJING = "Asia/Shanghai"
#: Fields of a CSV line beyond the header's (``read_table``): the line is rejected.
EXTRA_COLUMN = "_extra"
REGISTERS = ("total", "sharp", "peak", "flat", "valley", "reactive")
TOU_REGISTERS = ("sharp", "peak", "flat", "valley")
IMPORT_SOURCES = ("ami", "manual", "handheld")
DEFAULT_SOURCE = "ami"
# Reading.value is Decimal(14, 3): at most 11 integer digits (and Int64 milli never overflows).
MAX_INTEGER_DIGITS = 11

REASONS = (
    "extra_fields",
    "missing_value",
    "unknown_meter",
    "unknown_register",
    "register_not_on_meter",
    "bad_date",
    "non_numeric",
    "bad_source",
    "duplicate_in_file",
)

VALID_SCHEMA: dict[str, pl.DataType] = {
    "meter_id": pl.Int64(),
    "register": pl.String(),
    "day": pl.Date(),
    "value_milli": pl.Int64(),
    "source": pl.String(),
    "line_no": pl.Int64(),
}
REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "line_no": pl.Int64(),
    "raw": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
}

# ASCII digits only: Polars' ``\d`` is any Unicode digit, and a full-width ``１２３４`` (typed
# with a Chinese IME) would pass the check and then fail the conversion.
_NUMBER = r"^[0-9]+(\.[0-9]{1,3})?$"
_STORABLE_NUMBER = rf"^0*[0-9]{{1,{MAX_INTEGER_DIGITS}}}(\.[0-9]{{1,3}})?$"
REGISTER_CODES = {name: code for code, name in enumerate(REGISTERS)}
_DAY_OFFSET = 1 << 20  # days before 1970 stay positive in the key
_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"


def reading_key(meter_id: str = "meter_id", register: str = "register", day: str = "day") -> pl.Expr:
    """(meter, register, day) as one Int64 that sorts like the triple (registers in
    ``REGISTERS`` order, an unknown register as code 7): grouping, joining and sorting on it
    is several times cheaper than on three columns, one of them text. Consecutive days of
    one meter's register differ by 1 and different registers by at least 2**22, so a
    rolling window over it in days never reaches another register or meter."""
    register_code = pl.col(register).replace_strict(REGISTER_CODES, default=7, return_dtype=pl.Int64)
    day_no = pl.col(day).cast(pl.Int32).cast(pl.Int64) + _DAY_OFFSET
    return (pl.col(meter_id) * 8 + register_code) * (1 << 22) + day_no


class HeaderError(ValueError):
    """The file's header lacks required columns (or repeats one); nothing of it can be read."""

    def __init__(self, missing: list[str], message: str | None = None) -> None:
        self.missing = list(missing)
        if message is None:
            message = (
                "missing column(s): "
                + ", ".join(self.missing)
                + (" (a reading file needs the columns " + ", ".join(REQUIRED_COLUMNS) + ")")
            )
        super().__init__(message)


@dataclass(frozen=True)
class ParsedReadings:
    """The outcome of ``parse_readings``: readings to store and rows to report back."""

    valid: pl.DataFrame
    rejected: pl.DataFrame


def _normalise_header(frame: pl.DataFrame) -> pl.DataFrame:
    names = [name.replace("\ufeff", "").strip().lower() for name in frame.columns]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise HeaderError([], "column(s) given more than once: " + ", ".join(duplicates))
    frame = frame.rename(dict(zip(frame.columns, names, strict=True)))
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise HeaderError(missing)
    return frame


def _finish_table(frame: pl.DataFrame) -> pl.DataFrame:
    """Header checked, ``line_no`` last, fully blank lines dropped (they carry no reading)."""
    frame = _normalise_header(frame)
    data_columns = [c for c in frame.columns if c != "line_no"]
    blank = pl.all_horizontal(
        [pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in data_columns]
    )
    return frame.select([*data_columns, pl.col("line_no").cast(pl.Int64)]).filter(~blank)


def read_table(path: str | pathlib.Path) -> pl.DataFrame:
    """Load a reading file (``.csv``, ``.parquet`` or ``.pq``) with every column as text.

    Header names are stripped and lower-cased; ``line_no`` is the CSV file line (header is
    line 1) or the Parquet row number from 1. Raises ``HeaderError`` when a required column
    is missing and ``ValueError`` for any other suffix.
    """
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = _read_csv(path)
    elif suffix in (".parquet", ".pq"):
        frame = pl.read_parquet(path)
        frame = frame.select(_parquet_text(frame)).with_row_index("line_no", offset=1)
    else:
        raise ValueError(f"unsupported reading file type {suffix or '(none)'!r}: use .csv or .parquet")
    return _finish_table(frame)


def _parquet_text(frame: pl.DataFrame) -> list[pl.Expr]:
    """Every column as text; a timestamp ``day`` column (pandas writes dates as timestamps at
    midnight) as its calendar date, in Beijing time when the timestamp carries a zone."""
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if name.strip().lower() == "day" and isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                column = column.dt.convert_time_zone(BEIJING)
            column = column.dt.date()
        columns.append(column.cast(pl.String))
    return columns


def _read_csv(path: pathlib.Path) -> pl.DataFrame:
    """A CSV file as text columns. A line with more fields than the header (``12345,678``
    written with a decimal comma, say) is read to the header's width and its extra fields
    are kept, joined, in the column ``_extra``, so that ``parse_readings`` rejects the line
    instead of storing what is left of it."""

    def read(*, ragged: bool) -> pl.DataFrame:
        return pl.read_csv(
            path,
            infer_schema=False,
            encoding="utf8-lossy",
            truncate_ragged_lines=ragged,
            row_index_name="line_no",
            row_index_offset=2,
            raise_if_empty=True,
        )

    try:
        return read(ragged=False)
    except pl.exceptions.NoDataError as exc:
        raise HeaderError(list(REQUIRED_COLUMNS), "the file is empty: no header line") from exc
    except pl.exceptions.ComputeError as exc:
        if "more fields" not in str(exc):
            raise
    # Some line is longer than the header: the slow path, only for such a file.
    frame = read(ragged=True)
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        records = csv.reader(handle)
        width = len(next(records, []))
        extra = [",".join(f for f in record[width:] if f.strip()) or None for record in records]
    if len(extra) != frame.height:  # the two readers disagree on the file's quoting
        raise ValueError("the file's quoting could not be read consistently: check its quote characters")
    return frame.with_columns(pl.Series(EXTRA_COLUMN, extra, dtype=pl.String))


def frame_from_records(records: list[dict[str, object]]) -> pl.DataFrame:
    """The API's batched JSON as a table shaped like ``read_table``'s (``line_no`` from 1)."""
    columns: dict[str, None] = {}
    for record in records:
        for key in record:
            columns.setdefault(str(key), None)
    if not records:
        columns = dict.fromkeys(REQUIRED_COLUMNS)
    data = {
        name: [None if (v := record.get(name)) is None else str(v) for record in records] for name in columns
    }
    frame = pl.DataFrame(data, schema=dict.fromkeys(columns, pl.String()))
    frame = frame.with_row_index("line_no", offset=1)
    return _finish_table(frame)


def _csv_field(expr: pl.Expr) -> pl.Expr:
    """A field as it would stand in a CSV line: quoted when it holds a comma, quote or newline."""
    text = expr.cast(pl.String).fill_null("")
    return (
        pl.when(text.str.contains(r'[,"\r\n]'))
        .then(pl.concat_str([pl.lit('"'), text.str.replace_all('"', '""', literal=True), pl.lit('"')]))
        .otherwise(text)
    )


def _quoted(expr: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit("'"), expr.fill_null(""), pl.lit("'")])


def parse_readings(
    raw: pl.DataFrame, meters: pl.DataFrame, *, today: dt.date | None = None
) -> ParsedReadings:
    """Check every row of ``raw`` (from ``read_table`` / ``frame_from_records``) against the
    asset register ``meters`` (asset_no, meter_id, registers) and split it into valid
    readings and rejected rows (see the module docstring for the reasons, in order)."""
    if today is None:
        today = dt.date.today()  # noqa: DTZ011 — a calendar date; the caller passes Beijing's today
    original = [c for c in raw.columns if c != "line_no"]
    has_source = SOURCE_COLUMN in raw.columns
    text = {c: pl.col(c).cast(pl.String).str.strip_chars() for c in (*REQUIRED_COLUMNS, SOURCE_COLUMN)}

    frame = raw.lazy().select(
        pl.col("line_no").cast(pl.Int64),
        text["meter"].alias("_meter"),
        text["register"].str.to_lowercase().alias("_register"),
        text["day"].alias("_day"),
        text["value"].alias("_value"),
        (text[SOURCE_COLUMN].str.to_lowercase() if has_source else pl.lit(None, pl.String)).alias("_source"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_row"),
        (pl.col(EXTRA_COLUMN) if EXTRA_COLUMN in raw.columns else pl.lit(None, pl.String)).alias("_extra"),
    )
    asset_register = meters.select(
        pl.col("asset_no").cast(pl.String).str.strip_chars().alias("_meter"),
        pl.col("meter_id").cast(pl.Int64),
        pl.col("registers").cast(pl.List(pl.String)).alias("_registers"),
    ).unique("_meter", keep="first")
    frame = frame.join(asset_register.lazy(), on="_meter", how="left", maintain_order="left")

    empty = {c: pl.col(f"_{c}").is_null() | (pl.col(f"_{c}") == "") for c in REQUIRED_COLUMNS}
    missing_value = pl.any_horizontal(list(empty.values()))
    unknown_meter = pl.col("meter_id").is_null()
    unknown_register = ~pl.col("_register").is_in(list(REGISTERS))
    not_on_meter = ~pl.col("_registers").list.contains(pl.col("_register")).fill_null(False)
    iso_shape = pl.col("_day").str.contains(_ISO_DATE)
    parsed_day = pl.when(iso_shape).then(pl.col("_day").str.to_date("%Y-%m-%d", strict=False))
    number_shape = pl.col("_value").str.contains(_NUMBER)
    storable = pl.col("_value").str.contains(_STORABLE_NUMBER)
    source_ok = pl.col("_source").is_null() | pl.col("_source").is_in([*IMPORT_SOURCES, ""])

    frame = frame.with_columns(parsed_day.alias("day"))
    bad_date = pl.col("day").is_null() | (pl.col("day") > pl.lit(today, pl.Date))
    non_numeric = ~storable

    reason = (
        pl.when(pl.col("_extra").is_not_null())
        .then(pl.lit("extra_fields"))
        .when(missing_value)
        .then(pl.lit("missing_value"))
        .when(unknown_meter)
        .then(pl.lit("unknown_meter"))
        .when(unknown_register)
        .then(pl.lit("unknown_register"))
        .when(not_on_meter)
        .then(pl.lit("register_not_on_meter"))
        .when(bad_date)
        .then(pl.lit("bad_date"))
        .when(non_numeric)
        .then(pl.lit("non_numeric"))
        .when(~source_ok)
        .then(pl.lit("bad_source"))
    )
    frame = frame.with_columns(reason.alias("reason"))

    # Milli-units straight from the text: a decimal with scale 3 is the integer value × 1000
    # (no float on the way); only rows that passed the number check get here.
    value_milli = (pl.col("_value").str.to_decimal(scale=3) * 1000).cast(pl.Int64)
    ok = pl.col("reason").is_null()
    # (meter, register, day) as one integer: grouping on it is much cheaper than on text.
    key = reading_key("meter_id", "_register", "day")
    frame = frame.with_columns(
        pl.when(ok).then(value_milli).alias("value_milli"),
        pl.when(ok).then(key).alias("_key"),
    )
    frame = frame.with_columns(
        pl.when(ok).then(pl.when(ok).then(pl.col("line_no")).min().over("_key")).alias("_first_line")
    )
    duplicate = ok & (pl.col("line_no") != pl.col("_first_line"))
    checked = frame.with_columns(
        pl.when(duplicate).then(pl.lit("duplicate_in_file")).otherwise(pl.col("reason")).alias("reason")
    ).collect()

    valid = (
        checked.filter(pl.col("reason").is_null())
        .select(
            "meter_id",
            pl.col("_register").alias("register"),
            "day",
            "value_milli",
            pl.when(pl.col("_source").is_null() | (pl.col("_source") == ""))
            .then(pl.lit(DEFAULT_SOURCE))
            .otherwise(pl.col("_source"))
            .alias("source"),
            "line_no",
        )
        .cast(VALID_SCHEMA)  # type: ignore[arg-type]
    )

    bad = checked.filter(pl.col("reason").is_not_null())
    rows = bad["_row"]
    bad = bad.with_columns(
        raw.select(
            pl.concat_str([_csv_field(pl.col(c).gather(rows)) for c in original], separator=",").alias("raw")
        ).to_series()
    )
    empty_fields = pl.concat_str(
        [pl.when(empty[c]).then(pl.lit(c)) for c in REQUIRED_COLUMNS], separator=", ", ignore_nulls=True
    )
    value = _quoted(pl.col("_value"))
    detail = (
        pl.when(pl.col("reason") == "extra_fields")
        .then(
            pl.concat_str(
                [
                    pl.lit("more fields than the header: "),
                    _quoted(pl.col("_extra")),
                    pl.lit(" left over (a comma as decimal mark? write the decimal point as '.')"),
                ]
            )
        )
        .when(pl.col("reason") == "missing_value")
        .then(pl.concat_str([pl.lit("empty field: "), empty_fields]))
        .when(pl.col("reason") == "unknown_meter")
        .then(pl.concat_str([pl.lit("meter "), pl.col("_meter"), pl.lit(" not in the asset register")]))
        .when(pl.col("reason") == "unknown_register")
        .then(
            pl.concat_str(
                [pl.lit("register "), _quoted(pl.col("_register")), pl.lit(" is not one of ")]
                + [pl.lit(", ".join(REGISTERS))]
            )
        )
        .when(pl.col("reason") == "register_not_on_meter")
        .then(
            pl.concat_str(
                [
                    pl.lit("meter "),
                    pl.col("_meter"),
                    pl.lit(" has no "),
                    pl.col("_register"),
                    pl.lit(" register (it has: "),
                    pl.col("_registers").list.join(", ").fill_null(""),
                    pl.lit(")"),
                ]
            )
        )
        .when((pl.col("reason") == "bad_date") & pl.col("_day").str.contains(r"[０-９－]"))
        .then(
            pl.concat_str(
                [pl.lit("date "), _quoted(pl.col("_day")), pl.lit(" has full-width digits; type them as 0-9")]
            )
        )
        .when((pl.col("reason") == "bad_date") & ~iso_shape)
        .then(pl.concat_str([pl.lit("date "), _quoted(pl.col("_day")), pl.lit(" is not in YYYY-MM-DD form")]))
        .when((pl.col("reason") == "bad_date") & pl.col("day").is_null())
        .then(pl.concat_str([pl.lit("date "), _quoted(pl.col("_day")), pl.lit(" does not exist")]))
        .when(pl.col("reason") == "bad_date")
        .then(pl.lit("in the future"))
        .when((pl.col("reason") == "non_numeric") & pl.col("_value").str.contains(r"^-[0-9]+(\.[0-9]+)?$"))
        .then(pl.concat_str([pl.lit("value "), value, pl.lit(" is negative")]))
        .when((pl.col("reason") == "non_numeric") & pl.col("_value").str.contains(r"^[0-9]+\.[0-9]{4,}$"))
        .then(pl.concat_str([pl.lit("value "), value, pl.lit(" has more than 3 decimals")]))
        .when((pl.col("reason") == "non_numeric") & pl.col("_value").str.contains(r"^[0-9]+,[0-9]+$"))
        .then(
            pl.concat_str([pl.lit("value "), value, pl.lit(" has a comma; write the decimal point as '.'")])
        )
        .when((pl.col("reason") == "non_numeric") & pl.col("_value").str.contains(r"[０-９．]"))
        .then(pl.concat_str([pl.lit("value "), value, pl.lit(" has full-width digits; type them as 0-9")]))
        .when((pl.col("reason") == "non_numeric") & number_shape)
        .then(
            pl.concat_str(
                [pl.lit("value "), value, pl.lit(f" is too large (over {MAX_INTEGER_DIGITS} integer digits)")]
            )
        )
        .when(pl.col("reason") == "non_numeric")
        .then(pl.concat_str([pl.lit("value "), value, pl.lit(" is not a number")]))
        .when(pl.col("reason") == "bad_source")
        .then(
            pl.concat_str(
                [
                    pl.lit("source "),
                    _quoted(pl.col("_source")),
                    pl.lit(" is not one of " + ", ".join(IMPORT_SOURCES)),
                ]
            )
        )
        .when(pl.col("reason") == "duplicate_in_file")
        .then(
            pl.concat_str(
                [
                    pl.lit("same meter, register and day as line "),
                    pl.col("_first_line").cast(pl.String),
                ]
            )
        )
    )
    rejected = (
        bad.sort("_row").select("line_no", "raw", "reason", detail.alias("detail")).cast(REJECTED_SCHEMA)  # type: ignore[arg-type]
    )
    return ParsedReadings(valid=valid, rejected=rejected)
