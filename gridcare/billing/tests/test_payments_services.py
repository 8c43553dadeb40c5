"""Payment services: posting, allocation, balance, reversal, waivers, the signed callback."""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal
from typing import Any

import pytest
from django.test import override_settings

from gridcare.billing.choices import DocumentStatus, PaymentChannel, PaymentStatus
from gridcare.billing.models import (
    AccountBalance,
    LateFeeWaiver,
    Payment,
    PaymentAllocation,
    PaymentCallbackLog,
)
from gridcare.billing.selectors.bills import bill_outstanding
from gridcare.billing.selectors.payments import account_arrears, open_bills
from gridcare.billing.services import payments as payments_service
from gridcare.billing.services.late_fees import late_fee_waiver_decide, late_fee_waiver_request
from gridcare.billing.services.payments import (
    balances_apply,
    payment_callback_receive,
    payment_item,
    payment_post,
    payment_reverse,
    payments_post_many,
    sign_callback,
)
from gridcare.billing.tests.factories_bills import decided_adjustment
from gridcare.billing.tests.factories_payments import business_account, ensure_policy, overdue_bill
from gridcare.core.errors import Conflict, PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.customers.tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
TZ = dt.timezone(dt.timedelta(hours=8))
SECRETS = {"wechat": "s3cret-wechat", "alipay": "s3cret-alipay", "wsgw": "s3cret-wsgw"}


@pytest.fixture(autouse=True)
def _policy(db: None) -> None:
    ensure_policy()


@pytest.fixture
def clerk(make_user: Any) -> Any:
    return make_user(roles=["counter_clerk"], username="clerk")


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=TZ)


def allocations(payment: Payment) -> list[tuple[str, Decimal, Decimal]]:
    return [
        (a.bill.number, a.amount, a.late_fee)
        for a in payment.allocations.select_related("bill").order_by("bill__period", "bill_id")
    ]


def balance_of(account: Any) -> Decimal:
    return AccountBalance.objects.get(account=account).amount


# --- allocation ---------------------------------------------------------------------------


def test_allocation_oldest_first_across_several_bills(clerk: Any) -> None:
    account = AccountFactory()
    # Given three bills, none overdue on the payment day; created newest first on purpose.
    b3 = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="300.00", due_date=dt.date(2026, 11, 30)
    )
    b1 = overdue_bill(
        account=account, period=dt.date(2026, 8, 1), amount="100.00", due_date=dt.date(2026, 11, 30)
    )
    b2 = overdue_bill(
        account=account, period=dt.date(2026, 9, 1), amount="200.00", due_date=dt.date(2026, 11, 30)
    )
    payment = payment_post(
        actor=clerk,
        account_id=account.pk,
        amount=Decimal("350.00"),
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="k1",
        received_at=at(dt.date(2026, 11, 25)),
    )
    assert allocations(payment) == [
        (b1.number, Decimal("100.00"), Decimal("0.00")),
        (b2.number, Decimal("200.00"), Decimal("0.00")),
        (b3.number, Decimal("50.00"), Decimal("0.00")),
    ]
    assert bill_outstanding(b3) == Decimal("250.00")
    assert balance_of(account) == Decimal("0.00")
    assert payment.number.startswith("SK")
    assert payment.posted_by == "clerk"
    assert AuditEvent.objects.filter(action="payment.post", object_id=str(payment.pk)).count() == 1


def test_overpayment_is_kept_as_balance(clerk: Any) -> None:
    account = AccountFactory()
    bill = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 30)
    )
    payment_post(
        actor=clerk,
        account_id=account.pk,
        amount="100.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="k-over",
        received_at=at(dt.date(2026, 11, 25)),
    )
    assert bill_outstanding(bill) == Decimal("0.00")
    assert balance_of(account) == Decimal("48.00")


