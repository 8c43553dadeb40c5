"""销户退费 with four eyes: a clerk requests the refund of a closed account's credit
balance (no money moves), another person approves it (the money is paid back then, under
the account lock, once) or rejects it with the reason; the requester never decides. The
services (limits, checks at request and at approval, idempotency, audit), the console
flow from the counter and the customer's payment history (docs/billing-payments.md).
Who may open which page or endpoint: test_payments_refund_access.py; two approvals at
once: test_payments_refund_concurrency.py."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gridcare.billing.choices import DocumentStatus, PaymentChannel, PaymentKind, PaymentStatus
from gridcare.billing.models import AccountBalance, Payment, PaymentAllocation, RefundRequest
from gridcare.billing.selectors.bills import account_statement
from gridcare.billing.selectors.payments import account_arrears, payments_visible_to
from gridcare.billing.services import payments as payments_service
from gridcare.billing.services.payments import (
    balance_refund_decide,
    balance_refund_request,
    balances_apply,
    payment_post,
    payment_reverse,
)
from gridcare.billing.tests.factories_payments import closed_with_credit, ensure_policy, overdue_bill
from gridcare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.customers.choices import AccountStatus
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _policy(db: None) -> None:
    ensure_policy()


@pytest.fixture
def clerk(make_user: Any) -> Any:
    return make_user(roles=["counter_clerk"], username="clerk")


@pytest.fixture
def manager(make_user: Any) -> Any:
    return make_user(roles=["service_manager"], username="manager")


def balance_of(account: Any) -> Decimal:
    return AccountBalance.objects.get(account=account).amount


def ask(actor: Any, account: Any, key: str = "r1", **kwargs: Any) -> RefundRequest:
    kwargs.setdefault("channel", PaymentChannel.REFUND_BANK)
    kwargs.setdefault("reference", "BT20261101001")
    kwargs.setdefault("reason", "销户退还预收电费")
    return balance_refund_request(actor=actor, account_id=account.pk, idempotency_key=key, **kwargs)


def decide(
    actor: Any, request: RefundRequest, *, approve: bool = True, note: str = "核对无误"
) -> RefundRequest:
    return balance_refund_decide(actor=actor, refund_request_id=request.pk, approve=approve, note=note)


def refunds() -> list[Payment]:
    return list(Payment.objects.filter(kind=PaymentKind.REFUND))


# --- the request: no money moves ----------------------------------------------------------------


def test_a_request_moves_no_money_and_is_audited(clerk: Any) -> None:
    """The defect: one clerk paid the balance out alone. Now the clerk's request waits."""
    account = closed_with_credit("120.00")

    request = ask(clerk, account)

    assert (request.status, request.amount, request.channel) == (
        DocumentStatus.PENDING,
        Decimal("120.00"),
        PaymentChannel.REFUND_BANK,
    )
    assert (request.reference, request.reason, request.requested_by) == (
        "BT20261101001",
        "销户退还预收电费",
        "clerk",
    )
    assert request.requested_by_user == clerk
    assert (request.payment, request.decided_at, request.decided_by) == (None, None, "")
    assert balance_of(account) == Decimal("120.00")
    assert refunds() == []
    event = AuditEvent.objects.get(action="refundrequest.request")
    assert (event.object_id, event.actor_id, event.reason) == (str(request.pk), clerk.pk, "销户退还预收电费")
    assert (event.after["amount"], event.after["status"], event.after["balance"]) == (
        "120.00",
        "pending",
        "120.00",
    )
    assert not AuditEvent.objects.filter(action="balance.refund").exists()


def test_a_pending_or_rejected_request_counts_nowhere(clerk: Any, manager: Any) -> None:
    """Not a payment row: the statement, the payment lists, the balance and the arrears are
    what they were before it."""
    account = closed_with_credit("120.00")
    before = account_statement(account.pk)
    request = ask(clerk, account)

    for step in ("pending", "rejected"):
        if step == "rejected":
            decide(manager, request, approve=False, note="收款人信息不符")

        after = account_statement(account.pk)
        assert [(e.amount, e.balance) for e in after.entries] == [
            (e.amount, e.balance) for e in before.entries
        ]
        assert after.balance == before.balance
        assert payments_visible_to(manager).filter(account=account).count() == 1
        assert account_arrears(
            user=manager, account_number=account.number, as_of=timezone.localdate()
        ).balance == (Decimal("120.00"))
        assert balance_of(account) == Decimal("120.00")
        assert refunds() == []


