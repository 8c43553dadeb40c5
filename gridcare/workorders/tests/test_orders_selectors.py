"""Selector tests of work orders: visibility, the search and its filters, SLA status, the
timeline and the clocks as the order page shows them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from gridcare.core.errors import NotFound
from gridcare.customers.tests.factories import AccountFactory
from gridcare.workorders.models import SlaClock, StaffAlert
from gridcare.workorders.selectors.orders import (
    clock_status,
    staff_alerts_for,
    work_order_clocks,
    work_order_get,
    work_order_search,
    work_order_timeline,
    work_orders_visible_to,
)
from gridcare.workorders.services.orders import staff_alert_read, work_order_transition
from gridcare.workorders.tests.factories import BEIJING, TeamFactory, accept

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=BEIJING)  # a Monday


@pytest.fixture
def agent(make_user):
    return make_user(roles=["hotline_agent"], username="agent1")


@pytest.fixture
def manager(make_user):
    return make_user(roles=["service_manager"], username="manager1")


def step(actor, order, transition, at, **fields):
    order.refresh_from_db()
    return work_order_transition(
        actor=actor,
        number=order.number,
        transition=transition,
        expected_version=order.version,
        fields=fields,
        at=at,
    )


def numbers(qs):
    return sorted(o.number for o in qs)


def test_visibility_staff_customer_and_others(agent, make_user):
    account = AccountFactory()
    owner = make_user(roles=["customer"], username="owner")
    account.customer.user = owner
    account.customer.save(update_fields=["user"])
    own = accept(actor=agent, account_number=account.number)
    reported = accept(
        actor=agent, kind="report", category="rpt_theft", subject="私拉电线", account_number=account.number
    )
    other = accept(actor=agent, contact_phone="13900002222")
    assert numbers(work_orders_visible_to(agent)) == sorted([own.number, reported.number, other.number])
    # A customer sees their own orders, never a report naming them as the reported party.
    assert numbers(work_orders_visible_to(owner)) == [own.number]
    assert list(work_orders_visible_to(make_user(roles=["customer"]))) == []
    assert list(work_orders_visible_to(make_user(roles=[]))) == []
    with pytest.raises(NotFound):
        work_order_get(user=owner, number=other.number)
    with pytest.raises(NotFound):
        work_order_get(user=owner, number=reported.number)
    assert work_order_get(user=agent, number=reported.number).pk == reported.pk


def test_search_by_text_fields(agent):
    account = AccountFactory(customer__name="赵铁柱")
    by_account = accept(actor=agent, account_number=account.number, subject="抄表错误")
    by_phone = accept(
        actor=agent, contact_phone="13700001234", subject="营业厅排队太久", category="cmp_service_attitude"
    )
    report = accept(
        actor=agent,
        kind="report",
        category="rpt_theft",
        subject="有人窃电",
        contact_name="秘密人",
        contact_phone="13600009999",
    )
    assert numbers(work_order_search(user=agent, q=account.number)) == [by_account.number]
    assert numbers(work_order_search(user=agent, q="赵铁")) == [by_account.number]
    assert numbers(work_order_search(user=agent, q="1370000")) == [by_phone.number]
    assert numbers(work_order_search(user=agent, q="排队")) == [by_phone.number]
    assert numbers(work_order_search(user=agent, q=by_phone.number)) == [by_phone.number]
    # The reporter's phone and name are stored apart and never searched.
    assert list(work_order_search(user=agent, q="13600009999")) == []
    assert list(work_order_search(user=agent, q="秘密人")) == []
    assert numbers(work_order_search(user=agent, kind="report")) == [report.number]


def test_filters(agent, manager):
    team = TeamFactory(code="KF", supervisor=manager, members=[agent])
    a = accept(actor=agent, at=T0)
    b = accept(actor=agent, at=T0 + dt.timedelta(days=2), channel="web", category="cmp_service_attitude")
    c = accept(actor=agent, at=T0 + dt.timedelta(days=4), personal_injury=True, category="cmp_outage_repair")
    step(agent, a, "assign", T0 + dt.timedelta(hours=1), team=team.code, assignee=agent.username)
    assert numbers(work_order_search(user=agent, channel="web")) == [b.number]
    assert numbers(work_order_search(user=agent, grade="major")) == [c.number]
    assert numbers(work_order_search(user=agent, state="investigating")) == [a.number]
    assert numbers(work_order_search(user=agent, team="KF")) == [a.number]
    assert numbers(work_order_search(user=agent, assignee="agent1")) == [a.number]
    assert numbers(work_order_search(user=agent, category="cmp_service")) == [b.number]
    assert numbers(work_order_search(user=agent, category="cmp_service_attitude")) == [b.number]
    assert numbers(work_order_search(user=agent, created_from=dt.date(2026, 11, 4))) == sorted(
        [b.number, c.number]
    )
    assert numbers(work_order_search(user=agent, created_to=dt.date(2026, 11, 4))) == sorted(
        [a.number, b.number]
    )
    assert numbers(work_order_search(user=agent, open="closed")) == []
    assert len(work_order_search(user=agent, open=True)) == 3


def test_sla_status_running_warned_breached_paused_met(agent, manager):
    order = accept(actor=agent, at=T0)  # contact due T0+24h (warn at +18h), reply due Fri 23:59:59
    assert work_order_search(user=agent, now=T0 + dt.timedelta(hours=1))[0].sla_status == "running"
    assert work_order_search(user=agent, now=T0 + dt.timedelta(hours=19))[0].sla_status == "warned"
    assert work_order_search(user=agent, now=T0 + dt.timedelta(hours=25))[0].sla_status == "breached"
    at = T0 + dt.timedelta(hours=2)
    assert numbers(work_order_search(user=agent, sla="running", now=at)) == [order.number]
    assert list(work_order_search(user=agent, sla="breached", now=at)) == []
    order = step(agent, order, "contact", at, method="phone", outcome="reached")
    # Contact met in time: the reply clock alone decides now.
    assert work_order_search(user=agent, now=T0 + dt.timedelta(hours=30))[0].sla_status == "running"
    order = step(agent, order, "pause", at, note="等客户提供材料")
    # The reply standard (CMP-REPLY) may pause; the contact clock was already met.
    assert SlaClock.objects.filter(order=order, paused_since__isnull=False).count() == 1
    later = T0 + dt.timedelta(days=30)
    assert work_order_search(user=agent, now=later)[0].sla_status == "paused"
    assert numbers(work_order_search(user=agent, sla="paused", now=later)) == [order.number]
    reply = {c.stage: c for c in work_order_clocks(order, at + dt.timedelta(hours=5))}["reply"]
    assert reply.paused
    assert reply.paused_seconds == 5 * 3600
    assert reply.status == "paused"


def test_met_late_counts_as_breached(agent):
    order = accept(actor=agent, at=T0)
    step(agent, order, "contact", T0 + dt.timedelta(hours=30), method="phone", outcome="reached")
    found = work_order_search(user=agent, now=T0 + dt.timedelta(hours=31))
    assert found[0].sla_status == "breached"
    clocks = {c.stage: c for c in work_order_clocks(order, T0 + dt.timedelta(hours=31))}
    assert clocks["contact"].status == "met_late"
    assert clocks["contact"].remaining_seconds is None
    assert clocks["reply"].status == "running"


def test_clocks_show_remaining_and_status(agent):
    order = accept(actor=agent, at=T0)
    clocks = {c.stage: c for c in work_order_clocks(order, T0 + dt.timedelta(hours=20))}
    contact = clocks["contact"]
    assert contact.remaining_seconds == 4 * 3600
    assert contact.status == "warned"
    assert contact.tone == "warning"
    assert contact.remaining_display == "4h 00m"
    assert contact.standard_code
    assert contact.paused_seconds == 0
    assert contact.paused_display == "0h 00m"
    raw = SlaClock.objects.get(order=order, stage="contact")
    assert clock_status(raw, T0 + dt.timedelta(hours=25)) == "breached"
    assert clock_status(raw, T0) == "running"


def test_timeline_labels_every_event(agent, manager):
    team = TeamFactory(code="KF", supervisor=manager, members=[agent])
    order = accept(actor=agent, at=T0)
    order = step(agent, order, "contact", T0 + dt.timedelta(hours=1), method="phone", outcome="no_answer")
    order = step(agent, order, "assign", T0 + dt.timedelta(hours=2), team=team.code, assignee="agent1")
    order = step(agent, order, "reply", T0 + dt.timedelta(hours=3), note="已解释阶梯电价")
    order = step(
        agent, order, "follow_up", T0 + dt.timedelta(hours=4), method="phone", satisfaction="unsatisfied"
    )
    timeline = work_order_timeline(order)
    assert [e.event_type for e in timeline] == [
        "created",
        "contact",
        "transition",
        "transition",
        "transition",
    ]
    contact = timeline[1]
    assert contact.actor
    assert contact.at == T0 + dt.timedelta(hours=1)
    with translation.override("en"):
        assert {str(k): str(v) for k, v in contact.details}["Contact outcome"] == "No answer (无人接听)"
    assert timeline[3].note == "已解释阶梯电价"
    assert timeline[3].to_label == "已答复"
    assert timeline[4].satisfaction == "unsatisfied"
    assert timeline[4].tone == "danger"
    assert timeline[4].to_state == "investigating"


def test_alerts_unread_first(agent, manager):
    accept(actor=agent, at=T0, personal_injury=True)
    accept(actor=agent, at=T0 + dt.timedelta(hours=1), media_attention=True)
    first, second = list(staff_alerts_for(manager))
    assert first.created_at > second.created_at
    assert staff_alert_read(user=manager, alert_ids=[first.pk]) == 1
    ordered = list(staff_alerts_for(manager))
    assert [a.pk for a in ordered] == [second.pk, first.pk]
    assert StaffAlert.objects.filter(recipient=agent).count() == 0
    # Reading is audited (who knew of the escalation when); reading again changes nothing.
    from gridcare.core.models import AuditEvent

    row = AuditEvent.objects.get(action="workorder.alerts_read")
    assert (row.actor, row.after["alerts"]) == (manager, [first.pk])
    assert staff_alert_read(user=manager, alert_ids=[first.pk]) == 0
    assert staff_alert_read(user=agent, alert_ids=[second.pk]) == 0  # not the agent's alert
    assert AuditEvent.objects.filter(action="workorder.alerts_read").count() == 1


def test_timeline_shows_labels_not_codes_for_the_acceptance_and_sla_rows(make_user):
    from gridcare.workorders.services.clocks import sla_tick

    agent = make_user(roles=["hotline_agent"])
    order = accept(actor=agent, at=T0)
    sla_tick(now=T0 + dt.timedelta(hours=19))
    with translation.override("en"):
        timeline = work_order_timeline(order)
        created = {str(k): str(v) for k, v in timeline[0].details}
        warning = {str(k): str(v) for k, v in timeline[-1].details}
    assert created["Kind"] == "Complaint (投诉)"
    assert created["Channel"] == "95598 hotline (95598热线)"
    assert created["Grade"] == "Normal (一般)"
    assert created["Category"] == "电费电价"
    assert warning["Due"] == "2026-11-03 09:00"
