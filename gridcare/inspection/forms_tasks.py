"""Forms of the inspection task and plan pages (the services validate again)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from gridcare.core.audit import person_name
from gridcare.inspection.choices import (
    ChecklistOutcome,
    FindingKind,
    TaskResult,
    TaskSource,
    TheftMethod,
    ViolationKind,
)
from gridcare.inspection.selectors.tasks import ChecklistSectionView, inspectors

BLANK = ("", "—")
DEFAULT_DUE_DAYS = 14
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def inspector_choices(blank: Any = BLANK) -> list[tuple[Any, Any]]:
    return [blank, *((str(u.pk), f"{person_name(u)} ({u.username})") for u in inspectors())]


class TaskFilterForm(forms.Form):
    """The board's search and filters (every one optional)."""

    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": _("Task number, 户号 or customer name")}),
    )
    inspector = forms.ChoiceField(label=_("Inspector"), required=False)
    source = forms.ChoiceField(label=_("Why (task source)"), required=False)
    area = forms.CharField(
        label=_("Transformer area (台区)"),
        required=False,
        max_length=100,
        widget=forms.TextInput(attrs={"placeholder": _("Area code or name")}),
    )
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)
    mine = forms.BooleanField(label=_("My tasks"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        every: tuple[str, Any] = ("", _("All"))
        self.fields["inspector"].choices = inspector_choices(every)  # type: ignore[attr-defined]
        self.fields["source"].choices = [every, *TaskSource.choices]  # type: ignore[attr-defined]

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {}
        data = self.cleaned_data
        inspector = data.get("inspector") or ""
        return {
            "q": data.get("q") or "",
            "inspector": int(inspector) if inspector.isdigit() else None,
            "source": data.get("source") or "",
            "area": data.get("area") or "",
            "overdue": bool(data.get("overdue")),
            "mine": bool(data.get("mine")),
        }


class TaskCreateForm(forms.Form):
    """A task for one account (prefilled from the risk list or a line-loss area)."""

    account_number = forms.CharField(label=_("Account number (户号)"), max_length=16)
    source = forms.ChoiceField(label=_("Why (task source)"), choices=TaskSource.choices)
    due_on = forms.DateField(label=_("Due"), widget=DATE)
    reason = forms.CharField(
        label=_("Reason"), required=False, max_length=300, widget=forms.Textarea(attrs={"rows": 2})
    )
    inspector = forms.ChoiceField(label=_("Assign to (optional)"), required=False)
    risk_score = forms.IntegerField(required=False, widget=forms.HiddenInput)
    area_loss = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["inspector"].choices = inspector_choices(("", _("Nobody yet")))  # type: ignore[attr-defined]
        if not self.is_bound:
            self.initial.setdefault("due_on", timezone.localdate() + dt.timedelta(days=DEFAULT_DUE_DAYS))


class VersionForm(forms.Form):
    """A step on the task with the version the user saw (start)."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class AssignForm(VersionForm):
    inspector = forms.ChoiceField(label=_("Inspector"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["inspector"].choices = inspector_choices()  # type: ignore[attr-defined]


class CompleteForm(VersionForm):
    result = forms.ChoiceField(label=_("Result (检查结论)"), choices=[BLANK, *TaskResult.choices])
    notes = forms.CharField(
        label=_("Result notes"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )


class CancelForm(VersionForm):
    reason = forms.CharField(label=_("Why cancel"), max_length=4000, widget=forms.Textarea(attrs={"rows": 2}))


OUTCOME_CHOICES = [
    (ChecklistOutcome.PASS.value, ChecklistOutcome.PASS.label),
    (ChecklistOutcome.FAIL.value, ChecklistOutcome.FAIL.label),
    (ChecklistOutcome.NOT_APPLICABLE.value, ChecklistOutcome.NOT_APPLICABLE.label),
]


class ChecklistForm(VersionForm):
    """One radio group (OK / Problem / N.A.) and one note per item: ``o_<code>``, ``n_<code>``."""

    def __init__(self, *args: Any, sections: list[ChecklistSectionView], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sections = sections
        for section in sections:
            for line in section.lines:
                code = line.item.code
                self.fields[f"o_{code}"] = forms.ChoiceField(
                    label=gettext(line.label),
                    required=False,
                    choices=OUTCOME_CHOICES,
                    widget=forms.RadioSelect,
                    initial=line.item.outcome,
                )
                self.fields[f"n_{code}"] = forms.CharField(
                    label=_("Note on the item"), required=False, max_length=300, initial=line.item.note
                )

    def rows(self) -> list[dict[str, Any]]:
        """Per section: its label and (code, outcome field, note field) lines for the template."""
        return [
            {
                "code": s.code,
                "label": s.label,
                "lines": [
                    {
                        "code": line.item.code,
                        "outcome": self[f"o_{line.item.code}"],
                        "note": self[f"n_{line.item.code}"],
                    }
                    for line in s.lines
                ],
            }
            for s in self.sections
        ]

    def outcomes(self) -> dict[str, tuple[str, str]]:
        return {
            line.item.code: (
                self.cleaned_data.get(f"o_{line.item.code}") or "",
                self.cleaned_data.get(f"n_{line.item.code}") or "",
            )
            for s in self.sections
            for line in s.lines
        }


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (photos of one finding)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/*,application/pdf"}))
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data]
        return [single(data, initial)] if data else []


class FindingForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of finding"), choices=[BLANK, *FindingKind.choices])
    theft_method = forms.ChoiceField(
        label=_("Theft method (窃电行为)"), required=False, choices=[BLANK, *TheftMethod.choices]
    )
    violation_kind = forms.ChoiceField(
        label=_("Violation kind (违约用电类别)"), required=False, choices=[BLANK, *ViolationKind.choices]
    )
    description = forms.CharField(
        label=_("What was found"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )
    photos = MultipleFileField(label=_("Photos or files (现场照片)"), required=False)


class PeriodicPlanForm(forms.Form):
    period_start = forms.DateField(label=_("Period from"), widget=DATE)
    period_end = forms.DateField(label=_("Period to"), widget=DATE)
    name = forms.CharField(label=_("Plan name (optional)"), required=False, max_length=100)


TARGETED_SOURCES = [
    (TaskSource.RISK.value, TaskSource.RISK.label),
    (TaskSource.LINE_LOSS.value, TaskSource.LINE_LOSS.label),
]


class TargetedPlanForm(forms.Form):
    source = forms.ChoiceField(label=_("Plan from"), choices=TARGETED_SOURCES)
    top = forms.IntegerField(label=_("At most (tasks)"), min_value=1, max_value=500, initial=20)
    due_on = forms.DateField(label=_("Due"), widget=DATE)
    name = forms.CharField(label=_("Plan name (optional)"), required=False, max_length=100)
