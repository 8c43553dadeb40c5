"""Which payment used a late-fee waiver (违约金减免): recorded with the payment, in its
transaction under the account lock (``LateFeeWaiver.used_by`` / ``used_at``) — not inferred
by comparing the decision's time with the allocations' times, which is wrong as soon as two
app servers' clocks disagree (docs/billing-payments.md "Late-fee waivers")."""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.utils import timezone

from gridcare.billing import migrations as billing_migrations
from gridcare.billing.choices import PaymentChannel
from gridcare.billing.models import LateFeeWaiver, Payment, PaymentAllocation
from gridcare.billing.selectors.payments import open_bills
from gridcare.billing.services.late_fees import late_fee_waiver_decide, late_fee_waiver_request
from gridcare.billing.services.payments import (
    balances_apply,
    payment_item,
    payment_post,
    payment_reverse,
    payments_post_many,
)
from gridcare.billing.tests.factories_payments import business_account, ensure_policy, overdue_bill
from gridcare.core.models import AuditEvent

pytestmark = pytest.mark.django_db
TZ = dt.timezone(dt.timedelta(hours=8))
PAY_DAY = dt.date(2026, 1, 10)  # 21 days after the due date: 10,000.00 × 52‰ = 520.00 late fee


@pytest.fixture(autouse=True)
def _policy(db: None) -> None:
    ensure_policy()


@pytest.fixture
def people(make_user: Any) -> dict[str, Any]:
    return {
        "clerk": make_user(roles=["counter_clerk"], username="clerk"),
        "manager": make_user(roles=["service_manager"], username="manager"),
    }


@pytest.fixture
def bill() -> Any:
    """A 一般工商业 bill of 10,000.00 due 2025-12-20, paid in parts on 2026-01-10."""
    return overdue_bill(
        account=business_account(),
        period=dt.date(2025, 11, 1),
        amount="10000.00",
        due_date=dt.date(2025, 12, 20),
    )


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=TZ)


def approved_waiver(people: dict[str, Any], bill: Any, amount: str = "30.00") -> LateFeeWaiver:
    waiver = late_fee_waiver_request(actor=people["clerk"], bill_id=bill.pk, amount=amount, reason="系统故障")
    return late_fee_waiver_decide(actor=people["manager"], waiver_id=waiver.pk, approve=True)


def pay(people: dict[str, Any], bill: Any, key: str, *, received_at: dt.datetime | None = None) -> Payment:
    return payment_post(
        actor=people["clerk"],
        account_id=bill.account_id,
        amount="1000.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key=key,
        received_at=received_at or at(PAY_DAY),
    )


def waived(payment: Payment) -> Decimal:
    return PaymentAllocation.objects.get(payment=payment).late_fee_waived


def waiver_left(bill: Any) -> int:
    [row] = open_bills(account_ids=[bill.account_id], as_of=PAY_DAY)
    return row.waiver_fen


# --- the old inference going wrong ----------------------------------------------------------


def test_a_waiver_approved_on_a_server_whose_clock_is_behind_still_serves_the_next_payment(
    people: dict[str, Any], bill: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: a waiver counted as used when it was decided before the bill's last
    allocation's time. The payment was posted on a server 10 minutes fast, the approval
    after it on one that is right: the decision's time came out earlier than the payment's,
    so the waiver counted as used by a payment that never had it, and lapsed."""
    # Given a first payment posted on a server whose clock is 10 minutes fast
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + dt.timedelta(minutes=10))
    first = pay(people, bill, "p1")
    monkeypatch.setattr(timezone, "now", real_now)
    # When the waiver is approved afterwards on another server (its clock right)
    waiver = approved_waiver(people, bill)
    assert waiver.decided_at < PaymentAllocation.objects.get(payment=first).created_at

    # Then the waiver is still unused, and the next payment gets it
    assert waived(first) == Decimal("0.00")
    assert waiver_left(bill) == 3_000
    second = pay(people, bill, "p2")
    assert waived(second) == Decimal("30.00")
    waiver.refresh_from_db()
    assert waiver.used_by == second
    assert waiver_left(bill) == 0


def test_a_waiver_approved_on_a_server_whose_clock_is_fast_is_not_used_twice(
    people: dict[str, Any], bill: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other way round: approved on a server 10 minutes fast, then used by a payment on
    a right one — whose allocation time came out before the decision's, so the waiver
    stayed "unused" after that payment and lowered the next payment's fee again."""
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + dt.timedelta(minutes=10))
    waiver = approved_waiver(people, bill)
    monkeypatch.setattr(timezone, "now", real_now)

    first = pay(people, bill, "p1")
    second = pay(people, bill, "p2")

    assert (waived(first), waived(second)) == (Decimal("30.00"), Decimal("0.00"))
    waiver.refresh_from_db()
    assert waiver.used_by == first


