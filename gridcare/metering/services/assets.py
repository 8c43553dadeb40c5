"""Every write to the meter assets (电能表资产): registration, installation (装表), removal
(拆表), exchange (换表) and scrapping (报废). One transaction per call, audited.

The asset lifecycle is data (``METER_TRANSITIONS``) executed by one function
(``_meter_transition``): in stock → installed → removed → (installed again | scrapped);
a meter in stock may also be scrapped. Input problems raise ``ValidationFailed`` naming the
field; a clash with the current state (wrong lifecycle step, an account or a service point
that already has a meter) raises ``Conflict``.

Services lock the rows they change (``select_for_update``) and return fresh objects; the
instances passed in are not updated: reload them (``refresh_from_db``) if you keep them.
Installation, removal and exchange store readings, so they first take the write locks of
the meters whose readings they store (``readings.lock_meter_writes``, the locks an import
chunk holds while it writes those meters), before they lock any row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.core.audit import audit_record, snapshot
from gridcare.core.errors import Conflict, GridCareError, ValidationFailed
from gridcare.customers.choices import AccountStatus
from gridcare.customers.models import Account
from gridcare.metering.choices import (
    TOU_REGISTERS,
    AccuracyClass,
    MeterStatus,
    MeterType,
    ReadingQuality,
    ReadingSource,
    Register,
)
from gridcare.metering.models import Installation, Meter, Reading
from gridcare.metering.services.readings import lock_meter_writes

Actor = AbstractBaseUser | AnonymousUser | str | None

# The asset lifecycle (MeterStatus): which status may follow which. A removed meter may be
# installed again (after a check in the metering lab) or scrapped; a scrapped one is final.
METER_TRANSITIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        MeterStatus.IN_STOCK: frozenset({MeterStatus.INSTALLED, MeterStatus.SCRAPPED}),
        MeterStatus.INSTALLED: frozenset({MeterStatus.REMOVED}),
        MeterStatus.REMOVED: frozenset({MeterStatus.INSTALLED, MeterStatus.SCRAPPED}),
        MeterStatus.SCRAPPED: frozenset(),
    }
)

METER_FIELDS = (
    "asset_no",
    "barcode",
    "meter_type",
    "is_smart",
    "remote_cutoff",
    "registers",
    "digits",
    "multiplier",
    "accuracy_class",
    "manufacturer",
    "manufactured_on",
    "last_verified_on",
    "status",
)
READING_PLACES = Decimal("0.001")  # Reading.value has 3 decimal places
MIN_DIGITS, MAX_DIGITS = 4, 10  # the meter_digits_range constraint


# --- the lifecycle -----------------------------------------------------------------------


def meter_transition_allowed(current: str, to: str) -> bool:
    """True when a meter in status ``current`` may move to ``to``."""
    return to in METER_TRANSITIONS.get(current, frozenset())


def _meter_transition(*, actor: Actor, meter: Meter, to: str, reason: str = "") -> None:
    """The one place a meter's status changes. The caller holds the row lock (taken with
    ``_meter_locked``) inside its transaction; the step is audited."""
    if not meter_transition_allowed(meter.status, to):
        raise Conflict(
            _("A meter that is %(current)s cannot become %(to)s.")
            % {"current": MeterStatus(meter.status).label, "to": MeterStatus(to).label},
            field="meter",
        )
    before = meter.status
    meter.status = to
    meter.save(update_fields=["status"])
    audit_record(
        actor=actor,
        obj=meter,
        action="meter.status",
        before={"status": before},
        after={"status": to},
        reason=reason,
    )


def _meter_locked(meter: Meter | int) -> Meter:
    """The meter's row, locked for the rest of the transaction."""
    pk = meter.pk if isinstance(meter, Meter) else meter
    return Meter.objects.select_for_update().get(pk=pk)


# --- validation --------------------------------------------------------------------------


def _text_clean(value: str | None, *, field: str, max_length: int, required: bool) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationFailed(_("This field is required."), field=field)
    if len(value) > max_length:
        raise ValidationFailed(_("Too long (%(max)d characters at most).") % {"max": max_length}, field=field)
    return value


