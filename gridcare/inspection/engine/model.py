"""The versioned theft model artefact (窃电风险模型): train, save, load and verify.

``train_theft_model(frame, seed=…)`` takes a labelled long frame (customer_id, date, kwh,
label, attack, attack_start — as written by ``gridcare theft benchmark-data``) and returns
a :class:`TheftModel`: the LightGBM booster (``engine.evaluate.train_model``, the model of
``gridcare theft evaluate``), the feature names it reads, the F1-best threshold from 5-fold
out-of-fold scores, and how it was trained. With ``holdout`` > 0 a stratified share of the
customers is kept out of training and the held-out AUC, MAP@100, MAP@200 and
precision/recall/F1 at the threshold are recorded.

On disk an artefact is one directory named after its version::

    theft-20261127-031500-1a2b3c4d/
        model.txt     the booster (LightGBM text format)
        meta.json     version, features, threshold, trained_at, data, seed, metrics, …
        SHA256SUMS    sha256sum lines of model.txt and meta.json

The artefact's SHA-256 is the SHA-256 of the ``SHA256SUMS`` text (so it covers both files;
``sha256sum -c SHA256SUMS`` checks them by hand). The version is
``theft-<UTC YYYYMMDD-HHMMSS of training>-<first 8 hex of SHA-256(model.txt)>``.

Pure: no Django.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import lightgbm
import numpy as np
import polars as pl

from gridcare.inspection.engine.evaluate import (
    classification_metrics,
    customer_labels,
    ranking_metrics,
    split_customers,
    train_model,
)
from gridcare.inspection.engine.features import (
    FEATURE_NAMES,
    MIN_SEGMENT,
    customer_features,
    peer_reference,
)

FORMAT: Final = 1
"""Layout version of ``meta.json``."""

MODEL_FILE: Final = "model.txt"
META_FILE: Final = "meta.json"
SUMS_FILE: Final = "SHA256SUMS"

MIN_READINGS: Final = 2 * MIN_SEGMENT
"""Fewest daily readings a customer needs to be trained on or scored: the break features
look for a split with ``MIN_SEGMENT`` (28) readings on each side."""

MODEL_FEATURES: Final = tuple(name for name in FEATURE_NAMES if name != "mean_kwh")
"""The production model reads every feature but ``mean_kwh``: an absolute level in kWh
learnt on London households does not carry over to other customer classes and countries;
``mean_to_peers`` says the same relative to the customer's own peers."""


class ArtefactError(ValueError):
    """The artefact directory is incomplete, unreadable or does not match its SHA-256."""


