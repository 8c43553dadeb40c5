"""Money helpers. Money is Decimal yuan with 2 places in the database, integer fen in engines.

No Django import: engines and services share these.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN_PER_YUAN = 100
CENT = Decimal("0.01")


def to_yuan(value: Decimal | int | str) -> Decimal:
    """Parse a money amount into Decimal yuan with exactly 2 places (half-up).

    Floats are refused: they cannot represent money exactly.
    """
    if isinstance(value, float):
        raise TypeError("money must not be a float; pass Decimal, int or str")
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a money amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"not a money amount: {value!r}")
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def yuan_to_fen(value: Decimal | int | str) -> int:
    """Decimal yuan → integer fen, rounding half-up to the fen."""
    return int(to_yuan(value) * FEN_PER_YUAN)


def fen_to_yuan(fen: int) -> Decimal:
    """Integer fen → Decimal yuan with 2 places."""
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise TypeError("fen must be an int")
    return (Decimal(fen) / FEN_PER_YUAN).quantize(CENT)


def format_rmb(value: Decimal | int | str, *, symbol: str = "¥") -> str:
    """Format an amount as RMB: ``¥1,234.56``; negative amounts as ``-¥1,234.56``."""
    amount = to_yuan(value)
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount):,.2f}"
