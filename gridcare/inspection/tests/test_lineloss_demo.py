"""The demo seed's injected theft (窃电) for the line-loss demo: the plan (pure) and a small
seed analysed by line_loss_run."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from django.core.management import call_command
from django.utils import timezone

from gridcare.core.models import AuditEvent
from gridcare.customers.demo import generate_county
from gridcare.inspection.models import AreaLoss
from gridcare.inspection.services.lineloss import line_loss_run
from gridcare.metering import demo

END = dt.date(2026, 11, 25)


@pytest.fixture(scope="module")
def county_plan() -> tuple[Any, demo.MeteringPlan]:
    county = generate_county(1500, 3)
    return county, demo.plan_metering(county, seed=3, end=END, months=2)


def test_plan_injects_one_or_two_thieves_in_a_few_fully_read_public_areas(
    county_plan: tuple[Any, demo.MeteringPlan],
) -> None:
    county, plan = county_plan
    assert plan.theft
    areas: dict[int, list[int]] = {}
    for pos, first, factor in plan.theft:
        areas.setdefault(plan.specs[pos].transformer, []).append(pos)
        assert 0.15 <= factor <= 0.40
        assert 12 <= (END - first).days + 1 <= 20
        assert plan.first_day[pos] == 0
        assert plan.exchange_day[pos] == -1
        assert plan.specs[pos].customer_class in ("urban_res", "rural_res", "shared_res", "general_ic")
    assert len(areas) == 3
    assert all(1 <= len(v) <= 2 for v in areas.values())
    for t, thieves in areas.items():
        assert not county.transformers[t].is_dedicated
        members = [p for p, s in enumerate(plan.specs) if s.transformer == t]
        assert max(members) < plan.readings_accounts  # every account of the area is read
        share = sum(plan.level[p] * (1 - f) for p, _, f in plan.theft if p in thieves)
        assert share >= 0.05 / len(thieves) * plan.level[members].sum()
    anomaly_meters = {m for v in plan.anomalies.values() for m, _, _ in v}
    assert not anomaly_meters & {int(plan.main_meter[p]) for p, _, _ in plan.theft}
    again = demo.plan_metering(generate_county(1500, 3), seed=3, end=END, months=2)
    assert again.theft == plan.theft


def test_thieves_readings_record_the_factor_while_the_area_total_keeps_the_true_use(
    county_plan: tuple[Any, demo.MeteringPlan],
) -> None:
    _, plan = county_plan
    chunks = list(plan.chunks())
    use = np.concatenate([c.use_wh for c in chunks])
    readings = pl.concat([c.readings for c in chunks if c.readings is not None])
    for pos, first, factor in plan.theft:
        meter = int(plan.main_meter[pos])
        total = (
            readings.filter((pl.col("meter") == meter) & (pl.col("register") == "total"))
            .sort("day")
            .with_columns(step=pl.col("value").diff())
        )
        mult = plan.meters[meter].multiplier
        s = (first - plan.start).days
        # the freeze of day d + 1 closes day d: the step on d + 1 is day d's recorded use
        recorded = total.filter(pl.col("day") == first + dt.timedelta(days=1))["step"][0] * mult
        honest = total.filter(pl.col("day") == first)["step"][0] * mult
        # the total is the sum of the TOU registers, each recorded in whole units of the
        # register (Wh ÷ multiplier, floored): each adds at most one unit of error
        tou = [r for r in plan.meters[meter].registers if r not in ("total", "reactive")]
        tolerance = max(1, len(tou)) * mult + 1
        assert recorded == pytest.approx(use[pos, s] * factor, abs=tolerance)
        assert honest == pytest.approx(use[pos, s - 1], abs=tolerance)
    n_t = max(s.transformer for s in plan.specs) + 1
    t_use = sum(demo.transformer_use(plan, c.use_wh, c.start, n_t, 30) for c in chunks)
    assert isinstance(t_use, np.ndarray)
    positions = np.array([p for p, _, _ in plan.theft])
    t = plan.specs[int(positions[0])].transformer
    members = [p for p, sp in enumerate(plan.specs) if sp.transformer == t]
    assert t_use[t].sum() == use[members, -30:].sum()  # the total meter counts the true use


@pytest.mark.django_db
def test_seeded_theft_areas_are_flagged_with_their_thieves_in_the_top_three(
    settings: Any, tmp_path: Path
) -> None:
    settings.DATA_DIR = tmp_path
    call_command(
        "seed",
        "--customers",
        "300",
        "--seed",
        "2",
        "--readings-months",
        "2",
        "--curve-sample",
        "0",
        "--billing-months",
        "0",
        "--workorder-days",
        "0",
        "--no-inspection",
        stdout=StringIO(),
    )
    event = AuditEvent.objects.get(action="seed.run")
    assert event.after is not None
    theft = event.after["metering"]["theft"]
    assert theft
    assert {"account_id", "transformer_id", "start", "factor"} == set(theft[0])
    run = line_loss_run(actor="test", end=timezone.localdate() - dt.timedelta(days=1))
    assert run.status == "done"
    areas = {a.transformer_id: a for a in AreaLoss.objects.filter(run=run)}
    for row in theft:
        area = areas[row["transformer_id"]]
        assert area.flagged
        assert "jump" in [r["code"] for r in area.flag_reasons]
        assert row["account_id"] in [s["account_id"] for s in area.suspects[:3]]