def test_balance_applied_to_new_bills_then_reversal_takes_it_back(clerk: Any, make_user: Any) -> None:
    account = AccountFactory()
    payment = payment_post(
        actor=clerk,
        account_id=account.pk,
        amount="100.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="k-pre",
        received_at=at(dt.date(2026, 11, 1)),
    )
    assert balance_of(account) == Decimal("100.00")
    bill = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="60.00", due_date=dt.date(2026, 12, 5)
    )
    assert balances_apply(account_ids=[account.pk], actor="run:2026-10") == 1
    assert bill_outstanding(bill) == Decimal("0.00")
    assert balance_of(account) == Decimal("40.00")
    # nothing to do a second time
    assert balances_apply(account_ids=[account.pk], actor="run:2026-10") == 0
    manager = make_user(roles=["service_manager"])
    payment_reverse(actor=manager, payment_id=payment.pk, reason="假币, 收回")
    assert bill_outstanding(bill) == Decimal("60.00")
    assert balance_of(account) == Decimal("0.00")


# --- idempotency ----------------------------------------------------------------------------


def test_repeated_key_posts_once(clerk: Any) -> None:
    account = AccountFactory()
    overdue_bill(account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 30))
    first = payment_post(
        actor=clerk,
        account_id=account.pk,
        amount="60.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="form-123",
        received_at=at(dt.date(2026, 11, 25)),
    )
    again = payment_post(
        actor=clerk,
        account_id=account.pk,
        amount="60.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="form-123",
        received_at=at(dt.date(2026, 11, 25)),
    )
    assert again.pk == first.pk
    assert Payment.objects.filter(account=account).count() == 1
    assert PaymentAllocation.objects.filter(payment=first).count() == 1
    assert balance_of(account) == Decimal("8.00")


def test_same_key_on_another_account_is_a_conflict(clerk: Any) -> None:
    a, b = AccountFactory(), AccountFactory()
    payment_post(
        actor=clerk,
        account_id=a.pk,
        amount="1.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="dup",
    )
    with pytest.raises(Conflict):
        payment_post(
            actor=clerk,
            account_id=b.pk,
            amount="1.00",
            channel=PaymentChannel.COUNTER_CASH,
            idempotency_key="dup",
        )
    assert not Payment.objects.filter(account=b).exists()


@pytest.mark.parametrize(
    ("amount", "field"),
    [("0", "amount"), ("-5.00", "amount"), ("1.234", "amount"), ("abc", "amount"), ("NaN", "amount")],
)
def test_bad_amount_is_refused_and_nothing_posted(clerk: Any, amount: str, field: str) -> None:
    account = AccountFactory()
    with pytest.raises(ValidationFailed) as err:
        payment_post(
            actor=clerk,
            account_id=account.pk,
            amount=amount,
            channel=PaymentChannel.COUNTER_CASH,
            idempotency_key="bad",
        )
    assert err.value.field == field
    assert not Payment.objects.exists()


def test_missing_key_and_unknown_channel_are_refused(clerk: Any) -> None:
    account = AccountFactory()
    with pytest.raises(ValidationFailed) as err:
        payment_post(
            actor=clerk, account_id=account.pk, amount="1.00", channel="counter_cash", idempotency_key=" "
        )
    assert err.value.field == "idempotency_key"
    with pytest.raises(ValidationFailed) as err:
        payment_post(actor=clerk, account_id=account.pk, amount="1.00", channel="cheque", idempotency_key="x")
    assert err.value.field == "channel"
    assert not Payment.objects.exists()


# --- late fee -------------------------------------------------------------------------------


def test_late_fee_across_year_boundary_non_residential(clerk: Any) -> None:
    # 10,000.00 due 2025-12-20 paid 2026-01-10: 11 days × 2‰ + 10 days × 3‰ = 52‰ = 520.00.
    account = business_account()
    bill = overdue_bill(
        account=account, period=dt.date(2025, 11, 1), amount="10000.00", due_date=dt.date(2025, 12, 20)
    )
    payment = payment_post(
        actor=clerk,
        account_id=account.pk,
        amount="10520.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="yb",
        received_at=at(dt.date(2026, 1, 10)),
    )
    assert allocations(payment) == [(bill.number, Decimal("10000.00"), Decimal("520.00"))]
    assert balance_of(account) == Decimal("0.00")


