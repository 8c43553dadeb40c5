"""电费违约金 (late-payment fee), pure and vectorised over many bills (integer fen).

Rule (供电营业规则 1996 第九十八条; domain-rules §3; the rates and the minimum are the
``BillingPolicy`` row in force, passed in by the caller — never constants here):

- the fee accrues daily **from the day after the due date up to and including the payment
  day** (``as_of``): a bill due 2025-12-20 paid 2025-12-21 has 1 day; paid on the due date,
  0 days. So ``days = as_of − due_date`` (never below 0);
- residential (居民): ``residential`` ‰ per day on the arrears;
- others: ``current_year`` ‰ per day for the days that fall in the due date's calendar year
  (当年欠费) and ``cross_year`` ‰ per day for the days from 1 January of any later year
  (跨年度欠费). Our reading of "跨年度": arrears become cross-year on the 1 January after the
  due date — the days before stay at the current-year rate (the rule is applied day by day);
- the fee is rounded half-up to the fen; a fee that accrued but totals less than the
  minimum is charged as the minimum. The minimum holds **per bill**: a bill paid in parts
  is charged in all max(Σ fee accrued on each part, minimum). So the caller passes, per
  bill, ``minimum_fen`` (what is left of the minimum after the late fee already collected
  or waived on the bill) and ``credit_fen`` (that fee beyond what the parts paid so far
  accrued — the minimum's top-up — which a later part's own fee uses up first; negative
  when a reversal took back the part that carried the top-up a later part used).

A bill can owe in **parts with their own due dates**: its own amount is due on the bill's due
date, each approved back-billing (补收) on the date it was approved plus the bill's payment
term (``services.adjustments``). :func:`outstanding_parts` splits what is still owed into
those parts — refunds take back the latest charge before them
(:func:`charges_net_of_refunds`), payments settle the earliest due first — and
:func:`late_fees_by_part` sums the fee accrued on each part from the day after its own due
date (the 当年/跨年度 split counted from that part's due date), rounded once per bill.

Rates come in as ‰ with at most 2 decimals; inside they are integers in units of 0.01 ‰
(1e-5), so ``fee = principal_fen × Σ(days × rate_units) / 100000`` exactly, in integers.
Worked example (docs/billing-payments.md): non-residential, 10,000.00 yuan due 2025-12-20,
paid 2026-01-10: 11 days × 2‰ + 10 days × 3‰ = 52‰ → 520.00 yuan.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt

RATE_SCALE = 100_000  # rate units (0.01 ‰) per 1
MAX_PRINCIPAL_FEN = 10**12  # keeps principal × rate-days inside int64

IntArray = npt.NDArray[np.int64]
Dates = Any  # datetime64[D] arrays, sequences of datetime.date, or one date


@dataclass(frozen=True)
class LateFeeRates:
    """Daily rates in ‰ (at most 2 decimals) and the minimum fee in fen."""

    residential_permille: Decimal
    current_year_permille: Decimal
    cross_year_permille: Decimal
    minimum_fen: int

    def units(self) -> tuple[int, int, int]:
        """The three rates in 0.01 ‰ units (exact)."""
        out = []
        for value in (self.residential_permille, self.current_year_permille, self.cross_year_permille):
            scaled = Decimal(value) * 100
            if scaled != scaled.to_integral_value() or scaled < 0:
                raise ValueError(f"a late-fee rate must be ≥ 0 with at most 2 decimals (‰): {value}")
            out.append(int(scaled))
        return out[0], out[1], out[2]


def _days(values: Dates) -> npt.NDArray[np.int64]:
    return np.asarray(values, dtype="datetime64[D]").astype(np.int64)


def rate_days(
    *,
    due: Dates,
    as_of: Dates,
    residential: npt.ArrayLike,
    rates: LateFeeRates,
) -> IntArray:
    """Σ(days × daily rate) per bill in 0.01 ‰ units (``fee = principal × this / 100000``).

    ``due`` and ``as_of`` are dates (``datetime64[D]`` or ``datetime.date`` sequences, or one
    date broadcast), ``residential`` booleans."""
    res_u, cur_u, cross_u = rates.units()
    due_d = _days(due)
    as_of_d = _days(as_of)
    due_d, as_of_d = np.broadcast_arrays(due_d, as_of_d)
    is_res = np.broadcast_to(np.asarray(residential, dtype=bool), due_d.shape)
    days = np.maximum(as_of_d - due_d, 0)
    # 31 December of the due date's year, as a day number.
    years = np.asarray(due_d, dtype="datetime64[D]").astype("datetime64[Y]")
    year_end = ((years + 1).astype("datetime64[D]") - np.timedelta64(1, "D")).astype(np.int64)
    current = np.clip(np.minimum(as_of_d, year_end) - due_d, 0, None)
    cross = days - current
    non_res = current * cur_u + cross * cross_u
    return np.where(is_res, days * res_u, non_res).astype(np.int64)


def _product(principal_fen: npt.ArrayLike, weighted: npt.ArrayLike) -> IntArray:
    principal = np.asarray(principal_fen, dtype=np.int64)
    w = np.asarray(weighted, dtype=np.int64)
    if np.any(principal < 0) or np.any(w < 0):
        raise ValueError("principal and rate-days must not be negative")
    if np.any(principal > MAX_PRINCIPAL_FEN):
        raise ValueError("principal too large")
    return principal * w


def accrued_from_product(product: npt.ArrayLike) -> IntArray:
    """The fee accrued given Σ(principal fen × :func:`rate_days`) (``product``), half-up to
    the fen, before the minimum."""
    value = np.asarray(product, dtype=np.int64)
    return ((2 * value + RATE_SCALE) // (2 * RATE_SCALE)).astype(np.int64)  # half-up, ≥ 0


def fee_from_product(
    product: npt.ArrayLike, *, minimum_fen: npt.ArrayLike = 0, credit_fen: npt.ArrayLike = 0
) -> IntArray:
    """The late fee in fen given Σ(principal fen × :func:`rate_days`) (``product``): the
    :func:`accrued_from_product` less ``credit_fen``, raised to ``minimum_fen`` (and never
    below 0), when any fee accrued (``product`` > 0); else 0."""
    value = np.asarray(product, dtype=np.int64)
    fee = accrued_from_product(value) - np.asarray(credit_fen, dtype=np.int64)
    minimum = np.maximum(np.asarray(minimum_fen, dtype=np.int64), 0)
    return np.where(value > 0, np.maximum(fee, minimum), 0).astype(np.int64)


def accrued_fee(principal_fen: npt.ArrayLike, weighted: npt.ArrayLike) -> IntArray:
    """The fee accrued on ``principal_fen`` given :func:`rate_days` ``weighted``, half-up
    to the fen, before the minimum."""
    return accrued_from_product(_product(principal_fen, weighted))


def fee_on(
    principal_fen: npt.ArrayLike,
    weighted: npt.ArrayLike,
    *,
    minimum_fen: npt.ArrayLike = 0,
    credit_fen: npt.ArrayLike = 0,
) -> IntArray:
    """The late fee in fen on ``principal_fen`` given :func:`rate_days` ``weighted``: the
    :func:`accrued_fee` less ``credit_fen``, raised to ``minimum_fen`` (and never below 0),
    when any fee accrued (principal > 0 and at least one day at a non-zero rate); else 0."""
    return fee_from_product(_product(principal_fen, weighted), minimum_fen=minimum_fen, credit_fen=credit_fen)


def charges_net_of_refunds(
    charges: Sequence[tuple[dt.datetime, dt.date, int]], refunds: Sequence[tuple[dt.datetime, int]]
) -> list[tuple[dt.date, int]]:
    """A bill's charges after its approved refunds (退费), for :func:`outstanding_parts`.

    ``charges`` are ``(when charged, due date, fen)``: the bill's own amount at its issue,
    each approved back-billing at its approval; ``refunds`` are ``(when approved, fen
    refunded)``. A refund corrects what was charged **before** it, the latest-due charge
    first: a refund that cancels a back-billing gives back the bill exactly as it was (its
    own amount still overdue from its own due date), and a refund of an overcharge on the
    bill approved before any back-billing reduces the bill's own amount. A refund larger than
    what stood then takes the next charge back, and so on; beyond all of them it is credit
    (not a part). Returns the charges still standing as ``(due date, fen)``, each > 0."""
    standing: list[list[Any]] = []  # [due, fen, order charged]
    events = sorted(
        [(when, 0, n, due, int(fen)) for n, (when, due, fen) in enumerate(charges) if fen > 0]
        + [(when, 1, n, None, int(fen)) for n, (when, fen) in enumerate(refunds) if fen > 0],
        key=lambda e: (e[0], e[1], e[2]),
    )  # at the same moment a charge comes before the refund that corrects it
    for _when, is_refund, order, due, fen in events:
        if not is_refund:
            standing.append([due, fen, order])
            continue
        left = fen
        for charge in sorted(standing, key=lambda c: (c[0], c[2]), reverse=True):
            if left <= 0:
                break
            take = min(charge[1], left)
            charge[1] -= take
            left -= take
    return [(due, fen) for due, fen, _order in standing if fen > 0]


def outstanding_parts(
    charges: Sequence[tuple[dt.date, int]], outstanding_fen: int
) -> list[tuple[dt.date, int]]:
    """What a bill still owes, split by due date: ``charges`` are its own amount and its
    approved back-billings as ``(due date, fen)``, after its refunds
    (:func:`charges_net_of_refunds`); the payments that took them down to
    ``outstanding_fen`` settled the **earliest due first** (the bill's own amount, then the
    back-billings by due date). Returns the parts still owed,
    earliest due first, each > 0; they sum to ``outstanding_fen`` (when ``outstanding_fen``
    exceeds the charges, the excess is added to the earliest part)."""
    ordered = sorted(((due, int(fen)) for due, fen in charges if fen > 0), key=lambda c: c[0])
    if outstanding_fen <= 0:
        return []
    if not ordered:
        raise ValueError("a bill that owes money has at least one charge")
    settled = sum(fen for _, fen in ordered) - outstanding_fen
    if settled < 0:
        ordered[0] = (ordered[0][0], ordered[0][1] - settled)
        settled = 0
    out = []
    for due, fen in ordered:
        take = min(fen, settled)
        settled -= take
        if fen - take > 0:
            out.append((due, fen - take))
    return out


def late_fees_by_part(
    *,
    principal_fen: npt.ArrayLike,
    due: Dates,
    bill: npt.ArrayLike,
    bills: int,
    as_of: Dates,
    residential: npt.ArrayLike,
    rates: LateFeeRates,
    minimum_fen: npt.ArrayLike | None = None,
    credit_fen: npt.ArrayLike = 0,
) -> IntArray:
    """The late fee in fen per bill when bills owe in parts with their own due dates
    (:func:`outstanding_parts`). ``principal_fen``, ``due`` and ``bill`` (the index of the
    part's bill, ``0 … bills − 1``) are per part; ``as_of`` is one date; ``residential``,
    ``minimum_fen`` and ``credit_fen`` are per bill (or one value). Each part accrues from
    the day after its own due date; a bill's parts are summed exactly and rounded once, and
    the minimum and credit apply once per bill as in :func:`late_fees`."""
    index = np.asarray(bill, dtype=np.int64)
    per_bill = np.broadcast_to(np.asarray(residential, dtype=bool), (bills,))
    weighted = rate_days(due=due, as_of=as_of, residential=per_bill[index], rates=rates)
    product = np.zeros(bills, dtype=np.int64)
    np.add.at(product, index, _product(principal_fen, weighted))
    return fee_from_product(
        product,
        minimum_fen=rates.minimum_fen if minimum_fen is None else minimum_fen,
        credit_fen=credit_fen,
    )


def late_fees(
    *,
    principal_fen: npt.ArrayLike,
    due: Dates,
    as_of: Dates,
    residential: npt.ArrayLike,
    rates: LateFeeRates,
    minimum_fen: npt.ArrayLike | None = None,
    credit_fen: npt.ArrayLike = 0,
) -> IntArray:
    """The late fee in fen per bill on its unpaid principal, accrued up to ``as_of``.
    ``minimum_fen`` defaults to the rates' minimum; pass per-bill remainders and credits
    (:func:`fee_on`) to account for fees already collected on earlier parts."""
    weighted = rate_days(due=due, as_of=as_of, residential=residential, rates=rates)
    return fee_on(
        principal_fen,
        weighted,
        minimum_fen=rates.minimum_fen if minimum_fen is None else minimum_fen,
        credit_fen=credit_fen,
    )


def late_fee(
    *, principal_fen: int, due: dt.date, as_of: dt.date, residential: bool, rates: LateFeeRates
) -> int:
    """One bill's late fee in fen (see :func:`late_fees`)."""
    return int(
        late_fees(
            principal_fen=[principal_fen], due=[due], as_of=[as_of], residential=[residential], rates=rates
        )[0]
    )
