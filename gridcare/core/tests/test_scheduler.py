"""Periodic jobs keep their time of day (docs/workorders-sla.md "The worker and periodic jobs")."""

from __future__ import annotations

import datetime as dt

import pytest

from gridcare.core.models import PeriodicJob
from gridcare.core.scheduler import DAY, next_run, periodic_jobs_enqueue, periodic_jobs_ensure
from gridcare.workorders.tests.factories import BEIJING

T = dt.datetime(2026, 10, 12, 9, 0, tzinfo=BEIJING)
DUE = dt.datetime(2026, 10, 13, 2, 0, tzinfo=BEIJING)  # prepaid_daily_cycle's first run after T


def test_next_run_counts_from_the_time_the_run_was_due() -> None:
    assert next_run(scheduled=DUE, interval_seconds=DAY, now=DUE + dt.timedelta(seconds=4)) == (
        DUE + dt.timedelta(days=1)
    )
    assert next_run(scheduled=DUE, interval_seconds=60, now=DUE + dt.timedelta(seconds=59)) == (
        DUE + dt.timedelta(seconds=60)
    )


def test_next_run_after_a_stop_is_the_first_due_time_after_now_without_catching_up() -> None:
    back = DUE + dt.timedelta(days=3, hours=7, minutes=13)
    assert next_run(scheduled=DUE, interval_seconds=DAY, now=back) == DUE + dt.timedelta(days=4)
    # exactly on a due time: that run is this one, the next is an interval later
    assert next_run(scheduled=DUE, interval_seconds=DAY, now=DUE + dt.timedelta(days=2)) == (
        DUE + dt.timedelta(days=3)
    )


def test_next_run_of_a_job_never_run_counts_from_now() -> None:
    assert next_run(scheduled=None, interval_seconds=60, now=T) == T + dt.timedelta(seconds=60)


@pytest.mark.django_db
def test_a_daily_job_seen_late_by_the_poll_keeps_its_time_of_day() -> None:
    periodic_jobs_ensure(now=T)
    assert "prepaid_daily_cycle" in periodic_jobs_enqueue(now=DUE + dt.timedelta(seconds=4))
    job = PeriodicJob.objects.get(name="prepaid_daily_cycle")
    assert job.next_run_at == DUE + dt.timedelta(days=1)
    assert job.last_enqueued_at == DUE + dt.timedelta(seconds=4)


@pytest.mark.django_db
def test_daily_jobs_missed_while_the_worker_was_down_run_once_then_at_their_time_of_day() -> None:
    periodic_jobs_ensure(now=T)
    back = dt.datetime(2026, 10, 13, 9, 13, tzinfo=BEIJING)  # stopped overnight, started at 09:13
    assert periodic_jobs_enqueue(now=back) == [
        "line_loss",
        "prepaid_daily_cycle",
        "readings_missing_sweep",
        "sla_tick",
        "theft_scoring",
    ]
    next_runs = dict(PeriodicJob.objects.values_list("name", "next_run_at"))
    assert next_runs["readings_missing_sweep"] == dt.datetime(2026, 10, 14, 1, 30, tzinfo=BEIJING)
    assert next_runs["prepaid_daily_cycle"] == dt.datetime(2026, 10, 14, 2, 0, tzinfo=BEIJING)
    assert next_runs["line_loss"] == dt.datetime(2026, 10, 14, 2, 30, tzinfo=BEIJING)
    assert next_runs["theft_scoring"] == dt.datetime(2026, 10, 14, 3, 0, tzinfo=BEIJING)
    # once each: nothing more is due until the first of them tomorrow
    assert periodic_jobs_enqueue(now=back + dt.timedelta(seconds=5)) == []
