"""End-to-end journey of a billing clerk (抄表核算员) in metering: import a reading file, read
the rejected-rows report, and resolve the reading exception the file caused."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.utils import timezone

from gridcare.customers import services as customer_services
from gridcare.customers.tests.factories import CustomerFactory
from gridcare.metering.choices import ExceptionStatus, VeeRule
from gridcare.metering.models import ReadingException, ReadingImport
from gridcare.metering.services.assets import meter_install, meter_register
from tests.browser.helpers import login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "Journey-pass-2026"
ASSET = "3100077001"


def _installed_meter(today: dt.date) -> Any:
    """One rural account with a smart meter installed ten days ago (reading 0)."""
    sub = customer_services.substation_create(actor="test", code="S01", name="城关110kV变电站")
    feeder = customer_services.feeder_create(actor="test", code="F01", name="10kV城北线", substation=sub)
    tr = customer_services.transformer_create(
        actor="test", code="T01", name="东关村1号台区", feeder=feeder, capacity_kva=400, area_type="rural"
    )
    point = customer_services.service_point_create(actor="test", address="东关村一街8号", transformer=tr)
    account = customer_services.account_open(
        actor="test",
        customer=CustomerFactory(name="王建国"),
        service_point=point,
        customer_class="rural_res",
        voltage_level="220v",
    )
    meter = meter_register(
        actor="test",
        asset_no=ASSET,
        barcode="B" + ASSET,
        meter_type="single",
        registers=["total"],
        accuracy_class="2",
        manufactured_on=dt.date(2024, 1, 1),
    )
    installed = timezone.make_aware(dt.datetime.combine(today - dt.timedelta(days=10), dt.time(9)))
    meter_install(
        actor="test", meter=meter, account=account, installed_at=installed, initial_readings={"total": 0}
    )
    return account


def _reading_file(today: dt.date) -> bytes:
    """Three good rows with a six-day gap (a missing-days exception) and three bad rows."""

    def day(n: int) -> str:
        return (today - dt.timedelta(days=n)).isoformat()

    lines = [
        "meter,register,day,value",
        f"{ASSET},total,{day(9)},5.000",
        f"{ASSET},total,{day(8)},10.000",
        "3109999999,total," + day(8) + ",7.000",  # unknown meter
        f"{ASSET},total,2026-13-01,12.000",  # bad date
        f"{ASSET},total,{day(7)},十二",  # text in a number
        f"{ASSET},total,{day(1)},50.000",
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def test_billing_clerk_imports_a_file_and_resolves_the_exception_it_caused(page: Any, roles: None) -> None:
    # given an installed meter and a billing clerk
    today = timezone.localdate()
    account = _installed_meter(today)
    clerk = User.objects.create_user("clerk01", password=PASSWORD, first_name="核算员")
    clerk.groups.add(Group.objects.get(name="billing_clerk"))

    # when the clerk uploads a reading file with bad rows
    login(page, "clerk01", PASSWORD)
    page.goto(page.base_url + "/metering/imports/")
    page.set_input_files(
        "input[name=file]",
        files=[{"name": "readings.csv", "mimeType": "text/csv", "buffer": _reading_file(today)}],
    )
    page.select_option("select[name=channel]", "manual")
    page.locator("form[enctype='multipart/form-data'] button[type=submit]").click()
    page.wait_for_load_state("networkidle")

    # then the job page shows the queued job with its progress bar
    job = ReadingImport.objects.get()
    assert page.url.endswith(f"/metering/imports/{job.pk}/")
    assert page.locator("#import-progress-bar").count() == 1
    assert job.status == "queued"

    # when the background worker runs the queued job (once, in this process)
    call_command("worker", batch=True, verbosity=0)
    job.refresh_from_db()
    assert job.status == "done", job.error
    assert (job.inserted_rows, job.rejected_rows) == (3, 3)

    # then the page, polling its progress, reloads and reports each rejected row with its reason
    page.wait_for_selector("#rejected-title", timeout=15_000)
    rejected = page.locator("table").last.inner_text()
    assert "表号不存在" in rejected  # unknown meter
    assert "日期错误" in rejected  # bad date
    assert "示数非数字" in rejected  # text in a number
    assert "3109999999" in rejected
    download = page.locator(f"a[href='/metering/imports/{job.pk}/rejected.csv']").first
    assert download.count() == 1

    # and the file opened a missing-days exception for the six-day gap
    exception = ReadingException.objects.get(meter__asset_no=ASSET, rule=VeeRule.MISSING)
    assert exception.status == ExceptionStatus.OPEN
    assert exception.account_id == account.pk

    # when the clerk opens the exception queue, ticks that exception and accepts it
    page.locator("a[href='/metering/exceptions/']").last.click()
    page.wait_for_load_state("networkidle")
    assert ASSET in page.locator("#resolve-form table").inner_text()
    page.check(f"#exc-{exception.pk}")
    page.select_option("select[name=action]", "accept")
    page.fill("input[name=note]", "用户外出, 电表无异常")
    page.locator("#resolve-form button[type=submit]").click()
    page.wait_for_load_state("networkidle")

    # then it has left the open queue, and the clerk sees what happened
    exception.refresh_from_db()
    assert exception.status == ExceptionStatus.ACCEPTED
    assert exception.resolved_by == clerk
    assert exception.resolution_note == "用户外出, 电表无异常"
    assert page.locator(f"#exc-{exception.pk}").count() == 0
    assert page.locator(".message--success").count() == 1