@dataclass(frozen=True)
class TheftModel:
    """A trained theft model: the booster's text (exactly what ``model.txt`` holds), the
    booster loaded from it, the features in the order it reads them, the threshold and
    the metadata of ``meta.json``."""

    model_text: str
    booster: lightgbm.Booster
    features: tuple[str, ...]
    threshold: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.meta["version"])

    @property
    def min_readings(self) -> int:
        return int(self.meta.get("min_readings", MIN_READINGS))

    def meta_json(self) -> str:
        """``meta.json`` as written (sorted keys, two-space indent, trailing newline)."""
        return json.dumps(self.meta, sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    def sums(self) -> str:
        """The ``SHA256SUMS`` text of this model's two files."""
        return sums_text(self.model_text.encode(), self.meta_json().encode())

    @property
    def sha256(self) -> str:
        """The artefact's SHA-256 (of its ``SHA256SUMS`` text)."""
        return hashlib.sha256(self.sums().encode()).hexdigest()


def sums_text(model_bytes: bytes, meta_bytes: bytes) -> str:
    """``sha256sum`` output for ``model.txt`` and ``meta.json``."""
    return (
        f"{hashlib.sha256(model_bytes).hexdigest()}  {MODEL_FILE}\n"
        f"{hashlib.sha256(meta_bytes).hexdigest()}  {META_FILE}\n"
    )


def model_version(model_text: str, trained_at: dt.datetime) -> str:
    """``theft-YYYYMMDD-HHMMSS-<sha8>``: UTC training time and the booster text's hash."""
    stamp = trained_at.astimezone(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"theft-{stamp}-{hashlib.sha256(model_text.encode()).hexdigest()[:8]}"


# --- training ----------------------------------------------------------------------------


def eligible_customers(frame: pl.DataFrame, min_readings: int = MIN_READINGS) -> pl.DataFrame:
    """customer_id, readings (days with a kWh value) and ``eligible`` (enough readings)."""
    return (
        frame.lazy()
        .filter(pl.col("kwh").is_not_null() & pl.col("kwh").is_not_nan())
        .group_by(pl.col("customer_id").cast(pl.String))
        .agg(readings=pl.len().cast(pl.Int64))
        .with_columns(eligible=pl.col("readings") >= min_readings)
        .sort("customer_id")
        .collect()
    )


def _xy(
    frame: pl.DataFrame, labels: pl.DataFrame, features: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    table = customer_features(frame, peer_reference(frame)).join(
        labels.select("customer_id", "label"), on="customer_id", how="left"
    )
    return table.select(features).to_numpy(), table["label"].to_numpy()


def train_theft_model(
    frame: pl.DataFrame,
    *,
    seed: int = 0,
    holdout: float = 0.0,
    features: tuple[str, ...] = MODEL_FEATURES,
    data: str = "",
    now: dt.datetime | None = None,
) -> TheftModel:
    """Train the theft model on a labelled long frame.

    Customers with fewer than ``MIN_READINGS`` readings are left out (they could not be
    scored either). The peers of the features are the training customers themselves
    (``peer_reference`` of the training part), as scoring uses the scored population.
    With ``holdout`` in (0, 1) that share of customers, stratified by attack kind, is kept
    out and measured; with 0 every customer trains the model. ``data`` describes the
    source for ``meta.json``.
    """
    missing = [c for c in ("customer_id", "date", "kwh", "label") if c not in frame.columns]
    if missing:
        raise ValueError(f"the training frame lacks the columns {', '.join(missing)}")
    if not 0.0 <= holdout < 1.0:
        raise ValueError(f"holdout must be within [0, 1), got {holdout}")
    unknown = [name for name in features if name not in FEATURE_NAMES]
    if unknown:
        raise ValueError(f"unknown features: {', '.join(unknown)}")
    frame = frame.with_columns(
        pl.col("customer_id").cast(pl.String),
        pl.col("date").cast(pl.Date),
        pl.col("kwh").cast(pl.Float64),
        pl.col("label").cast(pl.Int64),
        (pl.col("attack") if "attack" in frame.columns else pl.lit(None, dtype=pl.String)).cast(pl.String),
    )
    counts = eligible_customers(frame)
    keep = counts.filter("eligible")["customer_id"]
    frame = frame.filter(pl.col("customer_id").is_in(keep.implode()))
    labels = customer_labels(frame)
    if labels.height == 0 or labels["label"].n_unique() < 2:
        raise ValueError("the training frame needs both honest customers and thieves with enough readings")

    metrics: dict[str, Any] = {}
    if holdout > 0:
        train_ids, test_ids = split_customers(labels, seed=seed, test_share=holdout)
        train_rows = frame.filter(pl.col("customer_id").is_in(sorted(train_ids)))
        test_rows = frame.filter(pl.col("customer_id").is_in(sorted(test_ids)))
    else:
        train_rows, test_rows = frame, frame.clear()
    x, y = _xy(train_rows, labels, features)
    classifier, threshold = train_model(x, y, seed=seed)
    booster = classifier.booster_
    if holdout > 0:
        # scored as in production: the held-out customers are their own peer population
        x_test, y_test = _xy(test_rows, labels, features)
        scores = np.asarray(booster.predict(x_test))
        metrics = {
            **ranking_metrics(y_test, scores),
            **classification_metrics(y_test, (scores >= threshold).astype(int)),
            "test_customers": len(y_test),
            "test_thieves": int(y_test.sum()),
        }

    trained_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    model_text = booster.model_to_string()
    attacks = dict(labels.filter(pl.col("label") == 1).group_by("attack").len().sort("attack").iter_rows())
    first, last = frame["date"].min(), frame["date"].max()
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": model_version(model_text, trained_at),
        "kind": "lightgbm-binary",
        "features": list(features),
        "threshold": float(threshold),
        "threshold_rule": "F1-best on 5-fold out-of-fold scores of the training customers",
        "trained_at": trained_at.isoformat(),
        "seed": seed,
        "holdout": holdout,
        "min_readings": MIN_READINGS,
        "lightgbm": lightgbm.__version__,
        "trees": booster.num_trees(),
        "data": {
            "source": data,
            "customers": int(labels.height),
            "thieves": int(labels["label"].sum()),
            "attacks": {str(k): int(v) for k, v in attacks.items()},
            "skipped_short": int(counts.height - keep.len()),
            "train_customers": len(y),
            "first_date": str(first) if first is not None else None,
            "last_date": str(last) if last is not None else None,
        },
        "metrics": _rounded(metrics),
    }
    return TheftModel(
        model_text=model_text,
        booster=booster,
        features=tuple(features),
        threshold=float(threshold),
        meta=meta,
    )


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    return value


# --- files -------------------------------------------------------------------------------


def save_model(model: TheftModel, parent: str | Path) -> Path:
    """Write the artefact into ``parent/<version>/`` (created; an existing directory of the
    same version must hold the same files) and return that directory."""
    target = Path(parent) / model.version
    if target.exists():
        existing = load_model(target)
        if existing.sha256 != model.sha256:
            raise ArtefactError(f"{target} already holds a different artefact")
        return target
    target.mkdir(parents=True)
    (target / MODEL_FILE).write_text(model.model_text, encoding="utf-8")
    (target / META_FILE).write_text(model.meta_json(), encoding="utf-8")
    (target / SUMS_FILE).write_text(model.sums(), encoding="utf-8")
    return target


def artefact_sha256(path: str | Path) -> str:
    """The SHA-256 of the artefact in ``path`` computed from its two files now."""
    folder = Path(path)
    try:
        model_bytes = (folder / MODEL_FILE).read_bytes()
        meta_bytes = (folder / META_FILE).read_bytes()
    except OSError as exc:
        raise ArtefactError(f"{folder}: cannot read the model files ({exc.strerror or exc})") from exc
    return hashlib.sha256(sums_text(model_bytes, meta_bytes).encode()).hexdigest()


def load_model(path: str | Path, *, expected_sha256: str | None = None) -> TheftModel:
    """Load and verify the artefact in ``path``.

    The SHA-256 computed from ``model.txt`` and ``meta.json`` must equal
    ``expected_sha256`` when given (the value the app recorded at registration), else the
    one ``SHA256SUMS`` states. Raises :class:`ArtefactError` otherwise, or when a file is
    missing or unreadable.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ArtefactError(f"{folder}: no model directory")
    actual = artefact_sha256(folder)
    if expected_sha256 is None:
        try:
            recorded = (folder / SUMS_FILE).read_text(encoding="utf-8")
        except OSError as exc:
            raise ArtefactError(f"{folder}: cannot read {SUMS_FILE}") from exc
        expected_sha256 = hashlib.sha256(recorded.encode()).hexdigest()
    if actual != expected_sha256:
        raise ArtefactError(
            f"{folder}: the model files do not match their SHA-256 "
            f"(expected {expected_sha256[:12]}…, found {actual[:12]}…); they were changed after training"
        )
    model_text = (folder / MODEL_FILE).read_text(encoding="utf-8")
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        features = tuple(str(name) for name in meta["features"])
        threshold = float(meta["threshold"])
        str(meta["version"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ArtefactError(f"{folder}: {META_FILE} is not a theft model description ({exc})") from exc
    unknown = [name for name in features if name not in FEATURE_NAMES]
    if unknown:
        raise ArtefactError(f"{folder}: unknown features {', '.join(unknown)}")
    try:
        booster = lightgbm.Booster(model_str=model_text)
    except lightgbm.basic.LightGBMError as exc:
        raise ArtefactError(f"{folder}: {MODEL_FILE} is not a LightGBM model ({exc})") from exc
    if booster.num_feature() != len(features):
        raise ArtefactError(
            f"{folder}: the booster reads {booster.num_feature()} features, meta.json names {len(features)}"
        )
    return TheftModel(
        model_text=model_text, booster=booster, features=features, threshold=threshold, meta=meta
    )
