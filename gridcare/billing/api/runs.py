"""Billing API: runs (see docs/billing-runs.md), mounted at ``/api/billing``.

Staff only; each endpoint checks its permission (migration billing/0003_roles): reading
runs ``billing.view_billingrun``, starting ``add_billingrun``, issuing
``change_billingrun``, releasing a hold ``change_billinghold``, deciding a review flag
``change_billreview``. Portal customers are always refused (403)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.db import transaction
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from gridcare.billing.models import BillingHold, BillingRun, BillReview
from gridcare.billing.reasons import reason_text
from gridcare.billing.selectors.runs import billing_run_get, billing_runs, run_holds, run_reviews
from gridcare.billing.services.runs import (
    bill_review_decide,
    billing_hold_release,
    billing_run_issue,
    billing_run_start,
)
from gridcare.core.errors import NotFound
from gridcare.core.roles import require_staff_perm

router = Router(tags=["billing-runs"])
LIST_LIMIT = 500


class RunOut(Schema):
    id: int
    period: dt.date
    status: str
    scheduler: str
    partitions_total: int
    partitions_done: int
    accounts_selected: int
    accounts_held: int
    bills_written: int
    review_flags: int
    total_amount: Decimal
    error: str
    created_by: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    issued_at: dt.datetime | None


class RunIn(Schema):
    period: str
    scheduler: str = ""


class IssueOut(Schema):
    issued: int
    run: RunOut


class HoldOut(Schema):
    id: int
    account_number: str
    reason: str = Field(..., description="The reason as stored (English, stable: match on this).")
    reason_label: str = Field(..., description="The reason as shown, in the request's language.")
    status: str


class ReviewOut(Schema):
    id: int
    bill_number: str
    account_number: str
    amount: Decimal
    kwh: Decimal
    rule: str
    detail: str = Field(..., description="The detail as stored (English, stable).")
    detail_label: str = Field(..., description="The detail as shown, in the request's language.")
    status: str


class DecisionIn(Schema):
    decision: Literal["approve", "send_back"]
    note: str = ""


class ReleaseIn(Schema):
    note: str = ""


def _run(request: HttpRequest, run_id: int) -> BillingRun:
    run = billing_run_get(user=request.user, run_id=run_id)
    if run is None:
        raise NotFound()
    return run


def _hold_out(hold: BillingHold) -> dict[str, Any]:
    return {
        "id": hold.pk,
        "account_number": hold.account.number,
        "reason": hold.reason,
        "reason_label": reason_text(hold.reason),
        "status": hold.status,
    }


def _review_out(review: BillReview) -> dict[str, Any]:
    bill = review.bill
    return {
        "id": review.pk,
        "bill_number": bill.number,
        "account_number": bill.account.number,
        "amount": bill.amount,
        "kwh": bill.kwh,
        "rule": review.rule,
        "detail": review.detail,
        "detail_label": reason_text(review.detail),
        "status": review.status,
    }


@router.get("/runs", response=list[RunOut], summary="Billing runs, newest period first")
def runs_list(request: HttpRequest) -> list[BillingRun]:
    require_staff_perm(request.user, "billing.view_billingrun")
    return list(billing_runs(request.user)[:LIST_LIMIT])


@router.post("/runs", response={202: RunOut}, summary="Start (or resume) the run of a month (计费)")
def runs_start(request: HttpRequest, payload: RunIn) -> Status:
    require_staff_perm(request.user, "billing.view_billingrun", "billing.add_billingrun")
    from gridcare.billing.tasks.runs import billing_run_task

    with transaction.atomic():
        run = billing_run_start(period=payload.period, actor=request.user, scheduler=payload.scheduler)
        pk, scheduler = run.pk, run.scheduler
        transaction.on_commit(lambda: billing_run_task.enqueue(run_id=pk, scheduler=scheduler))
    return Status(202, run)


@router.get("/runs/{int:run_id}", response=RunOut, summary="One run and its progress")
def runs_detail(request: HttpRequest, run_id: int) -> BillingRun:
    require_staff_perm(request.user, "billing.view_billingrun")
    return _run(request, run_id)


@router.post(
    "/runs/{int:run_id}/issue", response=IssueOut, summary="Issue the run's reviewed draft bills (发行)"
)
def runs_issue(request: HttpRequest, run_id: int) -> dict[str, Any]:
    require_staff_perm(request.user, "billing.view_billingrun", "billing.change_billingrun")
    run = _run(request, run_id)
    issued = billing_run_issue(run_id=run.pk, actor=request.user)
    run.refresh_from_db()
    return {"issued": issued, "run": run}


@router.get("/runs/{int:run_id}/holds", response=list[HoldOut], summary="Held accounts of a run (暂缓计费)")
def runs_holds(request: HttpRequest, run_id: int) -> list[dict[str, Any]]:
    require_staff_perm(request.user, "billing.view_billingrun", "billing.view_billinghold")
    run = _run(request, run_id)
    return [_hold_out(h) for h in run_holds(user=request.user, run=run)[:LIST_LIMIT]]


@router.post(
    "/runs/{int:run_id}/holds/{int:hold_id}/release", response=HoldOut, summary="Release a held account"
)
def runs_hold_release(request: HttpRequest, run_id: int, hold_id: int, payload: ReleaseIn) -> dict[str, Any]:
    require_staff_perm(request.user, "billing.view_billingrun", "billing.change_billinghold")
    run = _run(request, run_id)
    if not run_holds(user=request.user, run=run, status="").filter(pk=hold_id).exists():
        raise NotFound()
    hold = billing_hold_release(hold_id=hold_id, actor=request.user, note=payload.note)
    return _hold_out(hold)


@router.get("/runs/{int:run_id}/reviews", response=list[ReviewOut], summary="Open review flags (发行前审核)")
def runs_reviews(request: HttpRequest, run_id: int) -> list[dict[str, Any]]:
    require_staff_perm(request.user, "billing.view_billingrun", "billing.view_billreview")
    run = _run(request, run_id)
    return [_review_out(r) for r in run_reviews(user=request.user, run=run)[:LIST_LIMIT]]


@router.post(
    "/runs/{int:run_id}/reviews/{int:review_id}/decision",
    response=ReviewOut,
    summary="Approve a review flag or send the bill back",
)
def runs_review_decide(
    request: HttpRequest, run_id: int, review_id: int, payload: DecisionIn
) -> dict[str, Any]:
    require_staff_perm(request.user, "billing.view_billingrun", "billing.change_billreview")
    run = _run(request, run_id)
    review = run_reviews(user=request.user, run=run, status="").filter(pk=review_id).first()
    if review is None:
        raise NotFound()
    out = _review_out(review)
    decided = bill_review_decide(
        review_id=review_id, actor=request.user, decision=payload.decision, note=payload.note
    )
    out["status"] = decided.status
    return out
