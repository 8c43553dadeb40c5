"""SLA clocks on a real database, through the real services (work_order_create,
work_order_transition, sla_tick).

The 2026 calendar of the installed chinesecalendar package (checked with
``chinese_calendar.holidays`` / ``workdays``):

- National Day + Mid-autumn: 09-25..09-27 and 10-01..10-07 off; Sunday 09-20 and
  Saturday 10-10 are 调休 make-up working days.
- Spring Festival: 02-15..02-23 off; Saturdays 02-14 and 02-28 are make-up working days.

"Within N working days": the day of acceptance is day 0; the deadline is 23:59:59 Beijing
time of the N-th working day after it.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.db import connection

from gridcare.core.errors import ValidationFailed
from gridcare.core.models import CalendarDay
from gridcare.quality.models import SlaBreach
from gridcare.workorders.choices import AlertKind, EventType
from gridcare.workorders.models import SlaClock, StaffAlert, WorkOrder, WorkOrderEvent
from gridcare.workorders.services.clocks import sla_tick
from gridcare.workorders.services.orders import work_order_transition
from gridcare.workorders.tests.factories import BEIJING, TeamFactory, accept
from gridcare.workorders.tests.sla_fixtures import reload_reference_data

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 9, 30, 10, 0, tzinfo=BEIJING)  # Wednesday, the day before National Day
HOUR = dt.timedelta(hours=1)
SECOND = dt.timedelta(seconds=1)


@pytest.fixture
def reference_data(transactional_db: None) -> None:
    """A transactional test runs after others flushed the seeded rows: put them back."""
    reload_reference_data()


def eod(y: int, m: int, d: int) -> dt.datetime:
    return dt.datetime(y, m, d, 23, 59, 59, tzinfo=BEIJING)


def clocks(order: WorkOrder) -> dict[str, SlaClock]:
    return {c.stage: c for c in SlaClock.objects.filter(order=order, stopped_at__isnull=True)}


def step(actor: Any, order: WorkOrder, transition: str, at: dt.datetime, **fields: Any) -> WorkOrder:
    order.refresh_from_db()
    return work_order_transition(
        actor=actor,
        number=order.number,
        transition=transition,
        expected_version=order.version,
        fields=fields,
        at=at,
    )


@pytest.fixture
def agent(make_user):
    return make_user(roles=["hotline_agent"], username="agent1")


@pytest.fixture
def supervisor(make_user):
    return make_user(roles=["service_manager"], username="boss1")


@pytest.fixture
def team(agent, supervisor):
    return TeamFactory(code="KF1", supervisor=supervisor, members=[agent])


def report(**kw: Any) -> WorkOrder:
    values: dict[str, Any] = {
        "kind": "report",
        "category": "rpt_theft",
        "subject": "邻居私拉电线窃电",
        "reporter": {"name": "李先生", "phone": "13800002222"},
    }
    values.update(kw)
    return accept(**values)


# --- deadlines across the National Day week -----------------------------------------------------


def test_complaint_accepted_before_national_day(agent):
    order = accept(actor=agent, at=T0)
    c = clocks(order)
    assert set(c) == {"contact", "reply"}
    # contact within 24 h on the wall clock: the holiday does not stop it
    assert c["contact"].due_at == dt.datetime(2026, 10, 1, 10, 0, tzinfo=BEIJING)
    # reply within 4 working days: 09-30 is day 0; 10-01..07 off; Thu 10-08 = 1, Fri 10-09 = 2,
    # Sat 10-10 (调休) = 3, Sun 10-11 off, Mon 10-12 = 4
    assert c["reply"].due_at == eod(2026, 10, 12)
    assert c["reply"].standard.code == "CMP-REPLY"
    assert c["reply"].basis == "working_days"
    assert c["reply"].amount == 4


def test_report_accepted_before_national_day(agent):
    order = report(actor="hotline", at=T0)
    c = clocks(order)
    # 9 working days: 10-08 = 1, 10-09 = 2, 10-10 (调休) = 3, 10-12 = 4, 10-13 = 5, 10-14 = 6,
    # 10-15 = 7, 10-16 = 8, Mon 10-19 = 9
    assert c["reply"].due_at == eod(2026, 10, 19)
    assert c["reply"].standard.code == "RPT-REPLY"
    assert c["contact"].due_at == T0 + 24 * HOUR


def test_late_evening_utc_timestamp_counts_from_the_beijing_day(agent):
    # 2026-09-29 17:30 UTC is 09-30 01:30 in Beijing: day 0 is still 09-30
    order = accept(actor=agent, at=dt.datetime(2026, 9, 29, 17, 30, tzinfo=dt.UTC))
    assert clocks(order)["reply"].due_at == eod(2026, 10, 12)


def test_across_the_spring_festival_make_up_saturdays(agent):
    # Thu 2026-02-26 is day 0: Fri 02-27 = 1, Sat 02-28 (调休 working day) = 2, Sun 03-01 off,
    # Mon 03-02 = 3, Tue 03-03 = 4 (without the make-up Saturday it would be Wed 03-04)
    order = accept(actor=agent, at=dt.datetime(2026, 2, 26, 15, 0, tzinfo=BEIJING))
    assert clocks(order)["reply"].due_at == eod(2026, 3, 3)
    # Fri 02-13 is day 0: Sat 02-14 (调休) = 1, 02-15..23 off, Tue 02-24 = 2, 02-25 = 3, Thu 02-26 = 4
    order = accept(
        actor=agent, at=dt.datetime(2026, 2, 13, 15, 0, tzinfo=BEIJING), contact_phone="13900001112"
    )
    assert clocks(order)["reply"].due_at == eod(2026, 2, 26)


def test_calendar_override_changes_the_deadline(agent):
    # the company declares Fri 10-09 a day off (e.g. a local typhoon closure):
    # 10-08 = 1, 10-10 = 2, 10-12 = 3, Tue 10-13 = 4
    CalendarDay.objects.create(date=dt.date(2026, 10, 9), is_workday=False, name="台风停工")
    order = accept(actor=agent, at=T0)
    assert clocks(order)["reply"].due_at == eod(2026, 10, 13)
    # and a holiday declared a working day pulls it in: 10-07 = 1, 10-08 = 2, 10-10 = 3, 10-12 = 4
    CalendarDay.objects.create(date=dt.date(2026, 10, 7), is_workday=True, name="调休上班")
    order = accept(actor=agent, at=T0, contact_phone="13900001113")
    assert clocks(order)["reply"].due_at == eod(2026, 10, 12)


def test_12345_and_12398_transfers_pick_their_own_standards(agent):
    gov = accept(actor=agent, at=T0, channel="gov_12345", external_ref="12345-001")
    reply = clocks(gov)["reply"]
    # 7 days = 168 h on the wall clock, holidays included
    assert reply.standard.code == "CMP-REPLY-12345"
    assert reply.basis == "hours"
    assert reply.due_at == dt.datetime(2026, 10, 7, 10, 0, tzinfo=BEIJING)
    reg = accept(actor=agent, at=T0, channel="regulator_12398", contact_phone="13900001114")
    reply = clocks(reg)["reply"]
    # 10 working days: … 10-16 = 8, 10-19 = 9, Tue 10-20 = 10
    assert reply.standard.code == "CMP-REPLY-12398"
    assert reply.due_at == eod(2026, 10, 20)


def test_major_grade_gets_the_15_minute_review_clock(agent, supervisor):
    order = accept(actor=agent, at=T0, personal_injury=True)
    assert order.grade == "major"
    c = clocks(order)
    assert set(c) == {"review", "contact", "reply"}
    assert c["review"].standard.code == "CMP-REVIEW-MAJOR"
    assert c["review"].due_at == T0 + dt.timedelta(minutes=15)
    # warned at 75 %: 11 min 15 s
    assert c["review"].warn_at == T0 + dt.timedelta(minutes=11, seconds=15)
    step(supervisor, order, "review", T0 + dt.timedelta(minutes=10), note="已审核,定为重大投诉")
    assert SlaClock.objects.get(order=order, stage="review").stopped_at == T0 + dt.timedelta(minutes=10)
    assert sla_tick(now=T0 + HOUR).as_dict() == {"warned": 0, "breached": 0, "escalated": 0}


# --- pause / resume --------------------------------------------------------------------------


def test_pause_stops_the_reply_clock_but_not_the_contact_clock(agent, team):
    t = dt.datetime(2026, 11, 2, 9, 0, tzinfo=BEIJING)  # Monday
    order = accept(actor=agent, at=t)
    assert clocks(order)["reply"].due_at == eod(2026, 11, 6)
    step(agent, order, "pause", t + HOUR, note="等待客户提供电费单据")
    c = clocks(order)
    assert c["reply"].paused_since == t + HOUR
    assert c["contact"].paused_since is None
    order.refresh_from_db()
    assert order.paused_since == t + HOUR
    # a paused clock does not warn or breach; the running contact clock does
    result = sla_tick(now=t + 25 * HOUR)
    assert result.breached == 1
    assert SlaBreach.objects.get().stage == "contact"
    # resumed Thu 11-05 09:00: working days that began while paused: Tue 11-03, Wed 11-04,
    # Thu 11-05 = 3; the reply is pushed from Fri 11-06 to Wed 11-11
    resumed_at = dt.datetime(2026, 11, 5, 9, 0, tzinfo=BEIJING)
    step(agent, order, "resume", resumed_at)
    reply = SlaClock.objects.get(order=order, stage="reply")
    assert reply.paused_since is None
    assert reply.paused_seconds == int((resumed_at - (t + HOUR)).total_seconds())
    assert reply.due_at == eod(2026, 11, 11)
    assert reply.due_at > eod(2026, 11, 6)
    order.refresh_from_db()
    assert order.paused_since is None


def test_pause_and_resume_on_an_hours_clock_adds_the_wall_clock_time(agent):
    order = accept(actor=agent, at=T0, channel="gov_12345")
    before = clocks(order)["reply"]
    step(agent, order, "pause", T0 + HOUR, note="等待客户回电")
    step(agent, order, "resume", T0 + 4 * HOUR)
    after = SlaClock.objects.get(pk=before.pk)
    assert after.paused_seconds == 3 * 3600
    assert after.due_at == before.due_at + 3 * HOUR
    assert after.warn_at == before.warn_at + 3 * HOUR


def test_a_reply_while_paused_ends_the_pause_so_a_reopened_order_can_pause_again(agent, team):
    """Paused while waiting for the customer, then replied: the reply stops the paused clock
    and the order is no longer paused; after an unsatisfied follow-up reopens it, its new
    reply clock runs, the order may pause again and may not resume."""
    t = dt.datetime(2026, 11, 2, 9, 0, tzinfo=BEIJING)  # Monday
    order = accept(actor=agent, at=t)
    step(agent, order, "assign", t + HOUR, team="KF1", assignee="agent1")
    step(agent, order, "pause", t + 2 * HOUR, note="等待客户提供单据")
    step(agent, order, "reply", t + 30 * HOUR, note="已核查答复")
    order.refresh_from_db()
    assert order.paused_since is None
    step(agent, order, "follow_up", t + 50 * HOUR, method="phone", satisfaction="unsatisfied")
    assert clocks(order)["reply"].paused_since is None
    with pytest.raises(ValidationFailed):
        step(agent, order, "resume", t + 51 * HOUR)
    step(agent, order, "pause", t + 52 * HOUR, note="再次等待客户")
    order.refresh_from_db()
    assert order.paused_since == t + 52 * HOUR


def test_resume_without_pause_is_refused(agent):
    order = accept(actor=agent, at=T0)
    with pytest.raises(ValidationFailed) as exc:
        step(agent, order, "resume", T0 + HOUR)
    assert exc.value.field == "transition"
    order.refresh_from_db()
    assert order.version == 1


def test_pause_where_no_clock_may_pause_is_refused(make_user):
    clerk = make_user(roles=["counter_clerk"])
    # 复电登记 runs only the 24 h restore clock, which may not pause
    order = accept(
        actor=clerk, at=T0, kind="service_request", category="sr_reconnect", subject="已交费,申请复电"
    )
    assert set(clocks(order)) == {"restore"}
    with pytest.raises(ValidationFailed) as exc:
        step(clerk, order, "pause", T0 + HOUR, note="等客户")
    assert exc.value.field == "transition"
    assert clocks(order)["restore"].paused_since is None
    order.refresh_from_db()
    assert order.paused_since is None
    assert order.version == 1


# --- warning, breach, escalation -------------------------------------------------------------


def test_warning_at_75_percent_once_to_the_assignee(agent, team):
    order = accept(actor=agent, at=T0)
    step(agent, order, "assign", T0 + SECOND, team=team.code, assignee=agent.username)
    warn = clocks(order)["contact"].warn_at
    assert warn == T0 + 18 * HOUR
    assert sla_tick(now=warn - SECOND).as_dict() == {"warned": 0, "breached": 0, "escalated": 0}
    assert not StaffAlert.objects.filter(kind=AlertKind.SLA_WARNING).exists()
    assert sla_tick(now=warn).warned == 1
    contact = SlaClock.objects.get(order=order, stage="contact")
    assert contact.warned_at == warn
    assert contact.breached_at is None
    alert = StaffAlert.objects.get(kind=AlertKind.SLA_WARNING)
    assert alert.recipient == agent
    assert order.number in alert.message
    event = WorkOrderEvent.objects.get(order=order, event_type=EventType.SLA_WARNING)
    assert event.data["stage"] == "contact"
    # warned once
    assert sla_tick(now=warn + HOUR).warned == 0
    assert StaffAlert.objects.filter(kind=AlertKind.SLA_WARNING).count() == 1


def test_breach_records_and_escalates_to_the_team_supervisor(agent, supervisor, team):
    order = accept(actor=agent, at=T0)
    step(agent, order, "assign", T0 + SECOND, team=team.code, assignee=agent.username)
    due = clocks(order)["contact"].due_at
    assert sla_tick(now=due - SECOND).breached == 0  # warned only
    result = sla_tick(now=due)
    assert result.as_dict() == {"warned": 0, "breached": 1, "escalated": 1}
    breach = SlaBreach.objects.get()
    assert breach.order == order
    assert breach.team == team
    assert breach.kind == "complaint"
    assert breach.stage == "contact"
    assert breach.channel == "hotline"
    assert breach.assignee == agent
    assert breach.due_at == due
    assert breach.breached_at == due
    assert breach.standard.code == "CMP-CONTACT"
    alert = StaffAlert.objects.get(kind=AlertKind.ESCALATION)
    assert alert.recipient == supervisor
    order.refresh_from_db()
    assert order.escalated_to == supervisor
    assert order.escalated_at == due
    types = list(WorkOrderEvent.objects.filter(order=order, at=due).values_list("event_type", flat=True))
    assert sorted(types) == sorted([EventType.SLA_BREACH, EventType.ESCALATION])
    # a second tick does nothing more
    assert sla_tick(now=due + HOUR).as_dict() == {"warned": 0, "breached": 0, "escalated": 0}
    assert SlaBreach.objects.count() == 1
    assert StaffAlert.objects.filter(kind=AlertKind.ESCALATION).count() == 1
    # the reply clock breaches later: a second breach row, the order stays escalated once
    reply_due = clocks(order)["reply"].due_at
    assert sla_tick(now=reply_due + SECOND).as_dict() == {"warned": 0, "breached": 1, "escalated": 0}
    assert sorted(SlaBreach.objects.values_list("stage", flat=True)) == ["contact", "reply"]
    assert StaffAlert.objects.filter(kind=AlertKind.ESCALATION, recipient=supervisor).count() == 2


def test_two_clocks_breaching_in_one_tick_escalate_the_order_once(agent, supervisor, team):
    order = accept(actor=agent, at=T0, team=team.code)
    late = clocks(order)["reply"].due_at + SECOND  # contact and reply both overdue
    assert sla_tick(now=late).as_dict() == {"warned": 0, "breached": 2, "escalated": 1}
    assert WorkOrderEvent.objects.filter(order=order, event_type=EventType.ESCALATION).count() == 1
    assert WorkOrderEvent.objects.filter(order=order, event_type=EventType.SLA_BREACH).count() == 2
    order.refresh_from_db()
    assert order.escalated_to == supervisor


def test_breach_without_a_supervisor_alerts_the_service_managers(agent, make_user):
    m1 = make_user(roles=["service_manager"], username="mgr_a")
    m2 = make_user(roles=["service_manager"], username="mgr_b")
    make_user(roles=["service_manager"], username="mgr_gone", is_active=False)
    bare = TeamFactory(code="NOSUP", supervisor=None, members=[agent])
    order = accept(actor=agent, at=T0, team=bare.code)
    due = clocks(order)["contact"].due_at
    assert sla_tick(now=due).breached == 1
    recipients = set(
        StaffAlert.objects.filter(kind=AlertKind.ESCALATION).values_list("recipient__username", flat=True)
    )
    assert recipients == {"mgr_a", "mgr_b"}
    order.refresh_from_db()
    assert order.escalated_to in (m1, m2)
    assert SlaBreach.objects.get().team == bare


def test_breach_alerts_the_assignee_once(agent, supervisor, team):
    """The assignee gets *Deadline missed (超时)* when their order's deadline is missed, once
    per missed deadline: a second tick sends nothing more."""
    order = accept(actor=agent, at=T0)
    step(agent, order, "assign", T0 + SECOND, team=team.code, assignee=agent.username)
    due = clocks(order)["contact"].due_at
    assert sla_tick(now=due).breached == 1
    alert = StaffAlert.objects.get(kind=AlertKind.SLA_BREACH)
    assert alert.recipient == agent
    assert order.number in alert.message
    assert sla_tick(now=due + HOUR).breached == 0
    assert StaffAlert.objects.filter(kind=AlertKind.SLA_BREACH).count() == 1
    assert StaffAlert.objects.filter(kind=AlertKind.ESCALATION, recipient=supervisor).count() == 1


def test_breach_of_the_supervisors_own_order_sends_one_alert(agent, supervisor, team):
    """Assigned to the supervisor: the escalation reaches them, no second 超时 alert."""
    team.members.add(supervisor)
    order = accept(actor=agent, at=T0)
    step(agent, order, "assign", T0 + SECOND, team=team.code, assignee=supervisor.username)
    assert sla_tick(now=clocks(order)["contact"].due_at).breached == 1
    kinds = list(StaffAlert.objects.filter(recipient=supervisor).values_list("kind", flat=True))
    assert sorted(kinds) == [AlertKind.ASSIGNED, AlertKind.ESCALATION]


def test_an_inactive_supervisor_counts_as_none(agent, supervisor, team, make_user):
    """A deactivated supervisor gets nothing: the breach escalates to the active service
    managers, and an unassigned order's warning reaches no one rather than a closed account."""
    make_user(roles=["service_manager"], username="mgr_a")
    order = accept(actor=agent, at=T0, team=team.code)
    supervisor.is_active = False
    supervisor.save()
    contact = clocks(order)["contact"]
    assert sla_tick(now=contact.warn_at).warned == 1
    assert not StaffAlert.objects.filter(recipient=supervisor).exists()
    assert sla_tick(now=contact.due_at).breached == 1
    order.refresh_from_db()
    assert order.escalated_to.username == "mgr_a"
    recipients = set(
        StaffAlert.objects.filter(kind=AlertKind.ESCALATION).values_list("recipient__username", flat=True)
    )
    assert recipients == {"mgr_a"}
    assert not StaffAlert.objects.filter(recipient=supervisor).exists()


