"""Inspection API: theft risk and line loss, mounted at ``/api/inspection/`` (docs/inspection-console.md).

Session login with CSRF, as the rest of the API; the same permissions as the console:

- ``GET /risk``, ``GET /risk/{account_id}``: ``inspection.view_riskscore`` (the risk list of the
  latest done scoring run and one account's explanation with its daily kWh series);
- ``POST /risk/runs``: ``inspection.add_scoringrun`` (score every account now);
- ``GET /line-loss``, ``GET /line-loss/{area_id}``: ``inspection.view_arealoss`` (the areas of the
  latest done line-loss run; one area with its series, flag reasons and ranked suspects);
- ``POST /line-loss/runs``: ``inspection.add_linelossrun`` (run the analysis now).

Portal customers and staff without the permission get 403, anonymous callers 401. Errors are
``{"code", "message", "field"}``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from gridcare.core.pagination import page_body, paginate
from gridcare.core.roles import require_staff_perm
from gridcare.inspection.labels import flag_reason_text
from gridcare.inspection.models import AreaLoss, LineLossRun, RiskScore, ScoringRun
from gridcare.inspection.selectors.lineloss import (
    area_loss_detail,
    area_losses_search,
    line_loss_run_latest,
)
from gridcare.inspection.selectors.risk import (
    risk_explanation,
    risk_reasons,
    risk_scores_search,
    score_tone,
    scoring_run_latest,
)

router = Router(tags=["inspection: risk and line loss"])

VIEW_RISK = "inspection.view_riskscore"
RUN_SCORING = "inspection.add_scoringrun"
VIEW_LOSS = "inspection.view_arealoss"
RUN_LOSS = "inspection.add_linelossrun"


class ErrorOut(Schema):
    """The one error format of GridCare."""

    code: str = Field(..., description="Stable error code: permission_denied, not_found, validation_failed …")
    message: str = Field(..., description="What went wrong, in the user's language.")
    field: str | None = Field(None, description="The input to blame, when one is.")


ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


# ---- schemas -------------------------------------------------------------------------------


class ScoringRunOut(Schema):
    """One scoring of the county's accounts."""

    id: int
    model_version: str = Field(..., description="Version of the theft model used.")
    threshold: float = Field(..., description="The model's threshold: scores at or above it are flagged.")
    window_start: dt.date = Field(..., description="First day of daily consumption scored.")
    window_end: dt.date = Field(..., description="Last day of daily consumption scored.")
    status: str = Field(..., description="running, done or failed.")
    started_at: dt.datetime
    finished_at: dt.datetime | None
    accounts_scored: int
    accounts_skipped: int
    flagged: int = Field(..., description="Accounts at or above the threshold.")
    seconds: float | None
    error: str
    triggered_by: str


class ReasonOut(Schema):
    """One of an account's top reasons (窃电风险原因)."""

    feature: str = Field(..., description="Feature name (engine.features.FEATURE_NAMES).")
    label: str = Field(..., description="The feature in words.")
    explanation: str = Field(..., description="One plain sentence on what the feature measures.")
    value: float | None = Field(..., description="The customer's value.")
    value_text: str = Field(..., description="The customer's value as shown (%, days, kWh …).")
    peer_median: float | None = Field(..., description="Median value of the customers of the same class.")
    peer_text: str
    contribution: float = Field(..., description="SHAP contribution to the score (larger = more suspicious).")


class RiskScoreOut(Schema):
    """One account of the risk list."""

    id: int = Field(..., description="RiskScore id (the risk_score of a task created from the list).")
    account_id: int
    number: str = Field(..., description="户号.")
    customer_name: str
    customer_class: str
    transformer_id: int | None
    transformer_code: str
    transformer_name: str
    area_type: str
    score: float = Field(..., description="Risk score 0..1.")
    rank: int = Field(..., description="1 = highest risk of the run.")
    flagged: bool = Field(..., description="At or above the model's threshold.")
    tone: str = Field(..., description="high (flagged), medium (≥ half the threshold) or low.")
    window_start: dt.date | None = Field(..., description="Start of the suspicious window, when located.")
    window_end: dt.date | None
    top_reason: ReasonOut | None
    has_open_task: bool = Field(
        ..., description="The account already has a planned, assigned or on-site task."
    )


