"""Agent workbench pages (坐席工作台): permission matrix, caller lookup, one-screen intake,
my queue and the supervisor board, with reporter confidentiality and pinned query counts."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from gridcare.billing.tests.factories_bills import notice_bill
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory
from gridcare.workorders.models import ReporterIdentity, SlaClock, WorkOrder
from gridcare.workorders.services.clocks import sla_tick
from gridcare.workorders.services.orders import work_order_transition
from gridcare.workorders.tests.factories import BEIJING, TeamFactory, accept

pytestmark = pytest.mark.django_db
T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=BEIJING)  # a Monday


@pytest.fixture(autouse=True)
def _english(settings: object) -> Iterator[None]:
    """Pages checked in English (the msgids), as billing's tests do."""
    settings.LANGUAGE_CODE = "en"  # type: ignore[attr-defined]
    with translation.override("en"):
        yield


PAGES = {
    "workbench": ("hotline_agent", "inspector"),  # add_workorder: the inspector only views/works
    "caller": ("hotline_agent", "inspector"),
    "queue": ("hotline_agent", "marketing_manager"),  # change_workorder: marketing only views
    "board": ("service_manager", "hotline_agent"),  # quality.view_slabreach
}


# --- permission matrix ---------------------------------------------------------------------


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_goes_to_login(client, name):
    response = client.get(reverse(f"workorders:{name}"))
    assert response.status_code == 302
    assert reverse("core:login") in response["Location"]


@pytest.mark.parametrize("name", PAGES)
def test_customer_is_refused(customer_client, name):
    assert customer_client.get(reverse(f"workorders:{name}")).status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_staff_without_the_permission_is_refused(staff_client, name):
    assert staff_client(roles=[PAGES[name][1]]).get(reverse(f"workorders:{name}")).status_code == 403


@pytest.mark.parametrize("name", PAGES)
def test_staff_with_the_permission_gets_the_page(staff_client, name):
    assert staff_client(roles=[PAGES[name][0]]).get(reverse(f"workorders:{name}")).status_code == 200


def test_auditor_sees_the_board_but_not_the_intake(staff_client):
    client = staff_client(roles=["auditor"])
    assert client.get(reverse("workorders:board")).status_code == 200
    assert client.get(reverse("workorders:workbench")).status_code == 403
    assert client.post(reverse("workorders:workbench"), {"kind": "complaint"}).status_code == 403
    assert WorkOrder.objects.count() == 0


# --- caller lookup -------------------------------------------------------------------------


@pytest.fixture
def caller():
    customer = CustomerFactory(name="李建国", mobile="13812345678")
    account = AccountFactory(customer=customer, number="9900001234")
    return customer, account


def test_lookup_by_mobile_shows_the_360_and_prefills(staff_client, caller):
    customer, account = caller
    open_order = accept(customer_id=customer.pk, at=T0, subject="电费异常")
    closed = accept(
        kind="inquiry", category="inq_payment", customer_id=customer.pk, at=T0, answer="可在网上国网交费"
    )
    client = staff_client(roles=["hotline_agent"])
    html = client.get(reverse("workorders:workbench"), {"q": "138 1234 5678"}).content.decode()
    assert "李建国" in html
    assert "9900001234" in html
    assert open_order.number in html.split('id="caller-open-title"')[1].split("</section>")[0]
    assert closed.number in html.split('id="caller-recent-title"')[1].split("</section>")[0]
    assert 'data-prefill-account="9900001234"' in html
    assert f'name="customer_id" value="{customer.pk}"' in html
    assert 'value="13812345678"' in html  # contact phone prefilled server-side
    data = client.get(reverse("workorders:caller"), {"q": "13812345678", "format": "json"}).json()
    assert [m["via"] for m in data["matches"]] == ["mobile"]
    assert data["caller"]["prefill"] == {
        "customer_id": customer.pk,
        "contact_name": "李建国",
        "contact_phone": "13812345678",
        "account_number": "9900001234",
    }
    assert [o["number"] for o in data["caller"]["open_orders"]] == [open_order.number]
    assert (
        data["caller"]["open_orders"][0]["sla"]["status"] == "breached"
    )  # accepted in 2026-11, now is later


