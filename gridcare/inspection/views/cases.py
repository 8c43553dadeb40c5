"""Console of theft and violation cases (窃电/违约用电案件) and of the penalty rules.

- ``inspection:cases``: the list (status, kind, violation kind, search by case number, 户号 or
  customer name), paginated, status badges;
- ``inspection:case_new``: 立案, prefilled from ``?finding=``, ``?task=`` or ``?account=``;
  "Compute" shows the amounts without saving, "Save draft" creates the case;
- ``inspection:case_detail``: facts, inputs, amounts with the formula and the rules used,
  the actions this user may take now (edit, submit, approve/reject, notice served, post to
  billing, withdraw), the audit history and the links;
- ``inspection:case_notice`` / ``inspection:case_notice_pdf``: the notice (HTML to print, PDF);
- ``inspection:penalty_rules``: the rules in force and their history, a form to add a value.

Views stay thin: parse → one selector or service → render; the services check the
permissions again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from gridcare.core.errors import Conflict, GridCareError, NotFound
from gridcare.core.errors import PermissionDenied as ServicePermissionDenied
from gridcare.core.pagination import paginate
from gridcare.core.permissions import staff_required
from gridcare.customers.forms import add_service_error
from gridcare.inspection.choices import PenaltyKey
from gridcare.inspection.forms_cases import CaseEditForm, CaseFilterForm, CaseForm, PenaltyRuleForm
from gridcare.inspection.selectors.cases import (
    STATUS_BADGES,
    CaseFilters,
    case_actions,
    case_audit,
    case_get,
    case_search,
)
from gridcare.inspection.services.cases import (
    case_compute,
    case_create,
    case_decide,
    case_notice,
    case_notice_pdf,
    case_notify,
    case_post_to_billing,
    case_prefill,
    case_submit,
    case_update,
    case_withdraw,
)
from gridcare.inspection.services.penalty_rules import (
    penalty_rule_add,
    penalty_rules_at,
    penalty_rules_history,
)

VIEW = "inspection.view_case"
ADD = "inspection.add_case"


def _url(name: str, *args: Any) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _case_or_404(request: HttpRequest, case_id: int) -> Any:
    try:
        return case_get(user=request.user, case_id=case_id)
    except NotFound as exc:
        raise Http404 from exc


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


# --- list ---------------------------------------------------------------------------------------


@staff_required(VIEW)
@require_GET
def cases_view(request: HttpRequest) -> HttpResponse:
    """案件列表: newest first, filtered and searched."""
    form = CaseFilterForm(request.GET or None)
    filters = CaseFilters()
    if form.is_bound and form.is_valid():
        filters = CaseFilters(**{k: v or "" for k, v in form.cleaned_data.items()})
    page = paginate(request, case_search(request.user, filters))
    for case in page.object_list:
        case.badge = STATUS_BADGES.get(case.status, "muted")
    return render(request, "inspection/case_list.html", {"form": form, "page": page})


# --- new ------------------------------------------------------------------------------------------


def _initial(request: HttpRequest) -> tuple[dict[str, Any], dict[str, Any] | None]:
    try:
        data = case_prefill(
            user=request.user,
            finding_id=_int(request.GET.get("finding")),
            task_id=_int(request.GET.get("task")),
            account_id=_int(request.GET.get("account")),
        )
    except NotFound as exc:
        raise Http404 from exc
    initial: dict[str, Any] = {
        "kind": data.get("kind", ""),
        "theft_method": data.get("theft_method", ""),
        "violation_kind": data.get("violation_kind", ""),
        "user_type": data.get("user_type", ""),
        "occurred_on": data.get("occurred_on"),
        "facts": data.get("facts", ""),
        "task": data.get("task_id"),
        "finding": data.get("finding_id"),
        **data.get("inputs", {}),
    }
    if data.get("account") is not None:
        initial["account"] = data["account"].number
    return initial, data.get("price_info")


@staff_required(VIEW, ADD)
@require_http_methods(["GET", "POST"])
def case_new_view(request: HttpRequest) -> HttpResponse:
    """立案: compute (preview, nothing saved) or save as a draft."""
    initial, price_info = _initial(request)
    preview = None
    if request.method == "POST":
        form = CaseForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if request.POST.get("action") == "preview":
                    preview = case_compute(
                        kind=data["kind"],
                        occurred_on=data["occurred_on"],
                        inputs=form.inputs(),
                        violation_kind=data["violation_kind"] if data["kind"] == "violation" else "",
                        user_type=data["user_type"],
                        account_id=data["account"].pk,
                    )
                else:
                    case = case_create(
                        actor=request.user,
                        kind=data["kind"],
                        account_id=data["account"].pk,
                        occurred_on=data["occurred_on"],
                        inputs=form.inputs(),
                        task_id=data["task"],
                        finding_id=data["finding"],
                        violation_kind=data["violation_kind"] if data["kind"] == "violation" else "",
                        theft_method=data["theft_method"] if data["kind"] == "theft" else "",
                        user_type=data["user_type"] if data["kind"] == "theft" else "",
                        facts=data["facts"],
                    )
                    messages.success(
                        request,
                        _("Case %(number)s saved as a draft: total %(total)s yuan.")
                        % {"number": case.number, "total": case.total},
                    )
                    return redirect("inspection:case_detail", case_id=case.pk)
            except ServicePermissionDenied as exc:
                raise PermissionDenied from exc
            except GridCareError as exc:
                add_service_error(form, exc)
    else:
        form = CaseForm(initial=initial)
    return render(
        request,
        "inspection/case_new.html",
        {"form": form, "preview": preview, "price_info": price_info},
    )


# --- detail and actions ---------------------------------------------------------------------------


def _edit_form(case: Any, data: Any = None) -> CaseEditForm:
    initial = {
        "theft_method": case.theft_method,
        "violation_kind": case.violation_kind,
        "user_type": case.user_type,
        "occurred_on": case.occurred_on,
        "facts": case.facts,
        "version": case.version,
        **case.inputs,
    }
    return CaseEditForm(data, initial=initial)


def _act(request: HttpRequest, case: Any, action: str, edit: CaseEditForm | None) -> str | None:
    """Run one action; the success message, or None when the edit form has errors."""
    user = request.user
    post = request.POST
    version = _int(post.get("version"))
    if action == "edit":
        assert edit is not None  # noqa: S101 - built for every edit POST
        if not edit.is_valid():
            return None
        data = edit.cleaned_data
        try:
            case_update(
                actor=user,
                case_id=case.pk,
                version=data["version"],
                inputs=edit.inputs(),
                occurred_on=data["occurred_on"],
                facts=data["facts"],
                violation_kind=data["violation_kind"] if case.kind == "violation" else None,
                theft_method=data["theft_method"] if case.kind == "theft" else None,
                user_type=data["user_type"] if case.kind == "theft" else None,
            )
        except (ServicePermissionDenied, Conflict):
            raise
        except GridCareError as exc:
            if exc.field in edit.fields:
                add_service_error(edit, exc)
                return None
            raise
        return _("Case changed and computed again.")
    if action == "submit":
        case_submit(actor=user, case_id=case.pk, version=version)
        return _("Case submitted for approval.")
    if action in ("approve", "reject"):
        case_decide(
            actor=user,
            case_id=case.pk,
            approve=action == "approve",
            note=post.get("note", ""),
            version=version,
        )
        return _("Case approved.") if action == "approve" else _("Case sent back to draft.")
    if action == "notify":
        case_notify(actor=user, case_id=case.pk, version=version)
        return _("Notice recorded as served.")
    if action == "post":
        posted = case_post_to_billing(actor=user, case_id=case.pk, version=version)
        return _("Posted to billing as back-billing %(number)s, pending approval in billing.") % {
            "number": posted.bill_adjustment.number if posted.bill_adjustment else ""
        }
    if action == "withdraw":
        case_withdraw(actor=user, case_id=case.pk, reason=post.get("reason", ""), version=version)
        return _("Case withdrawn.")
    raise Http404


@staff_required(VIEW)
@require_http_methods(["GET", "POST"])
def case_detail_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """案件详情 with the actions this user may take now."""
    case = _case_or_404(request, case_id)
    actions = case_actions(request.user, case)
    edit = _edit_form(case) if "edit" in actions else None
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action not in actions:
            raise PermissionDenied
        if action == "edit":
            edit = _edit_form(case, request.POST)
        try:
            done = _act(request, case, action, edit)
        except ServicePermissionDenied as exc:
            raise PermissionDenied from exc
        except GridCareError as exc:
            messages.error(request, str(exc.message))
            return redirect("inspection:case_detail", case_id=case.pk)
        if done is not None:
            messages.success(request, done)
            return redirect("inspection:case_detail", case_id=case.pk)
    adjustment = case.bill_adjustment
    return render(
        request,
        "inspection/case_detail.html",
        {
            "case": case,
            "badge": STATUS_BADGES.get(case.status, "muted"),
            "actions": actions,
            "edit": edit,
            "parameters": sorted((case.basis.get("parameters") or {}).items()),
            "rule_names": dict(PenaltyKey.choices),
            "steps": case.basis.get("steps") or [],
            "inputs": sorted(case.inputs.items()),
            "events": list(case_audit(case)),
            "task_url": _url("inspection:task_detail", case.task_id) if case.task_id else None,
            "customer_url": _url("customers:detail", case.account.customer_id),
            "risk_url": _url("inspection:risk_detail", case.account_id),
            "finding_url": _url("inspection:task_detail", case.finding.task_id) if case.finding_id else None,
            "adjustment_url": _url("billing:bill_adjustment", adjustment.pk) if adjustment else None,
        },
    )


# --- notice -----------------------------------------------------------------------------------------


@staff_required(VIEW)
@require_GET
def case_notice_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """违约用电/窃电通知书 as a page to print."""
    case = _case_or_404(request, case_id)
    return render(
        request,
        "inspection/case_notice.html",
        {
            "notice": case_notice(case),
            "pdf_url": reverse("inspection:case_notice_pdf", args=[case.pk]),
            "draft": case.status in ("draft", "submitted", "withdrawn"),
        },
    )


@staff_required(VIEW)
@require_GET
def case_notice_pdf_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """The notice as PDF."""
    case = _case_or_404(request, case_id)
    try:
        content = case_notice_pdf(case)
    except GridCareError as exc:
        return HttpResponse(str(exc.message), status=exc.status, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="notice-{case.number}.pdf"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- penalty rules ----------------------------------------------------------------------------------


@staff_required("inspection.view_penaltyrule")
@require_http_methods(["GET", "POST"])
def penalty_rules_view(request: HttpRequest) -> HttpResponse:
    """违约使用电费参数: the values in force today, every row per key, a form to add one."""
    can_add = request.user.has_perm("inspection.add_penaltyrule")
    form = PenaltyRuleForm(request.POST or None) if can_add else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied
        if form.is_valid():
            data = form.cleaned_data
            try:
                rule = penalty_rule_add(actor=request.user, **data)
            except ServicePermissionDenied as exc:
                raise PermissionDenied from exc
            except GridCareError as exc:
                add_service_error(form, exc)
            else:
                messages.success(
                    request,
                    _("%(key)s = %(value)s from %(day)s added.")
                    % {"key": rule.key, "value": rule.value, "day": rule.effective_from},
                )
                return redirect("inspection:penalty_rules")
    today = timezone.localdate()
    try:
        current = penalty_rules_at(today)
    except GridCareError:
        current = {}
    history = penalty_rules_history()
    labels = dict(PenaltyKey.choices)
    rows = [
        {
            "key": key,
            "label": labels.get(key, key),
            "current": current.get(key),
            "history": history.get(key, []),
        }
        for key in PenaltyKey.values
    ]
    return render(
        request,
        "inspection/penalty_rules.html",
        {"rows": rows, "form": form, "today": today, "year_2024": dt.date(2024, 6, 1)},
    )


urlpatterns: list[URLPattern] = [
    path("cases/", cases_view, name="cases"),
    path("cases/new/", case_new_view, name="case_new"),
    path("cases/<int:case_id>/", case_detail_view, name="case_detail"),
    path("cases/<int:case_id>/notice/", case_notice_view, name="case_notice"),
    path("cases/<int:case_id>/notice.pdf", case_notice_pdf_view, name="case_notice_pdf"),
    path("penalty-rules/", penalty_rules_view, name="penalty_rules"),
]
