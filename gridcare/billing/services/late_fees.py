"""违约金减免 (late-fee waivers): a clerk requests a waiver of (part of) the late fee on a
bill with a reason; another person holding ``billing.change_latefeewaiver`` approves or
rejects it. An approved waiver lowers the late fee of the next payment on the bill (see
``selectors.payments.open_bills``); a part larger than that payment's late fee lapses. The
payment that used it is recorded on the waiver (``used_by``, ``used_at``) by the payment
services, in the payment's transaction; if that payment is reversed the waiver serves the
next one.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.billing.choices import BillStatus, DocumentStatus
from gridcare.billing.models import Bill, LateFeeWaiver
from gridcare.billing.services.payments import lock_balance, parse_amount
from gridcare.core.audit import audit_record, person_name, snapshot
from gridcare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.core.roles import staff_has_perm

__all__ = ["late_fee_waiver_decide", "late_fee_waiver_request"]


def late_fee_waiver_request(*, actor: Any, bill_id: int, amount: Decimal | str, reason: str) -> LateFeeWaiver:
    """Request a waiver of ``amount`` yuan of the late fee on an issued bill (needs
    ``billing.add_latefeewaiver``)."""
    if not staff_has_perm(actor, "billing.add_latefeewaiver"):
        raise PermissionDenied()
    value = parse_amount(amount)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Give the reason for the waiver."), field="reason")
    bill = Bill.objects.filter(pk=bill_id, status=BillStatus.ISSUED).first()
    if bill is None:
        raise NotFound(_("No such issued bill."), field="bill")
    with transaction.atomic():
        waiver = LateFeeWaiver.objects.create(
            bill=bill,
            amount=value,
            reason=reason,
            requested_by=person_name(actor)[:150],
            requested_at=timezone.now(),
        )
        audit_record(actor=actor, obj=waiver, action="latefeewaiver.request", after=snapshot(waiver))
    return waiver


def late_fee_waiver_decide(*, actor: Any, waiver_id: int, approve: bool, note: str = "") -> LateFeeWaiver:
    """Approve or reject a pending waiver. The decider needs ``billing.change_latefeewaiver``
    and must not be the requester (four eyes)."""
    if not staff_has_perm(actor, "billing.change_latefeewaiver"):
        raise PermissionDenied()
    account_id = LateFeeWaiver.objects.filter(pk=waiver_id).values_list("bill__account_id", flat=True).first()
    if account_id is None:
        raise NotFound()
    with transaction.atomic():
        # Locks in the payments' order: the account's balance, then the document. A payment on
        # the bill is thus wholly before the decision (it did not see the waiver) or wholly
        # after it (it used the waiver and recorded so: payments._waivers_use).
        lock_balance(account_id)
        waiver = LateFeeWaiver.objects.select_for_update().filter(pk=waiver_id).first()
        if waiver is None:
            raise NotFound()
        if waiver.status != DocumentStatus.PENDING:
            raise Conflict(_("This waiver has already been decided."))
        name = person_name(actor)[:150]
        # The requester is the user on the request's audit row (names may repeat).
        requester_id = (
            AuditEvent.objects.filter(
                object_type="billing.latefeewaiver", object_id=str(waiver.pk), action="latefeewaiver.request"
            )
            .values_list("actor_id", flat=True)
            .first()
        )
        if requester_id == actor.pk:
            raise PermissionDenied(_("Another person must decide a waiver you requested."))
        before = snapshot(waiver, ["status", "decided_by", "decided_at"])
        waiver.status = DocumentStatus.APPROVED if approve else DocumentStatus.REJECTED
        waiver.decided_by = name
        waiver.decided_at = timezone.now()
        waiver.save(update_fields=["status", "decided_by", "decided_at"])
        audit_record(
            actor=actor,
            obj=waiver,
            action="latefeewaiver.approve" if approve else "latefeewaiver.reject",
            before=before,
            after=snapshot(waiver, ["status", "decided_by", "decided_at"]),
            reason=note,
        )
    return waiver
