"""The "run now" buttons of the console and the API, for real: an inspector runs the line-loss
analysis over a county with one area where a customer's meter records a quarter of its use
from day 21; the dashboard flags the area and its page ranks the thief first with the task
link. The scoring button is exercised against the scoring service when it is installed and
against a stand-in of it (the view's own wiring: success, failed run, refused) otherwise."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gridcare.core.errors import ValidationFailed
from gridcare.customers.models import Transformer
from gridcare.inspection.choices import RunStatus
from gridcare.inspection.models import AreaLoss, LineLossRun, ScoringRun
from gridcare.inspection.tests.factories import metered_account, transformer_area
from gridcare.inspection.tests.test_console_selectors import model_artefact, scoring_run_row
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
    # the 00:00 freeze of day D closes day D − 1: readings from the window's second day
    return metered_account(daily_kwh=use, start=start + dt.timedelta(days=1), transformer=area, number=number)


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


def _stand_in(monkeypatch: pytest.MonkeyPatch, result: Any) -> list[Any]:
    """Replace the scoring service by one returning (or raising) ``result``; the calls."""
    import sys
    import types

    calls: list[Any] = []

    def scoring_run(*, actor: Any, end: Any = None, days: int = 365) -> ScoringRun:
        calls.append(actor)
        if isinstance(result, Exception):
            raise result
        return result()  # type: ignore[no-any-return]

    module = types.ModuleType("gridcare.inspection.services.scoring")
    module.scoring_run = scoring_run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gridcare.inspection.services.scoring", module)
    return calls


def test_scoring_button_success(make_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model = model_artefact()
    calls = _stand_in(
        monkeypatch, lambda: scoring_run_row(model, accounts_scored=120, flagged=7, triggered_by="inspector")
    )
    client = login(make_user, "inspector")
    response = client.post(reverse("inspection:scoring_runs"), follow=True)
    assert response.redirect_chain == [(reverse("inspection:scoring_runs"), 302)]
    assert "Scoring finished: 120 accounts scored, 7 above the threshold." in response.content.decode()
    assert len(calls) == 1
    api = client.post("/api/inspection/risk/runs")
    assert api.status_code == 201
    assert api.json()["accounts_scored"] == 120
    assert api.json()["model_version"] == "theft-test-1"


def test_scoring_button_failed_run_and_refusal(make_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    model = model_artefact()
    _stand_in(monkeypatch, lambda: scoring_run_row(model, status=RunStatus.FAILED, error="no readings"))
    client = login(make_user, "inspector")
    html = client.post(reverse("inspection:scoring_runs"), follow=True).content.decode()
    assert "Scoring failed: no readings" in html
    _stand_in(monkeypatch, ValidationFailed("No active theft model."))
    html = client.post(reverse("inspection:scoring_runs"), follow=True).content.decode()
    assert "Scoring did not run: No active theft model." in html
    api = client.post("/api/inspection/risk/runs")
    assert api.status_code == 422
    assert api.json()["message"] == "No active theft model."
