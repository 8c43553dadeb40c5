"""Inspection plans: periodic plans from the seeded cycles (important users quarterly or half-
yearly, high voltage yearly), skipping accounts with an open periodic task; targeted plans
from the latest finished scoring run (top-N flagged) and line-loss run (top 3 suspects of
each flagged area), linking the risk score or area."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from gridcare.core.errors import PermissionDenied, ValidationFailed
from gridcare.core.models import AuditEvent
from gridcare.core.tests.factories import UserFactory
from gridcare.customers.tests.factories import AccountFactory
from gridcare.inspection.models import (
    AreaLoss,
    InspectionTask,
    LineLossRun,
    ModelArtefact,
    RiskScore,
    ScoringRun,
)
from gridcare.inspection.services.plans import (
    plan_periodic_create,
    plan_targeted_create,
    suspect_account_ids,
)
from gridcare.inspection.services.tasks import task_cancel, task_create
from gridcare.inspection.tests.factories import transformer_area

pytestmark = pytest.mark.django_db

START, END = dt.date(2026, 1, 1), dt.date(2026, 3, 31)


@pytest.fixture
def inspector(make_user):
    return make_user(roles=["inspector"], username="insp1")


def complete_on(account, day: dt.date, source: str = "manual") -> InspectionTask:
    """A completed inspection of ``account`` on ``day`` (given state: written directly)."""
    at = timezone.make_aware(dt.datetime.combine(day, dt.time(10)))
    return InspectionTask.objects.create(
        number=f"JCT{account.pk:06d}{day:%m%d}",
        account=account,
        source=source,
        status="completed",
        result="normal",
        due_on=day,
        completed_at=at,
        created_by="test",
        created_at=at,
        inspector=UserFactory(roles=["inspector"]),
    )


def test_periodic_plan_hand_computed(inspector):
    first = AccountFactory(importance="first", voltage_level="10kv", customer_class="large_ind")
    complete_on(first, dt.date(2025, 11, 30))  # 3 months → 2026-02-28
    second = AccountFactory(importance="second", voltage_level="380v", customer_class="general_ic")
    complete_on(second, dt.date(2025, 3, 31))  # 6 months → 2025-09-30: overdue → period start
    hv = AccountFactory(voltage_level="10kv", customer_class="general_ic")  # never → period start
    hv_recent = AccountFactory(voltage_level="35kv", customer_class="large_ind")
    complete_on(hv_recent, dt.date(2025, 6, 15))  # 12 months → 2026-06-15: not due
    AccountFactory(voltage_level="220v")  # ordinary household: no cycle
    closed = AccountFactory(voltage_level="10kv", status="closed", closed_on=dt.date(2024, 1, 1))
    busy = AccountFactory(importance="special", voltage_level="10kv")
    task_create(actor=inspector, account_id=busy.pk, source="periodic", due_on=START)

    plan = plan_periodic_create(actor=inspector, period_start=START, period_end=END)
    assert plan.number.startswith("JH")
    assert plan.kind == "periodic"
    assert plan.source == "periodic"
    tasks = {t.account_id: t for t in plan.tasks.all()}
    assert set(tasks) == {first.pk, second.pk, hv.pk}
    assert closed.pk not in tasks
    assert busy.pk not in tasks
    assert tasks[first.pk].due_on == dt.date(2026, 2, 28)
    assert tasks[second.pk].due_on == START
    assert "overdue" in tasks[second.pk].reason
    assert tasks[hv.pk].due_on == START
    assert tasks[first.pk].checklist.count() == 18
    assert plan.criteria["due"] == 4
    assert plan.criteria["skipped_open"] == 1
    assert {"importance": "first", "voltage_level": "", "months": 3} in plan.criteria["rules"]
    assert AuditEvent.objects.filter(action="inspection.plan_create", object_id=str(plan.pk)).exists()
    assert AuditEvent.objects.filter(action="inspection.task_create").count() == 4  # 3 + the busy one

    # the same period again: every account now has an open periodic task
    again = plan_periodic_create(actor=inspector, period_start=START, period_end=END, name="Q1 again")
    assert again.tasks.count() == 0
    assert again.name == "Q1 again"
    assert again.criteria["skipped_open"] == 4


def test_periodic_plan_validates(inspector, make_user):
    with pytest.raises(ValidationFailed) as exc:
        plan_periodic_create(actor=inspector, period_start=END, period_end=START)
    assert exc.value.field == "period_end"
    with pytest.raises(ValidationFailed):
        plan_periodic_create(actor=inspector, period_start=START, period_end=dt.date(2027, 6, 1))
    with pytest.raises(PermissionDenied):
        plan_periodic_create(actor=make_user(roles=["auditor"]), period_start=START, period_end=END)


def scoring_run(*, status="done", started=None, scores=()):
    artefact = ModelArtefact.objects.get_or_create(
        version="test-1",
        defaults={
            "path": "models/theft/test-1",
            "sha256": "0" * 64,
            "threshold": 0.5,
            "trained_at": timezone.now(),
        },
    )[0]
    run = ScoringRun.objects.create(
        artefact=artefact,
        window_start=dt.date(2026, 8, 1),
        window_end=dt.date(2026, 10, 31),
        status=status,
        started_at=started or timezone.now(),
    )
    rows = []
    for rank, (account, score, flagged) in enumerate(scores, start=1):
        rows.append(
            RiskScore.objects.create(
                run=run,
                account=account,
                customer_class=account.customer_class,
                score=score,
                rank=rank,
                flagged=flagged,
            )
        )
    return run, rows


def test_targeted_plan_from_the_latest_done_scoring_run(inspector):
    accounts = [AccountFactory() for _ in range(6)]
    scoring_run(started=timezone.now() - dt.timedelta(days=2), scores=[(a, 0.99, True) for a in accounts[3:]])
    scoring_run(status="failed", started=timezone.now())  # newer but failed: ignored
    run, rows = scoring_run(
        started=timezone.now() - dt.timedelta(days=1),
        scores=[
            (accounts[0], 0.97, True),
            (accounts[1], 0.93, True),
            (accounts[2], 0.91, True),
            (accounts[3], 0.2, False),
        ],
    )
    # accounts[1] already has an open risk task: skipped, the next one moves up
    task_create(actor=inspector, account_id=accounts[1].pk, source="risk", due_on=dt.date(2026, 12, 31))
    due = timezone.localdate() + dt.timedelta(days=10)
    plan = plan_targeted_create(actor=inspector, source="risk", top=2, due_on=due)
    tasks = list(plan.tasks.order_by("id"))
    assert [t.account_id for t in tasks] == [accounts[0].pk, accounts[2].pk]
    assert [t.risk_score_id for t in tasks] == [rows[0].pk, rows[2].pk]
    assert all(t.source == "risk" and t.due_on == due for t in tasks)
    assert "0.970" in tasks[0].reason
    assert "rank 1" in tasks[0].reason
    assert plan.criteria["run"] == run.pk
    assert plan.criteria["skipped_open"] == 1
    assert plan.kind == "targeted"
    assert plan.period_end == due


def area_loss(run, *, flagged, suspects, rate):
    return AreaLoss.objects.create(
        run=run,
        transformer=transformer_area(),
        input_kwh=Decimal("1000"),
        billed_kwh=Decimal("800"),
        loss_rate_pct=Decimal(rate),
        recent_rate_pct=Decimal(rate),
        flagged=flagged,
        suspects=suspects,
    )


def test_targeted_plan_from_the_latest_line_loss_run(inspector):
    run = LineLossRun.objects.create(
        window_start=dt.date(2026, 8, 1),
        window_end=dt.date(2026, 10, 31),
        rate_threshold_pct=Decimal("10"),
        jump_threshold_pct=Decimal("5"),
        status="done",
        started_at=timezone.now(),
    )
    a = [AccountFactory() for _ in range(8)]
    high = area_loss(
        run,
        flagged=True,
        rate="25.00",
        suspects=[{"account_id": a[i].pk, "rank": r} for i, r in ((1, 2), (0, 1), (2, 3), (3, 4))],
    )
    low = area_loss(
        run, flagged=True, rate="12.00", suspects=[{"account_id": a[4].pk}, {"account_id": a[5].pk}]
    )
    area_loss(run, flagged=False, rate="3.00", suspects=[{"account_id": a[6].pk}])
    due = timezone.localdate() + dt.timedelta(days=7)
    plan = plan_targeted_create(actor=inspector, source="line_loss", due_on=due, name="台区专项")
    got = [(t.account_id, t.area_loss_id) for t in plan.tasks.order_by("id")]
    assert got == [
        (a[0].pk, high.pk),
        (a[1].pk, high.pk),
        (a[2].pk, high.pk),
        (a[4].pk, low.pk),
        (a[5].pk, low.pk),
    ]
    assert plan.name == "台区专项"
    assert plan.criteria["areas"] == 2
    capped = plan_targeted_create(actor=inspector, source="line_loss", due_on=due, top=1)
    assert capped.tasks.count() == 0  # the suspects all have open line-loss tasks now
    task_cancel(actor=inspector, task_id=plan.tasks.order_by("id")[0].pk, version=1, reason="x")
    capped = plan_targeted_create(actor=inspector, source="line_loss", due_on=due, top=1)
    assert [t.account_id for t in capped.tasks.all()] == [a[0].pk]


def test_targeted_plan_validates(inspector):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    with pytest.raises(ValidationFailed) as exc:
        plan_targeted_create(actor=inspector, source="risk", due_on=tomorrow)
    assert exc.value.field == "source"
    assert "scoring run" in str(exc.value.message)
    with pytest.raises(ValidationFailed) as exc:
        plan_targeted_create(actor=inspector, source="line_loss", due_on=tomorrow)
    assert exc.value.field == "source"
    with pytest.raises(ValidationFailed) as exc:
        plan_targeted_create(actor=inspector, source="periodic", due_on=tomorrow)
    assert exc.value.field == "source"
    with pytest.raises(ValidationFailed) as exc:
        plan_targeted_create(actor=inspector, source="risk", top=0, due_on=tomorrow)
    assert exc.value.field == "top"
    with pytest.raises(ValidationFailed) as exc:
        plan_targeted_create(
            actor=inspector, source="risk", due_on=timezone.localdate() - dt.timedelta(days=1)
        )
    assert exc.value.field == "due_on"


def test_suspect_ids_tolerate_odd_rows():
    area = AreaLoss(
        suspects=[
            {"account_id": "7"},
            {"x": 1},
            "junk",
            {"account_id": 7},
            {"account_id": 9},
            {"account_id": 3},
        ]
    )
    assert suspect_account_ids(area) == [7, 9, 3]
    assert suspect_account_ids(
        AreaLoss(suspects=[{"account_id": 1, "rank": 2}, {"account_id": 2, "rank": 1}])
    ) == [2, 1]


def test_risk_plan_reaches_past_a_window_of_busy_accounts(make_user):
    """docs/inspection-tasks.md: a skipped account lets the next one move up — however far
    down: the first three of four flagged accounts have open risk tasks, top 1."""
    insp = make_user(roles=["inspector"], username="insp-w")
    accounts = [AccountFactory() for _ in range(4)]
    scoring_run(scores=[(a, 0.9 - i * 0.01, True) for i, a in enumerate(accounts)])
    for a in accounts[:3]:
        task_create(actor=insp, account_id=a.pk, source="risk", due_on=dt.date(2026, 12, 31))
    plan = plan_targeted_create(
        actor=insp, source="risk", top=1, due_on=timezone.localdate() + dt.timedelta(days=5)
    )
    assert [t.account_id for t in plan.tasks.all()] == [accounts[3].pk]
    assert plan.criteria["skipped_open"] == 3
