"""Penalty rules (违约使用电费 parameters) as effective-dated configuration.

Each number of the theft and violation charges (``choices.PenaltyKey``) is a ``PenaltyRule``
row; the row with the latest ``effective_from`` on or before a case's day applies, so a
case found on 2024-05-31 uses the 1996 row and one found on 2024-06-01 the 2024 row
(migration 0002 seeds both; docs/inspection-cases.md). Rows are only ever added: a new
value is a new row with its own date and source, never an edit, so a computed case can
always be traced to the rows it used.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from gridcare.core.audit import actor_label, audit_record, snapshot
from gridcare.core.errors import Conflict, PermissionDenied, ValidationFailed
from gridcare.core.roles import staff_has_perm
from gridcare.inspection.choices import PenaltyKey
from gridcare.inspection.engine.penalty import Rule
from gridcare.inspection.models import PenaltyRule

ADD_PERM = "inspection.add_penaltyrule"
AUDIT_FIELDS = ("key", "value", "is_cap", "effective_from", "source", "created_by")
MAX_VALUE = Decimal("9999999999.99")

__all__ = ["penalty_rule_add", "penalty_rules_at", "penalty_rules_history"]


def penalty_rules_at(day: dt.date, *, keys: list[str] | None = None) -> dict[str, Rule]:
    """The rule of every key (or of ``keys``) in force on ``day``: the latest row with
    ``effective_from ≤ day``. A key with no such row is a ValidationFailed naming it."""
    wanted = list(keys) if keys is not None else list(PenaltyKey.values)
    found: dict[str, Rule] = {}
    rows = PenaltyRule.objects.filter(key__in=wanted, effective_from__lte=day).order_by(
        "key", "-effective_from"
    )
    for row in rows:
        if row.key not in found:
            found[row.key] = Rule(
                value=row.value, is_cap=row.is_cap, effective_from=row.effective_from, source=row.source
            )
    missing = [key for key in wanted if key not in found]
    if missing:
        raise ValidationFailed(
            _("No penalty rule %(key)s is in force on %(day)s: add one on the penalty rules page.")
            % {"key": missing[0], "day": day.isoformat()},
            field="occurred_on",
        )
    return found


def penalty_rules_history() -> dict[str, list[PenaltyRule]]:
    """Every row per key, newest first (the configuration page)."""
    history: dict[str, list[PenaltyRule]] = {key: [] for key in PenaltyKey.values}
    for row in PenaltyRule.objects.order_by("key", "-effective_from"):
        history.setdefault(row.key, []).append(row)
    return history


def _value(value: Any) -> Decimal:
    if isinstance(value, float | bool):
        raise ValidationFailed(_("Enter an exact decimal number."), field="value")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed(_("Enter a number."), field="value") from exc
    if not number.is_finite() or number < 0:
        raise ValidationFailed(_("Enter a number of zero or more."), field="value")
    if number != number.quantize(Decimal("0.01")) or number > MAX_VALUE:
        raise ValidationFailed(_("At most 2 decimal places and 10 digits before the point."), field="value")
    return number


def penalty_rule_add(
    *, actor: Any, key: str, value: Any, is_cap: bool, effective_from: dt.date, source: str
) -> PenaltyRule:
    """Add a new effective-dated value of a penalty rule (needs ``inspection.add_penaltyrule``).

    A second row of the same key on the same day is refused (Conflict); the source (the
    regulation, article or contract clause) is required. Cases already computed keep the
    amounts and the basis they were computed with."""
    if not staff_has_perm(actor, ADD_PERM):
        raise PermissionDenied()
    if key not in PenaltyKey.values:
        raise ValidationFailed(_("Choose a rule."), field="key")
    number = _value(value)
    if not isinstance(effective_from, dt.date):
        raise ValidationFailed(_("Give the date it takes effect."), field="effective_from")
    source = (source or "").strip()
    if not source:
        raise ValidationFailed(
            _("Cite the source of the value (regulation, article, contract)."), field="source"
        )
    if len(source) > 300:
        raise ValidationFailed(_("Too long (%(max)d characters at most).") % {"max": 300}, field="source")
    try:
        with transaction.atomic():
            if PenaltyRule.objects.filter(key=key, effective_from=effective_from).exists():
                raise Conflict(
                    _("This rule already has a value from that day; choose another date."),
                    field="effective_from",
                )
            rule = PenaltyRule.objects.create(
                key=key,
                value=number,
                is_cap=bool(is_cap),
                effective_from=effective_from,
                source=source,
                created_by=actor_label(actor)[:150],
            )
            audit_record(
                actor=actor,
                obj=rule,
                action="inspection.penalty_rule.add",
                after=snapshot(rule, AUDIT_FIELDS),
                reason=source,
            )
    except IntegrityError as exc:  # a concurrent add of the same key and day
        raise Conflict(
            _("This rule already has a value from that day; choose another date."), field="effective_from"
        ) from exc
    return rule
