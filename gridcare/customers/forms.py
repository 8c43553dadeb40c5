"""Console forms of the customer archive.

Forms check types and required fields at the edge and run the same identity checks the
services run (``services.customer_identity_clean``), so a clerk sees every mistake next to
the field before anything is written. The services stay the authority: the views show any
:class:`~gridcare.core.errors.ValidationFailed` they raise on the named field as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from gridcare.core.errors import GridCareError, ValidationFailed
from gridcare.customers.choices import (
    AccountStatus,
    CustomerClass,
    CustomerKind,
    ImportanceLevel,
    VoltageLevel,
)
from gridcare.customers.models import Account, Customer, Transformer
from gridcare.customers.services import ACCOUNT_CLOSED_IS_FINAL, customer_identity_clean


def add_service_error(
    form: forms.Form, exc: GridCareError, field_map: Mapping[str, str] | None = None
) -> None:
    """Show a service error on the form field it names (or on the form when it names none)."""
    field = exc.field
    if field is not None and field_map:
        field = field_map.get(field, field)
    if field is not None and field not in form.fields:
        field = None
    form.add_error(field, str(exc.message))


class TransformerChoiceField(forms.ModelChoiceField):
    """A transformer area shown as ``code name``."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.code} {obj.name}"


class _IdentityMixin:
    """Runs the service's identity validation and maps its errors onto the form fields."""

    def _clean_identity(self, cleaned: dict[str, Any], kind: str) -> None:
        form: forms.Form = self  # type: ignore[assignment]
        if not kind or "mobile" not in cleaned:
            return
        try:
            id_number, credit_code, mobile = customer_identity_clean(
                kind=kind,
                id_number=cleaned.get("id_number"),
                credit_code=cleaned.get("credit_code"),
                mobile=cleaned["mobile"],
            )
        except ValidationFailed as exc:
            add_service_error(form, exc)
            return
        cleaned["id_number"] = id_number
        cleaned["credit_code"] = credit_code
        cleaned["mobile"] = mobile


class CustomerCreateForm(_IdentityMixin, forms.Form):
    """建档: a person or organisation, optionally with the first account (立户)."""

    kind = forms.ChoiceField(
        label=_("Kind"), choices=CustomerKind.choices, widget=forms.RadioSelect, initial=CustomerKind.PERSON
    )
    name = forms.CharField(label=_("Name"), max_length=100)
    id_number = forms.CharField(
        label=_("ID card number"),
        max_length=18,
        required=False,
        help_text=_("People: 18 characters, the last one a digit or X."),
    )
    credit_code = forms.CharField(
        label=_("Unified social credit code"),
        max_length=18,
        required=False,
        help_text=_("Organisations: 18 letters and digits."),
    )
    mobile = forms.CharField(label=_("Mobile"), max_length=11, help_text=_("11 digits starting with 1."))
    contact_person = forms.CharField(
        label=_("Contact person"), max_length=50, required=False, help_text=_("Required for an organisation.")
    )
    email = forms.EmailField(label=_("Email"), required=False, max_length=254)
    postal_address = forms.CharField(label=_("Postal address"), max_length=200, required=False)

    transformer = TransformerChoiceField(
        label=_("Transformer area"),
        queryset=Transformer.objects.order_by("code"),
        required=False,
        empty_label=_("— no account now —"),
    )
    account_address = forms.CharField(label=_("Supply address"), max_length=200, required=False)
    customer_class = forms.ChoiceField(
        label=_("Customer class"), choices=[("", "—"), *CustomerClass.choices], required=False
    )
    voltage_level = forms.ChoiceField(
        label=_("Voltage level"), choices=[("", "—"), *VoltageLevel.choices], required=False
    )
    suspended_on = forms.DateField(
        label=_("Suspended on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Only for a suspended account: the last day of supply; today when left empty."),
    )
    importance = forms.ChoiceField(
        label=_("Important user level"), choices=ImportanceLevel.choices, required=False
    )
    is_prepaid = forms.BooleanField(label=_("Prepaid (费控)"), required=False)
    billing_mode_since = forms.DateField(
        label=_("New billing mode from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_(
            "Only when the prepaid flag changes: the first day billed in the new mode, after the last "
            "day already billed or charged; today when left empty."
        ),
    )

    customer_fields = (
        "kind",
        "name",
        "id_number",
        "credit_code",
        "mobile",
        "contact_person",
        "email",
        "postal_address",
    )
    account_fields = (
        "transformer",
        "account_address",
        "customer_class",
        "voltage_level",
        "importance",
        "is_prepaid",
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("kind", "")
        self._clean_identity(cleaned, kind)
        if kind == CustomerKind.ORGANISATION and not (cleaned.get("contact_person") or "").strip():
            self.add_error("contact_person", _("An organisation needs a contact person."))
        if cleaned.get("transformer") is not None:
            for name in ("account_address", "customer_class", "voltage_level"):
                if not cleaned.get(name):
                    self.add_error(name, _("Needed to open the account."))
        return cleaned

    @property
    def opens_account(self) -> bool:
        """True when the clerk chose a transformer area, i.e. wants the first account too."""
        return self.cleaned_data.get("transformer") is not None

    def customer_data(self) -> dict[str, Any]:
        """Keyword arguments for ``services.customer_create``."""
        data = {name: self.cleaned_data[name] for name in self.customer_fields}
        if data["kind"] == CustomerKind.PERSON:
            data["credit_code"] = None
        else:
            data["id_number"] = None
        return data

    def customer_bound_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.customer_fields]

    def account_bound_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.account_fields]


