"""Case services: create with the rules in force, prefill, optimistic lock, submit, the
four-eyes approval, notice, posting to billing as a pending back-billing, withdraw, audit.

The helpers at the top (``account_with_contract``, ``task_with_finding``, ``approved_case``)
are shared by the view and API tests of cases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from gridcare.billing.choices import AdjustmentKind, DocumentStatus
from gridcare.billing.models import BillAdjustment
from gridcare.billing.selectors.bills import bill_outstanding
from gridcare.billing.services.adjustments import bill_adjustment_decide, bill_adjustment_request
from gridcare.billing.tests.factories import issued_bill
from gridcare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.customers.choices import ContractKind, CustomerClass
from gridcare.customers.tests.factories import AccountFactory, ContractFactory
from gridcare.inspection.choices import CaseStatus, FindingKind, TaskSource, TaskStatus
from gridcare.inspection.models import Case, Finding, InspectionTask
from gridcare.inspection.services.cases import (
    case_create,
    case_decide,
    case_notify,
    case_post_to_billing,
    case_prefill,
    case_submit,
    case_update,
    case_withdraw,
    catalogue_price,
)

pytestmark = pytest.mark.django_db

D = Decimal
KNOWN = {"period_known": True, "capacity_kw": "5", "hours_per_day": "8", "days": "30", "price": "0.52"}


# --- shared helpers ---------------------------------------------------------------------------


def account_with_contract(
    *,
    customer_class: str = CustomerClass.URBAN_RESIDENTIAL,
    capacity: str = "8.0",
    tariff: str = "HEBS-RES-LV",
    **kw: Any,
) -> Any:
    account = AccountFactory(customer_class=customer_class, tariff_code=tariff, **kw)
    ContractFactory(account=account, capacity_kva=D(capacity), kind=ContractKind.RESIDENTIAL)
    return account


def task_with_finding(account: Any, *, kind: str = FindingKind.THEFT, **finding: Any) -> tuple[Any, Any]:
    now = timezone.now()
    task = InspectionTask.objects.create(
        number=f"JC{InspectionTask.objects.count() + 1:08d}",
        account=account,
        source=TaskSource.MANUAL,
        status=TaskStatus.PLANNED,
        due_on=timezone.localdate(),
        created_by="t",
        created_at=now,
    )
    if kind == FindingKind.THEFT:
        finding.setdefault("theft_method", "bypass")
    if kind == FindingKind.VIOLATION:
        finding.setdefault("violation_kind", "meter_tampering")
    found = Finding.objects.create(
        task=task, kind=kind, description="表尾短接", recorded_by="t", recorded_at=now, **finding
    )
    return task, found


def theft_case(actor: Any, account: Any | None = None, **kw: Any) -> Case:
    kw.setdefault("occurred_on", dt.date(2026, 10, 15))
    kw.setdefault("inputs", dict(KNOWN))
    kw.setdefault("theft_method", "bypass")
    return case_create(actor=actor, kind="theft", account_id=(account or account_with_contract()).pk, **kw)


def approved_case(maker: Any, approver: Any, account: Any | None = None) -> Case:
    case = theft_case(maker, account)
    case_submit(actor=maker, case_id=case.pk, version=case.version)
    return case_decide(actor=approver, case_id=case.pk, approve=True, note="")


@pytest.fixture
def inspector(make_user):
    return make_user(roles=["inspector"], username="inspector1")


@pytest.fixture
def manager(make_user):
    return make_user(roles=["marketing_manager"], username="manager1")


# --- create and compute -----------------------------------------------------------------------


def test_create_computes_with_the_rules_in_force_and_audits(inspector):
    account = account_with_contract()
    case = theft_case(inspector, account, facts="绕越计量装置")
    case.refresh_from_db()
    assert case.number.startswith(f"AJ{timezone.localdate().year}")
    assert (case.status, case.user_type, case.created_by) == ("draft", "lighting", "inspector1")
    assert (case.energy_kwh, case.back_charge, case.penalty, case.total) == (
        D("1200.000"),
        D("624.00"),
        D("1872.00"),
        D("2496.00"),
    )
    assert case.basis["parameters"]["theft_multiple"]["effective_from"] == "2024-06-01"
    assert case.basis["parameters"]["theft_multiple"]["is_cap"] is True
    event = AuditEvent.objects.get(object_type="inspection.case", object_id=str(case.pk))
    assert event.action == "inspection.case.create"
    assert event.after["total"] == "2496.00"


def test_effective_date_selects_the_1996_or_the_2024_row(inspector):
    account = account_with_contract()
    before = theft_case(inspector, account, occurred_on=dt.date(2024, 5, 31))
    after = theft_case(inspector, account, occurred_on=dt.date(2024, 6, 1))
    assert before.basis["parameters"]["theft_multiple"]["effective_from"] == "1996-10-08"
    assert before.basis["parameters"]["theft_multiple"]["is_cap"] is False
    assert after.basis["parameters"]["theft_multiple"]["effective_from"] == "2024-06-01"
    # the 1996 rule fixes the multiple: an agreed 2× is refused before 2024-06-01, allowed after
    with pytest.raises(ValidationFailed) as exc:
        theft_case(
            inspector, account, occurred_on=dt.date(2024, 5, 31), inputs={**KNOWN, "agreed_multiple": "2"}
        )
    assert exc.value.field == "agreed_multiple"
    lower = theft_case(
        inspector, account, occurred_on=dt.date(2024, 6, 1), inputs={**KNOWN, "agreed_multiple": "2"}
    )
    assert lower.penalty == D("1248.00")
    with pytest.raises(ValidationFailed) as exc:
        theft_case(inspector, account, inputs={**KNOWN, "agreed_multiple": "4"})
    assert exc.value.field == "agreed_multiple"
    assert Case.objects.count() == 3


def test_violation_case_and_bad_input_write_nothing(inspector):
    account = account_with_contract(customer_class=CustomerClass.GENERAL_IC)
    case = case_create(
        actor=inspector,
        kind="violation",
        violation_kind="meter_tampering",
        account_id=account.pk,
        occurred_on=dt.date(2026, 10, 1),
        inputs={"residential": False, "occurrences": "2"},
    )
    assert (case.back_charge, case.penalty, case.total) == (D("0.00"), D("10000.00"), D("10000.00"))
    for kwargs, field in [
        ({"kind": "violation", "violation_kind": ""}, "violation_kind"),
        ({"kind": "theft", "theft_method": ""}, "theft_method"),
        ({"kind": "theft", "theft_method": "bypass", "inputs": {"price": "x"}}, "price"),
        ({"kind": "theft", "theft_method": "bypass", "inputs": {"bogus": "1"}}, "bogus"),
        (
            {
                "kind": "theft",
                "theft_method": "bypass",
                "occurred_on": timezone.localdate() + dt.timedelta(days=1),
            },
            "occurred_on",
        ),
    ]:
        kwargs.setdefault("inputs", KNOWN)
        kwargs.setdefault("occurred_on", dt.date(2026, 10, 1))
        with pytest.raises(ValidationFailed) as exc:
            case_create(actor=inspector, account_id=account.pk, **kwargs)
        assert exc.value.field == field, kwargs
    assert Case.objects.count() == 1
    assert AuditEvent.objects.filter(object_type="inspection.case").count() == 1


def test_permissions_to_create(make_user):
    account = account_with_contract()
    for role in ("auditor", "service_manager", "billing_clerk"):
        with pytest.raises(PermissionDenied):
            theft_case(make_user(roles=[role]), account)
    assert not Case.objects.exists()


def test_a_finding_must_belong_to_the_account(inspector):
    account = account_with_contract()
    _task, finding = task_with_finding(account_with_contract())
    with pytest.raises(ValidationFailed) as exc:
        theft_case(inspector, account, finding_id=finding.pk)
    assert exc.value.field == "account"
    task, finding = task_with_finding(account)
    case = theft_case(inspector, account, finding_id=finding.pk)
    assert (case.task_id, case.finding_id) == (task.pk, finding.pk)


def test_one_live_case_per_finding_of_its_kind(inspector):
    """A second case from the same finding would back-bill the customer twice; a safety
    finding opens no theft case. Once the first case is withdrawn, a new one may be opened."""
    account = account_with_contract()
    _task, finding = task_with_finding(account)
    first = theft_case(inspector, account, finding_id=finding.pk)
    with pytest.raises(ValidationFailed) as exc:
        theft_case(inspector, account, finding_id=finding.pk)
    assert exc.value.field == "finding"
    assert first.number in str(exc.value.message)
    _task, safety = task_with_finding(account, kind=FindingKind.SAFETY)
    with pytest.raises(ValidationFailed) as exc:
        theft_case(inspector, account, finding_id=safety.pk)
    assert exc.value.field == "finding"
    case_withdraw(actor=inspector, case_id=first.pk, reason="重复立案")
    assert theft_case(inspector, account, finding_id=finding.pk).finding_id == finding.pk
    assert Case.objects.filter(finding=finding).count() == 2


# --- prefill -------------------------------------------------------------------------------------


def test_prefill_from_a_finding(inspector):
    account = account_with_contract(capacity="8.0")
    task, finding = task_with_finding(account)
    data = case_prefill(user=inspector, finding_id=finding.pk, day=dt.date(2026, 10, 15))
    assert (data["kind"], data["theft_method"], data["task_id"], data["account_id"]) == (
        "theft",
        "bypass",
        task.pk,
        account.pk,
    )
    assert data["user_type"] == "lighting"
    assert data["inputs"]["capacity_kw"] == "8"
    assert data["facts"] == "表尾短接"


def test_prefill_price_from_the_catalogue(inspector):
    residential = account_with_contract(tariff="HEBS-RES-LV")
    data = case_prefill(user=inspector, account_id=residential.pk, day=dt.date(2026, 10, 15))
    assert data["inputs"]["price"] == "0.52"  # tier 1 of the 2018 河北南网 table
    assert data["inputs"]["residential"] is True
    # 一般工商业 < 1 kV in October 2026: flat = purchase 0.392 − 0.005 (October) = 0.387, plus line loss
    # 0.0213, transmission 0.1862, system 0.0148 and funds 0.0274 = 0.6367 yuan/kWh
    shop = account_with_contract(customer_class=CustomerClass.GENERAL_IC, tariff="HEBS-GIC-LV")
    data = case_prefill(user=inspector, account_id=shop.pk, day=dt.date(2026, 10, 15))
    assert data["user_type"] == "power"
    assert data["inputs"]["price"] == "0.6367"
    assert catalogue_price("", dt.date(2026, 10, 15)) is None  # no tariff: the clerk types it
    assert catalogue_price("HEBS-GIC-LV", dt.date(2020, 1, 1)) is None  # no version in force
    with pytest.raises(NotFound):
        case_prefill(user=inspector, account_id=999999)


def _industrial_account(*contracts: tuple[str, dt.date, dt.date | None, str]) -> Any:
    """A 大工业 account (no tariff: the price stays empty) with ``(capacity, start, end,
    basic_charge_by)`` active contracts, created in that order."""
    account = AccountFactory(customer_class=CustomerClass.LARGE_INDUSTRIAL)
    for capacity, start, end, basis in contracts:
        ContractFactory(
            account=account,
            kind=ContractKind.HIGH_VOLTAGE,
            capacity_kva=D(capacity),
            start_date=start,
            end_date=end,
            basic_charge_by=basis,
        )
    return account


def test_prefill_writes_a_round_capacity_without_an_exponent(inspector):
    # given a 400 kVA contract (stored as 400.0)
    account = _industrial_account(("400.0", dt.date(2024, 1, 1), None, "capacity"))
    # when the case form is prefilled
    data = case_prefill(user=inspector, account_id=account.pk, day=dt.date(2026, 10, 15))
    # then the clerk sees 400, not "4E+2"
    assert data["inputs"]["capacity_kw"] == "400"


def test_prefill_ignores_a_reduction_that_starts_after_the_case_day(inspector):
    # given 400 kVA in force and a 减容 to 250 kVA agreed from next month
    account = _industrial_account(
        ("400.0", dt.date(2024, 1, 1), None, "capacity"),
        ("250.0", dt.date(2026, 11, 1), None, ""),
    )
    # when a case is opened for 15 October
    data = case_prefill(user=inspector, account_id=account.pk, day=dt.date(2026, 10, 15))
    # then the contract of that day fills the capacity, not next month's
    assert data["inputs"] == {"residential": False, "capacity_kw": "400", "two_part": True}


def test_prefill_ignores_a_temporary_increase_that_has_ended(inspector):
    # given 400 kVA and a 临时增容 to 630 kVA from 10 to 20 September
    account = _industrial_account(
        ("400.0", dt.date(2024, 1, 1), None, "capacity"),
        ("630.0", dt.date(2026, 9, 10), dt.date(2026, 9, 20), ""),
    )
    # when a case is opened for 15 October, after the increase ended
    data = case_prefill(user=inspector, account_id=account.pk, day=dt.date(2026, 10, 15))
    # then the contract still in force fills the capacity
    assert data["inputs"] == {"residential": False, "capacity_kw": "400", "two_part": True}
    # and a finding recorded during the increase takes the temporary contract (the case's day)
    _task, finding = task_with_finding(account)
    Finding.objects.filter(pk=finding.pk).update(
        recorded_at=dt.datetime(2026, 9, 15, 10, 0, tzinfo=timezone.get_current_timezone())
    )
    data = case_prefill(user=inspector, finding_id=finding.pk, day=dt.date(2026, 10, 15))
    assert data["occurred_on"] == dt.date(2026, 9, 15)
    assert data["inputs"] == {"residential": False, "capacity_kw": "630", "two_part": False}


def test_prefill_uses_a_lapsed_contract_with_no_successor_in_force(inspector):
    # given a contract that ended on 31 December 2025 without renewal (合同到期未续签), an
    # earlier temporary increase, and a new contract agreed from December 2026
    account = _industrial_account(
        ("400.0", dt.date(2020, 1, 1), dt.date(2025, 12, 31), "capacity"),
        ("630.0", dt.date(2025, 6, 1), dt.date(2025, 8, 31), ""),
        ("315.0", dt.date(2026, 12, 1), None, ""),
    )
    # when a case is opened for 15 October 2026
    data = case_prefill(user=inspector, account_id=account.pk, day=dt.date(2026, 10, 15))
    # then the lapsed contract's terms carry on (as billing bills them)
    assert data["inputs"] == {"residential": False, "capacity_kw": "400", "two_part": True}


# --- update and workflow ------------------------------------------------------------------------


def test_update_recomputes_and_uses_the_version(inspector):
    case = theft_case(inspector)
    updated = case_update(
        actor=inspector, case_id=case.pk, version=case.version, inputs={**KNOWN, "days": "60"}, facts="更正"
    )
    assert (updated.version, updated.back_charge, updated.total, updated.facts) == (
        2,
        D("1248.00"),
        D("4992.00"),
        "更正",
    )
    with pytest.raises(Conflict):
        case_update(actor=inspector, case_id=case.pk, version=1, inputs=KNOWN)
    case.refresh_from_db()
    assert case.total == D("4992.00")


def test_four_eyes_approval(inspector, manager, make_user):
    case = theft_case(manager)  # a marketing manager drafts it
    case_submit(actor=inspector, case_id=case.pk)  # an inspector submits it
    for who in (manager, inspector):
        with pytest.raises(PermissionDenied):
            case_decide(actor=who, case_id=case.pk, approve=True)
    other = make_user(roles=["service_manager"], username="boss")
    with pytest.raises(ValidationFailed):
        case_decide(actor=other, case_id=case.pk, approve=False, note="")
    rejected = case_decide(actor=other, case_id=case.pk, approve=False, note="核实容量")
    assert (rejected.status, rejected.decided_by, rejected.decision_note) == ("draft", "boss", "核实容量")
    with pytest.raises(Conflict):
        case_decide(actor=other, case_id=case.pk, approve=True)  # a draft is not awaiting approval
    case_submit(actor=inspector, case_id=case.pk)
    approved = case_decide(actor=other, case_id=case.pk, approve=True)
    assert approved.status == CaseStatus.APPROVED
    with pytest.raises(Conflict):
        case_update(actor=inspector, case_id=case.pk, version=approved.version, inputs=KNOWN)
    actions = list(
        AuditEvent.objects.filter(object_type="inspection.case", object_id=str(case.pk))
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "inspection.case.create",
        "inspection.case.submit",
        "inspection.case.reject",
        "inspection.case.submit",
        "inspection.case.approve",
    ]


def test_a_manager_who_changed_a_case_sent_back_cannot_approve_it(inspector, manager, make_user):
    """Four eyes across rounds: the manager sends a case back, rewrites its price (ten times
    the amounts), the inspector resubmits — the manager may not approve what they entered;
    another manager may."""
    case = theft_case(inspector)
    case = case_submit(actor=inspector, case_id=case.pk, version=case.version)
    case = case_decide(actor=manager, case_id=case.pk, approve=False, note="核实电价")
    case = case_update(
        actor=manager, case_id=case.pk, version=case.version, inputs={**KNOWN, "price": "5.20"}
    )
    case = case_submit(actor=inspector, case_id=case.pk, version=case.version)
    with pytest.raises(PermissionDenied) as exc:
        case_decide(actor=manager, case_id=case.pk, approve=True)
    assert exc.value.code == "same_person"
    other = make_user(roles=["service_manager"], username="boss2")
    assert case_decide(actor=other, case_id=case.pk, approve=True).status == CaseStatus.APPROVED


def test_inspector_cannot_approve(inspector, make_user):
    other = make_user(roles=["inspector"], username="inspector2")
    case = theft_case(other)
    case_submit(actor=other, case_id=case.pk)
    with pytest.raises(PermissionDenied):
        case_decide(actor=inspector, case_id=case.pk, approve=True)


def test_notify_then_post_to_billing_creates_a_pending_backbilling(inspector, manager, make_user):
    account = account_with_contract()
    case = approved_case(inspector, manager, account)
    # an inspector who may also approve corrections in billing (service manager role)
    poster = make_user(roles=["inspector", "service_manager"], username="poster")
    with pytest.raises(Conflict) as exc:
        case_post_to_billing(actor=poster, case_id=case.pk)
    assert exc.value.code == "no_issued_bill"
    case.refresh_from_db()
    assert (case.status, case.bill_adjustment_id) == ("approved", None)
    issued_bill(account=account, period=dt.date(2026, 9, 1))
    latest = issued_bill(
        account=account,
        number="TB9999",
        period=dt.date(2026, 10, 1),
        period_start=dt.date(2026, 10, 1),
        period_end=dt.date(2026, 10, 31),
    )
    notified = case_notify(actor=inspector, case_id=case.pk)
    assert notified.status == "notified"
    assert notified.notified_at is not None
    settled = case_post_to_billing(actor=poster, case_id=case.pk)
    adjustment = BillAdjustment.objects.get()
    assert settled.status == CaseStatus.SETTLED
    assert settled.bill_adjustment_id == adjustment.pk
    assert (adjustment.bill_id, adjustment.kind, adjustment.amount, adjustment.kwh, adjustment.status) == (
        latest.pk,
        AdjustmentKind.BACKBILL,
        D("2496.00"),
        D("1200.000"),
        DocumentStatus.PENDING,
    )
    assert case.number in adjustment.reason
    assert adjustment.requested_by == "poster"
    # billing's own four-eyes rule holds: the poster cannot approve the document, another approver can
    with pytest.raises(PermissionDenied):
        bill_adjustment_decide(actor=poster, adjustment_id=adjustment.pk, approve=True)
    bill_adjustment_decide(actor=manager, adjustment_id=adjustment.pk, approve=True)
    with pytest.raises(Conflict):
        case_post_to_billing(actor=inspector, case_id=case.pk)
    assert BillAdjustment.objects.count() == 1
    assert AuditEvent.objects.filter(action="inspection.case.post", object_id=str(case.pk)).count() == 1


@pytest.mark.parametrize("served", [False, True])
def test_a_case_rejected_by_billing_returns_to_where_it_was_posted_from(
    inspector, manager, make_user, served
):
    """Billing's second person rejects the posted document: the case is not left settled for
    nothing but goes back to approved (or notified), unlinked and audited, and can be
    posted again (a new document, billing's four-eyes rule again) or withdrawn."""
    account = account_with_contract()
    case = approved_case(inspector, manager, account)
    if served:
        case_notify(actor=inspector, case_id=case.pk)
    bill = issued_bill(account=account, period=dt.date(2026, 10, 1))
    poster = make_user(roles=["inspector", "service_manager"], username="poster")
    billboss = make_user(roles=["service_manager"], username="billboss")
    posted = case_post_to_billing(actor=poster, case_id=case.pk)
    first = posted.bill_adjustment
    # when billing rejects the document
    bill_adjustment_decide(actor=billboss, adjustment_id=first.pk, approve=False, note="金额有误, 退回")
    # then the case is back where it was posted from, unlinked
    case.refresh_from_db()
    expected = CaseStatus.NOTIFIED if served else CaseStatus.APPROVED
    assert (case.status, case.bill_adjustment_id, case.version) == (expected, None, posted.version + 1)
    assert (case.total, case.decided_by) == (D("2496.00"), "manager1")  # amounts and approval stay
    event = AuditEvent.objects.get(action="inspection.case.billing_rejected", object_id=str(case.pk))
    assert (event.actor_label, event.reason) == ("billboss", f"{first.number}: 金额有误, 退回")
    assert (event.before["status"], event.after["status"]) == ("settled", expected)
    assert (event.before["bill_adjustment_id"], event.after["bill_adjustment_id"]) == (first.pk, None)
    # and it can be posted again: a second pending document on the bill
    again = case_post_to_billing(actor=poster, case_id=case.pk)
    second = BillAdjustment.objects.exclude(pk=first.pk).get()
    assert (again.status, again.bill_adjustment_id) == (CaseStatus.SETTLED, second.pk)
    assert (second.bill_id, second.amount, second.status) == (bill.pk, D("2496.00"), DocumentStatus.PENDING)
    # or withdrawn (by an approver) after a second rejection
    bill_adjustment_decide(actor=billboss, adjustment_id=second.pk, approve=False, note="客户异议成立")
    withdrawn = case_withdraw(actor=manager, case_id=case.pk, reason="客户异议成立")
    assert withdrawn.status == CaseStatus.WITHDRAWN


def test_billing_rejecting_an_ordinary_correction_leaves_the_cases_alone(inspector, manager, make_user):
    account = account_with_contract()
    case = approved_case(inspector, manager, account)
    bill = issued_bill(account=account, period=dt.date(2026, 10, 1))
    case_post_to_billing(actor=make_user(roles=["inspector"], username="poster"), case_id=case.pk)
    clerk = make_user(roles=["billing_clerk"], username="clerk")
    other = bill_adjustment_request(
        actor=clerk, bill_id=bill.pk, kind=AdjustmentKind.BACKBILL, kwh="10", reason="抄表差错"
    )
    bill_adjustment_decide(actor=manager, adjustment_id=other.pk, approve=False, note="无差错")
    case.refresh_from_db()
    assert (case.status, case.bill_adjustment_id) == (
        CaseStatus.SETTLED,
        BillAdjustment.objects.get(status=DocumentStatus.PENDING).pk,
    )
    assert not AuditEvent.objects.filter(action="inspection.case.billing_rejected").exists()


def test_a_theft_case_on_a_bill_changes_neither_its_later_corrections_nor_its_refund_ceilings(
    inspector, manager, make_user
):
    """A 3,240 kWh theft (3 kW × 6 h × 180 days at 0.52) posted onto a 100 kWh / 52.00
    residential bill: the same 10 kWh reading correction still costs 10 × 0.52 = 5.20 (not
    the tier-2 price the stolen energy would reach), and a refund still cannot take back
    more than the bill's own 100 kWh or 52.00. The customer still owes the case."""
    account = account_with_contract()
    bill = issued_bill(account=account, period=dt.date(2026, 10, 1))
    assert (bill.kwh, bill.amount) == (D("100.000"), D("52.00"))
    clerk = make_user(roles=["billing_clerk"], username="clerk")
    billboss = make_user(roles=["service_manager"], username="billboss")

    def correction(kind: str, **fields: Any) -> BillAdjustment:
        return bill_adjustment_request(actor=clerk, bill_id=bill.pk, kind=kind, reason="抄表差错", **fields)

    before = correction(AdjustmentKind.BACKBILL, kwh="10")
    assert before.amount == D("5.20")
    bill_adjustment_decide(actor=billboss, adjustment_id=before.pk, approve=False, note="重复")
    case = case_create(
        actor=inspector,
        kind="theft",
        account_id=account.pk,
        occurred_on=dt.date(2026, 10, 15),
        theft_method="bypass",
        inputs={"capacity_kw": "3", "price": "0.52"},
    )
    case_submit(actor=inspector, case_id=case.pk)
    case_decide(actor=manager, case_id=case.pk, approve=True)
    case = case_post_to_billing(actor=make_user(roles=["inspector"], username="poster"), case_id=case.pk)
    document = case.bill_adjustment
    bill_adjustment_decide(actor=billboss, adjustment_id=document.pk, approve=True)
    assert bill_outstanding(bill) == D("6791.20")  # 52.00 + the case
    # the same correction costs the same
    assert correction(AdjustmentKind.BACKBILL, kwh="10").amount == D("5.20")
    # the refund ceilings are the bill's own (less that pending back-billing of 10 kWh / 5.20)
    with pytest.raises(ValidationFailed) as exc:
        correction(AdjustmentKind.REFUND, kwh="110.001")
    assert exc.value.field == "kwh"
    with pytest.raises(ValidationFailed) as exc:
        correction(AdjustmentKind.REFUND, kwh="0", amount="57.21")
    assert exc.value.field == "amount"
    assert BillAdjustment.objects.count() == 3
    # the case's document keeps its energy, lines and totals, outside the bill's consumption
    document.refresh_from_db()
    assert (document.kwh, document.amount, document.corrects_consumption) == (
        D("3240.000"),
        D("6739.20"),
        False,
    )
    assert [(line["kind"], line["kwh"], line["amount"]) for line in document.lines] == [
        ("back_charge", "3240.000", "1684.80"),
        ("penalty", "0.000", "5054.40"),
    ]


def test_withdraw(inspector, manager):
    case = theft_case(inspector)
    with pytest.raises(ValidationFailed):
        case_withdraw(actor=inspector, case_id=case.pk, reason="")
    assert case_withdraw(actor=inspector, case_id=case.pk, reason="误报").status == CaseStatus.WITHDRAWN
    approved = approved_case(inspector, manager)
    with pytest.raises(PermissionDenied):
        case_withdraw(actor=inspector, case_id=approved.pk, reason="客户异议成立")
    assert case_withdraw(actor=manager, case_id=approved.pk, reason="客户异议成立").status == "withdrawn"
    with pytest.raises(Conflict):
        case_submit(actor=inspector, case_id=approved.pk)
