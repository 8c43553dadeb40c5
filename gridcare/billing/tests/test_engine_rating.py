"""The rating engine on hand-computed cases, one group per tariff kind (pure: no database).

Prices come from the seeded catalogue (``gridcare.billing.seed_data``): residential
0.52 / 0.57 / 0.82 yuan/kWh, annual bounds 2,160 / 3,360 kWh, monthly 180 / 280 kWh,
residential TOU peak/valley 0.55/0.30, 0.60/0.35, 0.85/0.60; agency purchase price
0.392 + seasonal/1000 yuan/kWh (October 2026: 0.387, November: 0.394), unfloated parts
0.0213 (line loss) + 0.1862 (transmission, GIC-LV) or 0.1216 (LI-10KV) + 0.0148 (system),
funds 0.0274; two-part 23.3 yuan/kVA·month or 35 yuan/kW·month.

Every amount is rounded per line, half-up, to the fen.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from gridcare.billing.engine.catalogue import Catalogue, VersionRow, catalogue_from_seed
from gridcare.billing.engine.rating import LINE_SCHEMA, PERIOD_SCHEMA, periods_frame, rate

CAT = catalogue_from_seed()
D = dt.date
OCT = {"period_start": D(2026, 10, 1), "period_end": D(2026, 10, 31)}


def rate_one(
    catalogue: Catalogue = CAT, **row: Any
) -> tuple[dict[str, list[dict[str, Any]]], int, pl.DataFrame]:
    """Rate one period; (lines by item, total fen, the raw lines)."""
    row.setdefault("account_id", 1)
    rating = rate(periods_frame([row]), catalogue)
    assert rating.errors.height == 0, rating.errors.to_dicts()
    lines = rating.lines.sort("seq")
    by_item: dict[str, list[dict[str, Any]]] = {}
    for line in lines.to_dicts():
        by_item.setdefault(line["item"], []).append(line)
    total = rating.totals["total_fen"][0]
    # the total is the sum of the lines that are not INFO
    assert total == lines.filter(pl.col("kind") != "info")["amount_fen"].sum()
    assert lines["seq"].to_list() == list(range(1, lines.height + 1))
    return by_item, total, lines


def amounts(by_item: dict[str, list[dict[str, Any]]], item: str) -> list[tuple[int, int, int]]:
    return [(line["wh"], line["unit_price_micro"], line["amount_fen"]) for line in by_item[item]]


def test_output_schemas() -> None:
    rating = rate(
        periods_frame([{"account_id": 1, "tariff_code": "HEBS-RES-LV", **OCT, "total_wh": 1000}]), CAT
    )
    assert rating.lines.schema == pl.Schema(LINE_SCHEMA)
    assert list(rating.totals.columns[:3]) == ["account_id", "wh", "total_fen"]
    assert list(rating.errors.columns[:2]) == ["account_id", "reason"]
    empty = rate(pl.DataFrame(schema=PERIOD_SCHEMA), CAT)
    assert empty.lines.height == 0
    assert empty.totals.height == 0


# --- residential, annual tiers (HEBS-RES-LV) ---------------------------------------------------


def test_annual_tier1_only_with_info_funds() -> None:
    # 100 kWh in tier 1: 100 × 0.52 = 52.00
    by, total, _ = rate_one(tariff_code="HEBS-RES-LV", **OCT, total_wh=100_000)
    assert amounts(by, "energy_tier1") == [(100_000, 520_000, 5200)]
    assert total == 5200
    # funds inside the price, INFO only: 100 × 0.0053 = 0.53, × 0.0026 = 0.26,
    # × 0.0005 = 0.05, × 0.0010 = 0.10
    assert amounts(by, "fund_water_works") == [(100_000, 5300, 53)]
    assert amounts(by, "fund_reservoir_large") == [(100_000, 2600, 26)]
    assert amounts(by, "fund_reservoir_local") == [(100_000, 500, 5)]
    assert amounts(by, "fund_renewable") == [(100_000, 1000, 10)]
    assert {line["kind"] for item in by if item.startswith("fund_") for line in by[item]} == {"info"}


def test_annual_tier_crossing_inside_one_period() -> None:
    # ytd 2,000 kWh + 300 kWh: tier 1 up to 2,160 → 160 kWh × 0.52 = 83.20;
    # tier 2: 140 kWh × 0.57 = 79.80; total 163.00
    by, total, _ = rate_one(tariff_code="HEBS-RES-LV", **OCT, total_wh=300_000, ytd_wh_before=2_000_000)
    assert amounts(by, "energy_tier1") == [(160_000, 520_000, 8320)]
    assert amounts(by, "energy_tier2") == [(140_000, 570_000, 7980)]
    assert "energy_tier3" not in by
    assert total == 16300


def test_annual_crossing_both_bounds() -> None:
    # ytd 2,100 + 1,500 kWh: tier 1 60 kWh × 0.52 = 31.20; tier 2 1,200 × 0.57 = 684.00;
    # tier 3 240 × 0.82 = 196.80; total 912.00
    by, total, _ = rate_one(tariff_code="HEBS-RES-LV", **OCT, total_wh=1_500_000, ytd_wh_before=2_100_000)
    assert amounts(by, "energy_tier1") == [(60_000, 520_000, 3120)]
    assert amounts(by, "energy_tier2") == [(1_200_000, 570_000, 68400)]
    assert amounts(by, "energy_tier3") == [(240_000, 820_000, 19680)]
    assert total == 91200


def test_annual_tiers_restart_on_1_january() -> None:
    # 2026-12-16 … 2027-01-15 (31 days), 310 kWh, ytd 3,300 kWh.
    # December, 16 days: floor(310,000 × 16 / 31) = 160,000 Wh: 60 kWh to 3,360 at 0.57 = 34.20,
    #   100 kWh in tier 3 at 0.82 = 82.00.
    # January, 15 days: 150,000 Wh from 0 → tier 1 at 0.52 = 78.00.  Total 194.20.
    by, total, _ = rate_one(
        tariff_code="HEBS-RES-LV",
        period_start=D(2026, 12, 16),
        period_end=D(2027, 1, 15),
        total_wh=310_000,
        ytd_wh_before=3_300_000,
    )
    assert amounts(by, "energy_tier1") == [(150_000, 520_000, 7800)]
    assert amounts(by, "energy_tier2") == [(60_000, 570_000, 3420)]
    assert amounts(by, "energy_tier3") == [(100_000, 820_000, 8200)]
    assert by["energy_tier1"][0]["line_from"] == D(2027, 1, 1)
    assert total == 19420


# --- residential, monthly tiers (HEBS-RES-LV-M) ------------------------------------------------


def test_monthly_tiers_full_month() -> None:
    # 300 kWh: 180 × 0.52 = 93.60; 100 × 0.57 = 57.00; 20 × 0.82 = 16.40; total 167.00
    by, total, _ = rate_one(tariff_code="HEBS-RES-LV-M", **OCT, total_wh=300_000, ytd_wh_before=9_999_000)
    assert amounts(by, "energy_tier1") == [(180_000, 520_000, 9360)]
    assert amounts(by, "energy_tier2") == [(100_000, 570_000, 5700)]
    assert amounts(by, "energy_tier3") == [(20_000, 820_000, 1640)]
    assert total == 16700  # ytd is ignored by monthly tiers


def test_monthly_tiers_partial_month_prorate_bounds() -> None:
    # 2026-10-16 … 31: 16 of 31 days. Bounds 180 × 16/31 = 92.9032 → 92,903 Wh;
    # 280 × 16/31 = 144.5161 → 144,516 Wh (half-up to the Wh). 150 kWh:
    # tier 1 92.903 × 0.52 = 48.30956 → 48.31; tier 2 51.613 × 0.57 = 29.41941 → 29.42;
    # tier 3 5.484 × 0.82 = 4.49688 → 4.50. Total 82.23.
    by, total, _ = rate_one(
        tariff_code="HEBS-RES-LV-M",
        period_start=D(2026, 10, 16),
        period_end=D(2026, 10, 31),
        total_wh=150_000,
    )
    assert amounts(by, "energy_tier1") == [(92_903, 520_000, 4831)]
    assert amounts(by, "energy_tier2") == [(51_613, 570_000, 2942)]
    assert amounts(by, "energy_tier3") == [(5_484, 820_000, 450)]
    assert total == 8223


def test_monthly_tiers_per_calendar_month_of_a_crossing_period() -> None:
    # 2026-10-16 … 11-15 (31 days), 310 kWh: October 16 days → 160,000 Wh, November 150,000 Wh.
    # October bounds 92,903 / 144,516: 92.903 + 51.613 + 15.484 kWh.
    # November 15 of 30 days: bounds 90 / 140: 90 + 50 + 10 kWh.
    # Merged: tier 1 182.903 × 0.52 = 95.10956 → 95.11; tier 2 101.613 × 0.57 = 57.91941 → 57.92;
    # tier 3 25.484 × 0.82 = 20.89688 → 20.90. Total 173.93.
    by, total, _ = rate_one(
        tariff_code="HEBS-RES-LV-M",
        period_start=D(2026, 10, 16),
        period_end=D(2026, 11, 15),
        total_wh=310_000,
    )
    assert amounts(by, "energy_tier1") == [(182_903, 520_000, 9511)]
    assert amounts(by, "energy_tier2") == [(101_613, 570_000, 5792)]
    assert amounts(by, "energy_tier3") == [(25_484, 820_000, 2090)]
    assert total == 17393


# --- residential TOU (HEBS-RES-LV-TOU) -------------------------------------------------------------


def test_residential_tou_inside_tier1() -> None:
    # peak 100 × 0.55 = 55.00; valley 50 × 0.30 = 15.00; total 70.00
    by, total, _ = rate_one(tariff_code="HEBS-RES-LV-TOU", **OCT, peak_wh=100_000, valley_wh=50_000)
    assert amounts(by, "energy_tier1_peak") == [(100_000, 550_000, 5500)]
    assert amounts(by, "energy_tier1_valley") == [(50_000, 300_000, 1500)]
    assert total == 7000


def test_residential_tou_split_across_tiers() -> None:
    # ytd 2,000; peak 200 + valley 100 = 300 kWh: tier 1 160 kWh, tier 2 140 kWh.
    # Peak share 200/300: tier 1 peak floor(200,000 × 160,000 / 300,000) = 106,666 Wh,
    # valley 53,334; tier 2 peak 200,000 − 106,666 = 93,334, valley 46,666.
    # 106.666 × 0.55 = 58.6663 → 58.67; 53.334 × 0.30 = 16.0002 → 16.00;
    # 93.334 × 0.60 = 56.0004 → 56.00; 46.666 × 0.35 = 16.3331 → 16.33. Total 147.00.
    by, total, _ = rate_one(
        tariff_code="HEBS-RES-LV-TOU", **OCT, peak_wh=200_000, valley_wh=100_000, ytd_wh_before=2_000_000
    )
    assert amounts(by, "energy_tier1_peak") == [(106_666, 550_000, 5867)]
    assert amounts(by, "energy_tier1_valley") == [(53_334, 300_000, 1600)]
    assert amounts(by, "energy_tier2_peak") == [(93_334, 600_000, 5600)]
    assert amounts(by, "energy_tier2_valley") == [(46_666, 350_000, 1633)]
    assert total == 14700


# --- general I&C single-part TOU (HEBS-GIC-LV) --------------------------------------------------------


def test_gic_tou_with_unfloated_parts_and_fund_line() -> None:
    # October 2026 purchase 0.387: peak × 1.7 = 0.6579, flat 0.387, valley × 0.3 = 0.1161.
    # peak 200 kWh = 131.58; flat 100 = 38.70; valley 50 × 0.1161 = 5.805 → 5.81 (half-up).
    # 350 kWh of unfloated parts: 0.0213 → 7.455 → 7.46; 0.1862 → 65.17; 0.0148 → 5.18;
    # funds 0.0274 → 9.59 (its own FUND line). Total 263.49.
    by, total, _ = rate_one(
        tariff_code="HEBS-GIC-LV", **OCT, peak_wh=200_000, flat_wh=100_000, valley_wh=50_000
    )
    assert amounts(by, "energy_peak") == [(200_000, 657_900, 13158)]
    assert amounts(by, "energy_flat") == [(100_000, 387_000, 3870)]
    assert amounts(by, "energy_valley") == [(50_000, 116_100, 581)]
    assert amounts(by, "pass_line_loss") == [(350_000, 21_300, 746)]
    assert amounts(by, "pass_transmission") == [(350_000, 186_200, 6517)]
    assert amounts(by, "pass_system") == [(350_000, 14_800, 518)]
    assert amounts(by, "fund") == [(350_000, 27_400, 959)]
    assert by["fund"][0]["kind"] == "fund"
    assert by["pass_system"][0]["kind"] == "pass"
    assert "pf_adjustment" not in by  # GIC-LV has no power-factor standard
    assert total == 26349


def test_gic_total_register_only_is_rated_at_flat_price() -> None:
    # 100 kWh, no TOU registers: flat 0.387 → 38.70, plus parts 2.13 + 18.62 + 1.48 + funds 2.74
    by, total, _ = rate_one(tariff_code="HEBS-GIC-LV", **OCT, total_wh=100_000)
    assert amounts(by, "energy_flat") == [(100_000, 387_000, 3870)]
    assert total == 3870 + 213 + 1862 + 148 + 274


def test_gic_below_1kv_bills_sharp_at_peak_and_deep_valley_at_valley() -> None:
    # no sharp or deep-valley price below 1 kV: sharp 10 + peak 20 = 30 kWh at 0.6579 = 19.737 → 19.74;
    # deep 5 + valley 5 = 10 kWh at 0.1161 = 1.161 → 1.16
    by, _, _ = rate_one(
        tariff_code="HEBS-GIC-LV",
        **OCT,
        sharp_wh=10_000,
        peak_wh=20_000,
        valley_wh=5_000,
        deep_valley_wh=5_000,
    )
    assert amounts(by, "energy_peak") == [(30_000, 657_900, 1974)]
    assert amounts(by, "energy_valley") == [(10_000, 116_100, 116)]
    assert "energy_sharp" not in by
    assert "energy_deep_valley" not in by


def test_agency_price_change_when_a_period_crosses_months() -> None:
    # 2026-10-16 … 11-15 (31 days), flat 310 kWh: October 16 days → 160 kWh at 0.387 = 61.92;
    # November 150 kWh at 0.394 = 59.10. Unfloated parts keep their price, one line each:
    # 310 × 0.0213 = 6.603 → 6.60; × 0.1862 = 57.722 → 57.72; × 0.0148 = 4.588 → 4.59;
    # funds × 0.0274 = 8.494 → 8.49. Total 198.42.
    by, total, _ = rate_one(
        tariff_code="HEBS-GIC-LV", period_start=D(2026, 10, 16), period_end=D(2026, 11, 15), flat_wh=310_000
    )
    assert amounts(by, "energy_flat") == [(160_000, 387_000, 6192), (150_000, 394_000, 5910)]
    assert [line["line_from"] for line in by["energy_flat"]] == [D(2026, 10, 16), D(2026, 11, 1)]
    assert amounts(by, "pass_line_loss") == [(310_000, 21_300, 660)]
    assert amounts(by, "pass_transmission") == [(310_000, 186_200, 5772)]
    assert amounts(by, "pass_system") == [(310_000, 14_800, 459)]
    assert amounts(by, "fund") == [(310_000, 27_400, 849)]
    assert total == 19842


def test_mid_period_tariff_version_change() -> None:
    # A new HEBS-RES-LV version from 2026-10-16 at 0.60 / 0.65 / 0.90. October, 310 kWh, ytd 0:
    # 1–15 Oct: floor(310,000 × 15 / 31) = 150,000 Wh at 0.52 = 78.00 (version 1);
    # 16–31 Oct: 160,000 Wh at 0.60 = 96.00 (version 99). Total 174.00.
    base = next(v for v in CAT.versions if v.code == "HEBS-RES-LV")
    params = dict(base.params, prices=["0.60", "0.65", "0.90"])
    newer = VersionRow(
        id=99, code="HEBS-RES-LV", kind="res_tiered", effective_from=D(2026, 10, 16), params=params
    )
    catalogue = dataclasses.replace(CAT, versions=(*CAT.versions, newer))
    by, total, _ = rate_one(catalogue, tariff_code="HEBS-RES-LV", **OCT, total_wh=310_000)
    assert [
        (line["wh"], line["unit_price_micro"], line["amount_fen"], line["tariff_version_id"])
        for line in by["energy_tier1"]
    ] == [
        (150_000, 520_000, 7800, base.id),
        (160_000, 600_000, 9600, 99),
    ]
    assert total == 17400
    # a period entirely after the change uses only the new version
    by, total, _ = rate_one(
        catalogue,
        tariff_code="HEBS-RES-LV",
        period_start=D(2026, 11, 1),
        period_end=D(2026, 11, 30),
        total_wh=100_000,
    )
    assert amounts(by, "energy_tier1") == [(100_000, 600_000, 6000)]


# --- two-part (HEBS-LI-10KV) ---------------------------------------------------------------------


def test_two_part_energy_sharp_and_deep_valley_prices() -> None:
    # October purchase 0.387: sharp = 0.387 × 1.7 × 1.2 = 0.78948; peak 0.6579; flat 0.387;
    # valley 0.1161; deep valley = 0.387 × 0.3 × 0.8 = 0.09288 (each rounded once to 6 places).
    by, _, _ = rate_one(
        tariff_code="HEBS-LI-10KV",
        **OCT,
        sharp_wh=1_000_000,
        peak_wh=1_000_000,
        flat_wh=1_000_000,
        valley_wh=1_000_000,
        deep_valley_wh=1_000_000,
        capacity_va=800_000,
        basic_charge_by="capacity",
    )
    assert amounts(by, "energy_sharp") == [(1_000_000, 789_480, 78948)]
    assert amounts(by, "energy_peak") == [(1_000_000, 657_900, 65790)]
    assert amounts(by, "energy_flat") == [(1_000_000, 387_000, 38700)]
    assert amounts(by, "energy_valley") == [(1_000_000, 116_100, 11610)]
    assert amounts(by, "energy_deep_valley") == [(1_000_000, 92_880, 9288)]
    # full month by capacity: 800 kVA × 23.3 = 18,640.00
    assert [(line["qty"], line["unit_price_micro"], line["amount_fen"]) for line in by["basic_capacity"]] == [
        (800_000, 23_300_000, 1_864_000)
    ]
    assert by["basic_capacity"][0]["wh"] is None
    assert by["basic_capacity"][0]["seq"] == 1


def test_two_part_basic_charge_partial_month_and_demand() -> None:
    # 2026-10-16 … 31: 800 kVA × 23.3 × 16/31 = 9,620.645 → 9,620.65
    by, _, _ = rate_one(
        tariff_code="HEBS-LI-10KV",
        period_start=D(2026, 10, 16),
        period_end=D(2026, 10, 31),
        flat_wh=0,
        capacity_va=800_000,
        basic_charge_by="capacity",
    )
    assert [(line["days"], line["month_days"], line["amount_fen"]) for line in by["basic_capacity"]] == [
        (16, 31, 962_065)
    ]
    # a period across two months: 16/31 of October + 15/30 of November (18,640 × 0.5 = 9,320.00)
    by, _, _ = rate_one(
        tariff_code="HEBS-LI-10KV",
        period_start=D(2026, 10, 16),
        period_end=D(2026, 11, 15),
        flat_wh=0,
        capacity_va=800_000,
        basic_charge_by="capacity",
    )
    assert [(line["days"], line["month_days"], line["amount_fen"]) for line in by["basic_capacity"]] == [
        (16, 31, 962_065),
        (15, 30, 932_000),
    ]
    # in service the last 10 days of October only: 18,640 × 10/31 = 6,012.903 → 6,012.90
    by, _, _ = rate_one(
        tariff_code="HEBS-LI-10KV",
        **OCT,
        flat_wh=0,
        capacity_va=800_000,
        basic_charge_by="capacity",
        service_days=10,
    )
    assert [(line["days"], line["amount_fen"]) for line in by["basic_capacity"]] == [(10, 601_290)]
    # by maximum demand: 500 kW × 35 = 17,500.00
    by, _, _ = rate_one(
        tariff_code="HEBS-LI-10KV", **OCT, flat_wh=0, max_demand_w=500_000, basic_charge_by="demand"
    )
    assert [(line["qty"], line["unit_price_micro"], line["amount_fen"]) for line in by["basic_demand"]] == [
        (500_000, 35_000_000, 1_750_000)
    ]


def _capacity(day: dt.date, kva: int) -> dict[str, Any]:
    return {"from": day, "basic_charge_by": "capacity", "capacity_va": kva * 1000, "max_demand_w": None}


def basic_lines(by: dict[str, list[dict[str, Any]]]) -> list[tuple[Any, ...]]:
    lines = sorted(by.get("basic_capacity", []) + by.get("basic_demand", []), key=lambda line: line["seq"])
    return [
        (
            line["item"],
            line["qty"],
            line["days"],
            line["month_days"],
            line["amount_fen"],
            line["line_from"],
            line["line_to"],
        )
        for line in lines
    ]


def test_two_part_contract_change_inside_the_month_bills_each_contract_for_its_days() -> None:
    # 减容 1,000 → 500 kVA from 16 October: 1,000 × 23.3 × 15/31 = 11,274.19 and
    # 500 × 23.3 × 16/31 = 6,012.90 → 17,287.09 (not 500 × 23.3 = 11,650.00 for the month).
    # The row's own basis is the contract in force at the end, as the run gives it.
    by, total, lines = rate_one(
        tariff_code="HEBS-LI-10KV",
        **OCT,
        flat_wh=1_000_000,
        reactive_varh=reactive_for(Decimal("0.80"), 1_000_000),
        capacity_va=500_000,
        basic_charge_by="capacity",
        basic_parts=[_capacity(D(2026, 10, 1), 1000), _capacity(D(2026, 10, 16), 500)],
    )
    assert basic_lines(by) == [
        ("basic_capacity", 1_000_000, 15, 31, 1_127_419, D(2026, 10, 1), D(2026, 10, 15)),
        ("basic_capacity", 500_000, 16, 31, 601_290, D(2026, 10, 16), D(2026, 10, 31)),
    ]
    assert [line["seq"] for line in by["basic_capacity"]] == [1, 2]
    # the power-factor adjustment (pf 0.80: +5 %) covers both basic lines
    base = 1_127_419 + 601_290 + 38_700 + 2_130 + 12_160 + 1_480
    assert by["pf_adjustment"][0]["amount_fen"] == (base * 500 + 5_000) // 10_000
    assert total == base + 2_740 + by["pf_adjustment"][0]["amount_fen"]


def test_two_part_contract_parts_across_months_basis_switch_and_partial_service() -> None:
    # 10 October … 20 November; 800 kVA until 4 November (a part starting before the
    # period counts from the period start), then 300 kW by demand: 800 × 23.3 × 22/31 =
    # 13,228.387 → 13,228.39; × 4/30 = 2,485.333 → 2,485.33; 300 × 35 × 16/30 = 5,600.00.
    demand = {
        "from": D(2026, 11, 5),
        "basic_charge_by": "demand",
        "capacity_va": None,
        "max_demand_w": 300_000,
    }
    by, _, _ = rate_one(
        tariff_code="HEBS-LI-10KV",
        period_start=D(2026, 10, 10),
        period_end=D(2026, 11, 20),
        flat_wh=0,
        basic_parts=[demand, _capacity(D(2026, 9, 1), 800)],  # in any order
    )
    assert basic_lines(by) == [
        ("basic_capacity", 800_000, 22, 31, 1_322_839, D(2026, 10, 10), D(2026, 10, 31)),
        ("basic_capacity", 800_000, 4, 30, 248_533, D(2026, 11, 1), D(2026, 11, 4)),
        ("basic_demand", 300_000, 16, 30, 560_000, D(2026, 11, 5), D(2026, 11, 20)),
    ]
    # in service the last 10 days of October only: the first part's days before them pay
    # nothing (16–21 October at 1,000 kVA: 6 days; 22–31 at 500 kVA: 10 days)
    by, _, _ = rate_one(
        tariff_code="HEBS-LI-10KV",
        **OCT,
        flat_wh=0,
        service_days=16,
        basic_parts=[_capacity(D(2026, 10, 1), 1000), _capacity(D(2026, 10, 22), 500)],
    )
    assert [(line[1], line[2], line[4]) for line in basic_lines(by)] == [
        (1_000_000, 6, 450_968),  # 23,300 × 6/31 = 4,509.677 → 4,509.68
        (500_000, 10, 375_806),  # 11,650 × 10/31 = 3,758.064 → 3,758.06
    ]
    # one part for the whole period: exactly the row's own basic charge
    whole, _, _ = rate_one(
        tariff_code="HEBS-LI-10KV", **OCT, flat_wh=0, basic_parts=[_capacity(D(2026, 1, 1), 800)]
    )
    assert [line[1:5] for line in basic_lines(whole)] == [(800_000, 31, 31, 1_864_000)]


def test_two_part_contract_parts_are_checked_like_the_row() -> None:
    rating = rate(
        periods_frame(
            [
                {
                    "account_id": 1,
                    "tariff_code": "HEBS-LI-10KV",
                    **OCT,
                    "flat_wh": 0,
                    "basic_parts": [
                        _capacity(D(2026, 10, 1), 800),
                        {**_capacity(D(2026, 10, 16), 0), "capacity_va": None},
                    ],
                },
                {
                    "account_id": 2,
                    "tariff_code": "HEBS-LI-10KV",
                    **OCT,
                    "flat_wh": 0,
                    "capacity_va": 800_000,
                    "basic_charge_by": "capacity",
                },
            ]
        ),
        CAT,
    )
    assert rating.errors.select("account_id", "reason").to_dicts() == [
        {"account_id": 1, "reason": "basic charge by capacity needs capacity_va"}
    ]
    assert rating.totals["account_id"].to_list() == [2]


# --- power factor -----------------------------------------------------------------------------------

# Base of the adjustment for the cases below: 100 kW × 35 = 3,500.00 basic; 1,000 kWh flat in
# October at 0.387 = 387.00; unfloated 21.30 + 121.60 + 14.80 (LI-10KV transmission 0.1216);
# the fund line (27.40) is NOT in the base. Base = 4,044.70 yuan = 404,470 fen.
PF_BASE_FEN = 350_000 + 38_700 + 2_130 + 12_160 + 1_480


def reactive_for(pf: Decimal, active_wh: int) -> int:
    """A reactive energy giving exactly ``pf`` after rounding (well inside the band)."""
    return round(active_wh * math.sqrt(1 / float(pf) ** 2 - 1))


def standard_catalogue(standard: str) -> Catalogue:
    base = next(v for v in CAT.versions if v.code == "HEBS-LI-10KV")
    version = dataclasses.replace(base, params=dict(base.params, pf_standard=standard))
    return dataclasses.replace(CAT, versions=tuple(version if v is base else v for v in CAT.versions))


@pytest.mark.parametrize(
    ("standard", "pf", "percent_centi", "amount_fen"),
    [
        # standard 0.90: +0.5 % per 0.01 down to 0.70, +1 % to 0.65, +2 % below; credits above
        ("0.90", "0.89", 50, 2022),  # 404,470 × 0.5 % = 2,022.35 → 2,022
        ("0.90", "0.90", 0, 0),
        ("0.90", "0.91", -15, -607),  # × −0.15 % = −606.705 → −607 (half away from zero)
        ("0.90", "0.95", -75, -3034),  # × −0.75 % = −3,033.525 → −3,034
        ("0.90", "1.00", -75, -3034),
        ("0.90", "0.70", 1000, 40447),  # +10 %
        ("0.90", "0.69", 1100, 44492),  # +11 %: 44,491.7 → 44,492
        ("0.90", "0.65", 1500, 60671),  # +15 %: 60,670.5 → 60,671
        ("0.90", "0.64", 1700, 68760),  # +17 %: 68,759.9 → 68,760
        # standard 0.85
        ("0.85", "0.85", 0, 0),
        ("0.85", "0.84", 50, 2022),
        ("0.85", "0.86", -10, -404),  # −404.47 → −404
        ("0.85", "0.94", -110, -4449),  # −4,449.17 → −4,449
        ("0.85", "0.65", 1000, 40447),
        ("0.85", "0.60", 1500, 60671),
        # standard 0.80
        ("0.80", "0.80", 0, 0),
        ("0.80", "0.79", 50, 2022),
        ("0.80", "0.81", -10, -404),
        ("0.80", "0.92", -130, -5258),  # −5,258.11 → −5,258
        ("0.80", "0.65", 750, 30335),  # +7.5 %: 30,335.25 → 30,335
        ("0.80", "0.60", 1000, 40447),
        ("0.80", "0.59", 1100, 44492),
    ],
)
def test_power_factor_bands(standard: str, pf: str, percent_centi: int, amount_fen: int) -> None:
    by, total, _ = rate_one(
        standard_catalogue(standard),
        tariff_code="HEBS-LI-10KV",
        **OCT,
        flat_wh=1_000_000,
        reactive_varh=reactive_for(Decimal(pf), 1_000_000),
        max_demand_w=100_000,
        basic_charge_by="demand",
    )
    line = by["pf_adjustment"][0]
    assert line["kind"] == "pf"
    assert line["pf_centi"] == int(Decimal(pf) * 100)
    assert line["pf_percent_centi"] == percent_centi
    assert line["amount_fen"] == amount_fen
    assert total == PF_BASE_FEN + 2_740 + amount_fen  # base + fund + adjustment


def test_no_pf_line_without_reactive_or_active_energy() -> None:
    by, _, _ = rate_one(
        tariff_code="HEBS-LI-10KV", **OCT, flat_wh=1_000_000, max_demand_w=1, basic_charge_by="demand"
    )
    assert "pf_adjustment" not in by
    by, _, _ = rate_one(
        tariff_code="HEBS-LI-10KV",
        **OCT,
        flat_wh=0,
        reactive_varh=5_000,
        max_demand_w=1,
        basic_charge_by="demand",
    )
    assert "pf_adjustment" not in by


def test_pf_of_a_period_across_months_uses_the_whole_period() -> None:
    # 2026-10-16 … 11-15, pf 0.80 under 0.90 → +5 % of basic + energy + unfloated parts of both months
    by, total, lines = rate_one(
        tariff_code="HEBS-LI-10KV",
        period_start=D(2026, 10, 16),
        period_end=D(2026, 11, 15),
        flat_wh=3_100_000,
        reactive_varh=reactive_for(Decimal("0.80"), 3_100_000),
        capacity_va=800_000,
        basic_charge_by="capacity",
    )
    base = lines.filter(pl.col("kind").is_in(["basic", "energy", "pass"]))["amount_fen"].sum()
    assert by["pf_adjustment"][0]["pf_percent_centi"] == 500
    assert by["pf_adjustment"][0]["amount_fen"] == (base * 500 + 5_000) // 10_000
    assert by["pf_adjustment"][0]["seq"] == lines.height


# --- errors ---------------------------------------------------------------------------------------------


def test_errors_frame_names_the_reason_and_rates_the_rest() -> None:
    rows = [
        {"account_id": 1, "tariff_code": "HEBS-RES-LV", **OCT, "total_wh": 1000},
        {"account_id": 2, "tariff_code": "NOPE", **OCT, "total_wh": 1000},
        {
            "account_id": 3,
            "tariff_code": "HEBS-GIC-LV",
            "period_start": D(2025, 10, 1),
            "period_end": D(2025, 10, 31),
            "total_wh": 1,
        },
        {
            "account_id": 4,
            "tariff_code": "HEBS-GIC-LV",
            "period_start": D(2030, 1, 1),
            "period_end": D(2030, 1, 31),
            "total_wh": 1,
        },
        {"account_id": 5, "tariff_code": "HEBS-RES-LV-TOU", **OCT, "total_wh": 1000},
        {"account_id": 6, "tariff_code": "HEBS-LI-10KV", **OCT, "flat_wh": 1000},
        {
            "account_id": 7,
            "tariff_code": "HEBS-LI-10KV",
            **OCT,
            "flat_wh": 1000,
            "basic_charge_by": "capacity",
        },
        {
            "account_id": 8,
            "tariff_code": "HEBS-RES-LV",
            "period_start": D(2026, 10, 2),
            "period_end": D(2026, 10, 1),
            "total_wh": 1,
        },
        {"account_id": 9, "tariff_code": "HEBS-RES-LV", **OCT, "total_wh": -5},
        {
            "account_id": 10,
            "tariff_code": "HEBS-GIC-LV",
            "period_start": D(2027, 12, 16),
            "period_end": D(2028, 1, 15),
            "flat_wh": 9,
        },
    ]
    rating = rate(periods_frame(rows), CAT)
    reasons = dict(rating.errors.select("account_id", "reason").rows())
    assert set(reasons) == {2, 3, 4, 5, 6, 7, 8, 9, 10}
    assert reasons[2] == "unknown tariff NOPE"
    assert "no version of HEBS-GIC-LV" in reasons[3]
    assert reasons[4] == "no agency purchase price for GIC-LV in 2030-01"
    assert "peak and valley" in reasons[5]
    assert "basic_charge_by" in reasons[6]
    assert "capacity_va" in reasons[7]
    assert "period_end before period_start" in reasons[8]
    assert reasons[9] == "negative consumption"
    assert (
        reasons[10] == "no agency purchase price for GIC-LV in 2028-01"
    )  # December had one: no lines at all
    assert rating.totals["account_id"].to_list() == [1]
    assert set(rating.lines["account_id"].to_list()) == {1}


def test_several_periods_of_one_account_keep_their_rows() -> None:
    rows = [
        {"account_id": 7, "tariff_code": "HEBS-RES-LV", **OCT, "total_wh": 100_000},
        {
            "account_id": 7,
            "tariff_code": "HEBS-RES-LV",
            "period_start": D(2026, 11, 1),
            "period_end": D(2026, 11, 30),
            "total_wh": 200_000,
            "ytd_wh_before": 100_000,
        },
    ]
    rating = rate(periods_frame(rows), CAT)
    assert rating.totals.select("row", "total_fen").rows() == [(0, 5200), (1, 10400)]
    energy = rating.lines.filter(pl.col("kind") == "energy").sort("row")
    assert energy.select("row", "seq", "wh").rows() == [(0, 1, 100_000), (1, 1, 200_000)]


def test_a_version_with_invalid_params_is_reported_not_priced() -> None:
    # a broken version (two prices for three tiers) from 2026-11-01 must not fall back to the
    # older prices: its periods are errors, the rest are rated
    base = next(v for v in CAT.versions if v.code == "HEBS-RES-LV")
    broken = VersionRow(
        id=77,
        code="HEBS-RES-LV",
        kind="res_tiered",
        effective_from=D(2026, 11, 1),
        params=dict(base.params, prices=["0.60", "0.65"]),
    )
    catalogue = dataclasses.replace(CAT, versions=(*CAT.versions, broken))
    rows = [
        {"account_id": 1, "tariff_code": "HEBS-RES-LV", **OCT, "total_wh": 1000},
        {
            "account_id": 2,
            "tariff_code": "HEBS-RES-LV",
            "period_start": D(2026, 11, 1),
            "period_end": D(2026, 11, 30),
            "total_wh": 1000,
        },
        {
            "account_id": 3,
            "tariff_code": "HEBS-RES-LV",
            "period_start": D(2026, 10, 16),
            "period_end": D(2026, 11, 15),
            "total_wh": 1000,
        },
    ]
    rating = rate(periods_frame(rows), catalogue)
    reasons = dict(rating.errors.select("account_id", "reason").rows())
    assert set(reasons) == {2, 3}
    assert "invalid parameters: params.prices: needs 3 prices" in reasons[2]
    assert rating.totals["account_id"].to_list() == [1]
    assert set(rating.lines["account_id"].to_list()) == {1}
