"""Reads of balance refund requests (销户退费申请): the console's approval list and its count,
an account's requests, the API and the portal.

Visibility: staff holding ``billing.view_refundrequest`` see every request; a portal
customer sees only those of their own accounts (another's is NotFound, never confirmed);
anybody else nothing. Who may decide is ``billing.change_refundrequest`` and never the
requester (services.payments.balance_refund_decide); who may withdraw one is its requester
alone, while it is pending (services.payments.balance_refund_withdraw).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Case, QuerySet, Value, When

from gridcare.billing.choices import RefundRequestStatus
from gridcare.billing.models import RefundRequest
from gridcare.core.errors import NotFound
from gridcare.core.roles import is_customer_user, staff_has_perm

VIEW = "billing.view_refundrequest"
DECIDE = "billing.change_refundrequest"

__all__ = [
    "refund_request_get",
    "refund_requests_search",
    "refund_requests_to_decide_count",
    "refund_requests_visible_to",
]


def refund_requests_visible_to(user: Any) -> QuerySet[RefundRequest]:
    """Refund requests ``user`` may see, pending first, then newest first."""
    base = (
        RefundRequest.objects.select_related("account__customer", "payment")
        .annotate(
            pending_order=Case(When(status=RefundRequestStatus.PENDING, then=Value(0)), default=Value(1))
        )
        .order_by("pending_order", "-requested_at", "-pk")
    )
    if staff_has_perm(user, VIEW):
        return base
    if is_customer_user(user):
        return base.filter(account__customer__user=user)
    return RefundRequest.objects.none()


def refund_requests_search(*, user: Any, status: str = "", account: str = "") -> QuerySet[RefundRequest]:
    """:func:`refund_requests_visible_to` filtered by status and 户号 (exact)."""
    qs = refund_requests_visible_to(user)
    if status:
        qs = qs.filter(status=status)
    if account:
        qs = qs.filter(account__number=account.strip())
    return qs


def refund_request_get(*, user: Any, refund_request_id: int) -> RefundRequest:
    """One request ``user`` may see; NotFound otherwise (missing or another's alike)."""
    found = refund_requests_visible_to(user).filter(pk=refund_request_id).first()
    if found is None:
        raise NotFound()
    return found


def refund_requests_to_decide_count(user: Any) -> int:
    """How many pending requests wait for ``user``'s decision: 0 unless they may decide;
    their own requests are not counted (another person decides those)."""
    if not staff_has_perm(user, DECIDE):
        return 0
    return (
        RefundRequest.objects.filter(status=RefundRequestStatus.PENDING)
        .exclude(requested_by_user=user)
        .count()
    )
