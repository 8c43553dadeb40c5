"""Service tests of acceptance and transitions (the closed loop, conflicts, repeats, major
alerts) on a real database."""

from __future__ import annotations

import datetime as dt

import pytest

from gridcare.core.errors import Conflict, PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.workorders.choices import AlertKind, EventType
from gridcare.workorders.models import (
    FollowUpVisit,
    ImprovementAction,
    ReporterIdentity,
    SlaClock,
    StaffAlert,
    WorkOrder,
    WorkOrderEvent,
)
from gridcare.workorders.services.clocks import sla_tick
from gridcare.workorders.services.orders import work_order_comment, work_order_create, work_order_transition
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


def test_accept_complaint_starts_contact_and_reply_clocks(agent):
    order = accept(actor=agent)
    assert order.state == "accepted"
    assert order.is_open
    assert order.version == 1
    assert order.number.startswith("GD20261102")
    clocks = {c.stage: c for c in SlaClock.objects.filter(order=order)}
    assert set(clocks) == {"contact", "reply"}  # no review clock for a normal grade
    assert clocks["contact"].due_at == T0 + dt.timedelta(hours=24)
    assert clocks["reply"].due_at == dt.datetime(2026, 11, 6, 23, 59, 59, tzinfo=BEIJING)
    assert clocks["contact"].warn_at == T0 + dt.timedelta(hours=18)
    assert WorkOrderEvent.objects.filter(order=order, event_type=EventType.CREATED).count() == 1
    assert AuditEvent.objects.filter(object_id=str(order.pk), action="workorder.create").count() == 1


def test_unknown_category_and_kind_mismatch_refused_nothing_written(agent):
    with pytest.raises(ValidationFailed) as exc:
        accept(actor=agent, category="inq_tariff")
    assert exc.value.field == "category"
    with pytest.raises(ValidationFailed) as exc:
        accept(actor=agent, contact_phone="call me")
    assert exc.value.field == "contact_phone"
    assert WorkOrder.objects.count() == 0
    assert SlaClock.objects.count() == 0


def test_staff_without_add_permission_cannot_accept(make_user):
    inspector = make_user(roles=["inspector"])
    with pytest.raises(PermissionDenied):
        accept(actor=inspector)


def test_closed_loop_with_unsatisfied_follow_up_reopens(agent, manager):
    team = TeamFactory(code="KF", supervisor=manager, members=[agent])
    order = accept(actor=agent)
    order = step(agent, order, "contact", T0 + dt.timedelta(hours=1), method="phone", outcome="no_answer")
    assert SlaClock.objects.get(order=order, stage="contact").stopped_at is None
    order = step(
        agent, order, "contact", T0 + dt.timedelta(hours=2), method="phone", outcome="reached", note="已联系"
    )
    assert SlaClock.objects.get(order=order, stage="contact").stopped_at == T0 + dt.timedelta(hours=2)
    order = step(agent, order, "assign", T0 + dt.timedelta(hours=3), team=team.code, assignee=agent.username)
    assert order.state == "investigating"
    assert order.assignee == agent
    order = step(agent, order, "reply", T0 + dt.timedelta(days=1), note="经核查,电量正常,已解释阶梯电价。")
    assert order.state == "replied"
    assert order.replied_at is not None
    order = step(
        agent, order, "follow_up", T0 + dt.timedelta(days=2), method="phone", satisfaction="unsatisfied"
    )
    assert order.state == "investigating"
    assert order.reopen_count == 1
    assert order.satisfaction == "unsatisfied"
    reply_clocks = SlaClock.objects.filter(order=order, stage="reply").order_by("started_at")
    assert reply_clocks.count() == 2
    assert reply_clocks[1].stopped_at is None
    assert StaffAlert.objects.filter(order=order, kind=AlertKind.REOPENED, recipient=manager).exists()
    order = step(agent, order, "reply", T0 + dt.timedelta(days=3), note="已上门复核并更换电表。")
    order = step(
        agent, order, "follow_up", T0 + dt.timedelta(days=4), method="phone", satisfaction="satisfied"
    )
    assert order.state == "improving"
    with pytest.raises(ValidationFailed) as exc:
        step(manager, order, "close", T0 + dt.timedelta(days=4))
    assert exc.value.field == "improvement_recorded"
    order = step(
        manager,
        order,
        "improve",
        T0 + dt.timedelta(days=5),
        root_cause="information",
        action="抄表员解释阶梯电价话术培训",
    )
    order = step(manager, order, "close", T0 + dt.timedelta(days=5))
    assert order.state == "closed"
    assert not order.is_open
    assert order.closed_at == T0 + dt.timedelta(days=5)
    assert FollowUpVisit.objects.filter(order=order).count() == 2
    assert ImprovementAction.objects.get(order=order).root_cause.code == "information"
    assert not SlaClock.objects.filter(order=order, stopped_at__isnull=True).exists()


