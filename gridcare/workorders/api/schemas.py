"""Typed request and response bodies of the work-order API (``/api/workorders/``).

Every field carries a description, so the OpenAPI page (``/api/docs``) documents the API for
channel integrators (网上国网, 12345 转办 …). Reporter identities (举报人) never appear in any
response: a report's contact is the mask ``***`` (``selectors.confidentiality.contact_for``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema


class ErrorOut(Schema):
    """The one error format of GridCare."""

    code: str = Field(..., description="Stable error code: validation_failed, permission_denied, not_found …")
    message: str = Field(..., description="What went wrong, in the user's language.")
    field: str | None = Field(None, description="The input to blame, when one is.")


class ConflictOut(ErrorOut):
    """409: the order changed since the caller read it (or the step is not possible now)."""

    version: int | None = Field(None, description="The order's current version: reload, then retry with it.")
    state: str | None = Field(None, description="The order's current state.")


class ReporterIn(Schema):
    """举报人: stored apart from the order and never returned by the API (为举报人保密)."""

    name: str = Field("", max_length=50, description="Reporter's name (kept confidential).")
    phone: str = Field("", max_length=20, description="Reporter's phone (kept confidential).")
    id_number: str = Field("", max_length=18, description="Reporter's ID card number (kept confidential).")
    address: str = Field("", max_length=200, description="Reporter's address (kept confidential).")
    wants_reply: bool = Field(True, description="The reporter wants to hear the outcome.")


class OrderCreateIn(Schema):
    """受理: a new work order of any kind."""

    kind: str = Field(
        ...,
        description="complaint, report, opinion, suggestion, inquiry or service_request.",
        examples=["complaint"],
    )
    channel: str = Field(
        ...,
        description="counter, hotline, web, app, terminal, gov_12345, regulator_12398 or media.",
        examples=["hotline"],
    )
    category: str = Field(..., description="A category code of the kind (cmp_business_tariff, rpt_theft …).")
    subject: str = Field(..., max_length=200, description="One line saying what it is about.")
    description: str = Field("", max_length=8000, description="The caller's words, free text.")
    grade: str = Field("normal", description="normal (一般), serious (较大) or major (重大).")
    account_number: str = Field(
        "", max_length=20, description="户号 of the customer (for a report: the reported account)."
    )
    customer_id: int | None = Field(
        None, description="Customer record id (for a report: the reported party)."
    )
    contact_name: str = Field(
        "", max_length=50, description="Who to call back (a report's goes to the reporter)."
    )
    contact_phone: str = Field(
        "", max_length=20, description="Call-back phone (a report's goes to the reporter)."
    )
    address: str = Field("", max_length=200, description="Where it happened.")
    reporter: ReporterIn | None = Field(None, description="A report's reporter; only for kind=report.")
    personal_injury: bool = Field(
        False, description="人身伤害: makes the order major and alerts the managers."
    )
    media_attention: bool = Field(
        False, description="媒体关注: makes the order major and alerts the managers."
    )
    team: str = Field(
        "", max_length=30, description="Team code to assign at once (default: the kind's team)."
    )
    external_ref: str = Field("", max_length=40, description="The 12345/12398 transfer number.")
    kb_article: str = Field("", max_length=30, description="Code of the knowledge article used.")
    answer: str = Field(
        "", max_length=4000, description="Answer an inquiry at first contact (answered at once)."
    )


class TransitionIn(Schema):
    """One workflow step (派单, 联系客户, 答复, 回访 …)."""

    transition: str = Field(..., max_length=40, description="The step's name in the kind's workflow.")
    version: int = Field(..., ge=1, description="The order version the caller saw (optimistic lock).")
    fields: dict[str, str | int | bool | None] = Field(
        default_factory=dict,
        description="The step's inputs: note, team, assignee, method, outcome, satisfaction, "
        "root_cause, action, due_date — see the workflow data for which each step requires.",
    )


class CommentIn(Schema):
    note: str = Field(..., max_length=4000, description="The note for the timeline (备注).")


class AlertsReadIn(Schema):
    ids: list[int] | None = Field(None, description="Alert ids to mark read; omitted: every unread alert.")


class EventOut(Schema):
    """One row of the timeline (工单轨迹)."""

    at: dt.datetime = Field(..., description="When it happened.")
    type: str = Field(
        ...,
        description="created, transition, note, contact, attachment, duplicate, kb_link, "
        "sla_warning, sla_breach, escalation or alert.",
    )
    type_label: str = Field(..., description="The type as shown to users.")
    transition: str = Field("", description="The workflow step taken, if any.")
    from_state: str = Field("", description="State before.")
    to_state: str = Field("", description="State after.")
    actor: str = Field("", description="Who did it (user name or system actor).")
    note: str = Field("", description="The note or reply text.")
    data: dict[str, Any] = Field(default_factory=dict, description="The step's fields (never a reporter).")


class ClockOut(Schema):
    """One SLA clock (时限) of a stage."""

    stage: str = Field(..., description="review, contact, onsite, restore, reply or follow_up.")
    basis: str = Field(..., description="working_days or hours.")
    amount: float = Field(..., description="Allowed time in the basis unit.")
    started_at: dt.datetime
    due_at: dt.datetime = Field(..., description="Deadline (paused time already added).")
    warn_at: dt.datetime = Field(..., description="When the 75 % warning fires.")
    paused_since: dt.datetime | None = None
    paused_seconds: int = Field(0, description="Time spent paused so far, in seconds.")
    stopped_at: dt.datetime | None = Field(None, description="When the stage was met.")
    warned_at: dt.datetime | None = None
    breached_at: dt.datetime | None = None
    status: str = Field(..., description="running, paused, warned, breached, met or met_late.")


class TransitionOptionOut(Schema):
    name: str = Field(..., description="Step name to POST to /transitions.")
    label: str = Field(..., description="Chinese label.")
    label_en: str = Field(..., description="English label.")
    require: list[str] = Field(..., description="Fields the step requires.")
    choices: dict[str, list[str]] = Field(..., description="Allowed values per field.")


class OrderOut(Schema):
    """A work order as any staff reader sees it (a report's contact masked)."""

    number: str = Field(..., description="工单编号, GD + date + sequence.")
    kind: str
    kind_label: str
    channel: str
    category: str = Field(..., description="Category code.")
    category_name: str
    grade: str
    state: str = Field(..., description="Current workflow state.")
    state_label: str = Field(
        ..., description="The state as shown, in the language of the request (Accept-Language)."
    )
    is_open: bool
    version: int = Field(..., description="Optimistic-lock version: send it with the next transition.")
    subject: str
    description: str
    customer_id: int | None = Field(None, description="Customer record (for a report: the reported party).")
    customer_name: str = ""
    account_number: str = ""
    contact_name: str = Field("", description="Call-back name; *** for a report.")
    contact_phone: str = Field("", description="Call-back phone; *** for a report.")
    contact_masked: bool = Field(..., description="True when the contact is a confidential reporter.")
    address: str = ""
    external_ref: str = ""
    personal_injury: bool
    media_attention: bool
    team: str = Field("", description="Team code.")
    assignee: str = Field("", description="Assignee user name.")
    duplicate_of: str = Field("", description="Number of the first order of a repeat complaint chain.")
    kb_article: str = ""
    answered_first_contact: bool
    satisfaction: str = ""
    reopen_count: int
    paused_since: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    replied_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None


class OrderDetailOut(OrderOut):
    timeline: list[EventOut] = Field(..., description="Every event, oldest first.")
    clocks: list[ClockOut] = Field(..., description="Every SLA clock of the order, by deadline.")
    transitions: list[TransitionOptionOut] = Field(..., description="Steps the caller may take now.")


class OrderPageOut(Schema):
    items: list[OrderOut]
    page: int = Field(..., description="This page (from 1).")
    pages: int = Field(..., description="Number of pages.")
    total: int = Field(..., description="Orders matching the filters.")
    per_page: int


class CommentOut(Schema):
    id: int
    number: str
    at: dt.datetime
    actor: str
    note: str


class DeadlineOut(Schema):
    """What ``gridcare sla deadline`` prints."""

    deadline: dt.datetime = Field(..., description="The deadline (Asia/Shanghai).")
    basis: str = Field(..., description="working_days or hours.")
    amount: float = Field(..., description="Allowed time.")
    standard: int = Field(..., description="ServiceStandard id the deadline comes from.")
    code: str = Field(..., description="ServiceStandard code.")
    warn_at: dt.datetime = Field(..., description="When the warning fires.")


class AlertOut(Schema):
    id: int
    kind: str = Field(..., description="assigned, sla_warning, sla_breach, escalation, major or reopened.")
    message: str
    order: str | None = Field(None, description="Work order number.")
    created_at: dt.datetime
    read_at: dt.datetime | None = None


class AlertsReadOut(Schema):
    marked: int = Field(..., description="How many alerts were marked read.")
