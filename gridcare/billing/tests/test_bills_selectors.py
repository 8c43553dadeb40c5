"""Selectors of bills: the one outstanding rule (amount + approved 退补 − non-reversed
allocations), its bulk form and queryset annotation agreeing, the search, the last-12 per
account, the account statement, and immutability of issued bills (the trigger)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from gridcare.billing.choices import BillStatus, DocumentStatus
from gridcare.billing.models import Bill, BillLine
from gridcare.billing.selectors.bills import (
    account_statement,
    bill_outstanding,
    bill_search,
    bills_for_accounts,
    bills_outstanding,
    bills_visible_to,
    with_outstanding,
)
from gridcare.billing.tests.factories_bills import decided_adjustment, notice_bill, pay
from gridcare.core.errors import PermissionDenied
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory

pytestmark = pytest.mark.django_db


def test_outstanding_counts_approved_adjustments_and_live_allocations_only():
    bill = notice_bill(amount="100.00", kwh="192.308")
    decided_adjustment(bill, "-10.40")  # approved refund
    decided_adjustment(bill, "5.00")  # approved back-billing
    decided_adjustment(bill, "-50.00", status=DocumentStatus.PENDING)  # not counted yet
    decided_adjustment(bill, "-20.00", status=DocumentStatus.REJECTED)  # never counted
    pay(bill, "30.00", late_fee="1.00")
    pay(bill, "40.00", reversed=True)  # reversed: taken back
    # 100.00 − 10.40 + 5.00 − 30.00 = 64.60 (the late fee is separate)
    assert bill_outstanding(bill) == Decimal("64.60")
    assert bills_outstanding([bill.pk]) == {bill.pk: Decimal("64.60")}
    assert with_outstanding(Bill.objects.filter(pk=bill.pk)).get().outstanding == Decimal("64.60")


def test_bulk_outstanding_of_many_bills_in_constant_queries(django_assert_num_queries):
    bills = [notice_bill(amount=f"{10 + i}.00") for i in range(5)]
    pay(bills[0], "10.00")
    draft = notice_bill(status=BillStatus.DRAFT)
    with django_assert_num_queries(3):
        result = bills_outstanding([b.pk for b in bills] + [draft.pk])
    assert result[bills[0].pk] == Decimal("0.00")
    assert result[bills[4].pk] == Decimal("14.00")
    assert result[draft.pk] == Decimal("0.00")  # a draft is owed nothing


def test_overpaid_bill_is_negative_outstanding_not_clamped():
    bill = notice_bill(amount="20.00")
    decided_adjustment(bill, "-5.00")
    pay(bill, "20.00")
    assert bill_outstanding(bill) == Decimal("-5.00")


def test_bills_for_accounts_keeps_the_last_n_issued_per_account():
    a, b = AccountFactory(), AccountFactory()
    for month in range(1, 11):
        notice_bill(account=a, period=dt.date(2026, month, 1))
    notice_bill(account=b, period=dt.date(2026, 3, 1))
    notice_bill(account=b, period=dt.date(2026, 4, 1), status=BillStatus.DRAFT)
    rows = list(bills_for_accounts([a.pk, b.pk], limit_per_account=3))
    assert [(r.account_id, r.period.month) for r in rows] == [
        (a.pk, 10),
        (a.pk, 9),
        (a.pk, 8),
        (b.pk, 3),
    ]
    assert rows[0].outstanding == Decimal("52.00")


def test_search_filters_and_refuses_staff_without_permission(make_user):
    customer = CustomerFactory(name="王五")
    acct = AccountFactory(customer=customer, number="9911110001")
    mine = notice_bill(account=acct, period=dt.date(2026, 9, 1))
    notice_bill(period=dt.date(2026, 9, 1))
    notice_bill(account=acct, period=dt.date(2026, 10, 1), status=BillStatus.DRAFT)
    clerk = make_user(roles=["billing_clerk"])
    assert [b.pk for b in bill_search(clerk, {"account": "991111", "period": dt.date(2026, 9, 1)})] == [
        mine.pk
    ]
    assert [b.pk for b in bill_search(clerk, {"name": "王", "status": "issued"})] == [mine.pk]
    assert bill_search(clerk, {"account": "991111"}).count() == 2
    with pytest.raises(PermissionDenied):
        bill_search(make_user(roles=["repair_crew"]), {})


def test_customer_sees_only_own_issued_bills():
    owner = CustomerFactory(with_login=True)
    acct = AccountFactory(customer=owner)
    own = notice_bill(account=acct)
    notice_bill(account=acct, period=dt.date(2026, 11, 1), status=BillStatus.DRAFT)
    notice_bill()  # someone else's
    assert list(bills_visible_to(owner.user)) == [own]


def test_account_statement_runs_bills_adjustments_and_payments():
    acct = AccountFactory()
    sep = notice_bill(
        account=acct, period=dt.date(2026, 9, 1), amount="40.00", due_date=dt.date(2026, 10, 20)
    )
    oct_ = notice_bill(account=acct, period=dt.date(2026, 10, 1), amount="60.00")
    decided_adjustment(oct_, "-6.00")
    pay(sep, "40.00", late_fee="1.00")
    statement = account_statement(acct.pk)
    assert statement.billed == Decimal("100.00")
    assert statement.adjusted == Decimal("-6.00")
    assert statement.paid == Decimal("41.00")
    assert statement.late_fees_paid == Decimal("1.00")
    assert statement.outstanding == Decimal("54.00")  # 0 on Sep + (60 − 6) on Oct
    assert statement.balance == Decimal("53.00")  # the 1.00 late fee was paid on top
    assert [e.kind for e in statement.entries].count("bill") == 2
    assert statement.entries[-1].balance == statement.balance


def test_an_issued_bill_and_its_lines_cannot_change():
    bill = notice_bill()
    with pytest.raises(IntegrityError), transaction.atomic():
        Bill.objects.filter(pk=bill.pk).update(amount=Decimal("1.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        BillLine.objects.filter(bill=bill).update(amount=Decimal("1.00"))
    with pytest.raises(IntegrityError), transaction.atomic():
        Bill.objects.filter(pk=bill.pk).delete()
    bill.refresh_from_db()
    assert bill.amount == Decimal("52.00")
    assert BillLine.objects.filter(bill=bill).count() == 2
