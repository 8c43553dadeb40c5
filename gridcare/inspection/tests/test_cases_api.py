"""Case API (/api/inspection/cases…): permission matrix, unknown ids, preview without saving,
create, optimistic lock (409 with the current version), the four-eyes decision, posting to
billing, and the OpenAPI schema."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from gridcare.billing.models import BillAdjustment
from gridcare.billing.tests.factories import issued_bill
from gridcare.inspection.models import Case
from gridcare.inspection.tests.test_cases_services import KNOWN, account_with_contract, theft_case

pytestmark = pytest.mark.django_db
BASE = "/api/inspection"


def post_json(client: Any, url: str, data: dict[str, Any], method: str = "post") -> Any:
    return getattr(client, method)(url, data=json.dumps(data), content_type="application/json")


def create_body(account: Any, **changes: Any) -> dict[str, Any]:
    return {
        "kind": "theft",
        "theft_method": "hookup",
        "account_id": account.pk,
        "occurred_on": "2026-10-15",
        "inputs": {"period_known": True, "capacity_kw": 5, "hours_per_day": "8", "days": 30, "price": 0.52},
        **changes,
    }


@pytest.mark.parametrize(
    ("roles", "read", "write"),
    [
        (None, 401, 401),
        (["billing_clerk"], 403, 403),
        (["auditor"], 200, 403),
        (["service_manager"], 200, 403),
        (["inspector"], 200, 201),
        (["marketing_manager"], 200, 201),
    ],
)
def test_permission_matrix(make_user, roles, read, write):
    client = Client()
    case = theft_case(make_user(roles=["inspector"], username="maker"))
    if roles is not None:
        client.force_login(make_user(roles=roles))
    assert client.get(f"{BASE}/cases").status_code == read
    assert client.get(f"{BASE}/cases/{case.pk}").status_code == read
    response = post_json(client, f"{BASE}/cases", create_body(account_with_contract()))
    assert response.status_code == write, response.content
    assert Case.objects.count() == (2 if write == 201 else 1)


def test_customer_is_refused_and_unknown_ids_are_404(customer_client, staff_client, make_user):
    case = theft_case(make_user(roles=["inspector"]))
    assert customer_client.get(f"{BASE}/cases/{case.pk}").status_code == 403
    assert customer_client.get(f"{BASE}/cases").status_code == 403
    client = staff_client(roles=["inspector"])
    assert client.get(f"{BASE}/cases/{case.pk + 999}").status_code == 404
    assert post_json(client, f"{BASE}/cases/{case.pk + 999}/submit", {}).status_code == 404


def test_preview_computes_without_saving(staff_client):
    client = staff_client(roles=["inspector"])
    account = account_with_contract()
    body = {
        "kind": "theft",
        "account_id": account.pk,
        "occurred_on": "2026-10-15",
        "inputs": {"capacity_kw": "3", "price": "0.52"},
    }
    response = post_json(client, f"{BASE}/cases/preview", body)
    assert response.status_code == 200, response.content
    data = response.json()
    # a residential account: lighting, 3 kW × 6 h × 180 days = 3,240 kWh; × 0.52 = 1,684.80; × 3 = 5,054.40
    assert (data["energy_kwh"], data["back_charge"], data["penalty"], data["total"]) == (
        "3240.000",
        "1684.80",
        "5054.40",
        "6739.20",
    )
    assert data["parameters"]["theft_hours_lighting"]["value"] == "6"
    assert [s["name"] for s in data["steps"]] == ["energy", "back_charge", "penalty", "total"]
    assert not Case.objects.exists()
    bad = post_json(
        client,
        f"{BASE}/cases/preview",
        {**body, "inputs": {"capacity_kw": "3", "price": "0.52", "agreed_multiple": "4"}},
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "agreed_multiple"
    old = post_json(client, f"{BASE}/cases/preview", {**body, "occurred_on": "1990-01-01"})
    assert old.status_code == 422
    assert old.json()["field"] == "occurred_on"


def test_create_update_submit_decide_post(make_user):
    account = account_with_contract()
    maker = Client()
    maker.force_login(make_user(roles=["inspector"], username="maker"))
    created = post_json(maker, f"{BASE}/cases", create_body(account))
    assert created.status_code == 201, created.content
    data = created.json()
    case_id = data["id"]
    assert (data["status"], data["version"], data["total"]) == ("draft", 1, "2496.00")
    assert data["actions"] == ["edit", "submit", "withdraw"]
    assert data["history"][0]["action"] == "inspection.case.create"
    changed = post_json(
        maker, f"{BASE}/cases/{case_id}", {"version": 1, "inputs": {**KNOWN, "days": "60"}}, method="patch"
    )
    assert changed.status_code == 200, changed.content
    assert (changed.json()["version"], changed.json()["total"]) == (2, "4992.00")
    stale = post_json(maker, f"{BASE}/cases/{case_id}", {"version": 1, "facts": "x"}, method="patch")
    assert stale.status_code == 409
    assert (stale.json()["version"], stale.json()["status"]) == (2, "draft")
    assert post_json(maker, f"{BASE}/cases/{case_id}/submit", {"version": 2}).status_code == 200
    # the submitter may not decide even with the approval role; someone else may
    assert post_json(maker, f"{BASE}/cases/{case_id}/decide", {"approve": True}).status_code == 403
    approver = Client()
    approver.force_login(make_user(roles=["marketing_manager"], username="maker2"))
    assert approver.get(f"{BASE}/cases/{case_id}").json()["actions"] == ["approve", "reject", "withdraw"]
    decided = post_json(approver, f"{BASE}/cases/{case_id}/decide", {"approve": True, "note": "同意"})
    assert decided.status_code == 200, decided.content
    assert decided.json()["status"] == "approved"
    again = post_json(approver, f"{BASE}/cases/{case_id}/decide", {"approve": True})
    assert again.status_code == 409
    assert again.json()["status"] == "approved"
    no_bill = post_json(maker, f"{BASE}/cases/{case_id}/post", {})
    assert no_bill.status_code == 409
    assert no_bill.json()["code"] == "no_issued_bill"
    issued_bill(account=account, period=dt.date(2026, 10, 1))
    assert post_json(maker, f"{BASE}/cases/{case_id}/notify", {}).json()["status"] == "notified"
    posted = post_json(maker, f"{BASE}/cases/{case_id}/post", {})
    assert posted.status_code == 200, posted.content
    adjustment = BillAdjustment.objects.get()
    assert posted.json()["bill_adjustment"] == adjustment.number
    assert posted.json()["status"] == "settled"
    listing = maker.get(f"{BASE}/cases", {"status": "settled"}).json()
    assert [c["id"] for c in listing["items"]] == [case_id]
    assert maker.get(f"{BASE}/cases", {"status": "draft"}).json()["total"] == 0


def test_withdraw_needs_a_reason(staff_client):
    client = staff_client(roles=["inspector"])
    case = theft_case(client.user)
    assert post_json(client, f"{BASE}/cases/{case.pk}/withdraw", {"reason": ""}).status_code == 422
    response = post_json(client, f"{BASE}/cases/{case.pk}/withdraw", {"reason": "误报"})
    assert response.json()["status"] == "withdrawn"


def test_penalty_rules_endpoint(staff_client):
    client = staff_client(roles=["auditor"])
    rules = {r["key"]: r for r in client.get(f"{BASE}/penalty-rules", {"day": "2024-05-31"}).json()}
    assert rules["theft_multiple"]["is_cap"] is False
    rules = {r["key"]: r for r in client.get(f"{BASE}/penalty-rules", {"day": "2024-06-01"}).json()}
    assert (rules["theft_multiple"]["is_cap"], rules["theft_multiple"]["effective_from"]) == (
        True,
        "2024-06-01",
    )


def test_openapi_documents_the_case_endpoints(staff_client):
    schema = staff_client(roles=["inspector"]).get("/api/openapi.json").json()
    paths = schema["paths"]
    for path in (
        "/api/inspection/cases",
        "/api/inspection/cases/preview",
        "/api/inspection/cases/{case_id}",
        "/api/inspection/cases/{case_id}/decide",
        "/api/inspection/cases/{case_id}/post",
    ):
        assert path in paths, path
    assert "409" in paths["/api/inspection/cases/{case_id}/submit"]["post"]["responses"]
    assert "capacity_kw" in schema["components"]["schemas"]["CaseInputs"]["properties"]
