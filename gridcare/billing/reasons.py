"""Reasons a billing run gives — a held account (暂缓计费, ``BillingHold.reason``), an
account the engine could not rate, a review flag (发行前审核, ``BillReview.detail``): the
form stored in the database, and the words a clerk reads.

* Stored: fixed English text built from a template here (:class:`Reason`), whatever
  language the run was started in, so rows of any age read alike and logic can match them
  (an earlier-month hold cannot be released).
* Shown: :func:`reason_text` recognises the template and words it in the current language
  (gettext) with its parameters — a VEE rule and a register by their labels, an engine
  reason by :func:`engine_reason_text`. Any other text (older, unknown) is shown as stored.

The rating engine (pure, no Django) words its errors itself; :data:`ENGINE_REASONS` are
those words (a test reads them from the engine's source, so a new one gets words here too).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from string import Formatter
from typing import Any, Final

import polars as pl
from django.db import models
from django.utils.translation import gettext_lazy as _

from gridcare.metering.choices import Register, VeeRule

__all__ = [
    "EARLIER_MONTH",
    "ENGINE_REASONS",
    "HIGH_AMOUNT",
    "MISSING_READING",
    "NEGATIVE_AMOUNT",
    "NOT_RATED",
    "OPEN_EXCEPTION",
    "REASONS",
    "SENT_BACK",
    "ZERO_CONSUMPTION",
    "Reason",
    "engine_reason_text",
    "reason_text",
]


@dataclass(frozen=True)
class Reason:
    """One kind of reason: ``stored`` is the template of the stored text (``{name}``
    fields), ``shown`` the translatable words (``%(name)s`` fields, the same names), and
    ``params`` how a field's stored value is shown (default: as stored)."""

    stored: str
    shown: Any
    params: Mapping[str, Callable[[str], str]] = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        """The stored text before the first field (what every such reason starts with)."""
        return self.stored.split("{", 1)[0]

    def text(self, **values: object) -> str:
        """The stored text with ``values``."""
        return self.stored.format(**values)

    def expr(self, **columns: pl.Expr) -> pl.Expr:
        """The stored text as a Polars expression over ``columns`` (the bulk path)."""
        parts: list[pl.Expr] = []
        for literal, name, _spec, _conversion in Formatter().parse(self.stored):
            if literal:
                parts.append(pl.lit(literal))
            if name is not None:
                parts.append(columns[name].cast(pl.String))
        return pl.concat_str(parts)

    @cached_property
    def pattern(self) -> re.Pattern[str]:
        regex = "".join(
            re.escape(literal) + ("" if name is None else f"(?P<{name}>.*?)")
            for literal, name, _spec, _conversion in Formatter().parse(self.stored)
        )
        return re.compile(regex, re.DOTALL)

    def show(self, stored: str) -> str | None:
        """``stored`` in the current language, or None when it is not of this kind."""
        match = self.pattern.fullmatch(stored)
        if match is None:
            return None
        values = {name: self.params.get(name, str)(value) for name, value in match.groupdict().items()}
        return str(self.shown) % values if values else str(self.shown)


def _label(choices: type[models.TextChoices]) -> Callable[[str], str]:
    def label(value: str) -> str:
        return str(dict(choices.choices).get(value, value))

    return label


#: What the rating engine (engine/rating.py, engine/catalogue.py) says when it cannot rate a
#: period, in its own English.
ENGINE_REASONS: Final[tuple[Reason, ...]] = (
    Reason(
        "period_end before period_start (or a date missing)",
        _("The period ends before it starts, or a date is missing"),
    ),
    Reason("unknown tariff {code}", _("Unknown tariff %(code)s")),
    Reason(
        "no version of {code} in force at the period start",
        _("No version of tariff %(code)s in force at the start of the period"),
    ),
    Reason(
        "tariff {code} version {effective_from} has invalid parameters: {detail}",
        _("Tariff %(code)s, version of %(effective_from)s, has invalid parameters: %(detail)s"),
    ),
    Reason(
        "no agency purchase price for {price_group} in {month}",
        _("No agency purchase price for %(price_group)s in %(month)s"),
    ),
    Reason(
        "residential TOU tariff needs the peak and valley registers",
        _("A residential TOU tariff needs the peak and valley registers"),
    ),
    Reason("no total register (total_wh is null)", _("No reading of the total register")),
    Reason(
        "no registers (total and TOU registers all null)", _("No register reading (neither total nor TOU)")
    ),
    Reason("negative consumption", _("Negative consumption")),
    Reason("basic_parts: a part needs its from date", _("A contract part of the period has no start date")),
    Reason(
        "two-part tariff needs basic_charge_by (capacity or demand)",
        _("A two-part tariff needs the contract's basic charge basis (capacity or demand)"),
    ),
    Reason(
        "basic charge by capacity needs capacity_va",
        _("A basic charge by capacity needs the contract capacity"),
    ),
    Reason(
        "basic charge by demand needs max_demand_w", _("A basic charge by demand needs the maximum demand")
    ),
    Reason("negative capacity or demand", _("Negative capacity or demand")),
    Reason(
        "power-factor table {table} has no row for this power factor",
        _("Power-factor table %(table)s has no row for this power factor"),
    ),
    Reason(
        "{value} is not a power-factor standard",
        _("%(value)s is not a power-factor standard (0.90, 0.85 or 0.80)"),
    ),
)


def engine_reason_text(reason: str) -> str:
    """An engine error in the current language (as the engine said it when unknown)."""
    for kind in ENGINE_REASONS:
        shown = kind.show(reason)
        if shown is not None:
            return shown
    return reason


# Holds (暂缓计费): services/period_data.py and services/runs.py store these.
OPEN_EXCEPTION: Final = Reason(
    "Open reading exception ({rule}) in the period",
    _("Open reading exception in the period: %(rule)s"),
    {"rule": _label(VeeRule)},
)
MISSING_READING: Final = Reason(
    "Missing reading: meter {meter} register {register} on {day}",
    _("Missing reading: meter %(meter)s, register %(register)s, on %(day)s"),
    {"register": _label(Register)},
)
NOT_RATED: Final = Reason("Not rated: {reason}", _("Not rated: %(reason)s"), {"reason": engine_reason_text})
EARLIER_MONTH: Final = Reason("Earlier month not billed ({month})", _("Earlier month not billed (%(month)s)"))
SENT_BACK: Final = Reason("Sent back at review: {note}", _("Sent back at review: %(note)s"))

# Review flags (发行前审核): services/runs.py ``review_flags`` stores these details.
NEGATIVE_AMOUNT: Final = Reason("Amount {amount} is negative", _("Amount %(amount)s is negative"))
ZERO_CONSUMPTION: Final = Reason(
    "Zero consumption on an active account", _("Zero consumption on an active account")
)
HIGH_AMOUNT: Final = Reason(
    "Amount {amount} above {factor} × the {months}-month average {average}",
    _("Amount %(amount)s above %(factor)s × the %(months)s-month average %(average)s"),
)

REASONS: Final[tuple[Reason, ...]] = (
    OPEN_EXCEPTION,
    MISSING_READING,
    NOT_RATED,
    EARLIER_MONTH,
    SENT_BACK,
    NEGATIVE_AMOUNT,
    ZERO_CONSUMPTION,
    HIGH_AMOUNT,
)


def reason_text(stored: str) -> str:
    """A stored hold reason or review detail in the current language; a text of no known
    kind is shown as stored."""
    for kind in REASONS:
        shown = kind.show(stored)
        if shown is not None:
            return shown
    return stored
