"""窃电/违约用电案件: create, compute, approve, notify and post to billing.

Workflow (``choices.CaseStatus``)::

    draft ──submit──▶ submitted ──approve──▶ approved ──notify──▶ notified
      ▲                  │                      │   ▲                │   ▲
      └────reject────────┘                      └───┼─post to billing┴───┼──▶ settled
                                                    └─billing rejects────┴─────┘
    draft/submitted/approved/notified ──withdraw──▶ withdrawn

- create/update/submit/notify/post need ``inspection.add_case`` / ``inspection.change_case``
  (inspectors, marketing managers);
- approve/reject need ``inspection.approve_case`` and a person other than the case's
  creator and submitter (四眼原则); a rejection needs a note and returns the case to draft;
- withdrawing an approved or notified case needs ``inspection.approve_case`` too.

Amounts come from ``engine.penalty`` with the rules in force on ``occurred_on``
(``services.penalty_rules.penalty_rules_at``) and are stored on the case with the basis;
every change writes an audit row (``inspection.case.<action>``). Posting to billing creates a
*pending* back-billing ``billing.BillAdjustment`` for the case total on the account's latest
issued bill, through ``billing.services.adjustments.bill_adjustment_request`` with the
explicit amount and the case number in the reason, as a charge the bill only carries
(``corrects_consumption=False``: the stolen energy stays out of the bill's consumption and
refund ceilings); billing's own second person approves it. When billing rejects it, billing
calls :func:`case_billing_rejected`: the case returns to approved or notified, unlinked, and
can be posted again or withdrawn.
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.core.audit import audit_record, snapshot
from gridcare.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from gridcare.core.ids import next_number
from gridcare.core.roles import staff_has_perm
from gridcare.customers.choices import RESIDENTIAL_CLASSES
from gridcare.customers.models import Account
from gridcare.customers.selectors import contract_in_force
from gridcare.inspection.choices import (
    CaseKind,
    CaseStatus,
    FindingKind,
    TheftMethod,
    UserType,
    ViolationKind,
)
from gridcare.inspection.engine.penalty import Charges, PenaltyInputError, case_charges
from gridcare.inspection.models import Case, Finding, InspectionTask
from gridcare.inspection.selectors.cases import case_authored_by
from gridcare.inspection.services.penalty_rules import penalty_rules_at

ADD = "inspection.add_case"
CHANGE = "inspection.change_case"
APPROVE = "inspection.approve_case"
CASE_SEQUENCE = "inspection_case"
CASE_PREFIX = "AJ"
AUDIT_FIELDS = (
    "number",
    "kind",
    "violation_kind",
    "theft_method",
    "user_type",
    "account_id",
    "occurred_on",
    "inputs",
    "energy_kwh",
    "back_charge",
    "penalty",
    "total",
    "status",
    "submitted_by",
    "decided_by",
    "decision_note",
    "notified_at",
    "bill_adjustment_id",
)
# Every input the engine reads (docs/inspection-cases.md); anything else is refused.
INPUT_KEYS = frozenset(
    {
        "period_known",
        "capacity_kw",
        "hours_per_day",
        "days",
        "measured_kwh",
        "price",
        "agreed_multiple",
        "agreed_amount",
        "price_difference",
        "energy_kwh",
        "monthly_kwh",
        "two_part",
        "basic_price",
        "added_kva",
        "added_kw",
        "capacity_kva",
        "months",
        "occurrences",
        "residential",
        "source_kw",
    }
)
BOOLEAN_KEYS = frozenset({"period_known", "two_part", "residential"})
MAX_FACTS = 5000
WITHDRAWABLE = (CaseStatus.DRAFT, CaseStatus.SUBMITTED, CaseStatus.APPROVED, CaseStatus.NOTIFIED)

__all__ = [
    "case_billing_rejected",
    "case_compute",
    "case_create",
    "case_decide",
    "case_notify",
    "case_post_to_billing",
    "case_prefill",
    "case_submit",
    "case_update",
    "case_withdraw",
    "catalogue_price",
    "user_type_for_class",
]


def _plain(value: Decimal) -> str:
    """A decimal as a form shows it: no trailing zeros, no exponent (400.0 kVA → "400", not
    ``str(Decimal("400.0").normalize())`` = "4E+2")."""
    return f"{value.normalize():f}"


def _who(actor: Any) -> str:
    """The user name stored as creator/submitter/decider (compared for the four-eyes rule)."""
    if getattr(actor, "is_authenticated", False):
        return str(actor.get_username())
    raise PermissionDenied()


def _need(actor: Any, perm: str) -> None:
    if not staff_has_perm(actor, perm):
        raise PermissionDenied()


# --- inputs and computation -------------------------------------------------------------------


def clean_inputs(inputs: Any) -> dict[str, Any]:
    """The case's inputs as stored: known keys only, empty values dropped, numbers as
    decimal strings, flags as booleans."""
    if inputs is None:
        return {}
    if not isinstance(inputs, dict):
        raise ValidationFailed(_("The inputs must be an object of named values."), field="inputs")
    unknown = sorted(set(inputs) - INPUT_KEYS)
    if unknown:
        raise ValidationFailed(_("Unknown input %(name)s.") % {"name": unknown[0]}, field=unknown[0])
    out: dict[str, Any] = {}
    for key, value in inputs.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if key in BOOLEAN_KEYS:
            if isinstance(value, bool):
                out[key] = value
            else:
                text = str(value).strip().lower()
                if text not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValidationFailed(_("Choose yes or no."), field=key)
                out[key] = text in ("1", "true", "yes", "on")
        elif isinstance(value, bool):
            raise ValidationFailed(_("Enter a number."), field=key)
        elif isinstance(value, float):
            out[key] = repr(value)
        else:
            out[key] = str(value).strip()
    return out


def case_compute(
    *,
    kind: str,
    occurred_on: dt.date,
    inputs: dict[str, Any],
    violation_kind: str = "",
    user_type: str = "",
    account_id: int | None = None,
) -> Charges:
    """The charges of a case with the rules in force on ``occurred_on`` (nothing is saved:
    the form's preview and the API's ``/cases/preview`` call this too). A theft without
    ``user_type`` takes it from the class of ``account_id`` when given."""
    if kind == CaseKind.THEFT and not user_type and account_id is not None:
        found = Account.objects.filter(pk=account_id).values_list("customer_class", flat=True).first()
        user_type = user_type_for_class(found) if found else ""
    if kind not in CaseKind.values:
        raise ValidationFailed(_("Choose theft or violation."), field="kind")
    if kind == CaseKind.VIOLATION and violation_kind not in ViolationKind.values:
        raise ValidationFailed(_("Choose the kind of violation."), field="violation_kind")
    if kind == CaseKind.THEFT and user_type not in UserType.values:
        raise ValidationFailed(_("Choose power user or lighting user."), field="user_type")
    rules = penalty_rules_at(occurred_on)
    data = dict(clean_inputs(inputs))
    if kind == CaseKind.THEFT:
        data["user_type"] = user_type
    try:
        return case_charges(rules, data, kind=kind, violation_kind=violation_kind)
    except PenaltyInputError as exc:
        raise ValidationFailed(_input_message(exc), field=exc.field or "inputs") from exc


def _input_message(exc: PenaltyInputError) -> Any:
    """A translatable message for an engine error (the engine speaks plain English)."""
    text = exc.message
    if text.endswith("is required"):
        return _("Required for this kind of case.")
    if "ceiling" in text:
        return _("Above the ceiling of the rule in force (不高于); enter the contract's value up to it.")
    if "fixes this value" in text:
        return _("The rule in force fixes this value; leave it empty.")
    if "negative" in text:
        return _("Must not be negative.")
    if "whole number" in text:
        return _("Enter a whole number of at least 1.")
    if "at most 24" in text:
        return _("At most 24 hours a day.")
    if "too large" in text:
        return _("Too large.")
    if "true or false" in text:
        return _("Choose yes or no.")
    return _("Enter a number.")


def _check_date(occurred_on: Any) -> dt.date:
    if not isinstance(occurred_on, dt.date):
        raise ValidationFailed(_("Give the day the case was found (YYYY-MM-DD)."), field="occurred_on")
    if occurred_on > timezone.localdate():
        raise ValidationFailed(_("The day cannot be in the future."), field="occurred_on")
    return occurred_on


def _check_facts(facts: str) -> str:
    facts = (facts or "").strip()
    if len(facts) > MAX_FACTS:
        raise ValidationFailed(
            _("Too long (%(max)d characters at most).") % {"max": MAX_FACTS}, field="facts"
        )
    return facts


def _apply(case: Case, charges: Charges) -> None:
    case.energy_kwh = charges.energy_kwh
    case.back_charge = charges.back_charge
    case.penalty = charges.penalty
    case.total = charges.total
    case.basis = charges.basis


# --- prefill ------------------------------------------------------------------------------------


def user_type_for_class(customer_class: str) -> str:
    """照明用户 for the residential classes, 电力用户 for every other class."""
    return UserType.LIGHTING if customer_class in RESIDENTIAL_CLASSES else UserType.POWER


def catalogue_price(tariff_code: str, day: dt.date) -> dict[str, Any] | None:
    """The account's catalogue price per kWh on ``day`` (``None`` when the tariff cannot be
    quoted that day, e.g. no agency price for the month): a 10 kWh quote of the month
    through ``billing.services.quote.bill_quote`` (the billing engine), all on the first
    tier and the flat (平段) period, summing the per-kWh unit prices of the energy,
    transmission/system/line-loss and government-fund lines (basic charge and power-factor
    adjustment excluded; the residential 其中 fund lines are inside the price)."""
    if not tariff_code:
        return None
    try:
        from gridcare.billing.services.catalogue import catalogue_load
        from gridcare.billing.services.quote import bill_quote
        from gridcare.core.errors import GridCareError
    except ImportError:  # billing not installed
        return None
    catalogue = catalogue_load()
    version = catalogue.version_in_force(tariff_code, day)
    if version is None:
        return None
    start = day.replace(day=1)
    end = day.replace(day=calendar.monthrange(day.year, day.month)[1])
    registers: dict[str, str]
    if version.kind == "res_tiered":
        registers = {"total": "10"}
    elif version.kind == "res_tou":
        registers = {"peak": "10", "valley": "0"}
    else:
        registers = {"flat": "10"}
    payload: dict[str, Any] = {
        "tariff": tariff_code,
        "period_start": start,
        "period_end": end,
        "registers": registers,
    }
    if version.kind == "two_part":
        payload.update(basic_charge_by="capacity", capacity_kva="0")
    try:
        quote = bill_quote(payload=payload, catalogue=catalogue)
    except GridCareError:
        return None
    price = sum(
        (
            Decimal(line["unit_price"])
            for line in quote["lines"]
            if line["kind"] in ("energy", "pass", "fund")
            and line["unit_price"]
            and Decimal(line["kwh"] or 0) > 0
        ),
        Decimal(0),
    )
    basic: Decimal | None = None
    if version.kind == "two_part" and version.params.get("capacity_price") is not None:
        basic = Decimal(str(version.params["capacity_price"]))
    return {
        "price": price.normalize() if price else price,
        "basic_price": basic,
        "tariff": tariff_code,
        "tariff_name": quote.get("tariff_name", ""),
        "kind": version.kind,
        "version_from": version.effective_from,
        "source": version.source,
    }


def case_prefill(
    *,
    user: Any,
    finding_id: int | None = None,
    task_id: int | None = None,
    account_id: int | None = None,
    day: dt.date | None = None,
) -> dict[str, Any]:
    """Initial values of a new case from a finding, a task or an account (read only):
    kind and method/kind from the finding, the account, the user type from the customer
    class, and, on the case's day (``occurred_on``: the day the finding was recorded,
    else ``day``, else today), the capacity of the contract in force
    (``customers.selectors.contract_in_force``, the rule billing bills by: not a 减容
    agreed from a later day, not a temporary 增容 that has ended, a lapsed contract until a
    new one starts; kVA, counted as kW) and whether it is two-part, and the catalogue
    price of the account's tariff. Unknown or hidden ids are NotFound."""
    if not staff_has_perm(user, "inspection.view_case"):
        raise PermissionDenied()
    day = day or timezone.localdate()
    out: dict[str, Any] = {"occurred_on": day, "inputs": {}}
    finding: Finding | None = None
    task: InspectionTask | None = None
    if finding_id is not None:
        finding = Finding.objects.select_related("task").filter(pk=finding_id).first()
        if finding is None:
            raise NotFound(field="finding")
        task = finding.task
        out["finding_id"] = finding.pk
        if finding.kind == FindingKind.THEFT:
            out["kind"] = CaseKind.THEFT
            out["theft_method"] = finding.theft_method
        elif finding.kind == FindingKind.VIOLATION:
            out["kind"] = CaseKind.VIOLATION
            out["violation_kind"] = finding.violation_kind
        out["facts"] = finding.description
        out["occurred_on"] = timezone.localdate(finding.recorded_at)
    elif task_id is not None:
        task = InspectionTask.objects.filter(pk=task_id).first()
        if task is None:
            raise NotFound(field="task")
        if task.result in (CaseKind.THEFT, CaseKind.VIOLATION):
            out["kind"] = task.result
        if task.result_notes:
            out["facts"] = task.result_notes
    if task is not None:
        out["task_id"] = task.pk
        account_id = task.account_id
    if account_id is None:
        return out
    account = Account.objects.select_related("customer").filter(pk=account_id).first()
    if account is None:
        raise NotFound(field="account")
    out["account_id"] = account.pk
    out["account"] = account
    out["user_type"] = user_type_for_class(account.customer_class)
    inputs: dict[str, Any] = {"residential": account.customer_class in RESIDENTIAL_CLASSES}
    contract = contract_in_force(account_id=account.pk, day=out["occurred_on"])
    if contract is not None:
        inputs["capacity_kw"] = _plain(contract.capacity_kva)
        inputs["two_part"] = bool(contract.basic_charge_by)
    price = catalogue_price(account.tariff_code, out["occurred_on"])
    out["price_info"] = price
    if price is not None:
        inputs["price"] = _plain(price["price"])
        if price["kind"] == "two_part":
            inputs["two_part"] = True
        if price["basic_price"] is not None:
            inputs["basic_price"] = _plain(price["basic_price"])
    out["inputs"] = inputs
    return out


