"""A month split by a new tariff version that changes only the government funds inside the
residential price (政府性基金及附加): each bill line keeps its tariff version, the funds line
of each version stays its own (even with equal kWh), each part of the month is dated, and
the notice (HTML and PDF) prints under each funds line the components ("其中") of that
line's own version, so they add up to it (docs/billing-bills.md, docs/billing-runs.md).

可再生能源电价附加 1.9 fen → 2.1 fen from the 16th; the other funds (水利 0.53, 大中型水库
0.26, 地方水库 0.05 fen) and the tier prices (0.52 / 0.57 / 0.82) stay.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from gridcare.billing.models import Bill, BillLine, TariffVersion
from gridcare.billing.selectors.bills import bill_get
from gridcare.billing.services.bills import bill_notice, bill_notice_pdf, included_funds_of
from gridcare.billing.services.catalogue import tariff_version_add
from gridcare.billing.services.runs import FUNDS_INCLUDED_ITEM, billing_run
from gridcare.billing.tests.runs_fixtures import OCT, billable_account, put_reading
from gridcare.core.tests.pdf_helpers import pdf_text

pytestmark = pytest.mark.django_db

D = dt.date
FUNDS_LABEL = "其中: 政府性基金及附加 (含在电价内)"


def add_fund_versions(first: dt.date, change: dt.date) -> tuple[TariffVersion, TariffVersion]:
    """HEBS-RES-LV with the renewable surcharge at 1.9 fen from ``first`` and 2.1 fen from
    ``change``; nothing else changes."""
    seed = TariffVersion.objects.filter(tariff__code="HEBS-RES-LV").order_by("-effective_from").first()
    assert seed is not None
    versions = []
    for day, renewable in ((first, "0.0190"), (change, "0.0210")):
        params = dict(seed.params, included_funds=dict(seed.params["included_funds"], renewable=renewable))
        versions.append(
            tariff_version_add(
                actor="marketing", tariff_code="HEBS-RES-LV", effective_from=day, params=params, source="test"
            )
        )
    return versions[0], versions[1]


def components(rows: list[Any]) -> dict[str, tuple[Decimal | None, Decimal | None, Decimal]]:
    """Printed component rows by name: (kWh, unit price, amount), all undated."""
    assert all(days == "" for *_rest, days in rows)
    return {label: (kwh, price, amount) for label, kwh, price, amount, _days in rows}


def printed(bill: Bill, user: Any) -> list[tuple[str, Decimal | None, Decimal | None, Decimal, str]]:
    lines = bill_notice(bill_get(user=user, bill_id=bill.pk)).lines
    return [(line.label, line.kwh, line.unit_price, line.amount, line.days) for line in lines]


def test_each_part_of_the_month_prints_the_funds_of_its_own_version(make_user):
    # given October with the renewable surcharge 1.9 fen to the 15th and 2.1 fen from the
    # 16th, and 310 kWh: floor(310 × 15/31) = 150 kWh to the 15th, 160 kWh after
    old, new = add_fund_versions(D(2026, 10, 1), D(2026, 10, 16))
    acct, _ = billable_account(start="1000", end="1310")

    # when October is run
    billing_run(period="2026-10", actor="clerk")

    # then each line keeps its version and the days of its part
    bill = Bill.objects.get(account=acct, period=OCT)
    stored = [
        (line.item, line.kwh, line.amount, line.tariff_version_id, line.period_from, line.period_to)
        for line in bill.lines.order_by("seq")
    ]
    assert stored == [
        ("energy_tier1", Decimal("150.000"), Decimal("78.00"), old.pk, D(2026, 10, 1), D(2026, 10, 15)),
        ("energy_tier1", Decimal("160.000"), Decimal("83.20"), new.pk, D(2026, 10, 16), D(2026, 10, 31)),
        (FUNDS_INCLUDED_ITEM, Decimal("150.000"), Decimal("4.12"), old.pk, D(2026, 10, 1), D(2026, 10, 15)),
        (FUNDS_INCLUDED_ITEM, Decimal("160.000"), Decimal("4.71"), new.pk, D(2026, 10, 16), D(2026, 10, 31)),
    ]
    assert bill.amount == Decimal("161.20")  # the funds are inside the price: nothing added

    # and the notice prints under each funds line the components of its own version, which
    # add up to that line's price and amount (in the order the version lists them)
    first, second = "2026-10-01 ~ 2026-10-15", "2026-10-16 ~ 2026-10-31"
    k150, k160 = Decimal("150.000"), Decimal("160.000")
    lines = printed(bill, make_user(roles=["billing_clerk"]))
    assert len(lines) == 12
    assert lines[:3] == [
        ("第一档电量电费", k150, Decimal("0.520000"), Decimal("78.00"), first),
        ("第一档电量电费", k160, Decimal("0.520000"), Decimal("83.20"), second),
        (FUNDS_LABEL, k150, Decimal("0.027400"), Decimal("4.12"), first),
    ]
    assert lines[7] == (FUNDS_LABEL, k160, Decimal("0.029400"), Decimal("4.71"), second)
    assert components(lines[3:7]) == {
        "国家重大水利工程建设基金": (k150, Decimal("0.0053"), Decimal("0.80")),
        "大中型水库移民后期扶持资金": (k150, Decimal("0.0026"), Decimal("0.39")),
        "地方水库移民后期扶持资金": (k150, Decimal("0.0005"), Decimal("0.08")),
        "可再生能源电价附加": (k150, Decimal("0.0190"), Decimal("2.85")),
    }
    assert components(lines[8:]) == {
        "国家重大水利工程建设基金": (k160, Decimal("0.0053"), Decimal("0.85")),
        "大中型水库移民后期扶持资金": (k160, Decimal("0.0026"), Decimal("0.42")),
        "地方水库移民后期扶持资金": (k160, Decimal("0.0005"), Decimal("0.08")),
        "可再生能源电价附加": (k160, Decimal("0.0210"), Decimal("3.36")),
    }
    for funds_line, parts in ((lines[2], lines[3:7]), (lines[7], lines[8:])):
        assert sum(price for _l, _k, price, _a, _d in parts) == funds_line[2]
        assert sum(amount for _l, _k, _p, amount, _d in parts) == funds_line[3]


def test_two_parts_with_equal_kwh_keep_two_funds_lines(make_user):
    # given November (30 days) split on the 16th: 300 kWh are 150 + 150 kWh
    old, new = add_fund_versions(D(2026, 11, 1), D(2026, 11, 16))
    acct, meter = billable_account(start=None, end="1000")  # the 1 November reading
    put_reading(meter, "total", D(2026, 12, 1), "1300")

    billing_run(period="2026-11", actor="clerk")

    bill = Bill.objects.get(account=acct, period=D(2026, 11, 1))
    funds = bill.lines.filter(item=FUNDS_INCLUDED_ITEM).order_by("seq")
    # then two lines, not one of 150 kWh at the sum of both versions' prices
    assert [(f.kwh, f.unit_price, f.amount, f.tariff_version_id) for f in funds] == [
        (Decimal("150.000"), Decimal("0.027400"), Decimal("4.12"), old.pk),
        (Decimal("150.000"), Decimal("0.029400"), Decimal("4.42"), new.pk),
    ]
    lines = printed(bill, make_user(roles=["billing_clerk"]))
    under = [row for row in lines if row[0] == "可再生能源电价附加"]
    assert [(price, amount) for _label, _kwh, price, amount, _days in under] == [
        (Decimal("0.0190"), Decimal("2.85")),
        (Decimal("0.0210"), Decimal("3.15")),
    ]


def test_the_html_and_pdf_notices_date_each_funds_line(staff_client, make_user):
    add_fund_versions(D(2026, 10, 1), D(2026, 10, 16))
    acct, _ = billable_account(start="1000", end="1310")
    billing_run(period="2026-10", actor="clerk")
    bill = Bill.objects.get(account=acct, period=OCT)

    html = (
        staff_client(roles=["billing_clerk"])
        .get(reverse("billing:bill_notice", args=[bill.pk]))
        .content.decode()
    )
    for days in ("2026-10-01 – 2026-10-15", "2026-10-16 – 2026-10-31"):
        assert f'{FUNDS_LABEL} <span class="muted">({days})</span>' in html
    text = pdf_text(bill_notice_pdf(bill_get(user=make_user(roles=["billing_clerk"]), bill_id=bill.pk)))
    assert "2026-10-01 ~ 2026-10-15" in text
    assert "2026-10-16 ~ 2026-10-31" in text
    for amount in ("4.12", "2.85", "4.71", "3.36"):  # each line and its own renewable part
        assert amount in text


def test_a_month_without_a_change_prints_as_before(make_user, django_assert_num_queries):
    # given October on the shipped version only: 150 kWh
    acct, _ = billable_account(start="1000", end="1150")
    billing_run(period="2026-10", actor="clerk")
    bill = Bill.objects.get(account=acct, period=OCT)
    version = TariffVersion.objects.get(tariff__code="HEBS-RES-LV", effective_from=D(2018, 5, 1))

    # then every line records that version, none is dated, one funds line
    assert {(line.tariff_version_id, line.period_from, line.period_to) for line in bill.lines.all()} == {
        (version.pk, None, None)
    }
    user = make_user(roles=["billing_clerk"])
    lines = printed(bill, user)
    assert [label for label, *_rest in lines].count(FUNDS_LABEL) == 1
    assert [days for *_rest, days in lines] == [""] * len(lines)
    # its components are the version's, as the version in force at the period's end gave
    # them before lines recorded their version (an older bill prints the same)
    funds = included_funds_of(bill)
    assert {label: price for label, _kwh, price, _amount, _days in lines[-len(funds) :]} == {
        "国家重大水利工程建设基金": funds["water_works"],
        "大中型水库移民后期扶持资金": funds["reservoir_large"],
        "地方水库移民后期扶持资金": funds["reservoir_local"],
        "可再生能源电价附加": funds["renewable"],
    }
    BillLine.objects.filter(bill=bill).update(tariff_version=None)  # a draft: lines as older runs wrote them
    assert printed(bill, user) == lines
    # the notice reads the versions of its funds lines in one query
    BillLine.objects.filter(bill=bill).update(tariff_version=version)
    loaded = bill_get(user=user, bill_id=bill.pk)
    with django_assert_num_queries(1):
        bill_notice(loaded)
