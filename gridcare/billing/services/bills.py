"""Bill documents: the 电费通知单 (HTML context and PDF) and the Excel export of a run.

Nothing here writes to the database: a document is rendered from the issued bill, its
lines (as the engine rated them), the approved 退补 and the payments allocated to it. An
approved back-billing (补收) is printed with its own due date (缴费截止日, ``due_date``: the
approval date plus the bill's payment term, ``services.adjustments.backbill_due_date``)
beside the bill's own, since its late fee counts from the day after that date.

PDF: reportlab with the WenQuanYi Micro Hei font (``fonts-wqy-microhei``, installed by
``scripts/system-packages.sh`` at ``/usr/share/fonts/truetype/wqy/wqy-microhei.ttc``),
embedded from the TTC's first face (``subfontIndex=0``). Without it the PDF would show
empty boxes instead of Chinese, so rendering fails with :class:`gridcare.core.pdf.NoticeFontMissing`
naming the package. Pure-ASCII values (numbers, amounts, dates) are set in Helvetica.

Excel: xlsxwriter in ``constant_memory`` mode (rows are flushed as they are written, so a
run of a million bills streams in constant memory) into a temporary file; one sheet of
bills and one of lines (continued on "lines (2)", … past Excel's 1,048,576 rows); money
as numbers with the ``0.00`` format, energy with ``0.000``; dates as Excel dates
(``yyyy-mm-dd``, the month ``yyyy-mm``, the issue time ``yyyy-mm-dd hh:mm`` in Asia/Shanghai).
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.utils import timezone

from gridcare.billing.choices import BillLineKind, BillStatus, DocumentStatus
from gridcare.billing.models import Bill, BillAdjustment, BillingRun, BillLine
from gridcare.core.errors import NotFound
from gridcare.core.money import format_rmb
from gridcare.core.pdf import NUMBER, a4_pdf, notice_styles

COMPANY = "国网高碑店市供电公司"
EXCEL_MAX_ROWS = 1_048_576  # rows per worksheet, header included
FETCH_CHUNK = 5000

# Readable names of the engine's item codes (billing.engine.rating); unknown codes fall
# back to the line kind's label.
ITEM_LABELS: dict[str, str] = {
    "energy": "电度电费",
    "energy_total": "电度电费",
    "energy_tier1": "第一档电量电费",
    "energy_tier2": "第二档电量电费",
    "energy_tier3": "第三档电量电费",
    "energy_sharp": "尖峰电费",
    "energy_peak": "高峰电费",
    "energy_flat": "平段电费",
    "energy_valley": "低谷电费",
    "energy_deep_valley": "深谷电费",
    "basic_capacity": "基本电费 (按容量)",
    "basic_demand": "基本电费 (按需量)",
    "pf_adjustment": "力调电费",
    "pass_line_loss": "上网环节线损费用",
    "pass_transmission": "输配电费",
    "pass_system": "系统运行费",
    "fund": "政府性基金及附加",
    "fund_included": "其中: 政府性基金及附加 (含在电价内)",
    # the funds inside a residential price (one line each on bills written before the
    # runs wrote one ``fund_included`` line; printed under that line now, from the tariff)
    "fund_water_works": "国家重大水利工程建设基金",
    "fund_reservoir_large": "大中型水库移民后期扶持资金",
    "fund_reservoir_local": "地方水库移民后期扶持资金",
    "fund_renewable": "可再生能源电价附加",
}
#: The bill line of the government funds included in a residential price (runs write one,
#: its components are the tariff version's ``included_funds``).
FUNDS_INCLUDED_ITEM = "fund_included"
REGISTER_LABELS = {
    "total": "总",
    "sharp": "尖",
    "peak": "峰",
    "flat": "平",
    "valley": "谷",
    "deep_valley": "深谷",
    "reactive": "无功",
}


def item_label(line: Any) -> str:
    """The name printed for a bill line: the item's Chinese name, tier/TOU suffixes kept."""
    item = getattr(line, "item", "") or ""
    if item in ITEM_LABELS:
        return ITEM_LABELS[item]
    for prefix, label in sorted(ITEM_LABELS.items(), key=lambda kv: -len(kv[0])):
        if item.startswith(prefix + "_"):
            return f"{label} ({item[len(prefix) + 1 :]})"
    kind = getattr(line, "kind", "")
    return str(BillLineKind(kind).label) if kind in BillLineKind.values else item


