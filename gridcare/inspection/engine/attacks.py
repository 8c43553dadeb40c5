"""Theft benchmark data (窃电基准数据): inject published attacks into honest consumption.

Real consumption data carries no theft labels, so the accepted way to benchmark a theft
detector is to take honest customers, pick a share of them as thieves and rewrite what
their meter reports with the attack functions of Jokar, Arianpoo and Leung, "Electricity
Theft Detection in AMI Using Customers' Consumption Patterns", IEEE Trans. Smart Grid
7(1), 2016, plus the sudden lasting drop seen in State Grid's SGCC data. Applied here to
daily kWh ``x_t`` from a random attack start day ``s`` (days before ``s`` stay honest):

- ``h1``: ``x'_t = α · x_t`` with one constant ``α ~ U[0.1, 0.8]`` per thief;
- ``h2``: ``x'_t = 0`` inside a window ``[s, e)`` of at least ``H2_MIN_DAYS`` days
  (``e`` uniform up to the day after the last reading), ``x_t`` outside it;
- ``h3``: ``x'_t = γ_t · x_t`` with a fresh ``γ_t ~ U[0.1, 0.8]`` each day;
- ``h4``: ``x'_t = γ_t · mean(x_{t≥s})``, the mean of the real consumption over the
  attacked days, with a fresh ``γ_t ~ U[0.1, 0.8]`` each day;
- ``drop``: ``x'_t = δ · x_t`` with one constant ``δ ~ U[0.01, 0.1]``: consumption falls
  at once to a few percent and stays there to the end (a bypass of most circuits).

Pure NumPy/Polars, no Django: the command ``gridcare theft benchmark-data`` and the tests
call it directly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import polars as pl

ATTACK_KINDS: Final = ("h1", "h2", "h3", "h4", "drop")
"""The five attack kinds, in the order that takes the remainder when thieves do not
divide evenly among them."""

SCALE_LOW: Final = 0.1
SCALE_HIGH: Final = 0.8
"""Bounds of α (h1) and γ_t (h3, h4), as in Jokar et al."""

DROP_LOW: Final = 0.01
DROP_HIGH: Final = 0.1
"""Bounds of δ, the level a sudden drop falls to (share of the real consumption)."""

H2_MIN_DAYS: Final = 7
"""Shortest zero window of h2 (shorter if the attacked part itself is shorter)."""

MIN_HONEST_DAYS: Final = 30
MIN_ATTACK_DAYS: Final = 30
"""A thief keeps at least this many honest readings before the attack starts and has at
least this many attacked readings; only customers with both are eligible as thieves."""

COLUMNS: Final = ("customer_id", "date", "kwh", "label", "attack", "attack_start")

Attack = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def attack_h1(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """h1: every reading scaled by one constant α ∈ [0.1, 0.8]."""
    alpha = rng.uniform(SCALE_LOW, SCALE_HIGH)
    return x * alpha


def attack_h2(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """h2: zero consumption for a window that opens on the first attacked day and lasts
    between ``H2_MIN_DAYS`` days (or the whole part, if shorter) and the whole part;
    missing readings inside it stay missing."""
    n = len(x)
    shortest = min(H2_MIN_DAYS, n)
    length = int(rng.integers(shortest, n + 1)) if n else 0
    out = x.copy()
    window = out[:length]
    window[np.isfinite(window)] = 0.0  # a missing reading stays missing
    return out


def attack_h3(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """h3: each reading scaled by its own random γ_t ∈ [0.1, 0.8]."""
    return x * rng.uniform(SCALE_LOW, SCALE_HIGH, size=len(x))


def attack_h4(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """h4: each reading replaced by γ_t ∈ [0.1, 0.8] times the mean of the real
    consumption over the attacked part (missing readings ignored)."""
    gamma = rng.uniform(SCALE_LOW, SCALE_HIGH, size=len(x))
    finite = x[np.isfinite(x)]
    mean = float(finite.mean()) if len(finite) else 0.0
    out = gamma * mean
    out[~np.isfinite(x)] = np.nan  # a missing reading stays missing
    return out


def attack_drop(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sudden lasting drop (SGCC): from the first attacked day to the last, every reading
    is one constant δ ∈ [0.01, 0.1] of the real one."""
    delta = rng.uniform(DROP_LOW, DROP_HIGH)
    return x * delta