# --- writes ---------------------------------------------------------------------------------------


def _locked(case_id: int) -> Case:
    case = Case.objects.select_for_update().filter(pk=case_id).first()
    if case is None:
        raise NotFound()
    return case


def _links(
    *, account_id: int, task_id: int | None, finding_id: int | None
) -> tuple[Account, InspectionTask | None, Finding | None]:
    account = Account.objects.filter(pk=account_id).first()
    if account is None:
        raise ValidationFailed(_("Choose an existing account."), field="account")
    finding = None
    task = None
    if finding_id is not None:
        finding = Finding.objects.select_related("task").filter(pk=finding_id).first()
        if finding is None:
            raise ValidationFailed(_("No such finding."), field="finding")
        task = finding.task
        if task_id is not None and task_id != task.pk:
            raise ValidationFailed(_("The finding belongs to another task."), field="finding")
    elif task_id is not None:
        task = InspectionTask.objects.filter(pk=task_id).first()
        if task is None:
            raise ValidationFailed(_("No such task."), field="task")
    if task is not None and task.account_id != account.pk:
        raise ValidationFailed(_("The task was for another account."), field="account")
    return account, task, finding


def _check_kind(kind: str, violation_kind: str, theft_method: str, user_type: str) -> tuple[str, str, str]:
    if kind not in CaseKind.values:
        raise ValidationFailed(_("Choose theft or violation."), field="kind")
    if kind == CaseKind.THEFT:
        if theft_method not in TheftMethod.values:
            raise ValidationFailed(_("Choose how the electricity was stolen."), field="theft_method")
        if user_type not in UserType.values:
            raise ValidationFailed(_("Choose power user or lighting user."), field="user_type")
        return "", theft_method, user_type
    if violation_kind not in ViolationKind.values:
        raise ValidationFailed(_("Choose the kind of violation."), field="violation_kind")
    return violation_kind, "", ""