def test_role_not_in_workflow_data_is_refused(agent):
    order = accept(actor=agent)
    order = step(agent, order, "assign", T0, team=TeamFactory(code="KF").code)
    with pytest.raises(PermissionDenied):
        step(agent, order, "cancel", T0, note="重复")  # cancel is the service manager's


def test_stale_version_conflicts_and_writes_nothing(agent, manager):
    order = accept(actor=agent)
    work_order_transition(
        actor=agent,
        number=order.number,
        transition="contact",
        expected_version=1,
        fields={"method": "phone", "outcome": "reached"},
        at=T0,
    )
    events = WorkOrderEvent.objects.count()
    with pytest.raises(Conflict) as exc:
        work_order_transition(
            actor=manager,
            number=order.number,
            transition="review",
            expected_version=1,
            fields={"note": "已审核"},
            at=T0,
        )
    assert "agent1" in str(exc.value.message) or agent.last_name in str(exc.value.message)
    order.refresh_from_db()
    assert order.version == 2
    assert WorkOrderEvent.objects.count() == events


def test_repeat_complaint_is_linked_to_the_first(agent):
    first = accept(actor=agent, at=T0)
    second = accept(actor=agent, at=T0 + dt.timedelta(days=3))
    third = accept(actor=agent, at=T0 + dt.timedelta(days=5))
    other_category = accept(actor=agent, at=T0 + dt.timedelta(days=5), category="cmp_service_attitude")
    too_late = accept(actor=agent, at=T0 + dt.timedelta(days=36))  # 31 days after the third
    assert second.duplicate_of == first
    assert third.duplicate_of == first
    assert other_category.duplicate_of is None
    assert too_late.duplicate_of is None
    assert WorkOrderEvent.objects.filter(order=second, event_type=EventType.DUPLICATE).exists()


def test_major_complaint_alerts_service_managers_at_once(agent, manager):
    order = accept(actor=agent, personal_injury=True)
    assert order.grade == "major"
    alert = StaffAlert.objects.get(recipient=manager, order=order)
    assert alert.kind == AlertKind.MAJOR
    assert SlaClock.objects.get(order=order, stage="review").due_at == T0 + dt.timedelta(minutes=15)


def test_report_keeps_reporter_apart(agent):
    order = accept(
        actor=agent,
        kind="report",
        category="rpt_theft",
        subject="邻居私拉电线",
        contact_name="李举报",
        contact_phone="13800138000",
    )
    assert order.contact_name == ""
    assert order.contact_phone == ""
    identity = ReporterIdentity.objects.get(order=order)
    assert identity.name == "李举报"
    assert identity.phone == "13800138000"
    audit = AuditEvent.objects.get(action="workorder.reporter_record")
    assert "13800138000" not in str(audit.after)
    assert "李举报" not in str(audit.after)
    assert "13800138000" not in str(list(WorkOrderEvent.objects.filter(order=order).values()))


def test_inquiry_answered_at_first_contact(agent):
    order = accept(
        actor=agent,
        kind="inquiry",
        category="inq_payment",
        subject="怎么交电费",
        answer="可通过网上国网App、营业厅、银行代扣交费。",
    )
    assert order.state == "answered"
    assert not order.is_open
    assert order.answered_first_contact
    assert not SlaClock.objects.filter(order=order, stopped_at__isnull=True).exists()


