"""Console of inspection plans and tasks (检查计划, 检查任务): the task board, a new task
(prefilled from the risk list or a line-loss area), the task page (account, reason, assign,
start, the on-site checklist, findings with photos, result, cancel), the plans, and the
permission-checked photo view.

Views stay thin: parse → one selector or service → render. Every step on the task page posts
to the task page with ``action`` and the version the user saw; a colleague first → 409 with
the message, bad input → 422 on the field, not allowed → 403.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from gridcare.core.errors import Conflict, GridCareError, NotFound
from gridcare.core.errors import PermissionDenied as ServicePermissionDenied
from gridcare.core.pagination import paginate
from gridcare.core.permissions import staff_required
from gridcare.core.roles import INSPECTOR, staff_has_perm, user_roles
from gridcare.customers.forms import add_service_error
from gridcare.customers.models import Account
from gridcare.inspection.choices import OPEN_TASK_STATUSES, FindingKind, TaskSource, TaskStatus
from gridcare.inspection.forms_tasks import (
    AssignForm,
    CancelForm,
    ChecklistForm,
    CompleteForm,
    FindingForm,
    PeriodicPlanForm,
    TargetedPlanForm,
    TaskCreateForm,
    TaskFilterForm,
    VersionForm,
)
from gridcare.inspection.models import AreaLoss, InspectionTask, RiskScore
from gridcare.inspection.selectors.tasks import (
    VIEW,
    VIEW_PHOTO,
    VIEW_PLAN,
    photo_get,
    plans_visible_to,
    task_board,
    task_checklist,
    task_findings,
    task_get,
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
    is_manager,
    may_work,
    task_assign,
    task_cancel,
    task_checklist_save,
    task_complete,
    task_create,
    task_start,
)

ADD_PLAN = "inspection.add_inspectionplan"
ADD_CASE = "inspection.add_case"
STATUS_TONES: dict[str, str] = {
    TaskStatus.PLANNED: "muted",
    TaskStatus.ASSIGNED: "info",
    TaskStatus.ON_SITE: "warn",
    TaskStatus.COMPLETED: "ok",
    TaskStatus.CANCELLED: "muted",
}
RESULT_TONES = {"normal": "ok", "defect": "warn", "violation": "danger", "theft": "danger"}


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


# --- the board --------------------------------------------------------------------------------


@staff_required(VIEW)
@require_GET
def tasks_view(request: HttpRequest) -> HttpResponse:
    """检查任务看板: planned / assigned / on site / completed recently, with counts and filters;
    an inspector's board opens on "my tasks" unless asked otherwise."""
    data = request.GET.copy()
    if not data and not is_manager(request.user) and staff_has_perm(request.user, CHANGE):
        data["mine"] = "on"
    form = TaskFilterForm(data)
    columns = task_board(user=request.user, filters=form.filters())
    return render(
        request,
        "inspection/task_board.html",
        {
            "form": form,
            "columns": columns,
            "tones": STATUS_TONES,
            "can_add": staff_has_perm(request.user, ADD),
            "today": timezone.localdate(),
        },
    )


# --- a new task -------------------------------------------------------------------------------


def _why(risk_score_id: int | None, area_loss_id: int | None) -> dict[str, Any]:
    """The risk score or line-loss area that prompted a new task (shown beside the form)."""
    risk = (
        RiskScore.objects.select_related("run", "account").filter(pk=risk_score_id).first()
        if risk_score_id
        else None
    )
    area = (
        AreaLoss.objects.select_related("run", "transformer").filter(pk=area_loss_id).first()
        if area_loss_id
        else None
    )
    return {"risk": risk, "area": area}


