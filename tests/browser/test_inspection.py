"""End-to-end journey of an inspector (用电检查员) from the theft risk list to a case: the
nightly scoring (a small trained model, for real) has ranked a household whose meter records
5 % of its use since day 100; the inspector opens the risk list, opens that customer's
explanation, creates an inspection task from it, goes on site, records a theft finding
(meter bypass), opens the case from the finding, and the case computes its amounts by the
供电营业规则 rules in force: unknown period, lighting user → 5 kW × 6 h × 180 days."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from gridcare.inspection.engine.model import save_model
from gridcare.inspection.models import Case, Finding, InspectionTask, RiskScore
from gridcare.inspection.services import scoring
from gridcare.inspection.services.scoring import model_register, scoring_run
from gridcare.inspection.tests.factories import metered_account, transformer_area
from gridcare.inspection.tests.scoring_support import honest_series, small_model
from tests.browser.helpers import login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Inspect-pass-2026"


def _scored_county(tmp_path: Path) -> Any:
    """24 urban households with 150 days of readings ending yesterday; the 8th records 5 % of
    its use from day 100. A small model is trained and registered, then scored for real."""
    end = timezone.localdate() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=149)
    areas = [transformer_area(), transformer_area()]
    thief = None
    for i in range(24):
        kwh = honest_series(150, seed=100 + i)
        if i == 7:
            kwh[100:] *= 0.05
        account = metered_account(
            daily_kwh=kwh.round(3).tolist(), start=start, transformer=areas[i % 2], number=f"51000000{i:02d}"
        )
        if i == 7:
            thief = account
    scoring.model_cache_clear()
    model_register(actor="tester", path=save_model(small_model(), tmp_path / "artefact"))
    run = scoring_run(actor="scheduler")
    assert run.status == "done"
    return thief


def test_inspector_from_risk_list_to_a_computed_theft_case(
    page: Any, live_server: Any, roles: None, inspection_reference: None, settings: Any, tmp_path: Path
) -> None:
    # given last night's scoring of a small county with one bypass
    settings.DATA_DIR = tmp_path / "data"
    thief = _scored_county(tmp_path)
    score = RiskScore.objects.get(account=thief)
    assert score.rank == 1
    inspector = User.objects.create_user("insp01", password=PASSWORD, last_name="赵", first_name="国强")
    inspector.groups.add(Group.objects.get(name="inspector"))

    # when the inspector opens the risk list, the bypass is on top
    login(page, "insp01", PASSWORD)
    page.goto(page.base_url + "/inspection/")
    first_row = page.locator("table tbody tr").first
    assert "5100000007" in first_row.inner_text()
    shot(page, "inspection-risk-list")

    # and its explanation shows the model's reasons and the consumption chart
    first_row.locator(f"a[href='/inspection/risk/{thief.pk}/']").first.click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/inspection/risk/{thief.pk}/")
    assert page.locator("#risk-chart canvas, #risk-chart svg").count() >= 1
    assert page.locator("[data-reason]").count() == len(score.reasons) >= 1
    shot(page, "inspection-explanation")

    # she creates an inspection task from it (assigned to herself)
    page.locator(f"a[href*='source=risk'][href*='risk_score={score.pk}']").first.click()
    page.wait_for_load_state("networkidle")
    page.locator("#task-new-form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    task = InspectionTask.objects.get(account=thief)
    assert task.inspector_id == inspector.pk
    assert task.risk_score_id == score.pk
    assert page.url.endswith(f"/inspection/tasks/{task.pk}/")

    # on site, she records a theft finding: a bypass of the meter
    page.locator("#start-form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    page.select_option("#finding-form select[name=kind]", "theft")
    page.select_option("#finding-form select[name=theft_method]", "bypass")
    what = "表箱内进线端私接短接线,负荷绕越电能表;封印有撬动痕迹。"
    page.fill("#finding-form textarea[name=description]", what)
    page.locator("#finding-form button[type=submit]").click()
    page.wait_for_load_state("networkidle")
    finding = Finding.objects.get(task=task)
    assert finding.kind == "theft"
    shot(page, "inspection-task-finding")

    # and opens the case from the finding: unknown period, lighting user, 5 kW at 0.52 yuan/kWh
    page.locator(f"[data-open-case='{finding.pk}']").click()
    page.wait_for_load_state("networkidle")
    assert page.locator("select[name=user_type]").input_value() == "lighting"
    page.fill("input[name=capacity_kw]", "5")
    page.fill("input[name=price]", "0.52")
    page.locator("button[name=action][value=preview]").click()
    page.wait_for_load_state("networkidle")
    # then the amounts are computed before anything is saved: 5 × 6 × 180 = 5,400 kWh,
    # back charge 5,400 × 0.52 = 2,808.00, penalty 3 × 2,808.00 = 8,424.00 (2024 ceiling 3×)
    amounts = page.locator("#amounts-title").locator("xpath=..").inner_text()
    assert "5400.000" in amounts.replace(",", "")
    assert "¥2,808.00" in amounts
    assert "¥8,424.00" in amounts
    assert "¥11,232.00" in amounts
    assert not Case.objects.exists()
    shot(page, "inspection-case-preview")
    page.locator("button[name=action][value=save]").click()
    page.wait_for_load_state("networkidle")
    case = Case.objects.get()
    assert (case.kind, case.account_id, case.finding_id) == ("theft", thief.pk, finding.pk)
    assert case.status == "draft"
    assert case.energy_kwh == Decimal("5400.000")
    assert case.back_charge == Decimal("2808.00")
    assert case.penalty == Decimal("8424.00")
    assert case.total == Decimal("11232.00")
    assert page.url.endswith(f"/inspection/cases/{case.pk}/")
    shot(page, "inspection-case")
