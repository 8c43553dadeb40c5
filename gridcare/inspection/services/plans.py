"""Inspection plans (检查计划): periodic ones from the cycles (周期检查) and targeted ones from
the latest theft-risk run or line-loss run (专项检查). A plan writes its tasks at once
(docs/inspection-tasks.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from gridcare.core.audit import actor_label, audit_record
from gridcare.core.errors import ValidationFailed
from gridcare.core.ids import next_number
from gridcare.core.roles import require_actor_perm
from gridcare.customers.choices import AccountStatus
from gridcare.customers.models import Account
from gridcare.inspection.choices import (
    OPEN_TASK_STATUSES,
    PlanKind,
    RunStatus,
    TaskSource,
    TaskStatus,
)
from gridcare.inspection.engine.cycles import Cycle, due_accounts, rules_in_force
from gridcare.inspection.models import (
    AreaLoss,
    InspectionCycle,
    InspectionPlan,
    InspectionTask,
    LineLossRun,
    RiskScore,
    ScoringRun,
)
from gridcare.inspection.services.tasks import Actor, TaskSpec, tasks_bulk_create

ADD_PLAN = "inspection.add_inspectionplan"
ADD_TASK = "inspection.add_inspectiontask"
PLAN_PREFIX = "JH"
SUSPECTS_PER_AREA = 3
TOP_MAX = 500
NAME_MAX = 100


def plan_number(day: dt.date | None = None) -> str:
    """``JH<yyyymmdd><nnn>`` (the sequence restarts each day)."""
    day = day or timezone.localdate()
    return f"{PLAN_PREFIX}{day:%Y%m%d}{next_number(f'inspection.plan.{day:%Y%m%d}'):03d}"


def _name(name: str | None, default: str) -> str:
    name = (name or "").strip() or default
    if len(name) > NAME_MAX:
        raise ValidationFailed(_("The name is longer than 100 characters."), field="name")
    return name


def _open_accounts(source: str, account_ids: list[int]) -> set[int]:
    """The accounts among ``account_ids`` with an open task of ``source``, read after locking
    the accounts (in id order), as ``task_create`` does: a task created for one of them at the
    same moment waits for this plan and then sees its task."""
    list(
        Account.objects.select_for_update()
        .filter(pk__in=account_ids)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return set(
        InspectionTask.objects.filter(
            source=source, status__in=OPEN_TASK_STATUSES, account_id__in=account_ids
        ).values_list("account_id", flat=True)
    )


def cycles_in_force(on: dt.date) -> list[Cycle]:
    rows = InspectionCycle.objects.values_list(
        "importance", "voltage_level", "interval_months", "effective_from"
    )
    return rules_in_force([Cycle(*row) for row in rows], on)


def periodic_candidates(*, period_start: dt.date, period_end: dt.date) -> pl.DataFrame:
    """The accounts due by their cycle in the period (``engine.cycles.due_accounts``): important
    users and the voltage levels a cycle names, not closed; the last inspection is the day the
    latest completed task of any source was completed."""
    rules = cycles_in_force(period_start)
    levels = [c.importance for c in rules if c.importance and not c.voltage_level]
    voltages = [c.voltage_level for c in rules if c.voltage_level and not c.importance]
    accounts = Account.objects.exclude(status=AccountStatus.CLOSED).filter(
        Q(importance__in=levels) | Q(voltage_level__in=voltages)
    )
    rows = list(accounts.values_list("pk", "importance", "voltage_level", "opened_on"))
    frame = pl.DataFrame(
        rows,
        schema={
            "account_id": pl.Int64,
            "importance": pl.String,
            "voltage_level": pl.String,
            "opened_on": pl.Date,
        },
        orient="row",
    )
    tz = ZoneInfo(settings.TIME_ZONE)
    last = list(
        InspectionTask.objects.filter(status=TaskStatus.COMPLETED, account__in=accounts)
        .values("account_id")
        .annotate(last=Max(TruncDate("completed_at", tzinfo=tz)))
        .values_list("account_id", "last")
    )
    last_frame = pl.DataFrame(last, schema={"account_id": pl.Int64, "last_inspected": pl.Date}, orient="row")
    frame = frame.join(last_frame, on="account_id", how="left")
    return due_accounts(frame, rules, period_start=period_start, period_end=period_end)


@transaction.atomic
def plan_periodic_create(
    *, actor: Actor, period_start: dt.date, period_end: dt.date, name: str | None = None
) -> InspectionPlan:
    """周期检查计划: one task for every account due by its cycle in the period (due on its due
    date, or the period start when overdue), skipping accounts that already have an open
    periodic task."""
    require_actor_perm(actor, ADD_PLAN)
    require_actor_perm(actor, ADD_TASK)
    if not isinstance(period_start, dt.date) or not isinstance(period_end, dt.date):
        raise ValidationFailed(_("Enter a date as YYYY-MM-DD."), field="period_start")
    if period_end < period_start:
        raise ValidationFailed(_("The period ends before it starts."), field="period_end")
    if (period_end - period_start).days > 366:
        raise ValidationFailed(_("A plan covers at most one year."), field="period_end")
    name = _name(
        name, _("Periodic inspection %(start)s – %(end)s") % {"start": period_start, "end": period_end}
    )
    due = periodic_candidates(period_start=period_start, period_end=period_end)
    ids = due["account_id"].to_list()
    busy = _open_accounts(TaskSource.PERIODIC, ids)
    due = due.filter(~pl.col("account_id").is_in(list(busy)))
    accounts = Account.objects.in_bulk(due["account_id"].to_list())
    rules = cycles_in_force(period_start)
    plan = InspectionPlan.objects.create(
        number=plan_number(),
        name=name,
        kind=PlanKind.PERIODIC,
        source=TaskSource.PERIODIC,
        period_start=period_start,
        period_end=period_end,
        criteria={
            "rules": [
                {"importance": c.importance, "voltage_level": c.voltage_level, "months": c.interval_months}
                for c in rules
            ],
            "due": len(ids),
            "skipped_open": len(busy),
        },
        created_by=actor_label(actor)[:150],
        created_at=timezone.now(),
    )
    specs = [
        TaskSpec(
            account=accounts[row["account_id"]],
            source=TaskSource.PERIODIC,
            due_on=row["due_on"],
            reason=(
                _("Periodic: every %(months)s months, due %(due)s (overdue)")
                if row["overdue"]
                else _("Periodic: every %(months)s months, due %(due)s")
            )
            % {"months": row["interval_months"], "due": row["due"]},
        )
        for row in due.iter_rows(named=True)
    ]
    tasks = tasks_bulk_create(actor=actor, specs=specs, plan=plan)
    audit_record(
        actor=actor,
        obj=plan,
        action="inspection.plan_create",
        after={"kind": plan.kind, "tasks": len(tasks), **plan.criteria},
    )
    return plan


def _risk_specs(top: int, due_on: dt.date) -> tuple[dict[str, Any], list[TaskSpec]]:
    run = ScoringRun.objects.filter(status=RunStatus.DONE).order_by("-started_at", "-id").first()
    if run is None:
        raise ValidationFailed(_("No finished theft-risk scoring run yet."), field="source")
    ranked = RiskScore.objects.filter(run=run, flagged=True).select_related("account").order_by("rank", "id")
    specs: list[TaskSpec] = []
    skipped = offset = 0
    # Down the ranking a window at a time until ``top`` accounts are found: a skipped account
    # (an open risk task, or closed) lets the next one move up, however far down it is.
    while len(specs) < top:
        scores = list(ranked[offset : offset + top * 3])
        if not scores:
            break
        offset += len(scores)
        busy = _open_accounts(TaskSource.RISK, [s.account_id for s in scores])
        skipped += len(busy)
        for score in scores:
            if len(specs) >= top:
                break
            if score.account_id in busy or score.account.status == AccountStatus.CLOSED:
                continue
            specs.append(
                TaskSpec(
                    account=score.account,
                    source=TaskSource.RISK,
                    due_on=due_on,
                    reason=_("Theft risk %(score).3f, rank %(rank)s in the run of %(day)s")
                    % {"score": score.score, "rank": score.rank, "day": run.window_end},
                    risk_score_id=score.pk,
                )
            )
    criteria = {
        "run": run.pk,
        "window_end": run.window_end.isoformat(),
        "top": top,
        "skipped_open": skipped,
    }
    return criteria, specs


def suspect_account_ids(area: AreaLoss, limit: int = SUSPECTS_PER_AREA) -> list[int]:
    """The first ``limit`` ranked customers of an area (``AreaLoss.suspects``: a list of
    objects with ``account_id``, best first, or with a ``rank``)."""
    suspects = [s for s in (area.suspects or []) if isinstance(s, dict) and s.get("account_id") is not None]
    if suspects and all("rank" in s for s in suspects):
        suspects.sort(key=lambda s: s["rank"])
    ids: list[int] = []
    for s in suspects:
        try:
            value = int(s["account_id"])
        except (TypeError, ValueError):
            continue
        if value not in ids:
            ids.append(value)
    return ids[:limit]


def _line_loss_specs(top: int, due_on: dt.date) -> tuple[dict[str, Any], list[TaskSpec]]:
    run = LineLossRun.objects.filter(status=RunStatus.DONE).order_by("-started_at", "-id").first()
    if run is None:
        raise ValidationFailed(_("No finished line-loss run yet."), field="source")
    areas = list(
        AreaLoss.objects.filter(run=run, flagged=True)
        .select_related("transformer")
        .order_by("-recent_rate_pct", "-loss_rate_pct", "id")
    )
    wanted = [(area, account_id) for area in areas for account_id in suspect_account_ids(area)]
    ids = [a for _area, a in wanted]
    accounts = Account.objects.in_bulk(ids)
    busy = _open_accounts(TaskSource.LINE_LOSS, ids)
    specs: list[TaskSpec] = []
    seen: set[int] = set()
    for area, account_id in wanted:
        if len(specs) >= top:
            break
        account = accounts.get(account_id)
        if (
            account is None
            or account_id in busy
            or account_id in seen
            or account.status == AccountStatus.CLOSED
        ):
            continue
        seen.add(account_id)
        specs.append(
            TaskSpec(
                account=account,
                source=TaskSource.LINE_LOSS,
                due_on=due_on,
                reason=_("Suspect in area %(area)s: loss rate %(rate)s%%")
                % {"area": area.transformer.code, "rate": area.recent_rate_pct or area.loss_rate_pct},
                area_loss_id=area.pk,
            )
        )
    criteria = {
        "run": run.pk,
        "window_end": run.window_end.isoformat(),
        "top": top,
        "areas": len(areas),
        "skipped_open": len(busy),
    }
    return criteria, specs


@transaction.atomic
def plan_targeted_create(
    *, actor: Actor, source: str, top: int = 20, due_on: dt.date, name: str | None = None
) -> InspectionPlan:
    """专项检查计划 from the latest finished run: ``source="risk"`` — the ``top`` flagged risk
    scores by rank; ``source="line_loss"`` — the first 3 ranked customers of every flagged area
    (areas by recent loss rate), at most ``top`` tasks. Accounts with an open task of the same
    source are skipped. Tasks link their risk score or area."""
    require_actor_perm(actor, ADD_PLAN)
    require_actor_perm(actor, ADD_TASK)
    if source not in (TaskSource.RISK, TaskSource.LINE_LOSS):
        raise ValidationFailed(_("Choose the risk list or the line-loss list."), field="source")
    if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= TOP_MAX:
        raise ValidationFailed(_("Give a number of tasks from 1 to 500."), field="top")
    today = timezone.localdate()
    if not isinstance(due_on, dt.date) or due_on < today:
        raise ValidationFailed(_("The due date is in the past."), field="due_on")
    if source == TaskSource.RISK:
        criteria, specs = _risk_specs(top, due_on)
        default = _("Targeted: theft risk list %(day)s") % {"day": today}
    else:
        criteria, specs = _line_loss_specs(top, due_on)
        default = _("Targeted: line-loss areas %(day)s") % {"day": today}
    plan = InspectionPlan.objects.create(
        number=plan_number(today),
        name=_name(name, default),
        kind=PlanKind.TARGETED,
        source=source,
        period_start=today,
        period_end=due_on,
        criteria=criteria,
        created_by=actor_label(actor)[:150],
        created_at=timezone.now(),
    )
    tasks = tasks_bulk_create(actor=actor, specs=specs, plan=plan)
    audit_record(
        actor=actor,
        obj=plan,
        action="inspection.plan_create",
        after={"kind": plan.kind, "source": source, "tasks": len(tasks), **criteria},
    )
    return plan
