"""Meter verification requests (计量装置校验申请) and the 退补 records they raise.

A customer disputes a meter; the result is due within the working days of the
``VerificationPolicy`` in force (十项承诺 第七条: 5 working days, counted on the Chinese
calendar with its make-up working days). A result beyond the accuracy class's allowed error
(``MeterClassPolicy.tolerance_pct`` on the test date) creates an ``Adjustment`` for billing
to settle, over the period of 1996 供电营业规则 第八十条 (see ``engine/refund.py``).

The request's workflow is data (``VERIFICATION_TRANSITIONS``): open → tested → closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.core.audit import audit_record, snapshot
from gridcare.core.errors import Conflict, NotFound, ValidationFailed
from gridcare.core.ids import next_number
from gridcare.core.workdays import working_day_deadline
from gridcare.customers.models import Account
from gridcare.metering.choices import AdjustmentStatus, VerificationStatus
from gridcare.metering.engine.refund import refund_base_date, refund_period, tolerance_decision
from gridcare.metering.models import Adjustment, Installation, Meter, VerificationRequest
from gridcare.metering.selectors.assets import meter_class_policy_at
from gridcare.metering.selectors.verification import verification_policy_at

Actor = AbstractBaseUser | AnonymousUser | str | None

VERIFICATION_SEQUENCE = "verification_request"
VERIFICATION_PREFIX = "JY"

# open → tested (the result is recorded) → closed (the customer has been answered).
VERIFICATION_TRANSITIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        VerificationStatus.OPEN: frozenset({VerificationStatus.TESTED}),
        VerificationStatus.TESTED: frozenset({VerificationStatus.CLOSED}),
        VerificationStatus.CLOSED: frozenset(),
    }
)

# The rule text stored on every 退补 record this module creates (domain-rules §3).
REFUND_RULE = (
    "1996 供电营业规则 第八十条: 按实测误差退补, 时间为上次校验或换装至更正之日的 1/2 "
    "(2024 修订版 国家发展改革委令第14号 对应条文未核实)"
)

REQUEST_FIELDS = ("number", "account_id", "meter_id", "channel", "requested_at", "due_at", "status")
RESULT_FIELDS = ("status", "tested_at", "error_pct", "tolerance_pct", "within_tolerance", "tester")
ERROR_PLACES = Decimal("0.01")  # VerificationRequest.error_pct: 6 digits, 2 places
ERROR_LIMIT = Decimal("10000")


def verification_number_format(value: int, *, year: int) -> str:
    """校验申请编号: ``JY`` + year + 6 digits."""
    return f"{VERIFICATION_PREFIX}{year}{value:06d}"


def _transition(*, actor: Actor, request: VerificationRequest, to: str, reason: str = "") -> None:
    """The one place a request's status changes (caller holds the row lock); audited with
    the fields ``RESULT_FIELDS`` before and after."""
    if to not in VERIFICATION_TRANSITIONS.get(request.status, frozenset()):
        raise Conflict(
            _("A request that is %(current)s cannot become %(to)s.")
            % {
                "current": VerificationStatus(request.status).label,
                "to": VerificationStatus(to).label,
            },
            field="status",
        )
    before = snapshot(request, RESULT_FIELDS)
    request.status = to
    request.save()
    audit_record(
        actor=actor,
        obj=request,
        action=f"verification.{to}",
        before=before,
        after=snapshot(request, RESULT_FIELDS),
        reason=reason,
    )


def _aware(value: Any, *, field: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or timezone.is_naive(value):
        raise ValidationFailed(_("Enter a date and time with its time zone."), field=field)
    if value > timezone.now():
        raise ValidationFailed(_("This time is in the future."), field=field)
    return value


def _text(value: str | None, *, field: str, max_length: int, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationFailed(_("This field is required."), field=field)
    if len(value) > max_length:
        raise ValidationFailed(_("Too long (%(max)d characters at most).") % {"max": max_length}, field=field)
    return value


def _locked_request(request_id: int) -> VerificationRequest:
    request = (
        VerificationRequest.objects.select_for_update().select_related("meter").filter(pk=request_id).first()
    )
    if request is None:
        raise NotFound()
    return request


def verification_request_file(
    *,
    actor: Actor,
    account: Account,
    channel: str = "counter",
    complaint: str = "",
    requested_at: dt.datetime | None = None,
    meter: Meter | None = None,
) -> VerificationRequest:
    """受理校验申请: file a customer's request to test their meter.

    ``meter`` defaults to the meter installed for the account; a meter given explicitly must
    have been installed for this account at some time. One open request per meter. The
    result is due at the end of the N-th working day after the request (N from the
    ``VerificationPolicy`` in force on the request's date, Asia/Shanghai).
    """
    requested_at = _aware(timezone.now() if requested_at is None else requested_at, field="requested_at")
    channel = _text(channel, field="channel", max_length=20, required=True)
    complaint = _text(complaint, field="complaint", max_length=2000, required=False)
    local_day = timezone.localtime(requested_at).date()
    policy = verification_policy_at(local_day)
    if policy is None:
        raise ValidationFailed(
            _("No verification time limit is configured for this date."), field="requested_at"
        )
    with transaction.atomic():
        if meter is None:
            current = Installation.objects.filter(account=account, removed_at__isnull=True).first()
            if current is None:
                raise ValidationFailed(_("This account has no meter installed."), field="meter")
            meter_id = current.meter_id
        else:
            if not Installation.objects.filter(account=account, meter=meter).exists():
                raise ValidationFailed(_("This meter was never installed for the account."), field="meter")
            meter_id = meter.pk
        target = Meter.objects.select_for_update().get(pk=meter_id)
        if VerificationRequest.objects.filter(meter=target, status=VerificationStatus.OPEN).exists():
            raise Conflict(_("This meter already has an open verification request."), field="meter")
        number = verification_number_format(next_number(VERIFICATION_SEQUENCE), year=local_day.year)
        request = VerificationRequest.objects.create(
            number=number,
            account=account,
            meter=target,
            channel=channel,
            requested_at=requested_at,
            due_at=working_day_deadline(requested_at, policy.result_working_days),
            complaint=complaint,
            status=VerificationStatus.OPEN,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,  # type: ignore[misc]
        )
        audit_record(
            actor=actor,
            obj=request,
            action="verification.file",
            after=snapshot(request, REQUEST_FIELDS),
        )
    return request


def verification_result_record(
    *,
    actor: Actor,
    request_id: int,
    error_pct: Decimal,
    tested_at: dt.datetime,
    tester: str,
) -> VerificationRequest:
    """录入校验结果: record the measured error (%) of an open request.

    Within tolerance when ``|error_pct| <= tolerance`` of the meter's class policy in force
    on the test date. Out of tolerance, a 退补 record (``Adjustment``) is created: a refund
    when the meter ran fast (error > 0), a back-bill when it ran slow (error < 0), over half
    the time from the later of the meter's last verification and its installation (换装)
    to the test date (1996 供电营业规则 第八十条).

    ``meter.last_verified_on`` is **not** changed: a customer-requested test (申校) answers a
    dispute; it is not the periodic verification (周期检定) whose date drives the due list.
    A meter found out of tolerance is replaced through ``meter_exchange``, and the new
    installation starts the next 退补 period.
    """
    if isinstance(error_pct, float | bool):
        raise ValidationFailed(_("Enter the error as an exact decimal number."), field="error_pct")
    try:
        error = Decimal(str(error_pct).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed(_("Enter a number."), field="error_pct") from exc
    if not error.is_finite() or abs(error) >= ERROR_LIMIT:
        raise ValidationFailed(_("Enter a number."), field="error_pct")
    if error != error.quantize(ERROR_PLACES):
        raise ValidationFailed(_("Give the error with at most 2 decimal places."), field="error_pct")
    tested_at = _aware(tested_at, field="tested_at")
    tester = _text(tester, field="tester", max_length=100, required=True)
    with transaction.atomic():
        request = _locked_request(request_id)
        if request.status != VerificationStatus.OPEN:
            raise Conflict(_("A result is recorded only for an open request."), field="status")
        if tested_at < request.requested_at:
            raise ValidationFailed(_("The test cannot be before the request."), field="tested_at")
        meter = request.meter
        test_day = timezone.localtime(tested_at).date()
        policy = meter_class_policy_at(meter.accuracy_class, test_day)
        if policy is None:
            raise ValidationFailed(
                _("No allowed error is configured for this accuracy class on the test date."),
                field="tested_at",
            )
        decision = tolerance_decision(error_pct=error, tolerance_pct=policy.tolerance_pct)
        request.tested_at = tested_at
        request.error_pct = error
        request.tolerance_pct = policy.tolerance_pct
        request.within_tolerance = decision.within_tolerance
        request.tester = tester
        _transition(actor=actor, request=request, to=VerificationStatus.TESTED)
        if decision.direction is not None:
            installation = (
                Installation.objects.filter(meter=meter, account_id=request.account_id)
                .order_by("-installed_at")
                .first()
            )
            base = refund_base_date(
                manufactured_on=meter.manufactured_on,
                last_verified_on=meter.last_verified_on,
                installed_on=timezone.localtime(installation.installed_at).date() if installation else None,
            )
            if base > test_day:
                raise ValidationFailed(
                    _("The test date is before the meter's last verification or installation."),
                    field="tested_at",
                )
            period = refund_period(base=base, corrected_on=test_day)
            adjustment = Adjustment.objects.create(
                account_id=request.account_id,
                meter=meter,
                verification=request,
                direction=decision.direction,
                error_pct=error,
                period_start=period.start,
                period_end=period.end,
                rule=REFUND_RULE,
            )
            audit_record(
                actor=actor,
                obj=adjustment,
                action="adjustment.create",
                after={
                    **snapshot(
                        adjustment,
                        ("verification_id", "direction", "error_pct", "period_start", "period_end"),
                    ),
                    "base_date": period.base,
                },
            )
    return request


def verification_request_close(*, actor: Actor, request_id: int, note: str) -> VerificationRequest:
    """办结: close a tested request once the customer has been told the result; the note
    (how and when they were told) is kept on the audit row."""
    note = _text(note, field="note", max_length=500, required=True)
    with transaction.atomic():
        request = _locked_request(request_id)
        _transition(actor=actor, request=request, to=VerificationStatus.CLOSED, reason=note)
    return request


def meter_adjustment_settle(*, actor: Actor, adjustment_id: int) -> Adjustment:
    """结算: mark a meter-verification 退补 record settled once billing has turned it into
    correction documents. Only an open record can be settled (a second call is a Conflict);
    call it inside the transaction that writes the corrections."""
    return _adjustment_move(
        actor=actor,
        adjustment_id=adjustment_id,
        source=AdjustmentStatus.OPEN,
        target=AdjustmentStatus.SETTLED,
        action="adjustment.settle",
        refused=_("This meter 退补 record has already been settled."),
    )


def meter_adjustment_reopen(*, actor: Actor, adjustment_id: int, note: str) -> Adjustment:
    """Open a settled meter 退补 record again (awaiting billing): billing rejected every
    correction document made from it, so it is to be settled anew. Call it inside the
    transaction that rejected the last document."""
    return _adjustment_move(
        actor=actor,
        adjustment_id=adjustment_id,
        source=AdjustmentStatus.SETTLED,
        target=AdjustmentStatus.OPEN,
        action="adjustment.reopen",
        refused=_("This meter 退补 record is not settled."),
        reason=note,
    )


def _adjustment_move(
    *,
    actor: Actor,
    adjustment_id: int,
    source: str,
    target: str,
    action: str,
    refused: Any,  # a message, lazily translated (core.errors takes Any)
    reason: str = "",
) -> Adjustment:
    """Move a 退补 record from ``source`` to ``target`` under its row lock, audited; any other
    status is a Conflict with the message ``refused``."""
    with transaction.atomic():
        adjustment = Adjustment.objects.select_for_update().filter(pk=adjustment_id).first()
        if adjustment is None:
            raise NotFound(field="adjustment_id")
        if adjustment.status != source:
            raise Conflict(refused, field="meter_adjustment")
        adjustment.status = target
        adjustment.save(update_fields=["status"])
        audit_record(
            actor=actor,
            obj=adjustment,
            action=action,
            before={"status": source},
            after={"status": target},
            reason=reason,
        )
    return adjustment
