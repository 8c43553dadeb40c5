"""退补 corrections: request (by hand or by re-rating), approval by a second person,
rejection, audit, and the corrections a meter verification creates — amounts checked
against hand computation (HEBS-RES-LV-M: 0–180 kWh at 0.52, 181–280 at 0.57, above 0.82)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from gridcare.billing.choices import AdjustmentKind, BillStatus, DocumentStatus, PaymentChannel
from gridcare.billing.models import BillAdjustment
from gridcare.billing.selectors.bills import bill_outstanding
from gridcare.billing.selectors.payments import account_arrears
from gridcare.billing.services.adjustments import (
    bill_adjustment_decide,
    bill_adjustment_request,
    bill_adjustments_from_meter_adjustment,
    correction_energy,
)
from gridcare.billing.services.payments import payment_post
from gridcare.billing.tests.factories_bills import meter_adjustment, notice_bill
from gridcare.billing.tests.factories_payments import business_account, ensure_policy
from gridcare.core.errors import Conflict, PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.customers.tests.factories import AccountFactory
from gridcare.metering.choices import AdjustmentStatus

pytestmark = pytest.mark.django_db
TZ = dt.timezone(dt.timedelta(hours=8))


@pytest.fixture
def clerk(make_user):
    return make_user(roles=["billing_clerk"], username="clerk")


@pytest.fixture
def manager(make_user):
    return make_user(roles=["service_manager"], username="manager")


def request_refund(clerk, bill, **kwargs):
    fields = {"kind": AdjustmentKind.REFUND, "kwh": "20", "reason": "抄表错误: 多抄 20 kWh"}
    fields.update(kwargs)
    return bill_adjustment_request(actor=clerk, bill_id=bill.pk, **fields)


# --- request ------------------------------------------------------------------------------------


def test_refund_by_re_rating_is_the_difference_of_the_two_ratings(clerk):
    bill = notice_bill(kwh="100.000", amount="52.00")
    adj = request_refund(clerk, bill)
    # 80 kWh × 0.52 = 41.60; 41.60 − 52.00 = −10.40
    assert (adj.kind, adj.kwh, adj.amount, adj.status) == (
        AdjustmentKind.REFUND,
        Decimal("-20.000"),
        Decimal("-10.40"),
        DocumentStatus.PENDING,
    )
    assert {"kind": "energy", "item": "energy_tier1", "kwh": "-20.000", "amount": "-10.40"} in adj.lines
    assert adj.number.startswith("TB")
    event = AuditEvent.objects.get(object_type="billing.billadjustment", object_id=str(adj.pk))
    assert event.action == "bill_adjustment.request"
    assert event.actor == clerk


def test_back_billing_across_tiers_by_re_rating(clerk):
    # 200 kWh billed: 180 × 0.52 + 20 × 0.57 = 93.60 + 11.40 = 105.00
    bill = notice_bill(kwh="200.000", amount="105.00")
    adj = bill_adjustment_request(
        actor=clerk, bill_id=bill.pk, kind=AdjustmentKind.BACKBILL, kwh="100", reason="漏抄"
    )
    # 300 kWh: 93.60 + 100 × 0.57 + 20 × 0.82 = 93.60 + 57.00 + 16.40 = 167.00 → +62.00
    assert adj.amount == Decimal("62.00")
    assert adj.kwh == Decimal("100.000")


def test_amount_by_hand_keeps_the_sign_of_the_kind(clerk):
    bill = notice_bill()
    adj = request_refund(clerk, bill, kwh="0", amount="3.30")
    assert adj.amount == Decimal("-3.30")
    with pytest.raises(ValidationFailed) as info:
        request_refund(clerk, bill, amount="-5.00", kind=AdjustmentKind.BACKBILL, kwh="0")
    assert info.value.field == "amount"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "bogus"}, "kind"),
        ({"reason": "  "}, "reason"),
        ({"kwh": "0", "amount": None}, "amount"),
        ({"kwh": "1.2345"}, "kwh"),
        ({"kwh": "150"}, "kwh"),  # a refund above the 100 kWh billed
        ({"kwh": "0", "amount": "1.234"}, "amount"),
        ({"kwh": 1.5}, "kwh"),  # a float is refused
    ],
)
def test_bad_requests_name_the_field_and_write_nothing(clerk, fields, field):
    bill = notice_bill()
    with pytest.raises(ValidationFailed) as info:
        request_refund(clerk, bill, **fields)
    assert info.value.field == field
    assert not BillAdjustment.objects.exists()


def test_a_draft_bill_is_not_corrected_but_re_rated(clerk):
    bill = notice_bill(status=BillStatus.DRAFT)
    with pytest.raises(Conflict):
        request_refund(clerk, bill)


def test_staff_without_the_permission_cannot_request(make_user):
    bill = notice_bill()
    with pytest.raises(PermissionDenied):
        request_refund(make_user(roles=["hotline_agent"]), bill)


def test_a_charge_the_bill_only_carries_stays_out_of_its_consumption_and_ceilings(clerk, manager):
    """A 窃电 case's 3,240 kWh / 6,739.20 posted onto a 100 kWh / 52.00 bill
    (``corrects_consumption=False``): owed once approved, but a 10 kWh reading correction is
    still rated from the bill's 100 kWh (10 × 0.52 = 5.20, not 10 × 0.82 above 280 kWh), and
    refunds are still bounded by the bill's own 100 kWh and 52.00."""
    bill = notice_bill(kwh="100.000", amount="52.00")
    carried = bill_adjustment_request(
        actor=clerk,
        bill_id=bill.pk,
        kind=AdjustmentKind.BACKBILL,
        kwh="3240",
        amount="6739.20",
        reason="窃电案件 AJ2026000001",
        lines=[{"kind": "back_charge", "item": "追补电费", "kwh": "3240.000", "amount": "1684.80"}],
        corrects_consumption=False,
    )
    bill_adjustment_decide(actor=manager, adjustment_id=carried.pk, approve=True)
    carried.refresh_from_db()
    assert (carried.kwh, carried.amount, carried.corrects_consumption) == (
        Decimal("3240.000"),
        Decimal("6739.20"),
        False,
    )
    assert carried.lines == [
        {"kind": "back_charge", "item": "追补电费", "kwh": "3240.000", "amount": "1684.80"}
    ]
    assert bill_outstanding(bill) == Decimal("6791.20")
    backbill = bill_adjustment_request(
        actor=clerk, bill_id=bill.pk, kind=AdjustmentKind.BACKBILL, kwh="10", reason="漏抄"
    )
    assert backbill.amount == Decimal("5.20")
    with pytest.raises(ValidationFailed) as info:
        request_refund(clerk, bill, kwh="110.001")  # 100 billed + 10 pending
    assert "110.000" in str(info.value.message)
    with pytest.raises(ValidationFailed) as info:
        request_refund(clerk, bill, kwh="0", amount="57.21")  # 52.00 billed + 5.20 pending
    assert info.value.field == "amount"
    assert BillAdjustment.objects.count() == 2


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": AdjustmentKind.BACKBILL, "kwh": "10"},  # no amount: nothing to re-rate
        {"kind": AdjustmentKind.REFUND, "kwh": "10", "amount": "5.20"},
    ],
)
def test_a_charge_the_bill_only_carries_is_a_back_billing_with_its_amount(clerk, fields):
    bill = notice_bill()
    with pytest.raises(ValidationFailed) as info:
        bill_adjustment_request(
            actor=clerk, bill_id=bill.pk, reason="窃电案件", corrects_consumption=False, **fields
        )
    assert info.value.field == "amount"
    assert not BillAdjustment.objects.exists()


