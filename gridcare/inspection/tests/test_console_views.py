"""Console pages of the risk list, the explanation, the scoring runs, the line-loss dashboard
and one area: the permission matrix (anonymous → login, a role without the permission → 403,
inspector → 200, auditor read-only without the run buttons), the 404s, the empty states, the
chart data in the page (json_script), the task links, pinned query counts and the run-now
buttons."""

# ruff: noqa: F811 - the given-state fixtures are imported from test_console_selectors
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gridcare.inspection.choices import RunStatus, TaskSource, TaskStatus
from gridcare.inspection.models import InspectionTask, LineLossRun, ScoringRun
from gridcare.inspection.tests.factories import metered_account
from gridcare.inspection.tests.test_console_selectors import (  # noqa: F401 - fixtures used by name
    START,
    loss_world,
    risk_world,
)

pytestmark = pytest.mark.django_db


def login(make_user: Any, *roles: str, **fields: Any) -> Client:
    client = Client()
    client.force_login(make_user(roles=list(roles), **fields))
    return client


def json_script(html: str, element_id: str) -> Any:
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert match, f"no json_script #{element_id}"
    return json.loads(match.group(1))


def _urls(world: dict[str, Any]) -> list[str]:
    return [
        reverse("inspection:risk"),
        reverse("inspection:risk_detail", args=[world["accounts"]["a"].pk]),
        reverse("inspection:scoring_runs"),
        reverse("inspection:lineloss"),
        reverse("inspection:lineloss_area", args=[world["hot"].pk]),
    ]


# ---- permission matrix ------------------------------------------------------------------------


def test_anonymous_goes_to_login(client: Client, loss_world: dict[str, Any]) -> None:
    for url in _urls(loss_world):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("core:login")), url


@pytest.mark.parametrize("role", ["billing_clerk", "hotline_agent", "counter_clerk"])
def test_roles_without_permission_get_403(make_user: Any, loss_world: dict[str, Any], role: str) -> None:
    client = login(make_user, role)
    for url in _urls(loss_world):
        assert client.get(url).status_code == 403, url


def test_customer_gets_403(customer_client: Client, loss_world: dict[str, Any]) -> None:
    for url in _urls(loss_world):
        assert customer_client.get(url).status_code == 403, url


@pytest.mark.parametrize("role", ["inspector", "marketing_manager", "service_manager", "auditor"])
def test_reading_roles_see_every_page(make_user: Any, loss_world: dict[str, Any], role: str) -> None:
    client = login(make_user, role)
    for url in _urls(loss_world):
        assert client.get(url).status_code == 200, url


def test_inspector_sees_run_buttons_and_task_links(make_user: Any, loss_world: dict[str, Any]) -> None:
    client = login(make_user, "inspector")
    a = loss_world["accounts"]["a"]
    score = loss_world["scores"]["a"]
    task = f"/inspection/tasks/new/?account={a.pk}&amp;source=risk&amp;risk_score={score.pk}"
    assert task in client.get(reverse("inspection:risk")).content.decode()
    assert task in client.get(reverse("inspection:risk_detail", args=[a.pk])).content.decode()
    assert "data-run-now" in client.get(reverse("inspection:scoring_runs")).content.decode()
    dashboard = client.get(reverse("inspection:lineloss")).content.decode()
    assert "data-run-now" in dashboard
    area = client.get(reverse("inspection:lineloss_area", args=[loss_world["hot"].pk])).content.decode()
    assert (
        f"/inspection/tasks/new/?account={a.pk}&amp;source=line_loss&amp;area_loss={loss_world['hot'].pk}"
        in area
    )