def test_an_inactive_assignee_is_not_warned(agent, supervisor, team):
    """The assignee's account was closed: the warning goes to the team supervisor instead, and
    no 超时 alert is written for the closed account."""
    order = accept(actor=agent, at=T0)
    step(agent, order, "assign", T0 + SECOND, team=team.code, assignee=agent.username)
    agent.is_active = False
    agent.save()
    contact = clocks(order)["contact"]
    sla_tick(now=contact.warn_at)
    assert StaffAlert.objects.get(kind=AlertKind.SLA_WARNING).recipient == supervisor
    sla_tick(now=contact.due_at)
    assert not StaffAlert.objects.filter(recipient=agent).exclude(kind=AlertKind.ASSIGNED).exists()


def test_a_stopped_clock_never_warns_or_breaches(agent):
    order = accept(actor=agent, at=T0)
    step(agent, order, "contact", T0 + HOUR, method="phone", outcome="reached")
    assert SlaClock.objects.get(order=order, stage="contact").stopped_at == T0 + HOUR
    result = sla_tick(now=T0 + 48 * HOUR)
    assert result.as_dict() == {"warned": 0, "breached": 0, "escalated": 0}
    assert not SlaBreach.objects.exists()
    assert not WorkOrderEvent.objects.filter(
        event_type__in=[EventType.SLA_WARNING, EventType.SLA_BREACH]
    ).exists()
    # a failed attempt leaves the clock running
    other = accept(actor=agent, at=T0, contact_phone="13900001115")
    step(agent, other, "contact", T0 + HOUR, method="phone", outcome="no_answer")
    assert sla_tick(now=T0 + 48 * HOUR).breached == 1
    assert SlaBreach.objects.get().order == other


