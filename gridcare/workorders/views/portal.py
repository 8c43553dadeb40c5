"""Customer portal pages of work orders (网上国网 · 我的工单), mounted under ``/portal/``.

* ``portal:workorders`` — my work orders: the orders whose customer is me, newest first, with
  their state and progress; plus the reports I filed myself. A report in which I am the
  *reported* party never appears (a report's customer is the reported party).
* ``portal:workorder`` (``/portal/workorders/<number>/``) — one of those orders and its public
  timeline: acceptance, each workflow step with its state, and the text of replies. Internal
  notes, contact details, assignments, SLA and alert rows are not shown; staff appear only as
  "客服人员". Any other number (someone else's order, a report about me, a guess) is 404.
* ``portal:workorder_new`` — file a complaint, report, opinion, suggestion, inquiry or service
  request through channel ``web`` with ``work_order_file_by_customer`` (customers do not hold
  ``workorders.add_workorder``; that service lets a customer file for themselves only, on one
  of their own accounts). I am the order's customer and its actor: the timeline and the
  audit trail name me. A report records me as the reporter (``ReporterIdentity`` with my
  customer id, kept confidential), never as the order's customer, and is accepted under
  the system actor ``PORTAL_ACTOR`` so that nothing on it names me.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from gridcare.core.errors import GridCareError, NotFound
from gridcare.core.pagination import paginate
from gridcare.core.permissions import customer_required
from gridcare.customers.forms import add_service_error
from gridcare.customers.models import Customer
from gridcare.portal.selectors import my_accounts, my_customer
from gridcare.workorders.choices import EventType, WorkOrderKind
from gridcare.workorders.forms import new_intake_key
from gridcare.workorders.models import Category, WorkOrder, WorkOrderEvent
from gridcare.workorders.registry import label_of, workflow_for
from gridcare.workorders.services.orders import CUSTOMER_KINDS, PORTAL_ACTOR, work_order_file_by_customer

__all__ = ["PORTAL_ACTOR", "portal_urlpatterns"]

#: Kinds a customer may file on the portal.
PORTAL_KINDS = CUSTOMER_KINDS
#: Steps whose note is the text addressed to the customer (答复 / 解答 / 处理完成并答复).
PUBLIC_NOTE_STEPS = frozenset({"reply", "answer", "complete"})
#: Timeline rows a customer sees; notes, attachments, SLA, alerts, links are internal.
PUBLIC_EVENTS = frozenset({EventType.CREATED, EventType.TRANSITION, EventType.CONTACT})
STAFF_LABEL = _("Customer service (客服人员)")
YOU_LABEL = _("You (网上国网)")
TONE_BADGE = {"info": "info", "warning": "warn", "success": "ok", "danger": "danger", "muted": "muted"}
PER_PAGE = 20


# ---- reads ---------------------------------------------------------------------------------


def _me(user: Any) -> Customer:
    try:
        return my_customer(user=user)
    except NotFound as exc:
        raise Http404(str(exc.message)) from exc


def my_work_orders(customer: Customer) -> QuerySet[WorkOrder]:
    """The orders a customer may follow: those whose customer is them (never a report: a
    report's customer is the reported party) and the reports they filed themselves."""
    return (
        WorkOrder.objects.filter(
            (Q(customer=customer) & ~Q(kind=WorkOrderKind.REPORT))
            | Q(kind=WorkOrderKind.REPORT, reporter__customer=customer)
        )
        .select_related("category", "account")
        .order_by("-created_at", "-id")
    )


@dataclass(frozen=True)
class Progress:
    """Where an order stands on its kind's path (the workflow's states in declaration order,
    without the cancelled ones)."""

    label: str
    badge: str
    step: int
    steps: int
    final: bool

    @property
    def percent(self) -> int:
        return round(100 * self.step / self.steps) if self.steps else 0


def progress_of(order: WorkOrder) -> Progress:
    workflow = workflow_for(order.kind)
    path_states = [s for s in workflow.states.values() if s.tone != "muted"]
    current = workflow.states.get(order.state)
    if current is None:
        return Progress(label=order.state, badge="muted", step=0, steps=len(path_states), final=False)
    names = [s.name for s in path_states]
    step = names.index(current.name) + 1 if current.name in names else len(names)
    return Progress(
        label=label_of(current),
        badge=TONE_BADGE.get(current.tone, "info"),
        step=step,
        steps=len(names),
        final=current.final,
    )


@dataclass(frozen=True)
class PublicEvent:
    at: Any
    what: str
    state: str
    by: str
    text: str


def public_timeline(order: WorkOrder, *, me: Any = None) -> list[PublicEvent]:
    """The order's timeline as its customer ``me`` (their user) may see it: no internal notes,
    no step fields (teams, assignees, outcomes), no staff names. What ``me`` did, and a report
    I filed (accepted under ``PORTAL_ACTOR``), shows as "You"."""
    my_id = getattr(me, "pk", None)
    workflow = workflow_for(order.kind)
    rows: list[PublicEvent] = []
    events = WorkOrderEvent.objects.filter(order=order, event_type__in=PUBLIC_EVENTS).order_by("at", "id")
    for event in events:
        if event.event_type == EventType.CREATED:
            what = str(_("Accepted (受理)"))
        else:
            step = workflow.transitions.get(event.transition)
            what = label_of(step) if step is not None else str(event.get_event_type_display())
        state = workflow.states.get(event.to_state)
        by_me = (event.actor_id is None and event.actor_label == PORTAL_ACTOR) or (
            my_id is not None and event.actor_id == my_id
        )
        rows.append(
            PublicEvent(
                at=event.at,
                what=what,
                state=label_of(state) if state is not None and event.to_state != event.from_state else "",
                by=str(YOU_LABEL if by_me else STAFF_LABEL),
                text=event.note if event.transition in PUBLIC_NOTE_STEPS else "",
            )
        )
    return rows


# ---- the new-order form --------------------------------------------------------------------


def _category_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Active categories grouped by kind, a sub-category shown under its parent (上级 › 下级)."""
    groups: dict[str, list[tuple[str, str]]] = {k: [] for k in PORTAL_KINDS}
    for cat in Category.objects.filter(is_active=True, kind__in=PORTAL_KINDS).select_related("parent"):
        label = f"{cat.parent.name} › {cat.name}" if cat.parent else cat.name
        groups[cat.kind].append((cat.code, label))
    return [(str(WorkOrderKind(k).label), items) for k, items in groups.items() if items]


class PortalOrderForm(forms.Form):
    kind = forms.ChoiceField(label=_("What is it"), choices=[(k.value, k.label) for k in PORTAL_KINDS])
    category = forms.ChoiceField(label=_("Category"))
    account = forms.ChoiceField(
        label=_("Account"),
        required=False,
        help_text=_("The account it concerns. A report is filed without one: it is about someone else."),
    )
    subject = forms.CharField(label=_("Subject"), max_length=200)
    description = forms.CharField(label=_("Details"), max_length=4000, required=False, widget=forms.Textarea)
    address = forms.CharField(
        label=_("Where"), max_length=200, required=False, help_text=_("The place it concerns, if any.")
    )
    contact_phone = forms.CharField(
        label=_("Phone to call you back"), max_length=20, required=False, help_text=_("Your mobile if empty.")
    )
    wants_reply = forms.BooleanField(label=_("Tell me the outcome (reports)"), required=False, initial=True)
    # One-time intake key: the form sent twice files one order.
    intake_key = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args: Any, customer: Customer, account_numbers: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.customer = customer
        if not self.is_bound:
            self.initial.setdefault("intake_key", new_intake_key())
        cast(forms.ChoiceField, self.fields["category"]).choices = [("", "—"), *_category_choices()]
        cast(forms.ChoiceField, self.fields["account"]).choices = [
            ("", "—"),
            *[(n, n) for n in account_numbers],
        ]
        self.fields["contact_phone"].widget.attrs.update({"inputmode": "tel", "autocomplete": "tel"})

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind = data.get("kind")
        if kind and kind != WorkOrderKind.REPORT and not data.get("account"):
            self.add_error("account", _("Choose the account it concerns."))
        if kind == WorkOrderKind.REPORT and data.get("account"):
            self.add_error("account", _("A report is not filed on your own account; leave it empty."))
        return data


def _create_from_portal(*, user: Any, data: dict[str, Any]) -> WorkOrder:
    """File the order through ``work_order_file_by_customer``, which checks again that the
    account is the customer's (the form only offers theirs). The form's intake key is the
    signed-in customer's, so the form sent twice files one order (a report's key is stored
    without the customer's user: nothing but the reporter identity names them)."""
    key = data.get("intake_key") or ""
    return work_order_file_by_customer(
        user=user,
        kind=data["kind"],
        category=data["category"],
        subject=data["subject"],
        description=data.get("description", ""),
        account_number=data.get("account") or "",
        address=data.get("address", ""),
        contact_phone=data.get("contact_phone") or "",
        wants_reply=bool(data.get("wants_reply")),
        idempotency_key=f"portal:{key}" if key else "",
    )


# ---- views ---------------------------------------------------------------------------------


@require_GET
@customer_required
def workorders_view(request: HttpRequest) -> HttpResponse:
    """我的工单: my orders, newest first, with state and progress."""
    customer = _me(request.user)
    page = paginate(request, my_work_orders(customer), per_page=PER_PAGE)
    rows = [(order, progress_of(order)) for order in page.object_list]
    return render(
        request,
        "workorders/portal_orders.html",
        {"page": page, "rows": rows, "portal_section": "workorders"},
    )


@require_GET
@customer_required
def workorder_view(request: HttpRequest, number: str) -> HttpResponse:
    """One of my orders and its public timeline; any other number is a plain 404."""
    customer = _me(request.user)
    order = my_work_orders(customer).filter(number=number).first()
    if order is None:
        raise Http404(str(_("Not found.")))
    return render(
        request,
        "workorders/portal_order.html",
        {
            "order": order,
            "progress": progress_of(order),
            "timeline": public_timeline(order, me=request.user),
            "is_report": order.kind == WorkOrderKind.REPORT,
            "portal_section": "workorders",
        },
    )


@require_http_methods(["GET", "POST"])
@customer_required
def workorder_new_view(request: HttpRequest) -> HttpResponse:
    """File a complaint, report, opinion, suggestion, inquiry or service request (渠道: 网站)."""
    customer = _me(request.user)
    numbers = list(my_accounts(user=request.user).values_list("number", flat=True))
    initial = {"kind": request.GET.get("kind", WorkOrderKind.COMPLAINT), "contact_phone": customer.mobile}
    if len(numbers) == 1:
        initial["account"] = numbers[0]
    form = PortalOrderForm(request.POST or None, initial=initial, customer=customer, account_numbers=numbers)
    if request.method == "POST" and form.is_valid():
        try:
            order = _create_from_portal(user=request.user, data=form.cleaned_data)
        except GridCareError as exc:
            add_service_error(form, exc, {"reporter.phone": "contact_phone", "account_number": "account"})
        else:
            messages.success(
                request, _("Received. Your work order number is %(number)s.") % {"number": order.number}
            )
            return redirect("portal:workorder", number=order.number)
    return render(request, "workorders/portal_order_new.html", {"form": form, "portal_section": "workorders"})


#: Mounted by the lead inside the ``portal`` namespace under /portal/.
portal_urlpatterns: list[URLPattern] = [
    path("workorders/", workorders_view, name="workorders"),
    path("workorders/new/", workorder_new_view, name="workorder_new"),
    path("workorders/<str:number>/", workorder_view, name="workorder"),
]
