"""Collection (收费): posting payments on every channel, allocation (销账), balances,
reversal (冲正) and the signed online-payment callback.

Rules:
- one transaction per payment; the account is locked by ``select_for_update`` on its
  ``AccountBalance`` row (created first if missing), so two clerks posting on the same
  account are serialised and neither payment is lost;
- ``idempotency_key`` is unique: a repeated key returns the payment already posted
  (a double-clicked counter form, a bank re-import, a repeated online callback);
- the money goes to the oldest unpaid bill first, on each overdue bill to the late fee on
  the part paid and then its principal (``engine/allocation.py``); the rest is kept as
  balance (预收). For a prepaid (费控) account the whole payment goes to the balance and the
  prepaid service is told on commit — unless it is money for the bills (a bank
  withholding line, ``PaymentItem.for_bills``): that pays the bills as on any account;
- an approved late-fee waiver lowers the fee of the next payment on its bill, and that
  payment is recorded on the waiver (``used_by``) in the payment's transaction;
- a reversal keeps the payment, marks its allocations reversed and takes its balance part
  back (the balance may go negative: the customer owes it);
- what a payment sets off after its commit (the credit applied, the prepaid check) is
  logged when it fails and never fails the payment (:func:`_after_commit`);
- a closed account's credit is paid back (销户退费) with four eyes: a clerk requests it
  (:func:`balance_refund_request`, no money moves), another person approves or rejects it
  (:func:`balance_refund_decide`); approval writes the refund row of the payments
  (negative amount, a refund channel) under the account lock. While it is pending, the
  requester alone may withdraw it (:func:`balance_refund_withdraw`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import importlib
import itertools
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from gridcare.billing.choices import (
    REFUND_CHANNELS,
    PaymentChannel,
    PaymentKind,
    PaymentStatus,
    RefundRequestStatus,
)
from gridcare.billing.engine.allocation import Allocation, AllocationResult, OpenBill, allocate
from gridcare.billing.engine.late_fee import LateFeeRates, outstanding_parts, rate_days
from gridcare.billing.models import (
    AccountBalance,
    Bill,
    LateFeeWaiver,
    Payment,
    PaymentAllocation,
    PaymentCallbackLog,
    RefundRequest,
)
from gridcare.billing.selectors.payments import open_bills, policy_in_force, rates_from_policy, unpaid_bills
from gridcare.core.audit import actor_label, audit_record, person_name, snapshot
from gridcare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from gridcare.core.ids import next_number
from gridcare.core.money import fen_to_yuan, yuan_to_fen
from gridcare.core.roles import require_staff_perm
from gridcare.customers.choices import AccountStatus
from gridcare.customers.models import Account

logger = logging.getLogger("gridcare.billing.payments")

RECEIPT_SEQUENCE = "billing.payment"
REFUND_SEQUENCE = "billing.refund"
PERM_REFUND_REQUEST = "billing.add_refundrequest"  # the counter handles 销户: clerks ask
PERM_REFUND_DECIDE = "billing.change_refundrequest"  # managers decide, as for waivers
REFUND_NOTE_MAX = 300
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("999999999999.99")

__all__ = [
    "PaymentItem",
    "balance_refund_decide",
    "balance_refund_request",
    "balance_refund_withdraw",
    "balances_apply",
    "payment_item",
    "payments_post_many",
    "payment_callback_receive",
    "payment_post",
    "payment_reverse",
    "sign_callback",
]


# --- helpers --------------------------------------------------------------------------------


def parse_amount(value: Any, *, field: str = "amount") -> Decimal:
    """A payment amount: > 0 with at most 2 decimals (yuan); anything else is refused."""
    if isinstance(value, float):
        raise ValidationFailed(_("Give the amount as text or a decimal, not a float."), field=field)
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(_("The amount is not a number."), field=field) from None
    if not amount.is_finite() or amount <= 0:
        raise ValidationFailed(_("The amount must be greater than zero."), field=field)
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationFailed(_("The amount has more than 2 decimals (fen)."), field=field)
    if amount > MAX_AMOUNT:
        raise ValidationFailed(_("The amount is too large."), field=field)
    return amount.quantize(Decimal("0.01"))


def lock_balance(account_id: int) -> AccountBalance:
    """The account lock: get or create the balance row, then lock it for this transaction."""
    return _lock_balances([account_id])[account_id]


def _lock_balances(account_ids: Iterable[int]) -> dict[int, AccountBalance]:
    """Create the missing balance rows, then lock them all in one query, in account order
    (a fixed order: two batches never deadlock on each other)."""
    ids = sorted(set(account_ids))
    have = set(AccountBalance.objects.filter(account_id__in=ids).values_list("account_id", flat=True))
    missing = [a for a in ids if a not in have]
    if missing:
        AccountBalance.objects.bulk_create(
            [AccountBalance(account_id=a) for a in missing], ignore_conflicts=True
        )
    rows = AccountBalance.objects.select_for_update().filter(account_id__in=ids).order_by("account_id")
    return {row.account_id: row for row in rows}


@dataclass
class _BillState:
    """An unpaid bill while a batch allocates money to it (fen)."""

    bill_id: int
    period_ordinal: int
    parts: list[tuple[dt.date, int]]  # (due date, fen) still owed, earliest due first
    residential: bool
    outstanding_fen: int
    fee_gross_fen: int  # late fee collected or waived on the bill so far
    fee_credit_fen: int  # of which beyond what the parts paid accrued (the minimum's top-up)
    waiver_fen: int
    waiver_ids: tuple[int, ...]  # the approved waivers not used yet (together: waiver_fen)


class _Ledger:
    """The unpaid bills of many accounts, loaded once (a few set-based queries) and updated
    in memory as each payment of a batch is allocated, so a batch allocates like the same
    payments posted one by one. ``waivers_used`` collects, per payment, the waivers its
    allocations used (:func:`_waivers_use` records them)."""

    def __init__(self, account_ids: Iterable[int], as_of: dt.date) -> None:
        self.bills: dict[int, list[_BillState]] = {}
        for row in open_bills(account_ids=account_ids, as_of=as_of):
            self.bills.setdefault(row.account_id, []).append(
                _BillState(
                    bill_id=row.bill_id,
                    period_ordinal=row.period.toordinal(),
                    parts=list(row.parts),
                    residential=row.residential,
                    outstanding_fen=row.outstanding_fen,
                    fee_gross_fen=row.fee_paid_fen + row.fee_waived_fen,
                    fee_credit_fen=row.fee_credit_fen,
                    waiver_fen=row.waiver_fen,
                    waiver_ids=row.waiver_ids,
                )
            )
        self._rates: dict[dt.date, LateFeeRates] = {}
        self.waivers_used: dict[int, list[int]] = {}

    def _rates_on(self, day: dt.date) -> LateFeeRates:
        if day not in self._rates:
            self._rates[day] = rates_from_policy(policy_in_force(day))
        return self._rates[day]

    def allocate(
        self,
        account_id: int,
        amount_fen: int,
        as_of: dt.date,
        *,
        payment_id: int,
        whole_bills: bool = False,
    ) -> AllocationResult:
        """Allocate ``amount_fen`` paid on ``as_of`` to the account's bills and update them;
        the allocations belong to ``payment_id`` (so does the use of the waivers they take).
        ``whole_bills``: only the bills it pays in full (with their late fee), oldest first,
        up to the first it cannot; the rest stays as balance."""
        states = [b for b in self.bills.get(account_id, []) if b.outstanding_fen > 0]
        if not states:
            return AllocationResult(allocations=(), balance_fen=amount_fen)
        rates = self._rates_on(as_of)
        # Each part of a bill (its own amount, approved back-billings) from its own due date.
        weighted = iter(
            rate_days(
                due=[due for b in states for due, _ in b.parts],
                as_of=as_of,
                residential=[b.residential for b in states for _ in b.parts],
                rates=rates,
            ).tolist()
        )
        result = allocate(
            amount_fen=amount_fen,
            bills=[
                OpenBill(
                    bill_id=b.bill_id,
                    period_ordinal=b.period_ordinal,
                    outstanding_fen=b.outstanding_fen,
                    minimum_fen=max(0, rates.minimum_fen - b.fee_gross_fen),
                    waiver_fen=b.waiver_fen,
                    credit_fen=b.fee_credit_fen,
                    parts=tuple((fen, next(weighted)) for _, fen in b.parts),
                )
                for b in states
            ],
        )
        by_id = {b.bill_id: b for b in states}
        if whole_bills:
            kept = tuple(
                itertools.takewhile(
                    lambda a: a.principal_fen == by_id[a.bill_id].outstanding_fen, result.allocations
                )
            )
            result = AllocationResult(
                allocations=kept,
                balance_fen=amount_fen - sum(a.principal_fen + a.late_fee_fen for a in kept),
            )
        for a in result.allocations:
            state = by_id[a.bill_id]
            state.outstanding_fen -= a.principal_fen
            state.parts = _settle_parts(state.parts, a.principal_fen)
            state.fee_gross_fen += a.late_fee_fen + a.waived_fen
            state.fee_credit_fen += _topup_fen(a)
            # A waiver serves the next payment on its bill only (a part larger than that
            # payment's fee lapses): this one, which is recorded as having used it.
            if state.waiver_ids:
                self.waivers_used.setdefault(payment_id, []).extend(state.waiver_ids)
            state.waiver_fen, state.waiver_ids = 0, ()
        return result


def _settle_parts(parts: list[tuple[dt.date, int]], principal_fen: int) -> list[tuple[dt.date, int]]:
    """``parts`` after ``principal_fen`` was paid: the earliest due settled first (as
    ``engine.late_fee.outstanding_parts`` reads the bill next time)."""
    return outstanding_parts(parts, sum(fen for _, fen in parts) - principal_fen)


def _topup_fen(a: Allocation) -> int:
    """The fee charged or waived on a part beyond the fee the part accrued itself."""
    return a.late_fee_fen + a.waived_fen - a.accrued_fen


def _allocation_rows(payment_id: int, result: AllocationResult, now: dt.datetime) -> list[PaymentAllocation]:
    return [
        PaymentAllocation(
            payment_id=payment_id,
            bill_id=a.bill_id,
            amount=fen_to_yuan(a.principal_fen),
            late_fee=fen_to_yuan(a.late_fee_fen),
            late_fee_waived=fen_to_yuan(a.waived_fen),
            late_fee_topup=fen_to_yuan(_topup_fen(a)),
            created_at=now,
        )
        for a in result.allocations
    ]


def _waivers_use(used: dict[int, list[int]], *, now: dt.datetime, actor: Any) -> None:
    """Record the late-fee waivers (违约金减免) that allocations just used: ``used`` maps a
    payment to the waivers its allocations took (``_Ledger.waivers_used``). Called in the
    payment's transaction, under the account lock that the waiver's decision takes too, so
    a reading of the bill sees a waiver either unused or used by a payment that stands —
    never inferred from times that two servers' clocks may disagree on. A waiver used
    before by a payment since reversed moves to this one. One audit row per waiver."""
    if not used:
        return
    ids = [w for waivers in used.values() for w in waivers]
    waivers = LateFeeWaiver.objects.filter(pk__in=ids).select_related("used_by").order_by("pk")
    before = {w.pk: (w, w.used_by.number if w.used_by is not None else None) for w in waivers}
    numbers = dict(Payment.objects.filter(pk__in=used).values_list("pk", "number"))
    for payment_id, waiver_ids in used.items():
        LateFeeWaiver.objects.filter(pk__in=waiver_ids).update(used_by_id=payment_id, used_at=now)
        for waiver_id in waiver_ids:
            waiver, was = before[waiver_id]
            audit_record(
                actor=actor,
                obj=waiver,
                action="latefeewaiver.use",
                before={"used_by": was},
                after={"used_by": numbers[payment_id], "used_at": now.isoformat(), "bill": waiver.bill_id},
            )


def _after_prepaid_payment(account_id: int, actor: Any) -> None:
    try:
        module = importlib.import_module("gridcare.billing.services.prepaid")
    except ImportError:
        return
    hook = getattr(module, "prepaid_after_payment", None)
    if hook is not None:
        hook(account_id=account_id, actor=actor)


def _after_commit(func: Callable[[], object], *, what: str, account_ids: Iterable[int], cause: str) -> None:
    """Run ``func`` once the transaction commits (at once outside one). The payment (or
    reversal) that queued it is committed by then: a failure is logged with the accounts and
    the payments concerned and never reaches the caller — a clerk shown an error for a
    payment that stands would post it again. What ``func`` did not do is done by the next
    cycle (the daily prepaid check, the next ``balances_apply``)."""
    accounts = sorted(set(account_ids))

    def run() -> None:
        try:
            func()
        except Exception:
            logger.exception(
                "%s after commit failed for account(s) %s (%s); the payment stands",
                what,
                accounts,
                cause,
            )

    transaction.on_commit(run, robust=True)


def _receipts(numbers: list[str], shown: int = 5) -> str:
    """The payments a log line names: ``payment SK…, SK…`` (a batch: the first few and the count)."""
    if len(numbers) <= shown:
        return "payment " + ", ".join(numbers)
    return f"{len(numbers)} payments " + ", ".join(numbers[:shown]) + ", …"


# --- posting --------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentItem:
    """One payment to post (already validated by :func:`payment_item`)."""

    account_id: int
    amount: Decimal
    channel: str
    idempotency_key: str
    received_at: dt.datetime
    external_ref: str = ""
    # Money brought for the account's bills (a bank withholding line): allocated to them
    # even on a prepaid (费控) account, whose payments otherwise go to its balance.
    for_bills: bool = False


def _idempotency_key(value: str | None) -> str:
    """A payment's or refund's idempotency key, stripped: required, at most 100 characters."""
    key = (value or "").strip()
    if not key:
        raise ValidationFailed(_("An idempotency key is required."), field="idempotency_key")
    if len(key) > 100:
        raise ValidationFailed(
            _("The idempotency key is longer than 100 characters."), field="idempotency_key"
        )
    return key


def payment_item(
    *,
    account_id: int,
    amount: Decimal | str,
    channel: str,
    idempotency_key: str,
    received_at: dt.datetime | None = None,
    external_ref: str = "",
    for_bills: bool = False,
) -> PaymentItem:
    """Validate one payment's input (ValidationFailed naming the field). ``for_bills``: the
    money is for the account's bills (bank withholding) — on a prepaid account too it pays
    them, and only what is left goes to its balance."""
    key = _idempotency_key(idempotency_key)
    if channel not in PaymentChannel.values or channel in REFUND_CHANNELS:
        raise ValidationFailed(_("Unknown payment channel."), field="channel")
    value = parse_amount(amount)
    if received_at is not None and timezone.is_naive(received_at):
        raise ValidationFailed(_("The payment time must carry its time zone."), field="received_at")
    now = timezone.now()
    when = received_at or now
    if when > now + dt.timedelta(minutes=5):
        raise ValidationFailed(_("The payment time is in the future."), field="received_at")
    if len(external_ref) > 100:
        raise ValidationFailed(_("The external reference is too long."), field="external_ref")
    return PaymentItem(
        account_id=account_id,
        amount=value,
        channel=channel,
        idempotency_key=key,
        received_at=when,
        external_ref=external_ref,
        for_bills=for_bills,
    )


def payment_post(
    *,
    actor: Any,
    account_id: int,
    amount: Decimal | str,
    channel: str,
    idempotency_key: str,
    received_at: dt.datetime | None = None,
    external_ref: str = "",
) -> Payment:
    """实收入账: post a payment and allocate it (oldest bill first, late fee with the part
    paid, the rest to the balance). A key already used returns that payment unchanged (the
    account must match, or Conflict)."""
    return _payment_post(
        actor=actor,
        account_id=account_id,
        amount=amount,
        channel=channel,
        idempotency_key=idempotency_key,
        received_at=received_at,
        external_ref=external_ref,
    )[0]


def _payment_post(
    *,
    actor: Any,
    account_id: int,
    amount: Decimal | str,
    channel: str,
    idempotency_key: str,
    received_at: dt.datetime | None,
    external_ref: str,
) -> tuple[Payment, bool]:
    """:func:`payment_post`, also saying whether this call posted it (False: a repeat)."""
    item = payment_item(
        account_id=account_id,
        amount=amount,
        channel=channel,
        idempotency_key=idempotency_key,
        received_at=received_at,
        external_ref=external_ref,
    )
    existing = Payment.objects.filter(idempotency_key=item.idempotency_key).first()
    if existing is not None:
        return _same_account(existing, account_id), False
    if not Account.objects.filter(pk=account_id).exists():
        raise NotFound(_("No such account."), field="account")
    try:
        outcome = payments_post_many(actor=actor, items=[item])[0]
    except IntegrityError:
        # The same key committed meanwhile under another account's lock: return it.
        existing = Payment.objects.filter(idempotency_key=item.idempotency_key).first()
        if existing is None:
            raise
        return _same_account(existing, account_id), False
    if isinstance(outcome, Conflict):
        raise outcome
    return outcome


_Keyed = TypeVar("_Keyed", Payment, RefundRequest)


def _same_account(found: _Keyed, account_id: int) -> _Keyed:
    """``found`` (a payment or a refund request already stored under the idempotency key),
    when it is of ``account_id``; a key reused for another account is a conflict."""
    if found.account_id != account_id:
        raise Conflict(
            _("This idempotency key was already used for another account."), field="idempotency_key"
        )
    return found


def payments_post_many(*, actor: Any, items: list[PaymentItem]) -> list[tuple[Payment, bool] | Conflict]:
    """Post many payments in one transaction (bank result files): the accounts' balance rows
    are locked in one query, their unpaid bills loaded in a few, receipts numbered in one
    reservation, payments and allocations written in bulk. Per item: ``(payment, True)``
    when posted now, ``(payment, False)`` when its key was already posted (a repeat), or a
    Conflict when the key belongs to another account. Items must have distinct keys and
    existing accounts; an IntegrityError (a key committed concurrently) rolls back all."""
    if not items:
        return []
    keys = [i.idempotency_key for i in items]
    if len(set(keys)) != len(keys):
        raise ValidationFailed(
            _("Two payments of one batch share an idempotency key."), field="idempotency_key"
        )
    label = actor_label(actor)[:150]
    with transaction.atomic():
        balances = _lock_balances(i.account_id for i in items)
        # A waiver's decision takes the account lock too: one approved before is read below
        # and used by these allocations (recorded with them: _waivers_use), one approved
        # after waits for this commit and stays for the next payment.
        now = timezone.now()
        # Keys committed before we got the locks are repeats.
        existing = {p.idempotency_key: p for p in Payment.objects.filter(idempotency_key__in=keys)}
        new = [i for i in items if i.idempotency_key not in existing]
        prepaid = set(
            Account.objects.filter(pk__in={i.account_id for i in new}, is_prepaid=True).values_list(
                "pk", flat=True
            )
        )
        first = next_number(RECEIPT_SEQUENCE, count=len(new)) if new else 0
        payments = Payment.objects.bulk_create(
            [
                Payment(
                    number=f"SK{first + n:010d}",
                    account_id=i.account_id,
                    channel=i.channel,
                    amount=i.amount,
                    received_at=i.received_at,
                    idempotency_key=i.idempotency_key,
                    external_ref=i.external_ref,
                    posted_by=label,
                )
                for n, i in enumerate(new)
            ]
        )
        billed = sorted({i.account_id for i in new if i.account_id not in prepaid or i.for_bills})
        ledger = _Ledger(
            billed, min((timezone.localtime(i.received_at).date() for i in new), default=now.date())
        )
        allocation_rows: list[PaymentAllocation] = []
        changed: dict[int, Decimal] = {}
        audits: list[tuple[Payment, dict[str, Any]]] = []
        for item, payment in zip(new, payments, strict=True):
            amount_fen = yuan_to_fen(item.amount)
            balance = balances[item.account_id]
            changed.setdefault(item.account_id, balance.amount)
            before = balance.amount
            credit_fen = allocated_fen = 0
            if item.account_id in prepaid and not item.for_bills:
                to_balance = amount_fen
            else:
                # A credit balance pays with the money brought: the counter asked for what is
                # owed less the credit, so both together settle the bills (the allocations
                # belong to this payment; a reversal of it gives the credit back). Not a
                # prepaid balance: it is the money put by for the daily charges, and a bank
                # withholding for a prepaid account's bill asked for the bill alone.
                credit_fen = max(0, yuan_to_fen(before)) if item.account_id not in prepaid else 0
                result = ledger.allocate(
                    item.account_id,
                    amount_fen + credit_fen,
                    timezone.localtime(item.received_at).date(),
                    payment_id=payment.pk,
                )
                allocation_rows.extend(_allocation_rows(payment.pk, result, now))
                allocated_fen = amount_fen + credit_fen - result.balance_fen
                to_balance = result.balance_fen - credit_fen  # < 0: credit used up
            balance.amount = before + fen_to_yuan(to_balance)
            audits.append(
                (
                    payment,
                    {
                        **snapshot(payment, ["number", "account_id", "channel", "amount", "received_at"]),
                        "allocated": str(fen_to_yuan(allocated_fen)),
                        "credit_used": str(fen_to_yuan(max(0, -to_balance))),
                        "to_balance": str(fen_to_yuan(to_balance)),
                        "balance_before": str(before),
                        "balance_after": str(balance.amount),
                    },
                )
            )
        PaymentAllocation.objects.bulk_create(allocation_rows)
        _waivers_use(ledger.waivers_used, now=now, actor=actor)
        for account_id in changed:
            balances[account_id].updated_at = now
        AccountBalance.objects.bulk_update([balances[a] for a in changed], ["amount", "updated_at"])
        # A credit where there was none: a run issued meanwhile may not have seen it.
        credited = {a for a, was in changed.items() if a not in prepaid and was <= 0 < balances[a].amount}
        _apply_after_commit(
            credited, actor, cause=_receipts([p.number for p in payments if p.account_id in credited])
        )
        for payment, after in audits:
            audit_record(actor=actor, obj=payment, action="payment.post", after=after)
        receipts: dict[int, list[str]] = {}
        for payment in payments:
            if payment.account_id in prepaid:
                receipts.setdefault(payment.account_id, []).append(payment.number)
        for account_id in sorted(receipts):
            _after_commit(
                functools.partial(_after_prepaid_payment, account_id, actor),
                what="prepaid check",
                account_ids=[account_id],
                cause=_receipts(receipts[account_id]),
            )
    posted = {p.idempotency_key: p for p in payments}
    out: list[tuple[Payment, bool] | Conflict] = []
    for item in items:
        if item.idempotency_key in posted:
            out.append((posted[item.idempotency_key], True))
            continue
        old = existing[item.idempotency_key]
        if old.account_id != item.account_id:
            out.append(
                Conflict(
                    _("This idempotency key was already used for another account."), field="idempotency_key"
                )
            )
        else:
            out.append((old, False))
    return out


def payment_reverse(*, actor: Any, payment_id: int, reason: str) -> Payment:
    """冲正: reverse a posted payment with a reason. Its allocations are marked reversed
    (the bills owe again) and its balance part is taken back — the balance may go negative
    (the customer owes it)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Give the reason for the reversal."), field="reason")
    if len(reason) > 300:
        raise ValidationFailed(_("The reason is longer than 300 characters."), field="reason")
    account_id = Payment.objects.filter(pk=payment_id).values_list("account_id", flat=True).first()
    if account_id is None:
        raise NotFound(_("No such payment."))
    with transaction.atomic():
        balance = lock_balance(account_id)
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status != PaymentStatus.POSTED:
            raise Conflict(_("This payment is already reversed."))
        live = PaymentAllocation.objects.filter(payment=payment, reversed=False)
        totals = live.aggregate(principal=Sum("amount"), fee=Sum("late_fee"))
        allocated = (totals["principal"] or ZERO) + (totals["fee"] or ZERO)
        live.update(reversed=True)
        before_balance = balance.amount
        balance.amount = before_balance - (payment.amount - allocated)
        balance.save(update_fields=["amount", "updated_at"])
        before = snapshot(payment, ["status", "reversal_reason", "reversed_by", "reversed_at"])
        payment.status = PaymentStatus.REVERSED
        payment.reversal_reason = reason
        payment.reversed_by = actor_label(actor)[:150]
        payment.reversed_at = timezone.now()
        payment.save(update_fields=["status", "reversal_reason", "reversed_by", "reversed_at"])
        audit_record(
            actor=actor,
            obj=payment,
            action="payment.reverse",
            before={**before, "balance": str(before_balance)},
            after={
                **snapshot(payment, ["status", "reversal_reason", "reversed_by", "reversed_at"]),
                "allocations_reversed": str(allocated),
                "balance": str(balance.amount),
            },
            reason=reason,
        )
        balance_settle(account_id=account_id, actor=actor, cause=f"reversal of payment {payment.number}")
    return payment


