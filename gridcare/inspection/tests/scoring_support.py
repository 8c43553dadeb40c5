"""Helpers of the theft scoring tests: a small LightGBM (few trees, one thread) swapped in
for ``engine.evaluate._lgbm`` so training takes a fraction of a second, a trained small
model, and daily series with a known drop or zero run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import polars as pl
import pytest
from lightgbm import LGBMClassifier

from gridcare.inspection.engine import evaluate
from gridcare.inspection.engine.model import TheftModel, train_theft_model
from gridcare.inspection.tests.synthetic import synthetic_benchmark

START = dt.date(2025, 1, 1)


def small_lgbm(seed: int) -> LGBMClassifier:
    return LGBMClassifier(
        n_estimators=40,
        learning_rate=0.1,
        num_leaves=7,
        min_child_samples=5,
        random_state=seed,
        n_jobs=1,
        verbose=-1,
    )


@contextmanager
def few_trees() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(evaluate, "_lgbm", small_lgbm)
        yield


def small_benchmark() -> pl.DataFrame:
    return synthetic_benchmark(customers=200, days=200, theft_share=0.2, seed=0)


def small_model(*, holdout: float = 0.0) -> TheftModel:
    with few_trees():
        return train_theft_model(small_benchmark(), seed=0, holdout=holdout, data="synthetic test benchmark")


def honest_series(days: int, *, seed: int, level: float = 8.0) -> np.ndarray:
    """A noisy honest daily series around ``level`` kWh with a weekly cycle."""
    rng = np.random.default_rng(seed)
    weekly = 1.0 + 0.15 * ((np.arange(days) % 7) >= 5)
    return level * weekly * rng.lognormal(0.0, 0.15, size=days)


def population(customers: int, days: int, *, seed: int = 1, start: dt.date = START) -> dict[str, np.ndarray]:
    """``customers`` honest series (ids C000 …)."""
    return {f"C{i:03d}": honest_series(days, seed=seed * 1000 + i) for i in range(customers)}


def long_frame(series: dict[str, np.ndarray], start: dt.date = START) -> pl.DataFrame:
    """The long (customer_id, date, kwh) frame of ``series`` (NaN days left out)."""
    frames = []
    for customer, values in series.items():
        days = [start + dt.timedelta(days=i) for i in range(len(values))]
        frames.append(pl.DataFrame({"customer_id": customer, "date": days, "kwh": values}))
    return pl.concat(frames).filter(pl.col("kwh").is_not_nan())
