"""Inspection tasks (检查任务): create, assign, start on site, the checklist, findings with photos,
complete, cancel (docs/inspection-tasks.md).

planned → assigned → on site → completed; planned, assigned or on site → cancelled.

Who may do what (on top of the model permission each service names):

- create: ``add_inspectiontask``; assign a planned task: ``change_inspectiontask``;
- reassign, start, checklist, findings, photos, complete, cancel an assigned task: only the
  assigned inspector, or a manager (``inspection.approve_case``);
- read: ``view_inspectiontask`` (selectors).

Every write takes the task row lock; the ones that carry the ``version`` the caller saw
refuse a stale one with ``Conflict`` and write nothing. Every change writes an audit row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.core.audit import actor_label, audit_record, snapshot
from gridcare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from gridcare.core.ids import next_number
from gridcare.core.roles import INSPECTOR, is_staff_user, require_actor_perm, staff_has_perm
from gridcare.core.uploads import stored_file_name, upload_checked
from gridcare.customers.choices import AccountStatus
from gridcare.customers.models import Account
from gridcare.inspection.choices import (
    OPEN_TASK_STATUSES,
    ChecklistOutcome,
    FindingKind,
    TaskResult,
    TaskSource,
    TaskStatus,
    TheftMethod,
    ViolationKind,
)
from gridcare.inspection.engine.checklist import items_for
from gridcare.inspection.models import (
    AreaLoss,
    ChecklistItem,
    Finding,
    FindingPhoto,
    InspectionPlan,
    InspectionTask,
    RiskScore,
)

Actor = AbstractBaseUser | AnonymousUser | str | None

VIEW = "inspection.view_inspectiontask"
ADD = "inspection.add_inspectiontask"
CHANGE = "inspection.change_inspectiontask"
CHECKLIST = "inspection.change_checklistitem"
ADD_FINDING = "inspection.add_finding"
ADD_PHOTO = "inspection.add_findingphoto"
MANAGER = "inspection.approve_case"
TASK_PREFIX = "JC"
AUDITED = ("status", "inspector_id", "due_on", "started_at", "completed_at", "result", "version")
NOTE_MAX = 300
TEXT_MAX = 4000
# A finding kind that requires a result of the same name, and the reverse.
RESULT_FINDING = {TaskResult.THEFT: FindingKind.THEFT, TaskResult.VIOLATION: FindingKind.VIOLATION}


# --- helpers ---------------------------------------------------------------------------------


def is_manager(actor: Actor) -> bool:
    """A user who may act on any task (``inspection.approve_case``), or a system actor."""
    return isinstance(actor, str) or staff_has_perm(actor, MANAGER)


def may_work(actor: Actor, task: InspectionTask) -> bool:
    """The assigned inspector or a manager."""
    if is_manager(actor):
        return True
    return task.inspector_id is not None and getattr(actor, "pk", None) == task.inspector_id


def _require_worker(actor: Actor, task: InspectionTask) -> None:
    if not may_work(actor, task):
        raise PermissionDenied(_("Only the assigned inspector or a manager may do this on the task."))


def _lock(task_id: int) -> InspectionTask:
    try:
        return InspectionTask.objects.select_for_update(of=("self",)).get(pk=task_id)
    except (InspectionTask.DoesNotExist, ValueError, TypeError):
        raise NotFound() from None


def _check_version(task: InspectionTask, version: int) -> None:
    if task.version != version:
        raise Conflict(
            _(
                "The task was changed by someone else (now version %(version)s, %(status)s); "
                "reload and try again."
            )
            % {"version": task.version, "status": task.get_status_display()},
            field="version",
        )


def _require_status(task: InspectionTask, *allowed: str) -> None:
    if task.status not in allowed:
        raise Conflict(
            _("This is not possible while the task is %(status)s.") % {"status": task.get_status_display()},
            field="status",
            code="invalid_state",
        )


def _inspector(inspector_id: Any) -> Any:
    """An active user of the inspector group, or ValidationFailed."""
    user = (
        get_user_model().objects.filter(pk=inspector_id, is_active=True, groups__name=INSPECTOR).first()
        if str(inspector_id).isdigit()
        else None
    )
    if user is None or not is_staff_user(user):
        raise ValidationFailed(_("Choose an active inspector (用电检查员)."), field="inspector_id")
    return user


def task_numbers(count: int, *, day: dt.date | None = None) -> list[str]:
    """``count`` new task numbers ``JC<yyyymmdd><nnnn>`` (the sequence restarts each day)."""
    day = day or timezone.localdate()
    first = next_number(f"inspection.task.{day:%Y%m%d}", count=count)
    return [f"{TASK_PREFIX}{day:%Y%m%d}{n:04d}" for n in range(first, first + count)]


@dataclass(frozen=True)
class TaskSpec:
    """One task to create (``tasks_bulk_create``): the account, why, when."""

    account: Account
    source: str
    due_on: dt.date
    reason: str = ""
    risk_score_id: int | None = None
    area_loss_id: int | None = None
    inspector: Any = None


def tasks_bulk_create(
    *, actor: Actor, specs: Sequence[TaskSpec], plan: InspectionPlan | None = None
) -> list[InspectionTask]:
    """Write the tasks, their checklist rows and one audit row each (no checks: callers
    validate). Call inside the caller's transaction."""
    if not specs:
        return []
    now = timezone.now()
    label = actor_label(actor)[:150]
    numbers = task_numbers(len(specs))
    tasks = [
        InspectionTask(
            number=number,
            plan=plan,
            account=spec.account,
            source=spec.source,
            risk_score_id=spec.risk_score_id,
            area_loss_id=spec.area_loss_id,
            reason=spec.reason[:300],
            status=TaskStatus.ASSIGNED if spec.inspector is not None else TaskStatus.PLANNED,
            inspector=spec.inspector,
            due_on=spec.due_on,
            created_by=label,
            created_at=now,
        )
        for number, spec in zip(numbers, specs, strict=True)
    ]
    InspectionTask.objects.bulk_create(tasks)
    if any(t.pk is None for t in tasks):  # backends that do not return ids: read them back
        ids = dict(InspectionTask.objects.filter(number__in=numbers).values_list("number", "pk"))
        for t in tasks:
            t.pk = t.id = ids[t.number]
    rows = []
    for task in tasks:
        account = task.account
        for entry in items_for(
            customer_class=account.customer_class,
            voltage_level=account.voltage_level,
            importance=account.importance,
        ):
            rows.append(
                ChecklistItem(task=task, section=entry.section, code=entry.code, position=entry.position)
            )
    ChecklistItem.objects.bulk_create(rows, batch_size=2000)
    for task in tasks:
        audit_record(
            actor=actor,
            obj=task,
            action="inspection.task_create",
            after={
                **snapshot(task, AUDITED),
                "account": task.account.number,
                "source": task.source,
                "plan": plan.number if plan else None,
            },
            reason=task.reason,
        )
    return tasks


