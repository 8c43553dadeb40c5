"""``gridcare worker``: run background jobs (Django tasks stored in the database) and the
periodic jobs (定时任务: the SLA tick every minute, …).

A thin wrapper over django-tasks-db's ``db_worker`` with GridCare's defaults: every queue,
a one-second poll, no auto-reload. Next to it a daemon thread enqueues the due
``core.PeriodicJob`` rows every few seconds (``gridcare.core.scheduler``; ``--no-scheduler``
turns it off). Run one or more of these next to the web server in production (each claims
jobs and due periodic rows with row locks, so several workers never run the same job);
``--batch`` enqueues the periodic jobs that are due once, runs what is queued and exits
(cron, tests).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import close_old_connections, connection

logger = logging.getLogger(__name__)


class SchedulerThread(threading.Thread):
    """Every ``every`` seconds: enqueue the due periodic jobs (the default jobs are created on
    the first pass). Errors are logged and retried on the next pass."""

    def __init__(self, every: float) -> None:
        super().__init__(name="gridcare-scheduler", daemon=True)
        self.every = every
        self.stopping = threading.Event()
        self.passes = 0

    def run(self) -> None:
        from gridcare.core.scheduler import periodic_jobs_enqueue, periodic_jobs_ensure

        ensured = False
        try:
            while not self.stopping.is_set():
                try:
                    close_old_connections()
                    if not ensured:
                        periodic_jobs_ensure()
                        ensured = True
                    names = periodic_jobs_enqueue()
                    if names:
                        logger.info("periodic jobs enqueued: %s", ", ".join(names))
                except Exception:
                    logger.exception("periodic jobs: pass failed, retrying in %s s", self.every)
                    connection.close()
                self.passes += 1
                self.stopping.wait(self.every)
        finally:
            connection.close()


class Command(BaseCommand):
    help = "Run background jobs (reading imports, SLA ticks, …) from the database queue until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queue", default="*", help="Queues to serve, comma-separated (default: all).")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between polls when idle (default 1)."
        )
        parser.add_argument(
            "--batch",
            action="store_true",
            help="Enqueue the due periodic jobs once, run the queued jobs, then exit.",
        )
        parser.add_argument("--max-tasks", type=int, default=None, help="Exit after this many jobs.")
        parser.add_argument("--worker-id", default=None, help="Unique id of this worker (default: random).")
        parser.add_argument(
            "--no-scheduler", action="store_true", help="Do not enqueue periodic jobs (another worker does)."
        )
        parser.add_argument(
            "--schedule-every",
            type=float,
            default=5.0,
            help="Seconds between checks for due periodic jobs (default 5).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        extra: dict[str, Any] = {}
        if options["max_tasks"]:
            extra["max_tasks"] = options["max_tasks"]
        if options["worker_id"]:
            extra["worker_id"] = options["worker_id"]
        scheduler: SchedulerThread | None = None
        if not options["no_scheduler"]:
            if options["batch"]:
                from gridcare.core.scheduler import periodic_jobs_enqueue

                periodic_jobs_enqueue()
            else:
                scheduler = SchedulerThread(every=max(1.0, options["schedule_every"]))
                scheduler.start()
        try:
            call_command(
                "db_worker",
                queue_name=options["queue"],
                interval=options["interval"],
                batch=options["batch"],
                reload=False,
                startup_delay=not options["batch"],
                verbosity=options["verbosity"],
                stdout=self.stdout._out,
                stderr=self.stderr._out,
                **extra,
            )
        finally:
            if scheduler is not None:
                scheduler.stopping.set()
                scheduler.join(timeout=10)
