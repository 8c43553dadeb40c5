"""The "run now" buttons of the console and the API, for real: an inspector runs the line-loss
analysis over a county with one area where a customer's meter records a quarter of its use
from day 21 (the dashboard flags the area, its page ranks the thief first with the task
link); an inspector runs theft scoring with a small trained model over 24 residents, one of
whom records 5 % of its use from day 100 (the risk list ranks it first, its explanation
shows the reasons, the chart and the task link); no model and a failed run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gridcare.customers.models import Transformer
from gridcare.inspection.choices import RunStatus
from gridcare.inspection.engine.model import TheftModel, save_model
from gridcare.inspection.labels import FEATURES
from gridcare.inspection.models import AreaLoss, LineLossRun, ModelArtefact, RiskScore, ScoringRun
from gridcare.inspection.services import scoring
from gridcare.inspection.services.scoring import model_register
from gridcare.inspection.tests.factories import metered_account, transformer_area
from gridcare.inspection.tests.scoring_support import honest_series, small_model
from gridcare.inspection.tests.test_console_views import json_script
from gridcare.metering.interval import TRANSFORMER, curves_write

pytestmark = pytest.mark.django_db

DAYS = 30


@pytest.fixture(autouse=True)
def _data_dir(settings: Any, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path


def _window() -> tuple[dt.date, dt.date]:
    end = timezone.localdate() - dt.timedelta(days=1)
    return end - dt.timedelta(days=DAYS - 1), end


def _total_meter(area: Transformer, daily_kwh: list[float]) -> None:
    """The 台区总表 curve: each day's energy over 96 quarter hours (integer Wh)."""
    start, _ = _window()
    rows: dict[str, list[Any]] = {"kind": [], "key": [], "day": [], "slot": [], "wh": []}
    for i, kwh in enumerate(daily_kwh):
        base, extra = divmod(round(kwh * 1000), 96)
        for slot in range(96):
            rows["kind"].append(TRANSFORMER)
            rows["key"].append(area.pk)
            rows["day"].append(start + dt.timedelta(days=i))
            rows["slot"].append(slot)
            rows["wh"].append(base + (1 if slot < extra else 0))
    curves_write(pl.DataFrame(rows, schema_overrides={"day": pl.Date, "slot": pl.Int8}))


def _customer(area: Transformer, use: list[float], number: str) -> Any:
    start, _ = _window()
    return metered_account(daily_kwh=use, start=start, transformer=area, number=number)


@pytest.fixture
def county() -> dict[str, Any]:
    honest = transformer_area(code="TQ-H")
    _customer(honest, [4.0] * DAYS, "4100000001")
    _total_meter(honest, [4.2] * DAYS)
    theft = transformer_area(code="TQ-T")
    _customer(theft, [5.0] * DAYS, "4100000002")
    thief = _customer(theft, [20.0] * 20 + [5.0] * 10, "4100000003")
    _total_meter(theft, [26.25] * DAYS)
    return {"honest": honest, "theft": theft, "thief": thief}


def login(make_user: Any, role: str) -> Client:
    client = Client()
    client.force_login(make_user(roles=[role]))
    return client


def test_inspector_runs_line_loss_and_finds_the_thief(make_user: Any, county: dict[str, Any]) -> None:
    client = login(make_user, "inspector")
    response = client.post(reverse("inspection:lineloss"), follow=True)
    assert response.redirect_chain == [(reverse("inspection:lineloss"), 302)]
    html = response.content.decode()
    assert "Line-loss analysis finished: 2 areas analysed, 1 flagged." in html
    run = LineLossRun.objects.get()
    assert run.status == RunStatus.DONE
    assert run.window_end == timezone.localdate() - dt.timedelta(days=1)
    hot = AreaLoss.objects.get(run=run, transformer=county["theft"])
    assert hot.flagged
    assert "TQ-T" in html
    area = client.get(reverse("inspection:lineloss_area", args=[hot.pk])).content.decode()
    thief = county["thief"]
    assert hot.suspects[0]["number"] == "4100000003"
    assert "4100000003" in area
    assert f"account={thief.pk}&amp;source=line_loss&amp;area_loss={hot.pk}" in area
    start, _ = _window()
    assert hot.change_day == start + dt.timedelta(days=20)
    assert (
        json_script(area, "lineloss-area-data")["change_day"] == (start + dt.timedelta(days=20)).isoformat()
    )
    form = client.get(
        reverse("inspection:task_new"), {"account": thief.pk, "source": "line_loss", "area_loss": hot.pk}
    )
    assert form.status_code == 200
    assert "4100000003" in form.content.decode()


def test_line_loss_api_run(make_user: Any, county: dict[str, Any]) -> None:
    client = login(make_user, "inspector")
    response = client.post("/api/inspection/line-loss/runs")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "done"
    assert body["areas"] == 2
    assert body["flagged"] == 1
    listed = client.get("/api/inspection/line-loss", {"flagged_only": "true"}).json()
    assert [a["code"] for a in listed["items"]] == ["TQ-T"]
    detail = client.get(f"/api/inspection/line-loss/{listed['items'][0]['id']}").json()
    assert detail["suspects"][0]["number"] == "4100000003"
    assert {r["code"] for r in detail["flag_reasons"]} >= {"rate_above"}


def test_auditor_cannot_run(make_user: Any, county: dict[str, Any]) -> None:
    client = login(make_user, "auditor")
    assert client.post(reverse("inspection:lineloss")).status_code == 403
    assert client.post("/api/inspection/line-loss/runs").status_code == 403
    assert client.post(reverse("inspection:scoring_runs")).status_code == 403
    assert client.post("/api/inspection/risk/runs").status_code == 403
    assert LineLossRun.objects.count() == 0
    assert ScoringRun.objects.count() == 0


