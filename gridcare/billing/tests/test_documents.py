"""The bill documents: the HTML 电费通知单 (lines, 其中 lines, readings), the PDF (a real
PDF with the Chinese font embedded and the account number in its text) and the run's Excel
export (two sheets, money as numbers with 2 decimals)."""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from decimal import Decimal

import pytest
from django.test import override_settings

from gridcare.billing.choices import DocumentStatus
from gridcare.billing.models import BillingRun
from gridcare.billing.selectors.bills import bill_get
from gridcare.billing.services.bills import (
    NoticeBackbill,
    bill_notice,
    bill_notice_pdf,
    run_export_xlsx,
)
from gridcare.billing.tests.factories_bills import decided_adjustment, notice_bill, pay
from gridcare.core.pdf import NoticeFontMissing
from gridcare.core.tests.pdf_helpers import pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def bill(make_user):
    bill = notice_bill(amount="52.00", kwh="100.000")
    decided_adjustment(bill, "-10.40")
    pay(bill, "20.00")
    return bill_get(user=make_user(roles=["billing_clerk"]), bill_id=bill.pk)


def test_notice_has_lines_info_lines_and_outstanding(bill):
    notice = bill_notice(bill)
    assert [(line.label, line.info) for line in notice.lines] == [
        ("第一档电量电费", False),
        ("政府性基金及附加", True),
    ]
    assert notice.readings[0].register == "总 (M0001)"
    assert notice.readings[0].kwh == "100.000"
    assert (notice.adjusted, notice.paid, notice.outstanding) == (
        Decimal("-10.40"),
        Decimal("20.00"),
        Decimal("21.60"),
    )


def test_pdf_is_a_pdf_with_the_chinese_font_and_the_account_number(bill):
    content = bill_notice_pdf(bill)
    assert content.startswith(b"%PDF-")
    assert content.rstrip().endswith(b"%%EOF")
    assert b"/FontFile2" in content  # the TrueType font is embedded …
    assert re.search(rb"/BaseFont\s*/[A-Z]{6}\+WenQuanYi", content)  # … the WenQuanYi face, subset
    text = pdf_text(content)
    assert bill.account.number in text
    assert "21.60" in text  # outstanding
    assert "52.00" in text


def test_pdf_fails_clearly_without_the_font(bill, tmp_path, monkeypatch):
    from reportlab.pdfbase import pdfmetrics

    monkeypatch.setattr(pdfmetrics, "getRegisteredFontNames", lambda: [])
    with (
        override_settings(GRIDCARE_PDF_FONT=str(tmp_path / "missing.ttc")),
        pytest.raises(NoticeFontMissing) as info,
    ):
        bill_notice_pdf(bill)
    assert "fonts-wqy-microhei" in str(info.value)
    assert info.value.code == "font_missing"


def sheet_rows(book: zipfile.ZipFile, name: str) -> list[list[str]]:
    """Cell values of a worksheet (inline or shared strings, numbers) by row."""
    shared: list[str] = []
    if "xl/sharedStrings.xml" in book.namelist():
        shared = re.findall(r"<t[^>]*>([^<]*)</t>", book.read("xl/sharedStrings.xml").decode())
    rows = []
    xml = book.read(name).decode()
    for row in re.findall(r"<row [^>]*>(.*?)</row>", xml):
        cells = []
        for attrs, body in re.findall(r"<c ([^>]*)>(.*?)</c>", row):
            value = re.search(r"<v>([^<]*)</v>", body)
            text = re.search(r"<t[^>]*>([^<]*)</t>", body)
            if 't="s"' in attrs and value:
                cells.append(shared[int(value.group(1))])
            elif text:
                cells.append(text.group(1))
            else:
                cells.append(value.group(1) if value else "")
        rows.append(cells)
    return rows