def open_task_of(account_id: int, source: str) -> InspectionTask | None:
    return (
        InspectionTask.objects.filter(account_id=account_id, source=source, status__in=OPEN_TASK_STATUSES)
        .order_by("created_at", "id")
        .first()
    )


# --- services --------------------------------------------------------------------------------


@transaction.atomic
def task_create(
    *,
    actor: Actor,
    account_id: int,
    source: str,
    due_on: dt.date,
    reason: str = "",
    risk_score_id: int | None = None,
    area_loss_id: int | None = None,
    plan_id: int | None = None,
    inspector_id: int | None = None,
) -> InspectionTask:
    """A task for one account with its checklist (the items that apply to the account).

    A second open task for the same account and source is refused (``Conflict`` naming the
    open one). With ``inspector_id`` the task is assigned at once."""
    require_actor_perm(actor, ADD)
    if source not in TaskSource.values:
        raise ValidationFailed(_("Choose why the task exists."), field="source")
    if not isinstance(due_on, dt.date):
        raise ValidationFailed(_("Enter a date as YYYY-MM-DD."), field="due_on")
    reason = (reason or "").strip()
    if len(reason) > 300:
        raise ValidationFailed(_("The reason is longer than 300 characters."), field="reason")
    account = (
        Account.objects.select_for_update(of=("self",)).filter(pk=account_id).first()
        if str(account_id).isdigit()
        else None
    )
    if account is None:
        raise ValidationFailed(_("No account has this id."), field="account_id")
    if account.status == AccountStatus.CLOSED:
        raise ValidationFailed(_("The account is closed (销户)."), field="account_id")
    if risk_score_id is not None:
        score = RiskScore.objects.filter(pk=risk_score_id).only("account_id").first()
        if score is None or score.account_id != account.pk:
            raise ValidationFailed(_("The risk score is not one of this account."), field="risk_score_id")
    if area_loss_id is not None:
        area = AreaLoss.objects.filter(pk=area_loss_id).only("transformer_id").first()
        if area is None:
            raise ValidationFailed(_("No line-loss area has this id."), field="area_loss_id")
        if area.transformer_id != account.service_point.transformer_id:
            raise ValidationFailed(
                _("The line-loss area is not the one of this account's transformer."), field="area_loss_id"
            )
    plan = None
    if plan_id is not None:
        plan = InspectionPlan.objects.filter(pk=plan_id).first()
        if plan is None:
            raise ValidationFailed(_("No inspection plan has this id."), field="plan_id")
    inspector = _inspector(inspector_id) if inspector_id is not None else None
    existing = open_task_of(account.pk, source)
    if existing is not None:
        raise Conflict(
            _("Task %(number)s for this account and source is still open.") % {"number": existing.number},
            field="account_id",
            code="open_task_exists",
        )
    spec = TaskSpec(
        account=account,
        source=source,
        due_on=due_on,
        reason=reason,
        risk_score_id=risk_score_id,
        area_loss_id=area_loss_id,
        inspector=inspector,
    )
    return tasks_bulk_create(actor=actor, specs=[spec], plan=plan)[0]