def test_late_fee_across_year_boundary_residential(clerk: Any) -> None:
    # Residential: 21 days × 1‰ on 10,000.00 = 210.00.
    account = AccountFactory()
    bill = overdue_bill(
        account=account, period=dt.date(2025, 11, 1), amount="10000.00", due_date=dt.date(2025, 12, 20)
    )
    payment = payment_post(
        actor=clerk,
        account_id=account.pk,
        amount="10300.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="yr",
        received_at=at(dt.date(2026, 1, 10)),
    )
    assert allocations(payment) == [(bill.number, Decimal("10000.00"), Decimal("210.00"))]
    assert balance_of(account) == Decimal("90.00")


def test_one_yuan_minimum(clerk: Any) -> None:
    # 52.00 × 3 days × 1‰ = 0.156 → under 1 yuan → 1.00.
    account = AccountFactory()
    bill = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 20)
    )
    payment = payment_post(
        actor=clerk,
        account_id=account.pk,
        amount="53.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="min",
        received_at=at(dt.date(2026, 11, 23)),
    )
    assert allocations(payment) == [(bill.number, Decimal("52.00"), Decimal("1.00"))]
    assert balance_of(account) == Decimal("0.00")


def test_minimum_counts_fees_already_collected(clerk: Any) -> None:
    # Two partial payments: the first is charged the 1.00 minimum on its 0.10 fee (a 0.90
    # top-up); a later part's own fee is charged only beyond that top-up.
    account = AccountFactory()
    bill = overdue_bill(
        account=account, period=dt.date(2026, 9, 1), amount="100.00", due_date=dt.date(2026, 10, 20)
    )
    first = payment_post(
        actor=clerk,
        account_id=account.pk,
        amount="51.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="p1",
        received_at=at(dt.date(2026, 10, 22)),
    )
    assert allocations(first) == [(bill.number, Decimal("50.00"), Decimal("1.00"))]
    second = payment_post(
        actor=clerk,
        account_id=account.pk,
        amount="50.10",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="p2",
        received_at=at(dt.date(2026, 11, 9)),
    )
    # 50.00 × 20 days × 1‰ = 1.00, less the 0.90 top-up: 0.10 (in all 1.10 = 0.10 + 1.00 accrued)
    assert allocations(second) == [(bill.number, Decimal("50.00"), Decimal("0.10"))]


def _pay(clerk: Any, account: Any, amount: str, key: str, day: dt.date) -> Payment:
    return payment_post(
        actor=clerk,
        account_id=account.pk,
        amount=amount,
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key=key,
        received_at=at(day),
    )


def test_a_bill_paid_in_two_parts_on_one_day_is_charged_the_minimum_once(clerk: Any) -> None:
    # 52.00 × 3 days × 1‰ = 0.156: paid at once, the fee is the 1.00 minimum; in two parts too.
    account = AccountFactory()
    bill = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 20)
    )
    first = _pay(clerk, account, "10.00", "s1", dt.date(2026, 11, 23))
    assert allocations(first) == [(bill.number, Decimal("9.00"), Decimal("1.00"))]
    row = first.allocations.get()
    assert (row.late_fee_topup, row.late_fee_waived) == (Decimal("0.97"), Decimal("0.00"))  # 0.03 accrued
    second = _pay(clerk, account, "43.00", "s2", dt.date(2026, 11, 23))
    assert allocations(second) == [(bill.number, Decimal("43.00"), Decimal("0.00"))]
    assert second.allocations.get().late_fee_topup == Decimal("-0.13")  # its 0.13 used the top-up
    assert bill_outstanding(bill) == Decimal("0.00")
    assert balance_of(account) == Decimal("0.00")