def test_an_open_task_replaces_the_task_link(make_user: Any, loss_world: dict[str, Any]) -> None:
    a = loss_world["accounts"]["a"]
    InspectionTask.objects.create(
        number="JC0009",
        account=a,
        source=TaskSource.RISK,
        status=TaskStatus.PLANNED,
        due_on=START,
        created_by="tester",
        created_at=timezone.now(),
    )
    client = login(make_user, "inspector")
    listed = client.get(reverse("inspection:risk")).content.decode()
    assert f"account={a.pk}&amp;" not in listed
    assert listed.count("inspection task open") == 1
    b = loss_world["accounts"]["b"]
    assert f"account={b.pk}&amp;source=risk" in listed
    area = client.get(reverse("inspection:lineloss_area", args=[loss_world["hot"].pk])).content.decode()
    assert f"account={a.pk}&amp;" not in area
    assert f"account={b.pk}&amp;source=line_loss" in area
    assert area.count("inspection task open") == 1


def test_auditor_reads_without_buttons(make_user: Any, loss_world: dict[str, Any]) -> None:
    client = login(make_user, "auditor")
    a = loss_world["accounts"]["a"]
    for url in _urls(loss_world):
        html = client.get(url).content.decode()
        assert "data-run-now" not in html, url
        assert "/inspection/tasks/new/" not in html, url
    assert client.post(reverse("inspection:scoring_runs")).status_code == 403
    assert client.post(reverse("inspection:lineloss")).status_code == 403
    assert ScoringRun.objects.count() == 4
    assert LineLossRun.objects.count() == 3
    assert client.get(reverse("inspection:risk_detail", args=[a.pk])).status_code == 200


# ---- pages ----------------------------------------------------------------------------------


def test_risk_list_shows_the_latest_run_filtered(make_user: Any, loss_world: dict[str, Any]) -> None:
    client = login(make_user, "inspector")
    html = client.get(reverse("inspection:risk")).content.decode()
    assert "theft-test-1" in html
    assert html.index("3100000001") < html.index("3100000005") < html.index("3100000003")
    assert "Lasting drop (after ÷ before)" in html
    assert "risk-score__fill--danger" in html
    assert "2026-01-06 – 2026-01-10" in html
    rural = client.get(reverse("inspection:risk"), {"area_type": "rural"}).content.decode()
    assert "3100000003" in rural
    assert "3100000001" not in rural
    flagged = client.get(reverse("inspection:risk"), {"flagged": "on", "sort": "number"}).content.decode()
    assert flagged.index("3100000001") < flagged.index("3100000005")
    assert "3100000002" not in flagged
    junk = client.get(reverse("inspection:risk"), {"min_score": "2"})
    assert junk.status_code == 200
    assert "3100000004" in junk.content.decode()


