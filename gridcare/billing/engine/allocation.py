"""销账 (allocation of a payment to bills), pure and in integer fen.

Order: the **oldest bill first** — by billing period, then bill id. On each bill the money
goes first to the **late fee accrued on the part being paid**, then to that part of the
principal (many utilities collect 违约金 together with the principal it accrued on: a
customer cannot clear the principal and leave the fee behind). What is left after every
bill is paid goes to the account balance (预收).

A partial payment on an overdue bill pays the largest principal part ``x`` such that
``x + fee(x) ≤ remaining``; the rounding residue (at most a fen or so) is added to the
principal, so the fee is never over-charged. A payment too small to pay even one fen of
principal with its fee is taken as late fee (it counts towards the bill's minimum fee).

A bill that owes in parts with their own due dates (its own amount, then approved
back-billings, each due later: ``late_fee.outstanding_parts``) gives them as ``parts``,
earliest due first: the principal paid settles the earliest part first, and its fee is what
the share of each part accrued from that part's own due date, summed and rounded once.

Fees come from :mod:`gridcare.billing.engine.late_fee`: ``weighted`` is the bill's
``rate_days`` as of the payment day (each part's own), ``minimum_fen`` what is left of the
minimum fee after fees already collected (or waived) on the bill, ``credit_fen`` the part of
those fees beyond what the parts paid so far accrued (the minimum's top-up: a later part's
own fee uses it up first, so a bill paid in parts is charged max(Σ accrued, minimum) in
all, as if paid at once), ``waiver_fen`` the approved waiver still unused. Each allocation
reports the fee its part accrued (``accrued_fen``, before the minimum and credit) so the
caller can keep the bill's credit: it grows by ``late_fee_fen + waived_fen − accrued_fen``.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridcare.billing.engine.late_fee import accrued_from_product, fee_from_product


@dataclass(frozen=True)
class OpenBill:
    """An unpaid bill as allocation sees it."""

    bill_id: int
    period_ordinal: int  # the period's date as an ordinal (older = smaller)
    outstanding_fen: int  # principal still owed (> 0)
    weighted: int = 0  # rate-days in 0.01 ‰ units as of the payment day (0: not overdue)
    minimum_fen: int = 0  # the part of the minimum late fee not yet collected (or waived)
    waiver_fen: int = 0  # approved late-fee waiver still to use on this bill
    credit_fen: int = 0  # fee collected (or waived) on this bill beyond what its paid parts accrued
    # (principal fen, weighted) per part with its own due date, earliest due first; they sum
    # to ``outstanding_fen``. Empty: one part, ``outstanding_fen`` at ``weighted``.
    parts: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.parts and sum(fen for fen, _ in self.parts) != self.outstanding_fen:
            raise ValueError("a bill's parts must sum to its outstanding principal")

    def product(self, principal: int) -> int:
        """Σ(principal × rate-days) over the first ``principal`` fen of the bill's parts."""
        if not self.parts:
            return principal * self.weighted
        total, left = 0, principal
        for fen, weighted in self.parts:
            take = min(left, fen)
            total += take * weighted
            left -= take
            if left <= 0:
                break
        return total


@dataclass(frozen=True)
class Allocation:
    bill_id: int
    principal_fen: int
    late_fee_fen: int
    waived_fen: int  # the late fee the waiver covered on this part
    accrued_fen: int  # the fee this part accrued itself (before the minimum and the credit)


@dataclass(frozen=True)
class AllocationResult:
    allocations: tuple[Allocation, ...]
    balance_fen: int  # left over → account balance


def _gross_fee(bill: OpenBill, principal: int) -> int:
    product = bill.product(principal)
    return int(fee_from_product(product, minimum_fen=bill.minimum_fen, credit_fen=bill.credit_fen))


def _accrued(bill: OpenBill, principal: int) -> int:
    return int(accrued_from_product(bill.product(principal)))


def _net_fee(bill: OpenBill, principal: int) -> tuple[int, int]:
    gross = _gross_fee(bill, principal)
    waived = min(gross, bill.waiver_fen)
    return gross - waived, waived


def allocate(*, amount_fen: int, bills: list[OpenBill]) -> AllocationResult:
    """Split ``amount_fen`` over ``bills`` oldest first; the rest is the balance."""
    if amount_fen < 0:
        raise ValueError("amount must not be negative")
    remaining = amount_fen
    out: list[Allocation] = []
    for bill in sorted(bills, key=lambda b: (b.period_ordinal, b.bill_id)):
        if remaining <= 0:
            break
        if bill.outstanding_fen <= 0:
            continue
        fee, waived = _net_fee(bill, bill.outstanding_fen)
        if remaining >= bill.outstanding_fen + fee:
            out.append(
                Allocation(
                    bill.bill_id, bill.outstanding_fen, fee, waived, _accrued(bill, bill.outstanding_fen)
                )
            )
            remaining -= bill.outstanding_fen + fee
            continue
        # Partial: the largest x with x + fee(x) ≤ remaining (x + net fee is increasing).
        lo, hi = 0, bill.outstanding_fen - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if mid + _net_fee(bill, mid)[0] <= remaining:
                lo = mid
            else:
                hi = mid - 1
        x = lo
        if x == 0:
            out.append(Allocation(bill.bill_id, 0, remaining, 0, 0))
        else:
            fee, waived = _net_fee(bill, x)
            principal = min(bill.outstanding_fen, remaining - fee)
            out.append(Allocation(bill.bill_id, principal, fee, waived, _accrued(bill, x)))
        remaining = 0
    return AllocationResult(allocations=tuple(out), balance_fen=remaining)
