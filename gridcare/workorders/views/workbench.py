"""The 95598 agent workbench (坐席工作台): caller lookup + one-screen intake, my queue, and the
supervisor board (docs/workorders-workbench.md).

Views stay thin: parse the request, call one selector or ``work_order_create``, render.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from gridcare.core.errors import GridCareError, NotFound
from gridcare.core.pagination import paginate
from gridcare.core.permissions import staff_required
from gridcare.workorders.choices import Channel, Grade, WorkOrderKind
from gridcare.workorders.forms import IntakeForm, add_service_error, category_kinds
from gridcare.workorders.models import Team
from gridcare.workorders.registry import label_of, workflow_for
from gridcare.workorders.selectors.workbench import (
    QUEUE_TABS,
    Caller360,
    CallerMatch,
    QueueFilters,
    board_figures,
    caller_360,
    caller_lookup,
    my_queue,
    order_rows,
    queue_counts,
)
from gridcare.workorders.services.orders import work_order_create

ADD = "workorders.add_workorder"
VIEW = "workorders.view_workorder"
CHANGE = "workorders.change_workorder"
BOARD = "quality.view_slabreach"
#: The message when the intake form is sent again (its one-time key filed an order before).
RESENT = gettext_noop("This form was already sent: it filed work order %(number)s; nothing new was filed.")


def _lookup(request: HttpRequest, params: Any) -> dict[str, Any]:
    """The caller panel's context from ``q`` (phone or 户号), ``customer`` (a pick from the
    list) or ``phone`` (a caller without a customer record)."""
    q = (params.get("q") or "").strip()[:40]
    customer = (params.get("customer") or "").strip()
    phone = (params.get("phone") or "").strip()[:20]
    matches: list[CallerMatch] = []
    panel: Caller360 | None = None
    try:
        if customer.isdigit():
            panel = caller_360(user=request.user, customer_id=int(customer), phone=phone)
        elif phone:
            panel = caller_360(user=request.user, phone=phone)
        elif q:
            matches = caller_lookup(user=request.user, q=q)
            if len(matches) == 1:
                only = matches[0]
                panel = caller_360(user=request.user, customer_id=only.customer_id, phone=only.phone)
    except NotFound as exc:
        raise Http404 from exc
    return {"q": q, "searched": bool(q or customer or phone), "matches": matches, "panel": panel}


def _panel_json(context: dict[str, Any]) -> dict[str, Any]:
    panel: Caller360 | None = context["panel"]
    data: dict[str, Any] = {
        "q": context["q"],
        "matches": [
            {
                "customer_id": m.customer_id,
                "name": m.name,
                "phone": m.phone,
                "via": m.via,
                "accounts": m.accounts,
                "order_count": m.order_count,
            }
            for m in context["matches"]
        ],
        "caller": None,
    }
    if panel is not None:
        data["caller"] = {
            "customer_id": panel.customer.pk if panel.customer else None,
            "name": panel.name,
            "phone": panel.phone,
            "prefill": panel.prefill,
            "accounts": [
                {
                    "number": a.number,
                    "customer_class": a.customer_class,
                    "customer_class_label": str(a.get_customer_class_display()),
                    "status": a.status,
                    "address": a.service_point.address,
                }
                for a in panel.accounts
            ],
            "open_orders": [_row_json(r) for r in panel.open_orders],
            "recent_orders": [_row_json(r) for r in panel.recent_orders],
            "bills": None
            if panel.bills is None
            else [
                {
                    "number": b.number,
                    "account": b.account.number,
                    "period": f"{b.period:%Y-%m}",
                    "amount": str(b.amount),
                    "outstanding": str(b.outstanding),
                }
                for b in panel.bills["bills"]
            ],
            "arrears": None
            if panel.arrears is None
            else [
                {
                    "account": a.number,
                    "outstanding": str(a.outstanding),
                    "late_fee": str(a.late_fee),
                    "bills": a.bills,
                }
                for a in panel.arrears
            ],
        }
    return data


def _row_json(row: Any) -> dict[str, Any]:
    order = row.order
    return {
        "number": order.number,
        "kind": order.kind,
        "category": order.category.name,
        "subject": order.subject,
        "state": order.state,
        "state_label": row.state_label,
        "created_at": order.created_at.isoformat(),
        "contact_name": row.contact_name,
        "contact_phone": row.contact_phone,
        "sla": {
            "status": row.clock.status,
            "stage": row.clock.stage,
            "due": row.clock.due.isoformat() if row.clock.due else None,
            "paused": row.clock.paused,
            "seconds_left": row.clock.seconds_left,
        },
    }


@staff_required(VIEW, ADD)
def caller_view(request: HttpRequest) -> HttpResponse:
    """来电识别: GET ?q= (phone or 户号), ?customer=<id> or ?phone= → the caller panel as an
    HTML fragment (the workbench inserts it), or JSON with ``format=json``."""
    context = _lookup(request, request.GET)
    if request.GET.get("format") == "json":
        return JsonResponse(_panel_json(context))
    return render(request, "workorders/workbench_caller.html", {**context, "now": timezone.now()})


def _intake_context(form: IntakeForm) -> dict[str, Any]:
    return {
        "form": form,
        "category_kinds": category_kinds(),
        "suggest_url": reverse("api:categories_suggest"),
    }


@staff_required(VIEW, ADD)
def workbench_view(request: HttpRequest) -> HttpResponse:
    """坐席工作台: the caller lookup on the left, the one-screen intake form on the right.
    A successful intake goes to the new order's page; an error re-renders with the input kept
    and the error on its field."""
    if request.method == "POST":
        form = IntakeForm(request.POST)
        if form.is_valid():
            sent_at = timezone.now()
            try:
                order = work_order_create(actor=request.user, **form.service_kwargs())
            except GridCareError as exc:
                add_service_error(form, exc)
            else:
                if order.created_at < sent_at:  # this form was sent before: the order it filed
                    messages.info(request, _(RESENT) % {"number": order.number})
                elif order.answered_first_contact:
                    messages.success(
                        request, _("Inquiry %(number)s answered at first contact.") % {"number": order.number}
                    )
                else:
                    messages.success(request, _("Work order %(number)s accepted.") % {"number": order.number})
                return redirect("workorders:order", number=order.number)
        try:  # the caller panel again; a customer gone since the lookup just loses the panel
            lookup = _lookup(request, {"customer": request.POST.get("customer_id", ""), "phone": ""})
        except Http404:
            lookup = {"q": "", "searched": False, "matches": [], "panel": None}
        status = 422
    else:
        lookup = _lookup(request, request.GET)
        initial: dict[str, Any] = {}
        panel = lookup["panel"]
        if panel is not None:
            initial.update({k: v for k, v in panel.prefill.items() if v})
        kind = request.GET.get("kind")
        if kind in WorkOrderKind.values:
            initial["kind"] = kind
        form = IntakeForm(initial=initial)
        status = 200
    return render(
        request,
        "workorders/workbench_intake.html",
        {**lookup, **_intake_context(form), "now": timezone.now()},
        status=status,
    )


def _state_choices(kind: str) -> list[tuple[str, str]]:
    kinds = [kind] if kind else list(WorkOrderKind.values)
    seen: dict[str, str] = {}
    for name in kinds:
        try:
            workflow = workflow_for(name)
        except KeyError:
            continue
        for state in workflow.states.values():
            if not state.final:
                seen.setdefault(state.name, label_of(state))
    return list(seen.items())


@staff_required(VIEW, CHANGE)
def queue_view(request: HttpRequest) -> HttpResponse:
    """我的待办: my open orders (or my teams' unassigned ones), nearest deadline first."""
    tab = request.GET.get("tab", "mine")
    if tab not in QUEUE_TABS:
        tab = "mine"
    filters = QueueFilters.from_mapping(request.GET)
    page = paginate(request, my_queue(user=request.user, tab=tab, filters=filters))
    now = timezone.now()
    return render(
        request,
        "workorders/workbench_queue.html",
        {
            "tab": tab,
            "filters": filters,
            "counts": queue_counts(user=request.user),
            "page": page,
            "rows": order_rows(page.object_list, now),
            "now": now,
            "kind_choices": WorkOrderKind.choices,
            "state_choices": _state_choices(filters.kind),
            "grade_choices": Grade.choices,
            "channel_choices": Channel.choices,
        },
    )


@staff_required(VIEW, BOARD)
def board_view(request: HttpRequest) -> HttpResponse:
    """班长看板: near-breach and breached open orders by team and kind, this month's breaches by
    stage and the team × SLA status chart; refreshes itself every minute."""
    team = (request.GET.get("team") or "").strip()[:30]
    kind = request.GET.get("kind") or ""
    if kind not in WorkOrderKind.values:
        kind = ""
    figures = board_figures(user=request.user, team=team or None, kind=kind or None)
    chart = {
        **figures.chart,
        "names": {
            "ok": _("On time"),
            "warned": _("Near deadline"),
            "breached": _("Breached"),
            "paused": _("Paused"),
        },
    }
    return render(
        request,
        "workorders/workbench_board.html",
        {
            "figures": figures,
            "chart": chart,
            "team": team,
            "kind": kind,
            "teams": list(Team.objects.filter(is_active=True).order_by("code").values_list("code", "name")),
            "kind_choices": WorkOrderKind.choices,
            "now": figures.now,
        },
    )


urlpatterns = [
    path("", workbench_view, name="workbench"),
    path("caller/", caller_view, name="caller"),
    path("queue/", queue_view, name="queue"),
    path("board/", board_view, name="board"),
]
