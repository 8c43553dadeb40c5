"""Reads of the 95598 agent workbench (坐席工作台): caller lookup and the customer 360, my queue,
and the supervisor board (docs/workorders-workbench.md).

Every function checks the caller's role first and returns rows in a fixed number of queries
(the nearest running SLA clock is annotated by subqueries, never fetched per row).

为举报人保密: nothing here reads ``ReporterIdentity``. A report's contact fields are empty (its
reporter is stored apart), reports are left out of the caller lookup and the 360 altogether
(the customer on a report is the *reported* party, not the caller), and every contact shown
goes through :func:`gridcare.workorders.selectors.confidentiality.contact_for`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, DateTimeField, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from gridcare.billing.selectors.bills import bills_panel
from gridcare.billing.selectors.payments import open_bills
from gridcare.core.errors import NotFound, PermissionDenied
from gridcare.core.money import fen_to_yuan
from gridcare.core.roles import staff_has_perm
from gridcare.customers.models import Account, Customer
from gridcare.quality.models import SlaBreach
from gridcare.workorders.choices import Channel, Grade, SlaStage, WorkOrderKind
from gridcare.workorders.models import SlaClock, Team, WorkOrder
from gridcare.workorders.selectors.confidentiality import contact_for
from gridcare.workorders.selectors.orders import state_badge as orders_state_badge

VIEW_PERM = "workorders.view_workorder"
QUEUE_PERM = "workorders.change_workorder"
BOARD_PERM = "quality.view_slabreach"
BILLS_PERM = "billing.view_bill"
ARREARS_PERM = "billing.view_payment"

RECENT_ORDERS = 10
RECENT_BILLS = 6
MAX_MATCHES = 20
BOARD_ROWS = 200
WARN_SHARE = Decimal("0.25")  # a clock with a quarter or less of its time left shows amber

# SLA status of an order's nearest running clock.
SLA_OK = "ok"
SLA_WARNED = "warned"
SLA_BREACHED = "breached"
SLA_PAUSED = "paused"
SLA_NONE = "none"
# Workflow tones → the stylesheet's badge modifiers.
QUEUE_TABS = ("mine", "team")
FAR_FUTURE = dt.datetime(9000, 1, 1, tzinfo=dt.UTC)  # sorts orders without a running clock last


# --- the nearest running clock -------------------------------------------------------------


def _running_clocks() -> QuerySet[SlaClock]:
    return SlaClock.objects.filter(order=OuterRef("pk"), stopped_at__isnull=True).order_by("due_at", "id")


def with_nearest_clock(orders: QuerySet[WorkOrder]) -> QuerySet[WorkOrder]:
    """Annotate each order with its nearest running clock (``clock_stage``, ``clock_due``,
    ``clock_started``, ``clock_warn``, ``clock_warned``, ``clock_breached``, ``clock_paused``):
    correlated subqueries, so a page of orders is still one query."""
    nearest = _running_clocks()
    return orders.annotate(
        clock_stage=Subquery(nearest.values("stage")[:1]),
        clock_due=Subquery(nearest.values("due_at")[:1]),
        clock_started=Subquery(nearest.values("started_at")[:1]),
        clock_warn=Subquery(nearest.values("warn_at")[:1]),
        clock_warned=Subquery(nearest.values("warned_at")[:1]),
        clock_breached=Subquery(nearest.values("breached_at")[:1]),
        clock_paused=Subquery(nearest.values("paused_since")[:1]),
    )


@dataclass(frozen=True)
class Countdown:
    """What the queue shows of an order's nearest running clock."""

    status: str  # ok | warned | breached | none
    stage: str
    stage_label: str
    due: dt.datetime | None
    started: dt.datetime | None
    paused: bool
    seconds_left: int  # negative once breached; frozen while paused

    @property
    def badge(self) -> str:
        return {SLA_OK: "ok", SLA_WARNED: "warn", SLA_BREACHED: "danger"}.get(self.status, "muted")

    @property
    def text(self) -> str:
        """The time left as ``1d 3h`` / ``5h 12m`` / ``40m``, ``-2h 5m`` once overdue (the
        queue's script keeps the same format when it ticks)."""
        return duration_text(self.seconds_left) if self.due is not None else ""

    @property
    def share_left(self) -> float:
        if self.due is None or self.started is None:
            return 0.0
        total = (self.due - self.started).total_seconds()
        return max(0.0, self.seconds_left / total) if total > 0 else 0.0