# --- decide -----------------------------------------------------------------------------------


def test_second_person_approves_and_it_counts_in_outstanding(clerk, manager):
    bill = notice_bill()
    adj = request_refund(clerk, bill)
    assert bill_outstanding(bill) == Decimal("52.00")  # pending: not yet
    decided = bill_adjustment_decide(actor=manager, adjustment_id=adj.pk, approve=True, note="核实无误")
    assert (decided.status, decided.decided_by) == (DocumentStatus.APPROVED, "manager")
    assert bill_outstanding(bill) == Decimal("41.60")
    event = AuditEvent.objects.get(action="bill_adjustment.approve")
    assert event.before["status"] == "pending"
    assert event.after["status"] == "approved"
    assert event.reason == "核实无误"


def test_an_approved_back_billing_is_due_its_bills_payment_term_after_approval(clerk, manager):
    # The bill was issued 2025-02-05 and due 2025-02-20 (15 days); a back-billing approved
    # today is due 15 days from today; a refund has no due date.
    bill = notice_bill(
        period=dt.date(2025, 1, 1), kwh="200.000", amount="105.00", due_date=dt.date(2025, 2, 20)
    )
    backbill = bill_adjustment_request(
        actor=clerk, bill_id=bill.pk, kind=AdjustmentKind.BACKBILL, kwh="100", reason="漏抄"
    )
    refund = request_refund(clerk, bill, kwh="10")
    assert backbill.due_date is None  # pending: not yet billed to the customer
    bill_adjustment_decide(actor=manager, adjustment_id=backbill.pk, approve=True)
    bill_adjustment_decide(actor=manager, adjustment_id=refund.pk, approve=True)
    backbill.refresh_from_db()
    refund.refresh_from_db()
    assert backbill.due_date == timezone.localdate() + dt.timedelta(days=15)
    assert refund.due_date is None
    event = AuditEvent.objects.get(action="bill_adjustment.approve", object_id=str(backbill.pk))
    assert event.after["due_date"] == backbill.due_date.isoformat()


