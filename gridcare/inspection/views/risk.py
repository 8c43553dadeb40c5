"""Console of theft risk (窃电风险): the risk list of the latest scoring run, one account's
explanation, and the scoring runs with the active model and the "run now" button.

Views stay thin: parse → one selector (``selectors.risk``) or service → render. The scoring
service is imported inside the view that calls it (it lives in ``services.scoring``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from gridcare.core.errors import Conflict, GridCareError, NotFound, ValidationFailed
from gridcare.core.errors import PermissionDenied as ServicePermissionDenied
from gridcare.core.pagination import paginate
from gridcare.core.permissions import staff_required
from gridcare.customers.choices import AreaType, CustomerClass
from gridcare.customers.models import Transformer
from gridcare.inspection.choices import RunStatus, TaskSource
from gridcare.inspection.models import RiskScore, ScoringRun
from gridcare.inspection.selectors.risk import (
    TONE_BADGE,
    model_active_get,
    risk_explanation,
    risk_reasons,
    risk_scores_search,
    score_tone,
    scoring_run_latest,
    scoring_runs_list,
)

VIEW = "inspection.view_riskscore"
VIEW_RUNS = "inspection.view_scoringrun"
RUN = "inspection.add_scoringrun"
ADD_TASK = "inspection.add_inspectiontask"
CLASS_LABELS: dict[str, Any] = dict(CustomerClass.choices)
REFUSALS = (NotFound, ValidationFailed, ServicePermissionDenied, Conflict)
RUN_BADGES: dict[str, str] = {RunStatus.DONE: "ok", RunStatus.RUNNING: "info", RunStatus.FAILED: "danger"}


class RiskFilterForm(forms.Form):
    """The risk list's search box, filters and sort (every one optional)."""

    q = forms.CharField(
        label=gettext_lazy("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("户号 or customer name")}),
    )
    transformer = forms.TypedChoiceField(
        label=gettext_lazy("Transformer area (台区)"), required=False, coerce=int, empty_value=None
    )
    area_type = forms.ChoiceField(label=gettext_lazy("Area type"), required=False)
    customer_class = forms.ChoiceField(label=gettext_lazy("Customer class"), required=False)
    min_score = forms.FloatField(
        label=gettext_lazy("Minimum risk score"),
        required=False,
        min_value=0,
        max_value=1,
        widget=forms.NumberInput(attrs={"step": "0.05", "placeholder": "0.50"}),
    )
    flagged = forms.BooleanField(label=gettext_lazy("Above the threshold only"), required=False)
    sort = forms.ChoiceField(
        label=gettext_lazy("Sort by"),
        required=False,
        choices=[
            ("rank", gettext_lazy("Rank (highest risk first)")),
            ("score", gettext_lazy("Score, lowest first")),
            ("number", gettext_lazy("户号")),
            ("-number", gettext_lazy("户号, descending")),
        ],
    )

    def __init__(self, *args: Any, run: ScoringRun, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        every: tuple[Any, Any] = ("", gettext_lazy("All"))
        areas = Transformer.objects.filter(
            pk__in=RiskScore.objects.filter(run=run, transformer__isnull=False).values("transformer_id")
        ).order_by("code")
        self.fields["transformer"].choices = [  # type: ignore[attr-defined]
            every,
            *((t.pk, f"{t.code} {t.name}") for t in areas.only("code", "name")),
        ]
        self.fields["area_type"].choices = [every, *AreaType.choices]  # type: ignore[attr-defined]
        self.fields["customer_class"].choices = [every, *CustomerClass.choices]  # type: ignore[attr-defined]


def _filters(form: RiskFilterForm) -> dict[str, Any]:
    """The search arguments of the valid fields (an invalid one is shown, not applied)."""
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    return {
        "q": data.get("q") or "",
        "transformer_id": data.get("transformer"),
        "area_type": data.get("area_type") or "",
        "customer_class": data.get("customer_class") or "",
        "min_score": data.get("min_score"),
        "flagged_only": bool(data.get("flagged")),
        "sort": data.get("sort") or "rank",
    }


def task_new_url(
    *, account_id: int, source: str, risk_score: int | None = None, area_loss: int | None = None
) -> str:
    """The link of "Create inspection task" for an account from the risk or line-loss list."""
    params: dict[str, Any] = {"account": account_id, "source": source}
    if risk_score is not None:
        params["risk_score"] = risk_score
    if area_loss is not None:
        params["area_loss"] = area_loss
    return f"{reverse('inspection:task_new')}?{urlencode(params)}"


def _row(score: RiskScore, threshold: float | None) -> dict[str, Any]:
    tone = score_tone(score.score, threshold)
    reasons = risk_reasons(score)
    return {
        "score": score,
        "pct": round(score.score * 100),
        "tone": tone,
        "badge": TONE_BADGE[tone],
        "class_label": CLASS_LABELS.get(score.customer_class, score.customer_class),
        "top_reason": reasons[0] if reasons else None,
        "task_url": task_new_url(account_id=score.account_id, source=TaskSource.RISK, risk_score=score.pk),
    }


@staff_required(VIEW)
@require_GET
def risk_list_view(request: HttpRequest) -> HttpResponse:
    """窃电风险清单: the scores of the latest done run, filtered, sorted and paged."""
    run = scoring_run_latest()
    if run is None:
        return render(
            request,
            "inspection/risk_list.html",
            {"run": None, "can_run": request.user.has_perm(RUN), "last": scoring_runs_list().first()},
        )
    form = RiskFilterForm(request.GET or None, run=run)
    filters = _filters(form) if form.is_bound else {}
    page = paginate(request, risk_scores_search(run=run, **filters))
    threshold = run.artefact.threshold
    return render(
        request,
        "inspection/risk_list.html",
        {
            "run": run,
            "form": form,
            "page": page,
            "rows": [_row(s, threshold) for s in page.object_list],
            "can_add_task": request.user.has_perm(ADD_TASK),
            "can_run": request.user.has_perm(RUN),
        },
    )


@staff_required(VIEW)
@require_GET
def risk_detail_view(request: HttpRequest, account_id: int) -> HttpResponse:
    """One account's explanation: score, top reasons, consumption chart with the suspicious
    window and the peer median, score history, open tasks and cases."""
    try:
        explanation = risk_explanation(account_id=account_id)
    except NotFound as exc:
        raise Http404 from exc
    score = explanation.score
    return render(
        request,
        "inspection/risk_detail.html",
        {
            "x": explanation,
            "score": score,
            "account": score.account,
            "run": explanation.run,
            "badge": TONE_BADGE[explanation.tone],
            "pct": round(score.score * 100),
            "chart_data": {
                **explanation.chart,
                "name": score.account.number,
                "peer_name": _("Median of similar customers"),
                "window_label": _("Suspicious window"),
            },
            "can_add_task": request.user.has_perm(ADD_TASK),
            "can_view_customer": request.user.has_perm("customers.view_customer"),
            "can_view_area": request.user.has_perm("inspection.view_arealoss"),
            "task_url": task_new_url(
                account_id=score.account_id, source=TaskSource.RISK, risk_score=score.pk
            ),
        },
    )


@staff_required(VIEW, VIEW_RUNS)
@require_http_methods(["GET", "POST"])
def scoring_runs_view(request: HttpRequest) -> HttpResponse:
    """The scoring runs (status, counts, seconds, errors), the active model, and "Run scoring
    now" (POST, ``inspection.add_scoringrun``)."""
    if request.method == "POST":
        if not request.user.has_perm(RUN):
            raise PermissionDenied
        from gridcare.inspection.services.scoring import scoring_run

        try:
            run = scoring_run(actor=request.user)
        except REFUSALS as exc:  # refused before a run was recorded (no active model …)
            messages.error(request, _("Scoring did not run: %(reason)s") % {"reason": exc.message})
        except GridCareError as exc:  # the run is recorded as failed with its error
            reason = str(exc.message)
            messages.error(
                request,
                reason
                if exc.code == "scoring_failed"
                else _("Scoring failed: %(reason)s") % {"reason": reason},
            )
        else:
            messages.success(
                request,
                _("Scoring finished: %(scored)s accounts scored, %(flagged)s above the threshold.")
                % {"scored": run.accounts_scored, "flagged": run.flagged},
            )
        return redirect("inspection:scoring_runs")
    page = paginate(request, scoring_runs_list())
    model = model_active_get()
    metrics = (model.training or {}) if model else {}
    return render(
        request,
        "inspection/risk_runs.html",
        {
            "page": page,
            "runs": [{"run": r, "badge": RUN_BADGES.get(r.status, "muted")} for r in page.object_list],
            "model": model,
            "training": _flat_items(metrics),
            "can_run": request.user.has_perm(RUN),
        },
    )


def _flat_items(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``training`` JSON as (key, value) rows: nested keys joined with ``.``, lists shown
    as text, floats with 4 decimals."""
    if not isinstance(data, dict):
        return [(prefix or "value", str(data))]
    rows: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            rows += _flat_items(value, name)
        elif isinstance(value, float):
            rows.append((name, f"{value:.4f}"))
        elif isinstance(value, list):
            rows.append((name, ", ".join(str(v) for v in value[:30]) + (" …" if len(value) > 30 else "")))
        else:
            rows.append((name, str(value)))
    return rows


urlpatterns: list[URLPattern] = [
    path("", risk_list_view, name="risk"),
    path("risk/runs/", scoring_runs_view, name="scoring_runs"),
    path("risk/<int:account_id>/", risk_detail_view, name="risk_detail"),
]
