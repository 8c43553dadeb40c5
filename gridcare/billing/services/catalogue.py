"""The tariff catalogue (电价目录): load it for the rating engine, add versions and agency
price months.

``catalogue_load()`` reads every tariff version, agency purchase price and power-factor row
(three queries, no cache: a billing run loads it once, a quote each time) into the engine's
:class:`~gridcare.billing.engine.catalogue.Catalogue`.

Versions and agency prices are only ever added: a version is in force from its date until
the next one, and a date on or before the end of an issued bill of that tariff is refused
(correct an issued bill with a 退补 document instead), as is one on or before the end of a
draft bill (issuing it would make the old prices final).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from gridcare.billing.choices import BillStatus
from gridcare.billing.engine.catalogue import AgencyPriceRow, Catalogue, VersionRow, compile_params
from gridcare.billing.models import AgencyPurchasePrice, Bill, PowerFactorAdjustment, Tariff, TariffVersion
from gridcare.core.audit import audit_record, snapshot
from gridcare.core.errors import Conflict, NotFound, ValidationFailed

Actor = AbstractBaseUser | AnonymousUser | str | None

AGENCY_FIELDS = ("purchase_price", "line_loss_fee", "transmission_fee", "system_fee", "fund_fee")


def catalogue_load() -> Catalogue:
    """The whole catalogue from the database (versions, agency prices, PF tables)."""
    versions = tuple(
        VersionRow(
            id=v.pk,
            code=v.tariff.code,
            kind=v.tariff.kind,
            effective_from=v.effective_from,
            params=v.params,
            source=v.source,
            name=v.tariff.name,
        )
        for v in TariffVersion.objects.select_related("tariff").order_by("tariff__code", "effective_from")
    )
    agency = tuple(
        AgencyPriceRow(
            month=a.month,
            price_group=a.price_group,
            purchase_price=a.purchase_price,
            line_loss_fee=a.line_loss_fee,
            transmission_fee=a.transmission_fee,
            system_fee=a.system_fee,
            fund_fee=a.fund_fee,
            source=a.source,
        )
        for a in AgencyPurchasePrice.objects.order_by("month", "price_group")
    )
    tables: dict[str, dict[int, Decimal]] = {}
    for standard, pf, percent in PowerFactorAdjustment.objects.values_list(
        "standard", "power_factor", "percent"
    ):
        tables.setdefault(standard, {})[int(pf * 100)] = percent
    return Catalogue(versions=versions, agency_prices=agency, pf_tables=tables)


def parse_params(text: str | dict[str, Any]) -> dict[str, Any]:
    """Parameters as typed in a form (JSON text) or given as a dict."""
    if isinstance(text, dict):
        return text
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed(
            _("Parameters must be a JSON object: %(error)s") % {"error": exc}, field="params"
        ) from exc
    if not isinstance(value, dict):
        raise ValidationFailed(_("Parameters must be a JSON object."), field="params")
    return value


def _billed_after(tariff_code: str, day: dt.date, status: BillStatus) -> bool:
    """Bills of ``tariff_code`` in ``status`` for a period ending on or after ``day``."""
    return Bill.objects.filter(tariff_code=tariff_code, status=status, period_end__gte=day).exists()


@transaction.atomic
def tariff_version_add(
    *, actor: Actor, tariff_code: str, effective_from: dt.date, params: dict[str, Any], source: str
) -> TariffVersion:
    """Add a version of a tariff in force from ``effective_from`` (validated, audited)."""
    tariff = Tariff.objects.select_for_update().filter(code=tariff_code).first()
    if tariff is None:
        raise NotFound(_("No tariff %(code)s.") % {"code": tariff_code}, field="tariff")
    if not isinstance(effective_from, dt.date):
        raise ValidationFailed(_("Give the date the version takes effect."), field="effective_from")
    if not source or not source.strip():
        raise ValidationFailed(_("Cite the source of the prices (document number, link)."), field="source")
    try:
        compile_params(tariff.kind, params)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="params") from exc
    latest = tariff.versions.order_by("-effective_from").first()
    if latest is not None and effective_from <= latest.effective_from:
        raise ValidationFailed(
            _("A new version must take effect after the latest one (%(date)s).")
            % {"date": latest.effective_from},
            field="effective_from",
        )
    if _billed_after(tariff.code, effective_from, BillStatus.ISSUED):
        raise Conflict(
            _(
                "Bills of %(code)s issued for periods on or after %(date)s exist; "
                "correct them with a 退补 document."
            )
            % {"code": tariff.code, "date": effective_from},
            field="effective_from",
        )
    if _billed_after(tariff.code, effective_from, BillStatus.DRAFT):
        # Issuing those drafts would make the old prices final over the new version's days.
        raise Conflict(
            _(
                "Draft bills of %(code)s for periods on or after %(date)s exist and were rated "
                "with the old prices; add the version before the run of those periods, or issue "
                "the run and correct its bills with a 退补 document."
            )
            % {"code": tariff.code, "date": effective_from},
            field="effective_from",
        )
    version = TariffVersion.objects.create(
        tariff=tariff, effective_from=effective_from, params=params, source=source.strip()
    )
    audit_record(
        actor=actor,
        obj=version,
        action="tariff_version_add",
        after=snapshot(version, ["tariff_id", "effective_from", "params", "source"]),
    )
    return version


def _price(value: Any, field: str) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed(_("Not a price in yuan/kWh."), field=field) from exc
    if not amount.is_finite() or amount < 0:
        raise ValidationFailed(_("A price must be a number ≥ 0."), field=field)
    if amount != amount.quantize(Decimal("0.000001")):
        raise ValidationFailed(_("At most 6 decimal places."), field=field)
    if amount >= 1_000_000:
        raise ValidationFailed(_("The price is too large."), field=field)
    return amount


@transaction.atomic
def agency_price_add(
    *, actor: Actor, month: dt.date, price_group: str, prices: dict[str, Any], source: str
) -> AgencyPurchasePrice:
    """Add a month's 代理购电 price row for a price group (validated, audited)."""
    if not isinstance(month, dt.date):
        raise ValidationFailed(_("Give the month."), field="month")
    month = month.replace(day=1)
    group = (price_group or "").strip()
    if not group:
        raise ValidationFailed(_("Give the price group (e.g. GIC-LV)."), field="price_group")
    known_groups = {
        str(v.params.get("price_group")) for v in TariffVersion.objects.all() if v.params.get("price_group")
    }
    if group not in known_groups:
        raise ValidationFailed(
            _("No tariff uses the price group %(group)s (known: %(known)s).")
            % {"group": group, "known": ", ".join(sorted(known_groups))},
            field="price_group",
        )
    if not source or not source.strip():
        raise ValidationFailed(_("Cite the announcement the prices come from."), field="source")
    values = {name: _price(prices.get(name), name) for name in AGENCY_FIELDS}
    if AgencyPurchasePrice.objects.filter(month=month, price_group=group).exists():
        raise Conflict(
            _("%(group)s already has prices for %(month)s.") % {"group": group, "month": f"{month:%Y-%m}"},
            field="month",
        )
    row = AgencyPurchasePrice.objects.create(month=month, price_group=group, source=source.strip(), **values)
    audit_record(
        actor=actor,
        obj=row,
        action="agency_price_add",
        after=snapshot(row, ["month", "price_group", *AGENCY_FIELDS, "source"]),
    )
    return row
