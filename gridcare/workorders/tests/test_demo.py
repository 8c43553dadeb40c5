"""The work-order part of ``gridcare seed``: teams, knowledge base and a month of traffic in
every state, made through the real services."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from gridcare.quality.models import SlaBreach
from gridcare.workorders.choices import AlertKind
from gridcare.workorders.models import Article, ReporterIdentity, StaffAlert, Team, WorkOrder

pytestmark = pytest.mark.django_db


def test_seed_makes_work_orders_in_every_state():
    out = StringIO()
    call_command(
        "seed",
        "--customers",
        "80",
        "--seed",
        "2",
        "--readings-months",
        "0",
        "--workorder-days",
        "20",
        stdout=out,
    )
    assert "work orders:" in out.getvalue()
    assert set(Team.objects.values_list("code", flat=True)) == {"KF95598", "YYB", "JLB", "YDJC"}
    assert Team.objects.get(code="KF95598").supervisor.username == "service_manager"
    assert Article.objects.filter(is_published=True).count() >= 30
    orders = WorkOrder.objects.all()
    assert orders.count() >= 60
    kinds = set(orders.values_list("kind", flat=True))
    assert {"complaint", "inquiry", "service_request", "report"} <= kinds
    assert orders.filter(is_open=False).exists()
    assert orders.filter(is_open=True).exists()
    assert orders.filter(duplicate_of__isnull=False).exists()
    assert orders.filter(grade="major").exists()
    assert StaffAlert.objects.filter(kind=AlertKind.MAJOR).exists()
    assert SlaBreach.objects.exists()
    report = orders.get(kind="report")
    assert report.contact_phone == ""
    assert ReporterIdentity.objects.get(order=report).phone == "13700000000"
