"""Console views of work orders: the permission matrix of every page, the closed loop taken
through the step forms, two agents on one order (409, input kept, nothing written), field
errors (422), attachments, the reporter reveal and pinned query counts."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from gridcare.core.models import AuditEvent
from gridcare.workorders.choices import AlertKind
from gridcare.workorders.models import (
    Attachment,
    FollowUpVisit,
    ImprovementAction,
    StaffAlert,
    WorkOrderEvent,
)
from gridcare.workorders.services.orders import work_order_attach
from gridcare.workorders.tests.factories import TeamFactory, accept

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def agent(make_user):
    return make_user(roles=["hotline_agent"], username="agent1", first_name="Agent", last_name="One")


@pytest.fixture
def agent2(make_user):
    return make_user(roles=["hotline_agent"], username="agent2", first_name="Agent", last_name="Two")


@pytest.fixture
def manager(make_user):
    return make_user(roles=["service_manager"], username="manager1")


@pytest.fixture
def no_view_user(make_user):
    """A console user whose role lacks every work-order permission (the grant is removed for
    this test only)."""
    group = Group.objects.get(name="inspector")
    group.permissions.remove(
        *Permission.objects.filter(
            content_type__app_label="workorders",
            codename__in=[
                "view_workorder",
                "change_workorder",
                "add_attachment",
                "view_reporteridentity",
            ],
        )
    )
    return make_user(roles=["inspector"], username="inspector1")


@pytest.fixture
def customer(make_user):
    from gridcare.customers.tests.factories import CustomerFactory

    return CustomerFactory(with_login=True).user


@pytest.fixture
def order(agent):
    return accept(actor=agent)


@pytest.fixture
def report(agent):
    return accept(
        actor=agent,
        kind="report",
        category="rpt_theft",
        subject="邻居私拉电线窃电",
        reporter={"name": "李秘密", "phone": "13811112222", "id_number": "130684199001011234"},
    )


def step_data(transition: str, version: int, **fields) -> dict[str, str]:
    data = {f"{transition}-version": str(version)}
    data.update({f"{transition}-{k}": str(v) for k, v in fields.items()})
    return data


def post_step(client, order, transition, **fields):
    order.refresh_from_db()
    return client.post(
        reverse("workorders:order_step", args=[order.number, transition]),
        step_data(transition, order.version, **fields),
    )


# --- permission matrix --------------------------------------------------------------------------

WHO = ["anonymous", "customer", "no_view", "agent", "manager"]


def client_for(who, request):
    if who == "anonymous":
        return Client()
    fixture = {"customer": "customer", "no_view": "no_view_user", "agent": "agent", "manager": "manager"}[who]
    return login(request.getfixturevalue(fixture))


def is_login_redirect(response) -> bool:
    return response.status_code == 302 and "login" in response["Location"]


@pytest.mark.parametrize(
    ("who", "expected"),
    [("anonymous", "login"), ("customer", 403), ("no_view", 403), ("agent", 200), ("manager", 200)],
)
def test_matrix_list_and_detail_and_export(who, expected, request, order):
    client = client_for(who, request)
    for url in (
        reverse("workorders:orders"),
        reverse("workorders:orders") + "?export=xlsx",
        reverse("workorders:order", args=[order.number]),
    ):
        response = client.get(url)
        if expected == "login":
            assert is_login_redirect(response), url
        else:
            assert response.status_code == expected, url


@pytest.mark.parametrize(
    ("who", "expected"),
    [("anonymous", "login"), ("customer", 403), ("no_view", 403), ("agent", 302), ("manager", 302)],
)
def test_matrix_step_note_attach(who, expected, request, order):
    client = client_for(who, request)
    responses = [
        post_step(client, order, "contact", method="phone", outcome="no_answer"),
        client.post(reverse("workorders:order_note", args=[order.number]), {"note": "客户不在家"}),
        client.post(
            reverse("workorders:order_attach", args=[order.number]),
            {"file": SimpleUploadedFile("a.txt", b"hello", content_type="text/plain")},
        ),
    ]
    for response in responses:
        if expected == "login":
            assert is_login_redirect(response)
        else:
            assert response.status_code == expected
    written = WorkOrderEvent.objects.filter(order=order).exclude(event_type="created").count()
    assert written == (3 if expected == 302 else 0)


@pytest.mark.parametrize(
    ("who", "expected"),
    [("anonymous", "login"), ("customer", 403), ("no_view", 403), ("agent", 200), ("manager", 200)],
)
def test_matrix_attachment_download(who, expected, request, order, agent):
    attachment = work_order_attach(
        actor=agent,
        number=order.number,
        upload=SimpleUploadedFile("photo.png", b"\x89PNG\r\n\x1a\ndata", "image/png"),
    )
    response = client_for(who, request).get(reverse("workorders:attachment", args=[attachment.pk]))
    if expected == "login":
        assert is_login_redirect(response)
    else:
        assert response.status_code == expected
    if expected == 200:
        assert b"".join(response.streaming_content) == b"\x89PNG\r\n\x1a\ndata"
        assert response["Content-Type"] == "image/png"
        assert "attachment" in response["Content-Disposition"]
        assert response["Cache-Control"] == "private, no-store"


@pytest.mark.parametrize(
    ("who", "expected"),
    [("anonymous", "login"), ("customer", 403), ("no_view", 403), ("agent", 403), ("manager", 200)],
)
def test_matrix_reporter_reveal(who, expected, request, report):
    response = client_for(who, request).post(reverse("workorders:order_reporter", args=[report.number]))
    if expected == "login":
        assert is_login_redirect(response)
    else:
        assert response.status_code == expected
    revealed = AuditEvent.objects.filter(action="workorder.reporter_view").count()
    assert revealed == (1 if expected == 200 else 0)
    if expected == 200:
        body = response.content.decode()
        assert "李秘密" in body
        assert "13811112222" in body


@pytest.mark.parametrize(
    ("who", "expected"),
    [("anonymous", "login"), ("customer", 403), ("no_view", 200), ("agent", 200), ("manager", 200)],
)
def test_matrix_alerts(who, expected, request):
    response = client_for(who, request).get(reverse("workorders:alerts"))
    if expected == "login":
        assert is_login_redirect(response)
    else:
        assert response.status_code == expected


def test_unknown_order_and_step_are_404(agent, order):
    client = login(agent)
    assert client.get(reverse("workorders:order", args=["GD000"])).status_code == 404
    assert post_step(client, order, "fly", note="x").status_code == 404


# --- reporter confidentiality ------------------------------------------------------------------


def test_report_page_masks_reporter_and_get_never_reveals(agent, manager, report):
    url = reverse("workorders:order_reporter", args=[report.number])
    assert login(manager).get(url).status_code == 405
    for user, button in ((agent, False), (manager, True)):
        body = login(user).get(reverse("workorders:order", args=[report.number])).content.decode()
        assert "举报人信息保密" in body
        assert "李秘密" not in body
        assert "13811112222" not in body
        assert "130684199001011234" not in body
        assert ('id="show-reporter"' in body) is button
    listing = login(manager).get(reverse("workorders:orders")).content.decode()
    assert "李秘密" not in listing
    assert "13811112222" not in listing
    assert AuditEvent.objects.filter(action="workorder.reporter_view").count() == 0


# --- the closed loop through the views ----------------------------------------------------------


def test_closed_loop_through_the_step_forms(agent, manager, order):
    TeamFactory(code="KF", supervisor=manager, members=[agent])
    a, m = login(agent), login(manager)
    page = a.get(reverse("workorders:order", args=[order.number])).content.decode()
    for name in ("contact", "assign", "pause"):
        assert f'id="step-{name}"' in page
    assert 'id="step-close"' not in page  # the service manager's, and not from 已受理
    assert 'name="contact-outcome"' in page
    assert "无人接听" in page

    def go(client, transition, state, **fields):
        response = post_step(client, order, transition, **fields)
        assert response.status_code == 302, response.content.decode()[:2000]
        order.refresh_from_db()
        assert order.state == state

    go(a, "contact", "accepted", method="phone", outcome="reached", note="已联系客户")
    go(a, "assign", "investigating", team="KF", assignee="agent1")
    assert order.assignee == agent
    go(a, "reply", "replied", note="经核查电量正常,已解释阶梯电价")
    go(a, "follow_up", "investigating", method="phone", satisfaction="unsatisfied")
    assert order.reopen_count == 1
    assert StaffAlert.objects.filter(order=order, kind=AlertKind.REOPENED, recipient=manager).exists()
    go(a, "reply", "replied", note="已上门复核并更换电表")
    go(a, "follow_up", "improving", method="visit", satisfaction="satisfied")
    page = m.get(reverse("workorders:order", args=[order.number])).content.decode()
    assert 'id="step-improve"' in page
    assert 'name="improve-root_cause"' in page
    assert 'name="close-improvement_recorded"' not in page
    go(m, "improve", "improving", root_cause="information", action="抄表员阶梯电价解释话术培训")
    go(m, "close", "closed")
    assert not order.is_open
    assert FollowUpVisit.objects.filter(order=order).count() == 2
    assert ImprovementAction.objects.get(order=order).root_cause.code == "information"
    transitions = list(
        WorkOrderEvent.objects.filter(order=order).exclude(transition="").values_list("transition", flat=True)
    )
    assert transitions == [
        "contact",
        "assign",
        "reply",
        "follow_up",
        "reply",
        "follow_up",
        "improve",
        "close",
    ]
    body = m.get(reverse("workorders:order", args=[order.number])).content.decode()
    timeline = body[body.index('id="timeline"') :]
    assert timeline.count("<tr data-event=") == 9  # accepted + eight steps
    assert "不满意" in timeline
    assert "已上门复核并更换电表" in timeline
    assert "抄表员阶梯电价解释话术培训" in timeline


def test_improve_form_offers_root_causes_and_requires_them(manager, agent, order):
    TeamFactory(code="KF", supervisor=manager, members=[agent])
    m = login(manager)
    for transition, fields in (
        ("assign", {"team": "KF"}),
        ("reply", {"note": "答复"}),
        ("follow_up", {"method": "phone", "satisfaction": "satisfied"}),
    ):
        assert post_step(m, order, transition, **fields).status_code == 302
    response = post_step(m, order, "improve", action="整改")
    assert response.status_code == 422
    assert 'data-field="root_cause"' in response.content.decode()
    assert ImprovementAction.objects.count() == 0


# --- conflicts and field errors ----------------------------------------------------------------


def test_two_agents_same_version_second_gets_409_with_input_kept(agent, agent2, order):
    first, second = login(agent), login(agent2)
    version = order.version
    url = reverse("workorders:order_step", args=[order.number, "contact"])
    ok = first.post(url, step_data("contact", version, method="phone", outcome="reached", note="A 已联系"))
    assert ok.status_code == 302
    events = WorkOrderEvent.objects.count()
    order.refresh_from_db()
    saved = (order.version, order.state, order.updated_at)
    response = second.post(
        url, step_data("contact", version, method="sms", outcome="no_answer", note="B 打了三次电话没人接")
    )
    assert response.status_code == 409
    body = response.content.decode()
    assert 'id="step-error"' in body
    assert "Agent One" in body
    # Everything B typed is still in the form …
    assert "B 打了三次电话没人接" in body
    assert re.search(r'<option value="sms" selected>', body)
    assert re.search(r'<option value="no_answer" selected>', body)
    # … with the current version, so sending again is B's deliberate choice.
    assert f'name="contact-version" value="{version + 1}"' in body
    # Nothing of B was written.
    order.refresh_from_db()
    assert (order.version, order.state, order.updated_at) == saved
    assert WorkOrderEvent.objects.count() == events
    assert not WorkOrderEvent.objects.filter(note__contains="B 打了").exists()


def test_invalid_choice_is_422_on_the_field(agent, order):
    response = post_step(login(agent), order, "contact", method="phone", outcome="teleport")
    assert response.status_code == 422
    assert 'data-field="outcome"' in response.content.decode()
    order.refresh_from_db()
    assert order.version == 1


def test_service_validation_is_422_on_the_named_field(agent, agent2, manager, order):
    TeamFactory(code="KF", supervisor=manager, members=[agent])
    TeamFactory(code="YY", supervisor=manager, members=[agent2])
    # agent2 is a member of another team: the service refuses the assignee.
    response = post_step(login(agent), order, "assign", team="KF", assignee="agent2", note="派给营业班")
    assert response.status_code == 422
    body = response.content.decode()
    assert 'data-field="assignee"' in body
    assert "派给营业班" in body
    order.refresh_from_db()
    assert order.state == "accepted"
    assert order.team_id is None


def test_step_of_another_role_is_403(agent, order):
    TeamFactory(code="KF")
    response = post_step(login(agent), order, "cancel", note="撤销")
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.state == "accepted"


def test_empty_note_is_422(agent, order):
    response = login(agent).post(reverse("workorders:order_note", args=[order.number]), {"note": "  "})
    assert response.status_code == 422
    assert WorkOrderEvent.objects.filter(order=order, event_type="note").count() == 0


# --- attachments ------------------------------------------------------------------------------


def test_attachment_upload_and_refusals(agent, order, settings):
    client = login(agent)
    url = reverse("workorders:order_attach", args=[order.number])
    ok = client.post(
        url, {"file": SimpleUploadedFile("现场.jpg", b"\xff\xd8\xff\xe0jpegdata", content_type="image/jpeg")}
    )
    assert ok.status_code == 302
    attachment = Attachment.objects.get(order=order)
    assert attachment.name == "现场.jpg"
    assert attachment.size == 12
    bad_type = client.post(
        url, {"file": SimpleUploadedFile("tool.exe", b"MZ....", content_type="application/x-msdownload")}
    )
    assert bad_type.status_code == 422
    assert "field--error" in bad_type.content.decode()
    # A program declared as a photo is refused, by its name and by its first bytes.
    for name, body in (("payload.exe", b"\x89PNG\r\n\x1a\n...."), ("photo.png", b"MZ\x90\x00....")):
        disguised = client.post(url, {"file": SimpleUploadedFile(name, body, content_type="image/png")})
        assert disguised.status_code == 422
    # A type in capitals and a GB18030 text file are fine.
    text = SimpleUploadedFile("记录.txt", "客户来电记录".encode("gb18030"), content_type="Text/Plain")
    assert client.post(url, {"file": text}).status_code == 302
    settings.GRIDCARE_ATTACHMENT_MAX_BYTES = 5
    too_big = client.post(
        url, {"file": SimpleUploadedFile("big.txt", b"0123456789", content_type="text/plain")}
    )
    assert too_big.status_code == 422
    assert Attachment.objects.filter(order=order).count() == 2
    page = client.get(reverse("workorders:order", args=[order.number])).content.decode()
    assert reverse("workorders:attachment", args=[attachment.pk]) in page
    assert "/media/" not in page  # never a public URL


def test_attachment_with_a_long_chinese_name_is_stored(agent, order):
    """90 Chinese characters are 270 UTF-8 bytes, more than a file name may have: the stored
    file's name is cut, the attachment keeps the whole name for display."""
    name = ("关于城东台区用户反映电压偏低问题的现场核查情况说明及整改措施" * 3)[:90] + ".pdf"
    response = login(agent).post(
        reverse("workorders:order_attach", args=[order.number]),
        {"file": SimpleUploadedFile(name, b"%PDF-1.4\n%...", content_type="application/pdf")},
    )
    assert response.status_code == 302
    attachment = Attachment.objects.get(order=order)
    assert attachment.name == name
    stored = attachment.file.name.rsplit("/", 1)[-1]
    assert stored.endswith(".pdf")
    assert len(stored.encode()) < 255
    assert attachment.file.read() == b"%PDF-1.4\n%..."


