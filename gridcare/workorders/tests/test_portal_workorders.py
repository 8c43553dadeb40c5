"""Portal work-order pages (我的工单): permission matrix, my list, the public timeline, filing
through the portal (channel web, the customer's own user as actor, ownership checked), and
IDOR: customer A can neither see, list nor guess customer B's orders through any portal URL
or API endpoint."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from gridcare.core.audit import person_name
from gridcare.core.errors import PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory
from gridcare.workorders.models import IntakeKey, ReporterIdentity, WorkOrder
from gridcare.workorders.services.orders import (
    PORTAL_ACTOR,
    work_order_comment,
    work_order_create,
    work_order_file_by_customer,
    work_order_transition,
)
from gridcare.workorders.tests.factories import BEIJING, TeamFactory, accept
from gridcare.workorders.views.portal import YOU_LABEL

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=BEIJING)


def _other_customer_client(django_client_class: Any) -> Any:
    other = CustomerFactory(with_login=True)
    account = AccountFactory(customer=other)
    c = django_client_class()
    c.force_login(other.user)
    c.customer, c.account = other, account
    return c


@pytest.fixture
def customer_b(client: Any) -> Any:
    return _other_customer_client(type(client))


def _order_for(account: Any, **fields: Any) -> WorkOrder:
    return accept(account_number=account.number, **fields)


# ---- permission matrix -------------------------------------------------------------------


def _urls(number: str) -> list[str]:
    return [
        reverse("portal:workorders"),
        reverse("portal:workorder", args=[number]),
        reverse("portal:workorder_new"),
    ]


def test_anonymous_is_sent_to_the_portal_login(client: Any) -> None:
    order = accept()
    for url in _urls(order.number):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("portal:login"))


@pytest.mark.parametrize("roles", [["hotline_agent"], ["service_manager"], ["auditor"]])
def test_staff_get_403_on_portal_pages(staff_client: Any, roles: list[str]) -> None:
    client = staff_client(roles=roles)
    order = accept()
    for url in _urls(order.number):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("portal:workorder_new"), {}).status_code == 403


# ---- my work orders ----------------------------------------------------------------------


def test_my_list_shows_my_orders_newest_first_with_state_and_progress(
    customer_client: Any, customer_b: Any
) -> None:
    older = _order_for(customer_client.account, subject="电费偏高", at=T0)
    newer = _order_for(customer_client.account, subject="营业厅态度差", at=T0 + dt.timedelta(days=1))
    theirs = _order_for(customer_b.account, subject="乙的投诉内容")
    response = customer_client.get(reverse("portal:workorders"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index(newer.number) < html.index(older.number)
    assert "已受理" in html
    assert "<progress" in html
    assert theirs.number not in html
    assert "乙的投诉内容" not in html


def test_detail_shows_public_timeline_only(customer_client: Any, make_user: Any) -> None:
    agent = make_user(roles=["hotline_agent"], first_name="芳", last_name="刘")
    team = TeamFactory(code="KF01", members=[agent])
    order = _order_for(customer_client.account, at=T0)
    work_order_transition(
        actor=agent,
        number=order.number,
        transition="assign",
        expected_version=1,
        fields={"team": team.code, "assignee": agent.username, "note": "派给刘芳核查"},
        at=T0,
    )
    work_order_comment(actor=agent, number=order.number, note="内部备注:客户曾多次来电骂人", at=T0)
    work_order_transition(
        actor=agent,
        number=order.number,
        transition="contact",
        expected_version=2,
        fields={"method": "phone", "outcome": "reached", "note": "内部:电话已打通"},
        at=T0,
    )
    work_order_transition(
        actor=agent,
        number=order.number,
        transition="reply",
        expected_version=3,
        fields={"note": "经核查,您本月电费按阶梯电价计算正确。"},
        at=T0 + dt.timedelta(hours=3),
    )
    html = customer_client.get(reverse("portal:workorder", args=[order.number])).content.decode()
    assert "经核查,您本月电费按阶梯电价计算正确。" in html  # the reply is public
    assert "派单" in html
    assert "答复客户" in html
    assert "已答复" in html
    assert "客服人员" in html
    for secret in ("内部备注", "内部:电话已打通", "派给刘芳核查", "刘芳", agent.username, "KF01"):
        assert secret not in html, secret


def test_another_customers_order_is_404_by_number(customer_client: Any, customer_b: Any) -> None:
    theirs = _order_for(customer_b.account, subject="乙的投诉内容")
    mine = _order_for(customer_client.account)
    assert customer_client.get(reverse("portal:workorder", args=[theirs.number])).status_code == 404
    assert customer_client.get(reverse("portal:workorder", args=["GD000000000"])).status_code == 404
    assert customer_b.get(reverse("portal:workorder", args=[mine.number])).status_code == 404
    assert customer_b.get(reverse("portal:workorder", args=[theirs.number])).status_code == 200


def test_idor_on_every_portal_url_and_api_endpoint(customer_client: Any, customer_b: Any) -> None:
    theirs = _order_for(customer_b.account, subject="乙的秘密投诉", contact_phone="13566667777")
    number = theirs.number
    portal_pages = [
        reverse("portal:workorders"),
        f"{reverse('portal:workorders')}?page=2",
        reverse("portal:workorder_new"),
    ]
    for url in portal_pages:
        body = customer_client.get(url).content.decode()
        assert number not in body
        assert "乙的秘密投诉" not in body
        assert "13566667777" not in body
    assert customer_client.get(reverse("portal:workorder", args=[number])).status_code == 404
    api = [
        "/api/workorders/orders",
        f"/api/workorders/orders?q={number}",
        f"/api/workorders/orders/{number}",
        "/api/workorders/alerts",
    ]
    for url in api:
        response = customer_client.get(url)
        assert response.status_code == 403, url
        assert number not in response.content.decode()
    comment = customer_client.post(
        f"/api/workorders/orders/{number}/comments", {"note": "x"}, content_type="application/json"
    )
    step = customer_client.post(
        f"/api/workorders/orders/{number}/transitions",
        {"transition": "cancel", "version": 1, "fields": {"note": "x"}},
        content_type="application/json",
    )
    assert comment.status_code == 403
    assert step.status_code == 403
    theirs.refresh_from_db()
    assert theirs.version == 1
    assert theirs.state == "accepted"
    # Filing on someone else's account through the portal form is refused, nothing written.
    response = customer_client.post(
        reverse("portal:workorder_new"),
        {
            "kind": "complaint",
            "category": "cmp_business_tariff",
            "account": customer_b.account.number,
            "subject": "冒用他人户号",
        },
    )
    assert response.status_code == 200
    assert "account" in response.context["form"].errors
    assert not WorkOrder.objects.filter(subject="冒用他人户号").exists()


# ---- filing through the portal -----------------------------------------------------------


def test_file_a_complaint_through_the_portal(customer_client: Any) -> None:
    customer = customer_client.customer
    response = customer_client.post(
        reverse("portal:workorder_new"),
        {
            "kind": "complaint",
            "category": "cmp_business_tariff",
            "account": customer_client.account.number,
            "subject": "本月电费异常",
            "description": "比上月多出两百元。",
            "contact_phone": "",
        },
    )
    order = WorkOrder.objects.get(subject="本月电费异常")
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:workorder", args=[order.number])
    assert order.channel == "web"
    assert order.kind == "complaint"
    assert order.state == "accepted"
    assert order.customer_id == customer.pk
    assert order.account_id == customer_client.account.pk
    assert order.contact_name == customer.name
    assert order.contact_phone == customer.mobile
    assert order.clocks.filter(stage="reply").exists()
    page = customer_client.get(response["Location"]).content.decode()
    assert order.number in page
    assert "本月电费异常" in page
    assert "网上国网" in page
    assert order.number in customer_client.get(reverse("portal:workorders")).content.decode()


def test_a_portal_order_is_filed_by_the_customers_own_user(customer_client: Any) -> None:
    """The timeline, the audit trail and "accepted by" name the customer, not a system actor."""
    user = customer_client.user
    response = customer_client.post(
        reverse("portal:workorder_new"),
        {
            "kind": "complaint",
            "category": "cmp_business_tariff",
            "account": customer_client.account.number,
            "subject": "抄表员未上门",
        },
    )
    assert response.status_code == 302
    order = WorkOrder.objects.get(subject="抄表员未上门")
    assert order.created_by == user
    first = order.events.order_by("at", "id").first()
    assert first is not None
    assert (first.event_type, first.actor, first.actor_label) == ("created", user, person_name(user))
    audit = AuditEvent.objects.get(object_id=str(order.pk), action="workorder.create")
    assert (audit.actor, audit.actor_label) == (user, person_name(user))
    # On the portal my own filing shows as "You", not as staff.
    timeline = customer_client.get(response["Location"]).context["timeline"]
    assert str(timeline[0].by) == str(YOU_LABEL)


def test_a_customer_files_only_for_themselves_and_holds_no_staff_permission(
    customer_client: Any, customer_b: Any, make_user: Any
) -> None:
    user = customer_client.user
    filing: dict[str, Any] = {"kind": "complaint", "category": "cmp_business_tariff", "subject": "测试"}
    # not on someone else's account, not without an account, not a kind of the console only
    with pytest.raises(ValidationFailed) as theirs:
        work_order_file_by_customer(user=user, account_number=customer_b.account.number, **filing)
    assert theirs.value.field == "account_number"
    with pytest.raises(ValidationFailed) as none:
        work_order_file_by_customer(user=user, **filing)
    assert none.value.field == "account_number"
    # the console's acceptance stays closed to a customer, and the portal path to staff
    with pytest.raises(PermissionDenied):
        work_order_create(actor=user, channel="web", account_number=customer_client.account.number, **filing)
    with pytest.raises(PermissionDenied):
        work_order_file_by_customer(
            user=make_user(roles=["hotline_agent"]), account_number=customer_client.account.number, **filing
        )
    assert WorkOrder.objects.count() == 0


@pytest.mark.parametrize(
    ("kind", "category"),
    [
        ("opinion", "opn_service"),
        ("suggestion", "sug_service"),
        ("inquiry", "inq_payment"),
        ("service_request", "sr_reconnect"),
    ],
)
def test_every_portal_kind_can_be_filed(customer_client: Any, kind: str, category: str) -> None:
    response = customer_client.post(
        reverse("portal:workorder_new"),
        {
            "kind": kind,
            "category": category,
            "account": customer_client.account.number,
            "subject": f"{kind} 测试",
        },
    )
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    order = WorkOrder.objects.get(subject=f"{kind} 测试")
    assert order.kind == kind
    assert order.channel == "web"
    assert order.customer_id == customer_client.customer.pk


def test_portal_form_sent_twice_files_one_order(customer_client: Any) -> None:
    """The form's one-time key: a double click files one order and shows it both times."""
    url = reverse("portal:workorder_new")
    key = customer_client.get(url).context["form"].initial["intake_key"]
    data = {
        "kind": "complaint",
        "category": "cmp_business_tariff",
        "account": customer_client.account.number,
        "subject": "电费比上月高",
        "intake_key": key,
    }
    first = customer_client.post(url, data)
    again = customer_client.post(url, data)
    order = WorkOrder.objects.get()
    assert order.duplicate_of is None
    assert first["Location"] == again["Location"] == reverse("portal:workorder", args=[order.number])
    assert customer_client.get(url).context["form"].initial["intake_key"] != key


