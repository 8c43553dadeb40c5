"""The service standards console (quality:standards, quality:standard_new), the deadline
calculator and service_standard_add."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from gridcare.core.errors import PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.quality.models import ServiceStandard
from gridcare.quality.services import service_standard_add
from gridcare.workorders.services.clocks import sla_deadline
from gridcare.workorders.tests.factories import BEIJING

pytestmark = pytest.mark.django_db

STANDARDS = reverse("quality:standards")
NEW = reverse("quality:standard_new")


def valid(**kw):
    data = {
        "code": "CMP-REPLY",
        "name": "投诉 3 个工作日内处理答复",
        "kind": "complaint",
        "stage": "reply",
        "basis": "working_days",
        "amount": "3",
        "sub_type": "",
        "channel": "",
        "grade": "",
        "pausable": "on",
        "warn_ratio": "0.75",
        "effective_from": "2027-01-01",
        "effective_to": "",
        "source": "公司服务承诺 2027 版",
        "source_status": "local",
    }
    data.update(kw)
    return data


@pytest.fixture
def no_view_user(make_user):
    group = Group.objects.get(name="inspector")
    group.permissions.remove(
        Permission.objects.get(content_type__app_label="quality", codename="view_servicestandard")
    )
    return make_user(roles=["inspector"])


# --- permission matrix ----------------------------------------------------------------------


@pytest.mark.parametrize("url", [STANDARDS, NEW])
def test_anonymous_is_sent_to_login(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert "/login" in response["Location"]


@pytest.mark.parametrize("url", [STANDARDS, NEW])
def test_customer_is_refused(customer_client, url):
    assert customer_client.get(url).status_code == 403
    assert customer_client.post(NEW, valid()).status_code == 403


@pytest.mark.parametrize("url", [STANDARDS, NEW])
def test_staff_without_view_permission_is_refused(client, no_view_user, url):
    client.force_login(no_view_user)
    assert client.get(url).status_code == 403


def test_staff_without_add_permission_sees_the_table_but_cannot_add(staff_client):
    client = staff_client(roles=["hotline_agent"])
    response = client.get(STANDARDS)
    assert response.status_code == 200
    body = response.content.decode()
    assert "CMP-REPLY-12345" in body
    assert NEW not in body  # no add button, no "new version" links
    assert client.get(NEW).status_code == 403
    before = ServiceStandard.objects.count()
    assert client.post(NEW, valid(code="NEW-1")).status_code == 403
    assert ServiceStandard.objects.count() == before


def test_manager_adds_a_newer_version(staff_client):
    client = staff_client(roles=["service_manager"])
    body = client.get(STANDARDS).content.decode()
    assert NEW in body
    old = ServiceStandard.objects.get(code="CMP-REPLY")
    form = client.get(f"{NEW}?from={old.pk}")
    assert form.status_code == 200
    assert 'value="CMP-REPLY"' in form.content.decode()
    response = client.post(NEW, valid())
    assert response.status_code == 302
    assert response["Location"].startswith(STANDARDS)
    new = ServiceStandard.objects.get(code="CMP-REPLY", effective_from=dt.date(2027, 1, 1))
    assert new.amount == 3
    assert new.pausable
    old.refresh_from_db()
    assert old.effective_to == dt.date(2027, 1, 1)
    assert AuditEvent.objects.filter(action="service_standard_add", object_id=str(new.pk)).count() == 1
    assert AuditEvent.objects.filter(action="service_standard_close", object_id=str(old.pk)).count() == 1
    # clocks started from 2027 use the new row; earlier ones the old
    start_2027 = dt.datetime(2027, 1, 4, 9, tzinfo=BEIJING)
    assert sla_deadline(kind="complaint", stage="reply", start=start_2027)["standard"] == new.pk
    start_2026 = dt.datetime(2026, 12, 30, 9, tzinfo=BEIJING)
    assert sla_deadline(kind="complaint", stage="reply", start=start_2026)["standard"] == old.pk


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "-2"}, "amount"),
        ({"amount": "1.5"}, "amount"),  # working days are whole
        ({"warn_ratio": "1"}, "warn_ratio"),
        ({"warn_ratio": "0"}, "warn_ratio"),
        ({"effective_from": "2020-01-01"}, "effective_from"),  # not after the latest version
        ({"effective_to": "2026-12-31"}, "effective_to"),
        ({"stage": "contact"}, "code"),  # an existing code of another stage
        ({"sub_type": "rpt_theft"}, "sub_type"),  # a category of another kind
        ({"source": " "}, "source"),
        ({"kind": "repair"}, "kind"),
    ],
)
def test_form_names_the_bad_field_and_writes_nothing(staff_client, changes, field):
    client = staff_client(roles=["service_manager"])
    before = list(ServiceStandard.objects.order_by("pk").values_list("pk", "effective_to"))
    response = client.post(NEW, valid(**changes))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert list(ServiceStandard.objects.order_by("pk").values_list("pk", "effective_to")) == before


def test_hours_may_be_fractional_and_a_new_code_is_a_new_row(make_user):
    manager = make_user(roles=["service_manager"])
    row = service_standard_add(
        actor=manager,
        code="sr-meter-onsite",
        name="电能表异常 2 小时内到达现场",
        kind="service_request",
        stage="onsite",
        basis="hours",
        amount="2.5",
        sub_type="sr_meter_fault",
        effective_from=dt.date(2026, 12, 1),
        source="公司规定",
        source_status="local",
    )
    assert row.code == "SR-METER-ONSITE"
    assert row.amount == Decimal("2.5")
    assert row.warn_ratio == Decimal("0.75")
    found = sla_deadline(
        kind="service_request",
        stage="onsite",
        start=dt.datetime(2026, 12, 1, 9, tzinfo=BEIJING),
        category="sr_meter_fault",
    )
    assert found["standard"] == row.pk
    assert found["deadline"] == "2026-12-01T11:30:00+08:00"


def test_service_refuses_an_actor_without_the_permission(make_user):
    agent = make_user(roles=["hotline_agent"])
    with pytest.raises(PermissionDenied):
        service_standard_add(
            actor=agent,
            code="X",
            name="x",
            kind="complaint",
            stage="reply",
            basis="hours",
            amount="1",
            effective_from=dt.date(2027, 1, 1),
            source="s",
            source_status="local",
        )
    with pytest.raises(ValidationFailed) as exc:
        service_standard_add(
            actor="system",
            code="X",
            name="x",
            kind="complaint",
            stage="reply",
            basis="hours",
            amount="abc",
            effective_from=dt.date(2027, 1, 1),
            source="s",
            source_status="local",
        )
    assert exc.value.field == "amount"


# --- table, filters, badges, calculator -------------------------------------------------


def test_filters_by_kind_and_stage_and_shows_source_badges(staff_client):
    client = staff_client(roles=["auditor"])
    response = client.get(STANDARDS, {"kind": "report", "stage": "reply"})
    assert response.status_code == 200
    codes = [row["standard"].code for row in response.context["rows"]]
    assert codes
    assert set(codes) == {"RPT-REPLY", "RPT-REPLY-12398", "RPT-REPLY-12345", "RPT-REPLY-MEDIA"}
    body = response.content.decode()
    assert "badge badge--ok" in body  # confirmed sources
    response = client.get(STANDARDS, {"kind": "opinion"})
    assert "badge badge--warn" in response.content.decode()  # the unconfirmed 9-day rule


def test_calculator_gives_the_deadline_over_national_day(staff_client):
    client = staff_client(roles=["hotline_agent"])
    response = client.get(
        STANDARDS,
        {
            "calc-kind": "complaint",
            "calc-stage": "reply",
            "calc-start": "2026-09-30T10:00",
            "calc-channel": "",
        },
    )
    assert response.status_code == 200
    result = response.context["result"]
    # 10-08, 10-09, 10-10 (调休 Saturday), 10-12
    assert result["deadline"] == "2026-10-12T23:59:59+08:00"
    assert result["code"] == "CMP-REPLY"
    assert "2026-10-12 23:59:59" in response.content.decode()
    response = client.get(
        STANDARDS,
        {
            "calc-kind": "complaint",
            "calc-stage": "review",
            "calc-start": "2026-09-30T10:00",
            "calc-grade": "major",
        },
    )
    assert response.context["result"]["deadline"] == "2026-09-30T10:15:00+08:00"


def test_calculator_errors_are_shown_on_the_field(staff_client):
    client = staff_client(roles=["hotline_agent"])
    response = client.get(
        STANDARDS, {"calc-kind": "complaint", "calc-stage": "onsite", "calc-start": "2026-09-30T10:00"}
    )
    assert response.status_code == 200
    assert response.context["result"] is None
    assert "stage" in response.context["calculator"].errors
    response = client.get(STANDARDS, {"calc-kind": "complaint", "calc-stage": "reply", "calc-start": "soon"})
    assert "start" in response.context["calculator"].errors
    response = client.get(
        STANDARDS,
        {
            "calc-kind": "complaint",
            "calc-stage": "reply",
            "calc-start": "2026-09-30T10:00",
            "calc-category": "zzz",
        },
    )
    assert "category" in response.context["calculator"].errors