# --- the notice's content (shared by HTML and PDF) ------------------------------------------


@dataclass
class NoticeLine:
    """A printed line; ``info`` lines (其中) are indented under the line they break down.
    ``period_from``–``period_to``: the days of a line that covers part of the bill's period
    only (a basic-charge line per contract when the contract changed in the month), printed
    with its name; ``None`` on every other line."""

    label: str
    kwh: Decimal | None
    unit_price: Decimal | None
    amount: Decimal
    info: bool = False
    period_from: dt.date | None = None
    period_to: dt.date | None = None

    @property
    def days(self) -> str:
        """``2026-10-01 ~ 2026-10-15``, or "" for a line of the whole period."""
        if self.period_from is None or self.period_to is None:
            return ""
        return f"{self.period_from:%Y-%m-%d} ~ {self.period_to:%Y-%m-%d}"


@dataclass
class NoticeReading:
    register: str
    start: Any
    end: Any
    multiplier: Any
    kwh: Any


@dataclass(frozen=True)
class NoticeBackbill:
    """An approved back-billing (补收) on the bill, due on its own date."""

    number: str
    amount: Decimal
    due_date: dt.date


def backbill_due(adjustment: BillAdjustment) -> dt.date | None:
    """The own due date of ``adjustment`` when it is an approved back-billing (补收, amount
    > 0); ``None`` for a refund, a pending or rejected document (they owe nothing)."""
    if adjustment.status == DocumentStatus.APPROVED and adjustment.amount > 0:
        return adjustment.due_date
    return None


@dataclass
class Notice:
    bill: Bill
    company: str
    readings: list[NoticeReading] = field(default_factory=list)
    lines: list[NoticeLine] = field(default_factory=list)
    adjustments: list[Any] = field(default_factory=list)
    # approved back-billings with their own due dates, earliest due first
    backbills: list[NoticeBackbill] = field(default_factory=list)
    allocations: list[Any] = field(default_factory=list)
    adjusted: Decimal = Decimal("0.00")
    paid: Decimal = Decimal("0.00")
    outstanding: Decimal = Decimal("0.00")


def _readings(raw: Any) -> list[NoticeReading]:
    """Bill.readings as rows: ``{register: {start, end, multiplier[, kwh]}}``; any other
    value is shown as it is (the run decides what it records)."""
    rows: list[NoticeReading] = []
    if not isinstance(raw, dict):
        return rows
    for register, value in raw.items():
        # After a meter exchange the run keys a register by meter: "total:M0001".
        code, _sep, meter = str(register).partition(":")
        label = REGISTER_LABELS.get(code, code)
        if isinstance(value, dict) and value.get("meter"):
            meter = str(value["meter"])
        if meter:
            label = f"{label} ({meter})"
        if isinstance(value, dict):
            start, end, multiplier = value.get("start"), value.get("end"), value.get("multiplier", 1)
            kwh = value.get("kwh")
            if kwh is None and start is not None and end is not None:
                try:
                    kwh = (Decimal(str(end)) - Decimal(str(start))) * Decimal(str(multiplier or 1))
                except ArithmeticError:
                    kwh = None
            rows.append(NoticeReading(label, start, end, multiplier, kwh))
        else:
            rows.append(NoticeReading(label, None, None, None, value))
    return rows