def duration_text(seconds: int) -> str:
    """``90061`` → ``1d 1h``; ``-7500`` → ``-2h 5m``; under an hour in minutes."""
    sign = "-" if seconds < 0 else ""
    minutes = abs(seconds) // 60
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {mins}m"
    return f"{sign}{mins}m"


def countdown(order: Any, now: dt.datetime) -> Countdown:
    """The countdown of an order annotated by :func:`with_nearest_clock` at ``now``.

    Red (breached) once the deadline passed or the tick recorded a breach; amber (warned) when
    the tick warned or a quarter or less of the allowed time is left; green otherwise. A
    paused clock (waiting for the customer) keeps the time it had left when it paused."""
    due = getattr(order, "clock_due", None)
    stage = getattr(order, "clock_stage", None) or ""
    if due is None:
        return Countdown(SLA_NONE, "", "", None, None, False, 0)
    started = order.clock_started
    paused_since = order.clock_paused
    reference = paused_since if paused_since is not None else now
    left = int((due - reference).total_seconds())
    total = max(1.0, (due - started).total_seconds())
    if order.clock_breached is not None or left <= 0:
        status = SLA_BREACHED
    elif order.clock_warned is not None or left <= total * float(WARN_SHARE):
        status = SLA_WARNED
    else:
        status = SLA_OK
    label = str(SlaStage(stage).label) if stage in SlaStage.values else stage
    return Countdown(status, stage, label, due, started, paused_since is not None, left)


def state_badge(order: WorkOrder) -> tuple[str, str]:
    """(label, badge modifier) of the order's state: the one rule of selectors.orders."""
    return orders_state_badge(order.kind, order.state)


@dataclass(frozen=True)
class OrderRow:
    """One order as the workbench lists it: its contact already passed through
    ``contact_for`` (a report's reporter is never here)."""

    order: WorkOrder
    state_label: str
    state_badge: str
    contact_name: str
    contact_phone: str
    contact_masked: bool
    clock: Countdown


def order_rows(orders: Any, now: dt.datetime) -> list[OrderRow]:
    """Decorate annotated orders for a table (no queries)."""
    rows = []
    for order in orders:
        label, badge = state_badge(order)
        contact = contact_for(order)
        rows.append(
            OrderRow(
                order=order,
                state_label=label,
                state_badge=badge,
                contact_name=contact.name,
                contact_phone=contact.phone,
                contact_masked=contact.masked,
                clock=countdown(order, now),
            )
        )
    return rows


# --- caller lookup and the customer 360 ----------------------------------------------------


@dataclass
class CallerMatch:
    """One caller the query found: an archived customer, or (``customer_id`` None) a phone
    that earlier orders were accepted from without a customer record."""

    customer_id: int | None
    name: str
    phone: str
    via: str  # mobile | account | order_phone
    accounts: list[str] = field(default_factory=list)
    order_count: int = 0


def _need(user: Any, perm: str) -> None:
    if not staff_has_perm(user, perm):
        raise PermissionDenied()


def normalise_query(q: str) -> str:
    """The caller's number as typed, without spaces or dashes."""
    return "".join((q or "").split()).replace("-", "")


def caller_lookup(*, user: Any, q: str) -> list[CallerMatch]:
    """来电识别: customers whose mobile or 户号 is ``q``, or who were the contact of an earlier
    order accepted from that phone; plus one phone-only match when orders from that phone have
    no customer. Reports never count (their contact is empty; their reporter's phone is stored
    apart and is not searched). Three queries."""
    _need(user, VIEW_PERM)
    q = normalise_query(q)
    if not q:
        return []
    by_order_phone = (
        WorkOrder.objects.filter(contact_phone=q, customer__isnull=False)
        .exclude(kind=WorkOrderKind.REPORT)
        .values("customer_id")
    )
    customers = list(
        Customer.objects.filter(
            Q(mobile=q)
            | Q(pk__in=Subquery(Account.objects.filter(number=q).values("customer_id")))
            | Q(pk__in=Subquery(by_order_phone))
        )
        .prefetch_related(Prefetch("accounts", queryset=Account.objects.order_by("number")))
        .order_by("name", "pk")[:MAX_MATCHES]
    )
    matches = []
    for customer in customers:
        numbers = [a.number for a in customer.accounts.all()]
        via = "mobile" if customer.mobile == q else "account" if q in numbers else "order_phone"
        matches.append(
            CallerMatch(
                customer_id=customer.pk,
                name=customer.name,
                phone=customer.mobile if via != "order_phone" else q,
                via=via,
                accounts=numbers,
            )
        )
    loose = (
        WorkOrder.objects.filter(contact_phone=q, customer__isnull=True)
        .exclude(kind=WorkOrderKind.REPORT)
        .order_by("-created_at", "-id")
        .values_list("contact_name", flat=True)
    )
    names = list(loose[:MAX_MATCHES])
    if names:
        matches.append(
            CallerMatch(
                customer_id=None,
                name=next((n for n in names if n), ""),
                phone=q,
                via="order_phone",
                order_count=len(names),
            )
        )
    return matches


