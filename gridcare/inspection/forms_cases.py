"""Forms of the case pages (窃电/违约用电案件) and the penalty-rule page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from gridcare.customers.models import Account
from gridcare.inspection.choices import CaseKind, CaseStatus, PenaltyKey, TheftMethod, UserType, ViolationKind

ALL = ("", _("All"))
# Numbers take 4 decimal places; prices 6, the catalogue's precision (代理购电 prices are
# published with 6 and ``catalogue_price`` pre-fills them unrounded); the engine rounds the
# money to the fen.
MAX_DIGITS = 16
PLACES = 4
PRICE_PLACES = 6

# The engine's inputs as form fields, grouped as the page shows them.
INPUT_GROUPS: list[tuple[Any, list[str]]] = [
    (
        _("Theft (窃电): stolen energy and price"),
        ["period_known", "capacity_kw", "hours_per_day", "days", "measured_kwh", "price", "agreed_multiple"],
    ),
    (
        _("Higher-priced use on a cheaper tariff (擅自改变用电类别)"),
        ["price_difference", "energy_kwh", "monthly_kwh"],
    ),
    (
        _("Excess capacity and sealed equipment (私增容, 启用封存设备)"),
        ["two_part", "basic_price", "added_kva", "added_kw", "capacity_kva", "months"],
    ),
    (
        _("Per-occurrence and per-kW charges"),
        ["occurrences", "residential", "source_kw", "agreed_amount"],
    ),
]
BOOLEAN_INPUTS = ("period_known", "two_part", "residential")
INPUT_NAMES = [name for _title, names in INPUT_GROUPS for name in names]


def _decimal(label: Any, help_text: Any = "", *, price: bool = False) -> forms.DecimalField:
    """An optional number ≥ 0: 4 decimal places, or 6 for a price (yuan per unit)."""
    places = PRICE_PLACES if price else PLACES
    return forms.DecimalField(
        label=label,
        required=False,
        help_text=help_text,
        max_digits=MAX_DIGITS - PLACES + places,
        decimal_places=places,
        min_value=0,
    )


class CaseFilterForm(forms.Form):
    """The case list's search and filters (all optional)."""

    q = forms.CharField(
        label=_("Case number, account number (户号) or customer name"), required=False, max_length=100
    )
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[ALL, *CaseStatus.choices])
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[ALL, *CaseKind.choices])
    violation_kind = forms.ChoiceField(
        label=_("Violation kind"), required=False, choices=[ALL, *ViolationKind.choices]
    )


class CaseInputsForm(forms.Form):
    """The facts the penalty engine reads (docs/inspection-cases.md lists which it reads for
    each kind); empty fields are left out."""

    period_known = forms.BooleanField(
        label=_("Period of theft known (actual days and hours)"),
        required=False,
        help_text=_("Unchecked: the rule's days (180) × hours a day (12 power, 6 lighting)."),
    )
    capacity_kw = _decimal(_("Capacity (kW; kVA counted as kW)"))
    hours_per_day = _decimal(_("Hours a day (known period)"))
    days = _decimal(_("Days (known period)"))
    measured_kwh = _decimal(_("Measured stolen energy (kWh), instead of capacity × hours"))
    price = _decimal(_("Catalogue price (yuan/kWh)"), price=True)
    agreed_multiple = _decimal(
        _("Multiple agreed in the contract"),
        _("Only under a ceiling rule (2024: 不高于); empty = the ceiling."),
    )
    price_difference = _decimal(_("Price difference (yuan/kWh)"), price=True)
    energy_kwh = _decimal(_("Energy of the actual period (kWh)"))
    monthly_kwh = _decimal(_("Monthly energy (kWh), when the period is unknown"))
    two_part = forms.BooleanField(label=_("Two-part tariff user (两部制)"), required=False)
    basic_price = _decimal(_("Basic charge price (yuan/kVA·month)"), price=True)
    added_kva = _decimal(_("Capacity added (kVA), two-part"))
    added_kw = _decimal(_("Capacity added (kW), other users"))
    capacity_kva = _decimal(_("Sealed equipment capacity (kVA), two-part"))
    months = _decimal(_("Months used"))
    occurrences = forms.IntegerField(label=_("Occurrences"), required=False, min_value=1)
    residential = forms.BooleanField(label=_("Residential user (居民)"), required=False)
    source_kw = _decimal(_("Capacity of the power source (kW)"))
    agreed_amount = _decimal(
        _("Amount agreed in the contract (yuan per kW or per occurrence)"),
        _("Only under a ceiling rule (2024: 不高于); empty = the ceiling."),
    )

    def inputs(self) -> dict[str, Any]:
        data = self.cleaned_data
        out: dict[str, Any] = {}
        for name in INPUT_NAMES:
            value = data.get(name)
            if name in BOOLEAN_INPUTS:
                out[name] = bool(value)
            elif value is not None and value != "":
                out[name] = str(value)
        return out

    def groups(self) -> list[tuple[Any, list[Any]]]:
        return [(title, [self[name] for name in names]) for title, names in INPUT_GROUPS]


