"""Reads of inspection plans and tasks: the board, one task with what its page needs, the
checklist by section, findings with photos, a photo, the plans with task counts, the
inspectors. Every read checks the caller's permission (``staff_has_perm``); a caller without
it sees nothing (``NotFound`` for one object, never "exists but forbidden")."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from gridcare.core.errors import NotFound
from gridcare.core.roles import INSPECTOR, staff_has_perm
from gridcare.inspection.choices import (
    OPEN_TASK_STATUSES,
    ChecklistSection,
    FindingKind,
    TaskStatus,
)
from gridcare.inspection.engine.checklist import SECTIONS, label_of
from gridcare.inspection.models import ChecklistItem, Finding, FindingPhoto, InspectionPlan, InspectionTask

VIEW = "inspection.view_inspectiontask"
VIEW_PLAN = "inspection.view_inspectionplan"
VIEW_PHOTO = "inspection.view_findingphoto"
RECENT_DAYS = 14
COLUMN_LIMIT = 50
BOARD_COLUMNS = (TaskStatus.PLANNED, TaskStatus.ASSIGNED, TaskStatus.ON_SITE, TaskStatus.COMPLETED)


def tasks_visible_to(user: Any) -> QuerySet[InspectionTask]:
    """Every task for staff with ``view_inspectiontask``; none for anyone else."""
    if staff_has_perm(user, VIEW):
        return InspectionTask.objects.all()
    return InspectionTask.objects.none()


def task_search(
    *,
    user: Any,
    q: str = "",
    inspector: int | None = None,
    source: str = "",
    status: str = "",
    overdue: bool = False,
    area: str = "",
    mine: bool = False,
    today: dt.date | None = None,
) -> QuerySet[InspectionTask]:
    """Tasks matching every filter given: ``q`` — task number (prefix), 户号 (prefix) or customer
    name (contains); ``area`` — the transformer area's code (prefix) or name (contains);
    ``overdue`` — open and due before today; ``mine`` — assigned to ``user``."""
    today = today or timezone.localdate()
    qs = tasks_visible_to(user)
    q = (q or "").strip()
    if q:
        qs = qs.filter(
            Q(number__istartswith=q)
            | Q(account__number__startswith=q)
            | Q(account__customer__name__icontains=q)
        )
    if inspector:
        qs = qs.filter(inspector_id=inspector)
    if mine:
        qs = qs.filter(inspector_id=getattr(user, "pk", None))
    if source:
        qs = qs.filter(source=source)
    if status:
        qs = qs.filter(status=status)
    if overdue:
        qs = qs.filter(status__in=OPEN_TASK_STATUSES, due_on__lt=today)
    area = (area or "").strip()
    if area:
        qs = qs.filter(
            Q(account__service_point__transformer__code__istartswith=area)
            | Q(account__service_point__transformer__name__icontains=area)
        )
    return qs


def with_card_fields(qs: QuerySet[InspectionTask]) -> QuerySet[InspectionTask]:
    return qs.select_related("account__customer", "account__service_point__transformer", "inspector")


@dataclass
class Column:
    status: str
    label: str
    count: int
    tasks: list[InspectionTask] = field(default_factory=list)


def task_board(*, user: Any, filters: dict[str, Any], today: dt.date | None = None) -> list[Column]:
    """The board's columns (planned, assigned, on site: every open task by due date; completed:
    the last ``RECENT_DAYS`` days, newest first), each with its count and at most
    ``COLUMN_LIMIT`` cards; ``overdue`` is set on each card."""
    today = today or timezone.localdate()
    filters = {k: v for k, v in filters.items() if k != "status"}
    base = task_search(user=user, today=today, **filters)
    since = timezone.now() - dt.timedelta(days=RECENT_DAYS)
    counts = dict(
        base.filter(
            Q(status__in=OPEN_TASK_STATUSES) | Q(status=TaskStatus.COMPLETED, completed_at__gte=since)
        )
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    columns = []
    labels = dict(TaskStatus.choices)
    for status in BOARD_COLUMNS:
        qs = base.filter(status=status)
        if status == TaskStatus.COMPLETED:
            qs = qs.filter(completed_at__gte=since).order_by("-completed_at", "-id")
        else:
            qs = qs.order_by("due_on", "id")
        cards = list(with_card_fields(qs)[:COLUMN_LIMIT])
        for card in cards:
            card.overdue = card.status in OPEN_TASK_STATUSES and card.due_on < today  # type: ignore[attr-defined]
        columns.append(
            Column(status=status, label=str(labels[status]), count=counts.get(status, 0), tasks=cards)
        )
    return columns


def task_get(*, user: Any, task_id: int) -> InspectionTask:
    """One task ``user`` may see with its account, customer, area, inspector, plan, risk score
    and line-loss area loaded; NotFound otherwise."""
    task = (
        tasks_visible_to(user)
        .select_related(
            "account__customer",
            "account__service_point__transformer",
            "inspector",
            "plan",
            "risk_score__run",
            "area_loss__run",
            "area_loss__transformer",
        )
        .filter(pk=task_id)
        .first()
    )
    if task is None:
        raise NotFound()
    return task


@dataclass
class ChecklistLine:
    item: ChecklistItem
    label: str


@dataclass
class ChecklistSectionView:
    code: str
    label: str
    lines: list[ChecklistLine]


def task_checklist(task: InspectionTask) -> list[ChecklistSectionView]:
    """The task's checklist by section, in form order (labels in English: translate at render)."""
    labels = dict(ChecklistSection.choices)
    by_section: dict[str, list[ChecklistLine]] = {}
    for item in task.checklist.order_by("position"):
        by_section.setdefault(item.section, []).append(ChecklistLine(item=item, label=label_of(item.code)))
    return [
        ChecklistSectionView(code=code, label=str(labels.get(code, code)), lines=by_section[code])
        for code in SECTIONS
        if code in by_section
    ]


def task_findings(task: InspectionTask) -> list[Finding]:
    return list(task.findings.prefetch_related("photos").order_by("recorded_at", "id"))


def task_has_case_finding(task: InspectionTask) -> bool:
    return task.findings.filter(kind__in=[FindingKind.THEFT, FindingKind.VIOLATION]).exists()


def photo_get(*, user: Any, photo_id: int) -> FindingPhoto:
    """A finding photo for staff allowed to see photos and tasks; NotFound otherwise."""
    if not (staff_has_perm(user, VIEW_PHOTO) and staff_has_perm(user, VIEW)):
        raise NotFound()
    photo = FindingPhoto.objects.filter(pk=photo_id).select_related("finding").first()
    if photo is None:
        raise NotFound()
    return photo


def plans_visible_to(user: Any) -> QuerySet[InspectionPlan]:
    """Plans with their task counts (``n_tasks``, ``n_open``, ``n_completed``), newest first."""
    if not staff_has_perm(user, VIEW_PLAN):
        return InspectionPlan.objects.none()
    return InspectionPlan.objects.annotate(
        n_tasks=Count("tasks"),
        n_open=Count("tasks", filter=Q(tasks__status__in=OPEN_TASK_STATUSES)),
        n_completed=Count("tasks", filter=Q(tasks__status=TaskStatus.COMPLETED)),
    ).order_by("-created_at", "-id")


def inspectors() -> list[Any]:
    """Active users of the inspector group, by user name."""
    return list(
        get_user_model()
        .objects.filter(is_active=True, groups__name=INSPECTOR)
        .distinct()
        .order_by("username")
    )
