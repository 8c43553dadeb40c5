"""Work-order API for channels (渠道接入), mounted at ``/api/workorders/`` (docs/workorders-api.md).

Session login with CSRF, as the rest of the API. The same permission rules as the console:

- read (search, detail, SLA deadline): staff with ``workorders.view_workorder``;
- create (受理): ``workorders.add_workorder``;
- transition and comment: ``workorders.change_workorder`` (which steps a role may take is
  the workflow data, ``workflows/95598.toml``);
- my alerts: any console user with ``workorders.view_workorder``.

Portal customers get 403 on every endpoint here (they follow their orders on the portal);
anonymous callers get 401. Errors are ``{"code", "message", "field"}``; a stale ``version`` on a
transition is 409 with the order's current ``version`` and ``state`` in the body.

A report's reporter (举报人) is never returned, searched or put in a payload: the contact of a
report is the mask (``selectors.confidentiality.contact_for``); the reporter is only shown by
the audited console page ``workorders:order_reporter`` to users allowed to see it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError

from gridcare.core.errors import Conflict
from gridcare.core.pagination import page_body, paginate
from gridcare.core.roles import require_staff_perm, staff_has_perm, user_roles
from gridcare.workorders.api.schemas import (
    AlertOut,
    AlertsReadIn,
    AlertsReadOut,
    CommentIn,
    CommentOut,
    ConflictOut,
    DeadlineOut,
    ErrorOut,
    OrderCreateIn,
    OrderDetailOut,
    OrderPageOut,
    TransitionIn,
)
from gridcare.workorders.choices import EventType, WorkOrderKind
from gridcare.workorders.engine.workflow import available_transitions
from gridcare.workorders.models import StaffAlert, WorkOrder, WorkOrderEvent
from gridcare.workorders.registry import label_of, workflow_for
from gridcare.workorders.selectors.confidentiality import contact_for
from gridcare.workorders.selectors.orders import clock_status, work_order_get, work_order_search
from gridcare.workorders.services.clocks import sla_deadline
from gridcare.workorders.services.orders import (
    staff_alert_read,
    work_order_comment,
    work_order_create,
    work_order_transition,
)

router = Router(tags=["work orders"])

VIEW = "workorders.view_workorder"
ADD = "workorders.add_workorder"
CHANGE = "workorders.change_workorder"
ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut}
ALERT_LIMIT = 200


# ---- reads ---------------------------------------------------------------------------------


def _get(user: Any, number: str) -> WorkOrder:
    return work_order_get(user=user, number=number)


def _state_label(order: WorkOrder) -> str:
    try:
        state = workflow_for(order.kind).states.get(order.state)
    except Exception:  # noqa: BLE001 - a kind whose workflow file went away still lists
        state = None
    return label_of(state) if state is not None else order.state


def order_out(order: WorkOrder) -> dict[str, Any]:
    """The order as the API returns it; a report's contact is the mask."""
    contact = contact_for(order)
    return {
        "number": order.number,
        "kind": order.kind,
        "kind_label": str(KIND_LABELS.get(order.kind, order.kind)),
        "channel": order.channel,
        "category": order.category.code,
        "category_name": order.category.name,
        "grade": order.grade,
        "state": order.state,
        "state_label": _state_label(order),
        "is_open": order.is_open,
        "version": order.version,
        "subject": order.subject,
        "description": order.description,
        "customer_id": order.customer_id,
        "customer_name": order.customer.name if order.customer else "",
        "account_number": order.account.number if order.account else "",
        "contact_name": contact.name,
        "contact_phone": contact.phone,
        "contact_masked": contact.masked,
        "address": order.address,
        "external_ref": order.external_ref,
        "personal_injury": order.personal_injury,
        "media_attention": order.media_attention,
        "team": order.team.code if order.team else "",
        "assignee": order.assignee.get_username() if order.assignee else "",
        "duplicate_of": order.duplicate_of.number if order.duplicate_of else "",
        "kb_article": order.kb_article.code if order.kb_article_id and order.kb_article else "",
        "answered_first_contact": order.answered_first_contact,
        "satisfaction": order.satisfaction,
        "reopen_count": order.reopen_count,
        "paused_since": order.paused_since,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "replied_at": order.replied_at,
        "closed_at": order.closed_at,
    }


#: Labels of the kinds and event types (lazy: read in the request's language). The same text
#: as ``get_kind_display`` / ``get_event_type_display``, without building the choices' dict
#: on every call (that was a tenth of an answer's CPU).
KIND_LABELS = dict(WorkOrderKind.choices)
EVENT_LABELS = dict(EventType.choices)


