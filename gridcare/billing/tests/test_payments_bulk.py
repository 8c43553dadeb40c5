"""Batched posting (bank result files, balances after a run): same result as one by one,
queries that do not grow with the number of payments (apart from one audit row each)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gridcare.billing.models import AccountBalance, Payment, PaymentAllocation
from gridcare.billing.selectors.bills import bill_outstanding
from gridcare.billing.services.payments import balances_apply, payment_item, payment_post, payments_post_many
from gridcare.billing.services.withholding import withholding_export, withholding_import
from gridcare.billing.tests.factories_payments import ensure_policy, overdue_bill
from gridcare.core.errors import Conflict, ValidationFailed
from gridcare.customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
TZ = dt.timezone(dt.timedelta(hours=8))
PAID = dt.datetime(2026, 11, 25, 10, tzinfo=TZ)


@pytest.fixture(autouse=True)
def _policy(db: None) -> None:
    ensure_policy()


def test_two_payments_of_one_account_in_a_batch_allocate_in_turn() -> None:
    account = AccountFactory()
    old = overdue_bill(
        account=account, period=dt.date(2026, 9, 1), amount="100.00", due_date=dt.date(2026, 11, 30)
    )
    new = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="100.00", due_date=dt.date(2026, 11, 30)
    )
    items = [
        payment_item(
            account_id=account.pk,
            amount="80.00",
            channel="bank_withholding",
            idempotency_key=k,
            received_at=PAID,
        )
        for k in ("b1", "b2")
    ]
    out = payments_post_many(actor="t", items=items)
    assert [o[1] for o in out if not isinstance(o, Conflict)] == [True, True]
    first, second = (o[0] for o in out if not isinstance(o, Conflict))
    assert [(a.bill_id, a.amount) for a in first.allocations.order_by("bill__period")] == [
        (old.pk, Decimal("80.00"))
    ]
    assert [(a.bill_id, a.amount) for a in second.allocations.order_by("bill__period")] == [
        (old.pk, Decimal("20.00")),
        (new.pk, Decimal("60.00")),
    ]
    assert bill_outstanding(new) == Decimal("40.00")
    assert first.number != second.number


def test_a_bill_paid_in_two_parts_of_one_batch_is_charged_the_minimum_once() -> None:
    # 52.00 × 3 days × 1‰ = 0.156 → the 1.00 minimum, once for the bill
    account = AccountFactory()
    bill = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 22)
    )
    items = [
        payment_item(
            account_id=account.pk,
            amount=amount,
            channel="bank_withholding",
            idempotency_key=k,
            received_at=PAID,
        )
        for k, amount in (("m1", "10.00"), ("m2", "43.00"))
    ]
    payments_post_many(actor="t", items=items)
    rows = PaymentAllocation.objects.filter(bill=bill).order_by("pk")
    assert [(a.amount, a.late_fee) for a in rows] == [
        (Decimal("9.00"), Decimal("1.00")),
        (Decimal("43.00"), Decimal("0.00")),
    ]
    assert bill_outstanding(bill) == Decimal("0.00")


def test_batch_repeat_and_conflict_per_item() -> None:
    a, b = AccountFactory(), AccountFactory()
    done = payment_post(actor="t", account_id=a.pk, amount="5.00", channel="wechat", idempotency_key="k1")
    items = [
        payment_item(account_id=a.pk, amount="5.00", channel="wechat", idempotency_key="k1"),
        payment_item(account_id=b.pk, amount="5.00", channel="wechat", idempotency_key="k2"),
    ]
    out = payments_post_many(actor="t", items=items)
    assert out[0] == (done, False)
    assert isinstance(out[1], tuple)
    assert out[1][1] is True
    conflict = payments_post_many(
        actor="t",
        items=[payment_item(account_id=b.pk, amount="5.00", channel="wechat", idempotency_key="k1")],
    )
    assert isinstance(conflict[0], Conflict)
    with pytest.raises(ValidationFailed):
        payments_post_many(actor="t", items=[items[1], items[1]])
    assert Payment.objects.count() == 2


def _batch_with(lines: int) -> tuple[Any, str]:
    for _ in range(lines):
        account = AccountFactory()
        overdue_bill(
            account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2099, 1, 1)
        )
    batch, text = withholding_export(actor="cli", bank="ICBC")
    result = ["line,account,amount,result,bank_ref"]
    for row in text.splitlines()[1:]:
        line, account, _name, amount = row.split(",")
        result.append(f"{line},{account},{amount},success,R{line}")
    return batch, "\n".join(result) + "\n"


def test_withholding_import_queries_grow_only_by_one_audit_row_per_payment() -> None:
    # the receipt sequence exists already (its creation is a one-off)
    payment_post(
        actor="t", account_id=AccountFactory().pk, amount="1.00", channel="wechat", idempotency_key="x"
    )
    counts = {}
    for n in (3, 6):  # the second export lists only the n new accounts (the first are paid)
        batch, content = _batch_with(n)
        with CaptureQueriesContext(connection) as ctx:
            result = withholding_import(actor="cli", batch_number=batch.number, content=content)
        assert result.posted == n
        counts[n] = len(ctx.captured_queries)
    assert counts[6] - counts[3] == 3


def test_balances_apply_in_bulk() -> None:
    accounts = [AccountFactory() for _ in range(3)]
    for acc in accounts:
        payment_post(
            actor="t",
            account_id=acc.pk,
            amount="100.00",
            channel="counter_cash",
            idempotency_key=f"pre-{acc.pk}",
            received_at=PAID,
        )
        overdue_bill(account=acc, period=dt.date(2026, 10, 1), amount="60.00", due_date=dt.date(2099, 1, 1))
    with CaptureQueriesContext(connection) as ctx:
        assert balances_apply(account_ids=[a.pk for a in accounts], actor="run") == 3
    # find, lock, latest payments, the policy, bills (+ waivers), insert allocations, update
    # balances: fixed; plus one audit row per account.
    fixed = len(ctx.captured_queries) - 3
    assert fixed <= 12
    assert [AccountBalance.objects.get(account=a).amount for a in accounts] == [Decimal("40.00")] * 3
    assert PaymentAllocation.objects.count() == 3
