"""Late-fee engine (电费违约金): hand-computed cases and properties. No database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcare.billing.engine.late_fee import (
    LateFeeRates,
    accrued_fee,
    charges_net_of_refunds,
    fee_on,
    late_fee,
    late_fees,
    late_fees_by_part,
    outstanding_parts,
    rate_days,
)

RATES = LateFeeRates(
    residential_permille=Decimal("1.00"),
    current_year_permille=Decimal("2.00"),
    cross_year_permille=Decimal("3.00"),
    minimum_fen=100,
)


def test_non_residential_across_year_boundary_hand_computed() -> None:
    # Due 2025-12-20, paid 2026-01-10: 12-21…12-31 = 11 days at 2‰, 01-01…01-10 = 10 days at 3‰.
    # 10,000.00 yuan × (22‰ + 30‰) = 520.00 yuan.
    fee = late_fee(
        principal_fen=1_000_000,
        due=dt.date(2025, 12, 20),
        as_of=dt.date(2026, 1, 10),
        residential=False,
        rates=RATES,
    )
    assert fee == 52_000


def test_residential_across_year_boundary_is_one_rate() -> None:
    # 21 days × 1‰ on 10,000.00 = 210.00 yuan.
    fee = late_fee(
        principal_fen=1_000_000,
        due=dt.date(2025, 12, 20),
        as_of=dt.date(2026, 1, 10),
        residential=True,
        rates=RATES,
    )
    assert fee == 21_000


def test_counting_starts_the_day_after_the_due_date_and_includes_the_payment_day() -> None:
    due = dt.date(2026, 11, 20)
    assert late_fee(principal_fen=10**7, due=due, as_of=due, residential=False, rates=RATES) == 0
    # one day at 2‰ on 100,000.00 yuan = 200.00
    assert (
        late_fee(
            principal_fen=10**7, due=due, as_of=due + dt.timedelta(days=1), residential=False, rates=RATES
        )
        == 20_000
    )
    # paid before the due date: nothing
    assert (
        late_fee(
            principal_fen=10**7, due=due, as_of=due - dt.timedelta(days=5), residential=False, rates=RATES
        )
        == 0
    )


def test_minimum_one_yuan_only_when_a_fee_accrued() -> None:
    # 52.00 yuan × 3 days × 1‰ = 0.156 → 0.16, under 1 yuan → 1.00
    assert (
        late_fee(
            principal_fen=5200,
            due=dt.date(2026, 11, 20),
            as_of=dt.date(2026, 11, 23),
            residential=True,
            rates=RATES,
        )
        == 100
    )
    assert (
        late_fee(
            principal_fen=5200,
            due=dt.date(2026, 11, 20),
            as_of=dt.date(2026, 11, 20),
            residential=True,
            rates=RATES,
        )
        == 0
    )
    assert (
        late_fee(
            principal_fen=0,
            due=dt.date(2026, 11, 20),
            as_of=dt.date(2026, 12, 20),
            residential=True,
            rates=RATES,
        )
        == 0
    )


def test_credit_from_an_earlier_top_up_is_used_before_the_minimum() -> None:
    # 43.00 yuan × 3 days × 1‰ = 0.129 → 0.13 accrued on this part
    assert int(accrued_fee(4300, 300)) == 13
    assert int(fee_on(4300, 300, minimum_fen=0, credit_fen=97)) == 0  # 0.97 top-up covers it
    assert int(fee_on(4300, 300, minimum_fen=0, credit_fen=10)) == 3
    assert int(fee_on(4300, 300, minimum_fen=50, credit_fen=97)) == 50  # what is left of the minimum
    assert int(fee_on(4300, 300, credit_fen=-5)) == 18  # a reversed top-up: the part's fee owed again
    assert int(fee_on(4300, 0, minimum_fen=100, credit_fen=-5)) == 0  # nothing accrued: no fee


def test_half_up_rounding_to_the_fen() -> None:
    # 1.50 yuan × 1 day × 1‰ → 0.15 fen → 0; 5 fen boundary: 50.00 × 1‰ = 5 fen exactly;
    # 25 fen × 2‰ × 1 day = 0.05 fen; use fee_on with no minimum to see the rounding.
    assert int(fee_on(150_000, 100)) == 150  # 1500.00 × 1‰ = 1.50
    assert int(fee_on(5, 100_000 // 10)) == 1  # 5 fen × 10% = 0.5 fen → 1 (half up)
    assert int(fee_on(4, 100_000 // 10)) == 0  # 0.4 fen → 0


def test_two_years_late_uses_cross_year_rate_for_every_later_year() -> None:
    w = rate_days(due=[dt.date(2024, 12, 30)], as_of=[dt.date(2026, 1, 2)], residential=[False], rates=RATES)
    # 1 day in 2024 at 200 units; 365 (2025) + 2 (2026) days at 300 units.
    assert int(w[0]) == 1 * 200 + 367 * 300


def test_vectorised_matches_scalar() -> None:
    due = [dt.date(2025, 12, 20), dt.date(2026, 3, 1), dt.date(2026, 11, 20)]
    fees = late_fees(
        principal_fen=[1_000_000, 12_345, 5200],
        due=due,
        as_of=dt.date(2026, 12, 1),
        residential=[False, True, False],
        rates=RATES,
    )
    assert list(fees) == [
        late_fee(principal_fen=p, due=d, as_of=dt.date(2026, 12, 1), residential=r, rates=RATES)
        for p, d, r in zip([1_000_000, 12_345, 5200], due, [False, True, False], strict=True)
    ]


def test_rates_with_more_than_two_decimals_are_refused() -> None:
    bad = LateFeeRates(Decimal("1.005"), Decimal("2"), Decimal("3"), 100)
    with pytest.raises(ValueError, match="2 decimals"):
        late_fee(
            principal_fen=100, due=dt.date(2026, 1, 1), as_of=dt.date(2026, 2, 1), residential=True, rates=bad
        )


dates = st.dates(min_value=dt.date(2015, 1, 1), max_value=dt.date(2035, 12, 31))


@given(principal=st.integers(0, 10**10), due=dates, days=st.integers(0, 2000), res=st.booleans())
def test_never_negative_and_monotone_in_days(principal: int, due: dt.date, days: int, res: bool) -> None:
    a = late_fee(
        principal_fen=principal, due=due, as_of=due + dt.timedelta(days=days), residential=res, rates=RATES
    )
    b = late_fee(
        principal_fen=principal,
        due=due,
        as_of=due + dt.timedelta(days=days + 1),
        residential=res,
        rates=RATES,
    )
    assert 0 <= a <= b


@given(
    p1=st.integers(0, 10**10),
    extra=st.integers(0, 10**9),
    due=dates,
    days=st.integers(0, 2000),
    res=st.booleans(),
)
def test_monotone_in_principal(p1: int, extra: int, due: dt.date, days: int, res: bool) -> None:
    as_of = due + dt.timedelta(days=days)
    a = late_fee(principal_fen=p1, due=due, as_of=as_of, residential=res, rates=RATES)
    b = late_fee(principal_fen=p1 + extra, due=due, as_of=as_of, residential=res, rates=RATES)
    assert 0 <= a <= b


@given(principal=st.integers(1, 10**9), due=dates, days=st.integers(1, 1000))
def test_non_residential_bounded_by_pure_rates(principal: int, due: dt.date, days: int) -> None:
    as_of = due + dt.timedelta(days=days)
    fee = late_fee(principal_fen=principal, due=due, as_of=as_of, residential=False, rates=RATES)
    low = max(100, (principal * days * 2 * 2 + 1000) // 2000)
    high = max(100, (principal * days * 3 * 2 + 1000) // 2000)
    assert low <= fee <= high
    assert np.int64(fee) >= 100


# --- parts with their own due dates (a back-billing added to a bill) ------------------------


def test_outstanding_parts_settle_the_earliest_due_first() -> None:
    # Bill 100.00 due 02-20 and back-billings 50.00 due 08-15, 30.00 due 06-01; 120.00 of the
    # 180.00 charged was paid or refunded: the 02-20 part and 20.00 of the 06-01 part.
    charges = [(dt.date(2025, 2, 20), 10_000), (dt.date(2025, 8, 15), 5_000), (dt.date(2025, 6, 1), 3_000)]
    assert outstanding_parts(charges, 6_000) == [(dt.date(2025, 6, 1), 1_000), (dt.date(2025, 8, 15), 5_000)]
    assert outstanding_parts(charges, 18_000) == [
        (dt.date(2025, 2, 20), 10_000),
        (dt.date(2025, 6, 1), 3_000),
        (dt.date(2025, 8, 15), 5_000),
    ]
    assert outstanding_parts(charges, 0) == []


def test_a_back_billed_part_accrues_from_its_own_due_date() -> None:
    """Bill 100.00 due 2025-02-20 paid on time; 1,000.00 back-billed, due 2025-12-20; as of
    2026-01-10 (non-residential): 11 days × 2‰ + 10 days × 3‰ = 52‰ of 1,000.00 = 52.00 —
    the 当年/跨年度 split counts from the part's own due date, not from 2025-02-20."""
    parts = outstanding_parts([(dt.date(2025, 2, 20), 10_000), (dt.date(2025, 12, 20), 100_000)], 100_000)
    assert parts == [(dt.date(2025, 12, 20), 100_000)]
    fees = late_fees_by_part(
        principal_fen=[fen for _, fen in parts],
        due=[due for due, _ in parts],
        bill=[0],
        bills=1,
        as_of=dt.date(2026, 1, 10),
        residential=False,
        rates=RATES,
    )
    assert fees.tolist() == [5_200]


