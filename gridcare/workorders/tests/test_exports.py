"""Excel export of the work-order list: the filtered rows, the SLA status and the contact, a
report's contact masked and its reporter nowhere in the file. The workbook is read with
``zipfile`` and the XML parser (no spreadsheet library is a dependency)."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from xml.etree import ElementTree

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from gridcare.workorders.exports import work_orders_xlsx
from gridcare.workorders.selectors.confidentiality import MASK
from gridcare.workorders.selectors.orders import work_order_search
from gridcare.workorders.tests.factories import BEIJING, accept

pytestmark = pytest.mark.django_db
NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def xlsx_rows(content: bytes) -> list[list[str]]:
    """The first sheet's rows as text (shared or inline strings)."""
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        names = book.namelist()
        shared: list[str] = []
        if "xl/sharedStrings.xml" in names:
            root = ElementTree.fromstring(book.read("xl/sharedStrings.xml"))  # noqa: S314 - our own file
            shared = [
                "".join(t.text or "" for t in si.iter(f"{{{NS['m']}}}t")) for si in root.findall("m:si", NS)
            ]
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))  # noqa: S314 - our own file
        rows = []
        for row in sheet.iter(f"{{{NS['m']}}}row"):
            values = []
            for cell in row.findall("m:c", NS):
                if cell.get("t") == "s":
                    values.append(shared[int(cell.find("m:v", NS).text)])
                elif cell.get("t") == "inlineStr":
                    values.append("".join(t.text or "" for t in cell.iter(f"{{{NS['m']}}}t")))
                else:
                    v = cell.find("m:v", NS)
                    values.append(v.text if v is not None else "")
            rows.append(values)
        return rows


@pytest.fixture
def agent(make_user):
    return make_user(roles=["hotline_agent"], username="agent1")


@pytest.fixture
def manager(make_user):
    return make_user(roles=["service_manager"], username="manager1")


@pytest.fixture
def orders(agent):
    complaint = accept(actor=agent, contact_name="王女士", contact_phone="13900001111")
    report = accept(
        actor=agent,
        kind="report",
        category="rpt_theft",
        subject="邻居私拉电线窃电",
        reporter={"name": "李秘密", "phone": "13811112222", "id_number": "130684199001011234"},
    )
    return complaint, report


def test_export_masks_a_reports_contact_even_for_a_manager(manager, orders):
    complaint, report = orders
    client = Client()
    client.force_login(manager)
    response = client.get(reverse("workorders:orders"), {"export": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response["Content-Disposition"]
    content = b"".join(response.streaming_content)
    rows = xlsx_rows(content)
    header, body = rows[0], rows[1:]
    assert len(body) == 2
    by_number = {r[0]: dict(zip(header, r, strict=False)) for r in body}
    name_col, phone_col = header[10], header[11]
    assert by_number[report.number][name_col] == MASK
    assert by_number[report.number][phone_col] == MASK
    assert by_number[complaint.number][name_col] == "王女士"
    assert by_number[complaint.number][phone_col] == "13900001111"
    # The reporter is nowhere in the file, in any part.
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        everything = b"".join(book.read(n) for n in book.namelist()).decode("utf-8", "replace")
    for secret in ("李秘密", "13811112222", "130684199001011234"):
        assert secret not in everything


def test_export_follows_the_filters_and_carries_sla_status(agent, orders):
    complaint, report = orders
    client = Client()
    client.force_login(agent)
    response = client.get(reverse("workorders:orders"), {"export": "xlsx", "kind": "complaint", "page": "3"})
    rows = xlsx_rows(b"".join(response.streaming_content))
    assert [r[0] for r in rows[1:]] == [complaint.number]  # every page, not page 3


@pytest.mark.parametrize(
    ("hours", "label"),
    [(1, "Running (计时中)"), (19, "Near deadline (预警)"), (25, "Breached (超时)")],
)
def test_export_sla_status_column(agent, hours, label):
    accept(actor=agent)
    out = io.BytesIO()
    now = dt.datetime(2026, 11, 2, 9, 0, tzinfo=BEIJING) + dt.timedelta(hours=hours)
    with translation.override("en"):
        work_orders_xlsx(work_order_search(user=agent, now=now), out)
    header, row = xlsx_rows(out.getvalue())
    assert header[6] == "SLA status"
    assert row[6] == label


def test_export_function_counts_and_labels_states(agent, orders):
    out = io.BytesIO()
    now = dt.datetime(2026, 11, 2, 10, 0, tzinfo=BEIJING)
    count = work_orders_xlsx(work_order_search(user=agent, now=now), out)
    assert count == 2
    rows = xlsx_rows(out.getvalue())
    states = {r[0]: r[5] for r in rows[1:]}
    assert set(states.values()) == {"已受理"}
    categories = {r[0]: r[3] for r in rows[1:]}
    assert categories[orders[0].number] == "营业投诉 / 电费电价"


def test_export_of_nothing_is_a_header_only_workbook(agent):
    out = io.BytesIO()
    assert work_orders_xlsx(work_order_search(user=agent, q="nothing-matches"), out) == 0
    assert len(xlsx_rows(out.getvalue())) == 1


def test_a_chinese_assignee_is_written_family_name_first(agent, make_user):
    """刘芳, not Django's "first last" (芳 刘): in the export, the order page and the list."""
    from gridcare.workorders.models import WorkOrder

    fang = make_user(roles=["hotline_agent"], username="liufang", first_name="芳", last_name="刘")
    order = accept(actor=agent)
    WorkOrder.objects.filter(pk=order.pk).update(assignee=fang)
    out = io.BytesIO()
    work_orders_xlsx(work_order_search(user=agent), out)
    _header, row = xlsx_rows(out.getvalue())
    assert "刘芳" in row
    assert "芳 刘" not in row
    client = Client()
    client.force_login(agent)
    for page in (reverse("workorders:order", args=[order.number]), reverse("workorders:orders")):
        html = client.get(page).content.decode()
        assert "刘芳" in html
        assert "芳 刘" not in html


def test_times_are_excel_dates_in_beijing_time(agent):
    """Accepted / replied / closed are date cells (a number with a date format), in Beijing
    time, so a clerk can filter and sort by date; a time not yet reached is a blank cell."""
    accept(actor=agent)  # 2026-11-02 09:00 Beijing (01:00 UTC)
    out = io.BytesIO()
    work_orders_xlsx(work_order_search(user=agent), out)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as book:
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))  # noqa: S314 - our own file
        styles = book.read("xl/styles.xml").decode()
    cells = {c.get("r"): c for c in sheet.iter(f"{{{NS['m']}}}c")}
    accepted = cells["P2"]
    assert accepted.get("t") is None  # a number, not a string
    serial = float(accepted.find("m:v", NS).text)
    # An Excel time carries no zone: compared as wall-clock times (UTC only to stay aware).
    excel_epoch = dt.datetime(1899, 12, 30, tzinfo=dt.UTC)
    assert excel_epoch + dt.timedelta(days=serial) == dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
    assert accepted.get("s") not in (None, "0")
    assert 'formatCode="yyyy-mm-dd hh:mm"' in styles
    assert "Q2" not in cells  # not replied yet
    assert "R2" not in cells  # not closed