def test_comment_does_not_bump_version(agent):
    order = accept(actor=agent)
    work_order_comment(actor=agent, number=order.number, note="客户要求下午回电")
    order.refresh_from_db()
    assert order.version == 1
    with pytest.raises(ValidationFailed):
        work_order_comment(actor=agent, number=order.number, note="  ")


def test_service_request_reconnect_reply_clock_starts_at_restoration(make_user):
    clerk = make_user(roles=["counter_clerk"])
    order = work_order_create(
        actor=clerk,
        kind="service_request",
        channel="counter",
        category="sr_reconnect",
        subject="已交清欠费,申请复电",
        contact_phone="13900002222",
        at=T0,
    )
    assert list(SlaClock.objects.filter(order=order).values_list("stage", flat=True)) == ["restore"]
    order = work_order_transition(
        actor=clerk,
        number=order.number,
        transition="restore",
        expected_version=1,
        at=T0 + dt.timedelta(hours=5),
    )
    reply = SlaClock.objects.get(order=order, stage="reply")
    assert reply.due_at == dt.datetime(2026, 11, 3, 23, 59, 59, tzinfo=BEIJING)


def test_appliance_damage_keeps_its_reply_clock_after_arrival(agent, make_user):
    """电器损坏: on site within 24 h, and the reply clock (SR-REPLY) runs from acceptance, so
    arriving leaves a deadline running until the order is handled and replied."""
    crew = make_user(roles=["repair_crew"])
    order = accept(
        actor=agent, at=T0, kind="service_request", category="sr_appliance", subject="雷雨后电器损坏"
    )
    clocks = {c.stage: c for c in SlaClock.objects.filter(order=order)}
    assert set(clocks) == {"onsite", "reply"}
    assert clocks["onsite"].due_at == T0 + dt.timedelta(hours=24)
    assert clocks["reply"].standard.code == "SR-REPLY"
    assert clocks["reply"].due_at == dt.datetime(2026, 11, 9, 23, 59, 59, tzinfo=BEIJING)  # 5 working days
    order = step(crew, order, "arrive", T0 + dt.timedelta(hours=2))
    running = SlaClock.objects.filter(order=order, stopped_at__isnull=True)
    assert list(running.values_list("stage", flat=True)) == ["reply"]
    step(crew, order, "complete", T0 + dt.timedelta(days=1), note="已核实并赔偿")
    assert not SlaClock.objects.filter(order=order, stopped_at__isnull=True).exists()


def test_conflict_names_the_colleague_not_the_sla_clock(agent, manager):
    """The 409 names who raised the version: an SLA warning or a note since then (neither
    changes the version) does not take their place."""

    team = TeamFactory(code="KF", supervisor=manager, members=[agent])
    order = accept(actor=agent, at=T0)
    step(manager, order, "assign", T0 + dt.timedelta(hours=1), team=team.code)
    work_order_comment(
        actor=agent, number=order.number, note="客户要求下午回电", at=T0 + dt.timedelta(hours=2)
    )
    assert sla_tick(now=T0 + dt.timedelta(hours=20)).warned == 1
    with pytest.raises(Conflict) as exc:
        work_order_transition(
            actor=agent,
            number=order.number,
            transition="contact",
            expected_version=1,
            fields={"method": "phone", "outcome": "reached"},
            at=T0 + dt.timedelta(hours=21),
        )
    message = str(exc.value.message)
    assert message.split()[0] == "manager1", message


def test_major_complaint_skips_an_inactive_supervisor(agent, manager, make_user):
    gone = make_user(roles=["service_manager"], username="gone", is_active=False)
    team = TeamFactory(code="KF", supervisor=gone, members=[agent])
    order = accept(actor=agent, personal_injury=True, team=team.code)
    recipients = set(
        StaffAlert.objects.filter(order=order, kind=AlertKind.MAJOR).values_list("recipient", flat=True)
    )
    assert recipients == {manager.pk}


