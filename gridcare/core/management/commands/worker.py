"""``gridcare worker``: run background jobs (Django tasks stored in the database).

A thin wrapper over django-tasks-db's ``db_worker`` with GridCare's defaults: every queue,
a one-second poll, no auto-reload. Run one or more of these next to the web server in
production (each claims jobs with row locks, so several workers never run the same job);
``--batch`` runs what is queued and exits (cron, tests).
"""

from __future__ import annotations

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Run background jobs (reading imports, …) from the database queue until stopped."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queue", default="*", help="Queues to serve, comma-separated (default: all).")
        parser.add_argument(
            "--interval", type=float, default=1.0, help="Seconds between polls when idle (default 1)."
        )
        parser.add_argument("--batch", action="store_true", help="Run the queued jobs, then exit.")
        parser.add_argument("--max-tasks", type=int, default=None, help="Exit after this many jobs.")
        parser.add_argument("--worker-id", default=None, help="Unique id of this worker (default: random).")

    def handle(self, *args: Any, **options: Any) -> None:
        extra: dict[str, Any] = {}
        if options["max_tasks"]:
            extra["max_tasks"] = options["max_tasks"]
        if options["worker_id"]:
            extra["worker_id"] = options["worker_id"]
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
