"""Background job of billing runs, run by ``gridcare worker`` (Django tasks)."""

from __future__ import annotations

from typing import Any

from django_tasks import task


@task()
def billing_run_task(run_id: int, scheduler: str = "") -> dict[str, Any]:
    """Execute (or resume) a started billing run and return its figures."""
    from gridcare.billing.services.runs import billing_run_execute

    run = billing_run_execute(run_id=run_id, scheduler=scheduler or None)
    return {
        "run_id": run.pk,
        "status": run.status,
        "bills_written": run.bills_written,
        "accounts_held": run.accounts_held,
        "review_flags": run.review_flags,
    }
