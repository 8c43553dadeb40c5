"""Inspection task and plan API: 401/403/200 by role, the task lifecycle over HTTP (create,
assign, start, checklist, finding, multipart photo, complete), 409 with the current version,
the open-task conflict, IDOR on task and finding ids, plans, and the OpenAPI schema."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from gridcare.customers.tests.factories import AccountFactory
from gridcare.inspection.models import Finding, FindingPhoto, InspectionTask

pytestmark = pytest.mark.django_db

API = "/api/inspection"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, url: str, body: dict, method: str = "post"):
    return getattr(client, method)(url, data=json.dumps(body, default=str), content_type="application/json")


@pytest.fixture
def inspector(make_user):
    return make_user(roles=["inspector"], username="insp1")


@pytest.fixture
def inspector2(make_user):
    return make_user(roles=["inspector"], username="insp2")


@pytest.fixture
def account():
    return AccountFactory(customer_class="large_ind", voltage_level="10kv")


def test_lifecycle_over_http(inspector, account):
    c = login(inspector)
    r = post(c, f"{API}/tasks", {"account_id": account.pk, "source": "report", "due_on": "2026-12-31"})
    assert r.status_code == 201, r.content
    task = r.json()
    assert task["status"] == "planned"
    assert task["account_number"] == account.number
    assert len(task["checklist"]) == 18
    assert task["checklist"][0] == {
        "section": "safety",
        "code": "safety_grounding",
        "label": "Equipment and enclosures grounded (接地)",
        "outcome": "",
        "note": "",
    }
    tid = task["id"]
    r = post(c, f"{API}/tasks/{tid}/assign", {"version": 1, "inspector_id": inspector.pk})
    assert r.json()["status"] == "assigned"
    r = post(c, f"{API}/tasks/{tid}/start", {"version": 2})
    assert r.json()["status"] == "on_site"
    outcomes = {i["code"]: {"outcome": "pass"} for i in task["checklist"]}
    outcomes["violation_capacity"] = {"outcome": "fail", "note": "实测 630 kVA, 合同 400 kVA"}
    r = post(c, f"{API}/tasks/{tid}/checklist", {"version": 3, "outcomes": outcomes}, method="put")
    assert r.status_code == 200
    assert r.json()["version"] == 4
    r = post(
        c,
        f"{API}/tasks/{tid}/findings",
        {"kind": "violation", "description": "私增容 230 kVA", "violation_kind": "excess_capacity"},
    )
    assert r.status_code == 201
    fid = r.json()["id"]
    r = c.post(
        f"{API}/findings/{fid}/photos",
        {"file": SimpleUploadedFile("nameplate.png", PNG, content_type="image/png")},
    )
    assert r.status_code == 201, r.content
    assert r.json()["url"] == f"/inspection/photos/{r.json()['id']}/"
    r = post(c, f"{API}/tasks/{tid}/complete", {"version": 5, "result": "normal"})
    assert r.status_code == 422
    assert r.json()["field"] == "result"
    r = post(c, f"{API}/tasks/{tid}/complete", {"version": 5, "result": "violation", "notes": "立案"})
    assert r.status_code == 200
    body = r.json()
    assert (body["status"], body["result"], body["version"]) == ("completed", "violation", 6)
    assert body["findings"][0]["photos"][0]["name"] == "nameplate.png"

    r = c.get(f"{API}/tasks", {"status": "completed"})
    assert r.json()["total"] == 1
    assert r.json()["items"][0]["number"] == body["number"]


def test_stale_version_is_409_with_current_version(inspector, account):
    c = login(inspector)
    tid = post(
        c, f"{API}/tasks", {"account_id": account.pk, "source": "manual", "due_on": "2026-12-31"}
    ).json()["id"]
    post(c, f"{API}/tasks/{tid}/assign", {"version": 1, "inspector_id": inspector.pk})
    r = post(c, f"{API}/tasks/{tid}/start", {"version": 1})
    assert r.status_code == 409
    assert r.json()["version"] == 2
    assert r.json()["status"] == "assigned"
    assert InspectionTask.objects.get(pk=tid).status == "assigned"


def test_open_task_conflict_and_validation(inspector, account):
    c = login(inspector)
    body = {"account_id": account.pk, "source": "risk", "due_on": "2026-12-31"}
    first = post(c, f"{API}/tasks", body).json()
    r = post(c, f"{API}/tasks", body)
    assert r.status_code == 409
    assert r.json()["code"] == "open_task_exists"
    assert first["number"] in r.json()["message"]
    r = post(c, f"{API}/tasks", {**body, "source": "nonsense"})
    assert r.status_code == 422
    assert r.json()["field"] == "source"


def test_permissions(client, make_user, inspector, inspector2, account):
    tid = post(
        login(inspector),
        f"{API}/tasks",
        {"account_id": account.pk, "source": "manual", "due_on": "2026-12-31", "inspector_id": inspector.pk},
    ).json()["id"]
    assert client.get(f"{API}/tasks").status_code == 401
    assert login(make_user(roles=["hotline_agent"])).get(f"{API}/tasks").status_code == 403
    auditor = login(make_user(roles=["auditor"]))
    assert auditor.get(f"{API}/tasks/{tid}").status_code == 200
    assert auditor.get(f"{API}/plans").status_code == 200
    assert post(auditor, f"{API}/tasks/{tid}/start", {"version": 1}).status_code == 403
    assert (
        post(
            auditor, f"{API}/plans/periodic", {"period_start": "2026-01-01", "period_end": "2026-03-31"}
        ).status_code
        == 403
    )
    # IDOR: another inspector may read but not act
    other = login(inspector2)
    assert other.get(f"{API}/tasks/{tid}").status_code == 200
    assert post(other, f"{API}/tasks/{tid}/start", {"version": 1}).status_code == 403
    post(login(inspector), f"{API}/tasks/{tid}/start", {"version": 1})
    r = post(other, f"{API}/tasks/{tid}/findings", {"kind": "other", "description": "x"})
    assert r.status_code == 403
    assert not Finding.objects.exists()
    fid = post(login(inspector), f"{API}/tasks/{tid}/findings", {"kind": "other", "description": "x"}).json()[
        "id"
    ]
    r = other.post(
        f"{API}/findings/{fid}/photos", {"file": SimpleUploadedFile("a.png", PNG, content_type="image/png")}
    )
    assert r.status_code == 403
    assert not FindingPhoto.objects.exists()
    assert other.get(f"{API}/tasks/999999").status_code == 404


def test_plans(inspector):
    AccountFactory(importance="second", voltage_level="380v", customer_class="general_ic")
    c = login(inspector)
    r = post(c, f"{API}/plans/periodic", {"period_start": "2026-01-01", "period_end": "2026-06-30"})
    assert r.status_code == 201, r.content
    plan = r.json()
    assert plan["kind"] == "periodic"
    assert plan["tasks"] == 1
    assert plan["open"] == 1
    assert plan["number"].startswith("JH")
    due = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    r = post(c, f"{API}/plans/targeted", {"source": "line_loss", "due_on": due})
    assert r.status_code == 422
    assert r.json()["field"] == "source"
    assert [p["number"] for p in c.get(f"{API}/plans").json()] == [plan["number"]]


def test_openapi_documents_the_endpoints(inspector):
    schema = login(inspector).get("/api/openapi.json").json()
    paths = schema["paths"]
    for p in (
        "/api/inspection/tasks",
        "/api/inspection/tasks/{task_id}",
        "/api/inspection/tasks/{task_id}/assign",
        "/api/inspection/tasks/{task_id}/start",
        "/api/inspection/tasks/{task_id}/checklist",
        "/api/inspection/tasks/{task_id}/findings",
        "/api/inspection/findings/{finding_id}/photos",
        "/api/inspection/tasks/{task_id}/complete",
        "/api/inspection/tasks/{task_id}/cancel",
        "/api/inspection/plans",
        "/api/inspection/plans/periodic",
        "/api/inspection/plans/targeted",
    ):
        assert p in paths, p
    upload = paths["/api/inspection/findings/{finding_id}/photos"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload
