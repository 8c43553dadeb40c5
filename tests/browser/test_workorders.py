"""End-to-end journey of a complaint (投诉) through the 95598 backbone: a hotline agent takes
the call and finds the caller by phone, files the complaint from the one-screen intake; the
SLA tick warns it and the team supervisor sees it near its deadline on the board; after the
reply, the follow-up visit records 不满意 and the complaint reopens."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from gridcare.customers.tests.factories import AccountFactory, CustomerFactory
from gridcare.workorders.models import SlaClock, WorkOrder
from gridcare.workorders.services.clocks import sla_tick
from gridcare.workorders.services.orders import work_order_transition
from gridcare.workorders.tests.factories import TeamFactory
from tests.browser.helpers import login, shot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Hotline-pass-2026"
CALLER_PHONE = "13911112222"


def _user(username: str, role: str, last: str, first: str) -> User:
    user = User.objects.create_user(username, password=PASSWORD, last_name=last, first_name=first)
    user.groups.add(Group.objects.get(name=role))
    return user


def _step(page: Any, name: str) -> Any:
    return page.locator(f"#step-{name}")


def test_complaint_call_to_reopened_follow_up(
    page: Any, browser: Any, live_server: Any, roles: None, workorder_reference: None
) -> None:
    # given a customer who calls from her mobile, an agent and the 95598 team's supervisor
    customer = CustomerFactory(name="赵丽华", mobile=CALLER_PHONE)
    account = AccountFactory(customer=customer)
    agent = _user("agent01", "hotline_agent", "刘", "芳")
    supervisor = _user("super01", "service_manager", "陈", "强")
    team = TeamFactory(code="KF95598", name="95598客服班", supervisor=supervisor, members=[agent])
    team.kinds = ["complaint"]
    team.save()

    # when the agent looks the caller up by phone on the workbench
    login(page, "agent01", PASSWORD)
    page.goto(page.base_url + "/workorders/")
    page.fill("#caller-q", CALLER_PHONE)
    page.press("#caller-q", "Enter")
    page.wait_for_selector("text=赵丽华")
    assert page.locator(f"text={account.number}").first.is_visible()
    shot(page, "workbench-caller")

    # and files the complaint for this caller from the one-screen form
    page.locator("[data-caller-use]").first.click()
    page.select_option("select[name=kind]", "complaint")
    page.select_option("select[name=category]", "cmp_business_tariff")
    page.fill("input[name=subject]", "本月电费比上月高出一倍")
    page.fill("textarea[name=description]", "客户称用电习惯未变,本月电费异常偏高,要求核查。")
    assert page.locator("input[name=contact_phone]").input_value() == CALLER_PHONE
    page.locator("#intake-form button[type=submit]").click()
    page.wait_for_url("**/workorders/orders/GD*/")

    # then the order is stored for this customer with its contact and reply clocks running
    order = WorkOrder.objects.get()
    assert order.customer == customer
    assert order.contact_phone == CALLER_PHONE
    assert order.state == "accepted"
    assert set(SlaClock.objects.filter(order=order).values_list("stage", flat=True)) == {"contact", "reply"}
    assert order.number in page.content()
    shot(page, "complaint-accepted")

    # when 19 of the 24 hours to contact the customer have passed and the worker's SLA tick runs
    result = sla_tick(now=timezone.now() + dt.timedelta(hours=19))
    assert result.warned == 1
    assert result.breached == 0

    # then the supervisor sees the complaint near its deadline on the board
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(15_000)
    board = context.new_page()
    board.base_url = live_server.url
    login(board, "super01", PASSWORD)
    board.goto(board.base_url + "/workorders/board/")
    assert board.locator("[data-figure=warned]").inner_text().strip() == "1"
    assert board.locator(f"text={order.number}").first.is_visible()
    shot(board, "supervisor-board")
    context.close()

    # when the agent has reached the customer and the order is with the team
    order = work_order_transition(
        actor=agent,
        number=order.number,
        transition="contact",
        expected_version=order.version,
        fields={"method": "phone", "outcome": "reached", "note": "已联系客户,约定核查"},
    )
    work_order_transition(
        actor=agent,
        number=order.number,
        transition="assign",
        expected_version=order.version,
        fields={"team": "KF95598", "assignee": "agent01"},
    )

    # and replies from the order page
    page.goto(page.base_url + f"/workorders/orders/{order.number}/")
    _step(page, "reply").locator("textarea").first.fill("经核查,抄表数据无误,已向客户解释阶梯电价。")
    _step(page, "reply").locator("button[type=submit]").click()
    page.wait_for_selector("#step-follow_up")
    order.refresh_from_db()
    assert order.state == "replied"

    # and the follow-up visit records 不满意
    follow_up = _step(page, "follow_up")
    follow_up.locator("select[name$=method]").select_option("phone")
    follow_up.locator("select[name$=satisfaction]").select_option("unsatisfied")
    follow_up.locator("textarea").first.fill("客户对解释不满意,要求上门校验电表")
    follow_up.locator("button[type=submit]").click()
    page.wait_for_selector("#step-reply")

    # then the complaint is reopened: back to investigating, with a new reply clock running
    order.refresh_from_db()
    assert order.state == "investigating"
    assert order.reopen_count == 1
    assert order.satisfaction == "unsatisfied"
    assert SlaClock.objects.filter(order=order, stage="reply", stopped_at__isnull=True).count() == 1
    assert "不满意" in page.content()
    shot(page, "complaint-reopened")
