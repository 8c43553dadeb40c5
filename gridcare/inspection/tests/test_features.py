"""Theft risk features: shape, order, finiteness, no leakage, and what they measure."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from gridcare.inspection.engine.features import FEATURE_NAMES, customer_features, peer_reference
from gridcare.inspection.tests.synthetic import seasonal_daily, synthetic_benchmark


@pytest.fixture(scope="module")
def bench() -> pl.DataFrame:
    return synthetic_benchmark(customers=120, days=300, theft_share=0.25, seed=1)


def test_one_finite_row_per_customer_in_the_documented_order(bench: pl.DataFrame) -> None:
    features = customer_features(bench, peer_reference(bench))

    assert features.columns == ["customer_id", *FEATURE_NAMES]
    assert features["customer_id"].to_list() == sorted(bench["customer_id"].unique().to_list())
    assert np.isfinite(features.select(FEATURE_NAMES).to_numpy()).all()


def test_training_features_do_not_change_when_test_customers_change(bench: pl.DataFrame) -> None:
    """Given a split, when the test customers' readings are rewritten, the peer
    reference and every training customer's features stay exactly the same."""
    customers = sorted(bench["customer_id"].unique().to_list())
    train, test = customers[:90], customers[90:]
    train_rows = bench.filter(pl.col("customer_id").is_in(train))
    peers = peer_reference(train_rows)
    before = customer_features(bench, peers).filter(pl.col("customer_id").is_in(train))

    changed = bench.with_columns(
        kwh=pl.when(pl.col("customer_id").is_in(test))
        .then(pl.col("kwh") * 7.0 + 3.0)
        .otherwise(pl.col("kwh"))
    )
    changed = changed.filter(~(pl.col("customer_id").is_in(test) & (pl.col("date") < dt.date(2012, 3, 1))))
    peers_again = peer_reference(changed.filter(pl.col("customer_id").is_in(train)))
    after = customer_features(changed, peers_again).filter(pl.col("customer_id").is_in(train))

    assert np.array_equal(peers.daily_median, peers_again.daily_median)
    assert peers.mean_kwh_median == peers_again.mean_kwh_median
    assert before.equals(after)


def test_a_customers_features_do_not_depend_on_who_else_is_scored(bench: pl.DataFrame) -> None:
    peers = peer_reference(bench)
    together = customer_features(bench, peers)
    first = together["customer_id"][0]

    alone = customer_features(bench.filter(pl.col("customer_id") == first), peers)

    assert alone.equals(together.head(1))


def test_a_sudden_drop_shows_in_the_break_features() -> None:
    """Given one honest household and the same one dropping to 5 % from day 200."""
    honest = seasonal_daily(customers=1, days=365, seed=9)
    dropped = honest.with_columns(
        customer_id=pl.lit("MAC999999"),
        kwh=pl.when(pl.col("date") >= dt.date(2012, 7, 19))
        .then(pl.col("kwh") * 0.05)
        .otherwise(pl.col("kwh")),
    )
    frame = pl.concat([honest, dropped])

    features = {
        row["customer_id"]: row
        for row in customer_features(frame, peer_reference(honest)).iter_rows(named=True)
    }

    good, bad = features["MAC000000"], features["MAC999999"]
    assert bad["split_ratio"] < 0.1 < good["split_ratio"]
    assert bad["last12w_to_own"] < 0.1
    assert bad["max_drop_4w"] > 0.9
    assert bad["low_share_late"] == 1.0
    assert bad["cusum_score"] > good["cusum_score"]
    assert good["zero_share"] == 0.0


def test_zero_runs_and_missing_share() -> None:
    start = dt.date(2013, 1, 1)
    kwh = [5.0] * 40 + [0.0] * 10 + [5.0] * 5 + [0.0] * 3 + [5.0] * 40
    dates = [start + dt.timedelta(days=d) for d in range(len(kwh))]
    frame = pl.DataFrame({"customer_id": "MAC000001", "date": dates, "kwh": kwh})
    frame = frame.filter(pl.col("date") != dt.date(2013, 1, 20))  # one missing day

    row = customer_features(frame, peer_reference(frame)).row(0, named=True)

    assert row["zero_longest_run"] == 10.0
    assert row["zero_share"] == pytest.approx(13 / 97)
    assert row["missing_share"] == pytest.approx(1 / 98)
