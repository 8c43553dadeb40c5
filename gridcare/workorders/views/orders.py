"""Console of work orders (工单): the list with search, filters and the Excel export; the order
page with its header, SLA clocks, full timeline, attachments, note form and one form per step
the user may take (generated from the workflow data); the reporter reveal of a report
(为举报人保密); my alerts.

Views stay thin: parse → one selector or service → render. Every write goes through
``services.orders`` and carries the version the user saw: when a colleague changed the order
first the page comes back with 409, the conflict message and everything the user typed.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from gridcare.core.audit import person_name
from gridcare.core.errors import Conflict, GridCareError, NotFound, ValidationFailed
from gridcare.core.errors import PermissionDenied as ServicePermissionDenied
from gridcare.core.pagination import paginate
from gridcare.core.permissions import staff_required
from gridcare.core.roles import staff_has_perm, user_roles
from gridcare.customers.forms import add_service_error
from gridcare.workorders.choices import (
    AlertKind,
    Channel,
    ContactMethod,
    ContactOutcome,
    Grade,
    Satisfaction,
    WorkOrderKind,
)
from gridcare.workorders.engine.workflow import Transition, available_transitions
from gridcare.workorders.exports import work_orders_xlsx_response
from gridcare.workorders.models import Attachment, Category, RootCause, Team, WorkOrder
from gridcare.workorders.registry import label_of, workflow_for, workflows
from gridcare.workorders.selectors.confidentiality import (
    CONFIDENTIAL_LABEL,
    can_see_reporter,
    contact_for,
    reporter_identity_reveal,
)
from gridcare.workorders.selectors.orders import (
    SLA_STATUSES,
    category_path,
    sla_status_badge,
    staff_alerts_for,
    state_badge,
    work_order_clocks,
    work_order_get,
    work_order_search,
    work_order_timeline,
    work_orders_visible_to,
)
from gridcare.workorders.services.orders import (
    staff_alert_read,
    work_order_attach,
    work_order_comment,
    work_order_transition,
)

VIEW = "workorders.view_workorder"
CHANGE = "workorders.change_workorder"
ATTACH = "workorders.add_attachment"
# Fields the service computes itself; never an input.
COMPUTED_FIELDS = frozenset({"improvement_recorded"})
CHOICE_LABELS: dict[str, dict[str, Any]] = {
    "method": dict(ContactMethod.choices),
    "outcome": dict(ContactOutcome.choices),
    "satisfaction": dict(Satisfaction.choices),
}
FIELD_LABELS: dict[str, Any] = {
    "note": gettext_lazy("Note"),
    "team": gettext_lazy("Team"),
    "assignee": gettext_lazy("Assignee"),
    "method": gettext_lazy("Contact method"),
    "outcome": gettext_lazy("Contact outcome"),
    "satisfaction": gettext_lazy("Satisfaction"),
    "root_cause": gettext_lazy("Root cause"),
    "action": gettext_lazy("Improvement action"),
    "due_date": gettext_lazy("Due (improvement)"),
}
BLANK = ("", "—")
# The stylesheet's badge modifiers for the tones of the workflow data and the selectors.
TONE_CSS = {"success": "ok", "warning": "warn", "danger": "danger", "info": "info", "muted": "muted"}
ALERT_TONES = {
    AlertKind.ASSIGNED: "info",
    AlertKind.SLA_WARNING: "warning",
    AlertKind.SLA_BREACH: "danger",
    AlertKind.ESCALATION: "danger",
    AlertKind.MAJOR: "danger",
    AlertKind.REOPENED: "warning",
}


# --- the list ---------------------------------------------------------------------------------


def _state_choices() -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for wf in workflows().values():
        for name, state in wf.states.items():
            seen.setdefault(name, label_of(state))
    return sorted(seen.items())


class OrderFilterForm(forms.Form):
    """The list's search box and filters (every one optional)."""

    q = forms.CharField(
        label=gettext_lazy("Search"),
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"placeholder": gettext_lazy("Number, subject, phone, 户号 or customer name")}
        ),
    )
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), required=False)
    state = forms.ChoiceField(label=gettext_lazy("State"), required=False)
    channel = forms.ChoiceField(label=gettext_lazy("Channel"), required=False)
    category = forms.ChoiceField(label=gettext_lazy("Category"), required=False)
    grade = forms.ChoiceField(label=gettext_lazy("Grade"), required=False)
    team = forms.ChoiceField(label=gettext_lazy("Team"), required=False)
    assignee = forms.CharField(label=gettext_lazy("Assignee (user name)"), required=False, max_length=150)
    open = forms.ChoiceField(
        label=gettext_lazy("Open / closed"),
        required=False,
        choices=[
            ("", gettext_lazy("All")),
            ("open", gettext_lazy("Open")),
            ("closed", gettext_lazy("Closed")),
        ],
    )
    sla = forms.ChoiceField(label=gettext_lazy("SLA status"), required=False)
    created_from = forms.DateField(
        label=gettext_lazy("Accepted from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    created_to = forms.DateField(
        label=gettext_lazy("Accepted to"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        every: tuple[str, Any] = ("", gettext_lazy("All"))
        self.fields["kind"].choices = [every, *WorkOrderKind.choices]  # type: ignore[attr-defined]
        self.fields["state"].choices = [every, *_state_choices()]  # type: ignore[attr-defined]
        self.fields["channel"].choices = [every, *Channel.choices]  # type: ignore[attr-defined]
        self.fields["grade"].choices = [every, *Grade.choices]  # type: ignore[attr-defined]
        self.fields["sla"].choices = [every, *SLA_STATUSES.items()]  # type: ignore[attr-defined]
        kinds = dict(WorkOrderKind.choices)
        groups: dict[str, list[tuple[str, str]]] = {}
        for code, name, kind, parent in Category.objects.filter(is_active=True).values_list(
            "code", "name", "kind", "parent_id"
        ):
            groups.setdefault(str(kinds.get(kind, kind)), []).append(
                (code, name if parent is None else f"— {name}")
            )
        self.fields["category"].choices = [every, *groups.items()]  # type: ignore[attr-defined]
        self.fields["team"].choices = [  # type: ignore[attr-defined]
            every,
            *Team.objects.filter(is_active=True).values_list("code", "name"),
        ]


def _filters(form: OrderFilterForm) -> dict[str, Any]:
    """The search arguments of the valid fields (an invalid date is shown, not applied)."""
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    names = ("q", "kind", "state", "channel", "category", "grade", "team", "assignee", "open", "sla")
    found: dict[str, Any] = {name: data.get(name) or "" for name in names}
    found["created_from"] = data.get("created_from")
    found["created_to"] = data.get("created_to")
    return found


# staff_required passes any response through; its type names HttpResponse only.
@staff_required(VIEW)  # type: ignore[arg-type]
@require_GET
def orders_view(request: HttpRequest) -> HttpResponse | FileResponse:
    """工单查询: search and filter every order the user may see, newest first; ``?export=xlsx``
    downloads the filtered list as Excel (a report's contact masked)."""
    form = OrderFilterForm(request.GET or None)
    filters = _filters(form) if form.is_bound else {}
    orders = work_order_search(user=request.user, **filters)
    if request.GET.get("export") == "xlsx":
        return work_orders_xlsx_response(orders, filename=f"workorders-{timezone.localdate():%Y%m%d}.xlsx")
    page = paginate(request, orders)
    rows = []
    for order in page.object_list:
        state_label, state_tone = state_badge(order.kind, order.state)
        sla_label, sla_tone = sla_status_badge(order.sla_status)
        rows.append(
            {
                "order": order,
                "state_label": state_label,
                "state_tone": state_tone,
                "sla_label": sla_label,
                "sla_tone": sla_tone,
                "contact": contact_for(order),
            }
        )
    export_query = request.GET.copy()
    export_query.pop("page", None)
    export_query["export"] = "xlsx"
    return render(
        request,
        "workorders/orders_list.html",
        {
            "form": form,
            "page": page,
            "rows": rows,
            "export_query": export_query.urlencode(),
            "tone_css": TONE_CSS,
        },
    )


# --- the order page ---------------------------------------------------------------------------


class NoteForm(forms.Form):
    note = forms.CharField(
        label=gettext_lazy("Note (备注)"), max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )


class AttachmentForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("File"))


class StepChoices:
    """The select options the step forms of one page share (each read once, when needed)."""

    @cached_property
    def teams(self) -> list[Team]:
        return list(Team.objects.filter(is_active=True).prefetch_related("members").order_by("code"))

    @cached_property
    def root_causes(self) -> list[tuple[str, str]]:
        return list(RootCause.objects.values_list("code", "name"))

    def team_choices(self) -> list[tuple[str, str]]:
        return [BLANK, *((t.code, f"{t.name} ({t.code})") for t in self.teams)]

    def member_choices(self) -> list[Any]:
        groups: list[Any] = [("", gettext_lazy("Nobody yet (the team picks)"))]
        for team in self.teams:
            members = sorted(team.members.all(), key=lambda u: u.username)
            if members:
                groups.append(
                    (
                        team.name,
                        [(u.username, f"{person_name(u)} ({u.username})") for u in members],
                    )
                )
        return groups


class StepForm(forms.Form):
    """One workflow step as a form: its ``require`` and ``choices`` fields from the workflow
    data (note → textarea, team → teams, assignee → the teams' members, method / outcome /
    satisfaction → the choices' labels, root_cause → RootCause, action → textarea), an
    optional note when the data does not ask for one, and the version the user saw."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, transition: Transition, options: StepChoices, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", transition.name)
        super().__init__(*args, **kwargs)
        self.transition = transition
        required = set(transition.require) - COMPUTED_FIELDS
        names = [n for n in (*transition.require, *transition.choices) if n not in COMPUTED_FIELDS]
        if transition.assign:
            names += ["team", "assignee"]
        if "root_cause" in names:
            names.append("due_date")
        names.append("note")
        for name in dict.fromkeys(names):
            self.fields[name] = self._field(name, name in required, options)

    def _field(self, name: str, required: bool, options: StepChoices) -> forms.Field:
        label = FIELD_LABELS.get(name, name)
        if name == "note" or name == "action":
            return forms.CharField(
                label=label, required=required, max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
            )
        if name == "team":
            return forms.ChoiceField(label=label, required=required, choices=options.team_choices())
        if name == "assignee":
            return forms.ChoiceField(label=label, required=required, choices=options.member_choices())
        if name == "root_cause":
            return forms.ChoiceField(label=label, required=required, choices=[BLANK, *options.root_causes])
        if name == "due_date":
            return forms.DateField(
                label=label, required=False, widget=forms.DateInput(attrs={"type": "date"})
            )
        allowed = self.transition.choices.get(name)
        if allowed is not None or name in CHOICE_LABELS:
            labels = CHOICE_LABELS.get(name, {})
            values = allowed if allowed is not None else tuple(labels)
            return forms.ChoiceField(
                label=label, required=required, choices=[BLANK, *((v, labels.get(v, v)) for v in values)]
            )
        return forms.CharField(label=label, required=required, max_length=4000)

    def service_fields(self) -> dict[str, Any]:
        """What the service receives: every input but the version (dates as ISO text)."""
        fields: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            if name == "version" or value in (None, ""):
                continue
            fields[name] = value.isoformat() if hasattr(value, "isoformat") else value
        return fields


def _order_or_404(request: HttpRequest, number: str) -> WorkOrder:
    try:
        return work_order_get(user=request.user, number=number)
    except NotFound as exc:
        raise Http404 from exc


def _step_forms(
    request: HttpRequest, order: WorkOrder, failed: StepForm | None
) -> tuple[list[StepForm], StepForm | None]:
    """The forms of the steps the user may take now (the failed one keeps the user's input);
    the failed form comes back separately when its step is no longer available."""
    if not staff_has_perm(request.user, CHANGE):
        return [], failed
    wf = workflow_for(order.kind)
    options = StepChoices()
    steps = available_transitions(
        wf,
        order.state,
        user_roles(request.user),
        superuser=bool(getattr(request.user, "is_superuser", False)),
    )
    # Pause is offered while the clocks run and resume while they are paused (the workflow
    # data allows both from the same states; the service refuses the one that does not apply).
    paused = order.paused_since is not None
    result = []
    for t in steps:
        not_now = (t.resume and not paused) or (t.pause and paused)
        if not_now and (failed is None or failed.transition.name != t.name):
            continue
        if failed is not None and failed.transition.name == t.name:
            result.append(failed)
            failed = None
        else:
            result.append(StepForm(transition=t, options=options, initial={"version": order.version}))
    return result, failed


def _render_order(
    request: HttpRequest,
    order: WorkOrder,
    *,
    status: int = 200,
    failed: StepForm | None = None,
    error: str = "",
    note_form: NoteForm | None = None,
    attach_form: AttachmentForm | None = None,
    reporter: Any = None,
) -> HttpResponse:
    user = request.user
    now = timezone.now()
    state_label, state_tone = state_badge(order.kind, order.state)
    steps, orphan = _step_forms(request, order, failed)
    can_view_customer = staff_has_perm(user, "customers.view_customer")
    repeats = sorted(order.repeats.all(), key=lambda o: (o.created_at, o.pk))
    context = {
        "order": order,
        "state_label": state_label,
        "state_tone": state_tone,
        "category_path": category_path(order),
        "contact": contact_for(order),
        "is_report": order.kind == WorkOrderKind.REPORT,
        "confidential_label": CONFIDENTIAL_LABEL,
        "can_see_reporter": can_see_reporter(user),
        "reporter": reporter,
        "clocks": work_order_clocks(order, now),
        "timeline": work_order_timeline(order),
        "attachments": list(order.attachments.all()),
        "repeats": repeats,
        "customer_url": (
            reverse("customers:detail", args=[order.customer_id])
            if order.customer_id and can_view_customer
            else ""
        ),
        "steps": steps,
        "orphan_step": orphan,
        "step_error": error,
        "can_change": staff_has_perm(user, CHANGE),
        "can_attach": staff_has_perm(user, ATTACH),
        "note_form": note_form or NoteForm(),
        "attach_form": attach_form or AttachmentForm(),
        "now": now,
        "tone_css": TONE_CSS,
    }
    return render(request, "workorders/orders_detail.html", context, status=status)


@staff_required(VIEW)
@require_GET
def order_view(request: HttpRequest, number: str) -> HttpResponse:
    """工单详情: header, SLA clocks, full timeline, attachments, note and step forms."""
    return _render_order(request, _order_or_404(request, number))


def _raise_denied(exc: ServicePermissionDenied) -> None:
    raise PermissionDenied(str(exc.message)) from exc


@staff_required(VIEW, CHANGE)
@require_POST
def order_step_view(request: HttpRequest, number: str, transition: str) -> HttpResponse:
    """Take one step (``transition``) with the version the user saw. Success → the order page;
    a colleague first → 409 with the message and the user's input; bad input → 422 on the
    field."""
    order = _order_or_404(request, number)
    wf = workflow_for(order.kind)
    t = wf.transitions.get(transition)
    if t is None:
        raise Http404
    form = StepForm(request.POST, transition=t, options=StepChoices())
    if not form.is_valid():
        return _render_order(request, order, status=422, failed=form)
    try:
        updated = work_order_transition(
            actor=request.user,
            number=order.number,
            transition=transition,
            expected_version=form.cleaned_data["version"],
            fields=form.service_fields(),
        )
    except Conflict as exc:
        fresh = _order_or_404(request, number)
        # Keep everything typed; the hidden version becomes the current one, so sending again
        # (after reading what the colleague did, shown on the page) is a deliberate choice.
        data: QueryDict = request.POST.copy()
        data[form.add_prefix("version")] = str(fresh.version)
        kept = StepForm(data, transition=t, options=StepChoices())
        kept.is_valid()
        return _render_order(request, fresh, status=409, failed=kept, error=str(exc.message))
    except ValidationFailed as exc:
        add_service_error(form, exc)
        return _render_order(request, order, status=422, failed=form)
    except ServicePermissionDenied as exc:
        raise PermissionDenied(str(exc.message)) from exc
    except NotFound as exc:
        raise Http404 from exc
    messages.success(
        request,
        _("%(step)s done: %(number)s is now %(state)s.")
        % {
            "step": label_of(t),
            "number": updated.number,
            "state": state_badge(updated.kind, updated.state)[0],
        },
    )
    return redirect("workorders:order", number=updated.number)


@staff_required(VIEW, CHANGE)
@require_POST
def order_note_view(request: HttpRequest, number: str) -> HttpResponse:
    """备注: add a note to the timeline (never conflicts: a note does not change the order)."""
    order = _order_or_404(request, number)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            work_order_comment(actor=request.user, number=order.number, note=form.cleaned_data["note"])
        except GridCareError as exc:
            if isinstance(exc, ServicePermissionDenied):
                _raise_denied(exc)
            add_service_error(form, exc)
        else:
            messages.success(request, _("Note added."))
            return redirect("workorders:order", number=order.number)
    return _render_order(request, order, status=422, note_form=form)


@staff_required(VIEW, ATTACH)
@require_POST
def order_attach_view(request: HttpRequest, number: str) -> HttpResponse:
    """附件: upload a photo or document (type and size checked by the service)."""
    order = _order_or_404(request, number)
    form = AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            work_order_attach(actor=request.user, number=order.number, upload=form.cleaned_data["file"])
        except GridCareError as exc:
            if isinstance(exc, ServicePermissionDenied):
                _raise_denied(exc)
            add_service_error(form, exc)
        else:
            messages.success(request, _("File attached."))
            return redirect("workorders:order", number=order.number)
    return _render_order(request, order, status=422, attach_form=form)


@staff_required(VIEW)  # type: ignore[arg-type]
@require_GET
def attachment_view(request: HttpRequest, pk: int) -> FileResponse:
    """Download an attachment of an order the user may see (never a public URL)."""
    attachment = (
        Attachment.objects.filter(pk=pk, order__in=work_orders_visible_to(request.user))
        .select_related("order")
        .first()
    )
    if attachment is None:
        raise Http404
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    response = FileResponse(
        handle, as_attachment=True, filename=attachment.name, content_type=attachment.content_type
    )
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@staff_required(VIEW)
@require_POST
def order_reporter_view(request: HttpRequest, number: str) -> HttpResponse:
    """为举报人保密: show a report's reporter to a user allowed to see reporters; every reveal is
    audited. POST only, so no link, prefetch or crawler ever reveals it."""
    order = _order_or_404(request, number)
    if order.kind != WorkOrderKind.REPORT:
        raise Http404
    try:
        identity = reporter_identity_reveal(user=request.user, order=order)
    except ServicePermissionDenied as exc:
        raise PermissionDenied(str(exc.message)) from exc
    response = _render_order(request, order, reporter=identity)
    response["Cache-Control"] = "private, no-store"
    return response


# --- alerts -----------------------------------------------------------------------------------


def _alert_ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit()]


@staff_required()
@require_http_methods(["GET", "POST"])
def alerts_view(request: HttpRequest) -> HttpResponse:
    """我的提醒: unread first; POST ``alert`` (one or more ids) or ``all`` marks them read."""
    if request.method == "POST":
        if request.POST.get("all"):
            count = staff_alert_read(user=request.user)
        else:
            ids = _alert_ids(request.POST.getlist("alert"))
            count = staff_alert_read(user=request.user, alert_ids=ids) if ids else 0
        messages.success(request, _("%(count)s alert(s) marked read.") % {"count": count})
        return redirect("workorders:alerts")
    page = paginate(request, staff_alerts_for(request.user))
    for alert in page.object_list:
        alert.tone = ALERT_TONES.get(alert.kind, "info")
    can_open = staff_has_perm(request.user, VIEW)
    return render(
        request, "workorders/alerts_list.html", {"page": page, "can_open": can_open, "tone_css": TONE_CSS}
    )


urlpatterns: list[URLPattern] = [
    path("orders/", orders_view, name="orders"),
    path("orders/<str:number>/", order_view, name="order"),
    path("orders/<str:number>/step/<str:transition>/", order_step_view, name="order_step"),
    path("orders/<str:number>/note/", order_note_view, name="order_note"),
    path("orders/<str:number>/attach/", order_attach_view, name="order_attach"),
    path("orders/<str:number>/reporter/", order_reporter_view, name="order_reporter"),
    path("attachments/<int:pk>/", attachment_view, name="attachment"),
    path("alerts/", alerts_view, name="alerts"),
]
