"""Reads of theft risk scoring (窃电风险) for the console and the API.

* :func:`scoring_run_latest` — the latest *done* ``ScoringRun``: the risk list and the
  explanations show only its scores (a running or failed run never replaces it);
* :func:`risk_scores_search` — the risk list of a run with its filters (transformer area,
  area type, customer class, minimum score, flagged only, 户号/customer name) and sorts;
* :func:`risk_explanation` — one account's explanation: its score in the latest run, the
  top reasons in words, the daily consumption of the run's window with the suspicious window
  and the peer median line, the score history across runs, its open inspection tasks and its
  cases;
* :func:`peer_median_daily` — the median daily kWh of the customers of one class on each
  day of a run's window (set-based, Polars);
* :func:`score_tone` — high (flagged: at or above the model's threshold), medium (at or
  above half the threshold) or low; the list's colours.

Who may read: staff holding ``inspection.view_riskscore`` (the views and the API check it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final, cast

import polars as pl
from django.core.cache import cache
from django.db.models import Exists, OuterRef, Q, QuerySet

from gridcare.core.errors import NotFound
from gridcare.inspection.choices import OPEN_TASK_STATUSES, RunStatus
from gridcare.inspection.labels import feature_label, feature_value_text
from gridcare.inspection.models import (
    AreaLoss,
    Case,
    InspectionTask,
    LineLossRun,
    ModelArtefact,
    RiskScore,
    ScoringRun,
)
from gridcare.inspection.services.consumption import accounts_daily_kwh

__all__ = [
    "PEER_SAMPLE",
    "RISK_SORTS",
    "TONE_BADGE",
    "RiskExplanation",
    "model_active_get",
    "peer_median_daily",
    "risk_explanation",
    "risk_reasons",
    "risk_scores_search",
    "scoring_run_latest",
    "scoring_runs_list",
    "score_tone",
]

PEER_SAMPLE: Final = 1000
"""At most this many same-class accounts (evenly spaced by id) make the peer median line: the
median of 1,000 is within a few per cent of the whole class and reads in well under a second."""

PEER_CACHE_SECONDS: Final = 3600
HISTORY_RUNS: Final = 30

RISK_SORTS: Final[dict[str, tuple[str, ...]]] = {
    "rank": ("rank",),
    "-rank": ("-rank",),
    "-score": ("-score", "rank"),
    "score": ("score", "-rank"),
    "number": ("account__number",),
    "-number": ("-account__number",),
}
"""The list's sort keys (``rank`` is the default: highest risk first)."""

TONE_BADGE: Final = {"high": "danger", "medium": "warn", "low": "muted"}


def scoring_run_latest() -> ScoringRun | None:
    """The latest scoring run that finished (status done), with its model."""
    return (
        ScoringRun.objects.filter(status=RunStatus.DONE)
        .select_related("artefact")
        .order_by("-started_at", "-id")
        .first()
    )


def scoring_runs_list() -> QuerySet[ScoringRun]:
    """Every scoring run, newest first, with its model."""
    return ScoringRun.objects.select_related("artefact").order_by("-started_at", "-id")


def model_active_get() -> ModelArtefact | None:
    """The active theft model (at most one)."""
    return ModelArtefact.objects.filter(is_active=True).first()


def score_tone(score: float, threshold: float | None) -> str:
    """``high`` at or above the model's threshold, ``medium`` at or above half of it, else
    ``low`` (without a threshold: 0.5 and 0.25)."""
    limit = 0.5 if threshold is None else float(threshold)
    if score >= limit:
        return "high"
    if score >= limit / 2:
        return "medium"
    return "low"


def risk_scores_search(
    *,
    run: ScoringRun,
    transformer_id: int | None = None,
    area_type: str = "",
    customer_class: str = "",
    min_score: float | None = None,
    flagged_only: bool = False,
    q: str = "",
    sort: str = "rank",
) -> QuerySet[RiskScore]:
    """The scores of ``run`` matching every filter given, in ``sort`` order (``RISK_SORTS``;
    an unknown key sorts by rank). ``q`` matches the 户号 by prefix or the customer's name.
    Each row carries ``has_open_task``: the account already has a planned, assigned or
    on-site inspection task (so nobody creates a second one by mistake)."""
    scores = RiskScore.objects.filter(run=run).select_related(
        "account__customer", "account__service_point", "transformer"
    )
    if transformer_id is not None:
        scores = scores.filter(transformer_id=transformer_id)
    if area_type:
        scores = scores.filter(transformer__area_type=area_type)
    if customer_class:
        scores = scores.filter(customer_class=customer_class)
    if min_score is not None:
        scores = scores.filter(score__gte=min_score)
    if flagged_only:
        scores = scores.filter(flagged=True)
    text = q.strip()
    if text:
        scores = scores.filter(
            Q(account__number__startswith=text) | Q(account__customer__name__icontains=text)
        )
    open_task = InspectionTask.objects.filter(
        account_id=OuterRef("account_id"), status__in=OPEN_TASK_STATUSES
    )
    return scores.annotate(has_open_task=Exists(open_task)).order_by(
        *RISK_SORTS.get(sort, RISK_SORTS["rank"])
    )


