"""Forms of the work-order console: the agent workbench's one-screen intake (受理) form.

The form only parses; ``work_order_create`` validates the business rules and its errors are
shown on the field they name (:func:`add_service_error`)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from gridcare.core.errors import GridCareError
from gridcare.workorders.choices import Channel, Grade, WorkOrderKind
from gridcare.workorders.models import Category, Team

# Service error fields → intake form fields.
SERVICE_FIELDS = {
    "customer_id": "account_number",
    "reporter.phone": "reporter_phone",
    "reporter": "reporter_name",
    "at": None,
    "transition": "answer",
    "note": "answer",
}


def add_service_error(form: forms.Form, exc: GridCareError) -> None:
    """Show a service error on the form field it names (or on the form when it names none)."""
    name = SERVICE_FIELDS.get(exc.field, exc.field) if exc.field is not None else None
    if name == "account_number" and getattr(form, "cleaned_data", {}).get("kind") == WorkOrderKind.REPORT:
        name = "reported_account"
    if name is not None and name not in form.fields:
        name = None
    form.add_error(name, str(exc.message))


def new_intake_key() -> str:
    """A fresh one-time intake key for a blank intake form (a random UUID)."""
    return uuid.uuid4().hex


def category_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The active categories grouped by kind (one ``<optgroup>`` each); a sub-category is
    shown under its parent as ``parent › child``. One query."""
    kinds = dict(WorkOrderKind.choices)
    groups: dict[str, list[tuple[str, str]]] = {kind: [] for kind in kinds}
    rows = Category.objects.filter(is_active=True).select_related("parent").order_by("kind", "sort", "code")
    by_parent: dict[int | None, list[Category]] = {}
    for cat in rows:
        by_parent.setdefault(cat.parent_id, []).append(cat)

    def walk(parent_id: int | None, prefix: str) -> None:
        for cat in by_parent.get(parent_id, []):
            label = f"{prefix}{cat.name} ({cat.name_en})"
            if cat.kind in groups:
                groups[cat.kind].append((cat.code, label))
            walk(cat.pk, f"{prefix}{cat.name} › ")

    walk(None, "")
    return [(str(kinds[kind]), options) for kind, options in groups.items() if options]


def category_kinds() -> dict[str, str]:
    """category code → kind, for the page's kind filter."""
    return dict(Category.objects.filter(is_active=True).values_list("code", "kind"))


