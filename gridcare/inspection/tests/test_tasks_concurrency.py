"""Two people at once (PostgreSQL, real concurrent transactions): one open task per account
and source even when two inspectors create it together, or a plan and an inspector; one of
two completions of the same version wins, the other gets Conflict and writes nothing."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.db import connection

from gridcare.core.errors import Conflict
from gridcare.core.models import AuditEvent
from gridcare.core.tests.transactional import grant_roles, race
from gridcare.customers.tests.factories import AccountFactory
from gridcare.inspection.models import InspectionTask
from gridcare.inspection.services.plans import plan_periodic_create
from gridcare.inspection.services.tasks import task_assign, task_create

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgresql,
    pytest.mark.usefixtures("reference"),
]


@pytest.fixture
def reference() -> None:
    """A transactional test flushes what the data migrations made: put back the role groups
    and the inspection cycles."""
    import django.apps

    importlib.import_module("gridcare.inspection.migrations.0002_reference_data").seed(django.apps.apps, None)
    grant_roles(
        "gridcare.core.migrations.0002_roles_and_audit_guard",
        "gridcare.inspection.migrations.0003_roles",
    )


def test_two_inspectors_create_the_same_task_once(make_user):
    assert connection.vendor == "postgresql"
    account = AccountFactory()
    a = make_user(roles=["inspector"], username="i1")
    b = make_user(roles=["inspector"], username="i2")
    due = dt.date(2026, 12, 31)
    results = race(
        lambda: task_create(actor=a, account_id=account.pk, source="report", due_on=due),
        lambda: task_create(actor=b, account_id=account.pk, source="report", due_on=due),
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert sum(isinstance(r, InspectionTask) for r in results) == 1
    assert InspectionTask.objects.filter(account=account).count() == 1


def test_a_plan_and_an_inspector_at_once_make_one_periodic_task(make_user):
    account = AccountFactory(importance="first", voltage_level="10kv")
    a = make_user(roles=["inspector"], username="i1")
    results = race(
        lambda: plan_periodic_create(
            actor=a, period_start=dt.date(2026, 1, 1), period_end=dt.date(2026, 3, 31)
        ),
        lambda: task_create(actor=a, account_id=account.pk, source="periodic", due_on=dt.date(2026, 1, 1)),
    )
    assert InspectionTask.objects.filter(account=account, source="periodic").count() == 1
    assert not any(isinstance(r, Exception) and not isinstance(r, Conflict) for r in results)


def test_two_assignments_of_one_version_write_once(make_user):
    account = AccountFactory()
    lead = make_user(roles=["marketing_manager"], username="m1")
    a = make_user(roles=["inspector"], username="i1")
    b = make_user(roles=["inspector"], username="i2")
    task = task_create(actor=lead, account_id=account.pk, source="manual", due_on=dt.date(2026, 12, 31))
    results = race(
        lambda: task_assign(actor=lead, task_id=task.pk, version=1, inspector_id=a.pk),
        lambda: task_assign(actor=lead, task_id=task.pk, version=1, inspector_id=b.pk),
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1
    task.refresh_from_db()
    assert task.version == 2
    assert AuditEvent.objects.filter(action="inspection.task_assign", object_id=str(task.pk)).count() == 1
