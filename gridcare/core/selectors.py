"""Shared reads of the kernel: dashboard figures and the audit-trail search."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone

from gridcare.core.models import AuditEvent
from gridcare.customers.choices import CustomerClass
from gridcare.customers.models import Account, Customer, Transformer


@dataclass(frozen=True)
class ClassFigure:
    """Accounts of one customer class (用电类别) on the dashboard."""

    code: str
    label: Any
    count: int


def dashboard_figures() -> dict[str, Any]:
    """The dashboard tiles: archive size and accounts by customer class (4 queries)."""
    by_class = dict(Account.objects.order_by().values_list("customer_class").annotate(n=Count("id")))
    return {
        "customers": Customer.objects.count(),
        "accounts": sum(by_class.values()),
        "transformers": Transformer.objects.count(),
        "prepaid": Account.objects.filter(is_prepaid=True).count(),
        "by_class": [
            ClassFigure(code=value, label=label, count=by_class.get(value, 0))
            for value, label in CustomerClass.choices
        ],
    }


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def audit_events_search(
    *,
    actor: str = "",
    action: str = "",
    object_type: str = "",
    object_id: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> QuerySet[AuditEvent]:
    """审计日志查询: events matching every given filter, newest first."""
    qs = AuditEvent.objects.all()
    if actor:
        qs = qs.filter(actor_label__icontains=actor)
    if action:
        qs = qs.filter(action__startswith=action)
    if object_type:
        qs = qs.filter(object_type=object_type)
    if object_id:
        qs = qs.filter(object_id=object_id)
    if date_from:
        qs = qs.filter(at__gte=_day_start(date_from))
    if date_to:
        qs = qs.filter(at__lt=_day_start(date_to + dt.timedelta(days=1)))
    return qs.order_by("-at", "-id")


def audit_object_types() -> list[str]:
    """The object types present in the audit trail (for the search form's choices)."""
    return list(AuditEvent.objects.order_by("object_type").values_list("object_type", flat=True).distinct())