def notice_lines(
    lines: list[BillLine],
    *,
    included_funds: dict[str, Decimal] | None = None,
    funds_by_version: dict[int, dict[str, Decimal]] | None = None,
) -> list[NoticeLine]:
    """The bill's lines in order; INFO lines (funds inside a residential price, "其中, 不另收")
    are marked so they print indented under the energy lines and add nothing. A
    ``fund_included`` line is followed by its components (fund name → yuan/kWh), each kWh ×
    price rounded half up to the fen as the engine rates them — they add up to the line:
    those of the line's own tariff version (``funds_by_version``), so each part of a month
    split by a fund-rate change adds up to its own line; ``included_funds`` (the version at
    the period's end) for a line written before lines recorded their version."""
    out: list[NoticeLine] = []
    for line in sorted(lines, key=lambda ln: ln.seq):
        components = included_funds
        if funds_by_version is not None and line.tariff_version_id is not None:
            components = funds_by_version.get(line.tariff_version_id)
        out.append(
            NoticeLine(
                label=item_label(line),
                kwh=line.kwh,
                unit_price=line.unit_price,
                amount=line.amount,
                info=line.kind == BillLineKind.INFO,
                period_from=line.period_from,
                period_to=line.period_to,
            )
        )
        if line.item == FUNDS_INCLUDED_ITEM and components and line.kwh is not None:
            for name, price in components.items():
                item = f"fund_{name}"
                out.append(
                    NoticeLine(
                        label=ITEM_LABELS.get(item, name),
                        kwh=line.kwh,
                        unit_price=price,
                        amount=(line.kwh * price).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
                        info=True,
                    )
                )
    return out


def included_funds_of(bill: Bill) -> dict[str, Decimal]:
    """The government funds inside the bill's price (``included_funds`` of the version of
    its tariff in force at the end of its period); empty when the tariff has none."""
    from gridcare.billing.models import TariffVersion

    version = (
        TariffVersion.objects.filter(tariff__code=bill.tariff_code, effective_from__lte=bill.period_end)
        .order_by("-effective_from")
        .only("params")
        .first()
    )
    return _funds_of(version.params if version is not None else None)


def _funds_of(params: Any) -> dict[str, Decimal]:
    """A version's ``included_funds`` (fund name → yuan/kWh); empty when it has none."""
    funds = params.get("included_funds") if isinstance(params, dict) else None
    if not isinstance(funds, dict):
        return {}
    return {str(name): Decimal(str(price)) for name, price in funds.items()}


def included_funds_by_version(version_ids: set[int]) -> dict[int, dict[str, Decimal]]:
    """The ``included_funds`` of each of the tariff versions ``version_ids`` (one query)."""
    from gridcare.billing.models import TariffVersion

    if not version_ids:
        return {}
    rows = TariffVersion.objects.filter(pk__in=version_ids).values_list("pk", "params")
    return {pk: _funds_of(params) for pk, params in rows}


def _bill_notice_lines(bill: Bill) -> list[NoticeLine]:
    """The notice's lines; the funds under each ``fund_included`` line from the line's own
    version (one query), or from the version at the period's end for lines written before
    lines recorded their version (one more)."""
    lines = list(bill.lines.all())
    funds = [line for line in lines if line.item == FUNDS_INCLUDED_ITEM]
    if not funds:
        return notice_lines(lines)
    versions = {line.tariff_version_id for line in funds if line.tariff_version_id is not None}
    unrecorded = any(line.tariff_version_id is None for line in funds)
    return notice_lines(
        lines,
        included_funds=included_funds_of(bill) if unrecorded else None,
        funds_by_version=included_funds_by_version(versions),
    )