def test_after_reversing_the_part_that_paid_the_minimum_it_is_charged_again(
    clerk: Any, make_user: Any
) -> None:
    account = AccountFactory()
    bill = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 20)
    )
    first = _pay(clerk, account, "10.00", "s1", dt.date(2026, 11, 23))
    _pay(clerk, account, "43.00", "s2", dt.date(2026, 11, 23))
    payment_reverse(actor=make_user(roles=["service_manager"]), payment_id=first.pk, reason="假币")
    assert bill_outstanding(bill) == Decimal("9.00")
    # the fee collected on the bill is 0 again: the 9.00 pays the minimum, less nothing
    again = _pay(clerk, account, "10.00", "s3", dt.date(2026, 11, 23))
    assert allocations(again) == [(bill.number, Decimal("9.00"), Decimal("1.00"))]
    live = PaymentAllocation.objects.filter(bill=bill, reversed=False)
    assert sum(a.late_fee for a in live) == Decimal("1.00")


def test_a_back_billing_accrues_late_fee_from_its_own_due_date(clerk: Any) -> None:
    """Given a 100.00 bill due 2026-09-20 and a 1,000.00 back-billing on it due 2026-11-10,
    paid 2026-11-20 (non-residential, 2‰ a day): the bill's own part has 61 days (12.20),
    the back-billed part 10 days (20.00) — not 61 days (122.00). Money pays the earliest due
    part first; both payments in one batch allocate as posted one by one."""
    account = business_account()
    bill = overdue_bill(
        account=account, period=dt.date(2026, 8, 1), amount="100.00", due_date=dt.date(2026, 9, 20)
    )
    decided_adjustment(bill, "1000.00", due_date=dt.date(2026, 11, 10))
    before = account_arrears(user=clerk, account_number=account.number, as_of=dt.date(2026, 11, 20))
    assert (before.outstanding, before.late_fee) == (Decimal("1100.00"), Decimal("32.20"))
    assert [(b.due_date, b.parts) for b in before.bills] == [
        (dt.date(2026, 9, 20), ((dt.date(2026, 9, 20), 10_000), (dt.date(2026, 11, 10), 100_000)))
    ]
    items = [
        payment_item(
            account_id=account.pk,
            amount=amount,
            channel=PaymentChannel.COUNTER_CASH,
            idempotency_key=key,
            received_at=at(dt.date(2026, 11, 20)),
        )
        for amount, key in (("112.20", "bb1"), ("1020.00", "bb2"))
    ]
    (first, _), (second, _) = payments_post_many(actor=clerk, items=items)
    assert allocations(first) == [(bill.number, Decimal("100.00"), Decimal("12.20"))]
    assert allocations(second) == [(bill.number, Decimal("1000.00"), Decimal("20.00"))]
    assert bill_outstanding(bill) == Decimal("0.00")
    assert balance_of(account) == Decimal("0.00")


def test_after_the_bills_own_part_is_paid_the_back_billing_is_what_is_overdue(clerk: Any) -> None:
    account = business_account()
    bill = overdue_bill(
        account=account, period=dt.date(2026, 8, 1), amount="100.00", due_date=dt.date(2026, 9, 20)
    )
    _pay(clerk, account, "100.00", "on-time", dt.date(2026, 9, 15))
    decided_adjustment(bill, "1000.00", due_date=dt.date(2026, 11, 10))
    arrears = account_arrears(user=clerk, account_number=account.number, as_of=dt.date(2026, 11, 20))
    assert [(b.due_date, b.outstanding_fen, b.late_fee_fen) for b in arrears.bills] == [
        (dt.date(2026, 11, 10), 100_000, 2_000)
    ]
    # not yet due: nothing, and no minimum either
    early = account_arrears(user=clerk, account_number=account.number, as_of=dt.date(2026, 11, 10))
    assert early.late_fee == Decimal("0.00")


def test_late_fee_rates_come_from_the_policy_in_force(clerk: Any) -> None:
    from gridcare.billing.models import BillingPolicy

    base = BillingPolicy.objects.order_by("-effective_from").first()
    assert base is not None
    BillingPolicy.objects.create(
        **{
            **{f.name: getattr(base, f.name) for f in BillingPolicy._meta.concrete_fields if f.name != "id"},
            "effective_from": dt.date(2026, 11, 1),
            "late_fee_residential_permille": Decimal("2.00"),
            "late_fee_minimum": Decimal("0.00"),
        }
    )
    account = AccountFactory()
    bill = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="1000.00", due_date=dt.date(2026, 11, 20)
    )
    payment = payment_post(
        actor=clerk,
        account_id=account.pk,
        amount="1010.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="pol",
        received_at=at(dt.date(2026, 11, 25)),
    )
    # 5 days × 2‰ × 1000.00 = 10.00
    assert allocations(payment) == [(bill.number, Decimal("1000.00"), Decimal("10.00"))]


