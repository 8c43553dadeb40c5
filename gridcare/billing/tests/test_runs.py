"""Billing runs through the services: selection and holds, bills written in bulk,
idempotent and resumable runs, review rules and decisions, issue, the CLI, Dask."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal

import polars as pl
import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from gridcare.billing.choices import BillStatus, HoldStatus, PartitionStatus, RunStatus
from gridcare.billing.models import Bill, BillingHold, BillingPolicy, BillingRun, BillLine, BillReview
from gridcare.billing.services import runs
from gridcare.billing.services.runs import (
    bill_review_decide,
    billing_hold_release,
    billing_run,
    billing_run_issue,
    billing_run_start,
    review_flags,
)
from gridcare.billing.tests.factories import BillFactory
from gridcare.billing.tests.runs_fixtures import (
    OCT,
    billable_account,
    open_exception,
)
from gridcare.core.errors import Conflict, ValidationFailed
from gridcare.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _bills():
    return {b.account_id: b for b in Bill.objects.filter(period=OCT)}


def test_run_writes_draft_bills_and_holds():
    a, _ = billable_account(start="1000", end="1150")
    b, _ = billable_account(start="5", end="5")
    held, meter = billable_account()
    open_exception(held, meter, day_from=dt.date(2026, 10, 3), day_to=dt.date(2026, 10, 4))
    missing, _ = billable_account(end=None)
    unknown, _ = billable_account(tariff_code="NO-SUCH")
    run = billing_run(period="2026-10", actor="clerk", partition_size=2)

    assert run.status == RunStatus.REVIEW
    assert run.partitions_total == 3
    assert run.partitions_done == 3
    bills = _bills()
    assert set(bills) == {a.pk, b.pk}
    bill = bills[a.pk]
    assert bill.status == BillStatus.DRAFT
    assert bill.kwh == Decimal("150.000")
    assert bill.amount == Decimal("78.00")  # 150 kWh × 0.52
    assert bill.number.startswith("B202610")
    assert len(bill.number) == 15
    assert bill.run_id == run.pk
    assert (bill.period_start, bill.period_end) == (OCT, dt.date(2026, 10, 31))
    readings = bill.readings if isinstance(bill.readings, dict) else json.loads(bill.readings)
    assert readings["total"]["start"] == "1000.000"
    assert readings["total"]["end"] == "1150.000"
    lines = list(BillLine.objects.filter(bill=bill).order_by("seq"))
    assert lines[0].item == "energy_tier1"
    assert lines[0].amount == Decimal("78.00")
    assert lines[0].kwh == Decimal("150.000")
    assert sum(line.amount for line in lines if line.kind != "info") == bill.amount
    holds = {h.account_id: h for h in BillingHold.objects.filter(run=run)}
    assert set(holds) == {held.pk, missing.pk, unknown.pk}
    assert "Open reading exception" in holds[held.pk].reason
    assert holds[missing.pk].reason.startswith("Missing reading")
    assert holds[unknown.pk].reason.startswith("Not rated: ")
    assert (run.bills_written, run.accounts_held, run.accounts_selected) == (2, 3, 5)
    assert run.total_amount == Decimal("78.00")
    assert run.review_flags == 1  # b: zero consumption on an active account
    assert (
        AuditEvent.objects.filter(object_type="billing.billingrun", action="billing_run.start").count() == 1
    )


def test_rerun_never_duplicates_and_bills_released_holds():
    a, _ = billable_account()
    held, meter = billable_account()
    open_exception(held, meter, day_from=dt.date(2026, 10, 3), day_to=dt.date(2026, 10, 4))
    run = billing_run(period="2026-10", actor="clerk")
    first = _bills()
    assert set(first) == {a.pk}
    again = billing_run(period=dt.date(2026, 10, 17), actor="clerk")
    assert again.pk == run.pk
    assert Bill.objects.filter(period=OCT).count() == 1
    assert _bills()[a.pk].number == first[a.pk].number
    hold = BillingHold.objects.get(run=run, account=held)
    billing_hold_release(hold_id=hold.pk, actor="clerk", note="checked on site")
    assert AuditEvent.objects.filter(action="billing_hold.release").count() == 1
    run = billing_run(period="2026-10", actor="clerk")
    assert set(_bills()) == {a.pk, held.pk}
    assert run.bills_written == 2
    assert run.accounts_held == 0
    with pytest.raises(Conflict):
        billing_hold_release(hold_id=hold.pk, actor="clerk")


def test_held_account_is_billed_once_its_exception_is_resolved():
    held, meter = billable_account()
    open_exception(held, meter, day_from=dt.date(2026, 10, 3), day_to=dt.date(2026, 10, 4))
    run = billing_run(period="2026-10", actor="clerk")
    assert not _bills()
    held.reading_exceptions.update(status="accepted")
    billing_run(period="2026-10", actor="clerk")
    assert set(_bills()) == {held.pk}
    hold = BillingHold.objects.get(run=run, account=held)
    assert hold.status == HoldStatus.RELEASED
    assert hold.released_by == runs.SYSTEM_ACTOR


def test_crash_after_a_partition_then_rerun_bills_each_account_once(monkeypatch):
    accounts = [billable_account()[0] for _ in range(5)]
    real = runs._write_partition
    calls = {"n": 0}

    def crash_after_two(*args, **kwargs):
        if calls["n"] == 2:
            raise RuntimeError("worker died")
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(runs, "_write_partition", crash_after_two)
    with pytest.raises(RuntimeError):
        billing_run(period="2026-10", actor="clerk", partition_size=2)
    run = BillingRun.objects.get(period=OCT)
    assert run.status == RunStatus.FAILED
    assert "worker died" in run.error
    assert run.partitions.filter(status=PartitionStatus.DONE).count() == 2
    assert Bill.objects.filter(period=OCT).count() == 4
    monkeypatch.setattr(runs, "_write_partition", real)
    run = billing_run(period="2026-10", actor="clerk", partition_size=2)
    assert run.status == RunStatus.REVIEW
    assert sorted(_bills()) == sorted(a.pk for a in accounts)
    assert Bill.objects.filter(period=OCT).count() == 5
    assert run.partitions_done == run.partitions_total == 3
    assert run.bills_written == 5


def test_review_rules_and_history():
    policy = BillingPolicy.objects.order_by("-effective_from").first()
    a, _ = billable_account(start="0", end="600")  # 600 kWh × 0.52 = 312.00
    for month in range(4, 10):
        BillFactory(
            account=a,
            period=dt.date(2026, month, 1),
            amount=Decimal("50.00"),
            status="issued",
            issued_at=dt.datetime(2026, month, 5, tzinfo=dt.UTC),
            due_date=dt.date(2026, month, 20),
            number=f"H{month}",
        )
    b, _ = billable_account(start="0", end="600")
    BillFactory(
        account=b,
        period=dt.date(2026, 9, 1),
        amount=Decimal("150.00"),
        status="issued",
        issued_at=dt.datetime(2026, 9, 5, tzinfo=dt.UTC),
        due_date=dt.date(2026, 9, 20),
        number="HB",
    )
    run = billing_run(period="2026-10", actor="clerk")
    flags = {r.bill.account_id: r for r in BillReview.objects.filter(bill__run=run).select_related("bill")}
    assert set(flags) == {a.pk}  # 312 > 3 × 50; b: 312 ≤ 3 × 150
    assert flags[a.pk].rule == "high"
    assert "¥312.00" in flags[a.pk].detail
    assert "¥50.00" in flags[a.pk].detail
    frame = pl.DataFrame(
        {
            "bill_id": [1, 2, 3],
            "account_id": [a.pk, a.pk, a.pk],
            "wh": [10, 0, 0],
            "total_fen": [-500, 0, 0],
            "account_status": ["active", "active", "closed"],
        }
    )
    rules = dict(review_flags(frame, OCT, policy).select("bill_id", "rule").iter_rows())
    assert rules == {1: "negative", 2: "zero"}


def test_review_approve_and_send_back_then_issue():
    a, _ = billable_account(start="10", end="10")
    b, _ = billable_account(start="10", end="10")
    c, _ = billable_account()
    d, _ = billable_account(start="10", end="10")
    run = billing_run(period="2026-10", actor="clerk")
    reviews = {r.bill.account_id: r for r in BillReview.objects.filter(bill__run=run).select_related("bill")}
    assert set(reviews) == {a.pk, b.pk, d.pk}
    with pytest.raises(ValidationFailed):
        bill_review_decide(review_id=reviews[b.pk].pk, actor="clerk", decision="send_back")
    with pytest.raises(ValidationFailed):
        bill_review_decide(review_id=reviews[b.pk].pk, actor="clerk", decision="maybe")
    bill_review_decide(review_id=reviews[a.pk].pk, actor="clerk", decision="approve", note="vacant house")
    bill_review_decide(review_id=reviews[b.pk].pk, actor="clerk", decision="send_back", note="re-read")
    with pytest.raises(Conflict):
        bill_review_decide(review_id=reviews[a.pk].pk, actor="clerk", decision="approve")
    assert not Bill.objects.filter(account=b).exists()
    assert AuditEvent.objects.filter(action="bill_review.send_back").count() == 1
    assert AuditEvent.objects.filter(action="bill_review.approve").count() == 1

    issued = billing_run_issue(run_id=run.pk, actor="clerk")
    assert issued == 2  # a (approved) and c; d still has an open flag
    run.refresh_from_db()
    assert run.status == RunStatus.ISSUED
    bills = _bills()
    policy = BillingPolicy.objects.order_by("-effective_from").first()
    for acct in (a, c):
        bill = bills[acct.pk]
        assert bill.status == BillStatus.ISSUED
        assert bill.due_date == bill.issued_at.astimezone(
            dt.timezone(dt.timedelta(hours=8))
        ).date() + dt.timedelta(days=policy.due_days)
    assert bills[d.pk].status == BillStatus.DRAFT
    assert AuditEvent.objects.filter(action="billing_run.issue").count() == 1
    # The sent-back account is re-rated by a later run; the approved flag's bill is kept.
    run = billing_run(period="2026-10", actor="clerk")
    assert set(_bills()) == {a.pk, b.pk, c.pk, d.pk}
    assert Bill.objects.filter(period=OCT).count() == 4
    # An issued bill never changes.
    with pytest.raises(IntegrityError), transaction.atomic():
        Bill.objects.filter(pk=bills[a.pk].pk).update(amount=Decimal("1.00"))


def test_issue_needs_a_rated_run():
    billable_account()
    run = billing_run_start(period="2026-10", actor="clerk")
    with pytest.raises(Conflict):
        billing_run_issue(run_id=run.pk, actor="clerk")


def test_bad_period():
    with pytest.raises(ValidationFailed) as err:
        billing_run_start(period="October", actor="clerk")
    assert err.value.field == "period"


def test_cli_run_with_progress_bar_and_issue():
    billable_account()
    billable_account()
    out, err = io.StringIO(), io.StringIO()
    call_command("billing", "run", "--period", "2026-10", "--partition-size", "1", stdout=out, stderr=err)
    assert "2 bills" in out.getvalue()
    assert "[" + "#" * 30 + "] 2/2 partitions" in err.getvalue()
    assert "0/2 partitions" in err.getvalue()
    out = io.StringIO()
    call_command("billing", "issue", "--period", "2026-10", stdout=out)
    assert "2 bills issued" in out.getvalue()
    assert Bill.objects.filter(status=BillStatus.ISSUED).count() == 2


def test_cli_rejects_a_bad_period():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("billing", "run", "--period", "2026/10", stdout=io.StringIO(), stderr=io.StringIO())


def test_dask_local_cluster_gives_the_same_bills_as_in_process():
    from distributed import LocalCluster

    for _ in range(5):
        billable_account(start="100", end="400")
    billable_account(tariff_code="NO-SUCH")
    billing_run(period="2026-10", actor="clerk", partition_size=2)

    def snapshot():
        return sorted(
            (b.account_id, b.kwh, b.amount, tuple(b.lines.order_by("seq").values_list("item", "amount")))
            for b in Bill.objects.filter(period=OCT)
        ), sorted(BillingHold.objects.values_list("account_id", "reason"))

    local = snapshot()
    Bill.objects.all().delete()
    BillingRun.objects.all().delete()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        run = billing_run(
            period="2026-10", actor="clerk", partition_size=2, scheduler=cluster.scheduler_address
        )
    assert run.scheduler == cluster.scheduler_address
    assert run.status == RunStatus.REVIEW
    assert snapshot() == local
    assert len(local[0]) == 5


def test_the_runs_own_release_does_not_override_a_reopened_exception():
    # given an account held for an exception, billed by the run once it was resolved
    held, meter = billable_account(start="1000", end="1000")  # zero energy: reviewed
    open_exception(held, meter, day_from=dt.date(2026, 10, 3), day_to=dt.date(2026, 10, 4))
    run = billing_run(period="2026-10", actor="clerk")
    held.reading_exceptions.update(status="accepted")
    billing_run(period="2026-10", actor="clerk")
    hold = BillingHold.objects.get(run=run, account=held)
    assert (hold.status, hold.released_by) == (HoldStatus.RELEASED, runs.SYSTEM_ACTOR)
    # when its bill is sent back and the meter is sent for re-read
    review = BillReview.objects.get(bill__account=held)
    bill_review_decide(review_id=review.pk, actor="clerk", decision="send_back", note="re-read")
    open_exception(held, meter, day_from=dt.date(2026, 10, 20), day_to=dt.date(2026, 10, 31), status="reread")
    run = billing_run(period="2026-10", actor="clerk")
    # then the next run holds it again rather than billing over the open exception
    assert not _bills()
    hold.refresh_from_db()
    assert (hold.status, hold.released_by) == (HoldStatus.HELD, "")
    assert hold.reason == "Open reading exception (spike) in the period"
    assert run.accounts_held == 1


def test_released_hold_of_a_missing_reading_is_held_again():
    missing, _ = billable_account(end=None)
    run = billing_run(period="2026-10", actor="clerk")
    hold = BillingHold.objects.get(run=run, account=missing)
    billing_hold_release(hold_id=hold.pk, actor="clerk")
    run = billing_run(period="2026-10", actor="clerk")
    hold.refresh_from_db()
    assert hold.status == HoldStatus.HELD
    assert hold.reason.startswith("Missing reading")
    assert hold.released_by == ""
    assert run.accounts_held == 1
    assert not _bills()


def test_counters_follow_the_decisions():
    a, _ = billable_account(start="10", end="10")
    b, _ = billable_account(start="10", end="10")
    run = billing_run(period="2026-10", actor="clerk", partition_size=1)
    assert run.review_flags == 2
    assert run.bills_written == 2
    reviews = list(BillReview.objects.filter(bill__run=run).order_by("bill__account_id"))
    bill_review_decide(review_id=reviews[0].pk, actor="clerk", decision="approve")
    run.refresh_from_db()
    assert run.review_flags == 1
    bill_review_decide(review_id=reviews[1].pk, actor="clerk", decision="send_back", note="re-read")
    run.refresh_from_db()
    assert (run.review_flags, run.bills_written) == (0, 1)
    assert {a.pk} == set(_bills())


def test_issue_at_an_earlier_time_counts_the_due_date_from_it():
    billable_account()
    run = billing_run(period="2026-10", actor="clerk")
    at = dt.datetime(2026, 11, 5, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    with pytest.raises(ValidationFailed):
        billing_run_issue(run_id=run.pk, actor="demo", issued_at=dt.datetime(2026, 11, 5, 9))  # noqa: DTZ001
    assert billing_run_issue(run_id=run.pk, actor="demo", issued_at=at) == 1
    bill = Bill.objects.get(period=OCT)
    assert bill.issued_at == at
    assert bill.due_date == dt.date(2026, 11, 20)  # 15 days in the seeded policy


def test_a_first_bill_of_half_a_month_gets_half_the_monthly_tiers():
    """An account opened and metered on 16 October, 150 kWh, monthly tiers: its first bill
    covers 16–31 October and the bounds are pro-rated to 16/31 (docs/billing-tariffs.md's
    worked example: 82.23), not the full month's 180 kWh at 0.52 (78.00)."""
    from gridcare.billing.tests.factories_payments import ensure_policy

    ensure_policy()
    acct, _meter = billable_account(
        tariff_code="HEBS-RES-LV-M",
        installed_on=dt.date(2026, 10, 16),
        opened_on=dt.date(2026, 10, 16),
        start=None,
        end="150",
    )
    billing_run(period="2026-10", actor="test")
    bill = Bill.objects.get(account=acct)
    assert (bill.period_start, bill.period_end) == (dt.date(2026, 10, 16), dt.date(2026, 10, 31))
    assert (bill.kwh, bill.amount) == (Decimal("150.000"), Decimal("82.23"))
