"""销户退费 decisions at the same moment, on PostgreSQL with real threads (each its own
connection): two approvers approving one request pay it back once; an approval and a
rejection at once leave one decision; an approval and the requester's withdrawal at once
leave one outcome; an approval and a payment on the account are served one after the
other (the account lock)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from gridcare.billing.choices import DocumentStatus, PaymentKind, RefundRequestStatus
from gridcare.billing.models import AccountBalance, Payment, RefundRequest
from gridcare.billing.services.payments import (
    balance_refund_decide,
    balance_refund_request,
    balance_refund_withdraw,
    payment_post,
)
from gridcare.billing.tests.factories_payments import ensure_policy
from gridcare.core.errors import Conflict
from gridcare.core.models import AuditEvent
from gridcare.core.tests.transactional import grant_roles, race
from gridcare.customers.choices import AccountStatus
from gridcare.customers.tests.factories import AccountFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]


@pytest.fixture(autouse=True)
def _policy_and_roles(db: None) -> None:
    """A transactional test flushes what the data migrations made: put back the seeded
    policy and the role groups with their billing and refund permissions."""

    ensure_policy()
    grant_roles(
        "gridcare.billing.migrations.0003_roles",
        "gridcare.billing.migrations.0013_refund_approval",
    )


def pending(make_user: Any, credit: str = "120.00") -> tuple[Any, RefundRequest]:
    account = AccountFactory(status=AccountStatus.CLOSED, closed_on=dt.date(2026, 10, 31))
    payment_post(actor="t", account_id=account.pk, amount=credit, channel="wechat", idempotency_key="in")
    request = balance_refund_request(
        actor=make_user(roles=["counter_clerk"], username="clerk"),
        account_id=account.pk,
        channel="refund_bank",
        reference="BT20261101001",
        reason="销户退还预收电费",
        idempotency_key="r1",
    )
    return account, request


def balance_of(account: Any) -> Decimal:
    return AccountBalance.objects.get(account=account).amount


@pytest.mark.parametrize("rounds", range(3))
def test_two_approvals_at_once_pay_back_once(make_user: Any, rounds: int) -> None:
    account, request = pending(make_user)
    approvers = [make_user(roles=["service_manager"]), make_user(roles=["marketing_manager"])]

    results = race(
        *[
            lambda who=who: balance_refund_decide(
                actor=who, refund_request_id=request.pk, approve=True, note="同意"
            )
            for who in approvers
        ]
    )

    done = [r for r in results if isinstance(r, RefundRequest)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert (len(done), len(refused)) == (1, 1), results
    (row,) = Payment.objects.filter(kind=PaymentKind.REFUND)
    assert row.amount == Decimal("-120.00")
    assert balance_of(account) == Decimal("0.00")
    request.refresh_from_db()
    assert (request.status, request.payment_id) == (DocumentStatus.APPROVED, row.pk)
    assert AuditEvent.objects.filter(action="balance.refund").count() == 1
    assert AuditEvent.objects.filter(action="refundrequest.approve").count() == 1


def test_an_approval_and_a_rejection_at_once_leave_one_decision(make_user: Any) -> None:
    account, request = pending(make_user)
    approve, reject = make_user(roles=["service_manager"]), make_user(roles=["marketing_manager"])

    results = race(
        *[
            lambda: balance_refund_decide(
                actor=approve, refund_request_id=request.pk, approve=True, note="同意"
            ),
            lambda: balance_refund_decide(
                actor=reject, refund_request_id=request.pk, approve=False, note="不同意"
            ),
        ]
    )

    assert sum(isinstance(r, RefundRequest) for r in results) == 1, results
    assert sum(isinstance(r, Conflict) for r in results) == 1, results
    request.refresh_from_db()
    paid = Payment.objects.filter(kind=PaymentKind.REFUND).count()
    if request.status == DocumentStatus.APPROVED:
        assert (paid, balance_of(account)) == (1, Decimal("0.00"))
    else:
        assert request.status == DocumentStatus.REJECTED
        assert (paid, balance_of(account)) == (0, Decimal("120.00"))


@pytest.mark.parametrize("rounds", range(3))
def test_a_withdrawal_and_an_approval_at_once_leave_one_outcome(make_user: Any, rounds: int) -> None:
    """The requester withdraws while a manager approves: whichever takes the account lock
    second finds the request no longer pending (Conflict) — never paid back and withdrawn."""
    account, request = pending(make_user)
    requester = request.requested_by_user
    approver = make_user(roles=["service_manager"])

    results = race(
        lambda: balance_refund_withdraw(actor=requester, refund_request_id=request.pk),
        lambda: balance_refund_decide(
            actor=approver, refund_request_id=request.pk, approve=True, note="同意"
        ),
    )

    assert sum(isinstance(r, RefundRequest) for r in results) == 1, results
    assert sum(isinstance(r, Conflict) for r in results) == 1, results
    request.refresh_from_db()
    paid = Payment.objects.filter(kind=PaymentKind.REFUND).count()
    audited = set(
        AuditEvent.objects.filter(action__startswith="refundrequest.").values_list("action", flat=True)
    )
    if request.status == RefundRequestStatus.APPROVED:
        assert (paid, balance_of(account), request.withdrawn_at) == (1, Decimal("0.00"), None)
        assert audited == {"refundrequest.request", "refundrequest.approve"}
    else:
        assert request.status == RefundRequestStatus.WITHDRAWN
        assert (paid, balance_of(account), request.decided_at) == (0, Decimal("120.00"), None)
        assert audited == {"refundrequest.request", "refundrequest.withdraw"}


def test_an_approval_beside_a_payment_sees_the_balance_the_payment_left(make_user: Any) -> None:
    """The approval takes the account lock as a payment does: whichever comes second sees
    the first's balance, and neither's money is lost."""
    account, request = pending(make_user)
    approver = make_user(roles=["service_manager"])

    results = race(
        *[
            lambda: balance_refund_decide(
                actor=approver, refund_request_id=request.pk, approve=True, note="同意"
            ),
            lambda: payment_post(
                actor="t", account_id=account.pk, amount="30.00", channel="wechat", idempotency_key="late"
            ),
        ]
    )

    assert not any(isinstance(r, Exception) for r in results), results
    assert balance_of(account) == Decimal("30.00")  # 120 + 30 − 120 refunded
    assert Payment.objects.get(kind=PaymentKind.REFUND).amount == Decimal("-120.00")