def _improving(agent, manager):
    team = TeamFactory(code="KF", supervisor=manager, members=[agent])
    order = accept(actor=agent, at=T0)
    order = step(agent, order, "assign", T0 + dt.timedelta(hours=1), team=team.code)
    order = step(agent, order, "reply", T0 + dt.timedelta(hours=2), note="已答复")
    return step(
        agent, order, "follow_up", T0 + dt.timedelta(hours=3), method="phone", satisfaction="satisfied"
    )


@pytest.mark.parametrize("due", [20261201, "2026-13-01", "next week", ["2026-12-01"]])
def test_improvement_due_date_not_a_date_is_refused(agent, manager, due):
    order = _improving(agent, manager)
    with pytest.raises(ValidationFailed) as exc:
        step(
            manager,
            order,
            "improve",
            T0 + dt.timedelta(days=1),
            root_cause="staff_skill",
            action="培训",
            due_date=due,
        )
    assert exc.value.field == "due_date"
    assert not ImprovementAction.objects.exists()
    order.refresh_from_db()
    assert order.version == 4


def test_improvement_due_date_as_date_or_iso_text(agent, manager):
    order = _improving(agent, manager)
    step(
        manager,
        order,
        "improve",
        T0 + dt.timedelta(days=1),
        root_cause="staff_skill",
        action="培训",
        due_date=dt.date(2026, 12, 1),
    )
    step(
        manager,
        order,
        "improve",
        T0 + dt.timedelta(days=1),
        root_cause="staff_skill",
        action="复训",
        due_date="2026-12-15",
    )
    dues = sorted(ImprovementAction.objects.values_list("due_date", flat=True))
    assert dues == [dt.date(2026, 12, 1), dt.date(2026, 12, 15)]


def test_step_texts_longer_than_4000_are_refused_not_cut(agent, manager):
    order = _improving(agent, manager)
    events = WorkOrderEvent.objects.count()
    with pytest.raises(ValidationFailed) as exc:
        step(
            manager, order, "improve", T0 + dt.timedelta(days=1), root_cause="staff_skill", action="训" * 4001
        )
    assert exc.value.field == "action"
    with pytest.raises(ValidationFailed) as exc:
        step(
            manager,
            order,
            "improve",
            T0 + dt.timedelta(days=1),
            root_cause="staff_skill",
            action="培训",
            note="注" * 4001,
        )
    assert exc.value.field == "note"
    assert not ImprovementAction.objects.exists()
    assert WorkOrderEvent.objects.count() == events
    step(manager, order, "improve", T0 + dt.timedelta(days=1), root_cause="staff_skill", action="训" * 4000)
    assert len(ImprovementAction.objects.get().action) == 4000


@pytest.mark.parametrize(
    ("transition", "stops", "reopen", "replied"),
    [
        ("reply", ("reply",), False, "now"),
        ("close", ("reply",), False, "before"),  # an earlier reply time stays
        ("contact", ("contact",), False, "before"),
        # A reopening step clears the reply time, whatever it is called or stops: the reply
        # still to come is the one that counts (the reopen's own rule, kept in step_finish).
        ("reply", ("reply",), True, None),
        ("follow_up", ("follow_up", "reply"), True, None),
    ],
)
def test_step_finish_sets_the_reply_time_unless_the_step_reopens(transition, stops, reopen, replied):
    from gridcare.workorders.engine.workflow import Plan
    from gridcare.workorders.models import WorkOrder
    from gridcare.workorders.services.orders import step_finish

    before = dt.datetime(2026, 10, 8, 9, 0, tzinfo=BEIJING)
    now = before + dt.timedelta(hours=3)
    order = WorkOrder(state="replied", version=4, replied_at=before)
    plan = Plan(
        transition=transition,
        from_state="replied",
        to_state="accepted" if reopen else "replied",
        starts=(),
        stops=stops,
        pause=False,
        resume=False,
        assign=False,
        reopen=reopen,
        closes=False,
    )
    step_finish(order, plan, now)
    assert order.replied_at == {"now": now, "before": before, None: None}[replied]
    assert (order.version, order.updated_at, order.state) == (5, now, plan.to_state)
