"""Billing console: runs (计费). The run list (the billing nav entry, ``billing:runs``) with
"start a run", and the job page of a run: a polled progress bar, the held accounts with a
release action, the review flags with approve / send back, and the issue button."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from gridcare.billing.choices import RunStatus
from gridcare.billing.models import BillingRun
from gridcare.billing.reasons import reason_text
from gridcare.billing.selectors.runs import billing_run_get, billing_runs, run_holds, run_reviews
from gridcare.billing.services.runs import (
    bill_review_decide,
    billing_hold_release,
    billing_run_issue,
    billing_run_start,
)
from gridcare.core.errors import GridCareError
from gridcare.core.pagination import paginate
from gridcare.core.permissions import staff_required

POLL_MS = 2000
RUN_BADGES: dict[str, str] = {
    RunStatus.PENDING: "muted",
    RunStatus.RUNNING: "info",
    RunStatus.REVIEW: "warning",
    RunStatus.ISSUED: "success",
    RunStatus.FAILED: "danger",
}


def _enqueue(run: BillingRun) -> None:
    from gridcare.billing.tasks.runs import billing_run_task

    pk, scheduler = run.pk, run.scheduler
    transaction.on_commit(lambda: billing_run_task.enqueue(run_id=pk, scheduler=scheduler))


@staff_required("billing.view_billingrun")
@require_http_methods(["GET", "POST"])
def runs_view(request: HttpRequest) -> HttpResponse:
    """计费: the runs by period, newest first; a billing clerk starts (or resumes) a month."""
    if request.method == "POST":
        if not request.user.has_perm("billing.add_billingrun"):
            raise PermissionDenied
        try:
            with transaction.atomic():
                run = billing_run_start(period=request.POST.get("period", ""), actor=request.user)
                _enqueue(run)
        except GridCareError as exc:
            messages.error(request, str(exc.message))
            return redirect("billing:runs")
        messages.success(request, _("Run %(period)s started.") % {"period": f"{run.period:%Y-%m}"})
        return redirect("billing:run", pk=run.pk)
    page = paginate(request, billing_runs(request.user))
    for run in page.object_list:
        run.badge = RUN_BADGES.get(run.status, "muted")
    return render(request, "billing/runs_list.html", {"page": page})


def _run(request: HttpRequest, pk: int) -> BillingRun:
    run = billing_run_get(user=request.user, run_id=pk)
    if run is None:
        raise Http404
    return run


def _progress(run: BillingRun) -> dict[str, Any]:
    total = run.partitions_total
    percent = int(run.partitions_done * 100 / total) if total else 0
    if run.status in (RunStatus.REVIEW, RunStatus.ISSUED):
        percent = 100
    return {
        "id": run.pk,
        "status": run.status,
        "status_label": str(RunStatus(run.status).label),
        "partitions_total": total,
        "partitions_done": run.partitions_done,
        "percent": min(percent, 100),
        "bills_written": run.bills_written,
        "accounts_held": run.accounts_held,
        "review_flags": run.review_flags,
        "in_progress": run.status in (RunStatus.PENDING, RunStatus.RUNNING),
        "error": run.error,
        "text": _("%(done)s of %(total)s partitions done (%(percent)d%%), %(bills)s bills written.")
        % {
            "done": f"{run.partitions_done:,}",
            "total": f"{total:,}",
            "percent": min(percent, 100),
            "bills": f"{run.bills_written:,}",
        },
    }


@staff_required("billing.view_billingrun")
@require_GET
def run_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The job page of a run."""
    run = _run(request, pk)
    holds = paginate(request, run_holds(user=request.user, run=run))
    reviews = run_reviews(user=request.user, run=run)[:500]
    return render(
        request,
        "billing/runs_detail.html",
        {
            "run": run,
            "badge": RUN_BADGES.get(run.status, "muted"),
            "progress": _progress(run),
            "holds": holds,
            # reasons and details as stored, in the reader's language
            "hold_rows": [(hold, reason_text(hold.reason)) for hold in holds.object_list],
            "reviews": [(review, reason_text(review.detail)) for review in reviews],
            "can_issue": request.user.has_perm("billing.change_billingrun")
            and run.status in (RunStatus.REVIEW, RunStatus.ISSUED),
            "can_resume": request.user.has_perm("billing.add_billingrun") and run.status == RunStatus.FAILED,
            "poll": {"url": reverse("billing:run_progress", args=[run.pk]), "interval_ms": POLL_MS},
        },
    )


@staff_required("billing.view_billingrun")
@require_GET
def run_progress_view(request: HttpRequest, pk: int) -> JsonResponse:
    """The run's status and counters as JSON, polled by the job page."""
    response = JsonResponse(_progress(_run(request, pk)))
    response["Cache-Control"] = "no-store"
    return response


@staff_required("billing.view_billingrun", "billing.change_billingrun")
@require_POST
def run_issue_view(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run(request, pk)
    try:
        issued = billing_run_issue(run_id=run.pk, actor=request.user)
    except GridCareError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("%(count)s bills issued.") % {"count": f"{issued:,}"})
    return redirect("billing:run", pk=run.pk)


@staff_required("billing.view_billingrun", "billing.change_billinghold")
@require_POST
def hold_release_view(request: HttpRequest, pk: int, hold_id: int) -> HttpResponse:
    run = _run(request, pk)
    if not run_holds(user=request.user, run=run, status="").filter(pk=hold_id).exists():
        raise Http404
    try:
        billing_hold_release(hold_id=hold_id, actor=request.user, note=request.POST.get("note", ""))
    except GridCareError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Hold released: the next run of this period bills the account."))
    return redirect("billing:run", pk=run.pk)


@staff_required("billing.view_billingrun", "billing.change_billreview")
@require_POST
def review_decide_view(request: HttpRequest, pk: int, review_id: int) -> HttpResponse:
    run = _run(request, pk)
    if not run_reviews(user=request.user, run=run, status="").filter(pk=review_id).exists():
        raise Http404
    try:
        bill_review_decide(
            review_id=review_id,
            actor=request.user,
            decision=request.POST.get("decision", ""),
            note=request.POST.get("note", ""),
        )
    except GridCareError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Decision recorded."))
    return redirect("billing:run", pk=run.pk)


@staff_required("billing.view_billingrun", "billing.add_billingrun")
@require_POST
def run_resume_view(request: HttpRequest, pk: int) -> HttpResponse:
    run = _run(request, pk)
    try:
        with transaction.atomic():
            run = billing_run_start(period=run.period, actor=request.user, scheduler=run.scheduler)
            _enqueue(run)
    except GridCareError as exc:
        messages.error(request, str(exc.message))
    return redirect("billing:run", pk=run.pk)


urlpatterns: list[URLPattern] = [
    path("runs/", runs_view, name="runs"),
    path("runs/<int:pk>/", run_detail_view, name="run"),
    path("runs/<int:pk>/progress/", run_progress_view, name="run_progress"),
    path("runs/<int:pk>/issue/", run_issue_view, name="run_issue"),
    path("runs/<int:pk>/resume/", run_resume_view, name="run_resume"),
    path("runs/<int:pk>/holds/<int:hold_id>/release/", hold_release_view, name="run_hold_release"),
    path("runs/<int:pk>/reviews/<int:review_id>/decide/", review_decide_view, name="run_review_decide"),
]