def risk_reasons(score: RiskScore) -> list[dict[str, Any]]:
    """The top reasons of ``score`` in words: feature, label, explanation, value and peer median
    (raw and as text), contribution and its bar width in % of the largest contribution."""
    raw = [r for r in (score.reasons or []) if isinstance(r, dict)]
    largest = max((abs(float(r.get("contribution") or 0.0)) for r in raw), default=0.0)
    out = []
    for reason in raw:
        name = str(reason.get("feature", ""))
        label = feature_label(name)
        value = _float(reason.get("value"))
        peer = _float(reason.get("peer_median"))
        contribution = _float(reason.get("contribution")) or 0.0
        out.append(
            {
                "feature": name,
                "label": str(label.label),
                "explanation": str(label.explanation),
                "value": value,
                "value_text": feature_value_text(name, value),
                "peer_median": peer,
                "peer_text": feature_value_text(name, peer),
                "contribution": contribution,
                "bar_pct": round(abs(contribution) / largest * 100) if largest > 0 else 0,
            }
        )
    return out


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _class_order_stats(run: ScoringRun, customer_class: str) -> dict[str, Any]:
    """The peers of a class in a run, summarised per day for exact medians with or without any
    one of them: ``ids`` (the sampled account ids) and per day ``n`` (peers with a figure),
    ``offset`` and ``middle`` (the sorted values ``offset … offset + 3`` around the median).
    One set-based read and one Polars group-by; cached per run and class (a done run never
    changes), so every explanation of the class after the first reads no consumption of peers."""
    key = f"inspection:peer-stats:{run.pk}:{run.started_at.isoformat()}:{customer_class}"
    cached = cache.get(key)
    if cached is not None:
        return cast(dict[str, Any], cached)
    ids = list(
        RiskScore.objects.filter(run=run, customer_class=customer_class)
        .order_by("account_id")
        .values_list("account_id", flat=True)
    )
    if len(ids) > PEER_SAMPLE:
        step = len(ids) / PEER_SAMPLE
        ids = [ids[int(i * step)] for i in range(PEER_SAMPLE)]
    days: dict[str, Any] = {}
    if ids:
        daily = accounts_daily_kwh(start=run.window_start, end=run.window_end, account_ids=ids)
        offset = ((pl.len() - 1) // 2 - 1).clip(lower_bound=0)
        stats = daily.group_by("day").agg(
            n=pl.len(),
            offset=offset,
            middle=pl.col("kwh").sort().slice(offset, 4),
        )
        for day, n, start, middle in stats.iter_rows():
            days[day.isoformat()] = (int(n), int(start), [float(v) for v in middle])
    stats_out = {"ids": ids, "days": days}
    cache.set(key, stats_out, PEER_CACHE_SECONDS)
    return stats_out


def _median_without(n: int, offset: int, middle: list[float], x: float | None) -> float | None:
    """The median of the ``n`` sorted values (``middle`` = values ``offset …``) without one value
    equal to ``x`` (``x`` None: all of them). Removing the first ``x`` shifts every later
    position down by one: the value at position ``i`` becomes ``v[i + 1]`` when ``v[i] ≥ x``."""

    def v(i: int) -> float:
        return middle[i - offset]

    if x is None:
        return v((n - 1) // 2) if n % 2 else (v(n // 2 - 1) + v(n // 2)) / 2
    m = n - 1
    if m == 0:
        return None

    def w(i: int) -> float:
        return v(i + 1) if v(i) >= x else v(i)

    return w((m - 1) // 2) if m % 2 else (w(m // 2 - 1) + w(m // 2)) / 2


def peer_median_daily(
    *, run: ScoringRun, customer_class: str, exclude_account_id: int | None = None
) -> pl.DataFrame:
    """``day``, ``kwh``: the median daily kWh of the accounts of ``customer_class`` scored in
    ``run`` (at most ``PEER_SAMPLE`` of them, evenly spaced by id) on each day of the run's
    window, without ``exclude_account_id`` (exact: the account's own figure is taken out of
    each day's order statistics). Days where no peer is left are absent."""
    stats = _class_order_stats(run, customer_class)
    own: dict[str, float] = {}
    if exclude_account_id is not None and exclude_account_id in set(stats["ids"]):
        mine = accounts_daily_kwh(
            start=run.window_start, end=run.window_end, account_ids=[exclude_account_id]
        )
        own = {d.isoformat(): float(k) for _, d, k in mine.iter_rows()}
    rows = []
    for day, (n, offset, middle) in sorted(stats["days"].items()):
        median = _median_without(n, offset, middle, own.get(day))
        if median is not None:
            rows.append((dt.date.fromisoformat(day), median))
    return pl.DataFrame(rows, schema={"day": pl.Date, "kwh": pl.Float64}, orient="row")


@dataclass
class RiskExplanation:
    """What the explanation page and ``GET /risk/{account_id}`` show of one account."""

    score: RiskScore
    run: ScoringRun
    tone: str
    reasons: list[dict[str, Any]]
    chart: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    open_tasks: list[InspectionTask] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    area_loss: AreaLoss | None = None
    """The account's transformer area in the latest done line-loss run (the other signal)."""


def _chart(score: RiskScore, run: ScoringRun) -> dict[str, Any]:
    """Daily kWh of the account over the run's window (None on a day without a figure), the
    peer median of its class on the same days, and the suspicious window."""
    start, end = run.window_start, run.window_end
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    own = accounts_daily_kwh(start=start, end=end, account_ids=[score.account_id])
    own_by_day = dict(zip(own["day"].to_list(), own["kwh"].to_list(), strict=True))
    peers = peer_median_daily(
        run=run, customer_class=score.customer_class, exclude_account_id=score.account_id
    )
    peer_by_day = dict(zip(peers["day"].to_list(), peers["kwh"].to_list(), strict=True))
    kwh = [None if own_by_day.get(d) is None else round(float(own_by_day[d]), 3) for d in days]
    peer = [None if peer_by_day.get(d) is None else round(float(peer_by_day[d]), 3) for d in days]
    present = [v for v in kwh if v is not None]
    return {
        "days": [d.isoformat() for d in days],
        "kwh": kwh,
        "peer_median": peer,
        "window": (
            [score.window_start.isoformat(), score.window_end.isoformat()]
            if score.window_start and score.window_end
            else None
        ),
        "unit": "kWh",
        "count": len(present),
        "total": round(sum(present), 3),
        "start": start.isoformat(),
        "end": end.isoformat(),
    }


def risk_explanation(*, account_id: int) -> RiskExplanation:
    """The explanation of ``account_id`` in the latest done run; ``NotFound`` when there is no
    such run or the account has no score in it."""
    run = scoring_run_latest()
    if run is None:
        raise NotFound()
    score = (
        RiskScore.objects.filter(run=run, account_id=account_id)
        .select_related(
            "account__customer",
            "account__service_point__transformer__feeder",
            "transformer",
        )
        .first()
    )
    if score is None:
        raise NotFound()
    score.run = run
    history = [
        {
            "run_id": s.run_id,
            "window_end": s.run.window_end,
            "started_at": s.run.started_at,
            "model": s.run.artefact.version,
            "score": s.score,
            "rank": s.rank,
            "flagged": s.flagged,
            "accounts": s.run.accounts_scored,
        }
        for s in RiskScore.objects.filter(account_id=account_id, run__status=RunStatus.DONE)
        .select_related("run__artefact")
        .order_by("-run__started_at", "-run_id")[:HISTORY_RUNS]
    ][::-1]
    open_tasks = list(
        InspectionTask.objects.filter(account_id=account_id, status__in=OPEN_TASK_STATUSES)
        .select_related("inspector")
        .order_by("due_on", "id")
    )
    cases = list(Case.objects.filter(account_id=account_id).order_by("-created_at", "-id")[:20])
    latest_loss = _latest_line_loss_run_id()
    area_loss = (
        AreaLoss.objects.filter(run_id=latest_loss, transformer_id=score.account.service_point.transformer_id)
        .select_related("run")
        .first()
        if latest_loss is not None
        else None
    )
    return RiskExplanation(
        score=score,
        run=run,
        tone=score_tone(score.score, run.artefact.threshold),
        reasons=risk_reasons(score),
        chart=_chart(score, run),
        history=history,
        open_tasks=open_tasks,
        cases=cases,
        area_loss=area_loss,
    )


def _latest_line_loss_run_id() -> int | None:
    return (
        LineLossRun.objects.filter(status=RunStatus.DONE)
        .order_by("-started_at", "-id")
        .values_list("id", flat=True)
        .first()
    )