def _aware_clean(value: Any, *, field: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or timezone.is_naive(value):
        raise ValidationFailed(_("Enter a date and time with its time zone."), field=field)
    if value > timezone.now():
        raise ValidationFailed(_("This time is in the future."), field=field)
    return value


def _registers_clean(registers: Any, *, meter_type: str, is_smart: bool) -> list[str]:
    if not isinstance(registers, list | tuple) or not all(isinstance(r, str) for r in registers):
        raise ValidationFailed(_("Give the registers as a list of register codes."), field="registers")
    unknown = [r for r in registers if r not in Register.values]
    if unknown:
        raise ValidationFailed(
            _("Unknown register: %(register)s.") % {"register": unknown[0]}, field="registers"
        )
    if len(set(registers)) != len(registers):
        raise ValidationFailed(_("A register is listed twice."), field="registers")
    if Register.TOTAL not in registers:
        raise ValidationFailed(_("Every meter has the total register."), field="registers")
    if not is_smart and any(r in TOU_REGISTERS for r in registers):
        raise ValidationFailed(_("Time-of-use registers (尖峰平谷) need a smart meter."), field="registers")
    if Register.REACTIVE in registers and meter_type != MeterType.THREE_PHASE:
        raise ValidationFailed(_("Only three-phase meters carry a reactive register."), field="registers")
    order = {code: i for i, code in enumerate(Register.values)}
    return sorted(registers, key=order.__getitem__)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, float | bool):  # floats are inexact; bools are not numbers here
        return None
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _readings_clean(meter: Meter, readings: Any, *, field: str) -> dict[str, Decimal]:
    """One reading per register of ``meter``: numbers ≥ 0, below 10**digits, at most 3 places."""
    if not isinstance(readings, Mapping):
        raise ValidationFailed(_("Give one reading per register."), field=field)
    extra = sorted(set(readings) - set(meter.registers))
    if extra:
        raise ValidationFailed(
            _("The meter has no register %(register)s.") % {"register": extra[0]}, field=field
        )
    limit = Decimal(10) ** meter.digits
    cleaned: dict[str, Decimal] = {}
    for register in meter.registers:
        if register not in readings:
            raise ValidationFailed(
                _("Enter the reading of register %(register)s.") % {"register": register}, field=field
            )
        value = _decimal(readings[register])
        if value is None:
            raise ValidationFailed(
                _("The reading of register %(register)s is not a number.") % {"register": register},
                field=field,
            )
        if value < 0:
            raise ValidationFailed(
                _("The reading of register %(register)s is negative.") % {"register": register},
                field=field,
            )
        if value >= limit:
            raise ValidationFailed(
                _("The reading of register %(register)s has more digits than the meter shows.")
                % {"register": register},
                field=field,
            )
        if value != value.quantize(READING_PLACES):
            raise ValidationFailed(
                _("The reading of register %(register)s has more than 3 decimal places.")
                % {"register": register},
                field=field,
            )
        cleaned[register] = value.quantize(READING_PLACES)
    return cleaned


def _readings_json(readings: Mapping[str, Decimal]) -> dict[str, str]:
    return {register: str(value) for register, value in readings.items()}


def _store_readings(meter: Meter, at: dt.datetime, readings: Mapping[str, Decimal]) -> None:
    """Keep the readings at an install or removal as that day's register readings (source
    "exchange"), so the meter's daily series (VEE) starts or ends there. A reading already
    stored for that day is kept. The caller took the meter's write lock
    (``lock_meter_writes``) first thing in its transaction."""
    day = timezone.localtime(at).date()
    Reading.objects.bulk_create(
        [
            Reading(
                meter=meter,
                register=register,
                day=day,
                value=value,
                source=ReadingSource.EXCHANGE,
                quality=ReadingQuality.VALID,
            )
            for register, value in readings.items()
        ],
        ignore_conflicts=True,
    )


def _remap_field(exc: GridCareError, mapping: Mapping[str, str]) -> GridCareError:
    if exc.field is not None and exc.field in mapping:
        exc.field = mapping[exc.field]
    return exc


# --- registration and scrapping ----------------------------------------------------------