@transaction.atomic
def task_assign(*, actor: Actor, task_id: int, version: int, inspector_id: int) -> InspectionTask:
    """派工: give a planned task to an inspector, or hand an assigned one to another (only the
    assigned inspector or a manager may hand it on)."""
    require_actor_perm(actor, CHANGE)
    task = _lock(task_id)
    _check_version(task, version)
    _require_status(task, TaskStatus.PLANNED, TaskStatus.ASSIGNED)
    if task.status == TaskStatus.ASSIGNED:
        _require_worker(actor, task)
    inspector = _inspector(inspector_id)
    before = snapshot(task, AUDITED)
    task.inspector = inspector
    task.status = TaskStatus.ASSIGNED
    task.version += 1
    task.save(update_fields=["inspector", "status", "version"])
    audit_record(
        actor=actor, obj=task, action="inspection.task_assign", before=before, after=snapshot(task, AUDITED)
    )
    return task


@transaction.atomic
def task_start(*, actor: Actor, task_id: int, version: int) -> InspectionTask:
    """到达现场: the assigned inspector (or a manager) starts the inspection on site."""
    require_actor_perm(actor, CHANGE)
    task = _lock(task_id)
    _check_version(task, version)
    _require_status(task, TaskStatus.ASSIGNED)
    _require_worker(actor, task)
    before = snapshot(task, AUDITED)
    task.status = TaskStatus.ON_SITE
    task.started_at = timezone.now()
    task.version += 1
    task.save(update_fields=["status", "started_at", "version"])
    audit_record(
        actor=actor, obj=task, action="inspection.task_start", before=before, after=snapshot(task, AUDITED)
    )
    return task


