"""Billing runs on PostgreSQL outside a test transaction: the production path (a reader
thread, two writer threads) and a run killed with SIGKILL midway, then resumed: every
account billed exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from gridcare.billing.bench import generate
from gridcare.billing.choices import PartitionStatus, RunStatus
from gridcare.billing.models import Bill, BillingRun, BillingRunPartition, BillLine
from gridcare.billing.services.runs import billing_run
from gridcare.billing.tests.runs_fixtures import OCT

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _seeded_catalogue():
    """A transactional test's flush drops the seeded catalogue and policy: load them."""
    from django.apps import apps

    from gridcare.billing import seed_data
    from gridcare.billing.models import BillingPolicy

    if not BillingPolicy.objects.exists():
        seed_data.load(apps)


def _assert_billed_once(n: int) -> None:
    assert Bill.objects.filter(period=OCT).count() == n
    assert Bill.objects.filter(period=OCT).values("account_id").distinct().count() == n
    assert Bill.objects.filter(period=OCT).values("number").distinct().count() == n
    assert BillLine.objects.filter(bill__period=OCT, seq=1).count() == n


def test_threaded_run_bills_every_account_once():
    generate(900, OCT)
    run = billing_run(period="2026-10", actor="test", partition_size=100)
    assert run.status == RunStatus.REVIEW
    assert run.partitions_done == run.partitions_total == 9
    assert run.bills_written == 900
    _assert_billed_once(900)
    again = billing_run(period="2026-10", actor="test", partition_size=100)
    assert again.bills_written == 900
    _assert_billed_once(900)


def test_sigkill_midway_then_rerun_bills_each_account_exactly_once():
    generate(3000, OCT)
    settings = connection.settings_dict
    url = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    env = {**os.environ, "DATABASE_URL": url}
    proc = subprocess.Popen(  # noqa: S603 - our own command line
        [
            str(Path(sys.executable).parent / "gridcare"),
            "billing",
            "run",
            "--period",
            "2026-10",
            "--partition-size",
            "40",
            "--no-progress",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    killed_midway = False
    while time.monotonic() < deadline:
        done = BillingRunPartition.objects.filter(status=PartitionStatus.DONE).count()
        if done >= 5:
            proc.send_signal(signal.SIGKILL)
            killed_midway = True
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.wait(timeout=30)
    assert killed_midway, proc.stderr.read().decode() if proc.stderr else ""
    run = BillingRun.objects.get(period=OCT)
    assert run.status == RunStatus.RUNNING  # it never got to finish
    done = run.partitions.filter(status=PartitionStatus.DONE).count()
    assert 5 <= done < run.partitions_total
    written = Bill.objects.filter(period=OCT).count()
    assert written == sum(run.partitions.filter(status=PartitionStatus.DONE).values_list("bills", flat=True))
    resumed = billing_run(period="2026-10", actor="test", partition_size=40)
    assert resumed.status == RunStatus.REVIEW
    assert resumed.partitions_done == resumed.partitions_total
    _assert_billed_once(3000)