def test_fee_by_part_sums_the_parts_and_rounds_once_per_bill() -> None:
    # Bill 0 (residential): 0.50 due 11-20 (3 days: 0.0015) + 0.50 due 11-21 (2 days: 0.0010)
    # = 0.0025 → 0.00 accrued → the 1.00 minimum once. Bill 1: one part, not yet due → 0.
    fees = late_fees_by_part(
        principal_fen=[50, 50, 5_200],
        due=[dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 30)],
        bill=[0, 0, 1],
        bills=2,
        as_of=dt.date(2026, 11, 23),
        residential=[True, True],
        rates=RATES,
    )
    assert fees.tolist() == [100, 0]
    # One part per bill is the same as late_fees.
    due, as_of = [dt.date(2025, 12, 20)], dt.date(2026, 1, 10)
    by_part = late_fees_by_part(
        principal_fen=[1_000_000], due=due, bill=[0], bills=1, as_of=as_of, residential=[False], rates=RATES
    )
    whole = late_fees(principal_fen=[1_000_000], due=due, as_of=as_of, residential=[False], rates=RATES)
    assert by_part.tolist() == whole.tolist() == [52_000]


@given(
    charges=st.lists(st.tuples(dates, st.integers(1, 10**8)), min_size=1, max_size=5),
    settled=st.integers(0, 10**9),
)
def test_outstanding_parts_sum_to_what_is_owed(charges: list[tuple[dt.date, int]], settled: int) -> None:
    owed = max(0, sum(fen for _, fen in charges) - settled)
    parts = outstanding_parts(charges, owed)
    assert sum(fen for _, fen in parts) == owed
    assert all(fen > 0 for _, fen in parts)
    assert [due for due, _ in parts] == sorted(due for due, _ in parts)


