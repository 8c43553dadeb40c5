"""Engine tests of the theft benchmark: each attack's defining property, labels, share,
determinism (gridcare.inspection.engine.attacks)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from gridcare.inspection.engine.attacks import (
    ATTACK_KINDS,
    H2_MIN_DAYS,
    MIN_ATTACK_DAYS,
    MIN_HONEST_DAYS,
    attack_h2,
    benchmark_data,
)
from gridcare.inspection.tests.conftest import synthetic_daily


def _thieves(daily: pl.DataFrame, out: pl.DataFrame, kind: str) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """For each thief of ``kind``: (real kwh, reported kwh, index of the attack start)."""
    joined = out.join(daily.rename({"kwh": "real"}), on=["customer_id", "date"], how="left")
    found = []
    for _, part in joined.filter(pl.col("attack") == kind).group_by("customer_id"):
        part = part.sort("date")
        start = int((part["date"] < part["attack_start"]).sum())
        found.append((part["real"].to_numpy(), part["kwh"].to_numpy(), start))
    return found


@pytest.fixture
def out(daily: pl.DataFrame) -> pl.DataFrame:
    # 53 customers × 0.4 = 21.2 → 21 thieves, 4 or 5 of each kind.
    return benchmark_data(daily, theft_share=0.4, seed=7)


def test_h1_scales_by_one_constant_after_the_start(daily: pl.DataFrame, out: pl.DataFrame) -> None:
    thieves = _thieves(daily, out, "h1")
    assert len(thieves) >= 4
    for real, reported, start in thieves:
        ratio = reported / real
        assert np.all(ratio[:start] == 1.0)
        alpha = ratio[start]
        assert 0.1 <= alpha <= 0.8
        np.testing.assert_allclose(ratio[start:], alpha, rtol=1e-12)


def test_h2_zeros_inside_the_window_only(daily: pl.DataFrame, out: pl.DataFrame) -> None:
    for real, reported, start in _thieves(daily, out, "h2"):
        zeros = np.flatnonzero(reported == 0.0)
        assert zeros[0] == start
        assert len(zeros) >= H2_MIN_DAYS
        np.testing.assert_array_equal(zeros, np.arange(start, start + len(zeros)))  # one window
        outside = np.ones(len(real), dtype=bool)
        outside[zeros] = False
        np.testing.assert_array_equal(reported[outside], real[outside])


def test_h3_scales_each_day_by_its_own_factor(daily: pl.DataFrame, out: pl.DataFrame) -> None:
    for real, reported, start in _thieves(daily, out, "h3"):
        ratio = reported / real
        assert np.all(ratio[:start] == 1.0)
        assert np.all((ratio[start:] >= 0.1) & (ratio[start:] <= 0.8))
        assert len(np.unique(ratio[start:])) == len(ratio) - start  # a fresh γ_t each day


def test_h4_reports_a_share_of_the_mean(daily: pl.DataFrame, out: pl.DataFrame) -> None:
    for real, reported, start in _thieves(daily, out, "h4"):
        np.testing.assert_array_equal(reported[:start], real[:start])
        gamma = reported[start:] / real[start:].mean()
        assert np.all((gamma >= 0.1) & (gamma <= 0.8))
        assert len(np.unique(gamma)) > 1


def test_sudden_drop_lasts_to_the_end(daily: pl.DataFrame, out: pl.DataFrame) -> None:
    for real, reported, start in _thieves(daily, out, "drop"):
        ratio = reported / real
        assert np.all(ratio[:start] == 1.0)
        delta = ratio[start]
        assert 0.01 <= delta <= 0.1
        np.testing.assert_allclose(ratio[start:], delta, rtol=1e-12)  # down to the last day


def test_frame_columns_and_types(out: pl.DataFrame) -> None:
    assert out.schema == pl.Schema(
        {
            "customer_id": pl.String,
            "date": pl.Date,
            "kwh": pl.Float64,
            "label": pl.Int8,
            "attack": pl.String,
            "attack_start": pl.Date,
        }
    )
    assert out.equals(out.sort("customer_id", "date"))


def test_label_attack_and_start_agree(daily: pl.DataFrame, out: pl.DataFrame) -> None:
    assert out.height == daily.height
    per = out.group_by("customer_id").agg(
        pl.col("label").n_unique().alias("labels"),
        pl.col("label").first(),
        pl.col("attack").n_unique().alias("attacks"),
        pl.col("attack").first(),
        pl.col("attack_start").n_unique().alias("starts"),
        pl.col("attack_start").first(),
        (pl.col("date") < pl.col("attack_start")).sum().alias("honest"),
        (pl.col("date") >= pl.col("attack_start")).sum().alias("attacked"),
        (pl.col("date") == pl.col("attack_start")).any().alias("start_is_a_reading"),
    )
    assert per["labels"].max() == per["attacks"].max() == per["starts"].max() == 1
    thieves = per.filter(pl.col("label") == 1)
    honest = per.filter(pl.col("label") == 0)
    assert thieves["attack"].null_count() == 0
    assert thieves["attack_start"].null_count() == 0
    assert set(thieves["attack"]) <= set(ATTACK_KINDS)
    assert thieves["start_is_a_reading"].all()
    assert thieves["honest"].min() >= MIN_HONEST_DAYS
    assert thieves["attacked"].min() >= MIN_ATTACK_DAYS
    assert honest["attack"].null_count() == honest.height
    assert honest["attack_start"].null_count() == honest.height


def test_theft_share_is_exact_and_kinds_even(out: pl.DataFrame) -> None:
    thieves = out.filter(pl.col("label") == 1).group_by("customer_id").agg(pl.col("attack").first())
    assert thieves.height == round(0.4 * 53) == 21
    counts = dict(thieves.group_by("attack").len().iter_rows())
    assert sorted(counts) == sorted(ATTACK_KINDS)
    assert max(counts.values()) - min(counts.values()) <= 1


def test_honest_customers_unchanged(daily: pl.DataFrame, out: pl.DataFrame) -> None:
    honest = out.filter(pl.col("label") == 0).select("customer_id", "date", "kwh")
    expected = daily.join(honest.select("customer_id"), on="customer_id", how="semi")
    assert honest.equals(expected.sort("customer_id", "date"))


def test_short_customers_are_never_thieves(daily: pl.DataFrame) -> None:
    out = benchmark_data(daily, theft_share=50 / 53, seed=3)  # every eligible one
    short = out.group_by("customer_id").agg(pl.len(), pl.col("label").max()).filter(pl.col("len") == 40)
    assert short.height == 3
    assert short["label"].to_list() == [0, 0, 0]


def test_more_thieves_than_eligible_customers_is_refused(daily: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="52 thieves wanted but only 50"):
        benchmark_data(daily, theft_share=52 / 53, seed=3)


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_share_outside_zero_one_is_refused(daily: pl.DataFrame, share: float) -> None:
    with pytest.raises(ValueError, match="theft_share"):
        benchmark_data(daily, theft_share=share, seed=0)


def test_same_seed_same_frame_other_seed_other_thieves(daily: pl.DataFrame) -> None:
    first = benchmark_data(daily, theft_share=0.2, seed=11)
    again = benchmark_data(daily.sample(fraction=1.0, shuffle=True, seed=5), theft_share=0.2, seed=11)
    other = benchmark_data(daily, theft_share=0.2, seed=12)
    assert first.equals(again)  # input order does not matter either
    assert not first.equals(other)


def test_zero_share_leaves_everything_honest(daily: pl.DataFrame) -> None:
    out = benchmark_data(daily, theft_share=0.0, seed=0)
    assert out["label"].sum() == 0
    assert out.select("customer_id", "date", "kwh").equals(daily.sort("customer_id", "date"))


def test_missing_readings_stay_missing() -> None:
    daily = synthetic_daily(customers=20, days=100).with_columns(
        pl.when(pl.col("date").dt.day() == 15).then(None).otherwise(pl.col("kwh")).alias("kwh")
    )
    out = benchmark_data(daily, theft_share=1.0, seed=2)
    assert out["kwh"].null_count() == daily["kwh"].null_count() > 0
    assert out.filter(pl.col("kwh").is_null())["date"].dt.day().unique().to_list() == [15]


def test_h2_window_shorter_than_minimum_covers_the_whole_part() -> None:
    zeroed = attack_h2(np.array([1.0, 2.0, 3.0]), np.random.default_rng(0))
    np.testing.assert_array_equal(zeroed, [0.0, 0.0, 0.0])
