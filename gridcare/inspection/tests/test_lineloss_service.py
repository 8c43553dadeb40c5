"""line_loss_run on a real database: accounts with daily frozen readings (factories), total
meters' 96-point curves in a temporary data directory, hand-computed results."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from gridcare.core.errors import PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.customers.models import Transformer
from gridcare.inspection.models import AreaLoss, LineLossRun
from gridcare.inspection.services.lineloss import line_loss_run
from gridcare.inspection.tasks.lineloss import line_loss_task
from gridcare.inspection.tests.factories import metered_account, transformer_area
from gridcare.metering.interval import TRANSFORMER, curves_write

pytestmark = pytest.mark.django_db

W0 = dt.date(2026, 9, 1)  # first day of the window
DAYS = 30
END = W0 + dt.timedelta(days=DAYS - 1)


@pytest.fixture(autouse=True)
def _data_dir(settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path


def _total_meter(area: Transformer, daily_kwh: list[float]) -> None:
    """The 台区总表 curve: each day's energy split over 96 quarter hours (integer Wh)."""
    rows: dict[str, list[Any]] = {"kind": [], "key": [], "day": [], "slot": [], "wh": []}
    for i, kwh in enumerate(daily_kwh):
        total = round(kwh * 1000)
        base, extra = divmod(total, 96)
        for slot in range(96):
            rows["kind"].append(TRANSFORMER)
            rows["key"].append(area.id)
            rows["day"].append(W0 + dt.timedelta(days=i))
            rows["slot"].append(slot)
            rows["wh"].append(base + (1 if slot < extra else 0))
    curves_write(pl.DataFrame(rows, schema_overrides={"day": pl.Date, "slot": pl.Int8}))


def _customer(area: Transformer, use: list[float], **kwargs: Any) -> Any:
    """An account whose use on window day i is ``use[i]`` (readings from W0 to END + 1)."""
    return metered_account(daily_kwh=use, start=W0, transformer=area, **kwargs)


@pytest.fixture
def county() -> dict[str, Any]:
    honest = transformer_area(code="TQ-H")
    a = _customer(honest, [4.0] * DAYS)
    b = _customer(honest, [6.0] * 9 + [math.nan] + [6.0] * 20)  # one missing freeze hides 2 days
    _total_meter(honest, [10.5] * DAYS)

    theft = transformer_area(code="TQ-T")
    neighbour = _customer(theft, [5.0] * DAYS)
    thief = _customer(theft, [20.0] * 20 + [5.0] * 10)  # records 25 % of its use from day 21
    _total_meter(theft, [26.25] * DAYS)  # the total meter still sees 25 kWh/day × 1.05

    negative = transformer_area(code="TQ-N")
    _customer(negative, [10.0] * DAYS)
    _customer(negative, [10.5] * DAYS)
    _total_meter(negative, [20.0] * DAYS)

    dedicated = transformer_area(code="ZB-1", is_dedicated=True)
    _customer(dedicated, [500.0] * DAYS)
    _total_meter(dedicated, [400.0] * DAYS)
    return {
        "honest": honest,
        "theft": theft,
        "negative": negative,
        "thief": thief,
        "a": a,
        "b": b,
        "neighbour": neighbour,
    }


def test_run_stores_one_area_loss_per_public_area_hand_computed(county: dict[str, Any]) -> None:
    run = line_loss_run(actor="test", end=END)
    assert run.status == "done"
    assert (run.window_start, run.window_end) == (W0, END)
    assert run.rate_threshold_pct == Decimal("10.00")
    assert run.jump_threshold_pct == Decimal("3.00")
    assert run.areas == 3  # the 专变 is not a public area
    assert run.flagged == 2
    assert run.seconds is not None
    assert run.seconds > 0
    areas = {a.transformer.code: a for a in AreaLoss.objects.filter(run=run).select_related("transformer")}
    assert set(areas) == {"TQ-H", "TQ-T", "TQ-N"}

    honest = areas["TQ-H"]
    assert honest.complete_days == 28  # the missing freeze of day 11 hides days 10 and 11
    assert honest.input_kwh == Decimal("294.000")  # 28 × 10.5
    assert honest.billed_kwh == Decimal("280.000")
    assert honest.loss_rate_pct == Decimal("4.76")  # 0.5 / 10.5
    assert honest.recent_rate_pct == Decimal("4.76")
    assert not honest.flagged
    assert honest.flag_reasons == []
    assert honest.suspects == []
    day10 = honest.series[9]
    assert day10 == {
        "day": "2026-09-10",
        "input_kwh": 10.5,
        "billed_kwh": 4.0,
        "loss_kwh": None,
        "rate_pct": None,
        "complete": False,
    }
    assert honest.series[0] == {
        "day": "2026-09-01",
        "input_kwh": 10.5,
        "billed_kwh": 10.0,
        "loss_kwh": 0.5,
        "rate_pct": 4.76,
        "complete": True,
    }
    assert len(honest.series) == DAYS

    theft = areas["TQ-T"]
    assert theft.complete_days == 30
    assert theft.baseline_rate_pct == Decimal("4.76")  # 1.25 / 26.25
    assert theft.recent_rate_pct == Decimal("61.90")  # 16.25 / 26.25
    assert theft.change_day == W0 + dt.timedelta(days=20)  # the thief records 25 % from day 21
    assert theft.loss_rate_pct == Decimal("23.81")  # (20 × 1.25 + 10 × 16.25) / (30 × 26.25)
    assert theft.input_kwh == Decimal("787.500")
    assert theft.billed_kwh == Decimal("600.000")
    assert theft.flag_reasons == [
        {"code": "rate_above", "value": 61.9, "threshold": 10.0},
        {"code": "jump", "value": 57.14, "threshold": 3.0},
    ]
    assert theft.suspects == [
        {
            "account_id": county["thief"].id,
            "number": county["thief"].number,
            "score": 1.0,
            "drop_kwh_per_day": 15.0,
            "correlation": 1.0,
            "baseline_kwh_per_day": 20.0,
            "recent_kwh_per_day": 5.0,
        }
    ]

    negative = areas["TQ-N"]
    assert negative.recent_rate_pct == Decimal("-2.50")
    assert negative.flag_reasons == [{"code": "negative", "value": -2.5, "threshold": -1.0}]
    assert negative.suspects == []

    event = AuditEvent.objects.get(action="inspection.line_loss_run", object_id=str(run.pk))
    assert event.after is not None
    assert event.after["areas"] == 3
    assert event.after["flagged"] == 2
    assert event.actor_label == "test"


