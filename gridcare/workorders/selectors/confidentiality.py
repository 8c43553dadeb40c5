"""为举报人保密: the one place that decides what of a report's reporter a user may see.

A report's reporter (``ReporterIdentity``) is visible only to users holding
``workorders.view_reporteridentity``; every read through :func:`reporter_identity_reveal` is
audited. Lists, search results, exports, API payloads, alerts and audit rows never carry the
identity: they call :func:`contact_for` / :func:`masked_reporter`, which give the mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from gridcare.core.audit import audit_record
from gridcare.core.errors import PermissionDenied
from gridcare.core.roles import staff_has_perm
from gridcare.workorders.choices import WorkOrderKind
from gridcare.workorders.models import ReporterIdentity, WorkOrder

PERMISSION = "workorders.view_reporteridentity"
MASK = "***"
CONFIDENTIAL_LABEL = _("Reporter kept confidential (举报人信息保密)")


def can_see_reporter(user: Any) -> bool:
    """True for a console user holding the explicit reporter permission."""
    return staff_has_perm(user, PERMISSION)


@dataclass(frozen=True)
class Contact:
    """Who to call back about an order, as a user may see it."""

    name: str
    phone: str
    masked: bool


def contact_for(order: WorkOrder) -> Contact:
    """The order's contact for lists, searches, exports, API and alerts: a report's contact is
    always the mask (its reporter is only shown through :func:`reporter_identity_reveal`)."""
    if order.kind == WorkOrderKind.REPORT:
        return Contact(name=MASK, phone=MASK, masked=True)
    return Contact(name=order.contact_name, phone=order.contact_phone, masked=False)


def mask_value(value: str) -> str:
    """The mask of any reporter value (empty stays empty, so "not given" is still visible)."""
    return MASK if value else ""


def masked_reporter(identity: ReporterIdentity) -> dict[str, Any]:
    """A reporter identity with every identifying value masked: what audit rows store."""
    return {
        "name": mask_value(identity.name),
        "phone": mask_value(identity.phone),
        "id_number": mask_value(identity.id_number),
        "address": mask_value(identity.address),
        "customer": MASK if identity.customer_id else None,
        "wants_reply": identity.wants_reply,
    }


def reporter_identity_reveal(*, user: Any, order: WorkOrder) -> ReporterIdentity:
    """The reporter of ``order`` for a user holding the permission; the read is audited.

    Raises PermissionDenied for everyone else (and NotFound-free: the caller already sees
    the order)."""
    if not can_see_reporter(user):
        raise PermissionDenied(_("Only users allowed to see reporters may open this."))
    identity = ReporterIdentity.objects.get(order=order)
    audit_record(actor=user, obj=order, action="workorder.reporter_view", reason="reporter identity opened")
    return identity
