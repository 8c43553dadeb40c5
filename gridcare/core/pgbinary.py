"""PostgreSQL's binary ``COPY`` format for a Polars frame, built with NumPy (no Django).

Bulk writes send rows to PostgreSQL with ``COPY``. In the text (CSV) format the server
parses every integer, date and decimal from text, which for a million readings cost about
a CPU-second of the server's time; in the binary format it takes the values as they are.

What can be encoded, by PostgreSQL column type (type OIDs as ``cursor.description`` gives
them) and Polars column type:

=================================  =================================================
``bigint``, ``integer``, ``smallint``  any integer column
``date``                           ``pl.Date``
``numeric``                        ``pl.Decimal`` with a scale of at most 4
``boolean``                        ``pl.Boolean``
``text``, ``varchar``              text with **few distinct values** (see below)
=================================  =================================================

Nulls are allowed everywhere. Rows are grouped by their text values and null pattern;
within a group every row has the same layout, so a group is one NumPy structured array
(a template row repeated, then the varying fields assigned column by column). Text with
many distinct values (free text, JSON) would make one group per row: beyond
``MAX_GROUPS`` groups, or for any other column type, :func:`encode` returns ``None`` and
the caller uses the text format instead.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import polars as pl

MAX_GROUPS = 64
"""Most row layouts one frame may have before binary encoding is not worth it."""

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)

OID_BOOL = 16
OID_INT8 = 20
OID_INT2 = 21
OID_INT4 = 23
OID_TEXT = 25
OID_VARCHAR = 1043
OID_DATE = 1082
OID_NUMERIC = 1700

_INTEGERS = {OID_INT8: ">i8", OID_INT4: ">i4", OID_INT2: ">i2"}
_TEXT = (OID_TEXT, OID_VARCHAR)
_PG_EPOCH_DAYS = 10_957  # 2000-01-01, PostgreSQL's day 0, counted from 1970-01-01
_NUMERIC_INT_GROUPS = 5  # base-10000 digits before the point: values below 10**20
_NUMERIC_MAX_SCALE = 4  # one base-10000 digit after the point
_NUMERIC_LIMIT = 10**17  # largest |unscaled value| the int64 arithmetic below allows
_NUMERIC_NEG = 0x4000


class _Column:
    """How one column is written: its layout in a row and its varying part, if any."""

    def __init__(self, name: str, oid: int, series: pl.Series) -> None:
        self.name = name
        self.oid = oid
        self.text = oid in _TEXT
        dtype = series.dtype
        if self.text:
            if dtype not in (pl.String, pl.Categorical) and not isinstance(dtype, pl.Enum):
                raise _Unsupported
        elif oid in _INTEGERS:
            if not dtype.is_integer():
                raise _Unsupported
            self.payload = np.dtype(_INTEGERS[oid])
        elif oid == OID_DATE:
            if dtype != pl.Date:
                raise _Unsupported
            self.payload = np.dtype(">i4")
        elif oid == OID_BOOL:
            if dtype != pl.Boolean:
                raise _Unsupported
            self.payload = np.dtype("u1")
        elif oid == OID_NUMERIC:
            if not isinstance(dtype, pl.Decimal) or (dtype.scale or 0) > _NUMERIC_MAX_SCALE:
                raise _Unsupported
            self.scale = int(dtype.scale or 0)
            self.groups = _NUMERIC_INT_GROUPS + (1 if self.scale else 0)
            self.payload = np.dtype([("head", ">i2", (4,)), ("digits", ">i2", (self.groups,))])
        else:
            raise _Unsupported

    def values(self, series: pl.Series) -> np.ndarray:
        """The payload of every (non-null) row of ``series``, in this column's layout."""
        if self.oid in _INTEGERS:
            values = series.cast(pl.Int64).to_numpy()
            info = np.iinfo(self.payload)
            if values.size and (values.min() < info.min or values.max() > info.max):
                raise _Unsupported  # out of the column's range: the text format reports it
            return values
        if self.oid == OID_DATE:
            return series.cast(pl.Int32).to_numpy() - _PG_EPOCH_DAYS
        if self.oid == OID_BOOL:
            return series.cast(pl.UInt8).to_numpy()
        return self._numeric(series)

    def _numeric(self, series: pl.Series) -> np.ndarray:
        units = (series * 10**self.scale).cast(pl.Int64).to_numpy()
        magnitude = np.abs(units)
        if magnitude.size and int(magnitude.max()) >= _NUMERIC_LIMIT:
            raise _Unsupported
        out = np.zeros(units.size, dtype=self.payload)
        head = out["head"]
        head[:, 0] = self.groups  # ndigits
        head[:, 1] = _NUMERIC_INT_GROUPS - 1  # weight of the first digit
        head[:, 2] = np.where(units < 0, _NUMERIC_NEG, 0)  # sign
        head[:, 3] = self.scale  # dscale
        whole, fraction = np.divmod(magnitude, 10**self.scale)
        digits = out["digits"]
        if self.scale:
            digits[:, _NUMERIC_INT_GROUPS] = fraction * 10 ** (_NUMERIC_MAX_SCALE - self.scale)
        for position in range(_NUMERIC_INT_GROUPS - 1, -1, -1):
            whole, digits[:, position] = np.divmod(whole, 10_000)
        # Leading zero digits are allowed: the server normalises the value on receipt.
        return out


