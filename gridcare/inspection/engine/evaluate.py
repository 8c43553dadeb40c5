"""Honest evaluation of the theft risk model (窃电风险模型评估) on the labelled benchmark.

``evaluate_benchmark(frame, seed=…)`` takes the long frame of ``gridcare theft
benchmark-data`` and:

1. splits the customers 80/20, stratified by attack kind (so by label too), seeded;
2. learns everything on the training 80 % only: the peer reference of the features, the
   LightGBM model, the decision threshold (the one maximising F1 on 5-fold out-of-fold
   predictions of the training part), and for the baselines the per-day imputation
   medians and the scaler;
3. reports on the held-out 20 %: AUC, MAP@100, MAP@200, precision/recall/F1 at the
   threshold, with three baselines on the same split — the 50 % rule, logistic
   regression on the raw daily values, an Isolation Forest on them;
4. a generalisation split: trained on honest customers and attacks h1–h3, tested on h4
   and ``drop`` with the held-out honest customers;
5. times the training and the scoring (feature build + prediction), the latter scaled to
   50,000 customers.

Pure NumPy/Polars/scikit-learn/LightGBM, no Django.
"""

from __future__ import annotations

import time
from typing import Any, Final

import numpy as np
import polars as pl
from lightgbm import LGBMClassifier
from sklearn.ensemble import IsolationForest  # type: ignore[import-untyped]
from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]
from sklearn.model_selection import StratifiedKFold, train_test_split  # type: ignore[import-untyped]
from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

from gridcare.inspection.engine.features import (
    FEATURE_NAMES,
    customer_features,
    daily_matrix,
    peer_reference,
)

TEST_SHARE: Final = 0.2
FOLDS: Final = 5
RULE_DAYS: Final = 30
RULE_SHARE: Final = 0.5
"""The utility rule: the last 30 days fell below 50 % of the customer's own average."""

SEEN_ATTACKS: Final = ("h1", "h2", "h3")
UNSEEN_ATTACKS: Final = ("h4", "drop")
PER_CUSTOMERS: Final = 50_000


# --- metrics -----------------------------------------------------------------------------


def map_at_k(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    """MAP@k as in the WDCNN paper (Zheng et al. 2018): rank by score (highest first),
    take the top ``k``; with ``r`` thieves among them at positions ``k_1 < … < k_r``,
    ``MAP@k = (1/r) Σ_i i / k_i``; 0 when the top ``k`` holds no thief. Ties are broken
    by the input order (stable sort)."""
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[:k]
    hits = np.asarray(labels)[order] == 1
    if not hits.any():
        return 0.0
    positions = np.flatnonzero(hits) + 1
    return float(np.mean(np.arange(1, len(positions) + 1) / positions))


def best_f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The score threshold (predict theft when ``score >= threshold``) with the highest
    F1 on these labels; the lowest such threshold on ties."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    tp = np.cumsum(sorted_labels == 1)
    predicted = np.arange(1, len(scores) + 1)
    positives = max(int((labels == 1).sum()), 1)
    f1 = 2 * tp / (predicted + positives)
    last_of_tie = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]
    f1 = np.where(last_of_tie, f1, -1.0)
    return float(sorted_scores[int(np.argmax(f1))])


