"""A synthetic honest population (seasonal + weekly + noise) and its theft benchmark,
for the feature and evaluation tests (no /work/shared needed)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from gridcare.inspection.engine.attacks import benchmark_data


def seasonal_daily(*, customers: int, days: int, seed: int = 3) -> pl.DataFrame:
    """Daily kWh with a yearly cycle, a weekly cycle, a per-household level and noise;
    households start on different days and miss a few readings."""
    rng = np.random.default_rng(seed)
    start = dt.date(2012, 1, 1)
    t = np.arange(days)
    season = 1.0 + 0.3 * np.cos(2 * np.pi * t / 365.0)
    frames = []
    for number in range(customers):
        level = rng.lognormal(np.log(8.0), 0.5)
        weekly = 1.0 + rng.uniform(0.05, 0.25) * ((t % 7) >= 5)
        ar = np.zeros(days)
        shocks = rng.normal(0.0, 0.08, size=days)
        for day in range(1, days):
            ar[day] = 0.7 * ar[day - 1] + shocks[day]
        kwh = np.maximum(level * season * weekly * np.exp(ar + rng.normal(0, 0.1, size=days)), 0.05)
        first = int(rng.integers(0, days // 6))
        keep = np.arange(days) >= first
        keep &= rng.random(days) > 0.01
        frames.append(
            pl.DataFrame(
                {
                    "customer_id": f"MAC{number:06d}",
                    "date": [start + dt.timedelta(days=int(d)) for d in t[keep]],
                    "kwh": kwh[keep],
                }
            )
        )
    return pl.concat(frames)


def synthetic_benchmark(
    *, customers: int = 400, days: int = 400, theft_share: float = 0.2, seed: int = 0
) -> pl.DataFrame:
    return benchmark_data(
        seasonal_daily(customers=customers, days=days, seed=seed + 3), theft_share=theft_share, seed=seed
    )