# --- balance refunds (销户退费), four eyes ----------------------------------------------------


def _refund_text(value: str | None, *, field: str, missing: Any, too_long: Any, limit: int) -> str:
    """A required free text of a refund, stripped: ValidationFailed naming ``field``."""
    text = (value or "").strip()
    if not text:
        raise ValidationFailed(missing, field=field)
    if len(text) > limit:
        raise ValidationFailed(too_long, field=field)
    return text


def _refund_owed(account_id: int) -> tuple[int, Decimal]:
    """The account's unpaid bills: how many, and what they owe today with their late fee
    (an approved waiver subtracted) — what its balance pays before anything is refunded."""
    rows = open_bills(account_ids=[account_id], as_of=timezone.localdate())
    return len(rows), fen_to_yuan(sum(r.outstanding_fen + r.late_fee_fen for r in rows))


def balance_refund_request(
    *,
    actor: Any,
    account_id: int,
    channel: str,
    reference: str,
    reason: str,
    idempotency_key: str,
    amount: Decimal | str | None = None,
) -> RefundRequest:
    """销户退费申请: ask for a closed account's credit balance to be paid back. The request
    waits (待审批) for another person to decide it (:func:`balance_refund_decide`); it moves
    no money and changes no balance, and no payment list, balance or statement counts it.

    ``channel`` is the method (bank transfer or cash), ``reference`` the transfer's serial
    or the cash voucher's number, ``reason`` why. ``amount`` defaults to what the balance
    leaves after the account's unpaid bills and their late fee (they are paid first) and
    may not exceed it. Refused for an account that is not closed, has no credit, owes more
    than its balance, or already has a request waiting. Read under the account lock (its
    balance row), in one transaction with its audit row (``refundrequest.request``). A
    repeated ``idempotency_key`` returns the request already made. Needs a signed-in
    person holding ``billing.add_refundrequest`` (counter and billing clerks)."""
    require_staff_perm(actor, PERM_REFUND_REQUEST)
    key = _idempotency_key(idempotency_key)
    if channel not in REFUND_CHANNELS:
        raise ValidationFailed(_("Choose how the money is paid back."), field="channel")
    reference = _refund_text(
        reference,
        field="reference",
        missing=_("Give the reference of the bank transfer or of the cash voucher."),
        too_long=_("The reference is longer than 100 characters."),
        limit=100,
    )
    reason = _refund_text(
        reason,
        field="reason",
        missing=_("Give the reason for the refund."),
        too_long=_("The reason is longer than 300 characters."),
        limit=300,
    )
    wanted = None if amount in (None, "") else parse_amount(amount)
    if not Account.objects.filter(pk=account_id).exists():
        raise NotFound(_("No such account."), field="account")
    try:
        with transaction.atomic():
            balance = lock_balance(account_id)
            existing = RefundRequest.objects.filter(idempotency_key=key).first()
            if existing is not None:
                return _same_account(existing, account_id)
            account = Account.objects.get(pk=account_id)
            if account.status != AccountStatus.CLOSED:
                raise Conflict(_("Only a closed account's balance (销户退费) is refunded."), field="account")
            if RefundRequest.objects.filter(
                account_id=account_id, status=RefundRequestStatus.PENDING
            ).exists():
                raise Conflict(
                    _("A refund of this account already waits for approval: it is decided first."),
                    field="account",
                )
            before = balance.amount
            if before <= 0:
                raise Conflict(_("The account has no balance to refund."), field="amount")
            count, owed = _refund_owed(account_id)
            available = before - owed
            if available == 0:
                raise Conflict(_("The account has no balance to refund."), field="amount")
            if available < 0:
                raise Conflict(
                    _("The account still owes %(count)s bill(s) (%(amount)s yuan): they are paid first.")
                    % {"count": count, "amount": owed - before},
                    field="account",
                )
            value = available if wanted is None else wanted
            if value > available:
                message = (
                    _("The refund cannot exceed the balance (%(balance)s yuan).") % {"balance": before}
                    if not count
                    else _(
                        "The refund cannot exceed what the balance leaves after the unpaid bills "
                        "(%(amount)s yuan)."
                    )
                    % {"amount": available}
                )
                raise ValidationFailed(message, field="amount")
            request = RefundRequest.objects.create(
                account_id=account_id,
                amount=value,
                channel=channel,
                reference=reference,
                reason=reason,
                idempotency_key=key,
                requested_by=person_name(actor)[:150],
                requested_by_user=actor,
                requested_at=timezone.now(),
            )
            audit_record(
                actor=actor,
                obj=request,
                action="refundrequest.request",
                after={
                    **snapshot(request, ["account_id", "amount", "channel", "reference", "status"]),
                    "balance": str(before),
                    "owed": str(owed),
                },
                reason=reason,
            )
    except IntegrityError:
        # The same key committed meanwhile on another account's lock (two workers).
        existing = RefundRequest.objects.filter(idempotency_key=key).first()
        if existing is None:
            raise
        return _same_account(existing, account_id)
    return request