def _event_out(event: WorkOrderEvent) -> dict[str, Any]:
    """One timeline row as ``EventOut`` has it (plain data: the endpoint's response schema
    checks it once, with the rest of the answer)."""
    return {
        "at": event.at,
        "type": event.event_type,
        "type_label": str(EVENT_LABELS.get(event.event_type, event.event_type)),
        "transition": event.transition,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "actor": event.actor_label,
        "note": event.note,
        "data": event.data or {},
    }


def order_detail_out(order: WorkOrder, user: Any) -> dict[str, Any]:
    """The answer of a read, a create and a step (``OrderDetailOut``), as plain data."""
    now = timezone.now()
    workflow = workflow_for(order.kind)
    steps = (
        available_transitions(
            workflow, order.state, user_roles(user), superuser=bool(getattr(user, "is_superuser", False))
        )
        if staff_has_perm(user, CHANGE)
        else []
    )
    return {
        **order_out(order),
        # ``all()`` and sorted here: a new order answers from the rows its create kept on it.
        "timeline": [_event_out(e) for e in sorted(order.events.all(), key=lambda e: (e.at, e.id))],
        "clocks": [
            {
                "stage": c.stage,
                "basis": c.basis,
                "amount": float(c.amount),
                "started_at": c.started_at,
                "due_at": c.due_at,
                "warn_at": c.warn_at,
                "paused_since": c.paused_since,
                "paused_seconds": c.paused_seconds,
                "stopped_at": c.stopped_at,
                "warned_at": c.warned_at,
                "breached_at": c.breached_at,
                "status": clock_status(c, now),
            }
            for c in sorted(order.clocks.all(), key=lambda c: (c.due_at, c.id))
        ],
        "transitions": [
            {
                "name": t.name,
                "label": t.label,
                "label_en": t.label_en,
                "require": list(t.require),
                "choices": {k: list(v) for k, v in t.choices.items()},
            }
            for t in steps
        ],
    }


class SearchFilters(Schema):
    q: str = Field(
        "", description="Number (prefix), subject, contact phone (prefix), 户号 (prefix), customer name."
    )
    kind: str = Field("", description="Kind of order.")
    state: str = Field("", description="Workflow state.")
    channel: str = Field("", description="Channel it came in through.")
    category: str = Field("", description="Category code (its sub-categories match too).")
    grade: str = Field("", description="normal, serious or major.")
    team: str = Field("", description="Team code.")
    assignee: str = Field("", description="Assignee user name.")
    open: bool | None = Field(None, description="true: open orders only; false: closed only.")
    sla: str = Field("", description="SLA status: breached, warned, paused, running or met.")
    created_from: dt.date | None = Field(None, description="Accepted on or after this day.")
    created_to: dt.date | None = Field(None, description="Accepted on or before this day.")
    page: int = Field(1, description="Page number, from 1.")
    per_page: int = Field(25, description="Orders per page (at most 200).")


@router.get(
    "/orders",
    response={200: OrderPageOut, **ERRORS},
    summary="Search work orders (工单查询)",
)
def orders_search(request: HttpRequest, filters: Query[SearchFilters]) -> Any:
    """Orders matching every filter given, newest first, a page at a time.

    ``q`` matches the number (prefix), subject, contact phone (prefix), 户号 (prefix) and
    customer name; a report's reporter is never matched (it is stored apart). ``open=true``
    keeps open orders, ``open=false`` closed ones; ``sla`` filters by SLA status. A ``page``
    past the end gives the last page."""
    user = request.user
    require_staff_perm(user, VIEW)
    qs = work_order_search(
        user=user,
        **filters.dict(exclude={"page", "per_page"}),
    ).select_related("duplicate_of", "kb_article")
    page = paginate(request, qs)
    return page_body(page, order_out)


@router.get(
    "/orders/{number}",
    response={200: OrderDetailOut, **ERRORS},
    summary="One work order with its timeline and SLA clocks",
)
def order_detail(request: HttpRequest, number: str) -> Any:
    """The order, its whole timeline (oldest first), its clocks with their status and the
    workflow steps the caller may take now. A report's reporter is not in it."""
    user = request.user
    require_staff_perm(user, VIEW)
    return order_detail_out(_get(user, number), user)


# ---- writes --------------------------------------------------------------------------------


