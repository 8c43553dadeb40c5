"""Allocation engine (销账): oldest first, fee before principal, remainder to balance."""

from __future__ import annotations

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
        Allocation(2, 500, 0, 0),
        Allocation(1, 700, 0, 0),
        Allocation(3, 300, 0, 0),
    )
    assert result.balance_fen == 0


def test_overpayment_goes_to_balance() -> None:
    result = allocate(amount_fen=10_000, bills=[OpenBill(1, 1, 5200)])
    assert result.allocations == (Allocation(1, 5200, 0, 0),)
    assert result.balance_fen == 4800


def test_fee_is_paid_with_the_principal() -> None:
    # 10,000.00 yuan with 52‰ accrued (5,200,000 units) → fee 520.00 yuan.
    bill = OpenBill(1, 1, 1_000_000, weighted=5200, minimum_fen=100)
    result = allocate(amount_fen=1_052_000, bills=[bill])
    assert result.allocations == (Allocation(1, 1_000_000, 52_000, 0),)
    assert result.balance_fen == 0


def test_partial_payment_pays_the_fee_on_the_part_paid() -> None:
    # 5.2 % fee: paying 526.00 yuan clears 500.00 principal + 26.00 fee.
    bill = OpenBill(1, 1, 1_000_000, weighted=5200, minimum_fen=100)
    result = allocate(amount_fen=52_600, bills=[bill])
    assert result.allocations == (Allocation(1, 50_000, 2_600, 0),)
    assert result.balance_fen == 0


def test_waiver_lowers_the_fee() -> None:
    bill = OpenBill(1, 1, 1_000_000, weighted=5200, minimum_fen=100, waiver_fen=50_000)
    result = allocate(amount_fen=1_002_000, bills=[bill])
    assert result.allocations == (Allocation(1, 1_000_000, 2_000, 50_000),)
    assert result.balance_fen == 0


def test_tiny_payment_on_overdue_bill_is_late_fee() -> None:
    bill = OpenBill(1, 1, 5200, weighted=300, minimum_fen=100)
    result = allocate(amount_fen=50, bills=[bill])
    assert result.allocations == (Allocation(1, 0, 50, 0),)


bill_strategy = st.builds(
    OpenBill,
    bill_id=st.integers(1, 10**6),
    period_ordinal=st.integers(1, 100),
    outstanding_fen=st.integers(1, 10**8),
    weighted=st.integers(0, 20_000),
    minimum_fen=st.sampled_from([0, 100]),
    waiver_fen=st.integers(0, 10_000),
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