def test_a_part_may_be_requested_never_more_than_the_balance(clerk: Any, manager: Any) -> None:
    account = closed_with_credit("120.00")

    with pytest.raises(ValidationFailed) as err:
        ask(clerk, account, amount="120.01")
    assert err.value.field == "amount"
    assert not RefundRequest.objects.exists()

    decide(manager, ask(clerk, account, amount="100.00", key="r2"))
    assert balance_of(account) == Decimal("20.00")
    rest = ask(clerk, account, channel=PaymentChannel.REFUND_CASH, reference="XJ0001", key="r3")
    assert rest.amount == Decimal("20.00")  # the default: what is left
    decide(manager, rest)
    assert balance_of(account) == Decimal("0.00")
    assert sorted(p.amount for p in refunds()) == [Decimal("-100.00"), Decimal("-20.00")]


@pytest.mark.parametrize(
    ("case", "field"),
    [("active", "account"), ("suspended", "account"), ("no credit", "amount"), ("owes a bill", "account")],
)
def test_a_request_is_refused_unless_closed_with_credit_beyond_the_bills(
    clerk: Any, case: str, field: str
) -> None:
    if case in ("active", "suspended"):
        account = AccountFactory(
            status=case, suspended_on=dt.date(2026, 10, 31) if case == "suspended" else None
        )
        payment_post(actor="t", account_id=account.pk, amount="50.00", channel="wechat", idempotency_key="c")
    elif case == "no credit":
        account = AccountFactory(status=AccountStatus.CLOSED, closed_on=dt.date(2026, 10, 31))
    else:
        # A prepaid account's payments go to its balance, not to the bill it still owes:
        # 50.00 against 80.00 and its late fee.
        account = closed_with_credit("50.00", is_prepaid=True)
        overdue_bill(
            account=account, period=dt.date(2026, 9, 1), amount="80.00", due_date=dt.date(2026, 10, 20)
        )
    audits = AuditEvent.objects.count()

    with pytest.raises(Conflict) as err:
        ask(clerk, account)

    assert err.value.field == field
    if case == "owes a bill":
        # 80.00 and its late fee to today, less the 50.00 balance
        assert re.search(r"still owes 1 bill\(s\) \((3[0-9]|[4-9][0-9])\.\d\d yuan\)", str(err.value.message))
    assert not RefundRequest.objects.exists()
    assert AuditEvent.objects.count() == audits


def test_input_is_checked_before_anything_is_written(clerk: Any) -> None:
    account = closed_with_credit()
    for kwargs, field in [
        ({"channel": PaymentChannel.COUNTER_CASH}, "channel"),
        ({"reference": " "}, "reference"),
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 301}, "reason"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1.001"}, "amount"),
    ]:
        with pytest.raises(ValidationFailed) as err:
            ask(clerk, account, **kwargs)
        assert err.value.field == field, kwargs
    assert not RefundRequest.objects.exists()
    with pytest.raises(NotFound):
        balance_refund_request(
            actor=clerk, account_id=0, channel="refund_bank", reference="B", reason="x", idempotency_key="n"
        )


def test_one_request_waits_per_account_and_a_repeated_key_asks_once(clerk: Any) -> None:
    account = closed_with_credit("120.00")

    first = ask(clerk, account, amount="50.00")
    again = ask(clerk, account, amount="50.00")  # a double click

    assert again.pk == first.pk
    with pytest.raises(Conflict) as err:
        ask(clerk, account, amount="20.00", key="other")
    assert err.value.field == "account"
    with pytest.raises(Conflict) as err:
        ask(clerk, closed_with_credit("10.00"), amount="5.00")  # the key is the first account's
    assert err.value.field == "idempotency_key"
    assert RefundRequest.objects.count() == 1
    assert balance_of(account) == Decimal("120.00")


# --- the decision: another person --------------------------------------------------------------