def meter_register(
    *,
    actor: Actor,
    asset_no: str,
    barcode: str,
    meter_type: str,
    registers: list[str],
    accuracy_class: str,
    manufactured_on: dt.date,
    digits: int = 6,
    multiplier: Decimal = Decimal("1"),
    is_smart: bool = True,
    remote_cutoff: bool = False,
    manufacturer: str = "",
    last_verified_on: dt.date | None = None,
) -> Meter:
    """资产入库: register a new meter in stock, after checking its registers, digits,
    multiplier (倍率), accuracy class and dates.

    Rules: the registers are ``Register`` codes and include ``total``; time-of-use registers
    (尖峰平谷) need a smart meter; the reactive register is on three-phase meters only; remote
    cut-off (费控) needs a smart meter.
    """
    asset_no = _text_clean(asset_no, field="asset_no", max_length=32, required=True)
    barcode = _text_clean(barcode, field="barcode", max_length=32, required=True)
    manufacturer = _text_clean(manufacturer, field="manufacturer", max_length=100, required=False)
    if meter_type not in MeterType.values:
        raise ValidationFailed(_("Choose one of the listed values."), field="meter_type")
    if accuracy_class not in AccuracyClass.values:
        raise ValidationFailed(_("Choose one of the listed values."), field="accuracy_class")
    clean_registers = _registers_clean(registers, meter_type=meter_type, is_smart=is_smart)
    if remote_cutoff and not is_smart:
        raise ValidationFailed(_("Remote cut-off (费控) needs a smart meter."), field="remote_cutoff")
    if isinstance(digits, bool) or not isinstance(digits, int) or not MIN_DIGITS <= digits <= MAX_DIGITS:
        raise ValidationFailed(
            _("A meter shows %(min)d to %(max)d integer digits.") % {"min": MIN_DIGITS, "max": MAX_DIGITS},
            field="digits",
        )
    factor = _decimal(multiplier)
    if factor is None:
        raise ValidationFailed(_("Enter a number."), field="multiplier")
    if factor <= 0:
        raise ValidationFailed(_("The multiplier must be positive."), field="multiplier")
    if factor != factor.quantize(Decimal("0.01")) or factor >= Decimal(10) ** 8:
        raise ValidationFailed(
            _("The multiplier has at most 8 digits and 2 decimal places."), field="multiplier"
        )
    today = timezone.localdate()
    if not isinstance(manufactured_on, dt.date) or isinstance(manufactured_on, dt.datetime):
        raise ValidationFailed(_("Enter a date."), field="manufactured_on")
    if manufactured_on > today:
        raise ValidationFailed(_("This date is in the future."), field="manufactured_on")
    if last_verified_on is not None:
        if not isinstance(last_verified_on, dt.date) or isinstance(last_verified_on, dt.datetime):
            raise ValidationFailed(_("Enter a date."), field="last_verified_on")
        if last_verified_on > today:
            raise ValidationFailed(_("This date is in the future."), field="last_verified_on")
        if last_verified_on < manufactured_on:
            raise ValidationFailed(
                _("The meter cannot be verified before it was made."), field="last_verified_on"
            )
    try:
        with transaction.atomic():
            if Meter.objects.filter(asset_no=asset_no).exists():
                raise ValidationFailed(_("This asset number is already registered."), field="asset_no")
            if Meter.objects.filter(barcode=barcode).exists():
                raise ValidationFailed(_("This barcode is already registered."), field="barcode")
            meter = Meter.objects.create(
                asset_no=asset_no,
                barcode=barcode,
                meter_type=meter_type,
                is_smart=is_smart,
                remote_cutoff=remote_cutoff,
                registers=clean_registers,
                digits=digits,
                multiplier=factor.quantize(Decimal("0.01")),
                accuracy_class=accuracy_class,
                manufacturer=manufacturer,
                manufactured_on=manufactured_on,
                last_verified_on=last_verified_on,
                status=MeterStatus.IN_STOCK,
            )
            audit_record(actor=actor, obj=meter, action="meter.register", after=snapshot(meter, METER_FIELDS))
    except IntegrityError as exc:  # a concurrent registration took the number or barcode
        raise ValidationFailed(
            _("This asset number or barcode is already registered."), field="asset_no"
        ) from exc
    return meter


def meter_scrap(*, actor: Actor, meter: Meter, reason: str) -> Meter:
    """报废: retire a meter that is in stock or removed (never an installed one)."""
    reason = _text_clean(reason, field="reason", max_length=200, required=True)
    with transaction.atomic():
        locked = _meter_locked(meter)
        _meter_transition(actor=actor, meter=locked, to=MeterStatus.SCRAPPED, reason=reason)
    return locked


# --- installation, removal, exchange -----------------------------------------------------


