"""Console pages of inspection tasks and plans: the permission matrix of every page, the whole
task taken through the page's forms (assign, start, checklist, finding with two photos,
complete), a stale version (409, nothing written), field errors (422), the prefilled new-task
form, the board's columns and filters, and IDOR checks on task and photo ids."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gridcare.customers.tests.factories import AccountFactory, CustomerFactory
from gridcare.inspection.models import ChecklistItem, Finding, FindingPhoto, InspectionPlan, InspectionTask
from gridcare.inspection.services.tasks import finding_photo_add, finding_record, task_create, task_start
from gridcare.inspection.tests.test_plans_services import scoring_run

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def inspector(make_user):
    return make_user(roles=["inspector"], username="insp1", first_name="检查", last_name="王")


@pytest.fixture
def inspector2(make_user):
    return make_user(roles=["inspector"], username="insp2")


@pytest.fixture
def manager(make_user):
    return make_user(roles=["marketing_manager"], username="mgr1")


@pytest.fixture
def auditor(make_user):
    return make_user(roles=["auditor"], username="aud1")


@pytest.fixture
def agent(make_user):
    return make_user(roles=["hotline_agent"], username="agent1")


@pytest.fixture
def portal_user():
    return CustomerFactory(with_login=True).user


@pytest.fixture
def account():
    return AccountFactory(customer_class="urban_res", voltage_level="220v")


@pytest.fixture
def task(inspector, account):
    return task_create(
        actor=inspector,
        account_id=account.pk,
        source="manual",
        due_on=dt.date(2026, 12, 31),
        inspector_id=inspector.pk,
    )


@pytest.fixture
def photo(task, inspector):
    task = task_start(actor=inspector, task_id=task.pk, version=task.version)
    finding = finding_record(
        actor=inspector, task_id=task.pk, kind="theft", description="绕表", theft_method="bypass"
    )
    return finding_photo_add(
        actor=inspector,
        finding_id=finding.pk,
        upload=SimpleUploadedFile("seal.png", PNG, content_type="image/png"),
    )


# --- permission matrix --------------------------------------------------------------------------


def pages(task, photo):
    return [
        reverse("inspection:tasks"),
        reverse("inspection:task_new"),
        reverse("inspection:task_detail", args=[task.pk]),
        reverse("inspection:plans"),
        reverse("inspection:photo", args=[photo.pk]),
    ]


def test_anonymous_is_sent_to_login(client, task, photo):
    for url in pages(task, photo):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login" in response["Location"]


def test_roles_without_the_permission_get_403(agent, portal_user, task, photo):
    for user in (agent, portal_user):
        c = login(user)
        for url in pages(task, photo):
            assert c.get(url).status_code == 403, (user.username, url)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("inspector", [200, 200, 200, 200, 200]),
        ("marketing_manager", [200, 200, 200, 200, 200]),
        ("service_manager", [200, 403, 200, 200, 200]),  # approves cases; creates no task
        ("auditor", [200, 403, 200, 200, 200]),
    ],
)
def test_roles_with_the_permission(make_user, task, photo, role, expected):
    c = login(make_user(roles=[role]))
    assert [c.get(url).status_code for url in pages(task, photo)] == expected


def test_auditor_sees_the_task_without_forms(auditor, task):
    body = login(auditor).get(reverse("inspection:task_detail", args=[task.pk])).content.decode()
    assert task.number in body
    assert 'id="assign-form"' not in body
    assert 'id="start-form"' not in body
    assert 'id="checklist-form"' not in body
    assert 'id="finding-form"' not in body
    response = login(auditor).post(
        reverse("inspection:task_detail", args=[task.pk]), {"action": "start", "version": 2}
    )
    assert response.status_code == 403


def test_unknown_ids_are_404(inspector):
    c = login(inspector)
    assert c.get(reverse("inspection:task_detail", args=[999999])).status_code == 404
    assert c.get(reverse("inspection:photo", args=[999999])).status_code == 404


# --- the whole task through the page ------------------------------------------------------------


def test_task_through_the_page(manager, inspector, account):
    m = login(manager)
    response = m.post(
        reverse("inspection:task_new"),
        {"account_number": account.number, "source": "report", "due_on": "2026-12-31", "reason": "举报窃电"},
    )
    task = InspectionTask.objects.get(account=account)
    assert response.status_code == 302
    assert response["Location"] == reverse("inspection:task_detail", args=[task.pk])
    url = reverse("inspection:task_detail", args=[task.pk])
    assert m.post(url, {"action": "assign", "version": 1, "inspector": inspector.pk}).status_code == 302

    c = login(inspector)
    page = c.get(url).content.decode()
    assert 'id="start-form"' in page
    assert 'id="customer-link"' in page
    assert reverse("customers:detail", args=[account.customer_id]) in page
    assert c.post(url, {"action": "start", "version": 2}).status_code == 302
    page = c.get(url).content.decode()
    assert 'id="checklist-form"' in page
    assert 'type="radio"' in page

    codes = list(ChecklistItem.objects.filter(task=task).values_list("code", flat=True))
    assert len(codes) == 15
    data = {"action": "checklist", "version": 3}
    for code in codes:
        data[f"o_{code}"] = "pass"
        data[f"n_{code}"] = ""
    data["o_theft_seals"] = "fail"
    data["n_theft_seals"] = "封印被剪断"
    assert c.post(url, data).status_code == 302
    assert ChecklistItem.objects.get(task=task, code="theft_seals").note == "封印被剪断"

    response = c.post(
        url,
        {
            "action": "finding",
            "kind": "theft",
            "theft_method": "seal",
            "description": "表箱封印被剪断，表尾短接",
            "photos": [
                SimpleUploadedFile("a.png", PNG, content_type="image/png"),
                SimpleUploadedFile("b.jpg", b"\xff\xd8\xff" + b"0" * 32, content_type="image/jpeg"),
            ],
        },
    )
    assert response.status_code == 302
    finding = Finding.objects.get(task=task)
    assert sorted(finding.photos.values_list("name", flat=True)) == ["a.png", "b.jpg"]
    page = c.get(url).content.decode()
    assert f"{reverse('inspection:case_new')}?finding={finding.pk}" in page
    for p in finding.photos.all():
        assert reverse("inspection:photo", args=[p.pk]) in page

    # a normal result is refused with a theft finding (422 on the result field)
    response = c.post(url, {"action": "complete", "version": 5, "result": "normal", "notes": ""})
    assert response.status_code == 422
    assert "cannot be normal" in response.content.decode()
    response = c.post(url, {"action": "complete", "version": 5, "result": "theft", "notes": "移交案件"})
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.status, task.result, task.version) == ("completed", "theft", 6)


def test_stale_version_is_409_and_keeps_the_input(inspector, task):
    c = login(inspector)
    url = reverse("inspection:task_detail", args=[task.pk])
    task_start(actor=inspector, task_id=task.pk, version=task.version)
    response = c.post(url, {"action": "cancel", "version": task.version, "reason": "客户拒绝检查"})
    assert response.status_code == 409
    body = response.content.decode()
    assert 'id="task-error"' in body
    task.refresh_from_db()
    assert task.status == "on_site"


def test_field_errors_are_422(inspector, task):
    c = login(inspector)
    url = reverse("inspection:task_detail", args=[task.pk])
    task = task_start(actor=inspector, task_id=task.pk, version=task.version)
    response = c.post(url, {"action": "finding", "kind": "theft", "description": "x"})
    assert response.status_code == 422
    assert "how the electricity was stolen" in response.content.decode()
    response = c.post(url, {"action": "checklist", "version": task.version, "o_theft_seals": "fail"})
    assert response.status_code == 422
    assert "Say what the problem is" in response.content.decode()
    assert c.post(url, {"action": "bogus"}).status_code == 404
    assert not Finding.objects.exists()


# --- IDOR ---------------------------------------------------------------------------------------


def test_another_inspector_cannot_act_on_the_task(inspector2, task, inspector):
    url = reverse("inspection:task_detail", args=[task.pk])
    c = login(inspector2)
    page = c.get(url).content.decode()  # may read
    assert 'id="start-form"' not in page
    assert c.post(url, {"action": "start", "version": task.version}).status_code == 403
    task_start(actor=inspector, task_id=task.pk, version=task.version)
    response = c.post(url, {"action": "finding", "kind": "other", "description": "我来记一笔"})
    assert response.status_code == 403
    assert not Finding.objects.exists()


def test_photo_is_inline_private_and_permission_checked(photo, auditor, agent):
    url = reverse("inspection:photo", args=[photo.pk])
    response = login(auditor).get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert response["Cache-Control"] == "private, no-store"
    assert b"".join(response.streaming_content) == PNG
    assert login(agent).get(url).status_code == 403
    assert FindingPhoto.objects.count() == 1


# --- new task form ------------------------------------------------------------------------------


def test_new_task_prefilled_from_a_risk_score(inspector, account):
    run, rows = scoring_run(scores=[(account, 0.964, True)])
    url = reverse("inspection:task_new") + f"?account={account.pk}&source=risk&risk_score={rows[0].pk}"
    body = login(inspector).get(url).content.decode()
    assert f'value="{account.number}"' in body
    assert 'value="risk" selected' in body
    assert "0.964" in body
    assert reverse("inspection:risk_detail", args=[account.pk]) in body
    due = timezone.localdate() + dt.timedelta(days=14)
    assert f'value="{due:%Y-%m-%d}"' in body
    assert f'<option value="{inspector.pk}" selected>' in body  # an inspector goes themselves


def test_new_task_conflict_names_the_open_task(inspector, task, account):
    response = login(inspector).post(
        reverse("inspection:task_new"),
        {"account_number": account.number, "source": "manual", "due_on": "2026-12-31"},
    )
    assert response.status_code == 409
    assert task.number in response.content.decode()
    response = login(inspector).post(
        reverse("inspection:task_new"), {"account_number": "0000", "source": "manual", "due_on": "2026-12-31"}
    )
    assert response.status_code == 422


# --- the board ----------------------------------------------------------------------------------


def test_board_columns_counts_overdue_and_filters(inspector, inspector2, manager):
    a1, a2, a3 = AccountFactory(), AccountFactory(), AccountFactory()
    past = timezone.localdate() - dt.timedelta(days=3)
    late = task_create(
        actor=manager, account_id=a1.pk, source="manual", due_on=past, inspector_id=inspector.pk
    )
    task_create(actor=manager, account_id=a2.pk, source="risk", due_on=dt.date(2099, 1, 1))
    mine2 = task_create(
        actor=manager,
        account_id=a3.pk,
        source="manual",
        due_on=dt.date(2099, 1, 1),
        inspector_id=inspector2.pk,
    )
    task_start(actor=inspector2, task_id=mine2.pk, version=mine2.version)

    body = login(manager).get(reverse("inspection:tasks")).content.decode()
    assert 'data-count="planned">1<' in body
    assert 'data-count="assigned">1<' in body
    assert 'data-count="on_site">1<' in body
    assert 'data-count="completed">0<' in body
    assert 'data-overdue="1"' in body

    # an inspector opens on "my tasks"
    body = login(inspector).get(reverse("inspection:tasks")).content.decode()
    assert late.number in body
    assert mine2.number not in body
    body = login(inspector).get(reverse("inspection:tasks") + "?f=1").content.decode()
    assert mine2.number in body
    body = login(manager).get(reverse("inspection:tasks") + f"?q={a3.number}").content.decode()
    assert mine2.number in body
    assert late.number not in body
    body = login(manager).get(reverse("inspection:tasks") + "?overdue=on").content.decode()
    assert late.number in body
    assert mine2.number not in body
    body = login(manager).get(reverse("inspection:tasks") + "?source=risk").content.decode()
    assert 'data-count="planned">1<' in body
    assert 'data-count="assigned">0<' in body
    code = a1.service_point.transformer.code
    body = login(manager).get(reverse("inspection:tasks") + f"?area={code}").content.decode()
    assert late.number in body
    assert mine2.number not in body


# --- plans --------------------------------------------------------------------------------------


def test_plans_page_creates_plans(inspector, auditor):
    AccountFactory(importance="first", voltage_level="10kv")
    c = login(inspector)
    response = c.post(
        reverse("inspection:plans"),
        {"action": "periodic", "periodic-period_start": "2026-01-01", "periodic-period_end": "2026-03-31"},
    )
    assert response.status_code == 302
    plan = InspectionPlan.objects.get()
    assert plan.tasks.count() == 1
    body = c.get(reverse("inspection:plans")).content.decode()
    assert plan.number in body
    assert 'data-tasks="1"' in body
    response = c.post(
        reverse("inspection:plans"),
        {
            "action": "targeted",
            "targeted-source": "risk",
            "targeted-top": "5",
            "targeted-due_on": "2099-01-01",
        },
    )
    assert response.status_code == 422
    assert "No finished theft-risk scoring run yet" in response.content.decode()
    body = login(auditor).get(reverse("inspection:plans")).content.decode()
    assert 'id="periodic-form"' not in body
    response = login(auditor).post(
        reverse("inspection:plans"),
        {"action": "periodic", "periodic-period_start": "2026-01-01", "periodic-period_end": "2026-03-31"},
    )
    assert response.status_code == 403
    assert InspectionPlan.objects.count() == 1


# --- query counts -------------------------------------------------------------------------------


def _busy_task(user):
    task = task_create(
        actor=user,
        account_id=AccountFactory().pk,
        source="manual",
        due_on=dt.date(2026, 12, 31),
        inspector_id=user.pk,
    )
    task = task_start(actor=user, task_id=task.pk, version=task.version)
    for _ in range(3):
        finding = finding_record(actor=user, task_id=task.pk, kind="other", description="x")
        upload = SimpleUploadedFile("a.png", PNG, content_type="image/png")
        finding_photo_add(actor=user, finding_id=finding.pk, upload=upload)
    return task


def test_query_counts_do_not_grow_with_tasks_findings_or_photos(inspector):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    c = login(inspector)

    def counts(task):
        got = []
        for url in (
            reverse("inspection:tasks") + "?f=1",
            reverse("inspection:task_detail", args=[task.pk]),
            "/api/inspection/tasks",
            f"/api/inspection/tasks/{task.pk}",
        ):
            with CaptureQueriesContext(connection) as ctx:
                assert c.get(url).status_code == 200
            got.append(len(ctx))
        return got

    first = counts(_busy_task(inspector))
    for _ in range(3):
        last = _busy_task(inspector)
    assert counts(last) == first
    assert max(first) <= 12
