"""Theft scoring in the app: model registration and activation, scoring runs on real
metering rows, failures, the demo model."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gridcare.core.errors import Conflict, GridCareError, NotFound, PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.customers.choices import CustomerClass
from gridcare.customers.models import Account
from gridcare.inspection.choices import RunStatus
from gridcare.inspection.engine.model import TheftModel, save_model
from gridcare.inspection.models import ModelArtefact, RiskScore, ScoringRun
from gridcare.inspection.services import scoring
from gridcare.inspection.services.scoring import (
    ensure_demo_model,
    model_activate,
    model_active,
    model_load,
    model_register,
    scoring_run,
)
from gridcare.inspection.tests.factories import metered_account, transformer_area
from gridcare.inspection.tests.scoring_support import few_trees, honest_series, small_model

pytestmark = pytest.mark.django_db

START = dt.date(2026, 3, 1)
DAYS = 150
END = START + dt.timedelta(days=DAYS - 1)


@pytest.fixture(scope="module")
def model() -> TheftModel:
    return small_model()


@pytest.fixture(scope="module")
def other_model() -> TheftModel:
    return small_model(holdout=0.25)


@pytest.fixture(autouse=True)
def data_dir(settings: Any, tmp_path: Path) -> Iterator[Path]:
    settings.DATA_DIR = tmp_path / "data"
    scoring.model_cache_clear()
    yield settings.DATA_DIR
    scoring.model_cache_clear()


@pytest.fixture
def saved(model: TheftModel, tmp_path: Path) -> Path:
    """The small model's artefact directory outside the data directory."""
    return save_model(model, tmp_path / "outside")


