"""The risk and line-loss API (``/api/inspection/``): the permission matrix (anonymous 401, a
role without the permission or a customer 403, inspector and auditor 200), filters and pages
as the console's, the explanation with its reasons in words and the daily series, 404s, the
empty answers and the OpenAPI schema."""

# ruff: noqa: F811 - the given-state fixtures are imported from test_console_selectors
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from gridcare.inspection.tests.factories import metered_account
from gridcare.inspection.tests.test_console_selectors import (  # noqa: F401 - fixtures used by name
    START,
    loss_world,
    risk_world,
)

pytestmark = pytest.mark.django_db

API = "/api/inspection"


def login(make_user: Any, role: str) -> Client:
    client = Client()
    client.force_login(make_user(roles=[role]))
    return client


def _reads(world: dict[str, Any]) -> list[str]:
    return [
        f"{API}/risk",
        f"{API}/risk/{world['accounts']['a'].pk}",
        f"{API}/line-loss",
        f"{API}/line-loss/{world['hot'].pk}",
    ]


def test_anonymous_gets_401(client: Client, loss_world: dict[str, Any]) -> None:
    for url in _reads(loss_world):
        response = client.get(url)
        assert response.status_code == 401, url
        assert response.json()["code"] == "not_authenticated"
    assert client.post(f"{API}/risk/runs").status_code == 401
    assert client.post(f"{API}/line-loss/runs").status_code == 401


@pytest.mark.parametrize("role", ["billing_clerk", "repair_crew"])
def test_roles_without_permission_get_403(make_user: Any, loss_world: dict[str, Any], role: str) -> None:
    client = login(make_user, role)
    for url in _reads(loss_world):
        response = client.get(url)
        assert response.status_code == 403, url
        assert response.json()["code"] == "permission_denied"


def test_customer_gets_403(customer_client: Client, loss_world: dict[str, Any]) -> None:
    for url in _reads(loss_world):
        assert customer_client.get(url).status_code == 403, url


@pytest.mark.parametrize("role", ["inspector", "auditor"])
def test_reading_roles(make_user: Any, loss_world: dict[str, Any], role: str) -> None:
    client = login(make_user, role)
    for url in _reads(loss_world):
        assert client.get(url).status_code == 200, url


def test_risk_list(make_user: Any, loss_world: dict[str, Any]) -> None:
    client = login(make_user, "inspector")
    body = client.get(f"{API}/risk").json()
    assert body["run"]["id"] == loss_world["scores"]["a"].run_id
    assert body["run"]["model_version"] == "theft-test-1"
    assert body["total"] == 5
    first = body["items"][0]
    assert first["number"] == "3100000001"
    assert first["customer_name"] == "王窃电"
    assert first["tone"] == "high"
    assert first["transformer_code"] == "TQURB1"
    assert first["window_start"] == "2026-01-06"
    assert first["top_reason"]["label"] == "Lasting drop (after ÷ before)"
    assert first["has_open_task"] is False
    page = client.get(f"{API}/risk", {"sort": "number", "per_page": 2, "page": 2}).json()
    assert [i["number"] for i in page["items"]] == ["3100000003", "3100000004"]
    assert (page["page"], page["pages"], page["per_page"]) == (2, 3, 2)
    rural = client.get(f"{API}/risk", {"area_type": "rural", "min_score": 0.1}).json()
    assert [i["number"] for i in rural["items"]] == ["3100000003"]
    assert client.get(f"{API}/risk", {"min_score": 2}).status_code == 422


def test_risk_detail(make_user: Any, loss_world: dict[str, Any]) -> None:
    client = login(make_user, "inspector")
    a = loss_world["accounts"]["a"]
    body = client.get(f"{API}/risk/{a.pk}").json()
    assert body["score"] == 0.91
    assert [r["feature"] for r in body["reasons"]] == ["split_ratio", "zero_longest_run", "missing_share"]
    assert body["reasons"][1]["value_text"] == "12 days"
    assert body["series"][0] == {"day": "2026-01-01", "kwh": 10.0, "peer_median": 6.0}
    assert body["series"][-1] == {"day": "2026-01-10", "kwh": 2.0, "peer_median": 6.0}
    assert [h["score"] for h in body["history"]] == [0.4, 0.91]
    assert body["open_task_ids"] == []


def test_risk_detail_404(make_user: Any, loss_world: dict[str, Any]) -> None:
    client = login(make_user, "inspector")
    stranger = metered_account(daily_kwh=[1.0], start=START)
    response = client.get(f"{API}/risk/{stranger.pk}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_empty_answers_without_runs(make_user: Any) -> None:
    client = login(make_user, "inspector")
    assert client.get(f"{API}/risk").json() == {
        "run": None,
        "items": [],
        "page": 1,
        "pages": 1,
        "total": 0,
        "per_page": 25,
    }
    assert client.get(f"{API}/line-loss").json()["run"] is None
    assert client.get(f"{API}/line-loss/1").status_code == 404


def test_line_loss_list_and_area(make_user: Any, loss_world: dict[str, Any]) -> None:
    client = login(make_user, "auditor")
    body = client.get(f"{API}/line-loss").json()
    assert body["run"]["id"] == loss_world["latest"].pk
    assert body["run"]["rate_threshold_pct"] == "10.00"
    assert [a["code"] for a in body["items"]] == ["TQURB1", "TQRUR1", "TQREM1"]
    hot = body["items"][0]
    assert hot["recent_rate_pct"] == "18.50"
    assert [r["code"] for r in hot["flag_reasons"]] == ["rate_above", "jump"]
    assert hot["flag_reasons"][1]["value"] == 14.5
    assert [a["code"] for a in client.get(f"{API}/line-loss", {"area_type": "rural"}).json()["items"]] == [
        "TQRUR1"
    ]
    area = client.get(f"{API}/line-loss/{loss_world['hot'].pk}").json()
    assert area["series"][1] == {
        "day": "2026-01-02",
        "input_kwh": None,
        "billed_kwh": 90.0,
        "loss_kwh": None,
        "rate_pct": None,
        "complete": False,
    }
    assert area["suspects"][0]["number"] == "3100000001"
    assert area["suspects"][0]["risk_score"] == 0.91
    assert area["suspects"][0]["has_open_task"] is False
    assert client.get(f"{API}/line-loss/999999").status_code == 404


def test_openapi_documents_the_endpoints(make_user: Any) -> None:
    client = login(make_user, "inspector")
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in (
        f"{API}/risk",
        f"{API}/risk/{{account_id}}",
        f"{API}/risk/runs",
        f"{API}/line-loss",
        f"{API}/line-loss/{{area_id}}",
        f"{API}/line-loss/runs",
    ):
        assert path in paths, path
