"""A line that covers part of the bill's period only keeps its days: a run writes them for
the basic-charge lines (基本电费) of a contract changed inside the month and for the lines
of each tariff version of a month split by a new version (and none on a normal bill), and
every place that shows a bill's lines shows them — the console bill page, the printable
notice, the PDF, the portal's bill page, the run's Excel export and both APIs
(docs/billing-bills.md)."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from gridcare.billing.choices import BillLineKind, BillStatus
from gridcare.billing.models import Bill, BillingRun, BillLine
from gridcare.billing.selectors.bills import bill_get
from gridcare.billing.services.bills import bill_notice, bill_notice_pdf, run_export_xlsx
from gridcare.billing.services.runs import billing_run, line_days
from gridcare.billing.tests.factories import TZ, BillFactory
from gridcare.billing.tests.runs_fixtures import OCT, billable_account
from gridcare.billing.tests.test_documents import sheet_rows
from gridcare.core.tests.pdf_helpers import pdf_text
from gridcare.customers.tests.factories import ContractFactory

pytestmark = pytest.mark.django_db

D = dt.date
FIRST_HALF = "2026-10-01 – 2026-10-15"
SECOND_HALF = "2026-10-16 – 2026-10-31"


def _contract(acct: Any, kva: str, start: dt.date, end: dt.date | None = None) -> None:
    ContractFactory(
        account=acct,
        kind="hv",
        capacity_kva=Decimal(kva),
        basic_charge_by="capacity",
        start_date=start,
        end_date=end,
    )


def _lines(acct: Any) -> list[tuple[str, Decimal, dt.date | None, dt.date | None]]:
    bill = Bill.objects.get(account=acct, period=OCT)
    return [(line.kind, line.amount, line.period_from, line.period_to) for line in bill.lines.order_by("seq")]


# --- the run writes them ------------------------------------------------------------------------


def test_a_run_writes_the_days_of_each_contract_part_and_none_on_a_normal_bill():
    # given an account whose capacity is cut from 1,000 to 500 kVA on 16 October (减容),
    # and one on the same 1,000 kVA contract all month
    cut, _ = billable_account(tariff_code="HEBS-LI-10KV", end="2000")
    _contract(cut, "1000", D(2020, 1, 1), D(2026, 10, 15))
    _contract(cut, "500", D(2026, 10, 16))
    normal, _ = billable_account(tariff_code="HEBS-LI-10KV", end="2000")
    _contract(normal, "1000", D(2020, 1, 1))

    # when October is run
    billing_run(period="2026-10", actor="clerk")

    # then each basic-charge line of the cut account says its days; no other line has any
    lines = _lines(cut)
    assert lines[:2] == [
        ("basic", Decimal("11274.19"), D(2026, 10, 1), D(2026, 10, 15)),
        ("basic", Decimal("6012.90"), D(2026, 10, 16), D(2026, 10, 31)),
    ]
    assert {(period_from, period_to) for _kind, _amount, period_from, period_to in lines[2:]} == {
        (None, None)
    }
    normal_lines = _lines(normal)
    assert normal_lines[0][:2] == ("basic", Decimal("23300.00"))
    assert {(period_from, period_to) for _kind, _amount, period_from, period_to in normal_lines} == {
        (None, None)
    }


def test_a_temporary_increase_gives_three_dated_basic_lines():
    # given 1,200 kVA from 10 to 20 October on top of 1,000 kVA (临时增容)
    acct, _ = billable_account(tariff_code="HEBS-LI-10KV", end="2000")
    _contract(acct, "1000", D(2020, 1, 1), D(2027, 12, 31))
    _contract(acct, "1200", D(2026, 10, 10), D(2026, 10, 20))

    billing_run(period="2026-10", actor="clerk")

    assert [line for line in _lines(acct) if line[0] == "basic"] == [
        ("basic", Decimal("6764.52"), D(2026, 10, 1), D(2026, 10, 9)),
        ("basic", Decimal("9921.29"), D(2026, 10, 10), D(2026, 10, 20)),
        ("basic", Decimal("8267.74"), D(2026, 10, 21), D(2026, 10, 31)),
    ]


def test_only_lines_of_part_of_the_period_get_days():
    # the engine's lines of one October bill: line_from/line_to as the engine gives them
    lines = pl.DataFrame(
        {
            "kind": ["basic", "basic", "basic", "energy", "info", "energy", "basic"],
            "line_from": [D(2026, 10, 1), D(2026, 10, 16), D(2026, 10, 1), D(2026, 10, 16), D(2026, 10, 16)]
            + [D(2026, 10, 1), None],
            "line_to": [D(2026, 10, 15), D(2026, 10, 31), D(2026, 10, 31), D(2026, 10, 31), D(2026, 10, 31)]
            + [D(2026, 10, 31), None],
        }
    ).with_columns(pl.lit(D(2026, 10, 1)).alias("period_start"), pl.lit(D(2026, 10, 31)).alias("period_end"))

    days = lines.select(*line_days()).rows()

    assert days == [
        (D(2026, 10, 1), D(2026, 10, 15)),  # a contract part: its days
        (D(2026, 10, 16), D(2026, 10, 31)),
        (None, None),  # a basic line over the whole period needs none
        # the energy and funds of a tariff version from the 16th: a price may not have
        # changed (only the funds inside it), so the days tell the two parts apart
        (D(2026, 10, 16), D(2026, 10, 31)),
        (D(2026, 10, 16), D(2026, 10, 31)),
        (None, None),  # any line over the whole period needs none
        (None, None),  # the engine gave none: the whole period
    ]


@pytest.mark.parametrize(
    ("period_from", "period_to"),
    [(D(2026, 10, 16), None), (None, D(2026, 10, 31)), (D(2026, 10, 16), D(2026, 10, 15))],
)
def test_the_database_refuses_half_a_day_range_or_one_that_ends_before_it_starts(period_from, period_to):
    bill = BillFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        BillLine.objects.create(
            bill=bill,
            seq=1,
            kind=BillLineKind.BASIC,
            item="basic_capacity",
            amount=Decimal("1.00"),
            period_from=period_from,
            period_to=period_to,
        )

    assert not BillLine.objects.filter(bill=bill).exists()


# --- every place that shows the lines shows them --------------------------------------------------


def split_bill(*, account: Any = None, run: Any = None) -> Bill:
    """An issued October bill of 1,000 kVA to the 15th and 500 kVA from the 16th: two basic-
    charge lines with their days, and an energy line of the whole month."""
    fields: dict[str, Any] = {"tariff_code": "HEBS-LI-10KV", "kwh": Decimal("1000.000")}
    if account is not None:
        fields["account"] = account
    bill = BillFactory(amount=Decimal("17674.09"), run=run, **fields)
    oct1, oct15, oct16, oct31 = D(2026, 10, 1), D(2026, 10, 15), D(2026, 10, 16), D(2026, 10, 31)
    rows = [
        (BillLineKind.BASIC, "basic_capacity", None, "23.300000", "11274.19", oct1, oct15),
        (BillLineKind.BASIC, "basic_capacity", None, "23.300000", "6012.90", oct16, oct31),
        (BillLineKind.ENERGY, "energy_flat", "1000.000", "0.387000", "387.00", None, None),
    ]
    for seq, (kind, item, kwh, price, amount, period_from, period_to) in enumerate(rows, start=1):
        BillLine.objects.create(
            bill=bill,
            seq=seq,
            kind=kind,
            item=item,
            kwh=None if kwh is None else Decimal(kwh),
            unit_price=Decimal(price),
            amount=Decimal(amount),
            period_from=period_from,
            period_to=period_to,
        )
    Bill.objects.filter(pk=bill.pk).update(
        status=BillStatus.ISSUED,
        issued_at=dt.datetime(2026, 11, 5, 9, tzinfo=TZ),
        due_date=D(2026, 11, 20),
    )
    bill.refresh_from_db()
    return bill


def test_the_notice_lines_carry_the_days(make_user):
    bill = bill_get(user=make_user(roles=["billing_clerk"]), bill_id=split_bill().pk)

    lines = bill_notice(bill).lines

    assert [(line.label, line.amount, line.days) for line in lines] == [
        ("基本电费 (按容量)", Decimal("11274.19"), "2026-10-01 ~ 2026-10-15"),
        ("基本电费 (按容量)", Decimal("6012.90"), "2026-10-16 ~ 2026-10-31"),
        ("平段电费", Decimal("387.00"), ""),
    ]


def test_the_bill_page_and_the_printable_notice_show_the_days(staff_client):
    bill = split_bill()
    client = staff_client(roles=["billing_clerk"])
    for url in (reverse("billing:bill", args=[bill.pk]), reverse("billing:bill_notice", args=[bill.pk])):
        html = client.get(url).content.decode()
        assert f'基本电费 (按容量) <span class="muted">({FIRST_HALF})</span>' in html, url
        assert f'基本电费 (按容量) <span class="muted">({SECOND_HALF})</span>' in html, url
        assert "平段电费</td>" in html, url  # the energy line: no days


def test_the_pdf_prints_the_days_under_the_line(make_user):
    bill = bill_get(user=make_user(roles=["billing_clerk"]), bill_id=split_bill().pk)

    text = pdf_text(bill_notice_pdf(bill))

    assert "2026-10-01 ~ 2026-10-15" in text
    assert "2026-10-16 ~ 2026-10-31" in text


def test_the_portal_bill_page_shows_the_days(customer_client):
    own = split_bill(account=customer_client.account)

    html = customer_client.get(reverse("portal:bill", args=[own.pk])).content.decode()

    assert f"({FIRST_HALF})" in html
    assert f"({SECOND_HALF})" in html


def test_both_apis_give_the_days_of_each_line(staff_client, customer_client):
    own = split_bill(account=customer_client.account)
    expected = [
        ("basic_capacity", "2026-10-01", "2026-10-15"),
        ("basic_capacity", "2026-10-16", "2026-10-31"),
        ("energy_flat", None, None),
    ]

    portal = customer_client.get(f"/api/portal/bills/{own.pk}").json()
    staff = staff_client(roles=["billing_clerk"]).get(f"/api/billing/bills/{own.pk}").json()

    for detail in (portal, staff):
        assert [
            (line["item"], line["period_from"], line["period_to"]) for line in detail["lines"]
        ] == expected


def test_the_run_export_has_the_days_of_each_line(tmp_path):
    run = BillingRun.objects.create(period=OCT, status="issued", created_by="t")
    split_bill(run=run)
    path = tmp_path / "run.xlsx"

    run_export_xlsx(run_id=run.pk, out=str(path))

    book = zipfile.ZipFile(path)
    assert sheet_rows(book, "xl/worksheets/sheet2.xml")[0][8:] == ["起", "止"]
    # columns I and J (起, 止) by cell reference: Excel day numbers (46296 is 2026-10-01)
    xml = book.read("xl/worksheets/sheet2.xml").decode()
    cells = dict(re.findall(r'<c r="([IJ]\d+)"[^>]*><v>([^<]*)</v></c>', xml))
    excel = {day: str((D(2026, 10, day) - D(1899, 12, 30)).days) for day in (1, 15, 16, 31)}
    assert cells == {"I2": excel[1], "J2": excel[15], "I3": excel[16], "J3": excel[31]}  # none on row 4