def balance_refund_decide(*, actor: Any, refund_request_id: int, approve: bool, note: str) -> RefundRequest:
    """Approve or reject a pending refund request with the reason (审批意见, required). The
    decider holds ``billing.change_refundrequest`` (service and marketing managers, as for
    late-fee waivers) and is never the requester — whatever roles the requester holds.

    Approval pays the money back (:func:`_balance_refund_execute`): under the account lock
    (the balance row, as a payment takes it), then the request's row, in one transaction
    with the refund row, the balance and the audit rows (``refundrequest.approve``,
    ``balance.refund``). A refund the account no longer allows (its balance fell below the
    amount, a bill it cannot pay) is refused and nothing is kept: the request stays
    pending, to be rejected. Two approvals at once execute once: the second waits for the
    lock, then finds the request decided (Conflict). Rejection moves no money
    (``refundrequest.reject``)."""
    require_staff_perm(actor, PERM_REFUND_DECIDE)
    note = _refund_text(
        note,
        field="note",
        missing=_("Give the reason for the decision."),
        too_long=_("The reason is longer than 300 characters."),
        limit=REFUND_NOTE_MAX,
    )
    account_id = (
        RefundRequest.objects.filter(pk=refund_request_id).values_list("account_id", flat=True).first()
    )
    if account_id is None:
        raise NotFound(_("No such refund request."))
    with transaction.atomic():
        balance = lock_balance(account_id)
        request = RefundRequest.objects.select_for_update().get(pk=refund_request_id)
        if request.status == RefundRequestStatus.WITHDRAWN:
            raise Conflict(_("This refund request was withdrawn by its requester."))
        if request.status != RefundRequestStatus.PENDING:
            raise Conflict(_("This refund request has already been decided."))
        if request.requested_by_user_id == actor.pk:
            raise PermissionDenied(_("Another person must decide a refund you requested."))
        fields = ["status", "decided_by", "decided_by_user_id", "decided_at", "decision_note", "payment_id"]
        before = snapshot(request, fields)
        now = timezone.now()
        request.decided_by = person_name(actor)[:150]
        request.decided_by_user = actor
        request.decided_at = now
        request.decision_note = note
        if approve:
            request.payment = _balance_refund_execute(actor=actor, request=request, balance=balance, now=now)
            request.status = RefundRequestStatus.APPROVED
        else:
            request.status = RefundRequestStatus.REJECTED
        request.save(
            update_fields=[
                "status",
                "decided_by",
                "decided_by_user",
                "decided_at",
                "decision_note",
                "payment",
            ]
        )
        audit_record(
            actor=actor,
            obj=request,
            action="refundrequest.approve" if approve else "refundrequest.reject",
            before=before,
            after={
                **snapshot(request, fields),
                **({"refund": request.payment.number} if request.payment is not None else {}),
            },
            reason=note,
        )
    return request