@transaction.atomic
def task_checklist_save(
    *, actor: Actor, task_id: int, version: int, outcomes: Mapping[str, tuple[str, str]]
) -> InspectionTask:
    """Record checklist outcomes on site: ``{code: (outcome, note)}`` with outcome ``pass``,
    ``fail``, ``na`` or "" (not checked yet). Items not named keep their outcome."""
    require_actor_perm(actor, CHECKLIST)
    task = _lock(task_id)
    _check_version(task, version)
    _require_status(task, TaskStatus.ON_SITE)
    _require_worker(actor, task)
    items = {item.code: item for item in task.checklist.all()}
    changed: list[ChecklistItem] = []
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for code, value in outcomes.items():
        item = items.get(code)
        if item is None:
            raise ValidationFailed(
                _("%(code)s is not an item of this checklist.") % {"code": code}, field=code
            )
        try:
            outcome, note = value
        except (TypeError, ValueError):
            raise ValidationFailed(_("Give an outcome and a note."), field=code) from None
        outcome = (outcome or "").strip()
        note = (note or "").strip()
        if outcome not in ChecklistOutcome.values:
            raise ValidationFailed(_("Choose OK, Problem or Not applicable."), field=code)
        if len(note) > NOTE_MAX:
            raise ValidationFailed(_("The note is longer than 300 characters."), field=code)
        if outcome == ChecklistOutcome.FAIL and not note:
            raise ValidationFailed(_("Say what the problem is."), field=code)
        if (item.outcome, item.note) != (outcome, note):
            before[code] = [item.outcome, item.note]
            after[code] = [outcome, note]
            item.outcome, item.note = outcome, note
            changed.append(item)
    if changed:
        ChecklistItem.objects.bulk_update(changed, ["outcome", "note"])
    task.version += 1
    task.save(update_fields=["version"])
    audit_record(actor=actor, obj=task, action="inspection.task_checklist", before=before, after=after)
    return task


@transaction.atomic
def finding_record(
    *,
    actor: Actor,
    task_id: int,
    kind: str,
    description: str,
    theft_method: str = "",
    violation_kind: str = "",
) -> Finding:
    """检查发现: what the inspector found on site. Theft needs its method (窃电行为), a violation
    its kind (违约用电类别). Raises the task's version (a completion prepared before it must be
    reloaded)."""
    require_actor_perm(actor, ADD_FINDING)
    task = _lock(task_id)
    _require_status(task, TaskStatus.ON_SITE)
    _require_worker(actor, task)
    if kind not in FindingKind.values:
        raise ValidationFailed(_("Choose the kind of finding."), field="kind")
    description = (description or "").strip()
    if not description:
        raise ValidationFailed(_("Describe what was found."), field="description")
    if len(description) > TEXT_MAX:
        raise ValidationFailed(_("The description is longer than 4000 characters."), field="description")
    theft_method = (theft_method or "").strip() if kind == FindingKind.THEFT else ""
    violation_kind = (violation_kind or "").strip() if kind == FindingKind.VIOLATION else ""
    if kind == FindingKind.THEFT and theft_method not in TheftMethod.values:
        raise ValidationFailed(_("Choose how the electricity was stolen."), field="theft_method")
    if kind == FindingKind.VIOLATION and violation_kind not in ViolationKind.values:
        raise ValidationFailed(_("Choose the kind of violation."), field="violation_kind")
    finding = Finding.objects.create(
        task=task,
        kind=kind,
        theft_method=theft_method,
        violation_kind=violation_kind,
        description=description,
        recorded_by=actor_label(actor)[:150],
        recorded_at=timezone.now(),
    )
    task.version += 1
    task.save(update_fields=["version"])
    audit_record(
        actor=actor,
        obj=task,
        action="inspection.finding_record",
        after={
            "finding": finding.pk,
            "kind": kind,
            "theft_method": theft_method,
            "violation_kind": violation_kind,
            "description": description[:200],
        },
    )
    return finding


