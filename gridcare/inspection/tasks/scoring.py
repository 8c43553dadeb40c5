"""Nightly theft risk scoring (窃电风险评分), run by ``gridcare worker``: the periodic job
``theft_scoring`` (core.PeriodicJob, daily at 03:00 Beijing time) enqueues it."""

from __future__ import annotations

import logging
from typing import Any

from django_tasks import task

logger = logging.getLogger(__name__)

SCHEDULER = "scheduler"


@task()
def theft_scoring_task(end: str = "", days: int = 365) -> dict[str, Any]:
    """Score every active account with the active model over the ``days`` days ending
    ``end`` (an ISO date, for replays; default yesterday). Without an active model it
    logs and returns ``{"status": "skipped"}``; a failed run is marked failed and the
    error raised (the task is then failed too)."""
    import datetime as dt

    from gridcare.inspection.services.scoring import model_active, scoring_run

    if model_active() is None:
        logger.info("theft scoring skipped: no active theft model (gridcare theft train --register)")
        return {"status": "skipped", "reason": "no active model"}
    run = scoring_run(actor=SCHEDULER, end=dt.date.fromisoformat(end) if end else None, days=days)
    logger.info(
        "theft scoring run %s: %s accounts scored, %s flagged in %.1f s",
        run.pk,
        run.accounts_scored,
        run.flagged,
        run.seconds or 0.0,
    )
    return {
        "status": str(run.status),
        "run": run.pk,
        "accounts_scored": run.accounts_scored,
        "flagged": run.flagged,
        "seconds": run.seconds,
    }
