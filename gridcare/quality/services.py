"""Service quality writes: adding a service standard (服务标准) or a newer version of one.

A standard is never edited in place: clocks already started keep the row they were started
with. A newer version of a code takes effect on its ``effective_from`` and closes the
version before it on that day (``effective_to``), both audited.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from gridcare.core.audit import audit_record, snapshot
from gridcare.core.errors import ValidationFailed
from gridcare.core.roles import require_actor_perm
from gridcare.quality.models import ServiceStandard, SourceStatus
from gridcare.workorders.choices import Channel, Grade, SlaBasis, SlaStage, WorkOrderKind
from gridcare.workorders.models import Category
from gridcare.workorders.services.clocks import standards_cache

AUDITED = [
    "code",
    "name",
    "kind",
    "sub_type",
    "channel",
    "grade",
    "stage",
    "basis",
    "amount",
    "pausable",
    "warn_ratio",
    "effective_from",
    "effective_to",
    "source",
    "source_status",
]
MAX_AMOUNT = Decimal("99999.99")


def _decimal(value: Any, field: str) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(_("Enter a number."), field=field) from None
    if not number.is_finite():
        raise ValidationFailed(_("Enter a number."), field=field)
    return number


def _choice(value: str, allowed: list[str], field: str, *, blank: bool = False) -> str:
    value = (value or "").strip()
    if (blank and not value) or value in allowed:
        return value
    raise ValidationFailed(_("Choose one of the allowed values."), field=field)


@transaction.atomic
def service_standard_add(
    *,
    actor: Any,
    code: str,
    name: str,
    kind: str,
    stage: str,
    basis: str,
    amount: Decimal | str | int,
    effective_from: dt.date,
    source: str,
    source_status: str,
    sub_type: str = "",
    channel: str = "",
    grade: str = "",
    pausable: bool = False,
    warn_ratio: Decimal | str = Decimal("0.75"),
    effective_to: dt.date | None = None,
) -> ServiceStandard:
    """Add a standard, or a newer version of the code (validated, audited).

    A newer version keeps the code's kind and stage, takes effect after the latest version
    and closes the open version(s) on its ``effective_from``.
    """
    require_actor_perm(actor, "quality.add_servicestandard")
    code = (code or "").strip().upper()
    if not code or len(code) > 40:
        raise ValidationFailed(_("Give a code of at most 40 characters."), field="code")
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(_("Give a name of at most 100 characters."), field="name")
    kind = _choice(kind, list(WorkOrderKind.values), "kind")
    stage = _choice(stage, list(SlaStage.values), "stage")
    basis = _choice(basis, list(SlaBasis.values), "basis")
    channel = _choice(channel, list(Channel.values), "channel", blank=True)
    grade = _choice(grade, list(Grade.values), "grade", blank=True)
    source_status = _choice(source_status, list(SourceStatus.values), "source_status")
    sub_type = (sub_type or "").strip()
    if sub_type and not Category.objects.filter(code=sub_type, kind=kind).exists():
        raise ValidationFailed(_("No category of this kind has this code."), field="sub_type")
    amount = _decimal(amount, "amount")
    if amount <= 0 or amount > MAX_AMOUNT:
        raise ValidationFailed(_("The allowed time must be positive (at most 99999.99)."), field="amount")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationFailed(_("At most two decimal places."), field="amount")
    if basis == SlaBasis.WORKING_DAYS and amount != amount.to_integral_value():
        raise ValidationFailed(_("Working days are whole days."), field="amount")
    warn_ratio = _decimal(warn_ratio, "warn_ratio")
    if not Decimal(0) < warn_ratio < Decimal(1) or warn_ratio != warn_ratio.quantize(Decimal("0.01")):
        raise ValidationFailed(
            _("The warning share is a number between 0 and 1 with two decimals (e.g. 0.75)."),
            field="warn_ratio",
        )
    if not isinstance(effective_from, dt.date):
        raise ValidationFailed(_("Give the date the standard takes effect."), field="effective_from")
    if effective_to is not None and effective_to <= effective_from:
        raise ValidationFailed(_("The end date must be after the start date."), field="effective_to")
    source = (source or "").strip()
    if not source:
        raise ValidationFailed(_("Cite the source (document, link or company rule)."), field="source")

    versions = list(ServiceStandard.objects.select_for_update().filter(code=code).order_by("-effective_from"))
    if versions:
        latest = versions[0]
        if (latest.kind, latest.stage) != (kind, stage):
            raise ValidationFailed(
                _("Code %(code)s is a standard of another kind or stage; choose a new code.")
                % {"code": code},
                field="code",
            )
        if effective_from <= latest.effective_from:
            raise ValidationFailed(
                _("A newer version must take effect after the latest one (%(date)s).")
                % {"date": latest.effective_from},
                field="effective_from",
            )
    standard = ServiceStandard.objects.create(
        code=code,
        name=name,
        kind=kind,
        stage=stage,
        basis=basis,
        amount=amount,
        sub_type=sub_type,
        channel=channel,
        grade=grade,
        pausable=bool(pausable),
        warn_ratio=warn_ratio,
        effective_from=effective_from,
        effective_to=effective_to,
        source=source,
        source_status=source_status,
    )
    for old in versions:
        if old.effective_to is None or old.effective_to > effective_from:
            before = snapshot(old, ["effective_to"])
            old.effective_to = effective_from
            old.save(update_fields=["effective_to"])
            audit_record(
                actor=actor,
                obj=old,
                action="service_standard_close",
                before=before,
                after=snapshot(old, ["effective_to"]),
                reason=f"superseded by the version from {effective_from}",
            )
    audit_record(actor=actor, obj=standard, action="service_standard_add", after=snapshot(standard, AUDITED))
    standards_cache.clear()
    transaction.on_commit(standards_cache.clear)
    return standard