def bill_notice(bill: Bill) -> Notice:
    """The 电费通知单 of a bill loaded by ``selectors.bills.bill_get`` (lines, adjustments,
    allocations prefetched; ``outstanding`` annotated)."""
    adjustments = [a for a in bill.adjustments.all() if a.status == DocumentStatus.APPROVED]
    allocations = [a for a in bill.allocations.all() if not a.reversed]
    adjusted = sum((a.amount for a in adjustments), Decimal("0.00"))
    paid = sum((a.amount for a in allocations), Decimal("0.00"))
    outstanding = getattr(bill, "outstanding", None)
    if outstanding is None:
        outstanding = bill.amount + adjusted - paid if bill.status == BillStatus.ISSUED else Decimal("0.00")
    outstanding = Decimal(outstanding).quantize(Decimal("0.01"))  # SQLite annotates in floating point
    backbills = sorted(
        (
            NoticeBackbill(number=a.number, amount=a.amount, due_date=due)
            for a in adjustments
            if (due := backbill_due(a)) is not None
        ),
        key=lambda b: (b.due_date, b.number),
    )
    return Notice(
        bill=bill,
        company=getattr(settings, "GRIDCARE_COMPANY_NAME", COMPANY),
        readings=_readings(bill.readings),
        lines=_bill_notice_lines(bill),
        adjustments=adjustments,
        backbills=backbills,
        allocations=allocations,
        adjusted=adjusted,
        paid=paid,
        outstanding=outstanding,
    )


# --- PDF ---------------------------------------------------------------------------------------


def _num(value: Any, places: int = 2) -> str:
    if value is None or value == "":
        return ""
    try:
        return f"{Decimal(str(value)):,.{places}f}"
    except ArithmeticError:
        return str(value)


def bill_notice_pdf(bill: Bill) -> bytes:
    """The 电费通知单 as an A4 PDF (bytes), Chinese text in the embedded WenQuanYi font."""
    from reportlab.lib import colors  # type: ignore[import-untyped]
    from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
    from reportlab.lib.units import mm  # type: ignore[import-untyped]
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle  # type: ignore[import-untyped]

    styles = notice_styles(size=9, leading=12)
    notice = bill_notice(bill)
    account = bill.account
    indented = ParagraphStyle("i", parent=styles.normal, leftIndent=12, textColor=colors.HexColor("#555555"))

    def cell(value: Any, *, indent: bool = False, plain: bool = False) -> Any:
        # Numbers right-aligned (unless ``plain``); info lines indented.
        text = "" if value is None else str(value)
        right = not plain and text.isascii() and bool(NUMBER.fullmatch(text))
        return styles.cell(text, right=right, style=indented if indent else None)

    grid = TableStyle(
        [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8f1f0")),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ]
    )
    story: list[Any] = [
        Paragraph(notice.company, ParagraphStyle("c", parent=styles.normal, alignment=1)),
        Paragraph("电费通知单", styles.title),
        Spacer(1, 4 * mm),
    ]
    period = f"{bill.period:%Y-%m}"
    head_values = [
        ["户号", account.number, "户名", account.customer.name],
        ["用电地址", account.service_point.address, "账单编号", bill.number],
        ["电费年月", period, "计费周期", f"{bill.period_start} ~ {bill.period_end}"],
        ["电价", bill.tariff_code, "发行日期", _date(bill.issued_at)],
        ["结算电量 (kWh)", _num(bill.kwh, 3), "缴费截止日", _date(bill.due_date)],
    ]
    # each approved back-billing with its own due date, next to the bill's
    head_values += [
        [f"补收 {b.number}", _num(b.amount), "补收缴费截止日", _date(b.due_date)] for b in notice.backbills
    ]
    head = [[cell(value, plain=True) for value in row] for row in head_values]
    table = Table(head, colWidths=[28 * mm, 62 * mm, 28 * mm, 62 * mm])
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey)]))
    story += [table, Spacer(1, 4 * mm)]
    if notice.readings:
        rows = [[cell("示数"), cell("起码"), cell("止码"), cell("倍率"), cell("电量 (kWh)")]]
        rows += [
            [cell(r.register), cell(r.start), cell(r.end), cell(r.multiplier), cell(_num(r.kwh, 3))]
            for r in notice.readings
        ]
        readings_table = Table(rows, colWidths=[30 * mm, 37 * mm, 37 * mm, 30 * mm, 46 * mm])
        readings_table.setStyle(grid)
        story += [readings_table, Spacer(1, 4 * mm)]
    rows = [[cell("项目"), cell("电量 (kWh)"), cell("单价 (元)"), cell("金额 (元)")]]
    for line in notice.lines:
        label = f"其中: {line.label} (不另收)" if line.info else line.label
        item = cell(label, indent=line.info)
        rows.append(
            [
                # a line of part of the period: its days under its name (they tell it apart)
                [item, cell(line.days, plain=True)] if line.days else item,
                cell(_num(line.kwh, 3)),
                cell(_num(line.unit_price, 6)),
                cell(_num(line.amount)),
            ]
        )
    rows.append([cell("本期电费合计"), cell(""), cell(""), cell(_num(bill.amount))])
    lines_table = Table(rows, colWidths=[70 * mm, 36 * mm, 36 * mm, 38 * mm])
    lines_table.setStyle(grid)
    story += [lines_table, Spacer(1, 4 * mm)]
    summary = [
        [cell("本期电费"), cell(_num(bill.amount))],
        [cell("退补 (已审批)"), cell(_num(notice.adjusted))],
        [cell("已缴"), cell(_num(notice.paid))],
        [cell("应缴余额"), cell(_num(notice.outstanding))],
    ]
    summary_table = Table(summary, colWidths=[70 * mm, 38 * mm], hAlign="LEFT")
    summary_table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey)]))
    story += [summary_table, Spacer(1, 5 * mm)]
    story.append(
        Paragraph(
            "请在缴费截止日前缴清电费。逾期按日加收电费违约金: 居民用户每日千分之一; "
            "其他用户当年欠费每日千分之二, 跨年度欠费每日千分之三 (供电营业规则第九十八条)。"
            "对电费有疑问请拨打 95598 或到营业厅查询; "
            "电能表误差超出允许范围的, 按实测误差退补 (第八十条)。"
            + ("补收电费请在其补收缴费截止日前缴清, 违约金自该日次日起计算。" if notice.backbills else ""),
            styles.small,
        )
    )
    return a4_pdf(
        story,
        title=f"电费通知单 {account.number} {period}",
        subject=f"{account.number} {bill.number}",
        author=notice.company,
    )


