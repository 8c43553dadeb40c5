"""Periodic jobs (gridcare.core.scheduler) and the SLA tick run by the real background worker
(``gridcare worker``, django-tasks database backend)."""

from __future__ import annotations

import datetime as dt
import io
import signal
import time

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from gridcare.core.management.commands.worker import SchedulerThread
from gridcare.core.models import PeriodicJob
from gridcare.core.scheduler import (
    DEFAULT_JOBS,
    periodic_jobs_due,
    periodic_jobs_enqueue,
    periodic_jobs_ensure,
)
from gridcare.quality.models import SlaBreach
from gridcare.workorders.choices import AlertKind
from gridcare.workorders.models import StaffAlert
from gridcare.workorders.tasks.sla import sla_tick_task
from gridcare.workorders.tests.factories import BEIJING, TeamFactory, accept
from gridcare.workorders.tests.sla_fixtures import reload_reference_data

T = dt.datetime(2026, 10, 12, 9, 0, tzinfo=BEIJING)
SLA_TASK = "gridcare.workorders.tasks.sla.sla_tick_task"


@pytest.fixture
def reference_data(transactional_db: None) -> None:
    """A transactional test runs after others flushed the seeded rows: put them back."""
    reload_reference_data()


def worker(*args: str) -> str:
    out = io.StringIO()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    try:
        call_command("worker", *args, verbosity=0, stdout=out, stderr=io.StringIO())
    finally:  # the worker installs its own shutdown handlers
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return out.getvalue()


@pytest.mark.django_db
def test_default_jobs_are_created_once_and_keep_operator_changes():
    jobs = periodic_jobs_ensure(now=T)
    assert [(j.name, j.task_path, j.interval_seconds, j.enabled) for j in jobs] == [
        ("sla_tick", SLA_TASK, 60, True),
        ("readings_missing_sweep", "gridcare.metering.tasks.reading_missing_sweep_task", 86_400, True),
        ("prepaid_daily_cycle", "gridcare.billing.tasks.prepaid.prepaid_daily_cycle_task", 86_400, True),
        ("line_loss", "gridcare.inspection.tasks.lineloss.line_loss_task", 86_400, True),
        ("theft_scoring", "gridcare.inspection.tasks.scoring.theft_scoring_task", 86_400, True),
    ]
    assert [s.name for s in DEFAULT_JOBS] == [
        "sla_tick",
        "readings_missing_sweep",
        "prepaid_daily_cycle",
        "line_loss",
        "theft_scoring",
    ]
    # the nightly jobs first run at their time of day (Beijing), the SLA tick at once
    next_runs = {j.name: j.next_run_at for j in jobs}
    assert next_runs["sla_tick"] is None
    assert next_runs["readings_missing_sweep"] == dt.datetime(2026, 10, 13, 1, 30, tzinfo=BEIJING)
    assert next_runs["prepaid_daily_cycle"] == dt.datetime(2026, 10, 13, 2, 0, tzinfo=BEIJING)
    assert next_runs["line_loss"] == dt.datetime(2026, 10, 13, 2, 30, tzinfo=BEIJING)
    assert next_runs["theft_scoring"] == dt.datetime(2026, 10, 13, 3, 0, tzinfo=BEIJING)
    PeriodicJob.objects.filter(name="sla_tick").update(interval_seconds=300, enabled=False)
    periodic_jobs_ensure(now=T)
    job = PeriodicJob.objects.get(name="sla_tick")
    assert (job.interval_seconds, job.enabled) == (300, False)


@pytest.mark.django_db
def test_a_nightly_job_is_enqueued_at_its_time_and_then_daily():
    periodic_jobs_ensure(now=T)
    night = dt.datetime(2026, 10, 13, 1, 30, tzinfo=BEIJING)
    assert periodic_jobs_enqueue(now=night - dt.timedelta(minutes=1)) == ["sla_tick"]
    assert periodic_jobs_enqueue(now=night) == ["readings_missing_sweep", "sla_tick"]
    job = PeriodicJob.objects.get(name="readings_missing_sweep")
    assert job.next_run_at == night + dt.timedelta(days=1)


