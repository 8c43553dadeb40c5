"""Inspection API: theft and violation cases (窃电/违约用电案件), mounted at ``/api/inspection/``.

The same permission rules as the console (docs/inspection-cases.md):

- read (list, one case, penalty rules): staff with ``inspection.view_case``
  (``inspection.view_penaltyrule`` for the rules);
- preview and create: ``inspection.add_case``;
- update, submit, notify, post to billing, withdraw: ``inspection.change_case``
  (withdrawing an approved case also ``inspection.approve_case``);
- decide: ``inspection.approve_case``, by a person other than the case's creator and
  submitter (403 ``same_person``).

Portal customers get 403; anonymous callers 401. Errors are ``{"code", "message", "field"}``;
a stale ``version`` or a step not possible in the case's status is 409 with the case's
current ``version`` and ``status``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status

from gridcare.core.errors import Conflict
from gridcare.core.pagination import page_body, paginate
from gridcare.core.roles import require_staff_perm
from gridcare.inspection.engine.penalty import Charges
from gridcare.inspection.models import Case
from gridcare.inspection.selectors.cases import CaseFilters, case_actions, case_audit, case_get, case_search
from gridcare.inspection.services.cases import (
    case_compute,
    case_create,
    case_decide,
    case_notify,
    case_post_to_billing,
    case_submit,
    case_update,
    case_withdraw,
)
from gridcare.inspection.services.penalty_rules import penalty_rules_at

router = Router(tags=["inspection cases"])

VIEW = "inspection.view_case"
ADD = "inspection.add_case"
CHANGE = "inspection.change_case"
APPROVE = "inspection.approve_case"


# --- schemas ---------------------------------------------------------------------------------------


class ErrorOut(Schema):
    """The one error format of GridCare."""

    code: str = Field(..., description="Stable error code: validation_failed, permission_denied, not_found …")
    message: str = Field(..., description="What went wrong, in the user's language.")
    field: str | None = Field(None, description="The input to blame, when one is.")


class ConflictOut(ErrorOut):
    """409: the case changed since the caller read it, or the step is not possible now."""

    version: int | None = Field(None, description="The case's current version.")
    status: str | None = Field(None, description="The case's current status.")


ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}


class CaseInputs(Schema):
    """The facts the penalty engine reads; which ones each kind reads is in
    docs/inspection-cases.md. Numbers as JSON numbers or decimal strings."""

    period_known: bool | None = Field(None, description="Theft/tariff misuse: the actual period is known.")
    capacity_kw: Decimal | None = Field(
        None, description="Theft: capacity (kW; kVA counted as kW). Sealed equipment (other users): kW."
    )
    hours_per_day: Decimal | None = Field(None, description="Theft, known period: hours a day.")
    days: Decimal | None = Field(None, description="Theft, known period: days.")
    measured_kwh: Decimal | None = Field(
        None, description="Theft, known period: measured stolen energy (kWh)."
    )
    price: Decimal | None = Field(None, description="Theft: catalogue price (yuan/kWh).")
    agreed_multiple: Decimal | None = Field(
        None, description="A multiple agreed in the contract, under a ceiling rule (2024: 不高于)."
    )
    agreed_amount: Decimal | None = Field(
        None, description="An amount per kW or per occurrence agreed in the contract, under a ceiling rule."
    )
    price_difference: Decimal | None = Field(None, description="Tariff misuse: price difference (yuan/kWh).")
    energy_kwh: Decimal | None = Field(None, description="Tariff misuse, known period: energy (kWh).")
    monthly_kwh: Decimal | None = Field(None, description="Tariff misuse, unknown period: kWh a month.")
    two_part: bool | None = Field(None, description="Excess capacity/sealed equipment: a 两部制 user.")
    basic_price: Decimal | None = Field(None, description="两部制: basic charge price (yuan/kVA·month).")
    added_kva: Decimal | None = Field(None, description="Excess capacity, 两部制: kVA added.")
    added_kw: Decimal | None = Field(None, description="Excess capacity, other users: kW added.")
    capacity_kva: Decimal | None = Field(None, description="Sealed equipment, 两部制: kVA used.")
    months: Decimal | None = Field(None, description="两部制: months used.")
    occurrences: int | None = Field(None, ge=1, description="Sealed equipment/meter tampering: occurrences.")
    residential: bool | None = Field(None, description="Meter tampering: a residential user.")
    source_kw: Decimal | None = Field(None, description="Unauthorised source: kW of the source.")


def _inputs(inputs: CaseInputs | None) -> dict[str, Any]:
    if inputs is None:
        return {}
    return {k: v for k, v in inputs.dict().items() if v is not None}


class PreviewIn(Schema):
    kind: str = Field(..., description="theft or violation.")
    violation_kind: str = Field("", description="For a violation: tariff_misuse, excess_capacity, …")
    user_type: str = Field(
        "", description="For theft: power or lighting (default: from the account's class)."
    )
    account_id: int | None = Field(None, description="The account (for the default user type).")
    occurred_on: dt.date = Field(..., description="The day found: the rules in force that day apply.")
    inputs: CaseInputs | None = Field(None, description="The facts the engine reads.")


class CaseCreateIn(PreviewIn):
    account_id: int = Field(..., description="The account (用电户).")
    theft_method: str = Field("", description="For theft: hookup, bypass, seal, damage, inaccurate or other.")
    task_id: int | None = Field(None, description="The inspection task it came from.")
    finding_id: int | None = Field(None, description="The finding it came from.")
    facts: str = Field("", max_length=5000, description="The facts found.")


class CaseUpdateIn(Schema):
    version: int = Field(..., description="The version the caller read.")
    occurred_on: dt.date | None = None
    violation_kind: str | None = None
    theft_method: str | None = None
    user_type: str | None = None
    facts: str | None = Field(None, max_length=5000)
    inputs: CaseInputs | None = Field(None, description="Replaces every input when given.")


class VersionIn(Schema):
    version: int | None = Field(None, description="The version the caller read (checked when given).")


class DecideIn(VersionIn):
    approve: bool = Field(..., description="true: approve; false: send back to draft (note required).")
    note: str = Field("", max_length=300)


class WithdrawIn(VersionIn):
    reason: str = Field(..., max_length=300)


class ParameterOut(Schema):
    value: str = Field(..., description="The rule's value.")
    is_cap: bool = Field(..., description="The value is a ceiling (不高于).")
    effective_from: str | None = None
    source: str = ""
    applied: str = Field(..., description="The value the case used (an agreed value under a ceiling).")


class StepOut(Schema):
    name: str = Field(..., description="energy, back_charge, penalty or total.")
    zh: str = Field(..., description="The step in Chinese with the numbers.")
    en: str = Field(..., description="The step in English with the numbers.")
    value: str
    unit: str


class ChargesOut(Schema):
    energy_kwh: Decimal
    back_charge: Decimal = Field(..., description="追补电费 (yuan).")
    penalty: Decimal = Field(..., description="违约使用电费 (yuan).")
    total: Decimal
    article: str = ""
    parameters: dict[str, ParameterOut] = Field(..., description="Every rule used, by key.")
    steps: list[StepOut] = Field(..., description="The formula with the numbers, step by step.")


class CaseOut(Schema):
    id: int
    number: str
    kind: str
    violation_kind: str
    theft_method: str
    user_type: str
    status: str
    status_label: str
    version: int
    account_id: int
    account_number: str
    customer_name: str
    task_id: int | None = None
    finding_id: int | None = None
    occurred_on: dt.date
    energy_kwh: Decimal
    back_charge: Decimal
    penalty: Decimal
    total: Decimal
    created_by: str
    created_at: dt.datetime
    submitted_by: str = ""
    decided_by: str = ""
    decision_note: str = ""
    notified_at: dt.datetime | None = None
    bill_adjustment: str | None = Field(None, description="The back-billing document's number, once posted.")


class EventOut(Schema):
    at: dt.datetime
    actor: str
    action: str
    reason: str = ""


class CaseDetailOut(CaseOut):
    facts: str
    inputs: dict[str, Any]
    charges: ChargesOut
    actions: list[str] = Field(..., description="What the caller may do now: edit, submit, approve, …")
    history: list[EventOut] = Field(..., description="The audit rows, oldest first.")


class CasePageOut(Schema):
    items: list[CaseOut]
    page: int
    pages: int
    total: int
    per_page: int


class RuleOut(Schema):
    key: str
    value: Decimal
    is_cap: bool
    effective_from: dt.date | None
    source: str


# --- helpers --------------------------------------------------------------------------------------


def _charges_out(charges: Charges | Case) -> dict[str, Any]:
    basis = charges.basis or {}
    return {
        "energy_kwh": charges.energy_kwh,
        "back_charge": charges.back_charge,
        "penalty": charges.penalty,
        "total": charges.total,
        "article": basis.get("article", ""),
        "parameters": basis.get("parameters", {}),
        "steps": basis.get("steps", []),
    }


def case_out(case: Case) -> dict[str, Any]:
    return {
        "id": case.pk,
        "number": case.number,
        "kind": case.kind,
        "violation_kind": case.violation_kind,
        "theft_method": case.theft_method,
        "user_type": case.user_type,
        "status": case.status,
        "status_label": str(case.get_status_display()),
        "version": case.version,
        "account_id": case.account_id,
        "account_number": case.account.number,
        "customer_name": case.account.customer.name,
        "task_id": case.task_id,
        "finding_id": case.finding_id,
        "occurred_on": case.occurred_on,
        "energy_kwh": case.energy_kwh,
        "back_charge": case.back_charge,
        "penalty": case.penalty,
        "total": case.total,
        "created_by": case.created_by,
        "created_at": case.created_at,
        "submitted_by": case.submitted_by,
        "decided_by": case.decided_by,
        "decision_note": case.decision_note,
        "notified_at": case.notified_at,
        "bill_adjustment": case.bill_adjustment.number
        if case.bill_adjustment_id and case.bill_adjustment
        else None,
    }


def _detail(user: Any, case_id: int) -> dict[str, Any]:
    case = case_get(user=user, case_id=case_id)
    return {
        **case_out(case),
        "facts": case.facts,
        "inputs": case.inputs,
        "charges": _charges_out(case),
        "actions": case_actions(user, case),
        "history": [
            {"at": e.at, "actor": e.actor_label, "action": e.action, "reason": e.reason}
            for e in case_audit(case)
        ],
    }


def _conflict(exc: Conflict, case_id: int) -> Any:
    now = Case.objects.filter(pk=case_id).only("version", "status").first()
    return Status(
        409,
        {**exc.as_dict(), "version": now.version if now else None, "status": now.status if now else None},
    )


# --- reads -----------------------------------------------------------------------------------------


class CaseSearch(Schema):
    q: str = Field("", description="Case number (prefix), 户号 (prefix) or customer name.")
    status: str = Field("", description="draft, submitted, approved, notified, settled or withdrawn.")
    kind: str = Field("", description="theft or violation.")
    violation_kind: str = Field("", description="A violation kind.")
    page: int = Field(1, description="Page number, from 1.")
    per_page: int = Field(25, description="Cases per page (at most 200).")


@router.get("/cases", response={200: CasePageOut, **ERRORS}, summary="Search cases (案件查询)")
def cases_search(request: HttpRequest, filters: Query[CaseSearch]) -> Any:
    """Cases matching every filter given, newest first, a page at a time."""
    user = request.user
    require_staff_perm(user, VIEW)
    qs = case_search(user, CaseFilters(**filters.dict(exclude={"page", "per_page"})))
    page = paginate(request, qs)
    return page_body(page, case_out)


@router.get(
    "/penalty-rules", response={200: list[RuleOut], **ERRORS}, summary="Penalty rules in force on a day"
)
def penalty_rules(request: HttpRequest, day: dt.date | None = None) -> Any:
    """Every penalty rule in force on ``day`` (default today): value, ceiling, date, source."""
    require_staff_perm(request.user, "inspection.view_penaltyrule")
    rules = penalty_rules_at(day or timezone.localdate())
    return [
        {
            "key": k,
            "value": r.value,
            "is_cap": r.is_cap,
            "effective_from": r.effective_from,
            "source": r.source,
        }
        for k, r in sorted(rules.items())
    ]


@router.post(
    "/cases/preview", response={200: ChargesOut, **ERRORS}, summary="Compute a case's amounts (试算)"
)
def case_preview(request: HttpRequest, payload: PreviewIn) -> Any:
    """The amounts and the basis with the rules in force on ``occurred_on``; nothing is saved."""
    require_staff_perm(request.user, ADD)
    charges = case_compute(
        kind=payload.kind,
        occurred_on=payload.occurred_on,
        inputs=_inputs(payload.inputs),
        violation_kind=payload.violation_kind,
        user_type=payload.user_type,
        account_id=payload.account_id,
    )
    return _charges_out(charges)


@router.get("/cases/{case_id}", response={200: CaseDetailOut, **ERRORS}, summary="One case with its basis")
def case_detail(request: HttpRequest, case_id: int) -> Any:
    """The case, its inputs, amounts with the formula and rules, the caller's actions, history."""
    user = request.user
    require_staff_perm(user, VIEW)
    return _detail(user, case_id)


