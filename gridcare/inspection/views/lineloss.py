"""Console of transformer-area line loss (台区线损): the dashboard of the latest analysis with
its chart, filters and the "run now" button, and one area's page with its daily chart, why
it is flagged and the customers ranked by how their drop lines up with the loss increase.

Views stay thin: parse → one selector (``selectors.lineloss``) or service → render. The
analysis service is imported inside the view that calls it (``services.lineloss``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from gridcare.core.errors import GridCareError, NotFound
from gridcare.core.pagination import paginate
from gridcare.core.permissions import staff_required
from gridcare.customers.choices import AreaType
from gridcare.inspection.choices import RunStatus, TaskSource
from gridcare.inspection.labels import flag_reason_text
from gridcare.inspection.models import AreaLoss, LineLossRun
from gridcare.inspection.selectors.lineloss import (
    area_loss_detail,
    area_losses_chart,
    area_losses_search,
    feeders_of_run,
    line_loss_run_latest,
    line_loss_runs_recent,
)
from gridcare.inspection.views.risk import RUN_BADGES, task_new_url

VIEW = "inspection.view_arealoss"
VIEW_RUNS = "inspection.view_linelossrun"
RUN = "inspection.add_linelossrun"
ADD_TASK = "inspection.add_inspectiontask"


class AreaFilterForm(forms.Form):
    """The dashboard's search box, filters and sort (every one optional)."""

    q = forms.CharField(
        label=gettext_lazy("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("Transformer code or name")}),
    )
    flagged = forms.BooleanField(label=gettext_lazy("Flagged areas only"), required=False)
    area_type = forms.ChoiceField(label=gettext_lazy("Area type"), required=False)
    feeder = forms.TypedChoiceField(
        label=gettext_lazy("Feeder"), required=False, coerce=int, empty_value=None
    )
    sort = forms.ChoiceField(
        label=gettext_lazy("Sort by"),
        required=False,
        choices=[
            ("flagged", gettext_lazy("Flagged first, then recent loss rate")),
            ("-recent", gettext_lazy("Recent loss rate, highest first")),
            ("recent", gettext_lazy("Recent loss rate, lowest first")),
            ("-jump", gettext_lazy("Rise against the baseline, largest first")),
            ("-rate", gettext_lazy("Window loss rate, highest first")),
            ("-input", gettext_lazy("Input energy, largest first")),
            ("code", gettext_lazy("Transformer code")),
        ],
    )

    def __init__(self, *args: Any, run: LineLossRun, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        every: tuple[Any, Any] = ("", gettext_lazy("All"))
        self.fields["area_type"].choices = [every, *AreaType.choices]  # type: ignore[attr-defined]
        self.fields["feeder"].choices = [  # type: ignore[attr-defined]
            every,
            *(
                (f.pk, f"{f.code} {f.name}")
                for f in feeders_of_run(run).order_by("code").only("code", "name")
            ),
        ]


def _filters(form: AreaFilterForm) -> dict[str, Any]:
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    return {
        "q": data.get("q") or "",
        "flagged_only": bool(data.get("flagged")),
        "area_type": data.get("area_type") or "",
        "feeder_id": data.get("feeder"),
        "sort": data.get("sort") or "flagged",
    }


def _run_now(request: HttpRequest) -> HttpResponse:
    """POST of "Run analysis now": one line-loss run over the default window."""
    if not request.user.has_perm(RUN):
        raise PermissionDenied
    from gridcare.inspection.services.lineloss import line_loss_run

    try:
        run = line_loss_run(actor=request.user)
    except GridCareError as exc:
        messages.error(request, _("The line-loss analysis did not run: %(reason)s") % {"reason": exc.message})
    else:
        if run.status == RunStatus.DONE:
            messages.success(
                request,
                _("Line-loss analysis finished: %(areas)s areas analysed, %(flagged)s flagged.")
                % {"areas": run.areas, "flagged": run.flagged},
            )
        else:
            messages.error(
                request, _("The line-loss analysis failed: %(error)s") % {"error": run.error or run.status}
            )
    return redirect("inspection:lineloss")


def _area_row(area: AreaLoss) -> dict[str, Any]:
    return {
        "area": area,
        "reasons": [flag_reason_text(r) for r in (area.flag_reasons or []) if isinstance(r, dict)],
    }


@staff_required(VIEW, VIEW_RUNS)
@require_http_methods(["GET", "POST"])
def lineloss_view(request: HttpRequest) -> HttpResponse:
    """台区线损 dashboard: the areas of the latest done run, their chart and table; POST runs
    the analysis now (``inspection.add_linelossrun``)."""
    if request.method == "POST":
        return _run_now(request)
    run = line_loss_run_latest()
    recent = line_loss_runs_recent(limit=5)
    context: dict[str, Any] = {
        "run": run,
        "recent_runs": [{"run": r, "badge": RUN_BADGES.get(r.status, "muted")} for r in recent],
        "can_run": request.user.has_perm(RUN),
    }
    if run is None:
        return render(request, "inspection/lineloss_dashboard.html", context)
    form = AreaFilterForm(request.GET or None, run=run)
    filters = _filters(form) if form.is_bound else {}
    areas = area_losses_search(run=run, **filters)
    page = paginate(request, areas)
    chart = area_losses_chart(areas, run)
    chart["threshold_label"] = _("Threshold")
    chart["name"] = _("Recent loss rate")
    chart["area_url"] = reverse("inspection:lineloss_area", args=[0])
    context.update(
        {
            "form": form,
            "page": page,
            "rows": [_area_row(a) for a in page.object_list],
            "chart_data": chart,
        }
    )
    return render(request, "inspection/lineloss_dashboard.html", context)


@staff_required(VIEW)
@require_GET
def lineloss_area_view(request: HttpRequest, area_id: int) -> HttpResponse:
    """One area of a done run: daily input vs customers' energy and the loss rate, why it is
    flagged, and the ranked suspects with "Create inspection task"."""
    try:
        detail = area_loss_detail(area_id=area_id)
    except NotFound as exc:
        raise Http404 from exc
    for suspect in detail.suspects:
        suspect["task_url"] = (
            task_new_url(
                account_id=suspect["account_id"], source=TaskSource.LINE_LOSS, area_loss=detail.area.pk
            )
            if suspect["account_id"] is not None
            else ""
        )
    chart = {
        **detail.chart,
        "names": {
            "input": _("Input energy (total meter)"),
            "billed": _("Customers' energy"),
            "rate": _("Loss rate"),
            "threshold": _("Threshold"),
            "incomplete": _("Incomplete day"),
            "change": _("Loss changed"),
        },
    }
    return render(
        request,
        "inspection/lineloss_area.html",
        {
            "x": detail,
            "area": detail.area,
            "run": detail.run,
            "transformer": detail.area.transformer,
            "chart_data": chart,
            "can_add_task": request.user.has_perm(ADD_TASK),
            "can_view_risk": request.user.has_perm("inspection.view_riskscore"),
        },
    )


urlpatterns: list[URLPattern] = [
    path("line-loss/", lineloss_view, name="lineloss"),
    path("line-loss/<int:area_id>/", lineloss_area_view, name="lineloss_area"),
]
