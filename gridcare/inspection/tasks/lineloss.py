"""Nightly line-loss analysis (台区线损), run by ``gridcare worker``: the periodic job
``line_loss`` (core.PeriodicJob, daily at 02:30 Beijing time, after the 01:30 missing-days
sweep) enqueues it. See docs/inspection-lineloss.md."""

from __future__ import annotations

from typing import Any

from django_tasks import task

ACTOR = "worker:line_loss"


@task()
def line_loss_task(end: str = "", days: int = 30) -> dict[str, Any]:
    """Analyse every public transformer area over the ``days`` days ending ``end`` (an ISO
    date, for replays; default yesterday) with the default thresholds; returns the run's
    id, status and counts."""
    import datetime as dt

    from gridcare.inspection.services.lineloss import line_loss_run

    run = line_loss_run(actor=ACTOR, end=dt.date.fromisoformat(end) if end else None, days=days)
    return {
        "run": run.pk,
        "status": run.status,
        "window": [run.window_start.isoformat(), run.window_end.isoformat()],
        "areas": run.areas,
        "flagged": run.flagged,
        "seconds": run.seconds,
        "error": run.error,
    }