def test_approval_by_another_person_pays_the_balance_back_and_is_audited(clerk: Any, manager: Any) -> None:
    account = closed_with_credit("120.00")
    request = ask(clerk, account)

    decided = decide(manager, request, note="核对无误, 同意退费")

    row = decided.payment
    assert (decided.status, decided.decided_by, decided.decided_by_user, decided.decision_note) == (
        DocumentStatus.APPROVED,
        "manager",
        manager,
        "核对无误, 同意退费",
    )
    assert (row.kind, row.amount, row.channel, row.status) == (
        PaymentKind.REFUND,
        Decimal("-120.00"),
        PaymentChannel.REFUND_BANK,
        PaymentStatus.POSTED,
    )
    assert row.number.startswith("TF")
    assert (row.external_ref, row.reason, row.posted_by) == ("BT20261101001", "销户退还预收电费", "manager")
    assert row.idempotency_key == f"refundrequest:{request.pk}"
    assert not row.allocations.exists()
    assert balance_of(account) == Decimal("0.00")
    approve = AuditEvent.objects.get(action="refundrequest.approve")
    assert (approve.object_id, approve.actor_id, approve.reason) == (
        str(request.pk),
        manager.pk,
        "核对无误, 同意退费",
    )
    assert (approve.before["status"], approve.after["status"], approve.after["refund"]) == (
        "pending",
        "approved",
        row.number,
    )
    paid = AuditEvent.objects.get(action="balance.refund")
    assert (paid.object_id, paid.actor_id, paid.reason) == (str(row.pk), manager.pk, "销户退还预收电费")
    assert paid.before == {"balance": "120.00"}
    assert (
        paid.after["amount"],
        paid.after["balance"],
        paid.after["refund_request"],
        paid.after["requested_by"],
    ) == (
        "-120.00",
        "0.00",
        request.pk,
        "clerk",
    )


def test_rejection_with_the_reason_moves_no_money(clerk: Any, manager: Any) -> None:
    account = closed_with_credit("120.00")
    request = ask(clerk, account)

    decided = decide(manager, request, approve=False, note="收款账户户名与客户不符")

    assert (decided.status, decided.payment, decided.decision_note) == (
        DocumentStatus.REJECTED,
        None,
        "收款账户户名与客户不符",
    )
    assert balance_of(account) == Decimal("120.00")
    assert refunds() == []
    event = AuditEvent.objects.get(action="refundrequest.reject")
    assert (event.actor_id, event.reason, event.after["status"]) == (
        manager.pk,
        "收款账户户名与客户不符",
        "rejected",
    )
    # The account may be asked for again, correctly this time.
    assert ask(clerk, account, key="r2").status == DocumentStatus.PENDING


@pytest.mark.parametrize("who", ["manager who also collects", "superuser"])
@pytest.mark.parametrize("approve", [True, False])
def test_the_requester_never_decides_their_own_request(make_user: Any, who: str, approve: bool) -> None:
    account = closed_with_credit("120.00")
    if who == "superuser":
        requester = make_user(roles=[], username="root", is_superuser=True)
    else:
        requester = make_user(roles=["counter_clerk", "service_manager"], username="both")
    request = ask(requester, account)
    audits = AuditEvent.objects.count()

    with pytest.raises(PermissionDenied):
        decide(requester, request, approve=approve)

    request.refresh_from_db()
    assert (request.status, request.payment_id, request.decided_at) == (DocumentStatus.PENDING, None, None)
    assert balance_of(account) == Decimal("120.00")
    assert refunds() == []
    assert AuditEvent.objects.count() == audits
    # Another person may.
    assert (
        decide(make_user(roles=["marketing_manager"]), request, approve=approve).status
        != DocumentStatus.PENDING
    )


