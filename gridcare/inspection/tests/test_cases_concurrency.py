"""Two people at once on one case (PostgreSQL, real concurrent transactions): a case is
decided once and posted to billing once; the loser gets Conflict and nothing is written
twice."""

from __future__ import annotations

import datetime as dt
import importlib
from typing import Any

import django.apps
import pytest

from gridcare.billing import seed_data
from gridcare.billing.models import BillAdjustment
from gridcare.billing.tests.factories import issued_bill
from gridcare.core.errors import Conflict
from gridcare.core.models import AuditEvent
from gridcare.core.tests.transactional import grant_roles, race
from gridcare.inspection.models import Case
from gridcare.inspection.services.cases import case_decide, case_post_to_billing, case_submit
from gridcare.inspection.tests.test_cases_services import account_with_contract, approved_case, theft_case

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]


@pytest.fixture(autouse=True)
def _reference() -> None:
    """A transactional test flushes what the data migrations made: the catalogue, the
    penalty rules and the role groups go back in."""
    seed_data.load(django.apps.apps)
    importlib.import_module("gridcare.inspection.migrations.0002_reference_data").seed(django.apps.apps, None)
    grant_roles(
        "gridcare.core.migrations.0002_roles_and_audit_guard",
        "gridcare.billing.migrations.0003_roles",
        "gridcare.inspection.migrations.0003_roles",
    )


def test_two_approvers_at_once_decide_once(make_user: Any) -> None:
    maker = make_user(roles=["inspector"], username="maker")
    case = theft_case(maker)
    case_submit(actor=maker, case_id=case.pk)
    first = make_user(roles=["service_manager"], username="boss1")
    second = make_user(roles=["marketing_manager"], username="boss2")
    results = race(
        lambda: case_decide(actor=first, case_id=case.pk, approve=True),
        lambda: case_decide(actor=second, case_id=case.pk, approve=False, note="退回"),
    )
    assert sorted(type(r).__name__ for r in results) == ["Case", "Conflict"]
    case.refresh_from_db()
    winner = next(r for r in results if isinstance(r, Case))
    assert case.status == winner.status
    assert case.version == 3
    decisions = AuditEvent.objects.filter(
        object_id=str(case.pk), action__in=["inspection.case.approve", "inspection.case.reject"]
    )
    assert decisions.count() == 1


def test_two_posts_at_once_make_one_backbilling(make_user: Any) -> None:
    maker = make_user(roles=["inspector"], username="maker")
    account = account_with_contract()
    case = approved_case(maker, make_user(roles=["service_manager"], username="boss"), account)
    issued_bill(account=account, period=dt.date(2026, 10, 1))
    other = make_user(roles=["inspector"], username="other")
    results = race(
        lambda: case_post_to_billing(actor=maker, case_id=case.pk),
        lambda: case_post_to_billing(actor=other, case_id=case.pk),
    )
    assert sum(isinstance(r, Conflict) for r in results) == 1
    assert BillAdjustment.objects.count() == 1
    case.refresh_from_db()
    assert case.status == "settled"
    assert case.bill_adjustment_id == BillAdjustment.objects.get().pk
