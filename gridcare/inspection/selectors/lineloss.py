"""Reads of the transformer-area line-loss analysis (台区线损) for the console and the API.

* :func:`line_loss_run_latest` — the latest *done* ``LineLossRun`` (the dashboard's run);
* :func:`area_losses_search` — its areas with the dashboard's filters (flagged only, area
  type, feeder, code/name) and sorts;
* :func:`area_losses_chart` — the dashboard chart's data: one bar per area of the recent
  loss rate (flagged areas marked), the run's threshold;
* :func:`area_loss_detail` — one area: the daily series for its chart, the flag reasons in
  words and the ranked suspects with their customer and, when the account has a score in
  the latest scoring run, the link to its explanation.

Who may read: staff holding ``inspection.view_arealoss`` (the views and the API check it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from django.db.models import F, Q, QuerySet

from gridcare.core.errors import NotFound
from gridcare.customers.models import Account, Feeder
from gridcare.inspection.choices import OPEN_TASK_STATUSES, RunStatus
from gridcare.inspection.labels import flag_reason_text
from gridcare.inspection.models import AreaLoss, InspectionTask, LineLossRun, RiskScore
from gridcare.inspection.selectors.risk import scoring_run_latest

__all__ = [
    "AREA_SORTS",
    "CHART_AREAS",
    "AreaLossDetail",
    "area_loss_detail",
    "area_losses_chart",
    "area_losses_search",
    "feeders_of_run",
    "line_loss_run_latest",
    "line_loss_runs_recent",
]

CHART_AREAS: Final = 60
"""The dashboard chart shows at most this many areas (the first of the table's order)."""

AREA_SORTS: Final[dict[str, tuple[Any, ...]]] = {
    "flagged": ("-flagged", F("recent_rate_pct").desc(nulls_last=True), "transformer__code"),
    "-recent": (F("recent_rate_pct").desc(nulls_last=True), "transformer__code"),
    "recent": (F("recent_rate_pct").asc(nulls_last=True), "transformer__code"),
    "-rate": (F("loss_rate_pct").desc(nulls_last=True), "transformer__code"),
    "-jump": (F("jump").desc(nulls_last=True), "transformer__code"),
    "-input": ("-input_kwh", "transformer__code"),
    "code": ("transformer__code",),
}
"""The dashboard's sort keys (``flagged`` is the default: flagged areas first, then the
highest recent rate)."""


def line_loss_run_latest() -> LineLossRun | None:
    """The latest line-loss run that finished (status done)."""
    return LineLossRun.objects.filter(status=RunStatus.DONE).order_by("-started_at", "-id").first()


def line_loss_runs_recent(limit: int = 10) -> list[LineLossRun]:
    """The last ``limit`` runs of any status, newest first."""
    return list(LineLossRun.objects.order_by("-started_at", "-id")[:limit])


def feeders_of_run(run: LineLossRun) -> QuerySet[Feeder]:
    """The feeders of the run's areas (the feeder filter's choices)."""
    return Feeder.objects.filter(
        transformers__in=AreaLoss.objects.filter(run=run).values("transformer_id")
    ).distinct()


def area_losses_search(
    *,
    run: LineLossRun,
    flagged_only: bool = False,
    area_type: str = "",
    feeder_id: int | None = None,
    q: str = "",
    sort: str = "flagged",
) -> QuerySet[AreaLoss]:
    """The areas of ``run`` matching every filter, in ``sort`` order (``AREA_SORTS``; an unknown
    key gives the default). ``q`` matches the transformer's code by prefix or its name."""
    areas = AreaLoss.objects.filter(run=run).select_related("transformer__feeder")
    if flagged_only:
        areas = areas.filter(flagged=True)
    if area_type:
        areas = areas.filter(transformer__area_type=area_type)
    if feeder_id is not None:
        areas = areas.filter(transformer__feeder_id=feeder_id)
    text = q.strip()
    if text:
        areas = areas.filter(Q(transformer__code__istartswith=text) | Q(transformer__name__icontains=text))
    areas = areas.annotate(jump=F("recent_rate_pct") - F("baseline_rate_pct"))
    return areas.order_by(*AREA_SORTS.get(sort, AREA_SORTS["flagged"]))


def _pct(value: Any) -> float | None:
    return None if value is None else float(value)


def area_losses_chart(areas: QuerySet[AreaLoss], run: LineLossRun) -> dict[str, Any]:
    """One bar per area (the first ``CHART_AREAS`` of ``areas``): code, recent loss rate,
    flagged; with the run's rate threshold."""
    rows = list(
        areas.values_list("pk", "transformer__code", "transformer__name", "recent_rate_pct", "flagged")[
            :CHART_AREAS
        ]
    )
    return {
        "ids": [row[0] for row in rows],
        "codes": [row[1] for row in rows],
        "names": [row[2] for row in rows],
        "rates": [_pct(row[3]) for row in rows],
        "flagged": [bool(row[4]) for row in rows],
        "threshold": float(run.rate_threshold_pct),
        "jump_threshold": float(run.jump_threshold_pct),
        "unit": "%",
    }


@dataclass
class AreaLossDetail:
    """What the area page and ``GET /line-loss/{area_id}`` show of one area."""

    area: AreaLoss
    run: LineLossRun
    reasons: list[dict[str, Any]]
    chart: dict[str, Any]
    suspects: list[dict[str, Any]]
    incomplete_days: int


def _series_chart(area: AreaLoss, run: LineLossRun) -> dict[str, Any]:
    series = [s for s in (area.series or []) if isinstance(s, dict)]
    return {
        "days": [str(s.get("day", "")) for s in series],
        "input": [_pct(s.get("input_kwh")) for s in series],
        "billed": [_pct(s.get("billed_kwh")) for s in series],
        "loss": [_pct(s.get("loss_kwh")) for s in series],
        "rate": [_pct(s.get("rate_pct")) for s in series],
        "complete": [bool(s.get("complete", s.get("rate_pct") is not None)) for s in series],
        "threshold": float(run.rate_threshold_pct),
        "change_day": area.change_day.isoformat() if area.change_day else None,
        "unit": "kWh",
    }


def area_loss_detail(*, area_id: int) -> AreaLossDetail:
    """One area of a done run with its chart, flag reasons and suspects; ``NotFound`` for an
    unknown id or an area of a run that is not done."""
    area = (
        AreaLoss.objects.filter(pk=area_id, run__status=RunStatus.DONE)
        .select_related("run", "transformer__feeder")
        .first()
    )
    if area is None:
        raise NotFound()
    raw = [s for s in (area.suspects or []) if isinstance(s, dict)]
    ids = [int(s["account_id"]) for s in raw if str(s.get("account_id", "")).isdigit()]
    accounts = {
        a.pk: a
        for a in Account.objects.filter(pk__in=ids)
        .select_related("customer")
        .only("number", "customer__name")
    }
    scoring = scoring_run_latest()
    scored: dict[int, RiskScore] = {}
    if scoring is not None and ids:
        scored = {
            s.account_id: s
            for s in RiskScore.objects.filter(run=scoring, account_id__in=ids).only(
                "account_id", "score", "rank", "flagged"
            )
        }
    tasked = set(
        InspectionTask.objects.filter(account_id__in=ids, status__in=OPEN_TASK_STATUSES).values_list(
            "account_id", flat=True
        )
    )
    suspects = []
    for position, suspect in enumerate(raw, start=1):
        account_id = int(suspect["account_id"]) if str(suspect.get("account_id", "")).isdigit() else None
        account = accounts.get(account_id) if account_id is not None else None
        risk = scored.get(account_id) if account_id is not None else None
        suspects.append(
            {
                "position": position,
                "account_id": account_id,
                "number": suspect.get("number") or (account.number if account else ""),
                "customer_name": account.customer.name if account else "",
                "score": _pct(suspect.get("score")),
                "drop_kwh_per_day": _pct(suspect.get("drop_kwh_per_day")),
                "correlation": _pct(suspect.get("correlation")),
                "baseline_kwh_per_day": _pct(suspect.get("baseline_kwh_per_day")),
                "recent_kwh_per_day": _pct(suspect.get("recent_kwh_per_day")),
                "risk_score": risk.score if risk else None,
                "risk_score_id": risk.pk if risk else None,
                "risk_flagged": risk.flagged if risk else False,
                "has_open_task": account_id in tasked,
            }
        )
    chart = _series_chart(area, area.run)
    return AreaLossDetail(
        area=area,
        run=area.run,
        reasons=[flag_reason_text(r) for r in (area.flag_reasons or []) if isinstance(r, dict)],
        chart=chart,
        suspects=suspects,
        incomplete_days=sum(1 for c in chart["complete"] if not c),
    )