# ---- the scoring button ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def theft_model() -> TheftModel:
    return small_model()


@pytest.fixture
def registered(theft_model: TheftModel, tmp_path: Path) -> Iterator[ModelArtefact]:
    """The small test model registered and active (its files in the test's data directory)."""
    scoring.model_cache_clear()
    yield model_register(actor="tester", path=save_model(theft_model, tmp_path / "outside"))
    scoring.model_cache_clear()


@pytest.fixture
def residents() -> dict[str, Any]:
    """24 urban residents with 150 days of readings ending yesterday; the 8th records 5 % of
    its use from day 100 (a bypass)."""
    end = timezone.localdate() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=149)
    areas = [transformer_area(), transformer_area()]
    accounts = {}
    for i in range(24):
        kwh = honest_series(150, seed=100 + i)
        if i == 7:
            kwh[100:] *= 0.05
        accounts[i] = metered_account(
            daily_kwh=kwh.round(3).tolist(), start=start, transformer=areas[i % 2], number=f"51000000{i:02d}"
        )
    return {"thief": accounts[7], "start": start, "end": end}


def test_inspector_runs_scoring_and_opens_the_thief(
    make_user: Any, registered: ModelArtefact, residents: dict[str, Any]
) -> None:
    client = login(make_user, "inspector")
    response = client.post(reverse("inspection:scoring_runs"), follow=True)
    assert response.redirect_chain == [(reverse("inspection:scoring_runs"), 302)]
    run = ScoringRun.objects.get()
    assert run.status == RunStatus.DONE
    assert run.accounts_scored == 24
    assert (
        f"Scoring finished: 24 accounts scored, {run.flagged} above the threshold."
        in response.content.decode()
    )
    thief = residents["thief"]
    listed = client.get(reverse("inspection:risk")).content.decode()
    assert listed.index("5100000007") < listed.index("5100000000")
    score = RiskScore.objects.get(run=run, account=thief)
    assert score.rank == 1
    page = client.get(reverse("inspection:risk_detail", args=[thief.pk])).content.decode()
    for reason in score.reasons:
        assert str(FEATURES[reason["feature"]].label).replace("'", "&#x27;") in page
    assert f"account={thief.pk}&amp;source=risk&amp;risk_score={score.pk}" in page
    form = client.get(
        reverse("inspection:task_new"), {"account": thief.pk, "source": "risk", "risk_score": score.pk}
    )
    assert form.status_code == 200
    assert "5100000007" in form.content.decode()
    data = json_script(page, "risk-chart-data")
    assert len(data["days"]) == 365
    assert data["days"][-1] == residents["end"].isoformat()
    assert data["count"] == 150
    assert data["window"] is not None
    assert data["window"][1] == residents["end"].isoformat()


def test_scoring_api_run(make_user: Any, registered: ModelArtefact, residents: dict[str, Any]) -> None:
    client = login(make_user, "inspector")
    response = client.post("/api/inspection/risk/runs")
    assert response.status_code == 201, response.content
    assert response.json()["accounts_scored"] == 24
    assert response.json()["model_version"] == registered.version
    first = client.get("/api/inspection/risk", {"per_page": 1}).json()["items"][0]
    assert first["account_id"] == residents["thief"].pk


def test_scoring_without_a_model(make_user: Any, residents: dict[str, Any]) -> None:
    client = login(make_user, "inspector")
    html = client.post(reverse("inspection:scoring_runs"), follow=True).content.decode()
    assert "Scoring did not run: No active theft model" in html
    assert client.post("/api/inspection/risk/runs").status_code == 404
    assert ScoringRun.objects.count() == 0


def test_a_failed_scoring_run(
    make_user: Any, registered: ModelArtefact, residents: dict[str, Any], settings: Any
) -> None:
    (Path(settings.DATA_DIR) / registered.path / "model.txt").unlink()
    client = login(make_user, "inspector")
    html = client.post(reverse("inspection:scoring_runs"), follow=True).content.decode()
    assert "Scoring failed: The theft model" in html
    assert "cannot read the model files" in html
    assert "badge--danger" in html
    response = client.post("/api/inspection/risk/runs")
    assert response.status_code == 400
    assert "cannot read the model files" in response.json()["message"]
    assert list(ScoringRun.objects.values_list("status", flat=True)) == [RunStatus.FAILED] * 2
    # no done run: the list keeps its empty state and names the failed run
    assert "No scoring run has finished yet" in client.get(reverse("inspection:risk")).content.decode()


def test_a_line_loss_task_names_the_accounts_own_area(make_user: Any, county: dict[str, Any]) -> None:
    from gridcare.core.errors import ValidationFailed
    from gridcare.customers.models import Account
    from gridcare.inspection.services.lineloss import line_loss_run
    from gridcare.inspection.services.tasks import task_create

    inspector = make_user(roles=["inspector"])
    line_loss_run(actor=inspector)
    hot = AreaLoss.objects.get(transformer=county["theft"])
    honest = Account.objects.get(number="4100000001")  # on the other transformer
    due = timezone.localdate() + dt.timedelta(days=7)
    with pytest.raises(ValidationFailed) as exc:
        task_create(
            actor=inspector, account_id=honest.pk, source="line_loss", due_on=due, area_loss_id=hot.pk
        )
    assert exc.value.field == "area_loss_id"
    task = task_create(
        actor=inspector, account_id=county["thief"].pk, source="line_loss", due_on=due, area_loss_id=hot.pk
    )
    assert task.area_loss_id == hot.pk