class RiskPageOut(Schema):
    run: ScoringRunOut | None = Field(
        ..., description="The run listed (the latest done run); null when none."
    )
    items: list[RiskScoreOut]
    page: int
    pages: int
    total: int
    per_page: int


class DayOut(Schema):
    day: dt.date
    kwh: float | None = Field(..., description="The account's kWh that day (null: no figure).")
    peer_median: float | None = Field(..., description="Median kWh of the same-class customers that day.")


class HistoryOut(Schema):
    run_id: int
    window_end: dt.date
    model: str
    score: float
    rank: int
    flagged: bool


class RiskDetailOut(RiskScoreOut):
    """One account's explanation."""

    run: ScoringRunOut
    reasons: list[ReasonOut]
    series: list[DayOut] = Field(..., description="Every day of the run's window.")
    history: list[HistoryOut] = Field(..., description="Scores of this account in past runs, oldest first.")
    open_task_ids: list[int]
    case_ids: list[int]


class RiskFilters(Schema):
    q: str = Field("", description="户号 (prefix) or customer name.")
    transformer_id: int | None = Field(None, description="Transformer area id.")
    area_type: str = Field("", description="urban, rural or remote.")
    customer_class: str = Field("", description="Customer class code.")
    min_score: float | None = Field(None, ge=0, le=1, description="Minimum risk score.")
    flagged_only: bool = Field(False, description="Only accounts at or above the threshold.")
    sort: str = Field("rank", description="rank, -rank, score, -score, number or -number.")
    page: int = Field(1, description="Page number, from 1.")
    per_page: int = Field(25, description="Rows per page (at most 200).")


class LineLossRunOut(Schema):
    id: int
    window_start: dt.date
    window_end: dt.date
    rate_threshold_pct: Decimal
    jump_threshold_pct: Decimal
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime | None
    areas: int
    flagged: int
    seconds: float | None
    error: str
    triggered_by: str


class FlagReasonOut(Schema):
    code: str = Field(..., description="rate_above, jump or negative.")
    label: str
    text: str = Field(..., description="The reason in a sentence.")
    value: float | None
    threshold: float | None


class AreaOut(Schema):
    id: int = Field(..., description="AreaLoss id (the area_loss of a task created from the area).")
    transformer_id: int
    code: str
    name: str
    area_type: str
    feeder: str
    input_kwh: Decimal
    billed_kwh: Decimal
    loss_rate_pct: Decimal | None
    baseline_rate_pct: Decimal | None
    recent_rate_pct: Decimal | None
    complete_days: int
    flagged: bool
    flag_reasons: list[FlagReasonOut]


class AreaPageOut(Schema):
    run: LineLossRunOut | None
    items: list[AreaOut]
    page: int
    pages: int
    total: int
    per_page: int


class SeriesDayOut(Schema):
    day: str
    input_kwh: float | None
    billed_kwh: float | None
    loss_kwh: float | None
    rate_pct: float | None = Field(..., description="Null when the day is incomplete.")
    complete: bool


class SuspectOut(Schema):
    position: int
    account_id: int | None
    number: str
    customer_name: str
    score: float | None
    drop_kwh_per_day: float | None
    correlation: float | None
    baseline_kwh_per_day: float | None
    recent_kwh_per_day: float | None
    risk_score: float | None = Field(
        ..., description="The account's theft risk score in the latest scoring run."
    )
    risk_score_id: int | None
    has_open_task: bool = Field(
        ..., description="The account already has a planned, assigned or on-site task."
    )


class AreaDetailOut(AreaOut):
    run: LineLossRunOut
    series: list[SeriesDayOut]
    suspects: list[SuspectOut]


class AreaFilters(Schema):
    q: str = Field("", description="Transformer code (prefix) or name.")
    flagged_only: bool = Field(False, description="Only flagged areas.")
    area_type: str = Field("", description="urban, rural or remote.")
    feeder_id: int | None = Field(None, description="Feeder id.")
    sort: str = Field("flagged", description="flagged, -recent, recent, -jump, -rate, -input or code.")
    page: int = Field(1, description="Page number, from 1.")
    per_page: int = Field(25, description="Rows per page (at most 200).")