def test_a_counter_payment_received_before_the_decision_but_posted_after_it_uses_the_waiver(
    people: dict[str, Any], bill: Any
) -> None:
    # Given the waiver approved now, and a payment the customer made at 08:00 on the pay
    # day that the clerk enters afterwards (its receipt time is before the decision)
    waiver = approved_waiver(people, bill)
    payment = pay(people, bill, "late-entry", received_at=at(PAY_DAY, hour=8))
    assert payment.received_at < waiver.decided_at

    # Then that payment — the first posted after the approval — used the waiver, once
    waiver.refresh_from_db()
    assert (waiver.used_by, waived(payment)) == (payment, Decimal("30.00"))
    assert waiver.used_at == PaymentAllocation.objects.get(payment=payment).created_at
    assert waiver_left(bill) == 0
    event = AuditEvent.objects.get(action="latefeewaiver.use", object_id=str(waiver.pk))
    assert (event.before, event.after["used_by"]) == ({"used_by": None}, payment.number)


# --- the rule kept --------------------------------------------------------------------------


def test_a_waiver_serves_the_next_payment_only_and_a_larger_part_lapses(
    people: dict[str, Any], bill: Any
) -> None:
    # 1,000.00 of principal paid on 2026-01-10 carries 52.00 of late fee: a 100.00 waiver
    # covers it all and the rest lapses; the second payment pays its own fee in full
    waiver = approved_waiver(people, bill, "100.00")
    first = pay(people, bill, "p1")
    second = pay(people, bill, "p2")

    first_alloc = PaymentAllocation.objects.get(payment=first)
    assert (first_alloc.amount, first_alloc.late_fee, first_alloc.late_fee_waived) == (
        Decimal("1000.00"),
        Decimal("0.00"),
        Decimal("52.00"),
    )
    assert waived(second) == Decimal("0.00")
    waiver.refresh_from_db()
    assert waiver.used_by == first


def test_two_waivers_approved_before_a_payment_are_used_by_it_together(
    people: dict[str, Any], bill: Any
) -> None:
    w1 = approved_waiver(people, bill, "20.00")
    w2 = approved_waiver(people, bill, "10.00")
    payment = pay(people, bill, "p1")
    assert waived(payment) == Decimal("30.00")
    assert set(LateFeeWaiver.objects.filter(pk__in=[w1.pk, w2.pk]).values_list("used_by", flat=True)) == {
        payment.pk
    }


def test_a_pending_or_rejected_waiver_is_never_used(people: dict[str, Any], bill: Any) -> None:
    pending = late_fee_waiver_request(actor=people["clerk"], bill_id=bill.pk, amount="50.00", reason="待审")
    rejected = late_fee_waiver_request(actor=people["clerk"], bill_id=bill.pk, amount="50.00", reason="驳回")
    late_fee_waiver_decide(actor=people["manager"], waiver_id=rejected.pk, approve=False)
    payment = pay(people, bill, "p1")
    assert waived(payment) == Decimal("0.00")
    assert not LateFeeWaiver.objects.filter(pk__in=[pending.pk, rejected.pk], used_by__isnull=False).exists()


def test_two_payments_of_one_batch_the_first_uses_the_waiver(people: dict[str, Any], bill: Any) -> None:
    waiver = approved_waiver(people, bill)
    items = [
        payment_item(
            account_id=bill.account_id,
            amount="1000.00",
            channel=PaymentChannel.BANK_WITHHOLDING,
            idempotency_key=key,
            received_at=at(PAY_DAY),
        )
        for key in ("b1", "b2")
    ]
    (first, _), (second, _) = payments_post_many(actor="t", items=items)  # type: ignore[misc]
    assert (waived(first), waived(second)) == (Decimal("30.00"), Decimal("0.00"))
    waiver.refresh_from_db()
    assert waiver.used_by == first


def test_a_reversed_payment_gives_its_waiver_back(people: dict[str, Any], bill: Any) -> None:
    waiver = approved_waiver(people, bill)
    first = pay(people, bill, "p1")
    payment_reverse(actor=people["manager"], payment_id=first.pk, reason="银行退票")
    assert waiver_left(bill) == 3_000
    second = pay(people, bill, "p2")
    assert waived(second) == Decimal("30.00")
    waiver.refresh_from_db()
    assert waiver.used_by == second
    event = AuditEvent.objects.filter(action="latefeewaiver.use", object_id=str(waiver.pk)).latest("pk")
    assert (event.before["used_by"], event.after["used_by"]) == (first.number, second.number)