def test_risk_list_query_count(
    make_user: Any, loss_world: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    client = login(make_user, "inspector")
    client.get(reverse("inspection:risk"))
    with django_assert_max_num_queries(9):
        response = client.get(reverse("inspection:risk"), {"per_page": 50})
    assert response.status_code == 200


def test_risk_list_empty_state(make_user: Any) -> None:
    client = login(make_user, "inspector")
    html = client.get(reverse("inspection:risk")).content.decode()
    assert "No scoring run has finished yet" in html
    assert reverse("inspection:scoring_runs") in html


def test_explanation_page(make_user: Any, loss_world: dict[str, Any]) -> None:
    client = login(make_user, "inspector")
    a = loss_world["accounts"]["a"]
    html = client.get(reverse("inspection:risk_detail", args=[a.pk])).content.decode()
    data = json_script(html, "risk-chart-data")
    assert data["days"][:2] == ["2026-01-01", "2026-01-02"]
    assert data["kwh"] == [10.0] * 5 + [2.0] * 5
    assert data["peer_median"] == [6.0] * 10
    assert data["window"] == ["2026-01-06", "2026-01-10"]
    assert "王窃电" in html
    assert reverse("customers:detail", args=[a.customer_id]) in html
    assert "Zero-use days lately" not in html
    assert "Longest run of zero days" in html
    assert "12 days" in html
    assert "inspection/risk_chart.js" in html
    assert reverse("inspection:lineloss_area", args=[loss_world["hot"].pk]) in html
    assert "area flagged" in html


def test_explanation_query_count(
    make_user: Any, loss_world: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    client = login(make_user, "inspector")
    url = reverse("inspection:risk_detail", args=[loss_world["accounts"]["a"].pk])
    client.get(url)  # the class's peer statistics are cached from here on
    with django_assert_max_num_queries(16):
        assert client.get(url).status_code == 200


def test_explanation_404s(make_user: Any, loss_world: dict[str, Any]) -> None:
    client = login(make_user, "inspector")
    stranger = metered_account(daily_kwh=[1.0], start=START)
    assert client.get(reverse("inspection:risk_detail", args=[stranger.pk])).status_code == 404
    assert client.get(reverse("inspection:risk_detail", args=[999999])).status_code == 404


def test_scoring_runs_page(make_user: Any, loss_world: dict[str, Any]) -> None:
    client = login(make_user, "service_manager")
    html = client.get(reverse("inspection:scoring_runs")).content.decode()
    assert "boom" in html
    assert "badge--danger" in html
    assert "heldout.auc" in html
    assert "0.9700" in html


def test_line_loss_dashboard(make_user: Any, loss_world: dict[str, Any]) -> None:
    client = login(make_user, "inspector")
    html = client.get(reverse("inspection:lineloss")).content.decode()
    data = json_script(html, "lineloss-chart-data")
    assert data["codes"] == ["TQURB1", "TQRUR1", "TQREM1"]
    assert data["flagged"] == [True, False, False]
    assert data["threshold"] == 10.0
    assert data["area_url"] == "/inspection/line-loss/0/"
    assert "Loss rate above the threshold" in html
    assert "no curves" in html
    only = client.get(reverse("inspection:lineloss"), {"flagged": "on"}).content.decode()
    assert json_script(only, "lineloss-chart-data")["codes"] == ["TQURB1"]


def test_line_loss_dashboard_query_count(
    make_user: Any, loss_world: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    client = login(make_user, "inspector")
    client.get(reverse("inspection:lineloss"))
    with django_assert_max_num_queries(11):
        assert client.get(reverse("inspection:lineloss")).status_code == 200


def test_line_loss_empty_state(make_user: Any) -> None:
    client = login(make_user, "inspector")
    html = client.get(reverse("inspection:lineloss")).content.decode()
    assert "No line-loss analysis has finished yet." in html
    assert "data-run-now" in html


def test_area_page(make_user: Any, loss_world: dict[str, Any]) -> None:
    client = login(make_user, "inspector")
    html = client.get(reverse("inspection:lineloss_area", args=[loss_world["hot"].pk])).content.decode()
    data = json_script(html, "lineloss-area-data")
    assert data["days"] == ["2026-01-01", "2026-01-02"]
    assert data["rate"] == [4.0, None]
    assert data["complete"] == [True, False]
    assert "The recent loss rate of 18.50 % is above the threshold of 10.00 %." in html
    assert reverse("inspection:risk_detail", args=[loss_world["accounts"]["a"].pk]) in html
    assert html.index("3100000001") < html.index("3100000002")
    assert f"/inspection/?transformer={loss_world['urban'].pk}" in html


def test_area_404s(make_user: Any, loss_world: dict[str, Any]) -> None:
    client = login(make_user, "inspector")
    assert client.get(reverse("inspection:lineloss_area", args=[999999])).status_code == 404
    running = LineLossRun.objects.create(
        window_start=START,
        window_end=START,
        rate_threshold_pct=10,
        jump_threshold_pct=3,
        status=RunStatus.RUNNING,
        started_at=loss_world["latest"].started_at,
    )
    area = running.area_losses.create(transformer=loss_world["urban"], input_kwh=1, billed_kwh=1)
    assert client.get(reverse("inspection:lineloss_area", args=[area.pk])).status_code == 404
