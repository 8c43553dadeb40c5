"""Theft risk scores with reasons an inspector can act on (窃电风险评分与原因).

``score_customers(frame, model, groups=None)`` scores a long daily frame (customer_id,
date, kwh) with a :class:`~gridcare.inspection.engine.model.TheftModel` and returns one
row per customer (``SCORE_SCHEMA``):

- ``score``: the model's probability of theft, 0 … 1; ``rank``: 1 = highest score (ties
  by customer id); ``flagged``: ``score >= model.threshold``.
- **Peers.** The features compare a customer with its peers: the population being scored,
  per group (in the app the customer class). A group with fewer than ``MIN_GROUP``
  customers is scored against everyone instead (``peer_group`` is then ``"all"``). The
  peers' daily median curve is ``features.peer_reference`` of the peer population.
- **Reasons.** LightGBM's SHAP values (``pred_contrib=True``: each feature's additive
  contribution to the score in log-odds, summing with the bias to the raw score) rank the
  features for this customer; the three largest contributions are the reasons, positive
  ones (pushing towards theft) first. Each reason is the feature, the customer's value,
  the peer median (the median of that feature over the customer's peer population) and
  the contribution. TreeSHAP is the costly step (about 0.5–2 ms a customer on this
  2-core machine, against about 0.25 ms for the features and the score), so by default
  reasons are computed for the customers an inspector works from: every flagged one and
  the first ``EXPLAIN_TOP`` by rank (``explained`` true); the others have null reasons.
  ``explain_top=None`` explains everyone.
- **Suspicious window** (``window_start`` … ``window_end``, ``window_kind``), the part of
  the series the model found suspicious:

  1. ``zero_run``: the longest run of zero days (≤ 0.001 kWh), when it is at least
     ``ZERO_WINDOW_DAYS`` long;
  2. ``drop``: from the break the features found (the split of ``cusum_score``: the day
     where the mean of the peer-relative series falls the most, with 28 readings on each
     side) to the last reading, when the mean after it is at most ``DROP_WINDOW_RATIO``
     of the mean before it;
  3. with both, the zero run when the zero features (``zero_*``) contribute at least as
     much to the score as all other features together (positive contributions only;
     a customer without reasons counts 0 for both, so the zero run), else the drop;
     with neither, no window (null).

Customers with fewer than ``model.min_readings`` readings are not scored; they come back
in ``ScoreResult.skipped`` (customer_id, readings).

Vectorised: features in chunks of ``CHUNK`` customers (bounded memory), one booster call
for the scores and one for the contributions. Pure: no Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import polars as pl

from gridcare.inspection.engine.features import DETAIL_SCHEMA, customer_features_detail, peer_reference
from gridcare.inspection.engine.model import TheftModel, eligible_customers

MIN_GROUP: Final = 20
"""A group with fewer scored customers than this uses everyone as its peers."""

ALL_PEERS: Final = "all"
"""``peer_group`` of customers scored against everyone."""

REASONS: Final = 3
ZERO_WINDOW_DAYS: Final = 7
DROP_WINDOW_RATIO: Final = 0.85
ZERO_FEATURES: Final = ("zero_share", "zero_longest_run", "zero_share_late")

EXPLAIN_TOP: Final = 5_000
"""Reasons (SHAP) are computed for the flagged customers and this many from the top of
the ranking; TreeSHAP costs about 0.5–2 ms per customer on this machine."""

CHUNK: Final = 10_000
"""Customers per feature chunk."""


def _reason_schema() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(1, REASONS + 1):
        out |= {
            f"reason_{i}_feature": pl.String,
            f"reason_{i}_value": pl.Float64,
            f"reason_{i}_peer_median": pl.Float64,
            f"reason_{i}_contribution": pl.Float64,
        }
    return out


SCORE_SCHEMA: Final = pl.Schema(
    {
        "customer_id": pl.String,
        "peer_group": pl.String,
        "score": pl.Float64,
        "rank": pl.Int64,
        "flagged": pl.Boolean,
        "explained": pl.Boolean,
        **_reason_schema(),
        "window_start": pl.Date,
        "window_end": pl.Date,
        "window_kind": pl.String,
        "readings": pl.Int64,
    }
)
SKIPPED_SCHEMA: Final = pl.Schema({"customer_id": pl.String, "readings": pl.Int64})


@dataclass(frozen=True)
class ScoreResult:
    """The scored customers (``SCORE_SCHEMA``, sorted by rank) and the skipped ones."""

    scores: pl.DataFrame
    skipped: pl.DataFrame


def _clean(frame: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in ("customer_id", "date", "kwh") if c not in frame.columns]
    if missing:
        raise ValueError(f"the consumption frame lacks the columns {', '.join(missing)}")
    return frame.select(
        pl.col("customer_id").cast(pl.String),
        pl.col("date").cast(pl.Date),
        pl.col("kwh").cast(pl.Float64),
    ).filter(pl.col("kwh").is_not_null() & pl.col("kwh").is_not_nan() & pl.col("customer_id").is_not_null())


def peer_groups(customers: pl.DataFrame, groups: pl.DataFrame | None) -> pl.DataFrame:
    """customer_id → ``peer_group``: the customer's group when that group has at least
    ``MIN_GROUP`` of ``customers``, else ``ALL_PEERS`` (also for a missing group)."""
    if groups is None:
        return customers.select("customer_id", peer_group=pl.lit(ALL_PEERS))
    named = groups.select(pl.col("customer_id").cast(pl.String), pl.col("group").cast(pl.String)).unique(
        "customer_id", keep="first"
    )
    joined = customers.select("customer_id").join(named, on="customer_id", how="left")
    size = pl.len().over("group")
    return joined.select(
        "customer_id",
        peer_group=pl.when(pl.col("group").is_not_null() & (size >= MIN_GROUP))
        .then(pl.col("group"))
        .otherwise(pl.lit(ALL_PEERS)),
    )


def score_customers(
    frame: pl.DataFrame,
    model: TheftModel,
    groups: pl.DataFrame | None = None,
    *,
    explain_top: int | None = EXPLAIN_TOP,
) -> ScoreResult:
    """Score every customer of ``frame`` with enough readings (see the module docstring).

    ``groups``: optional (customer_id, group) frame; customers missing from it, or in a
    group of fewer than ``MIN_GROUP`` scored customers, use everyone as peers.
    ``explain_top``: reasons for the flagged customers and the first ``explain_top`` by
    rank (None: for everyone).
    """
    clean = _clean(frame)
    counts = eligible_customers(clean, model.min_readings)
    skipped = counts.filter(~pl.col("eligible")).select("customer_id", "readings")
    eligible = counts.filter("eligible").select("customer_id")
    if eligible.height == 0:
        return ScoreResult(scores=pl.DataFrame(schema=SCORE_SCHEMA), skipped=skipped.cast(SKIPPED_SCHEMA))

    # each customer's peer group and feature chunk; partitions, not a sort of every row
    assignment = (
        peer_groups(eligible, groups)
        .sort("peer_group", "customer_id")
        .with_columns(chunk=(pl.int_range(pl.len()).over("peer_group") // CHUNK).cast(pl.Int64))
    )
    rows = clean.join(assignment, on="customer_id", how="inner")
    everyone = peer_reference(rows) if assignment["peer_group"].eq(ALL_PEERS).any() else None
    partitions = rows.partition_by("peer_group", as_dict=True)
    del rows

    feature_parts: list[pl.DataFrame] = []
    detail_parts: list[pl.DataFrame] = []
    for key in sorted(partitions, key=str):
        group_rows = partitions.pop(key)
        name = str(group_rows["peer_group"][0])
        peers = everyone if name == ALL_PEERS and everyone is not None else peer_reference(group_rows)
        chunks = group_rows.partition_by("chunk", as_dict=True)
        for chunk_key in sorted(chunks, key=str):
            features, detail = customer_features_detail(chunks[chunk_key], peers)
            feature_parts.append(features.with_columns(peer_group=pl.lit(name)))
            detail_parts.append(detail)
    features = pl.concat(feature_parts)
    detail = pl.concat(detail_parts) if detail_parts else pl.DataFrame(schema=DETAIL_SCHEMA)
    scores = _score(features, detail, model, explain_top)
    return ScoreResult(scores=scores, skipped=skipped.cast(SKIPPED_SCHEMA))


def _score(
    features: pl.DataFrame, detail: pl.DataFrame, model: TheftModel, explain_top: int | None
) -> pl.DataFrame:
    names = list(model.features)
    n = features.height
    x = features.select(names).to_numpy()
    score = np.clip(np.asarray(model.booster.predict(x)), 0.0, 1.0)
    ids = features["customer_id"].to_numpy()
    order_by_rank = np.lexsort((ids, -score))
    rank = np.empty(n, dtype=np.int64)
    rank[order_by_rank] = np.arange(1, n + 1)
    flagged = score >= model.threshold

    # SHAP contributions of the explained customers (NaN for the others)
    explained = np.ones(n, dtype=bool) if explain_top is None else (rank <= explain_top) | flagged
    contrib = np.full((n, len(names)), np.nan)
    if explained.any():
        shap = np.asarray(model.booster.predict(x[explained], pred_contrib=True))
        contrib[explained] = shap[:, : len(names)]

    # the peer population of a group is the group; of ALL_PEERS, everyone scored
    medians = features.group_by("peer_group").agg(pl.col(names).median())
    everyone = features.select(pl.col(names).median())
    medians = pl.concat(
        [
            medians.filter(pl.col("peer_group") != ALL_PEERS),
            everyone.select(pl.lit(ALL_PEERS).alias("peer_group"), *names),
        ]
    )
    peer_median = (
        features.select("peer_group").join(medians, on="peer_group", how="left").select(names).to_numpy()
    )

    # reasons: the REASONS largest contributions, positive first, ties by feature order
    top = np.argsort(-np.nan_to_num(contrib, nan=0.0), axis=1, kind="stable")[:, :REASONS]
    rows = np.arange(n)
    feature_names = np.array(names, dtype=object)
    data: dict[str, Any] = {
        "customer_id": features["customer_id"],
        "peer_group": features["peer_group"],
        "score": score,
        "rank": rank,
        "flagged": flagged,
        "explained": explained,
    }
    for i in range(REASONS):
        if i < top.shape[1]:
            column = top[:, i]
            data[f"reason_{i + 1}_feature"] = np.where(
                explained, feature_names[column], np.full(n, None, dtype=object)
            ).tolist()
            data[f"reason_{i + 1}_value"] = np.where(explained, x[rows, column], np.nan)
            data[f"reason_{i + 1}_peer_median"] = np.where(explained, peer_median[rows, column], np.nan)
            data[f"reason_{i + 1}_contribution"] = contrib[rows, column]
        else:  # a model of fewer than REASONS features
            data[f"reason_{i + 1}_feature"] = [None] * n
            for part in ("value", "peer_median", "contribution"):
                data[f"reason_{i + 1}_{part}"] = np.full(n, np.nan)

    # the suspicious window
    zero_columns = [names.index(f) for f in ZERO_FEATURES if f in names]
    positive = np.maximum(np.nan_to_num(contrib, nan=0.0), 0.0)
    zero_weight = positive[:, zero_columns].sum(axis=1)
    other_weight = positive.sum(axis=1) - zero_weight
    det = features.select("customer_id").join(detail, on="customer_id", how="left")
    ratio = det["split_after_to_before"].fill_null(np.inf).to_numpy()
    has_zero = features["zero_longest_run"].to_numpy() >= ZERO_WINDOW_DAYS
    has_drop = det["split_date"].is_not_null().to_numpy() & (ratio <= DROP_WINDOW_RATIO)
    use_zero = has_zero & (~has_drop | (zero_weight >= other_weight))
    use_drop = has_drop & ~use_zero
    kind = np.full(n, None, dtype=object)
    kind[use_zero] = "zero_run"
    kind[use_drop] = "drop"
    data["window_kind"] = kind.tolist()

    table = pl.DataFrame(data).with_columns(
        pl.col(f"reason_{i}_{part}").fill_nan(None)
        for i in range(1, REASONS + 1)
        for part in ("value", "peer_median", "contribution")
    )
    table = table.with_columns(
        window_start=pl.when(pl.col("window_kind") == "zero_run")
        .then(det["zero_run_start"])
        .when(pl.col("window_kind") == "drop")
        .then(det["split_date"]),
        window_end=pl.when(pl.col("window_kind") == "zero_run")
        .then(det["zero_run_end"])
        .when(pl.col("window_kind") == "drop")
        .then(det["last_date"]),
        readings=det["readings"],
    )
    return table.sort("rank").select(list(SCORE_SCHEMA)).cast(SCORE_SCHEMA)


def reasons_of(row: dict[str, Any]) -> list[dict[str, Any]]:
    """A scored row's reasons as ``[{"feature", "value", "peer_median", "contribution"}]``
    (rounded to 4 decimals; reasons without a feature left out)."""
    out = []
    for i in range(1, REASONS + 1):
        feature = row.get(f"reason_{i}_feature")
        if not feature:
            continue
        out.append(
            {
                "feature": feature,
                "value": _round(row[f"reason_{i}_value"]),
                "peer_median": _round(row[f"reason_{i}_peer_median"]),
                "contribution": _round(row[f"reason_{i}_contribution"]),
            }
        )
    return out


def _round(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return round(number, 4) if np.isfinite(number) else None