def test_last_day_without_the_next_freeze_is_incomplete(county: dict[str, Any]) -> None:
    # Readings stop at END + 1: a window ending one day later lacks the 00:00 freeze that
    # closes its last day; the total meter has no curve that day either.
    run = line_loss_run(actor="test", end=END + dt.timedelta(days=1), days=31)
    honest = AreaLoss.objects.get(run=run, transformer__code="TQ-H")
    assert honest.series[-1]["complete"] is False
    assert honest.complete_days == 28


def test_thresholds_change_the_flags(county: dict[str, Any]) -> None:
    run = line_loss_run(
        actor="test", end=END, rate_threshold_pct=Decimal("4"), jump_threshold_pct=Decimal("60")
    )
    honest = AreaLoss.objects.get(run=run, transformer__code="TQ-H")
    theft = AreaLoss.objects.get(run=run, transformer__code="TQ-T")
    assert [r["code"] for r in honest.flag_reasons] == ["rate_above"]
    assert [r["code"] for r in theft.flag_reasons] == ["rate_above"]  # jump 57.14 < 60
    assert run.rate_threshold_pct == Decimal("4.00")


def test_default_end_is_yesterday_and_inputs_are_validated(county: dict[str, Any]) -> None:
    run = line_loss_run(actor="test")
    assert run.window_end == timezone.localdate() - dt.timedelta(days=1)
    assert run.window_start == run.window_end - dt.timedelta(days=29)
    assert run.status == "done"
    for kwargs, field in (
        ({"days": 5}, "days"),
        ({"rate_threshold_pct": Decimal("0")}, "rate_threshold_pct"),
        ({"jump_threshold_pct": Decimal("-1")}, "jump_threshold_pct"),
        ({"end": timezone.localdate()}, "end"),
    ):
        with pytest.raises(ValidationFailed) as err:
            line_loss_run(actor="test", **kwargs)
        assert err.value.field == field
    assert LineLossRun.objects.count() == 1


def test_permission_for_signed_in_actors(county: dict[str, Any], make_user: Any) -> None:
    with pytest.raises(PermissionDenied):
        line_loss_run(actor=make_user(roles=["auditor"]), end=END)
    run = line_loss_run(actor=make_user(roles=["inspector"]), end=END)
    assert run.status == "done"
    assert run.triggered_by


def test_failure_is_recorded(county: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(**_: Any) -> None:
        raise RuntimeError("curve store unreadable")

    monkeypatch.setattr("gridcare.inspection.services.lineloss.transformer_daily_input", boom)
    run = line_loss_run(actor="test", end=END)
    assert run.status == "failed"
    assert run.error == "RuntimeError: curve store unreadable"
    assert not AreaLoss.objects.filter(run=run).exists()
    assert AuditEvent.objects.filter(action="inspection.line_loss_run", after__status="failed").exists()


def test_nightly_task(county: dict[str, Any]) -> None:
    result = line_loss_task.call(end=END.isoformat())
    assert result["status"] == "done"
    assert result["areas"] == 3
    assert result["flagged"] == 2
    assert LineLossRun.objects.get(pk=result["run"]).triggered_by == "worker:line_loss"


def test_command_prints_flagged_areas_and_a_json_summary(county: dict[str, Any]) -> None:
    out = StringIO()
    call_command("theft", "line-loss", "--end", END.isoformat(), stdout=out)
    lines = out.getvalue().strip().splitlines()
    summary = json.loads(lines[-1])
    assert summary["areas"] == 3
    assert summary["flagged"] == 2
    by_code = {a["code"]: a for a in summary["flagged_areas"]}
    assert by_code["TQ-T"]["reasons"] == ["rate_above", "jump"]
    assert by_code["TQ-T"]["top"] == [county["thief"].id]
    assert by_code["TQ-N"]["reasons"] == ["negative"]
    assert any(county["thief"].number in line for line in lines)
    with pytest.raises(CommandError):
        call_command("theft", "line-loss", "--days", "3", stdout=StringIO())
