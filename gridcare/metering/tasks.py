"""Background jobs of metering, run by ``gridcare worker`` (Django tasks, database backend)."""

from __future__ import annotations

from typing import Any

from django_tasks import task


@task()
def reading_import_task(import_id: int, path: str) -> dict[str, Any]:
    """Run one queued reading import (抄表数据导入) and return its counters."""
    from gridcare.metering.services.readings import reading_import_run

    reading_import = reading_import_run(import_id=import_id, path=path)
    return {
        "import_id": reading_import.pk,
        "status": reading_import.status,
        "inserted_rows": reading_import.inserted_rows,
        "duplicate_rows": reading_import.duplicate_rows,
        "rejected_rows": reading_import.rejected_rows,
        "exceptions_opened": reading_import.exceptions_opened,
    }


@task()
def reading_missing_sweep_task() -> dict[str, int]:
    """Nightly 缺数巡检: missing-days exceptions for meters that stopped reporting."""
    from gridcare.metering.services.readings import reading_missing_sweep

    return reading_missing_sweep()
