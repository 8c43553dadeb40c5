"""Allocation engine (销账): oldest first, fee before principal, remainder to balance."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcare.billing.engine.allocation import Allocation, OpenBill, allocate


def test_oldest_period_first_then_bill_id() -> None:
    bills = [
        OpenBill(bill_id=3, period_ordinal=20, outstanding_fen=1000),
        OpenBill(bill_id=2, period_ordinal=10, outstanding_fen=500),
        OpenBill(bill_id=1, period_ordinal=20, outstanding_fen=700),
    ]
    result = allocate(amount_fen=1500, bills=bills)
    assert result.allocations == (
        Allocation(2, 500, 0, 0, 0),
        Allocation(1, 700, 0, 0, 0),
        Allocation(3, 300, 0, 0, 0),
    )
    assert result.balance_fen == 0


def test_overpayment_goes_to_balance() -> None:
    result = allocate(amount_fen=10_000, bills=[OpenBill(1, 1, 5200)])
    assert result.allocations == (Allocation(1, 5200, 0, 0, 0),)
    assert result.balance_fen == 4800


def test_fee_is_paid_with_the_principal() -> None:
    # 10,000.00 yuan with 52‰ accrued (5,200,000 units) → fee 520.00 yuan.
    bill = OpenBill(1, 1, 1_000_000, weighted=5200, minimum_fen=100)
    result = allocate(amount_fen=1_052_000, bills=[bill])
    assert result.allocations == (Allocation(1, 1_000_000, 52_000, 0, 52_000),)
    assert result.balance_fen == 0


def test_partial_payment_pays_the_fee_on_the_part_paid() -> None:
    # 5.2 % fee: paying 526.00 yuan clears 500.00 principal + 26.00 fee.
    bill = OpenBill(1, 1, 1_000_000, weighted=5200, minimum_fen=100)
    result = allocate(amount_fen=52_600, bills=[bill])
    assert result.allocations == (Allocation(1, 50_000, 2_600, 0, 2_600),)
    assert result.balance_fen == 0


def test_waiver_lowers_the_fee() -> None:
    bill = OpenBill(1, 1, 1_000_000, weighted=5200, minimum_fen=100, waiver_fen=50_000)
    result = allocate(amount_fen=1_002_000, bills=[bill])
    assert result.allocations == (Allocation(1, 1_000_000, 2_000, 50_000, 52_000),)
    assert result.balance_fen == 0


def test_minimum_top_up_collected_earlier_is_used_up_by_a_later_part() -> None:
    # 52.00 yuan, 3 days × 1‰: paid as 10.00 then the rest on the same day.
    first = allocate(amount_fen=1000, bills=[OpenBill(1, 1, 5200, weighted=300, minimum_fen=100)])
    assert first.allocations == (Allocation(1, 900, 100, 0, 3),)  # accrued 0.03, charged the 1.00 minimum
    # the bill now has 1.00 collected, 0.97 of it beyond what the part accrued
    second = allocate(
        amount_fen=4300, bills=[OpenBill(1, 1, 4300, weighted=300, minimum_fen=0, credit_fen=97)]
    )
    assert second.allocations == (Allocation(1, 4300, 0, 0, 13),)  # its 0.13 is covered by the top-up
    # a later part accruing more than the top-up left pays the difference
    later = allocate(amount_fen=20_000, bills=[OpenBill(1, 1, 10_000, weighted=2000, credit_fen=97)])
    assert later.allocations == (Allocation(1, 10_000, 103, 0, 200),)
    assert later.balance_fen == 20_000 - 10_103


def test_tiny_payment_on_overdue_bill_is_late_fee() -> None:
    bill = OpenBill(1, 1, 5200, weighted=300, minimum_fen=100)
    result = allocate(amount_fen=50, bills=[bill])
    assert result.allocations == (Allocation(1, 0, 50, 0, 0),)


bill_strategy = st.builds(
    OpenBill,
    bill_id=st.integers(1, 10**6),
    period_ordinal=st.integers(1, 100),
    outstanding_fen=st.integers(1, 10**8),
    weighted=st.integers(0, 20_000),
    minimum_fen=st.sampled_from([0, 100]),
    waiver_fen=st.integers(0, 10_000),
    credit_fen=st.integers(-500, 500),
)


@given(amount=st.integers(0, 10**9), bills=st.lists(bill_strategy, max_size=6, unique_by=lambda b: b.bill_id))
def test_every_fen_is_accounted_for(amount: int, bills: list[OpenBill]) -> None:
    result = allocate(amount_fen=amount, bills=bills)
    total = sum(a.principal_fen + a.late_fee_fen for a in result.allocations) + result.balance_fen
    assert total == amount
    by_id = {b.bill_id: b for b in bills}
    for a in result.allocations:
        assert 0 <= a.principal_fen <= by_id[a.bill_id].outstanding_fen
        assert a.late_fee_fen >= 0
    # only the last allocation may be partial, and a balance only when every bill is paid
    for a in result.allocations[:-1]:
        assert a.principal_fen == by_id[a.bill_id].outstanding_fen
    if result.balance_fen > 0:
        assert {a.bill_id for a in result.allocations} == set(by_id)


@given(
    outstanding=st.integers(1, 10**7),
    weighted=st.integers(0, 20_000),
    minimum=st.sampled_from([0, 100, 500]),
    waiver=st.integers(0, 1_000),
    parts=st.lists(st.integers(0, 10**6), min_size=1, max_size=6),
)
def test_a_bill_paid_in_parts_is_charged_the_minimum_once(
    outstanding: int, weighted: int, minimum: int, waiver: int, parts: list[int]
) -> None:
    """Paid in parts (the first with a waiver), each part charged with the bill's minimum
    left and credit kept as the payment services keep them: in all the bill is charged
    (collected + waived) max(Σ fee each part accrued, minimum) — as if paid at once."""
    owed, gross, credit, accrued, waiver_left = outstanding, 0, 0, 0, waiver
    for extra in parts:
        if owed == 0:
            break
        amount = minimum + 1 + extra  # enough for a fen of principal: no part is all fee
        bill = OpenBill(
            1,
            1,
            owed,
            weighted=weighted,
            minimum_fen=max(0, minimum - gross),
            waiver_fen=waiver_left,
            credit_fen=credit,
        )
        (a,) = allocate(amount_fen=amount, bills=[bill]).allocations
        assert a.principal_fen > 0
        owed -= a.principal_fen
        gross += a.late_fee_fen + a.waived_fen
        credit += a.late_fee_fen + a.waived_fen - a.accrued_fen
        accrued += a.accrued_fen
        waiver_left = 0
    assert gross == (max(accrued, minimum) if weighted else 0)


def test_a_bill_in_parts_pays_the_earliest_due_part_first() -> None:
    """The bill's own 100.00 has 61 days × 2‰ (12,200 units), a back-billing of 1,000.00
    due later 10 days × 2‰ (2,000 units). 112.20 pays the bill's own part and its fee
    (12.20), the rest waits; the whole costs 100.00 + 12.20 + 1,000.00 + 20.00."""
    bill = OpenBill(1, 1, 110_000, minimum_fen=100, parts=((10_000, 12_200), (100_000, 2_000)))
    result = allocate(amount_fen=11_220, bills=[bill])
    assert result.allocations == (Allocation(1, 10_000, 1_220, 0, 1_220),)
    assert result.balance_fen == 0
    whole = allocate(amount_fen=200_000, bills=[bill])
    assert whole.allocations == (Allocation(1, 110_000, 3_220, 0, 3_220),)
    assert whole.balance_fen == 200_000 - 113_220


def test_parts_must_sum_to_the_outstanding() -> None:
    with pytest.raises(ValueError, match="sum"):
        OpenBill(1, 1, 100, parts=((50, 0), (40, 0)))