@dataclass
class AccountArrearsLine:
    number: str
    outstanding: Decimal
    late_fee: Decimal
    bills: int


@dataclass
class Caller360:
    """客户360 for the agent: who is calling and what is going on with them."""

    customer: Customer | None
    phone: str
    accounts: list[Account]
    open_orders: list[OrderRow]
    recent_orders: list[OrderRow]
    bills: dict[str, Any] | None  # billing's panel; None when the role does not show bills
    arrears: list[AccountArrearsLine] | None  # None when the role does not show payments
    arrears_total: Decimal = Decimal("0.00")

    @property
    def name(self) -> str:
        if self.customer is not None:
            return self.customer.name
        return next((r.contact_name for r in self.open_orders + self.recent_orders if r.contact_name), "")

    @property
    def prefill(self) -> dict[str, Any]:
        """The intake fields the caller fills in."""
        active = [a for a in self.accounts if a.status != "closed"]
        return {
            "customer_id": self.customer.pk if self.customer else "",
            "contact_name": self.name,
            "contact_phone": self.phone,
            "account_number": active[0].number if len(active) == 1 else "",
        }


def _order_base() -> QuerySet[WorkOrder]:
    return WorkOrder.objects.exclude(kind=WorkOrderKind.REPORT).select_related("category", "team", "assignee")


def caller_360(
    *, user: Any, customer_id: int | None = None, phone: str = "", now: dt.datetime | None = None
) -> Caller360:
    """The 360 of one customer (or of a phone without a customer record): accounts with class,
    status and address; open orders with their countdown; the recent orders; the newest bills
    and the arrears when the role may see billing (billing's own selectors, not our queries).
    NotFound for an unknown customer; at most nine queries."""
    _need(user, VIEW_PERM)
    now = now or timezone.now()
    phone = normalise_query(phone)
    customer = None
    accounts: list[Account] = []
    if customer_id is not None:
        customer = Customer.objects.filter(pk=customer_id).first()
        if customer is None:
            raise NotFound()
        accounts = list(
            Account.objects.filter(customer=customer).select_related("service_point").order_by("number")
        )
        orders = _order_base().filter(customer=customer)
        phone = phone or customer.mobile
    elif phone:
        orders = _order_base().filter(contact_phone=phone, customer__isnull=True)
    else:
        raise NotFound()
    open_orders = order_rows(
        with_nearest_clock(orders.filter(is_open=True)).order_by(
            Coalesce("clock_due", FAR_FUTURE, output_field=DateTimeField()), "-created_at"
        )[:MAX_MATCHES],
        now,
    )
    recent = order_rows(orders.filter(is_open=False).order_by("-created_at", "-id")[:RECENT_ORDERS], now)
    account_ids = [a.pk for a in accounts]
    bills = bills_panel(user=user, account_ids=account_ids, limit=RECENT_BILLS) if account_ids else None
    if not account_ids and staff_has_perm(user, BILLS_PERM):
        bills = {"bills": [], "chart": {"periods": [], "kwh": [], "amount": []}}
    arrears = None
    total = Decimal("0.00")
    if staff_has_perm(user, ARREARS_PERM):
        by_account: dict[int, AccountArrearsLine] = {}
        numbers = {a.pk: a.number for a in accounts}
        for row in open_bills(account_ids=account_ids, as_of=timezone.localdate(now)):
            line = by_account.setdefault(
                row.account_id, AccountArrearsLine(numbers[row.account_id], Decimal(0), Decimal(0), 0)
            )
            line.outstanding += fen_to_yuan(row.outstanding_fen)
            line.late_fee += fen_to_yuan(row.late_fee_fen)
            line.bills += 1
        arrears = [by_account[a.pk] for a in accounts if a.pk in by_account]
        total = sum((line.outstanding + line.late_fee for line in arrears), Decimal("0.00"))
    return Caller360(
        customer=customer,
        phone=phone,
        accounts=accounts,
        open_orders=open_orders,
        recent_orders=recent,
        bills=bills,
        arrears=arrears,
        arrears_total=total,
    )