def balance_refund_withdraw(*, actor: Any, refund_request_id: int) -> RefundRequest:
    """撤回: the requester takes back their own refund request while it is still pending
    (nobody has approved, rejected or paid it). It ends *withdrawn* (已撤回), undecided,
    with the time of the withdrawal, in one transaction with its audit row
    (``refundrequest.withdraw``).

    A pending request reserves no money (the balance is not touched until an approval pays
    it back), so nothing is given back to the balance; what the withdrawal releases is the
    account's one waiting request (``refund_request_one_pending``): the account may be
    asked for again, and the request leaves the approvers' queue and the customer's
    "being approved" notice.

    Only the requester may withdraw, holding ``billing.add_refundrequest`` (the permission
    they requested it with): anybody else — another clerk, an approver, a customer — is
    refused (PermissionDenied), whatever the request's state. A request already approved
    or rejected is refused (Conflict); withdrawing one's own withdrawn request again (a
    double click) returns it as it is. Takes the account lock, then the request's row, as
    a decision does, so a withdrawal and an approval at the same moment are one after the
    other: the second finds the request no longer pending."""
    require_staff_perm(actor, PERM_REFUND_REQUEST)
    account_id = (
        RefundRequest.objects.filter(pk=refund_request_id).values_list("account_id", flat=True).first()
    )
    if account_id is None:
        raise NotFound(_("No such refund request."))
    with transaction.atomic():
        lock_balance(account_id)
        request = RefundRequest.objects.select_for_update().get(pk=refund_request_id)
        if request.requested_by_user_id != actor.pk:
            raise PermissionDenied(_("Only the person who requested a refund may withdraw it."))
        if request.status == RefundRequestStatus.WITHDRAWN:
            return request
        if request.status != RefundRequestStatus.PENDING:
            raise Conflict(_("This refund request has already been decided: it can no longer be withdrawn."))
        fields = ["status", "withdrawn_at"]
        before = snapshot(request, fields)
        request.status = RefundRequestStatus.WITHDRAWN
        request.withdrawn_at = timezone.now()
        request.save(update_fields=fields)
        audit_record(
            actor=actor,
            obj=request,
            action="refundrequest.withdraw",
            before=before,
            after={
                **snapshot(request, fields),
                "account_id": request.account_id,
                "amount": str(request.amount),
            },
        )
    return request