def test_a_back_billing_owes_no_late_fee_before_its_own_due_date(clerk, manager):
    """A bill paid on time, back-billed long after: the late fee on the back-billed 62.00
    counts from the day after the back-billing's due date, not the bill's (2025-02-20)."""
    ensure_policy()
    account = business_account()
    bill = notice_bill(
        account=account,
        period=dt.date(2025, 1, 1),
        kwh="200.000",
        amount="105.00",
        due_date=dt.date(2025, 2, 20),
    )
    payment_post(
        actor=manager,
        account_id=account.pk,
        amount="105.00",
        channel=PaymentChannel.COUNTER_CASH,
        idempotency_key="on-time",
        received_at=dt.datetime(2025, 2, 10, 10, tzinfo=TZ),
    )
    adj = bill_adjustment_request(
        actor=clerk, bill_id=bill.pk, kind=AdjustmentKind.BACKBILL, kwh="100", reason="漏抄"
    )
    bill_adjustment_decide(actor=manager, adjustment_id=adj.pk, approve=True)
    assert adj.amount == Decimal("62.00")
    due = timezone.localdate() + dt.timedelta(days=15)

    today = account_arrears(user=clerk, account_number=account.number, as_of=timezone.localdate())
    assert (today.outstanding, today.late_fee) == (Decimal("62.00"), Decimal("0.00"))
    assert [b.due_date for b in today.bills] == [due]
    # 10 days after its own due date, non-residential: 2‰ a day in the due date's year, 3‰
    # from 1 January (62.00 × 20‰ = 1.24 when the year does not turn).
    current = min(10, (dt.date(due.year, 12, 31) - due).days)
    permille = current * 2 + (10 - current) * 3
    later = account_arrears(user=clerk, account_number=account.number, as_of=due + dt.timedelta(days=10))
    assert later.late_fee == (Decimal("62.00") * permille / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)


def test_refunds_together_never_exceed_the_bill(clerk, manager):
    """A second refund starts from what the first left (pending ones count), by re-rating
    from there: 100 kWh billed, 60 refunded, then 40 more is allowed (at the same tier-1
    price) and one more kWh is not; a hand amount above the 52.00 billed is refused too."""
    bill = notice_bill(kwh="100.000", amount="52.00")
    first = request_refund(clerk, bill, kwh="60")
    assert first.amount == Decimal("-31.20")
    with pytest.raises(ValidationFailed) as info:
        request_refund(clerk, bill, kwh="41")  # pending counts: 40 kWh are left
    assert info.value.field == "kwh"
    assert "40.000" in str(info.value.message)
    second = request_refund(clerk, bill, kwh="40")
    assert second.amount == Decimal("-20.80")
    for adj in (first, second):
        bill_adjustment_decide(actor=manager, adjustment_id=adj.pk, approve=True)
    assert bill_outstanding(bill) == Decimal("0.00")
    with pytest.raises(ValidationFailed) as info:
        request_refund(clerk, bill, kwh="0", amount="0.01")
    assert info.value.field == "amount"
    assert BillAdjustment.objects.count() == 2


def test_a_refund_is_checked_again_when_approved(clerk, manager):
    """A refund requested while a back-billing was pending may exceed the bill once that
    back-billing is rejected: approving it is refused and changes nothing."""
    bill = notice_bill(kwh="100.000", amount="52.00")
    extra = bill_adjustment_request(
        actor=clerk, bill_id=bill.pk, kind=AdjustmentKind.BACKBILL, kwh="50", amount="26.00", reason="漏抄"
    )
    refund = request_refund(clerk, bill, kwh="150", amount="78.00")
    bill_adjustment_decide(actor=manager, adjustment_id=extra.pk, approve=False, note="核实无漏抄")
    with pytest.raises(Conflict):
        bill_adjustment_decide(actor=manager, adjustment_id=refund.pk, approve=True)
    refund.refresh_from_db()
    assert refund.status == DocumentStatus.PENDING
    assert bill_outstanding(bill) == Decimal("52.00")