class CustomerEditForm(_IdentityMixin, forms.Form):
    """修改客户档案; ``version`` is the one loaded, for optimistic locking."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    name = forms.CharField(label=_("Name"), max_length=100)
    id_number = forms.CharField(label=_("ID card number"), max_length=18)
    credit_code = forms.CharField(label=_("Unified social credit code"), max_length=18)
    mobile = forms.CharField(label=_("Mobile"), max_length=11, help_text=_("11 digits starting with 1."))
    contact_person = forms.CharField(label=_("Contact person"), max_length=50, required=False)
    email = forms.EmailField(label=_("Email"), required=False, max_length=254)
    postal_address = forms.CharField(label=_("Postal address"), max_length=200, required=False)

    def __init__(self, *args: Any, customer: Customer, **kwargs: Any) -> None:
        self.customer = customer
        kwargs.setdefault(
            "initial",
            {
                "version": customer.version,
                "name": customer.name,
                "id_number": customer.id_number,
                "credit_code": customer.credit_code,
                "mobile": customer.mobile,
                "contact_person": customer.contact_person,
                "email": customer.email,
                "postal_address": customer.postal_address,
            },
        )
        super().__init__(*args, **kwargs)
        # A person carries an ID card number, an organisation a credit code; the kind is fixed.
        if customer.kind == CustomerKind.PERSON:
            del self.fields["credit_code"]
        else:
            del self.fields["id_number"]
            self.fields["contact_person"].required = True

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self._clean_identity(cleaned, self.customer.kind)
        return cleaned

    def changes(self) -> dict[str, Any]:
        """Keyword arguments for ``services.customer_update`` (without version)."""
        return {name: value for name, value in self.cleaned_data.items() if name != "version"}


class AccountEditForm(forms.Form):
    """修改用电户: class, voltage, tariff code, status (销户 and 暂停 take their date), 重要用户,
    费控 (switching it takes the first day in the new mode).

    A closed account's status is shown but not offered: 销户 is final (the service refuses
    it too); its closing date can still be corrected."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
    customer_class = forms.ChoiceField(label=_("Customer class"), choices=CustomerClass.choices)
    voltage_level = forms.ChoiceField(label=_("Voltage level"), choices=VoltageLevel.choices)
    tariff_code = forms.CharField(
        label=_("Tariff code"),
        max_length=30,
        required=False,
        help_text=_("Leave empty until billing binds a tariff."),
    )
    status = forms.ChoiceField(label=_("Status"), choices=AccountStatus.choices)
    closed_on = forms.DateField(
        label=_("Closed on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Only for a closed account; today when left empty."),
    )
    suspended_on = forms.DateField(
        label=_("Suspended on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Only for a suspended account: the last day of supply; today when left empty."),
    )
    importance = forms.ChoiceField(
        label=_("Important user level"), choices=ImportanceLevel.choices, required=False
    )
    is_prepaid = forms.BooleanField(label=_("Prepaid (费控)"), required=False)
    billing_mode_since = forms.DateField(
        label=_("New billing mode from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_(
            "Only when the prepaid flag changes: the first day billed in the new mode, after the last "
            "day already billed or charged; today when left empty."
        ),
    )

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        self.account = account
        kwargs.setdefault(
            "initial",
            {
                "version": account.version,
                "customer_class": account.customer_class,
                "voltage_level": account.voltage_level,
                "tariff_code": account.tariff_code,
                "status": account.status,
                "closed_on": account.closed_on,
                "suspended_on": account.suspended_on,
                "importance": account.importance,
                "is_prepaid": account.is_prepaid,
            },
        )
        super().__init__(*args, **kwargs)
        if account.status == AccountStatus.CLOSED:
            status = cast(forms.ChoiceField, self.fields["status"])
            status.choices = [(AccountStatus.CLOSED, AccountStatus.CLOSED.label)]
            status.disabled = True  # the submitted value is ignored: the account stays closed
            status.help_text = ACCOUNT_CLOSED_IS_FINAL

    def changes(self) -> dict[str, Any]:
        """Keyword arguments for ``services.account_update`` (without version)."""
        data = {name: value for name, value in self.cleaned_data.items() if name != "version"}
        data["importance"] = data.get("importance") or ""
        if data["status"] != AccountStatus.CLOSED:
            data.pop("closed_on", None)
        if data["status"] != AccountStatus.SUSPENDED:
            data.pop("suspended_on", None)
        if data["is_prepaid"] == self.account.is_prepaid:
            data.pop("billing_mode_since", None)
        return data