class CaseForm(CaseInputsForm):
    """立案: the kind, the account, the day and the facts, then the inputs."""

    kind = forms.ChoiceField(label=_("Kind"), choices=CaseKind.choices)
    theft_method = forms.ChoiceField(
        label=_("Theft method"), required=False, choices=[("", "—"), *TheftMethod.choices]
    )
    violation_kind = forms.ChoiceField(
        label=_("Violation kind"), required=False, choices=[("", "—"), *ViolationKind.choices]
    )
    user_type = forms.ChoiceField(
        label=_("User type for the estimate"), required=False, choices=[("", "—"), *UserType.choices]
    )
    account = forms.CharField(label=_("Account number (户号)"), max_length=16)
    occurred_on = forms.DateField(
        label=_("Found on (the rules in force that day apply)"),
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )
    facts = forms.CharField(label=_("Facts found"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    task = forms.IntegerField(required=False, widget=forms.HiddenInput)
    finding = forms.IntegerField(required=False, widget=forms.HiddenInput)

    field_order = ["kind", "theft_method", "violation_kind", "user_type", "account", "occurred_on", "facts"]

    def clean_account(self) -> Account:
        number = (self.cleaned_data.get("account") or "").strip()
        account = Account.objects.filter(number=number).first()
        if account is None:
            raise forms.ValidationError(_("No account has this number."))
        return account

    def head(self) -> list[Any]:
        return [
            self[name]
            for name in (
                "kind",
                "theft_method",
                "violation_kind",
                "user_type",
                "account",
                "occurred_on",
                "facts",
            )
        ]


class CaseEditForm(CaseInputsForm):
    """Change a draft: the day, the facts, the kind details and the inputs."""

    theft_method = forms.ChoiceField(
        label=_("Theft method"), required=False, choices=[("", "—"), *TheftMethod.choices]
    )
    violation_kind = forms.ChoiceField(
        label=_("Violation kind"), required=False, choices=[("", "—"), *ViolationKind.choices]
    )
    user_type = forms.ChoiceField(
        label=_("User type for the estimate"), required=False, choices=[("", "—"), *UserType.choices]
    )
    occurred_on = forms.DateField(
        label=_("Found on (the rules in force that day apply)"),
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )
    facts = forms.CharField(label=_("Facts found"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    version = forms.IntegerField(widget=forms.HiddenInput)

    field_order = ["theft_method", "violation_kind", "user_type", "occurred_on", "facts"]

    def head(self) -> list[Any]:
        return [
            self[name] for name in ("theft_method", "violation_kind", "user_type", "occurred_on", "facts")
        ]


class PenaltyRuleForm(forms.Form):
    """A new effective-dated value of one penalty rule."""

    key = forms.ChoiceField(label=_("Rule"), choices=PenaltyKey.choices)
    value = forms.DecimalField(label=_("Value"), max_digits=12, decimal_places=2, min_value=0)
    is_cap = forms.BooleanField(label=_("A ceiling agreed in the contract (不高于)"), required=False)
    effective_from = forms.DateField(
        label=_("Effective from"), widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
    )
    source = forms.CharField(label=_("Source (regulation, article, contract clause)"), max_length=300)
