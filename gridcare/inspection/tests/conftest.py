"""Synthetic daily consumption in the layout of the London data (no /work/shared needed)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import polars as pl
import pytest
from django.utils import translation


def synthetic_daily(*, customers: int, days: int, seed: int = 1, short: int = 0) -> pl.DataFrame:
    """``customers`` households with ``days`` strictly positive daily readings each, and
    ``short`` more with only 40 days (too short to be made thieves)."""
    rng = np.random.default_rng(seed)
    rows: dict[str, list[object]] = {"customer_id": [], "date": [], "kwh": []}
    start = dt.date(2013, 1, 1)
    for number in range(customers + short):
        length = days if number < customers else 40
        rows["customer_id"] += [f"MAC{number:06d}"] * length
        rows["date"] += [start + dt.timedelta(days=d) for d in range(length)]
        rows["kwh"] += list(rng.uniform(2.0, 20.0, size=length))
    return pl.DataFrame(rows, schema={"customer_id": pl.String, "date": pl.Date, "kwh": pl.Float64})


@pytest.fixture
def daily() -> pl.DataFrame:
    return synthetic_daily(customers=50, days=120, short=3)


@pytest.fixture(autouse=True)
def _english(settings: object) -> Iterator[None]:
    """The inspection tests read English UI text; the catalogue's Chinese is checked by
    ``core/tests/test_i18n.py``."""
    settings.LANGUAGE_CODE = "en"  # type: ignore[attr-defined]
    with translation.override("en"):
        yield