class IntakeForm(forms.Form):
    """一屏受理: everything an agent records while the caller is on the line."""

    kind = forms.ChoiceField(label=_("Kind"), choices=WorkOrderKind.choices, initial=WorkOrderKind.COMPLAINT)
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices, initial=Channel.HOTLINE)
    category = forms.ChoiceField(label=_("Category"), choices=())
    grade = forms.ChoiceField(label=_("Grade"), choices=Grade.choices, initial=Grade.NORMAL)
    subject = forms.CharField(label=_("Subject"), max_length=200)
    description = forms.CharField(
        label=_("What the caller says"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    customer_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    contact_name = forms.CharField(label=_("Contact name"), max_length=50, required=False)
    contact_phone = forms.CharField(label=_("Contact phone"), max_length=20, required=False)
    account_number = forms.CharField(label=_("Account number (户号)"), max_length=16, required=False)
    address = forms.CharField(label=_("Address"), max_length=200, required=False)
    reported_account = forms.CharField(
        label=_("Reported party's account (被举报户号)"),
        max_length=16,
        required=False,
        help_text=_("The account the report is about, when the reporter knows it."),
    )
    reporter_name = forms.CharField(label=_("Reporter name"), max_length=50, required=False)
    reporter_phone = forms.CharField(label=_("Reporter phone"), max_length=20, required=False)
    reporter_id_number = forms.CharField(label=_("Reporter ID number"), max_length=18, required=False)
    reporter_address = forms.CharField(label=_("Reporter address"), max_length=200, required=False)
    reporter_wants_reply = forms.BooleanField(label=_("Reporter wants a reply"), required=False, initial=True)
    personal_injury = forms.BooleanField(label=_("Personal injury (人身伤害)"), required=False)
    media_attention = forms.BooleanField(label=_("Media attention (媒体关注)"), required=False)
    external_ref = forms.CharField(
        label=_("12345/12398 transfer number"),
        max_length=40,
        required=False,
        help_text=_("For an order transferred by the 12345 or 12398 hotline."),
    )
    team = forms.ChoiceField(label=_("Team"), required=False)
    answer = forms.CharField(
        label=_("Answer given now"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("An inquiry answered on this call is accepted and answered in one go."),
    )
    kb_article = forms.CharField(label=_("Knowledge article code"), max_length=30, required=False)
    # One-time intake key, new with each blank form: the same form sent twice (a double
    # click, a resend after a timeout) files one order (``work_order_create``'s
    # ``idempotency_key``).
    intake_key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("intake_key", new_intake_key())
        category = cast(forms.ChoiceField, self.fields["category"])
        team = cast(forms.ChoiceField, self.fields["team"])
        category.choices = [("", "—"), *category_choices()]
        team.choices = [("", _("Default team of the kind"))] + [
            (code, f"{code} {name}")
            for code, name in Team.objects.filter(is_active=True).order_by("code").values_list("code", "name")
        ]
        widgets = self.fields
        widgets["subject"].widget.attrs.update({"accesskey": "j", "autocomplete": "off"})
        widgets["description"].widget.attrs.update({"accesskey": "d", "data-suggest-source": ""})
        widgets["kind"].widget.attrs.update({"accesskey": "k"})
        widgets["category"].widget.attrs.update({"accesskey": "c"})
        widgets["contact_phone"].widget.attrs.update({"inputmode": "tel", "autocomplete": "off"})
        widgets["reporter_phone"].widget.attrs.update({"inputmode": "tel", "autocomplete": "off"})
        widgets["account_number"].widget.attrs.update({"inputmode": "numeric", "autocomplete": "off"})

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        if kind != WorkOrderKind.REPORT:
            for name in (
                "reporter_name",
                "reporter_phone",
                "reporter_id_number",
                "reporter_address",
                "reported_account",
            ):
                if data.get(name):
                    self.add_error(name, _("Only a report has a reporter."))
        if kind != WorkOrderKind.INQUIRY and data.get("answer"):
            self.add_error("answer", _("Only an inquiry is answered at first contact."))
        return data

    def service_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of ``work_order_create`` from the cleaned data."""
        data: Mapping[str, Any] = self.cleaned_data
        kwargs: dict[str, Any] = {
            name: data.get(name) or ""
            for name in (
                "kind",
                "channel",
                "category",
                "grade",
                "subject",
                "description",
                "account_number",
                "address",
                "external_ref",
                "team",
                "kb_article",
            )
        }
        kwargs["personal_injury"] = bool(data.get("personal_injury"))
        kwargs["media_attention"] = bool(data.get("media_attention"))
        kwargs["customer_id"] = data.get("customer_id") or None
        if data.get("kind") == WorkOrderKind.REPORT:
            # The caller is the reporter: what the lookup found about them (their customer
            # record, name, phone) goes into the reporter identity, stored apart
            # (为举报人保密). The order's customer/account name the *reported* party only.
            kwargs["reporter"] = {
                "name": data.get("reporter_name") or data.get("contact_name") or "",
                "phone": data.get("reporter_phone") or data.get("contact_phone") or "",
                "id_number": data.get("reporter_id_number") or "",
                "address": data.get("reporter_address") or "",
                "customer_id": kwargs["customer_id"],
                "wants_reply": bool(data.get("reporter_wants_reply")),
            }
            kwargs["customer_id"] = None
            kwargs["account_number"] = data.get("reported_account") or ""
        else:
            kwargs["contact_name"] = data.get("contact_name") or ""
            kwargs["contact_phone"] = data.get("contact_phone") or ""
        if data.get("kind") == WorkOrderKind.INQUIRY:
            kwargs["answer"] = data.get("answer") or ""
        if data.get("intake_key"):
            kwargs["idempotency_key"] = f"workbench:{data['intake_key']}"
        return kwargs