def test_lookup_by_account_number_fragment(staff_client, caller):
    customer, _account = caller
    response = staff_client(roles=["hotline_agent"]).get(reverse("workorders:caller"), {"q": "9900001234"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html  # a fragment
    assert 'id="caller-panel"' in html
    assert "李建国" in html


def test_lookup_without_match_says_so(staff_client, caller):
    client = staff_client(roles=["hotline_agent"])
    html = client.get(reverse("workorders:caller"), {"q": "13000000000"}).content.decode()
    assert "No customer, account or earlier order matches" in html
    data = client.get(reverse("workorders:caller"), {"q": "13000000000", "format": "json"}).json()
    assert data == {"q": "13000000000", "matches": [], "caller": None}


def test_several_matches_give_a_pick_list(staff_client):
    first = CustomerFactory(name="张甲", mobile="13900002222")
    second = CustomerFactory(name="张乙", mobile="13900002222")
    client = staff_client(roles=["hotline_agent"])
    html = client.get(reverse("workorders:caller"), {"q": "13900002222"}).content.decode()
    assert "2 callers match" in html
    assert f"customer={first.pk}" in html
    assert f"customer={second.pk}" in html
    assert 'id="caller-title"' not in html
    picked = client.get(reverse("workorders:caller"), {"customer": second.pk}).content.decode()
    assert "张乙" in picked
    assert 'id="caller-title"' in picked


def test_caller_known_only_from_earlier_orders(staff_client):
    order = accept(contact_name="赵先生", contact_phone="13700007777", at=T0)
    data = (
        staff_client(roles=["hotline_agent"])
        .get(reverse("workorders:caller"), {"q": "13700007777", "format": "json"})
        .json()
    )
    assert data["matches"] == [
        {
            "customer_id": None,
            "name": "赵先生",
            "phone": "13700007777",
            "via": "order_phone",
            "accounts": [],
            "order_count": 1,
        }
    ]
    assert [o["number"] for o in data["caller"]["open_orders"]] == [order.number]


def test_a_reporters_phone_never_finds_the_report(staff_client):
    reported = CustomerFactory(mobile="13600006666")
    report = accept(
        kind="report",
        category="rpt_theft",
        subject="邻居私拉电线",
        contact_name="",
        contact_phone="",
        reporter={"name": "举报人甲", "phone": "13511112222"},
        account_number=AccountFactory(customer=reported).number,
        at=T0,
    )
    assert ReporterIdentity.objects.get(order=report).phone == "13511112222"
    client = staff_client(roles=["service_manager"])  # even a user allowed to see reporters
    for q in ("13511112222", "13600006666"):
        body = client.get(reverse("workorders:caller"), {"q": q}).content.decode()
        assert report.number not in body
        assert "举报人甲" not in body
        assert "13511112222" not in body.replace(f"“{q}”", "")  # only the query echoed back
    data = client.get(reverse("workorders:caller"), {"q": "13511112222", "format": "json"}).json()
    assert data["matches"] == []
    assert data["caller"] is None


def test_360_shows_recent_bills_and_arrears_for_billing_roles(staff_client, caller):
    _customer, account = caller
    bill = notice_bill(account=account, period=dt.date(2026, 9, 1))
    html = (
        staff_client(roles=["hotline_agent"])
        .get(reverse("workorders:caller"), {"q": "9900001234"})
        .content.decode()
    )
    bills = html.split('id="caller-bills-title"')[1].split("</section>")[0]
    assert "2026-09" in bills
    arrears = html.split('id="caller-arrears-title"')[1].split("</section>")[0]
    assert "9900001234" in arrears
    assert bill.number not in arrears


def test_360_bills_shown_to_counter_and_manager_roles(staff_client, caller):
    notice_bill(account=caller[1], period=dt.date(2026, 9, 1))
    html = (
        staff_client(roles=["repair_dispatcher", "counter_clerk"])
        .get(reverse("workorders:caller"), {"q": "9900001234"})
        .content.decode()
    )
    assert 'id="caller-bills-title"' in html  # counter clerk sees bills
    html = staff_client(roles=["service_manager"]).get(reverse("workorders:caller"), {"q": "9900001234"})
    assert html.status_code == 200


def test_caller_lookup_query_count_is_pinned(staff_client, caller, django_assert_max_num_queries):
    customer, account = caller
    for i in range(5):
        accept(customer_id=customer.pk, at=T0 + dt.timedelta(hours=i), subject=f"第{i}次")
    for month in (7, 8, 9):
        notice_bill(account=account, period=dt.date(2026, month, 1))
    AccountFactory(customer=customer)
    client = staff_client(roles=["hotline_agent"])
    client.get(reverse("workorders:caller"), {"q": "13812345678"})  # warm the session and caches
    # 5 session/user/permission + 3 lookup + 4 360 (customer, accounts, open, recent orders)
    # + billing's panel and arrears + the unread-alert count: none of them per order or bill.
    with django_assert_max_num_queries(17):
        response = client.get(reverse("workorders:caller"), {"q": "13812345678"})
    assert response.status_code == 200
    assert len(response.context["panel"].open_orders) == 5


# --- intake ------------------------------------------------------------------------------------


def intake(**fields):
    data = {
        "kind": "complaint",
        "channel": "hotline",
        "category": "cmp_business_tariff",
        "grade": "normal",
        "subject": "电费比上月高",
        "description": "客户反映本月电费偏高",
        "contact_name": "李建国",
        "contact_phone": "13812345678",
    }
    data.update(fields)
    return data


def test_intake_complaint_redirects_to_the_order(staff_client, caller):
    customer, account = caller
    client = staff_client(roles=["hotline_agent"])
    response = client.post(
        reverse("workorders:workbench"),
        intake(
            customer_id=customer.pk,
            account_number=account.number,
            external_ref="12345-2026-0001",
            personal_injury="on",
        ),
    )
    order = WorkOrder.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("workorders:order", kwargs={"number": order.number})
    assert (order.kind, order.channel, order.category.code) == ("complaint", "hotline", "cmp_business_tariff")
    assert order.customer == customer
    assert order.account == account
    assert order.contact_phone == "13812345678"
    assert order.external_ref == "12345-2026-0001"
    assert order.grade == "major"
    assert order.personal_injury
    assert order.created_by == client.user
    page = client.get(response["Location"])
    assert f"Work order {order.number} accepted." in page.content.decode()


def test_intake_report_keeps_the_reporter_apart(staff_client, caller):
    customer, _account = caller
    reported = AccountFactory(number="9900005555")
    client = staff_client(roles=["hotline_agent"])
    response = client.post(
        reverse("workorders:workbench"),
        intake(
            kind="report",
            category="rpt_theft",
            subject="有人绕表窃电",
            customer_id=customer.pk,  # the caller found by the lookup: the reporter
            reporter_name="李建国",
            reporter_phone="13812345678",
            reporter_id_number="110101199001011234",
            reporter_wants_reply="on",
            reported_account="9900005555",
        ),
    )
    assert response.status_code == 302
    order = WorkOrder.objects.get()
    assert (order.contact_name, order.contact_phone) == ("", "")
    assert order.account == reported
    assert order.customer == reported.customer
    identity = ReporterIdentity.objects.get(order=order)
    assert (identity.name, identity.phone, identity.customer) == ("李建国", "13812345678", customer)
    assert identity.wants_reply
    # the caller's own 360 does not show the report, and the queue masks its contact
    body = client.get(reverse("workorders:caller"), {"q": "13812345678"}).content.decode()
    assert order.number not in body


def test_intake_inquiry_answered_at_first_contact(staff_client, caller):
    client = staff_client(roles=["hotline_agent"])
    response = client.post(
        reverse("workorders:workbench"),
        intake(
            kind="inquiry", category="inq_payment", subject="怎么交电费", answer="可通过网上国网App交费。"
        ),
    )
    order = WorkOrder.objects.get()
    assert response.status_code == 302
    assert order.answered_first_contact
    assert not order.is_open
    page = client.get(response["Location"]).content.decode()
    assert f"Inquiry {order.number} answered at first contact." in page


def test_intake_sent_twice_files_one_order(staff_client):
    """A double click or a resend of the same intake form (its one-time key) files one order
    and goes to it, rather than a second order linked as a 重复投诉 of the first."""
    client = staff_client(roles=["hotline_agent"])
    page = client.get(reverse("workorders:workbench"))
    key = page.context["form"].initial["intake_key"]
    assert f'name="intake_key" value="{key}"' in page.content.decode()
    first = client.post(reverse("workorders:workbench"), intake(intake_key=key))
    again = client.post(reverse("workorders:workbench"), intake(intake_key=key))
    order = WorkOrder.objects.get()
    assert order.duplicate_of is None
    assert first["Location"] == again["Location"] == reverse("workorders:order", args=[order.number])
    assert "This form was already sent: it filed work order" in client.get(again["Location"]).content.decode()
    # a new blank form carries a new key: the next call files its own order
    fresh = client.get(reverse("workorders:workbench")).context["form"].initial["intake_key"]
    assert fresh != key
    client.post(reverse("workorders:workbench"), intake(intake_key=fresh, subject="另一个问题"))
    assert WorkOrder.objects.count() == 2


def test_intake_refused_keeps_its_key_for_the_corrected_send(staff_client):
    """A refused intake files nothing, so the corrected form sent with the same key files it."""
    client = staff_client(roles=["hotline_agent"])
    refused = client.post(reverse("workorders:workbench"), intake(intake_key="k1", contact_phone="call me"))
    assert refused.status_code == 422
    assert 'name="intake_key" value="k1"' in refused.content.decode()
    assert client.post(reverse("workorders:workbench"), intake(intake_key="k1")).status_code == 302
    assert WorkOrder.objects.count() == 1


def test_intake_error_keeps_the_input_and_names_the_field(staff_client):
    client = staff_client(roles=["hotline_agent"])
    response = client.post(
        reverse("workorders:workbench"),
        intake(category="inq_payment", subject="电费比上月高很多", contact_phone="call me"),
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert WorkOrder.objects.count() == 0
    assert "Choose a category of this kind." in html
    assert 'value="电费比上月高很多"' in html
    assert "客户反映本月电费偏高" in html
    form = response.context["form"]
    assert list(form.errors) == ["category"]
    # the service's own check names the phone once the category is right
    response = client.post(reverse("workorders:workbench"), intake(contact_phone="call me"))
    assert list(response.context["form"].errors) == ["contact_phone"]
    assert WorkOrder.objects.count() == 0


def test_intake_unknown_account_error_on_its_field(staff_client):
    response = staff_client(roles=["hotline_agent"]).post(
        reverse("workorders:workbench"), intake(account_number="9999999999")
    )
    assert response.status_code == 422
    assert response.context["form"].errors["account_number"] == ["No account has this number."]


def test_intake_for_a_caller_gone_since_the_lookup_keeps_the_form(staff_client):
    """The customer picked in the lookup no longer exists when the agent presses Accept:
    the form comes back (422) with what was typed and the error, not a 404."""
    response = staff_client(roles=["hotline_agent"]).post(
        reverse("workorders:workbench"), intake(customer_id="999999", subject="电费比上月高很多")
    )
    assert response.status_code == 422
    assert 'value="电费比上月高很多"' in response.content.decode()
    assert response.context["form"].errors
    assert WorkOrder.objects.count() == 0


def test_intake_reporter_fields_refused_on_a_complaint(staff_client):
    response = staff_client(roles=["hotline_agent"]).post(
        reverse("workorders:workbench"), intake(reporter_phone="13511112222")
    )
    assert response.status_code == 422
    assert "reporter_phone" in response.context["form"].errors
    assert WorkOrder.objects.count() == 0


def test_intake_form_groups_categories_by_kind(staff_client):
    html = staff_client(roles=["hotline_agent"]).get(reverse("workorders:workbench")).content.decode()
    assert '<optgroup label="Report (举报)">' in html
    assert "服务投诉 › 服务态度" in html
    kinds = json.loads(html.split('id="category-kinds" type="application/json">')[1].split("</script>")[0])
    assert kinds["rpt_theft"] == "report"
    assert kinds["cmp_business_tariff"] == "complaint"
    assert 'id="caller-q"' in html
    assert "autofocus" in html
    assert 'data-suggest-url="/api/workorders/categories/suggest"' in html
    assert '<option value="hotline" selected>' in html


# --- my queue ----------------------------------------------------------------------------------


@pytest.fixture
def agent(make_user):
    return make_user(roles=["hotline_agent"], username="agent1")


@pytest.fixture
def team(agent):
    return TeamFactory(code="HOT", name="95598坐席班", members=[agent])


def assign(order, *, team, assignee="", at):
    order.refresh_from_db()
    return work_order_transition(
        actor="test",
        number=order.number,
        transition="assign",
        expected_version=order.version,
        fields={"team": team.code, "assignee": assignee},
        at=at,
    )


def test_queue_lists_my_orders_nearest_deadline_first_with_colours(client, agent, team):
    now = T0 + dt.timedelta(hours=19)
    fresh = accept(at=now - dt.timedelta(hours=1), subject="刚受理")
    warned = accept(at=T0, subject="快到期")
    breached = accept(at=T0 - dt.timedelta(days=2), subject="已超时")
    for order in (fresh, warned, breached):
        assign(order, team=team, assignee="agent1", at=order.created_at)
    sla_tick(now=now)
    someone_elses = accept(at=T0, subject="别人的")
    client.force_login(agent)
    from gridcare.workorders.selectors.workbench import my_queue, order_rows

    rows = order_rows(my_queue(user=agent, tab="mine"), now)
    assert [r.order.number for r in rows] == [breached.number, warned.number, fresh.number]
    assert [r.clock.status for r in rows] == ["breached", "warned", "ok"]
    assert [r.clock.badge for r in rows] == ["danger", "warn", "ok"]
    html = client.get(reverse("workorders:queue")).content.decode()
    assert someone_elses.number not in html
    table = html.split('id="queue-table"')[1]
    assert table.index(breached.number) < table.index(warned.number) < table.index(fresh.number)
    assert "countdown.js" in html


def test_queue_team_tab_shows_unassigned_and_masks_reports(client, agent, team):
    mine = accept(at=T0, subject="我的")
    assign(mine, team=team, assignee="agent1", at=T0)
    unassigned = accept(at=T0, subject="待分派", team="HOT")
    report = accept(
        kind="report",
        category="rpt_theft",
        subject="窃电",
        contact_name="",
        contact_phone="",
        reporter={"name": "举报人乙", "phone": "13533334444"},
        team="HOT",
        at=T0,
    )
    other_team = accept(at=T0, subject="别的班组", team=TeamFactory(code="OTH").code)
    client.force_login(agent)
    html = client.get(reverse("workorders:queue"), {"tab": "team"}).content.decode()
    assert unassigned.number in html
    assert report.number in html
    assert mine.number not in html
    assert other_team.number not in html
    assert "举报人乙" not in html
    assert "13533334444" not in html
    assert "***" in html


def test_queue_filters(client, agent, team):
    complaint = accept(at=T0, subject="电费高", team="HOT")
    inquiry = accept(kind="inquiry", category="inq_tariff", subject="电价咨询", team="HOT", at=T0)
    client.force_login(agent)
    url = reverse("workorders:queue")
    html = client.get(url, {"tab": "team", "kind": "inquiry"}).content.decode()
    assert inquiry.number in html
    assert complaint.number not in html
    html = client.get(url, {"tab": "team", "q": "电费"}).content.decode()
    assert complaint.number in html
    assert inquiry.number not in html
    html = client.get(url, {"tab": "team", "grade": "major"}).content.decode()
    assert complaint.number not in html
    assert "Your teams have no unassigned open order." in html


def test_paused_clock_shows_paused(agent, team):
    from gridcare.workorders.selectors.workbench import countdown, my_queue

    order = accept(at=T0)
    assign(order, team=team, assignee="agent1", at=T0)
    SlaClock.objects.filter(order=order).update(paused_since=T0 + dt.timedelta(hours=2))
    row = my_queue(user=agent, tab="mine").get()
    clock = countdown(row, T0 + dt.timedelta(days=30))
    assert clock.paused
    assert clock.status == "ok"
    assert clock.seconds_left == 22 * 3600
    assert clock.text == "22h 0m"


def test_queue_query_count_is_pinned(client, agent, team, django_assert_max_num_queries):
    for i in range(12):
        order = accept(at=T0 + dt.timedelta(minutes=i), subject=f"工单{i}")
        assign(order, team=team, assignee="agent1", at=order.created_at)
    client.force_login(agent)
    client.get(reverse("workorders:queue"))
    with django_assert_max_num_queries(12):
        response = client.get(reverse("workorders:queue"))
    assert len(response.context["rows"]) == 12


# --- supervisor board --------------------------------------------------------------------------


@pytest.fixture
def board_scenario(agent, team):
    """Three open complaints of team HOT at ``now`` (the real clock, as the page reads it): one
    on time, one warned (19 h of its 24 h contact clock gone), one breached (accepted two days
    ago, escalated by the tick); one inquiry of another team, on time."""
    now = timezone.now().replace(microsecond=0)
    on_time = accept(at=now - dt.timedelta(hours=1), subject="正常", team="HOT")
    warned = accept(at=now - dt.timedelta(hours=19), subject="预警", team="HOT")
    breached = accept(at=now - dt.timedelta(days=2), subject="超时", team="HOT")
    other = TeamFactory(code="CNT", name="营业班")
    inquiry = accept(kind="inquiry", category="inq_tariff", subject="咨询", team="CNT", at=now)
    result = sla_tick(now=now).as_dict()
    assert result["breached"] == 1
    assert result["escalated"] == 1
    return {
        "now": now,
        "on_time": on_time,
        "warned": warned,
        "breached": breached,
        "inquiry": inquiry,
        "team": team,
        "other": other,
    }


def test_board_figures_count_warned_and_breached(make_user, board_scenario):
    from gridcare.workorders.selectors.workbench import board_figures

    manager = make_user(roles=["service_manager"])
    figures = board_figures(user=manager, now=board_scenario["now"])
    by_team = {line.key: (line.total, line.ok, line.warned, line.breached) for line in figures.by_team}
    assert by_team == {"HOT": (3, 1, 1, 1), "CNT": (1, 1, 0, 0)}
    by_kind = {line.key: (line.total, line.warned, line.breached) for line in figures.by_kind}
    assert by_kind == {"complaint": (3, 1, 1), "inquiry": (1, 0, 0)}
    assert [r.order.number for r in figures.orders] == [
        board_scenario["breached"].number,
        board_scenario["warned"].number,
    ]
    assert figures.orders[0].order.escalated_to == board_scenario["team"].supervisor
    assert figures.breaches_by_stage == [("contact", "Contact the customer (联系客户)", 1)]
    assert figures.chart["breached"] == [0, 1]  # CNT, HOT
    narrowed = board_figures(user=manager, now=board_scenario["now"], team="CNT")
    assert [line.key for line in narrowed.by_team] == ["CNT"]
    assert narrowed.orders == []
    assert narrowed.breaches_by_stage == []
    only_inquiries = board_figures(user=manager, now=board_scenario["now"], kind="inquiry")
    assert only_inquiries.totals.total == 1
    assert only_inquiries.totals.breached == 0


def test_board_counts_a_deadline_passed_before_the_tick(make_user, board_scenario):
    from gridcare.workorders.selectors.workbench import board_figures

    later = board_scenario["now"] + dt.timedelta(hours=6)  # the warned clock is now overdue
    figures = board_figures(user=make_user(roles=["auditor"]), now=later)
    hot = next(line for line in figures.by_team if line.key == "HOT")
    assert (hot.warned, hot.breached) == (0, 2)


def test_board_page(staff_client, board_scenario, django_assert_max_num_queries):
    client = staff_client(roles=["service_manager"])
    client.get(reverse("workorders:board"))
    with django_assert_max_num_queries(12):
        response = client.get(reverse("workorders:board"))
    html = response.content.decode()
    supervisor = board_scenario["team"].supervisor
    orders = html.split('id="board-orders"')[1].split("</table>")[0]
    assert board_scenario["breached"].number in orders
    assert board_scenario["on_time"].number not in orders
    assert supervisor.username in orders or supervisor.get_full_name() in orders
    assert 'http-equiv="refresh" content="60"' in html
    assert "vendor/echarts.min.js" in html
    data = json.loads(html.split('id="board-data" type="application/json">')[1].split("</script>")[0])
    assert data["teams"] == ["营业班", "95598坐席班"]
    assert data["warned"] == [0, 1]
    filtered = client.get(reverse("workorders:board"), {"team": "CNT"}).content.decode()
    assert board_scenario["breached"].number not in filtered
