"""Property tests of the theft benchmark engine: the thief count at any share and size, and
each attack's bounds on any positive series."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gridcare.inspection.engine.attacks import (
    ATTACK_KINDS,
    H2_MIN_DAYS,
    attack_drop,
    attack_h1,
    attack_h2,
    attack_h3,
    attack_h4,
    benchmark_data,
    thief_count,
)
from gridcare.inspection.tests.conftest import synthetic_daily

positive = arrays(
    np.float64,
    st.integers(min_value=1, max_value=400),
    elements=st.floats(min_value=0.001, max_value=200.0, allow_nan=False),
)
seeds = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=40, deadline=None)
@given(customers=st.integers(min_value=1, max_value=40), share=st.floats(min_value=0.0, max_value=1.0))
def test_thief_count_is_exact_at_any_share(customers: int, share: float) -> None:
    daily = synthetic_daily(customers=customers, days=60)
    out = benchmark_data(daily, theft_share=share, seed=0)
    thieves = out.filter(pl.col("label") == 1).group_by("customer_id").agg(pl.col("attack").first())
    assert thieves.height == thief_count(customers=customers, theft_share=share) == round(share * customers)
    counts = [thieves.filter(pl.col("attack") == kind).height for kind in ATTACK_KINDS]
    assert max(counts) - min(counts) <= 1
    assert counts == sorted(counts, reverse=True)  # the remainder goes to the first kinds


@given(x=positive, seed=seeds)
def test_h1_one_constant_within_bounds(x: np.ndarray, seed: int) -> None:
    ratio = attack_h1(x, np.random.default_rng(seed)) / x
    assert 0.1 <= ratio[0] <= 0.8
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)


@given(x=positive, seed=seeds)
def test_h2_one_window_from_the_start(x: np.ndarray, seed: int) -> None:
    out = attack_h2(x, np.random.default_rng(seed))
    length = int((out == 0.0).sum())
    assert length >= min(H2_MIN_DAYS, len(x))
    assert np.all(out[:length] == 0.0)
    np.testing.assert_array_equal(out[length:], x[length:])


@given(x=positive, seed=seeds)
def test_h3_each_factor_within_bounds(x: np.ndarray, seed: int) -> None:
    ratio = attack_h3(x, np.random.default_rng(seed)) / x
    assert np.all((ratio >= 0.1 - 1e-12) & (ratio <= 0.8 + 1e-12))


@given(x=positive, seed=seeds)
def test_h4_each_factor_of_the_mean_within_bounds(x: np.ndarray, seed: int) -> None:
    gamma = attack_h4(x, np.random.default_rng(seed)) / x.mean()
    assert np.all((gamma >= 0.1 - 1e-12) & (gamma <= 0.8 + 1e-12))


@given(x=positive, seed=seeds)
def test_drop_one_low_constant(x: np.ndarray, seed: int) -> None:
    ratio = attack_drop(x, np.random.default_rng(seed)) / x
    assert 0.01 <= ratio[0] <= 0.1
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
