"""Power-factor adjustment (力调电费) by the account, not by the tariff: (83)水电财字第215号
adjusts accounts by class and capacity on (基本电费 + 电度电费), single-part and two-part
alike — since 2023 a 100–315 kVA 工商业 account may keep single-part pricing and is still
adjusted (docs/billing-tariffs.md, "Power-factor adjustment"). Pure: no database.

October 2026, HEBS-GIC-LV (single-part, < 1 kV), 1,000 kWh on a total-only meter (flat):
energy 1,000 × 0.387 = 387.00, unfloated 21.30 + 186.20 + 14.80; the base of the
adjustment is 609.30 yuan = 60,930 fen (the fund line, 27.40, is not in it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from gridcare.billing.engine.catalogue import VersionRow
from gridcare.billing.engine.rating import (
    PF_AGRICULTURAL_CLASSES,
    PF_HIGH_VOLTAGE,
    PF_INDUSTRIAL_CLASSES,
    PF_OTHER_CLASSES,
    periods_frame,
    pf_standard_for,
    rate,
)
from gridcare.billing.tests.test_engine_rating import CAT, OCT, rate_one, reactive_for
from gridcare.customers.choices import CustomerClass, VoltageLevel

D = dt.date
GIC_BASE_FEN = 38_700 + 2_130 + 18_620 + 1_480  # 60,930
FUND_FEN = 2_740


def gic(**row: Any) -> dict[str, Any]:
    """A 1,000 kWh October period on HEBS-GIC-LV."""
    return {"tariff_code": "HEBS-GIC-LV", **OCT, "total_wh": 1_000_000, **row}


# --- who is adjusted, and by which standard -----------------------------------------------------


@pytest.mark.parametrize(
    ("customer_class", "voltage", "kva", "standard"),
    [
        # a 200 kVA single-part 一般工商业 account: 100 kVA and above, not 0.90 → 0.85
        ("general_ic", "380v", 200, "0.85"),
        ("general_ic", "380v", 100, "0.85"),  # 100 kVA is in
        ("general_ic", "380v", 99.9, None),  # below 100 kVA: not adjusted
        ("general_ic", "10kv", 250, "0.85"),  # no industrial flag: never the stricter 0.90
        ("temporary", "10kv", 200, "0.85"),
        # 大工业: 0.90 at high voltage above 160 kVA, else 0.85
        ("large_ind", "10kv", 161, "0.90"),
        ("large_ind", "35kv", 5000, "0.90"),
        ("large_ind", "10kv", 160, "0.85"),
        ("large_ind", "380v", 500, "0.85"),
        ("agri", "380v", 100, "0.80"),  # 农业生产
        ("agri", "380v", 80, None),
        ("urban_res", "220v", 200, None),  # households are never adjusted
        ("rural_res", "10kv", 500, None),
        ("general_ic", "380v", None, None),  # no contracted capacity: not adjusted
    ],
)
def test_the_standard_follows_class_voltage_and_capacity(customer_class, voltage, kva, standard):
    capacity_va = None if kva is None else int(Decimal(str(kva)) * 1000)
    assert (
        pf_standard_for(customer_class=customer_class, voltage_level=voltage, capacity_va=capacity_va)
        == standard
    )


def test_the_rule_names_the_archive_classes_and_voltages():
    named = {*PF_INDUSTRIAL_CLASSES, *PF_OTHER_CLASSES, *PF_AGRICULTURAL_CLASSES}
    assert named <= set(CustomerClass.values)
    # every class is decided: the residential ones are the only ones never adjusted
    assert set(CustomerClass.values) - named == {"urban_res", "rural_res", "shared_res"}
    assert set(PF_HIGH_VOLTAGE) == set(VoltageLevel.values) - {"220v", "380v"}


# --- the engine applies the account's standard -----------------------------------------------------


@pytest.mark.parametrize(
    ("pf", "percent_centi", "amount_fen"),
    [
        ("0.80", 250, 1_523),  # +2.5 % of 60,930 = 1,523.25 → 1,523 (15.23 yuan)
        ("0.85", 0, 0),
        ("0.90", -50, -305),  # −0.5 %: −304.65 → −305
        ("0.94", -110, -670),  # −1.1 %: −670.23 → −670 (−6.70 yuan)
        ("1.00", -110, -670),
        ("0.65", 1_000, 6_093),  # +10 %
    ],
)
def test_a_single_part_account_of_standard_085_is_adjusted_on_its_energy_charge(
    pf, percent_centi, amount_fen
):
    by, total, _ = rate_one(**gic(pf_standard="0.85", reactive_varh=reactive_for(Decimal(pf), 1_000_000)))

    (line,) = by["pf_adjustment"]
    assert (line["kind"], line["pf_centi"], line["pf_percent_centi"]) == (
        "pf",
        int(Decimal(pf) * 100),
        percent_centi,
    )
    assert line["amount_fen"] == amount_fen
    assert total == GIC_BASE_FEN + FUND_FEN + amount_fen  # the funds are not adjusted


def test_without_a_standard_or_reactive_energy_there_is_no_adjustment():
    reactive = reactive_for(Decimal("0.80"), 1_000_000)
    for row in (
        gic(pf_standard=None, reactive_varh=reactive),  # the account is not adjusted (< 100 kVA)
        gic(pf_standard="0.85"),  # no reactive register
        gic(reactive_varh=reactive),  # no pf_standard column: the version's (none for GIC-LV)
    ):
        by, total, _ = rate_one(**row)
        assert "pf_adjustment" not in by
        assert total == GIC_BASE_FEN + FUND_FEN


def test_the_accounts_standard_replaces_the_versions():
    # a two-part period (version standard 0.90) of an account whose standard is 0.85: pf
    # 0.80 is +2.5 % (not +5 %) of basic 3,500.00 + energy 387.00 + unfloated 157.70
    row = {
        "tariff_code": "HEBS-LI-10KV",
        **OCT,
        "flat_wh": 1_000_000,
        "reactive_varh": reactive_for(Decimal("0.80"), 1_000_000),
        "max_demand_w": 100_000,
        "basic_charge_by": "demand",
    }
    by, _, _ = rate_one(**row, pf_standard="0.85")
    assert (by["pf_adjustment"][0]["pf_percent_centi"], by["pf_adjustment"][0]["amount_fen"]) == (250, 10_112)
    by, _, _ = rate_one(**row)  # without the column: the version's 0.90
    assert (by["pf_adjustment"][0]["pf_percent_centi"], by["pf_adjustment"][0]["amount_fen"]) == (500, 20_224)


def test_each_row_of_a_frame_gets_its_own_standard():
    reactive = reactive_for(Decimal("0.80"), 1_000_000)
    rows = [
        gic(account_id=1, pf_standard="0.90", reactive_varh=reactive),
        gic(account_id=2, pf_standard="0.85", reactive_varh=reactive),
        gic(account_id=3, pf_standard="0.80", reactive_varh=reactive),
        gic(account_id=4, pf_standard=None, reactive_varh=reactive),
    ]
    rating = rate(periods_frame(rows), CAT)

    pf = rating.lines.filter(rating.lines["kind"] == "pf").sort("account_id")
    assert pf.select("account_id", "pf_percent_centi", "amount_fen").rows() == [
        (1, 500, 3_047),  # +5 %: 3,046.5 → 3,047
        (2, 250, 1_523),
        (3, 0, 0),
    ]


def test_a_standard_that_is_not_one_is_an_error():
    rating = rate(periods_frame([gic(account_id=7, pf_standard="0.95", reactive_varh=1)]), CAT)

    assert rating.errors.rows() == [(7, "'0.95' is not a power-factor standard", 0)]
    assert rating.lines.height == 0


def test_a_period_split_by_a_new_version_is_adjusted_per_version():
    # a GIC-LV version from 16 October (same params): 15 and 16 days of 1,000 kWh flat
    base = next(v for v in CAT.versions if v.code == "HEBS-GIC-LV")
    later = VersionRow(
        id=99, code=base.code, kind=base.kind, effective_from=D(2026, 10, 16), params=base.params
    )
    catalogue = dataclasses.replace(CAT, versions=(*CAT.versions, later))
    row = gic(account_id=1, pf_standard="0.85", reactive_varh=reactive_for(Decimal("0.80"), 1_000_000))

    rating = rate(periods_frame([row]), catalogue)

    assert rating.errors.height == 0
    pf = rating.lines.filter(rating.lines["kind"] == "pf").sort("line_from")
    # 483.870 kWh to the 15th: 187.26 + 10.31 + 90.10 + 7.16 = 294.83 → +2.5 % = 7.37;
    # 516.130 kWh from the 16th: 199.74 + 10.99 + 96.10 + 7.64 = 314.47 → +2.5 % = 7.86
    assert pf.select(
        "tariff_version_id", "line_from", "line_to", "pf_percent_centi", "amount_fen"
    ).rows() == [
        (base.id, D(2026, 10, 1), D(2026, 10, 15), 250, 737),
        (99, D(2026, 10, 16), D(2026, 10, 31), 250, 786),
    ]