def test_a_refund_on_a_paid_bill_becomes_the_balance_and_settles_the_next_bill(clerk, manager):
    """Bill 1 (52.00) paid in full, then 20 kWh refunded (−10.40): the 10.40 paid too much
    leaves bill 1 (outstanding 0, not −10.40) for the balance, which pays part of bill 2; a
    reversal of the payment takes it all back."""
    from gridcare.billing.models import AccountBalance, PaymentAllocation
    from gridcare.billing.services.payments import payment_post, payment_reverse
    from gridcare.billing.tests.factories_payments import ensure_policy

    ensure_policy()
    account = AccountFactory()
    far = dt.date(2099, 1, 1)
    bill1 = notice_bill(
        account=account, period=dt.date(2026, 9, 1), kwh="100.000", amount="52.00", due_date=far
    )
    bill2 = notice_bill(
        account=account, period=dt.date(2026, 10, 1), kwh="100.000", amount="52.00", due_date=far
    )
    payment = payment_post(
        actor=clerk, account_id=account.pk, amount="52.00", channel="counter_cash", idempotency_key="k1"
    )
    assert (bill_outstanding(bill1), bill_outstanding(bill2)) == (Decimal("0.00"), Decimal("52.00"))
    adj = request_refund(clerk, bill1)
    bill_adjustment_decide(actor=manager, adjustment_id=adj.pk, approve=True)
    assert bill_outstanding(bill1) == Decimal("0.00")
    assert bill_outstanding(bill2) == Decimal("41.60")
    assert AccountBalance.objects.get(account=account).amount == Decimal("0.00")
    assert AuditEvent.objects.filter(action="balance.refund_credit").count() == 1
    live = PaymentAllocation.objects.filter(payment=payment, reversed=False)
    assert sorted((a.bill_id, a.amount) for a in live) == [
        (bill1.pk, Decimal("41.60")),
        (bill2.pk, Decimal("10.40")),
    ]
    payment_reverse(actor=clerk, payment_id=payment.pk, reason="银行退票")
    assert (bill_outstanding(bill1), bill_outstanding(bill2)) == (Decimal("41.60"), Decimal("52.00"))
    assert AccountBalance.objects.get(account=account).amount == Decimal("0.00")


def test_the_requester_cannot_approve_their_own_correction(make_user):
    both = make_user(roles=["billing_clerk", "service_manager"], username="both")
    adj = request_refund(both, notice_bill())
    with pytest.raises(PermissionDenied) as info:
        bill_adjustment_decide(actor=both, adjustment_id=adj.pk, approve=True)
    assert info.value.code == "same_person"
    adj.refresh_from_db()
    assert adj.status == DocumentStatus.PENDING


def test_rejection_needs_a_note_and_never_counts(clerk, manager):
    bill = notice_bill()
    adj = request_refund(clerk, bill)
    with pytest.raises(ValidationFailed) as info:
        bill_adjustment_decide(actor=manager, adjustment_id=adj.pk, approve=False, note="")
    assert info.value.field == "note"
    bill_adjustment_decide(actor=manager, adjustment_id=adj.pk, approve=False, note="读数无误")
    adj.refresh_from_db()
    assert adj.status == DocumentStatus.REJECTED
    assert bill_outstanding(bill) == Decimal("52.00")
    with pytest.raises(Conflict):
        bill_adjustment_decide(actor=manager, adjustment_id=adj.pk, approve=True)


def test_deciding_needs_the_approval_permission(clerk, make_user):
    adj = request_refund(clerk, notice_bill())
    with pytest.raises(PermissionDenied):
        bill_adjustment_decide(actor=make_user(roles=["billing_clerk"]), adjustment_id=adj.pk, approve=True)
    with pytest.raises(PermissionDenied):
        bill_adjustment_decide(actor="system", adjustment_id=adj.pk, approve=True)


# --- from a meter verification --------------------------------------------------------------------