def test_a_reversed_payment_gives_its_waiver_back_even_after_a_later_payment(
    people: dict[str, Any], bill: Any
) -> None:
    """The one case where the recorded use differs from the old inference on purpose: the
    payment that used the waiver is reversed after a later payment on the bill. Before, the
    later payment's allocation (after the decision) made the waiver count as used — by
    nobody, since the reversed payment's waived fee no longer counts — and it lapsed."""
    waiver = approved_waiver(people, bill)
    first = pay(people, bill, "p1")
    pay(people, bill, "p2")
    payment_reverse(actor=people["manager"], payment_id=first.pk, reason="银行退票")

    assert waiver_left(bill) == 3_000
    third = pay(people, bill, "p3")
    assert waived(third) == Decimal("30.00")
    waiver.refresh_from_db()
    assert waiver.used_by == third


def test_a_credit_applied_to_a_bill_uses_its_waiver_for_the_payment_the_credit_came_from(
    people: dict[str, Any],
) -> None:
    # Given 1,000.00 of credit on an account (posted when it owed nothing), then an overdue
    # bill with an approved waiver that the credit has not paid yet
    account = business_account()
    credit = payment_post(
        actor="t", account_id=account.pk, amount="1000.00", channel="counter_cash", idempotency_key="credit"
    )
    bill = overdue_bill(
        account=account, period=dt.date(2025, 11, 1), amount="10000.00", due_date=dt.date(2025, 12, 20)
    )
    waiver = approved_waiver(people, bill)

    # When the credit is applied (as after a run issues bills)
    balances_apply(account_ids=[account.pk], actor="run")

    # Then the allocation belongs to the credit's payment, and so does the waiver's use
    allocation = PaymentAllocation.objects.get(bill=bill)
    assert (allocation.payment_id, allocation.late_fee_waived) == (credit.pk, Decimal("30.00"))
    waiver.refresh_from_db()
    assert waiver.used_by == credit


# --- the data migration ---------------------------------------------------------------------


def _derive() -> Any:
    [path] = Path(billing_migrations.__file__).parent.glob("*_latefeewaiver_used_by.py")
    return importlib.import_module(f"gridcare.billing.migrations.{path.stem}").derive_waiver_use


def test_the_migration_derives_the_use_of_existing_waivers_once_from_the_old_rule(
    people: dict[str, Any], bill: Any
) -> None:
    """Existing waivers get the payment the old rule implied: the first live allocation on
    the bill at or after the decision (the next payment after the approval); none when the
    bill has no live allocation since (the old rule's "unused")."""
    # Given, as before the migration: waivers without a recorded use, and allocations
    # stamped at known times — p1 at 10:00 and p2 at 11:00 on the bill, p3 (reversed) at
    # 12:00 on another bill
    before_p1 = approved_waiver(people, bill, "30.00")
    at_p2 = approved_waiver(people, bill, "20.00")
    after_last = approved_waiver(people, bill, "10.00")
    p1, p2 = pay(people, bill, "p1"), pay(people, bill, "p2")
    other_bill = overdue_bill(
        account=business_account(),
        period=dt.date(2025, 11, 1),
        amount="500.00",
        due_date=dt.date(2025, 12, 20),
    )
    reversed_only = approved_waiver(people, other_bill, "6.00")
    p3 = pay(people, other_bill, "p3")
    payment_reverse(actor=people["manager"], payment_id=p3.pk, reason="退票")
    never_paid = approved_waiver(
        people,
        overdue_bill(
            account=business_account(),
            period=dt.date(2025, 11, 1),
            amount="80.00",
            due_date=dt.date(2025, 12, 20),
        ),
        "7.00",
    )
    pending = late_fee_waiver_request(actor=people["clerk"], bill_id=bill.pk, amount="1.00", reason="待审")
    for payment, hour in ((p1, 10), (p2, 11), (p3, 12)):
        PaymentAllocation.objects.filter(payment=payment).update(created_at=at(PAY_DAY, hour))
    LateFeeWaiver.objects.update(used_by=None, used_at=None)
    for waiver, decided in (
        (before_p1, at(PAY_DAY, 9)),
        (at_p2, at(PAY_DAY, 11)),  # the same instant as p2's allocation: used by it
        (after_last, dt.datetime.combine(PAY_DAY, dt.time(11, 30), tzinfo=TZ)),
        (reversed_only, at(PAY_DAY, 9)),
    ):
        LateFeeWaiver.objects.filter(pk=waiver.pk).update(decided_at=decided)

    # When the migration's data step runs
    _derive()(apps, None)

    # Then
    uses = dict(LateFeeWaiver.objects.values_list("pk", "used_by"))
    assert uses == {
        before_p1.pk: p1.pk,
        at_p2.pk: p2.pk,
        after_last.pk: None,
        reversed_only.pk: None,
        never_paid.pk: None,
        pending.pk: None,
    }
    assert LateFeeWaiver.objects.get(pk=before_p1.pk).used_at == at(PAY_DAY, 10)