class _Unsupported(Exception):
    pass


def encode(frame: pl.DataFrame, oids: Sequence[int]) -> list[bytes] | None:
    """The rows of ``frame`` as a binary ``COPY`` stream (header, rows, trailer), for
    columns of the PostgreSQL types ``oids`` (in frame column order); ``None`` when a column
    cannot be encoded here or the frame has more than ``MAX_GROUPS`` row layouts."""
    if len(oids) != frame.width:
        raise ValueError(f"{frame.width} columns but {len(oids)} column types")
    try:
        columns = [
            _Column(name, int(oid), frame.get_column(name))
            for name, oid in zip(frame.columns, oids, strict=True)
        ]
    except _Unsupported:
        return None
    keys = [
        pl.col(c.name).cast(pl.String) if c.text else pl.col(c.name).is_null()
        for c in columns
        if c.text or frame.get_column(c.name).null_count()
    ]
    groups = _split(frame, keys) if keys else [frame]
    if groups is None:
        return None
    chunks = [HEADER]
    try:
        chunks.extend(_encode_group(group, columns) for group in groups)
    except (_Unsupported, pl.exceptions.PolarsError, OverflowError):  # e.g. a value beyond int64
        return None
    chunks.append(TRAILER)
    return chunks


def _split(frame: pl.DataFrame, keys: list[pl.Expr]) -> list[pl.DataFrame] | None:
    """``frame`` split into groups of rows with the same text values and null pattern
    (``None`` beyond ``MAX_GROUPS`` groups)."""
    names = [f"__shape{i}" for i in range(len(keys))]
    keyed = frame.with_columns(k.alias(n) for k, n in zip(keys, names, strict=True))
    if keyed.select(names).n_unique() > MAX_GROUPS:
        return None
    return [part.drop(names) for part in keyed.partition_by(names, maintain_order=True)]


def _encode_group(part: pl.DataFrame, columns: list[_Column]) -> bytes:
    """One group's rows: every row has the same text values and nulls in the same places."""
    fields: list[tuple[str, str | np.dtype]] = [("count", ">i2")]
    template: dict[str, int | bytes] = {"count": len(columns)}
    varying: list[int] = []
    for i, column in enumerate(columns):
        series = part.get_column(column.name)
        fields.append((f"l{i}", ">i4"))
        if series.null_count():  # the whole group is null here (nulls are part of the shape)
            template[f"l{i}"] = -1
        elif column.text:
            data = str(series[0]).encode()
            template[f"l{i}"] = len(data)
            if data:
                fields.append((f"v{i}", f"S{len(data)}"))
                template[f"v{i}"] = data
        else:
            fields.append((f"v{i}", column.payload))
            template[f"l{i}"] = column.payload.itemsize
            varying.append(i)
    row = np.zeros(1, dtype=np.dtype(fields))
    for name, constant in template.items():
        row[name] = constant
    rows = np.repeat(row, part.height)
    for i in varying:
        rows[f"v{i}"] = columns[i].values(part.get_column(columns[i].name))
    return rows.tobytes()