def case_create(
    *,
    actor: Any,
    kind: str,
    account_id: int,
    occurred_on: dt.date,
    inputs: dict[str, Any],
    task_id: int | None = None,
    finding_id: int | None = None,
    violation_kind: str = "",
    theft_method: str = "",
    user_type: str = "",
    facts: str = "",
) -> Case:
    """立案: a draft case with its amounts computed by the rules in force on ``occurred_on``.
    A theft case without ``user_type`` takes it from the account's customer class."""
    _need(actor, ADD)
    who = _who(actor)
    occurred_on = _check_date(occurred_on)
    facts = _check_facts(facts)
    account, task, finding = _links(account_id=account_id, task_id=task_id, finding_id=finding_id)
    if kind == CaseKind.THEFT and not user_type:
        user_type = user_type_for_class(account.customer_class)
    violation_kind, theft_method, user_type = _check_kind(kind, violation_kind, theft_method, user_type)
    data = clean_inputs(inputs)
    charges = case_compute(
        kind=kind, occurred_on=occurred_on, inputs=data, violation_kind=violation_kind, user_type=user_type
    )
    if finding is not None and finding.kind != kind:
        raise ValidationFailed(_("The finding is not of this kind of case."), field="finding")
    now = timezone.now()
    with transaction.atomic():
        if finding is not None:
            # One live case per finding (two would back-bill the customer twice); the
            # finding's row lock makes two clerks opening it at once wait for each other.
            Finding.objects.select_for_update().filter(pk=finding.pk).first()
            other = (
                Case.objects.filter(finding=finding)
                .exclude(status=CaseStatus.WITHDRAWN)
                .values_list("number", flat=True)
                .first()
            )
            if other is not None:
                raise ValidationFailed(
                    _("Case %(number)s was already opened from this finding.") % {"number": other},
                    field="finding",
                )
        case = Case(
            number=f"{CASE_PREFIX}{timezone.localdate(now).year}{next_number(CASE_SEQUENCE):06d}",
            kind=kind,
            violation_kind=violation_kind,
            theft_method=theft_method,
            user_type=user_type,
            account=account,
            task=task,
            finding=finding,
            occurred_on=occurred_on,
            facts=facts,
            inputs=data,
            status=CaseStatus.DRAFT,
            created_by=who,
            created_at=now,
        )
        _apply(case, charges)
        case.save()
        audit_record(
            actor=actor, obj=case, action="inspection.case.create", after=snapshot(case, AUDIT_FIELDS)
        )
    return case


