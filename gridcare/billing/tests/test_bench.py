"""``gridcare bench billing``: generates its accounts, times the three ways and ends with
the JSON line; a second run reuses the accounts and bills them again without duplicates."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from gridcare.billing.bench import MIX, synthetic_periods
from gridcare.billing.models import Bill, BillLine
from gridcare.billing.services.period_data import PERIOD_SCHEMA
from gridcare.billing.tests.runs_fixtures import OCT
from gridcare.customers.models import Account
from gridcare.metering.models import Reading

pytestmark = pytest.mark.django_db


def _bench(accounts: int, orm: int) -> dict:
    out = io.StringIO()
    call_command(
        "bench",
        "billing",
        "--accounts",
        str(accounts),
        "--orm-accounts",
        str(orm),
        "--partition-size",
        "70",
        stdout=out,
    )
    lines = out.getvalue().strip().splitlines()
    assert "(a) engine alone" in out.getvalue()
    assert "(c) per-account ORM loop" in out.getvalue()
    return json.loads(lines[-1])


def test_bench_generates_rates_and_reports():
    result = _bench(200, 15)
    assert result["bench"] == "billing"
    assert result["accounts"] == 200
    for key in (
        "engine_accounts_per_s",
        "run_seconds",
        "run_accounts_per_s",
        "orm_loop_accounts_per_s",
        "peak_rss_mb",
    ):
        assert result[key] > 0, key
    assert Account.objects.filter(number__startswith="BN").count() == 200
    assert Reading.objects.filter(register="total").count() == 400
    assert Bill.objects.filter(period=OCT).count() == 200  # the ORM loop's bills were rolled back
    assert not Bill.objects.filter(number__startswith="BORM").exists()
    tou = Account.objects.filter(number__startswith="BN", tariff_code="HEBS-GIC-LV").first()
    assert BillLine.objects.filter(bill__account=tou, item__contains="peak").exists()
    again = _bench(200, 5)
    assert again["accounts"] == 200
    assert Account.objects.filter(number__startswith="BN").count() == 200
    assert Bill.objects.filter(period=OCT).count() == 200


def test_synthetic_frame_follows_the_contract_and_mix():
    frame = synthetic_periods(2000, OCT)
    assert dict(frame.schema) == PERIOD_SCHEMA
    shares = frame["tariff_code"].value_counts().sort("tariff_code")
    assert dict(shares.iter_rows()) == {code: share * 2 for code, share, _ in MIX}