# --- reversal -------------------------------------------------------------------------------


def test_reversal_needs_a_reason_and_happens_once(clerk: Any, make_user: Any) -> None:
    account = AccountFactory()
    bill = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 30)
    )
    payment = payment_post(
        actor=clerk,
        account_id=account.pk,
        amount="52.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="r1",
        received_at=at(dt.date(2026, 11, 25)),
    )
    manager = make_user(roles=["service_manager"])
    with pytest.raises(ValidationFailed) as err:
        payment_reverse(actor=manager, payment_id=payment.pk, reason="  ")
    assert err.value.field == "reason"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.POSTED
    payment_reverse(actor=manager, payment_id=payment.pk, reason="收错户号")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REVERSED
    assert payment.reversal_reason == "收错户号"
    assert bill_outstanding(bill) == Decimal("52.00")
    assert not PaymentAllocation.objects.filter(payment=payment, reversed=False).exists()
    with pytest.raises(Conflict):
        payment_reverse(actor=manager, payment_id=payment.pk, reason="again")
    assert AuditEvent.objects.filter(action="payment.reverse", object_id=str(payment.pk)).count() == 1


def test_reversal_may_leave_a_negative_balance(clerk: Any, make_user: Any) -> None:
    account = AccountFactory()
    payment = payment_post(
        actor=clerk,
        account_id=account.pk,
        amount="100.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="neg",
    )
    # Given: 90.00 of the credit was used meanwhile (e.g. prepaid daily charges).
    AccountBalance.objects.filter(account=account).update(amount=Decimal("10.00"))
    payment_reverse(actor=make_user(roles=["service_manager"]), payment_id=payment.pk, reason="银行退票")
    assert balance_of(account) == Decimal("-90.00")


# --- waivers ------------------------------------------------------------------------------


def test_waiver_needs_another_person_with_the_permission(clerk: Any, make_user: Any) -> None:
    account = business_account()
    bill = overdue_bill(
        account=account, period=dt.date(2025, 11, 1), amount="10000.00", due_date=dt.date(2025, 12, 20)
    )
    waiver = late_fee_waiver_request(actor=clerk, bill_id=bill.pk, amount="500.00", reason="系统故障未送达")
    # the requester cannot decide, even with the permission
    both = make_user(roles=["counter_clerk", "service_manager"], username="both")
    own = late_fee_waiver_request(actor=both, bill_id=bill.pk, amount="1.00", reason="own")
    with pytest.raises(PermissionDenied):
        late_fee_waiver_decide(actor=both, waiver_id=own.pk, approve=True)
    # a clerk without change_latefeewaiver cannot decide
    with pytest.raises(PermissionDenied):
        late_fee_waiver_decide(actor=make_user(roles=["counter_clerk"]), waiver_id=waiver.pk, approve=True)
    waiver.refresh_from_db()
    assert waiver.status == DocumentStatus.PENDING
    late_fee_waiver_decide(actor=both, waiver_id=waiver.pk, approve=True)
    late_fee_waiver_decide(actor=make_user(roles=["service_manager"]), waiver_id=own.pk, approve=False)
    with pytest.raises(Conflict):
        late_fee_waiver_decide(actor=both, waiver_id=waiver.pk, approve=False)
    # the next payment's late fee is 520.00 − 500.00 = 20.00
    payment = payment_post(
        actor=clerk,
        account_id=account.pk,
        amount="10020.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="w",
        received_at=at(dt.date(2026, 1, 10)),
    )
    assert allocations(payment) == [(bill.number, Decimal("10000.00"), Decimal("20.00"))]
    assert LateFeeWaiver.objects.get(pk=waiver.pk).status == DocumentStatus.APPROVED


