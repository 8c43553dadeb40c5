"""Evaluation of the theft risk model: metrics on hand-made rankings, the split, the run."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gridcare.inspection.engine.evaluate import (
    best_f1_threshold,
    classification_metrics,
    customer_labels,
    evaluate_benchmark,
    map_at_k,
    rule_scores,
    split_customers,
)
from gridcare.inspection.tests.synthetic import synthetic_benchmark


@pytest.fixture(scope="module")
def bench() -> pl.DataFrame:
    return synthetic_benchmark(customers=400, days=400, theft_share=0.2, seed=0)


@pytest.fixture(scope="module")
def result(bench: pl.DataFrame) -> dict:
    return evaluate_benchmark(bench, seed=0)


def test_map_at_k_on_hand_made_rankings() -> None:
    labels = np.array([1, 0, 1, 0, 0, 1])
    scores = np.array([6.0, 5.0, 4.0, 3.0, 2.0, 1.0])  # ranking: 1 0 1 0 0 1

    assert map_at_k(labels, scores, 1) == 1.0
    assert map_at_k(labels, scores, 3) == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert map_at_k(labels, scores, 6) == pytest.approx((1 / 1 + 2 / 3 + 3 / 6) / 3)
    assert map_at_k(labels, scores, 100) == map_at_k(labels, scores, 6)
    assert map_at_k(np.array([0, 0, 1]), np.array([3.0, 2.0, 1.0]), 2) == 0.0
    assert map_at_k(np.array([0, 1]), np.array([1.0, 2.0]), 2) == 1.0  # ranked by score


def test_best_f1_threshold_and_classification_metrics() -> None:
    labels = np.array([1, 1, 0, 1, 0, 0])
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.2, 0.1])

    threshold = best_f1_threshold(labels, scores)

    assert threshold == 0.6  # top 4: tp 3, fp 1 → F1 6/7, better than top 2 (F1 0.8)
    assert classification_metrics(labels, (scores >= threshold).astype(int)) == pytest.approx(
        {"precision": 0.75, "recall": 1.0, "f1": 6 / 7}
    )


def test_split_is_stratified_seeded_and_disjoint(bench: pl.DataFrame) -> None:
    labels = customer_labels(bench)

    train, test = split_customers(labels, seed=0)

    assert train.isdisjoint(test)
    assert len(train) + len(test) == labels.height
    assert split_customers(labels, seed=0) == (train, test)
    counts = (
        labels.with_columns(test=pl.col("customer_id").is_in(sorted(test))).group_by("attack", "test").len()
    )
    for attack in labels["attack"].unique().to_list():
        held = counts.filter((pl.col("attack") == attack) & pl.col("test"))["len"].sum()
        total = counts.filter(pl.col("attack") == attack)["len"].sum()
        assert abs(held - 0.2 * total) <= 1


def test_rule_ratio_is_last_30_days_over_the_own_average_before() -> None:
    dates = pl.date_range(pl.date(2013, 1, 1), pl.date(2013, 4, 30), eager=True)
    kwh = [10.0] * (len(dates) - 30) + [4.0] * 30
    frame = pl.DataFrame({"customer_id": "MAC000001", "date": dates, "kwh": kwh})

    row = rule_scores(frame).row(0, named=True)

    assert row["ratio"] == pytest.approx(0.4)
    assert row["flag"] == 1


def test_model_beats_the_50_percent_rule_on_the_synthetic_set(result: dict) -> None:
    rule = result["baselines"]["rule_50pct"]
    assert result["auc"] > rule["auc"]
    assert result["map100"] > rule["map100"]
    assert result["f1"] > rule["f1"]
    assert result["auc"] > 0.9
    assert set(result["baselines"]) == {"rule_50pct", "logistic_raw", "isolation_forest"}
    assert 0.0 <= result["generalisation"]["auc"] <= 1.0


def test_command_prints_a_table_and_a_json_line(bench: pl.DataFrame, tmp_path: Path) -> None:
    data = tmp_path / "bench.parquet"
    bench.write_parquet(data)
    stdout = StringIO()

    call_command("theft", "evaluate", "--data", str(data), "--seed", "0", stdout=stdout)

    lines = stdout.getvalue().splitlines()
    assert lines[0].startswith("customers: train 320, test 80")
    summary = json.loads(lines[-1])
    assert set(summary) == {
        "auc", "map100", "map200", "precision", "recall", "f1",
        "baselines", "generalisation", "train_seconds", "score_seconds_per_50k", "seed",
    }  # fmt: skip
    assert set(summary["generalisation"]) >= {"auc"}


def test_command_rejects_a_bad_data_file(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="--data"):
        call_command("theft", "evaluate", "--data", str(tmp_path / "x.txt"))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("theft", "evaluate", "--data", str(tmp_path / "missing.parquet"))