@router.post(
    "/orders",
    response={201: OrderDetailOut, **ERRORS},
    summary="Accept a work order (受理)",
)
def order_create(request: HttpRequest, payload: OrderCreateIn) -> Any:
    """Accept an order of any kind from a channel and start its SLA clocks.

    For ``kind=report`` the contact or ``reporter`` given is stored apart and never returned.
    An inquiry with ``answer`` is answered at first contact. Major orders (人身伤害, media
    attention) alert the service managers at once. Errors name the field at fault (422).

    An ``Idempotency-Key`` header makes a retry safe: the same key from the same user within
    24 hours answers with the order the first call filed instead of filing a second."""
    user = request.user
    require_staff_perm(user, ADD)
    data = payload.dict()
    reporter = data.pop("reporter", None)
    key = request.headers.get("Idempotency-Key", "")
    order = work_order_create(actor=user, reporter=reporter, idempotency_key=key, **data)
    # Answered from the order as the service returned it (its related rows are on it or read
    # by key): a re-read joining them all costs PostgreSQL more to plan than the intake to run.
    return Status(201, order_detail_out(order, user))


@router.post(
    "/orders/{number}/transitions",
    response={200: OrderDetailOut, 409: ConflictOut, **ERRORS},
    summary="Take a workflow step (派单, 联系客户, 答复, 回访, 整改, 归档 …)",
)
def order_transition(request: HttpRequest, number: str, payload: TransitionIn) -> Any:
    """Take ``transition`` on the order at ``version``. If the order changed since the caller
    read it (another agent acted first) nothing is written and the answer is 409 with the
    current ``version`` and ``state``; a step not possible in the current state is 409 too
    (code ``invalid_state``). A role the workflow does not allow the step is 403."""
    user = request.user
    require_staff_perm(user, CHANGE)
    try:
        order = work_order_transition(
            actor=user,
            number=number,
            transition=payload.transition,
            expected_version=payload.version,
            fields=dict(payload.fields),
        )
    except Conflict as exc:
        now = WorkOrder.objects.filter(number=number).only("version", "state").first()
        return Status(
            409,
            {
                **exc.as_dict(),
                "version": now.version if now else None,
                "state": now.state if now else None,
            },
        )
    return order_detail_out(order, user)


@router.post(
    "/orders/{number}/comments",
    response={201: CommentOut, **ERRORS},
    summary="Add a note to the timeline (备注)",
)
def order_comment(request: HttpRequest, number: str, payload: CommentIn) -> Any:
    """A note never changes the order or its version (it cannot conflict)."""
    user = request.user
    require_staff_perm(user, CHANGE)
    event = work_order_comment(actor=user, number=number, note=payload.note)
    return Status(
        201,
        {"id": event.pk, "number": number, "at": event.at, "actor": event.actor_label, "note": event.note},
    )


# ---- SLA and alerts ------------------------------------------------------------------------


@router.get(
    "/sla/deadline",
    response={200: DeadlineOut, **ERRORS},
    summary="When is this due (服务时限)",
)
def deadline(
    request: HttpRequest,
    kind: str,
    stage: str,
    start: dt.datetime,
    channel: str = "",
    grade: str = "",
    category: str = "",
) -> Any:
    """The deadline the service standards give an order of ``kind`` for ``stage`` started at
    ``start`` (ISO date-time with its offset) — the same answer as ``gridcare sla deadline``."""
    require_staff_perm(request.user, VIEW)
    if start.tzinfo is None:
        raise HttpError(422, "start must carry a time zone offset")
    return sla_deadline(kind=kind, stage=stage, start=start, channel=channel, grade=grade, category=category)


@router.get(
    "/alerts",
    response={200: list[AlertOut], **ERRORS},
    summary="My alerts (站内提醒)",
)
def alerts(request: HttpRequest, unread: bool = False) -> Any:
    """The caller's alerts, newest first (at most 200); ``unread=true`` keeps the unread."""
    user: Any = request.user
    require_staff_perm(user, VIEW)
    qs = StaffAlert.objects.filter(recipient=user).select_related("order")
    if unread:
        qs = qs.filter(read_at__isnull=True)
    return [
        {
            "id": a.pk,
            "kind": a.kind,
            "message": a.message,
            "order": a.order.number if a.order else None,
            "created_at": a.created_at,
            "read_at": a.read_at,
        }
        for a in qs.order_by("-created_at", "-id")[:ALERT_LIMIT]
    ]


@router.post(
    "/alerts/read",
    response={200: AlertsReadOut, **ERRORS},
    summary="Mark my alerts read",
)
def alerts_read(request: HttpRequest, payload: AlertsReadIn) -> Any:
    """Marks the given alerts (or every unread one) of the caller read; others' ids are ignored."""
    user = request.user
    require_staff_perm(user, VIEW)
    return {"marked": staff_alert_read(user=user, alert_ids=payload.ids)}
