"""Billing console: the quote (电费试算) and the tariff catalogue (电价目录).

* ``billing:quote`` — rate a made-up period with the catalogue in force and show each line,
  which tier the kWh fell in (a stacked bar), and the total (``billing.view_tariff``).
* ``billing:quote_tariffs`` / ``billing:quote_tariff`` — tariffs, their versions, parameters
  and sources (``billing.view_tariff``); ``billing:quote_version_add`` adds a version
  (``billing.add_tariffversion``, validated by the engine's params validator, audited).
* ``billing:quote_agency`` — the 代理购电 price table (``billing.view_agencypurchaseprice``);
  ``billing:quote_agency_add`` adds a month (``billing.add_agencypurchaseprice``).
* ``billing:quote_pf`` — the power-factor adjustment tables
  (``billing.view_powerfactoradjustment``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from gridcare.billing.choices import BasicChargeBy, PfStandard
from gridcare.billing.models import AgencyPurchasePrice, PowerFactorAdjustment, Tariff
from gridcare.billing.services.catalogue import (
    AGENCY_FIELDS,
    agency_price_add,
    catalogue_load,
    parse_params,
    tariff_version_add,
)
from gridcare.billing.services.quote import bill_quote
from gridcare.core.errors import GridCareError
from gridcare.core.pagination import paginate
from gridcare.core.permissions import staff_required
from gridcare.customers.forms import add_service_error

KWH_FIELDS = ("total", "sharp", "peak", "flat", "valley", "deep_valley")
TIER_COLOURS = ("#2e7d32", "#f9a825", "#c62828", "#6a1b9a", "#1565c0", "#00838f")


def _kwh_field(label: Any, help_text: Any = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        help_text=help_text,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )


class QuoteForm(forms.Form):
    """The quote's inputs; the service checks them (and names the field on error)."""

    tariff = forms.ChoiceField(label=gettext_lazy("Tariff"))
    period_start = forms.DateField(label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"}))
    period_end = forms.DateField(
        label=gettext_lazy("To (inclusive)"), widget=forms.DateInput(attrs={"type": "date"})
    )
    total = _kwh_field(gettext_lazy("Total kWh"), gettext_lazy("Or the time-of-use registers below."))
    sharp = _kwh_field(gettext_lazy("Sharp peak kWh (尖峰)"))
    peak = _kwh_field(gettext_lazy("Peak kWh (高峰/峰)"))
    flat = _kwh_field(gettext_lazy("Flat kWh (平段)"))
    valley = _kwh_field(gettext_lazy("Valley kWh (低谷/谷)"))
    deep_valley = _kwh_field(gettext_lazy("Deep valley kWh (深谷)"))
    ytd_kwh_before = _kwh_field(
        gettext_lazy("kWh billed earlier this year"), gettext_lazy("Annual tiers count from 1 January.")
    )
    basic_charge_by = forms.ChoiceField(
        label=gettext_lazy("Basic charge by (两部制)"),
        required=False,
        choices=[("", "—"), *BasicChargeBy.choices],
    )
    capacity_kva = _kwh_field(gettext_lazy("Contracted capacity (kVA)"))
    max_demand_kw = _kwh_field(gettext_lazy("Maximum demand (kW)"))
    reactive_kvarh = _kwh_field(
        gettext_lazy("Reactive energy (kvarh)"), gettext_lazy("For the power-factor adjustment.")
    )

    def __init__(self, *args: Any, tariffs: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = cast(forms.ChoiceField, self.fields["tariff"])
        field.choices = tariffs

    def payload(self) -> dict[str, Any]:
        data = self.cleaned_data
        payload: dict[str, Any] = {
            "tariff": data["tariff"],
            "period_start": data["period_start"].isoformat(),
            "period_end": data["period_end"].isoformat(),
            "registers": {name: data[name] for name in KWH_FIELDS if data.get(name)},
        }
        for name in ("ytd_kwh_before", "capacity_kva", "max_demand_kw", "reactive_kvarh", "basic_charge_by"):
            if data.get(name):
                payload[name] = data[name]
        return payload


def _field_map() -> dict[str, str]:
    return {f"registers.{name}": name for name in KWH_FIELDS} | {"registers": "total"}


def _bars(result: dict[str, Any]) -> list[dict[str, Any]]:
    """kWh per tier / TOU period as shares of the period's energy (the stacked bar)."""
    total = sum((Decimal(t["kwh"]) for t in result.get("tiers", [])), Decimal(0))
    bars = []
    for i, tier in enumerate(result.get("tiers", [])):
        kwh = Decimal(tier["kwh"])
        share = (kwh * 100 / total) if total else Decimal(0)
        bars.append(
            {
                "name": tier["name"],
                "kwh": tier["kwh"],
                "percent": f"{share:.1f}",
                "colour": TIER_COLOURS[i % len(TIER_COLOURS)],
            }
        )
    return bars


@require_GET
@staff_required("billing.view_tariff")
def quote(request: HttpRequest) -> HttpResponse:
    """The quote form; submitting it (GET, so a quote can be bookmarked) shows the lines."""
    catalogue = catalogue_load()
    names = {v.code: v.name for v in catalogue.versions}
    tariffs = [(code, f"{code} {names.get(code, '')}") for code in sorted(catalogue.codes())]
    result = None
    if "tariff" in request.GET:
        form = QuoteForm(request.GET, tariffs=tariffs)
        if form.is_valid():
            try:
                result = bill_quote(payload=form.payload(), catalogue=catalogue)
            except GridCareError as exc:
                add_service_error(form, exc, _field_map())
    else:
        form = QuoteForm(tariffs=tariffs)
    context = {
        "form": form,
        "result": result,
        "bars": _bars(result) if result else [],
        "info_lines": [line for line in result["lines"] if line["kind"] == "info"] if result else [],
        "bill_lines": [line for line in result["lines"] if line["kind"] != "info"] if result else [],
    }
    return render(request, "billing/quote_form.html", context)


@require_GET
@staff_required("billing.view_tariff")
def tariffs(request: HttpRequest) -> HttpResponse:
    rows = []
    for tariff in Tariff.objects.prefetch_related("versions").order_by("code"):
        versions = sorted(tariff.versions.all(), key=lambda v: v.effective_from, reverse=True)
        rows.append({"tariff": tariff, "latest": versions[0] if versions else None, "count": len(versions)})
    return render(request, "billing/quote_tariffs.html", {"rows": rows})


@require_GET
@staff_required("billing.view_tariff", "billing.view_tariffversion")
def tariff_detail(request: HttpRequest, code: str) -> HttpResponse:
    tariff = Tariff.objects.filter(code=code).first()
    if tariff is None:
        raise Http404
    versions = [
        {"version": v, "params": json.dumps(v.params, ensure_ascii=False, indent=2)}
        for v in tariff.versions.order_by("-effective_from")
    ]
    return render(request, "billing/quote_tariff.html", {"tariff": tariff, "versions": versions})


class VersionForm(forms.Form):
    effective_from = forms.DateField(
        label=gettext_lazy("Effective from"), widget=forms.DateInput(attrs={"type": "date"})
    )
    params = forms.CharField(
        label=gettext_lazy("Parameters (JSON)"),
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false", "class": "mono"}),
        help_text=gettext_lazy(
            "Every price, bound and ratio as a decimal string; see docs/billing-tariffs.md."
        ),
    )
    source = forms.CharField(
        label=gettext_lazy("Source"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("The document number and link the values come from."),
    )


@require_http_methods(["GET", "POST"])
@staff_required("billing.view_tariff", "billing.add_tariffversion")
def version_add(request: HttpRequest, code: str) -> HttpResponse:
    tariff = Tariff.objects.filter(code=code).first()
    if tariff is None:
        raise Http404
    latest = tariff.versions.order_by("-effective_from").first()
    if request.method == "POST":
        form = VersionForm(request.POST)
        if form.is_valid():
            try:
                params = parse_params(form.cleaned_data["params"])
                version = tariff_version_add(
                    actor=request.user,
                    tariff_code=tariff.code,
                    effective_from=form.cleaned_data["effective_from"],
                    params=params,
                    source=form.cleaned_data["source"],
                )
            except GridCareError as exc:
                add_service_error(form, exc)
            else:
                messages.success(
                    request,
                    _("Version of %(code)s in force from %(date)s added.")
                    % {"code": tariff.code, "date": version.effective_from},
                )
                return redirect(reverse("billing:quote_tariff", args=[tariff.code]))
    else:
        initial = {"params": json.dumps(latest.params, ensure_ascii=False, indent=2) if latest else "{}"}
        form = VersionForm(initial=initial)
    return render(
        request, "billing/quote_version_add.html", {"tariff": tariff, "form": form, "latest": latest}
    )


@require_GET
@staff_required("billing.view_agencypurchaseprice")
def agency_prices(request: HttpRequest) -> HttpResponse:
    rows = AgencyPurchasePrice.objects.order_by("-month", "price_group")
    group = request.GET.get("group", "").strip()
    if group:
        rows = rows.filter(price_group=group)
    groups = (
        AgencyPurchasePrice.objects.order_by("price_group").values_list("price_group", flat=True).distinct()
    )
    page = paginate(request, rows, per_page=24)
    return render(
        request, "billing/quote_agency.html", {"page": page, "groups": list(groups), "group": group}
    )


class AgencyPriceForm(forms.Form):
    month = forms.DateField(
        label=gettext_lazy("Month"),
        input_formats=["%Y-%m", "%Y-%m-%d"],
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
    )
    price_group = forms.CharField(label=gettext_lazy("Price group"), max_length=30)
    purchase_price = forms.CharField(label=gettext_lazy("Purchase price (yuan/kWh)"))
    line_loss_fee = forms.CharField(label=gettext_lazy("上网环节线损费用 (yuan/kWh)"))
    transmission_fee = forms.CharField(label=gettext_lazy("输配电价 (yuan/kWh)"))
    system_fee = forms.CharField(label=gettext_lazy("系统运行费 (yuan/kWh)"))
    fund_fee = forms.CharField(label=gettext_lazy("政府性基金及附加 (yuan/kWh)"))
    source = forms.CharField(
        label=gettext_lazy("Source"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("The 代理购电价格公告 (title and link)."),
    )


@require_http_methods(["GET", "POST"])
@staff_required("billing.view_agencypurchaseprice", "billing.add_agencypurchaseprice")
def agency_price_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = AgencyPriceForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                row = agency_price_add(
                    actor=request.user,
                    month=data["month"],
                    price_group=data["price_group"],
                    prices={name: data[name] for name in AGENCY_FIELDS},
                    source=data["source"],
                )
            except GridCareError as exc:
                add_service_error(form, exc)
            else:
                messages.success(
                    request,
                    _("Agency prices of %(group)s for %(month)s added.")
                    % {"group": row.price_group, "month": f"{row.month:%Y-%m}"},
                )
                return redirect(reverse("billing:quote_agency"))
    else:
        form = AgencyPriceForm()
    return render(request, "billing/quote_agency_add.html", {"form": form})


@require_GET
@staff_required("billing.view_powerfactoradjustment")
def pf_tables(request: HttpRequest) -> HttpResponse:
    standards = [value for value, _label in PfStandard.choices]
    table: dict[Decimal, dict[str, Decimal]] = {}
    sources = set()
    for row in PowerFactorAdjustment.objects.all():
        table.setdefault(row.power_factor, {})[row.standard] = row.percent
        sources.add(row.source)
    rows = [
        {"pf": pf, "cells": [table[pf].get(s) for s in standards], "standard": f"{pf:.2f}" in standards}
        for pf in sorted(table, reverse=True)
    ]
    return render(
        request,
        "billing/quote_pf.html",
        {"standards": standards, "rows": rows, "sources": sorted(sources)},
    )


urlpatterns = [
    path("quote/", quote, name="quote"),
    path("tariffs/", tariffs, name="quote_tariffs"),
    path("tariffs/<str:code>/", tariff_detail, name="quote_tariff"),
    path("tariffs/<str:code>/versions/new/", version_add, name="quote_version_add"),
    path("agency-prices/", agency_prices, name="quote_agency"),
    path("agency-prices/new/", agency_price_new, name="quote_agency_add"),
    path("power-factor/", pf_tables, name="quote_pf"),
]