def test_the_database_refuses_a_decision_by_the_requester(clerk: Any) -> None:
    """Four eyes in the database too: a write around the service cannot decide one's own."""
    request = ask(clerk, closed_with_credit())
    with pytest.raises(IntegrityError), transaction.atomic():
        RefundRequest.objects.filter(pk=request.pk).update(
            status=DocumentStatus.REJECTED, decided_by_user=clerk, decided_at=timezone.now()
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        # approved without its refund row: no money moved, so it is not approved
        RefundRequest.objects.filter(pk=request.pk).update(
            status=DocumentStatus.APPROVED, decided_by_user=None, decided_at=timezone.now()
        )


@pytest.mark.parametrize("roles", [["counter_clerk"], ["billing_clerk"], ["hotline_agent"], ["auditor"]])
def test_deciding_needs_the_approval_permission(make_user: Any, clerk: Any, roles: list[str]) -> None:
    account = closed_with_credit("120.00")
    request = ask(clerk, account)

    for approve in (True, False):
        with pytest.raises(PermissionDenied):
            decide(make_user(roles=roles), request, approve=approve)
    with pytest.raises(PermissionDenied):
        decide("scheduler", request)  # a system actor is nobody's second pair of eyes

    request.refresh_from_db()
    assert request.status == DocumentStatus.PENDING
    assert balance_of(account) == Decimal("120.00")


@pytest.mark.parametrize(
    "roles", [["service_manager"], ["marketing_manager"], ["hotline_agent"], ["auditor"]]
)
def test_requesting_needs_the_collection_roles(make_user: Any, roles: list[str]) -> None:
    account = closed_with_credit()
    with pytest.raises(PermissionDenied):
        ask(make_user(roles=roles), account)
    with pytest.raises(PermissionDenied):
        ask("cli", account)
    assert not RefundRequest.objects.exists()


def test_a_decided_request_is_not_decided_again_and_pays_once(
    clerk: Any, manager: Any, make_user: Any
) -> None:
    account = closed_with_credit("120.00")
    request = ask(clerk, account)
    decide(manager, request)
    other = make_user(roles=["marketing_manager"])

    for approve in (True, False):
        with pytest.raises(Conflict):
            decide(other, request, approve=approve)

    assert len(refunds()) == 1
    assert balance_of(account) == Decimal("0.00")
    rejected = ask(clerk, closed_with_credit("30.00"), key="r2")
    decide(manager, rejected, approve=False, note="重复申请")
    with pytest.raises(Conflict):
        decide(other, rejected)
    assert len(refunds()) == 1


def test_the_decision_needs_its_reason(clerk: Any, manager: Any) -> None:
    request = ask(clerk, closed_with_credit())
    for note, approve in (("", True), ("  ", False), ("x" * 301, True)):
        with pytest.raises(ValidationFailed) as err:
            decide(manager, request, approve=approve, note=note)
        assert err.value.field == "note"
    request.refresh_from_db()
    assert request.status == DocumentStatus.PENDING
    with pytest.raises(NotFound):
        balance_refund_decide(actor=manager, refund_request_id=0, approve=True, note="x")


def test_approval_checks_the_account_again_and_keeps_nothing_when_refused(clerk: Any, manager: Any) -> None:
    """Between the request and the decision a bill took part of the balance: approval is
    refused with the balance it found, nothing is paid, the request waits to be rejected."""
    account = closed_with_credit("120.00")
    request = ask(clerk, account)
    overdue_bill(account=account, period=dt.date(2026, 10, 1), amount="30.00", due_date=dt.date(2099, 1, 1))
    balances_apply(account_ids=[account.pk], actor="run")
    audits = AuditEvent.objects.count()

    with pytest.raises(Conflict) as err:
        decide(manager, request)

    assert err.value.field == "amount"
    assert "90.00" in str(err.value.message)
    request.refresh_from_db()
    assert (request.status, request.payment_id) == (DocumentStatus.PENDING, None)
    assert balance_of(account) == Decimal("90.00")
    assert refunds() == []
    assert AuditEvent.objects.count() == audits
    assert (
        decide(manager, request, approve=False, note="余额已变, 重新申请").status == DocumentStatus.REJECTED
    )


def test_approval_lets_the_balance_pay_a_bill_first_and_refuses_what_it_cannot_pay(
    clerk: Any, manager: Any
) -> None:
    """A bill issued after the request: at the approval the balance pays it first (50.00
    of 80.00 and its late fee), the account still owes, so the approval is refused with
    what would still be owed — and nothing of it is kept (one transaction)."""
    account = closed_with_credit("50.00", is_prepaid=True)
    request = ask(clerk, account)
    overdue_bill(account=account, period=dt.date(2026, 9, 1), amount="80.00", due_date=dt.date(2026, 10, 20))

    with pytest.raises(Conflict) as err:
        decide(manager, request)

    assert err.value.field == "account"
    # what the balance left owed: 80.00 less the 48.12 principal its 50.00 paid beside the
    # bill's 1.88 late fee
    assert "1 bill(s) (31.88 yuan)" in str(err.value.message)
    assert not PaymentAllocation.objects.filter(bill__account=account).exists()
    assert balance_of(account) == Decimal("50.00")
    request.refresh_from_db()
    assert request.status == DocumentStatus.PENDING
    assert refunds() == []


def test_approval_takes_the_account_lock_before_the_bills_and_the_balance_are_read(
    clerk: Any, manager: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The balance row is locked first (as a payment locks it), so a payment or a second
    approval on the account waits and then sees the lower balance; the bills are read
    under the lock, and the balance used is the locked row's."""
    account = closed_with_credit("120.00")
    request = ask(clerk, account)
    events: list[str] = []
    lock, unpaid = payments_service.lock_balance, payments_service.unpaid_bills

    def spy_lock(account_id: int) -> AccountBalance:
        events.append("lock")
        row = lock(account_id)
        AccountBalance.objects.filter(pk=row.pk).update(amount=Decimal("999.00"))  # not re-read
        return row

    def spy_unpaid(*args: Any, **kwargs: Any) -> Any:
        events.append("bills")
        return unpaid(*args, **kwargs)

    monkeypatch.setattr(payments_service, "lock_balance", spy_lock)
    monkeypatch.setattr(payments_service, "unpaid_bills", spy_unpaid)

    row = decide(manager, request).payment

    assert events == ["lock", "bills"]
    assert row.amount == Decimal("-120.00")
    assert balance_of(account) == Decimal("0.00")


def test_a_reversed_refund_puts_the_money_back_on_the_balance(clerk: Any, manager: Any) -> None:
    account = closed_with_credit("120.00")
    request = decide(manager, ask(clerk, account, amount="100.00"))

    payment_reverse(actor=manager, payment_id=request.payment.pk, reason="转账被退回")

    request.refresh_from_db()
    assert request.payment.status == PaymentStatus.REVERSED
    assert request.status_label == "Reversed (已冲正)"
    assert balance_of(account) == Decimal("120.00")


def test_credit_left_after_a_refund_pays_a_later_bill_on_the_payment_not_the_refund(
    clerk: Any, manager: Any
) -> None:
    """``balances_apply`` files a credit's allocations under the latest payment (its
    reversal takes them back): never under a refund."""
    account = closed_with_credit("120.00")
    payment = Payment.objects.get(account=account, kind=PaymentKind.PAYMENT)
    decide(manager, ask(clerk, account, amount="80.00"))
    bill = overdue_bill(
        account=account, period=dt.date(2026, 10, 1), amount="30.00", due_date=dt.date(2099, 1, 1)
    )

    assert balances_apply(account_ids=[account.pk], actor="run") == 1

    allocation = PaymentAllocation.objects.get(bill=bill)
    assert allocation.payment_id == payment.pk
    assert balance_of(account) == Decimal("10.00")


def test_a_refund_channel_is_not_a_payment_channel(clerk: Any) -> None:
    account = closed_with_credit()
    with pytest.raises(ValidationFailed) as err:
        payment_post(
            actor=clerk, account_id=account.pk, amount="5.00", channel="refund_cash", idempotency_key="x"
        )
    assert err.value.field == "channel"


def test_the_statement_shows_the_refund_once_approved_and_ends_at_zero(clerk: Any, manager: Any) -> None:
    account = closed_with_credit("120.00")
    decide(manager, ask(clerk, account))

    statement = account_statement(account.pk)

    assert [(e.amount, e.balance) for e in statement.entries] == [
        (Decimal("-120.00"), Decimal("-120.00")),
        (Decimal("120.00"), Decimal("0.00")),
    ]
    assert statement.balance == Decimal("0.00")


def test_the_status_labels(clerk: Any, manager: Any) -> None:
    waiting = ask(clerk, closed_with_credit())
    rejected = decide(manager, ask(clerk, closed_with_credit(), key="r2"), approve=False, note="x")
    approved = decide(manager, ask(clerk, closed_with_credit(), key="r3"))

    assert [r.status_label for r in (waiting, rejected, approved)] == [
        "Pending approval (待审批)",
        "Rejected (已驳回)",
        "Refunded (已退款)",
    ]


# --- the console ---------------------------------------------------------------------------------


def refund_url(account: Any) -> str:
    return reverse("billing:payments_refund", args=[account.number])


def request_url(request: RefundRequest) -> str:
    return reverse("billing:payments_refund_request", args=[request.pk])


def test_a_clerks_refund_form_pays_nothing_until_another_person_approves(
    client: Client, make_user: Any
) -> None:
    """The whole flow: counter → request (a double click asks once) → the approver's count
    and list → approval → the voucher. Before the approval no money moved and there is no
    voucher."""
    clerk, manager = (
        make_user(roles=["counter_clerk"], username="clerk"),
        make_user(roles=["service_manager"], username="manager"),
    )
    account = closed_with_credit("120.00")
    client.force_login(clerk)

    counter = client.get(reverse("billing:payments_counter"), {"account": account.number}).content.decode()
    assert refund_url(account) in counter
    page = client.get(refund_url(account)).content.decode()
    assert 'value="120.00"' in page
    key = re.search(r'name="key" value="([0-9a-f]+)"', page).group(1)
    form = {
        "key": key,
        "amount": "120.00",
        "channel": "refund_bank",
        "reference": "BT7",
        "reason": "销户退费",
    }
    first = client.post(refund_url(account), form)
    second = client.post(refund_url(account), form)  # a double click

    request = RefundRequest.objects.get()
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == request_url(request)
    assert request.status == DocumentStatus.PENDING
    assert balance_of(account) == Decimal("120.00")
    assert refunds() == []
    detail = client.get(first["Location"]).content.decode()
    assert "Pending approval (待审批)" in detail
    assert 'id="refund-decide"' not in detail  # the requester has no decision form
    assert 'id="refund-voucher"' not in detail
    counter = client.get(reverse("billing:payments_counter"), {"account": account.number}).content.decode()
    assert 'id="refund-waiting"' in counter
    assert refund_url(account) not in counter  # one request waits: no second one
    assert 'id="refunds-to-decide"' not in counter  # a clerk decides nothing

    client.force_login(manager)
    listing = client.get(reverse("billing:payments_refunds")).content.decode()
    assert re.search(r'id="refunds-to-decide"[^>]*>1<', listing)  # the approver's count
    assert "1 refund request waits for your approval" in listing
    assert request_url(request) in listing
    detail = client.get(request_url(request)).content.decode()
    assert 'id="refund-decide"' in detail
    decided = client.post(
        reverse("billing:payments_refund_decide", args=[request.pk]),
        {"decision": "approve", "note": "核对无误"},
    )

    assert decided.status_code == 302
    request.refresh_from_db()
    row = request.payment
    assert (request.status, row.amount) == (DocumentStatus.APPROVED, Decimal("-120.00"))
    assert balance_of(account) == Decimal("0.00")
    detail = client.get(request_url(request)).content.decode()
    assert "Refunded (已退款)" in detail
    assert reverse("billing:payments_receipt", args=[row.pk]) in detail
    voucher = client.get(reverse("billing:payments_receipt", args=[row.pk])).content.decode()
    assert row.number in voucher
    assert "-¥120.00" in voucher
    assert "Refund voucher (退费凭证)" in voucher
    assert re.search(r"<dt>Requested</dt><dd>clerk · ", voucher)
    assert re.search(r"<dt>Approved</dt><dd>manager · [^<]* · 核对无误</dd>", voucher)
    listing = client.get(reverse("billing:payments_refunds")).content.decode()
    assert 'id="refunds-to-decide"' not in listing
    assert "No refund request waits for your approval." in listing
    client.force_login(clerk)
    counter = client.get(reverse("billing:payments_counter"), {"account": account.number}).content.decode()
    assert refund_url(account) not in counter
    assert row.number in counter  # the account's requests, with the voucher once paid


def test_the_console_rejects_with_the_reason_and_refuses_without_one(staff_client: Any, clerk: Any) -> None:
    account = closed_with_credit("120.00")
    request = ask(clerk, account)
    client = staff_client(roles=["marketing_manager"])
    url = reverse("billing:payments_refund_decide", args=[request.pk])

    missing = client.post(url, {"decision": "reject", "note": ""})
    assert missing.status_code == 200
    assert missing.context["form"].errors["note"]
    request.refresh_from_db()
    assert request.status == DocumentStatus.PENDING

    done = client.post(url, {"decision": "reject", "note": "户名不符"})
    assert done.status_code == 302
    request.refresh_from_db()
    assert (request.status, request.decision_note) == (DocumentStatus.REJECTED, "户名不符")
    assert refunds() == []
    assert balance_of(account) == Decimal("120.00")
    again = client.post(url, {"decision": "approve", "note": "同意"})
    assert again.status_code == 409
    assert refunds() == []


def test_a_manager_who_requested_is_refused_the_decision_in_the_console(staff_client: Any) -> None:
    client = staff_client(roles=["counter_clerk", "service_manager"])
    account = closed_with_credit("120.00")
    request = ask(client.user, account)

    page = client.get(request_url(request)).content.decode()
    resp = client.post(
        reverse("billing:payments_refund_decide", args=[request.pk]), {"decision": "approve", "note": "同意"}
    )

    assert 'id="refund-decide"' not in page
    assert "You requested this refund" in page
    assert resp.status_code == 403
    request.refresh_from_db()
    assert request.status == DocumentStatus.PENDING
    assert balance_of(account) == Decimal("120.00")


def test_a_refused_approval_shows_why_and_keeps_the_request(staff_client: Any, clerk: Any) -> None:
    account = closed_with_credit("120.00")
    request = ask(clerk, account)
    overdue_bill(account=account, period=dt.date(2026, 10, 1), amount="30.00", due_date=dt.date(2099, 1, 1))
    balances_apply(account_ids=[account.pk], actor="run")
    client = staff_client(roles=["service_manager"])

    resp = client.post(
        reverse("billing:payments_refund_decide", args=[request.pk]), {"decision": "approve", "note": "同意"}
    )

    assert resp.status_code == 409
    assert "no longer covers this refund" in resp.content.decode()
    request.refresh_from_db()
    assert request.status == DocumentStatus.PENDING
    assert refunds() == []


def test_refund_page_refuses_an_open_account_with_the_reason(staff_client: Any) -> None:
    client = staff_client(roles=["counter_clerk"])
    account = AccountFactory()
    payment_post(actor="t", account_id=account.pk, amount="20.00", channel="wechat", idempotency_key="o")

    resp = client.post(
        refund_url(account),
        {"key": "k", "amount": "20.00", "channel": "refund_bank", "reference": "BT1", "reason": "x"},
    )

    assert resp.status_code == 200
    assert resp.context["form"].non_field_errors()
    assert not RefundRequest.objects.exists()
    assert client.get(reverse("billing:payments_refund", args=["0000000000"])).status_code == 404


# --- the customer's payment history ---------------------------------------------------------------


def test_the_portal_shows_a_waiting_refund_as_waiting_and_a_paid_one_as_refunded(
    clerk: Any, manager: Any, customer_client: Any
) -> None:
    own = customer_client.account
    own.status, own.closed_on = AccountStatus.CLOSED, timezone.localdate()
    own.save()
    payment_post(actor="t", account_id=own.pk, amount="35.00", channel="wechat", idempotency_key="p1")
    stranger = CustomerFactory(with_login=True)
    theirs = closed_with_credit("77.00", customer=stranger)
    ask(clerk, theirs, key="theirs")
    request = ask(clerk, own, channel=PaymentChannel.REFUND_CASH, reference="XJ9")
    other = Client()
    other.force_login(stranger.user)

    waiting = customer_client.get(reverse("portal:payments")).content.decode()

    assert "Pending approval (待审批)" in waiting
    assert "a refund of ¥35.00 of your balance" in waiting
    assert "已退款" not in waiting
    assert "-¥35.00" not in waiting
    assert "¥77.00" not in waiting  # another customer's request

    row = decide(manager, request).payment
    mine = customer_client.get(reverse("portal:payments")).content.decode()
    theirs_page = other.get(reverse("portal:payments")).content.decode()

    assert row.number in mine
    assert "-¥35.00" in mine
    assert "已退款" in mine
    assert "Pending approval (待审批)" not in mine
    assert "a refund of ¥35.00 of your balance" not in mine
    assert str(PaymentChannel.REFUND_CASH.label) in mine
    assert row.number not in theirs_page
    assert "a refund of ¥77.00 of your balance" in theirs_page  # their own, still waiting