# --- my queue --------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilters:
    kind: str = ""
    state: str = ""
    grade: str = ""
    channel: str = ""
    q: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> QueueFilters:
        def pick(name: str, allowed: Any = None) -> str:
            value = str(data.get(name) or "").strip()
            return value if allowed is None or value in allowed else ""

        return cls(
            kind=pick("kind", WorkOrderKind.values),
            state=pick("state")[:30],
            grade=pick("grade", Grade.values),
            channel=pick("channel", Channel.values),
            q=pick("q")[:100],
        )


def my_queue(
    *, user: Any, tab: str = "mine", filters: QueueFilters | Mapping[str, Any] | None = None
) -> QuerySet[WorkOrder]:
    """我的待办: open orders assigned to ``user`` (tab ``mine``) or the unassigned open orders
    of the teams ``user`` belongs to or supervises (tab ``team``), nearest deadline first
    (orders without a running clock last). Filters: kind, state, grade, channel, and a text
    that matches the number, subject or contact phone. One query per page plus the count."""
    _need(user, QUEUE_PERM)
    if tab not in QUEUE_TABS:
        tab = "mine"
    if filters is None:
        filters = QueueFilters()
    elif not isinstance(filters, QueueFilters):
        filters = QueueFilters.from_mapping(filters)
    orders = WorkOrder.objects.filter(is_open=True).select_related("category", "team", "assignee")
    if tab == "mine":
        orders = orders.filter(assignee=user)
    else:
        teams = Team.objects.filter(Q(members=user) | Q(supervisor=user)).values("pk")
        orders = orders.filter(assignee__isnull=True, team__in=Subquery(teams))
    if filters.kind:
        orders = orders.filter(kind=filters.kind)
    if filters.state:
        orders = orders.filter(state=filters.state)
    if filters.grade:
        orders = orders.filter(grade=filters.grade)
    if filters.channel:
        orders = orders.filter(channel=filters.channel)
    if filters.q:
        text = filters.q
        orders = orders.filter(
            Q(number__icontains=text) | Q(subject__icontains=text) | Q(contact_phone=normalise_query(text))
        )
    return with_nearest_clock(orders).order_by(
        Coalesce("clock_due", FAR_FUTURE, output_field=DateTimeField()), "created_at", "id"
    )


def queue_counts(*, user: Any) -> dict[str, int]:
    """How many open orders each tab holds (one query)."""
    _need(user, QUEUE_PERM)
    teams = Team.objects.filter(Q(members=user) | Q(supervisor=user)).values("pk")
    return WorkOrder.objects.filter(is_open=True).aggregate(
        mine=Count("pk", filter=Q(assignee=user)),
        team=Count("pk", filter=Q(assignee__isnull=True, team__in=Subquery(teams))),
    )


# --- the supervisor board --------------------------------------------------------------------


