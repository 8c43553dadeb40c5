"""The theft and violation charges (engine/penalty.py) with hand-computed cases: every
expected number below was worked out by hand from the formula of domain-rules §3."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcare.inspection.engine.penalty import (
    PenaltyInputError,
    Rule,
    case_charges,
    rmb_capital,
    theft_charges,
    violation_charges,
)

D = Decimal
VALUES = {
    "theft_multiple": "3",
    "theft_unknown_days": "180",
    "theft_hours_power": "12",
    "theft_hours_lighting": "6",
    "tariff_misuse_multiple": "2",
    "tariff_misuse_unknown_months": "3",
    "capacity_two_part_multiple": "3",
    "capacity_other_per_kw": "50",
    "sealed_two_part_multiple": "2",
    "sealed_other_per_kw": "30",
    "tampering_residential": "500",
    "tampering_other": "5000",
    "source_per_kw": "500",
}
NOT_CAPPED = {
    "theft_unknown_days",
    "theft_hours_power",
    "theft_hours_lighting",
    "tariff_misuse_unknown_months",
}
RULES_1996 = {k: (D(v), False) for k, v in VALUES.items()}
RULES_2024 = {
    k: Rule(value=D(v), is_cap=k not in NOT_CAPPED, effective_from=dt.date(2024, 6, 1), source="2024")
    for k, v in VALUES.items()
}


def amounts(charges):
    return (charges.energy_kwh, charges.back_charge, charges.penalty, charges.total)


# --- theft -------------------------------------------------------------------------------------


def test_theft_known_period_capacity_times_hours_times_days():
    # 5 kW × 8 h × 30 days = 1,200 kWh; × 0.52 = 624.00; × 3 = 1,872.00; total 2,496.00
    c = theft_charges(
        RULES_1996,
        {
            "user_type": "power",
            "period_known": True,
            "capacity_kw": "5",
            "hours_per_day": "8",
            "days": "30",
            "price": "0.52",
        },
    )
    assert amounts(c) == (D("1200.000"), D("624.00"), D("1872.00"), D("2496.00"))
    assert c.basis["parameters"]["theft_multiple"]["value"] == "3"
    assert "theft_unknown_days" not in c.basis["parameters"]
    assert "5 kW × 30 actual days × 8 h a day = 1200.000 kWh" in c.basis["formula_en"]
    assert "624.00 元 × 3 倍 = 1872.00 元" in c.basis["formula_zh"]


def test_theft_unknown_period_power_user_180_days_12_hours():
    # 10 kW × 12 h × 180 days = 21,600 kWh; × 0.52 = 11,232.00; × 3 = 33,696.00
    c = theft_charges(RULES_1996, {"user_type": "power", "capacity_kw": "10", "price": "0.52"})
    assert amounts(c) == (D("21600.000"), D("11232.00"), D("33696.00"), D("44928.00"))
    assert set(c.basis["parameters"]) == {"theft_unknown_days", "theft_hours_power", "theft_multiple"}


def test_theft_unknown_period_lighting_user_180_days_6_hours():
    # 3 kW × 6 h × 180 days = 3,240 kWh; × 0.52 = 1,684.80; × 3 = 5,054.40
    c = theft_charges(
        RULES_1996, {"user_type": "lighting", "period_known": "false", "capacity_kw": "3", "price": "0.52"}
    )
    assert amounts(c) == (D("3240.000"), D("1684.80"), D("5054.40"), D("6739.20"))
    assert "theft_hours_lighting" in c.basis["parameters"]


def test_theft_measured_energy_and_half_up_rounding():
    # 1,234.567 kWh × 0.5283 = 652.2217461 → 652.22; × 3 = 1,956.66
    c = theft_charges(
        RULES_1996,
        {"user_type": "power", "period_known": True, "measured_kwh": "1234.567", "price": "0.5283"},
    )
    assert amounts(c) == (D("1234.567"), D("652.22"), D("1956.66"), D("2608.88"))
    # 2.5 kW × 7.5 h × 11 days = 206.25 kWh; × 0.555 = 114.46875 → 114.47 (half up); × 3 = 343.41
    c = theft_charges(
        RULES_1996,
        {
            "user_type": "lighting",
            "period_known": True,
            "capacity_kw": "2.5",
            "hours_per_day": "7.5",
            "days": "11",
            "price": "0.555",
        },
    )
    assert amounts(c) == (D("206.250"), D("114.47"), D("343.41"), D("457.88"))


def test_theft_2024_ceiling_accepts_a_lower_agreed_multiple_and_refuses_a_higher_one():
    base = {
        "user_type": "power",
        "period_known": True,
        "capacity_kw": "5",
        "hours_per_day": "8",
        "days": "30",
        "price": "0.52",
    }
    c = theft_charges(RULES_2024, {**base, "agreed_multiple": "2"})
    assert (c.back_charge, c.penalty, c.total) == (D("624.00"), D("1248.00"), D("1872.00"))
    assert c.basis["parameters"]["theft_multiple"] == {
        "value": "3",
        "is_cap": True,
        "effective_from": "2024-06-01",
        "source": "2024",
        "applied": "2",
    }
    assert "不高于 3 倍" in c.basis["formula_zh"]
    assert c.basis["article"].startswith("2024 供电营业规则")
    assert theft_charges(RULES_1996, base).basis["article"] == "1996 供电营业规则 第一百零二条、第一百零三条"
    assert theft_charges(RULES_2024, base).penalty == D("1872.00")  # default: the ceiling
    with pytest.raises(PenaltyInputError) as exc:
        theft_charges(RULES_2024, {**base, "agreed_multiple": "4"})
    assert exc.value.field == "agreed_multiple"


def test_theft_1996_multiple_is_exact():
    base = {"user_type": "power", "capacity_kw": "5", "price": "0.52"}
    with pytest.raises(PenaltyInputError) as exc:
        theft_charges(RULES_1996, {**base, "agreed_multiple": "2"})
    assert exc.value.field == "agreed_multiple"
    assert theft_charges(RULES_1996, {**base, "agreed_multiple": "3"}).penalty == D(
        "16848.00"
    )  # 5 × 12 × 180 × 0.52 × 3


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"capacity_kw": "5", "price": "0.52"}, "user_type"),
        ({"user_type": "power", "price": "0.52"}, "capacity_kw"),
        ({"user_type": "power", "capacity_kw": "5"}, "price"),
        ({"user_type": "power", "capacity_kw": "-1", "price": "0.52"}, "capacity_kw"),
        ({"user_type": "power", "capacity_kw": "abc", "price": "0.52"}, "capacity_kw"),
        ({"user_type": "power", "capacity_kw": "NaN", "price": "0.52"}, "capacity_kw"),
        (
            {"user_type": "power", "capacity_kw": "5", "price": "0.52", "period_known": True, "days": "3"},
            "hours_per_day",
        ),
        (
            {
                "user_type": "power",
                "capacity_kw": "5",
                "price": "0.52",
                "period_known": True,
                "days": "3",
                "hours_per_day": "25",
            },
            "hours_per_day",
        ),
        (
            {"user_type": "power", "capacity_kw": "5", "price": "0.52", "period_known": "maybe"},
            "period_known",
        ),
    ],
)
def test_theft_bad_inputs_name_the_field(inputs, field):
    with pytest.raises(PenaltyInputError) as exc:
        theft_charges(RULES_1996, inputs)
    assert exc.value.field == field


def test_a_missing_rule_is_a_clear_error():
    rules = {k: v for k, v in RULES_1996.items() if k != "theft_hours_lighting"}
    with pytest.raises(PenaltyInputError, match="theft_hours_lighting"):
        theft_charges(rules, {"user_type": "lighting", "capacity_kw": "3", "price": "0.52"})


# --- violations ----------------------------------------------------------------------------------


def test_tariff_misuse_known_period():
    # 2,000 kWh × 0.30 difference = 600.00; × 2 = 1,200.00
    c = violation_charges(
        RULES_1996, {"period_known": True, "energy_kwh": "2000", "price_difference": "0.30"}, "tariff_misuse"
    )
    assert amounts(c) == (D("2000.000"), D("600.00"), D("1200.00"), D("1800.00"))


def test_tariff_misuse_unknown_period_three_months():
    # 850 kWh a month × 3 months = 2,550 kWh; × 0.25 = 637.50; × 2 = 1,275.00
    c = violation_charges(RULES_1996, {"monthly_kwh": "850", "price_difference": "0.25"}, "tariff_misuse")
    assert amounts(c) == (D("2550.000"), D("637.50"), D("1275.00"), D("1912.50"))
    assert c.basis["parameters"]["tariff_misuse_unknown_months"]["value"] == "3"


def test_excess_capacity_two_part_and_other_users():
    # 两部制: 23.3 yuan/kVA·month × 200 kVA × 4 months = 18,640.00; × 3 = 55,920.00
    c = violation_charges(
        RULES_1996,
        {"two_part": True, "basic_price": "23.3", "added_kva": "200", "months": "4"},
        "excess_capacity",
    )
    assert amounts(c) == (D("0.000"), D("18640.00"), D("55920.00"), D("74560.00"))
    # other users: 50 yuan × 15 kW = 750.00, no back charge
    c = violation_charges(RULES_1996, {"added_kw": "15"}, "excess_capacity")
    assert amounts(c) == (D("0.000"), D("0.00"), D("750.00"), D("750.00"))
    # 2024 ceiling: agreed 40 yuan/kW → 600.00; 60 is above 50 → refused
    assert violation_charges(
        RULES_2024, {"added_kw": "15", "agreed_amount": "40"}, "excess_capacity"
    ).penalty == D("600.00")
    with pytest.raises(PenaltyInputError) as exc:
        violation_charges(RULES_2024, {"added_kw": "15", "agreed_amount": "60"}, "excess_capacity")
    assert exc.value.field == "agreed_amount"


def test_sealed_equipment_two_part_and_other_users():
    # 两部制: 23.3 × 315 kVA × 2 months = 14,679.00; × 2 = 29,358.00
    c = violation_charges(
        RULES_1996,
        {"two_part": "true", "basic_price": "23.3", "capacity_kva": "315", "months": "2"},
        "sealed_equipment",
    )
    assert amounts(c) == (D("0.000"), D("14679.00"), D("29358.00"), D("44037.00"))
    # other users: 30 yuan × 20 kW × 2 occurrences = 1,200.00
    c = violation_charges(RULES_1996, {"capacity_kw": "20", "occurrences": "2"}, "sealed_equipment")
    assert amounts(c) == (D("0.000"), D("0.00"), D("1200.00"), D("1200.00"))
    with pytest.raises(PenaltyInputError) as exc:
        violation_charges(RULES_1996, {"capacity_kw": "20", "occurrences": "1.5"}, "sealed_equipment")
    assert exc.value.field == "occurrences"


def test_meter_tampering_residential_and_other():
    c = violation_charges(RULES_1996, {"residential": True}, "meter_tampering")
    assert amounts(c) == (D("0.000"), D("0.00"), D("500.00"), D("500.00"))
    c = violation_charges(RULES_1996, {"residential": False, "occurrences": "2"}, "meter_tampering")
    assert c.total == D("10000.00")
    assert set(c.basis["parameters"]) == {"tampering_other"}


def test_source_connection_per_kw():
    # 500 yuan × 30 kW = 15,000.00
    c = violation_charges(RULES_1996, {"source_kw": "30"}, "source_connection")
    assert amounts(c) == (D("0.000"), D("0.00"), D("15000.00"), D("15000.00"))


def test_unknown_kinds_are_refused():
    with pytest.raises(PenaltyInputError) as exc:
        case_charges(RULES_1996, {}, kind="violation", violation_kind="overdraw")
    assert exc.value.field == "violation_kind"
    with pytest.raises(PenaltyInputError) as exc:
        case_charges(RULES_1996, {}, kind="fraud")
    assert exc.value.field == "kind"


# --- capital numerals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("1872.00", "壹仟捌佰柒拾贰元整"),
        ("624", "陆佰贰拾肆元整"),
        ("6739.20", "陆仟柒佰叁拾玖元贰角整"),
        ("10010.05", "壹万零壹拾元零伍分"),
        ("1010", "壹仟零壹拾元整"),
        ("100000", "壹拾万元整"),
        ("1001000", "壹佰万壹仟元整"),
        ("100010000", "壹亿零壹万元整"),
        # 会计基础工作规范 第五十二条: 整 after an amount ending at 元 or 角, none after 分
        ("0.50", "伍角整"),
        ("1.50", "壹元伍角整"),
        ("100000000.10", "壹亿元壹角整"),
        ("3.05", "叁元零伍分"),
        ("0.05", "伍分"),
        ("12.34", "壹拾贰元叁角肆分"),
        ("0", "零元整"),
    ],
)
def test_rmb_capital(amount, words):
    assert rmb_capital(D(amount)) == words


# --- properties -------------------------------------------------------------------------------------

quantities = st.decimals(min_value=0, max_value=100000, places=3)
prices = st.decimals(min_value=0, max_value=10, places=4)


@given(
    capacity=quantities,
    hours=st.decimals(min_value=0, max_value=24, places=1),
    days=st.integers(min_value=0, max_value=3650),
    price=prices,
    known=st.booleans(),
    lighting=st.booleans(),
    m1=st.decimals(min_value=0, max_value=3, places=2),
    m2=st.decimals(min_value=0, max_value=3, places=2),
)
def test_theft_amounts_never_negative_total_adds_up_and_penalty_monotone(
    capacity, hours, days, price, known, lighting, m1, m2
):
    inputs = {
        "user_type": "lighting" if lighting else "power",
        "period_known": known,
        "capacity_kw": capacity,
        "hours_per_day": hours,
        "days": days,
        "price": price,
    }
    low, high = sorted((m1, m2))
    a = theft_charges(RULES_2024, {**inputs, "agreed_multiple": low})
    b = theft_charges(RULES_2024, {**inputs, "agreed_multiple": high})
    for c in (a, b):
        assert min(c.energy_kwh, c.back_charge, c.penalty, c.total) >= 0
        assert c.total == c.back_charge + c.penalty
        assert c.back_charge == b.back_charge
    assert a.penalty <= b.penalty


@given(
    kind=st.sampled_from(
        ["tariff_misuse", "excess_capacity", "sealed_equipment", "meter_tampering", "source_connection"]
    ),
    q=quantities,
    price=prices,
    two_part=st.booleans(),
    known=st.booleans(),
    m1=st.decimals(min_value=0, max_value=2, places=2),
    m2=st.decimals(min_value=0, max_value=2, places=2),
)
def test_violation_amounts_never_negative_and_monotone(kind, q, price, two_part, known, m1, m2):
    inputs = {
        "period_known": known,
        "energy_kwh": q,
        "monthly_kwh": q,
        "price_difference": price,
        "two_part": two_part,
        "basic_price": price,
        "added_kva": q,
        "added_kw": q,
        "capacity_kva": q,
        "capacity_kw": q,
        "months": 3,
        "source_kw": q,
    }
    low, high = sorted((m1, m2))
    key = (
        "agreed_amount"
        if kind in ("meter_tampering", "source_connection") or not two_part
        else "agreed_multiple"
    )
    if kind == "tariff_misuse":
        key = "agreed_multiple"
    a = violation_charges(RULES_2024, {**inputs, key: low}, kind)
    b = violation_charges(RULES_2024, {**inputs, key: high}, kind)
    for c in (a, b):
        assert min(c.energy_kwh, c.back_charge, c.penalty, c.total) >= 0
        assert c.total == c.back_charge + c.penalty
    assert a.penalty <= b.penalty