def case_update(
    *,
    actor: Any,
    case_id: int,
    version: int,
    inputs: dict[str, Any] | None = None,
    occurred_on: dt.date | None = None,
    facts: str | None = None,
    violation_kind: str | None = None,
    theft_method: str | None = None,
    user_type: str | None = None,
) -> Case:
    """Change a draft case (the facts, the inputs, the day, the kind details) and compute
    its amounts again. ``version`` is the one the caller read: a case changed since is a
    Conflict (reload and retry); a case past draft is a Conflict too."""
    _need(actor, CHANGE)
    with transaction.atomic():
        case = _locked(case_id)
        if case.version != version:
            raise Conflict(field="version")
        if case.status != CaseStatus.DRAFT:
            raise Conflict(_("Only a draft case can be changed."), field="status", code="invalid_state")
        before = snapshot(case, AUDIT_FIELDS)
        day = _check_date(occurred_on) if occurred_on is not None else case.occurred_on
        vk, tm, ut = _check_kind(
            case.kind,
            case.violation_kind if violation_kind is None else violation_kind,
            case.theft_method if theft_method is None else theft_method,
            case.user_type if user_type is None else user_type,
        )
        data = clean_inputs(inputs) if inputs is not None else dict(case.inputs)
        charges = case_compute(kind=case.kind, occurred_on=day, inputs=data, violation_kind=vk, user_type=ut)
        case.occurred_on = day
        case.violation_kind, case.theft_method, case.user_type = vk, tm, ut
        case.inputs = data
        if facts is not None:
            case.facts = _check_facts(facts)
        _apply(case, charges)
        case.version += 1
        case.save()
        audit_record(
            actor=actor,
            obj=case,
            action="inspection.case.update",
            before=before,
            after=snapshot(case, AUDIT_FIELDS),
        )
    return case


