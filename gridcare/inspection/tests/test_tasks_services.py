"""Inspection task services: create with its checklist, the open-task conflict, assign, start,
checklist, findings, photos, complete with its result rules, cancel; the optimistic lock
(a stale version writes nothing); who may act; audit rows."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from gridcare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.customers.tests.factories import AccountFactory
from gridcare.inspection.models import ChecklistItem, Finding, FindingPhoto, InspectionTask
from gridcare.inspection.services.tasks import (
    finding_photo_add,
    finding_record,
    task_assign,
    task_cancel,
    task_checklist_save,
    task_complete,
    task_create,
    task_start,
)

pytestmark = pytest.mark.django_db

DUE = dt.date(2026, 12, 31)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def inspector(make_user):
    return make_user(roles=["inspector"], username="insp1")


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
def account():
    return AccountFactory(customer_class="general_ic", voltage_level="380v")


def new_task(actor, account, **kw):
    kw.setdefault("source", "manual")
    kw.setdefault("due_on", DUE)
    return task_create(actor=actor, account_id=account.pk, **kw)


def on_site(task, inspector):
    task = task_assign(actor=inspector, task_id=task.pk, version=task.version, inspector_id=inspector.pk)
    return task_start(actor=inspector, task_id=task.pk, version=task.version)


def answer_all(task, actor, outcome="pass"):
    codes = list(task.checklist.values_list("code", flat=True))
    return task_checklist_save(
        actor=actor, task_id=task.pk, version=task.version, outcomes=dict.fromkeys(codes, (outcome, ""))
    )


# --- create ---------------------------------------------------------------------------------


def test_create_writes_the_checklist_number_and_audit(inspector, account):
    task = new_task(inspector, account, reason="举报")
    assert task.number.startswith("JC")
    assert len(task.number) == 14
    assert task.status == "planned"
    assert task.version == 1
    assert task.created_by == "insp1"
    items = list(task.checklist.order_by("position").values_list("section", "code", "position"))
    assert len(items) == 17  # general commercial at 380 V: power factor, no harmonics
    assert items[0] == ("safety", "safety_grounding", 1)
    assert items[-1] == ("quality", "quality_power_factor", 17)
    event = AuditEvent.objects.get(action="inspection.task_create", object_id=str(task.pk))
    assert event.after["account"] == account.number
    assert event.reason == "举报"


def test_second_open_task_for_same_account_and_source_conflicts(inspector, account):
    first = new_task(inspector, account, source="risk")
    with pytest.raises(Conflict) as exc:
        new_task(inspector, account, source="risk")
    assert first.number in str(exc.value.message)
    assert exc.value.code == "open_task_exists"
    # another source is fine; after cancelling, the same source is fine again
    new_task(inspector, account, source="report")
    task_cancel(actor=inspector, task_id=first.pk, version=first.version, reason="duplicate")
    assert new_task(inspector, account, source="risk").pk != first.pk
    assert InspectionTask.objects.filter(account=account).count() == 3


def test_create_with_inspector_is_assigned(inspector, inspector2, account):
    task = new_task(inspector, account, inspector_id=inspector2.pk)
    assert task.status == "assigned"
    assert task.inspector_id == inspector2.pk


def test_create_validates(inspector, agent, account, manager):
    with pytest.raises(ValidationFailed) as exc:
        new_task(inspector, account, source="bogus")
    assert exc.value.field == "source"
    with pytest.raises(ValidationFailed) as exc:
        task_create(actor=inspector, account_id=999999, source="manual", due_on=DUE)
    assert exc.value.field == "account_id"
    with pytest.raises(ValidationFailed) as exc:
        new_task(inspector, account, inspector_id=manager.pk)  # not in the inspector group
    assert exc.value.field == "inspector_id"
    with pytest.raises(ValidationFailed) as exc:
        new_task(inspector, account, risk_score_id=123456)
    assert exc.value.field == "risk_score_id"
    with pytest.raises(PermissionDenied):
        new_task(agent, account)
    assert InspectionTask.objects.count() == 0


# --- assign and start -------------------------------------------------------------------------


def test_assign_and_start_by_the_assigned_inspector_only(inspector, inspector2, manager, account):
    task = new_task(manager, account)
    task = task_assign(actor=manager, task_id=task.pk, version=1, inspector_id=inspector.pk)
    assert (task.status, task.version, task.inspector_id) == ("assigned", 2, inspector.pk)
    with pytest.raises(PermissionDenied):
        task_start(actor=inspector2, task_id=task.pk, version=2)
    with pytest.raises(PermissionDenied):  # a colleague cannot take it over either
        task_assign(actor=inspector2, task_id=task.pk, version=2, inspector_id=inspector2.pk)
    task = task_start(actor=inspector, task_id=task.pk, version=2)
    assert task.status == "on_site"
    assert task.started_at is not None
    assert task.version == 3
    with pytest.raises(Conflict) as exc:
        task_start(actor=inspector, task_id=task.pk, version=3)
    assert exc.value.code == "invalid_state"
    actions = list(
        AuditEvent.objects.filter(object_id=str(task.pk), object_type="inspection.inspectiontask")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == ["inspection.task_create", "inspection.task_assign", "inspection.task_start"]


def test_manager_may_start_any_task(inspector, manager, account):
    task = new_task(manager, account, inspector_id=inspector.pk)
    assert task_start(actor=manager, task_id=task.pk, version=task.version).status == "on_site"


def test_stale_version_writes_nothing(inspector, inspector2, account):
    task = new_task(inspector, account)
    task_assign(actor=inspector, task_id=task.pk, version=1, inspector_id=inspector.pk)
    audits = AuditEvent.objects.count()
    with pytest.raises(Conflict) as exc:
        task_assign(actor=inspector, task_id=task.pk, version=1, inspector_id=inspector2.pk)
    assert "version 2" in str(exc.value.message)
    task.refresh_from_db()
    assert (task.inspector_id, task.version) == (inspector.pk, 2)
    assert AuditEvent.objects.count() == audits


def test_unknown_task_is_not_found(inspector):
    with pytest.raises(NotFound):
        task_start(actor=inspector, task_id=987654, version=1)


# --- checklist ------------------------------------------------------------------------------


def test_checklist_save(inspector, account):
    task = on_site(new_task(inspector, account), inspector)
    task = task_checklist_save(
        actor=inspector,
        task_id=task.pk,
        version=task.version,
        outcomes={"theft_seals": ("fail", "封印断开"), "safety_grounding": ("pass", "")},
    )
    assert task.version == 4
    got = dict(ChecklistItem.objects.filter(task=task).exclude(outcome="").values_list("code", "outcome"))
    assert got == {"theft_seals": "fail", "safety_grounding": "pass"}
    event = AuditEvent.objects.filter(action="inspection.task_checklist").get()
    assert event.after == {"theft_seals": ["fail", "封印断开"], "safety_grounding": ["pass", ""]}


@pytest.mark.parametrize(
    ("outcomes", "field"),
    [
        ({"nope": ("pass", "")}, "nope"),
        ({"theft_seals": ("maybe", "")}, "theft_seals"),
        ({"theft_seals": ("fail", "")}, "theft_seals"),  # a problem needs a note
        ({"theft_seals": ("pass", "x" * 301)}, "theft_seals"),
        ({"quality_harmonics": ("pass", "")}, "quality_harmonics"),  # not on a 380 V list
    ],
)
def test_checklist_rejects(inspector, account, outcomes, field):
    task = on_site(new_task(inspector, account), inspector)
    with pytest.raises(ValidationFailed) as exc:
        task_checklist_save(actor=inspector, task_id=task.pk, version=task.version, outcomes=outcomes)
    assert exc.value.field == field
    assert not ChecklistItem.objects.filter(task=task).exclude(outcome="").exists()


def test_checklist_needs_on_site_and_the_inspector(inspector, inspector2, account):
    task = new_task(inspector, account, inspector_id=inspector.pk)
    with pytest.raises(Conflict):
        answer_all(task, inspector)
    task = task_start(actor=inspector, task_id=task.pk, version=task.version)
    with pytest.raises(PermissionDenied):
        answer_all(task, inspector2)


# --- findings and photos ----------------------------------------------------------------------


def test_finding_rules(inspector, inspector2, account):
    task = on_site(new_task(inspector, account), inspector)
    with pytest.raises(ValidationFailed) as exc:
        finding_record(actor=inspector, task_id=task.pk, kind="theft", description="绕表")
    assert exc.value.field == "theft_method"
    with pytest.raises(ValidationFailed) as exc:
        finding_record(actor=inspector, task_id=task.pk, kind="violation", description="私增容")
    assert exc.value.field == "violation_kind"
    with pytest.raises(ValidationFailed) as exc:
        finding_record(actor=inspector, task_id=task.pk, kind="safety", description="  ")
    assert exc.value.field == "description"
    with pytest.raises(PermissionDenied):
        finding_record(actor=inspector2, task_id=task.pk, kind="other", description="x")
    f = finding_record(
        actor=inspector, task_id=task.pk, kind="theft", description="绕越电能表接线", theft_method="bypass"
    )
    g = finding_record(
        actor=inspector, task_id=task.pk, kind="safety", description="接地断开", theft_method="bypass"
    )
    assert (f.kind, f.theft_method, f.recorded_by) == ("theft", "bypass", "insp1")
    assert g.theft_method == ""  # only theft keeps a method
    task.refresh_from_db()
    assert task.version == 5  # each finding raises the version
    assert AuditEvent.objects.filter(action="inspection.finding_record").count() == 2


def test_photo_add_checks_type_size_and_worker(inspector, inspector2, account, settings):
    task = on_site(new_task(inspector, account), inspector)
    f = finding_record(actor=inspector, task_id=task.pk, kind="other", description="表箱锈蚀")
    photo = finding_photo_add(
        actor=inspector,
        finding_id=f.pk,
        upload=SimpleUploadedFile("dir/a.png", PNG, content_type="image/png"),
    )
    assert (photo.name, photo.content_type, photo.size) == ("a.png", "image/png", len(PNG))
    assert photo.file.name.startswith(f"inspection/{task.pk}/")
    with pytest.raises(ValidationFailed) as exc:
        finding_photo_add(
            actor=inspector,
            finding_id=f.pk,
            upload=SimpleUploadedFile("a.exe", b"MZ..", content_type="application/x-msdownload"),
        )
    assert exc.value.field == "file"
    with override_settings(GRIDCARE_ATTACHMENT_MAX_BYTES=10), pytest.raises(ValidationFailed):
        finding_photo_add(
            actor=inspector,
            finding_id=f.pk,
            upload=SimpleUploadedFile("b.png", PNG, content_type="image/png"),
        )
    with pytest.raises(PermissionDenied):
        finding_photo_add(
            actor=inspector2,
            finding_id=f.pk,
            upload=SimpleUploadedFile("c.png", PNG, content_type="image/png"),
        )
    with pytest.raises(NotFound):
        finding_photo_add(
            actor=inspector,
            finding_id=999999,
            upload=SimpleUploadedFile("d.png", PNG, content_type="image/png"),
        )
    assert FindingPhoto.objects.count() == 1


# --- complete and cancel ----------------------------------------------------------------------


def test_complete_needs_every_item_answered(inspector, account):
    task = on_site(new_task(inspector, account), inspector)
    task_checklist_save(
        actor=inspector, task_id=task.pk, version=task.version, outcomes={"theft_seals": ("pass", "")}
    )
    task.refresh_from_db()
    with pytest.raises(ValidationFailed) as exc:
        task_complete(actor=inspector, task_id=task.pk, version=task.version, result="normal", notes="")
    assert exc.value.field == "checklist"
    assert "16 open" in str(exc.value.message)
    task = answer_all(task, inspector)
    task = task_complete(actor=inspector, task_id=task.pk, version=task.version, result="normal", notes="ok")
    assert (task.status, task.result, task.result_notes) == ("completed", "normal", "ok")
    assert task.completed_at is not None
    event = AuditEvent.objects.get(action="inspection.task_complete")
    assert event.before["status"] == "on_site"
    assert event.after["result"] == "normal"


def test_result_rules(inspector, account):
    task = answer_all(on_site(new_task(inspector, account), inspector), inspector)
    for result in ("theft", "violation"):
        with pytest.raises(ValidationFailed) as exc:
            task_complete(actor=inspector, task_id=task.pk, version=task.version, result=result)
        assert exc.value.field == "result"
    finding_record(
        actor=inspector,
        task_id=task.pk,
        kind="violation",
        description="私增容 20 kW",
        violation_kind="excess_capacity",
    )
    task.refresh_from_db()
    with pytest.raises(ValidationFailed) as exc:
        task_complete(actor=inspector, task_id=task.pk, version=task.version, result="normal")
    assert "cannot be normal" in str(exc.value.message)
    with pytest.raises(ValidationFailed):
        task_complete(actor=inspector, task_id=task.pk, version=task.version, result="theft")
    with pytest.raises(ValidationFailed):
        task_complete(actor=inspector, task_id=task.pk, version=task.version, result="bogus")
    task = task_complete(actor=inspector, task_id=task.pk, version=task.version, result="violation")
    assert task.result == "violation"


def test_complete_with_a_version_from_before_a_finding_conflicts(inspector, account):
    task = answer_all(on_site(new_task(inspector, account), inspector), inspector)
    seen = task.version
    finding_record(actor=inspector, task_id=task.pk, kind="theft", description="私接", theft_method="hookup")
    with pytest.raises(Conflict):
        task_complete(actor=inspector, task_id=task.pk, version=seen, result="normal")
    task.refresh_from_db()
    assert task.status == "on_site"


def test_cancel_rules(inspector, inspector2, manager, account):
    planned = new_task(inspector2, account)
    with pytest.raises(ValidationFailed):
        task_cancel(actor=inspector, task_id=planned.pk, version=1, reason=" ")
    assert task_cancel(actor=inspector, task_id=planned.pk, version=1, reason="重复").status == "cancelled"
    with pytest.raises(Conflict):
        task_cancel(actor=inspector, task_id=planned.pk, version=2, reason="again")
    other = AccountFactory()
    task = on_site(new_task(inspector, other), inspector)
    with pytest.raises(PermissionDenied):
        task_cancel(actor=inspector2, task_id=task.pk, version=task.version, reason="not mine")
    finding_record(actor=inspector, task_id=task.pk, kind="other", description="x")
    task.refresh_from_db()
    with pytest.raises(Conflict) as exc:
        task_cancel(actor=manager, task_id=task.pk, version=task.version, reason="stop")
    assert exc.value.code == "has_findings"
    assert Finding.objects.filter(task=task).count() == 1


def test_auditor_reads_but_cannot_write(auditor, inspector, account):
    task = new_task(inspector, account)
    with pytest.raises(PermissionDenied):
        task_assign(actor=auditor, task_id=task.pk, version=1, inspector_id=inspector.pk)
    with pytest.raises(PermissionDenied):
        new_task(auditor, AccountFactory())
