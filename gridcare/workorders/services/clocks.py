"""SLA clocks (服务时限): start, stop, pause and resume an order's clocks, answer "when is this
due" (``gridcare sla deadline``), and the periodic tick (``gridcare sla tick``) that warns at
75 % of the allowed time and, at 100 %, records the breach, alerts the assignee and escalates
to the team supervisor (an inactive one counts as none: the service managers instead). The
deadline arithmetic is the pure ``engine/sla.py``; the standards are
``quality.ServiceStandard`` rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from gridcare.core.errors import ValidationFailed
from gridcare.core.refcache import RefCache
from gridcare.core.roles import SERVICE_MANAGER
from gridcare.core.workdays import working_calendar
from gridcare.quality.models import ServiceStandard, SlaBreach
from gridcare.workorders.choices import AlertKind, Channel, EventType, Grade, SlaStage, WorkOrderKind
from gridcare.workorders.engine import sla as sla_engine
from gridcare.workorders.engine.sla import StandardRow
from gridcare.workorders.models import Category, SlaClock, StaffAlert, Team, WorkOrder, WorkOrderEvent

TICK_BATCH = 1000
SYSTEM_ACTOR = "SLA clock"


def _load_standard_rows() -> list[StandardRow]:
    return [
        StandardRow(
            id=s.pk,
            code=s.code,
            kind=s.kind,
            stage=s.stage,
            basis=s.basis,
            amount=s.amount,
            sub_type=s.sub_type,
            channel=s.channel,
            grade=s.grade,
            pausable=s.pausable,
            warn_ratio=s.warn_ratio,
            effective_from=s.effective_from,
            effective_to=s.effective_to,
        )
        for s in ServiceStandard.objects.all()
    ]


standards_cache: RefCache[list[StandardRow]] = RefCache("service standards", _load_standard_rows)


def standard_rows() -> list[StandardRow]:
    """Every service standard as engine rows (a small table: read whole, kept briefly per
    process; ``quality.services.service_standard_add`` clears it)."""
    return standards_cache.get()


def category_chain(category: Category | None) -> list[str]:
    """The category's code and its ancestors' codes, most specific first."""
    codes: list[str] = []
    seen: set[int] = set()
    while category is not None and category.pk not in seen:
        seen.add(category.pk)
        codes.append(category.code)
        category = category.parent
    return codes


@dataclass(frozen=True)
class Deadline:
    """A deadline the standards give, with the row it came from."""

    standard: StandardRow
    start: dt.datetime
    due: dt.datetime
    warn: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        amount = self.standard.amount
        return {
            "deadline": self.due.isoformat(),
            "basis": self.standard.basis,
            "amount": int(amount) if amount == amount.to_integral_value() else float(amount),
            "standard": self.standard.id,
            "code": self.standard.code,
            "warn_at": self.warn.isoformat(),
        }


def deadline_for(
    *,
    kind: str,
    stage: str,
    start: dt.datetime,
    channel: str = "",
    grade: str = "",
    category_codes: Sequence[str] = (),
    rows: Iterable[StandardRow] | None = None,
    calendar: Any = None,
) -> Deadline | None:
    """The deadline of ``stage`` for an order like this accepted at ``start``, or None when no
    standard applies."""
    if start.tzinfo is None:
        raise ValidationFailed(_("The start time must carry a time zone."), field="start")
    calendar = calendar or working_calendar()
    row = sla_engine.pick_standard(
        rows if rows is not None else standard_rows(),
        kind=kind,
        stage=stage,
        on=start.astimezone(calendar.tz).date(),
        channel=channel,
        grade=grade,
        category_codes=category_codes,
    )
    if row is None:
        return None
    due = sla_engine.clock_deadline(start, row.basis, row.amount, calendar)
    return Deadline(standard=row, start=start, due=due, warn=sla_engine.warn_time(start, due, row.warn_ratio))


def sla_deadline(
    *, kind: str, stage: str, start: dt.datetime, channel: str = "", grade: str = "", category: str = ""
) -> dict[str, Any]:
    """``gridcare sla deadline``: the deadline as the one JSON object operators quote."""
    if kind not in WorkOrderKind.values:
        raise ValidationFailed(_("Unknown work order kind."), field="kind")
    if stage not in SlaStage.values:
        raise ValidationFailed(_("Unknown stage."), field="stage")
    if channel and channel not in Channel.values:
        raise ValidationFailed(_("Unknown channel."), field="channel")
    if grade and grade not in Grade.values:
        raise ValidationFailed(_("Unknown grade."), field="grade")
    codes: list[str] = []
    if category:
        cat = Category.objects.select_related("parent__parent").filter(code=category).first()
        if cat is None:
            raise ValidationFailed(_("Unknown category."), field="category")
        codes = category_chain(cat)
    found = deadline_for(
        kind=kind, stage=stage, start=start, channel=channel, grade=grade, category_codes=codes
    )
    if found is None:
        raise ValidationFailed(_("No service standard covers this kind and stage."), field="stage")
    return found.as_dict()


def clocks_start(
    *,
    order: WorkOrder,
    stages: Iterable[str],
    at: dt.datetime,
    category_codes: Sequence[str],
    rows: list[StandardRow] | None = None,
    running: set[str] | None = None,
) -> list[SlaClock]:
    """Start a clock for each stage a standard covers and that is not already running
    (``running``: the stages known to run, when the caller knows; a new order has none)."""
    stages = list(stages)
    if not stages:
        return []
    if running is None:
        running = set(order.clocks.filter(stopped_at__isnull=True).values_list("stage", flat=True))
    return SlaClock.objects.bulk_create(
        clocks_plan(
            order=order, stages=stages, at=at, category_codes=category_codes, rows=rows, running=running
        )
    )


def clocks_plan(
    *,
    order: WorkOrder,
    stages: Iterable[str],
    at: dt.datetime,
    category_codes: Sequence[str],
    running: set[str],
    rows: list[StandardRow] | None = None,
) -> list[SlaClock]:
    """The clocks :func:`clocks_start` starts, not yet saved: one for each of ``stages`` a
    standard covers and not in ``running``."""
    rows = rows if rows is not None else standard_rows()
    calendar = working_calendar()
    created = []
    for stage in stages:
        if stage in running:
            continue
        found = deadline_for(
            kind=order.kind,
            stage=stage,
            start=at,
            channel=order.channel,
            grade=order.grade,
            category_codes=category_codes,
            rows=rows,
            calendar=calendar,
        )
        if found is None:
            continue
        created.append(
            SlaClock(
                order=order,
                stage=stage,
                standard_id=found.standard.id,
                basis=found.standard.basis,
                amount=found.standard.amount,
                started_at=at,
                # In UTC, as the database gives them back: the new clocks answer the create.
                due_at=found.due.astimezone(dt.UTC),
                warn_at=found.warn.astimezone(dt.UTC),
            )
        )
    return created


def _pause_seconds(clock: SlaClock, at: dt.datetime) -> int:
    return max(0, int((at - clock.paused_since).total_seconds())) if clock.paused_since else 0


def _resume_one(clock: SlaClock, at: dt.datetime, calendar: Any) -> None:
    """End a clock's pause at ``at``: the deadline moves (engine rule) and the warning time
    moves with it by the same amount."""
    assert clock.paused_since is not None  # noqa: S101 - callers pass paused clocks only
    old_due = clock.due_at
    clock.due_at = sla_engine.extend_for_pause(
        old_due, paused_from=clock.paused_since, paused_to=at, basis=clock.basis, calendar=calendar
    )
    clock.warn_at = clock.warn_at + (clock.due_at - old_due)
    clock.paused_seconds += _pause_seconds(clock, at)
    clock.paused_since = None


def clocks_stop(*, order: WorkOrder, stages: Iterable[str] | None, at: dt.datetime) -> int:
    """Stop (meet) the running clocks of ``stages`` (None: every running clock)."""
    qs = order.clocks.filter(stopped_at__isnull=True)
    if stages is not None:
        qs = qs.filter(stage__in=list(stages))
    if not qs.filter(paused_since__isnull=False).exists():
        return qs.update(stopped_at=at)  # the usual case: one statement, nothing to extend
    clocks = list(qs)
    calendar = working_calendar()
    for clock in clocks:
        if clock.paused_since is not None:
            _resume_one(clock, at, calendar)
        clock.stopped_at = at
    SlaClock.objects.bulk_update(
        clocks, ["stopped_at", "due_at", "warn_at", "paused_seconds", "paused_since"]
    )
    return len(clocks)


def clocks_pause(*, order: WorkOrder, at: dt.datetime) -> int:
    """Pause every running clock whose standard allows it (waiting for the customer)."""
    n = order.clocks.filter(
        stopped_at__isnull=True, paused_since__isnull=True, standard__pausable=True
    ).update(paused_since=at)
    if n == 0:
        raise ValidationFailed(_("None of this order's running deadlines may be paused."), field="transition")
    return n


def clocks_resume(*, order: WorkOrder, at: dt.datetime) -> int:
    """Resume the paused clocks, pushing their deadlines by the time paused."""
    clocks = list(order.clocks.filter(stopped_at__isnull=True, paused_since__isnull=False))
    if not clocks:
        raise ValidationFailed(_("This order is not paused."), field="transition")
    calendar = working_calendar()
    for clock in clocks:
        _resume_one(clock, at, calendar)
    SlaClock.objects.bulk_update(clocks, ["due_at", "warn_at", "paused_seconds", "paused_since"])
    return len(clocks)


def service_managers() -> QuerySet[Any]:
    """The active service managers (客服经理): who is alerted when no team supervisor is."""
    return get_user_model().objects.filter(groups__name=SERVICE_MANAGER, is_active=True)


def active_supervisor(team: Team | None) -> Any:
    """The team's supervisor (班长), or None when the team has none or their account is
    deactivated: an inactive supervisor counts as no supervisor, so what would reach them
    goes to the service managers instead."""
    if team is None or team.supervisor_id is None:
        return None
    supervisor = team.supervisor
    return supervisor if supervisor is not None and supervisor.is_active else None


def _active(user: Any) -> Any:
    """``user`` if their account is active, else None (an alert to them would reach no one)."""
    return user if user is not None and user.is_active else None


def _order_label(order: WorkOrder) -> str:
    return f"{order.number} {order.get_kind_display()} {order.subject[:60]}"


def _due_label(clock: SlaClock) -> str:
    return timezone.localtime(clock.due_at).strftime("%Y-%m-%d %H:%M")


def _clock_event(clock: SlaClock, event_type: str, now: dt.datetime) -> WorkOrderEvent:
    """The timeline row of an SLA warning or breach."""
    return WorkOrderEvent(
        order=clock.order,
        at=now,
        actor_label=SYSTEM_ACTOR,
        event_type=event_type,
        data={"stage": clock.stage, "due": clock.due_at.isoformat()},
    )


def _clock_alert(clock: SlaClock, recipient: Any, kind: str, template: Any, now: dt.datetime) -> StaffAlert:
    """An alert about a clock; ``template`` has the order, stage and due placeholders."""
    text = template % {
        "order": _order_label(clock.order),
        "stage": clock.get_stage_display(),
        "due": _due_label(clock),
    }
    return StaffAlert(
        recipient=recipient, order=clock.order, kind=kind, message=str(text)[:300], created_at=now
    )


@dataclass
class TickResult:
    warned: int = 0
    breached: int = 0
    escalated: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"warned": self.warned, "breached": self.breached, "escalated": self.escalated}


def _claim(due: QuerySet[SlaClock], skipped: set[int]) -> list[SlaClock] | None:
    """The next batch of ``due`` clocks, locked with their orders; None when none is left.

    Locks are taken as a step takes them (``orders._lock``, then ``clocks_stop`` and the
    like): the orders first, in id order, then their clocks, so a tick and an agent's step
    never deadlock. An order a step or another tick holds is skipped (SKIP LOCKED on
    PostgreSQL), not waited for: it is added to ``skipped`` and the next tick takes it. The
    clocks are read again under the order lock, so a deadline met meanwhile is left alone.
    """
    candidates = due.order_by("order_id").values_list("order_id", flat=True).distinct()
    if skipped:
        candidates = candidates.exclude(order_id__in=skipped)
    order_ids = list(candidates[:TICK_BATCH])
    if not order_ids:
        return None
    orders = WorkOrder.objects.filter(pk__in=order_ids).order_by("pk")
    if transaction.get_connection().features.has_select_for_update_skip_locked:
        orders = orders.select_for_update(skip_locked=True, of=("self",))
    locked = set(orders.values_list("pk", flat=True))
    skipped.update(set(order_ids) - locked)
    qs = due.filter(order_id__in=locked).select_related("order__team__supervisor", "order__assignee")
    return list(qs.order_by("id").select_for_update(of=("self",)))


def sla_tick(*, now: dt.datetime | None = None) -> TickResult:
    """Warn the clocks past their warning time, breach and escalate those past their deadline.

    Batched (no per-clock queries beyond the bulk writes); safe to run from several workers at
    once and beside agents' steps (orders are claimed with SKIP LOCKED on PostgreSQL, see
    ``_claim``, and a clock has one breach row).
    """
    now = now or timezone.now()
    result = TickResult()
    managers: list[Any] | None = None
    skipped: set[int] = set()
    while True:
        with transaction.atomic():
            clocks = _claim(
                SlaClock.objects.filter(
                    stopped_at__isnull=True,
                    paused_since__isnull=True,
                    breached_at__isnull=True,
                    due_at__lte=now,
                ),
                skipped,
            )
            if clocks is None:
                break
            events: list[WorkOrderEvent] = []
            alerts: list[StaffAlert] = []
            breaches: list[SlaBreach] = []
            escalate: dict[int, tuple[WorkOrder, Any, str]] = {}
            for clock in clocks:
                order = clock.order
                clock.breached_at = now
                if clock.warned_at is None:
                    clock.warned_at = now
                breaches.append(
                    SlaBreach(
                        clock=clock,
                        order=order,
                        standard_id=clock.standard_id,
                        kind=order.kind,
                        channel=order.channel,
                        grade=order.grade,
                        stage=clock.stage,
                        team=order.team,
                        assignee=order.assignee,
                        due_at=clock.due_at,
                        breached_at=now,
                    )
                )
                events.append(_clock_event(clock, EventType.SLA_BREACH, now))
                supervisor = active_supervisor(order.team)
                if supervisor is not None:
                    targets = [supervisor]
                else:
                    if managers is None:
                        managers = list(service_managers())
                    targets = managers
                missed = _("Deadline missed: %(order)s, stage %(stage)s, due %(due)s")
                alerts.extend(
                    _clock_alert(clock, target, AlertKind.ESCALATION, missed, now) for target in targets
                )
                # The assignee hears of it too, once per missed deadline (unless escalated to
                # them already): the clock is breached once, so a later tick sends nothing.
                assignee = _active(order.assignee)
                if assignee is not None and all(assignee.pk != t.pk for t in targets):
                    alerts.append(_clock_alert(clock, assignee, AlertKind.SLA_BREACH, missed, now))
                if order.escalated_at is None and targets and order.pk not in escalate:
                    escalate[order.pk] = (order, targets[0], clock.stage)
            # An order is escalated once: two of its clocks may breach in one batch (each
            # carries its own copy of the order), so the write is conditional.
            escalated = 0
            for pk in sorted(escalate):
                order, target, stage = escalate[pk]
                if not WorkOrder.objects.filter(pk=pk, escalated_at__isnull=True).update(
                    escalated_to=target, escalated_at=now
                ):
                    continue
                order.escalated_to, order.escalated_at = target, now
                escalated += 1
                events.append(
                    WorkOrderEvent(
                        order=order,
                        at=now,
                        actor_label=SYSTEM_ACTOR,
                        event_type=EventType.ESCALATION,
                        data={"to": target.get_username(), "stage": stage},
                    )
                )
            SlaClock.objects.bulk_update(clocks, ["breached_at", "warned_at"])
            SlaBreach.objects.bulk_create(breaches)
            WorkOrderEvent.objects.bulk_create(events)
            StaffAlert.objects.bulk_create(alerts)
            result.breached += len(clocks)
            result.escalated += escalated
    skipped = set()
    while True:
        with transaction.atomic():
            clocks = _claim(
                SlaClock.objects.filter(
                    stopped_at__isnull=True,
                    paused_since__isnull=True,
                    warned_at__isnull=True,
                    warn_at__lte=now,
                ),
                skipped,
            )
            if clocks is None:
                break
            events, alerts = [], []
            for clock in clocks:
                order = clock.order
                clock.warned_at = now
                events.append(_clock_event(clock, EventType.SLA_WARNING, now))
                warned_user: Any = _active(order.assignee) or active_supervisor(order.team)
                if warned_user is not None:
                    near = _("Near deadline: %(order)s, stage %(stage)s, due %(due)s")
                    alerts.append(_clock_alert(clock, warned_user, AlertKind.SLA_WARNING, near, now))
            SlaClock.objects.bulk_update(clocks, ["warned_at"])
            WorkOrderEvent.objects.bulk_create(events)
            StaffAlert.objects.bulk_create(alerts)
            result.warned += len(clocks)
    return result
