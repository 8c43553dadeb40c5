"""Bank withholding (银行代扣): the batch file out and the bank's result file in."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gridcare.billing.choices import PaymentChannel, WithholdingStatus
from gridcare.billing.models import AccountBalance, Payment, WithholdingBatch
from gridcare.billing.selectors.bills import bill_outstanding
from gridcare.billing.services.payments import payment_post
from gridcare.billing.services.withholding import withholding_export, withholding_import
from gridcare.billing.tests.factories_payments import ensure_policy, overdue_bill
from gridcare.core.errors import PermissionDenied, ValidationFailed
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory

pytestmark = pytest.mark.django_db
FUTURE_DUE = dt.date(2099, 1, 1)  # not overdue whenever the test runs: no late fee


@pytest.fixture(autouse=True)
def _policy(db: None) -> None:
    ensure_policy()


@pytest.fixture
def accounts() -> dict[str, Any]:
    a = AccountFactory(number="0500000001", customer=CustomerFactory(name="张伟"))
    b = AccountFactory(number="0500000002", customer=CustomerFactory(name="李娜"))
    prepaid = AccountFactory(number="0500000003", is_prepaid=True)
    paid = AccountFactory(number="0500000004")
    bills = {
        "a1": overdue_bill(account=a, period=dt.date(2026, 9, 1), amount="100.00", due_date=FUTURE_DUE),
        "a2": overdue_bill(account=a, period=dt.date(2026, 10, 1), amount="50.00", due_date=FUTURE_DUE),
        "b": overdue_bill(account=b, period=dt.date(2026, 10, 1), amount="80.00", due_date=FUTURE_DUE),
        "p": overdue_bill(account=prepaid, period=dt.date(2026, 10, 1), amount="10.00", due_date=FUTURE_DUE),
        "paid": overdue_bill(account=paid, period=dt.date(2026, 10, 1), amount="10.00", due_date=FUTURE_DUE),
    }
    payment_post(actor="t", account_id=paid.pk, amount="10.00", channel="counter_cash", idempotency_key="pd")
    # A prepaid account whose balance covers the bill of its postpaid days: the balance pays
    # it when the file is exported, so the bank is not asked (test_withholding_prepaid.py:
    # one whose balance does not cover it is).
    payment_post(
        actor="t", account_id=prepaid.pk, amount="30.00", channel="counter_cash", idempotency_key="pp"
    )
    AccountBalance.objects.create(account=b, amount=Decimal("30.00"))
    return {"a": a, "b": b, "bills": bills}


def test_export_lists_what_each_account_owes(accounts: dict[str, Any], make_user: Any) -> None:
    clerk = make_user(roles=["billing_clerk"])
    batch, text = withholding_export(actor=clerk, bank="ICBC")
    assert text.splitlines() == [
        "line,account,name,amount",
        "1,0500000001,张伟,150.00",
        "2,0500000002,李娜,50.00",
    ]
    assert (batch.bank, batch.lines, batch.total, batch.status) == ("ICBC", 2, Decimal("200.00"), "exported")
    assert batch.number.startswith("WH")


def test_export_needs_the_permission(accounts: dict[str, Any], make_user: Any) -> None:
    with pytest.raises(PermissionDenied):
        withholding_export(actor=make_user(roles=["counter_clerk"]), bank="ICBC")
    with pytest.raises(ValidationFailed):
        withholding_export(actor="cli", bank=" ")
    assert not WithholdingBatch.objects.exists()


RESULT = """line,account,amount,result,bank_ref
1,0500000001,150.00,success,B001
2,0500000002,50.00,fail,B002
3,0500000009,1.00,success,B003
1,0500000001,150.00,success,B001
2,0500000001,50.00,success,B004
"""


def test_import_posts_successes_rejects_bad_lines_and_is_idempotent(accounts: dict[str, Any]) -> None:
    batch, _ = withholding_export(actor="cli", bank="ICBC")
    result = withholding_import(actor="cli", batch_number=batch.number, content=RESULT)
    assert (result.posted, result.repeats, result.failed) == (1, 0, 1)
    assert result.rejected == [
        (4, "line 3 is not in the batch"),
        (5, "line 1 repeats"),
        (6, "line 2 repeats"),
    ]
    payment = Payment.objects.get(idempotency_key=f"wh:{batch.number}:1")
    assert payment.channel == PaymentChannel.BANK_WITHHOLDING
    assert payment.external_ref == "B001"
    assert bill_outstanding(accounts["bills"]["a1"]) == Decimal("0.00")
    assert bill_outstanding(accounts["bills"]["a2"]) == Decimal("0.00")
    batch.refresh_from_db()
    assert (batch.status, batch.succeeded, batch.failed) == (WithholdingStatus.POSTED, 1, 1)
    # again: nothing posted twice
    again = withholding_import(actor="cli", batch_number=batch.number, content=RESULT)
    assert (again.posted, again.repeats) == (0, 1)
    assert Payment.objects.filter(channel=PaymentChannel.BANK_WITHHOLDING).count() == 1
    batch.refresh_from_db()
    assert (batch.succeeded, batch.failed) == (1, 1)


BROKEN = """line,account,amount,result,bank_ref
1,0500000002,150.00,success,B1
x,0500000001,1.00,success,B2
2,0500000002,12.345,success,B3
3,0500000005,999.00,success,B4
only,three,columns
"""


def test_broken_result_file_reports_every_line(accounts: dict[str, Any]) -> None:
    c = AccountFactory(number="0500000005")
    overdue_bill(account=c, period=dt.date(2026, 10, 1), amount="20.00", due_date=FUTURE_DUE)
    batch, _ = withholding_export(actor="cli", bank="ICBC")
    result = withholding_import(actor="cli", batch_number=batch.number, content=BROKEN)
    assert result.rejected == [
        (2, "the account differs from the exported line"),
        (3, "the line number is not a number"),
        (4, "The amount has more than 2 decimals (fen)."),
        (5, "the amount exceeds the exported amount"),
        (6, "expected 5 columns"),
    ]
    assert result.posted == 0
    assert not Payment.objects.filter(channel=PaymentChannel.BANK_WITHHOLDING).exists()


def test_wrong_header_or_batch_is_refused(accounts: dict[str, Any]) -> None:
    batch, _ = withholding_export(actor="cli", bank="ICBC")
    with pytest.raises(ValidationFailed) as err:
        withholding_import(actor="cli", batch_number=batch.number, content="a,b\n1,2\n")
    assert err.value.field == "file"
    with pytest.raises(Exception, match="No such withholding batch"):
        withholding_import(actor="cli", batch_number="WH99999999", content=RESULT)
    batch.refresh_from_db()
    assert batch.status == WithholdingStatus.EXPORTED


def test_cli_round_trip(accounts: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "icbc.csv"
    call_command("billing", "withholding", "export", "--bank", "ICBC", "--out", str(out))
    assert out.read_text(encoding="utf-8").splitlines()[1] == "1,0500000001,张伟,150.00"
    batch = WithholdingBatch.objects.get()
    result = tmp_path / "result.csv"
    result.write_text(RESULT, encoding="utf-8")
    call_command("billing", "withholding", "import", "--batch", batch.number, str(result))
    printed = capsys.readouterr().out
    assert "1 posted" in printed
    assert "file line 4: line 3 is not in the batch" in printed
    with pytest.raises(CommandError, match="cannot read"):
        call_command("billing", "withholding", "import", "--batch", batch.number, str(tmp_path / "none.csv"))
    with pytest.raises(CommandError, match="no such user"):
        call_command(
            "billing", "withholding", "export", "--bank", "ICBC", "--out", str(out), "--user", "ghost"
        )


def test_account_awaiting_a_bank_result_is_not_asked_for_again(accounts: dict[str, Any]) -> None:
    # given a batch sent to the bank and not yet answered
    first, _ = withholding_export(actor="cli", bank="ICBC")
    c = AccountFactory(number="0500000005", customer=CustomerFactory(name="王芳"))
    overdue_bill(account=c, period=dt.date(2026, 10, 1), amount="20.00", due_date=FUTURE_DUE)
    # when a second file is exported, then only the account not in the first batch is on it
    second, text = withholding_export(actor="cli", bank="CCB")
    assert text.splitlines() == ["line,account,name,amount", "1,0500000005,王芳,20.00"]
    assert (second.lines, second.total) == (1, Decimal("20.00"))
    # when the first batch's result comes back (one success, one fail)
    withholding_import(
        actor="cli",
        batch_number=first.number,
        content="line,account,amount,result,bank_ref\n1,0500000001,150.00,success,B1\n2,0500000002,50.00,fail,B2\n",
    )
    withholding_import(
        actor="cli",
        batch_number=second.number,
        content="line,account,amount,result,bank_ref\n1,0500000005,20.00,success,B3\n",
    )
    # then the next file asks again for what is still owed, once
    _third, text = withholding_export(actor="cli", bank="ICBC")
    assert text.splitlines() == ["line,account,name,amount", "1,0500000002,李娜,50.00"]
    assert AccountBalance.objects.get(account=accounts["a"]).amount == Decimal("0.00")


def test_batch_counts_cover_every_result_file(accounts: dict[str, Any]) -> None:
    batch, _ = withholding_export(actor="cli", bank="ICBC")

    def answer(line: str) -> None:
        content = f"line,account,amount,result,bank_ref\n{line}\n"
        withholding_import(actor="cli", batch_number=batch.number, content=content)

    answer("2,0500000002,50.00,fail,B2")
    answer("1,0500000001,150.00,success,B1")
    batch.refresh_from_db()
    assert (batch.succeeded, batch.failed) == (1, 1)
    # the bank retries line 2 and it succeeds: no longer failed
    answer("2,0500000002,50.00,success,B3")
    batch.refresh_from_db()
    assert (batch.succeeded, batch.failed) == (2, 0)
