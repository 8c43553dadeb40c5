"""Forms of the customer portal."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class MobileChangeForm(forms.Form):
    """Change the contact mobile (联系电话); ``version`` carries the optimistic lock."""

    mobile = forms.CharField(
        label=_("Mobile"),
        max_length=11,
        min_length=11,
        help_text=_("11 digits, starting with 1. Outage notices and bills are sent here."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "tel"}),
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)