@staff_required(VIEW, ADD)
@require_http_methods(["GET", "POST"])
def task_new_view(request: HttpRequest) -> HttpResponse:
    """A task for one account: ``?account=<id>&source=<risk|line_loss|…>&risk_score=<id>&area_loss=<id>``
    prefill the form and show why."""
    status = 200
    error = ""
    existing: InspectionTask | None = None
    if request.method == "POST":
        form = TaskCreateForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            account = Account.objects.filter(number=data["account_number"].strip()).only("pk").first()
            if account is None:
                form.add_error("account_number", _("No account has this number."))
            else:
                try:
                    task = task_create(
                        actor=request.user,
                        account_id=account.pk,
                        source=data["source"],
                        due_on=data["due_on"],
                        reason=data["reason"],
                        risk_score_id=data.get("risk_score"),
                        area_loss_id=data.get("area_loss"),
                        inspector_id=_int(data.get("inspector")),
                    )
                except Conflict as exc:
                    error = str(exc.message)
                    existing = (
                        InspectionTask.objects.filter(
                            account=account, source=data["source"], status__in=OPEN_TASK_STATUSES
                        )
                        .only("pk", "number")
                        .first()
                    )
                    status = 409
                except ServicePermissionDenied as exc:
                    raise PermissionDenied(str(exc.message)) from exc
                except GridCareError as exc:
                    add_service_error(
                        form,
                        exc,
                        {"account_id": "account_number", "due_on": "due_on", "inspector_id": "inspector"},
                    )
                else:
                    messages.success(request, _("Task %(number)s created.") % {"number": task.number})
                    return redirect("inspection:task_detail", task_id=task.pk)
        if status == 200:
            status = 422
        why = _why(_int(request.POST.get("risk_score")), _int(request.POST.get("area_loss")))
    else:
        initial: dict[str, Any] = {}
        account_id = _int(request.GET.get("account"))
        if account_id:
            found = Account.objects.filter(pk=account_id).only("number").first()
            if found is not None:
                initial["account_number"] = found.number
        source = request.GET.get("source", "")
        initial["source"] = source if source in TaskSource.values else TaskSource.MANUAL
        risk_id, area_id = _int(request.GET.get("risk_score")), _int(request.GET.get("area_loss"))
        why = _why(risk_id, area_id)
        if why["risk"] is not None:
            initial["risk_score"] = why["risk"].pk
            initial.setdefault("account_number", why["risk"].account.number)
            initial["reason"] = _("Theft risk %(score).3f, rank %(rank)s") % {
                "score": why["risk"].score,
                "rank": why["risk"].rank,
            }
        if why["area"] is not None:
            initial["area_loss"] = why["area"].pk
            initial["reason"] = _("Suspect in line-loss area %(area)s") % {
                "area": why["area"].transformer.code
            }
        if INSPECTOR in user_roles(request.user):  # an inspector usually goes themselves
            initial["inspector"] = str(request.user.pk)
        form = TaskCreateForm(initial=initial)
    return render(
        request,
        "inspection/task_new.html",
        {"form": form, "why": why, "error": error, "existing": existing},
        status=status,
    )


# --- the task page ----------------------------------------------------------------------------


def _task_or_404(request: HttpRequest, task_id: int) -> InspectionTask:
    try:
        return task_get(user=request.user, task_id=task_id)
    except NotFound as exc:
        raise Http404 from exc


def _render_task(
    request: HttpRequest,
    task: InspectionTask,
    *,
    status: int = 200,
    error: str = "",
    failed: dict[str, forms.Form] | None = None,
) -> HttpResponse:
    user = request.user
    failed = failed or {}
    initial = {"version": task.version}
    sections = task_checklist(task)
    findings = task_findings(task)
    is_open = task.status in OPEN_TASK_STATUSES
    works = may_work(user, task)
    on_site = task.status == TaskStatus.ON_SITE
    can_change = staff_has_perm(user, CHANGE)
    account = task.account
    kept = failed.get("checklist")
    checklist_form = (
        kept if isinstance(kept, ChecklistForm) else ChecklistForm(initial=initial, sections=sections)
    )
    counts = {"total": 0, "answered": 0, "fail": 0}
    for s in sections:
        for line in s.lines:
            counts["total"] += 1
            counts["answered"] += bool(line.item.outcome)
            counts["fail"] += line.item.outcome == "fail"
    context = {
        "task": task,
        "account": account,
        "transformer": account.service_point.transformer,
        "tone": STATUS_TONES.get(task.status, "muted"),
        "result_tone": RESULT_TONES.get(task.result, "muted"),
        "overdue": is_open and task.due_on < timezone.localdate(),
        "customer_url": (
            reverse("customers:detail", args=[account.customer_id])
            if staff_has_perm(user, "customers.view_customer")
            else ""
        ),
        "sections": sections,
        "counts": counts,
        "findings": findings,
        "case_kinds": (FindingKind.THEFT, FindingKind.VIOLATION),
        "can_open_case": staff_has_perm(user, ADD_CASE),
        "error": error,
        "can_assign": can_change
        and (task.status == TaskStatus.PLANNED or (task.status == TaskStatus.ASSIGNED and works)),
        "can_start": can_change and task.status == TaskStatus.ASSIGNED and works,
        "can_checklist": staff_has_perm(user, CHECKLIST) and on_site and works,
        "can_record": staff_has_perm(user, ADD_FINDING) and on_site and works,
        "can_photo": staff_has_perm(user, ADD_PHOTO),
        "can_complete": can_change and on_site and works,
        "can_cancel": can_change
        and is_open
        and (task.status == TaskStatus.PLANNED or works)
        and not findings,
        "assign_form": failed.get("assign")
        or AssignForm(initial={**initial, "inspector": task.inspector_id}),
        "start_form": VersionForm(initial=initial),
        "checklist_form": checklist_form,
        "checklist_rows": checklist_form.rows(),
        "finding_form": failed.get("finding") or FindingForm(),
        "complete_form": failed.get("complete") or CompleteForm(initial=initial),
        "cancel_form": failed.get("cancel") or CancelForm(initial=initial),
    }
    return render(request, "inspection/task_detail.html", context, status=status)