@transaction.atomic
def finding_photo_add(*, actor: Actor, finding_id: int, upload: UploadedFile) -> FindingPhoto:
    """现场照片/附件 of a finding (the work-order attachment types and size limit)."""
    require_actor_perm(actor, ADD_PHOTO)
    finding = Finding.objects.filter(pk=finding_id).first() if str(finding_id).isdigit() else None
    if finding is None:
        raise NotFound()
    task = _lock(finding.task_id)
    _require_status(task, TaskStatus.ON_SITE)
    _require_worker(actor, task)
    name, content_type, size = upload_checked(upload)
    now = timezone.now()
    photo = FindingPhoto(
        finding=finding,
        name=name,
        content_type=content_type,
        size=size,
        uploaded_by=actor_label(actor)[:150],
        uploaded_at=now,
    )
    photo.file.save(stored_file_name(name, now), upload, save=False)
    photo.save()
    audit_record(
        actor=actor,
        obj=task,
        action="inspection.finding_photo",
        after={"finding": finding.pk, "photo": photo.pk, "name": name, "size": upload.size},
    )
    return photo


@transaction.atomic
def task_complete(
    *, actor: Actor, task_id: int, version: int, result: str, notes: str = ""
) -> InspectionTask:
    """检查结论: every checklist item answered; a theft or violation result needs a finding of
    that kind; a normal result is refused while a theft or violation finding exists."""
    require_actor_perm(actor, CHANGE)
    task = _lock(task_id)
    _check_version(task, version)
    _require_status(task, TaskStatus.ON_SITE)
    _require_worker(actor, task)
    if result not in TaskResult.values:
        raise ValidationFailed(_("Choose the result."), field="result")
    notes = (notes or "").strip()
    if len(notes) > TEXT_MAX:
        raise ValidationFailed(_("The notes are longer than 4000 characters."), field="notes")
    open_items = list(task.checklist.filter(outcome="").order_by("position").values_list("code", flat=True))
    if open_items:
        raise ValidationFailed(
            _("Answer every checklist item first (%(n)s open: %(codes)s).")
            % {"n": len(open_items), "codes": ", ".join(open_items[:5])},
            field="checklist",
        )
    kinds = set(task.findings.values_list("kind", flat=True))
    needed = RESULT_FINDING.get(result)  # type: ignore[call-overload]
    if needed is not None and needed not in kinds:
        raise ValidationFailed(
            _("Record the %(kind)s finding before completing with this result.")
            % {"kind": FindingKind(needed).label},
            field="result",
        )
    if result == TaskResult.NORMAL and kinds & {FindingKind.THEFT, FindingKind.VIOLATION}:
        raise ValidationFailed(
            _("A theft or violation finding is recorded: the result cannot be normal."), field="result"
        )
    before = snapshot(task, AUDITED)
    task.status = TaskStatus.COMPLETED
    task.result = result
    task.result_notes = notes
    task.completed_at = timezone.now()
    task.version += 1
    task.save(update_fields=["status", "result", "result_notes", "completed_at", "version"])
    audit_record(
        actor=actor,
        obj=task,
        action="inspection.task_complete",
        before=before,
        after=snapshot(task, AUDITED),
        reason=notes[:500],
    )
    return task


@transaction.atomic
def task_cancel(*, actor: Actor, task_id: int, version: int, reason: str) -> InspectionTask:
    """Cancel an open task with a reason. A planned task: anyone who may change tasks; an
    assigned or on-site one: its inspector or a manager. A task with findings is not
    cancelled (complete it: the findings are evidence)."""
    require_actor_perm(actor, CHANGE)
    task = _lock(task_id)
    _check_version(task, version)
    _require_status(task, *OPEN_TASK_STATUSES)
    if task.status != TaskStatus.PLANNED:
        _require_worker(actor, task)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the task is cancelled."), field="reason")
    if len(reason) > TEXT_MAX:
        raise ValidationFailed(_("The reason is longer than 4000 characters."), field="reason")
    if task.findings.exists():
        raise Conflict(
            _("The task has findings; complete it instead of cancelling."),
            field="status",
            code="has_findings",
        )
    before = snapshot(task, AUDITED)
    task.status = TaskStatus.CANCELLED
    task.result_notes = reason
    task.version += 1
    task.save(update_fields=["status", "result_notes", "version"])
    audit_record(
        actor=actor,
        obj=task,
        action="inspection.task_cancel",
        before=before,
        after=snapshot(task, AUDITED),
        reason=reason[:500],
    )
    return task
