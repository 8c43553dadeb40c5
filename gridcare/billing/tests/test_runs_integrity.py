"""What a run writes per bill and the references the database keeps without per-row
foreign keys (billing migration 0006): one INFO line for the funds inside a residential
price, its components derivable from the tariff version; a line needs its bill, a bill its
account and run, on both databases; on PostgreSQL nothing still referenced is deleted."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest
from django.db import IntegrityError, connection, transaction

from gridcare.billing.models import Bill, BillLine, TariffVersion
from gridcare.billing.services.bills import included_funds_of, notice_lines
from gridcare.billing.services.runs import FUNDS_INCLUDED_ITEM, bill_lines, billing_run
from gridcare.billing.tests.runs_fixtures import OCT, billable_account
from gridcare.customers.models import Account

pytestmark = pytest.mark.django_db


def _funds(code: str) -> dict[str, Decimal]:
    version = (
        TariffVersion.objects.filter(tariff__code=code, effective_from__lte=dt.date(2026, 10, 31))
        .order_by("-effective_from")
        .first()
    )
    assert version is not None
    return {k: Decimal(str(v)) for k, v in version.params["included_funds"].items()}


def test_residential_bill_has_one_funds_line_and_the_notice_breaks_it_down():
    account, _ = billable_account(start="1000", end="1150")
    billing_run(period="2026-10", actor="clerk")
    bill = Bill.objects.get(account=account, period=OCT)
    lines = list(BillLine.objects.filter(bill=bill).order_by("seq"))
    info = [line for line in lines if line.kind == "info"]
    assert [line.item for line in info] == [FUNDS_INCLUDED_ITEM]
    funds = _funds("HEBS-RES-LV")
    assert len(funds) == 4
    parts = {
        k: (Decimal("150") * p).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) for k, p in funds.items()
    }
    (line,) = info
    assert line.kwh == Decimal("150.000")
    assert line.unit_price == sum(funds.values())
    assert line.amount == sum(parts.values())
    assert [ln.seq for ln in lines] == list(range(1, len(lines) + 1))
    assert sum(ln.amount for ln in lines if ln.kind != "info") == bill.amount  # adds nothing

    assert included_funds_of(bill) == funds
    printed = notice_lines(lines, included_funds=included_funds_of(bill))
    assert [p.label for p in printed[: len(lines)]] == [p.label for p in notice_lines(lines)]
    under = printed[len(lines) :]  # the funds line is the last line; its parts follow it
    assert [p.amount for p in under] == list(parts.values())
    assert all(p.info for p in under)
    assert sum(p.amount for p in under) == line.amount


def test_bill_lines_merges_only_the_included_funds():
    lines = pl.DataFrame(
        {
            "account_id": [1, 1, 1, 1, 2, 2],
            "seq": [1, 2, 3, 4, 1, 2],
            "kind": ["energy", "info", "info", "info", "energy", "fund"],
            "item": ["energy_tier1", "fund_a", "fund_b", "fund_c", "energy_peak", "fund"],
            "wh": [100_000, 100_000, 100_000, 100_000, 50_000, 50_000],
            "unit_price_micro": [520_000, 5300, 2600, 1000, 600_000, 27_400],
            "amount_fen": [5200, 53, 26, 10, 3000, 137],
            "tariff_version_id": [7, 7, 7, 7, 9, 9],
        },
        schema_overrides={"seq": pl.Int32},
    )
    out = bill_lines(lines).sort("account_id", "seq")
    assert out.schema == lines.schema
    assert out.select("account_id", "seq", "kind", "item", "unit_price_micro", "amount_fen").rows() == [
        (1, 1, "energy", "energy_tier1", 520_000, 5200),
        (1, 2, "info", FUNDS_INCLUDED_ITEM, 8900, 89),
        (2, 1, "energy", "energy_peak", 600_000, 3000),
        (2, 2, "fund", "fund", 27_400, 137),
    ]
    assert out.filter(pl.col("item") == FUNDS_INCLUDED_ITEM)["tariff_version_id"].to_list() == [7]


def _bill(account: Account) -> Bill:
    return Bill.objects.create(
        number="BX000000000001",
        account=account,
        period=OCT,
        period_start=OCT,
        period_end=dt.date(2026, 10, 31),
        tariff_code="HEBS-RES-LV",
        kwh=Decimal("1"),
        amount=Decimal("0.52"),
        created_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
    )


def _insert(sql: str, params: list) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_a_line_needs_its_bill():
    account, _ = billable_account()
    bill = _bill(account)
    BillLine.objects.create(bill=bill, seq=1, kind="energy", item="energy_tier1", amount=Decimal("0.52"))
    with pytest.raises(IntegrityError):
        _insert(
            "INSERT INTO billing_billline (bill_id, seq, kind, item, amount) "
            "VALUES (%s, 1, 'energy', 'x', 1)",
            [bill.pk + 1000],
        )
    with pytest.raises(IntegrityError):
        _insert("UPDATE billing_billline SET bill_id = %s WHERE bill_id = %s", [bill.pk + 1000, bill.pk])
    assert BillLine.objects.filter(bill=bill).count() == 1


def test_a_bill_needs_its_account_and_run():
    account, _ = billable_account()
    bill = _bill(account)
    missing = Account.objects.order_by("-pk").values_list("pk", flat=True)[0] + 1000
    with pytest.raises(IntegrityError):
        _insert("UPDATE billing_bill SET account_id = %s WHERE id = %s", [missing, bill.pk])
    with pytest.raises(IntegrityError):
        _insert("UPDATE billing_bill SET run_id = %s WHERE id = %s", [987_654, bill.pk])
    bill.refresh_from_db()
    assert bill.account_id == account.pk
    assert bill.run_id is None


@pytest.mark.postgresql
def test_postgresql_refuses_deleting_what_is_referenced():
    if connection.vendor != "postgresql":
        pytest.fail("run on PostgreSQL")
    account, _ = billable_account()
    run = billing_run(period="2026-10", actor="clerk")
    bill = Bill.objects.get(account=account, period=OCT)
    for sql, key in (
        ("DELETE FROM billing_bill WHERE id = %s", bill.pk),
        ("DELETE FROM customers_account WHERE id = %s", account.pk),
        ("DELETE FROM billing_billingrun WHERE id = %s", run.pk),
    ):
        with pytest.raises(IntegrityError):
            _insert(sql, [key])
    # a bill goes with its lines (the services' cascade)
    _insert("DELETE FROM billing_billline WHERE bill_id = %s", [bill.pk])
    _insert("DELETE FROM billing_bill WHERE id = %s", [bill.pk])
    assert not Bill.objects.filter(pk=bill.pk).exists()
