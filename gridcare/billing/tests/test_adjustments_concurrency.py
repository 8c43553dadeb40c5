"""Two people at once (PostgreSQL, real concurrent transactions): a correction is decided
once, and a meter-verification record is settled once — the loser gets Conflict and
nothing is written twice."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from gridcare.billing.choices import DocumentStatus
from gridcare.billing.models import BillAdjustment
from gridcare.billing.services.adjustments import (
    bill_adjustment_decide,
    bill_adjustments_from_meter_adjustment,
)
from gridcare.billing.tests.factories_bills import decided_adjustment, meter_adjustment, notice_bill
from gridcare.core.errors import Conflict
from gridcare.core.models import AuditEvent
from gridcare.customers.tests.factories import AccountFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgresql,
    pytest.mark.usefixtures("roles"),
]


@pytest.fixture
def roles() -> None:
    """A transactional test flushes what the data migrations made: put back the role groups
    these tests use and the seeded tariff catalogue (re-rating needs it)."""
    import importlib

    import django.apps

    from gridcare.billing import seed_data

    seed_data.load(django.apps.apps)

    from django.contrib.auth.models import Group, Permission

    for module in (
        "gridcare.core.migrations.0002_roles_and_audit_guard",
        "gridcare.billing.migrations.0003_roles",
    ):
        for role, perms in importlib.import_module(module).ROLE_PERMISSIONS.items():
            group, _ = Group.objects.get_or_create(name=role)
            for perm in perms:
                app_label, codename = perm.split(".")
                group.permissions.add(
                    Permission.objects.get(content_type__app_label=app_label, codename=codename)
                )


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; each result or the exception raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        from django.db import connection as thread_connection

        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - the test inspects what each thread got
            results[i] = exc
        finally:
            thread_connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_managers_deciding_at_once_decide_once(make_user):
    assert connection.vendor == "postgresql"
    adj = decided_adjustment(notice_bill(), "-3.00", status=DocumentStatus.PENDING)
    approver = make_user(roles=["service_manager"], username="m1")
    rejecter = make_user(roles=["marketing_manager"], username="m2")
    results = race(
        lambda: bill_adjustment_decide(actor=approver, adjustment_id=adj.pk, approve=True),
        lambda: bill_adjustment_decide(actor=rejecter, adjustment_id=adj.pk, approve=False, note="不同意"),
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert sum(isinstance(r, BillAdjustment) for r in results) == 1
    adj.refresh_from_db()
    assert adj.status in (DocumentStatus.APPROVED, DocumentStatus.REJECTED)
    assert AuditEvent.objects.filter(object_type="billing.billadjustment", object_id=str(adj.pk)).count() == 1


def test_settling_a_meter_record_twice_at_once_creates_one_set(make_user):
    account = AccountFactory()
    notice_bill(account=account, period=dt.date(2026, 10, 1))
    record = meter_adjustment(
        account, error_pct="5.00", start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31)
    )
    clerk = make_user(roles=["billing_clerk"], username="c1")
    results = race(
        lambda: bill_adjustments_from_meter_adjustment(actor=clerk, meter_adjustment_id=record.pk),
        lambda: bill_adjustments_from_meter_adjustment(actor=clerk, meter_adjustment_id=record.pk),
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1, results
    assert BillAdjustment.objects.filter(meter_adjustment=record).count() == 1