def test_attachment_of_unknown_id_is_404(agent):
    assert login(agent).get(reverse("workorders:attachment", args=[999999])).status_code == 404


# --- alerts -----------------------------------------------------------------------------------


def test_alerts_list_and_mark_read(agent, manager):
    major = accept(actor=agent, personal_injury=True)
    accept(actor=agent, media_attention=True, category="cmp_service_attitude")
    client = login(manager)
    body = client.get(reverse("workorders:alerts")).content.decode()
    assert reverse("workorders:order", args=[major.number]) in body
    assert body.count('name="alert"') == 2
    one = StaffAlert.objects.filter(recipient=manager, order=major).get()
    assert client.post(reverse("workorders:alerts"), {"alert": str(one.pk)}).status_code == 302
    one.refresh_from_db()
    assert one.read_at is not None
    assert StaffAlert.objects.filter(recipient=manager, read_at__isnull=True).count() == 1
    # Another user's alert id is ignored.
    other = make_alert_for(agent, major)
    client.post(reverse("workorders:alerts"), {"alert": str(other.pk)})
    other.refresh_from_db()
    assert other.read_at is None
    client.post(reverse("workorders:alerts"), {"all": "1"})
    assert StaffAlert.objects.filter(recipient=manager, read_at__isnull=True).count() == 0


