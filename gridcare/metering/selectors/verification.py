"""Shared reads of meter verification requests (计量装置校验申请), with the deadline colour
of the console list, and the verification time-limit policy in force.

Scope: staff with ``metering.view_verificationrequest`` see every request; a portal
customer sees the requests of their own accounts; anyone else sees none.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.core.errors import NotFound, ValidationFailed
from gridcare.core.roles import is_customer_user, is_staff_user
from gridcare.metering.choices import VerificationStatus
from gridcare.metering.models import VerificationPolicy, VerificationRequest

__all__ = [
    "DEADLINE_DANGER",
    "DEADLINE_OK",
    "DEADLINE_WARN",
    "deadline_state",
    "verification_policy_at",
    "verification_request_get",
    "verification_requests_list",
    "verification_requests_visible_to",
]

DEADLINE_OK = "ok"
DEADLINE_WARN = "warn"
DEADLINE_DANGER = "danger"
WARN_WITHIN = dt.timedelta(hours=24)


def deadline_state(due_at: dt.datetime, now: dt.datetime) -> str:
    """The deadline colour at ``now``: ``"danger"`` once ``due_at`` has passed, ``"warn"``
    when it is due within 24 hours, ``"ok"`` otherwise. Both times must be aware."""
    if timezone.is_naive(due_at) or timezone.is_naive(now):
        raise ValueError("due_at and now must be timezone-aware")
    if now > due_at:
        return DEADLINE_DANGER
    if due_at - now <= WARN_WITHIN:
        return DEADLINE_WARN
    return DEADLINE_OK


def verification_policy_at(day: dt.date) -> VerificationPolicy | None:
    """The verification time limit in force on ``day`` (newest ``effective_from`` ≤ day)."""
    return VerificationPolicy.objects.filter(effective_from__lte=day).order_by("-effective_from").first()


def verification_requests_visible_to(user: Any) -> QuerySet[VerificationRequest]:
    """Requests ``user`` may see (see the module docstring)."""
    if is_staff_user(user) and not is_customer_user(user):
        if user.has_perm("metering.view_verificationrequest"):
            return VerificationRequest.objects.all()
        return VerificationRequest.objects.none()
    if is_customer_user(user):
        return VerificationRequest.objects.filter(account__customer__user=user)
    return VerificationRequest.objects.none()


def _with_state(requests: list[VerificationRequest], now: dt.datetime) -> list[VerificationRequest]:
    for request in requests:
        # An open request is judged against now; an answered one against the time of its
        # result (the clock stopped then), so a late answer stays red in the history.
        clock = now if request.status == VerificationStatus.OPEN else (request.tested_at or now)
        request.deadline_state = deadline_state(request.due_at, clock)  # type: ignore[attr-defined]
    return requests


def verification_requests_list(
    *,
    user: Any,
    status: str | None = None,
    overdue: bool | None = None,
    now: dt.datetime | None = None,
) -> list[VerificationRequest]:
    """The verification-request list, oldest deadline first, each request carrying
    ``deadline_state`` (``deadline_state()``: ok / warn / danger).

    ``overdue=True``: only open requests past their deadline; ``overdue=False``: every
    other request. ``now`` defaults to the current time (tests pass a fixed one).
    """
    now = timezone.now() if now is None else now
    qs = verification_requests_visible_to(user).select_related("account", "meter", "created_by")
    if status:
        if status not in VerificationStatus.values:
            raise ValidationFailed(_("Choose one of the listed values."), field="status")
        qs = qs.filter(status=status)
    late = Q(status=VerificationStatus.OPEN, due_at__lt=now)
    if overdue is True:
        qs = qs.filter(late)
    elif overdue is False:
        qs = qs.exclude(late)
    return _with_state(list(qs.order_by("due_at", "id")), now)


def verification_request_get(
    *, user: Any, request_id: int, now: dt.datetime | None = None
) -> VerificationRequest:
    """One request (account, meter and its 退补 record loaded) with ``deadline_state``;
    NotFound when it does not exist or the user may not see it."""
    request = (
        verification_requests_visible_to(user)
        .select_related("account", "meter", "created_by", "adjustment")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        raise NotFound()
    return _with_state([request], timezone.now() if now is None else now)[0]
