"""Rounding rules of the rating engine (pure: no Django).

* Unit prices are integer micro-yuan (1e-6 yuan). A price derived from a ratio (peak =
  purchase × 1.7, sharp = purchase × 1.7 × 1.2, …) is the exact product rounded ONCE to
  the micro-yuan, half-up.
* Amounts are integer fen, rounded per line, half-up. "Half-up" is Decimal's
  ``ROUND_HALF_UP``: halves go away from zero, so −0.5 fen → −1 fen (a credit is
  rounded like a charge of the same size).
* Energy is integer Wh. When a quantity is split into parts (a period's consumption over
  days, a tier's kWh over peak and valley), the parts are the differences of the rounded-
  down cumulative shares, so they always sum exactly to the whole.

Each function works on Python ints and on NumPy int64 arrays / Polars integer expressions
alike (only ``//``, ``*``, ``+``, ``-``, comparisons and ``abs`` are used).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import polars as pl

MICRO = 1_000_000
WH_PER_KWH = 1_000
# amount_fen = wh × price_micro / (1000 Wh/kWh × 1e6 micro/yuan / 100 fen/yuan)
WH_MICRO_PER_FEN = 10_000_000


def div_half_up(num: int, den: int) -> int:
    """``num / den`` rounded half away from zero (``den`` > 0), on Python ints."""
    if den <= 0:
        raise ValueError("denominator must be positive")
    q, r = divmod(abs(num), den)
    if 2 * r >= den:
        q += 1
    return q if num >= 0 else -q


def expr_div_half_up(num: pl.Expr, den: pl.Expr | int) -> pl.Expr:
    """Polars: ``num / den`` rounded half away from zero (``den`` > 0), integer result."""
    den_e = den if isinstance(den, pl.Expr) else pl.lit(den, dtype=pl.Int64)
    magnitude = (num.abs() * 2 + den_e) // (den_e * 2)
    return pl.when(num < 0).then(-magnitude).otherwise(magnitude)


def expr_div_half_up_nonneg(num: pl.Expr, den: pl.Expr | int) -> pl.Expr:
    """Polars: like :func:`expr_div_half_up` for a numerator known to be ≥ 0 (cheaper)."""
    den_e = den if isinstance(den, pl.Expr) else pl.lit(den, dtype=pl.Int64)
    return (num * 2 + den_e) // (den_e * 2)


def decimal_to_micro(value: Any, *, what: str) -> int:
    """An exact decimal (string/Decimal/int) → integer micro-yuan; more than 6 places or a
    float is refused (prices are published to the 0.000001 yuan)."""
    if isinstance(value, float):
        raise ValueError(f"{what}: a float is not an exact price; write it as a string")
    try:
        amount = Decimal(str(value))
    except Exception as exc:  # InvalidOperation and friends
        raise ValueError(f"{what}: {value!r} is not a decimal number") from exc
    if not amount.is_finite():
        raise ValueError(f"{what}: {value!r} is not a decimal number")
    micro = amount * MICRO
    if micro != micro.to_integral_value():
        raise ValueError(f"{what}: {value} has more than 6 decimal places")
    return int(micro)


def micro_to_decimal(micro: int) -> Decimal:
    """Integer micro-yuan → Decimal yuan with 6 places."""
    return (Decimal(int(micro)) / MICRO).quantize(Decimal("0.000001"))


def fen_to_decimal(fen: int) -> Decimal:
    """Integer fen → Decimal yuan with 2 places."""
    return (Decimal(int(fen)) / 100).quantize(Decimal("0.01"))


def wh_to_kwh(wh: int) -> Decimal:
    """Integer Wh → Decimal kWh with 3 places."""
    return (Decimal(int(wh)) / WH_PER_KWH).quantize(Decimal("0.001"))


def kwh_to_wh(value: Any, *, what: str) -> int:
    """kWh (string/Decimal/int, at most 3 places) → integer Wh."""
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value))
    except Exception as exc:
        raise ValueError(f"{what}: {value!r} is not a number") from exc
    if not amount.is_finite():
        raise ValueError(f"{what}: {value!r} is not a number")
    wh = amount * WH_PER_KWH
    if wh != wh.to_integral_value():
        raise ValueError(f"{what}: {value} has more than 3 decimal places (kWh are metered to the Wh)")
    return int(wh)


def ratio_to_fraction(value: Any, *, what: str) -> tuple[int, int]:
    """An exact decimal ratio ("1.7") → (numerator, denominator) in lowest terms."""
    if isinstance(value, float):
        raise ValueError(f"{what}: a float is not exact; write the ratio as a string")
    try:
        ratio = Decimal(str(value))
    except Exception as exc:
        raise ValueError(f"{what}: {value!r} is not a decimal number") from exc
    if not ratio.is_finite() or ratio <= 0:
        raise ValueError(f"{what}: {value!r} must be a positive decimal number")
    num, den = ratio.as_integer_ratio()
    return num, den


def price_times_ratio(price_micro: int, ratio: Decimal) -> int:
    """Python-int version of the derived-price rule: exact product, rounded once."""
    exact = Decimal(price_micro) * ratio
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