def test_form_errors_name_the_field_and_write_nothing(customer_client: Any) -> None:
    url = reverse("portal:workorder_new")
    base = {
        "kind": "complaint",
        "category": "cmp_business_tariff",
        "account": customer_client.account.number,
        "subject": "测试",
    }
    wrong_kind = customer_client.post(url, {**base, "category": "inq_payment"})
    assert "category" in wrong_kind.context["form"].errors
    no_account = customer_client.post(url, {**base, "account": ""})
    assert "account" in no_account.context["form"].errors
    bad_phone = customer_client.post(url, {**base, "contact_phone": "abc"})
    assert "contact_phone" in bad_phone.context["form"].errors
    no_subject = customer_client.post(url, {**base, "subject": ""})
    assert "subject" in no_subject.context["form"].errors
    assert WorkOrder.objects.count() == 0


def test_portal_report_records_me_as_confidential_reporter(customer_client: Any, customer_b: Any) -> None:
    me = customer_client.customer
    response = customer_client.post(
        reverse("portal:workorder_new"),
        {
            "kind": "report",
            "category": "rpt_theft",
            "subject": "楼下商铺私接电线",
            "address": "南街12号",
            "wants_reply": "on",
        },
    )
    assert response.status_code == 302
    order = WorkOrder.objects.get(subject="楼下商铺私接电线")
    assert order.kind == "report"
    assert order.channel == "web"
    assert order.customer_id is None
    assert order.contact_name == ""
    assert order.contact_phone == ""
    # The report never names its reporter: accepted under the portal's system actor.
    assert order.created_by is None
    assert order.events.get(event_type="created").actor_label == PORTAL_ACTOR
    assert not AuditEvent.objects.filter(actor=customer_client.user).exists()
    identity = ReporterIdentity.objects.get(order=order)
    assert identity.customer_id == me.pk
    assert identity.name == me.name
    assert identity.phone == me.mobile
    # I follow my own report; the audit row of the reporter is masked.
    assert order.number in customer_client.get(reverse("portal:workorders")).content.decode()
    assert customer_client.get(reverse("portal:workorder", args=[order.number])).status_code == 200
    audit = AuditEvent.objects.get(action="workorder.reporter_record", object_id=str(identity.pk))
    assert me.name not in str(audit.after)
    assert me.mobile not in str(audit.after)
    # Another customer cannot open it.
    assert customer_b.get(reverse("portal:workorder", args=[order.number])).status_code == 404