def test_waiver_request_validates(clerk: Any, make_user: Any) -> None:
    bill = overdue_bill(
        account=AccountFactory(), period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 20)
    )
    with pytest.raises(ValidationFailed) as err:
        late_fee_waiver_request(actor=clerk, bill_id=bill.pk, amount="1.00", reason="")
    assert err.value.field == "reason"
    with pytest.raises(PermissionDenied):
        late_fee_waiver_request(
            actor=make_user(roles=["hotline_agent"]), bill_id=bill.pk, amount="1.00", reason="x"
        )
    assert not LateFeeWaiver.objects.exists()


# --- prepaid --------------------------------------------------------------------------------


def test_prepaid_payment_goes_to_balance_and_tells_prepaid(
    clerk: Any, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    calls: list[int] = []
    monkeypatch.setattr(
        payments_service, "_after_prepaid_payment", lambda account_id, actor: calls.append(account_id)
    )
    account = AccountFactory(is_prepaid=True)
    overdue_bill(account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 20))
    with django_capture_on_commit_callbacks(execute=True):
        payment = payment_post(
            actor=clerk,
            account_id=account.pk,
            amount="200.00",
            channel=PaymentChannel.WECHAT,
            idempotency_key="pp",
        )
    assert not payment.allocations.exists()
    assert balance_of(account) == Decimal("200.00")
    assert calls == [account.pk]
    # a reversal lowers the prepaid balance: the prepaid service re-checks the account too
    with django_capture_on_commit_callbacks(execute=True):
        payment_reverse(actor="manager", payment_id=payment.pk, reason="重复缴费")
    assert balance_of(account) == Decimal("0.00")
    assert calls == [account.pk, account.pk]


