"""The theft model artefact and scoring engine: round trip, integrity, reasons, windows."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import lightgbm
import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridcare.inspection.engine.explain import ALL_PEERS, MIN_GROUP, score_customers
from gridcare.inspection.engine.features import customer_features, peer_reference
from gridcare.inspection.engine.model import (
    MIN_READINGS,
    MODEL_FEATURES,
    ArtefactError,
    TheftModel,
    load_model,
    model_version,
    save_model,
)
from gridcare.inspection.tests.scoring_support import (
    START,
    honest_series,
    long_frame,
    population,
    small_benchmark,
    small_model,
)


@pytest.fixture(scope="module")
def model() -> TheftModel:
    return small_model()


@pytest.fixture(scope="module")
def bench() -> pl.DataFrame:
    return small_benchmark()


# --- artefact ----------------------------------------------------------------------------


def test_artefact_round_trip(model: TheftModel, bench: pl.DataFrame, tmp_path: Path) -> None:
    folder = save_model(model, tmp_path)

    assert folder == tmp_path / model.version
    assert sorted(p.name for p in folder.iterdir()) == ["SHA256SUMS", "meta.json", "model.txt"]
    model_sha = hashlib.sha256((folder / "model.txt").read_bytes()).hexdigest()
    meta_sha = hashlib.sha256((folder / "meta.json").read_bytes()).hexdigest()
    sums = (folder / "SHA256SUMS").read_text()
    assert sums == f"{model_sha}  model.txt\n{meta_sha}  meta.json\n"
    assert re.fullmatch(r"theft-\d{8}-\d{6}-[0-9a-f]{8}", model.version)
    assert model.version.endswith(model_sha[:8])

    loaded = load_model(folder)

    assert loaded.sha256 == model.sha256 == hashlib.sha256(sums.encode()).hexdigest()
    assert loaded.version == model.version
    assert loaded.features == model.features == MODEL_FEATURES
    assert "mean_kwh" not in loaded.features
    assert loaded.threshold == model.threshold
    meta = json.loads((folder / "meta.json").read_text())
    wanted = {"version", "features", "threshold", "trained_at", "data", "seed", "metrics", "lightgbm"}
    assert wanted <= set(meta)
    assert meta["lightgbm"] == lightgbm.__version__
    assert meta["data"]["customers"] == 200
    assert meta["data"]["thieves"] == 40
    assert meta["data"]["train_customers"] == 200
    assert meta["metrics"] == {}
    features = customer_features(bench, peer_reference(bench)).select(model.features).to_numpy()
    np.testing.assert_array_equal(loaded.booster.predict(features), model.booster.predict(features))
    # saving the same model again is a no-op
    assert save_model(loaded, tmp_path) == folder


def test_version_is_utc_training_time_and_booster_hash() -> None:
    beijing = dt.timezone(dt.timedelta(hours=8))
    at = dt.datetime(2026, 11, 27, 11, 15, 0, tzinfo=beijing)

    version = model_version("booster text", at)

    assert version == "theft-20261127-031500-" + hashlib.sha256(b"booster text").hexdigest()[:8]


@pytest.mark.parametrize("name", ["model.txt", "meta.json"])
def test_a_changed_file_is_detected(model: TheftModel, tmp_path: Path, name: str) -> None:
    folder = save_model(model, tmp_path)
    path = folder / name
    path.write_text(path.read_text().replace("0", "1", 1))

    with pytest.raises(ArtefactError, match="do not match their SHA-256"):
        load_model(folder)


def test_recorded_sha_is_checked_and_missing_files_reported(model: TheftModel, tmp_path: Path) -> None:
    folder = save_model(model, tmp_path)

    assert load_model(folder, expected_sha256=model.sha256).version == model.version
    with pytest.raises(ArtefactError, match="do not match"):
        load_model(folder, expected_sha256="0" * 64)
    (folder / "model.txt").unlink()
    with pytest.raises(ArtefactError, match="cannot read the model files"):
        load_model(folder)
    with pytest.raises(ArtefactError, match="no model directory"):
        load_model(tmp_path / "nowhere")


def test_holdout_records_held_out_metrics() -> None:
    held = small_model(holdout=0.25)

    metrics = held.meta["metrics"]
    assert metrics["test_customers"] == 50
    assert metrics["test_thieves"] == 10
    assert held.meta["data"]["train_customers"] == 150
    assert 0.0 <= metrics["auc"] <= 1.0
    assert {"map100", "map200", "precision", "recall", "f1"} <= set(metrics)


# --- scores and reasons ------------------------------------------------------------------


def test_scores_ranks_and_reasons_are_top_shap_contributions(model: TheftModel, bench: pl.DataFrame) -> None:
    frame = bench.select("customer_id", "date", "kwh")

    result = score_customers(frame, model, explain_top=None)

    table = customer_features(frame, peer_reference(frame))
    x = table.select(model.features).to_numpy()
    expected_score = np.asarray(model.booster.predict(x))
    contrib = np.asarray(model.booster.predict(x, pred_contrib=True))[:, : len(model.features)]
    scores = result.scores.sort("customer_id")
    assert scores["customer_id"].to_list() == table["customer_id"].to_list()
    np.testing.assert_allclose(scores["score"].to_numpy(), expected_score)
    assert scores["flagged"].to_list() == (expected_score >= model.threshold).tolist()
    by_rank = result.scores["score"].to_numpy()
    assert result.scores["rank"].to_list() == list(range(1, 201))
    assert (np.diff(by_rank) <= 0).all()
    assert result.scores["explained"].all()
    assert result.skipped.height == 0

    names = np.array(model.features)
    medians = table.select(model.features).median().row(0)
    for i in range(len(x)):
        top = np.argsort(-contrib[i], kind="stable")[:3]
        row = scores.row(i, named=True)
        assert row["peer_group"] == ALL_PEERS
        for k, column in enumerate(top, start=1):
            assert row[f"reason_{k}_feature"] == names[column]
            assert row[f"reason_{k}_value"] == pytest.approx(x[i, column])
            assert row[f"reason_{k}_contribution"] == pytest.approx(contrib[i, column])
            assert row[f"reason_{k}_peer_median"] == pytest.approx(medians[column])
        assert row["reason_1_contribution"] >= row["reason_2_contribution"] >= row["reason_3_contribution"]


def test_peers_are_the_group_and_small_groups_use_everyone(model: TheftModel, bench: pl.DataFrame) -> None:
    frame = bench.select("customer_id", "date", "kwh")
    ids = sorted(frame["customer_id"].unique().to_list())
    groups = pl.DataFrame({"customer_id": ids, "group": ["a"] * 150 + ["b"] * 45 + ["c"] * (MIN_GROUP - 15)})

    result = score_customers(frame, model, groups=groups, explain_top=None)

    peer = dict(result.scores.select("customer_id", "peer_group").iter_rows())
    assert {peer[c] for c in ids[:150]} == {"a"}
    assert {peer[c] for c in ids[150:195]} == {"b"}
    assert {peer[c] for c in ids[195:]} == {ALL_PEERS}
    group_a = frame.filter(pl.col("customer_id").is_in(ids[:150]))
    table = customer_features(group_a, peer_reference(group_a))
    x = table.select(model.features).to_numpy()
    got = result.scores.filter(pl.col("peer_group") == "a").sort("customer_id")
    np.testing.assert_allclose(got["score"].to_numpy(), model.booster.predict(x))
    row = got.row(0, named=True)
    feature = row["reason_1_feature"]
    assert row["reason_1_peer_median"] == pytest.approx(table[feature].median())


def test_explain_top_limits_reasons_to_top_and_flagged(model: TheftModel, bench: pl.DataFrame) -> None:
    result = score_customers(bench.select("customer_id", "date", "kwh"), model, explain_top=5)

    scores = result.scores
    expected = (scores["rank"] <= 5) | scores["flagged"]
    assert scores["explained"].to_list() == expected.to_list()
    others = scores.filter(~pl.col("explained"))
    assert others.height > 0
    assert others["reason_1_feature"].null_count() == others.height
    assert others["reason_1_value"].null_count() == others.height


def test_customers_with_too_few_readings_are_skipped(model: TheftModel) -> None:
    series = population(25, 120)
    series["SHORT"] = honest_series(MIN_READINGS - 1, seed=9)
    series["JUST"] = honest_series(MIN_READINGS, seed=10)

    result = score_customers(long_frame(series), model)

    assert MIN_READINGS == 56
    assert result.skipped.rows() == [("SHORT", 55)]
    assert "JUST" in result.scores["customer_id"].to_list()
    assert result.scores.height == 26


# --- suspicious window -------------------------------------------------------------------


def test_window_covers_an_injected_drop_and_the_thief_ranks_first(model: TheftModel) -> None:
    series = population(40, 240)
    series["C000"][150:] *= 0.05  # a bypass from day 150 on

    result = score_customers(long_frame(series), model)

    row = result.scores.filter(pl.col("customer_id") == "C000").row(0, named=True)
    assert row["rank"] == 1
    assert row["window_kind"] == "drop"
    assert START + dt.timedelta(days=148) <= row["window_start"] <= START + dt.timedelta(days=152)
    assert row["window_end"] == START + dt.timedelta(days=239)


def test_window_is_the_zero_run(model: TheftModel) -> None:
    series = population(40, 240)
    series["C001"][60:80] = 0.0  # 20 days of nothing in the middle of the year

    result = score_customers(long_frame(series), model)

    row = result.scores.filter(pl.col("customer_id") == "C001").row(0, named=True)
    assert row["window_kind"] == "zero_run"
    assert row["window_start"] == START + dt.timedelta(days=60)
    assert row["window_end"] == START + dt.timedelta(days=79)
    honest = result.scores.filter(pl.col("customer_id") == "C005").row(0, named=True)
    assert honest["window_kind"] is None
    assert honest["window_start"] is None


@settings(max_examples=20)
@given(
    customers=st.integers(min_value=1, max_value=25),
    days=st.integers(min_value=50, max_value=150),
    drop_at=st.integers(min_value=0, max_value=149),
    zeros=st.tuples(st.integers(min_value=0, max_value=149), st.integers(min_value=0, max_value=30)),
    seed=st.integers(min_value=0, max_value=1000),
)
def test_scoring_invariants(
    model: TheftModel, customers: int, days: int, drop_at: int, zeros: tuple[int, int], seed: int
) -> None:
    series = population(customers, days, seed=seed)
    first = next(iter(series))
    series[first][drop_at:] *= 0.1
    series[first][zeros[0] : zeros[0] + zeros[1]] = 0.0

    result = score_customers(long_frame(series), model, explain_top=None)

    scores = result.scores
    expected_scored = customers if days >= MIN_READINGS else 0
    assert scores.height == expected_scored
    assert result.skipped.height == customers - expected_scored
    if scores.height == 0:
        return
    assert scores["score"].is_between(0.0, 1.0).all()
    assert sorted(scores["rank"].to_list()) == list(range(1, scores.height + 1))
    assert scores["flagged"].to_list() == (scores["score"] >= model.threshold).to_list()
    last_day = START + dt.timedelta(days=days - 1)
    windows = scores.filter(pl.col("window_kind").is_not_null())
    assert windows["window_start"].null_count() == 0
    assert (windows["window_start"] <= windows["window_end"]).all()
    assert (windows["window_start"] >= START).all()
    assert (windows["window_end"] <= last_day).all()
    contributions = scores.select("reason_1_contribution", "reason_2_contribution", "reason_3_contribution")
    assert (contributions["reason_1_contribution"] >= contributions["reason_2_contribution"]).all()
    assert (contributions["reason_2_contribution"] >= contributions["reason_3_contribution"]).all()