def _fresh_version(form: forms.Form, version: int) -> forms.Form:
    """The failed form with the current version, so sending again is a deliberate choice."""
    data = form.data.copy()  # type: ignore[attr-defined]
    data[form.add_prefix("version")] = str(version)
    form.data = data
    return form


def _post_step(request: HttpRequest, task: InspectionTask, action: str) -> HttpResponse:
    """Run one step; success → redirect, errors → the page with the form kept."""
    user = request.user
    form: forms.Form
    if action == "assign":
        form = AssignForm(request.POST)
    elif action == "start":
        form = VersionForm(request.POST)
    elif action == "checklist":
        form = ChecklistForm(request.POST, sections=task_checklist(task))
    elif action == "finding":
        form = FindingForm(request.POST, request.FILES)
    elif action == "complete":
        form = CompleteForm(request.POST)
    elif action == "cancel":
        form = CancelForm(request.POST)
    else:
        raise Http404
    if not form.is_valid():
        return _render_task(request, task, status=422, failed={action: form})
    data = form.cleaned_data
    try:
        if action == "assign":
            task_assign(
                actor=user, task_id=task.pk, version=data["version"], inspector_id=int(data["inspector"])
            )
            done = _("Task assigned.")
        elif action == "start":
            task_start(actor=user, task_id=task.pk, version=data["version"])
            done = _("On site: the inspection has started.")
        elif action == "checklist":
            outcomes = form.outcomes() if isinstance(form, ChecklistForm) else {}
            task_checklist_save(actor=user, task_id=task.pk, version=data["version"], outcomes=outcomes)
            done = _("Checklist saved.")
        elif action == "finding":
            finding = finding_record(
                actor=user,
                task_id=task.pk,
                kind=data["kind"],
                description=data["description"],
                theft_method=data.get("theft_method") or "",
                violation_kind=data.get("violation_kind") or "",
            )
            for upload in data.get("photos") or []:
                finding_photo_add(actor=user, finding_id=finding.pk, upload=upload)
            done = _("Finding recorded.")
        elif action == "complete":
            task_complete(
                actor=user,
                task_id=task.pk,
                version=data["version"],
                result=data["result"],
                notes=data["notes"],
            )
            done = _("Task completed.")
        else:
            task_cancel(actor=user, task_id=task.pk, version=data["version"], reason=data["reason"])
            done = _("Task cancelled.")
    except Conflict as exc:
        fresh = _task_or_404(request, task.pk)
        kept = _fresh_version(form, fresh.version) if "version" in form.fields else form
        return _render_task(request, fresh, status=409, error=str(exc.message), failed={action: kept})
    except ServicePermissionDenied as exc:
        raise PermissionDenied(str(exc.message)) from exc
    except NotFound as exc:
        raise Http404 from exc
    except GridCareError as exc:
        if exc.field and f"o_{exc.field}" in form.fields:
            form.add_error(f"o_{exc.field}", str(exc.message))
        else:
            add_service_error(
                form,
                exc,
                {"inspector_id": "inspector", "notes": "notes", "file": "photos", "checklist": "result"},
            )
        return _render_task(request, _task_or_404(request, task.pk), status=422, failed={action: form})
    messages.success(request, done)
    return redirect("inspection:task_detail", task_id=task.pk)


