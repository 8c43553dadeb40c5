"""Two executions of one billing run at once (PostgreSQL, real concurrent transactions and
the production path: reader thread, two writer threads): each account is billed once,
exactly one execution moves the run to review, and an issue made meanwhile is never undone."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from gridcare.billing.bench import generate
from gridcare.billing.choices import BillStatus, RunStatus
from gridcare.billing.models import Bill, BillingRun
from gridcare.billing.services.runs import (
    RUN_NOT_RUNNING,
    billing_run_execute,
    billing_run_issue,
    billing_run_start,
)
from gridcare.billing.tests.runs_fixtures import OCT
from gridcare.core.errors import Conflict

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

ACCOUNTS = 400


@pytest.fixture(autouse=True)
def _seeded_catalogue() -> None:
    """A transactional test's flush drops the seeded catalogue and policy: load them."""
    from django.apps import apps

    from gridcare.billing import seed_data
    from gridcare.billing.models import BillingPolicy

    if not BillingPolicy.objects.exists():
        seed_data.load(apps)


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """Start ``call`` in a thread with its own connection; the list gets its result or error."""
    result: list[Any] = []

    def run() -> None:
        from django.db import connection as thread_connection

        try:
            result.append(call())
        except Exception as exc:  # noqa: BLE001 - the test inspects what the thread got
            result.append(exc)
        finally:
            thread_connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def _assert_billed_once() -> None:
    assert Bill.objects.filter(period=OCT).count() == ACCOUNTS
    assert Bill.objects.filter(period=OCT).values("account_id").distinct().count() == ACCOUNTS


def test_two_executions_at_once_bill_once_and_one_finishes_the_run() -> None:
    assert connection.vendor == "postgresql"
    generate(ACCOUNTS, OCT)
    run = billing_run_start(period="2026-10", actor="test", partition_size=50)
    barrier = threading.Barrier(2)

    def execute() -> BillingRun:
        barrier.wait()
        return billing_run_execute(run_id=run.pk)

    threads = [in_thread(execute) for _ in range(2)]
    for thread, _result in threads:
        thread.join(timeout=300)
    results = [result[0] for _thread, result in threads]

    finished = [r for r in results if isinstance(r, BillingRun)]
    stopped = [r for r in results if isinstance(r, Conflict)]
    assert (len(finished), len(stopped)) == (1, 1), results
    assert stopped[0].code == RUN_NOT_RUNNING
    run.refresh_from_db()
    assert run.status == RunStatus.REVIEW
    assert run.partitions_done == run.partitions_total == 8
    _assert_billed_once()


def test_an_issue_while_a_second_execution_runs_is_never_undone() -> None:
    generate(ACCOUNTS, OCT)
    run = billing_run_start(period="2026-10", actor="test", partition_size=50)
    waiting, issued = threading.Event(), threading.Event()

    def wait_for_the_issue(done: int, total: int) -> None:
        if done == 0:
            waiting.set()  # this execution has taken the run: it is running
            assert issued.wait(timeout=300)

    # a retried job, held up while the first execution finishes and the clerk issues
    late, result = in_thread(lambda: billing_run_execute(run_id=run.pk, progress=wait_for_the_issue))
    try:
        assert waiting.wait(timeout=300)
        assert billing_run_execute(run_id=run.pk).status == RunStatus.REVIEW
        assert billing_run_issue(run_id=run.pk, actor="clerk") == ACCOUNTS
    finally:
        issued.set()
        late.join(timeout=300)

    assert isinstance(result[0], Conflict), result
    assert result[0].code == RUN_NOT_RUNNING
    assert "Another execution finished this run" in str(result[0].message)
    run.refresh_from_db()
    assert run.status == RunStatus.ISSUED
    _assert_billed_once()
    assert not Bill.objects.filter(period=OCT).exclude(status=BillStatus.ISSUED).exists()