def _service_point_free(account: Account, installed_at: dt.datetime) -> None:
    """One meter at a service point (计量点) at a time, whatever account it is billed to:
    refuse an installation there from ``installed_at`` on while another meter is installed
    (``Conflict``), or when another meter's installation there ran past ``installed_at``
    (``ValidationFailed``), since its use would then be counted twice. An installation that
    ends at the very instant the new one starts (换表, 过户) does not overlap it."""
    at_point = Installation.objects.filter(service_point_id=account.service_point_id).select_related(
        "meter", "account"
    )
    current = at_point.filter(removed_at__isnull=True).first()
    if current is not None:
        raise Conflict(
            _(
                "Meter %(meter)s is still installed at this service point (account %(account)s): "
                "remove or exchange it first."
            )
            % {"meter": current.meter.asset_no, "account": current.account.number},
            field="account",
        )
    earlier = at_point.filter(removed_at__gt=installed_at).order_by("-removed_at").first()
    if earlier is not None and earlier.removed_at is not None:
        raise ValidationFailed(
            _(
                "Meter %(meter)s was installed at this service point until %(until)s; "
                "a meter installed there starts at that time or later."
            )
            % {
                "meter": earlier.meter.asset_no,
                "until": timezone.localtime(earlier.removed_at).strftime("%Y-%m-%d %H:%M"),
            },
            field="installed_at",
        )


def meter_install(
    *,
    actor: Actor,
    meter: Meter,
    account: Account,
    installed_at: dt.datetime,
    initial_readings: Mapping[str, Decimal | int | str],
    reason: str = "",
) -> Installation:
    """装表: install a meter (in stock or removed) for an active account without a meter, at
    a service point no other meter covers from ``installed_at`` on (see
    :func:`_service_point_free`).

    Records the installation at the account's service point with the initial reading of
    every register, and stores those readings as that day's readings (source "exchange")
    so the meter's daily series starts there. An import writing the meter's readings at
    that moment finishes its chunk first (``lock_meter_writes``), then the installation
    goes through.
    """
    installed_at = _aware_clean(installed_at, field="installed_at")
    reason = _text_clean(reason, field="reason", max_length=200, required=False)
    with transaction.atomic():
        lock_meter_writes([meter.pk])  # before any row lock: an import chunk may hold the meter
        locked = _meter_locked(meter)
        if not meter_transition_allowed(locked.status, MeterStatus.INSTALLED):
            raise Conflict(
                _("Only a meter in stock or removed can be installed; this one is %(status)s.")
                % {"status": MeterStatus(locked.status).label},
                field="meter",
            )
        # Locks the account and, on PostgreSQL, its service point row too (FOR UPDATE covers
        # the joined row), so two installs at one service point run one after the other.
        acct = Account.objects.select_for_update().select_related("service_point").get(pk=account.pk)
        if acct.status != AccountStatus.ACTIVE:
            raise Conflict(_("Meters are installed only for active accounts."), field="account")
        if Installation.objects.filter(account=acct, removed_at__isnull=True).exists():
            raise Conflict(_("This account already has a meter installed."), field="account")
        _service_point_free(acct, installed_at)
        if Installation.objects.filter(meter=locked, removed_at__gt=installed_at).exists():
            raise ValidationFailed(
                _("The meter was still installed elsewhere at that time."), field="installed_at"
            )
        if locked.manufactured_on and timezone.localdate(installed_at) < locked.manufactured_on:
            raise ValidationFailed(_("A meter cannot be installed before it was made."), field="installed_at")
        if Installation.objects.filter(account=acct, removed_at__gt=installed_at).exists():
            raise ValidationFailed(
                _("The account still had another meter at that time."), field="installed_at"
            )
        readings = _readings_clean(locked, initial_readings, field="initial_readings")
        installation = Installation.objects.create(
            meter=locked,
            service_point=acct.service_point,
            account=acct,
            installed_at=installed_at,
            initial_readings=_readings_json(readings),
            reason=reason,
        )
        _meter_transition(actor=actor, meter=locked, to=MeterStatus.INSTALLED, reason=reason)
        _store_readings(locked, installed_at, readings)
        audit_record(
            actor=actor,
            obj=installation,
            action="installation.create",
            after=snapshot(
                installation,
                ("meter_id", "account_id", "service_point_id", "installed_at", "initial_readings"),
            ),
            reason=reason,
        )
    return installation