def _transition(
    *,
    actor: Any,
    case_id: int,
    version: int | None,
    allowed: tuple[str, ...],
    action: str,
    reason: str = "",
    change: Any = None,
) -> Case:
    with transaction.atomic():
        case = _locked(case_id)
        if version is not None and case.version != version:
            raise Conflict(field="version")
        if case.status not in allowed:
            raise Conflict(
                _("Not possible while the case is %(status)s.") % {"status": case.get_status_display()},
                field="status",
                code="invalid_state",
            )
        before = snapshot(case, AUDIT_FIELDS)
        change(case)
        case.version += 1
        case.save()
        audit_record(
            actor=actor,
            obj=case,
            action=action,
            before=before,
            after=snapshot(case, AUDIT_FIELDS),
            reason=reason,
        )
    return case


def case_submit(*, actor: Any, case_id: int, version: int | None = None) -> Case:
    """报审: a draft goes to approval (by someone else holding ``inspection.approve_case``)."""
    _need(actor, CHANGE)
    who = _who(actor)

    def change(case: Case) -> None:
        case.status = CaseStatus.SUBMITTED
        case.submitted_by = who
        case.submitted_at = timezone.now()

    return _transition(
        actor=actor,
        case_id=case_id,
        version=version,
        allowed=(CaseStatus.DRAFT,),
        action="inspection.case.submit",
        change=change,
    )


def case_decide(
    *, actor: Any, case_id: int, approve: bool, note: str = "", version: int | None = None
) -> Case:
    """审批: approve, or reject back to draft (a note is required). The approver holds
    ``inspection.approve_case`` and never drafted, changed or submitted the case (四眼原则:
    a manager who rewrote a case sent back cannot approve it on its next round)."""
    _need(actor, APPROVE)
    who = _who(actor)
    note = (note or "").strip()
    if len(note) > 300:
        raise ValidationFailed(_("Too long (%(max)d characters at most).") % {"max": 300}, field="note")
    if not approve and not note:
        raise ValidationFailed(_("Say why the case is sent back."), field="note")

    def change(case: Case) -> None:
        # checked under the row lock: a concurrent resubmission cannot slip past it
        if case_authored_by(actor, case):
            raise PermissionDenied(
                _("The person who drafted, changed or submitted a case cannot approve or reject it."),
                field="actor",
                code="same_person",
            )
        case.status = CaseStatus.APPROVED if approve else CaseStatus.DRAFT
        case.decided_by = who
        case.decided_at = timezone.now()
        case.decision_note = note

    return _transition(
        actor=actor,
        case_id=case_id,
        version=version,
        allowed=(CaseStatus.SUBMITTED,),
        action="inspection.case.approve" if approve else "inspection.case.reject",
        reason=note,
        change=change,
    )


def case_notify(*, actor: Any, case_id: int, version: int | None = None) -> Case:
    """送达: the notice (违约用电/窃电通知书) was served on the customer; sets ``notified_at``."""
    _need(actor, CHANGE)

    def change(case: Case) -> None:
        case.status = CaseStatus.NOTIFIED
        case.notified_at = timezone.now()

    return _transition(
        actor=actor,
        case_id=case_id,
        version=version,
        allowed=(CaseStatus.APPROVED,),
        action="inspection.case.notify",
        change=change,
    )


