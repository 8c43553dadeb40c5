"""The work-order panel of the customer 360 view."""

from __future__ import annotations

import pytest

from gridcare.customers.tests.factories import AccountFactory
from gridcare.workorders.selectors.orders import customer_work_orders_panel
from gridcare.workorders.tests.factories import accept

pytestmark = pytest.mark.django_db


def test_panel_lists_the_customers_orders_open_first_without_reports(make_user, staff_client):
    account = AccountFactory()
    customer = account.customer
    agent = make_user(roles=["hotline_agent"])
    closed = accept(
        actor=agent,
        kind="inquiry",
        category="inq_payment",
        subject="怎么交电费",
        account_number=account.number,
        answer="网上国网App",
    )
    open_one = accept(actor=agent, account_number=account.number)
    report = accept(
        actor=agent,
        kind="report",
        category="rpt_theft",
        subject="绕表用电",
        account_number=account.number,
        contact_phone="13700001111",
    )
    panel = customer_work_orders_panel(user=agent, customer_id=customer.pk)
    assert panel is not None
    assert [r["order"].number for r in panel["rows"]] == [open_one.number, closed.number]
    assert panel["open"] == 1

    client = staff_client(roles=["counter_clerk"])
    page = client.get(f"/customers/{customer.pk}/")
    assert page.status_code == 200
    body = page.content.decode()
    assert open_one.number in body
    assert report.number not in body


def test_panel_is_none_for_a_role_without_work_orders(make_user):
    account = AccountFactory()
    customer_user = make_user(roles=["customer"])
    assert customer_work_orders_panel(user=customer_user, customer_id=account.customer_id) is None
