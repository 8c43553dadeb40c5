"""How an import is cut into chunks: whole meters, about CHUNK_ROWS rows each, half-size
chunks at both ends of a large file (the second writer starts sooner, the last chunk is
short)."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcare.metering.services import readings as readings_service
from gridcare.metering.services.readings import _chunk_starts, plan_chunks

C = readings_service.CHUNK_ROWS


@given(total=st.integers(1, 40 * C))
def test_chunk_starts_cover_the_rows_in_order(total: int) -> None:
    starts = _chunk_starts(total)
    assert starts[0] == 0
    assert starts == sorted(set(starts))
    assert starts[-1] < total
    sizes = [b - a for a, b in zip(starts, [*starts[1:], total], strict=True)]
    assert max(sizes) <= C


def test_a_large_file_starts_and_ends_with_half_chunks() -> None:
    starts = _chunk_starts(8 * C)
    sizes = [b - a for a, b in zip(starts, [*starts[1:], 8 * C], strict=True)]
    assert sizes == [C // 2, C // 2, C, C, C, C, C, C, C // 2, C // 2]


def test_a_small_file_keeps_whole_chunks() -> None:
    assert _chunk_starts(3 * C + 1) == [0, C, 2 * C, 3 * C]


@pytest.mark.parametrize("rows_per_meter", [1, 7, 400])
def test_chunks_hold_whole_meters_in_id_order(rows_per_meter: int, monkeypatch) -> None:
    monkeypatch.setattr(readings_service, "CHUNK_ROWS", 100)
    valid = pl.DataFrame({"meter_id": [m for m in range(1, 51) for _ in range(rows_per_meter)]})
    chunks = list(plan_chunks(valid))
    assert [m for chunk in chunks for m in chunk] == list(range(1, 51))
    assert all(chunks)
