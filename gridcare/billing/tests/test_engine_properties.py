"""Properties of the rating engine (hypothesis): the lines sum to the total, consumption
splits exactly, more consumption never costs less, the power factor is exact."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, getcontext
from typing import Any

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from gridcare.billing.engine.catalogue import catalogue_from_seed
from gridcare.billing.engine.rating import periods_frame, power_factor_centi, rate

CAT = catalogue_from_seed()
CODES = ["HEBS-RES-LV", "HEBS-RES-LV-M", "HEBS-RES-LV-TOU", "HEBS-GIC-LV", "HEBS-LI-10KV"]

kwh = st.integers(min_value=0, max_value=50_000).map(lambda k: k * 1000)  # whole kWh in Wh
starts = st.dates(min_value=dt.date(2025, 11, 1), max_value=dt.date(2027, 10, 31))


@st.composite
def periods(draw: Any) -> dict[str, Any]:
    code = draw(st.sampled_from(CODES))
    start = draw(starts)
    end = start + dt.timedelta(days=draw(st.integers(min_value=0, max_value=60)))
    row: dict[str, Any] = {
        "account_id": 1,
        "tariff_code": code,
        "period_start": start,
        "period_end": end,
        "ytd_wh_before": draw(st.integers(min_value=0, max_value=5_000)) * 1000,
    }
    if code in ("HEBS-RES-LV", "HEBS-RES-LV-M"):
        row["total_wh"] = draw(kwh)
    elif code == "HEBS-RES-LV-TOU":
        row["peak_wh"] = draw(kwh)
        row["valley_wh"] = draw(kwh)
    else:
        for reg in ("sharp", "peak", "flat", "valley", "deep_valley"):
            row[f"{reg}_wh"] = draw(kwh)
        row["reactive_varh"] = draw(st.none() | st.integers(min_value=0, max_value=40_000_000))
    if code == "HEBS-LI-10KV":
        by = draw(st.sampled_from(["capacity", "demand"]))
        row["basic_charge_by"] = by
        row["capacity_va"] = draw(st.integers(min_value=0, max_value=5_000)) * 1000
        row["max_demand_w"] = draw(st.integers(min_value=0, max_value=5_000)) * 1000
        row["service_days"] = draw(st.none() | st.integers(min_value=0, max_value=70))
    return row


@given(st.lists(periods(), min_size=1, max_size=8))
def test_lines_sum_to_the_total(rows: list[dict[str, Any]]) -> None:
    for i, row in enumerate(rows):
        row["account_id"] = i + 1
    rating = rate(periods_frame(rows), CAT)
    assert rating.errors.height == 0
    sums = dict(
        rating.lines.filter(pl.col("kind") != "info").group_by("row").agg(pl.col("amount_fen").sum()).rows()
    )
    for row_index, total in rating.totals.select("row", "total_fen").rows():
        assert total == sums.get(row_index, 0)
    # seq is 1…n for every period
    for _row, group in rating.lines.group_by("row"):
        assert sorted(group["seq"].to_list()) == list(range(1, group.height + 1))


@given(periods())
def test_energy_lines_add_up_to_the_consumption(row: dict[str, Any]) -> None:
    rating = rate(periods_frame([row]), CAT)
    energy = rating.lines.filter(pl.col("kind") == "energy")["wh"].sum()
    assert energy == rating.totals["wh"][0]
    regs = [row.get(f"{r}_wh") for r in ("sharp", "peak", "flat", "valley", "deep_valley")]
    expected = row["total_wh"] if row.get("total_wh") is not None else sum(r for r in regs if r is not None)
    assert energy == expected


@given(periods(), st.integers(min_value=1, max_value=20_000), st.integers(min_value=2, max_value=5))
def test_more_consumption_never_costs_less(row: dict[str, Any], extra_kwh: int, factor: int) -> None:
    before = rate(periods_frame([row]), CAT).totals["total_fen"][0]
    grown = dict(row)
    if row["tariff_code"] in ("HEBS-RES-LV", "HEBS-RES-LV-M"):
        grown["total_wh"] = row["total_wh"] + extra_kwh * 1000
    elif row["tariff_code"] == "HEBS-RES-LV-TOU":
        grown["peak_wh"] = row["peak_wh"] + extra_kwh * 1000
    else:
        # scale every register and the reactive energy alike: the power factor stays the same
        for reg in ("sharp", "peak", "flat", "valley", "deep_valley"):
            grown[f"{reg}_wh"] = row[f"{reg}_wh"] * factor
        if row["reactive_varh"] is not None:
            grown["reactive_varh"] = row["reactive_varh"] * factor
    after = rate(periods_frame([grown]), CAT).totals["total_fen"][0]
    assert after >= before


getcontext().prec = 60


@given(st.integers(min_value=1, max_value=10**13), st.integers(min_value=0, max_value=10**13))
def test_power_factor_is_exact(active: int, reactive: int) -> None:
    exact = Decimal(active) / (Decimal(active) ** 2 + Decimal(reactive) ** 2).sqrt()
    expected = int((exact * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert power_factor_centi(active, reactive) == expected


@given(st.integers(min_value=1, max_value=10**10), st.integers(min_value=0, max_value=10**10))
def test_engine_pf_matches_the_exact_function(active: int, reactive: int) -> None:
    row = {
        "account_id": 1,
        "tariff_code": "HEBS-LI-10KV",
        "period_start": dt.date(2026, 10, 1),
        "period_end": dt.date(2026, 10, 31),
        "flat_wh": active,
        "reactive_varh": reactive,
        "basic_charge_by": "demand",
        "max_demand_w": 1000,
    }
    pf = rate(periods_frame([row]), CAT).lines.filter(pl.col("kind") == "pf")
    assert pf["pf_centi"][0] == power_factor_centi(active, reactive)


def test_power_factor_at_the_half_boundary() -> None:
    # 3-4-5 triangles give exact values: A=3, R=4 → 0.6 exactly; A=995, R such that pf ≈ .995
    assert power_factor_centi(3, 4) == 60
    assert power_factor_centi(4, 3) == 80
    assert power_factor_centi(1, 0) == 100
    # pf² = 0.895² exactly when A² / (A² + R²) = 0.801025 → A=895, A²+R²=1,000,000 → R²=198,975 (not a
    # square), so check both neighbours of the boundary
    assert power_factor_centi(895, 446) == 90  # 0.8950… (446² = 198,916 < 198,975)
    assert power_factor_centi(895, 447) == 89  # 0.8947… (447² = 199,809 > 198,975)