def test_portal_report_form_sent_twice_files_one_report_and_keeps_no_user_on_the_key(
    customer_client: Any, customer_b: Any
) -> None:
    """A report's one-time key still stops a double click, but its row does not name the
    customer (为举报人保密): it has no user and does not hold the key as sent."""
    url = reverse("portal:workorder_new")
    key = customer_client.get(url, {"kind": "report"}).context["form"].initial["intake_key"]
    data = {"kind": "report", "category": "rpt_theft", "subject": "隔壁私接电线", "intake_key": key}
    first = customer_client.post(url, data)
    again = customer_client.post(url, data)
    report = WorkOrder.objects.get()
    assert first["Location"] == again["Location"] == reverse("portal:workorder", args=[report.number])
    row = IntakeKey.objects.get()
    assert row.order_id == report.pk
    assert row.user_id is None
    assert key not in row.key
    assert not IntakeKey.objects.filter(user=customer_client.user).exists()
    # The same key from another customer is theirs alone: it files their own report.
    other = customer_b.post(url, {**data, "subject": "另一处私接电线"})
    theirs = WorkOrder.objects.get(subject="另一处私接电线")
    assert other["Location"] == reverse("portal:workorder", args=[theirs.number])
    assert WorkOrder.objects.count() == 2
    assert set(IntakeKey.objects.values_list("user_id", flat=True)) == {None}


