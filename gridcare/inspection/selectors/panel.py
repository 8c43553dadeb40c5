"""The inspection panel of the customer 360 view (用电检查): the accounts' latest theft risk
score, inspection tasks and cases. Theft suspicions are not for every desk: only users who
may see inspection tasks get the panel (inspectors, their managers, auditors)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gridcare.core.roles import staff_has_perm
from gridcare.inspection.choices import OPEN_TASK_STATUSES, RunStatus
from gridcare.inspection.models import Case, InspectionTask, RiskScore, ScoringRun

PANEL_ROWS = 5
VIEW_PERMISSION = "inspection.view_inspectiontask"


def customer_inspection_panel(*, user: Any, account_ids: Sequence[int]) -> dict[str, Any] | None:
    """None for a user who may not see inspection work; else the latest run's scores of the
    accounts (by account), the tasks (open first) and the cases (newest first)."""
    if not staff_has_perm(user, VIEW_PERMISSION):
        return None
    ids = list(account_ids)
    scores: list[RiskScore] = []
    if staff_has_perm(user, "inspection.view_riskscore"):
        run = ScoringRun.objects.filter(status=RunStatus.DONE).order_by("-started_at").first()
        if run is not None:
            scores = list(
                RiskScore.objects.filter(run=run, account_id__in=ids)
                .select_related("account")
                .order_by("rank")
            )
    tasks = list(
        InspectionTask.objects.filter(account_id__in=ids)
        .select_related("account", "inspector")
        .order_by("-created_at", "-id")[: PANEL_ROWS * 2]
    )
    tasks.sort(key=lambda t: (t.status not in OPEN_TASK_STATUSES,))
    cases: list[Case] = []
    if staff_has_perm(user, "inspection.view_case"):
        cases = list(
            Case.objects.filter(account_id__in=ids)
            .select_related("account")
            .order_by("-created_at")[:PANEL_ROWS]
        )
    return {"scores": scores, "tasks": tasks[:PANEL_ROWS], "cases": cases}
