"""The nightly theft scoring job."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gridcare.core.scheduler import DEFAULT_JOBS
from gridcare.inspection.engine.model import save_model
from gridcare.inspection.models import RiskScore, ScoringRun
from gridcare.inspection.services import scoring
from gridcare.inspection.services.scoring import model_register
from gridcare.inspection.tasks.scoring import theft_scoring_task
from gridcare.inspection.tests.factories import metered_account
from gridcare.inspection.tests.scoring_support import honest_series, small_model

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def data_dir(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.DATA_DIR = tmp_path / "data"
    scoring.model_cache_clear()
    yield settings.DATA_DIR
    scoring.model_cache_clear()


def test_the_job_is_scheduled_at_three() -> None:
    [job] = [spec for spec in DEFAULT_JOBS if spec.name == "theft_scoring"]
    assert job.task_path == "gridcare.inspection.tasks.scoring.theft_scoring_task"
    assert job.first_at == dt.time(3, 0)


def test_without_a_model_the_job_does_nothing() -> None:
    metered_account(daily_kwh=honest_series(100, seed=1).tolist(), start=dt.date(2026, 3, 1))

    assert theft_scoring_task.call() == {"status": "skipped", "reason": "no active model"}

    assert not ScoringRun.objects.exists()


def test_with_a_model_the_job_runs_as_the_scheduler(tmp_path: Path) -> None:
    model_register(actor="tester", path=save_model(small_model(), tmp_path / "m"))
    accounts = [
        metered_account(daily_kwh=honest_series(100, seed=i).round(3).tolist(), start=dt.date(2026, 3, 1))
        for i in range(3)
    ]

    result = theft_scoring_task.call(end="2026-06-08", days=100)

    run = ScoringRun.objects.get()
    assert result == {
        "status": "done",
        "run": run.pk,
        "accounts_scored": 3,
        "flagged": run.flagged,
        "seconds": run.seconds,
    }
    assert run.triggered_by == "scheduler"
    assert set(RiskScore.objects.values_list("account_id", flat=True)) == {a.pk for a in accounts}