def test_a_portal_reports_key_expires_after_a_day(customer_client: Any) -> None:
    def file() -> WorkOrder:
        return work_order_file_by_customer(
            user=customer_client.user,
            kind="report",
            category="rpt_theft",
            subject="私接电线",
            idempotency_key="portal:k1",
        )

    first = file()
    assert file().pk == first.pk
    IntakeKey.objects.update(created_at=timezone.now() - dt.timedelta(hours=25))
    later = file()
    assert later.pk != first.pk
    assert IntakeKey.objects.get().order_id == later.pk


def test_report_on_my_own_account_is_refused(customer_client: Any) -> None:
    response = customer_client.post(
        reverse("portal:workorder_new"),
        {
            "kind": "report",
            "category": "rpt_theft",
            "account": customer_client.account.number,
            "subject": "举报",
        },
    )
    assert response.status_code == 200
    assert "account" in response.context["form"].errors
    assert WorkOrder.objects.count() == 0


def test_a_report_about_me_never_appears_on_my_portal(customer_client: Any, make_user: Any) -> None:
    agent = make_user(roles=["hotline_agent"])
    report = accept(
        actor=agent,
        kind="report",
        category="rpt_theft",
        subject="举报某户窃电",
        account_number=customer_client.account.number,
        contact_name="",
        contact_phone="",
        reporter={"name": "保密举报人乙", "phone": "13712340000"},
    )
    assert report.customer_id == customer_client.customer.pk  # I am the reported party
    listing = customer_client.get(reverse("portal:workorders")).content.decode()
    assert report.number not in listing
    assert "举报某户窃电" not in listing
    assert customer_client.get(reverse("portal:workorder", args=[report.number])).status_code == 404