def _at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day + "T10:00:00+08:00")


def test_a_refund_that_cancels_a_back_billing_gives_back_the_bill_as_it_was() -> None:
    # 1,000.00 due 09-20; a 500.00 back-billing due 11-10, then refunded in full: the bill
    # owes its own 1,000.00 from 09-20 again (not 500 from 09-20 and 500 from 11-10).
    own = (_at("2026-09-05"), dt.date(2026, 9, 20), 100_000)
    backbill = (_at("2026-10-27"), dt.date(2026, 11, 10), 50_000)
    charges = charges_net_of_refunds([own, backbill], [(_at("2026-11-02"), 50_000)])
    assert charges == [(dt.date(2026, 9, 20), 100_000)]
    assert outstanding_parts(charges, 100_000) == [(dt.date(2026, 9, 20), 100_000)]


def test_a_refund_before_the_back_billing_corrects_the_bills_own_amount() -> None:
    own = (_at("2026-09-05"), dt.date(2026, 9, 20), 100_000)
    refund = (_at("2026-09-10"), 20_000)  # an overcharge on the bill, refunded
    backbill = (_at("2026-10-27"), dt.date(2026, 11, 10), 50_000)
    assert charges_net_of_refunds([own, backbill], [refund]) == [
        (dt.date(2026, 9, 20), 80_000),
        (dt.date(2026, 11, 10), 50_000),
    ]


def test_a_refund_larger_than_the_latest_charge_takes_the_next_back_and_the_rest_is_credit() -> None:
    own = (_at("2026-09-05"), dt.date(2026, 9, 20), 100_000)
    backbill = (_at("2026-10-27"), dt.date(2026, 11, 10), 50_000)
    assert charges_net_of_refunds([own, backbill], [(_at("2026-11-02"), 70_000)]) == [
        (dt.date(2026, 9, 20), 80_000)
    ]
    assert charges_net_of_refunds([own, backbill], [(_at("2026-11-02"), 200_000)]) == []


@given(
    st.lists(st.integers(min_value=1, max_value=10**7), min_size=1, max_size=5),
    st.lists(st.integers(min_value=1, max_value=10**7), max_size=4),
)
def test_refunds_take_back_exactly_their_amount_up_to_the_charges(
    amounts: list[int], refunded: list[int]
) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    charges = [
        (start + dt.timedelta(days=3 * i), dt.date(2026, 2, 1) + dt.timedelta(days=i), fen)
        for i, fen in enumerate(amounts)
    ]
    refunds = [(start + dt.timedelta(days=3 * i + 1), fen) for i, fen in enumerate(refunded)]
    left = charges_net_of_refunds(charges, refunds)
    assert all(fen > 0 for _, fen in left)
    # never more than charged, and exactly what was charged minus what the refunds could take
    assert sum(fen for _, fen in left) <= sum(amounts)
    standing = 0
    events = sorted([(w, 0, f) for w, _d, f in charges] + [(w, 1, f) for w, f in refunds])
    for _w, is_refund, fen in events:
        standing = max(0, standing - fen) if is_refund else standing + fen
    assert sum(fen for _, fen in left) == standing