@staff_required(VIEW)
@require_http_methods(["GET", "POST"])
def task_detail_view(request: HttpRequest, task_id: int) -> HttpResponse:
    """检查任务: the account and why, assign, start on site, the checklist, findings with photos,
    the result; POST ``action`` = assign | start | checklist | finding | complete | cancel."""
    task = _task_or_404(request, task_id)
    if request.method == "POST":
        return _post_step(request, task, request.POST.get("action", ""))
    return _render_task(request, task)


# --- photos -----------------------------------------------------------------------------------


@staff_required(VIEW, VIEW_PHOTO)  # type: ignore[arg-type]
@require_GET
def photo_view(request: HttpRequest, photo_id: int) -> FileResponse:
    """A finding's photo or file, inline, for staff who may see tasks and photos (never a
    public URL)."""
    try:
        photo = photo_get(user=request.user, photo_id=photo_id)
    except NotFound as exc:
        raise Http404 from exc
    try:
        handle = photo.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    response = FileResponse(handle, as_attachment=False, filename=photo.name, content_type=photo.content_type)
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


# --- plans ------------------------------------------------------------------------------------


@staff_required(VIEW_PLAN)
@require_http_methods(["GET", "POST"])
def plans_view(request: HttpRequest) -> HttpResponse:
    """检查计划: the plans with their task counts; forms for a periodic and a targeted plan
    (POST ``action`` = periodic | targeted)."""
    today = timezone.localdate()
    periodic = PeriodicPlanForm(
        initial={"period_start": today.replace(day=1), "period_end": _quarter_end(today)}, prefix="periodic"
    )
    targeted = TargetedPlanForm(initial={"due_on": today + dt.timedelta(days=14)}, prefix="targeted")
    status = 200
    if request.method == "POST":
        if not staff_has_perm(request.user, ADD_PLAN):
            raise PermissionDenied
        action = request.POST.get("action", "")
        form: forms.Form
        if action == "periodic":
            form = periodic = PeriodicPlanForm(request.POST, prefix="periodic")
        elif action == "targeted":
            form = targeted = TargetedPlanForm(request.POST, prefix="targeted")
        else:
            raise Http404
        if form.is_valid():
            data = form.cleaned_data
            try:
                if action == "periodic":
                    plan = plan_periodic_create(
                        actor=request.user,
                        period_start=data["period_start"],
                        period_end=data["period_end"],
                        name=data["name"],
                    )
                else:
                    plan = plan_targeted_create(
                        actor=request.user,
                        source=data["source"],
                        top=data["top"],
                        due_on=data["due_on"],
                        name=data["name"],
                    )
            except ServicePermissionDenied as exc:
                raise PermissionDenied(str(exc.message)) from exc
            except GridCareError as exc:
                add_service_error(form, exc)
            else:
                messages.success(
                    request,
                    _("Plan %(number)s created with %(n)s task(s).")
                    % {"number": plan.number, "n": plan.tasks.count()},
                )
                return redirect("inspection:plans")
        status = 422
    page = paginate(request, plans_visible_to(request.user))
    return render(
        request,
        "inspection/plan_list.html",
        {
            "page": page,
            "periodic_form": periodic,
            "targeted_form": targeted,
            "can_add": staff_has_perm(request.user, ADD_PLAN),
        },
        status=status,
    )


def _quarter_end(day: dt.date) -> dt.date:
    month = ((day.month - 1) // 3 + 1) * 3
    nxt = dt.date(day.year + (month == 12), month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


urlpatterns: list[URLPattern] = [
    path("tasks/", tasks_view, name="tasks"),
    path("tasks/new/", task_new_view, name="task_new"),
    path("tasks/<int:task_id>/", task_detail_view, name="task_detail"),
    path("plans/", plans_view, name="plans"),
    path("photos/<int:photo_id>/", photo_view, name="photo"),
]
