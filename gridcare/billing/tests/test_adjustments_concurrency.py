"""Two people at once (PostgreSQL, real concurrent transactions): a correction is decided
once, and a meter-verification record is settled once — the loser gets Conflict and
nothing is written twice."""

from __future__ import annotations

import datetime as dt

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
from gridcare.core.tests.transactional import grant_roles, race
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

    import django.apps

    from gridcare.billing import seed_data

    seed_data.load(django.apps.apps)

    grant_roles(
        "gridcare.core.migrations.0002_roles_and_audit_guard",
        "gridcare.billing.migrations.0003_roles",
    )


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