def _balance_refund_execute(
    *, actor: Any, request: RefundRequest, balance: AccountBalance, now: dt.datetime
) -> Payment:
    """Pay an approved request's amount back; the caller holds the account lock (``balance``)
    and the request's row. Recorded as a refund row of the payments (``kind`` REFUND, the
    amount negative, ``channel`` the method, ``external_ref`` the reference, the reason), so
    it shows in every payment history and in the account statement.

    Refused (Conflict, nothing kept) for an account that is not closed (销户 is final, so
    the status read stays true), that still owes a bill after its balance paid what it
    could (``balances_apply``, run here for an account that owes: a closed prepaid
    account's bill is otherwise paid by the nightly check), or whose balance no longer
    covers the amount. The refund row's key is the request's (``refundrequest:<id>``):
    one request, one refund."""
    account_id = request.account_id
    key = f"refundrequest:{request.pk}"
    existing = Payment.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    account = Account.objects.get(pk=account_id)
    if account.status != AccountStatus.CLOSED:
        raise Conflict(_("Only a closed account's balance (销户退费) is refunded."), field="account")
    unpaid = unpaid_bills(Bill.objects.filter(account_id=account_id))
    owed = unpaid.aggregate(count=Count("pk"), amount=Sum("outstanding"))
    if owed["count"] and balance.amount > 0:
        # The balance pays the bills first, here and now (a closed prepaid account's
        # bill would otherwise wait for the nightly check); the lock is already ours.
        _balances_apply([account_id], actor)
        balance = lock_balance(account_id)
        owed = unpaid.aggregate(count=Count("pk"), amount=Sum("outstanding"))
    if owed["count"]:
        raise Conflict(
            _("The account still owes %(count)s bill(s) (%(amount)s yuan): they are paid first.")
            % {"count": owed["count"], "amount": Decimal(owed["amount"]).quantize(ZERO)},
            field="account",
        )
    before = balance.amount
    if before <= 0:
        raise Conflict(_("The account has no balance to refund."), field="amount")
    if request.amount > before:
        raise Conflict(
            _(
                "The balance (%(balance)s yuan) no longer covers this refund: reject it and "
                "request the refund again."
            )
            % {"balance": before},
            field="amount",
        )
    refund = Payment.objects.create(
        number=f"TF{next_number(REFUND_SEQUENCE):010d}",
        kind=PaymentKind.REFUND,
        account_id=account_id,
        channel=request.channel,
        amount=-request.amount,
        received_at=now,
        idempotency_key=key,
        external_ref=request.reference,
        posted_by=actor_label(actor)[:150],
        reason=request.reason,
    )
    balance.amount = before - request.amount
    balance.save(update_fields=["amount", "updated_at"])
    audit_record(
        actor=actor,
        obj=refund,
        action="balance.refund",
        before={"balance": str(before)},
        after={
            **snapshot(
                refund,
                ["number", "kind", "account_id", "channel", "amount", "received_at", "external_ref"],
            ),
            "balance": str(balance.amount),
            "refund_request": request.pk,
            "requested_by": request.requested_by,
        },
        reason=request.reason,
    )
    return refund