def test_correction_energy_formula():
    # fast 5 %: W × e/(100+e) = 100 × 5/105 = 4.762 kWh over the whole bill
    assert correction_energy(
        billed_kwh=Decimal(100), overlap_days=31, bill_days=31, error_pct=Decimal(5)
    ) == Decimal("4.762")
    # slow 4 %: 100 × (−4)/96 = −4.167 (back-bill)
    assert correction_energy(
        billed_kwh=Decimal(100), overlap_days=31, bill_days=31, error_pct=Decimal(-4)
    ) == Decimal("-4.167")
    # Check: a meter 5 % fast recorded 100 for a true 100/1.05 = 95.238; 100 − 95.238 = 4.762.


def test_fast_meter_refunds_each_overlapping_bill_by_its_share(clerk):
    account = AccountFactory()
    oct_ = notice_bill(account=account, period=dt.date(2026, 10, 1), kwh="100.000", amount="52.00")
    nov = notice_bill(account=account, period=dt.date(2026, 11, 1), kwh="90.000", amount="46.80")
    notice_bill(account=account, period=dt.date(2026, 9, 1))  # before the period: untouched
    record = meter_adjustment(
        account, error_pct="5.00", start=dt.date(2026, 10, 16), end=dt.date(2026, 11, 15)
    )
    created = bill_adjustments_from_meter_adjustment(actor=clerk, meter_adjustment_id=record.pk)
    by_bill = {a.bill_id: a for a in created}
    assert set(by_bill) == {oct_.pk, nov.pk}
    # Oct: 100 × 16/31 × 5/105 = 2.458 kWh; 97.542 × 0.52 = 50.72 → −1.28
    assert (by_bill[oct_.pk].kwh, by_bill[oct_.pk].amount) == (Decimal("-2.458"), Decimal("-1.28"))
    # Nov: 90 × 15/30 × 5/105 = 2.143 kWh; 87.857 × 0.52 = 45.69 → −1.11
    assert (by_bill[nov.pk].kwh, by_bill[nov.pk].amount) == (Decimal("-2.143"), Decimal("-1.11"))
    assert all(a.kind == AdjustmentKind.REFUND and a.status == DocumentStatus.PENDING for a in created)
    assert all(a.meter_adjustment_id == record.pk for a in created)
    record.refresh_from_db()
    assert record.status == AdjustmentStatus.SETTLED
    assert AuditEvent.objects.filter(action="adjustment.settle", object_id=str(record.pk)).count() == 1
    with pytest.raises(Conflict):  # settled once
        bill_adjustments_from_meter_adjustment(actor=clerk, meter_adjustment_id=record.pk)


def test_a_meter_record_whose_documents_billing_all_rejected_is_open_again(clerk, manager):
    account = AccountFactory()
    notice_bill(account=account, period=dt.date(2026, 10, 1), kwh="100.000", amount="52.00")
    notice_bill(account=account, period=dt.date(2026, 11, 1), kwh="90.000", amount="46.80")
    record = meter_adjustment(
        account, error_pct="5.00", start=dt.date(2026, 10, 16), end=dt.date(2026, 11, 15)
    )
    first, second = bill_adjustments_from_meter_adjustment(actor=clerk, meter_adjustment_id=record.pk)

    bill_adjustment_decide(actor=manager, adjustment_id=first.pk, approve=False, note="读数有误")
    record.refresh_from_db()
    assert record.status == AdjustmentStatus.SETTLED  # the other bill's document still stands

    bill_adjustment_decide(actor=manager, adjustment_id=second.pk, approve=False, note="读数有误")
    record.refresh_from_db()
    assert record.status == AdjustmentStatus.OPEN  # nothing stands: it can be settled again
    event = AuditEvent.objects.get(action="adjustment.reopen", object_id=str(record.pk))
    assert event.reason == "读数有误"
    assert len(bill_adjustments_from_meter_adjustment(actor=clerk, meter_adjustment_id=record.pk)) == 2


def test_slow_meter_back_bills(clerk):
    account = AccountFactory()
    bill = notice_bill(account=account, period=dt.date(2026, 10, 1), kwh="100.000", amount="52.00")
    record = meter_adjustment(
        account, error_pct="-4.00", start=dt.date(2026, 9, 1), end=dt.date(2026, 10, 31)
    )
    (adj,) = bill_adjustments_from_meter_adjustment(actor=clerk, meter_adjustment_id=record.pk)
    # 100 × (−4)/96 = −4.167 → 104.167 × 0.52 = 54.17 → +2.17
    assert (adj.bill_id, adj.kind, adj.kwh, adj.amount) == (
        bill.pk,
        AdjustmentKind.BACKBILL,
        Decimal("4.167"),
        Decimal("2.17"),
    )