def test_closing_an_order_stops_every_clock(agent, supervisor):
    order = accept(actor=agent, at=T0)
    step(supervisor, order, "cancel", T0 + HOUR, note="客户撤诉")
    assert not SlaClock.objects.filter(order=order, stopped_at__isnull=True).exists()
    assert sla_tick(now=T0 + 30 * 24 * HOUR).as_dict() == {"warned": 0, "breached": 0, "escalated": 0}


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("reference_data")
def test_parallel_ticks_record_each_breach_once(agent, team):
    orders = [
        accept(actor=agent, at=T0, contact_phone=f"139000020{i:02d}", team=team.code) for i in range(40)
    ]
    due = max(c.due_at for o in orders for c in clocks(o).values())
    now = due + HOUR
    barrier = threading.Barrier(2)
    results: list[dict[str, int]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait()
            results.append(sla_tick(now=now).as_dict())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    running = SlaClock.objects.filter(stopped_at__isnull=True).count()
    assert running == 80  # contact and reply per order
    assert SlaBreach.objects.count() == 80
    assert sum(r["breached"] for r in results) == 80
    assert sum(r["escalated"] for r in results) == 40
    assert StaffAlert.objects.filter(kind=AlertKind.ESCALATION).count() == 80
    assert WorkOrderEvent.objects.filter(event_type=EventType.SLA_BREACH).count() == 80
    assert WorkOrderEvent.objects.filter(event_type=EventType.ESCALATION).count() == 40
