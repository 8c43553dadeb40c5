"""The inspection panel of the customer 360 view: who sees it and what it lists."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from gridcare.customers.tests.factories import AccountFactory
from gridcare.inspection.choices import TaskSource
from gridcare.inspection.selectors.panel import customer_inspection_panel
from gridcare.inspection.services.tasks import task_create

pytestmark = pytest.mark.django_db


def _client(make_user: Any, role: str) -> Client:
    client = Client()
    client.force_login(make_user(roles=[role]))
    return client


def test_inspector_sees_the_tasks_of_the_customers_accounts(make_user: Any) -> None:
    account = AccountFactory()
    other = AccountFactory()
    task = task_create(
        actor="test",
        account_id=account.pk,
        source=TaskSource.MANUAL,
        due_on=timezone.localdate() + dt.timedelta(days=3),
        reason="举报核查",
    )
    task_create(actor="test", account_id=other.pk, source=TaskSource.MANUAL, due_on=timezone.localdate())
    page = _client(make_user, "inspector").get(reverse("customers:detail", args=[account.customer_id]))
    assert page.status_code == 200
    html = page.content.decode()
    assert task.number in html
    assert reverse("inspection:task_detail", args=[task.pk]) in html
    panel = customer_inspection_panel(user=make_user(roles=["inspector"]), account_ids=[account.pk])
    assert panel is not None
    assert [t.pk for t in panel["tasks"]] == [task.pk]  # not the other customer's task


def test_counter_clerk_does_not_see_theft_suspicions(make_user: Any) -> None:
    account = AccountFactory()
    task = task_create(
        actor="test", account_id=account.pk, source=TaskSource.MANUAL, due_on=timezone.localdate()
    )
    page = _client(make_user, "counter_clerk").get(reverse("customers:detail", args=[account.customer_id]))
    assert page.status_code == 200
    assert task.number not in page.content.decode()
    assert (
        customer_inspection_panel(user=make_user(roles=["counter_clerk"]), account_ids=[account.pk]) is None
    )