ATTACKS: Final[dict[str, Attack]] = {
    "h1": attack_h1,
    "h2": attack_h2,
    "h3": attack_h3,
    "h4": attack_h4,
    "drop": attack_drop,
}


def thief_count(*, customers: int, theft_share: float) -> int:
    """Number of thieves: ``round(theft_share × customers)`` (Python's ``round``)."""
    return round(theft_share * customers)


def benchmark_data(daily: pl.DataFrame, *, theft_share: float, seed: int) -> pl.DataFrame:
    """Label a share of honest customers as thieves and rewrite their readings.

    ``daily`` is a long frame (customer_id, date, kwh), one row per customer and day
    (other columns are ignored). Exactly ``round(theft_share × customers)`` customers
    become thieves, drawn among those with at least ``MIN_HONEST_DAYS +
    MIN_ATTACK_DAYS`` readings; attack kinds go round-robin over ``ATTACK_KINDS`` (counts
    differ by at most one). Each thief's attack starts on one of its own reading days,
    uniformly among those that leave ``MIN_HONEST_DAYS`` honest readings before and
    ``MIN_ATTACK_DAYS`` attacked ones from it.

    Returns (customer_id, date, kwh, label, attack, attack_start) sorted by customer and
    date: ``label`` 1 for every row of a thief (also its honest days), 0 otherwise;
    ``attack`` and ``attack_start`` are null for honest customers. Honest customers' kwh
    is unchanged. The same input, share and seed give the same frame.
    """
    if not 0.0 <= theft_share <= 1.0:
        raise ValueError(f"theft_share must be within [0, 1], got {theft_share}")
    frame = (
        daily.select(
            pl.col("customer_id").cast(pl.String),
            pl.col("date").cast(pl.Date),
            pl.col("kwh").cast(pl.Float64),
        )
        .sort("customer_id", "date")
        .with_columns(pl.col("kwh").fill_null(np.nan))
    )
    counts = frame.group_by("customer_id", maintain_order=True).len()
    customers = counts["customer_id"].to_numpy()
    lengths = counts["len"].to_numpy().astype(np.int64)
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1]))

    wanted = thief_count(customers=len(customers), theft_share=theft_share)
    eligible = np.flatnonzero(lengths >= MIN_HONEST_DAYS + MIN_ATTACK_DAYS)
    if wanted > len(eligible):
        raise ValueError(
            f"{wanted} thieves wanted but only {len(eligible)} customers have "
            f"{MIN_HONEST_DAYS + MIN_ATTACK_DAYS} or more days"
        )
    rng = np.random.default_rng(seed)
    thieves = np.sort(rng.choice(eligible, size=wanted, replace=False))
    kinds = [ATTACK_KINDS[i % len(ATTACK_KINDS)] for i in range(wanted)]
    kinds = [kinds[i] for i in rng.permutation(wanted)]

    kwh = frame["kwh"].to_numpy().copy()
    dates = frame["date"]
    label = np.zeros(len(frame), dtype=np.int8)
    attack = np.full(len(frame), None, dtype=object)
    attack_start = np.full(len(frame), None, dtype=object)
    for index, kind in zip(thieves, kinds, strict=True):
        first, n = int(offsets[index]), int(lengths[index])
        start = first + int(rng.integers(MIN_HONEST_DAYS, n - MIN_ATTACK_DAYS + 1))
        end = first + n
        kwh[start:end] = ATTACKS[kind](kwh[start:end], rng)
        label[first:end] = 1
        attack[first:end] = kind
        attack_start[first:end] = dates[start]

    return pl.DataFrame(
        {
            "customer_id": frame["customer_id"],
            "date": dates,
            "kwh": pl.Series("kwh", kwh, dtype=pl.Float64).fill_nan(None),
            "label": pl.Series("label", label, dtype=pl.Int8),
            "attack": pl.Series("attack", attack.tolist(), dtype=pl.String),
            "attack_start": pl.Series("attack_start", attack_start.tolist(), dtype=pl.Date),
        }
    )
