"""电费试算 (quote): rate one made-up period with the catalogue in force, line by line.

The hotline's answer to "why is my bill so high": the same engine as a billing run
(:func:`gridcare.billing.engine.rating.rate`), so a quote of a billed period with the same
registers gives the bill's lines. Read-only: nothing is written.

Input (``payload``; kWh and prices as decimal strings or numbers)::

    {"tariff": "HEBS-RES-LV", "period_start": "2026-10-01", "period_end": "2026-10-31",
     "registers": {"total": "300"} | {"sharp"|"peak"|"flat"|"valley"|"deep_valley": …},
     "ytd_kwh_before": "2000", "max_demand_kw": …, "capacity_kva": …,
     "basic_charge_by": "capacity"|"demand", "reactive_kvarh": …}

Output: ``{"lines": [{"item", "kind", "label", "kwh", "unit_price", "amount", …}],
"total", …}`` with amounts as decimal strings in yuan.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from gridcare.billing.engine.catalogue import Catalogue
from gridcare.billing.engine.rating import periods_frame, rate
from gridcare.billing.engine.rounding import fen_to_decimal, micro_to_decimal, wh_to_kwh
from gridcare.billing.services.catalogue import catalogue_load
from gridcare.core.errors import ValidationFailed

REGISTER_KEYS = ("total", "sharp", "peak", "flat", "valley", "deep_valley")
ALLOWED_KEYS = {
    "tariff",
    "period_start",
    "period_end",
    "registers",
    "ytd_kwh_before",
    "max_demand_kw",
    "capacity_kva",
    "basic_charge_by",
    "reactive_kvarh",
}
MAX_DAYS = 366
MAX_KWH = Decimal("1000000000")  # 1 TWh: far above any account, far below the engine's integer range


def _date(payload: dict[str, Any], key: str) -> dt.date:
    value = payload.get(key)
    if value in (None, ""):
        raise ValidationFailed(_("Give the date (YYYY-MM-DD)."), field=key)
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValidationFailed(_("Not a date (YYYY-MM-DD): %(value)s") % {"value": value}, field=key) from exc


def _units(value: Any, field: str, *, per: int = 1000) -> int | None:
    """kWh / kW / kVA / kvarh (at most 3 decimals) → integer Wh / W / VA / varh; None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationFailed(_("Not a number."), field=field)
    try:
        amount = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed(_("Not a number: %(value)s") % {"value": value}, field=field) from exc
    if not amount.is_finite():
        raise ValidationFailed(_("Not a number: %(value)s") % {"value": value}, field=field)
    if amount < 0:
        raise ValidationFailed(_("Must not be negative."), field=field)
    if amount > MAX_KWH:
        raise ValidationFailed(_("Too large."), field=field)
    scaled = amount * per
    if scaled != scaled.to_integral_value():
        raise ValidationFailed(_("At most 3 decimal places."), field=field)
    return int(scaled)


