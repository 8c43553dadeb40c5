"""HTTP API of readings: batched ingestion with per-row rejections, import jobs, the
exception queue and bulk resolution, with the permission matrix of every endpoint."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from gridcare.metering.choices import ExceptionStatus, VeeRule
from gridcare.metering.models import Reading, ReadingException, ReadingImport
from gridcare.metering.tests.readings_fixtures import DAY0, import_lines, installed_meter, series_lines

pytestmark = pytest.mark.django_db

BASE = "/api/metering"


def post_json(client: Any, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, data=json.dumps(body), content_type="application/json")


def batch(*rows: tuple[str, str, str, str]) -> dict[str, Any]:
    return {
        "channel": "ami",
        "readings": [{"meter": m, "register": r, "day": day, "value": v} for m, r, day, v in rows],
    }


@pytest.fixture
def exception(tmp_path):
    installed_meter("M2")
    values = [str(10 * (i + 1)) for i in range(10)]
    values[7] = "50"
    import_lines(tmp_path, series_lines("M2", DAY0 + dt.timedelta(days=1), values), name="m2.csv")
    return ReadingException.objects.get(rule=VeeRule.DECREASING)


# --- permission matrix --------------------------------------------------------------------

ENDPOINTS = [
    ("post", "/readings", batch(("M1", "total", "2026-01-02", "1"))),
    ("get", "/imports/1", None),
    ("get", "/exceptions", None),
    ("post", "/exceptions/resolve", {"ids": [1], "action": "accept"}),
]


def call(client: Any, method: str, path: str, body: Any) -> Any:
    if method == "post":
        return post_json(client, BASE + path, body)
    return client.get(BASE + path)


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_anonymous_gets_401(client, method, path, body):
    assert call(client, method, path, body).status_code == 401


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_portal_customer_gets_403(customer_client, method, path, body):
    response = call(customer_client, method, path, body)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_staff_without_the_permission_gets_403(staff_client, method, path, body):
    assert call(staff_client(roles=["repair_crew"]), method, path, body).status_code == 403


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS[2:])
def test_view_only_staff_may_read_but_not_resolve(staff_client, method, path, body):
    client = staff_client(roles=["auditor"])
    expected = 200 if method == "get" else 403
    assert call(client, method, path, body).status_code == expected


def test_auditor_may_not_post_readings(staff_client):
    response = post_json(staff_client(roles=["auditor"]), BASE + "/readings", ENDPOINTS[0][2])
    assert response.status_code == 403
    assert Reading.objects.count() == 0


# --- billing clerk ----------------------------------------------------------------------------


def test_post_readings_returns_the_summary_with_rejections(staff_client):
    installed_meter("M1")
    client = staff_client(roles=["billing_clerk"])
    body = batch(
        ("M1", "total", "2026-01-02", "1234.56"),
        ("M1", "total", "2026-01-03", "12x"),
        ("NOPE", "total", "2026-01-03", "1"),
    )

    response = post_json(client, BASE + "/readings", body)

    assert response.status_code == 200, response.content
    data = response.json()
    assert (data["status"], data["inserted_rows"], data["rejected_rows"]) == ("done", 1, 2)
    assert [(r["line"], r["reason"]) for r in data["rejections"]] == [
        (2, "non_numeric"),
        (3, "unknown_meter"),
    ]
    again = post_json(client, BASE + "/readings", body).json()
    assert (again["inserted_rows"], again["duplicate_rows"]) == (0, 1)

    job = client.get(f"{BASE}/imports/{data['id']}")
    assert job.status_code == 200
    assert job.json()["rejected_rows"] == 2


def test_a_numeric_asset_number_is_read_as_text_not_refused(staff_client):
    # one row of a numeric meter must not cost the whole batch a 422
    installed_meter("3100000001")
    client = staff_client(roles=["billing_clerk"])
    body = {
        "channel": "ami",
        "readings": [
            {"meter": 3100000001, "register": "total", "day": "2026-01-02", "value": "5"},
            {"meter": 3199999999, "register": "total", "day": "2026-01-02", "value": "5"},
        ],
    }

    data = post_json(client, BASE + "/readings", body).json()

    assert (data["inserted_rows"], data["rejected_rows"]) == (1, 1)
    assert [r["reason"] for r in data["rejections"]] == ["unknown_meter"]


def test_post_readings_schema_errors_are_422(staff_client):
    client = staff_client(roles=["billing_clerk"])
    response = post_json(client, BASE + "/readings", {"channel": "telepathy", "readings": []})
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"


def test_a_batch_without_values_is_422_and_stores_nothing(staff_client):
    client = staff_client(roles=["billing_clerk"])
    body = {"channel": "ami", "readings": [{"meter": "M1", "register": "total", "day": "2026-01-02"}]}

    response = post_json(client, BASE + "/readings", body)

    assert response.status_code == 422
    assert response.json()["field"] == "readings"
    assert ReadingImport.objects.count() == 0


def test_unknown_import_is_404(staff_client):
    assert staff_client(roles=["billing_clerk"]).get(BASE + "/imports/999").status_code == 404


def test_exception_queue_and_resolve(staff_client, exception):
    client = staff_client(roles=["billing_clerk"])

    listed = client.get(BASE + "/exceptions", {"rule": "decreasing"})
    assert listed.status_code == 200
    rows = listed.json()
    assert [(r["id"], r["rule"], r["register"], r["meter"]) for r in rows] == [
        (exception.pk, "decreasing", "total", "M2")
    ]

    resolved = post_json(
        client, BASE + "/exceptions/resolve", {"ids": [exception.pk], "action": "reread", "note": "补抄"}
    )
    assert resolved.status_code == 200
    assert resolved.json() == {"resolved": 1, "status": "reread"}
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.REREAD
    assert client.get(BASE + "/exceptions").json() == []
    assert len(client.get(BASE + "/exceptions", {"status": "reread"}).json()) == 1


def test_resolving_twice_is_409(staff_client, exception):
    client = staff_client(roles=["billing_clerk"])
    body = {"ids": [exception.pk], "action": "accept"}
    assert post_json(client, BASE + "/exceptions/resolve", body).status_code == 200

    response = post_json(client, BASE + "/exceptions/resolve", body)

    assert response.status_code == 409
    assert response.json()["code"] == "conflict"


def test_estimating_a_decreasing_reading_is_422(staff_client, exception):
    client = staff_client(roles=["billing_clerk"])
    response = post_json(client, BASE + "/exceptions/resolve", {"ids": [exception.pk], "action": "estimate"})
    assert response.status_code == 422
    assert response.json()["field"] == "action"