def balance_settle(*, account_id: int, actor: Any, cause: str = "") -> None:
    """After an account's balance or bills changed outside a payment (a reversal, a refund
    credited): a prepaid account is re-checked by the prepaid service once the transaction
    commits (a failure of that check is logged, the change stands); any other account's
    credit balance pays its unpaid bills at once (rather than the bills running late fees
    beside the customer's own money). ``cause`` names the change in those logs."""
    if Account.objects.filter(pk=account_id, is_prepaid=True).exists():
        _after_commit(
            functools.partial(_after_prepaid_payment, account_id, actor),
            what="prepaid check",
            account_ids=[account_id],
            cause=cause,
        )
    else:
        balances_apply(account_ids=[account_id], actor=actor)
        _apply_after_commit([account_id], actor, cause=cause)  # bills issued meanwhile (see there)


#: Accounts with a credit per transaction of :func:`balances_apply` (their rows stay locked
#: until it commits), and balance rows per UPDATE (Django's bulk update is one CASE over
#: the rows given: its cost grows with the square of their number).
APPLY_CHUNK = 1000
UPDATE_BATCH = 200
#: Ids per statement when ``balances_apply`` is given a list of them.
SCOPE_CHUNK = 10_000


def balances_apply(*, account_ids: Iterable[int] | QuerySet[Any], actor: Any) -> int:
    """Apply credit balances (预收) to unpaid issued bills of ``account_ids`` — called after a
    run issues bills, after a payment left a credit, after a reversal or a refund. Set-based:
    ``account_ids`` is a few ids or a query of them (a run's accounts: one statement then
    finds those with a credit among a million); the accounts with a credit are then taken
    ``APPLY_CHUNK`` at a time, each chunk one transaction: one statement locks their balance
    rows (in account order), a few load their bills; allocations and balances are written in
    bulk (one audit row per account changed). Each account's allocations belong to its
    latest posted payment (a reversal of that payment takes them back).

    A prepaid (费控) account's balance pays its daily charges; it is taken here only when the
    account owes a bill (one of its postpaid days, before or after a switch of mode), and
    then pays only the bills it covers in full (with their late fee), oldest first — a bill
    is not half-paid with the money the customer put by for their electricity. A closed
    account's balance pays as far as it goes (nothing is left to prepay; the rest is
    refunded, 销户退费). The prepaid service calls this for the prepaid accounts before its
    checks, so reminders see the balance after the bills (``prepaid_check_balances``,
    ``prepaid_after_payment``). Returns the number of allocations written."""
    if isinstance(account_ids, QuerySet):
        scopes: list[Any] = [account_ids]
    else:
        ids = sorted({int(i) for i in account_ids})
        scopes = [ids[n : n + SCOPE_CHUNK] for n in range(0, len(ids), SCOPE_CHUNK)]
    credit = sorted(
        account_id
        for scope in scopes
        for account_id in _with_credit(account_id__in=scope).values_list("account_id", flat=True)
    )
    chunks = (credit[n : n + APPLY_CHUNK] for n in range(0, len(credit), APPLY_CHUNK))
    return sum(_balances_apply(chunk, actor) for chunk in chunks)