def _audit(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def _after(event: AuditEvent) -> dict[str, Any]:
    assert event.after is not None
    return dict(event.after)


# --- registration ------------------------------------------------------------------------


def test_register_copies_into_the_data_dir_and_activates(
    model: TheftModel, saved: Path, data_dir: Path
) -> None:
    artefact = model_register(actor="tester", path=saved)

    assert artefact.version == model.version
    assert artefact.path == f"models/theft/{model.version}"
    assert sorted(p.name for p in (data_dir / artefact.path).iterdir()) == [
        "SHA256SUMS",
        "meta.json",
        "model.txt",
    ]
    assert artefact.sha256 == model.sha256
    assert artefact.threshold == model.threshold
    assert artefact.features == list(model.features)
    assert artefact.training["seed"] == 0
    assert artefact.training["data"]["customers"] == 200
    assert artefact.trained_at.isoformat() == model.meta["trained_at"]
    assert artefact.is_active
    assert artefact.registered_by == "tester"
    assert model_active() == artefact
    [event] = _audit("inspection.model_register")
    assert event.actor_label == "tester"
    assert _after(event)["sha256"] == model.sha256

    with pytest.raises(Conflict):
        model_register(actor="tester", path=saved)


def test_a_directory_inside_the_data_dir_is_registered_in_place(model: TheftModel, data_dir: Path) -> None:
    folder = save_model(model, data_dir / "models" / "theft" / "by-hand")

    artefact = model_register(actor="tester", path=folder, activate=False)

    assert artefact.path == f"models/theft/by-hand/{model.version}"
    assert not artefact.is_active
    assert model_active() is None


def test_one_model_is_active_and_activation_is_audited(
    model: TheftModel, other_model: TheftModel, saved: Path, tmp_path: Path
) -> None:
    first = model_register(actor="tester", path=saved)
    second = model_register(actor="tester", path=save_model(other_model, tmp_path / "other"))

    assert model_active() == second
    assert ModelArtefact.objects.filter(is_active=True).count() == 1

    model_activate(actor="lead", version=first.version)

    assert model_active() == first
    assert ModelArtefact.objects.filter(is_active=True).count() == 1
    [event] = _audit("inspection.model_activate")
    assert event.before == {"active": second.version}
    assert event.after == {"active": first.version}
    with pytest.raises(NotFound):
        model_activate(actor="lead", version="theft-nope")


def test_altered_files_are_refused(model: TheftModel, saved: Path, data_dir: Path) -> None:
    (saved / "meta.json").write_text((saved / "meta.json").read_text().replace('"seed": 0', '"seed": 1'))
    with pytest.raises(ValidationFailed) as refused:
        model_register(actor="tester", path=saved)
    assert refused.value.field == "path"
    assert not (data_dir / "models" / "theft" / model.version).exists()
    assert not ModelArtefact.objects.exists()


def test_activation_refuses_a_tampered_artefact(
    model: TheftModel, other_model: TheftModel, saved: Path, tmp_path: Path, data_dir: Path
) -> None:
    first = model_register(actor="tester", path=saved)
    second = model_register(actor="tester", path=save_model(other_model, tmp_path / "other"))
    booster = data_dir / first.path / "model.txt"
    booster.write_text(booster.read_text() + "\n")

    with pytest.raises(GridCareError, match="do not match their SHA-256") as refused:
        model_activate(actor="lead", version=first.version)

    assert refused.value.code == "model_unusable"
    assert model_active() == second


def test_the_booster_is_loaded_once_per_process(saved: Path, data_dir: Path) -> None:
    artefact = model_register(actor="tester", path=saved)

    loaded = model_load(artefact)

    assert model_load(artefact) is loaded
    (data_dir / artefact.path / "model.txt").unlink()
    assert model_load(artefact) is loaded  # verified on the first load only
    scoring.model_cache_clear()
    with pytest.raises(GridCareError, match="cannot read the model files"):
        model_load(artefact)


# --- scoring runs ------------------------------------------------------------------------


def _county() -> dict[str, Account]:
    """24 honest urban residents on two areas, one of them a thief (a 95 % drop from day
    100), two commercial accounts (a class too small for its own peers) and one account
    with only 30 days of readings."""
    areas = [transformer_area(), transformer_area()]
    accounts: dict[str, Account] = {}
    for i in range(24):
        kwh = honest_series(DAYS, seed=100 + i)
        if i == 7:
            kwh[100:] *= 0.05
        accounts[f"res{i}"] = metered_account(
            daily_kwh=kwh.round(3).tolist(), start=START, transformer=areas[i % 2]
        )
    for i in range(2):
        accounts[f"com{i}"] = metered_account(
            daily_kwh=(honest_series(DAYS, seed=200 + i) * 5).round(3).tolist(),
            start=START,
            transformer=areas[0],
            customer_class=CustomerClass.GENERAL_IC,
        )
    short = np.full(DAYS, np.nan)
    short[-30:] = honest_series(30, seed=300)
    accounts["short"] = metered_account(daily_kwh=short.tolist(), start=START, transformer=areas[1])
    return accounts


def test_a_run_scores_every_eligible_account_and_ranks_the_thief_first(saved: Path) -> None:
    artefact = model_register(actor="tester", path=saved)
    accounts = _county()

    run = scoring_run(actor="tester", end=END, days=DAYS)

    assert run.status == RunStatus.DONE
    assert run.artefact == artefact
    assert (run.window_start, run.window_end) == (START, END)
    assert run.accounts_scored == 26
    assert run.accounts_skipped == 1  # "short": 30 days of readings, fewer than the features need
    assert run.triggered_by == "tester"
    assert run.seconds is not None
    assert run.seconds > 0
    scores = list(RiskScore.objects.filter(run=run).order_by("rank"))
    assert len(scores) == 26
    assert [s.rank for s in scores] == list(range(1, 27))
    assert run.flagged == sum(s.flagged for s in scores)
    assert accounts["short"].pk not in {s.account_id for s in scores}
    thief = scores[0]
    assert thief.account_id == accounts["res7"].pk
    assert thief.flagged
    assert thief.customer_class == CustomerClass.URBAN_RESIDENTIAL
    assert thief.transformer_id == accounts["res7"].service_point.transformer_id
    assert [set(reason) for reason in thief.reasons] == [
        {"feature", "value", "peer_median", "contribution"}
    ] * 3
    assert (
        thief.reasons[0]["contribution"]
        >= thief.reasons[1]["contribution"]
        >= thief.reasons[2]["contribution"]
    )
    assert thief.window_start is not None
    assert START + dt.timedelta(days=98) <= thief.window_start <= START + dt.timedelta(days=102)
    assert thief.window_end == END
    commercial = RiskScore.objects.get(run=run, account=accounts["com0"])
    assert commercial.customer_class == CustomerClass.GENERAL_IC
    [event] = _audit("inspection.scoring_run")
    after = _after(event)
    assert after["accounts_scored"] == 26
    assert after["accounts_skipped"] == 1
    assert after["model"] == artefact.version


def test_without_an_active_model_nothing_runs() -> None:
    with pytest.raises(NotFound, match="No active theft model"):
        scoring_run(actor="tester", end=END, days=DAYS)
    assert not ScoringRun.objects.exists()


def test_a_bad_window_is_refused(saved: Path) -> None:
    model_register(actor="tester", path=saved)
    with pytest.raises(ValidationFailed) as refused:
        scoring_run(actor="tester", end=END, days=0)
    assert refused.value.field == "days"


def test_missing_model_files_fail_the_run(saved: Path, data_dir: Path) -> None:
    artefact = model_register(actor="tester", path=saved)
    (data_dir / artefact.path / "model.txt").unlink()

    with pytest.raises(GridCareError, match="cannot read the model files"):
        scoring_run(actor="scheduler", end=END, days=DAYS)

    run = ScoringRun.objects.get()
    assert run.status == RunStatus.FAILED
    assert "cannot read the model files" in run.error
    assert run.finished_at is not None
    assert not RiskScore.objects.exists()
    [event] = _audit("inspection.scoring_run_failed")
    assert event.actor_label == "scheduler"
    assert "cannot read the model files" in _after(event)["error"]


def test_a_tampered_model_fails_the_run(saved: Path, data_dir: Path) -> None:
    artefact = model_register(actor="tester", path=saved)
    booster = data_dir / artefact.path / "model.txt"
    booster.write_text(booster.read_text().replace("tree", "tree ", 1))

    with pytest.raises(GridCareError, match="do not match their SHA-256"):
        scoring_run(actor="tester", end=END, days=DAYS)

    assert ScoringRun.objects.get().status == RunStatus.FAILED


# --- the demo model ----------------------------------------------------------------------


def test_demo_model_is_trained_once_from_a_synthetic_population(settings: Any, tmp_path: Path) -> None:
    settings.DEMO_SHAPES_DIR = str(tmp_path / "no-london")
    lines: list[str] = []

    with few_trees():
        artefact = ensure_demo_model(log=lines.append)

    assert artefact.is_active
    assert artefact.registered_by == "gridcare seed"
    assert "synthetic population of 600" in artefact.training["data"]["source"]
    assert artefact.training["metrics"]["test_customers"] == 120
    assert any("synthetic population" in line for line in lines)
    assert ensure_demo_model(log=lines.append) == artefact
    assert ModelArtefact.objects.count() == 1


def test_a_person_needs_the_run_permission(saved: Path, make_user: Any) -> None:
    model_register(actor="tester", path=saved)
    with pytest.raises(PermissionDenied):
        scoring_run(actor=make_user(roles=["billing_clerk"]), end=END, days=DAYS)
    assert not ScoringRun.objects.exists()
