"""A billing run adjusts by the power factor (力调电费) every account the 1983 rules cover —
by class and contracted capacity, on single-part (general I&C) tariffs as on two-part ones —
and reads the reactive register only for those (docs/billing-runs.md, "Power factor").

October 2026 on HEBS-GIC-LV (single-part, < 1 kV), 1,000 kWh on a total-only meter (rated
flat): energy 387.00 + unfloated 21.30 + 186.20 + 14.80 = 609.30 (the base of the
adjustment) + funds 27.40.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from gridcare.billing.models import Bill, BillingHold
from gridcare.billing.services.adjustments import correction_rating
from gridcare.billing.services.runs import billing_run
from gridcare.billing.tests.runs_fixtures import CLOSING, OCT, OPENING, billable_account, put_reading
from gridcare.customers.tests.factories import ContractFactory

pytestmark = pytest.mark.django_db


def gic_account(*, kva: str, reactive: str | None, reading_reactive: bool = True, **account):
    """A 380 V general I&C account on HEBS-GIC-LV of ``kva`` with 1,000 kWh in October and a
    reactive register (``reactive`` kvarh; its readings left out unless ``reading_reactive``)."""
    acct, meter = billable_account(
        tariff_code="HEBS-GIC-LV",
        registers=("total", "reactive"),
        end="2000",
        customer_class=account.pop("customer_class", "general_ic"),
        voltage_level=account.pop("voltage_level", "380v"),
        **account,
    )
    ContractFactory(account=acct, kind="lv", capacity_kva=Decimal(kva))
    if reading_reactive and reactive is not None:
        put_reading(meter, "reactive", OPENING, "0")
        put_reading(meter, "reactive", CLOSING, reactive)
    return acct


def _lines(acct) -> list[tuple[str, str, Decimal]]:
    bill = Bill.objects.get(account=acct, period=OCT)
    return [(line.kind, line.item, line.amount) for line in bill.lines.order_by("seq")]


def test_a_200_kva_single_part_account_is_adjusted_at_085():
    # given 200 kVA general I&C accounts (standard 0.85) at pf 0.80 (750 kvarh) and 0.94
    # (363 kvarh: 1000/√(1000² + 363²) = 0.9400)
    low = gic_account(kva="200", reactive="750")
    high = gic_account(kva="200", reactive="363")

    billing_run(period="2026-10", actor="clerk")

    # then pf 0.80 is +2.5 % of 609.30 = 15.2325 → 15.23; the funds are not adjusted
    assert _lines(low)[-1] == ("pf", "pf_adjustment", Decimal("15.23"))
    assert Bill.objects.get(account=low, period=OCT).amount == Decimal("651.93")  # 609.30 + 27.40 + 15.23
    # and pf 0.94 is −1.1 %: −6.7023 → −6.70
    assert _lines(high)[-1] == ("pf", "pf_adjustment", Decimal("-6.70"))
    assert Bill.objects.get(account=high, period=OCT).amount == Decimal("630.00")  # 636.70 − 6.70


def test_a_small_account_is_not_adjusted_and_its_reactive_register_is_not_read():
    # given an 80 kVA account whose meter has a reactive register without October readings
    small = gic_account(kva="80", reactive="750", reading_reactive=False)

    billing_run(period="2026-10", actor="clerk")

    # then it is billed (not held for the reactive reading it does not need), not adjusted
    assert not BillingHold.objects.filter(account_id=small.pk).exists()
    assert [item for _kind, item, _amount in _lines(small)] == [
        "energy_flat",
        "pass_line_loss",
        "pass_transmission",
        "pass_system",
        "fund",
    ]
    assert Bill.objects.get(account=small, period=OCT).amount == Decimal("636.70")


def test_an_adjusted_account_without_its_reactive_reading_is_held():
    acct = gic_account(kva="200", reactive="750", reading_reactive=False)

    billing_run(period="2026-10", actor="clerk")

    assert not Bill.objects.filter(account=acct).exists()
    assert "reactive" in BillingHold.objects.get(account_id=acct.pk).reason


def test_agricultural_and_residential_classes():
    # 农业生产 of 100 kVA: standard 0.80, pf 0.80 → 0; pf 0.60 (1,333 kvarh) → +10 %
    farm = gic_account(kva="100", reactive="1333", customer_class="agri")
    # a household class is never adjusted, whatever its capacity
    house = gic_account(kva="200", reactive="750", customer_class="urban_res", voltage_level="220v")

    billing_run(period="2026-10", actor="clerk")

    assert _lines(farm)[-1] == ("pf", "pf_adjustment", Decimal("60.93"))  # 609.30 × 10 %
    assert "pf" not in {kind for kind, _item, _amount in _lines(house)}


def test_a_correction_re_rates_with_the_accounts_standard():
    # given the 200 kVA account at pf 0.80 billed 1,000 kWh
    acct = gic_account(kva="200", reactive="750")
    billing_run(period="2026-10", actor="clerk")
    bill = Bill.objects.get(account=acct, period=OCT)

    # when 100 kWh more are back-billed (the reactive energy in proportion: pf still 0.80)
    rating = correction_rating(bill=bill, corrected_kwh=Decimal("1100"))

    # then the adjustment moves with it: 670.23 × 2.5 % = 16.76 − 15.23 = 1.53
    assert {"kind": "pf", "item": "pf_adjustment", "kwh": "0.000", "amount": "1.53"} in rating["lines"]
    assert rating["amount"] == Decimal("65.20")  # 38.70 + 2.13 + 18.62 + 1.48 + 2.74 + 1.53