def case_withdraw(*, actor: Any, case_id: int, reason: str, version: int | None = None) -> Case:
    """撤销 a case not yet posted to billing (a reason is required; an approved or notified
    case needs ``inspection.approve_case``)."""
    _need(actor, CHANGE)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the case is withdrawn."), field="reason")
    if len(reason) > 300:
        raise ValidationFailed(_("Too long (%(max)d characters at most).") % {"max": 300}, field="reason")
    status = Case.objects.filter(pk=case_id).values_list("status", flat=True).first()
    if status is None:
        raise NotFound()
    if status in (CaseStatus.APPROVED, CaseStatus.NOTIFIED):
        _need(actor, APPROVE)

    def change(case: Case) -> None:
        if case.status in (CaseStatus.APPROVED, CaseStatus.NOTIFIED) and not staff_has_perm(actor, APPROVE):
            raise PermissionDenied()
        case.status = CaseStatus.WITHDRAWN

    return _transition(
        actor=actor,
        case_id=case_id,
        version=version,
        allowed=WITHDRAWABLE,
        action="inspection.case.withdraw",
        reason=reason,
        change=change,
    )


def _posting_reason(case: Case) -> str:
    what = "窃电" if case.kind == CaseKind.THEFT else "违约用电"
    return (
        f"{what}案件 {case.number} (发现日 {case.occurred_on}): 追补电费 {case.back_charge} 元 + "
        f"违约使用电费 {case.penalty} 元 = {case.total} 元; {case.basis.get('article', '')}"
    )


def case_post_to_billing(*, actor: Any, case_id: int, version: int | None = None) -> Case:
    """转电费: a pending back-billing document (``billing.BillAdjustment``) for the case total
    on the account's latest issued bill, the case number in its reason; the case becomes
    settled and links the document. Refused (nothing written) when the account has no
    issued bill yet: the amounts stay on the case. The document is a charge the bill only
    carries (``corrects_consumption=False``): the stolen energy and the case's money never
    count in the bill's own consumption or refund ceilings. Should billing reject it,
    :func:`case_billing_rejected` reopens the case.

    The billing document is requested in the poster's name (its user name is the
    ``requested_by`` billing compares for its own four-eyes approval). A poster who holds
    ``billing.add_billadjustment`` requests it as themself; an inspector without it requests it
    through billing's system-actor path with their user name as the label."""
    _need(actor, CHANGE)
    who = _who(actor)
    from gridcare.billing.choices import AdjustmentKind, BillStatus
    from gridcare.billing.models import Bill
    from gridcare.billing.services.adjustments import bill_adjustment_request

    billing_actor: Any = actor if staff_has_perm(actor, "billing.add_billadjustment") else who
    with transaction.atomic():
        case = _locked(case_id)
        if version is not None and case.version != version:
            raise Conflict(field="version")
        if case.status not in (CaseStatus.APPROVED, CaseStatus.NOTIFIED):
            raise Conflict(
                _("Only an approved case can be posted to billing."), field="status", code="invalid_state"
            )
        if case.total <= 0:
            raise ValidationFailed(_("The case has no amount to post."), field="total")
        bill = (
            Bill.objects.filter(account_id=case.account_id, status=BillStatus.ISSUED)
            .order_by("-period", "-id")
            .first()
        )
        if bill is None:
            raise Conflict(
                _("The account has no issued bill yet; the amounts stay on the case until one is issued."),
                field="account",
                code="no_issued_bill",
            )
        before = snapshot(case, AUDIT_FIELDS)
        adjustment = bill_adjustment_request(
            actor=billing_actor,
            bill_id=bill.pk,
            kind=AdjustmentKind.BACKBILL,
            kwh=case.energy_kwh,
            amount=case.total,
            reason=_posting_reason(case),
            lines=[
                {
                    "kind": "back_charge",
                    "item": "追补电费",
                    "kwh": str(case.energy_kwh),
                    "amount": str(case.back_charge),
                },
                {"kind": "penalty", "item": "违约使用电费", "kwh": "0.000", "amount": str(case.penalty)},
            ],
            corrects_consumption=False,
        )
        case.bill_adjustment = adjustment
        case.status = CaseStatus.SETTLED
        case.version += 1
        case.save()
        audit_record(
            actor=actor,
            obj=case,
            action="inspection.case.post",
            before=before,
            after=snapshot(case, AUDIT_FIELDS),
            reason=f"{adjustment.number} on bill {bill.number}",
        )
    return case


def case_billing_rejected(*, actor: Any, adjustment_id: int, note: str = "") -> Case | None:
    """Billing rejected the back-billing a case was posted as: called by
    ``billing.services.adjustments.bill_adjustment_decide`` in its transaction (``actor`` is
    billing's decider, already checked there). The case returns to the state it was posted
    from (notified when its notice was served, else approved), drops the link and writes
    ``inspection.case.billing_rejected`` with billing's note, so it can be posted again
    (billing's four-eyes rule applies to the new document) or withdrawn. Its amounts and
    approval stay. ``None`` when no settled case links the document."""
    with transaction.atomic():
        case = (
            Case.objects.select_for_update()
            .filter(bill_adjustment_id=adjustment_id, status=CaseStatus.SETTLED)
            .first()
        )
        if case is None:
            return None
        number = case.bill_adjustment.number if case.bill_adjustment else str(adjustment_id)
        before = snapshot(case, AUDIT_FIELDS)
        case.status = CaseStatus.NOTIFIED if case.notified_at else CaseStatus.APPROVED
        case.bill_adjustment = None
        case.version += 1
        case.save()
        audit_record(
            actor=actor,
            obj=case,
            action="inspection.case.billing_rejected",
            before=before,
            after=snapshot(case, AUDIT_FIELDS),
            reason=f"{number}: {note}" if note else number,
        )
    return case


