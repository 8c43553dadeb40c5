"""Reads of work orders (工单): who may see which orders, the search behind the order list, the
console API and the export, one order with what its page needs, its timeline and its SLA
clocks as a person reads them.

Visibility: staff holding ``workorders.view_workorder`` see every order; a portal customer
sees the orders filed for their own customer record except reports (举报: there the customer
is the *reported* party); everybody else sees nothing.

SLA status of an order (``sla_status``, the list's colour and filter), worst first:

* ``breached`` — a clock missed its deadline: marked breached by the tick, met after its
  due time, or running unpaused past its due time now;
* ``warned`` — a running unpaused clock is past its warning time (75 % of the allowed time);
* ``paused`` — a running clock is paused (waiting for the customer);
* ``running`` — clocks run and none of the above;
* ``met`` — every clock stopped in time; ``""`` — the order never had a clock.

The contact shown for an order is never read from here directly by a page: pages and exports
call ``selectors.confidentiality.contact_for`` (a report's reporter is masked).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Case, CharField, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.core.errors import NotFound
from gridcare.core.roles import is_customer_user, staff_has_perm
from gridcare.workorders.choices import (
    Channel,
    ContactMethod,
    ContactOutcome,
    EventType,
    Grade,
    Satisfaction,
    SlaStage,
    WorkOrderKind,
)
from gridcare.workorders.engine.workflow import Workflow
from gridcare.workorders.models import RootCause, SlaClock, StaffAlert, WorkOrder, WorkOrderEvent
from gridcare.workorders.registry import label_of, workflows

__all__ = [
    "SLA_STATUSES",
    "ClockView",
    "TimelineEntry",
    "sla_status_badge",
    "staff_alerts_for",
    "state_badge",
    "with_sla_status",
    "work_order_clocks",
    "work_order_get",
    "work_order_search",
    "work_order_timeline",
    "work_orders_visible_to",
]

VIEW_PERMISSION = "workorders.view_workorder"
SLA_RUNNING = "running"
SLA_WARNED = "warned"
SLA_BREACHED = "breached"
SLA_PAUSED = "paused"
SLA_MET = "met"
# The statuses the list filters by (``met`` and "no clock" are shown, not filtered).
SLA_STATUSES: dict[str, Any] = {
    SLA_RUNNING: _("Running (计时中)"),
    SLA_WARNED: _("Near deadline (预警)"),
    SLA_BREACHED: _("Breached (超时)"),
    SLA_PAUSED: _("Paused (挂起)"),
}
SLA_LABELS: dict[str, Any] = {**SLA_STATUSES, SLA_MET: _("Met (按时)"), "": _("No deadline")}
SLA_TONES = {
    SLA_RUNNING: "info",
    SLA_WARNED: "warning",
    SLA_BREACHED: "danger",
    SLA_PAUSED: "muted",
    SLA_MET: "success",
    "": "muted",
}
OPEN_VALUES = {"open": True, "1": True, "true": True, "closed": False, "0": False, "false": False}


def work_orders_visible_to(user: Any) -> QuerySet[WorkOrder]:
    """Orders ``user`` may see: all for staff with ``workorders.view_workorder``; a customer's
    own orders other than reports for a portal customer; none for anyone else."""
    if staff_has_perm(user, VIEW_PERMISSION):
        return WorkOrder.objects.all()
    if is_customer_user(user):
        return WorkOrder.objects.filter(customer__user=user).exclude(kind=WorkOrderKind.REPORT)
    return WorkOrder.objects.none()


def with_sla_status(qs: QuerySet[WorkOrder], now: dt.datetime | None = None) -> QuerySet[WorkOrder]:
    """``qs`` annotated with ``sla_status`` (see the module docstring) as of ``now``."""
    now = now or timezone.now()
    clocks = SlaClock.objects.filter(order=OuterRef("pk"))
    running = clocks.filter(stopped_at__isnull=True)
    unpaused = running.filter(paused_since__isnull=True)
    breached = clocks.filter(
        Q(breached_at__isnull=False)
        | Q(stopped_at__isnull=False, stopped_at__gt=F("due_at"))
        | Q(stopped_at__isnull=True, paused_since__isnull=True, due_at__lte=now)
    )
    warned = unpaused.filter(Q(warn_at__lte=now) | Q(warned_at__isnull=False))
    return qs.annotate(
        sla_status=Case(
            When(Exists(breached), then=Value(SLA_BREACHED)),
            When(Exists(warned), then=Value(SLA_WARNED)),
            When(Exists(running.filter(paused_since__isnull=False)), then=Value(SLA_PAUSED)),
            When(Exists(running), then=Value(SLA_RUNNING)),
            When(Exists(clocks), then=Value(SLA_MET)),
            default=Value(""),
            output_field=CharField(),
        )
    )


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def work_order_search(
    *,
    user: Any,
    q: str = "",
    kind: str = "",
    state: str = "",
    channel: str = "",
    category: str = "",
    grade: str = "",
    team: str = "",
    assignee: str = "",
    open: bool | str | None = None,  # noqa: A002 - the filter's name in the URL and the API
    sla: str = "",
    created_from: dt.date | None = None,
    created_to: dt.date | None = None,
    now: dt.datetime | None = None,
) -> QuerySet[WorkOrder]:
    """The orders ``user`` may see matching every filter given, newest first, annotated with
    ``sla_status`` and with category path, team, assignee, customer and account loaded.

    ``q`` matches the number (prefix), subject (contains), contact phone (prefix), 户号 (prefix)
    and customer name (contains); a report's reporter is never searched (it is stored apart).
    ``category`` matches the category or any of its ancestors; ``team`` is a team code,
    ``assignee`` a user name, ``open`` True/False (or "open"/"closed"), ``sla`` one of
    ``SLA_STATUSES``; ``created_from``/``created_to`` are local days, both included.
    """
    qs = work_orders_visible_to(user)
    q = (q or "").strip()
    if q:
        qs = qs.filter(
            Q(number__istartswith=q)
            | Q(subject__icontains=q)
            | Q(contact_phone__startswith=q)
            | Q(account__number__startswith=q)
            | Q(customer__name__icontains=q)
        )
    if kind:
        qs = qs.filter(kind=kind)
    if state:
        qs = qs.filter(state=state)
    if channel:
        qs = qs.filter(channel=channel)
    if category:
        qs = qs.filter(
            Q(category__code=category)
            | Q(category__parent__code=category)
            | Q(category__parent__parent__code=category)
        )
    if grade:
        qs = qs.filter(grade=grade)
    if team:
        qs = qs.filter(team__code=team)
    if assignee:
        qs = qs.filter(assignee__username=assignee)
    if isinstance(open, str):
        open = OPEN_VALUES.get(open.strip().lower())
    if open is not None:
        qs = qs.filter(is_open=open)
    if created_from is not None:
        qs = qs.filter(created_at__gte=_day_start(created_from))
    if created_to is not None:
        qs = qs.filter(created_at__lt=_day_start(created_to + dt.timedelta(days=1)))
    qs = with_sla_status(qs, now)
    if sla:
        qs = qs.filter(**{"sla_status": sla})  # an annotation the stubs cannot see
    return qs.select_related("category__parent__parent", "team", "assignee", "customer", "account").order_by(
        "-created_at", "-id"
    )


def work_order_get(*, user: Any, number: str) -> WorkOrder:
    """One order ``user`` may see with what its page needs loaded (category path, team and its
    supervisor, assignee, customer, account, repeat-of, attachments, repeats); NotFound
    otherwise (a customer cannot tell another's order from a missing one)."""
    order = (
        work_orders_visible_to(user)
        .select_related(
            "category__parent__parent",
            "team__supervisor",
            "assignee",
            "customer",
            "account",
            "duplicate_of",
            "created_by",
            "escalated_to",
            "kb_article",
        )
        .prefetch_related("attachments", "repeats")
        .filter(number=number)
        .first()
    )
    if order is None:
        raise NotFound()
    return order


def category_path(order: WorkOrder) -> list[Any]:
    """The order's category and its ancestors, root first (uses the loaded parents)."""
    path: list[Any] = []
    node: Any = order.category
    while node is not None and len(path) < 5:
        path.insert(0, node)
        node = node.parent
    return path


def workflow_of(kind: str) -> Workflow | None:
    return workflows().get(kind)


def state_badge(kind: str, state: str) -> tuple[str, str]:
    """The state's label and badge tone from the kind's workflow data."""
    wf = workflow_of(kind)
    if wf is None or state not in wf.states:
        return state, "muted"
    s = wf.states[state]
    return label_of(s), s.tone


def sla_status_badge(status: str) -> tuple[Any, str]:
    """The label and badge tone of an ``sla_status``."""
    return SLA_LABELS.get(status, status), SLA_TONES.get(status, "muted")


# --- timeline ---------------------------------------------------------------------------------

_CHOICE_LABELS: dict[str, dict[str, Any]] = {
    "method": dict(ContactMethod.choices),
    "outcome": dict(ContactOutcome.choices),
    "satisfaction": dict(Satisfaction.choices),
}
_FIELD_LABELS: dict[str, Any] = {
    "team": _("Team"),
    "assignee": _("Assignee"),
    "method": _("Method"),
    "outcome": _("Contact outcome"),
    "satisfaction": _("Satisfaction"),
    "root_cause": _("Root cause"),
    "action": _("Improvement action"),
    "due_date": _("Due"),
    "repeat_of": _("Repeat of"),
    "article": _("Knowledge article"),
    "name": _("File"),
    "kind": _("Kind"),
    "channel": _("Channel"),
    "category": _("Category"),
    "grade": _("Grade"),
    "stage": _("Stage"),
    "due": _("Due"),
    "alerted": _("Alerts sent"),
    "why": _("Reason (原因)"),
}
_EVENT_TONES: dict[str, str] = {
    EventType.CREATED: "info",
    EventType.SLA_WARNING: "warning",
    EventType.SLA_BREACH: "danger",
    EventType.ESCALATION: "danger",
    EventType.ALERT: "warning",
    EventType.DUPLICATE: "warning",
}


@dataclass
class TimelineEntry:
    """One row of an order's timeline as the page shows it."""

    at: dt.datetime
    actor: str
    event_type: str
    title: Any
    tone: str
    transition: str = ""
    from_state: str = ""
    to_state: str = ""
    from_label: str = ""
    to_label: str = ""
    to_tone: str = "info"
    note: str = ""
    details: list[tuple[Any, Any]] = field(default_factory=list)
    attachment_id: int | None = None
    repeat_of: str = ""
    satisfaction: str = ""


def _local_time(value: str) -> str:
    """An ISO timestamp stored in an event, as Beijing wall time ("2026-11-28 09:55")."""
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return value
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def work_order_timeline(order: WorkOrder) -> list[TimelineEntry]:
    """Every event of the order, oldest first, with actor, time, note and its fields as labels
    (contact method and outcome, follow-up satisfaction, root cause, …). Two queries."""
    events = list(WorkOrderEvent.objects.filter(order=order).order_by("at", "id"))
    wf = workflow_of(order.kind)
    cause_codes = {e.data.get("root_cause") for e in events if isinstance(e.data, dict)} - {None}
    causes = {c.code: c.name for c in RootCause.objects.filter(code__in=cause_codes)} if cause_codes else {}
    category_names = {order.category.code: order.category.name} if order.category_id else {}
    event_labels: dict[str, Any] = dict(EventType.choices)
    entries: list[TimelineEntry] = []
    for e in events:
        data = e.data if isinstance(e.data, dict) else {}
        title: Any = event_labels.get(e.event_type, e.event_type)
        if e.transition and wf is not None and e.transition in wf.transitions:
            title = label_of(wf.transitions[e.transition])
        entry = TimelineEntry(
            at=e.at,
            actor=e.actor_label,
            event_type=e.event_type,
            title=title,
            tone=_EVENT_TONES.get(e.event_type, "info"),
            transition=e.transition,
            from_state=e.from_state,
            to_state=e.to_state,
            note=e.note,
        )
        if e.from_state:
            entry.from_label = state_badge(order.kind, e.from_state)[0]
        if e.to_state:
            entry.to_label, entry.to_tone = state_badge(order.kind, e.to_state)
        for key, value in data.items():
            if key == "attachment":
                entry.attachment_id = int(value) if str(value).isdigit() else None
                continue
            if key == "repeat_of":
                entry.repeat_of = str(value)
            text: Any = str(value)
            if key in _CHOICE_LABELS:
                text = _CHOICE_LABELS[key].get(text, text)
            elif key == "root_cause":
                text = causes.get(text, text)
            elif key == "stage":
                text = dict(SlaStage.choices).get(text, text)
            elif key == "kind":
                text = dict(WorkOrderKind.choices).get(text, text)
            elif key == "channel":
                text = dict(Channel.choices).get(text, text)
            elif key == "grade":
                text = dict(Grade.choices).get(text, text)
            elif key == "category":
                text = category_names.get(text, text)
            elif key == "due":
                text = _local_time(text)
            if key == "satisfaction":
                entry.satisfaction = str(value)
            entry.details.append((_FIELD_LABELS.get(key, key), text))
        if e.event_type == EventType.CONTACT and data.get("outcome") == "reached":
            entry.tone = "success"
        if entry.satisfaction == Satisfaction.UNSATISFIED:
            entry.tone = "danger"
        entries.append(entry)
    return entries


# --- SLA clocks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClockView:
    """One SLA clock as a person reads it."""

    pk: int
    stage: str
    stage_label: Any
    standard_code: str
    standard_name: str
    basis: str
    amount: Any
    started_at: dt.datetime
    due_at: dt.datetime
    warn_at: dt.datetime
    stopped_at: dt.datetime | None
    paused: bool
    paused_seconds: int
    remaining_seconds: int | None
    status: str
    status_label: Any
    tone: str

    @property
    def paused_display(self) -> str:
        return _duration(self.paused_seconds)

    @property
    def remaining_display(self) -> str:
        if self.remaining_seconds is None:
            return ""
        sign = "-" if self.remaining_seconds < 0 else ""
        return sign + _duration(abs(self.remaining_seconds))


_CLOCK_LABELS: dict[str, Any] = {
    SLA_RUNNING: _("Running (计时中)"),
    SLA_WARNED: _("Near deadline (预警)"),
    SLA_BREACHED: _("Breached (超时)"),
    SLA_PAUSED: _("Paused (挂起)"),
    SLA_MET: _("Met (按时)"),
    "met_late": _("Met late (超时办结)"),
}
_CLOCK_TONES = {**SLA_TONES, "met_late": "danger"}


def _duration(seconds: int) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    return f"{hours}h {minutes:02d}m"


def clock_status(clock: SlaClock, now: dt.datetime) -> str:
    """``met``, ``met_late``, ``breached``, ``warned``, ``paused`` or ``running`` at ``now``."""
    if clock.stopped_at is not None:
        return "met_late" if clock.stopped_at > clock.due_at or clock.breached_at else SLA_MET
    if clock.breached_at is not None:
        return SLA_BREACHED
    if clock.paused_since is not None:
        return SLA_PAUSED
    if now >= clock.due_at:
        return SLA_BREACHED
    if clock.warned_at is not None or now >= clock.warn_at:
        return SLA_WARNED
    return SLA_RUNNING


def clock_views(clocks: Iterable[SlaClock], now: dt.datetime) -> list[ClockView]:
    stage_labels = dict(SlaStage.choices)
    views = []
    for c in clocks:
        status = clock_status(c, now)
        paused = c.paused_seconds + (
            max(0, int((now - c.paused_since).total_seconds())) if c.paused_since else 0
        )
        if c.stopped_at is not None:
            remaining = None
        elif c.paused_since is not None:
            remaining = int((c.due_at - c.paused_since).total_seconds())
        else:
            remaining = int((c.due_at - now).total_seconds())
        views.append(
            ClockView(
                pk=c.pk,
                stage=c.stage,
                stage_label=stage_labels.get(c.stage, c.stage),
                standard_code=c.standard.code,
                standard_name=c.standard.name,
                basis=c.basis,
                amount=int(c.amount) if c.amount == c.amount.to_integral_value() else c.amount,
                started_at=c.started_at,
                due_at=c.due_at,
                warn_at=c.warn_at,
                stopped_at=c.stopped_at,
                paused=c.paused_since is not None,
                paused_seconds=paused,
                remaining_seconds=remaining,
                status=status,
                status_label=_CLOCK_LABELS[status],
                tone=_CLOCK_TONES[status],
            )
        )
    return views


def work_order_clocks(order: WorkOrder, now: dt.datetime | None = None) -> list[ClockView]:
    """The order's SLA clocks, oldest first, with the standard, due time, time remaining (as
    of ``now``; a paused clock keeps what it had left when paused), paused time and status."""
    now = now or timezone.now()
    clocks = SlaClock.objects.filter(order=order).select_related("standard").order_by("started_at", "id")
    return clock_views(clocks, now)


# --- alerts -----------------------------------------------------------------------------------


def staff_alerts_for(user: Any) -> QuerySet[StaffAlert]:
    """The user's alerts, unread first, newest first, with their order loaded."""
    return (
        StaffAlert.objects.filter(recipient=user)
        .select_related("order")
        .annotate(unread=Case(When(read_at__isnull=True, then=Value(0)), default=Value(1)))
        .order_by("unread", "-created_at", "-id")
    )


PANEL_ROWS = 10


def customer_work_orders_panel(
    *, user: Any, customer_id: int, limit: int = PANEL_ROWS
) -> dict[str, Any] | None:
    """The work-order panel of the customer 360 view: the customer's latest orders (open
    first) with state and SLA badges, and the open count; None for a user who may not see
    work orders. Reports are left out: on a report the customer is the reported party, and
    the 360 view is read with the customer at the counter."""
    if not staff_has_perm(user, VIEW_PERMISSION):
        return None
    qs = (
        WorkOrder.objects.filter(customer_id=customer_id)
        .exclude(kind=WorkOrderKind.REPORT)
        .select_related("category")
        .order_by("-is_open", "-created_at", "-id")
    )
    rows = []
    for order in with_sla_status(qs)[:limit]:
        state_label, state_tone = state_badge(order.kind, order.state)
        sla_label, sla_tone = sla_status_badge(getattr(order, "sla_status", ""))
        rows.append(
            {
                "order": order,
                "state_label": state_label,
                "state_tone": state_tone,
                "sla_label": sla_label,
                "sla_tone": sla_tone,
            }
        )
    open_count = WorkOrder.objects.filter(customer_id=customer_id, is_open=True).exclude(
        kind=WorkOrderKind.REPORT
    )
    return {"rows": rows, "open": open_count.count()}