def quote_period_row(payload: dict[str, Any], catalogue: Catalogue) -> tuple[dict[str, Any], str]:
    """Validate a quote payload into one engine period row; returns (row, tariff kind)."""
    if not isinstance(payload, dict):
        raise ValidationFailed(_("The quote must be a JSON object."), field=None)
    unknown = sorted(set(payload) - ALLOWED_KEYS)
    if unknown:
        raise ValidationFailed(_("Unknown field %(field)s.") % {"field": unknown[0]}, field=unknown[0])
    code = payload.get("tariff")
    if not isinstance(code, str) or not code.strip():
        raise ValidationFailed(_("Choose a tariff."), field="tariff")
    code = code.strip()
    if code not in catalogue.codes():
        raise ValidationFailed(_("Unknown tariff %(code)s.") % {"code": code}, field="tariff")
    start = _date(payload, "period_start")
    end = _date(payload, "period_end")
    if end < start:
        raise ValidationFailed(_("The period ends before it starts."), field="period_end")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationFailed(
            _("A quote covers at most %(days)s days.") % {"days": MAX_DAYS}, field="period_end"
        )
    version = catalogue.version_in_force(code, start)
    if version is None:
        raise ValidationFailed(
            _("%(code)s has no version in force on %(date)s.") % {"code": code, "date": start},
            field="period_start",
        )
    kind = version.kind
    registers = payload.get("registers")
    if not isinstance(registers, dict) or not registers:
        raise ValidationFailed(_("Give the kWh of the period (registers)."), field="registers")
    bad = sorted(set(registers) - set(REGISTER_KEYS))
    if bad:
        raise ValidationFailed(
            _("Unknown register %(name)s.") % {"name": bad[0]}, field=f"registers.{bad[0]}"
        )
    wh = {name: _units(registers.get(name), f"registers.{name}") for name in REGISTER_KEYS}
    tou: dict[str, int] = {name: value for name in REGISTER_KEYS[1:] if (value := wh[name]) is not None}
    if wh["total"] is None and not tou:
        raise ValidationFailed(_("Give the kWh of the period (registers)."), field="registers")
    if kind == "res_tou":
        for name in ("peak", "valley"):
            if wh[name] is None:
                raise ValidationFailed(
                    _("A peak/valley tariff needs the peak and valley kWh."), field=f"registers.{name}"
                )
    if kind in ("res_tiered", "res_tou") and set(tou) - {"peak", "valley"}:
        extra = sorted(set(tou) - {"peak", "valley"})[0]
        raise ValidationFailed(
            _("This tariff has no %(name)s register.") % {"name": extra}, field=f"registers.{extra}"
        )
    total = wh["total"]
    if total is None:
        total = sum(tou.values())
    elif tou and total != sum(tou.values()) and kind != "res_tiered":
        raise ValidationFailed(
            _("The total differs from the sum of the time-of-use registers."), field="registers.total"
        )
    row: dict[str, Any] = {
        "account_id": 0,
        "tariff_code": code,
        "period_start": start,
        "period_end": end,
        "total_wh": total,
        "ytd_wh_before": _units(payload.get("ytd_kwh_before"), "ytd_kwh_before") or 0,
        "reactive_varh": _units(payload.get("reactive_kvarh"), "reactive_kvarh"),
    }
    if kind != "res_tiered":
        for name in REGISTER_KEYS[1:]:
            row[f"{name}_wh"] = wh[name]
    if kind == "two_part":
        by = payload.get("basic_charge_by")
        if by not in ("capacity", "demand"):
            raise ValidationFailed(
                _("Choose how the basic charge is billed (capacity or demand)."), field="basic_charge_by"
            )
        row["basic_charge_by"] = by
        row["capacity_va"] = _units(payload.get("capacity_kva"), "capacity_kva")
        row["max_demand_w"] = _units(payload.get("max_demand_kw"), "max_demand_kw")
        if by == "capacity" and row["capacity_va"] is None:
            raise ValidationFailed(_("Give the contracted capacity (kVA)."), field="capacity_kva")
        if by == "demand" and row["max_demand_w"] is None:
            raise ValidationFailed(_("Give the maximum demand (kW)."), field="max_demand_kw")
    return row, kind


REGISTER_NAMES = {
    "sharp": "Sharp peak (尖峰)",
    "peak": "Peak (高峰)",
    "flat": "Flat (平段)",
    "valley": "Valley (低谷)",
    "deep_valley": "Deep valley (深谷)",
}
PASS_NAMES = {
    "pass_line_loss": "Grid-side line loss (上网环节线损费用)",
    "pass_transmission": "Transmission & distribution (输配电价)",
    "pass_system": "System operation (系统运行费)",
}
FUND_NAMES = {
    "water_works": "国家重大水利工程建设基金",
    "reservoir_large": "大中型水库移民后期扶持资金",
    "reservoir_local": "地方水库移民后期扶持资金",
    "renewable": "可再生能源电价附加",
}