# --- the notice (违约用电/窃电通知书) -------------------------------------------------------------------

NOTICE_PAYMENT_DAYS = 7
NOTICE_OBJECTION_DAYS = 15
# How the notice names each parameter (it is printed in Chinese).
PARAMETER_NAMES_ZH = {
    "theft_multiple": "窃电违约使用电费倍数",
    "theft_unknown_days": "窃电时间无法查明时的天数",
    "theft_hours_power": "电力用户每日窃电小时数",
    "theft_hours_lighting": "照明用户每日窃电小时数",
    "tariff_misuse_multiple": "擅自改变用电类别违约使用电费倍数",
    "tariff_misuse_unknown_months": "使用起讫日期难以确定时的月数",
    "capacity_two_part_multiple": "私增容 (两部制) 基本电费倍数",
    "capacity_other_per_kw": "私增容 (其他用户) 每千瓦违约使用电费 (元)",
    "sealed_two_part_multiple": "启用封存设备 (两部制) 基本电费倍数",
    "sealed_other_per_kw": "启用封存设备 (其他用户) 每千瓦每次 (元)",
    "tampering_residential": "私自迁移更动计量装置 居民用户每次 (元)",
    "tampering_other": "私自迁移更动计量装置 其他用户每次 (元)",
    "source_per_kw": "擅自引入供出电源 每千瓦 (元)",
}


def _chinese_part(label: Any) -> str:
    """The Chinese term in a label written "English (中文)", else the label."""
    import re

    text = str(label)
    found = re.search(r"\(([^()]*[\u4e00-\u9fff][^()]*)\)\s*$", text)
    return found.group(1) if found else text


def _notice_days(name: str, default: int) -> int:
    from django.conf import settings

    return int(getattr(settings, name, default))


def case_notice(case: Case) -> dict[str, Any]:
    """What the notice says (the HTML page and the PDF share it): company, customer and
    account, what was found, the legal basis with the rules used, the computation with the
    numbers, the amounts in figures and in capitals, the payment deadline and the right to
    object. Deadlines count from the day the notice was served (today while not yet served);
    the numbers of days are settings (``GRIDCARE_CASE_PAYMENT_DAYS`` default 7,
    ``GRIDCARE_CASE_OBJECTION_DAYS`` default 15), the company's own terms."""
    from gridcare.billing.services.bills import COMPANY
    from gridcare.inspection.engine.penalty import rmb_capital

    served = timezone.localdate(case.notified_at) if case.notified_at else timezone.localdate()
    pay_days = _notice_days("GRIDCARE_CASE_PAYMENT_DAYS", NOTICE_PAYMENT_DAYS)
    objection_days = _notice_days("GRIDCARE_CASE_OBJECTION_DAYS", NOTICE_OBJECTION_DAYS)
    theft = case.kind == CaseKind.THEFT
    what = _chinese_part(case.get_theft_method_display() if theft else case.get_violation_kind_display())
    account = case.account
    parameters = [
        {"key": key, "name_zh": PARAMETER_NAMES_ZH.get(key, key), **value}
        for key, value in sorted((case.basis.get("parameters") or {}).items())
    ]
    return {
        "case": case,
        "company": COMPANY,
        "title": "窃电通知书" if theft else "违约用电通知书",
        "account": account,
        "customer": account.customer,
        "address": account.service_point.address,
        "what": what,
        "article": case.basis.get("article", ""),
        "parameters": parameters,
        "steps": case.basis.get("steps") or [],
        "amounts": [
            ("追补电费", case.back_charge, rmb_capital(case.back_charge)),
            ("违约使用电费", case.penalty, rmb_capital(case.penalty)),
            ("合计", case.total, rmb_capital(case.total)),
        ],
        "total_capital": rmb_capital(case.total),
        "served_on": served,
        "served": case.notified_at is not None,
        "pay_by": served + dt.timedelta(days=pay_days) if case.notified_at else None,
        "pay_days": pay_days,
        "objection_days": objection_days,
        "payment_text": (
            f"请于 {served + dt.timedelta(days=pay_days):%Y年%m月%d日} 前 (送达之日起 {pay_days} 日内) "
            "到我公司营业厅缴清上述款项。逾期不交的, 我公司将依法依约中止供电并追缴。"
            if case.notified_at
            else f"请于本通知书送达之日起 {pay_days} 日内到我公司营业厅缴清上述款项。"
            "逾期不交的, 我公司将依法依约中止供电并追缴。"
        ),
        "objection_text": (
            f"如对本通知有异议, 可自收到本通知书之日起 {objection_days} 日内向我公司书面提出; "
            "对处理结果不服的, 可向电力管理部门申请处理, 或依法向人民法院提起诉讼。"
        ),
    }


