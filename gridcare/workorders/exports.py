"""Excel export of a work-order list (工单导出): the filtered list of the order list page as an
.xlsx, one row per order with its contact and SLA status; the accepted, replied and closed
times are Excel date cells in Beijing time (``yyyy-mm-dd hh:mm``), so they filter and sort as
dates.

A report's contact is the mask (``selectors.confidentiality.contact_for``): the reporter is
never exported. Rows are fetched in chunks and flushed as written (xlsxwriter's
``constant_memory``) into a temporary file that the response streams, so a large result never
sits in memory; past Excel's row limit the rows continue on a new sheet.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from django.db.models import QuerySet
from django.http import FileResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from gridcare.core.audit import person_name
from gridcare.workorders.choices import Channel, Grade, WorkOrderKind
from gridcare.workorders.models import WorkOrder
from gridcare.workorders.registry import workflows
from gridcare.workorders.selectors.confidentiality import contact_for
from gridcare.workorders.selectors.orders import SLA_LABELS

FETCH_CHUNK = 2000
EXCEL_MAX_ROWS = 1_048_576
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: The Excel number format of the accepted / replied / closed columns (Beijing time).
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"


def _columns() -> list[tuple[str, int]]:
    return [
        (_("Number"), 22),
        (_("Kind"), 16),
        (_("Channel"), 18),
        (_("Category"), 28),
        (_("Grade"), 10),
        (_("State"), 10),
        (_("SLA status"), 14),
        (_("Subject"), 40),
        (_("Customer"), 16),
        (_("Account number (户号)"), 14),
        (_("Contact name"), 12),
        (_("Contact phone"), 14),
        (_("Team"), 16),
        (_("Assignee"), 14),
        (_("Repeat of"), 22),
        (_("Accepted"), 17),
        (_("Replied"), 17),
        (_("Closed"), 17),
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


def _when(value: dt.datetime | None) -> dt.datetime | None:
    """An aware time as the naive Beijing (``TIME_ZONE``) time Excel stores: a real date cell
    that a clerk can filter and compute with."""
    return timezone.localtime(value).replace(tzinfo=None) if value else None


def work_orders_xlsx(orders: QuerySet[WorkOrder], out: IO[bytes]) -> int:
    """Write ``orders`` (a ``work_order_search`` result: ``sla_status`` annotated) as an .xlsx to
    the binary file ``out``; returns the number of orders written."""
    import xlsxwriter  # type: ignore[import-untyped]  # no stubs

    kinds = {k: str(v) for k, v in WorkOrderKind.choices}
    channels = {k: str(v) for k, v in Channel.choices}
    grades = {k: str(v) for k, v in Grade.choices}
    sla_labels = {k: str(v) for k, v in SLA_LABELS.items()}
    wfs = workflows()
    qs = orders.select_related(
        "category__parent__parent", "team", "assignee", "customer", "account", "duplicate_of"
    )
    workbook = xlsxwriter.Workbook(out, {"constant_memory": True, "in_memory": False})
    count = 0
    try:
        header = workbook.add_format({"bold": True, "bg_color": "#E8F1F0", "border": 1})
        when = workbook.add_format({"num_format": DATETIME_FORMAT})
        sheets = _sheets(workbook, _("Work orders"), _columns(), header)
        sheet = next(sheets)
        row = 0
        for order in qs.iterator(chunk_size=FETCH_CHUNK):
            row += 1
            if row >= EXCEL_MAX_ROWS:
                sheet, row = next(sheets), 1
            names: list[str] = []
            node: Any = order.category
            while node is not None and len(names) < 5:
                names.insert(0, node.name)
                node = node.parent
            wf = wfs.get(order.kind)
            state = wf.states[order.state].label if wf and order.state in wf.states else order.state
            contact = contact_for(order)
            assignee = order.assignee
            values = [
                order.number,
                kinds.get(order.kind, order.kind),
                channels.get(order.channel, order.channel),
                " / ".join(names),
                grades.get(order.grade, order.grade),
                state,
                sla_labels.get(getattr(order, "sla_status", ""), ""),
                order.subject,
                order.customer.name if order.customer else "",
                order.account.number if order.account else "",
                contact.name,
                contact.phone,
                order.team.name if order.team else "",
                person_name(assignee) if assignee else "",
                order.duplicate_of.number if order.duplicate_of else "",
                _when(order.created_at),
                _when(order.replied_at),
                _when(order.closed_at),
            ]
            for col, value in enumerate(values):
                if isinstance(value, dt.datetime):
                    sheet.write_datetime(row, col, value, when)
                elif value is not None:
                    sheet.write_string(row, col, str(value))
            count += 1
    finally:
        workbook.close()
    return count


def work_orders_xlsx_response(orders: QuerySet[WorkOrder], *, filename: str) -> FileResponse:
    """The export as a download streamed from a temporary file (deleted when closed)."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
    work_orders_xlsx(orders, handle)
    handle.seek(0)
    response = FileResponse(handle, as_attachment=True, filename=filename, content_type=XLSX_TYPE)
    response["Cache-Control"] = "private, no-store"
    return response
