"""Reads of theft and violation cases (窃电/违约用电案件), scoped by the caller's role:
staff holding ``inspection.view_case`` (inspectors, marketing and service managers,
auditors) see every case; anyone else sees none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from gridcare.core.errors import NotFound
from gridcare.core.models import AuditEvent
from gridcare.core.roles import staff_has_perm
from gridcare.inspection.choices import CaseStatus
from gridcare.inspection.models import Case

VIEW = "inspection.view_case"
STATUS_BADGES: dict[str, str] = {
    CaseStatus.DRAFT: "info",
    CaseStatus.SUBMITTED: "warn",
    CaseStatus.APPROVED: "ok",
    CaseStatus.NOTIFIED: "ok",
    CaseStatus.SETTLED: "muted",
    CaseStatus.WITHDRAWN: "danger",
}

__all__ = [
    "CaseFilters",
    "case_actions",
    "case_audit",
    "case_authored_by",
    "case_get",
    "case_search",
    "cases_visible_to",
]
# The audit actions that enter or hand in a case's content (四眼原则).
AUTHOR_ACTIONS = ("inspection.case.create", "inspection.case.update", "inspection.case.submit")


def cases_visible_to(user: Any) -> QuerySet[Case]:
    """Every case the user may see, with the account, customer and billing link joined."""
    if not staff_has_perm(user, VIEW):
        return Case.objects.none()
    return Case.objects.select_related("account__customer", "bill_adjustment")


@dataclass(frozen=True)
class CaseFilters:
    status: str = ""
    kind: str = ""
    violation_kind: str = ""
    q: str = ""


def case_search(user: Any, filters: CaseFilters | None = None) -> QuerySet[Case]:
    """Cases matching every filter, newest first: ``q`` matches the case number (prefix),
    the 户号 (prefix) or the customer name (substring)."""
    f = filters or CaseFilters()
    qs = cases_visible_to(user)
    if f.status:
        qs = qs.filter(status=f.status)
    if f.kind:
        qs = qs.filter(kind=f.kind)
    if f.violation_kind:
        qs = qs.filter(violation_kind=f.violation_kind)
    q = f.q.strip()
    if q:
        qs = qs.filter(
            Q(number__istartswith=q)
            | Q(account__number__startswith=q)
            | Q(account__customer__name__icontains=q)
        )
    return qs.order_by("-created_at", "-id")


def case_get(*, user: Any, case_id: int) -> Case:
    """One case the user may see (NotFound otherwise, never saying which)."""
    case = (
        cases_visible_to(user)
        .select_related("account__service_point", "task", "finding", "bill_adjustment__bill")
        .filter(pk=case_id)
        .first()
    )
    if case is None:
        raise NotFound()
    return case


def case_audit(case: Case) -> QuerySet[AuditEvent]:
    """The case's audit rows, oldest first."""
    return AuditEvent.objects.filter(object_type="inspection.case", object_id=str(case.pk)).order_by(
        "at", "id"
    )


def case_authored_by(user: Any, case: Case) -> bool:
    """Whether ``user`` created, changed or submitted ``case`` in any round (its creator,
    its submitter, or an author in its audit trail): such a person can neither approve nor
    reject it (四眼原则), so that the amounts approved were never entered by the approver."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.get_username() in (case.created_by, case.submitted_by):
        return True
    return case_audit(case).filter(actor_id=user.pk, action__in=AUTHOR_ACTIONS).exists()


def case_actions(user: Any, case: Case) -> list[str]:
    """What ``user`` may do to ``case`` now (the services check the same again):
    ``edit``/``submit`` a draft, ``approve``/``reject`` a submitted case (an approver who never
    authored it: :func:`case_authored_by`), ``notify`` an approved case, ``post`` an approved
    or notified one to billing, ``withdraw`` one not yet posted (approved/notified: approvers
    only)."""
    change = staff_has_perm(user, "inspection.change_case")
    approve = staff_has_perm(user, "inspection.approve_case")
    status = case.status
    actions: list[str] = []
    if status == CaseStatus.DRAFT and change:
        actions += ["edit", "submit"]
    if status == CaseStatus.SUBMITTED and approve and not case_authored_by(user, case):
        actions += ["approve", "reject"]
    if status == CaseStatus.APPROVED and change:
        actions.append("notify")
    if status in (CaseStatus.APPROVED, CaseStatus.NOTIFIED) and change:
        actions.append("post")
    if change and (
        status in (CaseStatus.DRAFT, CaseStatus.SUBMITTED)
        or (status in (CaseStatus.APPROVED, CaseStatus.NOTIFIED) and approve)
    ):
        actions.append("withdraw")
    return actions
