"""Console pages of metering: permission matrix, rendering, the forms and actions behind
them, the rejected-rows download and pinned query counts on the busiest lists."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from gridcare.core.models import AuditEvent
from gridcare.core.tests.factories import UserFactory
from gridcare.customers.choices import AreaType
from gridcare.customers.tests.factories import AccountFactory, CustomerFactory, TransformerFactory
from gridcare.metering.choices import ExceptionStatus, ImportStatus, ReadingQuality, ReadingSource, VeeRule
from gridcare.metering.models import (
    Adjustment,
    Meter,
    Reading,
    ReadingException,
    ReadingImport,
    VerificationRequest,
)
from gridcare.metering.services.assets import meter_install, meter_register
from gridcare.metering.services.readings import reading_import_create, reading_import_run, rejected_csv_path
from gridcare.metering.services.verification import verification_request_file

pytestmark = pytest.mark.django_db

BAD_FILE = (
    "meter,register,day,value\n"
    "{asset},total,{d1},100.000\n"
    "{asset},total,{d2},110.500\n"
    "NOPE-1,total,{d2},5\n"
    "{asset},total,2026-02-30,7\n"
    "{asset},total,{d3},abc\n"
    "{asset},total,{d2},111.000\n"
)


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def _meter(asset_no: str, *, account: Any = None, installed_on: dt.date | None = None) -> Meter:
    """A class-2 single-phase meter registered and installed for ``account`` (a new one by default)."""
    meter = meter_register(
        actor="test",
        asset_no=asset_no,
        barcode=f"B{asset_no}",
        meter_type="single",
        registers=["total"],
        accuracy_class="2",
        manufactured_on=dt.date(2015, 1, 1),
        last_verified_on=dt.date(2016, 1, 1),
    )
    installed_on = installed_on or timezone.localdate() - dt.timedelta(days=60)
    meter_install(
        actor="test",
        meter=meter,
        account=account or AccountFactory(),
        installed_at=_at(installed_on, 9),
        initial_readings={"total": "0"},
    )
    meter.refresh_from_db()
    return meter


def _exception(meter: Meter, *, rule: str = VeeRule.SPIKE, days_ago: int = 3, age_days: int = 1) -> Any:
    day = timezone.localdate() - dt.timedelta(days=days_ago)
    installation = meter.installations.get(removed_at__isnull=True)
    return ReadingException.objects.create(
        meter=meter,
        account=installation.account,
        register="total",
        rule=rule,
        day_from=day,
        day_to=day,
        detail={"kwh": "120.000", "median": "8.000"},
        opened_at=timezone.now() - dt.timedelta(days=age_days),
    )


def _import(content: str, *, name: str = "bad.csv") -> ReadingImport:
    job = reading_import_create(
        actor="test", source_name=name, content=content.encode(), channel=ReadingSource.MANUAL
    )
    return reading_import_run(import_id=job.pk, path=job.stored_path)


def _bad_file(asset: str) -> str:
    today = timezone.localdate()
    days = [today - dt.timedelta(days=n) for n in (3, 2, 1)]
    return BAD_FILE.format(asset=asset, d1=days[0], d2=days[1], d3=days[2])


@pytest.fixture
def data() -> dict[str, Any]:
    transformer = TransformerFactory(area_type=AreaType.RURAL)
    customer = CustomerFactory(with_login=True, name="王建国")
    account = AccountFactory(customer=customer, service_point__transformer=transformer)
    # installed the day before the file's first reading: the file opens no exception itself
    meter = _meter("3100000001", account=account, installed_on=timezone.localdate() - dt.timedelta(days=4))
    job = _import(_bad_file(meter.asset_no))
    exception = _exception(meter)
    request = verification_request_file(
        actor="test",
        account=account,
        channel="counter",
        complaint="电费突然变高",
        requested_at=timezone.now() - dt.timedelta(hours=2),
    )
    return {
        "account": account,
        "customer": customer,
        "meter": meter,
        "job": job,
        "exception": exception,
        "request": request,
    }


def client_for(role: str | None) -> Client:
    client = Client()
    if role is not None:
        client.force_login(UserFactory(roles=[role]))
    return client


def url_for(name: str, data: dict[str, Any]) -> str:
    args = {
        "metering:meters": [],
        "metering:meter": [data["meter"].pk],
        "metering:due": [],
        "metering:exceptions": [],
        "metering:imports": [],
        "metering:import": [data["job"].pk],
        "metering:import_progress": [data["job"].pk],
        "metering:import_rejections_csv": [data["job"].pk],
        "metering:verifications": [],
        "metering:verification": [data["request"].pk],
        "metering:verification_new": [],
    }[name]
    return reverse(name, args=args)


VIEW_PAGES = [
    "metering:meters",
    "metering:meter",
    "metering:due",
    "metering:exceptions",
    "metering:imports",
    "metering:import",
    "metering:import_progress",
    "metering:import_rejections_csv",
    "metering:verifications",
    "metering:verification",
]
ALL_PAGES = [*VIEW_PAGES, "metering:verification_new"]


# --- permission matrix (house style 17) -----------------------------------------------------


@pytest.mark.parametrize("name", ALL_PAGES)
def test_anonymous_is_sent_to_login(data: dict[str, Any], name: str) -> None:
    response = Client().get(url_for(name, data))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("core:login"))
    assert "next=" in response["Location"]


@pytest.mark.parametrize("name", ALL_PAGES)
def test_portal_customer_is_refused_even_for_their_own_meter(data: dict[str, Any], name: str) -> None:
    client = Client()
    client.force_login(data["customer"].user)
    assert client.get(url_for(name, data)).status_code == 403


@pytest.mark.parametrize("name", ALL_PAGES)
def test_staff_without_metering_permissions_is_refused(data: dict[str, Any], name: str) -> None:
    Group.objects.get(name="repair_crew").permissions.clear()
    assert client_for("repair_crew").get(url_for(name, data)).status_code == 403


@pytest.mark.parametrize("role", ["metering_tech", "billing_clerk"])
@pytest.mark.parametrize("name", VIEW_PAGES)
def test_metering_staff_can_read(data: dict[str, Any], role: str, name: str) -> None:
    assert client_for(role).get(url_for(name, data)).status_code == 200


def test_only_who_may_file_opens_the_new_request_form(data: dict[str, Any]) -> None:
    assert client_for("metering_tech").get(url_for("metering:verification_new", data)).status_code == 200
    assert client_for("counter_clerk").get(url_for("metering:verification_new", data)).status_code == 200
    assert client_for("billing_clerk").get(url_for("metering:verification_new", data)).status_code == 403


def test_readers_without_write_permissions_cannot_post(data: dict[str, Any]) -> None:
    # given an inspector: may view metering, may change nothing
    client = client_for("inspector")
    exception = data["exception"]
    reading = Reading.objects.filter(meter=data["meter"]).latest("day")

    # when they post each write form
    responses = [
        client.post(reverse("metering:exceptions"), {"ids": [exception.pk], "action": "accept"}),
        client.post(
            url_for("metering:meter", data), {"reading": reading.key_on_meter, "value": "1", "reason": "试试"}
        ),
        client.post(
            reverse("metering:imports"),
            {"file": SimpleUploadedFile("x.csv", b"meter,register,day,value\n"), "channel": "ami"},
        ),
        client.post(url_for("metering:verification", data), {"form": "close", "note": "x"}),
    ]

    # then every one is refused and nothing changed
    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.OPEN
    assert Reading.objects.get(pk=reading.pk).value == reading.value
    assert ReadingImport.objects.count() == 1


def test_missing_objects_give_404(data: dict[str, Any]) -> None:
    client = client_for("metering_tech")
    for name in ("metering:meter", "metering:import", "metering:import_progress", "metering:verification"):
        assert client.get(reverse(name, args=[99999])).status_code == 404, name


def test_sidebar_links_the_metering_area_and_pages_carry_the_subnavigation(data: dict[str, Any]) -> None:
    content = client_for("billing_clerk").get(reverse("metering:exceptions")).content.decode()
    for name in ("meters", "exceptions", "imports", "verifications", "due"):
        assert f'href="{reverse(f"metering:{name}")}"' in content, name
    assert 'aria-current="page">' in content


# --- meters -----------------------------------------------------------------------------------


def test_meter_search_finds_by_account_number_and_filters_by_status(data: dict[str, Any]) -> None:
    meter_register(
        actor="test",
        asset_no="3100000099",
        barcode="B3100000099",
        meter_type="single",
        registers=["total"],
        accuracy_class="2",
        manufactured_on=dt.date(2024, 1, 1),
    )
    client = client_for("metering_tech")

    content = client.get(reverse("metering:meters"), {"q": data["account"].number}).content.decode()
    assert "3100000001" in content
    assert "3100000099" not in content

    content = client.get(reverse("metering:meters"), {"status": "in_stock"}).content.decode()
    assert "3100000099" in content
    assert "3100000001" not in content

    # a junk status is ignored rather than an error
    assert client.get(reverse("metering:meters"), {"status": "junk"}).status_code == 200


def test_meter_list_query_count_does_not_grow_with_rows(
    data: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    for n in range(30):
        _meter(f"32000000{n:02d}")
    client = client_for("metering_tech")
    # session, user, roles, user and group permissions, count, page (current 户号 as a subquery)
    with django_assert_max_num_queries(7):
        response = client.get(reverse("metering:meters"))
    assert response.status_code == 200
    assert response.context["page"].paginator.count == 31


def test_meter_detail_shows_asset_history_chart_data_and_register_table(data: dict[str, Any]) -> None:
    meter, account = data["meter"], data["account"]
    response = client_for("billing_clerk").get(url_for("metering:meter", data))
    content = response.content.decode()
    assert meter.barcode in content
    assert reverse("customers:detail", args=[account.customer_id]) in content
    assert account.number in content
    # the chart: vendored ECharts and the data embedded as JSON
    assert "vendor/echarts.min.js" in content
    chart = response.context["chart_data"]
    assert len(chart["days"]) == 90
    assert [kwh for kwh in chart["kwh"] if kwh is not None] == ["100.000", "10.500"]
    assert 'id="consumption-data"' in content
    # the register table of the last 31 days with the stored values
    assert "110.500" in content
    assert 'id="edit-reading"' in content


def test_reading_edit_needs_a_reason_and_is_audited(data: dict[str, Any]) -> None:
    client = client_for("billing_clerk")
    reading = Reading.objects.get(meter=data["meter"], value=Decimal("110.500"))
    url = url_for("metering:meter", data)

    # without a reason: refused on the field, nothing changes
    response = client.post(url, {"reading": reading.key_on_meter, "value": "109.000", "reason": " "})
    assert response.status_code == 200
    assert response.context["edit_form"].errors["reason"]
    assert Reading.objects.get(pk=reading.pk).value == Decimal("110.500")

    # with a reason: changed, marked edited and audited
    response = client.post(
        url, {"reading": reading.key_on_meter, "value": "109.000", "reason": "现场核对示数"}
    )
    assert response.status_code == 302
    reading.refresh_from_db()
    assert reading.value == Decimal("109.000")
    assert reading.quality == ReadingQuality.EDITED
    assert AuditEvent.objects.filter(
        action="reading.edit", object_id=f"{reading.meter_id}/{reading.register}/{reading.day.isoformat()}"
    ).exists()


def test_inspector_sees_no_edit_form(data: dict[str, Any]) -> None:
    response = client_for("inspector").get(url_for("metering:meter", data))
    assert response.context["edit_form"] is None
    assert 'id="edit-reading"' not in response.content.decode()


def test_due_list_shows_meters_due_for_verification(data: dict[str, Any]) -> None:
    # the fixture's meter was last verified in 2016: long overdue under any class-2 policy
    response = client_for("metering_tech").get(reverse("metering:due"))
    assert response.status_code == 200
    assert data["meter"].asset_no in response.content.decode()
    response = client_for("metering_tech").get(reverse("metering:due"), {"q": "nothing-like-this"})
    assert data["meter"].asset_no not in response.content.decode()


# --- reading exceptions -------------------------------------------------------------------------


def test_exception_queue_filters_by_rule_area_and_age(data: dict[str, Any]) -> None:
    other = _meter("3100000002", account=AccountFactory(service_point__transformer__area_type=AreaType.URBAN))
    urban = _exception(other, rule=VeeRule.ZERO_RUN, age_days=10)
    client = client_for("billing_clerk")
    queue = reverse("metering:exceptions")

    def listed(params: dict[str, Any]) -> set[int]:
        return {e.pk for e in client.get(queue, params).context["page"].object_list}

    assert listed({}) == {data["exception"].pk, urban.pk}
    assert listed({"rule": VeeRule.ZERO_RUN}) == {urban.pk}
    assert listed({"area_type": AreaType.RURAL}) == {data["exception"].pk}
    assert listed({"min_age_days": 5}) == {urban.pk}
    tiles = {t["rule"]: t["count"] for t in client.get(queue).context["tiles"]}
    assert tiles[VeeRule.SPIKE] == 1
    assert tiles[VeeRule.ZERO_RUN] == 1
    assert tiles[VeeRule.MISSING] == 0


def test_bulk_accept_resolves_the_ticked_exceptions(data: dict[str, Any]) -> None:
    second = _exception(data["meter"], rule=VeeRule.ZERO_RUN, days_ago=5)
    untouched = _exception(data["meter"], rule=VeeRule.TOU_MISMATCH, days_ago=6)
    client = client_for("billing_clerk")

    response = client.post(
        reverse("metering:exceptions") + "?rule=",
        {"ids": [data["exception"].pk, second.pk], "action": "accept", "note": "现场核实无误"},
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("metering:exceptions") + "?rule="
    statuses = dict(ReadingException.objects.values_list("pk", "status"))
    assert statuses == {
        data["exception"].pk: ExceptionStatus.ACCEPTED,
        second.pk: ExceptionStatus.ACCEPTED,
        untouched.pk: ExceptionStatus.OPEN,
    }
    assert ReadingException.objects.get(pk=second.pk).resolution_note == "现场核实无误"
    # and they leave the open queue
    listed = {e.pk for e in client.get(reverse("metering:exceptions")).context["page"].object_list}
    assert listed == {untouched.pk}


def test_bulk_action_on_a_resolved_exception_changes_nothing_and_says_why(data: dict[str, Any]) -> None:
    client = client_for("billing_clerk")
    fresh = _exception(data["meter"], rule=VeeRule.ZERO_RUN, days_ago=5)
    client.post(
        reverse("metering:exceptions"), {"ids": [data["exception"].pk], "action": "release"}, follow=True
    )

    response = client.post(
        reverse("metering:exceptions"),
        {"ids": [data["exception"].pk, fresh.pk], "action": "accept"},
        follow=True,
    )

    assert ReadingException.objects.get(pk=fresh.pk).status == ExceptionStatus.OPEN
    assert ReadingException.objects.get(pk=data["exception"].pk).status == ExceptionStatus.RELEASED
    assert [m.level_tag for m in response.context["messages"]] == ["error"]


def test_bulk_action_without_a_selection_is_an_error_message(data: dict[str, Any]) -> None:
    response = client_for("billing_clerk").post(
        reverse("metering:exceptions"), {"action": "accept"}, follow=True
    )
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    assert ReadingException.objects.get(pk=data["exception"].pk).status == ExceptionStatus.OPEN


def test_exception_queue_query_count_does_not_grow_with_rows(
    data: dict[str, Any], django_assert_max_num_queries: Any
) -> None:
    for n in range(30):
        _exception(_meter(f"33000000{n:02d}"), rule=VeeRule.MISSING)
    client = client_for("billing_clerk")
    # session, user, roles, user and group permissions, count, page (meter, account and its
    # transformer joined), counts per rule
    with django_assert_max_num_queries(8):
        response = client.get(reverse("metering:exceptions"))
    assert response.status_code == 200
    assert response.context["page"].paginator.count == 31


# --- reading imports --------------------------------------------------------------------------------


def test_upload_creates_a_queued_job_and_enqueues_it(
    data: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    client = client_for("billing_clerk")
    upload = SimpleUploadedFile("readings.csv", _bad_file(data["meter"].asset_no).encode(), "text/csv")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("metering:imports"), {"file": upload, "channel": "handheld"})

    job = ReadingImport.objects.exclude(pk=data["job"].pk).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("metering:import", args=[job.pk])
    assert job.status == ImportStatus.QUEUED
    assert job.channel == ReadingSource.HANDHELD
    assert job.source_name == "readings.csv"
    assert DBTaskResult.objects.filter(args_kwargs__kwargs__import_id=job.pk).exists()


def test_upload_refuses_other_file_types(data: dict[str, Any]) -> None:
    upload = SimpleUploadedFile("readings.xlsx", b"PK\x03\x04", "application/octet-stream")
    response = client_for("billing_clerk").post(
        reverse("metering:imports"), {"file": upload, "channel": "ami"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["file"]
    assert ReadingImport.objects.count() == 1


def test_import_page_shows_counts_and_rejected_rows_with_translated_reasons(data: dict[str, Any]) -> None:
    job = data["job"]
    response = client_for("billing_clerk").get(url_for("metering:import", data))
    content = response.content.decode()
    assert job.rejected_rows == 4
    assert response.context["page"].paginator.count == 4
    assert "表号不存在" in content  # unknown meter
    assert "日期错误" in content  # bad date
    assert "示数非数字" in content  # text in a number
    assert "文件内重复" in content  # duplicate in the file
    assert reverse("metering:import_rejections_csv", args=[job.pk]) in content
    # finished: no polling script
    assert "import_progress.js" not in content


def test_progress_endpoint_reports_status_and_counts(data: dict[str, Any]) -> None:
    queued = reading_import_create(actor="test", source_name="q.csv", content=b"meter,register,day,value\n")
    client = client_for("billing_clerk")

    body = client.get(reverse("metering:import_progress", args=[queued.pk])).json()
    assert body["status"] == "queued"
    assert body["in_progress"] is True
    assert body["percent"] == 0

    body = json.loads(client.get(url_for("metering:import_progress", data)).content)
    assert body["status"] == "done"
    assert body["in_progress"] is False
    assert body["percent"] == 100
    assert body["rejected_rows"] == 4
    assert body["inserted_rows"] == 2

    page = client.get(reverse("metering:import", args=[queued.pk])).content.decode()
    assert "import_progress.js" in page
    assert 'http-equiv="refresh"' in page


def test_rejected_rows_download_has_no_live_formula(tmp_path: Any) -> None:
    # A reading file comes from outside; a rejected row starting with = + - @ must open in
    # Excel as text, not run as a formula (CSV injection).
    text = (
        "meter,register,day,value\n"
        '"=HYPERLINK(""http://evil.example"",""x"")",total,2026-01-05,1\n'
        "@SUM(1+1),total,2026-01-05,1\n"
    )
    job = reading_import_create(actor="test", source_name="evil.csv", content=text.encode())
    job = reading_import_run(import_id=job.pk, path=job.stored_path)  # type: ignore[attr-defined]
    assert job.rejected_rows == 2

    response = client_for("billing_clerk").get(reverse("metering:import_rejections_csv", args=[job.pk]))
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    cells = [cell for row in list(csv.reader(io.StringIO(body)))[1:] for cell in row]
    assert [cell for cell in cells if cell[:1] in ("=", "+", "-", "@")] == []
    assert "'@SUM(1+1),total,2026-01-05,1" in cells
    stored = rejected_csv_path(job).read_text(encoding="utf-8")
    assert [c for row in csv.reader(io.StringIO(stored)) for c in row if c[:1] in ("=", "+", "-", "@")] == []


def test_rejected_rows_download_is_a_csv_with_bom_and_every_row(data: dict[str, Any]) -> None:
    response = client_for("billing_clerk").get(url_for("metering:import_rejections_csv", data))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    assert body.startswith(b"\xef\xbb\xbf")
    lines = body.decode("utf-8-sig").splitlines()
    assert len(lines) == 5
    assert lines[1].startswith("4,")
    assert "NOPE-1" in lines[1]
    assert "表号不存在" in lines[1]
    assert [line.split(",")[0] for line in lines[1:]] == ["4", "5", "6", "7"]


# --- verification requests ----------------------------------------------------------------------------


def test_verification_list_shows_deadline_colours_and_filters(data: dict[str, Any]) -> None:
    late_meter = _meter("3100000003")
    late = verification_request_file(
        actor="test",
        account=late_meter.installations.get().account,
        requested_at=timezone.now() - dt.timedelta(days=30),
    )
    client = client_for("counter_clerk")

    page = client.get(reverse("metering:verifications")).context["page"]
    states = {item.pk: item.deadline_state for item in page.object_list}
    assert states == {late.pk: "danger", data["request"].pk: "ok"}

    page = client.get(reverse("metering:verifications"), {"overdue": "on"}).context["page"]
    assert [item.pk for item in page.object_list] == [late.pk]
    content = client.get(reverse("metering:verifications")).content.decode()
    assert "badge--danger" in content


def test_filing_a_request_from_the_console(data: dict[str, Any]) -> None:
    account = _meter("3100000004").installations.get().account
    client = client_for("counter_clerk")

    response = client.post(
        reverse("metering:verification_new"),
        {"account_number": account.number, "channel": "counter", "complaint": "怀疑电表走快"},
    )

    filed = VerificationRequest.objects.get(account=account)
    assert response.status_code == 302
    assert response["Location"] == reverse("metering:verification", args=[filed.pk])
    assert filed.complaint == "怀疑电表走快"


def test_filing_for_an_unknown_account_or_twice_shows_the_error_on_the_field(data: dict[str, Any]) -> None:
    client = client_for("counter_clerk")
    response = client.post(
        reverse("metering:verification_new"), {"account_number": "0000", "channel": "counter"}
    )
    assert response.context["form"].errors["account_number"]

    response = client.post(
        reverse("metering:verification_new"), {"account_number": data["account"].number, "channel": "counter"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["account_number"]
    assert VerificationRequest.objects.count() == 1


def test_result_out_of_tolerance_shows_the_refund_record(data: dict[str, Any]) -> None:
    client = client_for("metering_tech")
    url = url_for("metering:verification", data)
    tested_at = timezone.localtime().strftime("%Y-%m-%dT%H:%M")

    response = client.post(
        url, {"form": "result", "error_pct": "5.00", "tested_at": tested_at, "tester": "李工"}
    )

    assert response.status_code == 302
    adjustment = Adjustment.objects.get(verification=data["request"])
    content = client.get(url).content.decode()
    assert adjustment.get_direction_display() in content
    assert f"{adjustment.period_start:%Y-%m-%d}" in content
    assert "退补" in content


def test_result_form_errors_stay_on_the_form(data: dict[str, Any]) -> None:
    client = client_for("metering_tech")
    future = (timezone.localtime() + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        url_for("metering:verification", data),
        {"form": "result", "error_pct": "1.00", "tested_at": future, "tester": "李工"},
    )
    assert response.status_code == 200
    assert response.context["result_form"].errors["tested_at"]
    assert VerificationRequest.objects.get(pk=data["request"].pk).status == "open"


def test_import_list_searches_and_filters_the_recent_jobs(data: dict[str, Any]) -> None:
    queued = reading_import_create(
        actor="test", source_name="ami-1101.csv", content=b"meter,register,day,value\n"
    )
    client = client_for("inspector")

    def listed(params: dict[str, Any]) -> list[int]:
        return [job.pk for job in client.get(reverse("metering:imports"), params).context["page"].object_list]

    assert listed({}) == [queued.pk, data["job"].pk]
    assert listed({"q": "AMI-11"}) == [queued.pk]
    assert listed({"status": "done"}) == [data["job"].pk]
    # an inspector may look but not upload
    assert client.get(reverse("metering:imports")).context["form"] is None


def test_closing_a_tested_request_and_posting_a_result_twice(data: dict[str, Any]) -> None:
    client = client_for("metering_tech")
    url = url_for("metering:verification", data)
    tested_at = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    client.post(
        url, {"form": "result", "error_pct": "0.50", "tested_at": tested_at, "tester": "李工"}, follow=True
    )

    # a second result for the same request is refused with a message, nothing changes
    response = client.post(
        url, {"form": "result", "error_pct": "9.00", "tested_at": tested_at, "tester": "王工"}, follow=True
    )
    assert [m.level_tag for m in response.context["messages"]] == ["error"]
    request = VerificationRequest.objects.get(pk=data["request"].pk)
    assert (request.error_pct, request.within_tolerance) == (Decimal("0.50"), True)
    assert not Adjustment.objects.exists()

    # closing needs the note, then closes
    client.post(url, {"form": "close", "note": ""}, follow=True)
    assert VerificationRequest.objects.get(pk=request.pk).status == "tested"
    client.post(url, {"form": "close", "note": "11月27日电话告知客户校验合格"}, follow=True)
    assert VerificationRequest.objects.get(pk=request.pk).status == "closed"
