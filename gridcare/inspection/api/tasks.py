"""Inspection API: plans and tasks (``/api/inspection/tasks``, ``/api/inspection/plans``;
docs/inspection-tasks.md).

The console's rules: reading needs ``inspection.view_inspectiontask`` (plans:
``view_inspectionplan``); creating needs ``add_inspectiontask`` (plans: ``add_inspectionplan``);
starting, the checklist, findings, photos and completing are for the assigned inspector or a
manager (``inspection.approve_case``). Anonymous callers get 401, portal customers and roles
without the permission 403. A stale ``version`` is 409 with the task's current ``version`` and
``status``; a step not possible in the task's state is 409 too (code ``invalid_state``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from ninja import Field, File, Query, Router, Schema, Status
from ninja.files import UploadedFile

from gridcare.core.errors import Conflict
from gridcare.core.pagination import page_body, paginate
from gridcare.core.roles import require_staff_perm
from gridcare.inspection.engine.checklist import label_of
from gridcare.inspection.models import FindingPhoto, InspectionPlan, InspectionTask
from gridcare.inspection.selectors.tasks import (
    VIEW,
    VIEW_PLAN,
    plans_visible_to,
    task_findings,
    task_get,
    task_search,
)
from gridcare.inspection.services.plans import plan_periodic_create, plan_targeted_create
from gridcare.inspection.services.tasks import (
    ADD,
    ADD_FINDING,
    ADD_PHOTO,
    CHANGE,
    CHECKLIST,
    finding_photo_add,
    finding_record,
    task_assign,
    task_cancel,
    task_checklist_save,
    task_complete,
    task_create,
    task_start,
)
from gridcare.workorders.api.schemas import ErrorOut

router = Router(tags=["inspection"])

ADD_PLAN = "inspection.add_inspectionplan"
ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


# ---- schemas --------------------------------------------------------------------------------


class TaskConflictOut(ErrorOut):
    """409: the task changed since the caller read it, or the step is not possible now."""

    version: int | None = Field(None, description="The task's current version: reload, then retry with it.")
    status: str | None = Field(None, description="The task's current status.")


class ChecklistItemOut(Schema):
    section: str = Field(..., description="safety, violation, theft or quality.")
    code: str = Field(..., description="Stable item code (engine/checklist.py).")
    label: str = Field(..., description="The item in English, the Chinese term in parentheses.")
    outcome: str = Field(..., description='pass, fail, na, or "" (not checked yet).')
    note: str


class PhotoOut(Schema):
    id: int
    name: str
    content_type: str
    size: int
    url: str = Field(..., description="Console URL of the file (permission-checked).")
    uploaded_by: str
    uploaded_at: dt.datetime


class FindingOut(Schema):
    id: int
    kind: str = Field(..., description="theft, violation, safety, quality or other.")
    theft_method: str
    violation_kind: str
    description: str
    recorded_by: str
    recorded_at: dt.datetime
    photos: list[PhotoOut]


class TaskOut(Schema):
    id: int
    number: str = Field(..., description="JC<yyyymmdd><nnnn>.")
    status: str = Field(..., description="planned, assigned, on_site, completed or cancelled.")
    source: str = Field(..., description="periodic, risk, line_loss, report or manual.")
    account_id: int
    account_number: str
    customer_name: str
    transformer_code: str
    reason: str
    risk_score_id: int | None
    area_loss_id: int | None
    plan: str = Field(..., description="The plan's number, or empty.")
    inspector: str = Field(..., description="The inspector's user name, or empty.")
    inspector_id: int | None
    due_on: dt.date
    overdue: bool
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    result: str = Field(..., description='normal, defect, violation, theft or "".')
    result_notes: str
    version: int
    created_by: str
    created_at: dt.datetime


class TaskDetailOut(TaskOut):
    checklist: list[ChecklistItemOut]
    findings: list[FindingOut]


class TaskPageOut(Schema):
    items: list[TaskOut]
    page: int
    pages: int
    total: int
    per_page: int


class TaskFilters(Schema):
    q: str = Field("", description="Task number (prefix), 户号 (prefix) or customer name.")
    inspector: int | None = Field(None, description="Inspector's user id.")
    source: str = Field("", description="periodic, risk, line_loss, report or manual.")
    status: str = Field("", description="planned, assigned, on_site, completed or cancelled.")
    overdue: bool = Field(False, description="Open tasks due before today only.")
    area: str = Field("", description="Transformer area code (prefix) or name.")
    mine: bool = Field(False, description="Tasks assigned to the caller only.")
    page: int = Field(1, description="Page number, from 1.")
    per_page: int = Field(25, description="Tasks per page (at most 200).")


class TaskCreateIn(Schema):
    account_id: int = Field(..., description="The account to inspect.")
    source: str = Field(..., description="periodic, risk, line_loss, report or manual.")
    due_on: dt.date
    reason: str = Field("", max_length=300)
    risk_score_id: int | None = Field(None, description="The risk score that prompted it (same account).")
    area_loss_id: int | None = Field(None, description="The line-loss area that prompted it.")
    inspector_id: int | None = Field(None, description="Assign at once to this inspector.")


class VersionIn(Schema):
    version: int = Field(..., description="The task version the caller saw.")


class AssignIn(VersionIn):
    inspector_id: int = Field(..., description="A user of the inspector group.")


class OutcomeIn(Schema):
    outcome: str = Field(..., description='pass, fail, na or "".')
    note: str = Field("", max_length=300, description="Required with fail.")


class ChecklistIn(VersionIn):
    outcomes: dict[str, OutcomeIn] = Field(..., description="By item code; items not named are kept.")


class FindingIn(Schema):
    kind: str = Field(..., description="theft, violation, safety, quality or other.")
    description: str = Field(..., max_length=4000)
    theft_method: str = Field("", description="With theft: hookup, bypass, seal, damage, inaccurate, other.")
    violation_kind: str = Field(
        "",
        description="With violation: tariff_misuse, excess_capacity, sealed_equipment, meter_tampering, "
        "source_connection.",
    )


class CompleteIn(VersionIn):
    result: str = Field(..., description="normal, defect, violation or theft.")
    notes: str = Field("", max_length=4000)


class CancelIn(VersionIn):
    reason: str = Field(..., max_length=4000)


class PlanOut(Schema):
    id: int
    number: str = Field(..., description="JH<yyyymmdd><nnn>.")
    name: str
    kind: str = Field(..., description="periodic or targeted.")
    source: str
    period_start: dt.date
    period_end: dt.date
    criteria: dict[str, Any]
    tasks: int
    open: int
    completed: int
    created_by: str
    created_at: dt.datetime


class PeriodicPlanIn(Schema):
    period_start: dt.date
    period_end: dt.date
    name: str | None = Field(None, max_length=100)


class TargetedPlanIn(Schema):
    source: str = Field(..., description="risk or line_loss.")
    top: int = Field(20, description="At most this many tasks (1–500).")
    due_on: dt.date
    name: str | None = Field(None, max_length=100)


# ---- output helpers -------------------------------------------------------------------------


def _photo_out(photo: FindingPhoto) -> dict[str, Any]:
    return {
        "id": photo.pk,
        "name": photo.name,
        "content_type": photo.content_type,
        "size": photo.size,
        "url": reverse("inspection:photo", args=[photo.pk]),
        "uploaded_by": photo.uploaded_by,
        "uploaded_at": photo.uploaded_at,
    }


def task_out(task: InspectionTask, today: dt.date | None = None) -> dict[str, Any]:
    today = today or timezone.localdate()
    open_ = task.status in ("planned", "assigned", "on_site")
    return {
        "id": task.pk,
        "number": task.number,
        "status": task.status,
        "source": task.source,
        "account_id": task.account_id,
        "account_number": task.account.number,
        "customer_name": task.account.customer.name,
        "transformer_code": task.account.service_point.transformer.code,
        "reason": task.reason,
        "risk_score_id": task.risk_score_id,
        "area_loss_id": task.area_loss_id,
        "plan": task.plan.number if task.plan_id and task.plan else "",
        "inspector": task.inspector.get_username() if task.inspector else "",
        "inspector_id": task.inspector_id,
        "due_on": task.due_on,
        "overdue": open_ and task.due_on < today,
        "started_at": task.started_at,
        "completed_at": task.completed_at,
        "result": task.result,
        "result_notes": task.result_notes,
        "version": task.version,
        "created_by": task.created_by,
        "created_at": task.created_at,
    }


def task_detail_out(task: InspectionTask) -> dict[str, Any]:
    return {
        **task_out(task),
        "checklist": [
            {
                "section": i.section,
                "code": i.code,
                "label": label_of(i.code),
                "outcome": i.outcome,
                "note": i.note,
            }
            for i in task.checklist.order_by("position")
        ],
        "findings": [
            {
                "id": f.pk,
                "kind": f.kind,
                "theft_method": f.theft_method,
                "violation_kind": f.violation_kind,
                "description": f.description,
                "recorded_by": f.recorded_by,
                "recorded_at": f.recorded_at,
                "photos": [_photo_out(p) for p in f.photos.all()],
            }
            for f in task_findings(task)
        ],
    }


def _detail(user: Any, task_id: int) -> dict[str, Any]:
    return task_detail_out(task_get(user=user, task_id=task_id))


def _step(user: Any, task_id: int, call: Callable[[], Any]) -> Any:
    """Run a versioned step: 409 with the current version and status on a conflict."""
    try:
        call()
    except Conflict as exc:
        now = InspectionTask.objects.filter(pk=task_id).only("version", "status").first()
        return Status(
            409,
            {
                **exc.as_dict(),
                "version": now.version if now else None,
                "status": now.status if now else None,
            },
        )
    return _detail(user, task_id)


def plan_out(plan: InspectionPlan) -> dict[str, Any]:
    return {
        "id": plan.pk,
        "number": plan.number,
        "name": plan.name,
        "kind": plan.kind,
        "source": plan.source,
        "period_start": plan.period_start,
        "period_end": plan.period_end,
        "criteria": plan.criteria,
        "tasks": getattr(plan, "n_tasks", 0),
        "open": getattr(plan, "n_open", 0),
        "completed": getattr(plan, "n_completed", 0),
        "created_by": plan.created_by,
        "created_at": plan.created_at,
    }


# ---- tasks ----------------------------------------------------------------------------------


@router.get("/tasks", response={200: TaskPageOut, **ERRORS}, summary="Search inspection tasks (检查任务)")
def tasks_list(request: HttpRequest, filters: Query[TaskFilters]) -> Any:
    """Tasks matching every filter, by due date, a page at a time."""
    user = request.user
    require_staff_perm(user, VIEW)
    qs = (
        task_search(user=user, **filters.dict(exclude={"page", "per_page"}))
        .select_related("account__customer", "account__service_point__transformer", "inspector", "plan")
        .order_by("due_on", "id")
    )
    page = paginate(request, qs)
    return page_body(page, task_out)


@router.get("/tasks/{task_id}", response={200: TaskDetailOut, **ERRORS}, summary="One inspection task")
def task_detail(request: HttpRequest, task_id: int) -> Any:
    """The task with its checklist and findings (photo URLs are console URLs)."""
    user = request.user
    require_staff_perm(user, VIEW)
    return _detail(user, task_id)


@router.post(
    "/tasks",
    response={201: TaskDetailOut, 409: TaskConflictOut, **ERRORS},
    summary="Create an inspection task",
)
def task_new(request: HttpRequest, payload: TaskCreateIn) -> Any:
    """A task for one account with its checklist. A second open task for the same account and
    source is 409 (code ``open_task_exists``) naming the open one."""
    user = request.user
    require_staff_perm(user, ADD)
    task = task_create(actor=user, **payload.dict())
    return Status(201, _detail(user, task.pk))


@router.post(
    "/tasks/{task_id}/assign",
    response={200: TaskDetailOut, 409: TaskConflictOut, **ERRORS},
    summary="Assign the task to an inspector (派工)",
)
def task_assign_api(request: HttpRequest, task_id: int, payload: AssignIn) -> Any:
    user = request.user
    require_staff_perm(user, CHANGE)
    return _step(
        user,
        task_id,
        lambda: task_assign(
            actor=user, task_id=task_id, version=payload.version, inspector_id=payload.inspector_id
        ),
    )


@router.post(
    "/tasks/{task_id}/start",
    response={200: TaskDetailOut, 409: TaskConflictOut, **ERRORS},
    summary="Start on site (到达现场)",
)
def task_start_api(request: HttpRequest, task_id: int, payload: VersionIn) -> Any:
    """Only the assigned inspector or a manager."""
    user = request.user
    require_staff_perm(user, CHANGE)
    return _step(user, task_id, lambda: task_start(actor=user, task_id=task_id, version=payload.version))


@router.put(
    "/tasks/{task_id}/checklist",
    response={200: TaskDetailOut, 409: TaskConflictOut, **ERRORS},
    summary="Save checklist outcomes",
)
def task_checklist_api(request: HttpRequest, task_id: int, payload: ChecklistIn) -> Any:
    """Outcomes by item code (``pass``, ``fail`` with a note, ``na``, or "" to clear)."""
    user = request.user
    require_staff_perm(user, CHECKLIST)
    outcomes = {code: (o.outcome, o.note) for code, o in payload.outcomes.items()}
    return _step(
        user,
        task_id,
        lambda: task_checklist_save(actor=user, task_id=task_id, version=payload.version, outcomes=outcomes),
    )


@router.post(
    "/tasks/{task_id}/findings",
    response={201: FindingOut, 409: TaskConflictOut, **ERRORS},
    summary="Record a finding (检查发现)",
)
def task_finding_api(request: HttpRequest, task_id: int, payload: FindingIn) -> Any:
    """Theft needs ``theft_method``, a violation ``violation_kind``. Add photos with
    ``POST /findings/{id}/photos``."""
    user = request.user
    require_staff_perm(user, ADD_FINDING)
    finding = finding_record(actor=user, task_id=task_id, **payload.dict())
    return Status(
        201,
        {
            "id": finding.pk,
            "kind": finding.kind,
            "theft_method": finding.theft_method,
            "violation_kind": finding.violation_kind,
            "description": finding.description,
            "recorded_by": finding.recorded_by,
            "recorded_at": finding.recorded_at,
            "photos": [],
        },
    )


@router.post(
    "/findings/{finding_id}/photos",
    response={201: PhotoOut, 409: TaskConflictOut, **ERRORS},
    summary="Upload a photo or file of a finding (multipart)",
)
def finding_photo_api(request: HttpRequest, finding_id: int, file: File[UploadedFile]) -> Any:
    """``multipart/form-data`` with one ``file``: JPEG, PNG, WebP, PDF, MP3, WAV or text, at
    most ``GRIDCARE_ATTACHMENT_MAX_BYTES`` (the work-order attachment rules)."""
    user = request.user
    require_staff_perm(user, ADD_PHOTO)
    photo = finding_photo_add(actor=user, finding_id=finding_id, upload=file)
    return Status(201, _photo_out(photo))


@router.post(
    "/tasks/{task_id}/complete",
    response={200: TaskDetailOut, 409: TaskConflictOut, **ERRORS},
    summary="Complete with the result (检查结论)",
)
def task_complete_api(request: HttpRequest, task_id: int, payload: CompleteIn) -> Any:
    """Every checklist item answered; theft/violation need a matching finding; normal is
    refused while a theft or violation finding exists."""
    user = request.user
    require_staff_perm(user, CHANGE)
    return _step(
        user,
        task_id,
        lambda: task_complete(
            actor=user, task_id=task_id, version=payload.version, result=payload.result, notes=payload.notes
        ),
    )


@router.post(
    "/tasks/{task_id}/cancel",
    response={200: TaskDetailOut, 409: TaskConflictOut, **ERRORS},
    summary="Cancel the task",
)
def task_cancel_api(request: HttpRequest, task_id: int, payload: CancelIn) -> Any:
    user = request.user
    require_staff_perm(user, CHANGE)
    return _step(
        user,
        task_id,
        lambda: task_cancel(actor=user, task_id=task_id, version=payload.version, reason=payload.reason),
    )


# ---- plans ----------------------------------------------------------------------------------


@router.get("/plans", response={200: list[PlanOut], **ERRORS}, summary="Inspection plans (检查计划)")
def plans_list(request: HttpRequest, limit: int = 100) -> Any:
    """The newest plans (at most ``limit``, ≤ 500) with their task counts."""
    user = request.user
    require_staff_perm(user, VIEW_PLAN)
    return [plan_out(p) for p in plans_visible_to(user)[: max(1, min(limit, 500))]]


def _plan(user: Any, plan: InspectionPlan) -> dict[str, Any]:
    return plan_out(plans_visible_to(user).get(pk=plan.pk))


@router.post(
    "/plans/periodic", response={201: PlanOut, **ERRORS}, summary="Create a periodic plan (周期检查计划)"
)
def plan_periodic_api(request: HttpRequest, payload: PeriodicPlanIn) -> Any:
    """Tasks for the accounts due by their cycle in the period."""
    user = request.user
    require_staff_perm(user, ADD_PLAN)
    plan = plan_periodic_create(actor=user, **payload.dict())
    return Status(201, _plan(user, plan))


@router.post(
    "/plans/targeted", response={201: PlanOut, **ERRORS}, summary="Create a targeted plan (专项检查计划)"
)
def plan_targeted_api(request: HttpRequest, payload: TargetedPlanIn) -> Any:
    """From the latest finished scoring run (``risk``) or line-loss run (``line_loss``)."""
    user = request.user
    require_staff_perm(user, ADD_PLAN)
    plan = plan_targeted_create(actor=user, **payload.dict())
    return Status(201, _plan(user, plan))