def month_bounds(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The local calendar month of ``now`` as [start, end)."""
    local = timezone.localtime(now)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


@dataclass
class BoardLine:
    key: str
    label: str
    ok: int = 0
    warned: int = 0
    breached: int = 0
    paused: int = 0
    total: int = 0


@dataclass
class BoardFigures:
    now: dt.datetime
    by_team: list[BoardLine]
    by_kind: list[BoardLine]
    orders: list[OrderRow]
    orders_more: int
    breaches_by_stage: list[tuple[str, str, int]]
    month_start: dt.datetime
    totals: BoardLine

    @property
    def chart(self) -> dict[str, Any]:
        """ECharts data: open orders by team × SLA status."""
        return {
            "teams": [line.label for line in self.by_team],
            "ok": [line.ok for line in self.by_team],
            "warned": [line.warned for line in self.by_team],
            "breached": [line.breached for line in self.by_team],
            "paused": [line.paused for line in self.by_team],
        }


def _sla_flags(now: dt.datetime) -> dict[str, Any]:
    """Per open order: does any running clock stand breached / warned (by the tick, or by the
    clock's own times at ``now`` when the tick has not run yet), is it paused."""
    running = SlaClock.objects.filter(order=OuterRef("pk"), stopped_at__isnull=True)
    live = Q(paused_since__isnull=True)
    return {
        "any_breached": Exists(running.filter(Q(breached_at__isnull=False) | (live & Q(due_at__lte=now)))),
        "any_warned": Exists(running.filter(Q(warned_at__isnull=False) | (live & Q(warn_at__lte=now)))),
        "any_paused": Exists(running.filter(paused_since__isnull=False)),
        "any_running": Exists(running),
    }


def _status_counts() -> dict[str, Any]:
    breached = Q(any_breached=True)
    warned = Q(any_warned=True, any_breached=False)
    return {
        "n_breached": Count("pk", filter=breached),
        "n_warned": Count("pk", filter=warned),
        "n_paused": Count("pk", filter=Q(any_paused=True, any_breached=False, any_warned=False)),
        "n_ok": Count("pk", filter=Q(any_breached=False, any_warned=False, any_paused=False)),
        "n_total": Count("pk"),
    }


def board_figures(
    *, user: Any, now: dt.datetime | None = None, team: str | None = None, kind: str | None = None
) -> BoardFigures:
    """班长看板: open orders near their deadline (warned, not breached) and past it, counted by
    team and by kind, the list of those orders (with who they were escalated to), this
    month's breaches by stage, and the team × SLA status figures of the chart. ``team`` (a
    team code) and ``kind`` narrow everything. For holders of ``quality.view_slabreach``
    (service managers, auditors). Five queries."""
    _need(user, BOARD_PERM)
    now = now or timezone.now()
    orders = WorkOrder.objects.filter(is_open=True)
    breaches = SlaBreach.objects.all()
    if team:
        orders = orders.filter(team__code=team)
        breaches = breaches.filter(team__code=team)
    if kind:
        orders = orders.filter(kind=kind)
        breaches = breaches.filter(kind=kind)
    flagged = orders.annotate(**_sla_flags(now))
    kinds = dict(WorkOrderKind.choices)

    def lines(rows: Any, key: str, label: Any) -> list[BoardLine]:
        return [
            BoardLine(
                key=r[key] or "",
                label=label(r),
                ok=r["n_ok"],
                warned=r["n_warned"],
                breached=r["n_breached"],
                paused=r["n_paused"],
                total=r["n_total"],
            )
            for r in rows
        ]

    by_team = lines(
        flagged.order_by()
        .values("team__code", "team__name")
        .annotate(**_status_counts())
        .order_by("team__code"),
        "team__code",
        lambda r: r["team__name"] or "—",
    )
    by_kind = lines(
        flagged.order_by().values("kind").annotate(**_status_counts()).order_by("kind"),
        "kind",
        lambda r: str(kinds.get(r["kind"], r["kind"])),
    )
    totals = BoardLine(key="", label="")
    for line in by_team:
        totals.ok += line.ok
        totals.warned += line.warned
        totals.breached += line.breached
        totals.paused += line.paused
        totals.total += line.total
    late = (
        with_nearest_clock(flagged.filter(Q(any_breached=True) | Q(any_warned=True)))
        .select_related("category", "team", "assignee", "escalated_to")
        .order_by(Coalesce("clock_due", FAR_FUTURE, output_field=DateTimeField()), "created_at", "id")
    )
    late_rows = list(late[: BOARD_ROWS + 1])
    start, end = month_bounds(now)
    stages = dict(SlaStage.choices)
    by_stage = [
        (row["stage"], str(stages.get(row["stage"], row["stage"])), row["n"])
        for row in breaches.filter(breached_at__gte=start, breached_at__lt=end)
        .order_by()
        .values("stage")
        .annotate(n=Count("pk"))
        .order_by("-n", "stage")
    ]
    return BoardFigures(
        now=now,
        by_team=by_team,
        by_kind=by_kind,
        orders=order_rows(late_rows[:BOARD_ROWS], now),
        orders_more=max(0, len(late_rows) - BOARD_ROWS),
        breaches_by_stage=by_stage,
        month_start=start,
        totals=totals,
    )
