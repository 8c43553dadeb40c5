"""Periodic jobs (定时任务) for the background worker: ``core.PeriodicJob`` rows name a task
(a django-tasks ``@task`` by dotted path) and an interval; ``gridcare worker`` calls
:func:`periodic_jobs_enqueue` every few seconds, which claims the due rows, enqueues their
task and moves ``next_run_at`` on by the interval from the time the run was due (not from the
poll), so a daily job keeps its time of day.

Several workers may run at once: on PostgreSQL a due row is claimed with
``SELECT … FOR UPDATE SKIP LOCKED`` and moved on in the same transaction as the enqueue, so
one run is enqueued once. The default jobs (:data:`DEFAULT_JOBS`) are created by name on the
worker's first pass; an operator changes their interval or disables them in the admin.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.module_loading import import_string

from gridcare.core.models import PeriodicJob

logger = logging.getLogger(__name__)


DAY = 86_400


@dataclass(frozen=True)
class JobSpec:
    name: str
    task_path: str
    interval_seconds: int
    # A daily job's first run at this Beijing time of day (then every interval from there);
    # None: the first run is due at once.
    first_at: dt.time | None = None


DEFAULT_JOBS: tuple[JobSpec, ...] = (
    # 服务时限: warn at 75 %, breach and escalate at 100 % (docs/workorders-sla.md)
    JobSpec(name="sla_tick", task_path="gridcare.workorders.tasks.sla.sla_tick_task", interval_seconds=60),
    # 缺数巡检: missing-days exceptions for meters that stopped reporting (docs/metering.md)
    JobSpec(
        name="readings_missing_sweep",
        task_path="gridcare.metering.tasks.reading_missing_sweep_task",
        interval_seconds=DAY,
        first_at=dt.time(1, 30),
    ),
    # 费控日结: charge yesterday, check balances, send reminders and remote orders (docs/billing-prepaid.md)
    JobSpec(
        name="prepaid_daily_cycle",
        task_path="gridcare.billing.tasks.prepaid.prepaid_daily_cycle_task",
        interval_seconds=DAY,
        first_at=dt.time(2, 0),
    ),
    # 台区线损: yesterday's loss per transformer area, flags and suspects (docs/inspection-lineloss.md)
    JobSpec(
        name="line_loss",
        task_path="gridcare.inspection.tasks.lineloss.line_loss_task",
        interval_seconds=DAY,
        first_at=dt.time(2, 30),
    ),
    # 窃电风险: score every account with the active model (docs/inspection-scoring.md)
    JobSpec(
        name="theft_scoring",
        task_path="gridcare.inspection.tasks.scoring.theft_scoring_task",
        interval_seconds=DAY,
        first_at=dt.time(3, 0),
    ),
)


def first_run(spec: JobSpec, now: dt.datetime) -> dt.datetime | None:
    """When a new job first runs: the next ``first_at`` in Beijing time, or None (at once)."""
    if spec.first_at is None:
        return None
    local = timezone.localtime(now)
    at = local.replace(hour=spec.first_at.hour, minute=spec.first_at.minute, second=0, microsecond=0)
    return at if at > local else at + dt.timedelta(days=1)


def next_run(*, scheduled: dt.datetime | None, interval_seconds: int, now: dt.datetime) -> dt.datetime:
    """The run after one due at ``scheduled`` and enqueued at ``now``: ``scheduled`` plus whole
    intervals, the first one after ``now``. A late poll does not shift the job, and runs missed
    while the worker was stopped are not made up: the job ran once (at ``now``) and returns to
    its time of day. A job never run (``scheduled`` None) counts from ``now``."""
    interval = dt.timedelta(seconds=interval_seconds)
    if scheduled is None:
        return now + interval
    return scheduled + ((now - scheduled) // interval + 1) * interval


def periodic_jobs_ensure(
    jobs: tuple[JobSpec, ...] = DEFAULT_JOBS, *, now: dt.datetime | None = None
) -> list[PeriodicJob]:
    """Create the default jobs that do not exist yet (by name); existing rows keep what an
    operator set (interval, enabled, next run)."""
    now = now or timezone.now()
    return [
        PeriodicJob.objects.get_or_create(
            name=spec.name,
            defaults={
                "task_path": spec.task_path,
                "interval_seconds": spec.interval_seconds,
                "enabled": True,
                "next_run_at": first_run(spec, now),
            },
        )[0]
        for spec in jobs
    ]


def periodic_jobs_due(now: dt.datetime) -> QuerySet[PeriodicJob]:
    """The enabled jobs whose next run is due at ``now`` (never run counts as due)."""
    return PeriodicJob.objects.filter(enabled=True).filter(
        Q(next_run_at__isnull=True) | Q(next_run_at__lte=now)
    )


def periodic_jobs_enqueue(*, now: dt.datetime | None = None) -> list[str]:
    """Enqueue every due job once and schedule its next run; returns the names enqueued.

    The next run is the due time plus the interval (stepped past ``now``, see :func:`next_run`).
    A job whose task cannot be imported or enqueued is logged and moved on by its interval
    (so a typo in the admin does not fill the log every few seconds); the others still run.
    """
    now = now or timezone.now()
    enqueued: list[str] = []
    with transaction.atomic():
        qs = periodic_jobs_due(now).order_by("name")
        if transaction.get_connection().features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        for job in qs:
            try:
                with transaction.atomic():
                    import_string(job.task_path).enqueue()
            except Exception:
                logger.exception("periodic job %s: cannot enqueue %s", job.name, job.task_path)
            else:
                job.last_enqueued_at = now
                enqueued.append(job.name)
            job.next_run_at = next_run(
                scheduled=job.next_run_at, interval_seconds=job.interval_seconds, now=now
            )
            job.save(update_fields=["next_run_at", "last_enqueued_at"])
    return enqueued
