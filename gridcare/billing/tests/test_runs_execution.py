"""A run executed twice (a job retried while the first still runs, two workers): the run's
status only moves from the status an execution expects, so an issued run never goes back
to review, and the second execution stops with a clear message."""

from __future__ import annotations

import pytest

from gridcare.billing.choices import BillStatus, RunStatus
from gridcare.billing.models import Bill, BillingRun
from gridcare.billing.services.runs import (
    RUN_NOT_RUNNING,
    billing_run,
    billing_run_execute,
    billing_run_issue,
    billing_run_start,
)
from gridcare.billing.tasks.runs import billing_run_task
from gridcare.billing.tests.runs_fixtures import OCT, billable_account
from gridcare.core.errors import Conflict
from gridcare.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def _snapshot(run_id: int) -> tuple:
    run = BillingRun.objects.get(pk=run_id)
    bills = sorted(Bill.objects.filter(period=OCT).values_list("number", "status", "amount", "issued_at"))
    return run.status, run.issued_at, run.bills_written, run.total_amount, bills


def test_executing_an_issued_run_again_changes_nothing() -> None:
    # given a run executed and issued
    billable_account()
    billable_account()
    run = billing_run(period="2026-10", actor="clerk")
    assert billing_run_issue(run_id=run.pk, actor="clerk") == 2
    before = _snapshot(run.pk)

    # when it is executed again
    with pytest.raises(Conflict, match="Start the run first") as err:
        billing_run_execute(run_id=run.pk)

    # then it is still issued, nothing written twice
    assert err.value.code == RUN_NOT_RUNNING
    assert _snapshot(run.pk) == before
    assert before[0] == RunStatus.ISSUED


def test_an_execution_overtaken_by_another_and_the_issue_leaves_the_run_issued() -> None:
    # given a started run, and a second execution that finishes it and an issue made while
    # the first execution is still on its way (its progress callback lets them in)
    billable_account()
    billable_account()
    run = billing_run_start(period="2026-10", actor="clerk", partition_size=1)

    def overtaken(done: int, total: int) -> None:
        if done == 0:
            billing_run_execute(run_id=run.pk)
            billing_run_issue(run_id=run.pk, actor="clerk")

    # when the first execution goes on
    with pytest.raises(Conflict, match="Another execution finished this run") as err:
        billing_run_execute(run_id=run.pk, progress=overtaken)

    # then the run stays issued, with each account billed once, every bill issued
    assert err.value.code == RUN_NOT_RUNNING
    assert "Issued" in str(err.value.message)
    status, issued_at, written, _amount, bills = _snapshot(run.pk)
    assert (status, written, len(bills)) == (RunStatus.ISSUED, 2, 2)
    assert issued_at is not None
    assert {b[1] for b in bills} == {BillStatus.ISSUED}
    assert AuditEvent.objects.filter(action="billing_run.issue").count() == 1


def test_an_execution_stopped_by_a_new_start_does_not_fail_the_run() -> None:
    # given an execution whose run is started again (a new start) while it rates
    billable_account()
    run = billing_run_start(period="2026-10", actor="clerk")

    def restarted(done: int, total: int) -> None:
        if done == 0:
            billing_run_start(period="2026-10", actor="clerk")

    # when the first execution finishes, then it stops and leaves the new start running
    with pytest.raises(Conflict, match="started again"):
        billing_run_execute(run_id=run.pk, progress=restarted)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    assert billing_run_execute(run_id=run.pk).status == RunStatus.REVIEW
    assert Bill.objects.filter(period=OCT).count() == 1


def test_a_job_for_a_run_no_longer_running_stops_cleanly() -> None:
    billable_account()
    run = billing_run(period="2026-10", actor="clerk")
    billing_run_issue(run_id=run.pk, actor="clerk")

    result = billing_run_task.call(run_id=run.pk)

    assert result["status"] == RunStatus.ISSUED
    assert result["bills_written"] == 1
    assert result["stopped"].startswith("Start the run first (it is Issued")
    run.refresh_from_db()
    assert run.status == RunStatus.ISSUED
