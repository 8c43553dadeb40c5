"""退补 (refund and back-billing) of issued bills.

An issued bill never changes (a database trigger refuses it, migration 0004); a mistake is
corrected by a :class:`~gridcare.billing.models.BillAdjustment` document that references
the bill: a refund (退费, amount ≤ 0) or a back-billing (补收, amount ≥ 0). A billing clerk
requests it; a *second* person holding ``billing.change_billadjustment`` approves or
rejects it; only an approved document counts in what the customer owes
(``selectors.bills.bill_outstanding``). Every state change writes an audit row.

**Amount by re-rating.** When the energy to correct is given and the amount is not, the
bill's period is rated twice by the rating engine (``engine.rating.rate`` with
``services.catalogue.catalogue_load``): once with the billed consumption and once with the
corrected consumption (billed ± the corrected kWh; the TOU and reactive registers scaled in
the same proportion; demand, capacity and year-to-date kWh unchanged). Both sides are the
row a run rates (``period_data.RUN_PERIOD_SCHEMA``), rebuilt by the run's own rules for the
bill's days whatever the account is today (``period_data.bill_period_data``: held, closed or
switched to prepaid since): a two-part month whose contract changed inside it bills each
contract for its days (``basic_parts``), as its bill did, and the year-to-date kWh are the
run's rule applied today (approved corrections and prepaid charges included). The registers
are those the bill records it was rated on, summed by the run's rule (a meter exchange
between a total-only and a TOU meter split as the run split it), not today's readings,
which may have been edited since. The rebuild is then verified, not assumed: rated with
the bill's own kWh it must give the bill's basic charge and the bill's amount to the fen.
When it does not — its position in the year's tiers moved since (a bill or an approved
correction of an earlier month after it was issued), no readings left for a tariff that
rates more than the total register, contracts that no longer give the bill's basic
charge, prices changed since — the request is refused and the amount is entered by hand
(:data:`NOT_REPRODUCED`, :data:`NO_READINGS`, :data:`NO_BASIC_CHARGE`). The amount is the
difference of the two totals; the per-item differences are kept in ``lines``. Both
sides are adjusted by the power factor with the rule the bill was rated with, read from its
lines (:func:`_billed_pf_rule`): a bill without a power-factor line gets none, a bill rated
before the standard went by class and capacity keeps its tariff version's standard.

**Meter verification (验表退补).** A ``metering.Adjustment`` (a meter tested out of
tolerance, 1996 供电营业规则 第八十条, domain-rules §3) becomes one document per issued bill
of the account overlapping its period. A meter with relative error ``e`` % records
``(1 + e/100)`` times the true energy, so for a billed (recorded) energy ``W`` the true
energy is ``W / (1 + e/100)`` and the energy to correct is::

    ΔW = W − W/(1 + e/100) = W × e / (100 + e)

applied to the part of the bill inside the period (``W = billed kWh × overlap days /
bill days``). ``e > 0`` (fast) gives ΔW > 0: a refund; ``e < 0`` (slow) gives ΔW < 0: a
back-billing of |ΔW|. ΔW is rounded half-up to 0.001 kWh; the amount comes from
re-rating, or — for a bill of the period that cannot be re-rated — is entered by hand on the
settle page (:func:`bill_adjustments_from_meter_adjustment`, ``amounts``).

**Charges the bill only carries.** A 窃电/违约用电 case (``inspection``) is posted as a
back-billing with ``corrects_consumption=False``: its amount counts in what the customer
owes once approved, but its kWh (the stolen energy) and money stay out of the bill's
standing consumption and refund ceilings (:func:`_corrections`), so a later re-rated
correction of the bill is priced as without the case. When billing rejects such a document,
the app that asked for it hears it (:data:`REJECTION_HOOKS`) and reopens its record.

**Due date of a back-billing.** The customer learns of a back-billing when it is approved,
so an approved back-billing gets its own ``due_date`` (:func:`backbill_due_date`): the
approval date plus the payment term its bill had (the bill's due date less its issue date),
never before the bill's own due date. Its late fee counts from the day after (domain-rules
§3, 电费违约金 "from the day after the due date"), not from the bill's due date
(``engine.late_fee.outstanding_parts``). A refund has no due date.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.apps import apps
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.billing.choices import AdjustmentKind, BillLineKind, BillStatus, DocumentStatus, TariffKind
from gridcare.billing.models import Bill, BillAdjustment, Tariff
from gridcare.billing.services.payments import balance_settle, lock_balance
from gridcare.core.audit import audit_record, snapshot
from gridcare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from gridcare.core.ids import next_number
from gridcare.core.money import fen_to_yuan, to_yuan
from gridcare.core.roles import require_actor_perm, staff_has_perm

Actor = AbstractBaseUser | AnonymousUser | str | None

ADJUSTMENT_SEQUENCE = "bill_adjustment"
ADJUSTMENT_PREFIX = "TB"
OPEN_OR_APPROVED = (DocumentStatus.PENDING, DocumentStatus.APPROVED)
KWH = Decimal("0.001")
CENT = Decimal("0.01")
AUDIT_FIELDS = (
    "number",
    "bill_id",
    "kind",
    "kwh",
    "amount",
    "status",
    "requested_by",
    "decided_by",
    "due_date",
)
# Apps that request a correction for a record of their own (app, module, function) and hear
# here when billing rejects it, in the decision's transaction, so that the record can be
# posted again. Billing imports them only then and only when installed (as payments call the
# prepaid hook): it keeps no import of them.
REJECTION_HOOKS = (("gridcare.inspection", "gridcare.inspection.services.cases", "case_billing_rejected"),)
NO_SPLIT = _(
    "The registers this bill was rated on read no energy, so how the corrected energy splits "
    "between them cannot be told; enter the amount by hand."
)
NO_READINGS = _(
    "The readings this bill was rated on can no longer be read, so its registers cannot be "
    "told and it cannot be re-rated; enter the amount by hand."
)
NO_BASIC_CHARGE = _(
    "The basic charge this bill was rated with can no longer be rebuilt from the account's "
    "contracts, so it cannot be re-rated; enter the amount by hand."
)
NOT_REPRODUCED = _(
    "Rated again, this bill's month gives %(rebuilt)s for its %(kwh)s kWh, not the %(billed)s "
    "the bill charged: its position in the year's tiers, its readings or its tariff have "
    "changed since it was issued, so it cannot be re-rated; enter the amount by hand."
)
BILLS_NOT_RE_RATED = _(
    "These bills cannot be re-rated, so no correction was created and the record stays open: "
    "%(bills)s Enter the amount of each of them in the form below and create the corrections "
    "again (the other bills are still re-rated)."
)
METER_RULE = (
    "验表退补 (1996 供电营业规则 第八十条): ΔW = 结算电量 × 重叠天数/计费天数 × e/(100+e), e = 实测误差 %"
)

__all__ = [
    "backbill_due_date",
    "bill_adjustment_decide",
    "bill_adjustment_request",
    "bill_adjustments_from_meter_adjustment",
    "correction_energy",
    "correction_rating",
    "meter_adjustment_shares",
]


def _who(actor: Actor) -> str:
    """How a requester/decider is stored: the user name (stable), or the system label."""
    if getattr(actor, "is_authenticated", False):
        return str(actor.get_username())  # type: ignore[union-attr]
    if isinstance(actor, str) and actor.strip():
        return actor.strip()[:150]
    raise PermissionDenied()


def _decimal(value: Any, *, field: str) -> Decimal:
    if isinstance(value, float | bool):
        raise ValidationFailed(_("Enter an exact decimal number."), field=field)
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise ValidationFailed(_("Enter a number."), field=field) from exc
    if not number.is_finite():
        raise ValidationFailed(_("Enter a number."), field=field)
    return number


MAX_AMOUNT = Decimal("1000000000000")
"""Amounts entered by hand stay below this (the documents' ``numeric(14, 2)``)."""

MAX_KWH = Decimal("100000000000")
"""Energy entered by hand stays below this (the documents' ``numeric(14, 3)``)."""


def _amount_given(value: Any, *, sign: int) -> Decimal:
    """An amount entered by hand (yuan, to the fen) as a magnitude: given as one, or signed
    the way the kind goes (``sign``: −1 refund, +1 back-billing)."""
    money = _decimal(value, field="amount")
    if abs(money) >= MAX_AMOUNT:  # also keeps quantize below from overflowing (1e30)
        raise ValidationFailed(
            _("The amount is too large (at most %(max)s yuan).") % {"max": f"{MAX_AMOUNT - CENT:,}"},
            field="amount",
        )
    if money != money.quantize(CENT):
        raise ValidationFailed(_("Give the amount in yuan with at most 2 decimal places."), field="amount")
    if money < 0 and sign > 0:
        raise ValidationFailed(_("A back-billing amount cannot be negative."), field="amount")
    return abs(money)


def _number(today: dt.date) -> str:
    """退补单号: ``TB`` + year + 8 digits."""
    return f"{ADJUSTMENT_PREFIX}{today.year}{next_number(ADJUSTMENT_SEQUENCE):08d}"


# --- re-rating --------------------------------------------------------------------------------


REGISTER_COLUMNS = {
    "total": "total_wh",
    "sharp": "sharp_wh",
    "peak": "peak_wh",
    "flat": "flat_wh",
    "valley": "valley_wh",
    "deep_valley": "deep_valley_wh",
    "reactive": "reactive_varh",
}


def _period_row(bill: Bill) -> dict[str, Any]:
    """The PERIOD row of the bill rebuilt as the run built it, whatever the account is
    today (``period_data.bill_period_data``: the bill's own days and tariff, the run's
    rules for the contracts, power-factor standard and year-to-date kWh, none of its
    selection or holds).

    Its registers are those the bill records it was rated on (:func:`_recorded_registers`),
    not today's readings: a reading edited since the bill was issued — the usual reason
    for a 退补 — or since marked suspect does not change the billed side, and the
    correction keeps the proportions the bill was rated with (only they matter:
    :func:`_scaled`). A bill that records none takes today's readings when they still give
    the consumption; without them a bill rated on its total alone needs none, any other
    cannot be re-rated (:data:`NO_READINGS`)."""
    try:
        from gridcare.billing.services.period_data import TOU_KINDS, bill_period_data
    except ImportError as exc:  # the rating stack (Polars) is not installed
        raise ValidationFailed(
            _("The rating engine is not available; enter the amount by hand."), field="amount"
        ) from exc
    data = bill_period_data(
        account_id=bill.account_id,
        tariff_code=bill.tariff_code,
        period=bill.period,
        first_day=bill.period_start,
        last_day=bill.period_end,
    )
    rows = data.periods.to_dicts()
    if not rows:  # pragma: no cover - an account is never deleted (PROTECT)
        raise NotFound()
    row = rows[0]
    kind = Tariff.objects.filter(code=bill.tariff_code).values_list("kind", flat=True).first()
    row[TARIFF_KIND] = kind  # for _scaled (taken off again before rating)
    recorded = _recorded_registers(bill, kind=kind)
    if recorded is not None:
        row.update(recorded)
    elif data.holds.height or row["total_wh"] is None:
        if kind in TOU_KINDS:  # which registers its consumption was in cannot be told
            raise ValidationFailed(NO_READINGS, field="amount")
        row.update(dict.fromkeys(REGISTER_COLUMNS.values()))  # rated on its total alone
    return row


def _recorded_registers(bill: Bill, *, kind: str | None) -> dict[str, int | None] | None:
    """The register columns of the PERIOD row from the readings recorded on the bill
    (``Bill.readings``: each meter's part of each register with its kWh, keyed
    ``register:meter`` after a meter exchange), summed by the run's own rule
    (``period_data.recorded_register_sums``: a total-only meter's part next to a TOU
    meter's is split as the run split it, the reactive energy of the parts with the
    register scaled to the whole); ``None`` when the bill records none."""
    from gridcare.billing.services.period_data import recorded_register_sums

    readings = bill.readings if isinstance(bill.readings, dict) else {}
    sums = recorded_register_sums(readings, kind=kind)
    if not sums:
        return None
    registers: dict[str, int | None] = dict.fromkeys(REGISTER_COLUMNS.values())
    for register, wh in sums.items():
        registers[REGISTER_COLUMNS[register]] = wh
    return registers


TARIFF_KIND = "_tariff_kind"
"""Key of the PERIOD row of :func:`_period_row` holding its tariff's kind (not a column)."""

TOU_COLUMNS = ("sharp_wh", "peak_wh", "flat_wh", "valley_wh", "deep_valley_wh")


def _basis_columns(row: dict[str, Any], kind: str | None) -> list[str]:
    """The register columns the rating engine bills ``row`` by (``engine.rating``); empty:
    the total register. A tiered residential tariff bills the total; residential
    peak/valley its peak and valley; the other kinds the TOU registers the row has (the
    total when it has none). VEE lets the total differ from the TOU sum within its
    tolerance, so the two are not interchangeable."""
    tou = [c for c in TOU_COLUMNS if row.get(c) is not None]
    if kind == TariffKind.RES_TIERED or not tou:
        return []
    if kind == TariffKind.RES_TOU:
        return ["peak_wh", "valley_wh"]
    return tou


def _rated_wh(row: dict[str, Any], kind: str | None) -> int:
    """The energy the rating engine bills ``row`` by (:func:`_basis_columns`)."""
    basis = _basis_columns(row, kind)
    if not basis:
        return int(row.get("total_wh") or 0)
    return sum(int(row.get(c) or 0) for c in basis)


def _scaled(row: dict[str, Any], total_wh: int, kind: str | None = None) -> dict[str, Any]:
    """``row`` with the consumption it is billed by set to ``total_wh``: the total register
    set to it, the TOU registers scaled in proportion to the energy the engine rates
    (:func:`_rated_wh`; the largest of the registers it rates absorbs the rounding so they
    still sum to it), reactive energy scaled in proportion — so scaled to the bill's own
    kWh, the row is the bill's. A row whose rated registers read nothing has no proportions:
    the energy goes to the flat register (as the engine rates a total-only meter) where the
    tariff rates one, else the correction is refused (:data:`NO_SPLIT`)."""
    out = dict(row)
    basis = _basis_columns(row, kind)
    original = _rated_wh(row, kind)
    out["total_wh"] = total_wh
    tou = [c for c in TOU_COLUMNS if row.get(c) is not None]
    if original > 0:
        for column in tou:
            out[column] = int(row[column]) * total_wh // original
        present = [c for c in basis if row.get(c) is not None]
        if present:
            biggest = max(present, key=lambda c: int(row[c]))
            out[biggest] += total_wh - sum(out[c] for c in present)
        if row.get("reactive_varh") is not None:
            out["reactive_varh"] = int(row["reactive_varh"]) * total_wh // original
    elif tou:
        for column in tou:
            out[column] = 0
        if basis and total_wh:
            target = "flat_wh" if "flat_wh" in basis else None
            if target is None:
                raise ValidationFailed(NO_SPLIT, field="amount")
            out[target] = total_wh
    return out


def _rate_rows(rows: list[dict[str, Any]], *, pf_standard: str | None, pf_by_version: bool) -> Any:
    """Rate ``rows`` as a run rates its frame (``period_data.RUN_PERIOD_SCHEMA``: a row's
    ``basic_parts`` bills each contract of a month whose contract changed for its days), with
    the power-factor rule the corrected bill was rated with (:func:`_billed_pf_rule`): every
    row at ``pf_standard`` (null: not adjusted), or, with ``pf_by_version``, at each tariff
    version's own standard."""
    try:
        import polars as pl

        from gridcare.billing.engine.rating import PF_STANDARD_COLUMN, rate
        from gridcare.billing.services.catalogue import catalogue_load
        from gridcare.billing.services.period_data import RUN_PERIOD_SCHEMA
    except ImportError as exc:
        raise ValidationFailed(
            _("The rating engine is not available; enter the amount by hand."), field="amount"
        ) from exc
    frame = pl.DataFrame([{**row, PF_STANDARD_COLUMN: pf_standard} for row in rows], schema=RUN_PERIOD_SCHEMA)
    if pf_by_version:  # no pf_standard column: the engine takes each version's standard
        frame = frame.drop(PF_STANDARD_COLUMN)
    return rate(frame, catalogue_load())


def _billed_pf_rule(*, bill: Bill, account_standard: str | None) -> tuple[str | None, bool]:
    """The power-factor rule the bill was rated with, read from its own lines, as
    ``(standard, by_version)``. A correction re-rates both sides with it, not with today's
    rule: it corrects the consumption, not the rule the bill was issued under.

    * no power-factor line: the bill was not adjusted — ``(None, False)``;
    * power-factor lines without their tariff version (written before lines recorded it,
      i.e. before the standard went by class and capacity): the run adjusted by the tariff
      version's own standard — ``(None, True)``;
    * power-factor lines with their version: the run adjusted by the account's standard
      (``engine.rating.pf_standard_expr`` over the period's contracts), ``account_standard``
      as ``services.period_data`` derives it again — ``(account_standard, False)``. When it
      derives none now (the account's class or contracts were changed since), the
      standard the bill used cannot be told: the amount is entered by hand.

    A power-factor line does not store its standard (only its amount), so the lines'
    version is what tells the two rules apart."""
    versions = list(
        bill.lines.filter(kind=BillLineKind.POWER_FACTOR).values_list("tariff_version_id", flat=True)
    )
    if not versions:
        return None, False
    if all(version is None for version in versions):
        return None, True
    if account_standard is None:
        raise ValidationFailed(
            _(
                "The power-factor standard this bill was rated with cannot be told any more; "
                "enter the amount by hand."
            ),
            field="amount",
        )
    return account_standard, False


def _fen(value: Decimal) -> int:
    """Yuan to integer fen, half-up."""
    return int((value * 100).to_integral_value(ROUND_HALF_UP))


def _wh(kwh: Decimal) -> int:
    """kWh to integer Wh, half-up."""
    return int((kwh * 1000).to_integral_value(ROUND_HALF_UP))


def _billed_basic(bill: Bill) -> list[tuple[str, int]]:
    """The bill's basic-charge lines (基本电费, a two-part bill's; one per contract of a month
    whose contract changed) as sorted ``(item, fen)``: what its period rebuilt must bill."""
    lines = bill.lines.filter(kind=BillLineKind.BASIC).values_list("item", "amount")
    return sorted((item, _fen(amount)) for item, amount in lines)


# correction_rating's rows: the side it starts from, the corrected side, and — when earlier
# corrections moved the start away from the bill's own kWh — the bill's kWh as billed.
ORIGINAL, CORRECTED, AS_BILLED = 1, 2, 3


def correction_rating(
    *, bill: Bill, corrected_kwh: Decimal, from_kwh: Decimal | None = None
) -> dict[str, Any]:
    """Rate the bill's period with ``from_kwh`` (default: its billed kWh; after earlier
    corrections, the billed kWh corrected by them) and with ``corrected_kwh``; return
    ``{"amount": Decimal, "original_fen", "corrected_fen", "lines": [...]}`` where lines are
    the per-item differences (``item``, ``kind``, ``kwh``, ``amount`` as decimal strings).
    Both sides are adjusted by the power factor as the bill was (:func:`_billed_pf_rule`).

    The rebuilt period must reproduce the bill: rated with the bill's own kWh it must give
    the bill's basic charge (:func:`_billed_basic`, else :data:`NO_BASIC_CHARGE`) and the
    bill's amount to the fen (else :data:`NOT_REPRODUCED`) — the bill's amount is the total
    its rating gave (a run writes the engine's total), its corrections are not part of it.
    A period that does not (its position in the year's tiers moved by a bill or correction
    of an earlier month since, its tariff's prices changed since) would price the
    correction from a month the customer was not billed for, so the amount is entered by
    hand. (A change that leaves the bill's own kWh priced the same — a tier position moved
    within one tier — is not seen, and the correction is priced from today's position.)"""
    if corrected_kwh < 0:
        raise ValidationFailed(_("The corrected consumption would be negative."), field="kwh")
    base = _period_row(bill)
    kind = base.pop(TARIFF_KIND, None)
    billed_basic = _billed_basic(bill)
    if billed_basic and base.get("basic_charge_by") is None and not base.get("basic_parts"):
        raise ValidationFailed(NO_BASIC_CHARGE, field="amount")
    # the account's standard as the run derives it (engine.rating.PF_STANDARD_COLUMN)
    account_standard = base.pop("pf_standard", None)
    pf_standard, pf_by_version = _billed_pf_rule(bill=bill, account_standard=account_standard)
    billed_wh = _wh(bill.kwh)
    start_wh = billed_wh if from_kwh is None else _wh(from_kwh)
    rows = [
        {**_scaled(base, start_wh, kind), "account_id": ORIGINAL},
        {**_scaled(base, _wh(corrected_kwh), kind), "account_id": CORRECTED},
    ]
    as_billed = ORIGINAL
    if start_wh != billed_wh:
        rows.append({**_scaled(base, billed_wh, kind), "account_id": AS_BILLED})
        as_billed = AS_BILLED
    rating = _rate_rows(rows, pf_standard=pf_standard, pf_by_version=pf_by_version)
    if rating.errors.height:
        reason = "; ".join(rating.errors["reason"].unique().to_list())
        raise ValidationFailed(_("The period cannot be rated: %(reason)s") % {"reason": reason}, field="kwh")
    rated = rating.lines.sort("account_id", "seq").to_dicts()
    basic = [
        (r["item"], int(r["amount_fen"]))
        for r in rated
        if r["account_id"] == as_billed and r["kind"] == BillLineKind.BASIC
    ]
    if sorted(basic) != billed_basic:
        raise ValidationFailed(NO_BASIC_CHARGE, field="amount")
    totals = {r["account_id"]: int(r["total_fen"]) for r in rating.totals.to_dicts()}
    if totals[as_billed] != _fen(bill.amount):
        raise ValidationFailed(
            NOT_REPRODUCED
            % {"kwh": bill.kwh, "rebuilt": fen_to_yuan(totals[as_billed]), "billed": bill.amount},
            field="amount",
        )
    items: dict[tuple[str, str], list[int]] = {}
    for line in rated:
        if line["account_id"] not in (ORIGINAL, CORRECTED):
            continue
        key = (line["kind"], line["item"])
        entry = items.setdefault(key, [0, 0])
        sign = 1 if line["account_id"] == CORRECTED else -1
        entry[0] += sign * int(line["wh"] or 0)
        entry[1] += sign * int(line["amount_fen"])
    lines = [
        {
            "kind": kind,
            "item": item,
            "kwh": str((Decimal(wh) / 1000).quantize(KWH)),
            "amount": str(fen_to_yuan(fen)),
        }
        for (kind, item), (wh, fen) in items.items()
        if wh or fen
    ]
    return {
        "amount": fen_to_yuan(totals[CORRECTED] - totals[ORIGINAL]),
        "original_fen": totals[ORIGINAL],
        "corrected_fen": totals[CORRECTED],
        "lines": lines,
    }


# --- request and decide -------------------------------------------------------------------------


def _create(
    *,
    actor: Actor,
    bill: Bill,
    kind: str,
    kwh: Decimal,
    amount: Decimal,
    reason: str,
    lines: list[Any],
    meter_adjustment_id: int | None = None,
    corrects_consumption: bool = True,
) -> BillAdjustment:
    now = timezone.now()
    adjustment = BillAdjustment.objects.create(
        number=_number(timezone.localdate(now)),
        bill=bill,
        kind=kind,
        kwh=kwh,
        amount=amount,
        reason=reason,
        lines=lines,
        meter_adjustment_id=meter_adjustment_id,
        corrects_consumption=corrects_consumption,
        status=DocumentStatus.PENDING,
        requested_by=_who(actor),
        requested_at=now,
    )
    audit_record(
        actor=actor,
        obj=adjustment,
        action="bill_adjustment.request",
        after=snapshot(adjustment, AUDIT_FIELDS),
        reason=reason,
    )
    return adjustment


def _locked_issued_bill(bill_id: int) -> Bill:
    bill = Bill.objects.select_for_update().filter(pk=bill_id).first()
    if bill is None:
        raise NotFound()
    if bill.status != BillStatus.ISSUED:
        raise Conflict(_("Only an issued bill can be corrected; a draft is re-rated instead."), field="bill")
    return bill


def _corrections(bill_id: int, statuses: tuple[str, ...]) -> tuple[Decimal, Decimal]:
    """The kWh and money of the bill's corrections of its consumption in ``statuses``
    (signed: refunds < 0): what re-rating starts from and what a refund may take back. A
    charge the bill only carries (``corrects_consumption=False``, a 窃电/违约用电 case) is
    left out."""
    totals = BillAdjustment.objects.filter(
        bill_id=bill_id, status__in=statuses, corrects_consumption=True
    ).aggregate(kwh=Sum("kwh"), amount=Sum("amount"))
    return totals["kwh"] or Decimal("0.000"), totals["amount"] or Decimal("0.00")


def _refund_within_the_bill(
    bill: Bill, *, kwh: Decimal, amount: Decimal, done: tuple[Decimal, Decimal]
) -> None:
    """Refuse a refund (``kwh`` and ``amount`` ≤ 0) that, with the bill's corrections
    ``done`` (their kWh and money, from :func:`_corrections`), would take back more energy
    or money than the bill charged."""
    done_kwh, done_amount = done
    if bill.kwh + done_kwh + kwh < 0:
        raise ValidationFailed(
            _("A refund cannot exceed the billed energy less earlier corrections (%(kwh)s kWh left).")
            % {"kwh": max(Decimal("0.000"), bill.kwh + done_kwh)},
            field="kwh",
        )
    if bill.amount + done_amount + amount < 0:
        raise ValidationFailed(
            _("A refund cannot exceed the billed amount less earlier corrections (%(amount)s left).")
            % {"amount": max(Decimal("0.00"), bill.amount + done_amount)},
            field="amount",
        )


def bill_adjustment_request(
    *,
    actor: Actor,
    bill_id: int,
    kind: str,
    kwh: Decimal | str | int = 0,
    amount: Decimal | str | int | None = None,
    reason: str,
    lines: list[Any] | None = None,
    corrects_consumption: bool = True,
) -> BillAdjustment:
    """申请退补: a refund or back-billing document for an issued bill, pending approval.

    ``kwh`` is the energy corrected, as a magnitude (a refund takes it off the billed
    consumption, a back-billing adds it); ``amount`` is the money, as a magnitude or signed
    the way ``kind`` goes. Without ``amount`` the amount comes from re-rating the bill's
    period (module docstring). ``corrects_consumption=False`` is a charge the bill only
    carries (a 窃电/违约用电 case): a back-billing with its amount given, outside the bill's
    consumption and refund ceilings. A user actor needs ``billing.add_billadjustment``.
    """
    require_actor_perm(actor, "billing.add_billadjustment")
    if kind not in AdjustmentKind.values:
        raise ValidationFailed(_("Choose refund or back-billing."), field="kind")
    sign = -1 if kind == AdjustmentKind.REFUND else 1
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Give the reason for the correction."), field="reason")
    if len(reason) > 2000:
        raise ValidationFailed(_("Too long (%(max)d characters at most).") % {"max": 2000}, field="reason")
    energy = _decimal(kwh if kwh is not None else 0, field="kwh")
    if abs(energy) >= MAX_KWH:  # also keeps quantize below from overflowing (1e26)
        raise ValidationFailed(
            _("The energy is too large (at most %(max)s kWh).") % {"max": f"{MAX_KWH - KWH:,}"}, field="kwh"
        )
    if energy != energy.quantize(KWH):
        raise ValidationFailed(_("Give the energy with at most 3 decimal places."), field="kwh")
    energy = abs(energy)
    money: Decimal | None = None
    if amount is not None and str(amount).strip() != "":
        money = _amount_given(amount, sign=sign)
    if money is None and energy == 0:
        raise ValidationFailed(_("Give the energy to correct or the amount."), field="amount")
    if not corrects_consumption and (sign < 0 or money is None):
        raise ValidationFailed(
            _("A charge the bill only carries is a back-billing with its amount given."), field="amount"
        )
    with transaction.atomic():
        bill = _locked_issued_bill(bill_id)  # the bill's lock serialises its corrections
        computed_lines = list(lines or [])
        # The corrections already requested or approved count: a second refund starts from
        # what the first left (the bill row's lock keeps two requests from both passing).
        done = _corrections(bill.pk, OPEN_OR_APPROVED)
        standing = bill.kwh + done[0]
        if money is None:
            corrected = standing + sign * energy
            if corrected < 0:
                _refund_within_the_bill(bill, kwh=-energy, amount=Decimal("0"), done=done)
            rating = correction_rating(bill=bill, corrected_kwh=corrected, from_kwh=standing)
            signed = rating["amount"]
            if signed * sign < 0:
                raise ValidationFailed(
                    _("Re-rating gives an amount of the other sign (%(amount)s); check the kind.")
                    % {"amount": signed},
                    field="kind",
                )
            money = abs(signed)
            computed_lines = rating["lines"]
        if sign < 0:
            _refund_within_the_bill(bill, kwh=-energy, amount=-money, done=done)
        return _create(
            actor=actor,
            bill=bill,
            kind=kind,
            kwh=sign * energy,
            amount=to_yuan(sign * money),
            reason=reason,
            lines=computed_lines,
            corrects_consumption=corrects_consumption,
        )


def backbill_due_date(*, bill: Bill, approved_on: dt.date) -> dt.date:
    """缴费截止日 of a back-billing approved on ``approved_on``: that day plus the payment
    term the bill had (its due date less its issue date, local time), never before the
    bill's own due date."""
    if bill.due_date is None or bill.issued_at is None:  # an issued bill has both
        raise Conflict(_("Only an issued bill can be corrected; a draft is re-rated instead."), field="bill")
    term = bill.due_date - timezone.localdate(bill.issued_at)
    return max(bill.due_date, approved_on + term)


def bill_adjustment_decide(
    *, actor: Actor, adjustment_id: int, approve: bool, note: str = ""
) -> BillAdjustment:
    """审批退补: approve or reject a pending document. Only a person holding
    ``billing.change_billadjustment`` who did not request it (四眼原则) may decide; a
    rejection needs a note. The note is kept on the audit row."""
    if not staff_has_perm(actor, "billing.change_billadjustment"):
        raise PermissionDenied()
    note = (note or "").strip()
    if len(note) > 500:
        raise ValidationFailed(_("Too long (%(max)d characters at most).") % {"max": 500}, field="note")
    if not approve and not note:
        raise ValidationFailed(_("Say why the correction is rejected."), field="note")
    who = _who(actor)
    found = BillAdjustment.objects.filter(pk=adjustment_id).values_list("bill_id", "bill__account_id").first()
    if found is None:
        raise NotFound()
    bill_id, account_id = found
    with transaction.atomic():
        # Locks in the payments' order: the account's balance, then the bill, then the document.
        balance = lock_balance(account_id)
        bill = Bill.objects.select_for_update().get(pk=bill_id)
        adjustment = BillAdjustment.objects.select_for_update().filter(pk=adjustment_id).first()
        if adjustment is None:
            raise NotFound()
        if adjustment.status != DocumentStatus.PENDING:
            raise Conflict(_("This correction has already been decided."), field="status")
        if adjustment.requested_by == who:
            raise PermissionDenied(
                _("The person who requested a correction cannot approve or reject it."),
                field="actor",
                code="same_person",
            )
        before = snapshot(adjustment, AUDIT_FIELDS)
        adjustment.status = DocumentStatus.APPROVED if approve else DocumentStatus.REJECTED
        adjustment.decided_by = who
        adjustment.decided_at = timezone.now()
        if approve and adjustment.kind == AdjustmentKind.BACKBILL:
            adjustment.due_date = backbill_due_date(
                bill=bill, approved_on=timezone.localdate(adjustment.decided_at)
            )
        adjustment.save(update_fields=["status", "decided_by", "decided_at", "due_date"])
        if approve and adjustment.amount < 0:
            try:  # a back-billing approved earlier may since have been rejected
                _refund_within_the_bill(
                    bill,
                    kwh=Decimal("0"),
                    amount=Decimal("0"),
                    done=_corrections(bill.pk, (DocumentStatus.APPROVED,)),
                )
            except ValidationFailed as exc:
                raise Conflict(exc.message, field="status") from None
        audit_record(
            actor=actor,
            obj=adjustment,
            action="bill_adjustment.approve" if approve else "bill_adjustment.reject",
            before=before,
            after=snapshot(adjustment, AUDIT_FIELDS),
            reason=note,
        )
        if approve and adjustment.amount < 0:
            _credit_over_settlement(actor=actor, bill=bill, refund=adjustment, balance=balance)
        if not approve:
            _after_rejection(actor=actor, adjustment=adjustment, note=note)
    return adjustment


def _after_rejection(*, actor: Actor, adjustment: BillAdjustment, note: str) -> None:
    """Tell the installed apps of :data:`REJECTION_HOOKS` that billing rejected
    ``adjustment`` (each does nothing for a document none of its records links)."""
    _meter_adjustment_after_rejection(actor=actor, adjustment=adjustment, note=note)
    for app, module_name, function in REJECTION_HOOKS:
        if apps.is_installed(app):
            hook = getattr(importlib.import_module(module_name), function)
            hook(actor=actor, adjustment_id=adjustment.pk, note=note)


def _credit_over_settlement(*, actor: Actor, bill: Bill, refund: BillAdjustment, balance: Any) -> None:
    """A refund approved on a bill already paid leaves it over-settled (outstanding < 0): the
    money paid beyond what the bill now charges leaves the bill (its latest allocations are
    reduced: the old rows marked reversed, the rest re-allocated to the same payment, late
    fees untouched) and becomes the account's balance, which then settles its other unpaid
    bills (prepaid accounts: the prepaid check runs after the commit). A reversal of the
    payment later takes it back from the balance, as for any unallocated money."""
    from gridcare.billing.models import PaymentAllocation
    from gridcare.billing.selectors.bills import bills_outstanding

    outstanding = bills_outstanding([bill.pk])[bill.pk]
    excess = min(-outstanding, -refund.amount)
    if excess <= 0:
        return
    now = timezone.now()
    left = excess
    moved = []
    for allocation in PaymentAllocation.objects.filter(bill=bill, reversed=False).order_by("-pk"):
        if left <= 0:
            break
        take = min(left, allocation.amount)
        if take <= 0:
            continue
        allocation.reversed = True
        allocation.save(update_fields=["reversed"])
        fee_parts = (allocation.late_fee, allocation.late_fee_waived, allocation.late_fee_topup)
        if allocation.amount - take > 0 or any(fee_parts):  # the late fee stays with the bill
            PaymentAllocation.objects.create(
                payment_id=allocation.payment_id,
                bill=bill,
                amount=allocation.amount - take,
                late_fee=allocation.late_fee,
                late_fee_waived=allocation.late_fee_waived,
                late_fee_topup=allocation.late_fee_topup,
                created_at=now,
            )
        moved.append({"payment_id": allocation.payment_id, "amount": str(take)})
        left -= take
    credited = excess - left
    if credited <= 0:
        return
    before = balance.amount
    balance.amount = before + credited
    balance.save(update_fields=["amount", "updated_at"])
    audit_record(
        actor=actor,
        obj=balance,
        action="balance.refund_credit",
        before={"amount": str(before)},
        after={"amount": str(balance.amount), "bill": bill.number, "refund": refund.number, "moved": moved},
    )
    balance_settle(account_id=bill.account_id, actor=actor)


# --- from a meter verification ---------------------------------------------------------------------


def correction_energy(
    *, billed_kwh: Decimal, overlap_days: int, bill_days: int, error_pct: Decimal
) -> Decimal:
    """ΔW = billed × overlap/bill days × e/(100+e), half-up to 0.001 kWh; positive: the
    meter ran fast (refund), negative: slow (back-bill)."""
    if bill_days <= 0 or not 0 <= overlap_days <= bill_days:
        raise ValueError("overlap must be within the bill's days")
    if error_pct <= -100:
        raise ValueError("an error of -100 % or less is not a meter reading")
    value = billed_kwh * Decimal(overlap_days) * error_pct / (Decimal(bill_days) * (Decimal(100) + error_pct))
    return value.quantize(KWH, rounding=ROUND_HALF_UP)


def _meter_adjustment_after_rejection(*, actor: Actor, adjustment: BillAdjustment, note: str) -> None:
    """A document made from a meter 退补 record was rejected: when none of the record's
    documents is still pending or approved, the record is open again so it can be settled
    anew (a record whose other bills' documents stand stays settled)."""
    from gridcare.metering.services.verification import meter_adjustment_reopen

    record_id = adjustment.meter_adjustment_id
    if record_id is None:
        return
    standing = BillAdjustment.objects.filter(
        meter_adjustment_id=record_id,
        status__in=[DocumentStatus.PENDING, DocumentStatus.APPROVED],
    ).exists()
    if not standing:
        meter_adjustment_reopen(actor=actor, adjustment_id=record_id, note=note)


def _meter_adjustment_settle(*, actor: Actor, meter_adjustment: Any) -> None:
    """Mark the metering 退补 record settled through the metering service."""
    from gridcare.metering.services.verification import meter_adjustment_settle

    meter_adjustment_settle(actor=actor, adjustment_id=meter_adjustment.pk)


@dataclass(frozen=True)
class MeterShare:
    """One issued bill overlapping a meter 退补 record's period: its days in the period and
    the energy it is corrected by (ΔW, module docstring: > 0 a refund, < 0 a back-billing,
    0 no document)."""

    bill: Bill
    start: dt.date
    end: dt.date
    overlap_days: int
    bill_days: int
    delta_kwh: Decimal

    @property
    def kind(self) -> str:
        return AdjustmentKind.REFUND if self.delta_kwh > 0 else AdjustmentKind.BACKBILL


def _meter_record_bills(meter_adj: Any) -> Any:
    """The account's issued bills overlapping the record's period, oldest first."""
    return Bill.objects.filter(
        account_id=meter_adj.account_id,
        status=BillStatus.ISSUED,
        period_start__lte=meter_adj.period_end,
        period_end__gte=meter_adj.period_start,
    ).order_by("period")


def _meter_shares(meter_adj: Any, bills: list[Bill]) -> list[MeterShare]:
    """Each bill's share of the record (:func:`correction_energy`): the one ΔW rule of the
    settle page and the settlement."""
    error = Decimal(meter_adj.error_pct)
    shares = []
    for bill in bills:
        start = max(bill.period_start, meter_adj.period_start)
        end = min(bill.period_end, meter_adj.period_end)
        overlap = (end - start).days + 1
        days = (bill.period_end - bill.period_start).days + 1
        delta = correction_energy(billed_kwh=bill.kwh, overlap_days=overlap, bill_days=days, error_pct=error)
        shares.append(MeterShare(bill, start, end, overlap, days, delta))
    return shares


def meter_adjustment_shares(*, meter_adjustment_id: int) -> tuple[Any, list[MeterShare]]:
    """The metering 退补 record and its bills' shares, as
    :func:`bill_adjustments_from_meter_adjustment` would settle them (a read: the settle
    page)."""
    from gridcare.metering.models import Adjustment

    meter_adj = Adjustment.objects.select_related("account", "meter").filter(pk=meter_adjustment_id).first()
    if meter_adj is None:
        raise NotFound()
    return meter_adj, _meter_shares(meter_adj, list(_meter_record_bills(meter_adj)))


def _hand_amount(share: MeterShare, value: Any) -> Decimal:
    """The amount entered for ``share``'s bill (yuan, as a magnitude or signed the way its
    kind goes), signed; a refund may not take back more than the bill charged less its
    corrections. Errors name the bill and its field (``amount_<bill id>``)."""
    bill = share.bill
    sign = -1 if share.kind == AdjustmentKind.REFUND else 1
    try:
        money = sign * _amount_given(value, sign=sign)
        if sign < 0:
            _refund_within_the_bill(
                bill, kwh=Decimal("0.000"), amount=money, done=_corrections(bill.pk, OPEN_OR_APPROVED)
            )
    except ValidationFailed as exc:
        raise ValidationFailed(
            _("Bill %(bill)s: %(message)s") % {"bill": bill.number, "message": exc.message},
            field=f"amount_{bill.pk}",
        ) from None
    return to_yuan(money)


def bill_adjustments_from_meter_adjustment(
    *, actor: Actor, meter_adjustment_id: int, amounts: Mapping[int, Any] | None = None
) -> list[BillAdjustment]:
    """结算验表退补: turn an open ``metering.Adjustment`` into one pending BillAdjustment per
    issued bill of the account overlapping its period (the formula in the module
    docstring), amounts by re-rating, each linked through ``meter_adjustment``; then mark
    the metering record settled. Bills whose share rounds to 0 kWh get no document.

    ``amounts`` (bill id → yuan) gives the amount of a bill by hand, for a bill whose month
    cannot be re-rated (:func:`correction_rating` refuses it: its readings gone, its
    rating no longer reproduced…); its document has no per-item lines. An amount for a bill
    that can be re-rated is refused (the re-rated amount is the rule). All or nothing: if
    a bill without an amount cannot be re-rated, nothing is written and the error names
    every such bill (:data:`BILLS_NOT_RE_RATED`)."""
    from gridcare.metering.choices import AdjustmentDirection, AdjustmentStatus
    from gridcare.metering.models import Adjustment

    require_actor_perm(actor, "billing.add_billadjustment")
    by_hand = dict(amounts or {})
    with transaction.atomic():
        meter_adj = Adjustment.objects.select_for_update().filter(pk=meter_adjustment_id).first()
        if meter_adj is None:
            raise NotFound()
        if meter_adj.status != AdjustmentStatus.OPEN:
            raise Conflict(_("This meter 退补 record has already been settled."), field="meter_adjustment")
        error = Decimal(meter_adj.error_pct)
        expected = AdjustmentDirection.REFUND if error > 0 else AdjustmentDirection.BACK_BILL
        if error == 0 or meter_adj.direction != expected:
            raise ValidationFailed(
                _("The record's direction does not match the sign of its error."), field="meter_adjustment"
            )
        bills = list(_meter_record_bills(meter_adj).select_for_update())
        if not bills:
            raise Conflict(
                _("No issued bill of this account overlaps the 退补 period."), field="meter_adjustment"
            )
        # Every bill is rated (or its amount checked) before anything is written.
        planned: list[tuple[MeterShare, Decimal, list[Any], bool]] = []
        not_rated: list[str] = []
        for share in _meter_shares(meter_adj, bills):
            bill = share.bill
            if share.delta_kwh == 0:
                continue
            # Priced from what the bill stands at after its corrections (requested or
            # approved), as any other correction is; a refund within what they left.
            # A bill that cannot be re-rated, or whose re-rated refund would take back more
            # than its earlier corrections left, takes an amount by hand.
            done = _corrections(bill.pk, OPEN_OR_APPROVED)
            standing = bill.kwh + done[0]
            try:
                if share.kind == AdjustmentKind.REFUND:
                    _refund_within_the_bill(bill, kwh=-share.delta_kwh, amount=Decimal("0"), done=done)
                rating = correction_rating(
                    bill=bill, corrected_kwh=standing - share.delta_kwh, from_kwh=standing
                )
                amount = rating["amount"]
                if (share.kind == AdjustmentKind.REFUND and amount > 0) or (
                    share.kind == AdjustmentKind.BACKBILL and amount < 0
                ):
                    amount = Decimal("0.00")
                if share.kind == AdjustmentKind.REFUND:
                    _refund_within_the_bill(bill, kwh=-share.delta_kwh, amount=amount, done=done)
            except ValidationFailed as exc:
                if bill.pk in by_hand:
                    planned.append((share, _hand_amount(share, by_hand[bill.pk]), [], True))
                else:
                    not_rated.append(f"{bill.number} ({bill.period:%Y-%m}): {exc.message}")
                continue
            if str(by_hand.get(bill.pk, "")).strip():  # only a bill that cannot be re-rated takes one
                raise ValidationFailed(
                    _("Bill %(bill)s can be re-rated: leave its amount empty.") % {"bill": bill.number},
                    field=f"amount_{bill.pk}",
                )
            planned.append((share, amount, rating["lines"], False))
        if not_rated:
            raise ValidationFailed(BILLS_NOT_RE_RATED % {"bills": " ".join(not_rated)}, field="amount")
        created: list[BillAdjustment] = []
        for share, amount, lines, hand in planned:
            reason = (
                f"{METER_RULE}; 误差 e = {error}%, 退补期 {meter_adj.period_start}~{meter_adj.period_end}, "
                f"本单 {share.start}~{share.end} ({share.overlap_days}/{share.bill_days} 天), "
                f"结算电量 {share.bill.kwh} kWh → ΔW = {share.delta_kwh} kWh"
            )
            if hand:
                reason += "; 本单不能重新计费, 金额手工录入"
            created.append(
                _create(
                    actor=actor,
                    bill=share.bill,
                    kind=share.kind,
                    kwh=-share.delta_kwh,
                    amount=amount,
                    reason=reason,
                    lines=lines,
                    meter_adjustment_id=meter_adj.pk,
                )
            )
        _meter_adjustment_settle(actor=actor, meter_adjustment=meter_adj)
    return created