# --- writes ---------------------------------------------------------------------------------------


@router.post("/cases", response={201: CaseDetailOut, **ERRORS}, summary="Open a case (立案)")
def case_new(request: HttpRequest, payload: CaseCreateIn) -> Any:
    """A draft case with its amounts computed by the rules in force on ``occurred_on``."""
    user = request.user
    require_staff_perm(user, ADD)
    case = case_create(
        actor=user,
        kind=payload.kind,
        account_id=payload.account_id,
        occurred_on=payload.occurred_on,
        inputs=_inputs(payload.inputs),
        task_id=payload.task_id,
        finding_id=payload.finding_id,
        violation_kind=payload.violation_kind,
        theft_method=payload.theft_method,
        user_type=payload.user_type,
        facts=payload.facts,
    )
    return Status(201, _detail(user, case.pk))


@router.patch(
    "/cases/{case_id}", response={200: CaseDetailOut, 409: ConflictOut, **ERRORS}, summary="Change a draft"
)
def case_change(request: HttpRequest, case_id: int, payload: CaseUpdateIn) -> Any:
    """Change a draft case and compute it again (409 when ``version`` is stale or not a draft)."""
    user = request.user
    require_staff_perm(user, CHANGE)
    _detail(user, case_id)  # 404 for an unknown case before anything else
    try:
        case_update(
            actor=user,
            case_id=case_id,
            version=payload.version,
            inputs=_inputs(payload.inputs) if payload.inputs is not None else None,
            occurred_on=payload.occurred_on,
            facts=payload.facts,
            violation_kind=payload.violation_kind,
            theft_method=payload.theft_method,
            user_type=payload.user_type,
        )
    except Conflict as exc:
        return _conflict(exc, case_id)
    return _detail(user, case_id)


