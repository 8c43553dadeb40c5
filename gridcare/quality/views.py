"""Staff console of service quality (服务质量), mounted at ``/quality/``.

- ``quality:standards``: the service standards (服务标准) every SLA clock reads, with their
  sources, filtered by kind and stage, and a deadline calculator ("when is this due", the
  same answer as ``gridcare sla deadline``) — ``quality.view_servicestandard``;
- ``quality:standard_new``: add a standard or a newer version of one (``?from=<id>`` fills the
  form from that row) — ``quality.add_servicestandard``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from gridcare.core.engine.workdays import BEIJING
from gridcare.core.errors import GridCareError
from gridcare.core.permissions import staff_required
from gridcare.core.roles import staff_has_perm
from gridcare.quality.models import ServiceStandard, SourceStatus
from gridcare.quality.services import service_standard_add
from gridcare.workorders.choices import Channel, Grade, SlaBasis, SlaStage, WorkOrderKind

SOURCE_TONE: dict[str, str] = {
    SourceStatus.CONFIRMED.value: "ok",
    SourceStatus.CONFIRMED_WEAK.value: "info",
    SourceStatus.UNCONFIRMED.value: "warn",
    SourceStatus.LOCAL.value: "muted",
}


def _blank(choices: Any, label: Any) -> list[tuple[str, Any]]:
    return [("", label), *choices]


class FilterForm(forms.Form):
    kind = forms.ChoiceField(
        label=gettext_lazy("Kind"), required=False, choices=_blank(WorkOrderKind.choices, gettext_lazy("Any"))
    )
    stage = forms.ChoiceField(
        label=gettext_lazy("Stage"), required=False, choices=_blank(SlaStage.choices, gettext_lazy("Any"))
    )
    current = forms.BooleanField(label=gettext_lazy("In force today only"), required=False)


class CalculatorForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=WorkOrderKind.choices)
    stage = forms.ChoiceField(label=gettext_lazy("Stage"), choices=SlaStage.choices, initial=SlaStage.REPLY)
    start = forms.DateTimeField(
        label=gettext_lazy("Start (Beijing time)"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
    )
    channel = forms.ChoiceField(
        label=gettext_lazy("Channel"), required=False, choices=_blank(Channel.choices, gettext_lazy("Any"))
    )
    grade = forms.ChoiceField(
        label=gettext_lazy("Grade"), required=False, choices=_blank(Grade.choices, gettext_lazy("Any"))
    )
    category = forms.CharField(
        label=gettext_lazy("Category code"),
        required=False,
        max_length=40,
        help_text=gettext_lazy("Optional."),
    )


class StandardForm(forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=40,
        help_text=gettext_lazy("An existing code adds a newer version of that standard."),
    )
    name = forms.CharField(label=gettext_lazy("Name"), max_length=100)
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=WorkOrderKind.choices)
    stage = forms.ChoiceField(label=gettext_lazy("Stage"), choices=SlaStage.choices)
    sub_type = forms.CharField(
        label=gettext_lazy("Category code"),
        max_length=40,
        required=False,
        help_text=gettext_lazy("Blank: any category of the kind."),
    )
    channel = forms.ChoiceField(
        label=gettext_lazy("Channel"), required=False, choices=_blank(Channel.choices, gettext_lazy("Any"))
    )
    grade = forms.ChoiceField(
        label=gettext_lazy("Grade"), required=False, choices=_blank(Grade.choices, gettext_lazy("Any"))
    )
    basis = forms.ChoiceField(label=gettext_lazy("Counted in"), choices=SlaBasis.choices)
    amount = forms.DecimalField(
        label=gettext_lazy("Allowed"),
        max_digits=7,
        decimal_places=2,
        help_text=gettext_lazy("Working days (whole) or hours (0.25 = 15 minutes)."),
    )
    pausable = forms.BooleanField(
        label=gettext_lazy("May pause while waiting for the customer"), required=False
    )
    warn_ratio = forms.DecimalField(
        label=gettext_lazy("Warn at share of the allowed time"),
        max_digits=3,
        decimal_places=2,
        initial=Decimal("0.75"),
        help_text=gettext_lazy("Between 0 and 1, e.g. 0.75."),
    )
    effective_from = forms.DateField(
        label=gettext_lazy("Effective from"), widget=forms.DateInput(attrs={"type": "date"})
    )
    effective_to = forms.DateField(
        label=gettext_lazy("Effective to (exclusive)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    source = forms.CharField(
        label=gettext_lazy("Source"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("The document and link the value comes from, or the company rule."),
    )
    source_status = forms.ChoiceField(label=gettext_lazy("Source status"), choices=SourceStatus.choices)


def _calculate(form: CalculatorForm) -> dict[str, Any] | None:
    from gridcare.workorders.services.clocks import sla_deadline

    data = form.cleaned_data
    start = data["start"]
    if start.tzinfo is None:
        start = start.replace(tzinfo=BEIJING)
    try:
        found = sla_deadline(
            kind=data["kind"],
            stage=data["stage"],
            start=start,
            channel=data["channel"],
            grade=data["grade"],
            category=data["category"].strip(),
        )
    except GridCareError as exc:
        field = exc.field if exc.field in form.fields else None
        form.add_error(field, str(exc.message))
        return None
    found["deadline_at"] = dt.datetime.fromisoformat(found["deadline"]).astimezone(BEIJING)
    found["warn_at_local"] = dt.datetime.fromisoformat(found["warn_at"]).astimezone(BEIJING)
    found["start"] = start.astimezone(BEIJING)
    found["row"] = ServiceStandard.objects.filter(pk=found["standard"]).first()
    return found


@require_GET
@staff_required("quality.view_servicestandard")
def standards(request: HttpRequest) -> HttpResponse:
    filters = FilterForm(request.GET or None)
    qs = ServiceStandard.objects.all().order_by("kind", "stage", "code", "-effective_from")
    if filters.is_valid():
        if filters.cleaned_data["kind"]:
            qs = qs.filter(kind=filters.cleaned_data["kind"])
        if filters.cleaned_data["stage"]:
            qs = qs.filter(stage=filters.cleaned_data["stage"])
        if filters.cleaned_data["current"]:
            today = timezone.localdate()
            qs = qs.filter(effective_from__lte=today).exclude(effective_to__lte=today)
    rows = [{"standard": s, "tone": SOURCE_TONE.get(s.source_status, "muted")} for s in qs]
    calc_data = request.GET if "calc-kind" in request.GET else None
    calculator = CalculatorForm(calc_data, prefix="calc", initial={"start": timezone.localtime()})
    result = _calculate(calculator) if calc_data is not None and calculator.is_valid() else None
    return render(
        request,
        "quality/standards.html",
        {
            "filters": filters,
            "rows": rows,
            "calculator": calculator,
            "result": result,
            "can_add": staff_has_perm(request.user, "quality.add_servicestandard"),
        },
    )


@require_http_methods(["GET", "POST"])
@staff_required("quality.view_servicestandard", "quality.add_servicestandard")
def standard_new(request: HttpRequest) -> HttpResponse:
    base = None
    if request.method == "POST":
        form = StandardForm(request.POST)
        if form.is_valid():
            try:
                standard = service_standard_add(actor=request.user, **form.cleaned_data)
            except GridCareError as exc:
                field = exc.field if exc.field in form.fields else None
                form.add_error(field, str(exc.message))
            else:
                messages.success(
                    request,
                    _("Standard %(code)s in force from %(date)s added.")
                    % {"code": standard.code, "date": standard.effective_from},
                )
                return redirect(
                    reverse("quality:standards") + f"?kind={standard.kind}&stage={standard.stage}"
                )
    else:
        initial: dict[str, Any] = {"warn_ratio": Decimal("0.75"), "effective_from": timezone.localdate()}
        from_id = request.GET.get("from", "")
        if from_id.isdigit():
            base = ServiceStandard.objects.filter(pk=int(from_id)).first()
        if base is not None:
            initial.update(
                {
                    name: getattr(base, name)
                    for name in (
                        "code",
                        "name",
                        "kind",
                        "stage",
                        "sub_type",
                        "channel",
                        "grade",
                        "basis",
                        "amount",
                        "pausable",
                        "warn_ratio",
                        "source",
                        "source_status",
                    )
                }
            )
        form = StandardForm(initial=initial)
    return render(request, "quality/standard_new.html", {"form": form, "base": base})


urlpatterns = [
    path("standards/", standards, name="standards"),
    path("standards/new/", standard_new, name="standard_new"),
]