NOTICE_SERVABLE = (CaseStatus.APPROVED, CaseStatus.NOTIFIED, CaseStatus.SETTLED)
"""Statuses whose notice may be served: the others print a DRAFT mark."""


def case_notice_pdf(case: Case) -> bytes:
    """The notice as an A4 PDF (bytes) with the embedded Chinese font of the bill notice
    (``gridcare.core.pdf``; ``NoticeFontMissing`` when the font is absent)."""
    from reportlab.lib import colors  # type: ignore[import-untyped]
    from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
    from reportlab.lib.units import mm  # type: ignore[import-untyped]
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle  # type: ignore[import-untyped]

    from gridcare.core.pdf import a4_pdf, notice_styles

    styles = notice_styles(size=9.5, leading=13)
    notice = case_notice(case)
    normal = styles.normal
    cell, para = styles.cell, styles.para

    grid = TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("VALIGN", (0, 0), (-1, -1), "MIDDLE")])
    customer = notice["customer"]
    story: list[Any] = [
        Paragraph(notice["company"], ParagraphStyle("c", parent=normal, alignment=1)),
        Paragraph(notice["title"], styles.title),
        Spacer(1, 3 * mm),
    ]
    if case.status not in NOTICE_SERVABLE:
        # As on the printable page: a notice not yet approved says so on paper too.
        warning = ParagraphStyle(
            "draft", parent=normal, alignment=1, textColor=colors.red, fontSize=12, leading=16
        )
        story += [
            Paragraph(f"草稿 DRAFT · {case.get_status_display()} · 未经审批，不得送达", warning),
            Spacer(1, 2 * mm),
        ]
    head = [
        [cell("通知书编号"), cell(case.number), cell("发现日期"), cell(case.occurred_on.isoformat())],
        [cell("户名"), cell(customer.name), cell("户号"), cell(notice["account"].number)],
        [
            cell("用电地址"),
            cell(notice["address"]),
            cell("送达日期"),
            cell(notice["served_on"].isoformat() if notice["served"] else ""),
        ],
    ]
    table = Table(head, colWidths=[24 * mm, 66 * mm, 24 * mm, 66 * mm])
    table.setStyle(grid)
    story += [table, Spacer(1, 4 * mm)]
    act = "窃电" if case.kind == CaseKind.THEFT else "违约用电"
    story.append(para(f"经我公司用电检查, 你户存在以下{act}行为: {notice['what']}。"))
    if case.facts:
        story.append(para(f"事实: {case.facts}"))
    story += [Spacer(1, 2 * mm), para(f"依据: {notice['article']}。所用参数:")]
    rows = [[cell("参数"), cell("值"), cell("上限"), cell("生效日期"), cell("来源")]]
    for p in notice["parameters"]:
        rows.append(
            [
                cell(p["name_zh"]),
                cell(p["applied"], right=True),
                cell("是 (不高于 " + p["value"] + ")" if p["is_cap"] else "否"),
                cell(p["effective_from"] or ""),
                para(p["source"] or ""),
            ]
        )
    params_table = Table(rows, colWidths=[42 * mm, 16 * mm, 28 * mm, 22 * mm, 72 * mm])
    params_table.setStyle(grid)
    story += [params_table, Spacer(1, 3 * mm), para("计算:")]
    for step in notice["steps"]:
        story.append(para("· " + step["zh"]))
    story.append(Spacer(1, 3 * mm))
    rows = [[cell("项目"), cell("金额 (元)"), cell("大写")]]
    rows += [
        [cell(label), cell(f"{amount:,.2f}", right=True), cell(capital)]
        for label, amount, capital in notice["amounts"]
    ]
    amounts_table = Table(rows, colWidths=[40 * mm, 40 * mm, 100 * mm])
    amounts_table.setStyle(grid)
    story += [amounts_table, Spacer(1, 4 * mm), para(notice["payment_text"]), Spacer(1, 2 * mm)]
    story += [para(notice["objection_text"]), Spacer(1, 8 * mm)]
    story.append(Paragraph(f"{notice['company']} (盖章)", ParagraphStyle("sig", parent=normal, alignment=2)))
    story.append(Spacer(1, 6 * mm))
    story.append(para("用户签收: ____________________    日期: ____________"))
    story.append(Spacer(1, 4 * mm))
    story.append(Paragraph(f"{case.number} · 本通知书一式两份, 供电企业与用户各执一份。", styles.small))
    return a4_pdf(
        story, title=f"{notice['title']} {case.number}", subject=case.number, author=notice["company"]
    )