def meter_remove(
    *,
    actor: Actor,
    meter: Meter,
    removed_at: dt.datetime,
    final_readings: Mapping[str, Decimal | int | str],
    reason: str,
    rolled_over: Iterable[str] = (),
) -> Installation:
    """拆表: remove an installed meter, closing its open installation with the final reading
    of every register; the meter goes back as removed (拆回).

    A final reading below the installation's initial reading is refused unless its register
    is named in ``rolled_over`` (the display passed 10**digits − 1 and restarted at 0). The
    final readings are stored as that day's readings (source "exchange"), after an import
    writing the meter's readings at that moment has finished its chunk
    (``lock_meter_writes``). The removal reason is kept on the audit row
    (``Installation.reason`` is the reason of the installation).
    """
    removed_at = _aware_clean(removed_at, field="removed_at")
    reason = _text_clean(reason, field="reason", max_length=200, required=True)
    rolled = set(rolled_over)
    with transaction.atomic():
        lock_meter_writes([meter.pk])  # before any row lock: an import chunk may hold the meter
        locked = _meter_locked(meter)
        installation = (
            Installation.objects.select_for_update().filter(meter=locked, removed_at__isnull=True).first()
        )
        if installation is None or not meter_transition_allowed(locked.status, MeterStatus.REMOVED):
            raise Conflict(_("This meter is not installed."), field="meter")
        if removed_at < installation.installed_at:
            raise ValidationFailed(
                _("The meter cannot be removed before it was installed."), field="removed_at"
            )
        readings = _readings_clean(locked, final_readings, field="final_readings")
        for register, value in readings.items():
            initial = Decimal(installation.initial_readings.get(register, "0"))
            if value < initial and register not in rolled:
                raise ValidationFailed(
                    _(
                        "The final reading of register %(register)s is below the reading at "
                        "installation (%(initial)s); if the display rolled over, say so."
                    )
                    % {"register": register, "initial": initial},
                    field="final_readings",
                )
        installation.removed_at = removed_at
        installation.final_readings = _readings_json(readings)
        installation.save(update_fields=["removed_at", "final_readings"])
        _meter_transition(actor=actor, meter=locked, to=MeterStatus.REMOVED, reason=reason)
        _store_readings(locked, removed_at, readings)
        audit_record(
            actor=actor,
            obj=installation,
            action="installation.close",
            before={"removed_at": None, "final_readings": None},
            after=snapshot(installation, ("removed_at", "final_readings")),
            reason=reason,
        )
    return installation


def meter_exchange(
    *,
    actor: Actor,
    account: Account,
    new_meter: Meter,
    at: dt.datetime,
    old_final_readings: Mapping[str, Decimal | int | str],
    new_initial_readings: Mapping[str, Decimal | int | str],
    reason: str,
    old_rolled_over: Iterable[str] = (),
) -> Installation:
    """换表: at one instant, remove the account's meter with its final readings and install
    ``new_meter`` with its initial readings. One transaction: if any part fails, nothing
    changes. Returns the new installation.

    Both meters' write locks are taken first, in one call (``lock_meter_writes``: the
    locks an import chunk holds while it writes a meter's readings, in their one global
    order), before any row is locked: an import writing either meter at that moment
    finishes its chunk, then the exchange goes through. If the account's meter changed
    between the look-up and the locks (another exchange or removal just committed), the
    exchange is refused (``Conflict``) and nothing changes.

    Errors name this call's inputs (``old_final_readings``, ``new_initial_readings``,
    ``new_meter``, ``at``).
    """
    reason = _text_clean(reason, field="reason", max_length=200, required=True)
    with transaction.atomic():
        installed = (
            Installation.objects.filter(account=account, removed_at__isnull=True)
            .values_list("meter_id", flat=True)
            .first()
        )
        lock_meter_writes([m for m in (installed, new_meter.pk) if m is not None])
        current = (
            Installation.objects.select_for_update()
            .filter(account=account, removed_at__isnull=True)
            .select_related("meter")
            .first()
        )
        if current is None:
            raise Conflict(_("This account has no meter installed."), field="account")
        if current.meter_id != installed:  # exchanged meanwhile: its meter is not locked
            raise Conflict(
                _("The meter of this account changed meanwhile; reload the page and check."), field="account"
            )
        if current.meter_id == new_meter.pk:
            raise ValidationFailed(_("The new meter is the one installed."), field="new_meter")
        try:
            old = meter_remove(
                actor=actor,
                meter=current.meter,
                removed_at=at,
                final_readings=old_final_readings,
                reason=reason,
                rolled_over=old_rolled_over,
            )
        except GridCareError as exc:
            raise _remap_field(
                exc, {"final_readings": "old_final_readings", "removed_at": "at", "meter": "account"}
            ) from None
        try:
            new = meter_install(
                actor=actor,
                meter=new_meter,
                account=account,
                installed_at=at,
                initial_readings=new_initial_readings,
                reason=reason,
            )
        except GridCareError as exc:
            raise _remap_field(
                exc, {"initial_readings": "new_initial_readings", "installed_at": "at", "meter": "new_meter"}
            ) from None
        audit_record(
            actor=actor,
            obj=new,
            action="meter.exchange",
            before={"meter_id": old.meter_id, "final_readings": old.final_readings},
            after={"meter_id": new.meter_id, "initial_readings": new.initial_readings},
            reason=reason,
        )
    return new
