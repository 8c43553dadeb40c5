"""``gridcare readings import FILE [--channel ami|manual|handheld]``: import a reading file
(CSV or Parquet) now, in this process, with a progress line; prints the counts and the path
of the rejected-rows CSV. Exit code 0 when the file was read (even with rejected rows), 1
when its header is unusable (nothing is stored then).
"""

from __future__ import annotations

import datetime as dt
import sys
import threading
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gridcare.metering.choices import ImportStatus
from gridcare.metering.models import ReadingImport
from gridcare.metering.services.readings import (
    IMPORT_CHANNELS,
    reading_import_create,
    reading_import_run,
    reading_missing_sweep,
    rejected_csv_path,
)

ACTOR = "gridcare readings import"


class Command(BaseCommand):
    help = (
        "Readings: `gridcare readings import FILE [--channel ami|manual|handheld]`; "
        "`gridcare readings sweep [--as-of DATE]` opens missing-days exceptions for meters that "
        "stopped reporting (run nightly)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        imp = sub.add_parser("import", help="Import a CSV or Parquet file of daily register readings.")
        imp.add_argument("file", type=Path, help="meter,register,day,value[,source] (CSV or Parquet)")
        imp.add_argument(
            "--channel", choices=[str(c) for c in IMPORT_CHANNELS], default="ami", help="Default: ami."
        )
        imp.add_argument("--no-progress", action="store_true", help="No progress line.")
        sweep = sub.add_parser(
            "sweep", help="Open missing-days exceptions for meters that stopped reporting."
        )
        sweep.add_argument("--as-of", type=dt.date.fromisoformat, default=None, help="Default: yesterday.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "sweep":
            counts = reading_missing_sweep(as_of=options["as_of"])
            self.stdout.write(
                f"missing-days sweep: {counts['opened']} exceptions opened, {counts['extended']} extended"
            )
            return
        path: Path = options["file"]
        if not path.is_file():
            raise CommandError(f"no such file: {path}")
        reading_import = reading_import_create(
            actor=ACTOR, source_name=path.name, content=path, channel=options["channel"]
        )
        stored = reading_import.stored_path  # type: ignore[attr-defined]
        stop = threading.Event()
        show = not options["no_progress"] and options["verbosity"] > 0
        watcher = threading.Thread(target=self._progress, args=(reading_import.pk, stop), daemon=True)
        if show:
            watcher.start()
        try:
            result = reading_import_run(import_id=reading_import.pk, path=stored)
        finally:
            stop.set()
            if show:
                watcher.join()
        self.stdout.write(f"import #{result.pk} {result.source_name}: {result.status}")
        if result.status == ImportStatus.FAILED:
            self.stderr.write(f"  {result.error}")
            sys.exit(1)
        self.stdout.write(f"  rows in file       {result.total_rows:>10}")
        self.stdout.write(f"  readings stored    {result.inserted_rows:>10}")
        self.stdout.write(f"  already stored     {result.duplicate_rows:>10}")
        self.stdout.write(f"  rows rejected      {result.rejected_rows:>10}")
        self.stdout.write(f"  exceptions opened  {result.exceptions_opened:>10}")
        self.stdout.write(f"  rejected rows: {rejected_csv_path(result)}")

    def _progress(self, pk: int, stop: threading.Event) -> None:
        """Poll the job's counters (own DB connection) and redraw one line on stderr."""
        from django.db import connection

        try:
            while not stop.wait(0.5):
                row = ReadingImport.objects.filter(pk=pk).values("processed_rows", "total_rows").first()
                if row and row["total_rows"]:
                    done, total = row["processed_rows"], row["total_rows"]
                    width = 30
                    filled = int(width * done / total)
                    bar = "#" * filled + "-" * (width - filled)
                    sys.stderr.write(f"\r[{bar}] {done:,}/{total:,} rows")
                    sys.stderr.flush()
            sys.stderr.write("\r" + " " * 60 + "\r")
        finally:
            connection.close()