def classification_metrics(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    tp = int(((predicted == 1) & (labels == 1)).sum())
    fp = int(((predicted == 1) & (labels == 0)).sum())
    fn = int(((predicted == 0) & (labels == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def ranking_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    auc = float(roc_auc_score(labels, scores)) if len(set(labels.tolist())) == 2 else float("nan")
    return {"auc": auc, "map100": map_at_k(labels, scores, 100), "map200": map_at_k(labels, scores, 200)}


# --- data --------------------------------------------------------------------------------


def customer_labels(frame: pl.DataFrame) -> pl.DataFrame:
    """customer_id, label, attack (``"honest"`` for honest customers), sorted by customer."""
    return (
        frame.group_by("customer_id")
        .agg(pl.col("label").max().cast(pl.Int64), pl.col("attack").drop_nulls().first())
        .with_columns(pl.col("attack").fill_null("honest"))
        .sort("customer_id")
    )


def split_customers(
    labels: pl.DataFrame, *, seed: int, test_share: float = TEST_SHARE
) -> tuple[set[str], set[str]]:
    """Training and test customer ids: ``test_share`` held out, stratified by attack kind."""
    ids = labels["customer_id"].to_numpy()
    train, test = train_test_split(
        ids, test_size=test_share, random_state=seed, stratify=labels["attack"].to_numpy()
    )
    return set(train.tolist()), set(test.tolist())


def _rows(frame: pl.DataFrame, customers: set[str]) -> pl.DataFrame:
    return frame.filter(pl.col("customer_id").is_in(sorted(customers)))


def _lgbm(seed: int) -> LGBMClassifier:
    return LGBMClassifier(
        n_estimators=400,
        learning_rate=0.03,
        num_leaves=15,
        min_child_samples=10,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        reg_lambda=1.0,
        random_state=seed,
        n_jobs=2,
        verbose=-1,
    )


def _xy(features: pl.DataFrame, labels: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    joined = features.join(labels.select("customer_id", "label"), on="customer_id", how="left")
    return joined.select(FEATURE_NAMES).to_numpy(), joined["label"].to_numpy()


def train_model(x: np.ndarray, y: np.ndarray, *, seed: int) -> tuple[LGBMClassifier, float]:
    """The model fit on all of ``x`` and the F1-best threshold from out-of-fold scores."""
    out_of_fold = np.zeros(len(y))
    folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
    for fit_index, held_index in folds.split(x, y):
        fold_model = _lgbm(seed).fit(x[fit_index], y[fit_index])
        out_of_fold[held_index] = np.asarray(fold_model.predict_proba(x[held_index]))[:, 1]
    threshold = best_f1_threshold(y, out_of_fold)
    return _lgbm(seed).fit(x, y), threshold


# --- baselines ---------------------------------------------------------------------------


def rule_scores(frame: pl.DataFrame) -> pl.DataFrame:
    """The 50 % rule: ``ratio`` = mean kWh of the customer's last ``RULE_DAYS`` calendar
    days (up to its last reading) / its mean before them; ``score`` = −ratio (lower ratio,
    higher risk); ``flag`` when ratio < ``RULE_SHARE``. Uses nothing but the customer's
    own readings, so nothing is fit."""
    clean = frame.select("customer_id", "date", "kwh").drop_nulls("kwh")
    tagged = clean.with_columns(
        late=pl.col("date") > pl.col("date").max().over("customer_id") - pl.duration(days=RULE_DAYS)
    )
    agg = tagged.group_by("customer_id").agg(
        late=pl.col("kwh").filter(pl.col("late")).mean(),
        own=pl.col("kwh").filter(~pl.col("late")).mean(),
    )
    ratio = (
        pl.when(pl.col("own") > 0)
        .then(pl.col("late") / pl.col("own"))
        .otherwise(pl.when(pl.col("late") > 0).then(10.0).otherwise(1.0))
    )
    return (
        agg.with_columns(ratio=ratio.fill_null(1.0))
        .with_columns(score=-pl.col("ratio"), flag=(pl.col("ratio") < RULE_SHARE).cast(pl.Int64))
        .sort("customer_id")
    )


def _raw_matrix(frame: pl.DataFrame, train: list[str], test: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Customers × days matrices of raw kWh, missing days filled with the training
    customers' median of that day, then standardised with a scaler fit on training."""
    customers, _days, matrix = daily_matrix(frame)
    index = {c: i for i, c in enumerate(customers.tolist())}
    x_train = matrix[[index[c] for c in train]]
    x_test = matrix[[index[c] for c in test]]
    medians = np.nanmedian(np.where(np.isfinite(x_train), x_train, np.nan), axis=0)
    medians = np.where(np.isfinite(medians), medians, 0.0)
    x_train = np.where(np.isfinite(x_train), x_train, medians)
    x_test = np.where(np.isfinite(x_test), x_test, medians)
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_test)


def baselines(
    frame: pl.DataFrame, labels: pl.DataFrame, train: set[str], test: set[str], *, seed: int
) -> dict[str, Any]:
    """The three baselines on the same split, each with AUC, MAP@100, MAP@200 and
    precision/recall/F1 (the rule at its own 50 % flag; the two models at the F1-best
    threshold on their training scores)."""
    label_of = dict(zip(labels["customer_id"].to_list(), labels["label"].to_list(), strict=True))
    train_ids, test_ids = sorted(train), sorted(test)
    y_train = np.array([label_of[c] for c in train_ids])
    y_test = np.array([label_of[c] for c in test_ids])
    out: dict[str, Any] = {}

    rule = rule_scores(_rows(frame, test)).filter(pl.col("customer_id").is_in(test_ids))
    rule_y = np.array([label_of[c] for c in rule["customer_id"].to_list()])
    out["rule_50pct"] = ranking_metrics(rule_y, rule["score"].to_numpy()) | classification_metrics(
        rule_y, rule["flag"].to_numpy()
    )

    x_train, x_test = _raw_matrix(frame, train_ids, test_ids)
    logistic = LogisticRegression(C=0.01, max_iter=2000).fit(x_train, y_train)
    threshold = best_f1_threshold(y_train, logistic.predict_proba(x_train)[:, 1])
    scores = logistic.predict_proba(x_test)[:, 1]
    out["logistic_raw"] = ranking_metrics(y_test, scores) | classification_metrics(
        y_test, (scores >= threshold).astype(int)
    )

    forest = IsolationForest(n_estimators=200, random_state=seed, n_jobs=2).fit(x_train)
    train_scores = -forest.score_samples(x_train)
    threshold = best_f1_threshold(y_train, train_scores)
    scores = -forest.score_samples(x_test)
    out["isolation_forest"] = ranking_metrics(y_test, scores) | classification_metrics(
        y_test, (scores >= threshold).astype(int)
    )
    return out


# --- the run -----------------------------------------------------------------------------


def _fit_and_score(
    frame: pl.DataFrame, labels: pl.DataFrame, train: set[str], test: set[str], *, seed: int
) -> dict[str, Any]:
    started = time.perf_counter()
    train_rows = _rows(frame, train)
    peers = peer_reference(train_rows)
    x_train, y_train = _xy(customer_features(train_rows, peers), labels)
    model, threshold = train_model(x_train, y_train, seed=seed)
    train_seconds = time.perf_counter() - started

    started = time.perf_counter()
    test_features = customer_features(_rows(frame, test), peers)
    x_test, y_test = _xy(test_features, labels)
    scores = np.asarray(model.predict_proba(x_test))[:, 1]
    score_seconds = time.perf_counter() - started
    return {
        "ranking": ranking_metrics(y_test, scores),
        "classification": classification_metrics(y_test, (scores >= threshold).astype(int)),
        "threshold": threshold,
        "train_seconds": train_seconds,
        "score_seconds": score_seconds,
        "test_customers": len(y_test),
        "test_thieves": int(y_test.sum()),
        "train_customers": len(y_train),
        "importance": dict(zip(FEATURE_NAMES, model.feature_importances_.tolist(), strict=True)),
    }


def evaluate_benchmark(frame: pl.DataFrame, *, seed: int) -> dict[str, Any]:
    """The full evaluation (mixed split, baselines, generalisation split, timing)."""
    labels = customer_labels(frame)
    train, test = split_customers(labels, seed=seed)
    mixed = _fit_and_score(frame, labels, train, test, seed=seed)

    attack_of = dict(zip(labels["customer_id"].to_list(), labels["attack"].to_list(), strict=True))
    general_train = {c for c, a in attack_of.items() if (a == "honest" and c in train) or a in SEEN_ATTACKS}
    general_test = {c for c, a in attack_of.items() if (a == "honest" and c in test) or a in UNSEEN_ATTACKS}
    general = _fit_and_score(frame, labels, general_train, general_test, seed=seed)

    return {
        **mixed["ranking"],
        **mixed["classification"],
        "threshold": mixed["threshold"],
        "baselines": baselines(frame, labels, train, test, seed=seed),
        "generalisation": {
            **general["ranking"],
            **general["classification"],
            "train_customers": general["train_customers"],
            "test_customers": general["test_customers"],
            "test_thieves": general["test_thieves"],
        },
        "train_seconds": mixed["train_seconds"],
        "score_seconds_per_50k": mixed["score_seconds"] * PER_CUSTOMERS / max(mixed["test_customers"], 1),
        "train_customers": mixed["train_customers"],
        "test_customers": mixed["test_customers"],
        "test_thieves": mixed["test_thieves"],
        "importance": mixed["importance"],
        "seed": seed,
    }
