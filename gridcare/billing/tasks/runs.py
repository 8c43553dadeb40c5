"""Background job of billing runs, run by ``gridcare worker`` (Django tasks)."""

from __future__ import annotations

from typing import Any

from django_tasks import task


@task()
def billing_run_task(run_id: int, scheduler: str = "") -> dict[str, Any]:
    """Execute (or resume) a started billing run and return its figures.

    A job for a run that is no longer running (a retried job whose first attempt, or
    another worker, finished it; a run issued or started again meanwhile) stops without
    touching the run and says so in ``stopped``."""
    from gridcare.billing.models import BillingRun
    from gridcare.billing.services.runs import RUN_NOT_RUNNING, billing_run_execute
    from gridcare.core.errors import Conflict

    stopped = ""
    try:
        run = billing_run_execute(run_id=run_id, scheduler=scheduler or None)
    except Conflict as exc:
        if exc.code != RUN_NOT_RUNNING:
            raise
        stopped = str(exc.message)
        run = BillingRun.objects.get(pk=run_id)
    return {
        "run_id": run.pk,
        "status": run.status,
        "bills_written": run.bills_written,
        "accounts_held": run.accounts_held,
        "review_flags": run.review_flags,
        "stopped": stopped,
    }