# ---- mapping -------------------------------------------------------------------------------


def scoring_run_out(run: ScoringRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "model_version": run.artefact.version,
        "threshold": run.artefact.threshold,
        "window_start": run.window_start,
        "window_end": run.window_end,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "accounts_scored": run.accounts_scored,
        "accounts_skipped": run.accounts_skipped,
        "flagged": run.flagged,
        "seconds": run.seconds,
        "error": run.error,
        "triggered_by": run.triggered_by,
    }


def risk_score_out(score: RiskScore, threshold: float) -> dict[str, Any]:
    reasons = risk_reasons(score)
    transformer = score.transformer
    return {
        "id": score.pk,
        "account_id": score.account_id,
        "number": score.account.number,
        "customer_name": score.account.customer.name,
        "customer_class": score.customer_class,
        "transformer_id": score.transformer_id,
        "transformer_code": transformer.code if transformer else "",
        "transformer_name": transformer.name if transformer else "",
        "area_type": transformer.area_type if transformer else "",
        "score": score.score,
        "rank": score.rank,
        "flagged": score.flagged,
        "tone": score_tone(score.score, threshold),
        "window_start": score.window_start,
        "window_end": score.window_end,
        "top_reason": reasons[0] if reasons else None,
        "has_open_task": bool(getattr(score, "has_open_task", False)),
    }


def line_loss_run_out(run: LineLossRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "window_start": run.window_start,
        "window_end": run.window_end,
        "rate_threshold_pct": run.rate_threshold_pct,
        "jump_threshold_pct": run.jump_threshold_pct,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "areas": run.areas,
        "flagged": run.flagged,
        "seconds": run.seconds,
        "error": run.error,
        "triggered_by": run.triggered_by,
    }


def _reason_out(reason: dict[str, Any]) -> dict[str, Any]:
    text = flag_reason_text(reason)

    def number(value: Any) -> float | None:
        try:
            return None if value is None else float(value)
        except (TypeError, ValueError):
            return None

    return {**text, "value": number(text["value"]), "threshold": number(text["threshold"])}


def area_out(area: AreaLoss) -> dict[str, Any]:
    t = area.transformer
    return {
        "id": area.pk,
        "transformer_id": t.pk,
        "code": t.code,
        "name": t.name,
        "area_type": t.area_type,
        "feeder": t.feeder.code,
        "input_kwh": area.input_kwh,
        "billed_kwh": area.billed_kwh,
        "loss_rate_pct": area.loss_rate_pct,
        "baseline_rate_pct": area.baseline_rate_pct,
        "recent_rate_pct": area.recent_rate_pct,
        "complete_days": area.complete_days,
        "flagged": area.flagged,
        "flag_reasons": [_reason_out(r) for r in (area.flag_reasons or []) if isinstance(r, dict)],
    }


# ---- risk ----------------------------------------------------------------------------------


@router.get("/risk", response={200: RiskPageOut, **ERRORS}, summary="Theft risk list (窃电风险清单)")
def risk_list(request: HttpRequest, filters: Query[RiskFilters]) -> Any:
    """The scores of the latest done scoring run matching every filter, a page at a time
    (``run`` is null and ``items`` empty when no run has finished). A ``page`` past the end
    gives the last page."""
    require_staff_perm(request.user, VIEW_RISK)
    run = scoring_run_latest()
    if run is None:
        return {"run": None, "items": [], "page": 1, "pages": 1, "total": 0, "per_page": filters.per_page}
    scores = risk_scores_search(run=run, **filters.dict(exclude={"page", "per_page"}))
    page = paginate(request, scores)
    return {
        "run": scoring_run_out(run),
        **page_body(page, lambda s: risk_score_out(s, run.artefact.threshold)),
    }


