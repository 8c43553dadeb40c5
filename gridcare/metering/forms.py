"""Console forms of metering (电能计量): list filters, the reading edit, the bulk handling
of reading exceptions, the file upload of an import and the verification-request forms.

Forms check types and required fields at the edge; the services stay the authority and
their :class:`~gridcare.core.errors.ValidationFailed` is shown on the field it names
(:func:`gridcare.customers.forms.add_service_error`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from gridcare.customers.choices import AreaType
from gridcare.metering.choices import ExceptionStatus, MeterStatus, ReadingSource, VeeRule

ANY = [("", _("Any"))]

# The channels a file may come from (estimates and edits are made here, not imported).
UPLOAD_CHANNELS = [
    (ReadingSource.AMI, ReadingSource.AMI.label),
    (ReadingSource.MANUAL, ReadingSource.MANUAL.label),
    (ReadingSource.HANDHELD, ReadingSource.HANDHELD.label),
]
UPLOAD_SUFFIXES = (".csv", ".parquet", ".pq")

# How a customer's verification request reached us (VerificationRequest.channel).
VERIFICATION_CHANNELS = [
    ("counter", _("Business hall (营业厅)")),
    ("hotline", _("95598 hotline")),
    ("portal", _("Online (网上国网)")),
]


class MeterSearchForm(forms.Form):
    """电能表查询: asset number, barcode or 户号, optionally one lifecycle status."""

    q = forms.CharField(label=_("Search"), required=False, max_length=64)
    status = forms.ChoiceField(label=_("Status"), required=False, choices=ANY + MeterStatus.choices)


class ExceptionFilterForm(forms.Form):
    """Filters of the reading-exception queue. An empty status lists every status."""

    rule = forms.ChoiceField(label=_("Rule"), required=False, choices=ANY + VeeRule.choices)
    area_type = forms.ChoiceField(label=_("Area type"), required=False, choices=ANY + AreaType.choices)
    min_age_days = forms.IntegerField(
        label=_("Older than (days)"), required=False, min_value=0, max_value=3650
    )
    status = forms.ChoiceField(
        label=_("Status"), required=False, choices=ANY + ExceptionStatus.choices, initial=ExceptionStatus.OPEN
    )


RESOLVE_CHOICES = [
    ("accept", _("Accept as read (确认)")),
    ("estimate", _("Estimate the missing days (估算)")),
    ("reread", _("Send for re-read (派发补抄)")),
    ("release", _("Release for billing (放行)")),
]


class ExceptionIdsField(forms.TypedMultipleChoiceField):
    """The ticked exception ids: any whole number is accepted here; the service refuses
    unknown or already resolved exceptions (all or none)."""

    def valid_value(self, value: Any) -> bool:
        return str(value).isdigit()


class ExceptionResolveForm(forms.Form):
    """处理抄表异常: one action with a note for the exceptions ticked in the queue."""

    ids = ExceptionIdsField(
        label=_("Exceptions"),
        coerce=int,
        error_messages={"required": _("Select at least one exception.")},
    )
    action = forms.ChoiceField(label=_("Action"), choices=RESOLVE_CHOICES)
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=300,
        help_text=_("Why: what you checked, or what the reader should look at."),
    )


class ReadingEditForm(forms.Form):
    """人工修改示数: which stored reading, its new value and the reason (audited)."""

    reading = forms.ChoiceField(label=_("Reading"), choices=[])  # Reading.key_on_meter
    value = forms.DecimalField(label=_("New value"), min_value=0, max_digits=14, decimal_places=3)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        help_text=_("Required; kept in the audit trail with the value before and after."),
    )

    def __init__(self, *args: Any, readings: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["reading"]).choices = readings


class ImportUploadForm(forms.Form):
    """抄表数据导入: a CSV or Parquet reading file and the channel it came from."""

    file = forms.FileField(
        label=_("Reading file"),
        help_text=_(
            "CSV (UTF-8) or Parquet with the columns meter, register, day, value and optionally source."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.parquet,.pq"}),
    )
    channel = forms.ChoiceField(label=_("Channel"), choices=UPLOAD_CHANNELS, initial=ReadingSource.AMI)

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if Path(upload.name).suffix.lower() not in UPLOAD_SUFFIXES:
            raise forms.ValidationError(_("Choose a .csv or .parquet file."))
        return upload


class VerificationFilterForm(forms.Form):
    """Filters of the verification-request list."""

    q = forms.CharField(label=_("Search"), required=False, max_length=32)
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[])
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)

    def __init__(self, *args: Any, statuses: list[tuple[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["status"]).choices = ANY + statuses


class VerificationRequestForm(forms.Form):
    """计量装置校验申请: the account (户号), how the request came in, what the customer says."""

    account_number = forms.CharField(label=_("Account number (户号)"), max_length=20)
    channel = forms.ChoiceField(label=_("Channel"), choices=VERIFICATION_CHANNELS, initial="counter")
    complaint = forms.CharField(
        label=_("Customer's statement"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("In the customer's words: why they think the meter is wrong."),
    )


class VerificationResultForm(forms.Form):
    """校验结果: the measured error, when the meter was tested and by whom."""

    error_pct = forms.DecimalField(
        label=_("Measured error (%)"),
        max_digits=6,
        decimal_places=2,
        help_text=_("Positive: the meter runs fast (refund); negative: it runs slow (back-bill)."),
    )
    tested_at = forms.DateTimeField(
        label=_("Tested at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    tester = forms.CharField(label=_("Tester"), max_length=100)
