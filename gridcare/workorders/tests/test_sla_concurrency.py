"""Concurrency on PostgreSQL with real threads (each its own connection): the SLA tick and an
agent's step on the same order take their locks in one order (the order, then its clocks), so
they never deadlock; the tick skips an order a step holds and records each breach once."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from gridcare.quality.models import SlaBreach
from gridcare.workorders.choices import EventType
from gridcare.workorders.models import SlaClock, WorkOrder, WorkOrderEvent
from gridcare.workorders.services import clocks as clocks_mod
from gridcare.workorders.services import orders as orders_mod
from gridcare.workorders.services.clocks import sla_tick
from gridcare.workorders.services.orders import work_order_transition
from gridcare.workorders.tests.factories import BEIJING, TeamFactory, accept
from gridcare.workorders.tests.sla_fixtures import reload_reference_data

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]
T0 = dt.datetime(2026, 9, 30, 10, 0, tzinfo=BEIJING)


@pytest.fixture(autouse=True)
def _reference_data() -> None:
    """A transactional test runs after others flushed the seeded rows: put them back."""
    reload_reference_data()


@pytest.fixture
def agent(make_user: Any) -> Any:
    return make_user(roles=["hotline_agent"], username="agent1")


@pytest.fixture
def team(agent: Any, make_user: Any) -> Any:
    boss = make_user(roles=["service_manager"], username="boss1")
    return TeamFactory(code="KF1", supervisor=boss, members=[agent])


def in_thread(name: str, job: Callable[[], Any], out: dict[str, Any]) -> threading.Thread:
    """Run ``job`` on its own thread and connection; its result or exception goes to ``out``."""

    def run() -> None:
        try:
            out[name] = job()
        except BaseException as exc:  # noqa: BLE001 — reported to the test below
            out[name] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name=name)
    thread.start()
    return thread


def wait_until_a_session_waits_on_a_lock(timeout: float = 10) -> bool:
    """True once another session of this database waits on a row lock."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cur.fetchone()[0]:
                return True
        time.sleep(0.05)
    return False


def contact(agent: Any, order: WorkOrder, at: dt.datetime) -> WorkOrder:
    return work_order_transition(
        actor=agent,
        number=order.number,
        transition="contact",
        expected_version=order.version,
        fields={"method": "phone", "outcome": "reached"},
        at=at,
    )


def test_a_tick_skips_an_order_a_step_holds_instead_of_waiting(agent, team, monkeypatch):
    # Given two orders past their contact deadline, and an agent's step holding the first
    held_order = accept(actor=agent, at=T0, team=team.code, contact_phone="13900001001")
    free_order = accept(actor=agent, at=T0, team=team.code, contact_phone="13900001002")
    now = SlaClock.objects.get(order=held_order, stage="contact").due_at + dt.timedelta(minutes=1)
    held, tick_done = threading.Event(), threading.Event()
    real_lock = orders_mod._lock

    def lock(number: str) -> WorkOrder:
        row = real_lock(number)
        if threading.current_thread().name == "step":
            held.set()
            tick_done.wait(10)  # the old tick waited on this order: the step then went on
        return row

    monkeypatch.setattr(orders_mod, "_lock", lock)
    out: dict[str, Any] = {}
    step = in_thread("step", lambda: contact(agent, held_order, now), out)
    assert held.wait(10)

    # When the tick runs meanwhile
    out["tick"] = sla_tick(now=now).as_dict()
    finished_while_held = step.is_alive()
    tick_done.set()
    step.join(60)

    # Then it did not wait: it breached the free order and left the held one to the step
    assert finished_while_held
    assert not isinstance(out["step"], BaseException), out
    assert out["tick"] == {"warned": 0, "breached": 1, "escalated": 1}
    assert list(SlaBreach.objects.values_list("order_id", flat=True)) == [free_order.pk]
    # The step met the held order's contact deadline; the next tick leaves it alone
    assert sla_tick(now=now).as_dict() == {"warned": 0, "breached": 0, "escalated": 0}
    assert SlaBreach.objects.count() == 1


def test_a_step_arriving_while_the_tick_holds_the_order_waits_and_then_succeeds(agent, team, monkeypatch):
    # Given an order past its contact deadline, and the tick holding what it claimed
    order = accept(actor=agent, at=T0, team=team.code)
    now = SlaClock.objects.get(order=order, stage="contact").due_at + dt.timedelta(minutes=1)
    claimed, step_waits = threading.Event(), threading.Event()
    real_claim = clocks_mod._claim

    def claim(due: Any, skipped: set[int]) -> Any:
        rows = real_claim(due, skipped)
        if rows and not claimed.is_set():
            claimed.set()
            assert step_waits.wait(10)  # the step is now blocked on what the tick holds
        return rows

    monkeypatch.setattr(clocks_mod, "_claim", claim)
    out: dict[str, Any] = {}
    tick = in_thread("tick", lambda: sla_tick(now=now).as_dict(), out)
    assert claimed.wait(10)

    # When an agent steps on the order meanwhile
    step = in_thread("step", lambda: contact(agent, order, now), out)
    if wait_until_a_session_waits_on_a_lock():
        step_waits.set()
    tick.join(60)
    step.join(60)

    # Then neither is aborted (no deadlock): the breach is recorded once, the step is taken
    assert not any(isinstance(v, BaseException) for v in out.values()), out
    assert out["tick"] == {"warned": 0, "breached": 1, "escalated": 1}
    assert isinstance(out["step"], WorkOrder)
    assert SlaBreach.objects.filter(order=order).count() == 1
    assert WorkOrderEvent.objects.filter(order=order, event_type=EventType.SLA_BREACH).count() == 1
    assert not SlaClock.objects.filter(order=order, stage="contact", stopped_at__isnull=True).exists()
    assert sla_tick(now=now).as_dict() == {"warned": 0, "breached": 0, "escalated": 0}