def test_a_failing_credit_apply_after_the_commit_is_logged_and_the_payment_stands(
    clerk: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A payment that leaves a credit applies it to bills issued meanwhile once it commits.
    That step failing is logged with the account and the receipt; the payment stands."""
    account = AccountFactory()

    def broken(**kwargs: Any) -> int:
        raise RuntimeError("database went away")

    monkeypatch.setattr(payments_service, "balances_apply", broken)
    with (
        caplog.at_level(logging.ERROR, logger="gridcare.billing.payments"),
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        payment = payment_post(
            actor=clerk,
            account_id=account.pk,
            amount="80.00",
            channel=PaymentChannel.COUNTER_CASH,
            idempotency_key="credit-hook",
        )

    assert len(callbacks) == 1
    assert Payment.objects.filter(account=account).count() == 1
    assert balance_of(account) == Decimal("80.00")
    [record] = [r for r in caplog.records if r.name == "gridcare.billing.payments"]
    assert str(account.pk) in record.getMessage()
    assert payment.number in record.getMessage()


# --- the callback -------------------------------------------------------------------------


def _body(
    account: Any, *, amount: str = "52.00", txn: str = "T1", paid_at: str = "2026-11-25T10:00:00+08:00"
) -> bytes:
    return json.dumps(
        {"account": account.number, "amount": amount, "txn_id": txn, "paid_at": paid_at}
    ).encode()


@override_settings(GRIDCARE_PAYMENT_SECRETS=SECRETS)
def test_callback_good_signature_posts_once() -> None:
    account = AccountFactory()
    bill = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="52.00", due_date=dt.date(2026, 11, 30)
    )
    body = _body(account)
    sig = sign_callback(secret=SECRETS["wechat"], raw_body=body)
    status, out = payment_callback_receive(
        channel="wechat", raw_body=body, signature=sig, remote_addr="1.2.3.4"
    )
    assert status == 200
    assert out["status"] == "accepted"
    payment = Payment.objects.get(idempotency_key="wechat:T1")
    assert payment.channel == "wechat"
    assert payment.external_ref == "T1"
    assert payment.received_at == dt.datetime(2026, 11, 25, 10, tzinfo=TZ)
    assert bill_outstanding(bill) == Decimal("0.00")
    status, out = payment_callback_receive(
        channel="wechat", raw_body=body, signature=sig, remote_addr="1.2.3.4"
    )
    assert status == 200
    assert out == {"status": "repeat", "receipt": payment.number, "amount": "52.00"}
    assert Payment.objects.count() == 1
    assert list(PaymentCallbackLog.objects.order_by("pk").values_list("outcome", flat=True)) == [
        "accepted",
        "repeat",
    ]


@override_settings(GRIDCARE_PAYMENT_SECRETS=SECRETS)
def test_callback_bad_signature_is_rejected_logged_and_audited(caplog: pytest.LogCaptureFixture) -> None:
    account = AccountFactory()
    body = _body(account)
    wrong = sign_callback(secret=SECRETS["alipay"], raw_body=body)
    with caplog.at_level(logging.WARNING, logger="gridcare.billing.payments"):
        status, out = payment_callback_receive(
            channel="wechat", raw_body=body, signature=wrong, remote_addr="6.6.6.6"
        )
    assert status == 401
    assert out["code"] == "bad_signature"
    assert not Payment.objects.exists()
    log = PaymentCallbackLog.objects.get()
    assert log.outcome == "rejected"
    assert log.remote_addr == "6.6.6.6"
    assert AuditEvent.objects.filter(action="payment.callback_rejected", object_id=str(log.pk)).exists()
    assert any("bad_signature" in r.getMessage() for r in caplog.records)


@override_settings(GRIDCARE_PAYMENT_SECRETS=SECRETS)
@pytest.mark.parametrize(
    ("channel", "body", "status", "code"),
    [
        (
            "wechat",
            b'{"account": "0000000000", "amount": "1.00", "txn_id": "x",'
            b' "paid_at": "2026-11-25T10:00:00+08:00"}',
            400,
            "unknown_account",
        ),
        ("wechat", b"not json", 400, "bad_body"),
        ("wechat", b'{"account": "1", "amount": "1.00"}', 400, "validation_failed"),
        ("paypal", b"{}", 400, "unknown_channel"),
    ],
)
def test_callback_rejects(channel: str, body: bytes, status: int, code: str) -> None:
    sig = sign_callback(secret=SECRETS.get(channel, "x"), raw_body=body)
    got, out = payment_callback_receive(channel=channel, raw_body=body, signature=sig, remote_addr="1.1.1.1")
    assert (got, out["code"]) == (status, code)
    assert not Payment.objects.exists()
    assert PaymentCallbackLog.objects.get().outcome == "rejected"


@override_settings(GRIDCARE_PAYMENT_SECRETS=SECRETS)
def test_callback_bad_amount_is_rejected() -> None:
    account = AccountFactory()
    body = _body(account, amount="-3")
    sig = sign_callback(secret=SECRETS["wsgw"], raw_body=body)
    status, out = payment_callback_receive(channel="wsgw", raw_body=body, signature=sig, remote_addr="")
    assert (status, out["field"]) == (400, "amount")
    assert not Payment.objects.exists()


def test_a_credit_balance_pays_with_the_next_payment_and_after_a_reversal(clerk: Any, make_user: Any) -> None:
    """Bill of 100.00; P1 pays it, P2 brings 50.00 (credit). P1 is reversed: the bill owes
    100.00 again and the 50.00 credit pays half of it at once (no late fee beside the
    customer's own money). Paying what the counter asks then (50.00) settles the bill; a
    payment while a credit exists uses both."""
    manager = make_user(roles=["service_manager"], username="mgr-credit")
    account = AccountFactory()
    bill = overdue_bill(
        account=account, period=dt.date(2026, 9, 1), amount="100.00", due_date=dt.date(2026, 11, 30)
    )

    def pay(amount: str, key: str, day: dt.date) -> Payment:
        return payment_post(
            actor=clerk,
            account_id=account.pk,
            amount=amount,
            channel=PaymentChannel.COUNTER_CASH,
            idempotency_key=key,
            received_at=at(day),
        )

    p1 = pay("100.00", "c1", dt.date(2026, 11, 20))
    pay("50.00", "c2", dt.date(2026, 11, 21))
    assert balance_of(account) == Decimal("50.00")
    payment_reverse(actor=manager, payment_id=p1.pk, reason="银行退票")
    assert (bill_outstanding(bill), balance_of(account)) == (Decimal("50.00"), Decimal("0.00"))
    pay("50.00", "c3", dt.date(2026, 11, 27))
    assert (bill_outstanding(bill), balance_of(account)) == (Decimal("0.00"), Decimal("0.00"))
    # A credit left beside an unpaid bill (a bill issued after the credit, before any run
    # applied it) is used by the next payment together with the money brought.
    pay("30.00", "c4", dt.date(2026, 11, 27))
    later = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="80.00", due_date=dt.date(2026, 12, 20)
    )
    pay("50.00", "c5", dt.date(2026, 11, 27))
    assert (bill_outstanding(later), balance_of(account)) == (Decimal("0.00"), Decimal("0.00"))
    post = AuditEvent.objects.filter(action="payment.post").order_by("-id").first()
    assert (post.after["allocated"], post.after["credit_used"]) == ("80.00", "30.00")


def test_a_waiver_approved_while_a_payment_waits_for_the_account_is_used_once(
    clerk: Any, make_user: Any, monkeypatch: Any
) -> None:
    """The approval commits while the payment waits for the account's lock: the payment
    uses the waiver, and the waiver must then count as used (its allocations are stamped
    after the lock, not before), so the next payment does not get it again."""
    from gridcare.billing.selectors.payments import open_bills

    manager = make_user(roles=["service_manager"], username="mgr-race")
    account = business_account()
    bill = overdue_bill(
        account=account, period=dt.date(2025, 11, 1), amount="10000.00", due_date=dt.date(2025, 12, 20)
    )
    waiver = late_fee_waiver_request(actor=clerk, bill_id=bill.pk, amount="100.00", reason="系统故障")
    original = payments_service._lock_balances

    def approval_commits_while_waiting(ids: Any) -> Any:
        # (the decision takes the account lock too: through the original)
        monkeypatch.setattr(payments_service, "_lock_balances", original)
        late_fee_waiver_decide(actor=manager, waiver_id=waiver.pk, approve=True)
        return original(ids)

    monkeypatch.setattr(payments_service, "_lock_balances", approval_commits_while_waiting)
    payment = payment_post(
        actor=clerk,
        account_id=account.pk,
        amount="5000.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="w-race",
        received_at=at(dt.date(2026, 1, 10)),
    )
    monkeypatch.setattr(payments_service, "_lock_balances", original)
    used = payment.allocations.get()
    assert used.late_fee < used.amount * Decimal("0.052")  # the waiver lowered this fee
    assert open_bills(account_ids=[account.pk], as_of=dt.date(2026, 1, 10))[0].waiver_fen == 0


def test_a_refund_cancelling_a_back_billing_leaves_the_bills_own_arrears_due_from_its_date() -> None:
    """A 500.00 back-billing approved on a 1,000.00 bill due 09-20, found wrong and cancelled
    by a refund: the bill owes its 1,000.00 from 09-20 again — 61 days × 2‰ = 122.00 on
    11-20 (before: the refund paid off the bill's own part first, 500.00 counted from the
    back-billing's 11-10, 71.00)."""
    account = business_account()
    bill = overdue_bill(
        account=account, period=dt.date(2026, 8, 1), amount="1000.00", due_date=dt.date(2026, 9, 20)
    )
    decided_adjustment(bill, "500.00", due_date=dt.date(2026, 11, 10))
    decided_adjustment(bill, "-500.00")
    [row] = open_bills(account_ids=[account.pk], as_of=dt.date(2026, 11, 20))
    assert row.outstanding_fen == 100_000
    assert row.parts == ((dt.date(2026, 9, 20), 100_000),)
    assert row.late_fee_fen == 12_200
    assert row.due_date == dt.date(2026, 9, 20)
