"""Workbench selectors on their own: role scoping, the countdown rule and query counts that do
not grow with the number of orders."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridcare.core.errors import PermissionDenied
from gridcare.customers.tests.factories import CustomerFactory
from gridcare.workorders.selectors.workbench import (
    board_figures,
    caller_360,
    caller_lookup,
    duration_text,
    my_queue,
    order_rows,
)
from gridcare.workorders.services.orders import work_order_transition
from gridcare.workorders.tests.factories import BEIJING, TeamFactory, accept

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=BEIJING)


@given(st.integers(min_value=-(10**8), max_value=10**8))
def test_duration_text_reads_back_the_seconds(seconds):
    text = duration_text(seconds)
    assert text.startswith("-") == (seconds < 0)
    parts = {p[-1]: int(p[:-1]) for p in text.lstrip("-").split()}
    minutes = parts.get("d", 0) * 1440 + parts.get("h", 0) * 60 + parts.get("m", 0)
    whole = abs(seconds) // 60
    if "d" in parts:
        assert whole - minutes < 60  # days and hours shown, minutes dropped
    else:
        assert minutes == whole


def test_duration_text_examples():
    assert duration_text(90061) == "1d 1h"
    assert duration_text(-7500) == "-2h 5m"
    assert duration_text(2400) == "40m"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("roles", "allowed"),
    [
        ([], {"lookup": False, "queue": False, "board": False}),
        (["customer"], {"lookup": False, "queue": False, "board": False}),
        (["marketing_manager"], {"lookup": True, "queue": False, "board": False}),
        (["hotline_agent"], {"lookup": True, "queue": True, "board": False}),
        (["auditor"], {"lookup": True, "queue": False, "board": True}),
        (["service_manager"], {"lookup": True, "queue": True, "board": True}),
    ],
)
def test_selectors_are_scoped_by_role(make_user, roles, allowed):
    user = make_user(roles=roles)
    calls = {
        "lookup": lambda: caller_lookup(user=user, q="13800000000"),
        "queue": lambda: list(my_queue(user=user, tab="mine")),
        "board": lambda: board_figures(user=user, now=T0),
    }
    for name, call in calls.items():
        if allowed[name]:
            call()
        else:
            with pytest.raises(PermissionDenied):
                call()


@pytest.mark.django_db
def test_queue_and_board_queries_do_not_grow_with_orders(make_user, django_assert_num_queries):
    agent = make_user(roles=["hotline_agent"], username="agent9")
    manager = make_user(roles=["service_manager"])
    team = TeamFactory(code="Q1", members=[agent])

    def add(n):
        for i in range(n):
            order = accept(at=T0 - dt.timedelta(hours=i * 7), subject=f"单{i}", team="Q1")
            work_order_transition(
                actor="test",
                number=order.number,
                transition="assign",
                expected_version=order.version,
                fields={"team": team.code, "assignee": "agent9"},
                at=order.created_at,
            )

    now = T0 + dt.timedelta(hours=20)
    add(2)
    agent.refresh_from_db()
    manager.refresh_from_db()
    list(my_queue(user=agent, tab="mine"))  # fill the per-user permission caches
    board_figures(user=manager, now=now)
    with django_assert_num_queries(1):
        small = order_rows(my_queue(user=agent, tab="mine"), now)
    with django_assert_num_queries(4):
        board_figures(user=manager, now=now)
    add(10)
    with django_assert_num_queries(1):
        large = order_rows(my_queue(user=agent, tab="mine"), now)
    with django_assert_num_queries(4):
        figures = board_figures(user=manager, now=now)
    assert (len(small), len(large)) == (2, 12)
    assert [r.clock.due for r in large] == sorted(r.clock.due for r in large)
    assert figures.totals.total == 12


@pytest.mark.django_db
def test_caller_360_for_a_customer_without_billing_roles(make_user):
    customer = CustomerFactory(mobile="13811110000")
    accept(customer_id=customer.pk, at=T0)
    panel = caller_360(user=make_user(roles=["inspector"]), customer_id=customer.pk, now=T0)
    assert panel.customer == customer
    assert panel.arrears is None  # the inspector may see bills but not payments
    assert panel.bills == {"bills": [], "chart": {"periods": [], "kwh": [], "amount": []}}
    assert [r.clock.status for r in panel.open_orders] == ["ok"]
    panel = caller_360(user=make_user(roles=["repair_crew"]), customer_id=customer.pk, now=T0)
    assert panel.bills is None
    assert panel.arrears is None