def _date(value: dt.date | dt.datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date()
    return f"{value:%Y-%m-%d}"


# --- Excel export of a run ----------------------------------------------------------------------


BILL_COLUMNS = [
    ("账单编号", 16),
    ("户号", 14),
    ("户名", 20),
    ("电费年月", 10),
    ("起", 11),
    ("止", 11),
    ("电价", 16),
    ("电量 (kWh)", 14),
    ("金额 (元)", 14),
    ("状态", 10),
    ("发行时间", 18),
    ("缴费截止日", 11),
]
LINE_COLUMNS = [
    ("账单编号", 16),
    ("户号", 14),
    ("序号", 6),
    ("类别", 10),
    ("项目", 24),
    ("电量 (kWh)", 14),
    ("单价 (元)", 12),
    ("金额 (元)", 14),
    ("起", 11),  # the days of a line that covers part of the period only (else blank)
    ("止", 11),
]


def _sheets(workbook: Any, title: str, columns: list[tuple[str, int]], header: Any) -> Iterator[Any]:
    """Worksheets named ``title``, ``title (2)``, … each with the header row."""
    n = 1
    while True:
        sheet = workbook.add_worksheet(title if n == 1 else f"{title} ({n})")
        for col, (name, width) in enumerate(columns):
            sheet.set_column(col, col, width)
            sheet.write_string(0, col, name, header)
        sheet.freeze_panes(1, 0)
        yield sheet
        n += 1


def run_export_xlsx(*, run_id: int, out: IO[bytes] | str | os.PathLike[str]) -> int:
    """Write the bills and lines of run ``run_id`` as an .xlsx to ``out`` (a path or a
    binary file); returns the number of bills. Rows are fetched in chunks and flushed as
    written (``constant_memory``)."""
    import xlsxwriter  # type: ignore[import-untyped]

    run = BillingRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound()
    status_labels = {value: str(label) for value, label in BillStatus.choices}
    kind_labels = {value: str(label) for value, label in BillLineKind.choices}
    # Issue times as naive Asia/Shanghai datetimes (Excel has no time zone), converted once
    # per value: a run's bills share a few issue times.
    local_times: dict[dt.datetime, dt.datetime] = {}

    def local(value: dt.datetime) -> dt.datetime:
        found = local_times.get(value)
        if found is None:
            found = local_times[value] = timezone.make_naive(value, timezone.get_default_timezone())
            if len(local_times) > 10_000:
                local_times.clear()
        return found

    workbook = xlsxwriter.Workbook(out, {"constant_memory": True, "in_memory": False})
    try:
        header = workbook.add_format({"bold": True, "bg_color": "#E8F1F0", "border": 1})
        money = workbook.add_format({"num_format": "0.00"})
        energy = workbook.add_format({"num_format": "0.000"})
        price = workbook.add_format({"num_format": "0.000000"})
        month = workbook.add_format({"num_format": "yyyy-mm"})
        day = workbook.add_format({"num_format": "yyyy-mm-dd"})
        minute = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm"})
        bills = (
            Bill.objects.filter(run_id=run.pk)
            .order_by("number")
            .values_list(
                "number",
                "account__number",
                "account__customer__name",
                "period",
                "period_start",
                "period_end",
                "tariff_code",
                "kwh",
                "amount",
                "status",
                "issued_at",
                "due_date",
            )
        )
        sheets = _sheets(workbook, "账单", BILL_COLUMNS, header)
        sheet = next(sheets)
        row = 0
        count = 0
        for (
            number,
            acct,
            name,
            period,
            start,
            end,
            tariff,
            kwh,
            amount,
            status,
            issued,
            due,
        ) in bills.iterator(chunk_size=FETCH_CHUNK):
            row += 1
            if row >= EXCEL_MAX_ROWS:
                sheet, row = next(sheets), 1
            sheet.write_string(row, 0, number)
            sheet.write_string(row, 1, acct)
            sheet.write_string(row, 2, name)
            sheet.write_datetime(row, 3, period, month)
            sheet.write_datetime(row, 4, start, day)
            sheet.write_datetime(row, 5, end, day)
            sheet.write_string(row, 6, tariff)
            sheet.write_number(row, 7, kwh, energy)
            sheet.write_number(row, 8, amount, money)
            sheet.write_string(row, 9, status_labels.get(status, status))
            if issued is not None:  # a draft has no issue time or due date: blank cells
                sheet.write_datetime(row, 10, local(issued), minute)
            if due is not None:
                sheet.write_datetime(row, 11, due, day)
            count += 1
        lines = (
            BillLine.objects.filter(bill__run_id=run.pk)
            .order_by("bill__number", "seq")
            .values_list(
                "bill__number",
                "bill__account__number",
                "seq",
                "kind",
                "item",
                "kwh",
                "unit_price",
                "amount",
                "period_from",
                "period_to",
            )
        )
        sheets = _sheets(workbook, "明细", LINE_COLUMNS, header)
        sheet = next(sheets)
        row = 0
        for number, acct, seq, kind, item, line_kwh, unit_price, amount, line_from, line_to in lines.iterator(
            chunk_size=FETCH_CHUNK
        ):
            row += 1
            if row >= EXCEL_MAX_ROWS:
                sheet, row = next(sheets), 1
            sheet.write_string(row, 0, number)
            sheet.write_string(row, 1, acct)
            sheet.write_number(row, 2, seq)
            sheet.write_string(row, 3, kind_labels.get(kind, kind))
            sheet.write_string(row, 4, ITEM_LABELS.get(item, item))
            if line_kwh is not None:
                sheet.write_number(row, 5, line_kwh, energy)
            if unit_price is not None:
                sheet.write_number(row, 6, unit_price, price)
            sheet.write_number(row, 7, amount, money)
            if line_from is not None:
                sheet.write_datetime(row, 8, line_from, day)
                sheet.write_datetime(row, 9, line_to, day)
    finally:
        workbook.close()
    return count


#: Runs with more bills than this are exported by the worker (a million bills take
#: minutes, longer than a web request may last); smaller ones are built in the request.
EXPORT_INLINE_LIMIT = 50_000
EXPORT_RETRY_SECONDS = 3600  # a queued export not done after an hour is queued again


def export_download_name(run: BillingRun) -> str:
    return f"run-{run.period:%Y-%m}.xlsx"


def run_export_path(run: BillingRun) -> tuple[Path, int]:
    """Where the worker keeps the run's workbook and how many bills the run has. The name
    carries the run's status, bill count, newest bill, and how many bills are issued or
    void and the latest issue time, so a re-rated draft run or a run issued again (held
    bills issued after their review) gets a new file, and a run whose bills no longer
    change keeps its one."""
    from django.db.models import Count, Max, Q

    stats = Bill.objects.filter(run_id=run.pk).aggregate(
        n=Count("id"),
        newest=Max("created_at"),
        top=Max("id"),
        issued=Count("id", filter=Q(status=BillStatus.ISSUED)),
        void=Count("id", filter=Q(status=BillStatus.VOID)),
        last_issue=Max("issued_at"),
    )

    def stamp(value: dt.datetime | None) -> str:
        return value.strftime("%Y%m%d%H%M%S%f") if value else "0"

    name = (
        f"run-{run.pk}-{run.status}-{stats['n']}-{stats['top'] or 0}-{stamp(stats['newest'])}"
        f"-{stats['issued']}-{stats['void']}-{stamp(stats['last_issue'])}.xlsx"
    )
    return Path(settings.VAR_DIR) / "exports" / name, int(stats["n"])


def run_export_build(*, run_id: int) -> Path:
    """Build the run's workbook at :func:`run_export_path` (written to a part file, then
    renamed, so a download never sees half a file). Run by the worker for large runs."""
    run = BillingRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound()
    path, _count = run_export_path(run)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(f"{path.name}.{os.getpid()}.part")
    try:
        run_export_xlsx(run_id=run.pk, out=str(part))
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    path.with_name(path.name + ".queued").unlink(missing_ok=True)
    return path


@dataclass
class ExportOutcome:
    """What the export view serves: a file to download, or "being prepared"."""

    handle: IO[bytes] | None
    filename: str
    bills: int
    queued: bool = False


def run_export_request(*, run_id: int) -> ExportOutcome:
    """The run's workbook for a download: the worker's file when it is ready; built now for
    a run of at most ``EXPORT_INLINE_LIMIT`` bills; otherwise queued for the worker
    (``tasks.bills.run_export_task``) and ``queued=True``."""
    import time

    from django.db import transaction

    run = BillingRun.objects.filter(pk=run_id).first()
    if run is None:
        raise NotFound()
    path, count = run_export_path(run)
    name = export_download_name(run)
    if path.exists():
        return ExportOutcome(handle=path.open("rb"), filename=name, bills=count)
    if count <= EXPORT_INLINE_LIMIT:
        handle = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - handed to the response
        run_export_xlsx(run_id=run.pk, out=handle)
        handle.seek(0)
        return ExportOutcome(handle=handle, filename=name, bills=count)
    marker = path.with_name(path.name + ".queued")
    if not marker.exists() or time.time() - marker.stat().st_mtime > EXPORT_RETRY_SECONDS:
        from gridcare.billing.tasks.bills import run_export_task

        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        transaction.on_commit(lambda: run_export_task.enqueue(run_id=run.pk))
    return ExportOutcome(handle=None, filename=name, bills=count, queued=True)


def rmb(value: Decimal) -> str:
    return format_rmb(value)