def test_no_overlapping_bill_changes_nothing(clerk):
    account = AccountFactory()
    notice_bill(account=account, period=dt.date(2026, 10, 1))
    record = meter_adjustment(account, error_pct="3.00", start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 30))
    with pytest.raises(Conflict):
        bill_adjustments_from_meter_adjustment(actor=clerk, meter_adjustment_id=record.pk)
    record.refresh_from_db()
    assert record.status == AdjustmentStatus.OPEN
    assert not BillAdjustment.objects.exists()


def test_annual_tiers_re_rate_with_the_years_earlier_bills(clerk):
    # HEBS-RES-LV: annual tiers 0–2,160 / 2,161–3,360 kWh at 0.52 / 0.57.
    account = AccountFactory()
    notice_bill(
        account=account,
        period=dt.date(2026, 9, 1),
        kwh="2100.000",
        amount="1092.00",
        tariff_code="HEBS-RES-LV",
    )
    # October: 100 kWh, of which 60 in tier 1 and 40 in tier 2: 31.20 + 22.80 = 54.00
    bill = notice_bill(
        account=account, period=dt.date(2026, 10, 1), kwh="100.000", amount="54.00", tariff_code="HEBS-RES-LV"
    )
    adj = request_refund(clerk, bill, kwh="50")
    # 50 kWh all in tier 1: 26.00 → −28.00
    assert adj.amount == Decimal("-28.00")


def test_tou_registers_are_scaled_with_the_correction(clerk):
    # HEBS-RES-LV-TOU, first tier: peak 0.55, valley 0.30; 60 peak + 40 valley = 33.00 + 12.00 = 45.00
    bill = notice_bill(
        kwh="100.000",
        amount="45.00",
        tariff_code="HEBS-RES-LV-TOU",
        readings={
            "peak": {"meter": "M0001", "start": "0", "end": "60", "multiplier": "1.00", "kwh": "60.000"},
            "valley": {"meter": "M0001", "start": "0", "end": "40", "multiplier": "1.00", "kwh": "40.000"},
        },
    )
    adj = request_refund(clerk, bill, kwh="50")
    # 30 peak + 20 valley = 16.50 + 6.00 = 22.50 → −22.50
    assert adj.amount == Decimal("-22.50")


def test_re_rating_reads_the_period_as_the_run_did_and_the_registers_as_billed(clerk):
    # An account with a meter whose October readings (1000 → 1100: 100 kWh) were edited since
    # the bill was issued (1000 → 1120): the period row comes from services.period_data, as
    # in the run (the year before it: September's 50 kWh), and its registers are those the
    # bill records it was rated on.
    from gridcare.billing.services.adjustments import _period_row
    from gridcare.billing.tests.runs_fixtures import CLOSING, billable_account, put_reading

    account, meter = billable_account(tariff_code="HEBS-RES-LV-M", start="1000", end="1100")
    notice_bill(account=account, period=dt.date(2026, 9, 1), kwh="50.000", amount="26.00")
    bill = notice_bill(account=account, kwh="100.000", amount="52.00")
    put_reading(meter, "total", CLOSING, "1120", quality="edited")

    row = _period_row(bill)
    assert (row["ytd_wh_before"], row["total_wh"], row["period_start"]) == (
        50_000,
        100_000,
        bill.period_start,
    )
    adj = request_refund(clerk, bill, kwh="20")
    assert adj.amount == Decimal("-10.40")


@given(
    billed=st.decimals(min_value=0, max_value=1_000_000, places=3),
    error=st.decimals(min_value=Decimal("-50"), max_value=Decimal("50"), places=2).filter(lambda e: e != 0),
    days=st.integers(min_value=28, max_value=31),
    data=st.data(),
)
def test_correction_energy_property(billed, error, days, data):
    overlap = data.draw(st.integers(min_value=0, max_value=days))
    delta = correction_energy(billed_kwh=billed, overlap_days=overlap, bill_days=days, error_pct=error)
    share = billed * overlap / days
    true_energy = share / (1 + error / 100)  # what passed the meter in the overlap
    assert abs((share - delta) - true_energy) <= Decimal("0.0005")  # corrected = true, to the 0.001 kWh
    assert delta == 0 or (delta > 0) == (error > 0)  # fast → refund, slow → back-bill
    assert abs(delta) <= share + Decimal("0.0005")  # never more than the share, to the rounding
