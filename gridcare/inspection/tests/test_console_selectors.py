"""Selectors behind the risk list, the explanation and the line-loss dashboard: the latest done
run only, every filter and sort, the peer median line (hand-computed), the explanation's chart
and its 404, the area page's suspects linked to risk scores.

The helpers at the top write the given rows directly (runs and scores are the scoring and
line-loss services' output; here they are the *given* state). The console view and API tests
import them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from gridcare.core.errors import NotFound
from gridcare.customers.choices import AreaType, CustomerClass
from gridcare.inspection.choices import RunStatus, TaskSource, TaskStatus
from gridcare.inspection.engine.features import FEATURE_NAMES
from gridcare.inspection.labels import FEATURES, feature_value_text, flag_reason_text
from gridcare.inspection.models import (
    AreaLoss,
    InspectionTask,
    LineLossRun,
    ModelArtefact,
    RiskScore,
    ScoringRun,
)
from gridcare.inspection.selectors.lineloss import (
    area_loss_detail,
    area_losses_chart,
    area_losses_search,
    line_loss_run_latest,
)
from gridcare.inspection.selectors.risk import (
    _median_without,
    peer_median_daily,
    risk_explanation,
    risk_reasons,
    risk_scores_search,
    score_tone,
    scoring_run_latest,
)
from gridcare.inspection.tests.factories import metered_account, transformer_area

pytestmark = pytest.mark.django_db

START = dt.date(2026, 1, 1)
END = dt.date(2026, 1, 10)

REASONS = [
    {"feature": "split_ratio", "value": 0.35, "peer_median": 0.97, "contribution": 1.2},
    {"feature": "zero_longest_run", "value": 12.0, "peer_median": 0.0, "contribution": 0.6},
    {"feature": "missing_share", "value": 0.05, "peer_median": 0.01, "contribution": -0.3},
]


# ---- given rows ----------------------------------------------------------------------------


def model_artefact(**fields: Any) -> ModelArtefact:
    values: dict[str, Any] = {
        "version": "theft-test-1",
        "path": "models/theft/theft-test-1",
        "sha256": "0" * 64,
        "threshold": 0.6,
        "features": list(FEATURE_NAMES),
        "training": {"seed": 0, "heldout": {"auc": 0.97, "map100": 0.98}},
        "trained_at": timezone.now(),
        "is_active": True,
    }
    values.update(fields)
    return ModelArtefact.objects.create(**values)


def scoring_run_row(
    artefact: ModelArtefact,
    *,
    status: str = RunStatus.DONE,
    minutes_ago: int = 0,
    window_start: dt.date = START,
    window_end: dt.date = END,
    **fields: Any,
) -> ScoringRun:
    started = timezone.now() - dt.timedelta(minutes=minutes_ago)
    return ScoringRun.objects.create(
        artefact=artefact,
        window_start=window_start,
        window_end=window_end,
        status=status,
        started_at=started,
        finished_at=started + dt.timedelta(seconds=5) if status != RunStatus.RUNNING else None,
        **fields,
    )


def risk_score_row(run: ScoringRun, account: Any, *, score: float, rank: int, **fields: Any) -> RiskScore:
    fields.setdefault("flagged", score >= run.artefact.threshold)
    fields.setdefault("reasons", REASONS)
    fields.setdefault("customer_class", account.customer_class)
    fields.setdefault("transformer", account.service_point.transformer)
    return RiskScore.objects.create(run=run, account=account, score=score, rank=rank, **fields)


def line_loss_run_row(*, status: str = RunStatus.DONE, minutes_ago: int = 0, **fields: Any) -> LineLossRun:
    started = timezone.now() - dt.timedelta(minutes=minutes_ago)
    values: dict[str, Any] = {
        "window_start": START,
        "window_end": END,
        "rate_threshold_pct": Decimal("10.00"),
        "jump_threshold_pct": Decimal("3.00"),
        "status": status,
        "started_at": started,
        "finished_at": started + dt.timedelta(seconds=2),
    }
    values.update(fields)
    return LineLossRun.objects.create(**values)


def area_loss_row(run: LineLossRun, transformer: Any, *, recent: str | None, **fields: Any) -> AreaLoss:
    values: dict[str, Any] = {
        "input_kwh": Decimal("1000.000"),
        "billed_kwh": Decimal("900.000"),
        "loss_rate_pct": Decimal("10.00"),
        "baseline_rate_pct": Decimal("4.00"),
        "recent_rate_pct": None if recent is None else Decimal(recent),
        "complete_days": 10,
    }
    values.update(fields)
    return AreaLoss.objects.create(run=run, transformer=transformer, **values)


@pytest.fixture
def risk_world() -> dict[str, Any]:
    """Two areas (urban, rural), five accounts with daily readings over START..END, one model,
    an older done run, the latest done run, a newer failed and a newer running run."""
    urban = transformer_area(area_type=AreaType.URBAN, code="TQURB1", name="城关一号台区")
    rural = transformer_area(area_type=AreaType.RURAL, code="TQRUR1", name="乡村一号台区")
    days = (END - START).days + 1
    # target: 10 kWh/day for 5 days, then 2 kWh/day (the drop); the peers of its class:
    a = metered_account(
        daily_kwh=[10.0] * 5 + [2.0] * 5,
        start=START,
        transformer=urban,
        number="3100000001",
        customer__name="王窃电",
    )
    b = metered_account(daily_kwh=[4.0] * days, start=START, transformer=urban, number="3100000002")
    c = metered_account(daily_kwh=[6.0] * days, start=START, transformer=rural, number="3100000003")
    d = metered_account(daily_kwh=[20.0] * days, start=START, transformer=rural, number="3100000004")
    e = metered_account(
        daily_kwh=[100.0] * days,
        start=START,
        transformer=urban,
        customer_class=CustomerClass.GENERAL_IC,
        number="3100000005",
    )
    model = model_artefact()
    old = scoring_run_row(model, minutes_ago=600, accounts_scored=1, flagged=1)
    latest = scoring_run_row(model, minutes_ago=60, accounts_scored=5, flagged=2)
    scoring_run_row(model, status=RunStatus.FAILED, minutes_ago=10, error="boom")
    scoring_run_row(model, status=RunStatus.RUNNING, minutes_ago=1)
    risk_score_row(old, a, score=0.4, rank=1)
    scores = {
        "a": risk_score_row(latest, a, score=0.91, rank=1, window_start=dt.date(2026, 1, 6), window_end=END),
        "e": risk_score_row(latest, e, score=0.65, rank=2),
        "c": risk_score_row(latest, c, score=0.45, rank=3),
        "b": risk_score_row(latest, b, score=0.20, rank=4),
        "d": risk_score_row(latest, d, score=0.05, rank=5, reasons=[]),
    }
    return {
        "urban": urban,
        "rural": rural,
        "accounts": {"a": a, "b": b, "c": c, "d": d, "e": e},
        "model": model,
        "old": old,
        "latest": latest,
        "scores": scores,
    }


def _numbers(qs: Any) -> list[str]:
    return [s.account.number[-1] for s in qs]


# ---- risk -----------------------------------------------------------------------------------


def test_latest_run_is_the_newest_done_one(risk_world: dict[str, Any]) -> None:
    assert scoring_run_latest() == risk_world["latest"]
    listed = risk_scores_search(run=risk_world["latest"])
    assert _numbers(listed) == ["1", "5", "3", "2", "4"]
    assert all(s.run_id == risk_world["latest"].pk for s in listed)


def test_no_done_run_gives_none() -> None:
    model = model_artefact()
    scoring_run_row(model, status=RunStatus.FAILED)
    assert scoring_run_latest() is None


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"area_type": AreaType.RURAL}, ["3", "4"]),
        ({"customer_class": CustomerClass.GENERAL_IC}, ["5"]),
        ({"min_score": 0.45}, ["1", "5", "3"]),
        ({"flagged_only": True}, ["1", "5"]),
        ({"q": "310000000"}, ["1", "5", "3", "2", "4"]),
        ({"q": "3100000004"}, ["4"]),
        ({"q": "窃电"}, ["1"]),
        ({"q": "  "}, ["1", "5", "3", "2", "4"]),
        ({"sort": "score"}, ["4", "2", "3", "5", "1"]),
        ({"sort": "-score"}, ["1", "5", "3", "2", "4"]),
        ({"sort": "-rank"}, ["4", "2", "3", "5", "1"]),
        ({"sort": "number"}, ["1", "2", "3", "4", "5"]),
        ({"sort": "-number"}, ["5", "4", "3", "2", "1"]),
        ({"sort": "junk"}, ["1", "5", "3", "2", "4"]),
        ({"area_type": AreaType.URBAN, "min_score": 0.5, "sort": "number"}, ["1", "5"]),
    ],
)
def test_risk_filters_and_sorts(
    risk_world: dict[str, Any], filters: dict[str, Any], expected: list[str]
) -> None:
    assert _numbers(risk_scores_search(run=risk_world["latest"], **filters)) == expected


def test_transformer_filter(risk_world: dict[str, Any]) -> None:
    rural = risk_world["rural"].pk
    assert _numbers(risk_scores_search(run=risk_world["latest"], transformer_id=rural)) == ["3", "4"]


def test_score_tone_bands() -> None:
    assert [score_tone(s, 0.6) for s in (0.6, 0.59, 0.3, 0.29)] == ["high", "medium", "medium", "low"]
    assert score_tone(0.5, None) == "high"


def test_reasons_in_words(risk_world: dict[str, Any]) -> None:
    reasons = risk_reasons(risk_world["scores"]["a"])
    assert [r["feature"] for r in reasons] == ["split_ratio", "zero_longest_run", "missing_share"]
    assert reasons[0]["label"] == "Lasting drop (after ÷ before)"
    assert reasons[0]["value_text"] == "0.35"
    assert reasons[1]["value_text"] == "12 days"
    assert reasons[2]["value_text"] == "5.0 %"
    assert [r["bar_pct"] for r in reasons] == [100, 50, 25]


def test_every_feature_has_words() -> None:
    assert tuple(FEATURES) == tuple(FEATURE_NAMES)
    assert all(str(f.label) and str(f.explanation) for f in FEATURES.values())
    assert feature_value_text("mean_kwh", 8.314) == "8.31 kWh"
    assert feature_value_text("acf7", None) == "—"


def test_peer_median_is_the_median_of_the_class_without_the_account(risk_world: dict[str, Any]) -> None:
    # urban residential accounts of the run besides "a": b (4), c (6), d (20) → median 6 every day;
    # e (general industrial, 100) is another class and left out.
    peers = peer_median_daily(
        run=risk_world["latest"],
        customer_class=CustomerClass.URBAN_RESIDENTIAL,
        exclude_account_id=risk_world["accounts"]["a"].pk,
    )
    assert peers["day"].to_list() == [START + dt.timedelta(days=i) for i in range(10)]
    assert peers["kwh"].to_list() == [6.0] * 10
    # with "a" among them (an even count: the mean of the middle two):
    # days 1–5: 4, 6, 10, 20 → (6 + 10) / 2 = 8.0; days 6–10: 2, 4, 6, 20 → (4 + 6) / 2 = 5.0
    everyone = peer_median_daily(run=risk_world["latest"], customer_class=CustomerClass.URBAN_RESIDENTIAL)
    assert everyone["kwh"].to_list() == [8.0] * 5 + [5.0] * 5


@given(values=st.lists(st.floats(0, 1000, allow_nan=False), min_size=1, max_size=40), data=st.data())
def test_median_without_one_value_is_exact(values: list[float], data: st.DataObject) -> None:
    ordered = sorted(values)
    n = len(ordered)
    offset = max((n - 1) // 2 - 1, 0)
    middle = ordered[offset : offset + 4]
    assert _median_without(n, offset, middle, None) == pytest.approx(float(np.median(ordered)))
    x = data.draw(st.sampled_from(values))
    rest = list(ordered)
    rest.remove(x)
    expected = float(np.median(rest)) if rest else None
    assert _median_without(n, offset, middle, x) == (pytest.approx(expected) if rest else None)


def test_peer_median_uses_only_the_run(risk_world: dict[str, Any]) -> None:
    # the old run scored only "a": excluding it leaves no peer
    peers = peer_median_daily(
        run=risk_world["old"],
        customer_class=CustomerClass.URBAN_RESIDENTIAL,
        exclude_account_id=risk_world["accounts"]["a"].pk,
    )
    assert peers.is_empty()


def test_explanation(risk_world: dict[str, Any]) -> None:
    a = risk_world["accounts"]["a"]
    task = InspectionTask.objects.create(
        number="JC0001",
        account=a,
        source=TaskSource.RISK,
        risk_score=risk_world["scores"]["a"],
        due_on=END,
        created_by="tester",
        created_at=timezone.now(),
    )
    InspectionTask.objects.create(
        number="JC0002",
        account=a,
        source=TaskSource.MANUAL,
        status=TaskStatus.CANCELLED,
        due_on=END,
        created_by="tester",
        created_at=timezone.now(),
    )
    x = risk_explanation(account_id=a.pk)
    assert x.run == risk_world["latest"]
    assert x.score == risk_world["scores"]["a"]
    assert x.tone == "high"
    assert x.chart["days"][0] == "2026-01-01"
    assert len(x.chart["days"]) == 10
    assert x.chart["kwh"] == [10.0] * 5 + [2.0] * 5
    assert x.chart["peer_median"] == [6.0] * 10
    assert x.chart["window"] == ["2026-01-06", "2026-01-10"]
    assert x.chart["count"] == 10
    assert x.chart["total"] == 60.0
    assert [(h["run_id"], h["score"]) for h in x.history] == [
        (risk_world["old"].pk, 0.4),
        (risk_world["latest"].pk, 0.91),
    ]
    assert x.open_tasks == [task]
    assert x.cases == []


def test_explanation_of_an_account_without_score_is_not_found(risk_world: dict[str, Any]) -> None:
    stranger = metered_account(daily_kwh=[1.0], start=START)
    with pytest.raises(NotFound):
        risk_explanation(account_id=stranger.pk)


def test_explanation_without_any_done_run_is_not_found() -> None:
    with pytest.raises(NotFound):
        risk_explanation(account_id=1)


# ---- line loss ------------------------------------------------------------------------------


@pytest.fixture
def loss_world(risk_world: dict[str, Any]) -> dict[str, Any]:
    old = line_loss_run_row(minutes_ago=600)
    latest = line_loss_run_row(minutes_ago=60, areas=3, flagged=1)
    line_loss_run_row(status=RunStatus.FAILED, minutes_ago=5, error="no curves")
    urban, rural = risk_world["urban"], risk_world["rural"]
    third = transformer_area(area_type=AreaType.REMOTE, code="TQREM1", name="边远台区")
    area_loss_row(old, urban, recent="30.00")
    a = risk_world["accounts"]["a"]
    hot = area_loss_row(
        latest,
        urban,
        recent="18.50",
        flagged=True,
        flag_reasons=[
            {"code": "rate_above", "value": 18.5, "threshold": 10.0},
            {"code": "jump", "value": 14.5, "threshold": 3.0},
        ],
        series=[
            {
                "day": "2026-01-01",
                "input_kwh": 100.0,
                "billed_kwh": 96.0,
                "loss_kwh": 4.0,
                "rate_pct": 4.0,
                "complete": True,
            },
            {
                "day": "2026-01-02",
                "input_kwh": None,
                "billed_kwh": 90.0,
                "loss_kwh": None,
                "rate_pct": None,
                "complete": False,
            },
        ],
        suspects=[
            {
                "account_id": a.pk,
                "number": a.number,
                "score": 0.81,
                "drop_kwh_per_day": 8.0,
                "correlation": 0.9,
                "baseline_kwh_per_day": 10.0,
                "recent_kwh_per_day": 2.0,
            },
            {
                "account_id": risk_world["accounts"]["b"].pk,
                "number": "3100000002",
                "score": 0.1,
                "drop_kwh_per_day": 0.5,
                "correlation": 0.2,
                "baseline_kwh_per_day": 4.0,
                "recent_kwh_per_day": 3.5,
            },
        ],
    )
    cool = area_loss_row(latest, rural, recent="3.20", baseline_rate_pct=Decimal("3.00"))
    unknown = area_loss_row(latest, third, recent=None, baseline_rate_pct=None, complete_days=0)
    return {**risk_world, "old": old, "latest": latest, "hot": hot, "cool": cool, "unknown": unknown}


def _codes(qs: Any) -> list[str]:
    return [a.transformer.code for a in qs]


def test_line_loss_latest_done_run(loss_world: dict[str, Any]) -> None:
    assert line_loss_run_latest() == loss_world["latest"]
    assert _codes(area_losses_search(run=loss_world["latest"])) == ["TQURB1", "TQRUR1", "TQREM1"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"flagged_only": True}, ["TQURB1"]),
        ({"area_type": AreaType.RURAL}, ["TQRUR1"]),
        ({"q": "tqr"}, ["TQRUR1", "TQREM1"]),
        ({"q": "边远"}, ["TQREM1"]),
        ({"sort": "recent"}, ["TQRUR1", "TQURB1", "TQREM1"]),
        ({"sort": "-recent"}, ["TQURB1", "TQRUR1", "TQREM1"]),
        ({"sort": "-jump"}, ["TQURB1", "TQRUR1", "TQREM1"]),
        ({"sort": "code"}, ["TQREM1", "TQRUR1", "TQURB1"]),
    ],
)
def test_area_filters_and_sorts(
    loss_world: dict[str, Any], filters: dict[str, Any], expected: list[str]
) -> None:
    assert _codes(area_losses_search(run=loss_world["latest"], **filters)) == expected


def test_feeder_filter(loss_world: dict[str, Any]) -> None:
    feeder = loss_world["rural"].feeder_id
    assert _codes(area_losses_search(run=loss_world["latest"], feeder_id=feeder)) == ["TQRUR1"]


def test_dashboard_chart(loss_world: dict[str, Any]) -> None:
    run = loss_world["latest"]
    chart = area_losses_chart(area_losses_search(run=run), run)
    assert chart["codes"] == ["TQURB1", "TQRUR1", "TQREM1"]
    assert chart["rates"] == [18.5, 3.2, None]
    assert chart["flagged"] == [True, False, False]
    assert chart["threshold"] == 10.0
    assert chart["ids"] == [loss_world["hot"].pk, loss_world["cool"].pk, loss_world["unknown"].pk]


def test_area_detail(loss_world: dict[str, Any]) -> None:
    detail = area_loss_detail(area_id=loss_world["hot"].pk)
    assert [r["code"] for r in detail.reasons] == ["rate_above", "jump"]
    assert detail.reasons[0]["text"] == "The recent loss rate of 18.50 % is above the threshold of 10.00 %."
    assert detail.chart["rate"] == [4.0, None]
    assert detail.chart["complete"] == [True, False]
    assert detail.incomplete_days == 1
    first, second = detail.suspects
    assert first["number"] == "3100000001"
    assert first["customer_name"] == "王窃电"
    assert first["risk_score"] == 0.91
    assert first["risk_score_id"] == loss_world["scores"]["a"].pk
    assert second["risk_score"] == 0.20


def test_explanation_names_the_area_of_the_latest_line_loss_run(loss_world: dict[str, Any]) -> None:
    a, d = loss_world["accounts"]["a"], loss_world["accounts"]["d"]
    assert risk_explanation(account_id=a.pk).area_loss == loss_world["hot"]  # not the old run's row
    assert risk_explanation(account_id=d.pk).area_loss == loss_world["cool"]
    fresh = line_loss_run_row(minutes_ago=1)  # a newer done run without these areas
    assert fresh.pk
    assert risk_explanation(account_id=a.pk).area_loss is None


def test_area_of_a_failed_or_unknown_run_is_not_found(loss_world: dict[str, Any]) -> None:
    running = line_loss_run_row(status=RunStatus.RUNNING)
    area = area_loss_row(running, transformer_area(), recent="50.00")
    with pytest.raises(NotFound):
        area_loss_detail(area_id=area.pk)
    with pytest.raises(NotFound):
        area_loss_detail(area_id=999999)


def test_flag_reason_words() -> None:
    assert flag_reason_text({"code": "jump", "value": 5, "threshold": 3})["text"] == (
        "The loss rate rose by 5.00 points against the area's own baseline (threshold 3.00 points)."
    )
    assert flag_reason_text({"code": "negative", "value": -4.2, "threshold": -1})["label"] == (
        "Negative loss (customers' energy above input)"
    )
    assert flag_reason_text({"code": "odd", "value": None})["label"] == "odd"