@router.get(
    "/risk/{int:account_id}",
    response={200: RiskDetailOut, **ERRORS},
    summary="One account's theft risk explanation",
)
def risk_detail(request: HttpRequest, account_id: int) -> Any:
    """The account's score in the latest done run with its top reasons in words, the daily kWh
    of the run's window beside the median of its class, the suspicious window, its score in
    past runs and its open inspection tasks and cases. 404 when it has no score in that run."""
    require_staff_perm(request.user, VIEW_RISK)
    x = risk_explanation(account_id=account_id)
    chart = x.chart
    return {
        **risk_score_out(x.score, x.run.artefact.threshold),
        "has_open_task": bool(x.open_tasks),
        "run": scoring_run_out(x.run),
        "reasons": x.reasons,
        "series": [
            {"day": day, "kwh": kwh, "peer_median": peer}
            for day, kwh, peer in zip(chart["days"], chart["kwh"], chart["peer_median"], strict=True)
        ],
        "history": x.history,
        "open_task_ids": [t.pk for t in x.open_tasks],
        "case_ids": [c.pk for c in x.cases],
    }


@router.post(
    "/risk/runs", response={201: ScoringRunOut, 400: ErrorOut, **ERRORS}, summary="Run theft scoring now"
)
def risk_run(request: HttpRequest) -> Any:
    """Scores every active account now with the active model over the 365 days ending yesterday
    (what the nightly job does at 03:00) and answers the done run. 404 ``not_found`` when no
    model is active; 400 when the run failed (the model files cannot be used, the scoring broke:
    the run is recorded as failed with its error on the scoring runs page)."""
    user = request.user
    require_staff_perm(user, RUN_SCORING)
    from gridcare.inspection.services.scoring import scoring_run

    run = scoring_run(actor=user)
    run = ScoringRun.objects.select_related("artefact").get(pk=run.pk)
    return Status(201, scoring_run_out(run))


# ---- line loss -----------------------------------------------------------------------------


@router.get("/line-loss", response={200: AreaPageOut, **ERRORS}, summary="Line-loss areas (台区线损)")
def line_loss_list(request: HttpRequest, filters: Query[AreaFilters]) -> Any:
    """The areas of the latest done line-loss run matching every filter, a page at a time
    (``run`` null and ``items`` empty when no run has finished)."""
    require_staff_perm(request.user, VIEW_LOSS)
    run = line_loss_run_latest()
    if run is None:
        return {"run": None, "items": [], "page": 1, "pages": 1, "total": 0, "per_page": filters.per_page}
    areas = area_losses_search(run=run, **filters.dict(exclude={"page", "per_page"}))
    page = paginate(request, areas)
    return {
        "run": line_loss_run_out(run),
        **page_body(page, area_out),
    }


@router.get(
    "/line-loss/{int:area_id}",
    response={200: AreaDetailOut, **ERRORS},
    summary="One area's line loss with its suspects",
)
def line_loss_area(request: HttpRequest, area_id: int) -> Any:
    """One area (an ``AreaLoss`` id of a done run): its daily series, why it is flagged and its
    customers ranked by how their drop lines up with the loss increase."""
    require_staff_perm(request.user, VIEW_LOSS)
    detail = area_loss_detail(area_id=area_id)
    series = [
        {
            "day": str(s.get("day", "")),
            "input_kwh": s.get("input_kwh"),
            "billed_kwh": s.get("billed_kwh"),
            "loss_kwh": s.get("loss_kwh"),
            "rate_pct": s.get("rate_pct"),
            "complete": bool(s.get("complete", s.get("rate_pct") is not None)),
        }
        for s in (detail.area.series or [])
        if isinstance(s, dict)
    ]
    return {
        **area_out(detail.area),
        "run": line_loss_run_out(detail.run),
        "series": series,
        "suspects": detail.suspects,
    }


@router.post(
    "/line-loss/runs", response={201: LineLossRunOut, **ERRORS}, summary="Run the line-loss analysis now"
)
def line_loss_run_now(request: HttpRequest) -> Any:
    """Analyses every public transformer area now over the last 30 days with the configured
    thresholds (what the nightly job does at 02:30). The answer is the run."""
    user = request.user
    require_staff_perm(user, RUN_LOSS)
    from gridcare.inspection.services.lineloss import line_loss_run

    run = line_loss_run(actor=user)
    return Status(201, line_loss_run_out(run))