def make_alert_for(user, order):
    return StaffAlert.objects.create(
        recipient=user, order=order, kind=AlertKind.ASSIGNED, message="x", created_at=order.created_at
    )


# --- list filters and query counts -------------------------------------------------------------


def test_list_filters_and_badges(agent, order):
    other = accept(actor=agent, channel="web", category="cmp_service_attitude", contact_phone="13700007777")
    client = login(agent)
    body = client.get(reverse("workorders:orders"), {"channel": "web"}).content.decode()
    assert other.number in body
    assert order.number not in body
    body = client.get(reverse("workorders:orders"), {"q": "13700007777"}).content.decode()
    assert other.number in body
    assert order.number not in body
    body = client.get(reverse("workorders:orders"), {"created_from": "not a date"}).content.decode()
    assert other.number in body
    assert order.number in body
    assert "badge--" in body


def _orders(agent, n):
    base = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    for i in range(n):
        accept(actor=agent, at=base + dt.timedelta(minutes=i), contact_phone=f"1390000{i:04d}")


def test_list_query_count_does_not_grow_with_rows(agent, django_assert_max_num_queries):
    client = login(agent)
    _orders(agent, 2)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        assert client.get(reverse("workorders:orders")).status_code == 200
    _orders(agent, 12)
    with CaptureQueriesContext(connection) as many:
        assert client.get(reverse("workorders:orders")).status_code == 200
    assert len(many) == len(few)
    with django_assert_max_num_queries(
        10
    ):  # measured: 10 (session, user, roles, 2× perms, categories, teams, count, rows, unread alerts)
        client.get(reverse("workorders:orders"), {"sla": "running", "kind": "complaint"})


def test_detail_query_count_pinned(agent, manager, order, django_assert_max_num_queries):
    TeamFactory(code="KF", supervisor=manager, members=[agent])
    client = login(agent)
    for transition, fields in (
        ("contact", {"method": "phone", "outcome": "no_answer"}),
        ("assign", {"team": "KF"}),
        ("reply", {"note": "答复"}),
    ):
        post_step(client, order, transition, **fields)
    with django_assert_max_num_queries(13):  # measured: 11-13 (+ teams and members when assign is offered)
        assert client.get(reverse("workorders:order", args=[order.number])).status_code == 200


def test_pause_and_resume_are_offered_one_at_a_time(agent, order):
    client = login(agent)
    url = reverse("workorders:order", args=[order.number])
    page = client.get(url).content.decode()
    assert 'id="step-pause"' in page
    assert 'id="step-resume"' not in page
    assert post_step(client, order, "pause", note="等客户提供电费单").status_code == 302
    page = client.get(url).content.decode()
    assert 'id="step-resume"' in page
    assert 'id="step-pause"' not in page
    assert post_step(client, order, "resume").status_code == 302
    order.refresh_from_db()
    assert order.paused_since is None