def test_run_export_has_bills_and_lines_sheets_with_numeric_money(tmp_path):
    run = BillingRun.objects.create(period=dt.date(2026, 10, 1), status="issued", created_by="t")
    first = notice_bill(amount="52.00", run=run)
    second = notice_bill(amount="1234.56", kwh="2374.154", run=run)
    notice_bill(amount="9.99")  # another run's bill is not exported
    path = tmp_path / "run.xlsx"
    assert run_export_xlsx(run_id=run.pk, out=str(path)) == 2
    # openpyxl is not a dependency: read the workbook's XML parts directly.
    book = zipfile.ZipFile(path)
    names = book.namelist()
    assert "xl/worksheets/sheet1.xml" in names
    assert "xl/worksheets/sheet2.xml" in names
    workbook = book.read("xl/workbook.xml").decode()
    assert '<sheet name="账单"' in workbook
    assert '<sheet name="明细"' in workbook
    bills = sheet_rows(book, "xl/worksheets/sheet1.xml")
    lines = sheet_rows(book, "xl/worksheets/sheet2.xml")
    assert bills[0][0] == "账单编号"
    assert [row[0] for row in bills[1:]] == sorted([first.number, second.number])
    amounts = {row[0]: row[8] for row in bills[1:]}
    assert Decimal(amounts[second.number]) == Decimal("1234.56")
    assert len(lines) == 1 + 4  # header + 2 lines per bill
    assert Decimal(lines[1][7]) == Decimal("52.00")
    # a number cell (no t="s"/"inlineStr"), formatted 0.00, not text:
    assert re.search(
        r'<c r="H2" s="\d+"><v>52(\.0+)?</v></c>', book.read("xl/worksheets/sheet2.xml").decode()
    )
    assert 'formatCode="0.00"' in book.read("xl/styles.xml").decode()


def cell_format(book: zipfile.ZipFile, sheet: str, ref: str) -> str:
    """The number format code of cell ``ref`` ("General" when it has none)."""
    found = re.search(rf'<c r="{ref}" s="(\d+)"', book.read(sheet).decode())
    if found is None:
        return "General"
    styles = book.read("xl/styles.xml").decode()
    codes = dict(re.findall(r'<numFmt numFmtId="(\d+)" formatCode="([^"]*)"', styles))
    xfs = re.findall(r"<xf [^>]*>", re.search(r"<cellXfs[^>]*>(.*?)</cellXfs>", styles, re.S).group(1))
    fmt_id = re.search(r'numFmtId="(\d+)"', xfs[int(found.group(1))]).group(1)
    return codes.get(fmt_id, "General")


def excel_serial(day: dt.date) -> Decimal:
    """Excel's 1900 date system: days since 1899-12-30."""
    return Decimal(day.toordinal() - dt.date(1899, 12, 30).toordinal())


def test_run_export_writes_dates_as_excel_dates(tmp_path):
    run = BillingRun.objects.create(period=dt.date(2026, 10, 1), status="issued", created_by="t")
    issued = notice_bill(run=run, due_date=dt.date(2026, 11, 20))  # issued 2026-11-05 09:00 Beijing
    draft = notice_bill(run=run, status="draft")
    path = tmp_path / "run.xlsx"
    run_export_xlsx(run_id=run.pk, out=str(path))
    book = zipfile.ZipFile(path)
    sheet = "xl/worksheets/sheet1.xml"
    rows = {row[0]: row for row in sheet_rows(book, sheet)[1:]}
    row = rows[issued.number]
    assert [Decimal(v) for v in row[3:6]] == [
        excel_serial(dt.date(2026, 10, 1)),
        excel_serial(dt.date(2026, 10, 1)),
        excel_serial(dt.date(2026, 10, 31)),
    ]
    assert Decimal(row[10]) == excel_serial(dt.date(2026, 11, 5)) + Decimal("0.375")  # 09:00 Beijing
    assert Decimal(row[11]) == excel_serial(dt.date(2026, 11, 20))
    line = 2 if issued.number < draft.number else 3
    formats = [cell_format(book, sheet, f"{col}{line}") for col in "DEFKL"]
    assert formats == ["yyyy-mm", "yyyy-mm-dd", "yyyy-mm-dd", "yyyy-mm-dd hh:mm", "yyyy-mm-dd"]
    assert len(rows[draft.number]) == 10  # no issue time, no due date


def test_notice_readings_of_an_exchanged_meter_are_listed_per_meter():
    bill = notice_bill(
        readings={
            "total": None,
            "total:M0001": {"meter": "M0001", "start": "100", "end": "150", "multiplier": "1"},
            "total:M0002": {"meter": "M0002", "start": "0", "end": "25", "multiplier": "2"},
        }
    )
    rows = [(r.register, r.kwh) for r in bill_notice(bill).readings if r.start is not None]
    # kWh = (end − start) × multiplier when the run did not record it
    assert rows == [("总 (M0001)", Decimal("50")), ("总 (M0002)", Decimal("50"))]