def _with_credit(**scope: Any) -> QuerySet[AccountBalance]:
    """The balances with a credit that pays bills: a postpaid account's; a prepaid account's
    only while it owes a bill (its balance otherwise pays its daily charges)."""
    owes = Exists(unpaid_bills(Bill.objects.filter(account_id=OuterRef("account_id"))))
    return AccountBalance.objects.filter(Q(account__is_prepaid=False) | owes, amount__gt=0, **scope)


def _whole_bills_only(account: Account) -> bool:
    """An open prepaid account's balance pays only the bills it covers in full: it is the
    money put by for the daily charges (closed: nothing is left to prepay)."""
    return account.is_prepaid and account.status != AccountStatus.CLOSED


def _balances_apply(ids: list[int], actor: Any) -> int:
    with transaction.atomic():
        # Lock, then read: a row a payment holds is waited for, and PostgreSQL checks
        # ``amount > 0`` again on the row as that payment committed it (a credit used
        # meanwhile drops out). A credit a payment adds to a row at zero (or a new row) is
        # not seen here: that payment applies it itself once committed (_apply_after_commit).
        balances = {
            b.account_id: b
            for b in _with_credit(account_id__in=ids)
            .select_for_update(of=("self",))
            .select_related("account")
            .order_by("account_id")
        }
        if not balances:
            return 0
        candidates = list(balances)
        today = timezone.localdate()
        now = timezone.now()  # after the locks, as in payments_post_many
        ledger = _Ledger(candidates, today)
        billed = [a for a in candidates if ledger.bills.get(a)]
        if not billed:
            return 0
        latest = dict(
            Payment.objects.filter(
                account_id__in=billed, kind=PaymentKind.PAYMENT, status=PaymentStatus.POSTED
            )
            .order_by()
            .values_list("account_id")
            .annotate(last=Max("pk"))
        )
        rows: list[PaymentAllocation] = []
        changed: list[tuple[AccountBalance, Decimal, list[int]]] = []
        for account_id in billed:
            balance = balances[account_id]
            payment_id = latest.get(account_id)
            if payment_id is None:
                continue
            result = ledger.allocate(
                account_id,
                yuan_to_fen(balance.amount),
                today,
                payment_id=payment_id,
                whole_bills=_whole_bills_only(balance.account),
            )
            if not result.allocations:
                continue
            rows.extend(_allocation_rows(payment_id, result, now))
            changed.append((balance, balance.amount, [a.bill_id for a in result.allocations]))
            balance.amount = fen_to_yuan(result.balance_fen)
            balance.updated_at = now
        PaymentAllocation.objects.bulk_create(rows)
        _waivers_use(ledger.waivers_used, now=now, actor=actor)
        AccountBalance.objects.bulk_update(
            [c[0] for c in changed], ["amount", "updated_at"], batch_size=UPDATE_BATCH
        )
        for balance, before, bills in changed:
            audit_record(
                actor=actor,
                obj=balance,
                action="balance.apply",
                before={"amount": str(before)},
                after={"amount": str(balance.amount), "bills": bills},
            )
    return len(rows)