def _step(request: HttpRequest, case_id: int, perm: str, run: Any) -> Any:
    user = request.user
    require_staff_perm(user, perm)
    case_get(user=user, case_id=case_id)
    try:
        run(user)
    except Conflict as exc:
        return _conflict(exc, case_id)
    return _detail(user, case_id)


STEP_RESPONSES: dict[int, Any] = {200: CaseDetailOut, 409: ConflictOut, **ERRORS}


@router.post("/cases/{case_id}/submit", response=STEP_RESPONSES, summary="Submit for approval (报审)")
def case_submit_step(request: HttpRequest, case_id: int, payload: VersionIn) -> Any:
    return _step(
        request, case_id, CHANGE, lambda u: case_submit(actor=u, case_id=case_id, version=payload.version)
    )


@router.post("/cases/{case_id}/decide", response=STEP_RESPONSES, summary="Approve or send back (审批)")
def case_decide_step(request: HttpRequest, case_id: int, payload: DecideIn) -> Any:
    """By an approver who neither drafted nor submitted the case (403 ``same_person``)."""
    return _step(
        request,
        case_id,
        APPROVE,
        lambda u: case_decide(
            actor=u, case_id=case_id, approve=payload.approve, note=payload.note, version=payload.version
        ),
    )


@router.post("/cases/{case_id}/notify", response=STEP_RESPONSES, summary="Notice served (送达)")
def case_notify_step(request: HttpRequest, case_id: int, payload: VersionIn) -> Any:
    return _step(
        request, case_id, CHANGE, lambda u: case_notify(actor=u, case_id=case_id, version=payload.version)
    )


@router.post("/cases/{case_id}/post", response=STEP_RESPONSES, summary="Post to billing (转电费)")
def case_post_step(request: HttpRequest, case_id: int, payload: VersionIn) -> Any:
    """A pending back-billing for the total on the account's latest issued bill (409
    ``no_issued_bill`` when there is none: the amounts stay on the case)."""
    return _step(
        request,
        case_id,
        CHANGE,
        lambda u: case_post_to_billing(actor=u, case_id=case_id, version=payload.version),
    )


@router.post("/cases/{case_id}/withdraw", response=STEP_RESPONSES, summary="Withdraw (撤销)")
def case_withdraw_step(request: HttpRequest, case_id: int, payload: WithdrawIn) -> Any:
    return _step(
        request,
        case_id,
        CHANGE,
        lambda u: case_withdraw(actor=u, case_id=case_id, reason=payload.reason, version=payload.version),
    )
