"""Work-order API (/api/workorders/): permission matrix, create/transition/comment/search/detail,
the {"code","message","field"} errors, the 409 on a stale version, SLA deadline and alerts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gridcare.core.models import AuditEvent
from gridcare.customers.tests.factories import AccountFactory
from gridcare.workorders.models import ReporterIdentity, StaffAlert, WorkOrder, WorkOrderEvent
from gridcare.workorders.tests.factories import BEIJING, TeamFactory, accept

pytestmark = pytest.mark.django_db

BASE = "/api/workorders"
NEW = {
    "kind": "complaint",
    "channel": "app",
    "category": "cmp_business_tariff",
    "subject": "电费异常偏高",
    "description": "本月电费比上月高出一倍。",
    "contact_name": "赵先生",
    "contact_phone": "13911112222",
}


def post(client: Any, url: str, body: dict[str, Any], **headers: Any) -> Any:
    return client.post(url, body, content_type="application/json", **headers)


# ---- permission matrix -------------------------------------------------------------------


def _every_endpoint(number: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("get", f"{BASE}/orders", None),
        ("get", f"{BASE}/orders/{number}", None),
        ("post", f"{BASE}/orders", NEW),
        ("post", f"{BASE}/orders/{number}/transitions", {"transition": "assign", "version": 1, "fields": {}}),
        ("post", f"{BASE}/orders/{number}/comments", {"note": "x"}),
        ("get", f"{BASE}/sla/deadline?kind=complaint&stage=reply&start=2026-11-02T09:00:00%2B08:00", None),
        ("get", f"{BASE}/alerts", None),
        ("post", f"{BASE}/alerts/read", {}),
    ]


def _call(client: Any, method: str, url: str, body: dict[str, Any] | None) -> Any:
    return post(client, url, body or {}) if method == "post" else client.get(url)


def test_anonymous_gets_401_everywhere(client: Any) -> None:
    order = accept()
    for method, url, body in _every_endpoint(order.number):
        response = _call(client, method, url, body)
        assert response.status_code == 401, url
        assert response.json()["code"] == "not_authenticated"


def test_customer_gets_403_on_every_staff_endpoint(customer_client: Any) -> None:
    # Even on an order about the customer's own account: customers use the portal.
    order = accept(account_number=customer_client.account.number)
    for method, url, body in _every_endpoint(order.number):
        response = _call(customer_client, method, url, body)
        assert response.status_code == 403, url
        assert response.json() == {
            "code": "permission_denied",
            "message": response.json()["message"],
            "field": None,
        }
    assert WorkOrder.objects.count() == 1
    assert not WorkOrderEvent.objects.filter(event_type="note").exists()


def test_staff_without_view_permission_gets_403(staff_client: Any) -> None:
    # billing_clerk has view_workorder; a user with no work-order role at all has nothing.
    client = staff_client(roles=["marketing_manager"])
    client.user.groups.clear()
    client.user.is_superuser = False
    client.user.save()
    order = accept()
    for method, url, body in _every_endpoint(order.number):
        assert _call(client, method, url, body).status_code == 403, url


def test_auditor_reads_but_cannot_create_transition_or_comment(staff_client: Any) -> None:
    client = staff_client(roles=["auditor"])
    order = accept()
    assert client.get(f"{BASE}/orders").status_code == 200
    assert client.get(f"{BASE}/orders/{order.number}").json()["transitions"] == []
    assert post(client, f"{BASE}/orders", NEW).status_code == 403
    response = post(
        client,
        f"{BASE}/orders/{order.number}/transitions",
        {"transition": "assign", "version": 1, "fields": {}},
    )
    assert response.status_code == 403
    assert post(client, f"{BASE}/orders/{order.number}/comments", {"note": "看过"}).status_code == 403
    order.refresh_from_db()
    assert order.version == 1
    assert order.state == "accepted"


def test_labels_follow_the_requests_language(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    chinese = post(client, f"{BASE}/orders", NEW).json()
    english = post(client, f"{BASE}/orders", NEW, headers={"Accept-Language": "en"}).json()
    assert (chinese["state_label"], chinese["kind_label"]) == ("已受理", "投诉")
    assert (english["state_label"], english["kind_label"]) == ("Accepted", "Complaint (投诉)")
    again = client.get(f"{BASE}/orders/{chinese['number']}", headers={"Accept-Language": "en"})
    assert again.json()["state_label"] == "Accepted"
    assert again.headers["Content-Language"] == "en"


def test_inspector_may_comment_but_not_create(staff_client: Any) -> None:
    client = staff_client(roles=["inspector"])  # view + change, no add
    order = accept()
    assert post(client, f"{BASE}/orders", NEW).status_code == 403
    assert post(client, f"{BASE}/orders/{order.number}/comments", {"note": "已现场核实"}).status_code == 201


# ---- create ----------------------------------------------------------------------------------


def test_create_returns_201_with_number_state_version_and_clocks(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    account = AccountFactory()
    response = post(client, f"{BASE}/orders", {**NEW, "account_number": account.number})
    assert response.status_code == 201, response.content
    body = response.json()
    order = WorkOrder.objects.get(number=body["number"])
    assert body["kind"] == "complaint"
    assert body["state"] == "accepted"
    assert body["version"] == 1
    assert body["state_label"] == "已受理"
    assert body["channel"] == "app"
    assert order.channel == "app"
    assert body["account_number"] == account.number
    assert body["customer_id"] == account.customer_id
    assert body["contact_phone"] == "13911112222"
    assert body["contact_masked"] is False
    assert {c["stage"] for c in body["clocks"]} == {"contact", "reply"}
    assert all(c["status"] == "running" for c in body["clocks"])
    assert [e["type"] for e in body["timeline"]] == ["created"]
    assert "assign" in {t["name"] for t in body["transitions"]}
    assert order.created_by == client.user
    assert AuditEvent.objects.filter(object_id=str(order.pk), action="workorder.create").exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"category": "inq_payment"}, "category"),
        ({"kind": "outage"}, "kind"),
        ({"channel": "fax"}, "channel"),
        ({"subject": "  "}, "subject"),
        ({"contact_phone": "call me"}, "contact_phone"),
        ({"account_number": "0000000000"}, "account_number"),
        ({"team": "NOPE"}, "team"),
        ({"reporter": {"name": "某人"}}, "reporter"),
    ],
)
def test_create_errors_are_422_naming_the_field(
    staff_client: Any, change: dict[str, Any], field: str
) -> None:
    client = staff_client(roles=["hotline_agent"])
    response = post(client, f"{BASE}/orders", {**NEW, **change})
    assert response.status_code == 422, response.content
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["field"] == field
    assert body["message"]
    assert WorkOrder.objects.count() == 0


def test_create_schema_error_names_the_missing_field(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    body = {k: v for k, v in NEW.items() if k != "subject"}
    response = post(client, f"{BASE}/orders", body)
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
    assert response.json()["field"] == "subject"


def test_create_report_stores_the_reporter_apart_and_returns_the_mask(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    response = post(
        client,
        f"{BASE}/orders",
        {
            "kind": "report",
            "channel": "hotline",
            "category": "rpt_theft",
            "subject": "邻居私拉电线",
            "reporter": {"name": "钱举报", "phone": "13800009999", "id_number": "", "address": "西街8号"},
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["contact_name"] == "***"
    assert body["contact_phone"] == "***"
    assert body["contact_masked"]
    assert "钱举报" not in response.content.decode()
    assert "13800009999" not in response.content.decode()
    identity = ReporterIdentity.objects.get(order__number=body["number"])
    assert identity.name == "钱举报"
    assert identity.phone == "13800009999"
    assert identity.address == "西街8号"


def test_inquiry_answered_at_first_contact(staff_client: Any) -> None:
    client = staff_client(roles=["counter_clerk"])
    response = post(
        client,
        f"{BASE}/orders",
        {
            "kind": "inquiry",
            "channel": "counter",
            "category": "inq_payment",
            "subject": "怎么交电费",
            "answer": "可通过网上国网App、银行代扣或营业厅交费。",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "answered"
    assert body["is_open"] is False
    assert body["answered_first_contact"] is True
    assert [e["type"] for e in body["timeline"]] == ["created", "transition"]


# ---- transitions -----------------------------------------------------------------------------


def test_transition_then_stale_version_is_409_with_current_version(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    team = TeamFactory(code="KF01", members=[client.user])
    order = accept()
    url = f"{BASE}/orders/{order.number}/transitions"
    ok = post(client, url, {"transition": "assign", "version": 1, "fields": {"team": team.code}})
    assert ok.status_code == 200, ok.content
    assert ok.json()["state"] == "investigating"
    assert ok.json()["version"] == 2
    assert ok.json()["team"] == "KF01"
    # A second agent who still holds version 1:
    stale = post(
        client,
        url,
        {"transition": "contact", "version": 1, "fields": {"method": "phone", "outcome": "reached"}},
    )
    assert stale.status_code == 409
    body = stale.json()
    assert body["code"] == "conflict"
    assert body["version"] == 2
    assert body["state"] == "investigating"
    assert body["message"]
    order.refresh_from_db()
    assert order.version == 2
    assert not WorkOrderEvent.objects.filter(order=order, event_type="contact").exists()


def test_transition_invalid_state_is_409_and_missing_field_422(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    order = accept()
    url = f"{BASE}/orders/{order.number}/transitions"
    wrong = post(client, url, {"transition": "follow_up", "version": 1, "fields": {}})
    assert wrong.status_code == 409
    assert wrong.json()["code"] == "invalid_state"
    assert wrong.json()["version"] == 1
    missing = post(client, url, {"transition": "assign", "version": 1, "fields": {}})
    assert missing.status_code == 422
    assert missing.json()["field"] == "team"
    unknown = post(client, url, {"transition": "teleport", "version": 1, "fields": {}})
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "transition"


def test_transition_field_errors_are_422_like_the_console(staff_client: Any) -> None:
    """A due date that is not a date, or a reply longer than 4000 characters, is 422 naming
    the field: not a 500, and never cut short."""
    client = staff_client(roles=["service_manager"])
    TeamFactory(code="KF01", members=[client.user])
    order = accept()
    url = f"{BASE}/orders/{order.number}/transitions"
    assert (
        post(client, url, {"transition": "assign", "version": 1, "fields": {"team": "KF01"}}).status_code
        == 200
    )
    long_reply = post(client, url, {"transition": "reply", "version": 2, "fields": {"note": "答" * 4001}})
    assert long_reply.status_code == 422
    assert long_reply.json()["field"] == "note"
    assert (
        post(client, url, {"transition": "reply", "version": 2, "fields": {"note": "已答复"}}).status_code
        == 200
    )
    visit = {"method": "phone", "satisfaction": "satisfied"}
    assert post(client, url, {"transition": "follow_up", "version": 3, "fields": visit}).status_code == 200
    improve = {"root_cause": "staff_skill", "action": "培训", "due_date": 20261201}
    number_date = post(client, url, {"transition": "improve", "version": 4, "fields": improve})
    assert number_date.status_code == 422
    assert number_date.json()["field"] == "due_date"
    order.refresh_from_db()
    assert order.version == 4
    assert WorkOrderEvent.objects.get(order=order, transition="reply").note == "已答复"


def test_transition_role_not_allowed_is_403(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    order = accept()
    response = post(
        client,
        f"{BASE}/orders/{order.number}/transitions",
        {"transition": "review", "version": 1, "fields": {"note": "审核"}},
    )
    assert response.status_code == 403  # review is the service manager's step
    assert response.json()["code"] == "permission_denied"


def test_transition_on_unknown_order_is_404(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    response = post(
        client, f"{BASE}/orders/GD000/transitions", {"transition": "assign", "version": 1, "fields": {}}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


# ---- comments --------------------------------------------------------------------------------


def test_comment_adds_a_note_without_changing_the_version(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"], first_name="芳", last_name="刘")
    order = accept()
    response = post(client, f"{BASE}/orders/{order.number}/comments", {"note": "客户要求下午回电"})
    assert response.status_code == 201
    assert response.json()["note"] == "客户要求下午回电"
    assert response.json()["actor"] == "刘芳"
    order.refresh_from_db()
    assert order.version == 1
    empty = post(client, f"{BASE}/orders/{order.number}/comments", {"note": "   "})
    assert empty.status_code == 422
    assert empty.json()["field"] == "note"
    assert post(client, f"{BASE}/orders/GD404/comments", {"note": "x"}).status_code == 404


# ---- search and detail -----------------------------------------------------------------------


def test_search_filters_and_pagination(staff_client: Any) -> None:
    client = staff_client(roles=["auditor"])
    account = AccountFactory()
    a = accept(at=dt.datetime(2026, 11, 2, 9, 0, tzinfo=BEIJING), account_number=account.number)
    b = accept(
        at=dt.datetime(2026, 11, 3, 9, 0, tzinfo=BEIJING),
        kind="inquiry",
        channel="web",
        category="inq_payment",
        subject="交费方式",
        contact_phone="13700001234",
        answer="可在网上国网App交费。",
    )
    c = accept(
        at=dt.datetime(2026, 11, 4, 9, 0, tzinfo=BEIJING), subject="停电未通知", contact_phone="13600000000"
    )
    numbers = lambda r: [o["number"] for o in r.json()["items"]]  # noqa: E731
    everything = client.get(f"{BASE}/orders")
    assert numbers(everything) == [c.number, b.number, a.number]  # newest first
    assert everything.json()["total"] == 3
    assert everything.json()["pages"] == 1
    assert numbers(client.get(f"{BASE}/orders?kind=inquiry")) == [b.number]
    assert numbers(client.get(f"{BASE}/orders?channel=web")) == [b.number]
    assert numbers(client.get(f"{BASE}/orders?q=13700001234")) == [b.number]
    assert numbers(client.get(f"{BASE}/orders?q=停电")) == [c.number]
    assert numbers(client.get(f"{BASE}/orders?q={account.number}")) == [a.number]
    assert numbers(client.get(f"{BASE}/orders?q={a.number}")) == [a.number]
    assert numbers(client.get(f"{BASE}/orders?state=accepted&kind=complaint")) == [c.number, a.number]
    assert numbers(client.get(f"{BASE}/orders?open=true")) == [c.number, a.number]
    assert numbers(client.get(f"{BASE}/orders?open=false")) == [b.number]
    assert numbers(client.get(f"{BASE}/orders?category=cmp_business")) == [c.number, a.number]
    assert numbers(client.get(f"{BASE}/orders?created_from=2026-11-03&created_to=2026-11-03")) == [b.number]
    page2 = client.get(f"{BASE}/orders?per_page=2&page=2")
    assert numbers(page2) == [a.number]
    assert page2.json()["page"] == 2
    assert page2.json()["pages"] == 2


def test_search_by_team(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    team = TeamFactory(code="YYT")
    mine = accept(team=team.code)
    accept()
    assert [o["number"] for o in client.get(f"{BASE}/orders?team=YYT").json()["items"]] == [mine.number]


def test_detail_has_timeline_clocks_and_steps(staff_client: Any) -> None:
    client = staff_client(roles=["service_manager"])
    order = accept(personal_injury=True)
    body = client.get(f"{BASE}/orders/{order.number}").json()
    assert body["grade"] == "major"
    assert body["personal_injury"] is True
    assert {c["stage"] for c in body["clocks"]} >= {"contact", "reply"}
    assert body["timeline"][0]["type"] == "created"
    assert body["timeline"][0]["actor"] == "test"
    names = {t["name"] for t in body["transitions"]}
    assert {"review", "assign", "cancel"} <= names
    assert client.get(f"{BASE}/orders/GD0000").status_code == 404


# ---- SLA deadline and alerts -----------------------------------------------------------------


def test_sla_deadline_answers_like_the_command(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    response = client.get(
        f"{BASE}/sla/deadline", {"kind": "complaint", "stage": "reply", "start": "2026-09-30T10:00:00+08:00"}
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["basis"] == "working_days"
    assert body["amount"] == 4
    # Accepted on the eve of the 2026 National Day week: the 4 working days start after it.
    assert dt.datetime.fromisoformat(body["deadline"]) == dt.datetime(
        2026, 10, 12, 23, 59, 59, tzinfo=BEIJING
    )
    assert body["code"] == "CMP-REPLY"
    bad = client.get(
        f"{BASE}/sla/deadline", {"kind": "complaint", "stage": "nap", "start": "2026-09-30T10:00:00+08:00"}
    )
    assert bad.status_code == 422
    assert bad.json()["field"] == "stage"
    naive = client.get(
        f"{BASE}/sla/deadline", {"kind": "complaint", "stage": "reply", "start": "2026-09-30T10:00:00"}
    )
    assert naive.status_code == 422


def test_alerts_are_mine_and_can_be_marked_read(staff_client: Any, make_user: Any) -> None:
    client = staff_client(roles=["service_manager"])
    other = make_user(roles=["service_manager"])
    order = accept(media_attention=True)  # alerts every service manager
    mine = StaffAlert.objects.get(recipient=client.user)
    body = client.get(f"{BASE}/alerts").json()
    assert [a["id"] for a in body] == [mine.pk]
    assert body[0]["order"] == order.number
    assert body[0]["kind"] == "major"
    assert body[0]["read_at"] is None
    theirs = StaffAlert.objects.get(recipient=other)
    marked = post(client, f"{BASE}/alerts/read", {"ids": [mine.pk, theirs.pk]})
    assert marked.json() == {"marked": 1}
    assert client.get(f"{BASE}/alerts?unread=true").json() == []
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_openapi_documents_the_endpoints_with_descriptions(staff_client: Any) -> None:
    client = staff_client(roles=["hotline_agent"])
    schema = client.get("/api/openapi.json").json()
    paths = schema["paths"]
    for p in (
        "/api/workorders/orders",
        "/api/workorders/orders/{number}",
        "/api/workorders/orders/{number}/transitions",
        "/api/workorders/orders/{number}/comments",
        "/api/workorders/sla/deadline",
        "/api/workorders/alerts",
        "/api/workorders/alerts/read",
    ):
        assert p in paths, p
    assert "409" in paths["/api/workorders/orders/{number}/transitions"]["post"]["responses"]
    assert "201" in paths["/api/workorders/orders"]["post"]["responses"]
    create = schema["components"]["schemas"]["OrderCreateIn"]["properties"]
    assert create["kind"]["description"]
    assert create["reporter"]
    assert "version" in schema["components"]["schemas"]["ConflictOut"]["properties"]


def test_create_and_step_answers_equal_the_order_read_afterwards(staff_client: Any) -> None:
    """A create answers from the rows it wrote and a step from the order it locked: the
    answers must be exactly what reading the order afterwards gives, timeline and clocks
    included (a repeat complaint and a major one add events at intake)."""
    client = staff_client(roles=["hotline_agent"])
    team = TeamFactory(code="KF01", members=[client.user])
    account = AccountFactory()
    bodies = [
        {**NEW, "account_number": account.number},
        {**NEW, "account_number": account.number, "subject": "又一次电费异常"},  # a repeat
        {**NEW, "contact_phone": "13900001111", "media_attention": True},  # major: alert event
    ]
    for body in bodies:
        created = post(client, f"{BASE}/orders", body)
        assert created.status_code == 201, created.content
        number = created.json()["number"]
        read = client.get(f"{BASE}/orders/{number}")
        assert read.status_code == 200
        assert created.json() == read.json()
        stepped = post(
            client,
            f"{BASE}/orders/{number}/transitions",
            {"transition": "assign", "version": 1, "fields": {"team": team.code}},
        )
        assert stepped.status_code == 200, stepped.content
        assert stepped.json() == client.get(f"{BASE}/orders/{number}").json()
    repeat = client.get(f"{BASE}/orders/{WorkOrder.objects.order_by('id')[1].number}").json()
    assert repeat["duplicate_of"] == WorkOrder.objects.order_by("id")[0].number
    assert [e["type"] for e in repeat["timeline"]][:2] == ["created", "duplicate"]
    major = client.get(f"{BASE}/orders/{WorkOrder.objects.order_by('id')[2].number}").json()
    assert major["grade"] == "major"
    assert "alert" in [e["type"] for e in major["timeline"]]