def _apply_after_commit(account_ids: Iterable[int], actor: Any, *, cause: str = "") -> None:
    """Once the transaction commits, let the credit of ``account_ids`` pay bills issued
    meanwhile. A run's issue and a payment on one account do not see each other's
    uncommitted rows: the payment may read the ledger before the issue commits (and keep
    its money as credit) while the issue's :func:`balances_apply`, after the issue's
    commit, runs before the payment commits (and sees no credit). Each applying after its
    own commit, the later of the two sees both. A failure here is logged: the payment
    stands."""
    ids = sorted(set(account_ids))
    if ids:
        _after_commit(
            functools.partial(balances_apply, account_ids=ids, actor=actor),
            what="applying the credit",
            account_ids=ids,
            cause=cause,
        )


# --- the online-payment callback ------------------------------------------------------------


def sign_callback(*, secret: str, raw_body: bytes) -> str:
    """HMAC-SHA256 of the raw body with the channel's secret, lowercase hex."""
    return hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()


def _callback_log(
    *,
    channel: str,
    raw_body: bytes,
    remote_addr: str,
    outcome: str,
    detail: str = "",
    payment: Payment | None = None,
) -> PaymentCallbackLog:
    return PaymentCallbackLog.objects.create(
        channel=channel[:20],
        received_at=timezone.now(),
        remote_addr=(remote_addr or "")[:60],
        body=raw_body.decode("utf-8", errors="replace")[:10_000],
        outcome=outcome,
        detail=detail[:300],
        payment=payment,
    )


def _reject(
    *,
    channel: str,
    raw_body: bytes,
    remote_addr: str,
    status: int,
    code: str,
    message: str,
    field: str | None,
) -> tuple[int, dict[str, Any]]:
    log = _callback_log(
        channel=channel,
        raw_body=raw_body,
        remote_addr=remote_addr,
        outcome="rejected",
        detail=f"{code}: {message}",
    )
    audit_record(
        actor=f"callback:{channel}"[:150],
        obj=log,
        action="payment.callback_rejected",
        after={"code": code, "message": message, "remote_addr": remote_addr},
    )
    logger.warning("payment callback rejected: channel=%s from=%s code=%s", channel, remote_addr, code)
    return status, {"code": code, "message": message, "field": field}


def payment_callback_receive(
    *, channel: str, raw_body: bytes, signature: str, remote_addr: str
) -> tuple[int, dict[str, Any]]:
    """An online-payment notification (WeChat / Alipay / 网上国网): verify the HMAC-SHA256
    signature (hex) with the channel's secret from ``settings.GRIDCARE_PAYMENT_SECRETS``,
    parse ``{"account", "amount", "txn_id", "paid_at"}`` and post once under the key
    ``"{channel}:{txn_id}"``. Every callback is logged; rejects are also audited and logged
    as a warning. Returns ``(HTTP status, JSON body)``."""

    def reject(status: int, code: str, message: str, field: str | None) -> tuple[int, dict[str, Any]]:
        return _reject(
            channel=channel,
            raw_body=raw_body,
            remote_addr=remote_addr,
            status=status,
            code=code,
            message=message,
            field=field,
        )

    secrets: dict[str, str] = getattr(settings, "GRIDCARE_PAYMENT_SECRETS", {}) or {}
    secret = secrets.get(channel)
    online = {"wechat", "alipay", "wsgw"}
    if channel not in online or not secret:
        return reject(400, "unknown_channel", "Unknown channel.", "channel")
    expected = sign_callback(secret=secret, raw_body=raw_body)
    # As bytes: compare_digest refuses str with non-ASCII characters (a forged header).
    given = (signature or "").strip().lower().encode("utf-8", "replace")
    if not hmac.compare_digest(expected.encode("ascii"), given):
        return reject(401, "bad_signature", "Bad signature.", "signature")
    try:
        data = json.loads(raw_body.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except (ValueError, UnicodeDecodeError):
        return reject(400, "bad_body", "The body is not a JSON object.", None)
    for name in ("account", "amount", "txn_id", "paid_at"):
        if not isinstance(data.get(name), str) or not data[name].strip():
            return reject(400, "validation_failed", f"Missing field {name}.", name)
    paid_at = parse_datetime(data["paid_at"])
    if paid_at is None or timezone.is_naive(paid_at):
        return reject(
            400, "validation_failed", "paid_at must be an ISO 8601 time with its offset.", "paid_at"
        )
    account_id = Account.objects.filter(number=data["account"].strip()).values_list("pk", flat=True).first()
    if account_id is None:
        return reject(400, "unknown_account", "Unknown account.", "account")
    key = f"{channel}:{data['txn_id'].strip()}"
    try:
        payment, created = _payment_post(
            actor=f"callback:{channel}",
            account_id=account_id,
            amount=data["amount"],
            channel=channel,
            idempotency_key=key,
            received_at=paid_at,
            external_ref=data["txn_id"].strip()[:100],
        )
    except (ValidationFailed, Conflict, NotFound) as exc:
        return reject(400, exc.code, str(exc.message), exc.field)
    outcome = "accepted" if created else "repeat"
    _callback_log(
        channel=channel,
        raw_body=raw_body,
        remote_addr=remote_addr,
        outcome=outcome,
        detail=payment.number,
        payment=payment,
    )
    return 200, {"status": outcome, "receipt": payment.number, "amount": str(payment.amount)}
