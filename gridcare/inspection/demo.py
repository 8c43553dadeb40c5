"""The inspection demo (用电检查, 防窃电) on top of the seeded county and its metering demo.

Order matters: the metering demo has injected theft into a few transformer areas (their
thieves' meters record 15–40 % of the use while the 台区总表 keeps the truth), so

1. a theft model is made active (trained on the London benchmark when the shared data is
   there, else on a synthetic population — ``services.scoring.ensure_demo_model``);
2. the line-loss analysis flags those areas and ranks their thieves;
3. the nightly scoring scores every account with readings;
4. a targeted plan from each list, and a periodic plan for the month (important and
   high-voltage users by their cycles);
5. the demo inspector works the first line-loss task: on site, checklist, a theft finding
   (meter bypass), result theft; the theft case is opened with the unknown-period estimate
   and submitted for approval — the marketing manager's inbox has something to approve.

Every step goes through the services as the demo users, so permissions, numbering and the
audit trail are the real ones.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.utils import timezone

from gridcare.core.roles import INSPECTOR, MARKETING_MANAGER
from gridcare.inspection.choices import (
    ChecklistOutcome,
    FindingKind,
    TaskResult,
    TaskSource,
    TheftMethod,
)

Log = Callable[[str], Any]


def _demo_user(role: str) -> Any:
    return get_user_model().objects.filter(groups__name=role, is_active=True).order_by("id").first()


def seed_inspection(*, log: Log = print) -> dict[str, Any]:
    """Run the inspection demo; returns what it made (counts and numbers)."""
    from gridcare.inspection.models import InspectionTask
    from gridcare.inspection.services.cases import case_create, case_prefill, case_submit
    from gridcare.inspection.services.lineloss import line_loss_run
    from gridcare.inspection.services.plans import plan_periodic_create, plan_targeted_create
    from gridcare.inspection.services.scoring import ensure_demo_model, scoring_run
    from gridcare.inspection.services.tasks import (
        finding_record,
        task_assign,
        task_checklist_save,
        task_complete,
        task_start,
    )

    inspector = _demo_user(INSPECTOR)
    manager = _demo_user(MARKETING_MANAGER)
    if inspector is None or manager is None:
        log("  inspection skipped: the demo logins are missing")
        return {}
    out: dict[str, Any] = {}
    started = time.perf_counter()
    artefact = ensure_demo_model(log=log)
    out["model"] = artefact.version

    loss = line_loss_run(actor=manager)
    out["line_loss"] = {"areas": loss.areas, "flagged": loss.flagged, "status": loss.status}
    log(f"  line loss: {loss.areas} areas, {loss.flagged} flagged ({loss.status})")
    run = scoring_run(actor=manager)
    out["scoring"] = {"scored": run.accounts_scored, "flagged": run.flagged, "status": run.status}
    log(f"  theft scoring: {run.accounts_scored} accounts, {run.flagged} above the threshold ({run.status})")

    today = timezone.localdate()
    month_end = (today.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    plans = []
    for source, due in ((TaskSource.LINE_LOSS, 5), (TaskSource.RISK, 10)):
        plan = plan_targeted_create(
            actor=manager, source=source, top=10, due_on=today + dt.timedelta(days=due)
        )
        plans.append(plan)
    periodic = plan_periodic_create(actor=manager, period_start=today.replace(day=1), period_end=month_end)
    plans.append(periodic)
    out["plans"] = {p.number: p.tasks.count() for p in plans}
    log("  plans: " + ", ".join(f"{p.number} {p.name} ({p.tasks.count()} tasks)" for p in plans))

    # the inspector takes the targeted tasks
    targeted = list(InspectionTask.objects.filter(plan__in=plans[:2]).order_by("plan_id", "id"))
    for task in targeted:
        task_assign(actor=manager, task_id=task.id, version=task.version, inspector_id=inspector.id)
    out["assigned"] = len(targeted)

    # and works the first line-loss task through to a theft case awaiting approval
    first = next((t for t in targeted if t.source == TaskSource.LINE_LOSS), None)
    if first is None:
        log(f"  inspection demo: no line-loss task to work ({time.perf_counter() - started:.1f} s)")
        return out
    task = InspectionTask.objects.get(pk=first.id)
    task = task_start(actor=inspector, task_id=task.id, version=task.version)
    problems = {"theft_seals": "封印有撬动痕迹", "theft_bypass": "进线端短接绕越计量"}
    outcomes = {
        item.code: (ChecklistOutcome.FAIL, problems[item.code])
        if item.code in problems
        else (ChecklistOutcome.PASS, "")
        for item in task.checklist.all()
    }
    task = task_checklist_save(actor=inspector, task_id=task.id, version=task.version, outcomes=outcomes)
    finding = finding_record(
        actor=inspector,
        task_id=task.id,
        kind=FindingKind.THEFT,
        theft_method=TheftMethod.BYPASS,
        description="电能表进线端私接短接线,部分负荷绕越计量;封印有撬动痕迹。现场已拍照取证并拆除短接线。",
    )
    task.refresh_from_db()
    task = task_complete(
        actor=inspector,
        task_id=task.id,
        version=task.version,
        result=TaskResult.THEFT,
        notes="台区线损突增与该户电量骤降时间吻合,现场查实绕越计量窃电。",
    )
    prefill = case_prefill(user=inspector, finding_id=finding.id)
    case = case_create(
        actor=inspector,
        kind=prefill.get("kind", "theft"),
        account_id=task.account_id,
        occurred_on=today,
        inputs=prefill.get("inputs", {}),
        task_id=task.id,
        finding_id=finding.id,
        theft_method=TheftMethod.BYPASS,
        user_type=prefill.get("user_type", ""),
        facts=finding.description,
    )
    case = case_submit(actor=inspector, case_id=case.id, version=case.version)
    out["case"] = {"number": case.number, "total": str(case.total), "status": case.status}
    log(
        f"  task {task.number} worked to a theft finding; case {case.number} "
        f"({case.total} yuan) awaits approval — {time.perf_counter() - started:.1f} s"
    )
    return out
