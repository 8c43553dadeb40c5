"""The catalogue the project ships with: tariffs, their first versions, the power-factor
adjustment tables, agency purchase prices for the demo months and the billing policy.

Plain data plus :func:`load`, which writes it through a model registry (the migration's
historical ``apps`` or ``django.apps.apps``), so a data migration and a test that flushed
the database load the same rows. Every value carries its source; values that are not
published prices say so.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

SRC_2018 = (
    "河北南网销售电价表 (version 20180501), https://www.wanglu.net/thread/t4-59220-0.html "
    "(domain-rules §4). Newer values are not confirmed: reload from the current 国网河北 电价表."
)
SRC_TOU_2025 = (
    "冀发改能价〔2025〕1115号, effective 2025-11-01: 平 = month's agency purchase price, 高峰 = 平 × 1.7, "
    "低谷 = 平 × 0.3, 尖峰 = 高峰 × 1.2, 深谷 = 低谷 × 0.8; < 1 kV without 尖峰/深谷; 上网环节线损费用, "
    "输配电价, 系统运行费, 政府性基金及附加 not floated. https://m.163.com/dy/article/KCB5L4KB0511CVT1.html "
    "(domain-rules §4)."
)
SRC_PF = (
    "功率因数调整电费办法 ((83)水电财字第215号), tables for the 0.90 / 0.85 / 0.80 standards as "
    "transcribed from http://wgbc.cn/zxjs/205.html (domain-rules §4)"
)
SRC_DEMO_PRICE = (
    "ILLUSTRATIVE DEMO VALUE, not a published price: load the month's 国网河北省电力有限公司代理购电价格公告 "
    "(purchase price, 上网环节线损费用, 输配电价, 系统运行费). 政府性基金及附加 0.0274 = 2018 河北南网 "
    "components for non-residential use (水利 0.53 + 大中型水库 0.26 + 地方水库 0.05 + 可再生能源 1.9 fen)."
)

RESIDENTIAL_FUNDS = {
    # fen/kWh → yuan/kWh, inside the residential catalogue price (2018 table, domain-rules §4)
    "water_works": "0.0053",  # 国家重大水利工程建设基金
    "reservoir_large": "0.0026",  # 大中型水库移民后期扶持资金
    "reservoir_local": "0.0005",  # 地方水库移民后期扶持资金
    "renewable": "0.0010",  # 可再生能源电价附加 (居民 0.1 fen)
}

TARIFFS: list[dict[str, Any]] = [
    {
        "code": "HEBS-RES-LV",
        "name": "居民生活 一户一表 不满1千伏 (年阶梯)",
        "kind": "res_tiered",
        "description": "Residential, one meter per household, < 1 kV; annual tiers 0–2,160 / 2,161–3,360 / "
        "> 3,360 kWh at 0.52 / 0.57 / 0.82 yuan/kWh. Values from the 2018 河北南网 table (newer values "
        "not confirmed). 政府性基金及附加 are inside the price.",
        "effective_from": dt.date(2018, 5, 1),
        "params": {
            "tier_basis": "annual",
            "tier_upper_kwh": ["2160", "3360"],
            "prices": ["0.52", "0.57", "0.82"],
            "included_funds": RESIDENTIAL_FUNDS,
        },
        "source": SRC_2018,
    },
    {
        "code": "HEBS-RES-LV-M",
        "name": "居民生活 一户一表 不满1千伏 (月阶梯)",
        "kind": "res_tiered",
        "description": "As HEBS-RES-LV with monthly tiers 0–180 / 181–280 / > 280 kWh. Values from the 2018 "
        "河北南网 table (newer values not confirmed).",
        "effective_from": dt.date(2018, 5, 1),
        "params": {
            "tier_basis": "monthly",
            "tier_upper_kwh": ["180", "280"],
            "prices": ["0.52", "0.57", "0.82"],
            "included_funds": RESIDENTIAL_FUNDS,
        },
        "source": SRC_2018,
    },
    {
        "code": "HEBS-RES-LV-TOU",
        "name": "居民生活 一户一表 不满1千伏 峰谷 (年阶梯)",
        "kind": "res_tou",
        "description": "Residential < 1 kV with peak (08–22) / valley (22–08) prices per tier 0.55/0.30, "
        "0.60/0.35, 0.85/0.60; annual tiers as HEBS-RES-LV. A period spanning tiers splits each tier's kWh "
        "between peak and valley in proportion to the period's registers. Values from the 2018 河北南网 "
        "table (newer values not confirmed).",
        "effective_from": dt.date(2018, 5, 1),
        "params": {
            "tier_basis": "annual",
            "tier_upper_kwh": ["2160", "3360"],
            "peak_prices": ["0.55", "0.60", "0.85"],
            "valley_prices": ["0.30", "0.35", "0.60"],
            "included_funds": RESIDENTIAL_FUNDS,
        },
        "source": SRC_2018,
    },
    {
        "code": "HEBS-GIC-LV",
        "name": "一般工商业 不满1千伏 (代理购电, 分时)",
        "kind": "gic_tou",
        "description": "General industrial & commercial < 1 kV on agency purchase: peak = purchase × 1.7, "
        "flat = purchase, valley = purchase × 0.3 (no sharp or deep valley below 1 kV), plus the unfloated "
        "parts of the month's agency price row (group GIC-LV). Ratios from 冀发改能价〔2025〕1115号; the "
        "monthly prices in the demo are illustrative, not published values.",
        "effective_from": dt.date(2025, 11, 1),
        "params": {
            "price_group": "GIC-LV",
            "ratios": {"peak": "1.7", "flat": "1", "valley": "0.3"},
            "sharp_over_peak": None,
            "deep_valley_over_valley": None,
            "pf_standard": None,
        },
        "source": SRC_TOU_2025,
    },
    {
        "code": "HEBS-LI-10KV",
        "name": "两部制 1-10千伏 (代理购电, 分时)",
        "kind": "two_part",
        "description": (
            "Two-part 1–10 kV: basic charge 23.3 yuan/kVA·month by capacity or 35 yuan/kW·month "
            "by maximum demand (chosen per contract; 2018 河北南网 table, newer values "
            "not confirmed), pro-rated by calendar days for partial months; TOU energy on the "
            "purchase price (sharp = peak × 1.2, deep valley = valley × 0.8) plus the unfloated "
            "parts (group LI-10KV); power-factor standard 0.90."
        ),
        "effective_from": dt.date(2025, 11, 1),
        "params": {
            "price_group": "LI-10KV",
            "ratios": {"peak": "1.7", "flat": "1", "valley": "0.3"},
            "sharp_over_peak": "1.2",
            "deep_valley_over_valley": "0.8",
            "capacity_price": "23.3",
            "demand_price": "35",
            "basic_proration": "calendar_days",
            "pf_standard": "0.90",
        },
        "source": SRC_TOU_2025 + " Basic charge: " + SRC_2018,
    },
]


def _pf_rows() -> list[tuple[str, str, str]]:
    """(standard, power factor, percent) for 0.00–1.00 under each standard.

    Each table as published: credits above the standard, +0.5 % per 0.01 for twenty steps
    below it, +1 % per 0.01 for the next five, then +2 % per 0.01 (the tables' closing rule,
    "自…及以下，每降低0.01电费增加2%"), carried down to 0.00."""
    credits = {
        "0.90": {95: "-0.75", 94: "-0.60", 93: "-0.45", 92: "-0.30", 91: "-0.15"},
        "0.85": {94: "-1.10", 93: "-0.95", 92: "-0.80", 91: "-0.65", 90: "-0.50", 89: "-0.40", 88: "-0.30",
                 87: "-0.20", 86: "-0.10"},
        "0.80": {92: "-1.30", 91: "-1.15", 90: "-1.00", 89: "-0.90", 88: "-0.80", 87: "-0.70", 86: "-0.60",
                 85: "-0.50", 84: "-0.40", 83: "-0.30", 82: "-0.20", 81: "-0.10"},
    }  # fmt: skip
    rows: list[tuple[str, str, str]] = []
    for standard, table in credits.items():
        base = int(Decimal(standard) * 100)
        cap_at = max(table)  # the credit is flat from this power factor up to 1.00
        for pf in range(0, 101):
            if pf > base:
                percent = Decimal(table[min(pf, cap_at)])
            elif pf == base:
                percent = Decimal("0")
            else:
                below = base - pf  # steps of 0.01 under the standard
                if below <= 20:
                    percent = Decimal("0.5") * below
                elif below <= 25:
                    percent = Decimal(10) + (below - 20)
                else:
                    percent = Decimal(15) + 2 * (below - 25)
            rows.append((standard, f"{pf / 100:.2f}", f"{percent:.2f}"))
    return rows


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    months, day = [], first
    while day <= last:
        months.append(day)
        day = dt.date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return months


def _agency_rows() -> list[dict[str, Any]]:
    """Demo agency prices, 2025-01 … 2027-12: a seasonal purchase price around 0.40 yuan/kWh
    (higher in summer and winter), fixed unfloated parts; labelled as illustrative."""
    seasonal = {1: 18, 2: 12, 3: 0, 4: -6, 5: -4, 6: 10, 7: 22, 8: 20, 9: 4, 10: -5, 11: 2, 12: 14}
    rows = []
    for month in _months(dt.date(2025, 1, 1), dt.date(2027, 12, 1)):
        purchase = Decimal("0.392000") + Decimal(seasonal[month.month]) / Decimal(1000)
        for group, transmission in (("GIC-LV", "0.186200"), ("LI-10KV", "0.121600")):
            rows.append(
                {
                    "month": month,
                    "price_group": group,
                    "purchase_price": purchase,
                    "line_loss_fee": Decimal("0.021300"),
                    "transmission_fee": Decimal(transmission),
                    "system_fee": Decimal("0.014800"),
                    "fund_fee": Decimal("0.027400"),
                    "source": SRC_DEMO_PRICE,
                }
            )
    return rows


POLICY = {
    "effective_from": dt.date(2018, 1, 1),
    "due_days": 15,
    "review_high_factor": Decimal("3.00"),
    "review_history_months": 6,
    "late_fee_residential_permille": Decimal("1.00"),
    "late_fee_current_year_permille": Decimal("2.00"),
    "late_fee_cross_year_permille": Decimal("3.00"),
    "late_fee_minimum": Decimal("1.00"),
    "prepaid_low_balance": Decimal("20.00"),
    "prepaid_notice_days": 3,
    "reconnect_hours": 24,
    "source": (
        "Late fee: 供电营业规则 (1996) 第九十八条 — 居民 1‰/day; others 2‰/day "
        "current-year and 3‰/day cross-year arrears; from the day after the due date; under "
        "1 yuan charged as 1 yuan (domain-rules §3; believed unchanged in the 2024 revision). "
        "Reconnect within 24 h of payment: 国网供电服务承诺 (c. 2011; a current exam item "
        "says 12 h). Due days, review thresholds, the prepaid reminder level and notice days "
        "are this company's configuration (the 供用电合同's terms)."
    ),
}


def load(apps: Any) -> None:
    """Write the catalogue through ``apps`` (idempotent: existing rows are kept)."""
    tariff_model = apps.get_model("billing", "Tariff")
    version_model = apps.get_model("billing", "TariffVersion")
    pf_model = apps.get_model("billing", "PowerFactorAdjustment")
    agency_model = apps.get_model("billing", "AgencyPurchasePrice")
    policy_model = apps.get_model("billing", "BillingPolicy")
    for spec in TARIFFS:
        tariff, _ = tariff_model.objects.get_or_create(
            code=spec["code"],
            defaults={"name": spec["name"], "kind": spec["kind"], "description": spec["description"]},
        )
        version_model.objects.get_or_create(
            tariff=tariff,
            effective_from=spec["effective_from"],
            defaults={"params": spec["params"], "source": spec["source"]},
        )
    existing = set(pf_model.objects.values_list("standard", "power_factor"))
    pf_model.objects.bulk_create(
        [
            pf_model(standard=s, power_factor=Decimal(p), percent=Decimal(v), source=SRC_PF)
            for s, p, v in _pf_rows()
            if (s, Decimal(p)) not in existing
        ]
    )
    have = set(agency_model.objects.values_list("month", "price_group"))
    agency_model.objects.bulk_create(
        [agency_model(**row) for row in _agency_rows() if (row["month"], row["price_group"]) not in have]
    )
    policy_model.objects.get_or_create(effective_from=POLICY["effective_from"], defaults=POLICY)
