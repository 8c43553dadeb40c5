"""退补 after a meter verification: the tolerance decision and the refund/back-billing
period. Pure computation, no Django import.

The rule encoded (1996 供电营业规则 第八十条, domain-rules §3 [CONFIRMED]): when a meter's
error is beyond its accuracy class's allowed error, charges are refunded or back-billed by
the measured error ("0" error as the baseline) over **half** the time from the last
verification or replacement (上次校验或换装) to the correction date. Whether the 2024
revision (国家发展改革委令 2024年第14号) kept the half-period rule is not verified.

Conventions:

- the error is the meter's relative error in percent: positive means the meter ran fast
  (recorded more than was used → refund, 退费); negative means it ran slow (back-bill, 补收);
- an error exactly at the allowed limit is within tolerance (|error| ≤ limit);
- the period ends on the correction (test) date and reaches back ``floor(days / 2)`` days,
  where ``days`` is the span from the base date (last verification or replacement) to it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

REFUND: Literal["refund"] = "refund"
BACK_BILL: Literal["back_bill"] = "back_bill"

Direction = Literal["refund", "back_bill"]


@dataclass(frozen=True)
class ToleranceDecision:
    """The outcome of one test: within tolerance or not, and which way to correct."""

    error_pct: Decimal
    tolerance_pct: Decimal
    within_tolerance: bool
    direction: Direction | None  # None when within tolerance


@dataclass(frozen=True)
class RefundPeriod:
    """The 退补 period: ``start`` .. ``end`` (both dates inclusive), from ``base``."""

    base: dt.date
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        """Days from start to end (the halved span)."""
        return (self.end - self.start).days


def tolerance_decision(*, error_pct: Decimal, tolerance_pct: Decimal) -> ToleranceDecision:
    """Decide a test result: within tolerance when ``|error_pct| <= tolerance_pct``.

    Out of tolerance, a positive error (fast meter) is a refund, a negative one a back-bill.
    """
    if not isinstance(error_pct, Decimal) or not isinstance(tolerance_pct, Decimal):
        raise TypeError("error_pct and tolerance_pct must be Decimal")
    if not error_pct.is_finite() or not tolerance_pct.is_finite():
        raise ValueError("error_pct and tolerance_pct must be finite")
    if tolerance_pct <= 0:
        raise ValueError("tolerance_pct must be positive")
    within = abs(error_pct) <= tolerance_pct
    direction: Direction | None = None
    if not within:
        direction = REFUND if error_pct > 0 else BACK_BILL
    return ToleranceDecision(
        error_pct=error_pct, tolerance_pct=tolerance_pct, within_tolerance=within, direction=direction
    )


def refund_period(*, base: dt.date, corrected_on: dt.date) -> RefundPeriod:
    """The 第八十条 period: half the time from ``base`` (last verification or replacement)
    to ``corrected_on`` (the test date), ending on ``corrected_on``.

    ``start = corrected_on - floor((corrected_on - base) / 2)``; so ``base <= start <= end``.
    """
    if corrected_on < base:
        raise ValueError("the correction date is before the last verification or replacement")
    half = (corrected_on - base).days // 2
    return RefundPeriod(base=base, start=corrected_on - dt.timedelta(days=half), end=corrected_on)


def refund_base_date(
    *, manufactured_on: dt.date, last_verified_on: dt.date | None, installed_on: dt.date | None
) -> dt.date:
    """The date the period counts from: the later of the last verification and the
    installation (换装) of the meter; the manufacture date when neither is known."""
    known = [d for d in (last_verified_on, installed_on) if d is not None]
    return max(known) if known else manufactured_on