@pytest.mark.django_db
def test_due_jobs_are_enqueued_once_per_interval():
    periodic_jobs_ensure(now=T)
    assert list(periodic_jobs_due(T).values_list("name", flat=True)) == ["sla_tick"]  # never run: due
    assert periodic_jobs_enqueue(now=T) == ["sla_tick"]
    job = PeriodicJob.objects.get(name="sla_tick")
    assert job.next_run_at == T + dt.timedelta(seconds=60)
    assert job.last_enqueued_at == T
    task = DBTaskResult.objects.get()
    assert task.task_path == SLA_TASK
    assert task.status == "READY"
    # not again before the interval
    assert periodic_jobs_enqueue(now=T + dt.timedelta(seconds=59)) == []
    assert not periodic_jobs_due(T + dt.timedelta(seconds=59)).exists()
    assert DBTaskResult.objects.count() == 1
    # and again once it has passed
    assert periodic_jobs_enqueue(now=T + dt.timedelta(seconds=60)) == ["sla_tick"]
    assert DBTaskResult.objects.count() == 2
    assert PeriodicJob.objects.get(name="sla_tick").next_run_at == T + dt.timedelta(seconds=120)


@pytest.mark.django_db
def test_disabled_jobs_are_skipped():
    periodic_jobs_ensure(now=T)
    PeriodicJob.objects.update(enabled=False)
    assert periodic_jobs_enqueue(now=T + dt.timedelta(days=2)) == []
    assert not DBTaskResult.objects.exists()
    assert PeriodicJob.objects.get(name="sla_tick").next_run_at is None


@pytest.mark.django_db
def test_a_broken_task_path_does_not_stop_the_others(caplog):
    periodic_jobs_ensure(now=T)
    PeriodicJob.objects.create(name="aaa_typo", task_path="gridcare.nowhere.task", interval_seconds=30)
    assert periodic_jobs_enqueue(now=T) == ["sla_tick"]
    broken = PeriodicJob.objects.get(name="aaa_typo")
    assert broken.last_enqueued_at is None
    assert broken.next_run_at == T + dt.timedelta(seconds=30)
    assert "aaa_typo" in caplog.text
    assert DBTaskResult.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_batch_without_scheduler_enqueues_nothing():
    periodic_jobs_ensure()
    worker("--batch", "--no-scheduler")
    assert not DBTaskResult.objects.exists()
    assert PeriodicJob.objects.get(name="sla_tick").next_run_at is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("reference_data")
def test_worker_batch_runs_an_sla_tick_that_breaches_an_overdue_clock(make_user):
    supervisor = make_user(roles=["service_manager"], username="boss_w")
    agent = make_user(roles=["hotline_agent"], username="agent_w")
    team = TeamFactory(code="KFW", supervisor=supervisor, members=[agent])
    accepted = timezone.now() - dt.timedelta(hours=30)  # the 24 h contact clock is overdue
    order = accept(actor=agent, at=accepted, team=team.code)
    periodic_jobs_ensure()

    worker("--batch")

    task = DBTaskResult.objects.get()
    assert task.task_path == SLA_TASK
    assert task.status == "SUCCESSFUL"
    assert task.return_value["breached"] >= 1
    breach = SlaBreach.objects.get(order=order, stage="contact")
    assert breach.team == team
    assert StaffAlert.objects.filter(kind=AlertKind.ESCALATION, recipient=supervisor, order=order).exists()
    # the job moved on: a second batch right away enqueues nothing
    worker("--batch")
    assert DBTaskResult.objects.count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("reference_data")
def test_the_task_replays_a_given_time(make_user):
    agent = make_user(roles=["hotline_agent"])
    manager = make_user(roles=["service_manager"])
    order = accept(actor=agent, at=T)
    sla_tick_task.enqueue(now="2026-10-13T10:00")  # naive: Beijing; contact (24 h) is due at 09:00
    worker("--batch", "--no-scheduler")
    assert DBTaskResult.objects.get().return_value == {"warned": 0, "breached": 1, "escalated": 1}
    assert SlaBreach.objects.get().breached_at == dt.datetime(2026, 10, 13, 10, 0, tzinfo=BEIJING)
    order.refresh_from_db()
    assert order.team is None  # no team, so no supervisor: the service managers are alerted
    assert StaffAlert.objects.get(kind=AlertKind.ESCALATION).recipient == manager
    assert order.escalated_to == manager


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("reference_data")
def test_the_scheduler_thread_creates_and_enqueues_the_default_jobs():
    thread = SchedulerThread(every=1.0)
    thread.start()
    deadline = time.monotonic() + 20
    while thread.passes < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    thread.stopping.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert thread.passes >= 1
    job = PeriodicJob.objects.get(name="sla_tick")
    assert job.last_enqueued_at is not None
    assert DBTaskResult.objects.filter(task_path=SLA_TASK).count() == 1
