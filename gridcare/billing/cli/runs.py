"""``gridcare billing …`` sub-commands: runs.

``gridcare billing run --period 2026-10 [--scheduler tcp://host:8786] [--partition-size N]``
starts (or resumes) the month's run in this process, with a progress bar on stderr, and
prints the run's figures. ``gridcare billing issue --period 2026-10`` issues it after review.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import CommandError

from gridcare.billing.models import BillingRun
from gridcare.billing.services.runs import PARTITION_SIZE, billing_run, billing_run_issue, parse_period
from gridcare.core.errors import GridCareError

CLI_ACTOR = "cli"
BAR_WIDTH = 30


def _run_arguments(parser: Any) -> None:
    parser.add_argument("--period", required=True, help="The month to bill, YYYY-MM (e.g. 2026-10).")
    parser.add_argument(
        "--scheduler",
        default="",
        help="Address of a Dask distributed scheduler (tcp://host:8786); default: rate in this process.",
    )
    parser.add_argument(
        "--partition-size",
        type=int,
        default=PARTITION_SIZE,
        help=f"Accounts per partition (checkpoint); default {PARTITION_SIZE:,}.",
    )
    parser.add_argument("--no-progress", action="store_true", help="No progress bar.")


def progress_bar(stream: Any = None) -> Callable[[int, int], None]:
    """A plain text bar redrawn on one line: ``[#####-----] 3/10 partitions 12.3 s``."""
    out = stream or sys.stderr
    started = time.perf_counter()

    def draw(done: int, total: int) -> None:
        filled = BAR_WIDTH * done // total if total else BAR_WIDTH
        elapsed = time.perf_counter() - started
        out.write(f"\r[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {done}/{total} partitions {elapsed:.1f} s")
        if done >= total:
            out.write("\n")
        out.flush()

    return draw


def _run_handle(command: Any, options: dict[str, Any]) -> None:
    show = not options.get("no_progress") and options.get("verbosity", 1) > 0
    try:
        run = billing_run(
            period=options["period"],
            actor=CLI_ACTOR,
            scheduler=options.get("scheduler") or "",
            partition_size=options["partition_size"],
            progress=progress_bar(getattr(command.stderr, "_out", None)) if show else None,
        )
    except GridCareError as exc:
        raise CommandError(str(exc.message)) from exc
    command.stdout.write(
        f"Run {run.period:%Y-%m}: {run.get_status_display()}; {run.bills_written:,} bills "
        f"(¥{run.total_amount:,}), {run.accounts_held:,} held, {run.review_flags:,} review flags."
    )


def _issue_arguments(parser: Any) -> None:
    parser.add_argument("--period", required=True, help="The month whose run to issue, YYYY-MM.")


def _issue_handle(command: Any, options: dict[str, Any]) -> None:
    try:
        period = parse_period(options["period"])
        run = BillingRun.objects.filter(period=period).first()
        if run is None:
            raise CommandError(f"No billing run for {period:%Y-%m}.")
        issued = billing_run_issue(run_id=run.pk, actor=CLI_ACTOR)
    except GridCareError as exc:
        raise CommandError(str(exc.message)) from exc
    command.stdout.write(f"Run {period:%Y-%m}: {issued:,} bills issued.")


SUBCOMMANDS: dict[str, tuple[str, Callable[[Any], None], Callable[[Any, dict[str, Any]], None]]] = {
    "run": (
        "Bill a month: select, hold, rate and write draft bills (resumes a run that stopped).",
        _run_arguments,
        _run_handle,
    ),
    "issue": ("Issue a reviewed run's draft bills.", _issue_arguments, _issue_handle),
}