def test_a_large_run_is_exported_by_the_worker(staff_client, monkeypatch, django_capture_on_commit_callbacks):
    from django.urls import reverse
    from django_tasks_db.models import DBTaskResult

    from gridcare.billing.services import bills as documents

    def queued() -> list[int]:
        return [
            r.args_kwargs["kwargs"]["run_id"]
            for r in DBTaskResult.objects.filter(task_path="gridcare.billing.tasks.bills.run_export_task")
        ]

    run = BillingRun.objects.create(period=dt.date(2026, 10, 1), status="issued", created_by="t")
    notice_bill(run=run)
    notice_bill(run=run)
    monkeypatch.setattr(documents, "EXPORT_INLINE_LIMIT", 1)
    client = staff_client(roles=["billing_clerk"])
    url = reverse("billing:run_export", args=[run.pk])
    with django_capture_on_commit_callbacks(execute=True):
        waiting = client.get(url)
    assert waiting.status_code == 202
    assert waiting["Refresh"] == "15"
    assert queued() == [run.pk]
    with django_capture_on_commit_callbacks(execute=True):
        client.get(url)  # asked again while queued: not queued twice
    assert queued() == [run.pk]
    # the worker builds it
    path = documents.run_export_build(run_id=run.pk)
    assert path.exists()
    assert not path.with_name(path.name + ".queued").exists()
    ready = client.get(url)
    assert ready.status_code == 200
    assert ready["Content-Disposition"] == 'attachment; filename="run-2026-10.xlsx"'
    assert b"".join(ready.streaming_content) == path.read_bytes()


def test_a_run_issued_again_gets_a_new_worker_export(monkeypatch):
    from gridcare.billing.choices import BillStatus, ReviewStatus
    from gridcare.billing.models import BillReview
    from gridcare.billing.services import bills as documents
    from gridcare.billing.services.runs import bill_review_decide, billing_run_issue
    from gridcare.billing.tests.factories_payments import ensure_policy

    ensure_policy()
    monkeypatch.setattr(documents, "EXPORT_INLINE_LIMIT", 0)  # a large run: the worker's file
    run = BillingRun.objects.create(
        period=dt.date(2026, 10, 1), status="review", created_by="t", review_flags=1
    )
    notice_bill(run=run, status=BillStatus.DRAFT)
    held = notice_bill(run=run, status=BillStatus.DRAFT, amount="999.00")
    review = BillReview.objects.create(bill=held, rule="high", detail="Amount high", status=ReviewStatus.OPEN)
    billing_run_issue(run_id=run.pk, actor="t")  # the held bill stays draft
    first = documents.run_export_build(run_id=run.pk)
    statuses = {row[0]: row[9] for row in sheet_rows(zipfile.ZipFile(first), "xl/worksheets/sheet1.xml")[1:]}
    assert statuses[held.number] == str(BillStatus.DRAFT.label)

    bill_review_decide(review_id=review.pk, actor="t", decision="approve")
    billing_run_issue(run_id=run.pk, actor="t")

    second, _count = documents.run_export_path(BillingRun.objects.get(pk=run.pk))
    assert second != first
    assert documents.run_export_request(run_id=run.pk).queued  # not the old file
    built = documents.run_export_build(run_id=run.pk)
    statuses = {row[0]: row[9] for row in sheet_rows(zipfile.ZipFile(built), "xl/worksheets/sheet1.xml")[1:]}
    assert statuses[held.number] == str(BillStatus.ISSUED.label)


def test_an_approved_back_billing_is_printed_with_its_own_due_date(make_user):
    """Given a bill due 2026-11-20 with a back-billing of 62.00 approved and due 2026-12-18
    (its own due date), a refund, and a pending and a rejected back-billing: the notice
    and the PDF show the 62.00 due 2026-12-18 beside the bill's own due date, and nothing
    of the others."""
    bill = notice_bill(amount="52.00", kwh="100.000", due_date=dt.date(2026, 11, 20))
    backbill = decided_adjustment(bill, "62.00", due_date=dt.date(2026, 12, 18))
    decided_adjustment(bill, "-1.00")
    decided_adjustment(bill, "9.00", status=DocumentStatus.PENDING)
    decided_adjustment(bill, "7.00", status=DocumentStatus.REJECTED)
    loaded = bill_get(user=make_user(roles=["billing_clerk"]), bill_id=bill.pk)
    notice = bill_notice(loaded)
    assert notice.backbills == [NoticeBackbill(backbill.number, Decimal("62.00"), dt.date(2026, 12, 18))]
    text = pdf_text(bill_notice_pdf(loaded))
    assert "2026-11-20" in text
    assert "2026-12-18" in text
    assert "62.00" in text
    assert "9.00" not in text


def test_a_notice_without_back_billing_prints_only_the_bills_due_date(bill):
    assert bill_notice(bill).backbills == []