def line_label(line: dict[str, Any]) -> str:
    """A human label for an engine line (the bill notice and the quote use it)."""
    item = line["item"]
    if item.startswith("energy_tier"):
        rest = item.removeprefix("energy_tier")
        tier, _sep, period = rest.partition("_")
        label = _("Tier %(tier)s energy") % {"tier": tier}
        if period:
            label += " · " + (_("peak (峰)") if period == "peak" else _("valley (谷)"))
        return label
    if item.startswith("energy_"):
        return _("Energy, %(period)s") % {"period": _(REGISTER_NAMES.get(item.removeprefix("energy_"), item))}
    if item in PASS_NAMES:
        return _(PASS_NAMES[item])
    if item == "fund":
        return _("Government funds and surcharges (政府性基金及附加)")
    if item.startswith("fund_"):
        name = item.removeprefix("fund_")
        return _("of which %(fund)s (included in the price)") % {"fund": FUND_NAMES.get(name, name)}
    if item in ("basic_capacity", "basic_demand"):
        qty = Decimal(line.get("qty") or 0) / 1000
        unit = "kVA" if item == "basic_capacity" else "kW"
        label = (
            _("Basic charge by capacity (按容量)")
            if item == "basic_capacity"
            else _("Basic charge by demand (按需量)")
        )
        label += f" · {qty.normalize():f} {unit}"
        if line.get("days") is not None and line.get("days") != line.get("month_days"):
            label += " · " + _("%(days)s of %(month_days)s days") % {
                "days": line["days"],
                "month_days": line["month_days"],
            }
        return label
    if item == "pf_adjustment":
        pf = Decimal(line.get("pf_centi") or 0) / 100
        pct = Decimal(line.get("pf_percent_centi") or 0) / 100
        return _("Power-factor adjustment · pf %(pf)s → %(pct)s%%") % {
            "pf": f"{pf:.2f}",
            "pct": f"{pct:+.2f}",
        }
    return str(item)


def quote_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Engine lines (integers) → quote lines (decimal strings, labels)."""
    out = []
    for line in lines:
        out.append(
            {
                "seq": line["seq"],
                "kind": line["kind"],
                "item": line["item"],
                "label": line_label(line),
                "kwh": None if line["wh"] is None else str(wh_to_kwh(line["wh"])),
                "unit_price": None
                if line["unit_price_micro"] is None
                else str(micro_to_decimal(line["unit_price_micro"])),
                "amount": str(fen_to_decimal(line["amount_fen"])),
                "from": line["line_from"].isoformat() if line.get("line_from") else None,
                "to": line["line_to"].isoformat() if line.get("line_to") else None,
                "tariff_version_id": line["tariff_version_id"],
            }
        )
    return out


def _tiers(lines: list[dict[str, Any]]) -> list[dict[str, str]]:
    """kWh per tier (residential) or per time-of-use period (I&C), for the chart."""
    buckets: dict[str, int] = {}
    for line in lines:
        if line["kind"] != "energy" or line["wh"] is None:
            continue
        item = line["item"]
        if item.startswith("energy_tier"):
            key = _("Tier %(tier)s") % {"tier": item.removeprefix("energy_tier").partition("_")[0]}
        else:
            key = _(REGISTER_NAMES.get(item.removeprefix("energy_"), item))
        buckets[key] = buckets.get(key, 0) + line["wh"]
    return [{"name": name, "kwh": str(wh_to_kwh(wh))} for name, wh in buckets.items()]


def bill_quote(*, payload: dict[str, Any], catalogue: Catalogue | None = None) -> dict[str, Any]:
    """Rate one period for the quote; ``ValidationFailed`` (naming the field) on bad input."""
    catalogue = catalogue or catalogue_load()
    row, kind = quote_period_row(payload, catalogue)
    rating = rate(periods_frame([row]), catalogue)
    if rating.errors.height:
        reason = rating.errors["reason"][0]
        field = "period_start" if "agency" in reason or "version" in reason else "registers"
        raise ValidationFailed(_("Cannot rate this period: %(reason)s") % {"reason": reason}, field=field)
    lines = rating.lines.sort("seq").to_dicts()
    total = rating.totals.row(0, named=True)
    version = catalogue.version_in_force(row["tariff_code"], row["period_start"])
    versions = sorted({line["tariff_version_id"] for line in lines})
    return {
        "tariff": row["tariff_code"],
        "tariff_name": version.name if version else "",
        "kind": kind,
        "period_start": row["period_start"].isoformat(),
        "period_end": row["period_end"].isoformat(),
        "kwh": str(wh_to_kwh(total["wh"])),
        "lines": quote_lines(lines),
        "total": str(fen_to_decimal(total["total_fen"])),
        "tiers": _tiers(lines),
        "versions": [
            {"id": v.id, "effective_from": v.effective_from.isoformat(), "source": v.source}
            for v in catalogue.versions
            if v.id in versions
        ],
    }
