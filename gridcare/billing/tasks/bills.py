"""Background jobs of bills, run by ``gridcare worker`` (Django tasks, database backend)."""

from __future__ import annotations

from django_tasks import task


@task()
def run_export_task(run_id: int) -> str:
    """Build a large run's Excel workbook (账单 + 明细) where the export page serves it."""
    from gridcare.billing.services.bills import run_export_build

    return str(run_export_build(run_id=run_id))
